/* A CSV log of training metrics, and curves drawn from it by gnuplot.
 *
 * Rows are flushed one by one so a crashed run keeps its history. A run
 * starts its log afresh (a re-run must not draw its first epoch after the
 * last run's final one); only an explicit resume appends, to a log with the
 * same columns. Plotting is optional: without gnuplot on PATH it says
 * so and returns 1, never failing the run that asked for it. gnuplot runs
 * by fork + execv of the path found on PATH, reading a generated script
 * file (no shell, so paths need no shell quoting), with its stderr captured
 * for the error message. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ------------------------------------------------------------- plotting */

/* the executable `name` in PATH (malloc'd), or NULL */
static char *find_in_path(const char *name) {
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin"; /* what execvp would search */
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    size_t len = (dlen ? dlen : 1) + 1 + strlen(name) + 1;
    char *full = malloc(len);
    struct stat st;
    if (!full) return NULL;
    snprintf(full, len, "%.*s/%s", dlen ? (int)dlen : 1, dlen ? p : ".", name);
    if (access(full, X_OK) == 0 && stat(full, &st) == 0 && S_ISREG(st.st_mode)) return full;
    free(full);
    if (!end) return NULL;
    p = end;
  }
}

/* s as a gnuplot single-quoted string: '' stands for ', and a line break
 * would end the command, so control characters become spaces */
static void put_quoted(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputs("''", f);
    else fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
  }
  fputc('\'', f);
}

/* the CSV's header line: its column count and first name */
static int read_columns(const char *op, const char *csv, size_t *ncols, char **first) {
  FILE *f = fopen(csv, "r");
  char *line = NULL;
  size_t cap = 0;
  if (!f) {
    tg_error("%s: cannot open '%s': %s", op, csv, strerror(errno));
    return -1;
  }
  ssize_t got = getline(&line, &cap, f);
  fclose(f);
  if (got > 0) strip_eol(line);
  if (got <= 0 || !*line) {
    tg_error("%s: '%s' has no header line of column names", op, csv);
    free(line);
    return -1;
  }
  *ncols = 1;
  for (const char *p = line; *p; p++) *ncols += *p == ',';
  line[strcspn(line, ",")] = '\0';
  *first = line;
  return 0;
}

/* One panel per metric (losses, accuracies and counts have different
 * scales, so one shared axis would flatten most curves), two panels a row,
 * each PANEL_W x PANEL_H pixels. */
#define PANEL_W 600
#define PANEL_H 400

static void write_script(FILE *f, const char *csv, const char *png, const char *title,
                         size_t ncols, const char *xname) {
  size_t panels = ncols > 1 ? ncols - 1 : 1, cols = panels > 1 ? 2 : 1;
  size_t rows = (panels + cols - 1) / cols;
  fprintf(f, "set datafile separator ','\n"
             "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
             "  set terminal pngcairo size %zu,%zu noenhanced\n"
             "} else {\n"
             "  set terminal png size %zu,%zu noenhanced\n"
             "}\n"
             "set grid\nset output ", cols * PANEL_W, rows * PANEL_H, cols * PANEL_W, rows * PANEL_H);
  put_quoted(f, png);
  fputs("\nset xlabel ", f);
  put_quoted(f, ncols > 1 ? xname : "row");
  fprintf(f, "\nset multiplot layout %zu,%zu title ", rows, cols);
  put_quoted(f, title ? title : "");
  if (ncols > 1) {
    fprintf(f, "\ndo for [i=2:%zu] {\n  plot ", ncols);
    put_quoted(f, csv);
    fputs(" using 1:i with linespoints title columnheader(i)\n}\n", f);
  } else {
    fputs("\nplot ", f);
    put_quoted(f, csv);
    fputs(" using 0:1 with linespoints title columnheader(1)\n", f);
  }
  fputs("unset multiplot\n", f);
}

/* a new temporary file in $TMPDIR (or /tmp); its name into name */
static int temp_file(char *name, size_t len, const char *stem) {
  const char *dir = getenv("TMPDIR");
  snprintf(name, len, "%s/%s-XXXXXX", dir && *dir ? dir : "/tmp", stem);
  return mkstemp(name);
}

/* run gnuplot on the script, its stderr into err_fd; the wait status */
static int run_gnuplot(const char *exe, char *script, int err_fd, int *status) {
  char argv0[] = "gnuplot";
  char *argv[] = {argv0, script, NULL};
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) { /* only async-signal-safe calls until execv */
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, 0), dup2(null, 1);
    dup2(err_fd, 2);
    execv(exe, argv);
    _exit(127);
  }
  while (waitpid(pid, status, 0) < 0)
    if (errno != EINTR) return -1;
  return 0;
}

/* gnuplot's complaint, on one line, for the error message */
static void read_complaint(int fd, char *buf, size_t len) {
  ssize_t got = pread(fd, buf, len - 1, 0);
  buf[got > 0 ? got : 0] = '\0';
  for (char *p = buf; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
}

static int check_drawn(const char *op, const char *csv, const char *png, int status, int err_fd) {
  struct stat st;
  char complaint[300];
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(png, &st) == 0 && st.st_size > 0)
    return 0;
  read_complaint(err_fd, complaint, sizeof complaint);
  tg_error("%s: gnuplot could not draw '%s' from '%s' (%s %d): %s", op, png, csv,
           WIFEXITED(status) ? "exit status" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
           *complaint ? complaint : "no message");
  return -1;
}

static int script_to_fd(int fd, const char *csv, const char *png, const char *title,
                        size_t ncols, const char *xname) {
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return -1;
  }
  write_script(f, csv, png, title, ncols, xname);
  return fclose(f) == 0 ? 0 : -1;
}

static int plot_with(const char *op, const char *exe, const char *csv, const char *png,
                     const char *title) {
  size_t ncols;
  char *xname = NULL, script[4096], errname[4096];
  int sfd = -1, efd = -1, status = 0, rc = -1;
  if (read_columns(op, csv, &ncols, &xname) != 0) return -1;
  if ((sfd = temp_file(script, sizeof script, "tg-plot")) < 0 ||
      script_to_fd(sfd, csv, png, title, ncols, xname) != 0 ||
      (efd = temp_file(errname, sizeof errname, "tg-plot-err")) < 0)
    tg_error("%s: cannot write a temporary gnuplot script: %s", op, strerror(errno));
  else if (run_gnuplot(exe, script, efd, &status) != 0)
    tg_error("%s: cannot run '%s': %s", op, exe, strerror(errno));
  else
    rc = check_drawn(op, csv, png, status, efd);
  if (efd >= 0) {
    close(efd);
    unlink(errname);
  }
  if (sfd >= 0) unlink(script); /* its descriptor was closed by script_to_fd */
  free(xname);
  return rc;
}

int tg_metrics_plot(const char *csv_path, const char *png_path, const char *title) {
  const char *op = "metrics_plot";
  if (!csv_path || !png_path || !*png_path) {
    tg_error("%s: csv_path or png_path is NULL or empty", op);
    return -1;
  }
  if (strpbrk(csv_path, "\n\r") || strpbrk(png_path, "\n\r")) {
    tg_error("%s: paths with line breaks cannot be passed to gnuplot", op);
    return -1;
  }
  char *exe = find_in_path("gnuplot");
  if (!exe) {
    fprintf(stderr, "tapegrad: gnuplot is not on PATH; skipped plotting '%s' into '%s'\n",
            csv_path, png_path);
    return 1;
  }
  int rc = plot_with(op, exe, csv_path, png_path, title);
  free(exe);
  return rc;
}
