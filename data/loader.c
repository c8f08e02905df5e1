/* DataLoader: batches of a dataset in visiting order (a fresh
 * Fisher-Yates permutation per epoch when shuffling), written into
 * persistent tensors the loader owns. Everything is allocated in
 * tg_loader_new, so a training loop's steps call no allocator at all.
 *
 * With workers, batch k of the epoch is filled into slot k % n_slots by
 * whichever worker claims it, while the caller trains on the slot it holds.
 * The caller alone draws the permutation, makes tensors and bumps their
 * versions (the per-thread context is the caller's); workers only call
 * fetch into raw buffers, one batch at a time across every loader of the
 * process (fetch_mu: two loaders may share a dataset, and an in-memory
 * dataset's transforms use one scratch buffer), so a fetch need not be
 * thread-safe and the batches are those of num_workers 0. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

/* One batch buffer: persistent tensors made on the caller's thread at
 * tg_loader_new; a worker writes only through the raw pointers. */
typedef enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY } slot_state;
typedef struct slot {
  tg_tensor *x, *y;           /* [batch, ...] and [batch] */
  tg_tensor *x_tail, *y_tail; /* views of their first rows for a short last batch */
  float *xp;
  int64_t *yp;
  slot_state state;
  size_t batch_index; /* within the epoch */
  bool failed;
  size_t bad_item;
  char msg[400];
} slot;

#define MAX_WORKERS 64

static pthread_mutex_t fetch_mu = PTHREAD_MUTEX_INITIALIZER;

struct tg_loader {
  tg_dataset *ds;
  size_t batch;
  bool shuffle, drop_last;
  tg_rng rng;
  tg_rng epoch_rng;   /* rng as the current epoch began: redraws its permutation on resume */
  tg_sampler sampler; /* fill NULL: 0..n-1, shuffled or not */
  size_t length;  /* samples per epoch: the dataset's, or the sampler's */
  size_t *order;  /* visiting order of this epoch */
  size_t next;    /* batch of the epoch the caller gets next */
  size_t epoch;   /* epochs started */
  bool in_epoch, failed;
  int n_workers;
  size_t n_slots; /* 1 without workers; else n_workers + 1 (one held by the caller) */
  slot slots[MAX_WORKERS + 1];
  long held;      /* slot handed out by the last tg_loader_next, or -1 */
  /* with workers: claim and n_posted (batches of the epoch that may be
   * filled), the slot states and stop are guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  size_t claim, n_posted;
  bool stop, sync_made;
  int n_started, n_ready;
  pthread_t th[MAX_WORKERS];
};

/* uniform integer in [0, bound) without modulo bias: reject the low
 * 2^64 mod bound values, leaving a range that is a multiple of bound */
static size_t uniform_below(tg_rng *r, size_t bound) {
  uint64_t b = bound, min = (0 - b) % b, v;
  do v = tg_rng_next(r);
  while (v < min);
  return (size_t)(v % b);
}

static size_t batches_per_epoch(const tg_loader *l) {
  size_t n = l->length;
  return l->drop_last ? n / l->batch : (n + l->batch - 1) / l->batch;
}

/* 0, or -1 when the sampler failed or gave an index past the dataset */
static int sampler_order(tg_loader *l) {
  if (l->sampler.fill(l->sampler.ctx, l->order) != 0) {
    char why[300];
    snprintf(why, sizeof why, "%s", tg_has_error() ? tg_last_error() : "fill returned -1");
    tg_error("loader_next: the sampler failed: %s", why);
    return -1;
  }
  for (size_t i = 0; i < l->length; i++)
    if (l->order[i] >= l->ds->length) {
      tg_error("loader_next: the sampler gave index %zu at %zu; the dataset has %zu samples",
               l->order[i], i, l->ds->length);
      return -1;
    }
  return 0;
}

/* Start the next epoch with batches first.. still to hand out (0, or the
 * position restored by tg_loader_set_state). */
static int start_epoch(tg_loader *l, size_t first) {
  size_t n = l->length;
  l->epoch_rng = l->rng;
  if (l->sampler.fill) {
    if (sampler_order(l)) return -1;
  } else
    for (size_t i = 0; i < n; i++) l->order[i] = i;
  if (l->shuffle) /* Fisher-Yates from the top: each permutation equally likely */
    for (size_t i = n; i > 1; i--) {
      size_t j = uniform_below(&l->rng, i), t = l->order[i - 1];
      l->order[i - 1] = l->order[j];
      l->order[j] = t;
    }
  l->next = first;
  l->epoch++;
  l->in_epoch = true;
  if (l->n_workers) { /* the workers are idle: every batch of the last epoch was settled */
    pthread_mutex_lock(&l->mu);
    l->claim = first;
    l->n_posted = batches_per_epoch(l);
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
  }
  return 0;
}

/* A persistent view of the first `rows` rows of t (scope 0, like t). */
static tg_tensor *persistent_head(tg_tensor *t, size_t rows) {
  size_t shape[TG_MAX_DIMS];
  memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
  shape[0] = rows;
  tg_tensor *v = tg_tensor_view(t, t->ndim, shape, t->strides, t->offset);
  if (v) tg_obj_move(&v->obj, 0);
  return v;
}

static int make_batches(tg_loader *l, slot *s) {
  tg_dataset *ds = l->ds;
  /* a batch never holds more than the whole dataset */
  size_t rows = l->batch < l->length ? l->batch : l->length, xs[TG_MAX_DIMS];
  xs[0] = rows;
  memcpy(xs + 1, ds->shape, (size_t)ds->ndim * sizeof *xs);
  s->x = tg_tensor_alloc_in(0, TG_FLOAT32, ds->ndim + 1, xs);
  if (!s->x) return -1;
  if (ds->has_labels && !(s->y = tg_tensor_alloc_in(0, TG_INT64, 1, &rows))) return -1;
  s->xp = (float *)tg_ptr(s->x);
  s->yp = s->y ? (int64_t *)tg_ptr(s->y) : NULL;
  size_t tail = l->length % l->batch;
  if (!tail || l->drop_last) return 0;
  if (!(s->x_tail = persistent_head(s->x, tail))) return -1;
  if (s->y && !(s->y_tail = persistent_head(s->y, tail))) return -1;
  return 0;
}

static bool check_dataset(const tg_dataset *ds, size_t batch, int num_workers) {
  if (!ds || !ds->fetch) {
    tg_error("loader_new: %s", ds ? "the dataset has no fetch function" : "the dataset is NULL");
    return false;
  }
  if (!batch) {
    tg_error("loader_new: batch_size is 0");
    return false;
  }
  if (num_workers < 0 || num_workers > MAX_WORKERS) {
    /* torch: "num_workers option should be non-negative" */
    tg_error("loader_new: num_workers is %d; between 0 and %d are supported", num_workers,
             MAX_WORKERS);
    return false;
  }
  if (ds->ndim < 1 || ds->ndim > TG_MAX_DIMS - 1 ||
      tg_shape_numel(ds->ndim, ds->shape) != ds->sample_numel) {
    tg_error("loader_new: the dataset's sample shape (%d dims, %zu elements) is inconsistent or "
             "has more than %d dims", ds->ndim, ds->sample_numel, TG_MAX_DIMS - 1);
    return false;
  }
  return true;
}

/* Fetch the b samples of order[first...] into x/y; -1 with *bad = the
 * dataset item whose fetch failed (its message is this thread's error). */
static int fill_rows(tg_dataset *ds, const size_t *order, size_t b, float *x, int64_t *y,
                     size_t *bad) {
  for (size_t k = 0; k < b; k++)
    if (ds->fetch(ds, order[k], x + k * ds->sample_numel, y ? y + k : NULL) != 0) {
      *bad = order[k];
      return -1;
    }
  return 0;
}

static size_t batch_rows(const tg_loader *l, size_t k) {
  size_t left = l->length - k * l->batch;
  return left < l->batch ? left : l->batch;
}

static void *worker_main(void *arg) {
  tg_loader *l = arg;
  /* a thread's start and the first touch of its error buffer (dynamic TLS
   * in the shared library) allocate: done before tg_loader_new returns,
   * so no batch allocates */
  tg_clear_error();
  pthread_mutex_lock(&l->mu);
  l->n_ready++;
  pthread_cond_broadcast(&l->done);
  for (;;) {
    while (!l->stop &&
           !(l->claim < l->n_posted && l->slots[l->claim % l->n_slots].state == SLOT_EMPTY))
      pthread_cond_wait(&l->work, &l->mu);
    if (l->stop) break;
    size_t k = l->claim++;
    slot *s = &l->slots[k % l->n_slots];
    s->state = SLOT_FILLING;
    s->batch_index = k;
    pthread_mutex_unlock(&l->mu);

    pthread_mutex_lock(&fetch_mu);
    int rc = fill_rows(l->ds, l->order + k * l->batch, batch_rows(l, k), s->xp, s->yp,
                       &s->bad_item);
    pthread_mutex_unlock(&fetch_mu);
    /* the message lives in this thread's context: carry it to the caller */
    s->failed = rc != 0;
    if (rc) snprintf(s->msg, sizeof s->msg, "%s", tg_has_error() ? tg_last_error() : "");
    tg_clear_error();

    pthread_mutex_lock(&l->mu);
    s->state = SLOT_READY;
    pthread_cond_broadcast(&l->done);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* Stop handing out batches of this epoch and wait for the fills under way
 * (they write into slots and read order); every slot is free afterwards. */
static void settle_epoch(tg_loader *l) {
  l->held = -1;
  l->in_epoch = false;
  if (!l->n_workers) return;
  pthread_mutex_lock(&l->mu);
  l->n_posted = l->claim;
  for (size_t i = 0; i < l->n_slots; i++) {
    while (l->slots[i].state == SLOT_FILLING) pthread_cond_wait(&l->done, &l->mu);
    l->slots[i].state = SLOT_EMPTY;
  }
  pthread_mutex_unlock(&l->mu);
}

static int start_workers(tg_loader *l) {
  if (pthread_mutex_init(&l->mu, NULL) != 0) return -1;
  if (pthread_cond_init(&l->work, NULL) != 0) goto no_work;
  if (pthread_cond_init(&l->done, NULL) != 0) goto no_done;
  l->sync_made = true;
  for (; l->n_started < l->n_workers; l->n_started++)
    if (pthread_create(&l->th[l->n_started], NULL, worker_main, l) != 0) return -1;
  pthread_mutex_lock(&l->mu);
  while (l->n_ready < l->n_started) pthread_cond_wait(&l->done, &l->mu);
  pthread_mutex_unlock(&l->mu);
  return 0;
no_done:
  pthread_cond_destroy(&l->work);
no_work:
  pthread_mutex_destroy(&l->mu);
  return -1;
}

static tg_loader *loader_new(tg_dataset *ds, size_t batch_size, bool shuffle, bool drop_last,
                             uint64_t seed, int num_workers, const tg_sampler *sampler) {
  if (!check_dataset(ds, batch_size, num_workers)) return NULL;
  size_t length = sampler ? sampler->length : ds->length;
  tg_loader *l = calloc(1, sizeof *l);
  size_t *order = malloc((length ? length : 1) * sizeof *order);
  if (!l || !order) {
    free(l);
    free(order);
    tg_error("loader_new: out of memory for %zu indices", length);
    return NULL;
  }
  *l = (tg_loader){.ds = ds, .batch = batch_size, .shuffle = shuffle, .drop_last = drop_last,
                   .sampler = sampler ? *sampler : (tg_sampler){0}, .length = length,
                   .order = order, .n_workers = num_workers,
                   .n_slots = num_workers ? (size_t)num_workers + 1 : 1, .held = -1};
  tg_rng_seed(&l->rng, seed);
  for (size_t i = 0; i < l->n_slots; i++)
    if (make_batches(l, &l->slots[i]) != 0) {
      tg_loader_free(l);
      return NULL;
    }
  if (num_workers && start_workers(l) != 0) {
    tg_loader_free(l);
    tg_error("loader_new: could not start %d worker threads", num_workers);
    return NULL;
  }
  return l;
}

tg_loader *tg_loader_new_workers(tg_dataset *ds, size_t batch_size, bool shuffle, bool drop_last,
                                 uint64_t seed, int num_workers) {
  return loader_new(ds, batch_size, shuffle, drop_last, seed, num_workers, NULL);
}

tg_loader *tg_loader_new_sampler(tg_dataset *ds, size_t batch_size, bool drop_last,
                                 tg_sampler sampler, int num_workers) {
  if (!sampler.fill) {
    tg_error("loader_new_sampler: the sampler has no fill function");
    return NULL;
  }
  return loader_new(ds, batch_size, false, drop_last, 0, num_workers, &sampler);
}

tg_loader *tg_loader_new(tg_dataset *ds, size_t batch_size, bool shuffle, bool drop_last,
                         uint64_t seed) {
  return tg_loader_new_workers(ds, batch_size, shuffle, drop_last, seed, 0);
}

/* say which sample failed, keeping the dataset's own message */
static void fetch_failed(size_t i, const char *why) {
  char msg[400];
  snprintf(msg, sizeof msg, "%s", why[0] ? why : "fetch returned -1");
  tg_error("loader_next: sample %zu: %s", i, msg);
}

/* Slot s now holds batch k: 0, or -1 after a failed fetch (error set). */
static int get_batch(tg_loader *l, size_t k, slot *s) {
  if (!l->n_workers) {
    size_t bad;
    if (fill_rows(l->ds, l->order + k * l->batch, batch_rows(l, k), s->xp, s->yp, &bad) == 0)
      return 0;
    fetch_failed(bad, tg_has_error() ? tg_last_error() : "");
    return -1;
  }
  pthread_mutex_lock(&l->mu);
  while (!(s->state == SLOT_READY && s->batch_index == k)) pthread_cond_wait(&l->done, &l->mu);
  pthread_mutex_unlock(&l->mu);
  if (!s->failed) return 0;
  fetch_failed(s->bad_item, s->msg);
  return -1;
}

static bool same_sample_shape(const tg_loader *l) {
  const tg_tensor *x = l->slots[0].x;
  if (l->ds->ndim != x->ndim - 1) return false;
  for (int d = 0; d < l->ds->ndim; d++)
    if (l->ds->shape[d] != x->shape[d + 1]) return false;
  return true;
}

/* the caller is done with the batch it held: a worker may refill it */
static void release_held(tg_loader *l) {
  if (l->held < 0) return;
  if (l->n_workers) {
    pthread_mutex_lock(&l->mu);
    l->slots[l->held].state = SLOT_EMPTY;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
  }
  l->held = -1;
}

bool tg_loader_next(tg_loader *l, tg_tensor **x, tg_tensor **y) {
  if (x) *x = NULL;
  if (y) *y = NULL;
  if (!l) {
    tg_error("loader_next: the loader is NULL");
    return false;
  }
  l->failed = false;
  release_held(l);
  if (!same_sample_shape(l)) {
    /* a transform set after tg_loader_new: the batch buffers no longer fit */
    tg_error("loader_next: the dataset's sample shape changed after tg_loader_new; make a new "
             "loader");
    settle_epoch(l);
    l->failed = true;
    return false;
  }
  if (!l->in_epoch && start_epoch(l, 0) != 0) {
    l->failed = true;
    return false;
  }
  size_t k = l->next;
  if (k >= batches_per_epoch(l)) {
    l->in_epoch = false;
    return false;
  }
  slot *s = &l->slots[k % l->n_slots];
  if (get_batch(l, k, s) != 0) {
    settle_epoch(l);
    l->failed = true;
    return false;
  }
  l->next++;
  l->held = (long)(k % l->n_slots);
  /* the contents changed in place: a graph that saved the old batch must notice */
  s->x->storage->version++;
  if (s->y) s->y->storage->version++;
  bool full = batch_rows(l, k) == l->batch;
  if (x) *x = full ? s->x : s->x_tail;
  if (y) *y = full ? s->y : s->y_tail;
  return true;
}

void tg_loader_reset(tg_loader *l) {
  if (!l) tg_error("loader_reset: the loader is NULL");
  else settle_epoch(l);
}

size_t tg_loader_num_batches(const tg_loader *l) {
  if (!l) tg_error("loader_num_batches: the loader is NULL");
  return l ? batches_per_epoch(l) : 0;
}

size_t tg_loader_epoch(const tg_loader *l) {
  if (!l) tg_error("loader_epoch: the loader is NULL");
  return l ? l->epoch : 0;
}

/* a NULL loader failed: tg_loader_next(NULL, ...) returned false with an error */
bool tg_loader_failed(const tg_loader *l) {
  if (!l) tg_error("loader_failed: the loader is NULL");
  return !l || l->failed;
}

int tg_loader_get_state(const tg_loader *l, tg_loader_state *out) {
  if (!l || !out) {
    tg_error("loader_get_state: %s is NULL", l ? "out" : "the loader");
    return -1;
  }
  /* mid-epoch, the generator as the epoch began: set_state redraws the same permutation */
  const tg_rng *r = l->in_epoch ? &l->epoch_rng : &l->rng;
  /* between epochs (ended or abandoned by tg_loader_reset) no batch is pending */
  *out = (tg_loader_state){.epoch = l->epoch, .next = l->in_epoch ? l->next : 0,
                           .in_epoch = l->in_epoch};
  memcpy(out->rng, r->s, sizeof out->rng);
  return 0;
}

int tg_loader_set_state(tg_loader *l, const tg_loader_state *st) {
  if (!l || !st) {
    tg_error("loader_set_state: %s is NULL", l ? "the state" : "the loader");
    return -1;
  }
  size_t nb = batches_per_epoch(l);
  if (st->in_epoch && (st->epoch == 0 || st->next > nb)) {
    tg_error("loader_set_state: batch %llu of epoch %llu does not exist (%zu batches an epoch)",
             (unsigned long long)st->next, (unsigned long long)st->epoch, nb);
    return -1;
  }
  if (st->epoch > SIZE_MAX || (!st->in_epoch && st->next != 0)) {
    tg_error("loader_set_state: epoch %llu, batch %llu between epochs is not a loader position",
             (unsigned long long)st->epoch, (unsigned long long)st->next);
    return -1;
  }
  settle_epoch(l);
  memcpy(l->rng.s, st->rng, sizeof st->rng);
  l->epoch = (size_t)st->epoch;
  l->next = (size_t)st->next;
  if (!st->in_epoch) return 0;
  l->epoch--; /* start_epoch counts it again */
  if (start_epoch(l, (size_t)st->next) != 0) {
    l->failed = true;
    return -1;
  }
  return 0;
}

void tg_loader_free(tg_loader *l) {
  if (!l) return;
  if (l->sync_made) {
    settle_epoch(l);
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_started; i++) pthread_join(l->th[i], NULL);
    pthread_cond_destroy(&l->done);
    pthread_cond_destroy(&l->work);
    pthread_mutex_destroy(&l->mu);
  }
  for (size_t i = 0; i < l->n_slots; i++) {
    slot *s = &l->slots[i];
    /* views first: each holds a reference to its base's storage */
    tg_free(s->x_tail);
    tg_free(s->y_tail);
    tg_free(s->x);
    tg_free(s->y);
  }
  free(l->order);
  free(l);
}
