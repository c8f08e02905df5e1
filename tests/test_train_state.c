/* tg_train_state_save/_load: a run stopped anywhere (mid-epoch, after an
 * epoch's last batch, across an epoch boundary) and resumed from a file into
 * freshly built objects ends bit for bit where the uninterrupted run ends.
 * The reference is the uninterrupted run itself, never the code under test's
 * own files. One thread (tg_set_num_threads(1)): sums in a fixed order.
 * Early stopping's bookkeeping round-trips and is checked like the rest. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tg_test.h"

#define N_SAMPLES 50
#define N_FEAT 6
#define N_CLASS 3
#define BATCH 8 /* 7 batches an epoch, the last of 2 */
#define NB 7

static char g_path[256];

typedef struct run {
  tg_dataset *ds;
  tg_loader *loader;
  tg_module *model;
  tg_optimizer *opt;
  tg_lr_scheduler *sched;
  tg_rng init_rng, drop_rng;
  tg_rng *rngs[2];
  tg_tensor **params;
  size_t n_params;
  long epoch, step; /* the caller's counters: epoch, step within it */
} run;

static tg_dataset *make_dataset(void) {
  float x[N_SAMPLES * N_FEAT];
  int64_t y[N_SAMPLES];
  tg_rng r = test_seeded(11);
  for (size_t i = 0; i < N_SAMPLES * N_FEAT; i++) x[i] = (float)tg_rng_normal(&r);
  for (size_t i = 0; i < N_SAMPLES; i++) y[i] = (int64_t)(i % N_CLASS);
  return tg_dataset_from_floats(N_SAMPLES, 1, (size_t[]){N_FEAT}, x, y);
}

/* init_seed: what a resumed run builds its model from does not matter */
typedef enum { NO_SCHED, STEP_LR, ONE_CYCLE, SEQUENTIAL } sched_kind;

static tg_lr_scheduler *make_sched(tg_optimizer *opt, sched_kind k) {
  if (k == STEP_LR) return tg_step_lr_new(opt, 1, 0.5);
  if (k == ONE_CYCLE) { /* cycles Adam's beta1 too: a hyper-parameter the file must carry */
    tg_one_cycle_opts o = tg_one_cycle_defaults();
    o.max_lr = 0.05, o.total_steps = 10;
    return tg_one_cycle_lr_new(opt, o);
  }
  tg_lr_scheduler *parts[2] = {tg_linear_lr_new(opt, 0.5, 1.0, 2), tg_exponential_lr_new(opt, 0.7)};
  return tg_sequential_lr_new(opt, parts, 2, (long[]){2}, 1);
}

static void run_build(run *r, uint64_t init_seed, bool adam, sched_kind sched) {
  memset(r, 0, sizeof *r);
  r->ds = make_dataset();
  assert_non_null(r->ds);
  r->loader = tg_loader_new(r->ds, BATCH, true, false, 7);
  assert_non_null(r->loader);
  assert_int_equal(tg_loader_num_batches(r->loader), NB);
  tg_rng_seed(&r->init_rng, init_seed);
  tg_rng_seed(&r->drop_rng, init_seed + 1);
  r->model = tg_nn_sequential(4, tg_nn_linear(N_FEAT, 16, true, &r->init_rng), tg_nn_relu(),
                              tg_nn_dropout(0.3, &r->drop_rng),
                              tg_nn_linear(16, N_CLASS, true, &r->init_rng));
  assert_non_null(r->model);
  r->params = tg_module_parameters(r->model, &r->n_params);
  assert_non_null(r->params);
  if (adam) {
    tg_adam_opts o = tg_adam_defaults();
    o.lr = 0.01, o.weight_decay = 1e-3;
    r->opt = tg_adam_new(r->params, (int)r->n_params, o);
  } else {
    r->opt = tg_sgd_new(r->params, (int)r->n_params,
                        (tg_sgd_opts){.lr = 0.1, .momentum = 0.9, .nesterov = true});
  }
  assert_non_null(r->opt);
  if (sched) assert_non_null(r->sched = make_sched(r->opt, sched));
  r->rngs[0] = &r->init_rng, r->rngs[1] = &r->drop_rng;
}

static void run_free(run *r) {
  tg_scheduler_free(r->sched);
  tg_optim_free(r->opt);
  tg_module_free(r->model);
  tg_loader_free(r->loader);
  tg_dataset_free(r->ds);
  memset(r, 0, sizeof *r);
}

static tg_train_state state_of(run *r) {
  return (tg_train_state){.model = r->model, .opt = r->opt, .sched = r->sched,
                          .epoch = r->epoch, .step = r->step, .rngs = r->rngs, .n_rngs = 2,
                          .loader = r->loader};
}

/* train until stop steps in all; at_boundary: then on to the end of that epoch */
static void run_until(run *r, long stop, bool at_boundary) {
  for (;;) {
    if (r->epoch * NB + r->step >= stop && (!at_boundary || r->step == 0)) return;
    tg_tensor *x, *y;
    if (!tg_loader_next(r->loader, &x, &y)) {
      assert_false(tg_loader_failed(r->loader));
      if (r->sched) assert_int_equal(tg_scheduler_step(r->sched), 0);
      r->epoch++, r->step = 0;
      continue;
    }
    tg_scope_begin();
    assert_int_equal(tg_optim_zero_grad(r->opt), 0);
    tg_tensor *loss = tg_cross_entropy(tg_module_forward(r->model, x), y, TG_REDUCTION_MEAN);
    assert_non_null(loss);
    assert_int_equal(tg_backward(loss, NULL, false), 0);
    assert_int_equal(tg_optim_step(r->opt), 0);
    tg_scope_end();
    r->step++;
  }
}

static void assert_same_runs(run *a, run *b) {
  assert_int_equal(a->n_params, b->n_params);
  for (size_t i = 0; i < a->n_params; i++) {
    assert_int_equal(a->params[i]->numel, b->params[i]->numel);
    assert_memory_equal(tg_data_f32(a->params[i]), tg_data_f32(b->params[i]),
                        a->params[i]->numel * sizeof(float));
  }
  size_t n = tg_optim_state_count(a->opt);
  assert_int_equal(n, tg_optim_state_count(b->opt));
  for (size_t i = 0; i < n; i++)
    test_assert_identical(tg_optim_state_at(a->opt, i, NULL), tg_optim_state_at(b->opt, i, NULL));
  assert_true(tg_optim_get_lr(a->opt) == tg_optim_get_lr(b->opt));
  assert_memory_equal(a->drop_rng.s, b->drop_rng.s, sizeof a->drop_rng.s);
  assert_int_equal(a->epoch, b->epoch);
  assert_int_equal(a->step, b->step);
}

/* straight to total vs stopped at kill, saved, freed, rebuilt and resumed */
static void check_resume(long kill, bool at_boundary, long total, bool adam, sched_kind sched) {
  run a, b;
  run_build(&a, 3, adam, sched);
  run_until(&a, total, false);

  run_build(&b, 3, adam, sched);
  run_until(&b, kill, at_boundary);
  tg_train_state st = state_of(&b);
  assert_int_equal(tg_train_state_save(g_path, &st), 0);
  run_free(&b);

  run_build(&b, 99, adam, sched); /* other weights, generators and loader position */
  st = state_of(&b);
  st.epoch = st.step = -5;
  assert_int_equal(tg_train_state_load(g_path, &st), 0);
  b.epoch = st.epoch, b.step = st.step;
  run_until(&b, total, false);
  assert_same_runs(&a, &b);
  run_free(&a);
  run_free(&b);
}

static void test_resume_mid_epoch(void **s) {
  (void)s;
  check_resume(10, false, 17, true, NO_SCHED); /* epoch 1, after its 3rd batch */
  check_resume(3, false, 17, false, NO_SCHED);
}

static void test_resume_with_scheduler_and_dropout(void **s) {
  (void)s;
  check_resume(11, false, 24, true, STEP_LR);
  check_resume(11, false, 24, false, STEP_LR);
  check_resume(16, false, 30, true, ONE_CYCLE);
  check_resume(15, false, 30, false, SEQUENTIAL);
}

static void test_resume_at_epoch_boundary(void **s) {
  (void)s;
  check_resume(7, false, 20, true, STEP_LR);  /* the epoch's last batch handed out, no end seen */
  check_resume(14, true, 20, true, STEP_LR);  /* the epoch's end seen, the scheduler stepped */
  check_resume(14, true, 30, true, ONE_CYCLE);
  check_resume(0, false, 9, false, STEP_LR);  /* before anything */
}

/* killing the loader's own test: its position alone round-trips */
static void test_loader_state(void **s) {
  (void)s;
  tg_dataset *ds = make_dataset();
  tg_loader *a = tg_loader_new(ds, BATCH, true, false, 5);
  tg_loader *b = tg_loader_new_workers(ds, BATCH, true, false, 1234, 2);
  assert_non_null(a);
  assert_non_null(b);
  tg_tensor *xa, *ya, *xb, *yb;
  for (int k = 0; k < NB + 4; k++) assert_true(tg_loader_next(a, &xa, &ya) || k == NB);
  tg_loader_state st;
  assert_int_equal(tg_loader_get_state(a, &st), 0);
  assert_int_equal(st.epoch, 2);
  assert_int_equal(st.next, 3);
  assert_int_equal(tg_loader_set_state(b, &st), 0);
  for (int k = 0; k < 2 * NB; k++) {
    bool ga = tg_loader_next(a, &xa, &ya), gb = tg_loader_next(b, &xb, &yb);
    assert_int_equal(ga, gb);
    if (ga) {
      test_assert_identical(xa, xb);
      test_assert_identical(ya, yb);
    }
  }
  st.next = NB + 1;
  assert_int_equal(tg_loader_set_state(b, &st), -1);
  test_expect_error("loader_set_state", "does not exist");
  tg_loader_free(a);
  tg_loader_free(b);
  tg_dataset_free(ds);
}

static void test_plateau_state_round_trip(void **s) {
  (void)s;
  run a, b;
  run_build(&a, 3, false, NO_SCHED);
  run_build(&b, 3, false, NO_SCHED);
  tg_plateau_opts o = tg_plateau_defaults();
  o.patience = 1;
  a.sched = tg_reduce_lr_on_plateau_new(a.opt, o);
  b.sched = tg_reduce_lr_on_plateau_new(b.opt, o);
  const double m[] = {1.0, 0.9, 0.95, 0.97, 0.99};
  for (int i = 0; i < 5; i++) assert_int_equal(tg_reduce_lr_on_plateau_step(a.sched, m[i]), 0);
  assert_true(tg_optim_get_lr(a.opt) < 0.1); /* reduced once */
  tg_train_state st = state_of(&a);
  assert_int_equal(tg_train_state_save(g_path, &st), 0);
  st = state_of(&b);
  assert_int_equal(tg_train_state_load(g_path, &st), 0);
  tg_plateau_state pa, pb;
  assert_int_equal(tg_reduce_lr_on_plateau_state(a.sched, &pa), 0);
  assert_int_equal(tg_reduce_lr_on_plateau_state(b.sched, &pb), 0);
  assert_true(pa.best == pb.best);
  assert_int_equal(pa.num_bad_epochs, pb.num_bad_epochs);
  assert_int_equal(pa.cooldown_counter, pb.cooldown_counter);
  assert_int_equal(tg_scheduler_get_epoch(b.sched), 5);
  assert_true(tg_optim_get_lr(a.opt) == tg_optim_get_lr(b.opt));
  run_free(&a);
  run_free(&b);
}

static void truncate_copy(const char *from, const char *to, long keep) {
  FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
  assert_non_null(f);
  assert_non_null(g);
  for (long i = 0; i < keep; i++) {
    int c = fgetc(f);
    if (c == EOF) break;
    fputc(c, g);
  }
  fclose(f);
  fclose(g);
}

static void test_bad_files(void **s) {
  (void)s;
  run a;
  run_build(&a, 3, true, STEP_LR);
  run_until(&a, 4, false);
  tg_train_state st = state_of(&a);
  assert_int_equal(tg_train_state_save(g_path, &st), 0);
  tg_tensor *before = tg_clone(a.params[0]);
  char cut[300];
  snprintf(cut, sizeof cut, "%s.cut", g_path);
  FILE *f = fopen(g_path, "rb");
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fclose(f);
  for (long keep = 0; keep < len; keep += len / 13 + 1) {
    truncate_copy(g_path, cut, keep);
    assert_int_equal(tg_train_state_load(cut, &st), -1);
    assert_true(tg_has_error());
    tg_clear_error();
  }
  test_assert_identical(before, a.params[0]); /* nothing written by a failed load */

  /* a model of another shape: the entry is named */
  tg_rng r = test_seeded(1);
  tg_module *wide = tg_nn_sequential(2, tg_nn_linear(N_FEAT, 17, true, &r),
                                     tg_nn_linear(17, N_CLASS, true, &r));
  st.model = wide;
  assert_int_equal(tg_train_state_load(g_path, &st), -1);
  test_expect_error("model.0.weight", "expected");
  tg_module_free(wide);
  st.model = a.model;

  /* another optimizer, no scheduler, another number of generators, no loader */
  tg_optimizer *sgd = tg_sgd_new(a.params, (int)a.n_params, (tg_sgd_opts){.lr = 0.1});
  st.opt = sgd, st.sched = NULL;
  assert_int_equal(tg_train_state_load(g_path, &st), -1);
  test_expect_error("optimizer Adam", "not SGD");
  tg_optim_free(sgd);
  st = state_of(&a);
  st.sched = NULL;
  assert_int_equal(tg_train_state_load(g_path, &st), -1);
  test_expect_error("scheduler", NULL);
  st = state_of(&a);
  st.n_rngs = 1;
  assert_int_equal(tg_train_state_load(g_path, &st), -1);
  test_expect_error("2 generators", NULL);
  st = state_of(&a);
  st.loader = NULL;
  assert_int_equal(tg_train_state_load(g_path, &st), -1);
  test_expect_error("loader", NULL);

  /* a plain module checkpoint is not a training state */
  assert_int_equal(tg_save_module(cut, a.model, NULL, 0), 0);
  st = state_of(&a);
  assert_int_equal(tg_train_state_load(cut, &st), -1);
  test_expect_error("not a training state", NULL);
  unlink(cut);

  /* NULLs */
  assert_int_equal(tg_train_state_save(NULL, &st), -1);
  test_expect_error("train_state_save", "path");
  assert_int_equal(tg_train_state_load(g_path, NULL), -1);
  test_expect_error("train_state_load", "state");
  st.rngs = NULL;
  assert_int_equal(tg_train_state_save(g_path, &st), -1);
  test_expect_error("train_state_save", "rngs");
  st = state_of(&a);
  st.model = NULL;
  assert_int_equal(tg_train_state_save(g_path, &st), -1);
  test_expect_error("model", NULL);
  tg_free(before);
  run_free(&a);
}

/* early stopping's bookkeeping: saved with the state and given back as it
 * was (counters, flag, the best weights bit for bit), and checked like any
 * other entry */
static void test_early_stop_round_trip(void **s) {
  (void)s;
  run a, b;
  run_build(&a, 3, false, NO_SCHED);
  run_until(&a, 5, false);
  tg_state_dict *sd = tg_module_state_dict(a.model);
  assert_non_null(sd);
  tg_tensor *best[8] = {0}, *back[8] = {0};
  assert_true(sd->n <= 8);
  tg_rng r = test_seeded(5);
  for (size_t i = 0; i < sd->n; i++) {
    const tg_tensor *t = sd->entries[i].tensor;
    best[i] = tg_randn(&r, t->dtype, t->ndim, t->shape); /* not the model's values */
    back[i] = tg_zeros_like(t);
  }
  tg_early_stop es = {.best = 0.8125, .best_epoch = 3, .bad_epochs = 2, .stopped = true,
                      .best_weights = best};
  tg_train_state st = state_of(&a);
  st.early = &es;
  assert_int_equal(tg_train_state_save(g_path, &st), 0);

  run_build(&b, 99, false, NO_SCHED);
  tg_early_stop got = {.best = INFINITY, .best_weights = back};
  tg_train_state sb = state_of(&b);
  sb.early = &got;
  assert_int_equal(tg_train_state_load(g_path, &sb), 0);
  assert_true(got.best == 0.8125);
  assert_int_equal(got.best_epoch, 3);
  assert_int_equal(got.bad_epochs, 2);
  assert_true(got.stopped);
  for (size_t i = 0; i < sd->n; i++) test_assert_identical(back[i], best[i]);
  b.epoch = sb.epoch, b.step = sb.step;
  assert_same_runs(&a, &b);

  /* without a place for the bookkeeping, or for the weights: refused */
  sb = state_of(&b);
  assert_int_equal(tg_train_state_load(g_path, &sb), -1);
  test_expect_error("early stopping", NULL);
  tg_early_stop no_weights = {.best = INFINITY};
  sb.early = &no_weights;
  assert_int_equal(tg_train_state_load(g_path, &sb), -1);
  test_expect_error("best epoch's weights", NULL);
  /* best weights of the wrong shape are refused before saving */
  tg_tensor *keep = best[0];
  best[0] = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 2));
  assert_int_equal(tg_train_state_save(g_path, &st), -1);
  test_expect_error("best_weights[0]", NULL);
  tg_free(best[0]);
  best[0] = keep;
  for (size_t i = 0; i < sd->n; i++) tg_free(best[i]), tg_free(back[i]);
  tg_state_dict_free(sd);
  run_free(&a);
  run_free(&b);
}

static int group_setup(void **state) {
  (void)state;
  tg_set_num_threads(1);
  const char *tmp = getenv("TMPDIR");
  snprintf(g_path, sizeof g_path, "%s/tg-train-state-%d.safetensors", tmp && *tmp ? tmp : "/tmp",
           (int)getpid());
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  unlink(g_path);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_loader_state),
      TG_TEST(test_resume_mid_epoch),
      TG_TEST(test_resume_with_scheduler_and_dropout),
      TG_TEST(test_resume_at_epoch_boundary),
      TG_TEST(test_plateau_state_round_trip),
      TG_TEST(test_bad_files),
      TG_TEST(test_early_stop_round_trip),
  };
  int rc = cmocka_run_group_tests_name("train_state", tests, group_setup, group_teardown);
  tg_release_cached();
  return rc;
}
