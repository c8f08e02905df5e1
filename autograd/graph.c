/* The tape: nodes are linked in creation order, newest at tg_ctx.tape_tail.
 * Creation order is a topological order (an op can only consume tensors that
 * already exist), so backward needs no DFS and no visited set. */
#include <math.h>
#include <string.h>

#include "fwad_internal.h"
#include "saved_hooks_internal.h"
#include "tg_extension.h"
#include "tg_internal.h"

static void node_destroy(tg_obj *o) {
  tg_node *n = (tg_node *)o;
  if (__builtin_expect(tg_saved_packed_live_ != 0, 0)) tg_saved_release_(n); /* SAVED HOOKS */
  if (n->tape_prev) n->tape_prev->tape_next = n->tape_next;
  if (n->tape_next) n->tape_next->tape_prev = n->tape_prev;
  else tg_ctx.tape_tail = n->tape_prev;
  /* a tensor outliving its node (kept without graph, or freed node) loses history */
  if (n->out && n->out->obj.magic == TG_MAGIC_TENSOR && n->out->grad_fn == n) n->out->grad_fn = NULL;
  tg_obj_detach(o);
  tg_pool_free(n);
}

static const char *node_name(const tg_node *n) { return n->op->name; }

static void install_hooks(void) {
  tg_ctx.node_destroy = node_destroy;
  tg_ctx.node_name = node_name;
}

_Thread_local bool tg_anomaly_enabled;
static _Thread_local const char *tg_call_file;
static _Thread_local int tg_call_line;
static _Thread_local bool anomaly_reported;

void tg_call_site(const char *file, int line) {
  tg_call_file = file;
  tg_call_line = line;
}

void tg_set_detect_anomaly(bool on) {
  tg_anomaly_enabled = on;
  tg_ctx.anomaly = on;
  anomaly_reported = false;
  tg_call_file = NULL;
  tg_call_line = 0;
}

bool tg_detect_anomaly(void) { return tg_anomaly_enabled; }

/* the first non-finite output in anomaly mode is reported, not fatal: the
 * forward goes on so the user sees where the NaN entered */
static void check_output(const tg_node *n) {
  const tg_tensor *t = n->out;
  if (anomaly_reported || t->dtype == TG_INT64) return;
  const tg_node_call_site *cs = tg_node_call_site_(n);
  for (size_t i = 0; i < t->numel; i++) {
    double v = tg_get_flat(t, i);
    if (isfinite(v)) continue;
    anomaly_reported = true;
    tg_error("anomaly: the output of %s (called at %s:%d) contains %s at element %zu", n->op->name,
             cs && cs->file ? cs->file : "?", cs ? cs->line : 0, isnan(v) ? "NaN" : "Inf", i);
    fprintf(stderr, "tapegrad: %s\n", tg_last_error());
    return;
  }
}

bool tg_grad_enabled(void) { return !tg_ctx.grad_enabled_off; }

bool tg_set_grad_enabled(bool on) {
  bool was = !tg_ctx.grad_enabled_off;
  tg_ctx.grad_enabled_off = !on;
  return was;
}

/* no_grad nests: a counter would be safer than a flag, but PyTorch's
 * no_grad restores the previous mode, and that is what a stack of one bit
 * per level gives; we keep it in a 64-level bit stack. */
static _Thread_local uint64_t no_grad_stack;
static _Thread_local int no_grad_depth;

void tg_no_grad_begin(void) {
  if (no_grad_depth < 64) no_grad_stack = (no_grad_stack << 1) | (tg_grad_enabled() ? 1u : 0u);
  no_grad_depth++;
  tg_set_grad_enabled(false);
}

void tg_no_grad_end(void) {
  if (no_grad_depth == 0) {
    tg_error("no_grad_end: called without a matching no_grad_begin");
    return;
  }
  no_grad_depth--;
  if (no_grad_depth < 64) {
    tg_set_grad_enabled(no_grad_stack & 1u);
    no_grad_stack >>= 1;
  }
}

tg_node *tg_record(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in) {
  if (!out) return NULL;
  if (__builtin_expect(tg_fwad_on_, 0)) return tg_fwad_record_(out, op, n_in, in); /* FWAD */
  return tg_record_tape_(out, op, n_in, in);
}

/* more than two inputs (cat, stack, ...): none NULL, and one needs grad */
static bool record_inputs_ok(const tg_op *op, int n_in, tg_tensor *const *in) {
  bool any = false;
  for (int k = 0; k < n_in; k++) {
    if (!in[k]) {
      tg_error("record: %s's input %d is NULL", op->name, k);
      return false;
    }
    any |= in[k]->requires_grad;
  }
  return any;
}

tg_node *tg_record_tape_(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in) {
  if (!out || tg_ctx.grad_enabled_off) return NULL;
  if (!op || n_in < 0 || (n_in > 0 && !in)) {
    tg_error("record: %s", !op ? "the op descriptor is NULL" : "the inputs array is NULL or n_in < 0");
    return NULL;
  }
  /* one and two inputs (every elementwise op) without the loops */
  tg_tensor *in0 = n_in > 0 ? in[0] : NULL, *in1 = n_in > 1 ? in[1] : NULL;
  if (__builtin_expect(n_in > 2, 0)) {
    if (!record_inputs_ok(op, n_in, in)) return NULL;
  } else if ((n_in > 0 && !in0) || (n_in > 1 && !in1)) {
    tg_error("record: %s's input %d is NULL", op->name, in0 ? 1 : 0);
    return NULL;
  } else if (!((in0 && in0->requires_grad) || (in1 && in1->requires_grad))) {
    return NULL;
  }
  bool site = tg_ctx.anomaly;
  size_t extras = tg_node_extras_bytes_(op->saves, site);
  tg_node *n = tg_pool_alloc(sizeof(tg_node) + (size_t)n_in * sizeof(tg_tensor *) + extras);
  if (!n) return NULL;
  if (!tg_ctx.node_destroy) install_hooks();
  /* every field is written below (obj by tg_obj_attach): no memset of the
   * whole node, only of the extras the op declared */
  n->op = op;
  n->tape_next = NULL;
  n->grad = NULL;
  n->n_in = n_in;
  n->released = n->pending = n->grad_owned = false;
  n->has_call_site = site;
  _Static_assert(TG_NODE_MAX_CHECKED == 2, "in_version below is written for two inputs");
  unsigned saves = op->saves;
  n->in_version[0] = in0 && (saves & TG_SAVES_IN(0)) ? in0->storage->version : 0;
  n->in_version[1] = in1 && (saves & TG_SAVES_IN(1)) ? in1->storage->version : 0;
  if (n_in == 1) {
    n->in[0] = in0;
  } else if (n_in == 2) {
    n->in[0] = in0;
    n->in[1] = in1;
  } else {
    for (int k = 0; k < n_in; k++) n->in[k] = in[k];
  }
  if (extras) memset(tg_node_extras_(n), 0, extras);
  n->out = out;
  n->out_version = out->storage->version;
  if (!tg_ctx.tape_tail) tg_ctx.next_seq = 0; /* restart with the tape, so 32 bits do */
  n->seq = (uint32_t)++tg_ctx.next_seq;
  n->tape_prev = tg_ctx.tape_tail;
  if (tg_ctx.tape_tail) tg_ctx.tape_tail->tape_next = n;
  tg_ctx.tape_tail = n;
  tg_obj_attach(&n->obj, out->obj.scope, TG_MAGIC_NODE);
  out->grad_fn = n;
  out->requires_grad = true;
  if (site) {
    tg_node_call_site *cs = (tg_node_call_site *)tg_node_call_site_(n);
    cs->file = tg_call_file;
    cs->line = tg_call_line;
    check_output(n);
  }
  if (__builtin_expect(tg_saved_hooks_top_ != NULL, 0)) tg_saved_pack_node_(n); /* SAVED HOOKS */
  return n;
}

int tg_record_op(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in, tg_node **node) {
  if (node) *node = NULL;
  if (!tg_tensor_check(out, "record_op", 1)) return -1;
  if (!op || !op->backward || !op->name) {
    tg_error("record_op: %s", !op ? "argument 2 (the op descriptor) is NULL"
                                  : "the op descriptor has no name or backward (use TG_DEFINE_OP)");
    return -1;
  }
  if (n_in < 0 || (n_in > 0 && !in)) {
    tg_error("record_op: %s: the inputs array is NULL or n_in < 0", op->name);
    return -1;
  }
  bool wanted = false;
  for (int k = 0; k < n_in; k++) {
    if (!in[k] || in[k]->obj.magic != TG_MAGIC_TENSOR) {
      tg_error("record_op: %s's input %d is %s", op->name, k, in[k] ? "a freed tensor" : "NULL");
      return -1;
    }
    wanted |= in[k]->requires_grad;
  }
  wanted &= !tg_ctx.grad_enabled_off;
  if (out->grad_fn) {
    tg_error("record_op: %s: the result already has a grad_fn (%s); record once, on a fresh result",
             op->name, out->grad_fn->op->name);
    return -1;
  }
  if (wanted && !tg_dtype_is_float(out->dtype)) {
    tg_error("record_op: %s: the result is %s, and only float tensors can have a gradient", op->name,
             tg_dtype_name(out->dtype));
    return -1;
  }
  tg_node *n = tg_record(out, op, n_in, in);
  if (!n && wanted) {
    if (!tg_ctx.err_set) tg_error("record_op: %s: out of memory for the node", op->name);
    return -1;
  }
  if (node) *node = n;
  return 0;
}

/* A float tensor without history, read by a create_graph backward, is a
 * constant there: the double backward drops its derivative. */
int tg_node_save(tg_node *n, tg_tensor *t) {
  if (!n) {
    tg_error("node_save: argument 1 (the node) is NULL");
    return -1;
  }
  tg_node_saved_slot *s = tg_node_saved_slot_(n);
  if (!s) {
    tg_error("node_save: %s does not declare TG_NODE_SAVED in its TG_DEFINE_OP", n->op->name);
    return -1;
  }
  if (t && !tg_tensor_check(t, "node_save", 2)) return -1;
  if (t && !t->requires_grad && tg_dtype_is_float(t->dtype) && !(n->op->saves & TG_SAVED_CONST)) {
    tg_error("node_save: %s saves a float tensor without history (computed from the inputs with grad "
             "mode off?): a double backward would treat it as a constant and lose its derivative. "
             "Recompute it from n->in in the backward, compute it with grad mode on, or declare "
             "TG_SAVED_CONST if it does not depend on the inputs", n->op->name);
    return -1;
  }
  s->t = t;
  s->version = t ? t->storage->version : 0;
  if (__builtin_expect(tg_saved_hooks_top_ != NULL, 0)) tg_saved_pack_slot_(n, t); /* SAVED HOOKS */
  return 0;
}

/* ------------------------------------------------------------- leaves */

tg_tensor *tg_requires_grad_(tg_tensor *t, bool on) {
  if (!tg_tensor_check(t, "requires_grad_", 1)) return NULL;
  if (t->grad_fn) {
    tg_error("requires_grad_: only leaf tensors can change requires_grad; "
             "this one was made by %s (use tg_detach to get a leaf)", t->grad_fn->op->name);
    return NULL;
  }
  if (on && !tg_dtype_is_float(t->dtype)) {
    tg_error("requires_grad_: only float tensors can require gradients, not %s",
             tg_dtype_name(t->dtype));
    return NULL;
  }
  t->requires_grad = on;
  return t;
}

tg_tensor *tg_retain_grad(tg_tensor *t) {
  if (!tg_tensor_check(t, "retain_grad", 1)) return NULL;
  if (!t->requires_grad) {
    tg_error("retain_grad: the tensor does not require grad, so it will never have one");
    return NULL;
  }
  if (t->grad_fn) t->retains_grad = true;
  return t;
}

bool tg_is_leaf(const tg_tensor *t) { return t && !t->grad_fn; }

const char *tg_grad_fn_name(const tg_tensor *t) {
  return t && t->obj.magic == TG_MAGIC_TENSOR && t->grad_fn ? t->grad_fn->op->name : NULL;
}

tg_tensor *tg_detach(tg_tensor *t) {
  if (!tg_tensor_check(t, "detach", 1)) return NULL;
  return tg_tensor_view(t, t->ndim, t->shape, t->strides, t->offset);
}

int tg_zero_grad(tg_tensor *t) {
  if (!tg_tensor_check(t, "zero_grad", 1)) return -1;
  if (t->grad && tg_fill_(t->grad, 0.0) == NULL) return -1;
  return 0;
}

/* ------------------------------------------------------------- memory */

static void move_tensor(tg_tensor *t, int from, int to) {
  if (t && t->obj.scope == from) tg_obj_move(&t->obj, to);
  if (t && t->grad && t->grad->obj.scope == from) tg_obj_move(&t->grad->obj, to);
}

tg_tensor *tg_keep(tg_tensor *t) {
  if (!tg_tensor_check(t, "keep", 1)) return NULL;
  int from = tg_ctx.depth, to = from > 0 ? from - 1 : 0;
  if (from == 0 || t->obj.scope != from) return t; /* already outside this scope */
  if (__builtin_expect(tg_fwad_on_, 0)) { /* FWAD: the tangent goes with its tensor */
    tg_tensor *tangent = tg_fwad_tangent_(t);
    if (tangent && tangent != t) tg_keep(tangent);
  }
  move_tensor(t, from, to);
  /* Walk the graph's nodes owned by this scope. Every node reached is moved
   * before its inputs are pushed, so the scope test doubles as the visited
   * mark; the stack lives in pool memory and grows by doubling. */
  size_t cap = 64, top = 0;
  tg_node **stack = tg_pool_alloc(cap * sizeof *stack);
  if (!stack) return NULL;
  if (t->grad_fn && t->grad_fn->obj.scope == from) {
    tg_obj_move(&t->grad_fn->obj, to);
    stack[top++] = t->grad_fn;
  }
  while (top > 0) {
    tg_node *n = stack[--top];
    move_tensor(tg_node_saved(n), from, to);
    move_tensor(n->out, from, to);
    for (int k = 0; k < n->n_in; k++) {
      tg_tensor *in = n->in[k];
      move_tensor(in, from, to);
      tg_node *m = in->grad_fn;
      if (!m || m->obj.scope != from) continue;
      if (top == cap) {
        tg_node **bigger = tg_pool_alloc(2 * cap * sizeof *stack);
        if (!bigger) {
          tg_pool_free(stack);
          return NULL;
        }
        memcpy(bigger, stack, cap * sizeof *stack);
        tg_pool_free(stack);
        stack = bigger;
        cap *= 2;
      }
      tg_obj_move(&m->obj, to);
      stack[top++] = m;
    }
  }
  tg_pool_free(stack);
  return t;
}

void tg_free(tg_tensor *t) {
  if (!t) return;
  if (t->obj.magic != TG_MAGIC_TENSOR) {
    tg_error("free: the tensor was already freed or its scope has ended");
    return;
  }
  if (t->obj.scope != 0) {
    tg_error("free: the tensor belongs to scope %d, which frees it at scope_end; "
             "only persistent tensors (made outside any scope, or kept out of one) are freed by hand",
             t->obj.scope);
    return;
  }
  if (t->grad && t->grad->obj.magic == TG_MAGIC_TENSOR && t->grad->obj.scope == 0)
    tg_tensor_destroy(t->grad);
  if (t->grad_fn && t->grad_fn->obj.scope == 0) node_destroy(&t->grad_fn->obj);
  tg_tensor_destroy(t);
}
