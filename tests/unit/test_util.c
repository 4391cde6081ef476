/*
 * Unit tests for util/: errors, allocator fault injection, strbuf, hashes, files.
 */
#include "tests/tap.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/file.h"
#include "util/hash.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <cJSON.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    struct dt_error err;
    TAP_OK(dt_error_set(&err, DT_EFORMAT, "tensor '%s' bad", "x") == DT_EFORMAT, "error_set returns code");
    TAP_OK(!strcmp(err.msg, "tensor 'x' bad"), "error message formatted");
    dt_error_prefix(&err, "'%s'", "f.gguf");
    TAP_OK(!strcmp(err.msg, "'f.gguf': tensor 'x' bad"), "error prefix");
    TAP_OK(dt_exit_code_for(DT_EFORMAT) == DT_EXIT_INPUT, "format error exits 3");
    TAP_OK(dt_exit_code_for(DT_EINVAL) == DT_EXIT_USAGE, "usage error exits 2");

    dt_alloc_fail_after(1);
    void *a = dt_malloc(8), *b = dt_malloc(8);
    TAP_OK(a != NULL && b == NULL, "allocator fails the second allocation when asked");
    dt_alloc_fail_after(-1);
    dt_free(a);
    TAP_OK(dt_malloc_array(SIZE_MAX / 2, 4) == NULL, "array allocation overflow is caught");

    struct dt_strbuf sb = DT_STRBUF_INIT;
    for (int i = 0; i < 1000; i++)
        dt_strbuf_printf(&sb, "%d,", i);
    TAP_OK(!dt_strbuf_failed(&sb) && sb.len == 3890, "strbuf grows (%zu)", sb.len);
    TAP_OK(!strncmp(sb.data, "0,1,2,", 6), "strbuf content");
    dt_strbuf_release(&sb);

    char sha[65], xx[33];
    dt_hash_sha256_hex("abc", 3, sha);
    TAP_OK(!strcmp(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
           "sha-256 of 'abc'");
    dt_hash_xxh128_hex("", 0, xx);
    TAP_OK(strlen(xx) == 32, "xxh3-128 hex length");
    TAP_OK(dt_hash_xxh64("", 0, 0) == 0xEF46DB3751D8E999ULL, "xxh64 of empty input");

    char path[] = "/tmp/dt_test_util_XXXXXX";
    int fd = mkstemp(path);
    TAP_OK(fd >= 0, "temp file");
    close(fd);
    TAP_OK(dt_file_write_all(path, "hello", 5, &err) == 0, "write_all");
    char *buf = NULL;
    size_t n = 0;
    TAP_OK(dt_file_read_all(path, 100, &buf, &n, &err) == 0 && n == 5 && !strcmp(buf, "hello"), "read_all");
    dt_free(buf);
    TAP_OK(dt_file_read_all(path, 2, &buf, &n, &err) == DT_ENOMEM, "read_all size cap");
    struct dt_mapped_file m;
    TAP_OK(dt_file_map(path, &m, &err) == 0 && m.size_bytes == 5 && !memcmp(m.data, "hello", 5), "map");
    dt_file_unmap(&m);
    unlink(path);
    TAP_OK(dt_file_map("/nonexistent/x", &m, &err) == DT_EIO, "missing file is an io error");
    TAP_OK(strstr(err.msg, "/nonexistent/x") != NULL, "message names the path");
    TAP_OK(dt_file_map("/tmp", &m, &err) == DT_EIO, "a directory is rejected");
    /* UTF-8: validation and U+FFFD sanitising for JSON */
    TAP_OK(dt_utf8_valid("caf\xc3\xa9 \xe4\xbd\xa0", 9), "valid UTF-8 accepted");
    TAP_OK(!dt_utf8_valid("\xc3", 1), "truncated sequence rejected");
    TAP_OK(!dt_utf8_valid("\xc0\xaf", 2), "overlong form rejected");
    TAP_OK(!dt_utf8_valid("\xed\xa0\x80", 3), "surrogate rejected");
    TAP_OK(!dt_utf8_valid("\xf4\x90\x80\x80", 4), "code point above U+10FFFF rejected");
    TAP_OK(!dt_utf8_valid("a\0b", 3), "NUL rejected");
    struct dt_strbuf u = DT_STRBUF_INIT;
    dt_strbuf_append_utf8(&u, "a\xb0\xe4\xbd", 4);
    TAP_OK(u.len == 10 && !memcmp(u.data, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 10),
           "each invalid byte becomes U+FFFD (%zu bytes)", u.len);
    dt_strbuf_release(&u);
    cJSON *js = dt_json_string("ok\xff", 3);
    char *printed = js ? cJSON_PrintUnformatted(js) : NULL;
    TAP_OK(printed && !strcmp(printed, "\"ok\xef\xbf\xbd\""), "JSON string of invalid bytes is valid UTF-8");
    cJSON_free(printed);
    cJSON_Delete(js);
    return tap_done();
}
