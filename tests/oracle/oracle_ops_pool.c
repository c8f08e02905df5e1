/* The oracle's table of the pooling and resampling ops (ops/pool.c,
 * pool_adaptive.c, resample.c; family_pool.py). Pairs come as lists of one
 * (1-d) or two (2-d) numbers; an absent stride is PyTorch's None. */
#include "oracle_ops.h"

static int pairs(const oracle_params *p, const char *key, int64_t *out, int64_t def) {
  long l[ORACLE_MAX_LIST];
  int n = oracle_ints(p, key, l);
  out[0] = out[1] = def;
  for (int i = 0; i < n && i < 2; i++) out[i] = (int64_t)l[i];
  return n;
}

/* the result (out[0], its indices in out[1]), and its indices too when the case asks for them */
static int with_indices(const oracle_params *p, tg_tensor **out) {
  return out[0] ? (BOOL("ri") ? 2 : 1) : -1;
}

static int o_max_pool1d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t k[2], s[2], pd[2], d[2];
  int ns = pairs(p, "s", s, 0);
  pairs(p, "k", k, 1), pairs(p, "p", pd, 0), pairs(p, "d", d, 1);
  out[0] = tg_max_pool1d(x[0], k[0], ns ? s : NULL, pd[0], d[0], BOOL("ceil"), &out[1]);
  return with_indices(p, out);
}
static int o_max_pool2d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t k[2], s[2], pd[2], d[2];
  int ns = pairs(p, "s", s, 0);
  pairs(p, "k", k, 1), pairs(p, "p", pd, 0), pairs(p, "d", d, 1);
  out[0] = tg_max_pool2d(x[0], k, ns ? s : NULL, pd, d, BOOL("ceil"), &out[1]);
  return with_indices(p, out);
}
static int o_avg_pool1d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t k[2], s[2], pd[2];
  int ns = pairs(p, "s", s, 0);
  pairs(p, "k", k, 1), pairs(p, "p", pd, 0);
  return (out[0] = tg_avg_pool1d(x[0], k[0], ns ? s : NULL, pd[0], BOOL("ceil"), BOOL("incl"))) ? 1 : -1;
}
static int o_avg_pool2d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t k[2], s[2], pd[2];
  int ns = pairs(p, "s", s, 0);
  pairs(p, "k", k, 1), pairs(p, "p", pd, 0);
  out[0] = tg_avg_pool2d(x[0], k, ns ? s : NULL, pd, BOOL("ceil"), BOOL("incl"), (int64_t)NUM("div", 0));
  return out[0] ? 1 : -1;
}
static int o_adaptive_avg_pool1d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t o[2];
  pairs(p, "out", o, 1);
  return (out[0] = tg_adaptive_avg_pool1d(x[0], o[0])) ? 1 : -1;
}
static int o_adaptive_avg_pool2d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t o[2];
  pairs(p, "out", o, 1);
  return (out[0] = tg_adaptive_avg_pool2d(x[0], o)) ? 1 : -1;
}
static int o_adaptive_max_pool1d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t o[2];
  pairs(p, "out", o, 1);
  out[0] = tg_adaptive_max_pool1d(x[0], o[0], &out[1]);
  return with_indices(p, out);
}
static int o_adaptive_max_pool2d(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t o[2];
  pairs(p, "out", o, 1);
  out[0] = tg_adaptive_max_pool2d(x[0], o, &out[1]);
  return with_indices(p, out);
}
static int o_interpolate(tg_tensor **x, const oracle_params *p, tg_tensor **out) {
  int64_t size[2];
  double sf[2] = {0, 0};
  int ns = pairs(p, "size", size, 0), nf = 0;
  /* the factors are not integers: read as numbers, not through oracle_ints */
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->p[i].key, "sf"))
      for (nf = 0; nf < p->p[i].count && nf < 2; nf++) sf[nf] = p->p[i].v[nf];
  const char *m = oracle_str(p, "mode", "nearest");
  tg_interp_mode mode = !strcmp(m, "bilinear") ? TG_INTERP_BILINEAR
                        : !strcmp(m, "linear") ? TG_INTERP_LINEAR : TG_INTERP_NEAREST;
  out[0] = tg_interpolate(x[0], ns ? size : NULL, nf ? sf : NULL, mode, BOOL("align"));
  return out[0] ? 1 : -1;
}
ONE(pixel_shuffle, tg_pixel_shuffle(x[0], (int64_t)NUM("r", 1)))
ONE(pixel_unshuffle, tg_pixel_unshuffle(x[0], (int64_t)NUM("r", 1)))

#define E(name) {#name, o_##name}
const oracle_op oracle_pool_ops[] = {
    E(max_pool1d), E(max_pool2d), E(avg_pool1d), E(avg_pool2d), E(adaptive_avg_pool1d),
    E(adaptive_avg_pool2d), E(adaptive_max_pool1d), E(adaptive_max_pool2d), E(interpolate),
    E(pixel_shuffle), E(pixel_unshuffle), {NULL, NULL},
};
