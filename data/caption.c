/* Image grids with a caption under each image (CIFAR-10's "airplane" ...
 * "truck" in the lecture's data-visualisation slide). The captions are drawn
 * in a built-in 5x7 pixel font, so no font library is needed; the captioned
 * cells are composed here and written by tg_save_image_grid. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define GLYPH_W 5
#define GLYPH_H 7
#define ADVANCE (GLYPH_W + 1)        /* one blank column between letters */
#define CAPTION_H (GLYPH_H + 3)      /* 2 rows above the text, 1 below */
#define MAX_ZOOM 16

typedef struct glyph {
  char ch;
  const char *rows[GLYPH_H]; /* '#' is lit */
} glyph;

/* lower case, digits and a little punctuation; upper case is drawn as lower
 * case and anything else as '?' */
static const glyph FONT[] = {
    {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
    {'b', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."}},
    {'c', {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."}},
    {'d', {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"}},
    {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
    {'f', {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."}},
    {'g', {".....", ".####", "#...#", "#...#", ".####", "....#", ".###."}},
    {'h', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."}},
    {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
    {'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"}},
    {'n', {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
    {'p', {".....", ".....", "####.", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".##.#", "#..##", ".####", "....#", "....#"}},
    {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
    {'s', {".....", ".....", ".###.", "#....", ".###.", "....#", "####."}},
    {'t', {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."}},
    {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
    {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'w', {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."}},
    {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
    {'y', {".....", "#...#", "#...#", ".####", "....#", "#...#", ".###."}},
    {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
    {'-', {".....", ".....", ".....", ".###.", ".....", ".....", "....."}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
};

static const glyph *glyph_of(char ch) {
  char lower = (char)tolower((unsigned char)ch);
  size_t n = sizeof FONT / sizeof FONT[0];
  for (size_t i = 0; i < n; i++)
    if (FONT[i].ch == lower) return &FONT[i];
  return &FONT[n - 1]; /* '?' */
}

static size_t text_width(const char *s) {
  size_t len = strlen(s);
  return len ? len * ADVANCE - 1 : 0;
}

/* the layout of one captioned cell: the zoomed image centred above its caption */
typedef struct cell {
  size_t n, c, h, w; /* the source images */
  size_t zoom;
  size_t cw, ch;     /* the cell */
} cell;

/* draw s centred on the caption band of cell k (white on black, every channel) */
static void draw_caption(const cell *L, float *dst, const char *s) {
  size_t x0 = (L->cw - text_width(s)) / 2, y0 = L->h * L->zoom + 2;
  for (size_t i = 0; s[i]; i++) {
    const glyph *g = glyph_of(s[i]);
    for (size_t gy = 0; gy < GLYPH_H; gy++)
      for (size_t gx = 0; gx < GLYPH_W; gx++)
        if (g->rows[gy][gx] == '#') {
          float *px = dst + ((y0 + gy) * L->cw + x0 + i * ADVANCE + gx) * L->c;
          for (size_t ch = 0; ch < L->c; ch++) px[ch] = 1.0f;
        }
  }
}

/* image k, zoomed by pixel repetition, centred at the top of its cell */
static void draw_image(const cell *L, float *dst, const float *src) {
  size_t x0 = (L->cw - L->w * L->zoom) / 2;
  for (size_t y = 0; y < L->h * L->zoom; y++)
    for (size_t x = 0; x < L->w * L->zoom; x++)
      memcpy(dst + (y * L->cw + x0 + x) * L->c, src + ((y / L->zoom) * L->w + x / L->zoom) * L->c,
             L->c * sizeof *dst);
}

static int plan_cells(const char *op, const char *const *captions, cell *L) {
  size_t widest = 0;
  for (size_t k = 0; k < L->n; k++) {
    if (!captions[k]) {
      tg_error("%s: caption %zu is NULL", op, k);
      return -1;
    }
    size_t tw = text_width(captions[k]);
    if (tw > 4096) {
      tg_error("%s: caption %zu is %zu characters long; at most 682 fit", op, k, strlen(captions[k]));
      return -1;
    }
    if (tw > widest) widest = tw;
  }
  L->cw = L->w * L->zoom > widest ? L->w * L->zoom : widest;
  L->ch = L->h * L->zoom + CAPTION_H;
  if (L->h > 65536 || L->w > 65536 || L->n > SIZE_MAX / L->c / L->cw / L->ch) {
    tg_error("%s: %zu images of %zux%zu zoomed %zu times are too large", op, L->n, L->h, L->w, L->zoom);
    return -1;
  }
  return 0;
}

int tg_save_image_grid_captioned(const char *path, const tg_tensor *images,
                                 const char *const *captions, size_t ncols, size_t pad,
                                 size_t zoom) {
  const char *op = "save_image_grid_captioned";
  if (!path || !*path || !captions) {
    tg_error("%s: %s is NULL", op, captions ? "path" : "captions");
    return -1;
  }
  if (zoom > MAX_ZOOM) {
    tg_error("%s: zoom %zu is more than %d", op, zoom, MAX_ZOOM);
    return -1;
  }
  cell L = {.zoom = zoom ? zoom : 1};
  float *src = tg_image_hwc(op, images, &L.n, &L.c, &L.h, &L.w);
  if (!src) return -1;
  float *cells = plan_cells(op, captions, &L) == 0 ? calloc(L.n * L.ch * L.cw * L.c, sizeof *cells) : NULL;
  int rc = -1;
  if (cells) {
    for (size_t k = 0; k < L.n; k++) {
      float *dst = cells + k * L.ch * L.cw * L.c;
      draw_image(&L, dst, src + k * L.h * L.w * L.c);
      draw_caption(&L, dst, captions[k]);
    }
    rc = tg_save_image_grid(path, cells, L.n, L.ch, L.cw, L.c, ncols, pad);
  } else if (L.cw) {
    tg_error("%s: out of memory for %zu captioned images", op, L.n);
  }
  free(cells);
  free(src);
  return rc;
}
