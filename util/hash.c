/*
 * Hash helpers over libcrypto (SHA-256) and libxxhash (XXH3-128, XXH64).
 */
#include "util/hash.h"

#include "util/error.h"
#include "util/file.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <xxhash.h>

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[b[i] >> 4];
        out[2 * i + 1] = hexd[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int dt_hash_sha256_hex(const void *data, size_t n_bytes, char out[DT_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n_md = 0;
    if (!EVP_Digest(data, n_bytes, md, &n_md, EVP_sha256(), NULL) || n_md != 32) {
        out[0] = '\0';
        return DT_EINTERNAL;
    }
    to_hex(md, 32, out);
    return 0;
}

void dt_hash_xxh128_hex(const void *data, size_t n_bytes, char out[DT_XXH128_HEX_LEN + 1])
{
    XXH128_hash_t h = XXH3_128bits(data, n_bytes);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    to_hex(c.digest, sizeof c.digest, out);
}

uint64_t dt_hash_xxh64(const void *data, size_t n_bytes, uint64_t seed)
{
    return XXH64(data, n_bytes, seed);
}

int dt_hash_file(const char *path, char sha256[DT_SHA256_HEX_LEN + 1],
                 char xxh128[DT_XXH128_HEX_LEN + 1], uint64_t *size_bytes, struct dt_error *err)
{
    struct dt_mapped_file m;
    int rc = dt_file_map(path, &m, err);
    if (rc)
        return rc;
    static const char empty[1];
    const void *p = m.data ? (const void *)m.data : (const void *)empty;
    if (sha256 && dt_hash_sha256_hex(p, m.size_bytes, sha256) != 0)
        rc = dt_error_set(err, DT_EINTERNAL, "sha-256 of '%s' failed", path);
    if (xxh128)
        dt_hash_xxh128_hex(p, m.size_bytes, xxh128);
    if (size_bytes)
        *size_bytes = m.size_bytes;
    dt_file_unmap(&m);
    return rc;
}
