/* The backward engine: one reverse walk of the tape.
 *
 * Every node reachable from the roots was created before them, so walking
 * tape_prev from the newest root visits each consumer before what it
 * consumes: by the time we reach a node, all gradient for its output has
 * arrived. Nodes with no pending gradient are skipped; the walk stops when
 * no gradient is pending anywhere. No recursion, no visited set. */
#include <math.h>
#include <string.h>

#include "hooks_internal.h"
#include "saved_hooks_internal.h"
#include "tg_extension.h"
#include "tg_internal.h"

typedef struct engine {
  bool create_graph, retain_graph;
  size_t pending;
  /* tg_grad: capture gradients for these tensors instead of touching .grad */
  int n_capture;
  tg_tensor **capture;
  tg_tensor **captured;
  bool *captured_owned;
  uint32_t hooked; /* HOOKS: this walk's hooked leaves (hooks.c's list) */
  bool delivering; /* HOOKS: routing a hooked leaf's held total */
} engine;

static tg_tensor *fresh_zeros_like(const tg_tensor *t, int scope) {
  tg_tensor *z = tg_tensor_alloc_in(scope, t->dtype, t->ndim, t->shape);
  if (z && z->ndim == 0 && z->dtype == TG_FLOAT64) *(double *)z->storage->data = 0.0;
  else if (z && z->ndim == 0 && z->dtype == TG_FLOAT32) *(float *)z->storage->data = 0.0f;
  else if (z) memset(z->storage->data, 0, z->storage->nbytes);
  return z;
}

/* tg_same_shape without the call for the scalar case */
static inline bool same_shape(const tg_tensor *a, const tg_tensor *b) {
  return (a->ndim == 0 && b->ndim == 0) || tg_same_shape(a, b);
}

/* dst += src for 0-d tensors of one float dtype, as tg_accumulate_ */
static inline void add0(tg_tensor *dst, const tg_tensor *src) {
  if (dst->dtype == TG_FLOAT64) *(double *)tg_ptr(dst) += *(const double *)tg_ptr(src);
  else *(float *)tg_ptr(dst) += *(const float *)tg_ptr(src);
  dst->storage->version++;
}

/* g summed down to target's shape and added to *slot. Fast path: plain
 * kernels into buffers the engine owns. create_graph: recorded ops. */
static int add_into(engine *e, tg_tensor **slot, bool *slot_owned, tg_tensor *g,
                    const tg_tensor *target, int scope) {
  if (e->create_graph) {
    if (!tg_same_shape(g, target)) g = tg_ctx.grad_sum_to(g, target->ndim, target->shape);
    if (g && *slot) g = tg_ctx.grad_add(*slot, g);
    if (!g) return -1;
    *slot = g;
    return 0;
  }
  if (!*slot && same_shape(g, target)) {
    *slot = g; /* borrowed: never written in place */
    *slot_owned = false;
    return 0;
  }
  /* a scalar node's gradient arriving from a second consumer on: the adds
   * tg_accumulate_ would make (0 + first, then + each), without its checks */
  if (*slot && g->ndim == 0 && target->ndim == 0 && (*slot)->ndim == 0 && g->dtype == target->dtype &&
      (*slot)->dtype == g->dtype && tg_dtype_is_float(g->dtype)) {
    if (!*slot_owned) {
      tg_tensor *fresh = fresh_zeros_like(target, scope);
      if (!fresh) return -1;
      add0(fresh, *slot);
      *slot = fresh;
      *slot_owned = true;
    }
    add0(*slot, g);
    return 0;
  }
  if (!*slot || !*slot_owned) {
    tg_tensor *fresh = fresh_zeros_like(target, scope);
    if (!fresh || (*slot && tg_accumulate_(fresh, *slot) != 0)) return -1;
    *slot = fresh;
    *slot_owned = true;
  }
  return tg_accumulate_(*slot, g);
}

tg_tensor *tg_node_grad_sink(tg_node *n, int i) {
  if (!tg_ctx.grad_sink || !n || !tg_node_needs_grad(n, i)) return NULL;
  tg_tensor *in = n->in[i];
  if (in->grad_fn || (in->hooks && !tg_hooks_sink_(in))) return NULL; /* HOOKS: held for its hooks */
  if (!in->grad) {
    in->grad = fresh_zeros_like(in, in->obj.scope);
    if (!in->grad) return NULL;
  }
  tg_tensor *d = in->grad;
  if (d->dtype != in->dtype || !same_shape(d, in) || (d->ndim != 0 && !tg_is_contiguous(d)))
    return NULL;
  d->storage->version++;
  return d;
}

static int capture_search(const engine *e, const tg_tensor *t) {
  for (int k = 0; k < e->n_capture; k++)
    if (e->capture[k] == t) return k;
  return -1;
}


static inline int capture_index(const engine *e, const tg_tensor *t) {
  if (e->n_capture == 0) return -1; /* tg_backward: the common case, no call */
  return capture_search(e, t);
}

static int route(engine *e, tg_tensor *in, tg_tensor *g) {
  /* HOOKS: a leaf with gradient hooks has its contributions held for them;
   * one with only post-accumulate hooks goes on as an unhooked leaf.
   * tg_grad runs no leaf hooks. */
  if (__builtin_expect(in->hooks != 0, 0) && !in->grad_fn && e->n_capture == 0 && !e->delivering) {
    int held = tg_hooks_route_(&e->hooked, in, g);
    if (held) return held < 0 ? -1 : 0;
  }
  int c = capture_index(e, in);
  if (c >= 0 && !in->grad_fn)
    return add_into(e, &e->captured[c], &e->captured_owned[c], g, in, tg_ctx.depth);
  if (in->grad_fn) {
    tg_node *m = in->grad_fn;
    if (!m->pending) {
      m->pending = true;
      e->pending++;
      m->grad = NULL;
      m->grad_owned = false;
    }
    return add_into(e, &m->grad, &m->grad_owned, g, in, tg_ctx.depth);
  }
  if (e->n_capture > 0) return 0; /* tg_grad leaves .grad alone */
  /* leaf: .grad lives as long as the leaf (persistent for parameters) */
  if (e->create_graph) {
    bool owned = false;
    return add_into(e, &in->grad, &owned, g, in, in->obj.scope);
  }
  if (!in->grad) {
    in->grad = fresh_zeros_like(in, in->obj.scope);
    if (!in->grad) return -1;
  }
  return tg_accumulate_(in->grad, g);
}

/* route's first gradient for a 0-d non-leaf, inline: the slot borrows g
 * (add_into's first case); true when taken */
static inline bool route_first_0d(engine *e, tg_tensor *in, tg_tensor *g) {
  tg_node *m = in->grad_fn;
  if (!m || m->pending || e->create_graph || in->ndim != 0 || g->ndim != 0) return false;
  m->pending = true;
  e->pending++;
  m->grad = g; /* borrowed: never written in place */
  m->grad_owned = false;
  return true;
}

static void clear_pending(tg_node *from) {
  for (tg_node *n = from; n; n = n->tape_prev)
    if (n->pending) {
      n->pending = false;
      n->grad = NULL;
    }
}

static int version_error(const tg_node *n, const char *what, uint32_t was, uint32_t now) {
  tg_error("backward: %s of %s was modified by an in-place operation after the op saved it "
           "(version %u, now %u); clone it before modifying it", what, n->op->name, was, now);
  return -1;
}

/* the values this node's backward reads must be the ones the forward saw */
static int check_versions(const tg_node *n) {
  if (!(n->op->saves & (TG_SAVES_OUT | TG_NODE_SAVED | ((1u << TG_NODE_MAX_CHECKED) - 1u))))
    return 0; /* add, relu, ...: the op saved nothing whose version could change */
  const tg_node_saved_slot *sv = tg_node_saved_slot_(n);
  if (sv && sv->t && sv->t->storage->version != sv->version)
    return version_error(n, "a saved tensor", sv->version, sv->t->storage->version);
  for (int k = 0; k < n->n_in && k < TG_NODE_MAX_CHECKED; k++) {
    const tg_tensor *in = n->in[k];
    if ((n->op->saves & TG_SAVES_IN(k)) && in->storage->version != n->in_version[k]) {
      char what[32];
      snprintf(what, sizeof what, "input %d", k);
      return version_error(n, what, n->in_version[k], in->storage->version);
    }
  }
  if ((n->op->saves & TG_SAVES_OUT) && n->out->storage->version != n->out_version)
    return version_error(n, "the output", n->out_version, n->out->storage->version);
  return 0;
}

/* anomaly mode: a backward that produced NaN/Inf names itself and the line
 * that created its node */
static int check_gradient(const tg_node *n, int k, const tg_tensor *g) {
  for (size_t i = 0; i < g->numel; i++) {
    double v = tg_get_flat(g, i);
    if (isfinite(v)) continue;
    tg_error("anomaly: %s (created at %s:%d) returned %s in its gradient for input %d, element %zu",
             n->op->name, tg_node_call_site_(n) && tg_node_call_site_(n)->file ? tg_node_call_site_(n)->file : "?",
             tg_node_call_site_(n) ? tg_node_call_site_(n)->line : 0,
             isnan(v) ? "NaN" : "Inf", k, i);
    fprintf(stderr, "tapegrad: %s\n", tg_last_error());
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ HOOKS
 * A hooked leaf is delivered (its held total through its gradient hooks
 * into .grad, then its post-accumulate hooks) as soon as the last node of
 * this walk that consumes it has run, so DDP's buckets start during
 * backward. count_hooked, a pre-pass run only while some hook exists,
 * counts those consumer inputs: the walk's own reachability (nodes that
 * get gradient from a reached consumer), marked in n->grad, which is NULL
 * outside a walk. */
static char walk_mark;
#define WALK_MARK ((tg_tensor *)(void *)&walk_mark)

static void mark(tg_node *n, size_t *marked) {
  /* pending: an outer walk's node, reached from a hook's own backward; its
   * gradient stays (counts missed there deliver at the end of the walk) */
  if (n->pending || n->grad == WALK_MARK) return;
  n->grad = WALK_MARK;
  ++*marked;
}

static void count_hooked(engine *e, int n_root, tg_tensor **roots, tg_node *start) {
  size_t marked = 0;
  for (int r = 0; r < n_root; r++)
    if (roots[r]->grad_fn) mark(roots[r]->grad_fn, &marked);
  for (tg_node *n = start; n && marked; n = n->tape_prev) {
    if (n->grad != WALK_MARK) continue;
    n->grad = NULL;
    marked--;
    for (int k = 0; k < n->n_in; k++) {
      if (!tg_node_needs_grad(n, k)) continue;
      tg_tensor *in = n->in[k];
      if (in->grad_fn) mark(in->grad_fn, &marked);
      else if (in->hooks) tg_hooks_count_(&e->hooked, in);
    }
  }
}

static int deliver(engine *e, tg_tensor *leaf) {
  tg_tensor *g = NULL;
  if (tg_hooks_take_(leaf, &g)) return -1;
  e->delivering = true;
  int rc = g ? route(e, leaf, g) : 0;
  e->delivering = false;
  return rc || tg_hooks_post_(leaf) ? -1 : 0;
}

/* input k of n has been handled: deliver it if it was a hooked leaf's last */
static int consumed(engine *e, tg_node *n, int k) {
  tg_tensor *in = n->in[k];
  if (!in->hooks || in->grad_fn || !tg_node_needs_grad(n, k) || !tg_hooks_consumed_(in)) return 0;
  return deliver(e, in);
}
/* ---------------------------------------------------------------- HOOKS end */

static int run_node(engine *e, tg_node *n) {
  tg_tensor *g = n->grad;
  n->pending = false;
  n->grad = NULL;
  e->pending--;
  /* tg_grad (capture mode) leaves every .grad alone, retained ones too: with
   * create_graph it would otherwise point .grad at a tensor of the caller's
   * scope, which dangles once that scope ends */
  if (n->out->retains_grad && e->n_capture == 0) {
    bool o = false;
    if (!n->out->grad) {
      n->out->grad = fresh_zeros_like(n->out, n->out->obj.scope);
      if (!n->out->grad) return -1;
    }
    if (e->create_graph) {
      if (add_into(e, &n->out->grad, &o, g, n->out, n->out->obj.scope)) return -1;
    } else if (tg_accumulate_(n->out->grad, g)) {
      return -1;
    }
  }
  int c = capture_index(e, n->out);
  if (c >= 0 && add_into(e, &e->captured[c], &e->captured_owned[c], g, n->out, tg_ctx.depth))
    return -1;
  /* HOOKS: the output's hooks see (and may replace) its total gradient
   * before it flows on; .grad (retain_grad) and tg_grad got it unhooked */
  if (__builtin_expect(n->out->hooks != 0, 0) && tg_hooks_pre_(n->out, &g)) return -1;
  if (check_versions(n)) return -1;
  /* the input gradients: on the stack for ordinary ops, from the pool for a
   * wide fan-in (a cat of 10^6 tensors would overflow the stack) */
  tg_tensor *small[8], **gin = small;
  if (n->n_in > 8 && !(gin = tg_pool_alloc((size_t)n->n_in * sizeof *gin))) return -1;
  gin[0] = gin[1] = NULL; /* the slots of a unary or binary op without a loop */
  for (int k = 2; k < n->n_in; k++) gin[k] = NULL;
  tg_saved_swap sw = {.active = false};
  if (__builtin_expect(tg_saved_packed_live_ != 0, 0) && tg_saved_unpack_(n, &sw)) { /* SAVED HOOKS */
    if (gin != small) tg_pool_free(gin);
    return -1;
  }
  n->op->backward(n, g, gin);
  if (__builtin_expect(sw.active, 0)) tg_saved_restore_(n, &sw);
  int rc = 0;
  for (int k = 0; rc == 0 && k < n->n_in; k++) {
    if (!gin[k]) {
      if (tg_node_needs_grad(n, k) && tg_ctx.err_set) rc = -1;
    } else if (tg_ctx.anomaly && check_gradient(n, k, gin[k])) {
      rc = -1;
    } else if (!route_first_0d(e, n->in[k], gin[k]) && route(e, n->in[k], gin[k])) {
      rc = -1;
    }
    if (rc == 0 && __builtin_expect(e->hooked != 0, 0)) rc = consumed(e, n, k); /* HOOKS */
  }
  if (gin != small) tg_pool_free(gin);
  if (rc == 0 && !e->retain_graph) {
    n->released = true;
    if (__builtin_expect(tg_saved_packed_live_ != 0, 0)) tg_saved_release_(n); /* SAVED HOOKS */
  }
  return rc;
}

/* HOOKS: the hooked leaves that got no gradient from a counted consumer
 * (a root, a count the walk missed), at the end of the walk */
static int deliver_hooked(engine *e) {
  int rc = 0;
  tg_tensor *leaf;
  while (rc == 0 && (leaf = tg_hooks_next_(&e->hooked))) rc = deliver(e, leaf);
  return rc;
}

static int run(engine *e, int n_root, tg_tensor **roots, tg_tensor **grads) {
  bool prev_mode = tg_set_grad_enabled(e->create_graph);
  bool prev_sink = tg_ctx.grad_sink;
  tg_ctx.grad_sink = !e->create_graph && e->n_capture == 0 && !tg_ctx.anomaly;
  tg_node *start = NULL;
  int rc = 0;
  tg_clear_error();
  for (int r = 0; r < n_root && rc == 0; r++) {
    tg_node *n = roots[r]->grad_fn;
    if (n && n->released) {
      tg_error("backward: trying to backward through the graph a second time (%s's saved "
               "values were released); pass retain_graph=true the first time", n->op->name);
      rc = -1;
      break;
    }
    if (n && (!start || n->seq > start->seq)) start = n;
  }
  if (rc == 0 && e->n_capture == 0 && tg_hooks_any_()) count_hooked(e, n_root, roots, start); /* HOOKS */
  for (int r = 0; r < n_root && rc == 0; r++) rc = route(e, roots[r], grads[r]);
  for (tg_node *n = start; rc == 0 && n && e->pending > 0; n = n->tape_prev) {
    if (n->tape_prev) __builtin_prefetch(n->tape_prev->tape_prev);
    if (!n->pending) continue;
    if (n->released) {
      tg_error("backward: trying to backward through the graph a second time (%s's saved "
               "values were released); pass retain_graph=true the first time", n->op->name);
      rc = -1;
      break;
    }
    rc = run_node(e, n);
  }
  if (rc == 0 && e->hooked) rc = deliver_hooked(e); /* HOOKS */
  if (e->hooked) tg_hooks_drop_(&e->hooked);        /* HOOKS: after an error */
  if (rc != 0) clear_pending(start ? start : tg_ctx.tape_tail);
  tg_ctx.grad_sink = prev_sink;
  tg_set_grad_enabled(prev_mode);
  return rc;
}

static tg_tensor *default_grad(const char *op, tg_tensor *root, tg_tensor *grad_output) {
  char a[96], b[96];
  if (!grad_output) {
    if (root->numel != 1) {
      tg_error("%s: grad can be implicitly created only for scalar outputs; the output has "
               "shape %s, so pass grad_output of that shape", op, tg_shape_str(root, a, sizeof a));
      return NULL;
    }
    tg_tensor *one = tg_tensor_alloc(root->dtype, root->ndim, root->shape);
    if (one && root->ndim == 0 && tg_dtype_is_float(root->dtype)) {
      /* a scalar loss: tg_fill_'s store and version bump */
      if (root->dtype == TG_FLOAT64) *(double *)one->storage->data = 1.0;
      else *(float *)one->storage->data = 1.0f;
      one->storage->version++;
      return one;
    }
    return one ? tg_fill_(one, 1.0) : NULL;
  }
  if (!tg_tensor_check(grad_output, op, 2)) return NULL;
  if (!tg_same_shape(grad_output, root) || grad_output->dtype != root->dtype) {
    tg_error("%s: grad_output is %s %s but the output is %s %s", op,
             tg_dtype_name(grad_output->dtype), tg_shape_str(grad_output, a, sizeof a),
             tg_dtype_name(root->dtype), tg_shape_str(root, b, sizeof b));
    return NULL;
  }
  return grad_output;
}

int tg_backward(tg_tensor *root, tg_tensor *grad_output, bool retain_graph) {
  if (!tg_tensor_check(root, "backward", 1)) return -1;
  if (!root->requires_grad) {
    tg_error("backward: the tensor does not require grad and has no grad_fn; "
             "call tg_requires_grad_ on the leaves before computing it");
    return -1;
  }
  /* the seed gradient is a temporary of the caller's scope */
  tg_tensor *g = default_grad("backward", root, grad_output);
  if (!g) return -1;
  engine e = {.retain_graph = retain_graph};
  return run(&e, 1, &root, &g);
}

int tg_grad(int n_out, tg_tensor **outputs, tg_tensor **grad_outputs, int n_in,
            tg_tensor **inputs, tg_tensor **grads_out, tg_grad_opts opts) {
  if (n_out <= 0 || n_in <= 0 || !outputs || !inputs || !grads_out) {
    tg_error("grad: need at least one output and one input, and a grads_out array");
    return -1;
  }
  if (opts.create_graph && (!tg_ctx.grad_add || !tg_ctx.grad_sum_to)) {
    tg_error("grad: create_graph needs the ops layer (no op has run yet)");
    return -1;
  }
  for (int k = 0; k < n_in; k++) {
    grads_out[k] = NULL;
    if (!tg_tensor_check(inputs[k], "grad", 5)) return -1;
    if (!inputs[k]->requires_grad) {
      tg_error("grad: input %d does not require grad", k);
      return -1;
    }
  }
  tg_tensor *seeds[n_out];
  for (int k = 0; k < n_out; k++) {
    if (!tg_tensor_check(outputs[k], "grad", 2)) return -1;
    if (!outputs[k]->requires_grad) {
      tg_error("grad: output %d does not require grad and has no grad_fn", k);
      return -1;
    }
    seeds[k] = default_grad("grad", outputs[k], grad_outputs ? grad_outputs[k] : NULL);
    if (!seeds[k]) return -1;
  }
  bool owned[n_in];
  memset(owned, 0, sizeof owned);
  engine e = {.create_graph = opts.create_graph,
              .retain_graph = opts.retain_graph || opts.create_graph,
              .n_capture = n_in,
              .capture = inputs,
              .captured = grads_out,
              .captured_owned = owned};
  if (run(&e, n_out, outputs, seeds) != 0) return -1;
  for (int k = 0; k < n_in; k++) {
    if (grads_out[k]) continue;
    if (!opts.allow_unused) {
      tg_error("grad: input %d is not reachable from the outputs (set allow_unused to get NULL)", k);
      return -1;
    }
  }
  return 0;
}
