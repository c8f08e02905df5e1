/* Curves of a metrics CSV drawn into a PNG by a small renderer of our own.
 *
 * Why our own: the curves must appear on a fresh machine from the README's
 * main command, with nothing skipped. The choices weighed (Debian 12,
 * `apt-get install -s --no-install-recommends`):
 *  - PLplot (libplplot-dev + plplot-driver-cairo): 30 new packages, a
 *    driver looked up at run time (a missing driver is a run-time failure);
 *  - cairo (libcairo2-dev): 18 new packages (pixman, fontconfig, freetype,
 *    X11 headers) for antialiased lines and real fonts;
 *  - gnuplot-nox from scripts/setup.sh: 4 packages without recommends, 39
 *    with them, and a subprocess whose absence or failure the library can
 *    only report; users who build without setup.sh still get no curves;
 *  - this file: no new dependency (libpng is already one, for image grids),
 *    no subprocess, the same pixels on every machine (so tests can check
 *    colours exactly), at the price of a 5x8 bitmap font (plot_font.h)
 *    drawn at twice its size and lines without antialiasing.
 * The library cannot fail to plot for want of a tool, so a failure is a real
 * error (an unreadable or malformed CSV, an unwritable PNG) and says so. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_font.h"
#include "tg_data.h"
#include "tg_internal.h"

#define PANEL_W 600
#define PANEL_H 400
#define TITLE_H 40     /* the band above the panels for the title */
#define MARGIN_L 110   /* y label and tick labels */
#define MARGIN_R 24
#define MARGIN_T 60    /* panel title, then the legend */
#define MARGIN_B 56    /* x tick labels, then the x label */
#define SCALE 2        /* font pixels per glyph pixel */
#define ADV ((FONT_W + 1) * SCALE)
#define MAX_COLS 64
#define MAX_SERIES 6   /* lines per panel: the palette's size */

typedef struct rgb {
  unsigned char r, g, b;
} rgb;

/* matplotlib's tab10 colours, in its order */
static const rgb palette[MAX_SERIES] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189}, {140, 86, 75}};
static const rgb black = {0, 0, 0}, grid_grey = {225, 225, 225};

typedef struct table {
  char *names[MAX_COLS];
  size_t ncols, nrows, cap;
  double *v; /* nrows x ncols, row-major */
} table;

typedef struct canvas {
  unsigned char *px; /* w x h x 3 */
  int w, h;
} canvas;

/* ------------------------------------------------------------ the CSV */

static void free_table(table *t) {
  for (size_t i = 0; i < t->ncols; i++) free(t->names[i]);
  free(t->v);
}

static void strip_eol(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
}

static int read_header(const char *op, const char *csv, char *line, table *t) {
  strip_eol(line);
  if (!*line) {
    tg_error("%s: '%s' has no header line of column names", op, csv);
    return -1;
  }
  for (char *p = line;;) {
    size_t len = strcspn(p, ",");
    if (t->ncols == MAX_COLS) {
      tg_error("%s: '%s' has more than %d columns", op, csv, MAX_COLS);
      return -1;
    }
    if (!(t->names[t->ncols] = malloc(len + 1))) {
      tg_error("%s: out of memory", op);
      return -1;
    }
    memcpy(t->names[t->ncols], p, len);
    t->names[t->ncols++][len] = '\0';
    if (!p[len]) return 0;
    p += len + 1;
  }
}

/* one data line into row; "nan" and "inf" are values (drawn as gaps) */
static int read_row(const char *op, const char *csv, size_t lineno, char *line, table *t) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64;
    double *v = realloc(t->v, cap * t->ncols * sizeof *v);
    if (!v) {
      tg_error("%s: out of memory", op);
      return -1;
    }
    t->v = v, t->cap = cap;
  }
  double *row = t->v + t->nrows * t->ncols;
  char *p = line;
  for (size_t i = 0; i < t->ncols; i++) {
    char *end;
    errno = 0;
    row[i] = strtod(p, &end);
    if (end == p || (*end && *end != ',') || (*end == ',') != (i + 1 < t->ncols)) {
      tg_error("%s: '%s' line %zu: %s (%zu columns in the header)", op, csv, lineno,
               end == p || (*end && *end != ',') ? "a value that is not a number"
                                                 : "the wrong number of values",
               t->ncols);
      return -1;
    }
    p = end + (*end == ',');
  }
  t->nrows++;
  return 0;
}

static int read_table(const char *op, const char *csv, table *t) {
  FILE *f = fopen(csv, "r");
  if (!f) {
    tg_error("%s: cannot open '%s': %s", op, csv, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0, lineno = 1;
  int rc = 0;
  ssize_t got = getline(&line, &cap, f);
  if (got <= 0) {
    tg_error("%s: '%s' is empty: no header line of column names", op, csv);
    rc = -1;
  } else rc = read_header(op, csv, line, t);
  while (rc == 0 && getline(&line, &cap, f) > 0) {
    lineno++;
    strip_eol(line);
    if (*line) rc = read_row(op, csv, lineno, line, t);
  }
  free(line);
  fclose(f);
  if (rc == 0 && t->nrows == 0) {
    tg_error("%s: '%s' has a header but no rows of values to plot", op, csv);
    rc = -1;
  }
  return rc;
}

/* ------------------------------------------------------------ drawing */

static void put(canvas *c, int x, int y, rgb col) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
  unsigned char *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
  p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

static void fill(canvas *c, int x0, int y0, int x1, int y1, rgb col) {
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++) put(c, x, y, col);
}

/* Bresenham with a 2x2 brush: a 1-pixel line is too faint at this size */
static void line(canvas *c, int x0, int y0, int x1, int y1, rgb col) {
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  for (int err = dx + dy;;) {
    fill(c, x0, y0, x0 + 1, y0 + 1, col);
    if (x0 == x1 && y0 == y1) return;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

static int text_width(const char *s) { return (int)strlen(s) * ADV - SCALE; }

/* s with its top-left corner at (x, y); vertical: read bottom to top, its
 * bottom-left corner at (x, y) */
static void text(canvas *c, int x, int y, const char *s, rgb col, bool vertical) {
  for (int k = 0; s[k]; k++) {
    unsigned char ch = (unsigned char)s[k];
    const unsigned char *g = font5x8[ch >= ' ' && ch <= '~' ? ch - ' ' : '?' - ' '];
    for (int r = 0; r < FONT_H; r++)
      for (int b = 0; b < FONT_W; b++) {
        if (!(g[r] >> (FONT_W - 1 - b) & 1)) continue;
        int gx = k * ADV + b * SCALE, gy = r * SCALE;
        if (vertical) fill(c, x + gy, y - gx - SCALE + 1, x + gy + SCALE - 1, y - gx, col);
        else fill(c, x + gx, y + gy, x + gx + SCALE - 1, y + gy + SCALE - 1, col);
      }
  }
}

/* s into buf, cut to at most max_px pixels wide ("..." marks a cut), so a
 * long column name never runs into the next panel */
static const char *fit(char *buf, size_t len, const char *s, int max_px) {
  size_t n = strlen(s), room = max_px < ADV ? 1 : (size_t)((max_px + SCALE) / ADV);
  if (room >= len) room = len - 1;
  if (n <= room) return s;
  size_t keep = room > 3 ? room - 3 : 0;
  snprintf(buf, len, "%.*s%s", (int)keep, s, room > 3 ? "..." : "");
  return buf;
}

/* ------------------------------------------------------- axes, ticks */

typedef struct axis {
  double lo, hi, step; /* the range shown, and the tick spacing */
} axis;

/* a range of the finite values, padded, with a 1-2-5 tick step for ~5 ticks */
static axis make_axis(double lo, double hi, bool pad, bool integral) {
  if (lo == hi) {
    double d = lo == 0 ? 1 : fabs(lo) * 0.1;
    lo -= d, hi += d;
  }
  double d = (hi - lo) * 0.05;
  if (pad && isfinite(d)) lo -= d, hi += d;
  double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
  double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
  if (integral && step < 1) step = 1;
  return (axis){lo, hi, step};
}

static void tick_label(char *buf, size_t len, double v, double step) {
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (fabs(v) < step * 1e-6) v = 0; /* no "-0.00" */
  if (dec <= 5 && fabs(v) < 1e6) {
    snprintf(buf, len, "%.*f", dec, v);
    return;
  }
  snprintf(buf, len, "%.3g", v); /* then 1.5e+06 as 1.5e6: the margin is narrow */
  char *e = strchr(buf, 'e');
  if (!e) return;
  char *d = e + 1 + (e[1] == '-');
  const char *src = e + 1 + (e[1] == '+' || e[1] == '-');
  while (*src == '0' && src[1]) src++;
  memmove(d, src, strlen(src) + 1);
}

typedef struct frame {
  int left, top, right, bottom; /* the plot area, in pixels */
  axis x, y;
} frame;

/* where v falls in [lo, hi], as a fraction; clamped so that a range too
 * wide for doubles (1e308 - -1e308 is inf) still gives pixels in bounds */
static double frac(const axis *a, double v) {
  double t = (v - a->lo) / (a->hi - a->lo);
  return isfinite(t) ? fmin(fmax(t, -1), 2) : 0.5;
}

static int px_x(const frame *f, double v) {
  return f->left + (int)lround(frac(&f->x, v) * (f->right - f->left));
}

static int px_y(const frame *f, double v) {
  return f->bottom - (int)lround(frac(&f->y, v) * (f->bottom - f->top));
}

/* tick k of an axis, or false past its end; counted, not accumulated, so
 * a step lost in rounding (1e16 + 0.5) cannot loop forever */
static bool tick(const axis *a, int k, double *v) {
  if (!isfinite(a->step) || a->step <= 0 || k > 20) return false;
  *v = ceil(a->lo / a->step) * a->step + k * a->step;
  return isfinite(*v) && *v <= a->hi;
}

static void draw_ticks(canvas *c, const frame *f) {
  char buf[32];
  double v;
  for (int k = 0; tick(&f->x, k, &v); k++) {
    int x = px_x(f, v);
    fill(c, x, f->top, x, f->bottom, grid_grey);
    fill(c, x, f->bottom, x + 1, f->bottom + 5, black);
    tick_label(buf, sizeof buf, v, f->x.step);
    text(c, x - text_width(buf) / 2, f->bottom + 9, buf, black, false);
  }
  for (int k = 0; tick(&f->y, k, &v); k++) {
    int y = px_y(f, v);
    fill(c, f->left, y, f->right, y, grid_grey);
    fill(c, f->left - 5, y, f->left, y + 1, black);
    tick_label(buf, sizeof buf, v, f->y.step);
    text(c, f->left - 9 - text_width(buf), y - FONT_H * SCALE / 2, buf, black, false);
  }
}

static void draw_box(canvas *c, const frame *f) {
  fill(c, f->left - 1, f->top, f->left, f->bottom + 1, black);
  fill(c, f->right, f->top, f->right + 1, f->bottom + 1, black);
  fill(c, f->left - 1, f->top - 1, f->right + 1, f->top, black);
  fill(c, f->left - 1, f->bottom, f->right + 1, f->bottom + 1, black);
}

/* ------------------------------------------------------------ panels */

/* the quantity a column measures: its name less a train_/test_/val_ prefix,
 * so train_loss and test_loss share one panel (and one scale) */
static const char *quantity(const char *name) {
  static const char *const pre[] = {"train_", "test_", "val_", "valid_"};
  for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
    if (!strncmp(name, pre[i], strlen(pre[i])) && name[strlen(pre[i])]) return name + strlen(pre[i]);
  return name;
}

typedef struct panel {
  size_t col[MAX_SERIES], colour[MAX_SERIES], n;
  const char *name;
} panel;

/* train_ lines are blue, test_ orange, val_/valid_ green in every panel;
 * other columns take the first colour not yet taken in their panel */
static size_t prefix_colour(const char *name) {
  size_t q = (size_t)(quantity(name) - name);
  if (!q) return MAX_SERIES;
  return name[1] == 'r' ? 0 : name[1] == 'e' ? 1 : 2;
}

static void pick_colours(panel *p) {
  bool used[MAX_SERIES] = {false};
  for (size_t s = 0; s < p->n; s++) {
    size_t k = p->colour[s];
    if (k < MAX_SERIES && !used[k]) used[k] = true;
    else p->colour[s] = MAX_SERIES;
  }
  for (size_t s = 0; s < p->n; s++) {
    size_t k = 0;
    if (p->colour[s] < MAX_SERIES) continue;
    while (used[k]) k++;
    used[k] = true, p->colour[s] = k;
  }
}

/* columns 1.. grouped by quantity, in order of first appearance; a quantity
 * with more columns than colours goes on in a new panel */
static size_t group(const table *t, size_t first, panel *p) {
  size_t np = 0;
  for (size_t i = first; i < t->ncols; i++) {
    const char *q = quantity(t->names[i]);
    size_t k = 0;
    while (k < np && (strcmp(p[k].name, q) || p[k].n == MAX_SERIES)) k++;
    if (k == np) p[np++] = (panel){.name = q};
    p[k].colour[p[k].n] = prefix_colour(t->names[i]);
    p[k].col[p[k].n++] = i;
  }
  for (size_t k = 0; k < np; k++) pick_colours(&p[k]);
  return np;
}

static double xval(const table *t, bool by_row, size_t r) {
  return by_row ? (double)(r + 1) : t->v[r * t->ncols];
}

static bool integral_x(const table *t, bool by_row) {
  for (size_t r = 0; r < t->nrows; r++)
    if (isfinite(xval(t, by_row, r)) && xval(t, by_row, r) != trunc(xval(t, by_row, r))) return false;
  return true;
}

/* the finite range of x and of the panel's values over rows with both */
static bool ranges(const table *t, bool by_row, const panel *p, double *xr, double *yr) {
  xr[0] = yr[0] = INFINITY, xr[1] = yr[1] = -INFINITY;
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t s = 0; s < p->n; s++) {
      double x = xval(t, by_row, r), y = t->v[r * t->ncols + p->col[s]];
      if (!isfinite(x) || !isfinite(y)) continue;
      xr[0] = fmin(xr[0], x), xr[1] = fmax(xr[1], x);
      yr[0] = fmin(yr[0], y), yr[1] = fmax(yr[1], y);
    }
  return xr[0] <= xr[1];
}

/* one series: lines between consecutive finite points, a square on every
 * point when there are few (so a lone point or a short run shows) */
static void draw_series(canvas *c, const frame *f, const table *t, bool by_row, size_t col, rgb colr) {
  bool have = false, marks = t->nrows <= 60;
  int px = 0, py = 0;
  for (size_t r = 0; r < t->nrows; r++) {
    double x = xval(t, by_row, r), y = t->v[r * t->ncols + col];
    if (!isfinite(x) || !isfinite(y)) {
      have = false;
      continue;
    }
    int cx = px_x(f, x), cy = px_y(f, y);
    if (have) line(c, px, py, cx, cy, colr);
    if (marks) fill(c, cx - 2, cy - 2, cx + 3, cy + 3, colr);
    have = true, px = cx, py = cy;
  }
}

/* a line's name in the legend: its split ("train", "test") where the
 * panel's title already names the quantity, else the whole column name */
static void legend_name(char *buf, size_t len, const char *name, int max_px) {
  size_t pre = (size_t)(quantity(name) - name);
  char whole[128];
  snprintf(whole, sizeof whole, "%.*s", pre ? (int)(pre - 1) : (int)strlen(name), name);
  const char *n = fit(buf, len, whole, max_px);
  if (n != buf) snprintf(buf, len, "%s", n);
}

/* one row above the plot: a short line in each colour, then its name;
 * each name gets an equal share of the width */
static void draw_legend(canvas *c, const panel *p, const table *t, int ox, int y) {
  char names[MAX_SERIES][128];
  int avail = PANEL_W - MARGIN_L - MARGIN_R, share = avail / (int)p->n - 34 - 24, w = -24;
  for (size_t s = 0; s < p->n; s++) {
    legend_name(names[s], sizeof names[s], t->names[p->col[s]], share);
    w += 34 + text_width(names[s]) + 24;
  }
  int x = ox + MARGIN_L + (avail - w) / 2;
  for (size_t s = 0; s < p->n; s++) {
    fill(c, x, y + 6, x + 25, y + 8, palette[p->colour[s]]);
    text(c, x + 34, y, names[s], black, false);
    x += 34 + text_width(names[s]) + 24;
  }
}

static void draw_panel(canvas *c, const table *t, bool by_row, const panel *p, int ox, int oy) {
  frame f = {.left = ox + MARGIN_L, .top = oy + MARGIN_T, .right = ox + PANEL_W - MARGIN_R,
             .bottom = oy + PANEL_H - MARGIN_B};
  char b1[128], b2[128], b3[128];
  const char *xname = fit(b1, sizeof b1, by_row ? "row" : t->names[0], f.right - f.left);
  const char *title = fit(b2, sizeof b2, p->name, PANEL_W - 20);
  const char *yname = fit(b3, sizeof b3, p->name, f.bottom - f.top);
  double xr[2], yr[2];
  text(c, ox + (PANEL_W - text_width(title)) / 2, oy + 10, title, black, false);
  draw_legend(c, p, t, ox, oy + 34);
  text(c, (f.left + f.right - text_width(xname)) / 2, f.bottom + 32, xname, black, false);
  text(c, ox + 8, (f.top + f.bottom + text_width(yname)) / 2, yname, black, true);
  if (!ranges(t, by_row, p, xr, yr)) {
    const char *msg = "no finite values";
    draw_box(c, &f);
    text(c, (f.left + f.right - text_width(msg)) / 2, (f.top + f.bottom) / 2, msg, black, false);
    return;
  }
  f.x = make_axis(xr[0], xr[1], true, integral_x(t, by_row));
  f.y = make_axis(yr[0], yr[1], true, false);
  draw_ticks(c, &f);
  for (size_t s = 0; s < p->n; s++) draw_series(c, &f, t, by_row, p->col[s], palette[p->colour[s]]);
  draw_box(c, &f);
}

static int write_png(const char *op, const char *path, const canvas *c) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)c->w, img.height = (png_uint_32)c->h;
  img.format = PNG_FORMAT_RGB;
  if (png_image_write_to_file(&img, path, 0, c->px, 0, NULL)) return 0;
  tg_error("%s: cannot write '%s': %s", op, path, img.message);
  png_image_free(&img);
  return -1;
}

static int render(const char *op, const table *t, const char *png, const char *title) {
  bool by_row = t->ncols == 1;
  panel p[MAX_COLS];
  size_t np = group(t, by_row ? 0 : 1, p);
  size_t cols = np > 1 ? 2 : 1, rows = (np + cols - 1) / cols;
  int band = title && *title ? TITLE_H : 0;
  canvas c = {NULL, (int)cols * PANEL_W, band + (int)rows * PANEL_H};
  if (!(c.px = malloc((size_t)c.w * (size_t)c.h * 3))) {
    tg_error("%s: out of memory for a %dx%d image", op, c.w, c.h);
    return -1;
  }
  memset(c.px, 255, (size_t)c.w * (size_t)c.h * 3);
  char cut[256];
  if (band) title = fit(cut, sizeof cut, title, c.w - 20);
  if (band) text(&c, (c.w - text_width(title)) / 2, (TITLE_H - FONT_H * SCALE) / 2, title, black, false);
  for (size_t k = 0; k < np; k++)
    draw_panel(&c, t, by_row, &p[k], (int)(k % cols) * PANEL_W, band + (int)(k / cols) * PANEL_H);
  int rc = write_png(op, png, &c);
  free(c.px);
  return rc;
}

int tg_metrics_plot(const char *csv_path, const char *png_path, const char *title) {
  const char *op = "metrics_plot";
  if (!csv_path || !png_path || !*png_path) {
    tg_error("%s: csv_path or png_path is NULL or empty", op);
    return -1;
  }
  table t = {0};
  int rc = read_table(op, csv_path, &t);
  if (rc == 0) rc = render(op, &t, png_path, title);
  free_table(&t);
  return rc;
}
