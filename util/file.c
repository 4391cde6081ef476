/*
 * File access: mmap for large read-only inputs, bounded whole-file reads for small ones.
 */
#include "util/file.h"

#include "util/alloc.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int dt_file_map(const char *path, struct dt_mapped_file *out, struct dt_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dt_error_set(err, DT_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dt_error_set(err, DT_EIO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dt_error_set(err, DT_EIO, "'%s' is not a regular file", path);
    }
    out->data = NULL;
    out->size_bytes = (size_t)st.st_size;
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return dt_error_set(err, DT_EIO, "cannot map '%s': %s", path, strerror(e));
        }
        out->data = p;
    }
    close(fd);
    return 0;
}

void dt_file_unmap(struct dt_mapped_file *m)
{
    if (m && m->data)
        munmap((void *)m->data, m->size_bytes);
    if (m) {
        m->data = NULL;
        m->size_bytes = 0;
    }
}

int dt_file_read_all(const char *path, size_t max_bytes, char **out, size_t *n_bytes,
                     struct dt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dt_error_set(err, DT_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        fclose(f);
        return dt_error_set(err, DT_EIO, "'%s' is not a readable file", path);
    }
    size_t cap = 4096, n = 0;
    char *buf = dt_malloc(cap);
    int rc = 0;
    if (!buf) {
        rc = dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    for (;;) {
        if (cap - n < 2) {
            if (cap > max_bytes) {
                rc = dt_error_set(err, DT_ENOMEM, "'%s' is larger than the limit of %zu bytes",
                                  path, max_bytes);
                goto out;
            }
            char *nb = dt_realloc(buf, cap * 2);
            if (!nb) {
                rc = dt_error_set(err, DT_ENOMEM, "out of memory reading '%s'", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rc = dt_error_set(err, DT_EIO, "read error on '%s'", path);
        goto out;
    }
    if (n > max_bytes) {
        rc = dt_error_set(err, DT_ENOMEM, "'%s' is larger than the limit of %zu bytes", path,
                          max_bytes);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    if (n_bytes)
        *n_bytes = n;
    buf = NULL;
out:
    dt_free(buf);
    fclose(f);
    return rc;
}

int dt_file_write_all(const char *path, const void *data, size_t n_bytes, struct dt_error *err)
{
    size_t n_path = strlen(path);
    char *tmp = dt_malloc(n_path + 16);
    if (!tmp)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    snprintf(tmp, n_path + 16, "%s.tmp%ld", path, (long)getpid());
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = dt_error_set(err, DT_EIO, "cannot write '%s': %s", path, strerror(errno));
        goto out;
    }
    if (n_bytes && fwrite(data, 1, n_bytes, f) != n_bytes) {
        fclose(f);
        unlink(tmp);
        rc = dt_error_set(err, DT_EIO, "cannot write '%s': %s", path, strerror(errno));
        goto out;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        rc = dt_error_set(err, DT_EIO, "cannot write '%s': %s", path, strerror(errno));
    }
out:
    dt_free(tmp);
    return rc;
}

/* mkdir -p of the directory part of path (nothing for a bare file name). */
static int make_parents(const char *path, struct dt_error *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    char *dir = dt_strndup(path, (size_t)(slash - path));
    if (!dir)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    int rc = 0;
    for (char *p = dir + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            rc = dt_error_set(err, DT_EIO, "cannot create directory '%s' for '%s': %s", dir, path,
                              strerror(errno));
            break;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    if (rc == 0 && !dt_path_is_dir(dir))
        rc = dt_error_set(err, DT_EIO, "cannot write '%s': '%s' is not a directory", path, dir);
    dt_free(dir);
    return rc;
}

int dt_file_prepare_output(const char *path, struct dt_error *err)
{
    struct stat st;
    if (!path || !*path)
        return dt_error_set(err, DT_EINVAL, "empty output path");
    int rc = make_parents(path, err);
    if (rc)
        return rc;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return dt_error_set(err, DT_EIO, "cannot write '%s': it is a directory", path);
        if (access(path, W_OK) != 0)
            return dt_error_set(err, DT_EIO, "cannot write '%s': %s", path, strerror(errno));
    }
    /* the file is replaced by a rename, so what matters is that its directory takes a new file */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? dt_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : dt_strdup(".");
    if (!dir)
        return dt_error_set(err, DT_ENOMEM, "out of memory");
    if (access(dir, W_OK | X_OK) != 0)
        rc = dt_error_set(err, DT_EIO, "cannot write '%s': directory '%s': %s", path, dir,
                          strerror(errno));
    dt_free(dir);
    return rc;
}

int dt_path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int dt_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

char *dt_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/')
        a--;
    char *p = dt_malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}
