/* The process group and the collectives of tensors, on MPI. One group per
 * process (as torch.distributed's default group): a duplicate of the
 * caller's communicator, with MPI's errors returned rather than fatal, so
 * each failure becomes a message naming the call and the rank.
 *
 * Before every collective the ranks agree on its arguments (dtype, shape,
 * root) with one small all-reduce of a signature: a rank whose own
 * arguments are bad (NULL, a freed tensor) joins that all-reduce with a
 * sentinel instead of returning at once, so every rank fails together and
 * none is left waiting in a collective the others never enter. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_internal.h"

#ifdef TG_HAVE_MPI
#include <mpi.h>
#endif

static struct {
  bool init;
  bool we_called_init; /* MPI_Finalize is then ours to call */
  int rank, size;
#ifdef TG_HAVE_MPI
  MPI_Comm comm;
#endif
} g;

bool tg_dist_available(void) {
#ifdef TG_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool tg_dist_launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int tg_dist_fail(const char *who, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (g.init) tg_error("%s: rank %d: %s", who, g.rank, msg);
  else tg_error("%s: %s", who, msg);
  return -1;
}

int tg_dist_need_init(const char *who) {
  if (g.init) return 0;
  return tg_dist_fail(who, tg_dist_available() ? "tg_dist_init has not been called"
                                               : "tapegrad was built without MPI "
                                                 "(tg_dist_available() is false)");
}

bool tg_dist_is_initialized(void) { return g.init; }

int tg_dist_rank(void) { return tg_dist_need_init("dist_rank") ? -1 : g.rank; }

int tg_dist_world_size(void) { return tg_dist_need_init("dist_world_size") ? -1 : g.size; }

/* the elements of one MPI call: counts are ints */
#define CHUNK ((size_t)1 << 30)

#ifdef TG_HAVE_MPI
static int mpi_fail(const char *who, const char *call, int rc) {
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", rc);
  return tg_dist_fail(who, "%s failed: %s", call, s);
}

static MPI_Datatype mpi_type(tg_dtype dt) {
  switch (dt) {
  case TG_FLOAT32: return MPI_FLOAT;
  case TG_FLOAT64: return MPI_DOUBLE;
  case TG_INT64: return MPI_INT64_T;
  case TG_BOOL: break;
  }
  return MPI_UINT8_T; /* bool: bytes 0/1, or as max */
}

int tg_dist_init(void *comm) {
  if (g.init) return tg_dist_fail("dist_init", "already initialised (tg_dist_finalize first)");
  int flag = 0;
  MPI_Finalized(&flag);
  if (flag) return tg_dist_fail("dist_init", "MPI was finalized; it cannot start again in a process");
  MPI_Initialized(&flag);
  bool ours = false;
  if (!flag) {
    int provided, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail("dist_init", "MPI_Init_thread", rc);
    ours = true;
  }
  MPI_Comm base = comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD, mine;
  int rc = MPI_Comm_dup(base, &mine);
  if (rc != MPI_SUCCESS) {
    if (ours) MPI_Finalize();
    return mpi_fail("dist_init", "MPI_Comm_dup", rc);
  }
  MPI_Comm_set_errhandler(mine, MPI_ERRORS_RETURN);
  MPI_Comm_rank(mine, &g.rank);
  MPI_Comm_size(mine, &g.size);
  g.comm = mine;
  g.we_called_init = ours;
  g.init = true;
  return 0;
}

int tg_dist_finalize(void) {
  if (tg_dist_need_init("dist_finalize")) return -1;
  MPI_Comm_free(&g.comm);
  if (g.we_called_init) MPI_Finalize();
  memset(&g, 0, sizeof g);
  return 0;
}

int tg_dist_barrier(void) {
  if (tg_dist_need_init("dist_barrier")) return -1;
  int rc = MPI_Barrier(g.comm);
  return rc == MPI_SUCCESS ? 0 : mpi_fail("dist_barrier", "MPI_Barrier", rc);
}

int tg_dist_agree(int64_t mine, int64_t *min, int64_t *max, const char *who) {
  if (tg_dist_need_init(who)) return -1;
  int64_t v[2] = {mine, -mine}, r[2];
  int rc = MPI_Allreduce(v, r, 2, MPI_INT64_T, MPI_MAX, g.comm);
  if (rc != MPI_SUCCESS) return mpi_fail(who, "MPI_Allreduce", rc);
  *max = r[0];
  *min = -r[1];
  return 0;
}

int tg_dist_bcast_bytes(void *buf, size_t n, int root, const char *who) {
  if (tg_dist_need_init(who)) return -1;
  for (size_t off = 0; off < n; off += CHUNK) {
    size_t k = n - off < CHUNK ? n - off : CHUNK;
    int rc = MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, g.comm);
    if (rc != MPI_SUCCESS) return mpi_fail(who, "MPI_Bcast", rc);
  }
  return 0;
}

/* in place over count contiguous elements, in chunks MPI's int counts hold */
static int reduce_buf(void *buf, size_t count, tg_dtype dt, bool max, const char *who) {
  MPI_Op op = max || dt == TG_BOOL ? MPI_MAX : MPI_SUM;
  size_t es = tg_dtype_size(dt);
  for (size_t off = 0; off < count; off += CHUNK) {
    size_t k = count - off < CHUNK ? count - off : CHUNK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * es, (int)k, mpi_type(dt), op, g.comm);
    if (rc != MPI_SUCCESS) return mpi_fail(who, "MPI_Allreduce", rc);
  }
  return 0;
}

static int bcast_buf(void *buf, size_t count, tg_dtype dt, int root, const char *who) {
  return tg_dist_bcast_bytes(buf, count * tg_dtype_size(dt), root, who);
}

struct tg_dist_reqs {
  size_t n;
  MPI_Request req[];
};

tg_dist_reqs *tg_dist_reqs_new(size_t n) {
  tg_dist_reqs *r = malloc(sizeof *r + (n ? n : 1) * sizeof(MPI_Request));
  if (!r) {
    tg_dist_fail("ddp_new", "out of memory for %zu requests", n);
    return NULL;
  }
  r->n = n;
  for (size_t i = 0; i < n; i++) r->req[i] = MPI_REQUEST_NULL;
  return r;
}

void tg_dist_reqs_free(tg_dist_reqs *r) { free(r); }

int tg_dist_iallreduce_sum(tg_dist_reqs *r, size_t i, void *buf, size_t count, tg_dtype dt,
                           const char *who) {
  if (tg_dist_need_init(who)) return -1;
  if (count > INT_MAX) return tg_dist_fail(who, "a bucket of %zu elements is too large", count);
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, mpi_type(dt), MPI_SUM, g.comm, &r->req[i]);
  return rc == MPI_SUCCESS ? 0 : mpi_fail(who, "MPI_Iallreduce", rc);
}

int tg_dist_test(tg_dist_reqs *r, size_t i, bool *done, const char *who) {
  int flag = 0;
  int rc = MPI_Test(&r->req[i], &flag, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return mpi_fail(who, "MPI_Test", rc);
  *done = flag != 0;
  return 0;
}

int tg_dist_wait_any(tg_dist_reqs *r, size_t *done, const char *who) {
  int idx = MPI_UNDEFINED;
  int rc = MPI_Waitany((int)r->n, r->req, &idx, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return mpi_fail(who, "MPI_Waitany", rc);
  if (idx == MPI_UNDEFINED) return tg_dist_fail(who, "no all-reduce is under way");
  *done = (size_t)idx;
  return 0;
}

static int gather_buf(const void *src, void *dst, size_t count, tg_dtype dt, const char *who) {
  if (count > INT_MAX)
    return tg_dist_fail(who, "%zu elements per rank: at most %d are supported", count, INT_MAX);
  int rc = MPI_Allgather(src, (int)count, mpi_type(dt), dst, (int)count, mpi_type(dt), g.comm);
  return rc == MPI_SUCCESS ? 0 : mpi_fail(who, "MPI_Allgather", rc);
}

#else /* without MPI: the group cannot start, so nothing below it runs */

int tg_dist_init(void *comm) {
  (void)comm;
  return tg_dist_need_init("dist_init");
}
int tg_dist_finalize(void) { return tg_dist_need_init("dist_finalize"); }
int tg_dist_barrier(void) { return tg_dist_need_init("dist_barrier"); }
int tg_dist_agree(int64_t mine, int64_t *min, int64_t *max, const char *who) {
  (void)mine, (void)min, (void)max;
  return tg_dist_need_init(who);
}
int tg_dist_bcast_bytes(void *buf, size_t n, int root, const char *who) {
  (void)buf, (void)n, (void)root;
  return tg_dist_need_init(who);
}
static int reduce_buf(void *buf, size_t count, tg_dtype dt, bool max, const char *who) {
  (void)buf, (void)count, (void)dt, (void)max;
  return tg_dist_need_init(who);
}
static int bcast_buf(void *buf, size_t count, tg_dtype dt, int root, const char *who) {
  (void)buf, (void)count, (void)dt, (void)root;
  return tg_dist_need_init(who);
}
static int gather_buf(const void *src, void *dst, size_t count, tg_dtype dt, const char *who) {
  (void)src, (void)dst, (void)count, (void)dt;
  return tg_dist_need_init(who);
}
struct tg_dist_reqs {
  size_t n;
};
tg_dist_reqs *tg_dist_reqs_new(size_t n) {
  (void)n;
  tg_dist_need_init("ddp_new");
  return NULL;
}
void tg_dist_reqs_free(tg_dist_reqs *r) { (void)r; }
int tg_dist_iallreduce_sum(tg_dist_reqs *r, size_t i, void *buf, size_t count, tg_dtype dt,
                           const char *who) {
  (void)r, (void)i, (void)buf, (void)count, (void)dt;
  return tg_dist_need_init(who);
}
int tg_dist_test(tg_dist_reqs *r, size_t i, bool *done, const char *who) {
  (void)r, (void)i, (void)done;
  return tg_dist_need_init(who);
}
int tg_dist_wait_any(tg_dist_reqs *r, size_t *done, const char *who) {
  (void)r, (void)done;
  return tg_dist_need_init(who);
}
#endif

/* ---------------------------------------------------------------- tensors */

/* 63 bits of FNV-1a over what every rank must agree on; -1 is the
 * sentinel of a rank whose own arguments are bad */
static int64_t signature(const tg_tensor *t, int64_t extra) {
  uint64_t h = 1469598103934665603ull;
  uint64_t v[TG_MAX_DIMS + 3] = {(uint64_t)t->dtype, (uint64_t)t->ndim, (uint64_t)extra};
  for (int d = 0; d < t->ndim; d++) v[3 + d] = t->shape[d];
  for (int k = 0; k < t->ndim + 3; k++)
    for (int b = 0; b < 8; b++) h = (h ^ ((v[k] >> (8 * b)) & 0xff)) * 1099511628211ull;
  return (int64_t)(h >> 1);
}

static bool expanded(const tg_tensor *t) {
  for (int d = 0; d < t->ndim; d++)
    if (t->strides[d] == 0 && t->shape[d] > 1) return true;
  return false;
}

/* Local checks, then the agreement: 0 when every rank may go ahead. */
static int agree_on(const tg_tensor *t, bool writes, bool local_ok, int64_t extra, const char *who) {
  if (!g.init) /* nobody to agree with: a bad tensor first, else the missing init */
    return local_ok && !tg_tensor_check(t, who, 1) ? -1 : tg_dist_need_init(who);
  bool ok = local_ok;
  if (ok && !tg_tensor_check(t, who, 1)) {
    /* the same message with the rank in it */
    char m[400];
    const char *e = tg_last_error();
    size_t w = strlen(who);
    snprintf(m, sizeof m, "%s", strncmp(e, who, w) == 0 && e[w] == ':' ? e + w + 2 : e);
    tg_dist_fail(who, "%s", m);
    ok = false;
  }
  if (ok && writes && expanded(t)) {
    tg_dist_fail(who, "the tensor is an expanded view (elements share memory): clone it first");
    ok = false;
  }
  char mine_err[400] = "";
  if (!ok) snprintf(mine_err, sizeof mine_err, "%s", tg_last_error());
  int64_t lo = 0, hi = 0;
  if (tg_dist_agree(ok ? signature(t, extra) : -1, &lo, &hi, who)) return -1;
  if (!ok) {
    tg_error("%s", mine_err);
    return -1;
  }
  if (lo == -1) return tg_dist_fail(who, "another rank's arguments are invalid (see its message)");
  if (lo != hi) {
    char s[128];
    return tg_dist_fail(who, "the ranks' tensors (or roots) differ; this rank has %s %s",
                        tg_dtype_name(t->dtype), tg_shape_str(t, s, sizeof s));
  }
  return 0;
}

/* Run f on t's elements as one contiguous buffer: t's own memory when it
 * is contiguous, else a scratch copy written back afterwards. */
typedef int (*buf_fn)(tg_tensor *c, void *ctx);
static int on_contiguous(tg_tensor *t, buf_fn f, void *ctx, bool write_back) {
  if (tg_is_contiguous(t)) return f(t, ctx);
  if (tg_scope_begin() != 0) return -1;
  tg_tensor *c = tg_empty(t->dtype, t->ndim, t->shape);
  int rc = c && tg_copy_(c, t) == 0 ? f(c, ctx) : -1;
  if (rc == 0 && write_back) rc = tg_copy_(t, c);
  tg_scope_end();
  return rc;
}

typedef struct coll_ctx {
  tg_reduce_op op;
  int root;
  const char *who;
} coll_ctx;

static int do_reduce(tg_tensor *c, void *p) {
  coll_ctx *k = p;
  void *buf = tg_ptr(c);
  if (reduce_buf(buf, c->numel, c->dtype, k->op == TG_REDUCE_MAX, k->who)) return -1;
  if (k->op != TG_REDUCE_MEAN) return 0;
  if (c->dtype == TG_FLOAT32) {
    float *x = buf, w = (float)g.size;
    for (size_t i = 0; i < c->numel; i++) x[i] /= w;
  } else {
    double *x = buf, w = (double)g.size;
    for (size_t i = 0; i < c->numel; i++) x[i] /= w;
  }
  return 0;
}

int tg_dist_all_reduce_(tg_tensor *t, tg_reduce_op op) {
  const char *who = "dist_all_reduce_";
  bool ok = true;
  if (op != TG_REDUCE_SUM && op != TG_REDUCE_MEAN && op != TG_REDUCE_MAX) {
    tg_dist_fail(who, "unknown reduce op %d", (int)op);
    ok = false;
  } else if (op == TG_REDUCE_MEAN && t && t->dtype != TG_FLOAT32 && t->dtype != TG_FLOAT64 &&
             tg_tensor_check(t, who, 1)) {
    tg_dist_fail(who, "MEAN needs a float tensor, got %s", tg_dtype_name(t->dtype));
    ok = false;
  }
  if (agree_on(t, true, ok, op, who)) return -1;
  coll_ctx k = {.op = op, .who = who};
  if (on_contiguous(t, do_reduce, &k, true)) return -1;
  t->storage->version++;
  return 0;
}

static int do_bcast(tg_tensor *c, void *p) {
  coll_ctx *k = p;
  return bcast_buf(tg_ptr(c), c->numel, c->dtype, k->root, k->who);
}

int tg_dist_broadcast_(tg_tensor *t, int root) {
  const char *who = "dist_broadcast_";
  bool ok = true;
  if (g.init && (root < 0 || root >= g.size)) {
    tg_dist_fail(who, "root %d is not a rank of this group of %d", root, g.size);
    ok = false;
  }
  if (agree_on(t, true, ok, root, who)) return -1;
  coll_ctx k = {.root = root, .who = who};
  if (on_contiguous(t, do_bcast, &k, true)) return -1;
  t->storage->version++;
  return 0;
}

typedef struct gather_ctx {
  tg_tensor *out;
  const char *who;
} gather_ctx;

static int do_gather(tg_tensor *c, void *p) {
  gather_ctx *k = p;
  return gather_buf(tg_ptr(c), tg_ptr(k->out), c->numel, c->dtype, k->who);
}

tg_tensor *tg_dist_all_gather(const tg_tensor *t) {
  const char *who = "dist_all_gather";
  if (agree_on(t, false, true, 0, who)) return NULL;
  size_t shape[TG_MAX_DIMS + 1] = {(size_t)g.size};
  if (t->ndim + 1 > TG_MAX_DIMS) {
    tg_dist_fail(who, "a %d-d tensor gathers into more than %d dims", t->ndim, TG_MAX_DIMS);
    return NULL;
  }
  memcpy(shape + 1, t->shape, (size_t)t->ndim * sizeof *shape);
  tg_tensor *out = tg_empty(t->dtype, t->ndim + 1, shape);
  if (!out) return NULL;
  gather_ctx k = {.out = out, .who = who};
  /* the input is only read: on_contiguous copies a strided one first */
  return on_contiguous((tg_tensor *)t, do_gather, &k, false) ? NULL : out;
}
