/*
 * Distributions: incomplete beta and gamma, normal, t, chi-square, binomial, hypergeometric.
 *
 * Every tail is computed in log space first and exponentiated last, so p-values far below
 * the double range stay meaningful through the `_log` entry points. The delicate part is the
 * prefactor x^a (1-x)^b / B(a, b) (and x^a e^-x / Gamma(a)): with a, b ~ 10^7 a difference of
 * lgamma values (each ~1.5e8) keeps only ~8 significant digits of the result. Loader's
 * saddle-point decomposition (C. Loader, "Fast and accurate computation of binomial
 * probabilities", 2000; the form R's dbinom uses) writes the same quantity as Stirling
 * remainders ("stirlerr", < 0.1 in size) minus deviance terms ("bd0", computed by a series
 * when the two arguments are close), each small and accurate. The continued fractions are
 * the modified-Lentz evaluations of Numerical Recipes (betacf, gcf) with a tighter epsilon and
 * an iteration cap that grows with sqrt(max(a, b)), which is how many terms they need near the
 * mean.
 *
 * No allocation, no state; all functions are thread-safe.
 */
#include "detect/stats.h"

#include <float.h>
#include <math.h>

#define LN_2PI 1.837877066409345483560659472811 /* log(2 pi) */
#define LN_SQRT_2PI 0.918938533204672741780329736406
#define CF_EPS 1e-16
#define CF_TINY 1e-300

double dt_stats_lgamma(double x)
{
    /* lgamma_r would avoid signgam, but is a GNU extension; for x > 0 the sign is always +. */
    return lgamma(x);
}

double dt_stats_lbeta(double a, double b)
{
    return lgamma(a) + lgamma(b) - lgamma(a + b);
}

double dt_stats_logaddexp(double a, double b)
{
    if (a == -HUGE_VAL)
        return b;
    if (b == -HUGE_VAL)
        return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

double dt_stats_log1mexp(double a)
{
    /* Maechler's switch at -log 2: expm1 for a near 0, log1p for a far below. */
    if (a >= 0)
        return a == 0 ? -HUGE_VAL : NAN;
    return a > -0.693147180559945309 ? log(-expm1(a)) : log1p(-exp(a));
}

/* stirlerr(n) = log Gamma(n+1) - [(n + 1/2) log n - n + log sqrt(2 pi)], for real n >= 0. */
static double stirlerr(double n)
{
    static const double s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680,
                        s4 = 1.0 / 1188;
    if (n <= 0)
        return 0;
    if (n <= 15)
        /* The absolute error of this difference (~1e-14) is what enters the final log. */
        return lgamma(n + 1) - (n + 0.5) * log(n) + n - LN_SQRT_2PI;
    double nn = n * n;
    if (n > 500)
        return (s0 - s1 / nn) / n;
    if (n > 80)
        return (s0 - (s1 - s2 / nn) / nn) / n;
    if (n > 35)
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n;
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
}

/* bd0(x, np) = x log(x / np) + np - x >= 0, by a series when x is close to np. */
static double bd0(double x, double np)
{
    if (x == 0)
        return np;
    if (fabs(x - np) < 0.1 * (x + np)) {
        double v = (x - np) / (x + np), s = (x - np) * v, ej = 2 * x * v;
        v *= v;
        for (int j = 1; j < 1000; j++) {
            ej *= v;
            double s1 = s + ej / (2 * j + 1);
            if (s1 == s)
                return s1;
            s = s1;
        }
        return s;
    }
    return x * log(x / np) + np - x;
}

/* log of Gamma(n+1) / (Gamma(x+1) Gamma(n-x+1)) p^x q^(n-x), real 0 <= x <= n, p + q = 1. */
static double ldbinom_raw(double x, double n, double p, double q)
{
    if (p == 0)
        return x == 0 ? 0 : -HUGE_VAL;
    if (q == 0)
        return x == n ? 0 : -HUGE_VAL;
    if (x == 0) {
        if (n == 0)
            return 0;
        return p < 0.1 ? -bd0(n, n * q) - n * p : n * log(q);
    }
    if (x == n)
        return q < 0.1 ? -bd0(n, n * p) - n * q : n * log(p);
    if (x < 0 || x > n)
        return -HUGE_VAL;
    double lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(x, n * p) - bd0(n - x, n * q);
    return lc - 0.5 * (LN_2PI + log(x) + log1p(-x / n));
}

/* log of x^a y^b / B(a, b) for a, b > 0, x + y = 1, 0 < x < 1. */
static double lbeta_prefactor(double a, double b, double x, double y)
{
    double n = a + b;
    double lc = stirlerr(n) - stirlerr(a) - stirlerr(b) - bd0(a, n * x) - bd0(b, n * y);
    /* Gamma(n+1)/(Gamma(a+1)Gamma(b+1)) = n/(a b) / B(a, b): the log a + log b - log n. */
    return lc + 0.5 * (log(a) + log(b) - log(n) - LN_2PI);
}

/* log of e^-lambda lambda^x / Gamma(x + 1), x > 0. */
static double ldpois_raw(double x, double lambda)
{
    if (lambda == 0)
        return x == 0 ? 0 : -HUGE_VAL;
    return -stirlerr(x) - bd0(x, lambda) - 0.5 * (LN_2PI + log(x));
}

static int cf_maxit(double a, double b)
{
    double m = a > b ? a : b;
    double it = 1000 + 20 * sqrt(m);
    return it > 2e6 ? 2000000 : (int)it;
}

/* Continued fraction for I_x(a, b) (Numerical Recipes betacf, modified Lentz). */
static double betacf(double a, double b, double x)
{
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < CF_TINY)
        d = CF_TINY;
    d = 1 / d;
    double h = d;
    int maxit = cf_maxit(a, b);
    for (int m = 1; m <= maxit; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < CF_TINY)
            d = CF_TINY;
        c = 1 + aa / c;
        if (fabs(c) < CF_TINY)
            c = CF_TINY;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < CF_TINY)
            d = CF_TINY;
        c = 1 + aa / c;
        if (fabs(c) < CF_TINY)
            c = CF_TINY;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < CF_EPS)
            break;
    }
    return h;
}

/* log I_x(a, b) and log(1 - I_x(a, b)); x + y = 1 passed separately to keep y exact. */
static void beta_logs(double a, double b, double x, double y, double *log_lo, double *log_up)
{
    if (x <= 0) {
        *log_lo = -HUGE_VAL;
        *log_up = 0;
        return;
    }
    if (y <= 0) {
        *log_lo = 0;
        *log_up = -HUGE_VAL;
        return;
    }
    double lpre = lbeta_prefactor(a, b, x, y);
    if (x < (a + 1) / (a + b + 2)) {
        *log_lo = lpre + log(betacf(a, b, x)) - log(a);
        if (*log_lo > 0)
            *log_lo = 0;
        *log_up = dt_stats_log1mexp(*log_lo);
    } else {
        *log_up = lpre + log(betacf(b, a, y)) - log(b);
        if (*log_up > 0)
            *log_up = 0;
        *log_lo = dt_stats_log1mexp(*log_up);
    }
}

static int beta_args_ok(double a, double b, double x)
{
    return a > 0 && b > 0 && x >= 0 && x <= 1 && isfinite(a) && isfinite(b);
}

double dt_stats_betainc_log(double a, double b, double x)
{
    if (!beta_args_ok(a, b, x))
        return NAN;
    double lo, up;
    beta_logs(a, b, x, 1 - x, &lo, &up);
    return lo;
}

double dt_stats_betainc_upper_log(double a, double b, double x)
{
    if (!beta_args_ok(a, b, x))
        return NAN;
    double lo, up;
    beta_logs(a, b, x, 1 - x, &lo, &up);
    return up;
}

double dt_stats_betainc(double a, double b, double x)
{
    return exp(dt_stats_betainc_log(a, b, x));
}

double dt_stats_betainc_upper(double a, double b, double x)
{
    return exp(dt_stats_betainc_upper_log(a, b, x));
}

double dt_stats_beta_quantile(double p, double a, double b)
{
    if (!(a > 0 && b > 0 && p >= 0 && p <= 1))
        return NAN;
    if (p == 0)
        return 0;
    if (p == 1)
        return 1;
    /* Solve on the smaller tail in log space so tiny p (Clopper-Pearson at k = 0 or n) works. */
    int use_lower = p <= 0.5;
    double target = use_lower ? log(p) : log1p(-p);
    double lo = 0, hi = 1;
    double mean = a / (a + b), sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
    double x = mean + dt_stats_norm_quantile(p) * sd;
    if (!(x > 0 && x < 1))
        x = mean;
    for (int it = 0; it < 1000; it++) {
        double llo, lup;
        double y = 1 - x;
        beta_logs(a, b, x, y, &llo, &lup);
        double f = use_lower ? llo - target : lup - target; /* increasing in x if use_lower */
        if (f == 0)
            return x;
        int too_high = use_lower ? f > 0 : f < 0;
        if (too_high)
            hi = x;
        else
            lo = x;
        /* Newton on the log tail: d log I / dx = pdf / I. */
        double lpdf = lbeta_prefactor(a, b, x, y) - log(x) - log(y);
        double ltail = use_lower ? llo : lup;
        double step = f * exp(ltail - lpdf);
        double xn = use_lower ? x - step : x + step;
        if (!(xn > lo && xn < hi) || !isfinite(xn)) {
            if (lo == 0)
                xn = hi / 16;
            else if (hi == 1 && lo > 0.5)
                xn = 1 - (1 - lo) / 16;
            else if (lo > 0 && hi / lo > 16)
                xn = sqrt(lo * hi);
            else
                xn = 0.5 * (lo + hi);
        }
        if (fabs(xn - x) <= 1e-15 * x || hi - lo <= 4 * DBL_EPSILON * x)
            return xn;
        x = xn;
    }
    return x;
}

/* log P(a, x) and log Q(a, x). */
static void gamma_logs(double a, double x, double *log_p, double *log_q)
{
    if (x <= 0) {
        *log_p = -HUGE_VAL;
        *log_q = 0;
        return;
    }
    if (x == HUGE_VAL) {
        *log_p = 0;
        *log_q = -HUGE_VAL;
        return;
    }
    double ld = ldpois_raw(a, x);
    int maxit = cf_maxit(a, x);
    if (x < a + 1) {
        double sum = 1, term = 1, ap = a;
        for (int n = 0; n < maxit; n++) {
            ap += 1;
            term *= x / ap;
            sum += term;
            if (term < sum * CF_EPS)
                break;
        }
        *log_p = ld + log(sum);
        if (*log_p > 0)
            *log_p = 0;
        *log_q = dt_stats_log1mexp(*log_p);
    } else {
        double b = x + 1 - a, c = 1 / CF_TINY, d = 1 / b, h = d;
        for (int i = 1; i <= maxit; i++) {
            double an = -i * (i - a);
            b += 2;
            d = an * d + b;
            if (fabs(d) < CF_TINY)
                d = CF_TINY;
            c = b + an / c;
            if (fabs(c) < CF_TINY)
                c = CF_TINY;
            d = 1 / d;
            double del = d * c;
            h *= del;
            if (fabs(del - 1) < CF_EPS)
                break;
        }
        *log_q = log(a) + ld + log(h);
        if (*log_q > 0)
            *log_q = 0;
        *log_p = dt_stats_log1mexp(*log_q);
    }
}

double dt_stats_gammainc_p(double a, double x)
{
    if (!(a > 0 && x >= 0))
        return NAN;
    double lp, lq;
    gamma_logs(a, x, &lp, &lq);
    return exp(lp);
}

double dt_stats_gammainc_q(double a, double x)
{
    return exp(dt_stats_gammainc_q_log(a, x));
}

double dt_stats_gammainc_q_log(double a, double x)
{
    if (!(a > 0 && x >= 0))
        return NAN;
    double lp, lq;
    gamma_logs(a, x, &lp, &lq);
    return lq;
}

/* ---- normal ---- */

double dt_stats_norm_pdf(double z)
{
    return exp(-0.5 * z * z - LN_SQRT_2PI);
}

double dt_stats_norm_cdf(double z)
{
    if (isnan(z))
        return NAN;
    return 0.5 * erfc(-z * M_SQRT1_2);
}

double dt_stats_norm_sf(double z)
{
    if (isnan(z))
        return NAN;
    return 0.5 * erfc(z * M_SQRT1_2);
}

double dt_stats_norm_sf_log(double z)
{
    if (isnan(z))
        return NAN;
    if (z < -5)
        return log1p(-0.5 * erfc(-z * M_SQRT1_2));
    if (z <= 37)
        return log(0.5 * erfc(z * M_SQRT1_2));
    if (z == HUGE_VAL)
        return -HUGE_VAL;
    /* Mills ratio R(z) = sf/pdf = 1/(z + 1/(z + 2/(z + 3/(z + ...)))); at z > 37 sixty
     * levels leave an error far below 1e-16. */
    double t = z;
    for (int k = 60; k >= 1; k--)
        t = z + k / t;
    return -0.5 * z * z - LN_SQRT_2PI - log(t);
}

double dt_stats_norm_cdf_log(double z)
{
    return dt_stats_norm_sf_log(-z);
}

double dt_stats_norm_quantile_log(double log_p)
{
    if (isnan(log_p) || log_p > 0)
        return NAN;
    if (log_p == 0)
        return HUGE_VAL;
    if (log_p == -HUGE_VAL)
        return -HUGE_VAL;
    if (log_p > -0.693147180559945309) /* p > 1/2: reflect onto the small upper tail */
        return -dt_stats_norm_quantile_log(dt_stats_log1mexp(log_p));
    /* P. J. Acklam's rational approximation (relative error 1.15e-9) as the start. */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double z;
    if (log_p < -3.719339818603857) { /* log(0.02425) */
        double q = sqrt(-2 * log_p);
        z = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        double q = exp(log_p) - 0.5, r = q * q;
        z = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    /* Newton on g(z) = log cdf(z) - log_p, g' = pdf/cdf: converges quadratically, and in log
     * space it works where cdf(z) itself underflows. */
    for (int it = 0; it < 60; it++) {
        double lc = dt_stats_norm_cdf_log(z);
        double lpdf = -0.5 * z * z - LN_SQRT_2PI;
        double step = (lc - log_p) * exp(lc - lpdf);
        if (!isfinite(step))
            break;
        z -= step;
        if (fabs(step) <= 1e-15 * (fabs(z) > 1 ? fabs(z) : 1))
            break;
    }
    return z;
}

double dt_stats_norm_quantile(double p)
{
    if (isnan(p) || p < 0 || p > 1)
        return NAN;
    if (p <= 0.5)
        return dt_stats_norm_quantile_log(log(p));
    return -dt_stats_norm_quantile_log(log1p(-p));
}

double dt_stats_norm_isf_log(double log_p)
{
    return -dt_stats_norm_quantile_log(log_p);
}

/* ---- Student t ---- */

/* log P(T > |t|) = log(1/2) + log I_x(df/2, 1/2), x = df/(df + t^2). */
static double t_tail_log(double t, double df)
{
    double u = fabs(t) / sqrt(df), x, y;
    if (u > 1e150) {
        x = 1 / (u * u);
        y = 1;
    } else {
        x = 1 / (1 + u * u);
        y = u * u / (1 + u * u);
    }
    if (x == 0)
        /* t so large that x underflows: the tail is ~ C t^-df; use the leading term. */
        return -M_LN2 - dt_stats_lbeta(df / 2, 0.5) - log(df / 2) + (df / 2) * (-2 * log(u));
    double lo, up;
    beta_logs(df / 2, 0.5, x, y, &lo, &up);
    return -M_LN2 + lo;
}

double dt_stats_t_sf_log(double t, double df)
{
    if (isnan(t) || !(df > 0))
        return NAN;
    if (t == 0)
        return -M_LN2;
    double l = t_tail_log(t, df);
    return t > 0 ? l : dt_stats_log1mexp(l);
}

double dt_stats_t_sf(double t, double df)
{
    return exp(dt_stats_t_sf_log(t, df));
}

double dt_stats_t_cdf(double t, double df)
{
    return exp(dt_stats_t_sf_log(-t, df));
}

double dt_stats_t_isf(double p, double df)
{
    if (!(p > 0 && p < 1 && df > 0))
        return p == 0 ? HUGE_VAL : p == 1 ? -HUGE_VAL : NAN;
    if (p == 0.5)
        return 0;
    if (p > 0.5)
        return -dt_stats_t_isf(1 - p, df);
    double x = dt_stats_beta_quantile(2 * p, df / 2, 0.5);
    if (x <= 0)
        return HUGE_VAL;
    return sqrt(df * (1 - x) / x);
}

/* ---- chi-square ---- */

double dt_stats_chi2_sf_log(double x, double df)
{
    if (isnan(x) || !(df > 0))
        return NAN;
    if (x <= 0)
        return 0;
    return dt_stats_gammainc_q_log(df / 2, x / 2);
}

double dt_stats_chi2_sf(double x, double df)
{
    return exp(dt_stats_chi2_sf_log(x, df));
}

/* ---- binomial ---- */

static int binom_args_ok(double k, double n, double p)
{
    return !isnan(k) && n >= 0 && n == floor(n) && p >= 0 && p <= 1;
}

double dt_stats_binom_pmf_log(double k, double n, double p)
{
    if (!binom_args_ok(k, n, p))
        return NAN;
    if (k != floor(k) || k < 0 || k > n)
        return -HUGE_VAL;
    return ldbinom_raw(k, n, p, 1 - p);
}

double dt_stats_binom_sf_log(double k, double n, double p)
{
    if (!binom_args_ok(k, n, p))
        return NAN;
    k = ceil(k);
    if (k <= 0)
        return 0;
    if (k > n)
        return -HUGE_VAL;
    double lo, up;
    beta_logs(k, n - k + 1, p, 1 - p, &lo, &up);
    return lo;
}

double dt_stats_binom_sf(double k, double n, double p)
{
    return exp(dt_stats_binom_sf_log(k, n, p));
}

double dt_stats_binom_cdf(double k, double n, double p)
{
    if (!binom_args_ok(k, n, p))
        return NAN;
    k = floor(k);
    if (k < 0)
        return 0;
    if (k >= n)
        return 1;
    double lo, up;
    beta_logs(k + 1, n - k, p, 1 - p, &lo, &up);
    return exp(up);
}

/* ---- hypergeometric ---- */

static int hyper_args_ok(double n_pop, double n_succ, double n_draw)
{
    return n_pop >= 0 && n_succ >= 0 && n_draw >= 0 && n_succ <= n_pop && n_draw <= n_pop &&
           n_pop == floor(n_pop) && n_succ == floor(n_succ) && n_draw == floor(n_draw) &&
           n_pop < 9007199254740992.0;
}

double dt_stats_hyper_pmf_log(double k, double n_pop, double n_succ, double n_draw)
{
    if (isnan(k) || !hyper_args_ok(n_pop, n_succ, n_draw))
        return NAN;
    double lo = fmax(0, n_draw - (n_pop - n_succ)), hi = fmin(n_draw, n_succ);
    if (k != floor(k) || k < lo || k > hi)
        return -HUGE_VAL;
    if (n_draw == 0 || n_draw == n_pop)
        return 0;
    /* R's dhyper: b(k; K, p) b(n-k; N-K, p) / b(n; N, p) with p = n/N; each factor by Loader. */
    double p = n_draw / n_pop, q = (n_pop - n_draw) / n_pop;
    return ldbinom_raw(k, n_succ, p, q) + ldbinom_raw(n_draw - k, n_pop - n_succ, p, q) -
           ldbinom_raw(n_draw, n_pop, p, q);
}

double dt_stats_hyper_sf_log(double k, double n_pop, double n_succ, double n_draw)
{
    if (isnan(k) || !hyper_args_ok(n_pop, n_succ, n_draw))
        return NAN;
    double lo = fmax(0, n_draw - (n_pop - n_succ)), hi = fmin(n_draw, n_succ);
    k = ceil(k);
    if (k <= lo)
        return 0;
    if (k > hi)
        return -HUGE_VAL;
    double mode = floor((n_draw + 1) * (n_succ + 1) / (n_pop + 2));
    double n_fail = n_pop - n_succ;
    if (k > mode) {
        /* Terms decrease from k upwards: sum ratios pmf(j+1)/pmf(j) until negligible. */
        double term = 1, sum = 1;
        for (double j = k; j < hi; j++) {
            term *= (n_succ - j) * (n_draw - j) / ((j + 1) * (n_fail - n_draw + j + 1));
            sum += term;
            if (term < sum * 1e-17)
                break;
        }
        return dt_stats_hyper_pmf_log(k, n_pop, n_succ, n_draw) + log(sum);
    }
    /* k at or below the mode: the upper tail is not small, so 1 - P(X <= k-1) is accurate;
     * the lower tail's terms decrease from k-1 downwards. */
    double term = 1, sum = 1;
    for (double j = k - 1; j > lo; j--) {
        term *= j * (n_fail - n_draw + j) / ((n_succ - j + 1) * (n_draw - j + 1));
        sum += term;
        if (term < sum * 1e-17)
            break;
    }
    double llow = dt_stats_hyper_pmf_log(k - 1, n_pop, n_succ, n_draw) + log(sum);
    if (llow < 0)
        return dt_stats_log1mexp(llow);
    /* Rounding put the lower tail at 1: sum the upper tail's terms directly in log space. */
    double acc = -HUGE_VAL;
    for (double j = k; j <= hi; j++)
        acc = dt_stats_logaddexp(acc, dt_stats_hyper_pmf_log(j, n_pop, n_succ, n_draw));
    return acc;
}

double dt_stats_hyper_sf(double k, double n_pop, double n_succ, double n_draw)
{
    return exp(dt_stats_hyper_sf_log(k, n_pop, n_succ, n_draw));
}
