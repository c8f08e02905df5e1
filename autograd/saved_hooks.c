/* Saved-tensor hooks (torch.autograd.graph.saved_tensors_hooks).
 *
 * A node's backward reads the values its op declared (op->saves: inputs,
 * the output) and its saved slot straight from the node. While a hook pair
 * is pushed, each of those is handed to pack when the node is recorded, and
 * the handle is kept in a side table keyed by the node (no bytes added to
 * nodes). Before the node's backward the engine unpacks them and puts the
 * unpacked tensors where the backward reads, for the length of the call;
 * the graph's edges (n->in[k] as the way to the producer) stay the
 * originals, and so do the version checks, which run on the originals
 * before the swap. Handles are released with the node's saved values
 * (a backward without retain_graph) or with the node. */
#include <stdlib.h>
#include <string.h>

#include "fwad_internal.h"
#include "saved_hooks_internal.h"
#include "tg_internal.h"

typedef struct hooks {
  tg_pack_hook_fn pack;
  tg_unpack_hook_fn unpack;
  tg_packed_free_fn release;
  void *ctx;
} hooks;

enum { SLOT_OUT = TG_NODE_MAX_CHECKED, SLOT_SAVED, N_SLOTS };

typedef struct rec {
  tg_node *node;
  struct rec *next;
  hooks h;               /* the pair in force when the node was recorded */
  void *packed[N_SLOTS];
  unsigned has, failed;  /* bit per slot */
} rec;

#define MAX_LEVELS 32
#define N_BUCKETS 1024u /* a power of two */

_Thread_local const void *tg_saved_hooks_top_;
_Thread_local size_t tg_saved_packed_live_;
static _Thread_local hooks levels[MAX_LEVELS];
static _Thread_local int depth;
static _Thread_local rec **table;

int tg_saved_tensors_hooks_push(tg_pack_hook_fn pack, tg_unpack_hook_fn unpack, tg_packed_free_fn release,
                                void *ctx) {
  if (!pack || !unpack) {
    tg_error("saved_tensors_hooks_push: argument %d (the %s hook) is NULL", !pack ? 1 : 2,
             !pack ? "pack" : "unpack");
    return -1;
  }
  if (depth == MAX_LEVELS) {
    tg_error("saved_tensors_hooks_push: more than %d nested hook pairs", MAX_LEVELS);
    return -1;
  }
  levels[depth] = (hooks){pack, unpack, release, ctx};
  tg_saved_hooks_top_ = &levels[depth++];
  return 0;
}

int tg_saved_tensors_hooks_pop(void) {
  if (depth == 0) {
    tg_error("saved_tensors_hooks_pop: no hook pair is pushed");
    return -1;
  }
  depth--;
  tg_saved_hooks_top_ = depth > 0 ? &levels[depth - 1] : NULL;
  return 0;
}

int tg_saved_tensors_hooks_depth(void) { return depth; }

static size_t bucket(const tg_node *n) { return ((uintptr_t)n >> 4) * 2654435761u & (N_BUCKETS - 1); }

static rec *find(const tg_node *n) {
  if (!table) return NULL;
  for (rec *r = table[bucket(n)]; r; r = r->next)
    if (r->node == n) return r;
  return NULL;
}

static rec *find_or_make(tg_node *n) {
  rec *r = find(n);
  if (r) return r;
  if (!table && !(table = calloc(N_BUCKETS, sizeof *table))) return NULL;
  if (!(r = tg_pool_alloc(sizeof *r))) return NULL;
  memset(r, 0, sizeof *r);
  r->node = n;
  r->h = *(const hooks *)tg_saved_hooks_top_;
  size_t b = bucket(n);
  r->next = table[b];
  table[b] = r;
  tg_saved_packed_live_++;
  return r;
}

static void pack_one(rec *r, int slot, tg_tensor *t) {
  if (r->has & (1u << slot)) { /* a slot saved twice: the first value goes */
    if (r->h.release) r->h.release(r->packed[slot], r->h.ctx);
    r->has &= ~(1u << slot);
  }
  r->failed &= ~(1u << slot);
  if (!t) return;
  const void *top = tg_saved_hooks_top_;
  tg_saved_hooks_top_ = NULL; /* the hook's own ops record nothing and pack nothing */
  tg_no_grad_begin();
  void *p = r->h.pack(t, r->h.ctx);
  tg_no_grad_end();
  tg_saved_hooks_top_ = top;
  if (p) {
    r->packed[slot] = p;
    r->has |= 1u << slot;
  } else {
    r->failed |= 1u << slot; /* reported by the backward that needs it */
  }
}

void tg_saved_pack_node_(tg_node *n) {
  unsigned want = 0;
  for (int k = 0; k < n->n_in && k < TG_NODE_MAX_CHECKED; k++)
    if (n->op->saves & TG_SAVES_IN(k)) want |= 1u << k;
  if (n->op->saves & TG_SAVES_OUT) want |= 1u << SLOT_OUT;
  if (!want) return;
  rec *r = find_or_make(n);
  if (!r) return;
  for (int s = 0; s < SLOT_OUT; s++)
    if (want & (1u << s)) pack_one(r, s, n->in[s]);
  if (want & (1u << SLOT_OUT)) pack_one(r, SLOT_OUT, n->out);
}

void tg_saved_pack_slot_(tg_node *n, tg_tensor *t) {
  rec *r = find_or_make(n);
  if (r) pack_one(r, SLOT_SAVED, t);
}

static tg_tensor *slot_tensor(tg_node *n, int s) {
  if (s < SLOT_OUT) return n->in[s];
  if (s == SLOT_OUT) return n->out;
  return tg_node_saved_slot_(n)->t;
}

static void set_slot(tg_node *n, int s, tg_tensor *t) {
  if (s < SLOT_OUT) n->in[s] = t;
  else if (s == SLOT_OUT) n->out = t;
  else tg_node_saved_slot_(n)->t = t;
}

static const char *slot_name(int s, char *buf, size_t cap) {
  if (s == SLOT_OUT) return "the output";
  if (s == SLOT_SAVED) return "the saved tensor";
  snprintf(buf, cap, "input %d", s);
  return buf;
}

/* the unpacked value of slot s in place of orig: differentiable as orig is
 * (under create_graph through an identity node to orig, so a double
 * backward reaches orig's producer) */
static void unpacked_backward(tg_node *n, tg_tensor *grad_out, tg_tensor **grad_in) {
  (void)n;
  grad_in[0] = grad_out;
}
TG_DEFINE_OP(op_unpacked, "SavedTensorUnpackBackward", unpacked_backward, 0);

static tg_tensor *unpack_one(rec *r, int s, tg_node *n) {
  tg_tensor *orig = slot_tensor(n, s);
  char buf[16], a[96], b[96];
  const void *top = tg_saved_hooks_top_;
  tg_saved_hooks_top_ = NULL;
  tg_no_grad_begin();
  tg_tensor *u = r->h.unpack(r->packed[s], r->h.ctx);
  tg_no_grad_end();
  tg_saved_hooks_top_ = top;
  if (!u || u->obj.magic != TG_MAGIC_TENSOR) {
    tg_error("backward: the unpack hook returned %s for %s of %s", u ? "a freed tensor" : "NULL",
             slot_name(s, buf, sizeof buf), n->op->name);
    return NULL;
  }
  if (u == orig) return u;
  if (u->dtype != orig->dtype || !tg_same_shape(u, orig)) {
    tg_error("backward: the unpack hook returned %s %s for %s of %s, which was saved as %s %s",
             tg_dtype_name(u->dtype), tg_shape_str(u, a, sizeof a), slot_name(s, buf, sizeof buf),
             n->op->name, tg_dtype_name(orig->dtype), tg_shape_str(orig, b, sizeof b));
    return NULL;
  }
  if (orig->requires_grad && !u->grad_fn) {
    if (tg_grad_enabled()) tg_record_tape_(u, &op_unpacked, 1, &orig);
    else u->requires_grad = true; /* the backward's tg_node_needs_grad reads it */
  }
  return u;
}

int tg_saved_unpack_(tg_node *n, tg_saved_swap *sw) {
  sw->active = false;
  rec *r = find(n);
  if (!r) return 0;
  char buf[16];
  for (int s = 0; s < N_SLOTS; s++)
    if (r->failed & (1u << s)) {
      tg_error("backward: the pack hook returned NULL for %s of %s, so its backward cannot run",
               slot_name(s, buf, sizeof buf), n->op->name);
      return -1;
    }
  sw->active = true;
  sw->sink = tg_ctx.grad_sink;
  tg_ctx.grad_sink = false; /* a sink would write into an unpacked leaf's .grad */
  for (int k = 0; k < TG_NODE_MAX_CHECKED; k++) sw->in[k] = k < n->n_in ? n->in[k] : NULL;
  sw->out = n->out;
  sw->slot = tg_node_saved_slot_(n) ? tg_node_saved_slot_(n)->t : NULL;
  for (int s = 0; s < N_SLOTS; s++) {
    if (!(r->has & (1u << s))) continue;
    tg_tensor *u = unpack_one(r, s, n);
    if (!u) {
      tg_saved_restore_(n, sw);
      return -1;
    }
    set_slot(n, s, u);
  }
  return 0;
}

void tg_saved_restore_(tg_node *n, const tg_saved_swap *sw) {
  for (int k = 0; k < TG_NODE_MAX_CHECKED && k < n->n_in; k++) n->in[k] = sw->in[k];
  n->out = sw->out;
  if (tg_node_saved_slot_(n)) tg_node_saved_slot_(n)->t = sw->slot;
  tg_ctx.grad_sink = sw->sink;
}

void tg_saved_release_(tg_node *n) {
  if (!table) return;
  rec **p = &table[bucket(n)];
  while (*p && (*p)->node != n) p = &(*p)->next;
  rec *r = *p;
  if (!r) return;
  *p = r->next;
  for (int s = 0; s < N_SLOTS; s++)
    if ((r->has & (1u << s)) && r->h.release) r->h.release(r->packed[s], r->h.ctx);
  tg_pool_free(r);
  if (--tg_saved_packed_live_ == 0) {
    free(table);
    table = NULL;
  }
}
