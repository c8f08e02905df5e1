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

static bool refuse_double_backward(void) {
  if (!tg_grad_enabled()) return false;
  tg_error("checkpoint: a double backward (create_graph) through a checkpointed region is not "
           "supported; compute that region without tg_checkpoint");
  return true;
}

/* The gradients of the recomputed outputs ys (seeded by seeds) w.r.t.
 * everything the node routes, into gin (the node's scope is open: results
 * are kept out of it). x holds the recomputation's inputs. */
static int route_recomputed(tg_node *n, tg_tensor **x, int n_y, tg_tensor **ys, tg_tensor **seeds, tg_tensor **got,
                            tg_tensor **gin) {
  int k = 0, n_all = n->n_in;
  tg_tensor **wrt = x;
  for (int i = 0; i < n_all; i++)
    if (tg_node_needs_grad(n, i)) wrt[k++] = x[i];
  tg_grad_opts go = {.allow_unused = true};
  if (tg_grad(n_y, ys, seeds, k, wrt, got, go) != 0) return -1;
  for (int i = 0, j = 0; i < n_all; i++)
    if (tg_node_needs_grad(n, i) && got[j++]) gin[i] = tg_keep(got[j - 1]);
  /* an unreachable input has no gradient: zeros, since needs_grad says one is due */
  for (int i = 0; i < n_all; i++)
    if (tg_node_needs_grad(n, i) && !gin[i]) gin[i] = tg_keep(tg_zeros_like(n->in[i]));
  return 0;
}

/* x: detached copies of the node's explicit inputs, then its parameters */
static int recompute_inputs(tg_node *n, int n_x, tg_tensor **x) {
  if (detached_inputs(n->in, n_x, x) != 0) return -1;
  for (int i = n_x; i < n->n_in; i++) x[i] = n->in[i]; /* the parameters, as f reads them */
  return 0;
}

static tg_rng saved_rng(const tg_node *n) {
  tg_rng saved;
  memcpy(saved.s, tg_node_saved(n)->storage->data, sizeof saved.s);
  return saved;
}

static void recompute_failed(tg_tensor *y) {
  if (y && !tg_has_error())
    tg_error("checkpoint: the recomputation gave a different result (the function must be deterministic "
             "given its inputs and the default generator)");
}

static void checkpoint_backward(tg_node *n, tg_tensor *g, tg_tensor **gin) {
  if (refuse_double_backward()) return;
  int n_x = (int)tg_node_i(n)[2], n_all = n->n_in;
  tg_rng saved = saved_rng(n), now = *tg_default_rng();
  if (tg_scope_begin() != 0) return; /* the error fails the backward */
  tg_tensor **x = tg_pool_alloc((size_t)n_all * sizeof *x), **grads = tg_pool_alloc((size_t)n_all * sizeof *grads);
  if (x && grads && recompute_inputs(n, n_x, x) == 0) {
    *tg_default_rng() = saved;
    tg_tensor *y = call_f(node_fn(n), node_ctx(n), x);
    *tg_default_rng() = now;
    int rc = y && y->requires_grad && tg_same_shape(y, g) ? route_recomputed(n, x, 1, &y, &g, grads, gin) : -1;
    if (rc != 0) recompute_failed(y);
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

/* ---- several outputs. The region's outputs that require grad are held as
 * one flat buffer of their common dtype, the node's output; each is handed
 * out as a reshaped slice of it (a narrow and a view, recorded), so the
 * engine sums their gradients into one buffer-shaped gradient, which the
 * backward cuts up again as the seeds of a multi-root tg_grad over the
 * recomputation. Outputs that do not require grad come back as plain
 * copies. */

static tg_multi_fn node_multi_fn(const tg_node *n) { return (tg_multi_fn)(uintptr_t)tg_node_i(n)[0]; }

/* a contiguous view of base (shape as t's) at element off */
static tg_tensor *slice_view(tg_tensor *base, const tg_tensor *t, size_t off) {
  ptrdiff_t st[TG_MAX_DIMS];
  tg_contiguous_strides(t->ndim, t->shape, st);
  return tg_tensor_view(base, t->ndim, t->shape, st, base->offset + off);
}

/* an output: a view of the buffer from element tg_node_i(n)[0]; its
 * gradient is the buffer's gradient, zero outside the slice */
static void output_backward(tg_node *n, tg_tensor *g, tg_tensor **gin) {
  tg_tensor *buf = n->in[0], *z = tg_zeros(buf->dtype, 1, buf->shape);
  tg_tensor *dst = z ? slice_view(z, n->out, (size_t)tg_node_i(n)[0]) : NULL;
  if (dst && tg_copy_(dst, g) == 0) gin[0] = z;
}
TG_DEFINE_OP(OP_CHECKPOINT_OUTPUT, "CheckpointOutputBackward", output_backward, TG_NODE_I);

static void checkpoint_multi_backward(tg_node *n, tg_tensor *g, tg_tensor **gin);
TG_DEFINE_OP(OP_CHECKPOINT_MULTI, "CheckpointBackward", checkpoint_multi_backward,
             TG_SAVES_IN(0) | TG_SAVES_IN(1) | TG_NODE_I | TG_NODE_SAVED);

/* node parameter 2: the explicit inputs (low 32 bits) and outputs */
static int64_t pack_counts(int n_x, int n_y) { return (int64_t)n_x | ((int64_t)n_y << 32); }

static int call_multi(tg_multi_fn f, void *ctx, tg_tensor **x, tg_tensor **ys, int n_y) {
  for (int k = 0; k < n_y; k++) ys[k] = NULL;
  bool prev = tg_set_grad_enabled(true);
  int rc = f(x, ys, ctx);
  tg_set_grad_enabled(prev);
  for (int k = 0; rc == 0 && k < n_y; k++) {
    if (!ys[k]) {
      tg_error("checkpoint_multi: the function left output %d NULL", k);
      rc = -1;
    } else if (!tg_tensor_check(ys[k], "checkpoint_multi: the function's output", k + 1)) {
      rc = -1;
    }
  }
  if (rc != 0 && !tg_has_error()) tg_error("checkpoint_multi: the function returned %d", rc);
  return rc == 0 ? 0 : -1;
}

/* g (the buffer's gradient) cut into the seeds of the outputs that require
 * grad, shaped as they are; their count, or -1 when the recomputation does
 * not fit the buffer */
static int cut_seeds(tg_tensor *g, tg_tensor **ys, int n_y, tg_tensor **roots, tg_tensor **seeds) {
  size_t off = 0;
  int k = 0;
  for (int i = 0; i < n_y; i++) {
    if (!ys[i]->requires_grad) continue;
    if (off + ys[i]->numel > g->numel || ys[i]->dtype != g->dtype) return -1;
    if (!(seeds[k] = slice_view(g, ys[i], off))) return -1;
    roots[k++] = ys[i];
    off += ys[i]->numel;
  }
  return off == g->numel && k > 0 ? k : -1;
}

static void checkpoint_multi_backward(tg_node *n, tg_tensor *g, tg_tensor **gin) {
  if (refuse_double_backward()) return;
  if (!tg_is_contiguous(g)) {
    tg_tensor *c = tg_empty(g->dtype, g->ndim, g->shape);
    if (!c || tg_copy_(c, g) != 0) return;
    g = c;
  }
  int n_x = (int)(tg_node_i(n)[2] & 0xffffffff), n_y = (int)(tg_node_i(n)[2] >> 32), n_all = n->n_in;
  tg_rng saved = saved_rng(n), now = *tg_default_rng();
  if (tg_scope_begin() != 0) return; /* the error fails the backward */
  size_t m = (size_t)(n_all > n_y ? n_all : n_y);
  tg_tensor **x = tg_pool_alloc(m * sizeof *x), **grads = tg_pool_alloc(m * sizeof *grads);
  tg_tensor **ys = tg_pool_alloc(3 * (size_t)n_y * sizeof *ys);
  if (x && grads && ys && recompute_inputs(n, n_x, x) == 0) {
    *tg_default_rng() = saved;
    int rc = call_multi(node_multi_fn(n), node_ctx(n), x, ys, n_y);
    *tg_default_rng() = now;
    int k = rc == 0 ? cut_seeds(g, ys, n_y, ys + n_y, ys + 2 * n_y) : -1;
    rc = k > 0 ? route_recomputed(n, x, k, ys + n_y, ys + 2 * n_y, grads, gin) : -1;
    if (rc != 0) recompute_failed(ys[0]);
  }
  tg_pool_free(x);
  tg_pool_free(grads);
  tg_pool_free(ys);
  tg_scope_end();
}

/* the outputs' values: those requiring grad into the buffer (allocated in
 * the enclosing scope), the others copied there; total elements or -1 */
static tg_tensor *fill_buffer(tg_tensor **ys, int n_y, tg_tensor **outputs, int scope) {
  size_t total = 0;
  tg_dtype dt = TG_FLOAT64;
  int first = -1;
  char a[32], b[32];
  for (int i = 0; i < n_y; i++) {
    if (!ys[i]->requires_grad) continue;
    if (first >= 0 && ys[i]->dtype != dt) {
      snprintf(a, sizeof a, "%s", tg_dtype_name(dt));
      snprintf(b, sizeof b, "%s", tg_dtype_name(ys[i]->dtype));
      tg_error("checkpoint_multi: outputs %d and %d are %s and %s; the outputs that require grad share one "
               "buffer, so they must have one dtype", first, i, a, b);
      return NULL;
    }
    if (first < 0) first = i, dt = ys[i]->dtype;
    total += ys[i]->numel;
  }
  tg_tensor *buf = first >= 0 ? tg_tensor_alloc_in(scope, dt, 1, (size_t[]){total}) : NULL;
  if (first >= 0 && !buf) return NULL;
  size_t off = 0;
  for (int i = 0; i < n_y; i++) {
    ptrdiff_t st[TG_MAX_DIMS];
    tg_contiguous_strides(ys[i]->ndim, ys[i]->shape, st);
    tg_tensor *dst = ys[i]->requires_grad ? tg_tensor_view(buf, ys[i]->ndim, ys[i]->shape, st, off)
                                          : tg_tensor_alloc_in(scope, ys[i]->dtype, ys[i]->ndim, ys[i]->shape);
    if (!dst || tg_copy_(dst, ys[i]) != 0) return NULL;
    if (ys[i]->requires_grad) off += ys[i]->numel;
    else outputs[i] = dst;
  }
  return buf ? buf : (tg_tensor *)ys; /* non-NULL: no output requires grad */
}

static int check_multi_args(tg_multi_fn f, tg_tensor **inputs, int n, tg_tensor **outputs, int n_out) {
  for (int k = 0; outputs && k < n_out; k++) outputs[k] = NULL;
  if (!f || !inputs || !outputs) {
    tg_error("checkpoint_multi: argument %d (%s) is NULL", !f ? 1 : !inputs ? 3 : 5,
             !f ? "the function" : !inputs ? "inputs" : "outputs");
    return -1;
  }
  if (n <= 0 || n_out <= 0) {
    tg_error("checkpoint_multi: need at least one input and one output (n = %d, n_out = %d)", n, n_out);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (!inputs[i]) {
      tg_error("checkpoint_multi: input %d is NULL", i);
      return -1;
    }
    if (!tg_tensor_check(inputs[i], "checkpoint_multi", 3)) return -1;
  }
  return 0;
}

/* an output's shape, kept past the region */
typedef struct out_shape {
  int ndim;
  size_t numel, shape[TG_MAX_DIMS];
} out_shape;

/* the node on buf, and the outputs requiring grad as reshaped slices of it */
static int record_multi(tg_tensor *buf, tg_tensor **all, int n_all, tg_rng rng, tg_multi_fn f, void *ctx, int n,
                        const out_shape *shapes, tg_tensor **outputs, int n_out) {
  tg_tensor *state = tg_from_i64(TG_SHAPE(4), (const int64_t *)rng.s);
  tg_node *node = state ? tg_record(buf, &OP_CHECKPOINT_MULTI, n_all, all) : NULL;
  if (!node) return -1;
  tg_node_i(node)[0] = (int64_t)(uintptr_t)f;
  tg_node_i(node)[1] = (int64_t)(uintptr_t)ctx;
  tg_node_i(node)[2] = pack_counts(n, n_out);
  tg_node_save(node, state);
  size_t off = 0;
  for (int i = 0; i < n_out; i++) {
    if (outputs[i]) continue; /* a copy, no history */
    ptrdiff_t st[TG_MAX_DIMS];
    tg_contiguous_strides(shapes[i].ndim, shapes[i].shape, st);
    tg_tensor *o = tg_tensor_view(buf, shapes[i].ndim, shapes[i].shape, st, off);
    tg_node *on = o ? tg_record(o, &OP_CHECKPOINT_OUTPUT, 1, &buf) : NULL;
    if (!on) return -1;
    tg_node_i(on)[0] = (int64_t)off;
    outputs[i] = o;
    off += shapes[i].numel;
  }
  return 0;
}

int tg_activation_checkpoint_multi(tg_multi_fn f, void *ctx, tg_tensor **inputs, int n, tg_tensor **outputs,
                                   int n_out) {
  if (check_multi_args(f, inputs, n, outputs, n_out) != 0) return -1;
  if (!tg_grad_enabled()) return f(inputs, outputs, ctx) == 0 ? 0 : -1; /* nothing to save */
  tg_rng rng_at_start = *tg_default_rng();
  int cap = n + 8, n_all = n, depth = tg_ctx.depth + 1, rc = -1;
  tg_tensor **all = tg_pool_alloc((size_t)cap * sizeof *all), *buf = NULL;
  out_shape *shapes = tg_pool_alloc((size_t)n_out * sizeof *shapes);
  tg_tensor **ys = tg_pool_alloc((size_t)n_out * sizeof *ys);
  if (!all || !shapes || !ys || tg_scope_begin() != 0) goto out;
  const tg_node *mark = tg_ctx.tape_tail;
  rc = detached_inputs(inputs, n, all);
  if (rc == 0) rc = call_multi(f, ctx, all, ys, n_out);
  if (rc == 0) rc = externals(mark, all, n, depth, &all, &n_all, &cap);
  if (rc == 0) {
    for (int i = 0; i < n; i++) all[i] = inputs[i];
    buf = fill_buffer(ys, n_out, outputs, depth - 1);
    for (int i = 0; buf && i < n_out; i++) {
      shapes[i].ndim = ys[i]->ndim;
      shapes[i].numel = ys[i]->numel;
      memcpy(shapes[i].shape, ys[i]->shape, (size_t)ys[i]->ndim * sizeof(size_t));
    }
    rc = buf ? 0 : -1;
  }
  tg_scope_end(); /* the region's intermediates go */
  if (rc == 0 && buf != (tg_tensor *)ys)
    rc = record_multi(buf, all, n_all, rng_at_start, f, ctx, n, shapes, outputs, n_out);
  if (rc != 0)
    for (int k = 0; k < n_out; k++) outputs[k] = NULL;
out:
  tg_pool_free(all);
  tg_pool_free(shapes);
  tg_pool_free(ys);
  return rc;
}
