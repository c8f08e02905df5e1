/* Activation checkpointing (autograd/checkpoint.c, tg_activation_checkpoint):
 * gradients bit-identical to the plain graph's on a deep MLP (with dropout:
 * the generator is replayed), less memory per step, hooks and tg_grad
 * through it, gradcheck, and the refusals. */
#include "tg_test.h"

#define L 24  /* layers */
#define SEG 4 /* layers per checkpointed segment */
#define NSEG (L / SEG)
#define B 128 /* a batch wider than the layers: activations dominate, as where checkpointing pays */
#define D 32

typedef struct mlp mlp;
typedef struct seg_ctx {
  mlp *m;
  int first; /* the segment's first layer */
} seg_ctx;
struct mlp {
  tg_tensor *w[L], *b[L];
  double p_drop;
  seg_ctx seg[NSEG]; /* a region's ctx must live until its backward */
};

static void make_mlp(mlp *m, uint64_t seed) {
  tg_rng r = test_seeded(seed);
  *m = (mlp){0};
  for (int l = 0; l < L; l++) {
    m->w[l] = tg_requires_grad_(tg_mul_scalar(tg_randn(&r, TG_FLOAT64, TG_SHAPE(D, D)), 1.0 / 7), true);
    m->b[l] = test_leaf(&r, TG_SHAPE(D));
  }
  for (int s = 0; s < NSEG; s++) m->seg[s] = (seg_ctx){m, s * SEG};
}

/* layers first .. first+SEG-1: h = tanh(h @ w + b), dropout after each */
static tg_tensor *segment(tg_tensor **in, void *c) {
  seg_ctx *s = c;
  tg_tensor *h = in[0];
  for (int l = s->first; l < s->first + SEG; l++) {
    h = tg_tanh(tg_add(tg_matmul(h, s->m->w[l]), s->m->b[l]));
    if (s->m->p_drop > 0) h = tg_dropout(h, s->m->p_drop, true, NULL);
  }
  return h;
}

static tg_tensor *forward(mlp *m, tg_tensor *x, bool ckpt) {
  tg_tensor *h = x;
  for (int s = 0; s < NSEG; s++) {
    h = ckpt ? tg_activation_checkpoint(segment, &m->seg[s], &h, 1) : segment(&h, &m->seg[s]);
    assert_non_null(h);
  }
  return tg_sum(tg_mul(h, h));
}

/* one step's gradients (w, b of every layer, then x), cloned */
static void step(mlp *m, tg_tensor *x, bool ckpt, tg_tensor **grads, double *loss) {
  for (int l = 0; l < L; l++) {
    tg_zero_grad(m->w[l]);
    tg_zero_grad(m->b[l]);
  }
  tg_zero_grad(x);
  tg_manual_seed(99); /* the same dropout masks in both runs */
  tg_scope_begin();
  tg_tensor *y = forward(m, x, ckpt);
  *loss = tg_item(y);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  tg_scope_end();
  for (int l = 0; l < L; l++) {
    grads[2 * l] = tg_clone(m->w[l]->grad);
    grads[2 * l + 1] = tg_clone(m->b[l]->grad);
  }
  grads[2 * L] = tg_clone(x->grad);
}

static void check_identical(double p_drop) {
  mlp m;
  make_mlp(&m, 5);
  m.p_drop = p_drop;
  tg_rng r = test_seeded(6);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(B, D)), *plain[2 * L + 1], *ck[2 * L + 1];
  double lp, lc;
  step(&m, x, false, plain, &lp);
  step(&m, x, true, ck, &lc);
  assert_true(lp == lc);
  for (int k = 0; k < 2 * L + 1; k++) test_assert_identical(ck[k], plain[k]);
  if (p_drop > 0) { /* dropout changed the loss, so the replayed masks mattered */
    double l0;
    m.p_drop = 0;
    step(&m, x, false, plain, &l0);
    assert_true(l0 != lp);
  }
}

static void test_gradients_bit_identical(void **state) {
  (void)state;
  check_identical(0);
}

static void test_gradients_bit_identical_with_dropout(void **state) {
  (void)state;
  check_identical(0.25);
}

/* The pool's high-water mark over one step (forward + backward): the pool
 * keeps what it got from the system until tg_release_cached, so the bytes
 * reserved after a step from an emptied cache are its peak. */
static size_t step_peak(mlp *m, tg_tensor *x, bool ckpt) {
  tg_release_cached();
  size_t before = tg_memory_get_stats().bytes_reserved;
  tg_scope_begin();
  tg_tensor *y = forward(m, x, ckpt);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  tg_scope_end();
  return tg_memory_get_stats().bytes_reserved - before;
}

static void test_peak_memory_drops(void **state) {
  (void)state;
  mlp m;
  make_mlp(&m, 8);
  tg_rng r = test_seeded(9);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(B, D));
  step_peak(&m, x, false); /* the parameters' .grad buffers exist from here on */
  size_t plain = step_peak(&m, x, false), ck = step_peak(&m, x, true);
  print_message("peak per step, %d layers (%d x %d float64 activations): plain %zu bytes, "
                "checkpointed every %d layers %zu bytes (%.2fx)\n",
                L, B, D, plain, SEG, ck, (double)ck / (double)plain);
  assert_true(ck * 2 < plain);
  /* what one checkpointed region leaves after its forward: its output, the
   * node and the generator state, however deep the region */
  tg_scope_begin();
  size_t live = tg_memory_get_stats().live_objects;
  tg_tensor *h = tg_activation_checkpoint(segment, &m.seg[0], &x, 1);
  assert_non_null(h);
  assert_int_equal(tg_memory_get_stats().live_objects - live, 3);
  assert_string_equal(tg_grad_fn_name(h), "CheckpointBackward");
  tg_scope_end();
}

/* tg_grad through regions (the parameters captured too), and a hook on a
 * parameter read inside a region: it runs once and sees the plain gradient */
static tg_tensor *spy_hook(tg_tensor *g, void *ctx) {
  int *calls = ctx;
  (*calls)++;
  return g;
}

static void test_grad_and_hooks_through_regions(void **state) {
  (void)state;
  mlp m;
  make_mlp(&m, 10);
  tg_rng r = test_seeded(11);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(B, D)), *g_plain[2], *g_ck[2];
  tg_tensor *wrt[2] = {x, m.w[4]};
  tg_tensor *y = forward(&m, x, false);
  assert_int_equal(tg_grad(1, &y, NULL, 2, wrt, g_plain, (tg_grad_opts){0}), 0);
  y = forward(&m, x, true);
  assert_int_equal(tg_grad(1, &y, NULL, 2, wrt, g_ck, (tg_grad_opts){0}), 0);
  test_assert_identical(g_ck[0], g_plain[0]);
  test_assert_identical(g_ck[1], g_plain[1]);
  assert_null(m.w[4]->grad);
  int calls = 0;
  tg_register_hook(m.w[4], spy_hook, &calls);
  assert_int_equal(tg_backward(forward(&m, x, true), NULL, false), 0);
  assert_int_equal(calls, 1);
  test_assert_identical(m.w[4]->grad, g_plain[1]);
}

/* gradcheck through a checkpointed region of two inputs, one broadcast */
static tg_tensor *two_in(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_mul(tg_sin(in[0]), tg_exp(in[1]));
}
static tg_tensor *ck_two_in(tg_tensor **in, void *ctx) {
  return tg_activation_checkpoint(two_in, ctx, in, 2);
}

static void test_gradcheck_through_region(void **state) {
  (void)state;
  tg_rng r = test_seeded(12);
  tg_tensor *in[2] = {tg_transpose(test_leaf(&r, TG_SHAPE(3, 2)), 0, 1), test_leaf(&r, TG_SHAPE(3))};
  in[0] = tg_requires_grad_(tg_contiguous(tg_detach(in[0])), true);
  assert_gradcheck(ck_two_in, 2, in, NULL);
}

static tg_tensor *reads_outside(tg_tensor **in, void *ctx) {
  return tg_mul(in[0], (tg_tensor *)ctx);
}

static void test_refusals(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), true), *nul = NULL;
  assert_null(tg_activation_checkpoint(NULL, NULL, &x, 1));
  test_expect_error("checkpoint", "function");
  assert_null(tg_activation_checkpoint(two_in, NULL, NULL, 1));
  test_expect_error("checkpoint", "at least one input");
  assert_null(tg_activation_checkpoint(two_in, NULL, &nul, 1));
  test_expect_error("checkpoint", "input 0 is NULL");
  /* a tensor with history reached through ctx must be an input */
  tg_tensor *h = tg_mul_scalar(x, 2);
  assert_null(tg_activation_checkpoint(reads_outside, h, &x, 1));
  test_expect_error("checkpoint", tg_grad_fn_name(h));
  /* ... a leaf is fine, and gets its gradient: d/dw sum(x*w) = x */
  tg_tensor *w = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){3, 4}), true);
  tg_tensor *y = tg_activation_checkpoint(reads_outside, w, &x, 1);
  assert_int_equal(tg_backward(tg_sum(y), NULL, false), 0);
  assert_close(tg_get_flat(w->grad, 1), 2, 0);
  assert_close(tg_get_flat(x->grad, 1), 4, 0);
  /* double backward through a region */
  tg_tensor *in2[2] = {x, w}, *g = NULL;
  y = tg_sum(tg_activation_checkpoint(two_in, NULL, in2, 2));
  assert_int_equal(tg_grad(1, &y, NULL, 1, &x, &g, (tg_grad_opts){.create_graph = true}), -1);
  test_expect_error("checkpoint", "double backward");
  /* grad mode off: a plain call */
  tg_no_grad_begin();
  y = tg_activation_checkpoint(two_in, NULL, in2, 2);
  tg_no_grad_end();
  assert_non_null(y);
  assert_null(y->grad_fn);
}

/* ---- several outputs (tg_activation_checkpoint_multi): a two-stream MLP,
 * h' = tanh(h @ w + b) (dropout after), c' = c + 0.5 h' (a running sum);
 * a segment maps (h, c) to (h, c, detach(c)), the third output without
 * grad; the loss reads both streams */
static int segment2(tg_tensor **in, tg_tensor **out, void *c) {
  seg_ctx *s = c;
  tg_tensor *h = in[0], *acc = in[1];
  for (int l = s->first; l < s->first + SEG; l++) {
    h = tg_tanh(tg_add(tg_matmul(h, s->m->w[l]), s->m->b[l]));
    if (s->m->p_drop > 0) h = tg_dropout(h, s->m->p_drop, true, NULL);
    acc = tg_add(acc, tg_mul_scalar(h, 0.5));
  }
  out[0] = h;
  out[1] = acc;
  out[2] = tg_detach(acc);
  return h && acc && out[2] ? 0 : -1;
}

static tg_tensor *forward2(mlp *m, tg_tensor *x, bool ckpt) {
  tg_tensor *hc[3] = {x, tg_mul_scalar(x, 0.25), NULL};
  for (int s = 0; s < NSEG; s++) {
    tg_tensor *out[3];
    if (ckpt) assert_int_equal(tg_activation_checkpoint_multi(segment2, &m->seg[s], hc, 2, out, 3), 0);
    else assert_int_equal(segment2(hc, out, &m->seg[s]), 0);
    if (ckpt) {
      assert_string_equal(tg_grad_fn_name(out[0]), "CheckpointOutputBackward");
      assert_null(out[2]->grad_fn);
      test_assert_identical(out[2], out[1]);
    }
    memcpy(hc, out, sizeof hc);
  }
  return tg_add(tg_sum(tg_mul(hc[0], hc[0])), tg_sum(tg_sin(hc[1])));
}

static void step2(mlp *m, tg_tensor *x, bool ckpt, tg_tensor **grads, double *loss) {
  for (int l = 0; l < L; l++) {
    tg_zero_grad(m->w[l]);
    tg_zero_grad(m->b[l]);
  }
  tg_zero_grad(x);
  tg_manual_seed(77);
  tg_scope_begin();
  tg_tensor *y = forward2(m, x, ckpt);
  *loss = tg_item(y);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  tg_scope_end();
  for (int l = 0; l < L; l++) {
    grads[2 * l] = tg_clone(m->w[l]->grad);
    grads[2 * l + 1] = tg_clone(m->b[l]->grad);
  }
  grads[2 * L] = tg_clone(x->grad);
}

static void test_multi_output_bit_identical(void **state) {
  (void)state;
  for (int drop = 0; drop < 2; drop++) {
    mlp m;
    make_mlp(&m, 21);
    m.p_drop = drop ? 0.25 : 0;
    tg_rng r = test_seeded(22);
    tg_tensor *x = test_leaf(&r, TG_SHAPE(B, D)), *plain[2 * L + 1], *ck[2 * L + 1];
    double lp, lc;
    step2(&m, x, false, plain, &lp);
    step2(&m, x, true, ck, &lc);
    assert_true(lp == lc);
    for (int k = 0; k < 2 * L + 1; k++) test_assert_identical(ck[k], plain[k]);
  }
}

static size_t step2_peak(mlp *m, tg_tensor *x, bool ckpt) {
  tg_release_cached();
  size_t before = tg_memory_get_stats().bytes_reserved;
  tg_scope_begin();
  tg_tensor *y = forward2(m, x, ckpt);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  tg_scope_end();
  return tg_memory_get_stats().bytes_reserved - before;
}

static void test_multi_output_peak_memory_drops(void **state) {
  (void)state;
  mlp m;
  make_mlp(&m, 23);
  tg_rng r = test_seeded(24);
  tg_tensor *x = test_leaf(&r, TG_SHAPE(B, D));
  step2_peak(&m, x, false);
  size_t plain = step2_peak(&m, x, false), ck = step2_peak(&m, x, true);
  print_message("two-stream peak per step: plain %zu bytes, checkpointed %zu bytes (%.2fx)\n", plain, ck,
                (double)ck / (double)plain);
  /* 0.47x where ASan bypasses the pool, 0.51x with the pool's slabs (whole
   * slabs are reserved): two thirds leaves room for either and still fails
   * if the region's intermediates were kept */
  assert_true(ck * 3 < plain * 2);
}

/* gradcheck through a region of two inputs (one broadcast) and two outputs
 * of different shapes, only one of which may be used */
static int two_out(tg_tensor **in, tg_tensor **out, void *ctx) {
  (void)ctx;
  out[0] = tg_mul(tg_sin(in[0]), tg_exp(in[1]));
  out[1] = tg_sum_dims(tg_mul(in[0], in[0]), 1, (const int[]){1}, false);
  return out[0] && out[1] ? 0 : -1;
}
static tg_tensor *ck_two_out(tg_tensor **in, void *ctx) {
  tg_tensor *out[2];
  if (tg_activation_checkpoint_multi(two_out, ctx, in, 2, out, 2) != 0) return NULL;
  tg_tensor *a = tg_sum(tg_mul_scalar(out[0], 1.5));
  return ctx ? a : tg_add(a, tg_sum(tg_pow_scalar(out[1], 3)));
}

static void test_multi_output_gradcheck_and_refusals(void **state) {
  (void)state;
  tg_rng r = test_seeded(25);
  tg_tensor *in[2] = {test_leaf(&r, TG_SHAPE(2, 3)), test_leaf(&r, TG_SHAPE(3))};
  assert_gradcheck(ck_two_out, 2, in, NULL);
  int only_first = 1;
  assert_gradcheck(ck_two_out, 2, in, &only_first);
  tg_tensor *out[2] = {in[0], in[0]}, *nul = NULL;
  assert_int_equal(tg_activation_checkpoint_multi(NULL, NULL, in, 2, out, 2), -1);
  test_expect_error("checkpoint_multi", "function");
  assert_null(out[0]);
  assert_int_equal(tg_activation_checkpoint_multi(two_out, NULL, &nul, 1, out, 2), -1);
  test_expect_error("checkpoint_multi", "input 0 is NULL");
  assert_int_equal(tg_activation_checkpoint_multi(two_out, NULL, in, 2, out, 0), -1);
  test_expect_error("checkpoint_multi", "at least one");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_gradients_bit_identical),
      TG_TEST(test_gradients_bit_identical_with_dropout),
      TG_TEST(test_peak_memory_drops),
      TG_TEST(test_grad_and_hooks_through_regions),
      TG_TEST(test_gradcheck_through_region),
      TG_TEST(test_refusals),
      TG_TEST(test_multi_output_bit_identical),
      TG_TEST(test_multi_output_peak_memory_drops),
      TG_TEST(test_multi_output_gradcheck_and_refusals),
  };
  int rc = cmocka_run_group_tests_name("act_checkpoint", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
