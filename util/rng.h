/*
 * Deterministic pseudo-random numbers: xoshiro256** seeded through splitmix64. The same seed
 * gives the same stream on every platform, so sampling, permutation tests and bootstraps are
 * reproducible from the seed recorded with each run.
 */
#ifndef DT_UTIL_RNG_H
#define DT_UTIL_RNG_H

#include <stdint.h>

struct dt_rng {
    uint64_t s[4];
};

void dt_rng_seed(struct dt_rng *r, uint64_t seed);
uint64_t dt_rng_u64(struct dt_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double dt_rng_uniform(struct dt_rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t dt_rng_below(struct dt_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double dt_rng_normal(struct dt_rng *r);

#endif
