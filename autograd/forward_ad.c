/* Forward-mode AD (torch.autograd.forward_ad): dual tensors and tangent
 * propagation. A tangent is kept in the tensor's hooks.c record (a side
 * table keyed by tensor), so tensors and nodes carry no extra bytes.
 *
 * When an op with a dual input records its output, its JVP cannot run at
 * once: the op fills in its node's parameters (a scalar, dims) after
 * tg_record returns. So the output is marked pending and its JVP runs at
 * the next event that could need it or lose it: the next op, tg_unpack_dual,
 * tg_keep, the level's exit. At most one JVP is pending. Without a tape
 * node (no input requires grad, or no_grad) the op gets a shadow node: the
 * same layout, on no tape and in no scope, freed once its JVP has run. The
 * JVP's results go to the output's scope, so the tangent lives as long as
 * its tensor. */
#include <string.h>

#include "fwad_internal.h"
#include "tg_internal.h"

_Thread_local bool tg_fwad_on_ TG_TLS_FAST;
_Thread_local tg_tensor *(*tg_fwad_fit_)(tg_tensor *t, const tg_tensor *out);
static _Thread_local bool in_jvp; /* a JVP is running: its ops propagate nothing */
static _Thread_local struct {
  tg_tensor *out;
  tg_node *node;
  bool shadow;
} pend;

/* make_dual's and unpack_dual's view: the gradient passes through */
static void alias_backward(tg_node *n, tg_tensor *g, tg_tensor **gi) {
  (void)n;
  gi[0] = g;
}
static tg_tensor *alias_jvp(tg_node *n, tg_tensor *const *t) {
  (void)n;
  return t[0];
}
TG_DEFINE_OP_JVP(OP_ALIAS, "AliasBackward", alias_backward, alias_jvp, 0);

/* a view of t with t's history (not its tangent) */
static tg_tensor *alias(tg_tensor *t) {
  tg_tensor *v = tg_tensor_view(t, t->ndim, t->shape, t->strides, t->offset);
  if (v) tg_record_tape_(v, &OP_ALIAS, 1, &t);
  return v;
}

static void drop_pending(void) {
  if (pend.shadow) tg_pool_free(pend.node);
  pend.out = NULL;
  pend.node = NULL;
  pend.shadow = false;
}

/* "MulBackward" -> "Mul" */
static int op_stem(const char *name) {
  size_t len = strlen(name), suf = strlen("Backward");
  return (int)(len > suf && strcmp(name + len - suf, "Backward") == 0 ? len - suf : len);
}

static void poison(tg_tensor *out) {
  tg_fwad_state *st = tg_fwad_state_(out, true);
  if (st) st->flags = TG_FWAD_POISON, st->tangent = NULL;
}

/* the JVP's result as the output's tangent: out's shape and dtype */
static tg_tensor *fit(tg_tensor *t, const tg_tensor *out) {
  if (!t || (tg_same_shape(t, out) && t->dtype == out->dtype)) return t;
  return tg_fwad_fit_ ? tg_fwad_fit_(t, out) : NULL;
}

void tg_fwad_flush_(void) {
  if (!pend.out || in_jvp) return;
  tg_tensor *out = pend.out;
  tg_node *n = pend.node;
  tg_tensor *small[8], **tin = small;
  if (n->n_in > 8 && !(tin = tg_pool_alloc((size_t)n->n_in * sizeof *tin))) {
    poison(out);
    drop_pending();
    return;
  }
  for (int k = 0; k < n->n_in; k++) {
    tg_fwad_state *st = tg_fwad_state_(n->in[k], false);
    tin[k] = st ? st->tangent : NULL;
  }
  int depth = tg_ctx.depth;
  if (out->obj.scope > 0) tg_ctx.depth = out->obj.scope;
  in_jvp = true;
  tg_tensor *t = fit(n->op->jvp(n, tin), out);
  in_jvp = false;
  tg_ctx.depth = depth;
  if (tin != small) tg_pool_free(tin);
  drop_pending();
  tg_fwad_state *st = tg_fwad_state_(out, true);
  if (!st) return;
  st->flags = t ? 0 : TG_FWAD_POISON;
  st->tangent = t;
  if (!t && !tg_has_error()) tg_error("jvp: %.*s's forward-mode formula failed", op_stem(n->op->name), n->op->name);
}

/* a node for the JVP alone: tg_record's layout, on no tape, in no scope */
static tg_node *shadow_node(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in) {
  size_t bytes = sizeof(tg_node) + (size_t)n_in * sizeof(tg_tensor *) + tg_node_extras_bytes_(op->saves, false);
  tg_node *n = tg_pool_alloc(bytes);
  if (!n) return NULL;
  memset(n, 0, bytes);
  n->op = op;
  n->n_in = n_in;
  for (int k = 0; k < n_in; k++) n->in[k] = in[k];
  n->out = out;
  return n;
}

tg_node *tg_fwad_record_(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in) {
  if (in_jvp) return tg_record_tape_(out, op, n_in, in);
  tg_fwad_flush_();
  bool dual = false, poisoned = false;
  for (int k = 0; op && in && k < n_in; k++) {
    tg_fwad_state *st = in[k] && in[k]->hooks ? tg_fwad_state_(in[k], false) : NULL;
    if (!st) continue;
    dual |= st->tangent != NULL;
    poisoned |= (st->flags & TG_FWAD_POISON) != 0;
  }
  tg_node *n = tg_record_tape_(out, op, n_in, in);
  if (!dual && !poisoned) return n;
  for (int k = 0; k < n_in; k++)
    if (in[k] == out && !poisoned) {
      tg_error("jvp: %.*s in place on a tensor with a tangent is not supported", op_stem(op->name), op->name);
      poisoned = true;
    }
  if (poisoned || !op->jvp) {
    if (!poisoned) tg_error("jvp: %.*s has no forward-mode formula", op_stem(op->name), op->name);
    poison(out);
    return n;
  }
  bool shadow = !n;
  if (shadow && !(n = shadow_node(out, op, n_in, in))) return NULL;
  tg_fwad_state *st = tg_fwad_state_(out, true);
  if (!st) {
    if (shadow) tg_pool_free(n);
    return NULL;
  }
  st->flags = TG_FWAD_PENDING;
  st->tangent = NULL;
  pend.out = out;
  pend.node = n;
  pend.shadow = shadow;
  return n;
}

void tg_fwad_forget_(tg_tensor *t) {
  if (pend.out == t) drop_pending();
}

tg_tensor *tg_fwad_tangent_(tg_tensor *t) {
  tg_fwad_flush_();
  tg_fwad_state *st = t->hooks ? tg_fwad_state_(t, false) : NULL;
  return st ? st->tangent : NULL;
}

int tg_fwad_enter_dual_level(void) {
  if (tg_fwad_on_) {
    tg_error("enter_dual_level: a dual level is already open (one level at a time)");
    return -1;
  }
  tg_fwad_on_ = true;
  return 0;
}

int tg_fwad_exit_dual_level(void) {
  if (!tg_fwad_on_) {
    tg_error("exit_dual_level: no dual level is open");
    return -1;
  }
  drop_pending();
  tg_fwad_clear_all_();
  tg_fwad_on_ = false;
  return 0;
}

tg_tensor *tg_make_dual(tg_tensor *primal, tg_tensor *tangent) {
  if (!tg_tensor_check(primal, "make_dual", 1) || !tg_tensor_check(tangent, "make_dual", 2)) return NULL;
  if (!tg_fwad_on_) {
    tg_error("make_dual: no dual level is open (call tg_fwad_enter_dual_level first)");
    return NULL;
  }
  char a[96], b[96];
  if (!tg_same_shape(primal, tangent)) {
    tg_error("make_dual: the tangent's shape %s must match the primal's %s", tg_shape_str(tangent, a, sizeof a),
             tg_shape_str(primal, b, sizeof b));
    return NULL;
  }
  if (!tg_dtype_is_float(primal->dtype) || tangent->dtype != primal->dtype) {
    tg_error("make_dual: expected a float primal and a tangent of its dtype, got %s and %s",
             tg_dtype_name(primal->dtype), tg_dtype_name(tangent->dtype));
    return NULL;
  }
  tg_fwad_flush_();
  /* both are views made now in the current scope, so the tangent lives as
   * long as the dual tensor (and a persistent tangent may be freed) */
  tg_tensor *d = alias(primal), *t = d ? alias(tangent) : NULL;
  tg_fwad_state *st = t ? tg_fwad_state_(d, true) : NULL;
  if (!st) return NULL;
  st->tangent = t;
  st->flags = 0;
  return d;
}

int tg_unpack_dual(tg_tensor *t, tg_tensor **primal, tg_tensor **tangent) {
  if (!tg_tensor_check(t, "unpack_dual", 1)) return -1;
  tg_fwad_flush_();
  tg_fwad_state *st = t->hooks ? tg_fwad_state_(t, false) : NULL;
  if (st && (st->flags & TG_FWAD_POISON)) {
    tg_error("unpack_dual: the tangent is unavailable: an op on its way had no forward-mode formula "
             "or failed (see the first error)");
    return -1;
  }
  tg_tensor *tan = st ? st->tangent : NULL;
  if (primal && !(*primal = alias(t))) return -1;
  if (tangent) *tangent = tan;
  return 0;
}

/* the op descriptors of the library, from the section tg_op_descs */
#if defined(__GNUC__) && defined(__ELF__)
extern const tg_op *const __start_tg_op_descs[] __attribute__((weak, visibility("hidden")));
extern const tg_op *const __stop_tg_op_descs[] __attribute__((weak, visibility("hidden")));
size_t tg_op_table(const tg_op *const **ops) {
  if (ops) *ops = __start_tg_op_descs;
  return __start_tg_op_descs ? (size_t)(__stop_tg_op_descs - __start_tg_op_descs) : 0;
}
#else
size_t tg_op_table(const tg_op *const **ops) {
  if (ops) *ops = NULL;
  return 0;
}
#endif
