/*
 * Lookup in the table of embedded data files (see embed.h).
 */
#include "util/embed.h"

#include <string.h>

const char *dt_embedded_file(const char *name, size_t *n_bytes)
{
    for (const struct dt_embedded_file *f = dt_embedded_files; f->name; f++)
        if (!strcmp(f->name, name)) {
            if (n_bytes)
                *n_bytes = f->n_bytes;
            return f->data;
        }
    return NULL;
}
