/* movedim and the transpose aliases: views through tg_permute. */
#include "ops_internal.h"

tg_tensor *tg_movedim(tg_tensor *a, int n, const int *src, const int *dst) {
  if (!tg_tensor_check(a, "movedim", 1)) return NULL;
  if (n > 0 && (!src || !dst)) {
    tg_error("movedim: %s dims (argument %d) is NULL", src ? "destination" : "source", src ? 4 : 3);
    return NULL;
  }
  if (n < 0 || n > (a->ndim ? a->ndim : 1)) {
    tg_error("movedim: %d dims to move in a %d-d tensor", n, a->ndim);
    return NULL;
  }
  int perm[TG_MAX_DIMS], s[TG_MAX_DIMS], d[TG_MAX_DIMS];
  bool src_used[TG_MAX_DIMS] = {false}, dst_used[TG_MAX_DIMS] = {false};
  for (int i = 0; i < n; i++) {
    s[i] = tg_norm_dim("movedim", src[i], a->ndim);
    d[i] = tg_norm_dim("movedim", dst[i], a->ndim);
    if (s[i] < 0 || d[i] < 0) return NULL;
    if (src_used[s[i]] || dst_used[d[i]]) {
      tg_error("movedim: repeated dim in %s (%d)", src_used[s[i]] ? "source" : "destination",
               src_used[s[i]] ? src[i] : dst[i]);
      return NULL;
    }
    src_used[s[i]] = dst_used[d[i]] = true;
  }
  if (a->ndim == 0) return tg_permute(a, NULL);
  for (int k = 0; k < a->ndim; k++) perm[k] = -1;
  for (int i = 0; i < n; i++) perm[d[i]] = s[i];
  /* the dims not moved keep their order in the free places */
  for (int k = 0, next = 0; k < a->ndim; k++) {
    if (perm[k] >= 0) continue;
    while (src_used[next]) next++;
    perm[k] = next++;
  }
  return tg_permute(a, perm);
}

static tg_tensor *swap(const char *op, tg_tensor *a, int dim0, int dim1) {
  if (!tg_tensor_check(a, op, 1)) return NULL;
  if (tg_norm_dim(op, dim0, a->ndim) < 0 || tg_norm_dim(op, dim1, a->ndim) < 0) return NULL;
  return tg_transpose(a, dim0, dim1);
}

tg_tensor *tg_swapaxes(tg_tensor *a, int axis0, int axis1) { return swap("swapaxes", a, axis0, axis1); }
tg_tensor *tg_swapdims(tg_tensor *a, int dim0, int dim1) { return swap("swapdims", a, dim0, dim1); }
