/* Shared by the training examples: the common flags, timing, progress lines
 * and the parameter fingerprint. Header-only so each example stays one file. */
#ifndef TRAIN_UTIL_H
#define TRAIN_UTIL_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include "tapegrad.h"

typedef struct train_flags {
  const char *data; /* dataset directory */
  const char *out;  /* where PNGs, CSV logs and checkpoints go */
  const char *load; /* checkpoint to start from */
  int epochs, threads;
  size_t batch;
  double lr;
  uint64_t seed;
  bool linear; /* mlp_mnist: the linear model */
  bool adam;   /* cifar_mlp: Adam instead of SGD+momentum */
  long max_steps; /* stop each epoch after this many steps (0 = all): quick runs */
  double val_fraction; /* hold out this part of the training set for validation (0 = none) */
  int patience;        /* early stopping: epochs without a better validation loss (0 = off) */
  int workers;         /* DataLoader worker threads preparing batches ahead (0 = none) */
  const char *save_state; /* the whole training state, written after each epoch */
  const char *resume;     /* a --save-state file to go on from (the metrics log is appended) */
} train_flags;

static void train_usage(const char *prog, const char *extra) {
  fprintf(stderr,
          "usage: %s [--data DIR] [--epochs N] [--batch N] [--lr X] [--seed N] [--threads N]\n"
          "          [--out DIR] [--load FILE] [--max-steps N] [--val-fraction F] [--patience N]\n"
          "          [--workers N] [--save-state FILE] [--resume FILE]%s\n",
          prog, extra ? extra : "");
}

/* returns 0, or 2 after printing usage on a bad flag */
static int train_parse(int argc, char **argv, train_flags *f, const char *extra_usage) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    bool takes = true;
    static const char *const valued[] = {"--data", "--out", "--load", "--epochs", "--batch",
                                         "--lr", "--seed", "--threads", "--max-steps",
                                         "--val-fraction", "--patience", "--workers",
                                         "--save-state", "--resume"};
    bool known = false;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(a, valued[k]);
    if (!strcmp(a, "--linear")) f->linear = true, takes = false;
    else if (!strcmp(a, "--adam")) f->adam = true, takes = false;
    else if (!known) {
      fprintf(stderr, "%s: unknown flag %s\n", argv[0], a);
      train_usage(argv[0], extra_usage);
      return 2;
    } else if (!v) {
      fprintf(stderr, "%s: %s needs a value\n", argv[0], a);
      train_usage(argv[0], extra_usage);
      return 2;
    } else if (!strcmp(a, "--data")) f->data = v;
    else if (!strcmp(a, "--out")) f->out = v;
    else if (!strcmp(a, "--load")) f->load = v;
    else if (!strcmp(a, "--epochs")) f->epochs = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--batch")) f->batch = (size_t)strtoul(v, &end, 10);
    else if (!strcmp(a, "--lr")) f->lr = strtod(v, &end);
    else if (!strcmp(a, "--seed")) f->seed = strtoull(v, &end, 10);
    else if (!strcmp(a, "--threads")) f->threads = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--val-fraction")) f->val_fraction = strtod(v, &end);
    else if (!strcmp(a, "--patience")) f->patience = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--workers")) f->workers = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--save-state")) f->save_state = v;
    else if (!strcmp(a, "--resume")) f->resume = v;
    else f->max_steps = strtol(v, &end, 10); /* --max-steps */
    if (end && *end) {
      fprintf(stderr, "%s: %s expects a number, got '%s'\n", argv[0], a, v);
      return 2;
    }
    if (takes) i++;
  }
  if (f->epochs < 0 || f->batch == 0 || !(f->lr > 0)) {
    fprintf(stderr, "%s: --epochs must be >= 0, --batch > 0 and --lr > 0\n", argv[0]);
    return 2;
  }
  if (!(f->val_fraction >= 0 && f->val_fraction < 1) || f->patience < 0 ||
      (f->patience > 0 && f->val_fraction == 0)) {
    fprintf(stderr, "%s: --val-fraction must be in [0, 1), --patience >= 0, and --patience "
            "needs --val-fraction\n", argv[0]);
    return 2;
  }
  if (f->workers < 0 || f->workers > 64) {
    fprintf(stderr, "%s: --workers must be in 0..64\n", argv[0]);
    return 2;
  }
  if (mkdir(f->out, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: cannot create output directory %s: %s\n", argv[0], f->out, strerror(errno));
    return 2;
  }
  tg_set_num_threads(f->threads);
  return 0;
}

/* For the examples with a loop of their own, which cannot resume: 2 and a
 * message when --save-state or --resume was given, else 0 */
static inline int train_refuse_resume(const char *prog, const train_flags *f) {
  if (!f->save_state && !f->resume) return 0;
  fprintf(stderr, "%s: --save-state and --resume are for mlp_mnist, cnn_mnist and cnn_cifar\n",
          prog);
  return 2;
}

/* For the CIFAR-10 examples: "--cifar DIR" taken out of argv (into *cifar)
 * so that train_parse sees only its own flags; *lr_given says whether --lr
 * appears, so a default can depend on --adam. Returns the new argc, or -1
 * after printing usage. */
static inline int train_take_cifar(int argc, char **argv, const char **cifar, bool *lr_given,
                            const char *extra_usage) {
  /* train_parse's valued flags, whose values pass through untouched (--val-fraction and
   * --patience are early stopping's) */
  static const char *const valued[] = {"--data", "--out",     "--load",      "--epochs",
                                       "--batch", "--lr",     "--seed",      "--threads",
                                       "--max-steps", "--val-fraction", "--patience",
                                       "--save-state", "--resume"};
  int n = 1;
  *cifar = NULL;
  *lr_given = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--cifar")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "%s: --cifar needs a value\n", argv[0]);
        train_usage(argv[0], extra_usage);
        return -1;
      }
      *cifar = argv[++i];
      continue;
    }
    argv[n++] = argv[i];
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
      if (!strcmp(a, valued[k])) {
        if (!strcmp(a, "--lr")) *lr_given = true;
        if (i + 1 < argc) argv[n++] = argv[++i]; /* the value, whatever it looks like */
        break;
      }
  }
  argv[n] = NULL;
  return n;
}

/* SGD with momentum 0.9, or Adam; PyTorch's defaults otherwise */
static inline tg_optimizer *train_optimizer(tg_tensor **params, size_t n, bool adam, double lr) {
  if (adam) {
    tg_adam_opts ao = tg_adam_defaults();
    ao.lr = lr;
    return tg_adam_new(params, (int)n, ao);
  }
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = lr;
  so.momentum = 0.9;
  return tg_sgd_new(params, (int)n, so);
}

static double train_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *train_path(char *buf, size_t len, const char *dir, const char *file) {
  snprintf(buf, len, "%s/%s", dir, file);
  return buf;
}

/* XXH3-64 over every parameter's bytes in order: equal fingerprints mean
 * bit-identical parameters */
static uint64_t train_fingerprint(tg_tensor **params, size_t n) {
  XXH3_state_t *st = XXH3_createState();
  if (!st) return 0;
  XXH3_64bits_reset(st);
  for (size_t i = 0; i < n; i++) {
    const tg_tensor *p = params[i];
    XXH3_64bits_update(st, tg_data(p), p->numel * tg_dtype_size(p->dtype));
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

/* ---- a validation split: two index views of one dataset */
typedef struct train_subset {
  tg_dataset *base; /* borrowed */
  size_t *idx;
} train_subset;

static inline int train_subset_fetch(tg_dataset *ds, size_t i, float *x, int64_t *y) {
  const train_subset *s = ds->impl;
  return tg_dataset_get(s->base, s->idx[i], x, y);
}

static inline void train_subset_destroy(tg_dataset *ds) {
  train_subset *s = ds->impl;
  free(s->idx);
  free(s);
  free(ds);
}

/* entries idx[0..n) of base as a dataset of its own (idx is copied) */
static inline tg_dataset *train_subset_new(tg_dataset *base, const size_t *idx, size_t n) {
  tg_dataset *ds = malloc(sizeof *ds);
  train_subset *s = malloc(sizeof *s);
  size_t *copy = malloc((n ? n : 1) * sizeof *copy);
  if (!ds || !s || !copy) {
    free(ds), free(s), free(copy);
    return NULL;
  }
  memcpy(copy, idx, n * sizeof *copy);
  *s = (train_subset){.base = base, .idx = copy};
  *ds = *base;
  ds->length = n;
  ds->fetch = train_subset_fetch;
  ds->destroy = train_subset_destroy;
  ds->impl = s;
  return ds;
}

/* A random (seeded) round(fraction * n) items of ds for validation, the
 * rest for training; the same split for the same seed. 0 or -1. */
static inline int train_split(tg_dataset *ds, double fraction, uint64_t seed, tg_dataset **train,
                              tg_dataset **val) {
  size_t n = ds->length, n_val = (size_t)(fraction * (double)n + 0.5);
  if (n_val == 0) n_val = 1;
  if (n_val >= n) return -1;
  size_t *perm = malloc(n * sizeof *perm);
  if (!perm) return -1;
  tg_rng rng;
  tg_rng_seed(&rng, seed ^ 0x5eed5eed5eed5eedull); /* not the loader's stream */
  for (size_t i = 0; i < n; i++) perm[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(tg_rng_uniform(&rng) * (double)i), t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
  *val = train_subset_new(ds, perm, n_val);
  *train = train_subset_new(ds, perm + n_val, n - n_val);
  free(perm);
  if (*val && *train) return 0;
  tg_dataset_free(*val), tg_dataset_free(*train);
  *val = *train = NULL;
  return -1;
}

/* Early stopping's bookkeeping (tg_early_stop, saved with --save-state)
 * and, with --patience, the best epoch's weights as persistent tensors, one
 * per entry of the model's state dict. */
typedef struct train_early {
  tg_early_stop es;
  size_t n; /* tensors in es.best_weights */
} train_early;

static inline void train_early_free(train_early *e) {
  for (size_t i = 0; e->es.best_weights && i < e->n; i++) tg_free(e->es.best_weights[i]);
  free(e->es.best_weights);
  *e = (train_early){0};
}

/* 0 or -1 */
static inline int train_early_init(const tg_module *m, bool keep_weights, train_early *e) {
  *e = (train_early){.es = {.best = INFINITY}};
  if (!keep_weights) return 0;
  tg_state_dict *sd = tg_module_state_dict(m);
  if (!sd) return -1;
  e->es.best_weights = calloc(sd->n + 1, sizeof *e->es.best_weights);
  int rc = e->es.best_weights ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < sd->n; i++, e->n++)
    if (!(e->es.best_weights[i] = tg_zeros_like(sd->entries[i].tensor))) rc = -1;
  tg_state_dict_free(sd);
  if (rc) train_early_free(e);
  return rc;
}

/* the model's state into (to_best) or out of the best weights; 0 or -1 */
static inline int train_best_copy(const tg_module *m, tg_tensor **best, bool to_best) {
  tg_state_dict *sd = tg_module_state_dict(m);
  if (!sd) return -1;
  for (size_t i = 0; i < sd->n; i++) {
    tg_tensor *t = sd->entries[i].tensor;
    size_t len = t->numel * tg_dtype_size(t->dtype);
    if (to_best) memcpy(tg_data(best[i]), tg_data(t), len);
    else memcpy(tg_data(t), tg_data(best[i]), len);
  }
  tg_state_dict_free(sd);
  return 0;
}

/* the same over the whole state dict (parameters and buffers such as
 * BatchNorm's running statistics, in PyTorch's order); for a model without
 * buffers it equals train_fingerprint of its parameters. 0 on error. */
static inline uint64_t train_fingerprint_module(const tg_module *m) {
  tg_state_dict *sd = tg_module_state_dict(m);
  tg_tensor **ts = sd ? calloc(sd->n + 1, sizeof *ts) : NULL;
  uint64_t h = 0;
  if (ts) {
    for (size_t i = 0; i < sd->n; i++) ts[i] = sd->entries[i].tensor;
    h = train_fingerprint(ts, sd->n);
  }
  free(ts);
  tg_state_dict_free(sd);
  return h;
}

/* ---- the classifier loop shared by mlp_mnist, cnn_mnist and cnn_cifar: batches
 * (x, y) reshaped to the model's input (batch, in_shape...), cross-entropy,
 * one optimizer step per batch, a progress line and a metrics row per epoch,
 * the checkpoint and the fingerprint at the end. */
typedef struct train_classifier {
  const char *prog;  /* "mlp_mnist": messages, file names */
  const char *about; /* "784-200-10 tanh": the header line */
  tg_module *model;
  tg_optimizer *opt;
  int in_ndim;        /* the model's input dims after the batch dim */
  size_t in_shape[3];
  /* data-parallel under mpirun (train_dist_begin): gradients averaged over
   * the ranks, each rank a DistributedSampler shard of every epoch; NULL
   * alone. The sampler is made by train_classifier_run. */
  tg_ddp *ddp;
  tg_dist_sampler *sampler;
} train_classifier;

/* ---- data-parallel runs: `mpirun -np N prog ...` trains on N processes
 * with a global batch of N x --batch; alone, nothing changes */
/* 0 alone or on success (ranks other than 0 then print nothing on
 * stdout: their progress lines would repeat rank 0's); 1 after an error */
static inline int train_dist_begin(const char *prog) {
  if (!tg_dist_launched()) return 0;
  if (tg_dist_init(NULL) != 0) {
    fprintf(stderr, "%s: started by an MPI launcher, but %s\n", prog, tg_last_error());
    return 1;
  }
  if (tg_dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) return 1;
  return 0;
}
static inline int train_rank(void) { return tg_dist_is_initialized() ? tg_dist_rank() : 0; }
static inline int train_world(void) { return tg_dist_is_initialized() ? tg_dist_world_size() : 1; }
static inline void train_dist_end(void) {
  if (tg_dist_is_initialized()) tg_dist_finalize();
}
/* sums of v[0..n) over the ranks, in place (alone: unchanged); 0 or -1 */
static inline int train_sum_over_ranks(double *v, size_t n) {
  if (!tg_dist_is_initialized()) return 0;
  tg_scope_begin();
  tg_tensor *t = tg_from_f64(1, &n, v);
  int rc = t && tg_dist_all_reduce_(t, TG_REDUCE_SUM) == 0 ? tg_to_f64_array(t, v) : -1;
  tg_scope_end();
  return rc;
}

/* x as (b, in_shape...) in the current scope */
static inline tg_tensor *train_input(const train_classifier *c, tg_tensor *x) {
  size_t shape[4] = {x->shape[0]};
  for (int d = 0; d < c->in_ndim; d++) shape[d + 1] = c->in_shape[d];
  return tg_reshape(x, c->in_ndim + 1, shape);
}

/* number of rows whose argmax equals the label */
static inline size_t train_count_correct(tg_tensor *logits, const tg_tensor *y) {
  tg_tensor *idx = NULL;
  if (!tg_max_dim(logits, 1, false, &idx) || !idx) return 0;
  const int64_t *pred = tg_data(idx), *label = tg_data(y);
  size_t correct = 0;
  for (size_t i = 0; i < y->numel; i++) correct += pred[i] == label[i];
  return correct;
}

/* test errors out of the whole test set, in eval mode without recording */
static inline size_t train_test_errors(const train_classifier *c, tg_loader *test, size_t *total) {
  tg_tensor *x, *y;
  size_t correct = 0;
  *total = 0;
  tg_module_eval(c->model);
  tg_no_grad_begin();
  while (tg_loader_next(test, &x, &y)) {
    tg_scope_begin();
    tg_tensor *logits = tg_module_forward(c->model, train_input(c, x));
    correct += logits ? train_count_correct(logits, y) : 0;
    *total += y->numel;
    tg_scope_end();
  }
  tg_no_grad_end();
  tg_module_train(c->model, true);
  return *total - correct;
}

/* the mean cross-entropy over a loader's epoch, in eval mode without
 * recording; NaN on error */
static inline double train_val_loss(const train_classifier *c, tg_loader *val) {
  tg_tensor *x, *y;
  double sum = 0;
  size_t n = 0;
  tg_module_eval(c->model);
  tg_no_grad_begin();
  while (tg_loader_next(val, &x, &y)) {
    tg_scope_begin();
    tg_tensor *loss = tg_cross_entropy(tg_module_forward(c->model, train_input(c, x)), y,
                                       TG_REDUCTION_SUM);
    sum += loss ? tg_item(loss) : NAN;
    n += y->numel;
    tg_scope_end();
  }
  tg_no_grad_end();
  tg_module_train(c->model, true);
  return n && !tg_loader_failed(val) ? sum / (double)n : NAN;
}

/* one epoch; returns the mean loss, or NaN on error */
static inline double train_classifier_epoch(const train_classifier *c, tg_loader *train, long max_steps,
                                     size_t *seen, size_t *correct) {
  tg_tensor *x, *y;
  double loss_sum = 0;
  long steps = 0;
  *seen = *correct = 0;
  while (tg_loader_next(train, &x, &y)) {
    if (max_steps > 0 && steps++ >= max_steps) {
      tg_loader_reset(train);
      break;
    }
    tg_scope_begin();
    size_t b = x->shape[0];
    tg_tensor *logits = tg_module_forward(c->model, train_input(c, x));
    tg_tensor *loss = tg_cross_entropy(logits, y, TG_REDUCTION_MEAN);
    if (!loss || tg_optim_zero_grad(c->opt) || tg_backward(loss, NULL, false) ||
        (c->ddp && tg_ddp_sync_grads(c->ddp)) || tg_optim_step(c->opt)) {
      tg_scope_end();
      return NAN;
    }
    loss_sum += tg_item(loss) * (double)b;
    *correct += train_count_correct(logits, y);
    *seen += b;
    tg_scope_end();
  }
  if (c->ddp) { /* the epoch's figures over every rank's shard */
    double v[3] = {loss_sum, (double)*correct, (double)*seen};
    if (train_sum_over_ranks(v, 3)) return NAN;
    loss_sum = v[0], *correct = (size_t)v[1], *seen = (size_t)v[2];
  }
  return *seen ? loss_sum / (double)*seen : NAN;
}

/* Early stopping's bookkeeping after an epoch: the validation loss, the
 * best epoch's weights kept in e (with --patience), and whether training
 * stops now (patience epochs without a lower validation loss). */
static inline void train_early_stop(const train_classifier *c, const train_flags *f,
                                    tg_loader *val_l, int epoch, train_early *e) {
  tg_early_stop *es = &e->es;
  double v = train_val_loss(c, val_l);
  if (v < es->best) {
    es->best = v, es->best_epoch = epoch, es->bad_epochs = 0;
    if (es->best_weights) train_best_copy(c->model, es->best_weights, true);
  } else
    es->bad_epochs++;
  printf("validation loss %.6f (best %.6f at epoch %ld)\n", v, es->best, es->best_epoch);
  es->stopped = f->patience > 0 && es->bad_epochs >= f->patience;
  if (es->stopped)
    printf("early stopping after epoch %d: no lower validation loss for %d epochs\n", epoch,
           f->patience);
}

/* The whole training state for --save-state/--resume: the model, the
 * optimizer, epochs done, the default generator (dropout's when a model
 * draws from it), the training loader's position and early stopping's
 * bookkeeping (early: NULL without a validation set). */
static inline tg_train_state train_state_of(const train_classifier *c, tg_loader *train_l,
                                            tg_rng **rngs, long epochs_done, train_early *early) {
  rngs[0] = tg_default_rng();
  return (tg_train_state){.model = c->model, .opt = c->opt, .epoch = epochs_done,
                          .rngs = rngs, .n_rngs = 1, .loader = train_l,
                          .early = early ? &early->es : NULL};
}

/* the epochs after first - 1 done, each with its progress line and metrics
 * row (and --save-state); 0 or -1 */
static inline int train_classifier_epochs(const train_classifier *c, const train_flags *f, tg_loader *train_l,
                                   tg_loader *val_l, tg_loader *test_l, tg_metrics *log, int first,
                                   train_early *early) {
  double start = train_now();
  /* a resumed run that had stopped early trains no more */
  for (int epoch = first; epoch <= f->epochs && !(early && early->es.stopped); epoch++) {
    double t0 = train_now();
    size_t seen, correct, total;
    if (c->sampler) tg_dist_sampler_set_epoch(c->sampler, (uint64_t)epoch - 1);
    double loss = train_classifier_epoch(c, train_l, f->max_steps, &seen, &correct);
    if (isnan(loss)) return -1;
    double secs = train_now() - t0;
    size_t errors = train_test_errors(c, test_l, &total);
    double acc = 100.0 * (double)(total - errors) / (double)total;
    printf("epoch %d/%d  loss %.4f  train acc %.2f%%  test errors %zu/%zu (acc %.2f%%)  "
           "%.0f samples/s  elapsed %.1fs\n",
           epoch, f->epochs, loss, 100.0 * (double)correct / (double)seen, errors, total, acc,
           (double)seen / secs, train_now() - start);
    fflush(stdout);
    if (log) tg_metrics_row(log, (double[]){epoch, loss, 100.0 * (double)correct / (double)seen,
                                   (double)errors, acc, train_now() - start});
    if (val_l && early) train_early_stop(c, f, val_l, epoch, early);
    tg_rng *rngs[1];
    tg_train_state st = train_state_of(c, train_l, rngs, epoch, early);
    if (f->save_state && train_rank() == 0 && tg_train_state_save(f->save_state, &st)) return -1;
  }
  tg_early_stop *es = early ? &early->es : NULL;
  if (es && es->best_weights && es->best_epoch > 0) { /* the checkpoint is the best epoch's */
    if (train_best_copy(c->model, es->best_weights, false)) return -1;
    size_t total, errors = train_test_errors(c, test_l, &total);
    printf("restored epoch %ld (validation loss %.6f): test errors %zu/%zu\n", es->best_epoch,
           es->best, errors, total);
  }
  if (f->epochs == 0) {
    size_t total, errors = train_test_errors(c, test_l, &total);
    printf("test errors %zu/%zu (acc %.2f%%)\n", errors, total,
           100.0 * (double)(total - errors) / (double)total);
  }
  return 0;
}

/* Everything after the model and optimizer are made: loaders, --load, the
 * epochs, checkpoint, fingerprint, curves. Returns the exit status. */
static inline int train_classifier_run(const train_classifier *c0, const train_flags *f, tg_dataset *train,
                                tg_dataset *test) {
  char path[4096], name[256];
  train_classifier cc = *c0, *c = &cc;
  bool rank0 = train_rank() == 0;
  size_t np = 0;
  tg_tensor **params = tg_module_parameters(c->model, &np);
  tg_dataset *fit = train, *val = NULL;
  if (f->val_fraction > 0 && train_split(train, f->val_fraction, f->seed, &fit, &val) != 0) {
    fprintf(stderr, "%s: cannot hold out %g of %zu samples for validation\n", c->prog,
            f->val_fraction, train->length);
    return 1;
  }
  tg_loader *train_l = NULL;
  if (c->ddp) { /* torch's DistributedSampler(shuffle=True, seed): a shard of each epoch */
    c->sampler = tg_dist_sampler_new(fit->length, 0, -1, true, f->seed, false);
    if (c->sampler)
      train_l = tg_loader_new_sampler(
          fit, f->batch, false,
          (tg_sampler){tg_dist_sampler_len(c->sampler), tg_dist_sampler_fill, c->sampler}, f->workers);
  } else
    train_l = tg_loader_new_workers(fit, f->batch, true, false, f->seed, f->workers);
  tg_loader *val_l = val ? tg_loader_new_workers(val, 1000, false, false, 0, f->workers) : NULL;
  tg_loader *test_l = tg_loader_new_workers(test, 1000, false, false, 0, f->workers);
  snprintf(name, sizeof name, "%s_metrics.csv", c->prog);
  /* rank 0 alone writes the log and the checkpoint */
  /* a fresh log per run; a resumed run goes on in the log it left */
  const char *cols = "epoch,train_loss,train_accuracy,test_errors,test_accuracy,seconds";
  train_path(path, sizeof path, f->out, name);
  tg_metrics *log = !rank0     ? NULL
                    : f->resume ? tg_metrics_open_append(path, cols)
                                : tg_metrics_open(path, cols);
  int rc = 1;
  train_early early = {0};
  if (!params || !train_l || !test_l || (rank0 && !log) || (val && !val_l)) goto done;
  if (f->load && tg_load_module(f->load, c->model)) goto done;
  if (val && train_early_init(c->model, f->patience > 0, &early)) goto done;
  int first = 1;
  if (f->resume) {
    tg_rng *rngs[1];
    tg_train_state st = train_state_of(c, train_l, rngs, 0, val ? &early : NULL);
    if (tg_train_state_load(f->resume, &st)) goto done;
    first = (int)st.epoch + 1;
    printf("resumed from %s after epoch %ld\n", f->resume, st.epoch);
  }
  printf("%s: %s model, %zu parameters, %zu train / %zu test samples from %s\n", c->prog, c->about,
         tg_module_num_parameters(c->model, false), fit->length, test->length, f->data);
  if (c->ddp)
    printf("data parallel: %d processes, batch %zu each (global batch %zu), %zu buckets of "
           "gradients, %zu bytes all-reduced per step\n", train_world(), f->batch,
           f->batch * (size_t)train_world(), tg_ddp_num_buckets(c->ddp), tg_ddp_bytes_per_sync(c->ddp));
  if (val)
    printf("validation: %zu of the %zu training samples held out (--val-fraction %g)\n",
           val->length, train->length, f->val_fraction);
  if (train_classifier_epochs(c, f, train_l, val_l, test_l, log, first, val ? &early : NULL))
    goto done;
  if (f->epochs > 0 && rank0) { /* --epochs 0 only evaluates: nothing new to save */
    snprintf(name, sizeof name, "%s.safetensors", c->prog);
    if (tg_save_module(train_path(path, sizeof path, f->out, name), c->model, NULL, 0)) goto done;
    printf("checkpoint: %s\n", path);
  }
  printf("fingerprint=%016llx\n", (unsigned long long)train_fingerprint_module(c->model));
  rc = 0;
done:
  if (rc) fprintf(stderr, "%s: %s\n", c->prog, tg_last_error());
  if (log) {
    tg_metrics_close(log);
    char png[4096];
    snprintf(name, sizeof name, "%s_metrics.csv", c->prog);
    train_path(path, sizeof path, f->out, name);
    snprintf(name, sizeof name, "%s_curves.png", c->prog);
    if (rc == 0 && tg_metrics_plot(path, train_path(png, sizeof png, f->out, name), c->prog) == 0)
      printf("curves: %s\n", png);
    else if (rc == 0) /* the training itself went well: say why there is no picture */
      fprintf(stderr, "%s: no curves: %s\n", c->prog, tg_last_error());
  }
  train_early_free(&early);
  tg_loader_free(train_l);
  tg_dist_sampler_free(c->sampler);
  tg_loader_free(val_l);
  tg_loader_free(test_l);
  if (val) {
    tg_dataset_free(fit);
    tg_dataset_free(val);
  }
  return rc;
}

#endif
