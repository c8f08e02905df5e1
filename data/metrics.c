/* A CSV log of training metrics (its curves are drawn by plot.c).
 *
 * Rows are flushed one by one so a crashed run keeps its history. A run
 * starts its log afresh (a re-run must not draw its first epoch after the
 * last run's final one); only an explicit resume appends, to a log with the
 * same columns. The curves are drawn by data/plot.c (no external program). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tg_data.h"
#include "tg_internal.h"

struct tg_metrics {
  FILE *f;
  char *path;
  size_t ncols;
};

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* names separated by commas: none empty, no quotes or line breaks (the
 * header must stay one plain CSV line) */
static int count_columns(const char *op, const char *columns, size_t *ncols) {
  if (!columns) {
    tg_error("%s: columns is NULL", op);
    return -1;
  }
  size_t n = 1;
  bool empty = !*columns;
  for (const char *p = columns; !empty && *p; p++) {
    if (*p == '"' || *p == '\n' || *p == '\r') {
      tg_error("%s: columns \"%s\": names cannot hold quotes or line breaks", op, columns);
      return -1;
    }
    if (*p == ',') {
      n++;
      empty = p == columns || p[1] == ',' || p[1] == '\0';
    }
  }
  if (empty) {
    tg_error("%s: columns \"%s\": every column needs a name", op, columns);
    return -1;
  }
  *ncols = n;
  return 0;
}

static void strip_eol(char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
}

/* an existing log must have the same header; a row cut short by a crash
 * gets its line ended so the next row starts on a line of its own */
static int adopt_existing(const char *op, tg_metrics *m, const char *columns, bool *fresh) {
  char *line = NULL;
  size_t cap = 0;
  rewind(m->f);
  ssize_t got = getline(&line, &cap, m->f);
  *fresh = got <= 0;
  if (got > 0) strip_eol(line);
  int rc = 0;
  if (got > 0 && strcmp(line, columns) != 0) {
    tg_error("%s: '%s' already logs the columns \"%.200s\", not \"%s\": use another file", op,
             m->path, line, columns);
    rc = -1;
  }
  free(line);
  if (rc == 0 && got > 0 && fseek(m->f, -1, SEEK_END) == 0 && fgetc(m->f) != '\n') {
    fseek(m->f, 0, SEEK_END);
    fputc('\n', m->f);
  }
  return rc;
}

static tg_metrics *metrics_open(const char *op, const char *path, const char *columns,
                               bool append) {
  size_t ncols;
  bool fresh;
  if (!path || !*path) {
    tg_error("%s: path is NULL or empty", op);
    return NULL;
  }
  if (count_columns(op, columns, &ncols) != 0) return NULL;
  tg_metrics *m = calloc(1, sizeof *m);
  if (!m || !(m->path = dup_str(path))) {
    free(m);
    tg_error("%s: out of memory", op);
    return NULL;
  }
  m->ncols = ncols;
  /* "a+": created if missing, readable for the header check, and every
   * write lands at the end whatever the read position; "w": truncated,
   * only after the columns were found good */
  if (!(m->f = fopen(path, append ? "a+" : "w")))
    tg_error("%s: cannot open '%s': %s", op, path, strerror(errno));
  fresh = !append;
  if (!m->f || (append && adopt_existing(op, m, columns, &fresh) != 0)) goto fail;
  fseek(m->f, 0, SEEK_END);
  if (fresh && fprintf(m->f, "%s\n", columns) < 0) goto write_fail;
  if (fflush(m->f) != 0 || ferror(m->f)) goto write_fail;
  return m;
write_fail:
  tg_error("%s: cannot write '%s': %s", op, path, strerror(errno));
fail:
  if (m->f) fclose(m->f);
  free(m->path);
  free(m);
  return NULL;
}

tg_metrics *tg_metrics_open(const char *path, const char *columns) {
  return metrics_open("metrics_open", path, columns, false);
}

tg_metrics *tg_metrics_open_append(const char *path, const char *columns) {
  return metrics_open("metrics_open_append", path, columns, true);
}

size_t tg_metrics_ncols(const tg_metrics *m) {
  if (!m) tg_error("metrics_ncols: the log is NULL");
  return m ? m->ncols : 0;
}

/* the fewest significant digits that read back as the same double, with
 * '.' as the decimal point whatever the locale */
static void format_value(char *buf, size_t len, double v) {
  if (isnan(v)) {
    snprintf(buf, len, "nan");
    return;
  }
  if (isinf(v)) {
    snprintf(buf, len, v > 0 ? "inf" : "-inf");
    return;
  }
  if (v == trunc(v) && fabs(v) < 1e15) { /* integers as integers: 10, not 1e+01 */
    snprintf(buf, len, "%.0f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  for (char *p = buf; *p; p++)
    if (*p == ',') *p = '.';
}

int tg_metrics_row(tg_metrics *m, const double *values) {
  if (!m || !values) {
    tg_error("metrics_row: %s is NULL", m ? "values" : "the log");
    return -1;
  }
  for (size_t i = 0; i < m->ncols; i++) {
    char buf[40];
    format_value(buf, sizeof buf, values[i]);
    if (i) fputc(',', m->f);
    fputs(buf, m->f);
  }
  fputc('\n', m->f);
  if (fflush(m->f) != 0 || ferror(m->f)) {
    tg_error("metrics_row: cannot write '%s': %s", m->path, strerror(errno));
    clearerr(m->f);
    return -1;
  }
  return 0;
}

int tg_metrics_close(tg_metrics *m) {
  if (!m) return 0;
  int rc = fclose(m->f) == 0 ? 0 : -1;
  if (rc) tg_error("metrics_close: cannot write '%s': %s", m->path, strerror(errno));
  free(m->path);
  free(m);
  return rc;
}
