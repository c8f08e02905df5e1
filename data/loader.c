/* DataLoader: batches of a dataset in visiting order (a fresh
 * Fisher-Yates permutation per epoch when shuffling), written into
 * persistent tensors the loader owns. Everything is allocated in
 * tg_loader_new, so a training loop's steps call no allocator at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

struct tg_loader {
  tg_dataset *ds;
  size_t batch;
  bool shuffle, drop_last;
  tg_rng rng;
  size_t *order;  /* visiting order of this epoch */
  size_t pos;     /* next position in order */
  size_t epoch;   /* epochs started */
  bool in_epoch, failed;
  tg_tensor *x, *y;           /* [batch, ...] and [batch] */
  tg_tensor *x_tail, *y_tail; /* views of their first rows for a short last batch */
};

/* uniform integer in [0, bound) without modulo bias: reject the low
 * 2^64 mod bound values, leaving a range that is a multiple of bound */
static size_t uniform_below(tg_rng *r, size_t bound) {
  uint64_t b = bound, min = (0 - b) % b, v;
  do v = tg_rng_next(r);
  while (v < min);
  return (size_t)(v % b);
}

static void start_epoch(tg_loader *l) {
  size_t n = l->ds->length;
  for (size_t i = 0; i < n; i++) l->order[i] = i;
  if (l->shuffle) /* Fisher-Yates from the top: each permutation equally likely */
    for (size_t i = n; i > 1; i--) {
      size_t j = uniform_below(&l->rng, i), t = l->order[i - 1];
      l->order[i - 1] = l->order[j];
      l->order[j] = t;
    }
  l->pos = 0;
  l->epoch++;
  l->in_epoch = true;
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

static int make_batches(tg_loader *l) {
  tg_dataset *ds = l->ds;
  /* a batch never holds more than the whole dataset */
  size_t rows = l->batch < ds->length ? l->batch : ds->length, xs[TG_MAX_DIMS];
  xs[0] = rows;
  memcpy(xs + 1, ds->shape, (size_t)ds->ndim * sizeof *xs);
  l->x = tg_tensor_alloc_in(0, TG_FLOAT32, ds->ndim + 1, xs);
  if (!l->x) return -1;
  if (ds->has_labels && !(l->y = tg_tensor_alloc_in(0, TG_INT64, 1, &rows))) return -1;
  size_t tail = ds->length % l->batch;
  if (!tail || l->drop_last) return 0;
  if (!(l->x_tail = persistent_head(l->x, tail))) return -1;
  if (l->y && !(l->y_tail = persistent_head(l->y, tail))) return -1;
  return 0;
}

static bool check_dataset(const tg_dataset *ds, size_t batch) {
  if (!ds || !ds->fetch) {
    tg_error("loader_new: %s", ds ? "the dataset has no fetch function" : "the dataset is NULL");
    return false;
  }
  if (!batch) {
    tg_error("loader_new: batch_size is 0");
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

tg_loader *tg_loader_new(tg_dataset *ds, size_t batch_size, bool shuffle, bool drop_last,
                         uint64_t seed) {
  if (!check_dataset(ds, batch_size)) return NULL;
  tg_loader *l = calloc(1, sizeof *l);
  size_t *order = malloc((ds->length ? ds->length : 1) * sizeof *order);
  if (!l || !order) {
    free(l);
    free(order);
    tg_error("loader_new: out of memory for %zu indices", ds->length);
    return NULL;
  }
  *l = (tg_loader){.ds = ds, .batch = batch_size, .shuffle = shuffle, .drop_last = drop_last,
                   .order = order};
  tg_rng_seed(&l->rng, seed);
  if (make_batches(l) != 0) {
    tg_loader_free(l);
    return NULL;
  }
  return l;
}

/* say which sample failed, keeping the dataset's own message */
static void fetch_failed(size_t i) {
  char msg[400];
  snprintf(msg, sizeof msg, "%s", tg_has_error() ? tg_last_error() : "fetch returned -1");
  tg_error("loader_next: sample %zu: %s", i, msg);
}

/* Fill rows [0, b) from order[pos...]; -1 if the dataset's fetch failed. */
static int fill(tg_loader *l, size_t b) {
  tg_dataset *ds = l->ds;
  float *x = (float *)tg_ptr(l->x);
  int64_t *y = l->y ? (int64_t *)tg_ptr(l->y) : NULL;
  for (size_t k = 0; k < b; k++) {
    size_t i = l->order[l->pos + k];
    if (ds->fetch(ds, i, x + k * ds->sample_numel, y ? y + k : NULL) != 0) {
      fetch_failed(i);
      return -1;
    }
  }
  /* the contents changed in place: a graph that saved the old batch must notice */
  l->x->storage->version++;
  if (l->y) l->y->storage->version++;
  return 0;
}

static bool same_sample_shape(const tg_loader *l) {
  if (l->ds->ndim != l->x->ndim - 1) return false;
  for (int d = 0; d < l->ds->ndim; d++)
    if (l->ds->shape[d] != l->x->shape[d + 1]) return false;
  return true;
}

bool tg_loader_next(tg_loader *l, tg_tensor **x, tg_tensor **y) {
  if (x) *x = NULL;
  if (y) *y = NULL;
  if (!l) {
    tg_error("loader_next: the loader is NULL");
    return false;
  }
  l->failed = false;
  if (!same_sample_shape(l)) {
    /* a transform set after tg_loader_new: the batch buffers no longer fit */
    tg_error("loader_next: the dataset's sample shape changed after tg_loader_new; make a new "
             "loader");
    l->failed = true;
    return false;
  }
  if (!l->in_epoch) start_epoch(l);
  size_t left = l->ds->length - l->pos, b = left < l->batch ? left : l->batch;
  if (!b || (l->drop_last && b < l->batch)) {
    l->in_epoch = false;
    return false;
  }
  if (fill(l, b) != 0) {
    l->failed = true;
    l->in_epoch = false;
    return false;
  }
  l->pos += b;
  bool full = b == l->batch;
  if (x) *x = full ? l->x : l->x_tail;
  if (y) *y = full ? l->y : l->y_tail;
  return true;
}

void tg_loader_reset(tg_loader *l) {
  if (!l) tg_error("loader_reset: the loader is NULL");
  else l->in_epoch = false;
}

size_t tg_loader_num_batches(const tg_loader *l) {
  if (!l) tg_error("loader_num_batches: the loader is NULL");
  if (!l || !l->batch) return 0;
  size_t n = l->ds->length;
  return l->drop_last ? n / l->batch : (n + l->batch - 1) / l->batch;
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

void tg_loader_free(tg_loader *l) {
  if (!l) return;
  /* views first: each holds a reference to its base's storage */
  tg_free(l->x_tail);
  tg_free(l->y_tail);
  tg_free(l->x);
  tg_free(l->y);
  free(l->order);
  free(l);
}
