/* Atomic replacement of a file (see atomic_internal.h). The temporary name carries
 * the pid so two processes saving the same path do not write into one
 * file; within a process a stale temporary (pid reuse) is truncated. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_internal.h"
#include "tg_internal.h"

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void tg_atomic_abort(tg_atomic_file *a) {
  if (a->f) fclose(a->f);
  if (a->tmp) unlink(a->tmp);
  free(a->tmp);
  free(a->path);
  a->f = NULL;
  a->tmp = a->path = NULL;
}

int tg_atomic_fail(tg_atomic_file *a, const char *op, int err) {
  tg_error("%s: cannot write '%s' (temporary '%s'): %s; the previous file, if any, is unchanged",
           op, a->path ? a->path : "?", a->tmp ? a->tmp : "?", strerror(err ? err : EIO));
  tg_atomic_abort(a);
  return -1;
}

int tg_atomic_open(tg_atomic_file *a, const char *op, const char *path) {
  memset(a, 0, sizeof *a);
  size_t len = strlen(path) + 32;
  a->path = dup_str(path);
  a->tmp = malloc(len);
  if (!a->path || !a->tmp) return tg_atomic_fail(a, op, ENOMEM);
  snprintf(a->tmp, len, "%s.tmp.%ld", path, (long)getpid());
  /* O_NOFOLLOW: never write through a symlink planted at the temp name */
  int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) {
    int err = errno;
    free(a->tmp); /* not ours: must not be unlinked by abort */
    a->tmp = NULL;
    tg_error("%s: cannot create the temporary file '%s.tmp.%ld': %s; '%s' is unchanged", op,
             path, (long)getpid(), strerror(err), path);
    tg_atomic_abort(a);
    return -1;
  }
  if (!(a->f = fdopen(fd, "wb"))) {
    int err = errno;
    close(fd);
    return tg_atomic_fail(a, op, err);
  }
  return 0;
}

int tg_atomic_write(tg_atomic_file *a, const char *op, const void *data, size_t n) {
  if (n && fwrite(data, 1, n, a->f) != n) return tg_atomic_fail(a, op, errno);
  return 0;
}

/* make the rename itself durable; a filesystem that cannot sync
 * directories (EINVAL) has nothing more to do */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? malloc((size_t)(slash - path) + 2) : dup_str(".");
  if (!dir) return ENOMEM;
  if (slash) {
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int err = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) err = errno;
  else if (fsync(fd) != 0 && errno != EINVAL) err = errno;
  if (fd >= 0) close(fd);
  free(dir);
  return err;
}

int tg_atomic_commit(tg_atomic_file *a, const char *op) {
  if (fflush(a->f) != 0 || ferror(a->f)) return tg_atomic_fail(a, op, errno);
  if (fsync(fileno(a->f)) != 0) return tg_atomic_fail(a, op, errno);
  FILE *f = a->f;
  a->f = NULL;
  if (fclose(f) != 0) return tg_atomic_fail(a, op, errno);
  if (rename(a->tmp, a->path) != 0) return tg_atomic_fail(a, op, errno);
  free(a->tmp); /* renamed: nothing left to remove */
  a->tmp = NULL;
  int err = sync_dir(a->path);
  if (err) {
    tg_error("%s: wrote '%s' but could not sync its directory: %s", op, a->path, strerror(err));
    tg_atomic_abort(a);
    return -1;
  }
  tg_atomic_abort(a);
  return 0;
}
