/* Hostile use of the public API (the reliability issue's "hostile API"
 * part), in four sections:
 *
 *  1. NULL for every pointer argument of every public function declared in
 *     the public headers, one argument at a time: no crash, the
 *     documented failure value (NULL / -1 / NaN / false / 0), and a message
 *     naming the function and what was wrong. Arguments documented as
 *     optional (tg_free(NULL), rng NULL, grad_output NULL for a scalar, ...)
 *     are called that way and must work without an error. The headers are
 *     scanned at run time (TG_SOURCE_DIR): a public function, or a pointer
 *     parameter, with no case here fails test_null_coverage_complete.
 *  2. Zero-size tensors (a dim of 0) through every op of ops/tg_ops.h: the
 *     result shape PyTorch gives, or an error where PyTorch raises one; and
 *     backward through it (zero gradients of the input's shape).
 *  3. Non-contiguous inputs (transposed, sliced with a step, expanded)
 *     through every op: values and float64 gradients equal those computed
 *     from tg_contiguous copies of the same inputs.
 *  4. Autograd misuse: a second backward without retain_graph, backward
 *     inside no_grad (PyTorch computes gradients normally there), a tensor
 *     used after its scope ended.
 *
 * Expected values are never taken from the code under test: they come from
 * the contiguous path, formulas, or PyTorch's documented results. */
#define _GNU_SOURCE /* mkdtemp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "tg_test.h"

/* the last error contains each of the given fragments */
#define assert_error_has(...)                                                  \
  do {                                                                         \
    const char *frags_[] = {__VA_ARGS__};                                      \
    if (!tg_has_error()) fail_msg("no error recorded (expected \"%s\")", frags_[0]); \
    for (size_t k_ = 0; k_ < sizeof frags_ / sizeof frags_[0]; k_++)           \
      if (!strstr(tg_last_error(), frags_[k_]))                                \
        fail_msg("error \"%s\" does not mention \"%s\"", tg_last_error(), frags_[k_]); \
  } while (0)

#define assert_no_error()                                                      \
  do {                                                                         \
    if (tg_has_error()) fail_msg("unexpected error: %s", tg_last_error());     \
  } while (0)

/* ======================================================================
 * Section 1: NULL arguments
 * ====================================================================== */

/* ---- which (function, argument) pairs the cases below exercised */
#define MAX_COVER 1024
static struct {
  const char *fn;
  int arg;
} covered[MAX_COVER];
static int n_covered;
static int null_cases_run; /* NULL calls made, several for some arguments */

static void cover(const char *fn, int arg) {
  for (int i = 0; i < n_covered; i++)
    if (covered[i].arg == arg && strcmp(covered[i].fn, fn) == 0) return;
  assert_true(n_covered < MAX_COVER);
  covered[n_covered].fn = fn;
  covered[n_covered].arg = arg;
  n_covered++;
}

/* The case macros. fn is the function's name (checked against the headers),
 * arg the 1-based position of the argument that is NULL in the call. The
 * error fragments must all appear in tg_last_error(). */
#define RUN_CASE(fn, arg, ...)                                                \
  do {                                                                         \
    null_cases_run++;                                                          \
    cover(#fn, arg);                                                           \
    tg_clear_error();                                                          \
    __VA_ARGS__;                                                               \
  } while (0)
/* returns a pointer: NULL expected */
#define N_PTR(fn, arg, call, ...)                                              \
  RUN_CASE(fn, arg, {                                                          \
    const void *r_ = (call);                                                   \
    if (r_) fail_msg("%s with argument %d NULL returned non-NULL", #fn, arg);  \
    assert_error_has(__VA_ARGS__);                                             \
  })
/* returns int: -1 expected */
#define N_INT(fn, arg, call, ...)                                              \
  RUN_CASE(fn, arg, {                                                          \
    int r_ = (call);                                                           \
    if (r_ != -1) fail_msg("%s with argument %d NULL returned %d, not -1", #fn, arg, r_); \
    assert_error_has(__VA_ARGS__);                                             \
  })
/* returns double: NaN expected */
#define N_NAN(fn, arg, call, ...)                                              \
  RUN_CASE(fn, arg, {                                                          \
    double r_ = (call);                                                        \
    if (!isnan(r_)) fail_msg("%s with argument %d NULL returned %g, not NaN", #fn, arg, r_); \
    assert_error_has(__VA_ARGS__);                                             \
  })
/* any scalar return compared with an expected value (false, 0, -1) */
#define N_VAL(fn, arg, expected, call, ...)                                    \
  RUN_CASE(fn, arg, {                                                          \
    if ((call) != (expected)) fail_msg("%s with argument %d NULL did not return %s", #fn, arg, #expected); \
    assert_error_has(__VA_ARGS__);                                             \
  })
/* returns nothing: the error is the only signal */
#define N_VOID(fn, arg, stmt, ...)                                             \
  RUN_CASE(fn, arg, {                                                          \
    stmt;                                                                      \
    assert_error_has(__VA_ARGS__);                                             \
  })
/* NULL is allowed here: stmt runs (with its own checks) and records nothing */
#define N_OK(fn, arg, ...)                                                     \
  RUN_CASE(fn, arg, {                                                          \
    __VA_ARGS__;                                                               \
    assert_no_error();                                                         \
  })
/* NULL is answered quietly (a query: NULL or false is its answer) */
#define N_QUIET(fn, arg, expected, call)                                       \
  RUN_CASE(fn, arg, {                                                          \
    if ((call) != (expected)) fail_msg("%s with argument %d NULL did not return %s", #fn, arg, #expected); \
  })

/* ---- objects for the non-NULL arguments, made once (persistent) */
static struct {
  char dir[256];
  char ck_path[320], csv_path[320], idx_img[320], idx_lbl[320], cifar[320];
  char metrics_path[320], mod_path[320], png_path[320], missing[320];
  tg_rng rng;
  tg_tensor *x;    /* float64 [2,3], requires grad */
  tg_tensor *v;    /* float64 [3] */
  tg_tensor *w;    /* float64 [2,3], no grad */
  tg_tensor *idx;  /* int64 [2,1] in [0,3) */
  tg_tensor *idx1; /* int64 [2] in [0,2) */
  tg_tensor *tgt;  /* int64 [2] class targets in [0,3) */
  tg_tensor *p01;  /* float64 [2,3] in (0,1) */
  tg_module *lin;  /* Linear(3, 2) */
  tg_tensor **params;
  size_t n_params;
  tg_optimizer *opt;
  tg_lr_scheduler *sched;
  tg_state_dict *sd;
  tg_dataset *ds;
  tg_loader *loader;
  tg_checkpoint *ck;
  tg_metrics *metrics;
  FILE *fp;
} fx;

static int write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static int fixtures_setup(void **state) {
  (void)state;
  memset(&fx, 0, sizeof fx);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx.dir, sizeof fx.dir, "%s/tg-hostile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fx.dir)) return -1;
#define FX_PATH(field, name) snprintf(fx.field, sizeof fx.field, "%s/%s", fx.dir, name)
  FX_PATH(ck_path, "ck.safetensors");
  FX_PATH(csv_path, "data.csv");
  FX_PATH(idx_img, "img.idx3");
  FX_PATH(idx_lbl, "lbl.idx1");
  FX_PATH(cifar, "cifar.bin");
  FX_PATH(metrics_path, "metrics.csv");
  FX_PATH(mod_path, "module.safetensors");
  FX_PATH(png_path, "grid.png");
  FX_PATH(missing, "no-such-file");
#undef FX_PATH
  tg_rng_seed(&fx.rng, 7);
  fx.x = tg_requires_grad_(tg_randn(&fx.rng, TG_FLOAT64, TG_SHAPE(2, 3)), true);
  fx.v = tg_randn(&fx.rng, TG_FLOAT64, TG_SHAPE(3));
  fx.w = tg_randn(&fx.rng, TG_FLOAT64, TG_SHAPE(2, 3));
  fx.idx = tg_from_i64(TG_SHAPE(2, 1), (const int64_t[]){2, 0});
  fx.idx1 = tg_from_i64(TG_SHAPE(2), (const int64_t[]){1, 0});
  fx.tgt = tg_from_i64(TG_SHAPE(2), (const int64_t[]){0, 2});
  fx.p01 = tg_uniform(&fx.rng, TG_FLOAT64, TG_SHAPE(2, 3), 0.1, 0.9);
  fx.lin = tg_nn_linear(3, 2, true, &fx.rng);
  if (!fx.x || !fx.v || !fx.w || !fx.idx || !fx.idx1 || !fx.tgt || !fx.p01 || !fx.lin) return -1;
  fx.params = tg_module_parameters(fx.lin, &fx.n_params);
  fx.opt = fx.params ? tg_sgd_new(fx.params, (int)fx.n_params, tg_sgd_defaults()) : NULL;
  fx.sched = fx.opt ? tg_step_lr_new(fx.opt, 1, 0.5) : NULL;
  fx.sd = tg_module_state_dict(fx.lin);
  const float samples[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  fx.ds = tg_dataset_from_floats(4, TG_SHAPE(3), samples, (const int64_t[]){0, 1, 0, 1});
  fx.loader = fx.ds ? tg_loader_new(fx.ds, 2, false, false, 0) : NULL;
  const char *names[] = {"w"};
  if (!fx.opt || !fx.sched || !fx.sd || !fx.loader ||
      tg_save_safetensors(fx.ck_path, 1, names, &fx.w, NULL, 0) != 0)
    return -1;
  fx.ck = tg_checkpoint_read(fx.ck_path);
  fx.metrics = tg_metrics_open(fx.metrics_path, "epoch,loss");
  fx.fp = tmpfile();
  /* tiny input files: CSV, IDX images and labels, one CIFAR-10 record */
  const char csv[] = "label,a,b\n1,0.5,0.25\n0,1,2\n";
  unsigned char img[16 + 2 * 2 * 2] = {0}, lbl[8 + 2] = {0}, rec[1 + 3072] = {0};
  put_be32(img, 0x803), put_be32(img + 4, 2), put_be32(img + 8, 2), put_be32(img + 12, 2);
  put_be32(lbl, 0x801), put_be32(lbl + 4, 2);
  lbl[8] = 1;
  rec[0] = 3;
  if (!fx.ck || !fx.metrics || !fx.fp || write_file(fx.csv_path, csv, strlen(csv)) ||
      write_file(fx.idx_img, img, sizeof img) || write_file(fx.idx_lbl, lbl, sizeof lbl) ||
      write_file(fx.cifar, rec, sizeof rec) || tg_save_module(fx.mod_path, fx.lin, NULL, 0))
    return -1;
  tg_clear_error();
  return 0;
}

static int fixtures_teardown(void **state) {
  (void)state;
  while (tg_scope_depth() > 0) tg_scope_end();
  if (fx.fp) fclose(fx.fp);
  tg_metrics_close(fx.metrics);
  tg_checkpoint_free(fx.ck);
  tg_loader_free(fx.loader);
  tg_dataset_free(fx.ds);
  tg_state_dict_free(fx.sd);
  tg_scheduler_free(fx.sched);
  tg_optim_free(fx.opt);
  tg_module_free(fx.lin);
  tg_tensor *ts[] = {fx.x, fx.v, fx.w, fx.idx, fx.idx1, fx.tgt, fx.p01};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) tg_free(ts[i]);
  const char *files[] = {fx.ck_path, fx.csv_path, fx.idx_img, fx.idx_lbl, fx.cifar,
                         fx.metrics_path, fx.mod_path, fx.png_path};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) remove(files[i]);
  rmdir(fx.dir);
  tg_release_cached();
  return 0;
}

/* a function for the jacobian / gradcheck cases; tolerates NULL entries */
static tg_tensor *hostile_hook(tg_tensor *g, void *ctx) {
  (void)ctx;
  return g;
}
static int square_multi(tg_tensor **in, tg_tensor **out, void *ctx) {
  (void)ctx;
  out[0] = tg_mul(in[0], in[0]);
  return out[0] ? 0 : -1;
}
static void *hostile_pack(tg_tensor *t, void *ctx) {
  (void)ctx;
  return t;
}
static tg_tensor *hostile_unpack(void *packed, void *ctx) {
  (void)ctx;
  return packed;
}
static int hostile_post_hook(tg_tensor *t, void *ctx) {
  (void)t, (void)ctx;
  return 0;
}
static tg_tensor *hostile_pre(tg_module *m, tg_tensor *x, void *ctx) {
  (void)m, (void)ctx;
  return x;
}
static tg_tensor *hostile_fwd(tg_module *m, tg_tensor *x, tg_tensor *y, void *ctx) {
  (void)m, (void)x, (void)ctx;
  return y;
}
static tg_tensor *hostile_bwd(tg_module *m, tg_tensor *gi, tg_tensor *go, void *ctx) {
  (void)m, (void)go, (void)ctx;
  return gi;
}
static tg_tensor *square_fn(tg_tensor **in, void *ctx) {
  (void)ctx;
  return tg_mul(in[0], in[0]);
}

/* tg_verror takes a va_list: called through a variadic wrapper */
static void verror_call(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tg_verror(fmt, ap);
  va_end(ap);
}

/* a test op with one saved tensor, for tg_record / tg_node_save */
static void saved_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = g;
}
TG_DEFINE_OP(OP_TEST_SAVED, "TestSavedBackward", saved_backward, TG_NODE_SAVED);

static tg_tensor *identity_forward(tg_module *m, tg_tensor *x) {
  (void)m;
  return x;
}

/* ---------------------------------------------------------------- tensor */
static void test_null_tensor_api(void **state) {
  (void)state;
  tg_tensor *x = fx.x, *w = fx.w; /* a leaf that requires grad, and a plain tensor */
  size_t ix[2] = {1, 2};
  char buf[64];
  double out[6];
  N_VAL(tg_tensor_check, 1, false, tg_tensor_check(NULL, "myop", 3), "myop: argument 3 is NULL");
  N_OK(tg_tensor_check, 2, assert_true(tg_tensor_check(x, NULL, 1))); /* op only names errors */
  N_PTR(tg_empty, 3, tg_empty(TG_FLOAT32, 2, NULL), "empty", "shape is NULL");
  N_PTR(tg_zeros, 3, tg_zeros(TG_FLOAT32, 2, NULL), "zeros", "shape is NULL");
  N_PTR(tg_ones, 3, tg_ones(TG_FLOAT32, 2, NULL), "ones", "shape is NULL");
  N_PTR(tg_full, 3, tg_full(TG_FLOAT32, 2, NULL, 1.0), "full", "shape is NULL");
  /* a 0-d tensor has no shape to give: NULL is right there */
  N_OK(tg_zeros, 3, {
    tg_tensor *z = tg_zeros(TG_FLOAT64, 0, NULL);
    assert_non_null(z);
    assert_int_equal(z->numel, 1);
  });
  N_PTR(tg_from_data, 3, tg_from_data(TG_FLOAT64, 1, NULL, out), "from_data", "shape is NULL");
  N_PTR(tg_from_data, 4, tg_from_data(TG_FLOAT64, TG_SHAPE(2), NULL), "from_data", "NULL");
  N_PTR(tg_from_f32, 2, tg_from_f32(1, NULL, (const float[]){1}), "from_data", "shape is NULL");
  N_PTR(tg_from_f32, 3, tg_from_f32(TG_SHAPE(2), NULL), "from_data", "NULL");
  N_PTR(tg_from_f64, 2, tg_from_f64(1, NULL, out), "from_data", "shape is NULL");
  N_PTR(tg_from_f64, 3, tg_from_f64(TG_SHAPE(2), NULL), "from_data", "NULL");
  N_PTR(tg_from_i64, 2, tg_from_i64(1, NULL, (const int64_t[]){1}), "from_data", "shape is NULL");
  N_PTR(tg_from_i64, 3, tg_from_i64(TG_SHAPE(2), NULL), "from_data", "NULL");
  N_PTR(tg_from_bool, 2, tg_from_bool(1, NULL, (const bool[]){true}), "from_data", "shape is NULL");
  N_PTR(tg_from_bool, 3, tg_from_bool(TG_SHAPE(2), NULL), "from_data", "NULL");
  N_PTR(tg_zeros_like, 1, tg_zeros_like(NULL), "zeros_like: argument 1 is NULL");
  N_PTR(tg_ones_like, 1, tg_ones_like(NULL), "ones_like: argument 1 is NULL");
  /* rng NULL is the default generator everywhere */
  {
    tg_rng r;
    tg_rng_seed(&r, 99);
    uint64_t a1 = tg_rng_next(&r);
    double a2 = tg_rng_uniform(&r), a3 = tg_rng_normal(&r);
    N_OK(tg_rng_seed, 1, tg_rng_seed(NULL, 99));
    N_OK(tg_rng_next, 1, assert_true(tg_rng_next(NULL) == a1));
    N_OK(tg_rng_uniform, 1, assert_true(tg_rng_uniform(NULL) == a2));
    N_OK(tg_rng_normal, 1, assert_true(tg_rng_normal(NULL) == a3));
  }
  N_OK(tg_rand, 1, assert_non_null(tg_rand(NULL, TG_FLOAT32, TG_SHAPE(2))));
  N_PTR(tg_rand, 4, tg_rand(&fx.rng, TG_FLOAT32, 2, NULL), "rand", "shape is NULL");
  N_OK(tg_randn, 1, assert_non_null(tg_randn(NULL, TG_FLOAT32, TG_SHAPE(2))));
  N_PTR(tg_randn, 4, tg_randn(&fx.rng, TG_FLOAT32, 2, NULL), "randn", "shape is NULL");
  N_OK(tg_uniform, 1, assert_non_null(tg_uniform(NULL, TG_FLOAT32, TG_SHAPE(2), 0, 1)));
  N_PTR(tg_uniform, 4, tg_uniform(&fx.rng, TG_FLOAT32, 2, NULL, 0, 1), "uniform", "shape is NULL");
  N_OK(tg_normal, 1, assert_non_null(tg_normal(NULL, TG_FLOAT32, TG_SHAPE(2), 0, 1)));
  N_PTR(tg_normal, 4, tg_normal(&fx.rng, TG_FLOAT32, 2, NULL, 0, 1), "normal", "shape is NULL");
  N_PTR(tg_fill_, 1, tg_fill_(NULL, 1), "fill_: argument 1 is NULL");
  N_PTR(tg_uniform_, 1, tg_uniform_(NULL, &fx.rng, 0, 1), "uniform_: argument 1 is NULL");
  N_OK(tg_uniform_, 2, assert_non_null(tg_uniform_(tg_zeros(TG_FLOAT32, TG_SHAPE(2)), NULL, 0, 1)));
  N_PTR(tg_normal_, 1, tg_normal_(NULL, &fx.rng, 0, 1), "normal_: argument 1 is NULL");
  N_OK(tg_normal_, 2, assert_non_null(tg_normal_(tg_zeros(TG_FLOAT32, TG_SHAPE(2)), NULL, 0, 1)));
  N_VAL(tg_is_contiguous, 1, false, tg_is_contiguous(NULL), "is_contiguous: argument 1 is NULL");
  N_NAN(tg_item, 1, tg_item(NULL), "item: argument 1 is NULL");
  N_NAN(tg_get, 1, tg_get(NULL, ix), "get: argument 1 is NULL");
  N_NAN(tg_get, 2, tg_get(w, NULL), "get: index is NULL");
  N_OK(tg_get, 2, assert_close(tg_get(tg_scalar(TG_FLOAT64, 4.5), NULL), 4.5, 0)); /* 0-d */
  N_INT(tg_set, 1, tg_set(NULL, ix, 1), "set: argument 1 is NULL");
  N_INT(tg_set, 2, tg_set(w, NULL, 1), "set: index is NULL");
  N_NAN(tg_get_flat, 1, tg_get_flat(NULL, 0), "get_flat: argument 1 is NULL");
  N_INT(tg_to_f64_array, 1, tg_to_f64_array(NULL, out), "to_f64_array: argument 1 is NULL");
  N_INT(tg_to_f64_array, 2, tg_to_f64_array(w, NULL), "to_f64_array", "NULL");
  N_PTR(tg_data, 1, tg_data(NULL), "data: argument 1 is NULL");
  N_PTR(tg_data_f32, 1, tg_data_f32(NULL), "data_f32: argument 1 is NULL");
  N_PTR(tg_data_f64, 1, tg_data_f64(NULL), "data_f64: argument 1 is NULL");
  /* shape_str of NULL is "(null)" (error messages print NULL arguments so) */
  N_OK(tg_shape_str, 1, assert_string_equal(tg_shape_str(NULL, buf, sizeof buf), "(null)"));
  N_PTR(tg_shape_str, 2, tg_shape_str(w, NULL, 16), "shape_str", "NULL");
  N_OK(tg_shape_str, 2, assert_null(tg_shape_str(w, NULL, 0))); /* nothing to write */
  N_QUIET(tg_same_shape, 1, false, tg_same_shape(NULL, w));
  N_QUIET(tg_same_shape, 2, false, tg_same_shape(w, NULL));
  N_VOID(tg_set_name, 1, tg_set_name(NULL, "n"), "set_name: argument 1 is NULL");
  {
    tg_tensor *named = tg_zeros(TG_FLOAT32, TG_SHAPE(1));
    tg_set_name(named, "before");
    N_OK(tg_set_name, 2, tg_set_name(named, NULL); assert_string_equal(named->name, "")); /* clears it */
  }
  /* printing NULL prints tensor(NULL), as printing None prints None */
  N_OK(tg_print, 1, assert_true(tg_print(NULL) > 0));
  N_INT(tg_fprint, 1, tg_fprint(NULL, w), "fprint", "NULL");
  N_OK(tg_fprint, 2, assert_int_equal(tg_fprint(fx.fp, NULL), (int)strlen("tensor(NULL)\n")));
  N_OK(tg_format, 1, assert_int_equal(tg_format(NULL, buf, sizeof buf), strlen("tensor(NULL)"));
       assert_string_equal(buf, "tensor(NULL)"));
  {
    /* buf NULL asks for the length only, as snprintf(NULL, 0) */
    size_t want = tg_format(w, buf, sizeof buf);
    N_OK(tg_format, 2, assert_int_equal(tg_format(w, NULL, 0), want));
    N_OK(tg_format, 2, assert_int_equal(tg_format(w, NULL, 32), want));
  }
  N_INT(tg_copy_, 1, tg_copy_(NULL, w), "copy_: argument 1 is NULL");
  N_INT(tg_copy_, 2, tg_copy_(tg_zeros_like(w), NULL), "copy_: argument 2 is NULL");
  N_INT(tg_accumulate_, 1, tg_accumulate_(NULL, w), "accumulate_: argument 1 is NULL");
  N_INT(tg_accumulate_, 2, tg_accumulate_(tg_zeros_like(w), NULL), "accumulate_: argument 2 is NULL");
}

/* -------------------------------------------------------------- autograd */
static void test_null_autograd_api(void **state) {
  (void)state;
  tg_tensor *x = fx.x;
  {
    /* a call site without a file: anomaly reports print "?" for it */
    tg_tensor *pos = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), true);
    tg_tensor *neg = tg_neg(pos); /* recorded, and log of it is NaN */
    RUN_CASE(tg_call_site, 1, {
      tg_set_detect_anomaly(true);
      tg_call_site(NULL, 7);
      tg_tensor *bad = (tg_log)(neg); /* the function, not the macro that sets the site */
      tg_set_detect_anomaly(false);
      assert_non_null(bad); /* anomaly mode reports, it does not fail the op */
      assert_error_has("anomaly", "?:7", "NaN");
    });
  }
  N_PTR(tg_requires_grad_, 1, tg_requires_grad_(NULL, true), "requires_grad_: argument 1 is NULL");
  N_PTR(tg_retain_grad, 1, tg_retain_grad(NULL), "retain_grad: argument 1 is NULL");
  N_PTR(tg_detach, 1, tg_detach(NULL), "detach: argument 1 is NULL");
  N_QUIET(tg_is_leaf, 1, false, tg_is_leaf(NULL));
  N_INT(tg_zero_grad, 1, tg_zero_grad(NULL), "zero_grad: argument 1 is NULL");
  N_QUIET(tg_grad_fn_name, 1, NULL, tg_grad_fn_name(NULL)); /* "or NULL": no grad_fn */
  N_PTR(tg_keep, 1, tg_keep(NULL), "keep: argument 1 is NULL");
  N_OK(tg_free, 1, tg_free(NULL)); /* like free(NULL) */
  N_INT(tg_backward, 1, tg_backward(NULL, NULL, false), "backward: argument 1 is NULL");
  {
    /* grad_output NULL means 1 for a one-element root: d/dx sum(x*x) = 2x */
    tg_tensor *leaf = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){1.5, -2}), true);
    N_OK(tg_backward, 2, assert_int_equal(tg_backward(tg_sum(tg_mul(leaf, leaf)), NULL, false), 0);
         assert_close(tg_get_flat(leaf->grad, 0), 3.0, 0); assert_close(tg_get_flat(leaf->grad, 1), -4.0, 0));
  }
  {
    tg_tensor *s = tg_sum(tg_mul(x, x)), *g = NULL, *nul = NULL;
    tg_grad_opts o = {.retain_graph = true};
    N_INT(tg_grad, 2, tg_grad(1, NULL, NULL, 1, &x, &g, o), "grad", "output");
    N_INT(tg_grad, 2, tg_grad(1, &nul, NULL, 1, &x, &g, o), "grad: argument 2 is NULL");
    N_INT(tg_grad, 5, tg_grad(1, &s, NULL, 1, NULL, &g, o), "grad", "input");
    N_INT(tg_grad, 5, tg_grad(1, &s, NULL, 1, &nul, &g, o), "grad: argument 5 is NULL");
    N_INT(tg_grad, 6, tg_grad(1, &s, NULL, 1, &x, NULL, o), "grad", "grads_out");
    /* grad_outputs NULL (or a NULL entry) means 1 for a scalar output */
    N_OK(tg_grad, 3, assert_int_equal(tg_grad(1, &s, NULL, 1, &x, &g, o), 0);
         assert_close(tg_get_flat(g, 0), 2 * tg_get_flat(x, 0), 1e-15));
    N_OK(tg_grad, 3, assert_int_equal(tg_grad(1, &s, &nul, 1, &x, &g, o), 0);
         assert_close(tg_get_flat(g, 5), 2 * tg_get_flat(x, 5), 1e-15));
  }
  N_PTR(tg_jacobian, 1, tg_jacobian(NULL, x, NULL), "jacobian", "NULL");
  N_PTR(tg_jacobian, 2, tg_jacobian(square_fn, NULL, NULL), "jacobian: argument 2 is NULL");
  N_OK(tg_jacobian, 3, assert_non_null(tg_jacobian(square_fn, x, NULL)));
  {
    tg_gradcheck_opts q = {.quiet = true};
    tg_tensor *nul = NULL;
    N_VAL(tg_gradcheck, 1, false, tg_gradcheck(NULL, 1, &x, NULL, q).ok, "gradcheck");
    N_VAL(tg_gradcheck, 3, false, tg_gradcheck(square_fn, 1, NULL, NULL, q).ok, "gradcheck");
    N_VAL(tg_gradcheck, 3, false, tg_gradcheck(square_fn, 1, &nul, NULL, q).ok, "argument 1 is NULL");
    N_OK(tg_gradcheck, 4, assert_true(tg_gradcheck(square_fn, 1, &x, NULL, q).ok));
    N_VAL(tg_gradgradcheck, 1, false, tg_gradgradcheck(NULL, 1, &x, NULL, q).ok, "gradgradcheck");
    N_VAL(tg_gradgradcheck, 3, false, tg_gradgradcheck(square_fn, 1, NULL, NULL, q).ok, "gradgradcheck");
    N_VAL(tg_gradgradcheck, 3, false, tg_gradgradcheck(square_fn, 1, &nul, NULL, q).ok, "NULL");
    N_OK(tg_gradgradcheck, 4, assert_true(tg_gradgradcheck(square_fn, 1, &x, NULL, q).ok));
  }
  {
    /* tensor hooks: the tensor and the function are required, ctx is the caller's */
    tg_tensor *hx = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), true);
    N_VAL(tg_register_hook, 1, 0, tg_register_hook(NULL, hostile_hook, NULL).id, "register_hook: argument 1 is NULL");
    N_VAL(tg_register_hook, 2, 0, tg_register_hook(hx, NULL, NULL).id, "register_hook", "hook function", "NULL");
    N_OK(tg_register_hook, 3, assert_int_not_equal(tg_register_hook(hx, hostile_hook, NULL).id, 0));
    N_VAL(tg_register_post_accumulate_grad_hook, 1, 0,
          tg_register_post_accumulate_grad_hook(NULL, hostile_post_hook, NULL).id,
          "register_post_accumulate_grad_hook: argument 1 is NULL");
    N_VAL(tg_register_post_accumulate_grad_hook, 2, 0, tg_register_post_accumulate_grad_hook(hx, NULL, NULL).id,
          "register_post_accumulate_grad_hook", "hook function", "NULL");
    N_OK(tg_register_post_accumulate_grad_hook, 3,
         assert_int_not_equal(tg_register_post_accumulate_grad_hook(hx, hostile_post_hook, NULL).id, 0));
    assert_int_equal(tg_backward(tg_sum(hx), NULL, false), 0);
    assert_no_error();
  }
  {
    /* saved-tensor hooks: pack and unpack are required; release and ctx may be NULL */
    N_INT(tg_saved_tensors_hooks_push, 1, tg_saved_tensors_hooks_push(NULL, hostile_unpack, NULL, NULL),
          "saved_tensors_hooks_push: argument 1", "pack", "NULL");
    N_INT(tg_saved_tensors_hooks_push, 2, tg_saved_tensors_hooks_push(hostile_pack, NULL, NULL, NULL),
          "saved_tensors_hooks_push: argument 2", "unpack", "NULL");
    N_OK(tg_saved_tensors_hooks_push, 3, {
      assert_int_equal(tg_saved_tensors_hooks_push(hostile_pack, hostile_unpack, NULL, NULL), 0);
      assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
    });
    N_OK(tg_saved_tensors_hooks_push, 4, {
      assert_int_equal(tg_saved_tensors_hooks_push(hostile_pack, hostile_unpack, NULL, NULL), 0);
      assert_int_equal(tg_saved_tensors_hooks_pop(), 0);
    });
  }
  {
    /* functional transforms: f, inputs and the result slots are required;
     * ctx is the caller's; v NULL means 1 for a one-element output (vjp) or
     * input (jvp); out NULL skips the output */
    tg_functional_opts o = {0};
    tg_tensor *s1 = tg_from_f64(TG_SHAPE(1), (const double[]){1.5}), *r[4], *out, *nul = NULL;
    tg_tensor *v1[1] = {tg_ones(TG_FLOAT64, TG_SHAPE(1))};
#define FN_CASES(fn, name, vv)                                                                       \
  N_INT(fn, 1, fn(NULL, NULL, &s1, 1, vv, &out, r, o), name ": argument 1 (the function) is NULL");  \
  N_OK(fn, 2, assert_int_equal(fn(square_fn, NULL, &s1, 1, vv, &out, r, o), 0));                     \
  N_INT(fn, 3, fn(square_fn, NULL, NULL, 1, vv, &out, r, o), name, "inputs is NULL");                \
  N_INT(fn, 3, fn(square_fn, NULL, &nul, 1, vv, &out, r, o), name ": input 0 is NULL");              \
  N_OK(fn, 6, assert_int_equal(fn(square_fn, NULL, &s1, 1, vv, NULL, r, o), 0));                     \
  N_INT(fn, 7, fn(square_fn, NULL, &s1, 1, vv, &out, NULL, o), name, "NULL")
    FN_CASES(tg_vjp, "vjp", v1[0]);
    N_OK(tg_vjp, 5, assert_int_equal(tg_vjp(square_fn, NULL, &s1, 1, NULL, &out, r, o), 0);
         assert_close(tg_get_flat(r[0], 0), 3.0, 0));
    FN_CASES(tg_jvp, "jvp", v1);
    N_OK(tg_jvp, 5, assert_int_equal(tg_jvp(square_fn, NULL, &s1, 1, NULL, &out, r, o), 0);
         assert_close(tg_get_flat(r[0], 0), 3.0, 1e-15));
    FN_CASES(tg_hvp, "hvp", v1);
    N_INT(tg_hvp, 5, tg_hvp(square_fn, NULL, &s1, 1, NULL, &out, r, o), "hvp: argument 5 (v) is NULL");
    FN_CASES(tg_vhp, "vhp", v1);
    N_INT(tg_vhp, 5, tg_vhp(square_fn, NULL, &s1, 1, (tg_tensor *[]){NULL}, &out, r, o), "vhp: v[0] is NULL");
#undef FN_CASES
    N_INT(tg_hessian, 1, tg_hessian(NULL, NULL, &s1, 1, r), "hessian: argument 1 (the function) is NULL");
    N_OK(tg_hessian, 2, assert_int_equal(tg_hessian(square_fn, NULL, &s1, 1, r), 0);
         assert_close(tg_get_flat(r[0], 0), 2.0, 0));
    N_INT(tg_hessian, 3, tg_hessian(square_fn, NULL, NULL, 1, r), "hessian", "inputs is NULL");
    N_INT(tg_hessian, 5, tg_hessian(square_fn, NULL, &s1, 1, NULL), "hessian", "NULL");
    tg_jacobian_opts jo = {0};
    N_INT(tg_jacobians, 1, tg_jacobians(NULL, NULL, &s1, 1, r, jo), "jacobians: argument 1 (the function) is NULL");
    N_OK(tg_jacobians, 2, assert_int_equal(tg_jacobians(square_fn, NULL, &s1, 1, r, jo), 0);
         assert_close(tg_get_flat(r[0], 0), 3.0, 0));
    N_INT(tg_jacobians, 3, tg_jacobians(square_fn, NULL, NULL, 1, r, jo), "jacobians", "inputs is NULL");
    N_INT(tg_jacobians, 5, tg_jacobians(square_fn, NULL, &s1, 1, NULL, jo), "jacobians", "NULL");
  }
  {
    /* forward-mode AD: both tensors required; unpack's outputs are optional */
    tg_tensor *fx = tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), *p = NULL, *t = NULL;
    assert_int_equal(tg_fwad_enter_dual_level(), 0);
    N_PTR(tg_make_dual, 1, tg_make_dual(NULL, fx), "make_dual: argument 1 is NULL");
    N_PTR(tg_make_dual, 2, tg_make_dual(fx, NULL), "make_dual: argument 2 is NULL");
    tg_tensor *d = tg_make_dual(fx, fx);
    N_INT(tg_unpack_dual, 1, tg_unpack_dual(NULL, &p, &t), "unpack_dual: argument 1 is NULL");
    N_OK(tg_unpack_dual, 2, assert_int_equal(tg_unpack_dual(d, NULL, &t), 0); assert_non_null(t));
    N_OK(tg_unpack_dual, 3, assert_int_equal(tg_unpack_dual(d, &p, NULL), 0); assert_non_null(p));
    assert_int_equal(tg_fwad_exit_dual_level(), 0);
    N_OK(tg_op_table, 1, assert_true(tg_op_table(NULL) > 0));
  }
  {
    /* activation checkpointing: f and inputs required, ctx is the caller's */
    tg_tensor *cx = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){1, 2}), true), *nul = NULL;
    N_PTR(tg_activation_checkpoint, 1, tg_activation_checkpoint(NULL, NULL, &cx, 1), "checkpoint", "function", "NULL");
    N_OK(tg_activation_checkpoint, 2, assert_non_null(tg_activation_checkpoint(square_fn, NULL, &cx, 1)));
    N_PTR(tg_activation_checkpoint, 3, tg_activation_checkpoint(square_fn, NULL, NULL, 1), "checkpoint", "inputs is NULL");
    N_PTR(tg_activation_checkpoint, 3, tg_activation_checkpoint(square_fn, NULL, &nul, 1), "checkpoint: input 0 is NULL");
    {
      tg_tensor *co[1];
      N_INT(tg_activation_checkpoint_multi, 1, tg_activation_checkpoint_multi(NULL, NULL, &cx, 1, co, 1),
            "checkpoint_multi: argument 1", "function", "NULL");
      N_OK(tg_activation_checkpoint_multi, 2,
           assert_int_equal(tg_activation_checkpoint_multi(square_multi, NULL, &cx, 1, co, 1), 0));
      N_INT(tg_activation_checkpoint_multi, 3, tg_activation_checkpoint_multi(square_multi, NULL, NULL, 1, co, 1),
            "checkpoint_multi: argument 3", "inputs", "NULL");
      N_INT(tg_activation_checkpoint_multi, 3, tg_activation_checkpoint_multi(square_multi, NULL, &nul, 1, co, 1),
            "checkpoint_multi: input 0 is NULL");
      N_INT(tg_activation_checkpoint_multi, 5, tg_activation_checkpoint_multi(square_multi, NULL, &cx, 1, NULL, 1),
            "checkpoint_multi: argument 5", "outputs", "NULL");
    }
  }
  {
    /* module hooks: module and function required, ctx is the caller's */
    tg_module *hm = tg_nn_linear(3, 2, true, NULL);
    N_VAL(tg_module_register_forward_pre_hook, 1, 0, tg_module_register_forward_pre_hook(NULL, hostile_pre, NULL).id,
          "module_register_forward_pre_hook", "module", "NULL");
    N_VAL(tg_module_register_forward_pre_hook, 2, 0, tg_module_register_forward_pre_hook(hm, NULL, NULL).id,
          "module_register_forward_pre_hook", "hook function", "NULL");
    N_OK(tg_module_register_forward_pre_hook, 3,
         assert_int_not_equal(tg_module_register_forward_pre_hook(hm, hostile_pre, NULL).id, 0));
    N_VAL(tg_module_register_forward_hook, 1, 0, tg_module_register_forward_hook(NULL, hostile_fwd, NULL).id,
          "module_register_forward_hook", "module", "NULL");
    N_VAL(tg_module_register_forward_hook, 2, 0, tg_module_register_forward_hook(hm, NULL, NULL).id,
          "module_register_forward_hook", "hook function", "NULL");
    N_OK(tg_module_register_forward_hook, 3,
         assert_int_not_equal(tg_module_register_forward_hook(hm, hostile_fwd, NULL).id, 0));
    N_VAL(tg_module_register_full_backward_hook, 1, 0,
          tg_module_register_full_backward_hook(NULL, hostile_bwd, NULL).id, "module_register_full_backward_hook",
          "module", "NULL");
    N_VAL(tg_module_register_full_backward_hook, 2, 0, tg_module_register_full_backward_hook(hm, NULL, NULL).id,
          "module_register_full_backward_hook", "hook function", "NULL");
    N_OK(tg_module_register_full_backward_hook, 3,
         assert_int_not_equal(tg_module_register_full_backward_hook(hm, hostile_bwd, NULL).id, 0));
    tg_tensor *hin = tg_requires_grad_(tg_ones(TG_FLOAT32, TG_SHAPE(1, 3)), true);
    assert_int_equal(tg_backward(tg_sum(tg_module_forward(hm, hin)), NULL, false), 0);
    tg_module_free(hm);
  }
  N_INT(tg_graph_dot, 1, tg_graph_dot(NULL, fx.fp), "graph_dot: argument 1 is NULL");
  N_INT(tg_graph_dot, 2, tg_graph_dot(tg_mul(x, x), NULL), "graph_dot", "NULL");
  {
    /* tg_record and the node helpers, for custom ops */
    tg_tensor *out = tg_zeros_like(x);
    N_QUIET(tg_record, 1, NULL, tg_record(NULL, &OP_TEST_SAVED, 1, &x));
    N_PTR(tg_record, 2, tg_record(out, NULL, 1, &x), "record", "op descriptor is NULL");
    N_PTR(tg_record, 4, tg_record(out, &OP_TEST_SAVED, 1, NULL), "record", "inputs array is NULL");
    N_PTR(tg_record, 4, tg_record(out, &OP_TEST_SAVED, 1, (tg_tensor *[]){NULL}), "record",
          "TestSavedBackward's input 0 is NULL");
    tg_node *n = tg_record(out, &OP_TEST_SAVED, 1, &x);
    assert_non_null(n);
    N_INT(tg_node_save, 1, tg_node_save(NULL, fx.w), "node_save", "NULL");
    N_OK(tg_node_save, 2, assert_int_equal(tg_node_save(n, NULL), 0); assert_null(tg_node_saved(n)));
    tg_tensor *out2 = tg_zeros_like(x);
    tg_node *n2 = NULL;
    N_INT(tg_record_op, 1, tg_record_op(NULL, &OP_TEST_SAVED, 1, &x, &n2), "record_op: argument 1 is NULL");
    N_INT(tg_record_op, 2, tg_record_op(out2, NULL, 1, &x, &n2), "record_op", "op descriptor) is NULL");
    N_INT(tg_record_op, 4, tg_record_op(out2, &OP_TEST_SAVED, 1, NULL, &n2), "record_op",
          "inputs array is NULL");
    N_INT(tg_record_op, 4, tg_record_op(out2, &OP_TEST_SAVED, 1, (tg_tensor *[]){NULL}, &n2), "record_op",
          "TestSavedBackward's input 0 is NULL");
    assert_null(n2);
    /* node NULL: an op without extras need not look at its node */
    N_OK(tg_record_op, 5, assert_int_equal(tg_record_op(out2, &OP_TEST_SAVED, 1, &x, NULL), 0);
         assert_non_null(out2->grad_fn));
    const char *no_fmt = NULL;
    N_VOID(tg_error, 1, tg_error(no_fmt, 0), "tg_error called with a NULL format");
    N_VOID(tg_verror, 1, verror_call(no_fmt), "tg_error called with a NULL format");
    /* outside a backward there is never a sink: NULL ("use grad_in") */
    N_QUIET(tg_node_grad_sink, 1, NULL, tg_node_grad_sink(NULL, 0));
  }
}

/* ------------------------------------------------------------------ ops */
static void test_null_ops_api(void **state) {
  (void)state;
  tg_tensor *a = fx.w, *v = fx.v, *idx = fx.idx, *idx1 = fx.idx1;
  tg_tensor *row_idx = tg_from_i64(TG_SHAPE(1, 3), (const int64_t[]){1, 0, 1});
  tg_tensor *src13 = tg_ones(TG_FLOAT64, TG_SHAPE(1, 3));
  const int d1[] = {1};
#define BIN(fn, name)                                                          \
  N_PTR(fn, 1, fn(NULL, a), name ": argument 1 is NULL");                      \
  N_PTR(fn, 2, fn(a, NULL), name ": argument 2 is NULL")
  BIN(tg_add, "add");
  BIN(tg_sub, "sub");
  BIN(tg_mul, "mul");
  BIN(tg_div, "div");
  BIN(tg_pow, "pow");
  BIN(tg_maximum, "maximum");
  BIN(tg_minimum, "minimum");
  BIN(tg_atan2, "atan2");
  BIN(tg_fmod, "fmod");
  BIN(tg_remainder, "remainder");
  BIN(tg_hypot, "hypot");
  BIN(tg_copysign, "copysign");
  BIN(tg_clamp_min_tensor, "clamp_min_tensor");
  BIN(tg_clamp_max_tensor, "clamp_max_tensor");
#undef BIN
  N_PTR(tg_clamp_tensor, 1, tg_clamp_tensor(NULL, a, a), "clamp_tensor: argument 1 is NULL");
  N_PTR(tg_clamp_tensor, 2, tg_clamp_tensor(a, NULL, a), "clamp_tensor: argument 2 is NULL");
  N_PTR(tg_clamp_tensor, 3, tg_clamp_tensor(a, a, NULL), "clamp_tensor: argument 3 is NULL");
  N_PTR(tg_lerp, 1, tg_lerp(NULL, a, a), "lerp: argument 1 is NULL");
  N_PTR(tg_lerp, 2, tg_lerp(a, NULL, a), "lerp: argument 2 is NULL");
  N_PTR(tg_lerp, 3, tg_lerp(a, a, NULL), "lerp: argument 3 is NULL");
  N_PTR(tg_lerp_scalar, 1, tg_lerp_scalar(NULL, a, 0.5), "lerp_scalar: argument 1 is NULL");
  N_PTR(tg_lerp_scalar, 2, tg_lerp_scalar(a, NULL, 0.5), "lerp_scalar: argument 2 is NULL");
#define UN(fn, name, ...) N_PTR(fn, 1, fn(NULL __VA_ARGS__), name ": argument 1 is NULL")
  UN(tg_add_scalar, "add_scalar", , 1.0);
  UN(tg_sub_scalar, "sub_scalar", , 1.0);
  UN(tg_rsub_scalar, "rsub_scalar", , 1.0);
  UN(tg_mul_scalar, "mul_scalar", , 1.0);
  UN(tg_div_scalar, "div_scalar", , 1.0);
  UN(tg_pow_scalar, "pow_scalar", , 2.0);
  UN(tg_neg, "neg");
  UN(tg_exp, "exp");
  UN(tg_log, "log");
  UN(tg_sqrt, "sqrt");
  UN(tg_abs, "abs");
  UN(tg_sin, "sin");
  UN(tg_cos, "cos");
  UN(tg_tanh, "tanh");
  UN(tg_log1p, "log1p");
  UN(tg_expm1, "expm1");
  UN(tg_log2, "log2");
  UN(tg_log10, "log10");
  UN(tg_exp2, "exp2");
  UN(tg_tan, "tan");
  UN(tg_asin, "asin");
  UN(tg_acos, "acos");
  UN(tg_atan, "atan");
  UN(tg_sinh, "sinh");
  UN(tg_cosh, "cosh");
  UN(tg_asinh, "asinh");
  UN(tg_acosh, "acosh");
  UN(tg_atanh, "atanh");
  UN(tg_erf, "erf");
  UN(tg_erfc, "erfc");
  UN(tg_erfinv, "erfinv");
  UN(tg_reciprocal, "reciprocal");
  UN(tg_rsqrt, "rsqrt");
  UN(tg_square, "square");
  UN(tg_sign, "sign");
  UN(tg_floor, "floor");
  UN(tg_ceil, "ceil");
  UN(tg_round, "round");
  UN(tg_trunc, "trunc");
  UN(tg_frac, "frac");
  N_PTR(tg_nan_to_num, 1, tg_nan_to_num(NULL, 0, NAN, NAN), "nan_to_num: argument 1 is NULL");
  UN(tg_sigmoid, "sigmoid");
  UN(tg_relu, "relu");
  UN(tg_leaky_relu, "leaky_relu", , 0.01);
  UN(tg_elu, "elu", , 1.0);
  UN(tg_softplus, "softplus", , 1.0, 20.0);
  UN(tg_clamp, "clamp", , 0.0, 1.0);
  UN(tg_gelu, "gelu", , "none");
  UN(tg_silu, "silu");
  UN(tg_mish, "mish");
  UN(tg_hardtanh, "hardtanh", , -1.0, 1.0);
  UN(tg_relu6, "relu6");
  UN(tg_selu, "selu");
  UN(tg_celu, "celu", , 1.0);
  UN(tg_softsign, "softsign");
  UN(tg_hardsigmoid, "hardsigmoid");
  UN(tg_hardswish, "hardswish");
  UN(tg_logsigmoid, "logsigmoid");
  N_PTR(tg_gelu, 2, tg_gelu(a, NULL), "gelu: argument 2 is NULL");
  UN(tg_sum, "sum");
  UN(tg_mean, "mean");
  UN(tg_var, "var", , true);
  UN(tg_max, "max");
  UN(tg_min, "min");
  UN(tg_sum_dims, "sum", , 1, d1, false);
  UN(tg_mean_dims, "mean", , 1, d1, false);
  UN(tg_var_dims, "var", , 1, d1, true, false);
  UN(tg_logsumexp, "logsumexp", , 1, d1, false);
  UN(tg_max_dim, "max", , 1, false, NULL);
  UN(tg_min_dim, "min", , 1, false, NULL);
  UN(tg_sum_to_shape, "sum_to_shape", , TG_SHAPE(3));
  UN(tg_softmax, "softmax", , 1);
  UN(tg_log_softmax, "log_softmax", , 1);
  UN(tg_reshape, "reshape", , TG_SHAPE(6));
  UN(tg_view, "view", , TG_SHAPE(6));
  UN(tg_reshape_infer, "reshape", , 1, (const long[]){-1});
  UN(tg_flatten, "flatten", , 0, -1);
  UN(tg_squeeze, "squeeze", , 0);
  UN(tg_squeeze_all, "squeeze");
  UN(tg_unsqueeze, "unsqueeze", , 0);
  UN(tg_transpose, "transpose", , 0, 1);
  UN(tg_t, "t");
  UN(tg_permute, "permute", , (const int[]){1, 0});
  UN(tg_expand, "expand", , TG_SHAPE(2, 3));
  UN(tg_narrow, "narrow", , 1, 0, 1);
  UN(tg_slice, "slice", , 1, 0, 2, 1);
  UN(tg_select, "select", , 0, 0);
  UN(tg_contiguous, "contiguous");
  UN(tg_clone, "clone");
  UN(tg_to_dtype, "to_dtype", , TG_FLOAT32);
#undef UN
  /* dims arrays: NULL with n_dims > 0 is an error, with n_dims 0 it means all */
  N_PTR(tg_sum_dims, 3, tg_sum_dims(a, 1, NULL, false), "sum", "dims is NULL");
  N_OK(tg_sum_dims, 3, assert_close(tg_item(tg_sum_dims(a, 0, NULL, false)), tg_item(tg_sum(a)), 1e-12));
  N_PTR(tg_mean_dims, 3, tg_mean_dims(a, 1, NULL, false), "mean", "dims is NULL");
  N_OK(tg_mean_dims, 3, assert_close(tg_item(tg_mean_dims(a, 0, NULL, false)), tg_item(tg_mean(a)), 1e-12));
  N_PTR(tg_var_dims, 3, tg_var_dims(a, 1, NULL, true, false), "var", "dims is NULL");
  N_OK(tg_var_dims, 3, assert_close(tg_item(tg_var_dims(a, 0, NULL, true, false)), tg_item(tg_var(a, true)), 1e-12));
  N_PTR(tg_logsumexp, 3, tg_logsumexp(a, 1, NULL, false), "logsumexp", "dims is NULL");
  N_OK(tg_logsumexp, 3, assert_non_null(tg_logsumexp(a, 0, NULL, false)));
  /* indices NULL: not wanted */
  {
    tg_tensor *ind = NULL;
    tg_tensor *m1 = tg_max_dim(a, 1, false, &ind);
    N_OK(tg_max_dim, 4, assert_close(tg_get_flat(tg_max_dim(a, 1, false, NULL), 0), tg_get_flat(m1, 0), 0));
    tg_tensor *m2 = tg_min_dim(a, 1, false, &ind);
    N_OK(tg_min_dim, 4, assert_close(tg_get_flat(tg_min_dim(a, 1, false, NULL), 1), tg_get_flat(m2, 1), 0));
  }
  N_PTR(tg_sum_to_shape, 3, tg_sum_to_shape(a, 1, NULL), "sum_to_shape", "NULL");
  /* ops/reduce_stats.c, scan.c, sort.c */
  N_PTR(tg_prod, 1, tg_prod(NULL), "prod: argument 1 is NULL");
  N_PTR(tg_prod_dim, 1, tg_prod_dim(NULL, 0, false), "prod: argument 1 is NULL");
  N_PTR(tg_std, 1, tg_std(NULL, true), "std: argument 1 is NULL");
  N_PTR(tg_std_dims, 1, tg_std_dims(NULL, 1, d1, true, false), "std: argument 1 is NULL");
  N_PTR(tg_std_dims, 3, tg_std_dims(a, 1, NULL, true, false), "std", "dims is NULL");
  N_OK(tg_std_dims, 3, assert_close(tg_item(tg_std_dims(a, 0, NULL, true, false)), tg_item(tg_std(a, true)), 1e-12));
  N_PTR(tg_norm, 1, tg_norm(NULL, 2, 1, d1, false), "norm: argument 1 is NULL");
  N_PTR(tg_norm, 4, tg_norm(a, 2, 1, NULL, false), "norm", "dims is NULL");
  N_OK(tg_norm, 4, assert_non_null(tg_norm(a, 2, 0, NULL, false)));
  N_PTR(tg_linalg_vector_norm, 1, tg_linalg_vector_norm(NULL, 2, 1, d1, false), "linalg_vector_norm: argument 1 is NULL");
  N_PTR(tg_linalg_vector_norm, 4, tg_linalg_vector_norm(a, 2, 1, NULL, false), "linalg_vector_norm", "dims is NULL");
  N_OK(tg_linalg_vector_norm, 4, assert_non_null(tg_linalg_vector_norm(a, 1, 0, NULL, false)));
  N_PTR(tg_amax, 1, tg_amax(NULL, 1, d1, false), "amax: argument 1 is NULL");
  N_PTR(tg_amax, 3, tg_amax(a, 1, NULL, false), "amax", "dims is NULL");
  N_OK(tg_amax, 3, assert_non_null(tg_amax(a, 0, NULL, false)));
  N_PTR(tg_amin, 1, tg_amin(NULL, 1, d1, false), "amin: argument 1 is NULL");
  N_PTR(tg_amin, 3, tg_amin(a, 1, NULL, false), "amin", "dims is NULL");
  N_OK(tg_amin, 3, assert_non_null(tg_amin(a, 0, NULL, false)));
  N_PTR(tg_argmax, 1, tg_argmax(NULL), "argmax: argument 1 is NULL");
  N_PTR(tg_argmin, 1, tg_argmin(NULL), "argmin: argument 1 is NULL");
  N_PTR(tg_argmax_dim, 1, tg_argmax_dim(NULL, 1, false), "argmax: argument 1 is NULL");
  N_PTR(tg_argmin_dim, 1, tg_argmin_dim(NULL, 1, false), "argmin: argument 1 is NULL");
  N_PTR(tg_median, 1, tg_median(NULL), "median: argument 1 is NULL");
  N_PTR(tg_cumsum, 1, tg_cumsum(NULL, 0), "cumsum: argument 1 is NULL");
  N_PTR(tg_cumprod, 1, tg_cumprod(NULL, 0), "cumprod: argument 1 is NULL");
  N_PTR(tg_logcumsumexp, 1, tg_logcumsumexp(NULL, 0), "logcumsumexp: argument 1 is NULL");
  {
    /* indices/inverse/counts NULL: not wanted; with a NULL input they are set to NULL */
    tg_tensor *ind = a;
    N_PTR(tg_median_dim, 1, tg_median_dim(NULL, 1, false, &ind), "median: argument 1 is NULL");
    assert_null(ind);
    N_OK(tg_median_dim, 4, assert_non_null(tg_median_dim(a, 1, false, NULL)));
    N_PTR(tg_kthvalue, 1, tg_kthvalue(NULL, 1, 1, false, &ind), "kthvalue: argument 1 is NULL");
    N_OK(tg_kthvalue, 5, assert_non_null(tg_kthvalue(a, 2, 1, false, NULL)));
    N_PTR(tg_sort, 1, tg_sort(NULL, 1, false, &ind), "sort: argument 1 is NULL");
    N_OK(tg_sort, 4, assert_non_null(tg_sort(a, 1, false, NULL)));
    N_PTR(tg_topk, 1, tg_topk(NULL, 1, 1, true, true, &ind), "topk: argument 1 is NULL");
    N_OK(tg_topk, 6, assert_non_null(tg_topk(a, 1, 1, true, true, NULL)));
    tg_tensor *cnt = a;
    N_PTR(tg_unique, 1, tg_unique(NULL, true, &ind, &cnt), "unique: argument 1 is NULL");
    assert_null(cnt);
    N_OK(tg_unique, 3, assert_non_null(tg_unique(a, true, NULL, &cnt)));
    N_OK(tg_unique, 4, assert_non_null(tg_unique(a, true, &ind, NULL)));
  }
  N_PTR(tg_matmul, 1, tg_matmul(NULL, v), "matmul: argument 1 is NULL");
  N_PTR(tg_matmul, 2, tg_matmul(a, NULL), "matmul: argument 2 is NULL");
  N_PTR(tg_dot, 1, tg_dot(NULL, v), "dot: argument 1 is NULL");
  N_PTR(tg_dot, 2, tg_dot(v, NULL), "dot: argument 2 is NULL");
  N_PTR(tg_outer, 1, tg_outer(NULL, v), "outer: argument 1 is NULL");
  N_PTR(tg_outer, 2, tg_outer(v, NULL), "outer: argument 2 is NULL");
  N_PTR(tg_gather, 1, tg_gather(NULL, 1, idx), "gather: argument 1 is NULL");
  N_PTR(tg_gather, 3, tg_gather(a, 1, NULL), "gather: argument 3 is NULL");
  N_PTR(tg_scatter_add, 1, tg_scatter_add(NULL, 0, row_idx, src13), "scatter_add: argument 1 is NULL");
  N_PTR(tg_scatter_add, 3, tg_scatter_add(a, 0, NULL, src13), "scatter_add: argument 3 is NULL");
  N_PTR(tg_scatter_add, 4, tg_scatter_add(a, 0, row_idx, NULL), "scatter_add: argument 4 is NULL");
  N_PTR(tg_index_select, 1, tg_index_select(NULL, 0, idx1), "index_select: argument 1 is NULL");
  N_PTR(tg_index_select, 3, tg_index_select(a, 0, NULL), "index_select: argument 3 is NULL");
  N_PTR(tg_index_add, 1, tg_index_add(NULL, 0, idx1, a), "index_add: argument 1 is NULL");
  N_PTR(tg_index_add, 3, tg_index_add(a, 0, NULL, a), "index_add: argument 3 is NULL");
  N_PTR(tg_index_add, 4, tg_index_add(a, 0, idx1, NULL), "index_add: argument 4 is NULL");
  N_PTR(tg_embedding, 1, tg_embedding(NULL, idx1, TG_NO_PADDING_IDX, NAN, 2), "embedding: argument 1 is NULL");
  N_PTR(tg_embedding, 2, tg_embedding(a, NULL, TG_NO_PADDING_IDX, NAN, 2), "embedding: argument 2 is NULL");
  N_PTR(tg_bmm, 1, tg_bmm(NULL, a), "bmm: argument 1 is NULL");
  N_PTR(tg_bmm, 2, tg_bmm(a, NULL), "bmm: argument 2 is NULL");
  N_PTR(tg_mv, 1, tg_mv(NULL, v), "mv: argument 1 is NULL");
  N_PTR(tg_mv, 2, tg_mv(a, NULL), "mv: argument 2 is NULL");
  N_PTR(tg_addmm, 1, tg_addmm(NULL, a, a, 1, 1), "addmm: argument 1 is NULL");
  N_PTR(tg_addmm, 2, tg_addmm(a, NULL, a, 1, 1), "addmm: argument 2 is NULL");
  N_PTR(tg_addmm, 3, tg_addmm(a, a, NULL, 1, 1), "addmm: argument 3 is NULL");
  N_PTR(tg_baddbmm, 1, tg_baddbmm(NULL, a, a, 1, 1), "baddbmm: argument 1 is NULL");
  N_PTR(tg_baddbmm, 2, tg_baddbmm(a, NULL, a, 1, 1), "baddbmm: argument 2 is NULL");
  N_PTR(tg_baddbmm, 3, tg_baddbmm(a, a, NULL, 1, 1), "baddbmm: argument 3 is NULL");
  N_PTR(tg_movedim, 1, tg_movedim(NULL, 1, d1, d1), "movedim: argument 1 is NULL");
  N_PTR(tg_movedim, 3, tg_movedim(a, 1, NULL, d1), "movedim", "source", "NULL");
  N_PTR(tg_movedim, 4, tg_movedim(a, 1, d1, NULL), "movedim", "destination", "NULL");
  N_PTR(tg_swapaxes, 1, tg_swapaxes(NULL, 0, 1), "swapaxes: argument 1 is NULL");
  N_PTR(tg_swapdims, 1, tg_swapdims(NULL, 0, 1), "swapdims: argument 1 is NULL");
  N_PTR(tg_take_along_dim, 1, tg_take_along_dim(NULL, idx, 1), "take_along_dim: argument 1 is NULL");
  N_PTR(tg_take_along_dim, 2, tg_take_along_dim(a, NULL, 1), "take_along_dim: argument 2 is NULL");
  N_PTR(tg_take_along_dim_flat, 1, tg_take_along_dim_flat(NULL, idx), "take_along_dim: argument 1 is NULL");
  N_PTR(tg_take_along_dim_flat, 2, tg_take_along_dim_flat(a, NULL), "take_along_dim: argument 2 is NULL");
  N_PTR(tg_index_fill, 1, tg_index_fill(NULL, 0, idx1, 1), "index_fill: argument 1 is NULL");
  N_PTR(tg_index_fill, 3, tg_index_fill(a, 0, NULL, 1), "index_fill: argument 3 is NULL");
  N_PTR(tg_scatter, 1, tg_scatter(NULL, 0, row_idx, src13), "scatter: argument 1 is NULL");
  N_PTR(tg_scatter, 3, tg_scatter(a, 0, NULL, src13), "scatter: argument 3 is NULL");
  N_PTR(tg_scatter, 4, tg_scatter(a, 0, row_idx, NULL), "scatter: argument 4 is NULL");
  N_PTR(tg_scatter_value, 1, tg_scatter_value(NULL, 0, row_idx, 1), "scatter: argument 1 is NULL");
  N_PTR(tg_scatter_value, 3, tg_scatter_value(a, 0, NULL, 1), "scatter: argument 3 is NULL");
  N_PTR(tg_index_put, 1, tg_index_put(NULL, 1, &idx1, src13, false), "index_put: argument 1 is NULL");
  N_PTR(tg_index_put, 3, tg_index_put(a, 1, NULL, src13, false), "index_put", "NULL");
  N_PTR(tg_index_put, 3, tg_index_put(a, 1, (tg_tensor *[]){NULL}, src13, false), "index_put: argument 3 is NULL");
  N_PTR(tg_index_put, 4, tg_index_put(a, 1, &idx1, NULL, false), "index_put: argument 4 is NULL");
  N_PTR(tg_einsum, 1, tg_einsum(NULL, 1, &a), "einsum", "equation", "NULL");
  N_PTR(tg_einsum, 3, tg_einsum("ij", 1, NULL), "einsum", "operands", "NULL");
  N_PTR(tg_einsum, 3, tg_einsum("ij", 1, (tg_tensor *[]){NULL}), "einsum: argument 3 is NULL");
  N_PTR(tg_reshape, 3, tg_reshape(a, 2, NULL), "reshape", "NULL");
  N_PTR(tg_view, 3, tg_view(a, 2, NULL), "view", "NULL");
  N_PTR(tg_reshape_infer, 3, tg_reshape_infer(a, 2, NULL), "reshape", "NULL");
  N_PTR(tg_permute, 2, tg_permute(a, NULL), "permute", "NULL");
  N_PTR(tg_expand, 3, tg_expand(a, 2, NULL), "expand", "NULL");
  {
    tg_tensor *pair[2] = {a, NULL}, *first_null[2] = {NULL, a};
    N_PTR(tg_cat, 2, tg_cat(2, NULL, 0), "cat", "NULL");
    N_PTR(tg_cat, 2, tg_cat(2, pair, 0), "cat: argument 2 is NULL");
    N_PTR(tg_cat, 2, tg_cat(2, first_null, 0), "cat: argument 1 is NULL");
    N_PTR(tg_stack, 2, tg_stack(2, NULL, 0), "stack", "NULL");
    N_PTR(tg_stack, 2, tg_stack(2, pair, 0), "stack: argument 2 is NULL");
  }
  {
    /* ops/shape_split.c, shape_copy.c */
    tg_tensor *parts[8];
    N_INT(tg_split, 1, tg_split(NULL, 1, (const size_t[]){3}, 1, parts), "split: argument 1 is NULL");
    N_INT(tg_split, 3, tg_split(a, 1, NULL, 1, parts), "split", "sizes is NULL");
    N_INT(tg_split, 5, tg_split(a, 1, (const size_t[]){3}, 1, NULL), "split", "out is NULL");
    N_INT(tg_split_size, 1, tg_split_size(NULL, 1, 1, 8, parts), "split_size: argument 1 is NULL");
    N_INT(tg_split_size, 5, tg_split_size(a, 1, 1, 8, NULL), "split_size", "out is NULL");
    N_INT(tg_chunk, 1, tg_chunk(NULL, 2, 1, parts), "chunk: argument 1 is NULL");
    N_INT(tg_chunk, 4, tg_chunk(a, 2, 1, NULL), "chunk", "out is NULL");
    N_INT(tg_unbind, 1, tg_unbind(NULL, 1, 8, parts), "unbind: argument 1 is NULL");
    N_INT(tg_unbind, 4, tg_unbind(a, 1, 8, NULL), "unbind", "out is NULL");
    N_PTR(tg_flip, 1, tg_flip(NULL, 1, (const int[]){0}), "flip: argument 1 is NULL");
    N_PTR(tg_flip, 3, tg_flip(a, 1, NULL), "flip", "dims is NULL");
    N_OK(tg_flip, 3, assert_non_null(tg_flip(a, 0, NULL)));
    N_PTR(tg_tril, 1, tg_tril(NULL, 0), "tril: argument 1 is NULL");
    N_PTR(tg_triu, 1, tg_triu(NULL, 0), "triu: argument 1 is NULL");
    N_PTR(tg_roll, 1, tg_roll(NULL, 1, (const long[]){1}, 0, NULL), "roll: argument 1 is NULL");
    N_PTR(tg_roll, 3, tg_roll(a, 1, NULL, 0, NULL), "roll", "shifts is NULL");
    N_PTR(tg_roll, 5, tg_roll(a, 1, (const long[]){1}, 1, NULL), "roll", "dims is NULL");
    N_OK(tg_roll, 5, assert_non_null(tg_roll(a, 1, (const long[]){1}, 0, NULL)));
    N_PTR(tg_repeat, 1, tg_repeat(NULL, 1, (const size_t[]){2}), "repeat: argument 1 is NULL");
    N_PTR(tg_repeat, 3, tg_repeat(a, 2, NULL), "repeat", "repeats is NULL");
    N_PTR(tg_tile, 1, tg_tile(NULL, 1, (const size_t[]){2}), "tile: argument 1 is NULL");
    N_PTR(tg_tile, 3, tg_tile(a, 2, NULL), "tile", "dims is NULL");
    N_OK(tg_tile, 3, assert_non_null(tg_tile(a, 0, NULL)));
    N_PTR(tg_diagonal, 1, tg_diagonal(NULL, 0, 0, 1), "diagonal: argument 1 is NULL");
    N_PTR(tg_diag, 1, tg_diag(NULL, 0), "diag: argument 1 is NULL");
    N_PTR(tg_trace, 1, tg_trace(NULL), "trace: argument 1 is NULL");
    N_PTR(tg_pad, 1, tg_pad(NULL, 2, (const long[]){1, 1}, TG_PAD_CONSTANT, 0), "pad: argument 1 is NULL");
    N_PTR(tg_pad, 3, tg_pad(a, 2, NULL, TG_PAD_CONSTANT, 0), "pad", "pad is NULL");
    N_OK(tg_pad, 3, assert_non_null(tg_pad(a, 0, NULL, TG_PAD_CONSTANT, 0)));
    {
      /* the convolution family: NULL tensors fail; NULL bias, stride,
       * padding, dilation, output_padding, padding string mean torch's defaults */
      tg_tensor *x4 = tg_zeros(TG_FLOAT64, 4, (const size_t[]){1, 2, 4, 4});
      tg_tensor *w4 = tg_zeros(TG_FLOAT64, 4, (const size_t[]){2, 2, 2, 2});
      tg_tensor *x3 = tg_zeros(TG_FLOAT64, 3, (const size_t[]){1, 2, 4});
      tg_tensor *w3 = tg_zeros(TG_FLOAT64, 3, (const size_t[]){2, 2, 2});
      tg_tensor *cols = tg_zeros(TG_FLOAT64, 3, (const size_t[]){1, 8, 9});
      const int64_t k2[2] = {2, 2}, o4[2] = {4, 4}, one[2] = {1, 1};
      N_PTR(tg_unfold, 1, tg_unfold(NULL, k2, NULL, NULL, NULL), "unfold: argument 1 is NULL");
      N_PTR(tg_unfold, 2, tg_unfold(x4, NULL, NULL, NULL, NULL), "unfold", "kernel_size is NULL");
      N_OK(tg_unfold, 3, assert_non_null(tg_unfold(x4, k2, NULL, one, one)));
      N_OK(tg_unfold, 4, assert_non_null(tg_unfold(x4, k2, one, NULL, one)));
      N_OK(tg_unfold, 5, assert_non_null(tg_unfold(x4, k2, one, one, NULL)));
      N_PTR(tg_fold, 1, tg_fold(NULL, o4, k2, NULL, NULL, NULL), "fold: argument 1 is NULL");
      N_PTR(tg_fold, 2, tg_fold(cols, NULL, k2, NULL, NULL, NULL), "fold", "output_size is NULL");
      N_PTR(tg_fold, 3, tg_fold(cols, o4, NULL, NULL, NULL, NULL), "fold", "kernel_size is NULL");
      N_OK(tg_fold, 4, assert_non_null(tg_fold(cols, o4, k2, NULL, (const int64_t[]){0, 0}, one)));
      N_OK(tg_fold, 5, assert_non_null(tg_fold(cols, o4, k2, one, NULL, one)));
      N_OK(tg_fold, 6, assert_non_null(tg_fold(cols, o4, k2, one, (const int64_t[]){0, 0}, NULL)));
      N_PTR(tg_conv2d, 1, tg_conv2d(NULL, w4, NULL, one, NULL, one, 1), "conv2d: argument 1 is NULL");
      N_PTR(tg_conv2d, 2, tg_conv2d(x4, NULL, NULL, one, NULL, one, 1), "conv2d: argument 2 is NULL");
      N_OK(tg_conv2d, 3, assert_non_null(tg_conv2d(x4, w4, NULL, one, one, one, 1)));
      N_OK(tg_conv2d, 4, assert_non_null(tg_conv2d(x4, w4, NULL, NULL, one, one, 1)));
      N_OK(tg_conv2d, 5, assert_non_null(tg_conv2d(x4, w4, NULL, one, NULL, one, 1)));
      N_OK(tg_conv2d, 6, assert_non_null(tg_conv2d(x4, w4, NULL, one, one, NULL, 1)));
      N_PTR(tg_conv2d_padding, 1, tg_conv2d_padding(NULL, w4, NULL, NULL, "same", NULL, 1), "conv2d: argument 1 is NULL");
      N_PTR(tg_conv2d_padding, 2, tg_conv2d_padding(x4, NULL, NULL, NULL, "same", NULL, 1), "conv2d: argument 2 is NULL");
      N_OK(tg_conv2d_padding, 3, assert_non_null(tg_conv2d_padding(x4, w4, NULL, one, "same", one, 1)));
      N_OK(tg_conv2d_padding, 4, assert_non_null(tg_conv2d_padding(x4, w4, NULL, NULL, "same", one, 1)));
      N_OK(tg_conv2d_padding, 5, assert_non_null(tg_conv2d_padding(x4, w4, NULL, one, NULL, one, 1)));
      N_OK(tg_conv2d_padding, 6, assert_non_null(tg_conv2d_padding(x4, w4, NULL, one, "valid", NULL, 1)));
      N_PTR(tg_conv1d, 1, tg_conv1d(NULL, w3, NULL, 1, 0, 1, 1), "conv1d: argument 1 is NULL");
      N_PTR(tg_conv1d, 2, tg_conv1d(x3, NULL, NULL, 1, 0, 1, 1), "conv1d: argument 2 is NULL");
      N_OK(tg_conv1d, 3, assert_non_null(tg_conv1d(x3, w3, NULL, 1, 0, 1, 1)));
      N_PTR(tg_conv1d_padding, 1, tg_conv1d_padding(NULL, w3, NULL, 1, "same", 1, 1), "conv1d: argument 1 is NULL");
      N_PTR(tg_conv1d_padding, 2, tg_conv1d_padding(x3, NULL, NULL, 1, "same", 1, 1), "conv1d: argument 2 is NULL");
      N_OK(tg_conv1d_padding, 3, assert_non_null(tg_conv1d_padding(x3, w3, NULL, 1, "same", 1, 1)));
      N_OK(tg_conv1d_padding, 5, assert_non_null(tg_conv1d_padding(x3, w3, NULL, 1, NULL, 1, 1)));
      N_PTR(tg_conv_transpose2d, 1, tg_conv_transpose2d(NULL, w4, NULL, one, NULL, NULL, 1, one),
            "conv_transpose2d: argument 1 is NULL");
      N_PTR(tg_conv_transpose2d, 2, tg_conv_transpose2d(x4, NULL, NULL, one, NULL, NULL, 1, one),
            "conv_transpose2d: argument 2 is NULL");
      const int64_t zero[2] = {0, 0};
      N_OK(tg_conv_transpose2d, 3, assert_non_null(tg_conv_transpose2d(x4, w4, NULL, one, zero, zero, 1, one)));
      N_OK(tg_conv_transpose2d, 4, assert_non_null(tg_conv_transpose2d(x4, w4, NULL, NULL, zero, zero, 1, one)));
      N_OK(tg_conv_transpose2d, 5, assert_non_null(tg_conv_transpose2d(x4, w4, NULL, one, NULL, zero, 1, one)));
      N_OK(tg_conv_transpose2d, 6, assert_non_null(tg_conv_transpose2d(x4, w4, NULL, one, zero, NULL, 1, one)));
      N_OK(tg_conv_transpose2d, 8, assert_non_null(tg_conv_transpose2d(x4, w4, NULL, one, zero, zero, 1, NULL)));
      N_PTR(tg_conv_transpose1d, 1, tg_conv_transpose1d(NULL, w3, NULL, 1, 0, 0, 1, 1),
            "conv_transpose1d: argument 1 is NULL");
      N_PTR(tg_conv_transpose1d, 2, tg_conv_transpose1d(x3, NULL, NULL, 1, 0, 0, 1, 1),
            "conv_transpose1d: argument 2 is NULL");
      N_OK(tg_conv_transpose1d, 3, assert_non_null(tg_conv_transpose1d(x3, w3, NULL, 1, 0, 0, 1, 1)));
    }
    tg_tensor *reps = tg_from_i64(TG_SHAPE(1), (const int64_t[]){2}), *ts[2] = {reps, NULL};
    N_PTR(tg_repeat_interleave, 1, tg_repeat_interleave(NULL, 2, NULL), "repeat_interleave: argument 1 is NULL");
    N_OK(tg_repeat_interleave, 3, assert_non_null(tg_repeat_interleave(a, 2, NULL)));
    N_PTR(tg_repeat_interleave_tensor, 1, tg_repeat_interleave_tensor(NULL, reps, NULL),
          "repeat_interleave: argument 1 is NULL");
    N_PTR(tg_repeat_interleave_tensor, 2, tg_repeat_interleave_tensor(a, NULL, NULL),
          "repeat_interleave: argument 2 is NULL");
    N_OK(tg_repeat_interleave_tensor, 3, assert_non_null(tg_repeat_interleave_tensor(a, reps, NULL)));
    N_PTR(tg_one_hot, 1, tg_one_hot(NULL, 3), "one_hot: argument 1 is NULL");
    N_INT(tg_meshgrid, 2, tg_meshgrid(1, NULL, "ij", parts), "meshgrid", "ts is NULL");
    N_INT(tg_meshgrid, 2, tg_meshgrid(2, ts, "ij", parts), "meshgrid: argument 2 is NULL");
    N_OK(tg_meshgrid, 3, assert_int_equal(tg_meshgrid(1, ts, NULL, parts), 1));
    N_INT(tg_meshgrid, 4, tg_meshgrid(1, ts, "ij", NULL), "meshgrid", "out is NULL");
  }
  {
    /* ops/pool.c, pool_adaptive.c, resample.c */
    tg_tensor *x4 = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 4, 4, 4)), *x3 = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 4));
    const int64_t k2[] = {2, 2}, p1[] = {1, 1};
    N_PTR(tg_max_pool1d, 1, tg_max_pool1d(NULL, 2, NULL, 0, 1, false, NULL), "max_pool1d: argument 1 is NULL");
    N_OK(tg_max_pool1d, 7, assert_non_null(tg_max_pool1d(x3, 2, NULL, 0, 1, false, NULL)));
    N_OK(tg_max_pool1d, 3, assert_non_null(tg_max_pool1d(x3, 2, NULL, 0, 1, false, NULL))); /* stride = kernel */
    N_PTR(tg_max_pool2d, 1, tg_max_pool2d(NULL, k2, NULL, NULL, NULL, false, NULL), "max_pool2d: argument 1 is NULL");
    N_PTR(tg_max_pool2d, 2, tg_max_pool2d(x4, NULL, NULL, NULL, NULL, false, NULL), "max_pool2d", "kernel_size is NULL");
    N_OK(tg_max_pool2d, 3, assert_non_null(tg_max_pool2d(x4, k2, NULL, p1, k2, false, NULL)));
    N_OK(tg_max_pool2d, 4, assert_non_null(tg_max_pool2d(x4, k2, k2, NULL, k2, false, NULL)));
    N_OK(tg_max_pool2d, 5, assert_non_null(tg_max_pool2d(x4, k2, k2, p1, NULL, true, NULL)));
    N_OK(tg_max_pool2d, 7, assert_non_null(tg_max_pool2d(x4, k2, NULL, NULL, NULL, false, NULL)));
    N_PTR(tg_avg_pool1d, 1, tg_avg_pool1d(NULL, 2, NULL, 0, false, true), "avg_pool1d: argument 1 is NULL");
    N_OK(tg_avg_pool1d, 3, assert_non_null(tg_avg_pool1d(x3, 2, NULL, 0, false, true))); /* stride = kernel */
    N_PTR(tg_avg_pool2d, 1, tg_avg_pool2d(NULL, k2, NULL, NULL, false, true, 0), "avg_pool2d: argument 1 is NULL");
    N_PTR(tg_avg_pool2d, 2, tg_avg_pool2d(x4, NULL, NULL, NULL, false, true, 0), "avg_pool2d", "kernel_size is NULL");
    N_OK(tg_avg_pool2d, 3, assert_non_null(tg_avg_pool2d(x4, k2, NULL, p1, false, true, 0)));
    N_OK(tg_avg_pool2d, 4, assert_non_null(tg_avg_pool2d(x4, k2, k2, NULL, false, true, 0)));
    N_PTR(tg_adaptive_avg_pool1d, 1, tg_adaptive_avg_pool1d(NULL, 2), "adaptive_avg_pool1d: argument 1 is NULL");
    N_PTR(tg_adaptive_avg_pool2d, 1, tg_adaptive_avg_pool2d(NULL, k2), "adaptive_avg_pool2d: argument 1 is NULL");
    N_PTR(tg_adaptive_avg_pool2d, 2, tg_adaptive_avg_pool2d(x4, NULL), "adaptive_avg_pool2d", "output_size is NULL");
    N_PTR(tg_adaptive_max_pool1d, 1, tg_adaptive_max_pool1d(NULL, 2, NULL), "adaptive_max_pool1d: argument 1 is NULL");
    N_OK(tg_adaptive_max_pool1d, 3, assert_non_null(tg_adaptive_max_pool1d(x3, 2, NULL)));
    N_PTR(tg_adaptive_max_pool2d, 1, tg_adaptive_max_pool2d(NULL, k2, NULL), "adaptive_max_pool2d: argument 1 is NULL");
    N_PTR(tg_adaptive_max_pool2d, 2, tg_adaptive_max_pool2d(x4, NULL, NULL), "adaptive_max_pool2d", "output_size is NULL");
    N_OK(tg_adaptive_max_pool2d, 3, assert_non_null(tg_adaptive_max_pool2d(x4, k2, NULL)));
    N_PTR(tg_interpolate, 1, tg_interpolate(NULL, k2, NULL, TG_INTERP_NEAREST, false), "interpolate: argument 1 is NULL");
    N_OK(tg_interpolate, 2, assert_non_null(tg_interpolate(x4, NULL, (const double[]){2, 2}, TG_INTERP_BILINEAR, true)));
    N_OK(tg_interpolate, 3, assert_non_null(tg_interpolate(x4, k2, NULL, TG_INTERP_NEAREST, false)));
    N_PTR(tg_interpolate, 2, tg_interpolate(x4, NULL, NULL, TG_INTERP_NEAREST, false), "interpolate", "either size or scale_factor");
    N_PTR(tg_pixel_shuffle, 1, tg_pixel_shuffle(NULL, 2), "pixel_shuffle: argument 1 is NULL");
    N_PTR(tg_pixel_unshuffle, 1, tg_pixel_unshuffle(NULL, 2), "pixel_unshuffle: argument 1 is NULL");
  }
  /* comparisons, logic, selection */
  tg_tensor *mask = tg_gt_scalar(a, 0.0);
  assert_non_null(mask);
#define BIN(fn, name)                                                          \
  N_PTR(fn, 1, fn(NULL, a), name ": argument 1 is NULL");                      \
  N_PTR(fn, 2, fn(a, NULL), name ": argument 2 is NULL")
  BIN(tg_eq, "eq");
  BIN(tg_ne, "ne");
  BIN(tg_lt, "lt");
  BIN(tg_le, "le");
  BIN(tg_gt, "gt");
  BIN(tg_ge, "ge");
  BIN(tg_logical_and, "logical_and");
  BIN(tg_logical_or, "logical_or");
  BIN(tg_logical_xor, "logical_xor");
#undef BIN
#define UN(fn, name, ...) N_PTR(fn, 1, fn(NULL __VA_ARGS__), name ": argument 1 is NULL")
  UN(tg_eq_scalar, "eq", , 0.0);
  UN(tg_ne_scalar, "ne", , 0.0);
  UN(tg_lt_scalar, "lt", , 0.0);
  UN(tg_le_scalar, "le", , 0.0);
  UN(tg_gt_scalar, "gt", , 0.0);
  UN(tg_ge_scalar, "ge", , 0.0);
  UN(tg_isnan, "isnan");
  UN(tg_isinf, "isinf");
  UN(tg_isfinite, "isfinite");
  UN(tg_logical_not, "logical_not");
  UN(tg_any, "any");
  UN(tg_all, "all");
  UN(tg_any_dims, "any", , 1, d1, false);
  UN(tg_all_dims, "all", , 1, d1, false);
  UN(tg_nonzero, "nonzero");
#undef UN
  N_PTR(tg_any_dims, 3, tg_any_dims(a, 1, NULL, false), "any", "dims is NULL");
  N_OK(tg_any_dims, 3, assert_true(tg_item(tg_any_dims(mask, 0, NULL, false)) == tg_item(tg_any(mask))));
  N_PTR(tg_all_dims, 3, tg_all_dims(a, 1, NULL, false), "all", "dims is NULL");
  N_OK(tg_all_dims, 3, assert_true(tg_item(tg_all_dims(mask, 0, NULL, false)) == tg_item(tg_all(mask))));
  {
    tg_tensor *pr = tg_full(TG_FLOAT64, TG_SHAPE(2, 3), 0.5);
    N_OK(tg_randint, 1, assert_non_null(tg_randint(NULL, 0, 3, TG_SHAPE(2))));
    N_PTR(tg_randint, 5, tg_randint(&fx.rng, 0, 3, 2, NULL), "randint", "shape is NULL");
    N_OK(tg_randperm, 1, assert_non_null(tg_randperm(NULL, 4)));
    N_OK(tg_bernoulli, 1, assert_non_null(tg_bernoulli(NULL, pr)));
    N_PTR(tg_bernoulli, 2, tg_bernoulli(&fx.rng, NULL), "bernoulli: argument 1 is NULL");
    N_OK(tg_normal_tensor, 1, assert_non_null(tg_normal_tensor(NULL, pr, pr)));
    N_PTR(tg_normal_tensor, 2, tg_normal_tensor(&fx.rng, NULL, pr), "normal: argument 1 is NULL");
    N_PTR(tg_normal_tensor, 3, tg_normal_tensor(&fx.rng, pr, NULL), "normal: argument 2 is NULL");
    N_OK(tg_uniform_tensor, 1, assert_non_null(tg_uniform_tensor(NULL, pr, pr)));
    N_PTR(tg_uniform_tensor, 2, tg_uniform_tensor(&fx.rng, NULL, pr), "uniform: argument 1 is NULL");
    N_PTR(tg_uniform_tensor, 3, tg_uniform_tensor(&fx.rng, pr, NULL), "uniform: argument 2 is NULL");
    N_OK(tg_multinomial, 1, assert_non_null(tg_multinomial(NULL, pr, 2, true)));
    N_PTR(tg_multinomial, 2, tg_multinomial(&fx.rng, NULL, 2, true), "multinomial: argument 1 is NULL");
  }
  N_PTR(tg_where, 1, tg_where(NULL, a, a), "where: argument 1 is NULL");
  N_PTR(tg_where, 2, tg_where(mask, NULL, a), "where: argument 2 is NULL");
  N_PTR(tg_where, 3, tg_where(mask, a, NULL), "where: argument 3 is NULL");
  N_PTR(tg_masked_fill, 1, tg_masked_fill(NULL, mask, 0.0), "masked_fill: argument 1 is NULL");
  N_PTR(tg_masked_fill, 2, tg_masked_fill(a, NULL, 0.0), "masked_fill: argument 2 is NULL");
  N_PTR(tg_masked_select, 1, tg_masked_select(NULL, mask), "masked_select: argument 1 is NULL");
  N_PTR(tg_masked_select, 2, tg_masked_select(a, NULL), "masked_select: argument 2 is NULL");
}

/* ------------------------------------------------------------------- nn */
static void test_null_nn_api(void **state) {
  (void)state;
  tg_tensor *x = fx.w, *p = fx.p01, *tgt = fx.tgt;
  tg_tensor *x23f = tg_randn(&fx.rng, TG_FLOAT32, TG_SHAPE(2, 3));
  tg_module *lin = fx.lin;
  size_t n = 0, fan_in = 0, fan_out = 0;
  N_OK(tg_module_new, 1, {
    tg_module *m = tg_module_new(NULL, identity_forward);
    assert_non_null(m);
    assert_true(m->type[0] != '\0'); /* a default type name */
    assert_ptr_equal(tg_module_forward(m, x), x);
    tg_module_free(m);
  });
  N_OK(tg_module_new_multi, 1, {
    tg_module *m = tg_module_new_multi(NULL, NULL);
    assert_non_null(m);
    assert_true(m->type[0] != '\0');
    tg_module_free(m);
  });
  {
    tg_module *m = tg_module_new_multi("MultiBox", NULL);
    N_PTR(tg_module_new_multi, 2, tg_module_forward(m, x), "MultiBox", "forward");
    tg_module_free(m);
  }
  {
    /* a module without a forward is a container; calling it is the error */
    tg_module *m = tg_module_new("Box", NULL);
    assert_non_null(m);
    N_PTR(tg_module_new, 2, tg_module_forward(m, x), "Box", "forward");
    tg_module_free(m);
  }
  {
    tg_module *m = tg_module_new("Custom", identity_forward);
    N_PTR(tg_module_add_parameter, 1, tg_module_add_parameter(NULL, "p", TG_FLOAT32, TG_SHAPE(2)),
          "module_add_parameter", "NULL");
    N_PTR(tg_module_add_parameter, 2, tg_module_add_parameter(m, NULL, TG_FLOAT32, TG_SHAPE(2)),
          "module_add_parameter", "name", "NULL");
    N_PTR(tg_module_add_parameter, 5, tg_module_add_parameter(m, "p", TG_FLOAT32, 2, NULL),
          "module_add_parameter", "shape is NULL");
    N_PTR(tg_module_add_buffer, 1, tg_module_add_buffer(NULL, "b", TG_FLOAT32, TG_SHAPE(2)),
          "module_add_buffer", "NULL");
    N_PTR(tg_module_add_buffer, 2, tg_module_add_buffer(m, NULL, TG_FLOAT32, TG_SHAPE(2)),
          "module_add_buffer", "name", "NULL");
    N_PTR(tg_module_add_buffer, 5, tg_module_add_buffer(m, "b", TG_FLOAT32, 2, NULL),
          "module_add_buffer", "shape is NULL");
    assert_int_equal(m->n_params + m->n_buffers, 0); /* nothing half-added */
    /* add_child takes ownership also on failure (ASan checks the child is freed) */
    N_INT(tg_module_add_child, 1, tg_module_add_child(NULL, "c", tg_nn_relu()), "module_add_child", "NULL");
    N_INT(tg_module_add_child, 2, tg_module_add_child(m, NULL, tg_nn_relu()), "module_add_child", "name", "NULL");
    N_INT(tg_module_add_child, 3, tg_module_add_child(m, "c", NULL), "module_add_child", "NULL");
    assert_int_equal(m->n_children, 0);
    N_PTR(tg_module_forward, 1, tg_module_forward(NULL, x), "module_forward", "NULL");
    N_PTR(tg_module_forward, 2, tg_module_forward(m, NULL), "Custom: argument 1 is NULL");
    tg_tensor *outs[1];
    N_INT(tg_module_forward_multi, 1, tg_module_forward_multi(NULL, &x, 1, outs, 1), "module_forward_multi",
          "module is NULL");
    N_INT(tg_module_forward_multi, 2, tg_module_forward_multi(m, NULL, 1, outs, 1), "module_forward_multi",
          "in is NULL");
    N_INT(tg_module_forward_multi, 4, tg_module_forward_multi(m, &x, 1, NULL, 1), "module_forward_multi",
          "out is NULL");
    tg_module_free(m);
  }
  N_OK(tg_module_free, 1, tg_module_free(NULL));
  N_VOID(tg_module_train, 1, tg_module_train(NULL, true), "module_train", "NULL");
  N_VOID(tg_module_eval, 1, tg_module_eval(NULL), "module_eval", "NULL");
  N_PTR(tg_module_parameters, 1, tg_module_parameters(NULL, &n), "module_parameters", "NULL");
  N_OK(tg_module_parameters, 2, assert_ptr_equal(tg_module_parameters(lin, NULL)[0], fx.params[0]));
  N_VAL(tg_module_num_parameters, 1, (size_t)0, tg_module_num_parameters(NULL, false), "module_num_parameters", "NULL");
  N_INT(tg_module_zero_grad, 1, tg_module_zero_grad(NULL), "module_zero_grad", "NULL");
  N_INT(tg_module_freeze, 1, tg_module_freeze(NULL), "module_freeze", "NULL");
  N_INT(tg_module_unfreeze, 1, tg_module_unfreeze(NULL), "module_unfreeze", "NULL");
  N_INT(tg_module_to_, 1, tg_module_to_(NULL, TG_FLOAT64), "module_to", "NULL");
  N_PTR(tg_module_get, 1, tg_module_get(NULL, "weight"), "module_get", "NULL");
  N_PTR(tg_module_get, 2, tg_module_get(lin, NULL), "module_get", "NULL");
  N_PTR(tg_module_child, 1, tg_module_child(NULL, "0"), "module_child", "NULL");
  N_PTR(tg_module_child, 2, tg_module_child(lin, NULL), "module_child", "NULL");
  /* ModuleList / ModuleDict: a NULL child is freed-others-and-fail, as Sequential */
  N_OK(tg_nn_module_list, 2, {
    tg_module *l = tg_nn_module_list(0, NULL);
    assert_non_null(l);
    tg_module_free(l);
  });
  N_PTR(tg_nn_module_list, 2, tg_nn_module_list(2, NULL), "module_list", "NULL");
  N_PTR(tg_nn_module_list, 2, tg_nn_module_list(2, (tg_module *[]){tg_nn_relu(), NULL}), "module_list", "NULL");
  N_OK(tg_nn_module_dict, 2, {
    tg_module *d = tg_nn_module_dict(0, NULL, NULL);
    assert_non_null(d);
    tg_module_free(d);
  });
  N_PTR(tg_nn_module_dict, 2, tg_nn_module_dict(1, NULL, (tg_module *[]){tg_nn_relu()}), "module_dict", "keys is NULL");
  N_PTR(tg_nn_module_dict, 3, tg_nn_module_dict(1, (const char *[]){"a"}, NULL), "module_dict", "NULL");
  N_PTR(tg_nn_module_dict, 3, tg_nn_module_dict(1, (const char *[]){"a"}, (tg_module *[]){NULL}), "module_dict",
        "NULL");
  {
    tg_module *l = tg_nn_module_list(1, (tg_module *[]){tg_nn_relu()});
    tg_module *d = tg_nn_module_dict(1, (const char *[]){"a"}, (tg_module *[]){tg_nn_relu()});
    assert_non_null(l);
    assert_non_null(d);
    N_INT(tg_nn_module_list_append, 1, tg_nn_module_list_append(NULL, tg_nn_relu()), "module_list_append", "NULL");
    N_INT(tg_nn_module_list_append, 2, tg_nn_module_list_append(l, NULL), "module_list_append", "NULL");
    N_INT(tg_nn_module_list_extend, 1, tg_nn_module_list_extend(NULL, 1, (tg_module *[]){tg_nn_relu()}),
          "module_list_extend", "NULL");
    N_INT(tg_nn_module_list_extend, 3, tg_nn_module_list_extend(l, 1, NULL), "module_list_extend", "NULL");
    N_INT(tg_nn_module_list_insert, 1, tg_nn_module_list_insert(NULL, 0, tg_nn_relu()), "module_list_insert", "NULL");
    N_INT(tg_nn_module_list_insert, 3, tg_nn_module_list_insert(l, 0, NULL), "module_list_insert", "NULL");
    N_PTR(tg_nn_module_list_get, 1, tg_nn_module_list_get(NULL, 0), "module_list_get", "NULL");
    N_VAL(tg_nn_module_list_len, 1, (size_t)0, tg_nn_module_list_len(NULL), "module_list_len", "NULL");
    assert_int_equal(tg_nn_module_list_len(l), 1);
    N_INT(tg_nn_module_dict_set, 1, tg_nn_module_dict_set(NULL, "b", tg_nn_relu()), "module_dict_set", "NULL");
    N_INT(tg_nn_module_dict_set, 2, tg_nn_module_dict_set(d, NULL, tg_nn_relu()), "module_dict_set", "key is NULL");
    N_INT(tg_nn_module_dict_set, 3, tg_nn_module_dict_set(d, "b", NULL), "module_dict_set", "NULL");
    N_INT(tg_nn_module_dict_insert, 1, tg_nn_module_dict_insert(NULL, "b", tg_nn_relu()), "module_dict_insert", "NULL");
    N_INT(tg_nn_module_dict_insert, 2, tg_nn_module_dict_insert(d, NULL, tg_nn_relu()), "module_dict_insert",
          "key is NULL");
    N_INT(tg_nn_module_dict_insert, 3, tg_nn_module_dict_insert(d, "b", NULL), "module_dict_insert", "NULL");
    N_PTR(tg_nn_module_dict_get, 1, tg_nn_module_dict_get(NULL, "a"), "module_dict_get", "NULL");
    N_PTR(tg_nn_module_dict_get, 2, tg_nn_module_dict_get(d, NULL), "module_dict_get", "key is NULL");
    N_VAL(tg_nn_module_dict_len, 1, (size_t)0, tg_nn_module_dict_len(NULL), "module_dict_len", "NULL");
    N_PTR(tg_nn_module_dict_key, 1, tg_nn_module_dict_key(NULL, 0), "module_dict_key", "NULL");
    assert_int_equal(tg_nn_module_dict_len(d), 1);
    N_INT(tg_module_print, 1, tg_module_print(NULL, l), "module_print", "FILE is NULL");
    N_INT(tg_module_print, 2, tg_module_print(fx.fp, NULL), "module_print", "module is NULL");
    N_INT(tg_module_summary, 1, tg_module_summary(NULL, l), "module_summary", "FILE is NULL");
    N_INT(tg_module_summary, 2, tg_module_summary(fx.fp, NULL), "module_summary", "module is NULL");
    N_INT(tg_module_set_extra_repr, 1, tg_module_set_extra_repr(NULL, "x"), "module_set_extra_repr", "module is NULL");
    N_INT(tg_module_set_extra_repr, 2, tg_module_set_extra_repr(d, NULL), "module_set_extra_repr", "fmt is NULL");
    tg_module_free(l);
    tg_module_free(d);
  }
  {
    tg_state_dict *sd = tg_state_dict_new();
    tg_tensor *own = tg_zeros(TG_FLOAT32, TG_SHAPE(1));
    N_INT(tg_state_dict_add, 1, tg_state_dict_add(NULL, "k", own, false), "state_dict_add", "NULL");
    N_INT(tg_state_dict_add, 2, tg_state_dict_add(sd, NULL, own, false), "state_dict_add", "NULL");
    N_INT(tg_state_dict_add, 3, tg_state_dict_add(sd, "k", NULL, false), "state_dict_add", "NULL");
    assert_int_equal(sd->n, 0);
    N_PTR(tg_state_dict_get, 1, tg_state_dict_get(NULL, "weight"), "state_dict_get", "NULL");
    N_PTR(tg_state_dict_get, 2, tg_state_dict_get(fx.sd, NULL), "state_dict_get", "NULL");
    tg_state_dict_free(sd);
  }
  N_OK(tg_state_dict_free, 1, tg_state_dict_free(NULL));
  N_PTR(tg_module_state_dict, 1, tg_module_state_dict(NULL), "module_state_dict", "NULL");
  N_INT(tg_module_load_state_dict, 1, tg_module_load_state_dict(NULL, fx.sd, true), "load_state_dict", "NULL");
  N_INT(tg_module_load_state_dict, 2, tg_module_load_state_dict(lin, NULL, true), "load_state_dict", "NULL");
  N_OK(tg_nn_linear, 4, {
    tg_module *m = tg_nn_linear(2, 2, true, NULL);
    assert_non_null(m);
    tg_module_free(m);
  });
  N_OK(tg_nn_dropout, 2, {
    tg_module *m = tg_nn_dropout(0.5, NULL);
    assert_non_null(m);
    tg_module_free(m);
  });
  {
    /* the conv modules: NULL kernel_size fails; NULL stride, padding,
     * dilation, output_padding (torch's defaults) and rng work */
    const int64_t k2[2] = {3, 3}, one[2] = {1, 1}, zero[2] = {0, 0};
#define MOD_OK(fn, arg, call)                                                  \
  N_OK(fn, arg, {                                                              \
    tg_module *m = (call);                                                     \
    assert_non_null(m);                                                        \
    tg_module_free(m);                                                         \
  })
    MOD_OK(tg_nn_conv1d, 9, tg_nn_conv1d(2, 4, 3, 1, 0, 1, 1, true, NULL));
    N_PTR(tg_nn_conv2d, 3, tg_nn_conv2d(2, 4, NULL, one, zero, one, 1, true, NULL), "nn_conv2d", "kernel_size is NULL");
    MOD_OK(tg_nn_conv2d, 4, tg_nn_conv2d(2, 4, k2, NULL, zero, one, 1, true, NULL));
    MOD_OK(tg_nn_conv2d, 5, tg_nn_conv2d(2, 4, k2, one, NULL, one, 1, true, NULL));
    MOD_OK(tg_nn_conv2d, 6, tg_nn_conv2d(2, 4, k2, one, zero, NULL, 1, true, NULL));
    MOD_OK(tg_nn_conv2d, 9, tg_nn_conv2d(2, 4, k2, one, zero, one, 1, true, NULL));
    MOD_OK(tg_nn_conv1d_padding, 5, tg_nn_conv1d_padding(2, 4, 3, 1, NULL, 1, 1, true, NULL));
    MOD_OK(tg_nn_conv1d_padding, 9, tg_nn_conv1d_padding(2, 4, 3, 1, "same", 1, 1, true, NULL));
    N_PTR(tg_nn_conv2d_padding, 3, tg_nn_conv2d_padding(2, 4, NULL, one, "same", one, 1, true, NULL),
          "nn_conv2d_padding", "kernel_size is NULL");
    MOD_OK(tg_nn_conv2d_padding, 4, tg_nn_conv2d_padding(2, 4, k2, NULL, "same", one, 1, true, NULL));
    MOD_OK(tg_nn_conv2d_padding, 5, tg_nn_conv2d_padding(2, 4, k2, one, NULL, one, 1, true, NULL));
    MOD_OK(tg_nn_conv2d_padding, 6, tg_nn_conv2d_padding(2, 4, k2, one, "same", NULL, 1, true, NULL));
    MOD_OK(tg_nn_conv2d_padding, 9, tg_nn_conv2d_padding(2, 4, k2, one, "valid", one, 1, true, NULL));
    N_PTR(tg_nn_conv_transpose2d, 3, tg_nn_conv_transpose2d(2, 4, NULL, one, zero, zero, 1, true, one, NULL),
          "nn_conv_transpose2d", "kernel_size is NULL");
    MOD_OK(tg_nn_conv_transpose2d, 4, tg_nn_conv_transpose2d(2, 4, k2, NULL, zero, zero, 1, true, one, NULL));
    MOD_OK(tg_nn_conv_transpose2d, 5, tg_nn_conv_transpose2d(2, 4, k2, one, NULL, zero, 1, true, one, NULL));
    MOD_OK(tg_nn_conv_transpose2d, 6, tg_nn_conv_transpose2d(2, 4, k2, one, zero, NULL, 1, true, one, NULL));
    MOD_OK(tg_nn_conv_transpose2d, 9, tg_nn_conv_transpose2d(2, 4, k2, one, zero, zero, 1, true, NULL, NULL));
    MOD_OK(tg_nn_conv_transpose2d, 10, tg_nn_conv_transpose2d(2, 4, k2, one, zero, zero, 1, true, one, NULL));
    /* the pooling modules: NULL kernel_size / output_size fail, NULL
     * stride (= kernel), padding, dilation work; Upsample takes exactly one
     * of size and scale_factor */
    const double two[2] = {2, 2};
    MOD_OK(tg_nn_maxpool1d, 2, tg_nn_maxpool1d(2, NULL, 0, 1, false));
    N_PTR(tg_nn_maxpool2d, 1, tg_nn_maxpool2d(NULL, one, zero, one, false), "nn_maxpool2d", "kernel_size is NULL");
    MOD_OK(tg_nn_maxpool2d, 2, tg_nn_maxpool2d(k2, NULL, zero, one, false));
    MOD_OK(tg_nn_maxpool2d, 3, tg_nn_maxpool2d(k2, one, NULL, one, false));
    MOD_OK(tg_nn_maxpool2d, 4, tg_nn_maxpool2d(k2, one, zero, NULL, false));
    MOD_OK(tg_nn_avgpool1d, 2, tg_nn_avgpool1d(2, NULL, 0, false, true));
    N_PTR(tg_nn_avgpool2d, 1, tg_nn_avgpool2d(NULL, one, zero, false, true, 0), "nn_avgpool2d", "kernel_size is NULL");
    MOD_OK(tg_nn_avgpool2d, 2, tg_nn_avgpool2d(k2, NULL, zero, false, true, 0));
    MOD_OK(tg_nn_avgpool2d, 3, tg_nn_avgpool2d(k2, one, NULL, false, true, 0));
    N_PTR(tg_nn_adaptive_avgpool2d, 1, tg_nn_adaptive_avgpool2d(NULL), "nn_adaptive_avgpool2d", "output_size is NULL");
    N_PTR(tg_nn_adaptive_maxpool2d, 1, tg_nn_adaptive_maxpool2d(NULL), "nn_adaptive_maxpool2d", "output_size is NULL");
    MOD_OK(tg_nn_upsample, 1, tg_nn_upsample(NULL, two, TG_INTERP_NEAREST, false));
    MOD_OK(tg_nn_upsample, 2, tg_nn_upsample(k2, NULL, TG_INTERP_NEAREST, false));
#undef MOD_OK
  }
  N_OK(tg_nn_dropout2d, 2, {
    tg_module *m = tg_nn_dropout2d(0.5, NULL);
    assert_non_null(m);
    tg_module_free(m);
  });
  N_PTR(tg_nn_layernorm, 2, tg_nn_layernorm(1, NULL, 1e-5, true), "layernorm", "shape is NULL");
  N_PTR(tg_nn_rmsnorm, 2, tg_nn_rmsnorm(1, NULL, NAN, true), "rmsnorm", "shape is NULL");
  {
    /* the cells: x (2, 3), h (2, 1), w_ih (G, 3), w_hh (G, 1) */
    tg_tensor *cx = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3)), *ch = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 1));
    tg_tensor *w1 = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 3)), *u1 = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 1));
    tg_tensor *w3 = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 3)), *u3 = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 1));
    tg_tensor *w4 = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 3)), *u4 = tg_zeros(TG_FLOAT64, TG_SHAPE(4, 1));
    tg_tensor *ho, *co;
    N_PTR(tg_rnn_cell, 1, tg_rnn_cell(NULL, ch, w1, u1, NULL, NULL, "tanh"), "rnn_cell: argument 1 is NULL");
    N_OK(tg_rnn_cell, 2, assert_non_null(tg_rnn_cell(cx, NULL, w1, u1, NULL, NULL, "tanh")));
    N_PTR(tg_rnn_cell, 3, tg_rnn_cell(cx, ch, NULL, u1, NULL, NULL, "tanh"), "rnn_cell: argument 3 is NULL");
    N_PTR(tg_rnn_cell, 4, tg_rnn_cell(cx, ch, w1, NULL, NULL, NULL, "tanh"), "rnn_cell: argument 4 is NULL");
    /* biases NULL: none, as torch's bias=False */
    tg_tensor *b1 = tg_zeros(TG_FLOAT64, TG_SHAPE(1));
    N_OK(tg_rnn_cell, 5, assert_non_null(tg_rnn_cell(cx, ch, w1, u1, NULL, b1, "tanh")));
    N_OK(tg_rnn_cell, 6, assert_non_null(tg_rnn_cell(cx, ch, w1, u1, b1, NULL, "tanh")));
    N_PTR(tg_rnn_cell, 7, tg_rnn_cell(cx, ch, w1, u1, NULL, NULL, NULL), "rnn_cell", "nonlinearity");
    N_INT(tg_lstm_cell, 1, tg_lstm_cell(NULL, ch, ch, w4, u4, NULL, NULL, &ho, &co), "lstm_cell: argument 1 is NULL");
    N_OK(tg_lstm_cell, 2, assert_int_equal(tg_lstm_cell(cx, NULL, NULL, w4, u4, NULL, NULL, &ho, &co), 0));
    N_OK(tg_lstm_cell, 3, assert_int_equal(tg_lstm_cell(cx, ch, NULL, w4, u4, NULL, NULL, &ho, &co), 0));
    N_INT(tg_lstm_cell, 4, tg_lstm_cell(cx, ch, ch, NULL, u4, NULL, NULL, &ho, &co), "lstm_cell: argument 4 is NULL");
    N_INT(tg_lstm_cell, 5, tg_lstm_cell(cx, ch, ch, w4, NULL, NULL, NULL, &ho, &co), "lstm_cell: argument 5 is NULL");
    N_OK(tg_lstm_cell, 6, assert_int_equal(tg_lstm_cell(cx, ch, ch, w4, u4, NULL, NULL, &ho, &co), 0));
    N_OK(tg_lstm_cell, 7, assert_int_equal(tg_lstm_cell(cx, ch, ch, w4, u4, NULL, NULL, &ho, &co), 0));
    N_INT(tg_lstm_cell, 8, tg_lstm_cell(cx, ch, ch, w4, u4, NULL, NULL, NULL, &co), "lstm_cell: argument 8 is NULL");
    N_INT(tg_lstm_cell, 9, tg_lstm_cell(cx, ch, ch, w4, u4, NULL, NULL, &ho, NULL), "lstm_cell: argument 9 is NULL");
    N_PTR(tg_gru_cell, 1, tg_gru_cell(NULL, ch, w3, u3, NULL, NULL), "gru_cell: argument 1 is NULL");
    N_OK(tg_gru_cell, 2, assert_non_null(tg_gru_cell(cx, NULL, w3, u3, NULL, NULL)));
    N_PTR(tg_gru_cell, 3, tg_gru_cell(cx, ch, NULL, u3, NULL, NULL), "gru_cell: argument 3 is NULL");
    N_PTR(tg_gru_cell, 4, tg_gru_cell(cx, ch, w3, NULL, NULL, NULL), "gru_cell: argument 4 is NULL");
    N_OK(tg_gru_cell, 5, assert_non_null(tg_gru_cell(cx, ch, w3, u3, NULL, NULL)));
    N_OK(tg_gru_cell, 6, assert_non_null(tg_gru_cell(cx, ch, w3, u3, NULL, NULL)));
    /* attention over q (2, 3), k = v = (2, 3) */
    N_PTR(tg_scaled_dot_product_attention, 1, tg_scaled_dot_product_attention(NULL, cx, cx, NULL, false, 0, NAN, NULL),
          "scaled_dot_product_attention: argument 1 is NULL");
    N_PTR(tg_scaled_dot_product_attention, 2, tg_scaled_dot_product_attention(cx, NULL, cx, NULL, false, 0, NAN, NULL),
          "scaled_dot_product_attention: argument 2 is NULL");
    N_PTR(tg_scaled_dot_product_attention, 3, tg_scaled_dot_product_attention(cx, cx, NULL, NULL, false, 0, NAN, NULL),
          "scaled_dot_product_attention: argument 3 is NULL");
    N_OK(tg_scaled_dot_product_attention, 4,
         assert_non_null(tg_scaled_dot_product_attention(cx, cx, cx, NULL, true, 0, NAN, NULL)));
    /* rng NULL: the default generator */
    N_OK(tg_scaled_dot_product_attention, 8,
         assert_non_null(tg_scaled_dot_product_attention(cx, cx, cx, NULL, false, 0.5, NAN, NULL)));    /* nn/tg_nn_fused.h: the fused multi-head causal attention */
    N_PTR(tg_causal_attention_qkv, 1, tg_causal_attention_qkv(NULL, 1, 2, 1), "causal_attention_qkv: argument 1 is NULL");
  }
  {
    /* the recurrent layers: a float64 LSTM over x (T 3, N 2, in 2), H 1 */
    tg_module *lstm = tg_nn_lstm(tg_rnn_defaults(2, 1));
    assert_int_equal(tg_module_to_(lstm, TG_FLOAT64), 0);
    tg_tensor *sx = tg_zeros(TG_FLOAT64, TG_SHAPE(3, 2, 2)), *sh = tg_zeros(TG_FLOAT64, TG_SHAPE(1, 2, 1));
    tg_tensor *so = NULL, *sn = NULL, *sc = NULL;
    int64_t lens[2] = {3, 1};
    N_INT(tg_nn_rnn_forward, 1, tg_nn_rnn_forward(NULL, sx, sh, sh, lens, &so, &sn, &sc), "nn_rnn_forward",
          "module is NULL");
    N_INT(tg_nn_rnn_forward, 2, tg_nn_rnn_forward(lstm, NULL, sh, sh, lens, &so, &sn, &sc), "LSTM",
          "input x is NULL");
    /* states NULL: zeros; lengths NULL: every step; h_n, c_n NULL: not wanted */
    N_OK(tg_nn_rnn_forward, 3, assert_int_equal(tg_nn_rnn_forward(lstm, sx, NULL, sh, lens, &so, &sn, &sc), 0));
    N_OK(tg_nn_rnn_forward, 4, assert_int_equal(tg_nn_rnn_forward(lstm, sx, sh, NULL, lens, &so, &sn, &sc), 0));
    N_OK(tg_nn_rnn_forward, 5, assert_int_equal(tg_nn_rnn_forward(lstm, sx, sh, sh, NULL, &so, &sn, &sc), 0));
    N_INT(tg_nn_rnn_forward, 6, tg_nn_rnn_forward(lstm, sx, sh, sh, lens, NULL, &sn, &sc), "nn_rnn_forward",
          "output is NULL");
    N_OK(tg_nn_rnn_forward, 7, {
      assert_int_equal(tg_nn_rnn_forward(lstm, sx, sh, sh, lens, &so, NULL, &sc), 0);
      assert_non_null(so);
      assert_non_null(sc);
    });
    N_OK(tg_nn_rnn_forward, 8, assert_int_equal(tg_nn_rnn_forward(lstm, sx, sh, sh, lens, &so, &sn, NULL), 0));
    tg_rnn_opts ro = tg_rnn_defaults(2, 1);
    tg_tensor **rw = tg_module_parameters(lstm, NULL);
    N_INT(tg_rnn, 2, tg_rnn(TG_RNN_LSTM, NULL, false, sx, sh, sh, lens, rw, &so, &sn, &sc), "LSTM", "opts", "NULL");
    N_INT(tg_rnn, 4, tg_rnn(TG_RNN_LSTM, &ro, false, NULL, sh, sh, lens, rw, &so, &sn, &sc),
          "LSTM: argument 4 is NULL");
    N_OK(tg_rnn, 5, assert_int_equal(tg_rnn(TG_RNN_LSTM, &ro, false, sx, NULL, sh, lens, rw, &so, &sn, &sc), 0));
    N_OK(tg_rnn, 6, assert_int_equal(tg_rnn(TG_RNN_LSTM, &ro, false, sx, sh, NULL, lens, rw, &so, &sn, &sc), 0));
    N_OK(tg_rnn, 7, assert_int_equal(tg_rnn(TG_RNN_LSTM, &ro, false, sx, sh, sh, NULL, rw, &so, &sn, &sc), 0));
    N_INT(tg_rnn, 8, tg_rnn(TG_RNN_LSTM, &ro, false, sx, sh, sh, lens, NULL, &so, &sn, &sc), "LSTM", "weights",
          "NULL");
    N_INT(tg_rnn, 9, tg_rnn(TG_RNN_LSTM, &ro, false, sx, sh, sh, lens, rw, NULL, &sn, &sc), "LSTM", "output",
          "NULL");
    N_OK(tg_rnn, 10, assert_int_equal(tg_rnn(TG_RNN_LSTM, &ro, false, sx, sh, sh, lens, rw, &so, NULL, &sc), 0));
    N_OK(tg_rnn, 11, assert_int_equal(tg_rnn(TG_RNN_LSTM, &ro, false, sx, sh, sh, lens, rw, &so, &sn, NULL), 0));
    tg_module_free(lstm);
    /* MultiheadAttention over an unbatched x (2, 4) in float64; key NULL is
     * the query, value NULL the key (self-attention), masks NULL none,
     * weights NULL not wanted */
    tg_module *mha = tg_nn_multihead_attention(4, 2, tg_mha_defaults());
    assert_non_null(mha);
    assert_int_equal(tg_module_to_(mha, TG_FLOAT64), 0);
    tg_tensor *x = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 4)), *y = NULL, *w = NULL;
    tg_mha_params mp = {.num_heads = 2, .in_proj_weight = tg_module_get(mha, "in_proj_weight"),
                        .out_proj_weight = tg_module_get(mha, "out_proj.weight")};
    N_INT(tg_multi_head_attention, 1, tg_multi_head_attention(NULL, x, x, &mp, NULL, true, NULL, true, false, &y, &w),
          "multihead_attention", "query is NULL");
    N_OK(tg_multi_head_attention, 2,
         assert_int_equal(tg_multi_head_attention(x, NULL, x, &mp, NULL, true, NULL, true, false, &y, &w), 0));
    N_OK(tg_multi_head_attention, 3,
         assert_int_equal(tg_multi_head_attention(x, x, NULL, &mp, NULL, true, NULL, true, false, &y, &w), 0));
    N_INT(tg_multi_head_attention, 4, tg_multi_head_attention(x, x, x, NULL, NULL, true, NULL, true, false, &y, &w),
          "multihead_attention", "params is NULL");
    N_OK(tg_multi_head_attention, 5,
         assert_int_equal(tg_multi_head_attention(x, x, x, &mp, NULL, true, NULL, true, false, &y, &w), 0));
    N_OK(tg_multi_head_attention, 7,
         assert_int_equal(tg_multi_head_attention(x, x, x, &mp, NULL, true, NULL, true, true, &y, &w), 0));
    N_INT(tg_multi_head_attention, 10, tg_multi_head_attention(x, x, x, &mp, NULL, true, NULL, true, false, NULL, &w),
          "multihead_attention", "out is NULL");
    N_OK(tg_multi_head_attention, 11, {
      assert_int_equal(tg_multi_head_attention(x, x, x, &mp, NULL, true, NULL, true, false, &y, NULL), 0);
      assert_non_null(y);
    });
    N_INT(tg_nn_multihead_attention_forward, 1,
          tg_nn_multihead_attention_forward(NULL, x, x, x, NULL, true, NULL, true, false, &y, &w),
          "multihead_attention", "module is NULL");
    N_INT(tg_nn_multihead_attention_forward, 2,
          tg_nn_multihead_attention_forward(mha, NULL, x, x, NULL, true, NULL, true, false, &y, &w),
          "multihead_attention", "query is NULL");
    N_OK(tg_nn_multihead_attention_forward, 3,
         assert_int_equal(tg_nn_multihead_attention_forward(mha, x, NULL, x, NULL, true, NULL, true, false, &y, &w), 0));
    N_OK(tg_nn_multihead_attention_forward, 4,
         assert_int_equal(tg_nn_multihead_attention_forward(mha, x, x, NULL, NULL, true, NULL, true, false, &y, &w), 0));
    N_OK(tg_nn_multihead_attention_forward, 5,
         assert_int_equal(tg_nn_multihead_attention_forward(mha, x, x, x, NULL, false, NULL, true, false, &y, &w), 0));
    N_OK(tg_nn_multihead_attention_forward, 7,
         assert_int_equal(tg_nn_multihead_attention_forward(mha, x, x, x, NULL, false, NULL, true, true, &y, &w), 0));
    N_INT(tg_nn_multihead_attention_forward, 10,
          tg_nn_multihead_attention_forward(mha, x, x, x, NULL, true, NULL, true, false, NULL, &w),
          "multihead_attention", "out is NULL");
    N_OK(tg_nn_multihead_attention_forward, 11, {
      assert_int_equal(tg_nn_multihead_attention_forward(mha, x, x, x, NULL, true, NULL, true, false, &y, NULL), 0);
      assert_non_null(y);
    });
    tg_module_free(mha);
  }
  N_OK(tg_nn_embedding, 4, {
    tg_module *m = tg_nn_embedding(4, 2, TG_NO_PADDING_IDX, NULL);
    assert_non_null(m);
    tg_module_free(m);
  });
  N_PTR(tg_nn_gelu, 1, tg_nn_gelu(NULL), "nn_gelu: argument 1 is NULL");
  /* Sequential: a NULL child (a failed constructor) frees the others */
  N_PTR(tg_nn_sequential, 2, tg_nn_sequential(2, tg_nn_relu(), (tg_module *)NULL), "sequential", "NULL");
  N_PTR(tg_nn_sequential_array, 2, tg_nn_sequential_array(2, NULL), "sequential", "NULL");
  N_PTR(tg_nn_sequential_array, 2, tg_nn_sequential_array(2, (tg_module *[]){tg_nn_tanh(), NULL}),
        "sequential", "NULL");
  {
    tg_module *seq = tg_nn_sequential(1, tg_nn_relu());
    assert_non_null(seq);
    N_INT(tg_nn_sequential_append, 1, tg_nn_sequential_append(NULL, tg_nn_relu()), "sequential_append", "NULL");
    N_INT(tg_nn_sequential_append, 2, tg_nn_sequential_append(seq, NULL), "sequential_append", "NULL");
    assert_int_equal(seq->n_children, 1);
    tg_module_free(seq);
  }
  tg_tensor *wt = fx.params[0], *b = fx.params[1]; /* [2,3] and [2], float32 */
  N_PTR(tg_linear, 1, tg_linear(NULL, wt, b), "linear: argument 1 is NULL");
  N_PTR(tg_linear, 2, tg_linear(x23f, NULL, b), "linear: argument 2 is NULL");
  {
    /* bias NULL: x W^T, as a matmul computes it */
    tg_tensor *ref = tg_matmul(x23f, tg_t(wt));
    N_OK(tg_linear, 3, {
      tg_tensor *y = tg_linear(x23f, wt, NULL);
      assert_non_null(y);
      for (size_t i = 0; i < 4; i++) assert_close(tg_get_flat(y, i), tg_get_flat(ref, i), 1e-6);
    });
  }
  N_PTR(tg_dropout, 1, tg_dropout(NULL, 0.5, true, &fx.rng), "dropout: argument 1 is NULL");
  N_OK(tg_dropout, 4, assert_non_null(tg_dropout(x, 0.5, true, NULL)));
  {
    tg_tensor *rm = tg_zeros(TG_FLOAT64, TG_SHAPE(3)), *rv = tg_ones(TG_FLOAT64, TG_SHAPE(3));
    tg_tensor *gw = tg_ones(TG_FLOAT64, TG_SHAPE(3)), *gb = tg_zeros(TG_FLOAT64, TG_SHAPE(3));
    N_PTR(tg_batch_norm, 1, tg_batch_norm(NULL, rm, rv, gw, gb, true, 0.1, 1e-5), "batch_norm: argument 1 is NULL");
    /* running stats NULL: batch statistics only (training must be true) */
    N_OK(tg_batch_norm, 2, assert_non_null(tg_batch_norm(x, NULL, NULL, gw, gb, true, 0.1, 1e-5)));
    N_OK(tg_batch_norm, 3, assert_non_null(tg_batch_norm(x, NULL, NULL, gw, gb, true, 0.1, 1e-5)));
    N_PTR(tg_batch_norm, 2, tg_batch_norm(x, NULL, rv, gw, gb, false, 0.1, 1e-5), "batch_norm", "running");
    N_PTR(tg_batch_norm, 3, tg_batch_norm(x, rm, NULL, gw, gb, false, 0.1, 1e-5), "batch_norm", "running");
    /* weight / bias NULL: no affine; batch-normalised columns have mean 0 */
    N_OK(tg_batch_norm, 4, {
      tg_tensor *y = tg_batch_norm(x, NULL, NULL, NULL, gb, true, 0.1, 1e-5);
      assert_close(tg_item(tg_sum(y)), 0, 1e-9);
    });
    N_OK(tg_batch_norm, 5, {
      tg_tensor *y = tg_batch_norm(x, NULL, NULL, gw, NULL, true, 0.1, 1e-5);
      assert_close(tg_item(tg_sum(y)), 0, 1e-9);
    });
  }
  N_PTR(tg_dropout2d, 1, tg_dropout2d(NULL, 0.5, true, &fx.rng), "dropout2d: argument 1 is NULL");
  N_OK(tg_dropout2d, 4, assert_non_null(tg_dropout2d(x, 0.5, true, NULL))); /* the default generator */
  {
    tg_tensor *x3 = tg_requires_grad_(tg_randn(&fx.rng, TG_FLOAT64, TG_SHAPE(2, 3, 4)), true);
    tg_tensor *rm = tg_zeros(TG_FLOAT64, TG_SHAPE(3)), *rv = tg_ones(TG_FLOAT64, TG_SHAPE(3));
    tg_tensor *gw = tg_ones(TG_FLOAT64, TG_SHAPE(3)), *gb = tg_zeros(TG_FLOAT64, TG_SHAPE(3));
    N_PTR(tg_instance_norm, 1, tg_instance_norm(NULL, rm, rv, gw, gb, true, 0.1, 1e-5),
          "instance_norm: argument 1 is NULL");
    /* running stats NULL: input statistics only; NULL with use_input_stats false is an error */
    N_OK(tg_instance_norm, 2, assert_non_null(tg_instance_norm(x3, NULL, rv, gw, gb, true, 0.1, 1e-5)));
    N_OK(tg_instance_norm, 3, assert_non_null(tg_instance_norm(x3, rm, NULL, gw, gb, true, 0.1, 1e-5)));
    N_PTR(tg_instance_norm, 2, tg_instance_norm(x3, NULL, rv, gw, gb, false, 0.1, 1e-5), "instance_norm", "running");
    N_PTR(tg_instance_norm, 3, tg_instance_norm(x3, rm, NULL, gw, gb, false, 0.1, 1e-5), "instance_norm", "running");
    /* weight / bias NULL: no affine; each instance then has mean 0 */
    N_OK(tg_instance_norm, 4, assert_close(tg_item(tg_sum(tg_instance_norm(x3, NULL, NULL, NULL, gb, true, 0.1, 1e-5))), 0, 1e-9));
    N_OK(tg_instance_norm, 5, assert_close(tg_item(tg_sum(tg_instance_norm(x3, NULL, NULL, gw, NULL, true, 0.1, 1e-5))), 0, 1e-9));
    N_PTR(tg_group_norm, 1, tg_group_norm(NULL, 3, gw, gb, 1e-5), "group_norm: argument 1 is NULL");
    N_OK(tg_group_norm, 3, assert_close(tg_item(tg_sum(tg_group_norm(x3, 3, NULL, gb, 1e-5))), 0, 1e-9));
    N_OK(tg_group_norm, 4, assert_close(tg_item(tg_sum(tg_group_norm(x3, 3, gw, NULL, 1e-5))), 0, 1e-9));
    tg_tensor *lw = tg_ones(TG_FLOAT64, TG_SHAPE(4)), *lb = tg_zeros(TG_FLOAT64, TG_SHAPE(4));
    N_PTR(tg_layer_norm, 1, tg_layer_norm(NULL, TG_SHAPE(4), lw, lb, 1e-5), "layer_norm: argument 1 is NULL");
    N_PTR(tg_layer_norm, 3, tg_layer_norm(x3, 1, NULL, lw, lb, 1e-5), "layer_norm", "shape is NULL");
    N_OK(tg_layer_norm, 4, assert_close(tg_item(tg_sum(tg_layer_norm(x3, TG_SHAPE(4), NULL, lb, 1e-5))), 0, 1e-9));
    N_OK(tg_layer_norm, 5, assert_close(tg_item(tg_sum(tg_layer_norm(x3, TG_SHAPE(4), lw, NULL, 1e-5))), 0, 1e-9));
    N_PTR(tg_rms_norm, 1, tg_rms_norm(NULL, TG_SHAPE(4), lw, NAN), "rms_norm: argument 1 is NULL");
    N_PTR(tg_rms_norm, 3, tg_rms_norm(x3, 1, NULL, lw, NAN), "rms_norm", "shape is NULL");
    N_OK(tg_rms_norm, 4, assert_non_null(tg_rms_norm(x3, TG_SHAPE(4), NULL, NAN)));
  }
  N_INT(tg_init_fans, 1, tg_init_fans(NULL, &fan_in, &fan_out), "init_fans: argument 1 is NULL");
  /* either fan may be unwanted */
  N_OK(tg_init_fans, 2, assert_int_equal(tg_init_fans(x, NULL, &fan_out), 0); assert_int_equal(fan_out, 2));
  N_OK(tg_init_fans, 3, assert_int_equal(tg_init_fans(x, &fan_in, NULL), 0); assert_int_equal(fan_in, 3));
  {
    tg_tensor *t = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3));
#define INIT(fn, name, ...)                                                    \
  N_PTR(fn, 1, fn(NULL __VA_ARGS__), name ": argument 1 is NULL")
    INIT(tg_init_uniform_, "init_uniform_", , &fx.rng, 0, 1);
    INIT(tg_init_normal_, "init_normal_", , &fx.rng, 0, 1);
    INIT(tg_init_constant_, "init_constant_", , 1.0);
    INIT(tg_init_zeros_, "init_zeros_");
    INIT(tg_init_ones_, "init_ones_");
    INIT(tg_init_xavier_uniform_, "init_xavier_uniform_", , &fx.rng, 1.0);
    INIT(tg_init_xavier_normal_, "init_xavier_normal_", , &fx.rng, 1.0);
    INIT(tg_init_kaiming_uniform_, "init_kaiming_uniform_", , &fx.rng, 0, TG_FAN_IN, TG_NL_RELU);
    INIT(tg_init_kaiming_normal_, "init_kaiming_normal_", , &fx.rng, 0, TG_FAN_IN, TG_NL_RELU);
#undef INIT
    N_OK(tg_init_uniform_, 2, assert_ptr_equal(tg_init_uniform_(t, NULL, 0, 1), t));
    N_OK(tg_init_normal_, 2, assert_ptr_equal(tg_init_normal_(t, NULL, 0, 1), t));
    N_OK(tg_init_xavier_uniform_, 2, assert_ptr_equal(tg_init_xavier_uniform_(t, NULL, 1), t));
    N_OK(tg_init_xavier_normal_, 2, assert_ptr_equal(tg_init_xavier_normal_(t, NULL, 1), t));
    N_OK(tg_init_kaiming_uniform_, 2, assert_ptr_equal(tg_init_kaiming_uniform_(t, NULL, 0, TG_FAN_IN, TG_NL_RELU), t));
    N_OK(tg_init_kaiming_normal_, 2, assert_ptr_equal(tg_init_kaiming_normal_(t, NULL, 0, TG_FAN_IN, TG_NL_RELU), t));
  }
#define LOSS(fn, name, a1, a2)                                                 \
  N_PTR(fn, 1, fn(NULL, a2, TG_REDUCTION_MEAN), name ": argument 1 is NULL");  \
  N_PTR(fn, 2, fn(a1, NULL, TG_REDUCTION_MEAN), name ": argument 2 is NULL")
  LOSS(tg_cross_entropy, "cross_entropy", x, tgt);
  LOSS(tg_nll_loss, "nll_loss", x, tgt);
  LOSS(tg_binary_cross_entropy, "binary_cross_entropy", p, p);
  LOSS(tg_bce_with_logits, "bce_with_logits", x, p);
  LOSS(tg_mse_loss, "mse_loss", x, p);
  LOSS(tg_gaussian_kl, "gaussian_kl", x, p);
  LOSS(tg_l1_loss, "l1_loss", x, p);
#undef LOSS
#define LOSS_P(fn, name, a1, a2, ...)                                          \
  N_PTR(fn, 1, fn(NULL, a2, __VA_ARGS__), name ": argument 1 is NULL");        \
  N_PTR(fn, 2, fn(a1, NULL, __VA_ARGS__), name ": argument 2 is NULL")
  LOSS_P(tg_smooth_l1_loss, "smooth_l1_loss", x, p, TG_REDUCTION_MEAN, 1.0);
  LOSS_P(tg_huber_loss, "huber_loss", x, p, TG_REDUCTION_MEAN, 1.0);
  LOSS_P(tg_kl_div, "kl_div", x, p, TG_REDUCTION_MEAN, false);
  LOSS_P(tg_poisson_nll_loss, "poisson_nll_loss", x, p, true, false, 1e-8, TG_REDUCTION_MEAN);
  LOSS_P(tg_cosine_similarity, "cosine_similarity", x, p, 1, 1e-8);
#undef LOSS_P
#define LOSS3(fn, name, a1, a2, a3)                                            \
  N_PTR(fn, 1, fn(NULL, a2, a3, 0, TG_REDUCTION_MEAN), name ": argument 1 is NULL"); \
  N_PTR(fn, 2, fn(a1, NULL, a3, 0, TG_REDUCTION_MEAN), name ": argument 2 is NULL"); \
  N_PTR(fn, 3, fn(a1, a2, NULL, 0, TG_REDUCTION_MEAN), name ": argument 3 is NULL")
  LOSS3(tg_margin_ranking_loss, "margin_ranking_loss", x, x, x);
  LOSS3(tg_cosine_embedding_loss, "cosine_embedding_loss", x, x, x);
#undef LOSS3
  tg_class_loss_opts o = tg_class_loss_defaults();
  N_PTR(tg_cross_entropy_with, 1, tg_cross_entropy_with(NULL, tgt, o), "cross_entropy: argument 1 is NULL");
  N_PTR(tg_cross_entropy_with, 2, tg_cross_entropy_with(x, NULL, o), "cross_entropy: argument 2 is NULL");
  N_PTR(tg_nll_loss_with, 1, tg_nll_loss_with(NULL, tgt, o), "nll_loss: argument 1 is NULL");
  N_PTR(tg_nll_loss_with, 2, tg_nll_loss_with(x, NULL, o), "nll_loss: argument 2 is NULL");
}

/* ---------------------------------------------------------------- optim */
static double lr_half(long epoch, void *ctx) {
  (void)epoch, (void)ctx;
  return 0.5;
}

/* a closure with no gradients: L-BFGS stops at its first evaluation */
static double zero_loss(void *ctx) {
  (void)ctx;
  return 0.0;
}

static void test_null_optim_api(void **state) {
  (void)state;
  tg_tensor *nul2[2] = {fx.params[0], NULL};
  tg_optimizer *opt = fx.opt;
  const char *name = "x";
  N_PTR(tg_sgd_new, 1, tg_sgd_new(NULL, 1, tg_sgd_defaults()), "sgd: params is NULL");
  N_PTR(tg_sgd_new, 1, tg_sgd_new(nul2, 2, tg_sgd_defaults()), "sgd", "NULL");
  N_PTR(tg_adam_new, 1, tg_adam_new(NULL, 1, tg_adam_defaults()), "adam", "NULL");
  N_PTR(tg_adam_new, 1, tg_adam_new(nul2, 2, tg_adam_defaults()), "adam", "NULL");
  N_PTR(tg_adamw_new, 1, tg_adamw_new(NULL, 1, tg_adamw_defaults()), "adamw", "NULL");
  N_PTR(tg_adamw_new, 1, tg_adamw_new(nul2, 2, tg_adamw_defaults()), "adamw", "NULL");
  N_PTR(tg_rmsprop_new, 1, tg_rmsprop_new(NULL, 1, tg_rmsprop_defaults()), "rmsprop", "NULL");
  N_PTR(tg_rmsprop_new, 1, tg_rmsprop_new(nul2, 2, tg_rmsprop_defaults()), "rmsprop", "NULL");
  N_PTR(tg_adagrad_new, 1, tg_adagrad_new(NULL, 1, tg_adagrad_defaults()), "adagrad", "NULL");
  N_PTR(tg_adagrad_new, 1, tg_adagrad_new(nul2, 2, tg_adagrad_defaults()), "adagrad", "NULL");
  N_PTR(tg_adamax_new, 1, tg_adamax_new(NULL, 1, tg_adamax_defaults()), "adamax", "NULL");
  N_PTR(tg_adamax_new, 1, tg_adamax_new(nul2, 2, tg_adamax_defaults()), "adamax", "NULL");
  N_PTR(tg_adadelta_new, 1, tg_adadelta_new(NULL, 1, tg_adadelta_defaults()), "adadelta", "NULL");
  N_PTR(tg_adadelta_new, 1, tg_adadelta_new(nul2, 2, tg_adadelta_defaults()), "adadelta", "NULL");
  N_PTR(tg_nadam_new, 1, tg_nadam_new(NULL, 1, tg_nadam_defaults()), "nadam", "NULL");
  N_PTR(tg_nadam_new, 1, tg_nadam_new(nul2, 2, tg_nadam_defaults()), "nadam", "NULL");
  N_PTR(tg_radam_new, 1, tg_radam_new(NULL, 1, tg_radam_defaults()), "radam", "NULL");
  N_PTR(tg_radam_new, 1, tg_radam_new(nul2, 2, tg_radam_defaults()), "radam", "NULL");
  N_PTR(tg_lbfgs_new, 1, tg_lbfgs_new(NULL, 1, tg_lbfgs_defaults()), "lbfgs: params is NULL");
  N_PTR(tg_lbfgs_new, 1, tg_lbfgs_new(nul2, 2, tg_lbfgs_defaults()), "lbfgs", "NULL");
  {
    /* a parameter of its own, without .grad: the fixture's are left alone */
    tg_tensor *w = tg_requires_grad_(tg_keep(tg_zeros(TG_FLOAT64, 1, (size_t[]){3})), true);
    tg_optimizer *lb = tg_lbfgs_new(&w, 1, tg_lbfgs_defaults());
    assert_non_null(lb);
    N_NAN(tg_lbfgs_step, 1, tg_lbfgs_step(NULL, zero_loss, NULL), "lbfgs_step", "optimizer is NULL");
    N_NAN(tg_lbfgs_step, 2, tg_lbfgs_step(lb, NULL, NULL), "lbfgs_step", "closure is NULL");
    N_OK(tg_lbfgs_step, 3, assert_close(tg_lbfgs_step(lb, zero_loss, NULL), 0, 0)); /* ctx is the closure's */
    tg_optim_free(lb);
    tg_free(w);
  }
  {
    /* each adder on an optimizer of its own kind, so that NULL params is what fails */
    int np = (int)fx.n_params;
    tg_tensor *nul1[1] = {NULL};
    tg_optimizer *o[8] = {
        tg_sgd_new(fx.params, np, tg_sgd_defaults()),         tg_adamw_new(fx.params, np, tg_adamw_defaults()),
        tg_rmsprop_new(fx.params, np, tg_rmsprop_defaults()), tg_adagrad_new(fx.params, np, tg_adagrad_defaults()),
        tg_adamax_new(fx.params, np, tg_adamax_defaults()),   tg_adadelta_new(fx.params, np, tg_adadelta_defaults()),
        tg_nadam_new(fx.params, np, tg_nadam_defaults()),     tg_radam_new(fx.params, np, tg_radam_defaults())};
    for (int k = 0; k < 8; k++) assert_non_null(o[k]);
#define ADDER_ROWS(fn, k, defaults, op)                                                       \
  N_INT(fn, 1, fn(NULL, fx.params, np, defaults), op, "optimizer is NULL");                    \
  N_INT(fn, 2, fn(o[k], NULL, 1, defaults), op, "params is NULL");                             \
  N_INT(fn, 2, fn(o[k], nul1, 1, defaults), op, "params[0] is NULL");                          \
  N_INT(fn, 1, fn(o[k], fx.params, np, defaults), op, "more than one parameter group");        \
  N_OK(fn, 2, assert_int_equal(fn(o[k], NULL, 0, defaults), 0)) /* an empty group, as torch */
    ADDER_ROWS(tg_sgd_add_param_group, 0, tg_sgd_defaults(), "sgd_add_param_group");
    ADDER_ROWS(tg_adam_add_param_group, 1, tg_adamw_defaults(), "adam_add_param_group");
    ADDER_ROWS(tg_rmsprop_add_param_group, 2, tg_rmsprop_defaults(), "rmsprop_add_param_group");
    ADDER_ROWS(tg_adagrad_add_param_group, 3, tg_adagrad_defaults(), "adagrad_add_param_group");
    ADDER_ROWS(tg_adamax_add_param_group, 4, tg_adamax_defaults(), "adamax_add_param_group");
    ADDER_ROWS(tg_adadelta_add_param_group, 5, tg_adadelta_defaults(), "adadelta_add_param_group");
    ADDER_ROWS(tg_nadam_add_param_group, 6, tg_nadam_defaults(), "nadam_add_param_group");
    ADDER_ROWS(tg_radam_add_param_group, 7, tg_radam_defaults(), "radam_add_param_group");
#undef ADDER_ROWS
    N_INT(tg_adam_add_param_group, 1, tg_adam_add_param_group(o[0], NULL, 0, tg_adam_defaults()),
          "adam_add_param_group", "SGD", "tg_sgd_opts", "not tg_adam_opts");
    for (int k = 0; k < 8; k++) {
      assert_int_equal(tg_optim_num_groups(o[k]), 2);
      tg_optim_free(o[k]);
    }
  }
  N_INT(tg_optim_num_groups, 1, tg_optim_num_groups(NULL), "optim_num_groups", "NULL");
  N_INT(tg_optim_group_num_params, 1, tg_optim_group_num_params(NULL, 0), "optim_group_num_params", "NULL");
  N_INT(tg_optim_group_num_params, 1, tg_optim_group_num_params(opt, 1), "group 1 out of range for 1");
  N_INT(tg_optim_group_num_params, 1, tg_optim_group_num_params(opt, -1), "group -1 out of range");
  N_NAN(tg_optim_get_group_lr, 1, tg_optim_get_group_lr(NULL, 0), "optim_get_group_lr", "NULL");
  N_NAN(tg_optim_get_group_lr, 1, tg_optim_get_group_lr(opt, 1), "optim_get_group_lr", "out of range");
  N_INT(tg_optim_set_group_lr, 1, tg_optim_set_group_lr(NULL, 0, 0.1), "optim_set_group_lr", "NULL");
  N_INT(tg_optim_set_group_lr, 1, tg_optim_set_group_lr(opt, 2, 0.1), "optim_set_group_lr", "out of range");
  N_INT(tg_optim_set_group_lr, 1, tg_optim_set_group_lr(opt, 0, -1), "optim_set_group_lr", "must be >= 0");
  N_NAN(tg_optim_get_group_weight_decay, 1, tg_optim_get_group_weight_decay(NULL, 0), "optim_get_group_weight_decay", "NULL");
  N_NAN(tg_optim_get_group_weight_decay, 1, tg_optim_get_group_weight_decay(opt, 1), "out of range");
  N_INT(tg_optim_set_group_weight_decay, 1, tg_optim_set_group_weight_decay(NULL, 0, 0), "optim_set_group_weight_decay", "NULL");
  N_INT(tg_optim_set_group_weight_decay, 1, tg_optim_set_group_weight_decay(opt, 0, NAN), "weight_decay", "must be >= 0");
  N_INT(tg_optim_step, 1, tg_optim_step(NULL), "step", "NULL");
  N_INT(tg_optim_zero_grad, 1, tg_optim_zero_grad(NULL), "zero_grad", "NULL");
  N_NAN(tg_optim_get_lr, 1, tg_optim_get_lr(NULL), "get_lr", "NULL");
  N_INT(tg_optim_set_lr, 1, tg_optim_set_lr(NULL, 0.1), "set_lr", "NULL");
  N_PTR(tg_optim_name, 1, tg_optim_name(NULL), "optim_name", "NULL");
  N_INT(tg_optim_num_params, 1, tg_optim_num_params(NULL), "optim_num_params", "NULL");
  N_OK(tg_optim_free, 1, tg_optim_free(NULL));
  N_VAL(tg_optim_state_count, 1, (size_t)0, tg_optim_state_count(NULL), "state_count", "NULL");
  N_PTR(tg_optim_state_at, 1, tg_optim_state_at(NULL, 0, &name), "state_at", "NULL");
  N_OK(tg_optim_state_at, 3, assert_non_null(tg_optim_state_at(opt, 0, NULL))); /* name unwanted */
  N_PTR(tg_optim_state_find, 1, tg_optim_state_find(NULL, "0.step"), "state_find", "NULL");
  N_PTR(tg_optim_state_find, 2, tg_optim_state_find(opt, NULL), "state_find", "NULL");
  {
    tg_tensor *zero = tg_zeros(TG_FLOAT64, 0, NULL);
    N_INT(tg_optim_state_load, 1, tg_optim_state_load(NULL, "0.step", zero), "state_load", "NULL");
    N_INT(tg_optim_state_load, 2, tg_optim_state_load(opt, NULL, zero), "state_load", "NULL");
    N_INT(tg_optim_state_load, 3, tg_optim_state_load(opt, "0.step", NULL), "state_load", "NULL");
  }
  N_VAL(tg_clip_grad_norm, 1, -1.0, tg_clip_grad_norm(NULL, 2, 1.0, 2.0), "clip_grad_norm", "NULL");
  N_VAL(tg_clip_grad_norm, 1, -1.0, tg_clip_grad_norm(nul2, 2, 1.0, 2.0), "clip_grad_norm", "NULL");
  N_OK(tg_clip_grad_norm, 1, assert_close(tg_clip_grad_norm(NULL, 0, 1.0, 2.0), 0, 0)); /* no parameters */
  N_INT(tg_clip_grad_value, 1, tg_clip_grad_value(NULL, 2, 1.0), "clip_grad_value", "NULL");
  N_INT(tg_clip_grad_value, 1, tg_clip_grad_value(nul2, 2, 1.0), "clip_grad_value", "NULL");
  N_PTR(tg_step_lr_new, 1, tg_step_lr_new(NULL, 1, 0.5), "step_lr", "NULL");
  N_PTR(tg_exponential_lr_new, 1, tg_exponential_lr_new(NULL, 0.5), "exponential_lr", "NULL");
  N_PTR(tg_cosine_annealing_lr_new, 1, tg_cosine_annealing_lr_new(NULL, 10, 0), "cosine_annealing_lr", "NULL");
  N_INT(tg_scheduler_step, 1, tg_scheduler_step(NULL), "scheduler_step", "NULL");
  N_INT(tg_scheduler_set_epoch, 1, tg_scheduler_set_epoch(NULL, 1), "scheduler_set_epoch", "NULL");
  N_VAL(tg_scheduler_get_epoch, 1, -1L, tg_scheduler_get_epoch(NULL), "scheduler_get_epoch", "NULL");
  N_NAN(tg_scheduler_lr_at, 1, tg_scheduler_lr_at(NULL, 1), "scheduler_lr_at", "NULL");
  N_OK(tg_scheduler_free, 1, tg_scheduler_free(NULL));
  N_NAN(tg_optim_get_group_momentum, 1, tg_optim_get_group_momentum(NULL, 0), "optim_get_group_momentum", "NULL");
  N_INT(tg_optim_set_group_momentum, 1, tg_optim_set_group_momentum(NULL, 0, 0.9), "optim_set_group_momentum", "NULL");
  N_PTR(tg_linear_lr_new, 1, tg_linear_lr_new(NULL, 0.5, 1, 5), "linear_lr", "NULL");
  N_PTR(tg_multi_step_lr_new, 1, tg_multi_step_lr_new(NULL, (long[]){2}, 1, 0.1), "multi_step_lr", "NULL");
  N_PTR(tg_multi_step_lr_new, 2, tg_multi_step_lr_new(opt, NULL, 2, 0.1), "multi_step_lr", "milestones is NULL");
  N_OK(tg_multi_step_lr_new, 2, { /* no milestones: a constant lr */
    tg_lr_scheduler *s = tg_multi_step_lr_new(opt, NULL, 0, 0.1);
    assert_non_null(s);
    tg_scheduler_free(s);
  });
  N_PTR(tg_constant_lr_new, 1, tg_constant_lr_new(NULL, 0.5, 5), "constant_lr", "NULL");
  N_PTR(tg_lambda_lr_new, 1, tg_lambda_lr_new(NULL, lr_half, NULL), "lambda_lr", "NULL");
  N_PTR(tg_lambda_lr_new, 2, tg_lambda_lr_new(opt, NULL, NULL), "lambda_lr", "lr_lambda is NULL");
  N_OK(tg_lambda_lr_new, 3, { /* ctx is the caller's business */
    tg_lr_scheduler *s = tg_lambda_lr_new(opt, lr_half, NULL);
    assert_non_null(s);
    tg_scheduler_free(s);
  });
  {
    tg_one_cycle_opts oc = tg_one_cycle_defaults();
    oc.max_lr = 0.1, oc.total_steps = 10;
    N_PTR(tg_one_cycle_lr_new, 1, tg_one_cycle_lr_new(NULL, oc), "one_cycle_lr", "NULL");
  }
  N_PTR(tg_reduce_lr_on_plateau_new, 1, tg_reduce_lr_on_plateau_new(NULL, tg_plateau_defaults()),
        "reduce_lr_on_plateau", "NULL");
  N_INT(tg_reduce_lr_on_plateau_step, 1, tg_reduce_lr_on_plateau_step(NULL, 1.0),
        "reduce_lr_on_plateau_step", "NULL");
  {
    tg_plateau_state st;
    tg_lr_scheduler *pl = tg_reduce_lr_on_plateau_new(opt, tg_plateau_defaults());
    assert_non_null(pl);
    N_INT(tg_reduce_lr_on_plateau_state, 1, tg_reduce_lr_on_plateau_state(NULL, &st),
          "reduce_lr_on_plateau_state", "NULL");
    N_INT(tg_reduce_lr_on_plateau_state, 2, tg_reduce_lr_on_plateau_state(pl, NULL),
          "reduce_lr_on_plateau_state", "out is NULL");
    N_INT(tg_reduce_lr_on_plateau_set_state, 1, tg_reduce_lr_on_plateau_set_state(NULL, &st, 0),
          "reduce_lr_on_plateau_set_state", "NULL");
    N_INT(tg_reduce_lr_on_plateau_set_state, 2, tg_reduce_lr_on_plateau_set_state(pl, NULL, 0),
          "reduce_lr_on_plateau_set_state", "state is NULL");
    tg_scheduler_free(pl);
    tg_lr_scheduler *a = tg_exponential_lr_new(opt, 0.5);
    assert_non_null(a);
    N_PTR(tg_sequential_lr_new, 1, tg_sequential_lr_new(NULL, &a, 1, NULL, 0), "sequential_lr", "optimizer is NULL");
    N_PTR(tg_sequential_lr_new, 2, tg_sequential_lr_new(opt, NULL, 1, NULL, 0), "sequential_lr", "schedulers is NULL");
    N_PTR(tg_sequential_lr_new, 2, tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){NULL}, 1, NULL, 0),
          "sequential_lr", "schedulers[0] is NULL");
    N_PTR(tg_sequential_lr_new, 4, tg_sequential_lr_new(opt, (tg_lr_scheduler *[]){a, a}, 2, NULL, 1),
          "sequential_lr", "milestones is NULL");
    N_OK(tg_sequential_lr_new, 4, { /* one scheduler, no milestones */
      tg_lr_scheduler *s = tg_sequential_lr_new(opt, &a, 1, NULL, 0);
      assert_non_null(s);
      tg_scheduler_free(s); /* frees a with it */
    });
    assert_int_equal(tg_scheduler_set_epoch(fx.sched, 0), 0); /* fx.opt's lr as it was */
  }
}

/* ----------------------------------------------------------------- data */
static void test_null_data_api(void **state) {
  (void)state;
  tg_dataset *ds = fx.ds, *out = NULL;
  float xs[3], mean[1], std[1], pix[12] = {0};
  int64_t y = -1;
  uint8_t bytes[4] = {0, 51, 102, 255};
  N_INT(tg_dataset_error, 1, tg_dataset_error(NULL), "dataset_error", "NULL");
  N_INT(tg_dataset_get, 1, tg_dataset_get(NULL, 0, xs, &y), "dataset_get", "NULL");
  N_INT(tg_dataset_get, 3, tg_dataset_get(ds, 0, NULL, &y), "dataset_get", "NULL");
  N_OK(tg_dataset_get, 4, assert_int_equal(tg_dataset_get(ds, 1, xs, NULL), 0); /* label unwanted */
       assert_close(xs[0], 3, 0));
  N_PTR(tg_dataset_tensor, 1, tg_dataset_tensor(NULL, 0, &y), "dataset_tensor", "NULL");
  N_OK(tg_dataset_tensor, 3, assert_close(tg_get_flat(tg_dataset_tensor(ds, 1, NULL), 2), 5, 0));
  N_OK(tg_dataset_free, 1, tg_dataset_free(NULL));
  N_PTR(tg_dataset_from_bytes, 3, tg_dataset_from_bytes(1, 1, NULL, bytes, NULL), "dataset_from_bytes", "NULL");
  N_PTR(tg_dataset_from_bytes, 4, tg_dataset_from_bytes(1, TG_SHAPE(4), NULL, NULL), "dataset_from_bytes", "NULL");
  N_OK(tg_dataset_from_bytes, 5, {
    tg_dataset *d = tg_dataset_from_bytes(1, TG_SHAPE(4), bytes, NULL); /* unlabelled */
    assert_non_null(d);
    assert_false(d->has_labels);
    tg_dataset_free(d);
  });
  N_PTR(tg_dataset_from_floats, 3, tg_dataset_from_floats(1, 1, NULL, pix, NULL), "dataset_from_floats", "NULL");
  N_PTR(tg_dataset_from_floats, 4, tg_dataset_from_floats(1, TG_SHAPE(4), NULL, NULL), "dataset_from_floats", "NULL");
  N_OK(tg_dataset_from_floats, 5, {
    tg_dataset *d = tg_dataset_from_floats(1, TG_SHAPE(4), pix, NULL);
    assert_non_null(d);
    assert_false(d->has_labels);
    tg_dataset_free(d);
  });
  N_INT(tg_dataset_set_transform, 1, tg_dataset_set_transform(NULL, &(tg_transform){0}), "set_transform", "NULL");
  N_OK(tg_dataset_set_transform, 2, assert_int_equal(tg_dataset_set_transform(ds, NULL), 0)); /* removes it */
  N_INT(tg_dataset_channel_stats, 1, tg_dataset_channel_stats(NULL, mean, std), "channel_stats", "NULL");
  N_INT(tg_dataset_channel_stats, 2, tg_dataset_channel_stats(ds, NULL, std), "channel_stats", "NULL");
  N_INT(tg_dataset_channel_stats, 3, tg_dataset_channel_stats(ds, mean, NULL), "channel_stats", "NULL");
  /* the transforms on raw buffers: void, so the error is the only report */
  N_VOID(tg_tf_bytes_to_floats, 1, tg_tf_bytes_to_floats(NULL, 4, true, pix), "tf_bytes_to_floats", "NULL");
  N_VOID(tg_tf_bytes_to_floats, 4, tg_tf_bytes_to_floats(bytes, 4, true, NULL), "tf_bytes_to_floats", "NULL");
  N_VOID(tg_tf_grayscale, 1, tg_tf_grayscale(NULL, 2, 2, pix), "tf_grayscale", "NULL");
  N_VOID(tg_tf_grayscale, 4, tg_tf_grayscale(pix, 2, 2, NULL), "tf_grayscale", "NULL");
  N_VOID(tg_tf_resize, 1, tg_tf_resize(NULL, 1, 2, 2, pix, 1, 1, TG_RESIZE_NEAREST), "tf_resize", "NULL");
  N_VOID(tg_tf_resize, 5, tg_tf_resize(pix, 1, 2, 2, NULL, 1, 1, TG_RESIZE_NEAREST), "tf_resize", "NULL");
  N_INT(tg_tf_pad, 1, tg_tf_pad(NULL, 1, 1, 1, pix, 2, 2), "tf_pad", "NULL");
  N_INT(tg_tf_pad, 5, tg_tf_pad(pix, 1, 1, 1, NULL, 2, 2), "tf_pad", "NULL");
  N_VOID(tg_tf_normalize, 1, tg_tf_normalize(NULL, 1, 2, (float[]){0}, (float[]){1}, 1), "tf_normalize", "NULL");
  N_VOID(tg_tf_normalize, 4, tg_tf_normalize(pix, 1, 2, NULL, (float[]){1}, 1), "tf_normalize", "NULL");
  N_VOID(tg_tf_normalize, 5, tg_tf_normalize(pix, 1, 2, (float[]){0}, NULL, 1), "tf_normalize", "NULL");
  {
    tg_tensor *bx = NULL, *by = NULL;
    N_PTR(tg_loader_new, 1, tg_loader_new(NULL, 2, false, false, 0), "loader_new", "NULL");
    N_PTR(tg_loader_new_workers, 1, tg_loader_new_workers(NULL, 2, false, false, 0, 1), "loader_new",
          "NULL");
    N_PTR(tg_loader_new_sampler, 1,
          tg_loader_new_sampler(NULL, 2, false, (tg_sampler){1, tg_dist_sampler_fill, NULL}, 0),
          "loader_new", "NULL");
    assert_null(tg_loader_new_sampler(fx.ds, 2, false, (tg_sampler){1, NULL, NULL}, 0));
    assert_error_has("loader_new_sampler", "no fill function");
    /* bad worker counts: NULL, as torch raises for a negative num_workers */
    assert_null(tg_loader_new_workers(fx.ds, 2, false, false, 0, -1));
    assert_error_has("loader_new", "num_workers is -1");
    assert_null(tg_loader_new_workers(fx.ds, 2, false, false, 0, 1000));
    assert_error_has("loader_new", "num_workers is 1000");
    N_VAL(tg_loader_next, 1, false, tg_loader_next(NULL, &bx, &by), "loader_next", "NULL");
    /* x or y NULL: that tensor is unwanted; the loader still advances */
    N_OK(tg_loader_next, 2, {
      assert_true(tg_loader_next(fx.loader, NULL, &by));
      assert_int_equal(tg_get_flat(by, 0), 0); /* labels of samples 0 and 1 */
      assert_int_equal(tg_get_flat(by, 1), 1);
    });
    N_OK(tg_loader_next, 3, {
      assert_true(tg_loader_next(fx.loader, &bx, NULL));
      assert_close(tg_get_flat(bx, 0), 6, 0); /* the second batch starts at sample 2 */
    });
    tg_loader_reset(fx.loader);
  }
  N_VOID(tg_loader_reset, 1, tg_loader_reset(NULL), "loader_reset", "NULL");
  N_VAL(tg_loader_num_batches, 1, (size_t)0, tg_loader_num_batches(NULL), "loader_num_batches", "NULL");
  N_VAL(tg_loader_epoch, 1, (size_t)0, tg_loader_epoch(NULL), "loader_epoch", "NULL");
  N_VAL(tg_loader_failed, 1, true, tg_loader_failed(NULL), "loader_failed", "NULL");
  N_OK(tg_loader_free, 1, tg_loader_free(NULL));
  {
    tg_loader_state ls;
    N_INT(tg_loader_get_state, 1, tg_loader_get_state(NULL, &ls), "loader_get_state", "NULL");
    N_INT(tg_loader_get_state, 2, tg_loader_get_state(fx.loader, NULL), "loader_get_state", "out is NULL");
    assert_int_equal(tg_loader_get_state(fx.loader, &ls), 0);
    N_INT(tg_loader_set_state, 1, tg_loader_set_state(NULL, &ls), "loader_set_state", "NULL");
    N_INT(tg_loader_set_state, 2, tg_loader_set_state(fx.loader, NULL), "loader_set_state", "state is NULL");
  }
  N_INT(tg_idx_load, 1, tg_idx_load(NULL, fx.idx_lbl, &out), "idx", "NULL");
  N_INT(tg_idx_load, 2, tg_idx_load(fx.idx_img, NULL, &out), "idx", "NULL");
  N_INT(tg_idx_load, 3, tg_idx_load(fx.idx_img, fx.idx_lbl, NULL), "idx", "NULL");
  /* dir NULL is TG_FASHION_MNIST_DIR: loads it, or names it when absent */
  N_OK(tg_mnist_load, 1, {
    if (tg_mnist_load(NULL, false, &out) == 0) {
      assert_int_equal(out->length, 10000);
      tg_dataset_free(out);
      out = NULL;
    } else {
      assert_error_has(TG_FASHION_MNIST_DIR);
      tg_clear_error();
    }
  });
  N_INT(tg_mnist_load, 3, tg_mnist_load(fx.dir, true, NULL), "mnist", "NULL");
  {
    const char *paths[1] = {fx.cifar}, *nul[1] = {NULL};
    N_INT(tg_cifar10_load, 2, tg_cifar10_load(1, NULL, &out), "cifar10", "NULL");
    N_INT(tg_cifar10_load, 2, tg_cifar10_load(1, nul, &out), "cifar10", "NULL");
    N_INT(tg_cifar10_load, 3, tg_cifar10_load(1, paths, NULL), "cifar10", "NULL");
  }
  N_INT(tg_cifar10_load_dir, 1, tg_cifar10_load_dir(NULL, true, &out), "cifar10", "NULL");
  N_INT(tg_cifar10_load_dir, 3, tg_cifar10_load_dir(fx.dir, true, NULL), "cifar10", "NULL");
  N_INT(tg_csv_load, 1, tg_csv_load(NULL, NULL, &out), "csv", "NULL");
  N_OK(tg_csv_load, 2, {
    assert_int_equal(tg_csv_load(fx.csv_path, NULL, &out), 0); /* defaults */
    assert_int_equal(out->length, 2);
    tg_dataset_free(out);
    out = NULL;
  });
  N_INT(tg_csv_load, 3, tg_csv_load(fx.csv_path, NULL, NULL), "csv", "NULL");
  {
    const char *names[1] = {"w"}, *nul_name[1] = {NULL};
    tg_tensor *ts[1] = {fx.w}, *nul_t[1] = {NULL};
    char path[400];
    snprintf(path, sizeof path, "%s/s.safetensors", fx.dir);
    N_INT(tg_save_safetensors, 1, tg_save_safetensors(NULL, 1, names, ts, NULL, 0), "save_safetensors", "NULL");
    N_INT(tg_save_safetensors, 3, tg_save_safetensors(path, 1, NULL, ts, NULL, 0), "save_safetensors", "NULL");
    N_INT(tg_save_safetensors, 3, tg_save_safetensors(path, 1, nul_name, ts, NULL, 0), "save_safetensors", "NULL");
    N_INT(tg_save_safetensors, 4, tg_save_safetensors(path, 1, names, NULL, NULL, 0), "save_safetensors", "NULL");
    N_INT(tg_save_safetensors, 4, tg_save_safetensors(path, 1, names, nul_t, NULL, 0), "save_safetensors", "NULL");
    N_INT(tg_save_safetensors, 5, tg_save_safetensors(path, 1, names, ts, NULL, 2), "save_safetensors", "NULL");
    N_OK(tg_save_safetensors, 5, assert_int_equal(tg_save_safetensors(path, 1, names, ts, NULL, 0), 0));
    remove(path);
    N_INT(tg_load_safetensors_into, 1, tg_load_safetensors_into(NULL, 1, names, ts), "load_safetensors", "NULL");
    N_INT(tg_load_safetensors_into, 3, tg_load_safetensors_into(fx.ck_path, 1, NULL, ts), "load_safetensors", "NULL");
    N_INT(tg_load_safetensors_into, 3, tg_load_safetensors_into(fx.ck_path, 1, nul_name, ts), "load_safetensors", "NULL");
    N_INT(tg_load_safetensors_into, 4, tg_load_safetensors_into(fx.ck_path, 1, names, NULL), "load_safetensors", "NULL");
    N_INT(tg_load_safetensors_into, 4, tg_load_safetensors_into(fx.ck_path, 1, names, nul_t), "load_safetensors", "NULL");
  }
  N_PTR(tg_checkpoint_read, 1, tg_checkpoint_read(NULL), "checkpoint_read", "NULL");
  N_OK(tg_checkpoint_free, 1, tg_checkpoint_free(NULL));
  N_VAL(tg_checkpoint_count, 1, (size_t)0, tg_checkpoint_count(NULL), "checkpoint_count", "NULL");
  N_PTR(tg_checkpoint_name, 1, tg_checkpoint_name(NULL, 0), "checkpoint_name", "NULL");
  N_PTR(tg_checkpoint_tensor, 1, tg_checkpoint_tensor(NULL, 0), "checkpoint_tensor", "NULL");
  N_PTR(tg_checkpoint_find, 1, tg_checkpoint_find(NULL, "w"), "checkpoint_find", "NULL");
  N_PTR(tg_checkpoint_find, 2, tg_checkpoint_find(fx.ck, NULL), "checkpoint_find", "NULL");
  N_PTR(tg_checkpoint_take, 1, tg_checkpoint_take(NULL, 0), "checkpoint_take", "NULL");
  N_VAL(tg_checkpoint_meta_count, 1, (size_t)0, tg_checkpoint_meta_count(NULL), "checkpoint_meta_count", "NULL");
  N_PTR(tg_checkpoint_meta_key, 1, tg_checkpoint_meta_key(NULL, 0), "checkpoint_meta_key", "NULL");
  N_PTR(tg_checkpoint_meta_value, 1, tg_checkpoint_meta_value(NULL, 0), "checkpoint_meta_value", "NULL");
  N_PTR(tg_checkpoint_meta_get, 1, tg_checkpoint_meta_get(NULL, "k"), "checkpoint_meta_get", "NULL");
  N_PTR(tg_checkpoint_meta_get, 2, tg_checkpoint_meta_get(fx.ck, NULL), "checkpoint_meta_get", "NULL");
  N_VAL(tg_checkpoint_verified, 1, false, tg_checkpoint_verified(NULL), "checkpoint_verified", "NULL");
  N_INT(tg_save_image_grid, 1, tg_save_image_grid(NULL, pix, 1, 2, 2, 1, 0, 0), "image_grid", "NULL");
  N_INT(tg_save_image_grid, 2, tg_save_image_grid(fx.png_path, NULL, 1, 2, 2, 1, 0, 0), "image_grid", "NULL");
  N_INT(tg_save_image_grid_tensor, 1, tg_save_image_grid_tensor(NULL, fx.w, 1, 3, 0, 0), "image_grid", "NULL");
  N_INT(tg_save_image_grid_tensor, 2, tg_save_image_grid_tensor(fx.png_path, NULL, 1, 3, 0, 0), "image_grid", "NULL");
  const char *caps[1] = {"x"};
  N_INT(tg_save_image_grid_captioned, 1, tg_save_image_grid_captioned(NULL, fx.w, caps, 0, 0, 0), "image_grid", "NULL");
  N_INT(tg_save_image_grid_captioned, 2, tg_save_image_grid_captioned(fx.png_path, NULL, caps, 0, 0, 0), "image_grid", "NULL");
  N_INT(tg_save_image_grid_captioned, 3, tg_save_image_grid_captioned(fx.png_path, fx.w, NULL, 0, 0, 0), "image_grid", "NULL");
  N_PTR(tg_metrics_open, 1, tg_metrics_open(NULL, "a"), "metrics_open", "NULL");
  N_PTR(tg_metrics_open, 2, tg_metrics_open(fx.missing, NULL), "metrics_open", "NULL");
  N_PTR(tg_metrics_open_append, 1, tg_metrics_open_append(NULL, "a"), "metrics_open_append", "NULL");
  N_PTR(tg_metrics_open_append, 2, tg_metrics_open_append(fx.missing, NULL), "metrics_open_append", "NULL");
  N_VAL(tg_metrics_ncols, 1, (size_t)0, tg_metrics_ncols(NULL), "metrics_ncols", "NULL");
  N_INT(tg_metrics_row, 1, tg_metrics_row(NULL, (const double[]){1, 2}), "metrics_row", "NULL");
  N_INT(tg_metrics_row, 2, tg_metrics_row(fx.metrics, NULL), "metrics_row", "NULL");
  N_OK(tg_metrics_close, 1, assert_int_equal(tg_metrics_close(NULL), 0));
  N_INT(tg_metrics_plot, 1, tg_metrics_plot(NULL, fx.png_path, "t"), "metrics_plot", "NULL");
  N_INT(tg_metrics_plot, 2, tg_metrics_plot(fx.metrics_path, NULL, "t"), "metrics_plot", "NULL");
  N_OK(tg_metrics_plot, 3, assert_int_equal(tg_metrics_plot(fx.csv_path, fx.png_path, NULL), 0)); /* no title */
  N_INT(tg_save_module, 1, tg_save_module(NULL, fx.lin, NULL, 0), "save_module", "NULL");
  N_INT(tg_save_module, 2, tg_save_module(fx.mod_path, NULL, NULL, 0), "save_module", "NULL");
  N_OK(tg_save_module, 3, assert_int_equal(tg_save_module(fx.mod_path, fx.lin, NULL, 0), 0));
  N_INT(tg_load_module, 1, tg_load_module(NULL, fx.lin), "load_module", "NULL");
  N_INT(tg_load_module, 2, tg_load_module(fx.mod_path, NULL), "load_module", "NULL");
  {
    tg_train_state ts = {.model = fx.lin, .opt = fx.opt};
    N_INT(tg_train_state_save, 1, tg_train_state_save(NULL, &ts), "train_state_save", "path is NULL");
    N_INT(tg_train_state_save, 2, tg_train_state_save(fx.mod_path, NULL), "train_state_save", "state is NULL");
    N_INT(tg_train_state_load, 1, tg_train_state_load(NULL, &ts), "train_state_load", "path is NULL");
    N_INT(tg_train_state_load, 2, tg_train_state_load(fx.mod_path, NULL), "train_state_load", "state is NULL");
  }
}

static void test_null_dist_api(void **state) {
  (void)state;
  /* NULL is MPI_COMM_WORLD: with MPI that starts MPI, which test_dist_mpi
   * does under mpirun; without MPI the call fails, saying so */
  RUN_CASE(tg_dist_init, 1, {
    if (!tg_dist_available()) {
      assert_int_equal(tg_dist_init(NULL), -1);
      assert_error_has("dist_init", "without MPI");
    }
  });
  N_INT(tg_dist_broadcast_, 1, tg_dist_broadcast_(NULL, 0), "dist_broadcast_", "NULL");
  N_INT(tg_dist_all_reduce_, 1, tg_dist_all_reduce_(NULL, TG_REDUCE_SUM), "dist_all_reduce_", "NULL");
  N_PTR(tg_dist_all_gather, 1, tg_dist_all_gather(NULL), "dist_all_gather", "NULL");
  N_PTR(tg_ddp_new, 1, tg_ddp_new(NULL, tg_ddp_defaults()), "ddp_new", "NULL");
  N_INT(tg_ddp_sync_grads, 1, tg_ddp_sync_grads(NULL), "ddp_sync_grads", "NULL");
  N_INT(tg_ddp_set_no_sync, 1, tg_ddp_set_no_sync(NULL, true), "ddp_set_no_sync", "NULL");
  N_VAL(tg_ddp_num_buckets, 1, 0, tg_ddp_num_buckets(NULL), "ddp_num_buckets", "NULL");
  N_VAL(tg_ddp_num_synced, 1, 0, tg_ddp_num_synced(NULL), "ddp_num_synced", "NULL");
  N_VAL(tg_ddp_bytes_per_sync, 1, 0, tg_ddp_bytes_per_sync(NULL), "ddp_bytes_per_sync", "NULL");
  N_VAL(tg_ddp_overlap_seconds, 1, 0, tg_ddp_overlap_seconds(NULL), "ddp_overlap_seconds", "NULL");
  N_OK(tg_ddp_free, 1, tg_ddp_free(NULL));
  N_INT(tg_ddp_broadcast_buffers, 1, tg_ddp_broadcast_buffers(NULL), "ddp_broadcast_buffers", "NULL");
  N_INT(tg_ddp_convert_sync_batchnorm, 1, tg_ddp_convert_sync_batchnorm(NULL), "ddp_convert_sync_batchnorm", "NULL");
  N_PTR(tg_sync_batch_norm, 1, tg_sync_batch_norm(NULL, NULL, NULL, NULL, NULL, 0.1, 1e-5), "sync_batch_norm", "NULL");
  { /* the optional ones: without tg_dist_init every call fails, naming the op */
    tg_tensor *sx = tg_ones(TG_FLOAT32, TG_SHAPE(2, 3));
    N_PTR(tg_sync_batch_norm, 2, tg_sync_batch_norm(sx, NULL, NULL, NULL, NULL, 0.1, 1e-5), "sync_batch_norm");
    N_PTR(tg_sync_batch_norm, 3, tg_sync_batch_norm(sx, NULL, NULL, NULL, NULL, 0.1, 1e-5), "sync_batch_norm");
    N_PTR(tg_sync_batch_norm, 4, tg_sync_batch_norm(sx, NULL, NULL, NULL, NULL, 0.1, 1e-5), "sync_batch_norm");
    N_PTR(tg_sync_batch_norm, 5, tg_sync_batch_norm(sx, NULL, NULL, NULL, NULL, 0.1, 1e-5), "sync_batch_norm");
  }
  tg_dist_sampler *s = tg_dist_sampler_new(4, 2, 1, true, 0, false);
  assert_non_null(s);
  size_t out[2];
  N_INT(tg_dist_sampler_set_epoch, 1, tg_dist_sampler_set_epoch(NULL, 1), "dist_sampler_set_epoch", "NULL");
  N_VAL(tg_dist_sampler_len, 1, 0, tg_dist_sampler_len(NULL), "dist_sampler_len", "NULL");
  N_INT(tg_dist_sampler_indices, 1, tg_dist_sampler_indices(NULL, out), "dist_sampler_indices", "NULL");
  N_INT(tg_dist_sampler_indices, 2, tg_dist_sampler_indices(s, NULL), "dist_sampler_indices", "NULL");
  N_INT(tg_dist_sampler_fill, 1, tg_dist_sampler_fill(NULL, out), "dist_sampler_indices", "NULL");
  N_INT(tg_dist_sampler_fill, 2, tg_dist_sampler_fill(s, NULL), "dist_sampler_indices", "NULL");
  N_OK(tg_dist_sampler_free, 1, tg_dist_sampler_free(NULL));
  tg_dist_sampler_free(s);
}

/* ---------------------------------------------------------- completeness */

/* The public functions, read from the public headers the way a C reader sees
 * them: comments and preprocessor lines dropped, then every `tg_name(` at
 * file scope is a declaration (or a static inline definition); its
 * parameters are split at top-level commas, and one is a pointer if it has
 * a '*', is a function-pointer typedef, or is the `...` of a function whose
 * variable arguments are pointers. */
#define MAX_HDR_FNS 1024
typedef struct hdr_fn {
  char name[64];
  unsigned ptr_args; /* bit i: argument i + 1 is a pointer */
  bool is_inline;
} hdr_fn;

static const char *const fn_pointer_types[] = {"tg_fn", "tg_forward_fn", "tg_forward_multi_fn", "tg_backward_fn",
                                               "tg_lr_lambda", "tg_hook_fn", "tg_post_hook_fn", "tg_module_pre_hook_fn",
                                               "tg_module_hook_fn", "tg_module_backward_hook_fn", "tg_lbfgs_closure",
                                               "tg_pack_hook_fn", "tg_unpack_hook_fn", "tg_packed_free_fn", "tg_multi_fn"};
/* variadic functions whose `...` carries pointers (tg_nn_sequential's modules) */
static const char *const pointer_variadics[] = {"tg_nn_sequential"};

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = '\0';
  fclose(f);
  return s;
}

/* comments, preprocessor lines (with their continuations) and the C++
 * extern "C" wrappers (#ifdef __cplusplus ... #endif) to spaces */
static void strip_noise(char *s) {
  bool line_start = true;
  for (char *p = s; *p;) {
    if (line_start && strncmp(p, "#ifdef __cplusplus", 18) == 0) {
      char *e = strstr(p, "#endif");
      char *end = e ? e + 6 : p + strlen(p);
      for (; p < end; p++)
        if (*p != '\n') *p = ' ';
      continue;
    }
    if (p[0] == '/' && p[1] == '*') {
      char *e = strstr(p + 2, "*/");
      char *end = e ? e + 2 : p + strlen(p);
      for (; p < end; p++)
        if (*p != '\n') *p = ' ';
      continue;
    }
    if (p[0] == '/' && p[1] == '/') {
      while (*p && *p != '\n') *p++ = ' ';
      continue;
    }
    if (line_start && *p == '#') {
      while (*p && !(*p == '\n' && p[-1] != '\\')) {
        if (*p != '\n') *p = ' ';
        p++;
      }
      continue;
    }
    if (*p == '\n') line_start = true;
    else if (*p != ' ' && *p != '\t') line_start = false;
    p++;
  }
}

static bool is_ident(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

static bool has_word(const char *b, const char *e, const char *w) {
  size_t n = strlen(w);
  for (const char *p = b; p + n <= e; p++)
    if (strncmp(p, w, n) == 0 && (p == b || !is_ident(p[-1])) && (p + n == e || !is_ident(p[n])))
      return true;
  return false;
}

static int scan_header(const char *path, hdr_fn *out, int n, int max) {
  char *s = read_text(path);
  if (!s) fail_msg("cannot read %s", path);
  strip_noise(s);
  int braces = 0, parens = 0;
  const char *decl_start = s; /* after the last ';' or '}' at file scope */
  for (char *p = s; *p; p++) {
    char c = *p;
    if (c == '{') braces++;
    else if (c == '}' && --braces == 0) decl_start = p + 1;
    else if (c == '(') parens++;
    else if (c == ')') parens--;
    else if (c == ';' && braces == 0 && parens == 0) decl_start = p + 1;
    if (braces || parens || strncmp(p, "tg_", 3) != 0 || (p > s && is_ident(p[-1]))) continue;
    char *e = p;
    while (is_ident(*e)) e++;
    char *q = e;
    while (*q == ' ' || *q == '\t' || *q == '\n') q++;
    if (*q != '(') continue;
    assert_true(n < max);
    hdr_fn *f = &out[n++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%.*s", (int)(e - p), p);
    f->is_inline = has_word(decl_start, p, "inline");
    /* the parameters, up to the matching ')' */
    int depth = 0, arg = 0;
    const char *a = q + 1;
    for (char *r = q + 1;; r++) {
      if (*r == '(') depth++;
      else if ((*r == ')' && depth-- == 0) || (*r == ',' && depth == 0)) {
        /* an array parameter (const int64_t k[2]) is a pointer too */
        bool ptr = memchr(a, '*', (size_t)(r - a)) != NULL || memchr(a, '[', (size_t)(r - a)) != NULL;
        for (size_t k = 0; k < sizeof fn_pointer_types / sizeof *fn_pointer_types; k++)
          ptr |= has_word(a, r, fn_pointer_types[k]);
        if (strstr(a, "...") && strstr(a, "...") < r)
          for (size_t k = 0; k < sizeof pointer_variadics / sizeof *pointer_variadics; k++)
            ptr |= strcmp(f->name, pointer_variadics[k]) == 0;
        if (ptr) f->ptr_args |= 1u << arg;
        arg++;
        a = r + 1;
        if (*r == ')') {
          p = r;
          break;
        }
      }
      assert_true(*r != '\0');
    }
  }
  free(s);
  return n;
}

/* Inline accessors of tg_extension.h that a backward function calls on the
 * node the engine hands it (never NULL): no error channel, and a check
 * would sit in every backward's hot path. Listed so that a new inline is a
 * decision, not an oversight. */
static const char *const inline_accessors[] = {
    "tg_node_extras_", "tg_node_extras_bytes_", "tg_node_f",         "tg_node_i",
    "tg_node_saved_slot_", "tg_node_saved",     "tg_node_call_site_", "tg_node_needs_grad",
};

/* the number of public functions taking a pointer that the cases above
 * cover; a case deleted (or a function added without one) fails */
#define NULL_FUNCS_COVERED 536

static void test_null_coverage_complete(void **state) {
  (void)state;
  static hdr_fn fns[MAX_HDR_FNS];
  const char *headers[] = {"tensor/tg_tensor.h", "autograd/tg_autograd.h", "autograd/tg_extension.h", "ops/tg_ops.h",
                           "nn/tg_nn.h",         "nn/tg_nn_fused.h",       "optim/tg_optim.h",
                           "data/tg_data.h",     "dist/tg_dist.h"};
  int n = 0;
  for (size_t h = 0; h < sizeof headers / sizeof *headers; h++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TG_SOURCE_DIR, headers[h]);
    n = scan_header(path, fns, n, MAX_HDR_FNS);
  }
  int with_ptrs = 0, missing = 0, n_inline = 0;
  for (int i = 0; i < n; i++) {
    /* a name declared twice (a prototype, then a macro-free redeclaration) counts once */
    bool dup = false;
    for (int j = 0; j < i && !dup; j++) dup = strcmp(fns[i].name, fns[j].name) == 0;
    if (dup) continue;
    if (fns[i].is_inline) {
      bool listed = false;
      for (size_t k = 0; k < sizeof inline_accessors / sizeof *inline_accessors; k++)
        listed |= strcmp(fns[i].name, inline_accessors[k]) == 0;
      if (!listed) fail_msg("new static inline %s in a public header: cover it or list it", fns[i].name);
      n_inline++;
      continue;
    }
    if (!fns[i].ptr_args) continue;
    with_ptrs++;
    for (int a = 0; a < 32; a++) {
      if (!(fns[i].ptr_args & (1u << a))) continue;
      bool hit = false;
      for (int c = 0; c < n_covered && !hit; c++) hit = covered[c].arg == a + 1 && strcmp(covered[c].fn, fns[i].name) == 0;
      if (!hit) {
        print_message("no NULL case for %s argument %d\n", fns[i].name, a + 1);
        missing++;
      }
    }
  }
  /* every covered name is a public function taking a pointer (no typos) */
  int covered_fns = 0;
  for (int c = 0; c < n_covered; c++) {
    bool first = true;
    for (int d = 0; d < c && first; d++) first = strcmp(covered[c].fn, covered[d].fn) != 0;
    covered_fns += first;
    bool known = false;
    for (int i = 0; i < n && !known; i++)
      known = strcmp(fns[i].name, covered[c].fn) == 0 && (fns[i].ptr_args & (1u << (covered[c].arg - 1)));
    if (!known) fail_msg("case for %s argument %d: not a pointer argument of a public function", covered[c].fn, covered[c].arg);
  }
  print_message("%d NULL cases over %d (function, pointer argument) pairs of %d functions\n",
                null_cases_run, n_covered, covered_fns);
  assert_int_equal(missing, 0);
  assert_int_equal(with_ptrs, covered_fns);
  assert_int_equal(covered_fns, NULL_FUNCS_COVERED);
  assert_int_equal(n_inline, (int)(sizeof inline_accessors / sizeof *inline_accessors));
}

/* ======================================================================
 * The ops, as functions of an input array (sections 2 and 3)
 * ====================================================================== */
typedef tg_tensor *(*op_fn)(tg_tensor **in);
#define OPF(name, expr)                                                        \
  static tg_tensor *name(tg_tensor **in) {                                     \
    tg_tensor *a = in[0], *b = in[1], *c = in[2];                              \
    (void)a, (void)b, (void)c;                                                 \
    return (expr);                                                             \
  }
OPF(f_add, tg_add(a, b))
OPF(f_sub, tg_sub(a, b))
OPF(f_mul, tg_mul(a, b))
OPF(f_div, tg_div(a, b))
OPF(f_pow, tg_pow(a, b))
OPF(f_atan2, tg_atan2(a, b))
OPF(f_fmod, tg_fmod(a, b))
OPF(f_remainder, tg_remainder(a, b))
OPF(f_hypot, tg_hypot(a, b))
OPF(f_copysign, tg_copysign(a, b))
OPF(f_lerp, tg_lerp(a, b, c))
OPF(f_clamp_tensor, tg_clamp_tensor(a, b, c))
OPF(f_clamp_min_tensor, tg_clamp_min_tensor(a, b))
OPF(f_clamp_max_tensor, tg_clamp_max_tensor(a, b))
OPF(f_lerp_scalar, tg_lerp_scalar(a, b, 0.3))
OPF(f_maximum, tg_maximum(a, b))
OPF(f_minimum, tg_minimum(a, b))
OPF(f_add_scalar, tg_add_scalar(a, 1.5))
OPF(f_sub_scalar, tg_sub_scalar(a, 0.5))
OPF(f_rsub_scalar, tg_rsub_scalar(a, 2.0))
OPF(f_mul_scalar, tg_mul_scalar(a, -3.0))
OPF(f_div_scalar, tg_div_scalar(a, 4.0))
OPF(f_pow_scalar, tg_pow_scalar(a, 2.5))
OPF(f_neg, tg_neg(a))
OPF(f_exp, tg_exp(a))
OPF(f_log, tg_log(a))
OPF(f_sqrt, tg_sqrt(a))
OPF(f_abs, tg_abs(a))
OPF(f_sin, tg_sin(a))
OPF(f_cos, tg_cos(a))
OPF(f_tanh, tg_tanh(a))
OPF(f_log1p, tg_log1p(a))
OPF(f_expm1, tg_expm1(a))
OPF(f_log2, tg_log2(a))
OPF(f_log10, tg_log10(a))
OPF(f_exp2, tg_exp2(a))
OPF(f_tan, tg_tan(tg_mul_scalar(a, 0.5)))
OPF(f_asin, tg_asin(tg_mul_scalar(a, 0.4)))
OPF(f_acos, tg_acos(tg_mul_scalar(a, 0.4)))
OPF(f_atan, tg_atan(a))
OPF(f_sinh, tg_sinh(a))
OPF(f_cosh, tg_cosh(a))
OPF(f_asinh, tg_asinh(a))
OPF(f_acosh, tg_acosh(tg_add_scalar(a, 1.0)))
OPF(f_atanh, tg_atanh(tg_mul_scalar(a, 0.4)))
OPF(f_erf, tg_erf(a))
OPF(f_erfc, tg_erfc(a))
OPF(f_erfinv, tg_erfinv(tg_mul_scalar(a, 0.4)))
OPF(f_reciprocal, tg_reciprocal(a))
OPF(f_rsqrt, tg_rsqrt(a))
OPF(f_square, tg_square(a))
OPF(f_sign, tg_sign(a))
OPF(f_floor, tg_floor(a))
OPF(f_ceil, tg_ceil(a))
OPF(f_round, tg_round(a))
OPF(f_trunc, tg_trunc(a))
OPF(f_frac, tg_frac(a))
OPF(f_nan_to_num, tg_nan_to_num(a, 0, NAN, NAN))
OPF(f_sigmoid, tg_sigmoid(a))
OPF(f_relu, tg_relu(a))
OPF(f_leaky_relu, tg_leaky_relu(a, 0.1))
OPF(f_elu, tg_elu(a, 1.0))
OPF(f_softplus, tg_softplus(a, 2.0, 20.0))
OPF(f_clamp, tg_clamp(a, -0.5, 0.5))
OPF(f_gelu, tg_gelu(a, "tanh"))
OPF(f_silu, tg_silu(a))
OPF(f_mish, tg_mish(a))
OPF(f_hardtanh, tg_hardtanh(a, -0.5, 0.5))
OPF(f_relu6, tg_relu6(a))
OPF(f_selu, tg_selu(a))
OPF(f_celu, tg_celu(a, 0.5))
OPF(f_softsign, tg_softsign(a))
OPF(f_hardsigmoid, tg_hardsigmoid(a))
OPF(f_hardswish, tg_hardswish(a))
OPF(f_logsigmoid, tg_logsigmoid(a))
OPF(f_sum, tg_sum(a))
OPF(f_sum_d0, tg_sum_dims(a, 1, (const int[]){0}, false))
OPF(f_sum_d1k, tg_sum_dims(a, 1, (const int[]){1}, true))
OPF(f_mean, tg_mean(a))
OPF(f_mean_d0, tg_mean_dims(a, 1, (const int[]){0}, false))
OPF(f_mean_d1, tg_mean_dims(a, 1, (const int[]){-1}, false))
OPF(f_var, tg_var(a, true))
OPF(f_var_d1, tg_var_dims(a, 1, (const int[]){1}, true, false))
OPF(f_var_d0k, tg_var_dims(a, 1, (const int[]){0}, false, true))
OPF(f_lse, tg_logsumexp(a, 0, NULL, false))
OPF(f_lse_d1, tg_logsumexp(a, 1, (const int[]){1}, false))
OPF(f_max, tg_max(a))
OPF(f_min, tg_min(a))
OPF(f_max_d1, tg_max_dim(a, 1, false, NULL))
OPF(f_min_d0, tg_min_dim(a, 0, true, NULL))
/* ops without a gradient (int64 results, unique) joined to a zero multiple
 * of their input, so the tables' backward checks apply */
static tg_tensor *no_grad_result(tg_tensor *a, tg_tensor *r) {
  if (!r) return NULL;
  return tg_add(tg_mul_scalar(tg_sum(a), 0.0), r->dtype == TG_INT64 ? tg_to_dtype(r, TG_FLOAT64) : r);
}
OPF(f_prod, tg_prod(a))
OPF(f_prod_d1, tg_prod_dim(a, 1, false))
OPF(f_prod_d0k, tg_prod_dim(a, 0, true))
OPF(f_std, tg_std(a, true))
OPF(f_std_d1, tg_std_dims(a, 1, (const int[]){1}, true, false))
OPF(f_std_d0k, tg_std_dims(a, 1, (const int[]){0}, false, true))
OPF(f_norm, tg_norm(a, 2, 0, NULL, false))
OPF(f_norm3_d1, tg_norm(a, 3, 1, (const int[]){1}, false))
OPF(f_norm_inf_d0, tg_norm(a, INFINITY, 1, (const int[]){0}, false))
OPF(f_vnorm1_d1, tg_linalg_vector_norm(a, 1, 1, (const int[]){-1}, true))
OPF(f_vnorm_inf, tg_linalg_vector_norm(a, INFINITY, 0, NULL, false))
OPF(f_amax, tg_amax(a, 0, NULL, false))
OPF(f_amax_d1, tg_amax(a, 1, (const int[]){1}, false))
OPF(f_amin_d0k, tg_amin(a, 1, (const int[]){0}, true))
OPF(f_argmax, no_grad_result(a, tg_argmax(a)))
OPF(f_argmin, no_grad_result(a, tg_argmin(a)))
OPF(f_argmax_d1, no_grad_result(a, tg_argmax_dim(a, 1, false)))
OPF(f_argmin_d0k, no_grad_result(a, tg_argmin_dim(a, 0, true)))
OPF(f_median, tg_median(a))
OPF(f_median_d1, tg_median_dim(a, 1, false, NULL))
OPF(f_median_d0k, tg_median_dim(a, 0, true, NULL))
OPF(f_kth1_d0, tg_kthvalue(a, 1, 0, false, NULL))
OPF(f_kth2_d1, tg_kthvalue(a, 2, 1, true, NULL))
OPF(f_cumsum0, tg_cumsum(a, 0))
OPF(f_cumsum1, tg_cumsum(a, 1))
OPF(f_cumprod1, tg_cumprod(a, 1))
OPF(f_cumprod0, tg_cumprod(a, 0))
OPF(f_lcse1, tg_logcumsumexp(a, -1))
OPF(f_lcse0, tg_logcumsumexp(a, 0))
OPF(f_sort1, tg_sort(a, 1, false, NULL))
OPF(f_sort0d, tg_sort(a, 0, true, NULL))
OPF(f_topk2_d1, tg_topk(a, 2, 1, true, true, NULL))
OPF(f_topk1_d0, tg_topk(a, 1, 0, false, true, NULL))
OPF(f_topk0_d1, tg_topk(a, 0, 1, true, true, NULL))
OPF(f_unique, no_grad_result(a, tg_sum(tg_unique(a, true, NULL, NULL))))
OPF(f_sum_to_13, tg_sum_to_shape(a, TG_SHAPE(1, 3)))
OPF(f_sum_to_3, tg_sum_to_shape(a, TG_SHAPE(3)))
OPF(f_matmul, tg_matmul(a, b))
OPF(f_dot, tg_dot(a, b))
OPF(f_outer, tg_outer(a, b))
OPF(f_softmax1, tg_softmax(a, 1))
OPF(f_log_softmax0, tg_log_softmax(a, 0))
OPF(f_gather1, tg_gather(a, 1, b))
OPF(f_scatter_add0, tg_scatter_add(a, 0, b, c))
OPF(f_index_select0, tg_index_select(a, 0, b))
OPF(f_index_select1, tg_index_select(a, 1, b))
OPF(f_index_add0, tg_index_add(a, 0, b, c))
OPF(f_index_add1, tg_index_add(a, 1, b, c))
OPF(f_embedding, tg_embedding(a, b, TG_NO_PADDING_IDX, NAN, 2.0))
OPF(f_bmm, tg_bmm(a, b))
OPF(f_mv, tg_mv(a, b))
OPF(f_addmm, tg_addmm(a, b, c, 1.0, 2.0))
OPF(f_baddbmm, tg_baddbmm(a, b, c, 1.0, -0.5))
OPF(f_movedim, tg_movedim(a, 1, (const int[]){0}, (const int[]){-1}))
OPF(f_swapaxes, tg_swapaxes(a, 0, 1))
OPF(f_swapdims, tg_swapdims(a, -1, 0))
OPF(f_take_along1, tg_take_along_dim(a, b, 1))
OPF(f_take_flat, tg_take_along_dim_flat(a, b))
OPF(f_index_fill0, tg_index_fill(a, 0, b, 2.0))
OPF(f_max_pool1d, tg_max_pool1d(a, 2, (const int64_t[]){1}, 1, 1, true, NULL))
OPF(f_max_pool2d, tg_max_pool2d(a, (const int64_t[]){2, 2}, NULL, (const int64_t[]){1, 0}, NULL, false, NULL))
OPF(f_avg_pool1d, tg_avg_pool1d(a, 2, (const int64_t[]){1}, 1, true, false))
OPF(f_avg_pool2d, tg_avg_pool2d(a, (const int64_t[]){2, 1}, NULL, (const int64_t[]){1, 0}, false, true, 0))
OPF(f_adaptive_avg_pool1d, tg_adaptive_avg_pool1d(a, 3))
OPF(f_adaptive_avg_pool2d, tg_adaptive_avg_pool2d(a, (const int64_t[]){3, 2}))
OPF(f_adaptive_max_pool1d, tg_adaptive_max_pool1d(a, 3, NULL))
OPF(f_adaptive_max_pool2d, tg_adaptive_max_pool2d(a, (const int64_t[]){3, 2}, NULL))
OPF(f_interpolate, tg_interpolate(a, (const int64_t[]){5, 3}, NULL, TG_INTERP_BILINEAR, false))
OPF(f_interpolate_nearest, tg_interpolate(a, NULL, (const double[]){1.5}, TG_INTERP_NEAREST, false))
OPF(f_pixel_shuffle, tg_pixel_shuffle(a, 2))
OPF(f_pixel_unshuffle, tg_pixel_unshuffle(a, 2))
OPF(f_scatter0, tg_scatter(a, 0, b, c))
OPF(f_scatter_value1, tg_scatter_value(a, 1, b, -1.0))
OPF(f_index_put1, tg_index_put(a, 1, &b, c, false))
OPF(f_index_put1_acc, tg_index_put(a, 1, &b, c, true))
OPF(f_einsum_mm, tg_einsum("ij,jk->ki", 2, in))
/* the shape ops, as functions of the input's own shape */
static tg_tensor *f_reshape_rev(tg_tensor **in) {
  size_t sh[TG_MAX_DIMS];
  tg_tensor *a = in[0];
  for (int d = 0; a && d < a->ndim; d++) sh[d] = a->shape[a->ndim - 1 - d];
  return a ? tg_reshape(a, a->ndim, sh) : NULL;
}
OPF(f_view_flat, tg_view(a, TG_SHAPE(a->numel)))
OPF(f_reshape_infer_rows, tg_reshape_infer(a, 2, (const long[]){-1, (long)a->shape[a->ndim - 1]}))
OPF(f_reshape_infer_0m1, tg_reshape_infer(a, 2, (const long[]){0, -1}))
OPF(f_flatten, tg_flatten(a, 0, -1))
OPF(f_squeeze1, tg_squeeze(a, 1))
OPF(f_squeeze_all, tg_squeeze_all(a))
OPF(f_unsqueeze1, tg_unsqueeze(a, 1))
OPF(f_transpose, tg_transpose(a, 0, -1))
OPF(f_t, tg_t(a))
OPF(f_permute201, tg_permute(a, (const int[]){2, 0, 1}))
static tg_tensor *f_expand_lead(tg_tensor **in) { /* a new leading dim of 2 */
  size_t sh[TG_MAX_DIMS] = {2};
  tg_tensor *a = in[0];
  for (int d = 0; a && d < a->ndim; d++) sh[d + 1] = a->shape[d];
  return a ? tg_expand(a, a->ndim + 1, sh) : NULL;
}
OPF(f_expand_03, tg_expand(a, TG_SHAPE(0, 3)))
OPF(f_narrow1, tg_narrow(a, 1, 1, 2))
OPF(f_narrow_empty, tg_narrow(a, 1, 1, 0))
OPF(f_slice_step, tg_slice(a, 1, 0, 3, 2))
OPF(f_slice_empty, tg_slice(a, 1, 2, 1, 1))
OPF(f_select0, tg_select(a, 0, 0))
OPF(f_select1, tg_select(a, 1, 1))
OPF(f_contiguous, tg_contiguous(a))
OPF(f_clone, tg_clone(a))
OPF(f_to_f32, tg_to_dtype(a, TG_FLOAT32))
OPF(f_cat0, tg_cat(2, (tg_tensor *[]){a, b}, 0))
OPF(f_cat1, tg_cat(2, (tg_tensor *[]){a, b}, 1))
OPF(f_stack0, tg_stack(2, (tg_tensor *[]){a, b}, 0))
OPF(f_stack1, tg_stack(2, (tg_tensor *[]){a, b}, 1))
/* the last of the parts (the multi-output ops of ops/shape_split.c) */
static tg_tensor *last_part(int n, tg_tensor **parts) { return n > 0 ? parts[n - 1] : NULL; }
static tg_tensor *parts_[8];
OPF(f_split1, last_part(tg_split(a, 2, (const size_t[]){1, 2}, 1, parts_), parts_))
OPF(f_split_size1, last_part(tg_split_size(a, 2, 1, 8, parts_), parts_))
OPF(f_chunk1, last_part(tg_chunk(a, 2, -1, parts_), parts_))
OPF(f_unbind1, last_part(tg_unbind(a, 1, 8, parts_), parts_))
OPF(f_flip01, tg_flip(a, 2, (const int[]){0, -1}))
OPF(f_tril1, tg_tril(a, 1))
OPF(f_triu_neg, tg_triu(a, -1))
OPF(f_roll01, tg_roll(a, 2, (const long[]){1, -1}, 2, (const int[]){0, 1}))
OPF(f_repeat3, tg_repeat(a, 3, (const size_t[]){2, 1, 2}))
OPF(f_tile1, tg_tile(a, 1, (const size_t[]){2}))
OPF(f_diagonal1, tg_diagonal(a, 1, 0, -1))
OPF(f_diag_neg, tg_diag(a, -1))
OPF(f_trace, tg_trace(a))
OPF(f_pad_reflect, tg_pad(a, 2, (const long[]){1, 1}, TG_PAD_REFLECT, 0))
OPF(f_pad_const, tg_pad(a, 4, (const long[]){1, 0, 0, 1}, TG_PAD_CONSTANT, 2))
/* the convolution family; c is the bias where a case has three inputs */
OPF(f_unfold2, tg_unfold(a, (const int64_t[]){2, 2}, NULL, (const int64_t[]){0, 1}, NULL))
OPF(f_fold2, tg_fold(a, (const int64_t[]){3, 4}, (const int64_t[]){2, 2}, NULL, NULL, NULL))
OPF(f_conv2d_s2, tg_conv2d(a, b, c, (const int64_t[]){2, 1}, (const int64_t[]){1, 0}, NULL, 1))
OPF(f_conv2d_same, tg_conv2d_padding(a, b, c, NULL, "same", (const int64_t[]){1, 2}, 1))
OPF(f_conv1d_g2, tg_conv1d(a, b, c, 1, 1, 1, 2))
OPF(f_conv1d_same, tg_conv1d_padding(a, b, c, 1, "same", 1, 1))
OPF(f_conv_t2d, tg_conv_transpose2d(a, b, c, (const int64_t[]){2, 1}, (const int64_t[]){1, 0},
                                    (const int64_t[]){1, 0}, 1, NULL))
OPF(f_conv_t1d, tg_conv_transpose1d(a, b, c, 2, 0, 1, 1, 1))
OPF(f_ri2_d1, tg_repeat_interleave(a, 2, (const int[]){1}))
OPF(f_ri_flat, tg_repeat_interleave(a, 3, NULL))
OPF(f_rit_d0, tg_repeat_interleave_tensor(a, b, (const int[]){0}))
OPF(f_rit_d1, tg_repeat_interleave_tensor(a, b, (const int[]){-1}))
OPF(f_one_hot4, tg_one_hot(a, 4))
/* both grids, the first weighted 2, so that a gradient sent to the wrong input shows */
OPF(f_meshgrid_xy, tg_meshgrid(2, (tg_tensor *[]){a, b}, "xy", parts_) == 2 ? tg_add(tg_mul_scalar(parts_[0], 2), parts_[1]) : NULL)
OPF(f_eq, tg_eq(a, b))
OPF(f_ne, tg_ne(a, b))
OPF(f_lt, tg_lt(a, b))
OPF(f_le, tg_le(a, b))
OPF(f_gt, tg_gt(a, b))
OPF(f_ge, tg_ge(a, b))
OPF(f_eq_scalar, tg_eq_scalar(a, 0.0))
OPF(f_ne_scalar, tg_ne_scalar(a, 0.0))
OPF(f_lt_scalar, tg_lt_scalar(a, 0.25))
OPF(f_le_scalar, tg_le_scalar(a, -0.25))
OPF(f_gt_scalar, tg_gt_scalar(a, 0.5))
OPF(f_ge_scalar, tg_ge_scalar(a, -0.5))
OPF(f_isnan, tg_isnan(a))
OPF(f_isinf, tg_isinf(a))
OPF(f_isfinite, tg_isfinite(a))
OPF(f_logical_and, tg_logical_and(a, b))
OPF(f_logical_or, tg_logical_or(a, b))
OPF(f_logical_xor, tg_logical_xor(a, b))
OPF(f_logical_not, tg_logical_not(a))
OPF(f_any, tg_any(a))
OPF(f_all, tg_all(a))
OPF(f_any_d0, tg_any_dims(a, 1, (const int[]){0}, false))
OPF(f_all_d1, tg_all_dims(a, 1, (const int[]){1}, false))
OPF(f_all_d0k, tg_all_dims(a, 1, (const int[]){0}, true))
OPF(f_where, tg_where(a, b, c))
OPF(f_masked_fill, tg_masked_fill(a, b, -2.0))
OPF(f_masked_select, tg_masked_select(a, b))
OPF(f_nonzero, tg_nonzero(a))
/* sampling: a generator seeded afresh per call, so layouts compare equal;
 * the results have no gradient (joined to the input as no_grad_result) */
static tg_rng *fresh_rng(void) {
  static tg_rng r;
  tg_rng_seed(&r, 5);
  return &r;
}
OPF(f_randint, no_grad_result(a, tg_randint(fresh_rng(), 0, 5, a->ndim, a->shape)))
OPF(f_randperm, no_grad_result(a, tg_randperm(fresh_rng(), a->numel)))
OPF(f_bernoulli, no_grad_result(a, tg_bernoulli(fresh_rng(), tg_sigmoid(a))))
OPF(f_normal_tensor, no_grad_result(tg_add(a, b), tg_normal_tensor(fresh_rng(), a, b)))
OPF(f_uniform_tensor, no_grad_result(tg_add(a, b), tg_uniform_tensor(fresh_rng(), a, tg_add(a, b))))
OPF(f_multinomial, no_grad_result(a, tg_multinomial(fresh_rng(), a, 2, true)))
#undef OPF

/* an input of a case: shape and kind ('n' N(0,1), 'p' in [0.5, 2), 'i' int64
 * index in [0, bound), 'b' bool, true with probability 1/2) */
typedef struct in_spec {
  int ndim;
  size_t shape[4];
  char kind;
  int64_t bound;
} in_spec;
#define IN(kind, ...) {(int)(sizeof((size_t[]){__VA_ARGS__}) / sizeof(size_t)), {__VA_ARGS__}, kind, 0}
#define IDX(bound, ...) {(int)(sizeof((size_t[]){__VA_ARGS__}) / sizeof(size_t)), {__VA_ARGS__}, 'i', bound}

static tg_tensor *make_input(const in_spec *sp, const size_t *shape, tg_rng *r) {
  if (sp->kind == 'i') {
    tg_tensor *t = tg_zeros(TG_INT64, sp->ndim, shape);
    for (size_t i = 0; t && i < t->numel; i++)
      ((int64_t *)tg_data(t))[i] = (int64_t)(tg_rng_next(r) % (uint64_t)sp->bound);
    return t;
  }
  if (sp->kind == 'b') {
    tg_tensor *t = tg_zeros(TG_BOOL, sp->ndim, shape);
    for (size_t i = 0; t && i < t->numel; i++) ((uint8_t *)tg_data(t))[i] = tg_rng_next(r) >> 63;
    return t;
  }
  tg_tensor *t = sp->kind == 'p' ? tg_uniform(r, TG_FLOAT64, sp->ndim, shape, 0.5, 2.0)
                                 : tg_randn(r, TG_FLOAT64, sp->ndim, shape);
  return tg_requires_grad_(t, true);
}

/* ======================================================================
 * Section 2: zero-size tensors
 * ====================================================================== */
#define NO_FILL 12345.0 /* the output's values are not checked */

typedef struct zero_case {
  const char *op; /* the tg_ops.h function the case runs */
  op_fn f;
  int n_in;
  in_spec in[3];
  int out_ndim; /* -1: PyTorch raises here, so an error is expected */
  size_t out_shape[4];
  const char *err; /* fragment of that error */
  double fill;     /* every output element (NAN: NaN), or NO_FILL */
  const char *grads; /* per input: '0' gradient all zeros, '1' all ones (d sum(out) / d in), '-' no grad;
                      * all '-': the result must not require grad */
} zero_case;

#define OUT(...) (int)(sizeof((size_t[]){__VA_ARGS__}) / sizeof(size_t)), {__VA_ARGS__}
#define OUT0 0, {0}
#define ERR(frag) -1, {0}, frag
#define Z1(op, f, in0, out, fill) {op, f, 1, {in0}, out, NULL, fill, "0"}

/* PyTorch's results for each (checked with torch 1.13 semantics: empty
 * reductions give 0 / nan / -inf, max/min over an empty dim raise, matmul
 * with an empty inner dim gives zeros, expand may expand a 1 to 0) */
static const zero_case zero_cases[] = {
    /* binary, with broadcasting against empty dims */
    {"tg_add", f_add, 2, {IN('n', 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_add", f_add, 2, {IN('n', 2, 0), IN('n', 2, 1)}, OUT(2, 0), NULL, NO_FILL, "00"},
    {"tg_add", f_add, 2, {IN('n', 0, 3), IN('n', 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_add", f_add, 2, {IN('n', 0, 3), IN('n', 2, 3)}, ERR("broadcast"), 0, NULL},
    {"tg_sub", f_sub, 2, {IN('n', 2, 0), IN('n', 1, 0)}, OUT(2, 0), NULL, NO_FILL, "00"},
    {"tg_mul", f_mul, 2, {IN('n', 0, 3), IN('n', 1, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_div", f_div, 2, {IN('n', 0, 3), IN('p', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_atan2", f_atan2, 2, {IN('n', 0, 3), IN('p', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_fmod", f_fmod, 2, {IN('n', 0, 3), IN('p', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_remainder", f_remainder, 2, {IN('n', 0, 3), IN('p', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_hypot", f_hypot, 2, {IN('p', 0, 3), IN('p', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_copysign", f_copysign, 2, {IN('p', 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_lerp", f_lerp, 3, {IN('n', 0, 3), IN('n', 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "000"},
    {"tg_clamp_tensor", f_clamp_tensor, 3, {IN('n', 0, 3), IN('n', 0, 3), IN('p', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "000"},
    {"tg_clamp_min_tensor", f_clamp_min_tensor, 2, {IN('n', 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_clamp_max_tensor", f_clamp_max_tensor, 2, {IN('n', 0, 3), IN('n', 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_lerp_scalar", f_lerp_scalar, 2, {IN('n', 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_pow", f_pow, 2, {IN('p', 2, 0), IN('n', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "00"},
    {"tg_maximum", f_maximum, 2, {IN('n', 0, 3), IN('n', 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_minimum", f_minimum, 2, {IN('n', 2, 0), IN('n', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "00"},
    /* with a number */
    Z1("tg_add_scalar", f_add_scalar, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_sub_scalar", f_sub_scalar, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_rsub_scalar", f_rsub_scalar, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_mul_scalar", f_mul_scalar, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_div_scalar", f_div_scalar, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_pow_scalar", f_pow_scalar, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    /* unary */
    Z1("tg_neg", f_neg, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_exp", f_exp, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_log", f_log, IN('p', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_sqrt", f_sqrt, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_abs", f_abs, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_sin", f_sin, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_cos", f_cos, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_tanh", f_tanh, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_log1p", f_log1p, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_expm1", f_expm1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_log2", f_log2, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_log10", f_log10, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_exp2", f_exp2, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_tan", f_tan, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_asin", f_asin, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_acos", f_acos, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_atan", f_atan, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_sinh", f_sinh, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_cosh", f_cosh, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_asinh", f_asinh, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_acosh", f_acosh, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_atanh", f_atanh, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_erf", f_erf, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_erfc", f_erfc, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_erfinv", f_erfinv, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_reciprocal", f_reciprocal, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_rsqrt", f_rsqrt, IN('p', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_square", f_square, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_sign", f_sign, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_floor", f_floor, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_ceil", f_ceil, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_round", f_round, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_trunc", f_trunc, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_frac", f_frac, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_nan_to_num", f_nan_to_num, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_sigmoid", f_sigmoid, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_relu", f_relu, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_leaky_relu", f_leaky_relu, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_elu", f_elu, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_softplus", f_softplus, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_clamp", f_clamp, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_gelu", f_gelu, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_silu", f_silu, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_mish", f_mish, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_hardtanh", f_hardtanh, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_relu6", f_relu6, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_selu", f_selu, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_celu", f_celu, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_softsign", f_softsign, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_hardsigmoid", f_hardsigmoid, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_hardswish", f_hardswish, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_logsigmoid", f_logsigmoid, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    /* reductions: the sum of nothing is 0, the mean and variance NaN, the
     * logsumexp -inf; max and min need a non-empty reduced dim */
    Z1("tg_sum", f_sum, IN('n', 0, 3), OUT0, 0.0),
    Z1("tg_sum_dims", f_sum_d0, IN('n', 0, 3), OUT(3), 0.0),
    Z1("tg_sum_dims", f_sum_d1k, IN('n', 0, 3), OUT(0, 1), NO_FILL),
    Z1("tg_sum_dims", f_sum_d1k, IN('n', 2, 0), OUT(2, 1), 0.0),
    Z1("tg_mean", f_mean, IN('n', 0, 3), OUT0, NAN),
    Z1("tg_mean_dims", f_mean_d0, IN('n', 0, 3), OUT(3), NAN),
    Z1("tg_mean_dims", f_mean_d1, IN('n', 0, 3), OUT(0), NO_FILL),
    Z1("tg_var", f_var, IN('n', 2, 0), OUT0, NAN),
    Z1("tg_var_dims", f_var_d1, IN('n', 2, 0), OUT(2), NAN),
    Z1("tg_var_dims", f_var_d0k, IN('n', 0, 3), OUT(1, 3), NAN),
    Z1("tg_logsumexp", f_lse, IN('n', 0, 3), OUT0, -INFINITY),
    Z1("tg_logsumexp", f_lse_d1, IN('n', 2, 0), OUT(2), -INFINITY),
    Z1("tg_logsumexp", f_lse_d1, IN('n', 0, 3), OUT(0), NO_FILL),
    {"tg_max", f_max, 1, {IN('n', 0, 3)}, ERR("max"), 0, NULL},
    {"tg_min", f_min, 1, {IN('n', 2, 0)}, ERR("min"), 0, NULL},
    Z1("tg_max_dim", f_max_d1, IN('n', 0, 3), OUT(0), NO_FILL),
    {"tg_max_dim", f_max_d1, 1, {IN('n', 2, 0)}, ERR("max"), 0, NULL},
    Z1("tg_min_dim", f_min_d0, IN('n', 2, 0), OUT(1, 0), NO_FILL),
    {"tg_min_dim", f_min_d0, 1, {IN('n', 0, 3)}, ERR("min"), 0, NULL},
    /* ops/reduce_stats.c: the empty product is 1, the std NaN, the norm 0
     * (inf norms, amax/amin, argmax/argmin, kthvalue and median along an
     * empty dim raise; the median of no elements is NaN) */
    Z1("tg_prod", f_prod, IN('n', 0, 3), OUT0, 1.0),
    Z1("tg_prod_dim", f_prod_d1, IN('n', 2, 0), OUT(2), 1.0),
    Z1("tg_prod_dim", f_prod_d0k, IN('n', 0, 3), OUT(1, 3), 1.0),
    Z1("tg_std", f_std, IN('n', 0, 3), OUT0, NAN),
    Z1("tg_std_dims", f_std_d1, IN('n', 2, 0), OUT(2), NAN),
    Z1("tg_std_dims", f_std_d0k, IN('n', 0, 3), OUT(1, 3), NAN),
    Z1("tg_norm", f_norm, IN('n', 0, 3), OUT0, 0.0),
    Z1("tg_norm", f_norm3_d1, IN('n', 2, 0), OUT(2), 0.0),
    Z1("tg_norm", f_norm_inf_d0, IN('n', 0, 3), OUT(3), 0.0), /* torch.norm: 0, as the 2-norm */
    Z1("tg_linalg_vector_norm", f_vnorm1_d1, IN('n', 2, 0), OUT(2, 1), 0.0),
    {"tg_linalg_vector_norm", f_vnorm_inf, 1, {IN('n', 2, 0)}, ERR("linalg_vector_norm"), 0, NULL},
    {"tg_amax", f_amax, 1, {IN('n', 0, 3)}, ERR("amax"), 0, NULL},
    Z1("tg_amax", f_amax_d1, IN('n', 0, 3), OUT(0), NO_FILL),
    {"tg_amin", f_amin_d0k, 1, {IN('n', 0, 3)}, ERR("amin"), 0, NULL},
    Z1("tg_amin", f_amin_d0k, IN('n', 2, 0), OUT(1, 0), NO_FILL),
    {"tg_argmax", f_argmax, 1, {IN('n', 0, 3)}, ERR("argmax"), 0, NULL},
    {"tg_argmin", f_argmin, 1, {IN('n', 2, 0)}, ERR("argmin"), 0, NULL},
    {"tg_argmax_dim", f_argmax_d1, 1, {IN('n', 2, 0)}, ERR("argmax"), 0, NULL},
    Z1("tg_argmax_dim", f_argmax_d1, IN('n', 0, 3), OUT(0), NO_FILL),
    {"tg_argmin_dim", f_argmin_d0k, 1, {IN('n', 0, 3)}, ERR("argmin"), 0, NULL},
    Z1("tg_median", f_median, IN('n', 0, 3), OUT0, NAN),
    {"tg_median_dim", f_median_d1, 1, {IN('n', 2, 0)}, ERR("median"), 0, NULL},
    Z1("tg_median_dim", f_median_d0k, IN('n', 2, 0), OUT(1, 0), NO_FILL),
    Z1("tg_kthvalue", f_kth1_d0, IN('n', 2, 0), OUT(0), NO_FILL),
    {"tg_kthvalue", f_kth1_d0, 1, {IN('n', 0, 3)}, ERR("kthvalue"), 0, NULL},
    /* scans and sorts keep the shape */
    Z1("tg_cumsum", f_cumsum0, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_cumsum", f_cumsum1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_cumprod", f_cumprod1, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_cumprod", f_cumprod0, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_logcumsumexp", f_lcse1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_logcumsumexp", f_lcse0, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_sort", f_sort1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_sort", f_sort0d, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_topk", f_topk0_d1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_topk", f_topk1_d0, IN('n', 2, 0), OUT(1, 0), NO_FILL),
    {"tg_topk", f_topk2_d1, 1, {IN('n', 2, 0)}, ERR("topk"), 0, NULL},
    Z1("tg_unique", f_unique, IN('n', 0, 3), OUT0, 0.0),
    Z1("tg_sum_to_shape", f_sum_to_13, IN('n', 0, 3), OUT(1, 3), 0.0),
    Z1("tg_sum_to_shape", f_sum_to_3, IN('n', 0, 3), OUT(3), 0.0),
    /* linear algebra: an empty inner dim gives zeros */
    {"tg_matmul", f_matmul, 2, {IN('n', 0, 3), IN('n', 3, 4)}, OUT(0, 4), NULL, NO_FILL, "00"},
    {"tg_matmul", f_matmul, 2, {IN('n', 2, 0), IN('n', 0, 3)}, OUT(2, 3), NULL, 0.0, "00"},
    {"tg_matmul", f_matmul, 2, {IN('n', 2, 3), IN('n', 3, 0)}, OUT(2, 0), NULL, NO_FILL, "00"},
    {"tg_matmul", f_matmul, 2, {IN('n', 0, 2, 3), IN('n', 3, 4)}, OUT(0, 2, 4), NULL, NO_FILL, "00"},
    {"tg_matmul", f_matmul, 2, {IN('n', 2, 0), IN('n', 0)}, OUT(2), NULL, 0.0, "00"},
    {"tg_dot", f_dot, 2, {IN('n', 0), IN('n', 0)}, OUT0, NULL, 0.0, "00"},
    {"tg_outer", f_outer, 2, {IN('n', 0), IN('n', 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    /* softmax and indexing */
    Z1("tg_softmax", f_softmax1, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_softmax", f_softmax1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_log_softmax", f_log_softmax0, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    {"tg_gather", f_gather1, 2, {IN('n', 2, 3), IDX(3, 2, 0)}, OUT(2, 0), NULL, NO_FILL, "0-"},
    {"tg_gather", f_gather1, 2, {IN('n', 0, 3), IDX(3, 0, 2)}, OUT(0, 2), NULL, NO_FILL, "0-"},
    {"tg_scatter_add", f_scatter_add0, 3, {IN('n', 2, 3), IDX(2, 0, 3), IN('n', 0, 3)}, OUT(2, 3), NULL, NO_FILL, "1-0"},
    {"tg_index_select", f_index_select0, 2, {IN('n', 2, 3), IDX(2, 0)}, OUT(0, 3), NULL, NO_FILL, "0-"},
    {"tg_index_select", f_index_select1, 2, {IN('n', 0, 3), IDX(3, 2)}, OUT(0, 2), NULL, NO_FILL, "0-"},
    {"tg_index_add", f_index_add0, 3, {IN('n', 2, 3), IDX(2, 0), IN('n', 0, 3)}, OUT(2, 3), NULL, NO_FILL, "1-0"},
    {"tg_index_add", f_index_add1, 3, {IN('n', 0, 3), IDX(3, 2), IN('n', 0, 2)}, OUT(0, 3), NULL, NO_FILL, "0-0"},
    {"tg_embedding", f_embedding, 2, {IN('n', 3, 2), IDX(3, 0)}, OUT(0, 2), NULL, NO_FILL, "0-"},
    {"tg_embedding", f_embedding, 2, {IN('n', 3, 0), IDX(3, 4)}, OUT(4, 0), NULL, NO_FILL, "0-"},
    /* batched products, dim moves, composed indexing */
    {"tg_bmm", f_bmm, 2, {IN('n', 2, 0, 3), IN('n', 2, 3, 4)}, OUT(2, 0, 4), NULL, NO_FILL, "00"},
    {"tg_bmm", f_bmm, 2, {IN('n', 2, 3, 0), IN('n', 2, 0, 4)}, OUT(2, 3, 4), NULL, 0.0, "00"},
    {"tg_mv", f_mv, 2, {IN('n', 0, 3), IN('n', 3)}, OUT(0), NULL, NO_FILL, "00"},
    {"tg_mv", f_mv, 2, {IN('n', 2, 0), IN('n', 0)}, OUT(2), NULL, 0.0, "00"},
    {"tg_addmm", f_addmm, 3, {IN('n', 3), IN('n', 0, 2), IN('n', 2, 3)}, OUT(0, 3), NULL, NO_FILL, "000"},
    {"tg_addmm", f_addmm, 3, {IN('n', 2, 3), IN('n', 2, 0), IN('n', 0, 3)}, OUT(2, 3), NULL, NO_FILL, "100"},
    {"tg_baddbmm", f_baddbmm, 3, {IN('n', 2, 2, 3), IN('n', 2, 2, 0), IN('n', 2, 0, 3)}, OUT(2, 2, 3), NULL, NO_FILL, "100"},
    {"tg_baddbmm", f_baddbmm, 3, {IN('n', 3), IN('n', 0, 2, 2), IN('n', 0, 2, 3)}, OUT(0, 2, 3), NULL, NO_FILL, "000"},
    Z1("tg_movedim", f_movedim, IN('n', 0, 3), OUT(3, 0), NO_FILL),
    Z1("tg_swapaxes", f_swapaxes, IN('n', 0, 3), OUT(3, 0), NO_FILL),
    Z1("tg_swapdims", f_swapdims, IN('n', 2, 0), OUT(0, 2), NO_FILL),
    {"tg_take_along_dim", f_take_along1, 2, {IN('n', 2, 3), IDX(3, 2, 0)}, OUT(2, 0), NULL, NO_FILL, "0-"},
    {"tg_take_along_dim", f_take_along1, 2, {IN('n', 0, 3), IDX(3, 1, 2)}, OUT(0, 2), NULL, NO_FILL, "0-"},
    {"tg_take_along_dim_flat", f_take_flat, 2, {IN('n', 2, 3), IDX(6, 0, 2)}, OUT(0), NULL, NO_FILL, "0-"},
    {"tg_take_along_dim_flat", f_take_flat, 2, {IN('n', 0, 3), IDX(1, 0)}, OUT(0), NULL, NO_FILL, "0-"},
    {"tg_index_fill", f_index_fill0, 2, {IN('n', 0, 3), IDX(1, 0)}, OUT(0, 3), NULL, NO_FILL, "0-"},
    {"tg_index_fill", f_index_fill0, 2, {IN('n', 2, 3), IDX(2, 0)}, OUT(2, 3), NULL, NO_FILL, "1-"},
    {"tg_scatter", f_scatter0, 3, {IN('n', 2, 3), IDX(2, 0, 3), IN('n', 0, 3)}, OUT(2, 3), NULL, NO_FILL, "1-0"},
    {"tg_scatter", f_scatter0, 3, {IN('n', 0, 3), IDX(1, 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "0-0"},
    {"tg_scatter_value", f_scatter_value1, 2, {IN('n', 2, 3), IDX(3, 2, 0)}, OUT(2, 3), NULL, NO_FILL, "1-"},
    {"tg_scatter_value", f_scatter_value1, 2, {IN('n', 0, 3), IDX(3, 0, 2)}, OUT(0, 3), NULL, NO_FILL, "0-"},
    {"tg_index_put", f_index_put1, 3, {IN('n', 2, 3), IDX(2, 0), IN('n', 0, 3)}, OUT(2, 3), NULL, NO_FILL, "1-0"},
    {"tg_index_put", f_index_put1_acc, 3, {IN('n', 0, 3), IDX(1, 0), IN('n', 3)}, OUT(0, 3), NULL, NO_FILL, "0-0"},
    {"tg_einsum", f_einsum_mm, 2, {IN('n', 0, 3), IN('n', 3, 4)}, OUT(4, 0), NULL, NO_FILL, "00"},
    {"tg_einsum", f_einsum_mm, 2, {IN('n', 2, 0), IN('n', 0, 3)}, OUT(3, 2), NULL, 0.0, "00"},
    /* shape */
    Z1("tg_reshape", f_reshape_rev, IN('n', 0, 3), OUT(3, 0), NO_FILL),
    Z1("tg_view", f_view_flat, IN('n', 2, 0), OUT(0), NO_FILL),
    Z1("tg_reshape_infer", f_reshape_infer_rows, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    /* -1 next to a 0 could be anything: PyTorch refuses it as ambiguous */
    {"tg_reshape_infer", f_reshape_infer_0m1, 1, {IN('n', 0, 3)}, ERR("reshape"), 0, NULL},
    Z1("tg_flatten", f_flatten, IN('n', 0, 3), OUT(0), NO_FILL),
    Z1("tg_squeeze", f_squeeze1, IN('n', 0, 1, 3), OUT(0, 3), NO_FILL),
    Z1("tg_squeeze_all", f_squeeze_all, IN('n', 0, 1, 3), OUT(0, 3), NO_FILL),
    Z1("tg_unsqueeze", f_unsqueeze1, IN('n', 0, 3), OUT(0, 1, 3), NO_FILL),
    Z1("tg_transpose", f_transpose, IN('n', 0, 3), OUT(3, 0), NO_FILL),
    Z1("tg_t", f_t, IN('n', 2, 0), OUT(0, 2), NO_FILL),
    Z1("tg_permute", f_permute201, IN('n', 0, 2, 3), OUT(3, 0, 2), NO_FILL),
    Z1("tg_expand", f_expand_lead, IN('n', 0, 3), OUT(2, 0, 3), NO_FILL),
    Z1("tg_expand", f_expand_03, IN('n', 1, 3), OUT(0, 3), NO_FILL),
    Z1("tg_narrow", f_narrow1, IN('n', 0, 3), OUT(0, 2), NO_FILL),
    Z1("tg_split", f_split1, IN('n', 0, 3), OUT(0, 2), NO_FILL),
    Z1("tg_split_size", f_split_size1, IN('n', 0, 3), OUT(0, 1), NO_FILL),
    Z1("tg_chunk", f_chunk1, IN('n', 0, 3), OUT(0, 1), NO_FILL),
    Z1("tg_unbind", f_unbind1, IN('n', 0, 3), OUT(0), NO_FILL),
    Z1("tg_flip", f_flip01, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_tril", f_tril1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_triu", f_triu_neg, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_roll", f_roll01, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_repeat", f_repeat3, IN('n', 0, 3), OUT(2, 0, 6), NO_FILL),
    Z1("tg_tile", f_tile1, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_diagonal", f_diagonal1, IN('n', 0, 3), OUT(0), NO_FILL),
    Z1("tg_diag", f_diag_neg, IN('n', 0, 3), OUT(0), NO_FILL),
    Z1("tg_trace", f_trace, IN('n', 0, 3), OUT0, 0.0),
    Z1("tg_pad", f_pad_reflect, IN('n', 0, 3), OUT(0, 5), NO_FILL),
    Z1("tg_pad", f_pad_const, IN('n', 0, 3), OUT(1, 4), 2.0),
    /* convolutions: an empty batch. No input channels: an empty sum, so the
     * bias alone (zeros without one), [1, 3, 3, 3]; torch 1.13 returns
     * [1, 0, 3, 3] and drops the bias (a deliberate difference) */
    Z1("tg_unfold", f_unfold2, IN('n', 0, 2, 3, 3), OUT(0, 8, 8), NO_FILL),
    Z1("tg_fold", f_fold2, IN('n', 0, 8, 6), OUT(0, 2, 3, 4), NO_FILL),
    {"tg_conv2d", f_conv2d_s2, 3, {IN('n', 0, 2, 4, 4), IN('n', 3, 2, 2, 2), IN('n', 3)}, OUT(0, 3, 3, 3), NULL, NO_FILL, "000"},
    {"tg_conv2d", f_conv2d_s2, 2, {IN('n', 1, 0, 4, 4), IN('n', 3, 0, 2, 2)}, OUT(1, 3, 3, 3), NULL, 0.0, "00"},
    {"tg_conv2d_padding", f_conv2d_same, 2, {IN('n', 0, 2, 4, 4), IN('n', 3, 2, 2, 2)}, OUT(0, 3, 4, 4), NULL, NO_FILL, "00"},
    {"tg_conv1d", f_conv1d_g2, 2, {IN('n', 0, 2, 4), IN('n', 4, 1, 3)}, OUT(0, 4, 4), NULL, NO_FILL, "00"},
    {"tg_conv1d", f_conv1d_g2, 2, {IN('n', 2, 4), IN('n', 0, 1, 3)}, ERR("expected weight to be at least 2"), 0, NULL},
    {"tg_conv1d_padding", f_conv1d_same, 2, {IN('n', 0, 2, 4), IN('n', 3, 2, 2)}, OUT(0, 3, 4), NULL, NO_FILL, "00"},
    {"tg_conv_transpose2d", f_conv_t2d, 3, {IN('n', 0, 2, 3, 3), IN('n', 2, 3, 2, 2), IN('n', 3)}, OUT(0, 3, 5, 4), NULL, NO_FILL, "000"},
    {"tg_conv_transpose2d", f_conv_t2d, 2, {IN('n', 0, 2, 3, 3), IN('n', 2, 0, 2, 2)}, ERR("non-empty"), 0, NULL},
    {"tg_conv_transpose1d", f_conv_t1d, 2, {IN('n', 0, 2, 3), IN('n', 2, 3, 2)}, OUT(0, 3, 7), NULL, NO_FILL, "00"},
    Z1("tg_repeat_interleave", f_ri2_d1, IN('n', 0, 3), OUT(0, 6), NO_FILL),
    Z1("tg_repeat_interleave", f_ri_flat, IN('n', 2, 0), OUT(0), NO_FILL),
    {"tg_repeat_interleave_tensor", f_rit_d0, 2, {IN('n', 0, 3), IDX(3, 0)}, OUT(0, 3), NULL, NO_FILL, "0-"},
    {"tg_one_hot", f_one_hot4, 1, {IDX(3, 0, 2)}, OUT(0, 2, 4), NULL, NO_FILL, "-"},
    {"tg_meshgrid", f_meshgrid_xy, 2, {IN('n', 0), IN('n', 3)}, OUT(3, 0), NULL, NO_FILL, "00"},
    Z1("tg_narrow", f_narrow_empty, IN('n', 2, 3), OUT(2, 0), NO_FILL),
    Z1("tg_slice", f_slice_step, IN('n', 0, 3), OUT(0, 2), NO_FILL),
    Z1("tg_slice", f_slice_empty, IN('n', 2, 3), OUT(2, 0), NO_FILL),
    Z1("tg_select", f_select1, IN('n', 0, 3), OUT(0), NO_FILL),
    {"tg_select", f_select0, 1, {IN('n', 0, 3)}, ERR("select"), 0, NULL},
    Z1("tg_contiguous", f_contiguous, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    Z1("tg_clone", f_clone, IN('n', 2, 0), OUT(2, 0), NO_FILL),
    Z1("tg_to_dtype", f_to_f32, IN('n', 0, 3), OUT(0, 3), NO_FILL),
    {"tg_cat", f_cat0, 2, {IN('n', 0, 3), IN('n', 2, 3)}, OUT(2, 3), NULL, NO_FILL, "01"},
    {"tg_cat", f_cat1, 2, {IN('n', 2, 0), IN('n', 2, 3)}, OUT(2, 3), NULL, NO_FILL, "01"},
    {"tg_cat", f_cat0, 2, {IN('n', 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_stack", f_stack0, 2, {IN('n', 0, 3), IN('n', 0, 3)}, OUT(2, 0, 3), NULL, NO_FILL, "00"},
    {"tg_stack", f_stack1, 2, {IN('n', 2, 0), IN('n', 2, 0)}, OUT(2, 2, 0), NULL, NO_FILL, "00"},
    /* comparisons and logic: bool results without gradient; any of nothing
     * is false, all of nothing true */
    {"tg_eq", f_eq, 2, {IN('n', 0, 3), IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "--"},
    {"tg_ne", f_ne, 2, {IN('n', 2, 0), IN('n', 2, 1)}, OUT(2, 0), NULL, NO_FILL, "--"},
    {"tg_lt", f_lt, 2, {IN('n', 0, 3), IN('n', 3)}, OUT(0, 3), NULL, NO_FILL, "--"},
    {"tg_le", f_le, 2, {IN('n', 2, 0), IN('n', 0)}, OUT(2, 0), NULL, NO_FILL, "--"},
    {"tg_gt", f_gt, 2, {IN('n', 0, 3), IN('n', 2, 3)}, ERR("broadcast"), 0, NULL},
    {"tg_ge", f_ge, 2, {IN('n', 0, 3), IN('n', 1, 3)}, OUT(0, 3), NULL, NO_FILL, "--"},
    {"tg_eq_scalar", f_eq_scalar, 1, {IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "-"},
    {"tg_ne_scalar", f_ne_scalar, 1, {IN('n', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "-"},
    {"tg_lt_scalar", f_lt_scalar, 1, {IN('n', 0)}, OUT(0), NULL, NO_FILL, "-"},
    {"tg_le_scalar", f_le_scalar, 1, {IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "-"},
    {"tg_gt_scalar", f_gt_scalar, 1, {IN('n', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "-"},
    {"tg_ge_scalar", f_ge_scalar, 1, {IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "-"},
    {"tg_isnan", f_isnan, 1, {IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "-"},
    {"tg_isinf", f_isinf, 1, {IN('n', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "-"},
    {"tg_isfinite", f_isfinite, 1, {IDX(3, 0, 3)}, OUT(0, 3), NULL, NO_FILL, "-"},
    {"tg_logical_and", f_logical_and, 2, {IN('n', 0, 3), IN('b', 3)}, OUT(0, 3), NULL, NO_FILL, "--"},
    {"tg_logical_or", f_logical_or, 2, {IN('b', 2, 0), IN('n', 2, 1)}, OUT(2, 0), NULL, NO_FILL, "--"},
    {"tg_logical_xor", f_logical_xor, 2, {IN('b', 0, 3), IN('b', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "--"},
    {"tg_logical_not", f_logical_not, 1, {IN('n', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "-"},
    {"tg_any", f_any, 1, {IN('n', 0, 3)}, OUT0, NULL, 0.0, "-"},
    {"tg_all", f_all, 1, {IN('b', 2, 0)}, OUT0, NULL, 1.0, "-"},
    {"tg_any_dims", f_any_d0, 1, {IN('n', 0, 3)}, OUT(3), NULL, 0.0, "-"},
    {"tg_any_dims", f_any_d0, 1, {IN('n', 2, 0)}, OUT(0), NULL, NO_FILL, "-"},
    {"tg_all_dims", f_all_d1, 1, {IN('b', 2, 0)}, OUT(2), NULL, 1.0, "-"},
    {"tg_all_dims", f_all_d0k, 1, {IN('n', 0, 3)}, OUT(1, 3), NULL, 1.0, "-"},
    /* selection */
    {"tg_where", f_where, 3, {IN('b', 0, 3), IN('n', 0, 3), IN('n', 3)}, OUT(0, 3), NULL, NO_FILL, "-00"},
    {"tg_where", f_where, 3, {IN('b', 2, 1), IN('n', 2, 0), IN('n', 1)}, OUT(2, 0), NULL, NO_FILL, "-00"},
    {"tg_masked_fill", f_masked_fill, 2, {IN('n', 2, 0), IN('b', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "0-"},
    {"tg_masked_fill", f_masked_fill, 2, {IN('n', 0, 3), IN('b', 3)}, OUT(0, 3), NULL, NO_FILL, "0-"},
    {"tg_masked_select", f_masked_select, 2, {IN('n', 0, 3), IN('b', 0, 3)}, OUT(0), NULL, NO_FILL, "0-"},
    {"tg_masked_select", f_masked_select, 2, {IN('n', 3), IN('b', 0, 3)}, OUT(0), NULL, NO_FILL, "0-"},
    {"tg_nonzero", f_nonzero, 1, {IN('n', 0, 3)}, OUT(0, 2), NULL, NO_FILL, "-"},
    {"tg_nonzero", f_nonzero, 1, {IN('b', 2, 0, 4)}, OUT(0, 3), NULL, NO_FILL, "-"},
    {"tg_randint", f_randint, 1, {IN('n', 0, 3)}, OUT(0, 3), NULL, NO_FILL, "0"},
    {"tg_randperm", f_randperm, 1, {IN('n', 0, 3)}, OUT(0), NULL, NO_FILL, "0"},
    {"tg_bernoulli", f_bernoulli, 1, {IN('n', 2, 0)}, OUT(2, 0), NULL, NO_FILL, "0"},
    {"tg_normal_tensor", f_normal_tensor, 2, {IN('n', 0, 3), IN('p', 3)}, OUT(0, 3), NULL, NO_FILL, "00"},
    {"tg_uniform_tensor", f_uniform_tensor, 2, {IN('n', 2, 0), IN('p', 1)}, OUT(2, 0), NULL, NO_FILL, "00"},
    {"tg_multinomial", f_multinomial, 1, {IN('p', 0, 3)}, OUT(0, 2), NULL, NO_FILL, "0"},
    {"tg_multinomial", f_multinomial, 1, {IN('p', 2, 0)}, ERR("no positive probability"), NO_FILL, "0"},
    /* pooling and resampling: an empty batch pools to an empty batch; empty planes raise */
    Z1("tg_max_pool1d", f_max_pool1d, IN('n', 0, 2, 4), OUT(0, 2, 5), NO_FILL),
    {"tg_max_pool1d", f_max_pool1d, 1, {IN('n', 2, 0)}, ERR("optional 0 dim batch size"), NO_FILL, "0"},
    Z1("tg_max_pool2d", f_max_pool2d, IN('n', 0, 2, 4, 4), OUT(0, 2, 3, 2), NO_FILL),
    {"tg_max_pool2d", f_max_pool2d, 1, {IN('n', 1, 0, 4, 4)}, ERR("optional 0 dim batch size"), NO_FILL, "0"},
    Z1("tg_avg_pool1d", f_avg_pool1d, IN('n', 0, 3, 5), OUT(0, 3, 6), NO_FILL),
    Z1("tg_avg_pool2d", f_avg_pool2d, IN('n', 0, 1, 4, 4), OUT(0, 1, 3, 4), NO_FILL),
    {"tg_avg_pool2d", f_avg_pool2d, 1, {IN('n', 2, 0, 4)}, ERR("optional 0 dim batch size"), NO_FILL, "0"},
    Z1("tg_adaptive_avg_pool1d", f_adaptive_avg_pool1d, IN('n', 0, 5), OUT(0, 3), NO_FILL),
    Z1("tg_adaptive_avg_pool2d", f_adaptive_avg_pool2d, IN('n', 1, 0, 4, 4), OUT(1, 0, 3, 2), NO_FILL),
    {"tg_adaptive_avg_pool2d", f_adaptive_avg_pool2d, 1, {IN('n', 1, 2, 0, 4)}, ERR("non-zero size"), NO_FILL, "0"},
    Z1("tg_adaptive_max_pool1d", f_adaptive_max_pool1d, IN('n', 0, 2, 5), OUT(0, 2, 3), NO_FILL),
    Z1("tg_adaptive_max_pool2d", f_adaptive_max_pool2d, IN('n', 0, 2, 4, 4), OUT(0, 2, 3, 2), NO_FILL),
    {"tg_adaptive_max_pool2d", f_adaptive_max_pool2d, 1, {IN('n', 1, 0, 4, 4)}, ERR("non-zero size"), NO_FILL, "0"},
    Z1("tg_interpolate", f_interpolate, IN('n', 0, 2, 3, 3), OUT(0, 2, 5, 3), NO_FILL),
    Z1("tg_interpolate", f_interpolate_nearest, IN('n', 0, 2, 4), OUT(0, 2, 6), NO_FILL),
    {"tg_interpolate", f_interpolate, 1, {IN('n', 1, 0, 3, 3)}, ERR("Non-empty 4D data tensor"), NO_FILL, "0"},
    {"tg_interpolate", f_interpolate, 1, {IN('n', 1, 1, 0, 3)}, ERR("should be greater than 0"), NO_FILL, "0"},
    Z1("tg_pixel_shuffle", f_pixel_shuffle, IN('n', 0, 4, 2, 3), OUT(0, 1, 4, 6), NO_FILL),
    Z1("tg_pixel_shuffle", f_pixel_shuffle, IN('n', 0, 2, 3), OUT(0, 4, 6), NO_FILL),
    Z1("tg_pixel_unshuffle", f_pixel_unshuffle, IN('n', 2, 0, 4, 2), OUT(2, 0, 2, 1), NO_FILL),
};

static bool same_value(double v, double want) { return isnan(want) ? isnan(v) : v == want; }

/* a table case that went wrong: reported, counted, and the table goes on */
static int case_failures;
static bool case_fail(const char *where, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  print_error("%s: %s\n", where, msg);
  case_failures++;
  return false;
}

static void describe(char *where, size_t len, const char *op, int n_in, const in_spec *in, const char *extra) {
  size_t u = (size_t)snprintf(where, len, "%s(", op);
  for (int i = 0; i < n_in && u < len; i++) {
    u += (size_t)snprintf(where + u, len - u, i ? ", [" : "[");
    for (int d = 0; d < in[i].ndim && u < len; d++)
      u += (size_t)snprintf(where + u, len - u, d ? ",%zu" : "%zu", in[i].shape[d]);
    if (u < len)
      u += (size_t)snprintf(where + u, len - u, "]%s", in[i].kind == 'i' ? " int64" : in[i].kind == 'b' ? " bool" : "");
  }
  if (u < len) snprintf(where + u, len - u, ")%s", extra);
}

static bool check_zero_case(const zero_case *zc, const char *where, tg_tensor **in) {
  tg_clear_error();
  tg_tensor *out = zc->f(in);
  if (zc->out_ndim < 0) {
    if (out) return case_fail(where, "returned a tensor where PyTorch raises");
    if (!strstr(tg_last_error(), zc->err))
      return case_fail(where, "error \"%s\" does not mention \"%s\"", tg_last_error(), zc->err);
    return true;
  }
  if (!out) return case_fail(where, "failed: %s", tg_last_error());
  bool shape_ok = out->ndim == zc->out_ndim;
  for (int d = 0; shape_ok && d < out->ndim; d++) shape_ok = out->shape[d] == zc->out_shape[d];
  if (!shape_ok) {
    char got[96];
    return case_fail(where, "result %s, PyTorch's has %d dims [%zu,%zu,...]", tg_shape_str(out, got, sizeof got),
                     zc->out_ndim, zc->out_shape[0], zc->out_shape[1]);
  }
  for (size_t i = 0; zc->fill != NO_FILL && i < out->numel; i++)
    if (!same_value(tg_get_flat(out, i), zc->fill))
      return case_fail(where, "element %zu is %g, expected %g", i, tg_get_flat(out, i), zc->fill);
  if (strspn(zc->grads, "-") == strlen(zc->grads)) { /* no gradient, as in PyTorch */
    if (out->requires_grad || out->grad_fn) return case_fail(where, "a result without gradient requires grad");
    return true;
  }
  /* backward with d out = 1 everywhere: each input's gradient has its shape */
  if (!out->requires_grad) return case_fail(where, "the result does not require grad");
  if (tg_backward(out, tg_ones_like(out), false) != 0) return case_fail(where, "backward failed: %s", tg_last_error());
  for (int i = 0; i < zc->n_in; i++) {
    if (zc->grads[i] == '-') continue;
    tg_tensor *gr = in[i]->grad;
    if (!gr) return case_fail(where, "input %d has no gradient", i);
    if (!tg_same_shape(gr, in[i])) return case_fail(where, "gradient %d has the wrong shape", i);
    double want = zc->grads[i] == '1' ? 1.0 : 0.0;
    for (size_t k = 0; k < gr->numel; k++)
      if (tg_get_flat(gr, k) != want)
        return case_fail(where, "gradient %d element %zu is %g, expected %g", i, k, tg_get_flat(gr, k), want);
  }
  return true;
}

static void run_zero_case(const zero_case *zc, tg_rng *rng) {
  char where[200];
  describe(where, sizeof where, zc->op, zc->n_in, zc->in, "");
  tg_scope_begin();
  tg_tensor *in[3] = {NULL, NULL, NULL};
  for (int i = 0; i < zc->n_in; i++) in[i] = make_input(&zc->in[i], zc->in[i].shape, rng);
  check_zero_case(zc, where, in);
  tg_scope_end();
}

static void test_zero_size_ops(void **state) {
  (void)state;
  tg_rng rng;
  tg_rng_seed(&rng, 2024);
  case_failures = 0;
  for (size_t k = 0; k < sizeof zero_cases / sizeof *zero_cases; k++) run_zero_case(&zero_cases[k], &rng);
  print_message("%zu zero-size cases\n", sizeof zero_cases / sizeof *zero_cases);
  assert_int_equal(case_failures, 0);
}

/* ======================================================================
 * Section 3: non-contiguous inputs
 * ====================================================================== */
/* Every input of a case is made as a non-contiguous view of a float64 leaf
 * (or of an int64 index), three ways:
 *   'T' transposed: two dims of size > 1 swapped (for a tensor with one
 *       such dim, a column of a wider matrix: a select with stride 2),
 *   'S' sliced with a step: every second entry of the last dim of size > 1,
 *   'E' expanded: the first dim of size > 1 broadcast from size 1.
 * The op runs on the views and on tg_contiguous copies of the same views;
 * values, and the float64 gradients that reach the leaves through each
 * path for the same upstream gradient, must agree. */
typedef struct nc_case {
  const char *op;
  op_fn f;
  int n_in;
  in_spec in[3];
  bool view_errors; /* tg_view: an error where the strides do not allow the view, as PyTorch */
} nc_case;

#define NC(op, f, n, ...) {op, f, n, {__VA_ARGS__}, false}

static const nc_case nc_cases[] = {
    NC("tg_add", f_add, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_add", f_add, 2, IN('n', 2, 3), IN('n', 3)),
    NC("tg_sub", f_sub, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_mul", f_mul, 2, IN('n', 2, 3), IN('n', 2, 1)),
    NC("tg_div", f_div, 2, IN('n', 2, 3), IN('p', 2, 3)),
    NC("tg_atan2", f_atan2, 2, IN('n', 2, 3), IN('p', 2, 3)),
    NC("tg_fmod", f_fmod, 2, IN('n', 2, 3), IN('p', 2, 3)),
    NC("tg_remainder", f_remainder, 2, IN('n', 2, 3), IN('p', 2, 3)),
    NC("tg_hypot", f_hypot, 2, IN('p', 2, 3), IN('p', 2, 3)),
    NC("tg_copysign", f_copysign, 2, IN('p', 2, 3), IN('n', 2, 3)),
    NC("tg_lerp", f_lerp, 3, IN('n', 2, 3), IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_clamp_tensor", f_clamp_tensor, 3, IN('n', 2, 3), IN('n', 3), IN('p', 2, 3)),
    NC("tg_clamp_min_tensor", f_clamp_min_tensor, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_clamp_max_tensor", f_clamp_max_tensor, 2, IN('n', 2, 3), IN('n', 3)),
    NC("tg_lerp_scalar", f_lerp_scalar, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_pow", f_pow, 2, IN('p', 2, 3), IN('n', 2, 3)),
    NC("tg_maximum", f_maximum, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_minimum", f_minimum, 2, IN('n', 2, 3), IN('n', 3)),
    NC("tg_add_scalar", f_add_scalar, 1, IN('n', 2, 3)),
    NC("tg_sub_scalar", f_sub_scalar, 1, IN('n', 2, 3)),
    NC("tg_rsub_scalar", f_rsub_scalar, 1, IN('n', 2, 3)),
    NC("tg_mul_scalar", f_mul_scalar, 1, IN('n', 2, 3)),
    NC("tg_div_scalar", f_div_scalar, 1, IN('n', 2, 3)),
    NC("tg_pow_scalar", f_pow_scalar, 1, IN('p', 2, 3)),
    NC("tg_neg", f_neg, 1, IN('n', 2, 3)),
    NC("tg_exp", f_exp, 1, IN('n', 2, 3)),
    NC("tg_log", f_log, 1, IN('p', 2, 3)),
    NC("tg_sqrt", f_sqrt, 1, IN('p', 2, 3)),
    NC("tg_abs", f_abs, 1, IN('n', 2, 3)),
    NC("tg_sin", f_sin, 1, IN('n', 2, 3)),
    NC("tg_cos", f_cos, 1, IN('n', 2, 3)),
    NC("tg_tanh", f_tanh, 1, IN('n', 2, 3)),
    NC("tg_log1p", f_log1p, 1, IN('p', 2, 3)),
    NC("tg_expm1", f_expm1, 1, IN('n', 2, 3)),
    NC("tg_log2", f_log2, 1, IN('p', 2, 3)),
    NC("tg_log10", f_log10, 1, IN('p', 2, 3)),
    NC("tg_exp2", f_exp2, 1, IN('n', 2, 3)),
    NC("tg_tan", f_tan, 1, IN('p', 2, 3)),
    NC("tg_asin", f_asin, 1, IN('p', 2, 3)),
    NC("tg_acos", f_acos, 1, IN('p', 2, 3)),
    NC("tg_atan", f_atan, 1, IN('n', 2, 3)),
    NC("tg_sinh", f_sinh, 1, IN('n', 2, 3)),
    NC("tg_cosh", f_cosh, 1, IN('n', 2, 3)),
    NC("tg_asinh", f_asinh, 1, IN('n', 2, 3)),
    NC("tg_acosh", f_acosh, 1, IN('p', 2, 3)),
    NC("tg_atanh", f_atanh, 1, IN('p', 2, 3)),
    NC("tg_erf", f_erf, 1, IN('n', 2, 3)),
    NC("tg_erfc", f_erfc, 1, IN('n', 2, 3)),
    NC("tg_erfinv", f_erfinv, 1, IN('p', 2, 3)),
    NC("tg_reciprocal", f_reciprocal, 1, IN('p', 2, 3)),
    NC("tg_rsqrt", f_rsqrt, 1, IN('p', 2, 3)),
    NC("tg_square", f_square, 1, IN('n', 2, 3)),
    NC("tg_sign", f_sign, 1, IN('n', 2, 3)),
    NC("tg_floor", f_floor, 1, IN('n', 2, 3)),
    NC("tg_ceil", f_ceil, 1, IN('n', 2, 3)),
    NC("tg_round", f_round, 1, IN('n', 2, 3)),
    NC("tg_trunc", f_trunc, 1, IN('n', 2, 3)),
    NC("tg_frac", f_frac, 1, IN('n', 2, 3)),
    NC("tg_nan_to_num", f_nan_to_num, 1, IN('n', 2, 3)),
    NC("tg_sigmoid", f_sigmoid, 1, IN('n', 2, 3)),
    NC("tg_relu", f_relu, 1, IN('n', 2, 3)),
    NC("tg_leaky_relu", f_leaky_relu, 1, IN('n', 2, 3)),
    NC("tg_elu", f_elu, 1, IN('n', 2, 3)),
    NC("tg_softplus", f_softplus, 1, IN('n', 2, 3)),
    NC("tg_clamp", f_clamp, 1, IN('n', 2, 3)),
    NC("tg_gelu", f_gelu, 1, IN('n', 2, 3)),
    NC("tg_silu", f_silu, 1, IN('n', 2, 3)),
    NC("tg_mish", f_mish, 1, IN('n', 2, 3)),
    NC("tg_hardtanh", f_hardtanh, 1, IN('n', 2, 3)),
    NC("tg_relu6", f_relu6, 1, IN('n', 2, 3)),
    NC("tg_selu", f_selu, 1, IN('n', 2, 3)),
    NC("tg_celu", f_celu, 1, IN('n', 2, 3)),
    NC("tg_softsign", f_softsign, 1, IN('n', 2, 3)),
    NC("tg_hardsigmoid", f_hardsigmoid, 1, IN('n', 2, 3)),
    NC("tg_hardswish", f_hardswish, 1, IN('n', 2, 3)),
    NC("tg_logsigmoid", f_logsigmoid, 1, IN('n', 2, 3)),
    NC("tg_sum", f_sum, 1, IN('n', 2, 3)),
    NC("tg_sum_dims", f_sum_d0, 1, IN('n', 2, 3)),
    NC("tg_sum_dims", f_sum_d1k, 1, IN('n', 2, 3)),
    NC("tg_mean", f_mean, 1, IN('n', 2, 3)),
    NC("tg_mean_dims", f_mean_d0, 1, IN('n', 2, 3)),
    NC("tg_mean_dims", f_mean_d1, 1, IN('n', 2, 3)),
    NC("tg_var", f_var, 1, IN('n', 2, 3)),
    NC("tg_var_dims", f_var_d1, 1, IN('n', 2, 3)),
    NC("tg_var_dims", f_var_d0k, 1, IN('n', 2, 3)),
    NC("tg_logsumexp", f_lse, 1, IN('n', 2, 3)),
    NC("tg_logsumexp", f_lse_d1, 1, IN('n', 2, 3)),
    NC("tg_max", f_max, 1, IN('n', 2, 3)),
    NC("tg_min", f_min, 1, IN('n', 2, 3)),
    NC("tg_max_dim", f_max_d1, 1, IN('n', 2, 3)),
    NC("tg_min_dim", f_min_d0, 1, IN('n', 2, 3)),
    NC("tg_prod", f_prod, 1, IN('n', 2, 3)),
    NC("tg_prod_dim", f_prod_d1, 1, IN('n', 2, 3)),
    NC("tg_prod_dim", f_prod_d0k, 1, IN('n', 2, 3)),
    NC("tg_std", f_std, 1, IN('n', 2, 3)),
    NC("tg_std_dims", f_std_d1, 1, IN('n', 2, 3)),
    NC("tg_std_dims", f_std_d0k, 1, IN('n', 2, 3)),
    NC("tg_norm", f_norm, 1, IN('n', 2, 3)),
    NC("tg_norm", f_norm3_d1, 1, IN('n', 2, 3)),
    NC("tg_norm", f_norm_inf_d0, 1, IN('n', 2, 3)),
    NC("tg_linalg_vector_norm", f_vnorm1_d1, 1, IN('n', 2, 3)),
    NC("tg_linalg_vector_norm", f_vnorm_inf, 1, IN('n', 2, 3)),
    NC("tg_amax", f_amax, 1, IN('n', 2, 3)),
    NC("tg_amax", f_amax_d1, 1, IN('n', 2, 3)),
    NC("tg_amin", f_amin_d0k, 1, IN('n', 2, 3)),
    NC("tg_argmax", f_argmax, 1, IN('n', 2, 3)),
    NC("tg_argmin", f_argmin, 1, IN('n', 2, 3)),
    NC("tg_argmax_dim", f_argmax_d1, 1, IN('n', 2, 3)),
    NC("tg_argmin_dim", f_argmin_d0k, 1, IN('n', 2, 3)),
    NC("tg_median", f_median, 1, IN('n', 2, 3)),
    NC("tg_median_dim", f_median_d1, 1, IN('n', 2, 3)),
    NC("tg_median_dim", f_median_d0k, 1, IN('n', 2, 3)),
    NC("tg_kthvalue", f_kth1_d0, 1, IN('n', 2, 3)),
    NC("tg_kthvalue", f_kth2_d1, 1, IN('n', 2, 3)),
    NC("tg_cumsum", f_cumsum0, 1, IN('n', 2, 3)),
    NC("tg_cumsum", f_cumsum1, 1, IN('n', 2, 3)),
    NC("tg_cumprod", f_cumprod1, 1, IN('n', 2, 3)),
    NC("tg_cumprod", f_cumprod0, 1, IN('n', 2, 3)),
    NC("tg_logcumsumexp", f_lcse1, 1, IN('n', 2, 3)),
    NC("tg_logcumsumexp", f_lcse0, 1, IN('n', 2, 3)),
    NC("tg_sort", f_sort1, 1, IN('n', 2, 3)),
    NC("tg_sort", f_sort0d, 1, IN('n', 2, 3)),
    NC("tg_topk", f_topk2_d1, 1, IN('n', 2, 3)),
    NC("tg_topk", f_topk1_d0, 1, IN('n', 2, 3)),
    NC("tg_unique", f_unique, 1, IN('n', 2, 3)),
    NC("tg_sum_to_shape", f_sum_to_13, 1, IN('n', 2, 3)),
    NC("tg_sum_to_shape", f_sum_to_3, 1, IN('n', 2, 3)),
    NC("tg_matmul", f_matmul, 2, IN('n', 2, 3), IN('n', 3, 4)),
    NC("tg_matmul", f_matmul, 2, IN('n', 2, 2, 3), IN('n', 2, 3, 2)),
    NC("tg_matmul", f_matmul, 2, IN('n', 2, 3), IN('n', 3)),
    NC("tg_matmul", f_matmul, 2, IN('n', 3), IN('n', 3, 2)),
    NC("tg_dot", f_dot, 2, IN('n', 3), IN('n', 3)),
    NC("tg_outer", f_outer, 2, IN('n', 3), IN('n', 2)),
    NC("tg_softmax", f_softmax1, 1, IN('n', 2, 3)),
    NC("tg_log_softmax", f_log_softmax0, 1, IN('n', 2, 3)),
    NC("tg_gather", f_gather1, 2, IN('n', 2, 3), IDX(3, 2, 2)),
    NC("tg_scatter_add", f_scatter_add0, 3, IN('n', 2, 3), IDX(2, 2, 3), IN('n', 2, 3)),
    NC("tg_index_select", f_index_select0, 2, IN('n', 3, 2), IDX(3, 2)),
    NC("tg_index_select", f_index_select1, 2, IN('n', 2, 3), IDX(3, 2)),
    NC("tg_index_add", f_index_add0, 3, IN('n', 3, 2), IDX(3, 2), IN('n', 2, 2)),
    NC("tg_index_add", f_index_add1, 3, IN('n', 2, 3), IDX(3, 2), IN('n', 2, 2)),
    NC("tg_embedding", f_embedding, 2, IN('n', 3, 2), IDX(3, 2, 2)),
    NC("tg_bmm", f_bmm, 2, IN('n', 2, 2, 3), IN('n', 2, 3, 2)),
    NC("tg_mv", f_mv, 2, IN('n', 2, 3), IN('n', 3)),
    NC("tg_addmm", f_addmm, 3, IN('n', 2, 2), IN('n', 2, 3), IN('n', 3, 2)),
    NC("tg_baddbmm", f_baddbmm, 3, IN('n', 2, 2, 2), IN('n', 2, 2, 3), IN('n', 2, 3, 2)),
    NC("tg_movedim", f_movedim, 1, IN('n', 2, 3, 2)),
    NC("tg_swapaxes", f_swapaxes, 1, IN('n', 2, 3)),
    NC("tg_swapdims", f_swapdims, 1, IN('n', 2, 3)),
    NC("tg_take_along_dim", f_take_along1, 2, IN('n', 2, 3), IDX(3, 2, 2)),
    NC("tg_take_along_dim_flat", f_take_flat, 2, IN('n', 2, 3), IDX(6, 2, 2)),
    NC("tg_index_fill", f_index_fill0, 2, IN('n', 2, 3), IDX(2, 2)),
    NC("tg_scatter", f_scatter0, 3, IN('n', 2, 3), IDX(2, 1, 3), IN('n', 2, 3)),
    NC("tg_scatter_value", f_scatter_value1, 2, IN('n', 2, 3), IDX(3, 2, 1)),
    NC("tg_index_put", f_index_put1_acc, 3, IN('n', 3, 2), IDX(3, 2), IN('n', 2, 2)),
    NC("tg_einsum", f_einsum_mm, 2, IN('n', 2, 3), IN('n', 3, 2)),
    NC("tg_reshape", f_reshape_rev, 1, IN('n', 2, 3)),
    {"tg_view", f_view_flat, 1, {IN('n', 2, 3)}, true},
    NC("tg_reshape_infer", f_reshape_infer_rows, 1, IN('n', 2, 3)),
    NC("tg_flatten", f_flatten, 1, IN('n', 2, 3)),
    NC("tg_squeeze", f_squeeze1, 1, IN('n', 2, 1, 3)),
    NC("tg_squeeze_all", f_squeeze_all, 1, IN('n', 2, 1, 3)),
    NC("tg_unsqueeze", f_unsqueeze1, 1, IN('n', 2, 3)),
    NC("tg_transpose", f_transpose, 1, IN('n', 2, 3)),
    NC("tg_t", f_t, 1, IN('n', 2, 3)),
    NC("tg_permute", f_permute201, 1, IN('n', 2, 3, 2)),
    NC("tg_expand", f_expand_lead, 1, IN('n', 2, 3)),
    NC("tg_narrow", f_narrow1, 1, IN('n', 2, 3)),
    NC("tg_split", f_split1, 1, IN('n', 2, 3)),
    NC("tg_split_size", f_split_size1, 1, IN('n', 2, 3)),
    NC("tg_chunk", f_chunk1, 1, IN('n', 2, 3)),
    NC("tg_unbind", f_unbind1, 1, IN('n', 2, 3)),
    NC("tg_flip", f_flip01, 1, IN('n', 2, 3)),
    NC("tg_tril", f_tril1, 1, IN('n', 2, 3)),
    NC("tg_triu", f_triu_neg, 1, IN('n', 2, 3)),
    NC("tg_roll", f_roll01, 1, IN('n', 2, 3)),
    NC("tg_repeat", f_repeat3, 1, IN('n', 2, 3)),
    NC("tg_tile", f_tile1, 1, IN('n', 2, 3)),
    NC("tg_diagonal", f_diagonal1, 1, IN('n', 2, 3)),
    NC("tg_diag", f_diag_neg, 1, IN('n', 2, 3)),
    NC("tg_trace", f_trace, 1, IN('n', 2, 3)),
    NC("tg_pad", f_pad_reflect, 1, IN('n', 2, 3)),
    NC("tg_repeat_interleave", f_ri2_d1, 1, IN('n', 2, 3)),
    NC("tg_repeat_interleave", f_ri_flat, 1, IN('n', 2, 3)),
    NC("tg_repeat_interleave_tensor", f_rit_d1, 2, IN('n', 2, 3), IDX(3, 3)),
    NC("tg_one_hot", f_one_hot4, 1, IDX(4, 2, 3)),
    NC("tg_meshgrid", f_meshgrid_xy, 2, IN('n', 2), IN('n', 3)),
    NC("tg_pad", f_pad_const, 1, IN('n', 2, 3)),
    NC("tg_unfold", f_unfold2, 1, IN('n', 2, 2, 3, 3)),
    NC("tg_fold", f_fold2, 1, IN('n', 2, 8, 6)),
    NC("tg_conv2d", f_conv2d_s2, 3, IN('n', 2, 2, 4, 5), IN('n', 3, 2, 2, 2), IN('n', 3)),
    NC("tg_conv2d_padding", f_conv2d_same, 2, IN('n', 2, 2, 4, 5), IN('n', 3, 2, 2, 3)),
    NC("tg_conv1d", f_conv1d_g2, 3, IN('n', 2, 2, 5), IN('n', 4, 1, 3), IN('n', 4)),
    NC("tg_conv1d_padding", f_conv1d_same, 2, IN('n', 2, 3, 5), IN('n', 2, 3, 2)),
    NC("tg_conv_transpose2d", f_conv_t2d, 3, IN('n', 2, 2, 3, 4), IN('n', 2, 3, 2, 2), IN('n', 3)),
    NC("tg_conv_transpose1d", f_conv_t1d, 2, IN('n', 2, 2, 3), IN('n', 2, 3, 2)),
    NC("tg_slice", f_slice_step, 1, IN('n', 2, 3)),
    NC("tg_select", f_select0, 1, IN('n', 2, 3)),
    NC("tg_select", f_select1, 1, IN('n', 2, 3)),
    NC("tg_contiguous", f_contiguous, 1, IN('n', 2, 3)),
    NC("tg_clone", f_clone, 1, IN('n', 2, 3)),
    NC("tg_to_dtype", f_to_f32, 1, IN('n', 2, 3)),
    NC("tg_cat", f_cat0, 2, IN('n', 2, 3), IN('n', 3, 3)),
    NC("tg_cat", f_cat1, 2, IN('n', 2, 3), IN('n', 2, 2)),
    NC("tg_stack", f_stack0, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_stack", f_stack1, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_eq", f_eq, 2, IN('b', 2, 3), IN('b', 2, 3)),
    NC("tg_ne", f_ne, 2, IDX(3, 2, 3), IDX(3, 3)),
    NC("tg_lt", f_lt, 2, IN('n', 2, 3), IN('n', 3)),
    NC("tg_le", f_le, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_gt", f_gt, 2, IN('n', 2, 3), IN('n', 2, 1)),
    NC("tg_ge", f_ge, 2, IN('n', 2, 3), IN('n', 2, 3)),
    NC("tg_eq_scalar", f_eq_scalar, 1, IN('b', 2, 3)),
    NC("tg_ne_scalar", f_ne_scalar, 1, IN('n', 2, 3)),
    NC("tg_lt_scalar", f_lt_scalar, 1, IN('n', 2, 3)),
    NC("tg_le_scalar", f_le_scalar, 1, IN('n', 2, 3)),
    NC("tg_gt_scalar", f_gt_scalar, 1, IN('n', 2, 3)),
    NC("tg_ge_scalar", f_ge_scalar, 1, IN('n', 2, 3)),
    NC("tg_isnan", f_isnan, 1, IN('n', 2, 3)),
    NC("tg_isinf", f_isinf, 1, IN('n', 2, 3)),
    NC("tg_isfinite", f_isfinite, 1, IN('n', 2, 3)),
    NC("tg_logical_and", f_logical_and, 2, IN('b', 2, 3), IN('n', 2, 3)),
    NC("tg_logical_or", f_logical_or, 2, IN('b', 2, 3), IN('b', 3)),
    NC("tg_logical_xor", f_logical_xor, 2, IN('b', 2, 3), IN('b', 2, 3)),
    NC("tg_logical_not", f_logical_not, 1, IN('b', 2, 3)),
    NC("tg_any", f_any, 1, IN('b', 2, 3)),
    NC("tg_all", f_all, 1, IN('b', 2, 3)),
    NC("tg_any_dims", f_any_d0, 1, IN('b', 2, 3)),
    NC("tg_all_dims", f_all_d1, 1, IN('b', 2, 3)),
    NC("tg_all_dims", f_all_d0k, 1, IN('n', 2, 3)),
    NC("tg_where", f_where, 3, IN('b', 2, 3), IN('n', 2, 3), IN('n', 3)),
    NC("tg_masked_fill", f_masked_fill, 2, IN('n', 2, 3), IN('b', 2, 3)),
    NC("tg_masked_select", f_masked_select, 2, IN('n', 2, 3), IN('b', 2, 3)),
    NC("tg_nonzero", f_nonzero, 1, IN('b', 2, 3)),
    NC("tg_randint", f_randint, 1, IN('n', 2, 3)),
    NC("tg_randperm", f_randperm, 1, IN('n', 2, 3)),
    NC("tg_bernoulli", f_bernoulli, 1, IN('n', 2, 3)),
    NC("tg_normal_tensor", f_normal_tensor, 2, IN('n', 2, 3), IN('p', 2, 3)),
    NC("tg_uniform_tensor", f_uniform_tensor, 2, IN('n', 2, 3), IN('p', 2, 3)),
    NC("tg_multinomial", f_multinomial, 1, IN('p', 2, 3)),
    NC("tg_max_pool1d", f_max_pool1d, 1, IN('n', 2, 3, 5)),
    NC("tg_max_pool2d", f_max_pool2d, 1, IN('n', 2, 3, 4, 5)),
    NC("tg_avg_pool1d", f_avg_pool1d, 1, IN('n', 3, 5)),
    NC("tg_avg_pool2d", f_avg_pool2d, 1, IN('n', 2, 3, 4, 5)),
    NC("tg_adaptive_avg_pool1d", f_adaptive_avg_pool1d, 1, IN('n', 2, 3, 5)),
    NC("tg_adaptive_avg_pool2d", f_adaptive_avg_pool2d, 1, IN('n', 3, 4, 5)),
    NC("tg_adaptive_max_pool1d", f_adaptive_max_pool1d, 1, IN('n', 3, 5)),
    NC("tg_adaptive_max_pool2d", f_adaptive_max_pool2d, 1, IN('n', 2, 3, 4, 5)),
    NC("tg_interpolate", f_interpolate, 1, IN('n', 2, 3, 4, 2)),
    NC("tg_interpolate", f_interpolate_nearest, 1, IN('n', 2, 3, 4)),
    NC("tg_pixel_shuffle", f_pixel_shuffle, 1, IN('n', 2, 4, 3, 2)),
    NC("tg_pixel_unshuffle", f_pixel_unshuffle, 1, IN('n', 3, 2, 4, 6)),
};

/* the last two dims of size > 1 (or fewer), for 'T' */
static int big_dims(const in_spec *sp, int *d0, int *d1) {
  int n = 0;
  for (int d = sp->ndim - 1; d >= 0 && n < 2; d--)
    if (sp->shape[d] > 1) {
      if (n == 0) *d1 = d;
      else *d0 = d;
      n++;
    }
  return n;
}

/* a non-contiguous view of the spec's logical shape; *base is its leaf */
static tg_tensor *make_view(char kind, const in_spec *sp, tg_rng *r, tg_tensor **base) {
  in_spec b = *sp;
  int d0 = -1, d1 = -1, n = big_dims(sp, &d0, &d1);
  *base = NULL;
  switch (kind) {
  case 'T':
    if (n == 2) {
      b.shape[d0] = sp->shape[d1], b.shape[d1] = sp->shape[d0];
      *base = make_input(&b, b.shape, r);
      return tg_transpose(*base, d0, d1);
    }
    b.shape[b.ndim++] = 2; /* a column of a wider tensor */
    *base = make_input(&b, b.shape, r);
    return tg_select(*base, sp->ndim, 1);
  case 'S':
    if (n == 0) return NULL;
    b.shape[d1] *= 2;
    *base = make_input(&b, b.shape, r);
    return tg_slice(*base, d1, 1, (long)b.shape[d1], 2);
  case 'E':
    for (int d = 0; d < sp->ndim; d++)
      if (sp->shape[d] > 1) {
        b.shape[d] = 1;
        *base = make_input(&b, b.shape, r);
        return tg_expand(*base, sp->ndim, sp->shape);
      }
    return NULL;
  }
  return NULL;
}

static bool close_rel(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)) || (isnan(a) && isnan(b)); }

static bool check_nc_case(const nc_case *nc, char kind, const char *where, tg_rng *r) {
  tg_tensor *view[3] = {NULL, NULL, NULL}, *base[3] = {NULL, NULL, NULL}, *copy[3] = {NULL, NULL, NULL};
  for (int i = 0; i < nc->n_in; i++) {
    view[i] = make_view(kind, &nc->in[i], r, &base[i]);
    if (!view[i]) return case_fail(where, "could not make the view: %s", tg_last_error());
    if (tg_is_contiguous(view[i])) return case_fail(where, "input %d is contiguous: not a test", i);
    copy[i] = tg_contiguous(view[i]);
    if (!copy[i] || !tg_is_contiguous(copy[i])) return case_fail(where, "tg_contiguous failed: %s", tg_last_error());
  }
  tg_clear_error();
  tg_tensor *y1 = nc->f(view);
  if (nc->view_errors && !y1) {
    /* tg_view: PyTorch's error where the strides do not allow the view
     * (otherwise the view is compared with the copy below) */
    if (!strstr(tg_last_error(), "not compatible"))
      return case_fail(where, "a view of non-contiguous input: expected the error PyTorch gives");
    return nc->f(copy) ? true : case_fail(where, "on the contiguous copy: %s", tg_last_error());
  }
  if (!y1) return case_fail(where, "failed on the views: %s", tg_last_error());
  tg_tensor *y2 = nc->f(copy);
  if (!y2) return case_fail(where, "failed on the contiguous copies: %s", tg_last_error());
  if (!tg_same_shape(y1, y2) || y1->dtype != y2->dtype) return case_fail(where, "results differ in shape or dtype");
  for (size_t k = 0; k < y1->numel; k++)
    if (!close_rel(tg_get_flat(y1, k), tg_get_flat(y2, k)))
      return case_fail(where, "element %zu: %.17g on the views, %.17g on the copies", k, tg_get_flat(y1, k), tg_get_flat(y2, k));
  if (y1->dtype == TG_BOOL || y1->dtype == TG_INT64) /* comparisons, nonzero: no gradient */
    return y1->requires_grad || y2->requires_grad ? case_fail(where, "a result without gradient requires grad") : true;
  /* the same upstream gradient through both paths */
  tg_tensor *g = tg_randn(r, y1->dtype, y1->ndim, y1->shape);
  double *grad1[3] = {NULL, NULL, NULL};
  bool ok = true;
  /* retain_graph: the views' own nodes are shared by both paths */
  if (tg_backward(y1, g, true) != 0) ok = case_fail(where, "backward through the views: %s", tg_last_error());
  for (int i = 0; ok && i < nc->n_in; i++) {
    if (nc->in[i].kind == 'i' || nc->in[i].kind == 'b') continue;
    if (!base[i]->grad) {
      ok = case_fail(where, "no gradient for input %d through the views", i);
      break;
    }
    grad1[i] = malloc(base[i]->numel * sizeof(double));
    assert_non_null(grad1[i]);
    assert_int_equal(tg_to_f64_array(base[i]->grad, grad1[i]), 0);
    assert_int_equal(tg_zero_grad(base[i]), 0);
  }
  if (ok && tg_backward(y2, g, false) != 0) ok = case_fail(where, "backward through the copies: %s", tg_last_error());
  for (int i = 0; ok && i < nc->n_in; i++) {
    if (nc->in[i].kind == 'i' || nc->in[i].kind == 'b') continue;
    for (size_t k = 0; ok && k < base[i]->numel; k++)
      if (!close_rel(grad1[i][k], tg_get_flat(base[i]->grad, k)))
        ok = case_fail(where, "gradient of input %d, element %zu: %.17g through the views, %.17g through the copies",
                       i, k, grad1[i][k], tg_get_flat(base[i]->grad, k));
  }
  for (int i = 0; i < 3; i++) free(grad1[i]);
  return ok;
}

static void test_noncontiguous_ops(void **state) {
  (void)state;
  tg_rng rng;
  tg_rng_seed(&rng, 77);
  case_failures = 0;
  int runs = 0;
  const char kinds[] = {'T', 'S', 'E'};
  const char *kind_names[] = {" transposed", " sliced with a step", " expanded"};
  for (size_t k = 0; k < sizeof nc_cases / sizeof *nc_cases; k++)
    for (int j = 0; j < 3; j++) {
      char where[200];
      describe(where, sizeof where, nc_cases[k].op, nc_cases[k].n_in, nc_cases[k].in, kind_names[j]);
      tg_scope_begin();
      check_nc_case(&nc_cases[k], kinds[j], where, &rng);
      tg_scope_end();
      runs++;
    }
  assert_int_equal(runs, 3 * (int)(sizeof nc_cases / sizeof *nc_cases));
  print_message("%d non-contiguous cases (%zu op calls x 3 layouts)\n", runs, sizeof nc_cases / sizeof *nc_cases);
  assert_int_equal(case_failures, 0);
}

/* both tables run every op of ops/tg_ops.h that takes a tensor */
static void test_op_tables_complete(void **state) {
  (void)state;
  static hdr_fn fns[MAX_HDR_FNS];
  char path[512];
  snprintf(path, sizeof path, "%s/ops/tg_ops.h", TG_SOURCE_DIR);
  int n = scan_header(path, fns, 0, MAX_HDR_FNS), ops = 0, missing = 0;
  for (int i = 0; i < n; i++) {
    if (!fns[i].ptr_args) continue; /* tg_set_num_threads */
    ops++;
    bool in_zero = false, in_nc = false;
    for (size_t k = 0; k < sizeof zero_cases / sizeof *zero_cases; k++) in_zero |= strcmp(zero_cases[k].op, fns[i].name) == 0;
    for (size_t k = 0; k < sizeof nc_cases / sizeof *nc_cases; k++) in_nc |= strcmp(nc_cases[k].op, fns[i].name) == 0;
    if (!in_zero) print_error("%s has no zero-size case\n", fns[i].name);
    if (!in_nc) print_error("%s has no non-contiguous case\n", fns[i].name);
    missing += !in_zero + !in_nc;
  }
  assert_int_equal(missing, 0);
  assert_int_equal(ops, 221);
}

/* ======================================================================
 * Section 4: autograd misuse
 * ====================================================================== */

/* A graph walked once without retain_graph cannot be walked again: the
 * error names the released node (taken from the tensor, not hard-coded),
 * nothing is accumulated, and new graphs over the same leaves still work. */
static void test_backward_twice_names_node(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){0.5, -1.25}), true);
  tg_tensor *e = tg_exp(x);
  tg_tensor *y = tg_sum(tg_mul(e, x)); /* d/dx sum(x e^x) = (1 + x) e^x */
  const char *root_node = tg_grad_fn_name(y), *exp_node = tg_grad_fn_name(e);
  assert_non_null(root_node);
  assert_non_null(exp_node);
  assert_int_equal(tg_backward(y, NULL, false), 0);
  double g1[2];
  for (size_t i = 0; i < 2; i++) {
    double xi = tg_get_flat(x, i);
    g1[i] = tg_get_flat(x->grad, i);
    assert_close(g1[i], (1 + xi) * exp(xi), 1e-12);
  }
  /* the same root again */
  tg_clear_error();
  assert_int_equal(tg_backward(y, NULL, false), -1);
  assert_error_has("backward", "second time", root_node, "retain_graph");
  /* a new root over a released node: that node is named */
  tg_tensor *y2 = tg_sum(tg_mul_scalar(e, 3.0));
  assert_int_equal(tg_backward(y2, NULL, false), -1);
  assert_error_has("second time", exp_node);
  for (size_t i = 0; i < 2; i++) assert_close(tg_get_flat(x->grad, i), g1[i], 0); /* untouched */
  /* tg_grad without retain_graph releases its graph just the same */
  tg_tensor *z = tg_sum(tg_mul(x, x)), *gz = NULL;
  const char *z_node = tg_grad_fn_name(z);
  assert_int_equal(tg_grad(1, &z, NULL, 1, &x, &gz, (tg_grad_opts){0}), 0);
  assert_close(tg_get_flat(gz, 1), 2 * tg_get_flat(x, 1), 1e-15);
  assert_int_equal(tg_grad(1, &z, NULL, 1, &x, &gz, (tg_grad_opts){0}), -1);
  assert_error_has("second time", z_node);
  /* a fresh graph over the same leaf works and accumulates */
  tg_clear_error();
  assert_int_equal(tg_backward(tg_sum(tg_exp(x)), NULL, false), 0);
  for (size_t i = 0; i < 2; i++) assert_close(tg_get_flat(x->grad, i), g1[i] + exp(tg_get_flat(x, i)), 1e-12);
  /* a leaf is no graph: backward through it twice is fine, as in PyTorch */
  tg_tensor *s = tg_requires_grad_(tg_scalar(TG_FLOAT64, 4.0), true);
  assert_int_equal(tg_backward(s, NULL, false), 0);
  assert_int_equal(tg_backward(s, NULL, false), 0);
  assert_close(tg_item(s->grad), 2.0, 0);
  assert_false(tg_has_error());
}

/* PyTorch computes gradients normally when backward is called under
 * no_grad: its engine runs a backward pass with grad mode set to
 * create_graph, whatever the caller's mode, and restores the mode after.
 * What is recorded under no_grad has no history, so it cannot be
 * differentiated. */
/* no_grad levels this test opened, closed by its teardown if an assertion
 * left early (a later test must not run with grad mode off) */
static int no_grad_open;
static bool forced_grad_off;
static void no_grad_begin_counted(void) {
  tg_no_grad_begin();
  no_grad_open++;
}
static void no_grad_end_counted(void) {
  tg_no_grad_end();
  no_grad_open--;
}
static int grad_mode_teardown(void **state) {
  for (; no_grad_open > 0; no_grad_open--) tg_no_grad_end();
  if (forced_grad_off) tg_set_grad_enabled(true);
  forced_grad_off = false;
  return test_teardown(state);
}

static void test_backward_inside_no_grad(void **state) {
  (void)state;
  tg_tensor *x = tg_requires_grad_(tg_from_f64(TG_SHAPE(3), (const double[]){1.5, -0.5, 2.0}), true);
  tg_tensor *y = tg_sum(tg_pow_scalar(x, 3.0)); /* recorded with grad on */
  no_grad_begin_counted();
  assert_false(tg_grad_enabled());
  assert_int_equal(tg_backward(y, NULL, false), 0);
  assert_false(tg_grad_enabled()); /* the mode is the caller's again */
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(x->grad, i), 3 * pow(tg_get_flat(x, i), 2), 1e-12);
  /* made under no_grad: no grad_fn, so backward is an error */
  tg_tensor *w = tg_sum(tg_mul(x, x));
  assert_false(w->requires_grad);
  assert_null(tg_grad_fn_name(w));
  assert_int_equal(tg_backward(w, NULL, false), -1);
  assert_error_has("backward", "does not require grad");
  tg_clear_error();
  /* create_graph under no_grad still records the backward: a second
   * derivative is available (d2/dx2 sum(x^3) = 6x) */
  tg_tensor *y3 = NULL, *g = NULL;
  no_grad_end_counted();
  y3 = tg_sum(tg_pow_scalar(x, 3.0));
  no_grad_begin_counted();
  assert_int_equal(tg_grad(1, &y3, NULL, 1, &x, &g, (tg_grad_opts){.create_graph = true}), 0);
  assert_false(tg_grad_enabled());
  assert_true(g->requires_grad);
  assert_non_null(tg_grad_fn_name(g));
  /* and without create_graph the result has no history */
  tg_tensor *g_plain = NULL;
  assert_int_equal(tg_grad(1, &y3, NULL, 1, &x, &g_plain, (tg_grad_opts){.retain_graph = true}), 0);
  assert_false(g_plain->requires_grad);
  no_grad_end_counted();
  assert_true(tg_grad_enabled());
  assert_int_equal(tg_zero_grad(x), 0);
  assert_int_equal(tg_backward(tg_sum(g), NULL, false), 0);
  for (size_t i = 0; i < 3; i++) {
    assert_close(tg_get_flat(g, i), 3 * pow(tg_get_flat(x, i), 2), 1e-12);
    assert_close(tg_get_flat(g_plain, i), 3 * pow(tg_get_flat(x, i), 2), 1e-12);
    assert_close(tg_get_flat(x->grad, i), 6 * tg_get_flat(x, i), 1e-12);
  }
  /* tg_set_grad_enabled(false) is the same mode */
  tg_tensor *v = tg_sum(tg_sin(x));
  assert_int_equal(tg_zero_grad(x), 0);
  bool was = tg_set_grad_enabled(false);
  forced_grad_off = true;
  assert_int_equal(tg_backward(v, NULL, false), 0);
  assert_false(tg_grad_enabled());
  tg_set_grad_enabled(was);
  forced_grad_off = false;
  for (size_t i = 0; i < 3; i++) assert_close(tg_get_flat(x->grad, i), cos(tg_get_flat(x, i)), 1e-12);
}

/* A tensor used after its scope ended is an error naming the function,
 * never a read of freed memory. Nothing is allocated between the
 * scope_end and the uses (the pool could then reuse the block). */
static void test_use_after_scope_end(void **state) {
  (void)state;
  tg_scope_end(); /* from the fixture: persistent tensors first */
  tg_tensor *live = tg_ones(TG_FLOAT64, TG_SHAPE(2, 2));
  tg_tensor *p = tg_requires_grad_(tg_from_f64(TG_SHAPE(2), (const double[]){3, -2}), true);
  tg_module *m = tg_nn_linear(2, 2, true, NULL);
  assert_non_null(live);
  assert_non_null(p);
  assert_non_null(m);
  char buf[96];
  tg_scope_begin();
  tg_tensor *dead = tg_ones(TG_FLOAT64, TG_SHAPE(2, 2));
  tg_tensor *dead_view = tg_t(dead);
  tg_tensor *dead_idx = tg_from_i64(TG_SHAPE(2, 1), (const int64_t[]){0, 1});
  tg_tensor *dead_y = tg_sum(tg_mul(p, p));
  tg_tensor *kept = tg_keep(tg_sum(tg_exp(p))); /* the positive control */
  assert_non_null(dead_y);
  assert_non_null(kept);
  assert_int_equal(tg_scope_end(), 0);
#define DEAD(expr_is_failure, ...)                                             \
  do {                                                                         \
    tg_clear_error();                                                          \
    assert_true(expr_is_failure);                                              \
    assert_error_has(__VA_ARGS__);                                             \
  } while (0)
  DEAD(tg_exp(dead) == NULL, "exp: argument 1", "scope has ended");
  DEAD(tg_add(live, dead) == NULL, "add: argument 2", "scope has ended");
  DEAD(tg_matmul(dead_view, live) == NULL, "matmul: argument 1", "scope has ended");
  DEAD(tg_sum(dead_view) == NULL, "sum", "scope has ended");
  DEAD(tg_reshape(dead, TG_SHAPE(4)) == NULL, "reshape", "scope has ended");
  DEAD(tg_cat(2, (tg_tensor *[]){live, dead}, 0) == NULL, "cat: argument 2", "scope has ended");
  DEAD(tg_gather(live, 1, dead_idx) == NULL, "gather: argument 3", "scope has ended");
  DEAD(isnan(tg_item(dead_y)), "item", "scope has ended");
  DEAD(isnan(tg_get_flat(dead, 0)), "get_flat", "scope has ended");
  DEAD(tg_set(dead, (const size_t[]){0, 0}, 1.0) == -1, "set", "scope has ended");
  DEAD(tg_copy_(live, dead) == -1, "copy_: argument 2", "scope has ended");
  DEAD(tg_fill_(dead, 0) == NULL, "fill_", "scope has ended");
  DEAD(tg_backward(dead_y, NULL, false) == -1, "backward", "scope has ended");
  DEAD(tg_backward(kept, dead, false) == -1, "backward: argument 2", "scope has ended");
  DEAD(tg_keep(dead) == NULL, "keep", "scope has ended");
  DEAD(tg_detach(dead) == NULL, "detach", "scope has ended");
  DEAD(tg_requires_grad_(dead, true) == NULL, "requires_grad_", "scope has ended");
  DEAD(tg_zero_grad(dead) == -1, "zero_grad", "scope has ended");
  DEAD(tg_module_forward(m, dead) == NULL, "Linear: argument 1", "scope has ended");
  DEAD(tg_mse_loss(live, dead, TG_REDUCTION_MEAN) == NULL, "mse_loss", "scope has ended");
  DEAD(tg_graph_dot(dead_y, stderr) == -1, "graph_dot", "scope has ended");
  DEAD((tg_free(dead), true), "free", "scope has ended");
#undef DEAD
  tg_clear_error();
  assert_null(tg_grad_fn_name(dead_y)); /* a query: no history to name */
  size_t want = tg_format(dead, buf, sizeof buf);
  assert_int_equal(want, strlen(buf));
  assert_non_null(strstr(buf, "scope has ended"));
  assert_false(tg_has_error());
  /* the kept graph outlived its scope: d/dp sum(e^p) = e^p */
  assert_int_equal(tg_backward(kept, NULL, false), 0);
  for (size_t i = 0; i < 2; i++) assert_close(tg_get_flat(p->grad, i), exp(tg_get_flat(p, i)), 1e-12);
  /* a persistent tensor after tg_free: the same error, and a second free is one too */
  tg_tensor *gone = tg_zeros(TG_FLOAT32, TG_SHAPE(3));
  tg_free(gone);
  tg_clear_error();
  assert_null(tg_neg(gone));
  assert_error_has("neg", "freed");
  tg_clear_error();
  tg_free(gone);
  assert_error_has("free", "already freed");
  tg_clear_error();
  tg_free(kept); /* kept at depth 1: persistent, with its graph (README: Memory) */
  tg_free(p);
  tg_free(live);
  tg_module_free(m);
  tg_scope_begin(); /* for the fixture's teardown */
}

int main(void) {
  /* one group (scripts/test.sh counts the last PASSED line); the fixtures
   * are section 1's non-NULL arguments */
  const struct CMUnitTest tests[] = {
      /* 1: NULL arguments */
      TG_TEST(test_null_tensor_api),
      TG_TEST(test_null_autograd_api),
      TG_TEST(test_null_ops_api),
      TG_TEST(test_null_nn_api),
      TG_TEST(test_null_optim_api),
      TG_TEST(test_null_data_api),
      TG_TEST(test_null_dist_api),
      TG_TEST(test_null_coverage_complete), /* after every NULL case */
      /* 2 and 3: zero-size and non-contiguous inputs */
      TG_TEST(test_zero_size_ops),
      TG_TEST(test_noncontiguous_ops),
      TG_TEST(test_op_tables_complete),
      /* 4: autograd misuse */
      TG_TEST(test_backward_twice_names_node),
      cmocka_unit_test_setup_teardown(test_backward_inside_no_grad, test_setup, grad_mode_teardown),
      TG_TEST(test_use_after_scope_end),
  };
  int rc = cmocka_run_group_tests_name("hostile API use", tests, fixtures_setup, fixtures_teardown);
  tg_release_cached();
  return rc;
}
