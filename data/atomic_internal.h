/* Atomic file replacement, private to data/: write to "<path>.tmp.<pid>",
 * flush and fsync it, rename it over path, fsync the directory. A reader
 * (or a crash) sees either the old file or the complete new one. */
#ifndef TG_ATOMIC_INTERNAL_H
#define TG_ATOMIC_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

typedef struct tg_atomic_file {
  FILE *f;    /* write through this; NULL once committed or aborted */
  char *path; /* the final name */
  char *tmp;  /* the temporary name */
} tg_atomic_file;

/* op names the caller in error messages. Return 0, or -1 with tg_error set;
 * after any -1 the temporary file is gone and path is untouched. */
int tg_atomic_open(tg_atomic_file *a, const char *op, const char *path);
int tg_atomic_write(tg_atomic_file *a, const char *op, const void *data, size_t n);
int tg_atomic_commit(tg_atomic_file *a, const char *op);
/* record why (errno err) the write failed, then abort; returns -1 */
int tg_atomic_fail(tg_atomic_file *a, const char *op, int err);
/* drop the temporary file; safe to call more than once */
void tg_atomic_abort(tg_atomic_file *a);

#endif
