/* PNG image grids through libpng, laid out as torchvision's make_grid +
 * save_image so a grid drawn here matches one drawn by a PyTorch script:
 * width = ncols (w + pad) + pad, image k at row k / ncols, column k % ncols,
 * pad pixels of black around and between, bytes = trunc(255 v + 0.5). */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "atomic_internal.h"
#include "tg_data.h"
#include "tg_internal.h"

#define DEFAULT_NCOLS 8 /* torchvision's nrow */

typedef struct grid {
  const float *pix; /* n images of h x w x c */
  size_t n, h, w, c;
  size_t ncols, nrows, pad;
  size_t width, height; /* of the whole grid, in pixels */
} grid;

static bool mul_ok(size_t a, size_t b, size_t *out) {
  if (a && b > SIZE_MAX / a) return false;
  *out = a * b;
  return true;
}

/* a + b * c without overflow, or false */
static bool span(size_t a, size_t b, size_t c, size_t *out) {
  if (c && b > (SIZE_MAX - a) / c) return false;
  *out = a + b * c;
  return true;
}

static int plan_grid(const char *op, grid *g) {
  if (g->n == 0 || g->h == 0 || g->w == 0) {
    tg_error("%s: nothing to draw (n = %zu, h = %zu, w = %zu)", op, g->n, g->h, g->w);
    return -1;
  }
  if (g->c != 1 && g->c != 3) {
    tg_error("%s: %zu channels; a grid holds gray (1) or RGB (3) images", op, g->c);
    return -1;
  }
  if (!g->ncols) g->ncols = DEFAULT_NCOLS;
  if (g->ncols > g->n) g->ncols = g->n;
  g->nrows = (g->n + g->ncols - 1) / g->ncols;
  size_t row_bytes, px;
  if (g->w > SIZE_MAX - g->pad || g->h > SIZE_MAX - g->pad ||
      !span(g->pad, g->w + g->pad, g->ncols, &g->width) ||
      !span(g->pad, g->h + g->pad, g->nrows, &g->height) ||
      !mul_ok(g->width, g->c, &row_bytes) || !mul_ok(g->n, g->h, &px) || !mul_ok(px, g->w, &px) ||
      !mul_ok(px, g->c, &px) ||
      g->width > PNG_UINT_31_MAX || g->height > PNG_UINT_31_MAX) {
    tg_error("%s: a grid of %zu images of %zux%zu with %zu columns and padding %zu is too large",
             op, g->n, g->h, g->w, g->ncols, g->pad);
    return -1;
  }
  return 0;
}

/* as torchvision: float v*255 + 0.5, clamped, truncated; NaN is black */
static unsigned char to_byte(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 1.0f) return 255;
  return (unsigned char)(v * 255.0f + 0.5f);
}

static void fill_row(const grid *g, size_t y, unsigned char *row) {
  size_t cell_h = g->h + g->pad;
  memset(row, 0, g->width * g->c);
  if (y < g->pad || (y - g->pad) % cell_h >= g->h) return; /* a padding row */
  size_t gy = (y - g->pad) / cell_h, iy = (y - g->pad) % cell_h;
  for (size_t gx = 0; gx < g->ncols && gy * g->ncols + gx < g->n; gx++) {
    size_t k = gy * g->ncols + gx;
    const float *src = g->pix + (k * g->h + iy) * g->w * g->c;
    unsigned char *dst = row + (g->pad + gx * (g->w + g->pad)) * g->c;
    for (size_t i = 0; i < g->w * g->c; i++) dst[i] = to_byte(src[i]);
  }
}

typedef struct png_err {
  char msg[200];
} png_err;

static void on_png_error(png_structp png, png_const_charp msg) {
  png_err *e = png_get_error_ptr(png);
  snprintf(e->msg, sizeof e->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void write_rows(png_structp png, png_infop info, const grid *g, unsigned char *row) {
  png_set_IHDR(png, info, (png_uint_32)g->width, (png_uint_32)g->height, 8,
               g->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (size_t y = 0; y < g->height; y++) {
    fill_row(g, y, row);
    png_write_row(png, row);
  }
  png_write_end(png, NULL);
}

/* Everything libpng can longjmp out of happens in write_rows; the row
 * buffer belongs to the caller and nothing here changes after setjmp, so
 * no local needs to be volatile. */
static int encode(FILE *f, const grid *g, unsigned char *row, png_err *e) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    snprintf(e->msg, sizeof e->msg, "out of memory");
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  png_init_io(png, f);
  write_rows(png, info, g, row);
  png_destroy_write_struct(&png, &info);
  return 0;
}

static int save_grid(const char *op, const char *path, grid *g) {
  if (!path || !*path || !g->pix) {
    tg_error("%s: path or pixels is NULL", op);
    return -1;
  }
  if (plan_grid(op, g) != 0) return -1;
  unsigned char *row = malloc(g->width * g->c);
  png_err e = {""};
  tg_atomic_file a;
  if (!row) {
    tg_error("%s: out of memory for a %zu-pixel row", op, g->width);
    return -1;
  }
  int rc = tg_atomic_open(&a, op, path);
  if (rc == 0 && encode(a.f, g, row, &e) != 0) {
    tg_error("%s: '%s': libpng: %s; the previous file, if any, is unchanged", op, path, e.msg);
    tg_atomic_abort(&a);
    rc = -1;
  } else if (rc == 0) {
    rc = tg_atomic_commit(&a, op);
  }
  free(row);
  return rc;
}

int tg_save_image_grid(const char *path, const float *pixels, size_t n, size_t h, size_t w,
                       size_t c, size_t ncols, size_t pad) {
  grid g = {.pix = pixels, .n = n, .h = h, .w = w, .c = c, .ncols = ncols, .pad = pad};
  return save_grid("save_image_grid", path, &g);
}

/* n, c, h, w of a [n,h*w], [n,h,w] or [n,c,h,w] tensor */
static int tensor_geometry(const char *op, const tg_tensor *t, size_t h, size_t w, grid *g) {
  char buf[96];
  if (t->ndim < 2 || t->ndim > 4) {
    tg_error("%s: images %s: expected [n,h*w], [n,h,w] or [n,c,h,w]", op, tg_shape_str(t, buf, sizeof buf));
    return -1;
  }
  g->n = t->shape[0];
  g->c = t->ndim == 4 ? t->shape[1] : 1;
  g->h = t->ndim >= 3 ? t->shape[t->ndim - 2] : h;
  g->w = t->ndim >= 3 ? t->shape[t->ndim - 1] : w;
  if (t->ndim == 2 && (!h || !w || t->shape[1] / h != w || t->shape[1] % h)) {
    tg_error("%s: images %s are rows of h*w pixels, but h = %zu and w = %zu", op,
             tg_shape_str(t, buf, sizeof buf), h, w);
    return -1;
  }
  if (t->ndim >= 3 && ((h && h != g->h) || (w && w != g->w))) {
    tg_error("%s: images %s are %zux%zu, not the %zux%zu asked for", op,
             tg_shape_str(t, buf, sizeof buf), g->h, g->w, h, w);
    return -1;
  }
  return 0;
}

/* the tensor's values, channels moved last (h x w x c per image) */
static float *to_hwc(const tg_tensor *t, const grid *g) {
  float *out = t->numel <= SIZE_MAX / sizeof *out ? malloc((t->numel ? t->numel : 1) * sizeof *out) : NULL;
  if (!out) return NULL;
  size_t hw = g->h * g->w;
  for (size_t i = 0; i < t->numel; i++) {
    size_t img = i / (g->c * hw), ch = i / hw % g->c, p = i % hw;
    out[(img * hw + p) * g->c + ch] = (float)tg_get_flat(t, i);
  }
  return out;
}

int tg_save_image_grid_tensor(const char *path, const tg_tensor *images, size_t h, size_t w,
                              size_t ncols, size_t pad) {
  const char *op = "save_image_grid_tensor";
  grid g = {.ncols = ncols, .pad = pad};
  if (!tg_tensor_check(images, op, 2) || tensor_geometry(op, images, h, w, &g) != 0) return -1;
  if (plan_grid(op, &g) != 0) return -1;
  float *hwc = to_hwc(images, &g);
  if (!hwc) {
    tg_error("%s: out of memory for %zu pixels", op, images->numel);
    return -1;
  }
  g.pix = hwc;
  g.ncols = ncols; /* save_grid plans again from the caller's values */
  int rc = save_grid(op, path, &g);
  free(hwc);
  return rc;
}

float *tg_image_hwc(const char *op, const tg_tensor *images, size_t *n, size_t *c, size_t *h,
                    size_t *w) {
  grid g = {0};
  if (!tg_tensor_check(images, op, 2)) return NULL;
  if (images->ndim != 3 && images->ndim != 4) {
    char buf[96];
    tg_error("%s: images %s: expected [n,h,w] or [n,c,h,w]", op, tg_shape_str(images, buf, sizeof buf));
    return NULL;
  }
  if (tensor_geometry(op, images, 0, 0, &g) != 0) return NULL;
  float *hwc = to_hwc(images, &g);
  if (!hwc) tg_error("%s: out of memory for %zu pixels", op, images->numel);
  *n = g.n, *c = g.c, *h = g.h, *w = g.w;
  return hwc;
}
