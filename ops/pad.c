/* tg_pad as PyTorch 1.13's F.pad: pads (left, right) pairs from the last
 * dim backwards; negative pads crop. Built from narrow, flip, expand and
 * cat, so the backward (a narrow and a sum of the reflected or repeated
 * edges) and the double backward come with them. */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static const char *const MODE[] = {"constant", "reflect", "replicate", "circular"};

/* the before/after pieces of x along d for pads l, r > 0 (a piece is NULL
 * when its pad is not positive) */
static tg_tensor *edge(tg_tensor *x, int d, long pad, bool left, tg_pad_mode mode, double value) {
  long n = (long)x->shape[d];
  size_t len = (size_t)pad, s[TG_MAX_DIMS]; /* s: the piece's shape */
  memcpy(s, x->shape, (size_t)x->ndim * sizeof *s);
  s[d] = len;
  switch (mode) {
  case TG_PAD_REFLECT: return tg_flip(tg_narrow(x, d, left ? 1 : n - 1 - pad, len), 1, &d);
  case TG_PAD_REPLICATE: return tg_expand(tg_narrow(x, d, left ? 0 : n - 1, 1), x->ndim, s);
  case TG_PAD_CIRCULAR: return tg_narrow(x, d, left ? n - pad : 0, len);
  default: return tg_full(x->dtype, x->ndim, s, value);
  }
}

static bool check_pads(tg_tensor *a, int n, const long *pad, tg_pad_mode mode) {
  if ((unsigned)mode > TG_PAD_CIRCULAR) {
    tg_error("pad: unknown padding mode %d", (int)mode);
    return false;
  }
  if (n < 0 || (n > 0 && !pad)) {
    tg_error("pad: invalid pad list (n = %d%s)", n, pad ? "" : ", pad is NULL");
    return false;
  }
  if (n % 2) {
    tg_error("pad: Padding length must be divisible by 2");
    return false;
  }
  int pd = n / 2;
  if (pd > a->ndim) {
    tg_error("pad: Padding length too large (%d pads for a %d-d tensor)", n, a->ndim);
    return false;
  }
  if (mode != TG_PAD_CONSTANT) {
    if (pd < 1 || pd > 3 || (a->ndim != pd + 1 && a->ndim != pd + 2)) {
      tg_error("pad: Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for "
               "now (%s padding of %d dims of a %d-d tensor)", MODE[mode], pd, a->ndim);
      return false;
    }
    if (mode == TG_PAD_CIRCULAR && a->ndim != pd + 2) {
      tg_error("pad: Invalid padding size, expected 0 but got %d (circular padding wants a "
               "batch and a channel dim)", n);
      return false;
    }
  }
  bool any_positive = false;
  for (int k = 0; k < n; k++) any_positive |= pad[k] > 0;
  for (int k = 0; k < pd; k++) {
    int d = a->ndim - 1 - k;
    long size = (long)a->shape[d], l = pad[2 * k], r = pad[2 * k + 1];
    long crop = size + (l < 0 ? l : 0) + (r < 0 ? r : 0);
    /* constant: PyTorch checks the output sizes only when some pad is positive */
    bool bad = mode == TG_PAD_CONSTANT ? (any_positive ? size + l + r <= 0 : crop < 0)
               : mode == TG_PAD_CIRCULAR ? crop < 0 : size + l + r < 1;
    if (bad) {
      tg_error("pad: the input size %ld in dim %d, plus padding %ld and %ld, resulted in a "
               "negative output size", size, d, l, r);
      return false;
    }
    if (mode == TG_PAD_REFLECT && (l >= size || r >= size)) {
      tg_error("pad: Argument #4: Padding size should be less than the corresponding input "
               "dimension, but got: padding (%ld, %ld) at dimension %d of input of size %ld",
               l, r, d, size);
      return false;
    }
    if (mode == TG_PAD_CIRCULAR && (l > crop || r > crop) && (l <= size && r <= size)) {
      /* torch 1.13 fills such a pad from its own unfilled output */
      tg_error("pad: circular padding (%ld, %ld) wraps past the cropped size %ld of dim %d", l,
               r, crop, d);
      return false;
    }
    if (mode == TG_PAD_CIRCULAR && (l > size || r > size)) {
      tg_error("pad: Padding value causes wrapping around more than once.");
      return false;
    }
    if (mode == TG_PAD_REPLICATE && size == 0 && (l > 0 || r > 0)) {
      tg_error("pad: replicate padding of the empty dim %d", d);
      return false;
    }
  }
  return true;
}

tg_tensor *tg_pad(tg_tensor *a, int n, const long *pad, tg_pad_mode mode, double value) {
  if (!tg_tensor_check(a, "pad", 1) || !check_pads(a, n, pad, mode)) return NULL;
  tg_tensor *x = a;
  for (int k = 0; k < n / 2 && x; k++) {
    int d = a->ndim - 1 - k;
    long l = pad[2 * k], r = pad[2 * k + 1];
    /* circular pads wrap the cropped tensor; the others pad from the
     * uncropped edges and crop after, as PyTorch */
    bool crop_first = mode == TG_PAD_CIRCULAR;
    if (crop_first && (l < 0 || r < 0)) {
      long start = l < 0 ? -l : 0;
      x = tg_narrow(x, d, start, (size_t)((long)x->shape[d] - start - (r < 0 ? -r : 0)));
      if (!x) return NULL;
    }
    tg_tensor *parts[3];
    int np = 0;
    if (l > 0) parts[np++] = edge(x, d, l, true, mode, value);
    parts[np++] = x;
    if (r > 0) parts[np++] = edge(x, d, r, false, mode, value);
    for (int i = 0; i < np; i++)
      if (!parts[i]) return NULL;
    if (np > 1) x = tg_cat(np, parts, d);
    if (x && !crop_first && (l < 0 || r < 0)) {
      long start = l < 0 ? -l : 0;
      long len = (long)x->shape[d] - start - (r < 0 ? -r : 0);
      x = tg_narrow(x, d, start, (size_t)len);
    }
  }
  return x == a ? tg_clone(a) : x; /* a copy, as PyTorch's */
}
