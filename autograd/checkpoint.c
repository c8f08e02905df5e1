/* Activation checkpointing (torch.utils.checkpoint): y = f(inputs) is
 * recorded as one node; the region's intermediates are freed right after
 * the forward and recomputed by the node's backward.
 *
 * The forward runs f once with recording on, inside a scope, only to learn
 * which tensors requiring grad the region reads besides its inputs (the
 * parameters f reaches through ctx): they become inputs of the node, so
 * their gradients flow through the engine like any op's (hooks, tg_grad
 * capture, .grad accumulation). Then the scope ends, freeing the region's
 * nodes and saved values; only y's values (copied out) and the node stay.
 * The backward runs f again on detached copies of the inputs, with the
 * default generator as it was at the forward (dropout draws the same
 * masks), and takes the gradients of that recomputation with tg_grad: the
 * same kernels on the same values in the same order, so the gradients are
 * bit-identical to those of f recorded normally. */
#include <string.h>

#include "tg_extension.h"
#include "tg_internal.h"

/* node parameters: tg_node_i(n) = {f, ctx, n explicit inputs}; the saved
 * tensor holds the default generator's state (4 x uint64 as int64) */
static tg_fn node_fn(const tg_node *n) { return (tg_fn)(uintptr_t)tg_node_i(n)[0]; }
static void *node_ctx(const tg_node *n) { return (void *)(uintptr_t)tg_node_i(n)[1]; }

static void checkpoint_backward(tg_node *n, tg_tensor *g, tg_tensor **gin);
static tg_tensor *checkpoint_jvp(tg_node *n, tg_tensor *const *t);
TG_DEFINE_OP_JVP(OP_CHECKPOINT, "CheckpointBackward", checkpoint_backward, checkpoint_jvp,
                 TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_NODE_I | TG_NODE_SAVED);

/* detached copies of the explicit inputs (leaves requiring grad where the
 * originals do) */
static int detached_inputs(tg_tensor **inputs, int n, tg_tensor **x) {
  for (int i = 0; i < n; i++) {
    x[i] = tg_detach(inputs[i]);
    if (!x[i] || (inputs[i]->requires_grad && !tg_requires_grad_(x[i], true))) return -1;
  }
  return 0;
}

static tg_tensor *call_f(tg_fn f, void *ctx, tg_tensor **x) {
  bool prev = tg_set_grad_enabled(true);
  tg_tensor *y = f(x, ctx);
  tg_set_grad_enabled(prev);
  if (!y && !tg_has_error()) tg_error("checkpoint: the function returned NULL");
  if (y && !tg_tensor_check(y, "checkpoint: the function's result", 1)) y = NULL;
  return y;
}

static void checkpoint_backward(tg_node *n, tg_tensor *g, tg_tensor **gin) {
  if (tg_grad_enabled()) {
    tg_error("checkpoint: a double backward (create_graph) through a checkpointed region is not "
             "supported; compute that region without tg_checkpoint");
    return;
  }
  int n_x = (int)tg_node_i(n)[2], n_all = n->n_in;
  tg_rng saved;
  memcpy(saved.s, tg_node_saved(n)->storage->data, sizeof saved.s);
  tg_rng now = *tg_default_rng();
  if (tg_scope_begin() != 0) return; /* the error fails the backward */
  tg_tensor **x = tg_pool_alloc((size_t)n_all * sizeof *x), **grads = tg_pool_alloc((size_t)n_all * sizeof *grads);
  int rc = x && grads ? detached_inputs(n->in, n_x, x) : -1;
  if (rc == 0) {
    for (int i = n_x; i < n_all; i++) x[i] = n->in[i]; /* the parameters, as f reads them */
    *tg_default_rng() = saved;
    tg_tensor *y = call_f(node_fn(n), node_ctx(n), x);
    *tg_default_rng() = now;
    /* the gradients of the recomputation w.r.t. everything the node routes */
    int k = 0;
    tg_tensor **wrt = x, **got = grads;
    for (int i = 0; i < n_all; i++)
      if (tg_node_needs_grad(n, i)) wrt[k++] = x[i];
    tg_grad_opts go = {.allow_unused = true};
    rc = y && y->requires_grad && tg_same_shape(y, g) ? tg_grad(1, &y, &g, k, wrt, got, go) : -1;
    if (rc != 0 && y && !tg_has_error())
      tg_error("checkpoint: the recomputation gave a different result (the function must be deterministic "
               "given its inputs and the default generator)");
    for (int i = 0, j = 0; rc == 0 && i < n_all; i++)
      if (tg_node_needs_grad(n, i) && got[j++]) gin[i] = tg_keep(got[j - 1]);
    /* an unreachable input has no gradient: zeros, since needs_grad says one is due */
    for (int i = 0; rc == 0 && i < n_all; i++)
      if (tg_node_needs_grad(n, i) && !gin[i]) gin[i] = tg_keep(tg_zeros_like(n->in[i]));
  }
  tg_pool_free(x);
  tg_pool_free(grads);
  tg_scope_end();
}

/* J t of the region by two reverse passes over its recomputation (the
 * double-vjp trick): with u a zero seed, s = sum_i <(d y / d x_i)^T u, t_i>
 * is linear in u and ds/du = sum_i J_i t_i (the second pass seeds each
 * gradient with its tangent). The tangent has no history
 * w.r.t. the inputs (the region's double backward is refused too). */
static tg_tensor *region_jvp(tg_node *n, tg_tensor *const *t, tg_tensor **x, tg_tensor **wrt,
                             tg_tensor **tw, tg_tensor **got) {
  int n_x = (int)tg_node_i(n)[2], n_all = n->n_in, k = 0;
  for (int i = 0; i < n_all; i++) {
    x[i] = i < n_x ? tg_requires_grad_(tg_detach(n->in[i]), true) : n->in[i];
    if (!x[i]) return NULL;
    if (t[i] && x[i]->requires_grad) wrt[k] = x[i], tw[k++] = t[i];
  }
  tg_rng saved, now = *tg_default_rng();
  memcpy(saved.s, tg_node_saved(n)->storage->data, sizeof saved.s);
  *tg_default_rng() = saved;
  tg_tensor *y = call_f(node_fn(n), node_ctx(n), x);
  *tg_default_rng() = now;
  tg_tensor *u = y ? tg_requires_grad_(tg_zeros_like(y), true) : NULL, *jv = NULL;
  if (!u || tg_grad(1, &y, &u, k, wrt, got, (tg_grad_opts){.create_graph = true, .allow_unused = true}) != 0)
    return NULL;
  int m = 0; /* the reached inputs' gradients, seeded by their tangents: ds/du */
  for (int j = 0; j < k; j++)
    if (got[j] && got[j]->requires_grad) got[m] = got[j], tw[m++] = tw[j];
  if (m == 0) return tg_zeros_like(n->out); /* no input with a tangent reaches y */
  if (tg_grad(m, got, tw, 1, &u, &jv, (tg_grad_opts){.allow_unused = true}) != 0) return NULL;
  return jv ? jv : tg_zeros_like(n->out);
}

static tg_tensor *checkpoint_jvp(tg_node *n, tg_tensor *const *t) {
  size_t bytes = (size_t)n->n_in * sizeof(tg_tensor *);
  tg_tensor **x = tg_pool_alloc(4 * bytes);
  if (!x) return NULL;
  bool prev = tg_set_grad_enabled(true);
  tg_tensor *jv = region_jvp(n, t, x, x + n->n_in, x + 2 * n->n_in, x + 3 * n->n_in);
  tg_set_grad_enabled(prev);
  tg_pool_free(x);
  return jv;
}

static bool listed(tg_tensor *const *list, int n, const tg_tensor *t) {
  for (int i = 0; i < n; i++)
    if (list[i] == t) return true;
  return false;
}

/* The tensors requiring grad that the region (its nodes: those newer than
 * mark, of scope `depth`) reads from outside: the detached inputs x[0..n) are skipped,
 * leaves are appended to *ext (a pool array, grown), a non-leaf is an error
 * (its gradient could not be routed without walking the outer graph). */
static int externals(const tg_node *mark, tg_tensor **x, int n, int depth, tg_tensor ***ext, int *n_ext, int *cap) {
  for (tg_node *m = tg_ctx.tape_tail; m && m != mark; m = m->tape_prev) {
    if (m->obj.scope != depth) continue; /* recorded before the region, or kept out of it */
    for (int k = 0; k < m->n_in; k++) {
      tg_tensor *t = m->in[k];
      if (!t->requires_grad || listed(x, n, t) || (t->grad_fn && t->grad_fn->obj.scope == depth)) continue;
      if (t->grad_fn) {
        tg_error("checkpoint: the function reads a tensor made by %s outside the region that is not one of "
                 "its inputs; pass it as an input", t->grad_fn->op->name);
        return -1;
      }
      if (listed(*ext, *n_ext, t)) continue;
      if (*n_ext == *cap) {
        int c = 2 * *cap;
        tg_tensor **bigger = tg_pool_alloc((size_t)c * sizeof *bigger);
        if (!bigger) return -1;
        memcpy(bigger, *ext, (size_t)*n_ext * sizeof *bigger);
        tg_pool_free(*ext);
        *ext = bigger;
        *cap = c;
      }
      (*ext)[(*n_ext)++] = t;
    }
  }
  return 0;
}

tg_tensor *tg_activation_checkpoint(tg_fn f, void *ctx, tg_tensor **inputs, int n) {
  if (!f) {
    tg_error("checkpoint: argument 1 (the function) is NULL");
    return NULL;
  }
  if (!inputs || n <= 0) {
    tg_error("checkpoint: need at least one input (inputs is %s, n = %d)", inputs ? "given" : "NULL", n);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    if (!inputs[i]) {
      tg_error("checkpoint: input %d is NULL", i);
      return NULL;
    }
    if (!tg_tensor_check(inputs[i], "checkpoint", 3)) return NULL;
  }
  if (!tg_grad_enabled()) return f(inputs, ctx); /* nothing to save: plain call */
  tg_rng rng_at_start = *tg_default_rng();
  int cap = n + 8, n_all = n, depth = tg_ctx.depth + 1;
  tg_tensor **all = tg_pool_alloc((size_t)cap * sizeof *all), *out = NULL;
  if (!all || tg_scope_begin() != 0) {
    tg_pool_free(all);
    return NULL;
  }
  const tg_node *mark = tg_ctx.tape_tail; /* the region's nodes come after it */
  int rc = detached_inputs(inputs, n, all);
  tg_tensor *y = rc == 0 ? call_f(f, ctx, all) : NULL;
  if (y) rc = externals(mark, all, n, depth, &all, &n_all, &cap);
  if (y && rc == 0) {
    for (int i = 0; i < n; i++) all[i] = inputs[i]; /* the node's edges: the originals */
    out = tg_tensor_alloc_in(depth - 1, y->dtype, y->ndim, y->shape);
    if (!out || tg_copy_(out, y) != 0) out = NULL;
  }
  bool needs_node = y && y->requires_grad;
  tg_scope_end(); /* the region's intermediates go */
  if (out && needs_node) {
    tg_tensor *state = tg_from_i64(TG_SHAPE(4), (const int64_t *)rng_at_start.s);
    tg_node *node = state ? tg_record(out, &OP_CHECKPOINT, n_all, all) : NULL;
    if (node) {
      tg_node_i(node)[0] = (int64_t)(uintptr_t)f;
      tg_node_i(node)[1] = (int64_t)(uintptr_t)ctx;
      tg_node_i(node)[2] = n;
      tg_node_save(node, state);
    } else {
      out = NULL; /* out stays in its scope */
    }
  }
  tg_pool_free(all);
  return out;
}
