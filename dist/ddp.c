/* DistributedDataParallel: one module replicated on every rank, its
 * gradients averaged over the ranks after each backward.
 *
 * Layout: the synchronised parameters (those requiring grad at
 * tg_ddp_new) in reverse module order, the order backward finishes them,
 * grouped by dtype, laid end to end and cut into buckets of about
 * bucket_bytes; a parameter may straddle a bucket boundary (a piece of it
 * in each). Each bucket is a contiguous buffer of its own, allocated once.
 *
 * A step: slot_ready(s) copies parameter s's pieces into their buckets;
 * buckets start their all-reduce (MPI_Iallreduce, sum) in index order, each
 * as soon as it and every bucket before it are complete (so every rank
 * starts the same collectives in the same order, whatever order its
 * backward delivers the .grads in, as MPI requires); each finished bucket
 * is divided by the world size back into the .grad tensors. A
 * post-accumulate-grad hook on every synchronised parameter calls
 * slot_ready as backward delivers its .grad, so the all-reduces overlap
 * the rest of backward; tg_ddp_sync_grads then packs whatever is not in
 * yet (a parameter this rank's backward did not reach) and waits. Open
 * MPI progresses a non-blocking collective only inside MPI calls, so the
 * hook also tests the all-reduces under way. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "dist_internal.h"

typedef struct piece {
  size_t slot;   /* which synchronised parameter */
  size_t lo, hi; /* its elements [lo, hi), flat */
  size_t at;     /* where they sit in the bucket, in elements */
} piece;

typedef struct bucket {
  tg_dtype dt;
  size_t numel;
  char *buf;
  size_t first_piece, n_pieces;
  size_t pending; /* pieces not yet copied in this step */
  bool started, finished;
} bucket;

typedef struct slot {
  tg_tensor *p;
  size_t first_bucket, last_bucket;
  size_t first_piece; /* its pieces are consecutive */
  size_t n_pieces;
  bool ready; /* copied into its buckets in this step */
  bool by_hook; /* ... by its post-accumulate hook (a second backward is an error) */
  tg_hook_handle hook;
} slot;

typedef struct hook_ctx {
  tg_ddp *d;
  size_t s;
} hook_ctx;

struct tg_ddp {
  tg_module *m;
  tg_ddp_opts o;
  int world;
  bool no_sync;
  slot *slots;
  size_t n_slots;
  bucket *buckets;
  size_t n_buckets;
  piece *pieces;
  size_t n_pieces;
  char *mem; /* every bucket's buffer */
  size_t bytes;
  tg_dist_reqs *reqs;
  size_t next_start; /* the next bucket to start (they start in order) */
  hook_ctx *ctx;     /* one per slot, for its hook */
  double first_start, overlap; /* the step's first bucket start; the last sync's overlap */
  tg_tensor **bufs;  /* the module's buffers (broadcast_buffers), state-dict order */
  size_t n_bufs;
  char *buf_mem;     /* the contiguous ones packed end to end for one broadcast */
  size_t buf_bytes;
  tg_hook_handle pre_hook; /* the forward pre-hook that broadcasts them */
};

#define DEFAULT_BUCKET_BYTES ((size_t)25 << 20)

tg_ddp_opts tg_ddp_defaults(void) {
  return (tg_ddp_opts){.bucket_bytes = DEFAULT_BUCKET_BYTES, .broadcast_buffers = true};
}

static int register_hooks(tg_ddp *d);

/* ------------------------------------------------------------ the check */

/* one parameter or buffer as rank 0 describes it to the others */
typedef struct desc {
  char name[112];
  int32_t dtype, ndim, trainable, buffer;
  uint64_t shape[TG_MAX_DIMS];
} desc;

static void describe(desc *e, const char *name, const tg_tensor *p, bool buffer) {
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->dtype = (int32_t)p->dtype;
  e->ndim = p->ndim;
  e->trainable = !buffer && p->requires_grad;
  e->buffer = buffer;
  for (int d = 0; d < p->ndim; d++) e->shape[d] = p->shape[d];
}

static const char *kind(const desc *e) { return e->buffer ? "buffer" : "parameter"; }

static void desc_str(const desc *e, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s [", tg_dtype_name((tg_dtype)e->dtype));
  for (int d = 0; d < e->ndim && n > 0 && (size_t)n < len; d++)
    n += snprintf(buf + n, len - (size_t)n, "%s%llu", d ? "," : "", (unsigned long long)e->shape[d]);
  if (n > 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, "]%s", e->buffer ? " (a buffer)" : e->trainable ? "" : " frozen");
}

/* m's state dict (parameters and buffers, dotted names) as *n descs:
 * buffers count too, as they are broadcast and a rank with one more would
 * wait in a broadcast the others never join */
static desc *describe_all(tg_module *m, tg_tensor **params, size_t n_params, size_t *n) {
  tg_state_dict *sd = tg_module_state_dict(m);
  desc *d = sd ? calloc(sd->n ? sd->n : 1, sizeof *d) : NULL;
  for (size_t k = 0; d && k < sd->n; k++) {
    bool is_param = false;
    for (size_t i = 0; i < n_params && !is_param; i++) is_param = sd->entries[k].tensor == params[i];
    describe(&d[k], sd->entries[k].name, sd->entries[k].tensor, !is_param);
  }
  *n = d ? sd->n : 0;
  tg_state_dict_free(sd);
  return d;
}

/* Compare with rank 0's list: "" when the same, else what differs. */
static void compare(const desc *mine, size_t n, const desc *ref, size_t n_ref, int rank, char *why,
                    size_t len) {
  why[0] = '\0';
  char a[160], b[160];
  size_t common = n < n_ref ? n : n_ref;
  for (size_t i = 0; i < common; i++) {
    if (strcmp(mine[i].name, ref[i].name) != 0) {
      snprintf(why, len, "entry %zu of the state dict is %s '%s' on rank %d but %s '%s' on rank 0",
               i, kind(&mine[i]), mine[i].name, rank, kind(&ref[i]), ref[i].name);
      return;
    }
    desc_str(&mine[i], a, sizeof a);
    desc_str(&ref[i], b, sizeof b);
    if (strcmp(a, b) != 0) {
      snprintf(why, len, "%s '%s' is %s on rank %d but %s on rank 0", kind(&mine[i]), mine[i].name,
               a, rank, b);
      return;
    }
  }
  if (n > n_ref)
    snprintf(why, len, "rank %d has %zu parameters and buffers, rank 0 %zu: %s '%s' is extra", rank,
             n, n_ref, kind(&mine[n_ref]), mine[n_ref].name);
  else if (n < n_ref)
    snprintf(why, len, "rank %d has %zu parameters and buffers, rank 0 %zu: %s '%s' is missing",
             rank, n, n_ref, kind(&ref[n]), ref[n].name);
}

/* Every rank learns whether all ranks' parameters match rank 0's, and if
 * not, the lowest differing rank's description of the difference. */
static int check_same_params(tg_module *m, tg_tensor **params, size_t n, int rank, int world) {
  const char *who = "ddp_new";
  size_t n_mine = 0;
  desc *mine = describe_all(m, params, n, &n_mine);
  uint64_t n_ref = n_mine;
  if (tg_dist_bcast_bytes(&n_ref, sizeof n_ref, 0, who)) {
    free(mine);
    return -1;
  }
  desc *ref = calloc(n_ref ? n_ref : 1, sizeof *ref);
  bool ok = mine && ref;
  char why[400] = "";
  if (ok && rank == 0) memcpy(ref, mine, n_mine * sizeof *ref);
  /* a rank that could not allocate still broadcasts into a stand-in */
  static desc spare[1];
  int rc = 0;
  for (uint64_t i = 0; i < n_ref && rc == 0; i++)
    rc = tg_dist_bcast_bytes(ref ? &ref[i] : spare, sizeof(desc), 0, who);
  if (rc == 0 && ok) compare(mine, n_mine, ref, n_ref, rank, why, sizeof why);
  if (rc == 0 && !ok) snprintf(why, sizeof why, "out of memory describing %zu parameters", n);
  free(mine);
  free(ref);
  if (rc) return -1;
  int64_t lo = 0, hi = 0;
  if (tg_dist_agree(why[0] ? rank : world, &lo, &hi, who)) return -1;
  if (lo == world) return 0;
  if (tg_dist_bcast_bytes(why, sizeof why, (int)lo, who)) return -1;
  return tg_dist_fail(who, "the model differs across ranks: %s", why);
}

/* ------------------------------------------------------------ the layout */

static size_t count_layout(tg_tensor **params, size_t n, size_t cap_bytes, size_t *n_slots,
                           size_t *n_pieces) {
  size_t buckets = 0;
  *n_slots = *n_pieces = 0;
  for (int dt = TG_FLOAT32; dt <= TG_FLOAT64; dt++) {
    size_t cap = cap_bytes / tg_dtype_size((tg_dtype)dt), fill = 0;
    if (!cap) cap = 1;
    for (size_t i = n; i-- > 0;) {
      tg_tensor *p = params[i];
      if (!p->requires_grad || p->dtype != (tg_dtype)dt || !p->numel) continue;
      ++*n_slots;
      for (size_t left = p->numel; left;) {
        if (fill == 0) buckets++;
        size_t take = cap - fill < left ? cap - fill : left;
        ++*n_pieces;
        left -= take;
        fill = (fill + take) % cap;
      }
    }
  }
  return buckets;
}

static int build_layout(tg_ddp *d, tg_tensor **params, size_t n) {
  size_t nb = count_layout(params, n, d->o.bucket_bytes, &d->n_slots, &d->n_pieces);
  d->slots = calloc(d->n_slots ? d->n_slots : 1, sizeof *d->slots);
  d->buckets = calloc(nb ? nb : 1, sizeof *d->buckets);
  d->pieces = calloc(d->n_pieces ? d->n_pieces : 1, sizeof *d->pieces);
  if (!d->slots || !d->buckets || !d->pieces) return tg_dist_fail("ddp_new", "out of memory");
  size_t s = 0, np = 0;
  d->n_buckets = 0;
  for (int dt = TG_FLOAT32; dt <= TG_FLOAT64; dt++) {
    size_t es = tg_dtype_size((tg_dtype)dt), cap = d->o.bucket_bytes / es;
    if (!cap) cap = 1;
    bucket *b = NULL;
    for (size_t i = n; i-- > 0;) {
      tg_tensor *p = params[i];
      if (!p->requires_grad || p->dtype != (tg_dtype)dt || !p->numel) continue;
      slot *sl = &d->slots[s];
      sl->p = p;
      sl->first_piece = np;
      for (size_t lo = 0; lo < p->numel;) {
        if (!b || b->numel == cap) {
          b = &d->buckets[d->n_buckets++];
          *b = (bucket){.dt = (tg_dtype)dt, .first_piece = np};
        }
        size_t take = cap - b->numel < p->numel - lo ? cap - b->numel : p->numel - lo;
        d->pieces[np++] = (piece){.slot = s, .lo = lo, .hi = lo + take, .at = b->numel};
        b->numel += take;
        b->n_pieces++;
        lo += take;
      }
      sl->n_pieces = np - sl->first_piece;
      sl->first_bucket = (size_t)(b - d->buckets) + 1 - sl->n_pieces;
      sl->last_bucket = (size_t)(b - d->buckets);
      s++;
    }
  }
  /* one allocation for every bucket, each 64-byte aligned */
  size_t total = 0;
  for (size_t k = 0; k < d->n_buckets; k++) {
    d->bytes += d->buckets[k].numel * tg_dtype_size(d->buckets[k].dt);
    total += (d->buckets[k].numel * tg_dtype_size(d->buckets[k].dt) + 63) / 64 * 64;
  }
  d->mem = aligned_alloc(64, total ? total : 64);
  if (!d->mem) return tg_dist_fail("ddp_new", "out of memory for %zu bytes of buckets", total);
  for (size_t k = 0, off = 0; k < d->n_buckets; k++) {
    d->buckets[k].buf = d->mem + off;
    off += (d->buckets[k].numel * tg_dtype_size(d->buckets[k].dt) + 63) / 64 * 64;
  }
  d->reqs = tg_dist_reqs_new(d->n_buckets);
  return d->reqs ? 0 : -1;
}

void tg_ddp_free(tg_ddp *d) {
  if (!d) return;
  if (d->pre_hook.id) tg_module_remove_hook(d->pre_hook);
  free(d->bufs);
  free(d->buf_mem);
  for (size_t s = 0; d->ctx && s < d->n_slots; s++) tg_remove_hook(d->slots[s].hook);
  free(d->ctx);
  tg_dist_reqs_free(d->reqs);
  free(d->mem);
  free(d->slots);
  free(d->buckets);
  free(d->pieces);
  free(d);
}

/* every bucket waits for all its pieces again, no parameter is in yet */
static void reset_step(tg_ddp *d) {
  for (size_t k = 0; k < d->n_buckets; k++) {
    d->buckets[k].pending = d->buckets[k].n_pieces;
    d->buckets[k].started = d->buckets[k].finished = false;
  }
  for (size_t s = 0; s < d->n_slots; s++) d->slots[s].ready = d->slots[s].by_hook = false;
  d->next_start = 0;
  d->first_start = 0;
}

static int broadcast_state(tg_ddp *d, tg_tensor **params, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (tg_dist_broadcast_(params[i], 0)) return -1;
  if (!d->o.broadcast_buffers) return 0;
  tg_state_dict *sd = tg_module_state_dict(d->m);
  /* the same module on every rank (checked): the same buffers in the same order */
  int rc = sd ? 0 : -1;
  for (size_t k = 0; sd && k < sd->n && rc == 0; k++) {
    bool is_param = false;
    for (size_t i = 0; i < n && !is_param; i++) is_param = sd->entries[k].tensor == params[i];
    if (!is_param) rc = tg_dist_broadcast_(sd->entries[k].tensor, 0);
  }
  tg_state_dict_free(sd);
  return rc;
}

/* ------------------------------------------------------------ buffers */

static bool packable(const tg_tensor *t) { return tg_is_contiguous(t) && t->storage->data; }

int tg_ddp_broadcast_buffers(tg_ddp *d) {
  const char *who = "ddp_broadcast_buffers";
  if (!d) return tg_dist_fail(who, "the wrapper is NULL");
  if (tg_dist_need_init(who)) return -1;
  if (d->world == 1 || d->n_bufs == 0) return 0;
  bool root = tg_dist_rank() == 0;
  size_t at = 0;
  for (size_t i = 0; root && i < d->n_bufs; i++) {
    tg_tensor *t = d->bufs[i];
    size_t n = t->numel * tg_dtype_size(t->dtype);
    if (!packable(t)) continue;
    memcpy(d->buf_mem + at, tg_ptr(t), n);
    at += n;
  }
  if (d->buf_bytes && tg_dist_bcast_bytes(d->buf_mem, d->buf_bytes, 0, who)) return -1;
  at = 0;
  for (size_t i = 0; i < d->n_bufs; i++) {
    tg_tensor *t = d->bufs[i];
    size_t n = t->numel * tg_dtype_size(t->dtype);
    if (!packable(t)) {
      if (tg_dist_broadcast_(t, 0)) return -1;
      continue;
    }
    if (!root) {
      memcpy(tg_ptr(t), d->buf_mem + at, n);
      t->storage->version++;
    }
    at += n;
  }
  return 0;
}

/* torch's DDP forward: buffers from rank 0 first, when the forward will be
 * trained on (grad mode, not accumulating under no_sync) */
static tg_tensor *pre_forward(tg_module *m, tg_tensor *x, void *ctx) {
  (void)m;
  tg_ddp *d = ctx;
  if (d->no_sync || !tg_grad_enabled()) return x;
  return tg_ddp_broadcast_buffers(d) == 0 ? x : NULL;
}

/* the buffers (state-dict entries that are not parameters) and their
 * packing space; the pre-forward hook when there are any to broadcast */
static int collect_buffers(tg_ddp *d, tg_tensor **params, size_t n) {
  tg_state_dict *sd = tg_module_state_dict(d->m);
  if (!sd) return -1;
  d->bufs = calloc(sd->n ? sd->n : 1, sizeof *d->bufs);
  for (size_t k = 0; d->bufs && k < sd->n; k++) {
    bool is_param = false;
    for (size_t i = 0; i < n && !is_param; i++) is_param = sd->entries[k].tensor == params[i];
    tg_tensor *t = sd->entries[k].tensor;
    if (is_param) continue;
    d->bufs[d->n_bufs++] = t;
    if (packable(t)) d->buf_bytes += t->numel * tg_dtype_size(t->dtype);
  }
  tg_state_dict_free(sd);
  d->buf_mem = d->bufs ? malloc(d->buf_bytes ? d->buf_bytes : 1) : NULL;
  if (!d->buf_mem) return tg_dist_fail("ddp_new", "out of memory");
  if (d->n_bufs == 0 || !d->o.broadcast_buffers) return 0;
  d->pre_hook = tg_module_register_forward_pre_hook(d->m, pre_forward, d);
  return d->pre_hook.id ? 0 : -1;
}

tg_ddp *tg_ddp_new(tg_module *m, tg_ddp_opts o) {
  const char *who = "ddp_new";
  if (!tg_dist_is_initialized()) {
    if (!m) tg_dist_fail(who, "the module is NULL");
    else tg_dist_need_init(who);
    return NULL;
  }
  int rank = tg_dist_rank(), world = tg_dist_world_size();
  size_t n = 0;
  tg_tensor **params = m ? tg_module_parameters(m, &n) : NULL;
  tg_ddp *d = params ? calloc(1, sizeof *d) : NULL;
  if (!m) tg_dist_fail(who, "the module is NULL");
  else if (params && !d) tg_dist_fail(who, "out of memory");
  char err[400] = "";
  if (!d) snprintf(err, sizeof err, "%s", tg_last_error());
  /* a rank failing here must not leave the others in the check below */
  int64_t lo = 0, hi = 0;
  if (tg_dist_agree(d ? 0 : 1, &lo, &hi, who)) goto fail;
  if (!d) {
    tg_error("%s", err);
    return NULL;
  }
  if (hi) {
    tg_dist_fail(who, "another rank failed to wrap its module (see its message)");
    goto fail;
  }
  *d = (tg_ddp){.m = m, .o = o, .world = world};
  if (!d->o.bucket_bytes) d->o.bucket_bytes = DEFAULT_BUCKET_BYTES;
  if (check_same_params(m, params, n, rank, world)) goto fail;
  int ok = build_layout(d, params, n) == 0;
  if (tg_dist_agree(ok, &lo, &hi, who)) goto fail;
  if (!lo) {
    if (ok) tg_dist_fail(who, "another rank could not allocate its buckets");
    goto fail;
  }
  if (broadcast_state(d, params, n)) goto fail;
  ok = d->o.no_overlap || register_hooks(d) == 0;
  ok = ok && collect_buffers(d, params, n) == 0;
  if (tg_dist_agree(ok, &lo, &hi, who)) goto fail;
  if (!lo) {
    if (ok) tg_dist_fail(who, "another rank could not register its hooks");
    goto fail;
  }
  reset_step(d);
  return d;
fail:
  tg_ddp_free(d);
  return NULL;
}

/* ------------------------------------------------------------ a step */

/* .grad as the buckets need it: present, contiguous, the parameter's
 * dtype (a leaf's .grad from backward always is; a parameter unused on
 * this rank gets zeros, so every rank sends the same buckets) */
static int usable_grad(tg_tensor *p) {
  tg_tensor *g = p->grad;
  if (g && g->dtype == p->dtype && tg_same_shape(g, p) && tg_is_contiguous(g)) return 0;
  tg_tensor *fresh = tg_tensor_alloc_in(0, p->dtype, p->ndim, p->shape);
  if (!fresh) return -1;
  memset(tg_ptr(fresh), 0, fresh->numel * tg_dtype_size(p->dtype));
  if (g && tg_copy_(fresh, g) != 0) {
    tg_free(fresh);
    return -1;
  }
  if (g && g->obj.scope == 0) tg_free(g);
  p->grad = fresh;
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* start every complete bucket whose predecessors have all started */
static int start_ready_buckets(tg_ddp *d) {
  for (; d->next_start < d->n_buckets && d->buckets[d->next_start].pending == 0; d->next_start++) {
    bucket *b = &d->buckets[d->next_start];
    if (!d->first_start) d->first_start = now();
    b->started = true;
    if (tg_dist_iallreduce_sum(d->reqs, d->next_start, b->buf, b->numel, b->dt, "ddp_sync_grads"))
      return -1;
  }
  return 0;
}

/* Parameter s's .grad is final: copy it into its buckets and start what
 * this completes. */
static int slot_ready(tg_ddp *d, size_t s) {
  slot *sl = &d->slots[s];
  if (sl->ready) return 0;
  if (usable_grad(sl->p)) return -1;
  sl->ready = true;
  const char *g = tg_ptr(sl->p->grad);
  size_t es = tg_dtype_size(sl->p->dtype);
  for (size_t i = 0; i < sl->n_pieces; i++) {
    const piece *pc = &d->pieces[sl->first_piece + i];
    bucket *b = &d->buckets[sl->first_bucket + i];
    memcpy(b->buf + pc->at * es, g + pc->lo * es, (pc->hi - pc->lo) * es);
    b->pending--;
  }
  return start_ready_buckets(d);
}

/* the mean of a finished bucket back into its pieces' .grad */
static void finish_bucket(tg_ddp *d, size_t k) {
  bucket *b = &d->buckets[k];
  b->finished = true;
  for (size_t i = 0; i < b->n_pieces; i++) {
    const piece *pc = &d->pieces[b->first_piece + i];
    tg_tensor *gt = d->slots[pc->slot].p->grad;
    size_t n = pc->hi - pc->lo;
    if (b->dt == TG_FLOAT32) {
      const float *src = (const float *)b->buf + pc->at;
      float *dst = (float *)tg_ptr(gt) + pc->lo, w = (float)d->world;
      for (size_t j = 0; j < n; j++) dst[j] = src[j] / w;
    } else {
      const double *src = (const double *)b->buf + pc->at;
      double *dst = (double *)tg_ptr(gt) + pc->lo, w = (double)d->world;
      for (size_t j = 0; j < n; j++) dst[j] = src[j] / w;
    }
    gt->storage->version++;
  }
}

/* The post-accumulate hook of slot c->s: in, unless accumulating under
 * no_sync. A second backward before the sync would start buckets with
 * half the gradient (torch: "Expected to mark a variable ready only once"). */
static int on_grad(tg_tensor *leaf, void *ctx) {
  (void)leaf;
  const hook_ctx *c = ctx;
  tg_ddp *d = c->d;
  if (d->no_sync || d->o.no_overlap) return 0;
  slot *sl = &d->slots[c->s];
  if (sl->by_hook)
    return tg_dist_fail("ddp_sync_grads", "a second backward reached parameter %zu before "
                        "tg_ddp_sync_grads; accumulate gradients under tg_ddp_set_no_sync", c->s);
  if (sl->ready) return 0; /* packed by sync_grads already: gradient of a later backward */
  sl->by_hook = true;
  if (slot_ready(d, c->s)) return -1;
  /* let MPI progress the all-reduces under way; a bucket done is finished */
  for (size_t k = 0; k < d->next_start; k++) {
    if (d->buckets[k].finished) continue;
    bool done = false;
    if (tg_dist_test(d->reqs, k, &done, "ddp_sync_grads")) return -1;
    if (done) finish_bucket(d, k);
  }
  return 0;
}

static int register_hooks(tg_ddp *d) {
  d->ctx = calloc(d->n_slots ? d->n_slots : 1, sizeof *d->ctx);
  if (!d->ctx) return tg_dist_fail("ddp_new", "out of memory");
  for (size_t s = 0; s < d->n_slots; s++) {
    d->ctx[s] = (hook_ctx){d, s};
    d->slots[s].hook = tg_register_post_accumulate_grad_hook(d->slots[s].p, on_grad, &d->ctx[s]);
    if (!d->slots[s].hook.id) return -1;
  }
  return 0;
}

int tg_ddp_sync_grads(tg_ddp *d) {
  if (!d) return tg_dist_fail("ddp_sync_grads", "the wrapper is NULL");
  if (d->no_sync) return 0;
  if (tg_dist_need_init("ddp_sync_grads")) return -1;
  double t_sync = now();
  d->overlap = d->first_start ? t_sync - d->first_start : 0;
  /* the parameters not yet in (all of them without the hooks; those this
   * rank's backward did not reach), in bucket order */
  int rc = 0;
  for (size_t s = 0; s < d->n_slots && rc == 0; s++) rc = slot_ready(d, s);
  size_t waiting = 0;
  for (size_t k = 0; k < d->n_buckets; k++) waiting += d->buckets[k].started && !d->buckets[k].finished;
  for (size_t i = 0; i < waiting; i++) {
    size_t k;
    if (tg_dist_wait_any(d->reqs, &k, "ddp_sync_grads")) return -1;
    if (rc == 0) finish_bucket(d, k);
  }
  reset_step(d);
  return rc;
}

int tg_ddp_set_no_sync(tg_ddp *d, bool on) {
  if (!d) return tg_dist_fail("ddp_set_no_sync", "the wrapper is NULL");
  d->no_sync = on;
  return 0;
}

size_t tg_ddp_num_buckets(const tg_ddp *d) {
  if (!d) tg_dist_fail("ddp_num_buckets", "the wrapper is NULL");
  return d ? d->n_buckets : 0;
}

size_t tg_ddp_num_synced(const tg_ddp *d) {
  if (!d) tg_dist_fail("ddp_num_synced", "the wrapper is NULL");
  return d ? d->n_slots : 0;
}

double tg_ddp_overlap_seconds(const tg_ddp *d) {
  if (!d) tg_dist_fail("ddp_overlap_seconds", "the wrapper is NULL");
  return d ? d->overlap : 0;
}

size_t tg_ddp_bytes_per_sync(const tg_ddp *d) {
  if (!d) tg_dist_fail("ddp_bytes_per_sync", "the wrapper is NULL");
  return d ? d->bytes : 0;
}
