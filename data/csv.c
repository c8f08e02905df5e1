/* CSV of numbers: one sample per line, one number per field, an optional
 * header line, and optionally one column of integer class labels. The whole
 * file is read first, then parsed in place: strtod stops at the delimiter,
 * so fields need no copying. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct csv {
  const char *path;
  char delim;
  int label_col; /* or TG_CSV_NO_LABEL */
  const char *text, *end;
  size_t ncols, cols_line; /* field count, and the line that set it */
  float *x;
  int64_t *y;
  size_t rows, cap;
} csv;

typedef struct line {
  const char *s, *e; /* without the newline (and a trailing '\r') */
  size_t no;         /* 1-based */
} line;

/* the line starting at p; *next is where the following one starts */
static line get_line(const char *p, const char *end, size_t no, const char **next) {
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  const char *e = nl ? nl : end;
  *next = nl ? nl + 1 : end;
  if (e > p && e[-1] == '\r') e--;
  return (line){p, e, no};
}

static bool is_space(char c, char delim) { return (c == ' ' || c == '\t') && c != delim; }

static bool is_blank(const csv *c, line l) {
  for (const char *p = l.s; p < l.e; p++)
    if (!is_space(*p, c->delim)) return false;
  return true;
}

static size_t count_fields(const csv *c, line l) {
  size_t n = 1;
  for (const char *p = l.s; p < l.e; p++) n += *p == c->delim;
  return n;
}

/* field [s, e) trimmed of blanks; *next after its delimiter */
static void get_field(const csv *c, line l, const char *p, const char **s, const char **e,
                      const char **next) {
  const char *d = memchr(p, c->delim, (size_t)(l.e - p));
  const char *fe = d ? d : l.e;
  *next = d ? d + 1 : l.e;
  while (p < fe && is_space(*p, c->delim)) p++;
  while (fe > p && is_space(fe[-1], c->delim)) fe--;
  *s = p;
  *e = fe;
}

/* the field as a finite number; false if it is anything else */
static bool parse_number(const char *s, const char *e, double *v) {
  if (s == e) return false;
  char *stop;
  *v = strtod(s, &stop);
  return stop == e && isfinite(*v);
}

static int field_error(const csv *c, line l, size_t col, const char *s, const char *e,
                       const char *expected) {
  /* at most 40 characters of the field, control bytes shown as '?' */
  char shown[41];
  size_t n = (size_t)(e - s) > 40 ? 40 : (size_t)(e - s);
  for (size_t i = 0; i < n; i++) shown[i] = (unsigned char)s[i] < 32 || s[i] == 127 ? '?' : s[i];
  shown[n] = '\0';
  tg_error("csv: %s: line %zu, column %zu (byte offset %zu): '%s'%s is not %s", c->path, l.no,
           col + 1, (size_t)(s - c->text), shown, e - s > 40 ? "..." : "", expected);
  return -1;
}

/* true when every field of l is a number (a header has some that are not) */
static bool all_numbers(const csv *c, line l) {
  const char *p = l.s, *s, *e;
  double v;
  for (size_t k = 0; k < c->ncols; k++) {
    get_field(c, l, p, &s, &e, &p);
    if (!parse_number(s, e, &v)) return false;
  }
  return true;
}

static int parse_row(csv *c, line l) {
  size_t nf = count_fields(c, l);
  if (nf != c->ncols) {
    tg_error("csv: %s: line %zu (byte offset %zu): %zu fields, expected %zu as on line %zu",
             c->path, l.no, (size_t)(l.s - c->text), nf, c->ncols, c->cols_line);
    return -1;
  }
  size_t nfeat = c->ncols - (c->label_col != TG_CSV_NO_LABEL);
  float *row = c->x + c->rows * nfeat;
  const char *p = l.s, *s, *e;
  for (size_t k = 0; k < c->ncols; k++) {
    double v;
    get_field(c, l, p, &s, &e, &p);
    if (!parse_number(s, e, &v))
      return field_error(c, l, k, s, e, s == e ? "a number (the field is empty)" : "a number");
    if ((int)k != c->label_col) {
      *row++ = (float)v;
    } else if (v < 0 || v != floor(v) || v > INT32_MAX) {
      return field_error(c, l, k, s, e, "a class label (an integer >= 0)");
    } else {
      c->y[c->rows] = (int64_t)v;
    }
  }
  c->rows++;
  return 0;
}

/* The first non-blank line fixes the columns; it is a header if asked
 * for, or (auto) if any of its fields is not a number. Returns where the
 * data starts. */
static int read_columns(csv *c, tg_csv_header header, const char **p, size_t *no) {
  for (const char *next; *p < c->end; *p = next) {
    line l = get_line(*p, c->end, ++*no, &next);
    if (is_blank(c, l)) continue;
    c->ncols = count_fields(c, l);
    c->cols_line = l.no;
    if (c->label_col != TG_CSV_NO_LABEL && (size_t)c->label_col >= c->ncols) {
      tg_error("csv: %s: line %zu: label column %d does not exist: %zu columns (0-based "
               "indices 0..%zu)", c->path, l.no, c->label_col, c->ncols, c->ncols - 1);
      return -1;
    }
    if (c->label_col != TG_CSV_NO_LABEL && c->ncols == 1) {
      tg_error("csv: %s: line %zu: the only column is the label; no features left", c->path, l.no);
      return -1;
    }
    bool is_header = header == TG_CSV_HEADER_YES || (header == TG_CSV_HEADER_AUTO && !all_numbers(c, l));
    if (!is_header) --*no; /* parse this line again as data */
    else *p = next;
    return 0;
  }
  tg_error("csv: %s: no data rows (the file is empty or blank)", c->path);
  return -1;
}

static int parse_rows(csv *c, const char *p, size_t no) {
  for (const char *next; p < c->end; p = next) {
    line l = get_line(p, c->end, ++no, &next);
    if (!is_blank(c, l) && parse_row(c, l) != 0) return -1;
  }
  if (!c->rows) {
    tg_error("csv: %s: a header line but no data rows", c->path);
    return -1;
  }
  return 0;
}

/* Room for every row. The rows are no more than the lines, and no more
 * than the text can hold: a row takes at least 2 ncols - 1 bytes (a number
 * in each field, the delimiters between) and a newline before the next, so
 * memory stays linear in the file size whatever the first line's field
 * count (1e6 commas, then 1e6 newlines, must not ask for 4 TB). */
static int allocate(csv *c) {
  size_t lines = 1, nfeat = c->ncols - (c->label_col != TG_CSV_NO_LABEL), n;
  for (const char *p = c->text; (p = memchr(p, '\n', (size_t)(c->end - p))); p++) lines++;
  size_t fit = (size_t)(c->end - c->text) / (2 * c->ncols) + 1; /* ncols <= length + 1 */
  if (lines > fit) lines = fit;
  c->x = tg_mul_ok(lines, nfeat * sizeof(float), &n) ? malloc(n) : NULL;
  c->y = c->label_col != TG_CSV_NO_LABEL ? malloc(lines * sizeof *c->y) : NULL;
  if (!c->x || (c->label_col != TG_CSV_NO_LABEL && !c->y)) {
    tg_error("csv: %s: out of memory for %zu rows of %zu columns", c->path, lines, c->ncols);
    return -1;
  }
  return 0;
}

static int check_opts(const char *path, const tg_csv_opts *o) {
  if (o->label_column < TG_CSV_NO_LABEL) {
    tg_error("csv: %s: label_column %d; a 0-based column or TG_CSV_NO_LABEL expected", path,
             o->label_column);
    return -1;
  }
  if (o->delimiter == '\n' || o->delimiter == '\r' || o->delimiter == '.' ||
      o->delimiter == '-' || o->delimiter == '+' || (o->delimiter >= '0' && o->delimiter <= '9')) {
    tg_error("csv: %s: delimiter '%c' would be part of numbers or lines", path, o->delimiter);
    return -1;
  }
  return 0;
}

static int parse(csv *c, tg_csv_header header) {
  const char *p = c->text;
  size_t no = 0;
  if (c->end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3; /* UTF-8 byte-order mark */
  if (read_columns(c, header, &p, &no) != 0 || allocate(c) != 0) return -1;
  return parse_rows(c, p, no);
}

int tg_csv_load(const char *path, const tg_csv_opts *opts, tg_dataset **out) {
  tg_csv_opts o = opts ? *opts : (tg_csv_opts){0};
  if (out) *out = NULL;
  if (!out) {
    tg_error("csv: the output pointer is NULL");
    return -1;
  }
  if (check_opts(path ? path : "(null)", &o) != 0) return -1;
  tg_rd r;
  uint8_t *text = NULL;
  size_t len = 0;
  int rc = tg_rd_open(&r, "csv", path);
  if (rc == 0) rc = tg_rd_all(&r, &text, &len);
  tg_rd_close(&r);
  if (rc != 0) return -1;
  csv c = {.path = path, .delim = o.delimiter ? o.delimiter : ',', .label_col = o.label_column,
           .text = (const char *)text, .end = (const char *)text + len};
  rc = parse(&c, o.header);
  free(text);
  if (rc != 0) {
    free(c.x);
    free(c.y);
    return -1;
  }
  size_t shape[1] = {c.ncols - (c.label_col != TG_CSV_NO_LABEL)};
  *out = tg_mem_dataset_adopt("csv", c.rows, 1, shape, NULL, c.x, c.y, -1);
  return *out ? 0 : -1;
}
