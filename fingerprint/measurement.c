/*
 * Measurement lifecycle helpers.
 */
#include "fingerprint/measurement.h"

#include "util/alloc.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void dt_measurement_init(struct dt_measurement *m, const char *name, enum dt_signal_class cls)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->cls = cls;
    m->applicable = 1;
    m->statistic = NAN;
    m->p_given = NAN;
    m->z_given = NAN;
}

void dt_measurement_release(struct dt_measurement *m)
{
    if (!m)
        return;
    dt_free(m->control_stats);
    dt_free(m->scores);
    dt_free(m->c_hits);
    dt_free(m->c_n);
    m->c_hits = m->c_n = NULL;
    cJSON_Delete(m->details);
    m->control_stats = NULL;
    m->scores = NULL;
    m->details = NULL;
}

void dt_measurement_skip(struct dt_measurement *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->note, sizeof m->note, fmt, ap);
    va_end(ap);
    m->applicable = 0;
    m->test = DT_TEST_NONE;
}

int dt_measurement_alloc(struct dt_measurement *m, size_t n_controls, size_t n_probes)
{
    m->n_controls = n_controls;
    m->control_stats = dt_malloc_array(n_controls ? n_controls : 1, sizeof(double));
    if (!m->control_stats)
        return -1;
    for (size_t i = 0; i < n_controls; i++)
        m->control_stats[i] = NAN;
    m->c_hits = dt_calloc(n_controls ? n_controls : 1, sizeof(uint64_t));
    m->c_n = dt_calloc(n_controls ? n_controls : 1, sizeof(uint64_t));
    if (!m->c_hits || !m->c_n)
        return -1;
    if (n_probes) {
        size_t n_cols = n_controls + 1, n;
        if (dt_mul_overflow(n_probes, n_cols, &n))
            return -1;
        m->scores = dt_malloc_array(n, sizeof(double));
        if (!m->scores)
            return -1;
        for (size_t i = 0; i < n; i++)
            m->scores[i] = NAN;
        m->n_probes = n_probes;
        m->n_cols = n_cols;
    }
    return 0;
}

const char *dt_signal_class_name(enum dt_signal_class c)
{
    switch (c) {
    case DT_SIGNAL_WEIGHTS: return "weights";
    case DT_SIGNAL_ARTIFACT: return "artifact";
    case DT_SIGNAL_CLOSENESS: return "closeness";
    case DT_SIGNAL_INFO: return "info";
    }
    return "unknown";
}
