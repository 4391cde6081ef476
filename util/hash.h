/*
 * Content hashes: SHA-256 (OpenSSL libcrypto) for chain of custody, XXH3-128 and XXH64
 * (libxxhash) for content addressing and tensor fingerprints. Hex output is lowercase.
 */
#ifndef DT_UTIL_HASH_H
#define DT_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;

#define DT_SHA256_HEX_LEN 64
#define DT_XXH128_HEX_LEN 32

/* out must hold 65 / 33 bytes (hex + NUL). */
int dt_hash_sha256_hex(const void *data, size_t n_bytes, char out[DT_SHA256_HEX_LEN + 1]);
void dt_hash_xxh128_hex(const void *data, size_t n_bytes, char out[DT_XXH128_HEX_LEN + 1]);
uint64_t dt_hash_xxh64(const void *data, size_t n_bytes, uint64_t seed);

/* Hashes a whole file (through mmap) with both digests; either output may be NULL. */
int dt_hash_file(const char *path, char sha256[DT_SHA256_HEX_LEN + 1],
                 char xxh128[DT_XXH128_HEX_LEN + 1], uint64_t *size_bytes, struct dt_error *err);

#endif
