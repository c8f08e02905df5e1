/* Adaptive pools (torch.nn.functional.adaptive_avg_pool1d/2d,
 * adaptive_max_pool1d/2d): output index i pools the inputs
 * [floor(i*in/out), ceil((i+1)*in/out)), torch's start/end formulas. */
#include "pool_internal.h"

static void adaptive_axis(pool_win *w, size_t out, size_t in) {
  for (size_t o = 0; o < out; o++) {
    size_t s = o * in / out, e = ((o + 1) * in + out - 1) / out;
    w[o] = (pool_win){(double)s, (double)(e - s), 1, (double)(e - s), 1, 1};
  }
}

/* torch checks the spatial dims (avg) or every dim after the first (max)
 * for emptiness; out NULL for 2-d is an error */
static tg_tensor *adaptive(const char *op, tg_tensor *a, int sd, const int64_t *out, bool max,
                           tg_tensor **indices) {
  if (indices) *indices = NULL;
  if (!pool_check_float(op, a)) return NULL;
  if (!out) {
    tg_error("%s: output_size is NULL", op);
    return NULL;
  }
  for (int i = 0; i < sd; i++)
    if (out[i] < 0) {
      tg_error("%s: elements of output_size must be greater than or equal to 0 but received %lld",
               op, (long long)out[i]);
      return NULL;
    }
  if (a->ndim != sd + 1 && a->ndim != sd + 2) {
    char buf[96];
    tg_error("%s: Expected %dD or %dD tensor, but got %s", op, sd + 1, sd + 2, tg_shape_str(a, buf, sizeof buf));
    return NULL;
  }
  for (int d = max ? 1 : a->ndim - sd; d < a->ndim; d++)
    if (a->shape[d] == 0) {
      char buf[96];
      tg_error("%s: Expected input to have non-zero size for non-batch dimensions, but input has "
               "sizes %s with dimension %d being empty", op, tg_shape_str(a, buf, sizeof buf), d);
      return NULL;
    }
  size_t ih = sd == 2 ? a->shape[a->ndim - 2] : 1, iw = a->shape[a->ndim - 1];
  size_t oh = sd == 2 ? (size_t)out[0] : 1, ow = (size_t)out[sd - 1];
  pool_plan p;
  tg_tensor *plan = pool_plan_new(ih, iw, oh, ow, 0, false, &p);
  if (!plan) return NULL;
  adaptive_axis(p.rows, oh, ih);
  adaptive_axis(p.cols, ow, iw);
  if (max) return pool_max(a, plan, sd, sd == 2 ? POOL_ADAPTIVE_MAX2D : POOL_ADAPTIVE_MAX1D, indices);
  return pool_linear(a, plan, sd, sd == 2 ? POOL_ADAPTIVE_AVG2D : POOL_ADAPTIVE_AVG1D);
}

tg_tensor *tg_adaptive_avg_pool1d(tg_tensor *a, int64_t output_size) {
  return adaptive("adaptive_avg_pool1d", a, 1, &output_size, false, NULL);
}
tg_tensor *tg_adaptive_avg_pool2d(tg_tensor *a, const int64_t output_size[2]) {
  return adaptive("adaptive_avg_pool2d", a, 2, output_size, false, NULL);
}
tg_tensor *tg_adaptive_max_pool1d(tg_tensor *a, int64_t output_size, tg_tensor **indices) {
  return adaptive("adaptive_max_pool1d", a, 1, &output_size, true, indices);
}
tg_tensor *tg_adaptive_max_pool2d(tg_tensor *a, const int64_t output_size[2], tg_tensor **indices) {
  return adaptive("adaptive_max_pool2d", a, 2, output_size, true, indices);
}
