/*
 * Files: read-only memory maps for model weights (never copied), and whole-file reads for
 * small inputs (JSON, corpora) with a size cap so a hostile input cannot exhaust memory.
 */
#ifndef DT_UTIL_FILE_H
#define DT_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

struct dt_error;

struct dt_mapped_file {
    const uint8_t *data; /* read-only view of the whole file; NULL when size_bytes == 0 */
    size_t size_bytes;
};

/* Maps path read-only. Fails with DT_EIO for missing/unreadable files and directories. */
int dt_file_map(const char *path, struct dt_mapped_file *out, struct dt_error *err);
void dt_file_unmap(struct dt_mapped_file *m);

/* Reads the whole file into a NUL-terminated heap buffer (dt_free it). Fails with DT_ENOMEM
 * when the file is larger than max_bytes. */
int dt_file_read_all(const char *path, size_t max_bytes, char **out, size_t *n_bytes,
                     struct dt_error *err);

/* Writes bytes to path atomically (temp file + rename). */
int dt_file_write_all(const char *path, const void *data, size_t n_bytes, struct dt_error *err);

/* Makes sure path can be written later: creates its missing parent directories and checks
 * that the directory accepts a new file (and that path is not a directory or read-only).
 * Called on every output before the work that produces it starts. */
int dt_file_prepare_output(const char *path, struct dt_error *err);
int dt_path_is_dir(const char *path);
int dt_path_exists(const char *path);

/* Joins dir and name with one '/'; returns a heap string or NULL on allocation failure. */
char *dt_path_join(const char *dir, const char *name);

#endif
