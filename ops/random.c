/* Sampling from the seeded generator (tg_rng): multinomial, bernoulli,
 * randint, randperm, and normal/uniform with tensor parameters. None has
 * a gradient (PyTorch's are zero or undefined), so results never require
 * grad. The same seed gives the same samples on every machine; the samples
 * are not PyTorch's (another generator). */
#include <math.h>

#include "ops_internal.h"

/* an integer uniform in [0, n): the top bits scaled, without modulo bias
 * worth the name for n far below 2^64 */
static uint64_t below(tg_rng *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)tg_rng_next(r) * n) >> 64);
}

tg_tensor *tg_randint(tg_rng *r, int64_t low, int64_t high, int ndim, const size_t *shape) {
  if (!r) r = tg_default_rng();
  if (ndim > 0 && !shape) {
    tg_error("randint: shape is NULL for %d dims", ndim);
    return NULL;
  }
  if (high <= low) {
    tg_error("randint: high (%lld) must be greater than low (%lld)", (long long)high, (long long)low);
    return NULL;
  }
  tg_tensor *out = tg_empty(TG_INT64, ndim, shape);
  if (!out) return NULL;
  int64_t *p = (int64_t *)tg_data(out);
  uint64_t span = (uint64_t)high - (uint64_t)low;
  for (size_t i = 0; i < out->numel; i++) p[i] = low + (int64_t)below(r, span);
  return out;
}

/* Fisher-Yates */
tg_tensor *tg_randperm(tg_rng *r, size_t n) {
  if (!r) r = tg_default_rng();
  tg_tensor *out = tg_empty(TG_INT64, TG_SHAPE(n));
  if (!out) return NULL;
  int64_t *p = (int64_t *)tg_data(out);
  for (size_t i = 0; i < n; i++) p[i] = (int64_t)i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)below(r, i);
    int64_t t = p[i - 1];
    p[i - 1] = p[j];
    p[j] = t;
  }
  return out;
}

tg_tensor *tg_bernoulli(tg_rng *r, tg_tensor *p) {
  if (!r) r = tg_default_rng();
  if (!ops_check_float("bernoulli", p, 1)) return NULL;
  tg_tensor *out = tg_tensor_alloc(p->dtype, p->ndim, p->shape);
  if (!out) return NULL;
  for (size_t i = 0; i < p->numel; i++) {
    double q = tg_get_flat(p, i);
    if (!(q >= 0 && q <= 1)) {
      tg_error("bernoulli: probability %g at position %zu is not in [0, 1]", q, i);
      return NULL;
    }
    double v = tg_rng_uniform(r) < q ? 1.0 : 0.0;
    if (out->dtype == TG_FLOAT32) ((float *)tg_ptr(out))[i] = (float)v;
    else ((double *)tg_ptr(out))[i] = v;
  }
  return out;
}

/* mean + std * N(0, 1), or lo + (hi - lo) * U[0, 1), with the two
 * parameter tensors broadcast to the result's shape */
static tg_tensor *two_param(const char *op, tg_rng *r, tg_tensor *a, tg_tensor *b, bool normal) {
  if (!r) r = tg_default_rng();
  if (!ops_check_pair(op, a, b)) return NULL;
  /* a + 0 b: the broadcast shape, and the error naming both shapes */
  bool prev = tg_set_grad_enabled(false);
  tg_tensor *shape_of = tg_add(a, tg_mul_scalar(b, 0));
  tg_set_grad_enabled(prev);
  if (!shape_of) return NULL;
  tg_tensor *ea = tg_expand(a, shape_of->ndim, shape_of->shape);
  tg_tensor *eb = tg_expand(b, shape_of->ndim, shape_of->shape);
  tg_tensor *out = tg_tensor_alloc(a->dtype, shape_of->ndim, shape_of->shape);
  if (!ea || !eb || !out) return NULL;
  for (size_t i = 0; i < out->numel; i++) {
    double x = tg_get_flat(ea, i), y = tg_get_flat(eb, i);
    if (normal && !(y >= 0)) {
      tg_error("%s: std %g at position %zu is negative", op, y, i);
      return NULL;
    }
    double v = normal ? x + y * tg_rng_normal(r) : x + (y - x) * tg_rng_uniform(r);
    if (out->dtype == TG_FLOAT32) ((float *)tg_ptr(out))[i] = (float)v;
    else ((double *)tg_ptr(out))[i] = v;
  }
  return out;
}

tg_tensor *tg_normal_tensor(tg_rng *r, tg_tensor *mean, tg_tensor *std) {
  return two_param("normal", r, mean, std, true);
}

tg_tensor *tg_uniform_tensor(tg_rng *r, tg_tensor *lo, tg_tensor *hi) {
  return two_param("uniform", r, lo, hi, false);
}

/* row i of probs: its weights checked (finite, >= 0, some > 0) */
static bool check_row(const tg_tensor *row, size_t i, size_t *nonzero, double *total) {
  *nonzero = 0;
  *total = 0;
  for (size_t c = 0; c < row->numel; c++) {
    double w = tg_get_flat(row, c);
    if (!(w >= 0) || isinf(w)) {
      tg_error("multinomial: probability %g in row %zu is negative, inf or NaN", w, i);
      return false;
    }
    *nonzero += w > 0;
    *total += w;
  }
  if (*total <= 0) {
    tg_error("multinomial: row %zu has no positive probability (its sum is 0)", i);
    return false;
  }
  return true;
}

/* with replacement: the inverse of the row's cumulative sum */
static void sample_with(tg_rng *r, const tg_tensor *row, double total, size_t k, int64_t *out) {
  for (size_t s = 0; s < k; s++) {
    double u = tg_rng_uniform(r) * total, acc = 0;
    size_t pick = 0;
    for (size_t c = 0; c < row->numel; c++) {
      double w = tg_get_flat(row, c);
      if (w > 0) pick = c; /* the last positive one catches rounding at the top */
      acc += w;
      if (u < acc) break;
    }
    out[s] = (int64_t)pick;
  }
}

/* without replacement: repeated draws from what is left (the weights of
 * chosen categories set to 0), in the order drawn, as PyTorch returns */
static void sample_without(tg_rng *r, const tg_tensor *row, size_t k, int64_t *out, double *left) {
  double total = 0;
  for (size_t c = 0; c < row->numel; c++) total += (left[c] = tg_get_flat(row, c));
  for (size_t s = 0; s < k; s++) {
    double u = tg_rng_uniform(r) * total, acc = 0;
    size_t pick = 0;
    for (size_t c = 0; c < row->numel; c++) {
      if (left[c] > 0) pick = c;
      acc += left[c];
      if (u < acc) break;
    }
    out[s] = (int64_t)pick;
    total -= left[pick];
    left[pick] = 0;
  }
}

tg_tensor *tg_multinomial(tg_rng *r, tg_tensor *probs, size_t num_samples, bool replacement) {
  if (!r) r = tg_default_rng();
  if (!ops_check_float("multinomial", probs, 1)) return NULL;
  if (probs->ndim != 1 && probs->ndim != 2) {
    tg_error("multinomial: probs must be 1-D (C) or 2-D (N, C), got %d dims", probs->ndim);
    return NULL;
  }
  if (num_samples == 0) {
    tg_error("multinomial: num_samples must be positive");
    return NULL;
  }
  size_t rows = probs->ndim == 2 ? probs->shape[0] : 1;
  size_t cats = probs->shape[probs->ndim - 1];
  tg_tensor *out = probs->ndim == 2 ? tg_empty(TG_INT64, TG_SHAPE(rows, num_samples))
                                    : tg_empty(TG_INT64, TG_SHAPE(num_samples));
  tg_tensor *left = replacement ? NULL : tg_empty(TG_FLOAT64, TG_SHAPE(cats ? cats : 1));
  if (!out || (!replacement && !left)) return NULL;
  for (size_t i = 0; i < rows; i++) {
    tg_tensor *row = probs->ndim == 2 ? tg_select(probs, 0, i) : probs;
    size_t nonzero;
    double total;
    if (!row || !check_row(row, i, &nonzero, &total)) return NULL;
    if (!replacement && num_samples > nonzero) {
      tg_error("multinomial: cannot draw %zu samples without replacement from %zu categories with "
               "positive probability (row %zu)", num_samples, nonzero, i);
      return NULL;
    }
    int64_t *dst = (int64_t *)tg_data(out) + i * num_samples;
    if (replacement) sample_with(r, row, total, num_samples, dst);
    else sample_without(r, row, num_samples, dst, tg_data_f64(left));
  }
  return out;
}
