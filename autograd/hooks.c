/* Tensor hooks: gradient hooks (Tensor.register_hook) and post-accumulate
 * hooks on leaves. A hooked tensor's `hooks` field is its record's slot + 1
 * in a per-thread table; the record lists its hooks in registration order.
 * During a backward the engine first counts, per hooked leaf, the consumer
 * inputs that the walk will run (tg_hooks_count_); when the last has run
 * the leaf is delivered at once, not at the end of the walk, so a DDP
 * bucket can start its all-reduce while backward goes on (PyTorch runs a
 * leaf's AccumulateGrad as soon as its dependencies are met). A leaf with
 * gradient hooks has its contributions held and summed until then, and
 * its hooks run once on the total (PyTorch's AccumulateGrad sees one sum);
 * a leaf with only post-accumulate hooks accumulates into .grad exactly as
 * an unhooked one (same bits) and its post hooks run when it is complete.
 * Registration is not a hot
 * path: hooks are malloc'ed, and freed with their tensor (tg_tensor_destroy
 * calls tg_ctx.tensor_unhook). */
#include <stdlib.h>
#include <string.h>

#include "fwad_internal.h"
#include "hooks_internal.h"
#include "tg_extension.h"
#include "tg_internal.h"

typedef struct hook {
  struct hook *next;
  uint64_t id;
  tg_hook_fn fn;          /* a gradient hook, or */
  tg_post_hook_fn post;   /* a post-accumulate hook */
  void *ctx;
  void (*release)(void *ctx); /* for hooks that own ctx (nn's module hooks) */
  bool removed;           /* removed while hooks were running: freed after */
} hook;

typedef struct record {
  tg_tensor *t;           /* NULL: a free slot */
  hook *hooks;            /* registration order */
  tg_tensor *pending;     /* a walk's held sum for the leaf t (gradient hooks) */
  uint32_t next;          /* the walk's list (slot + 1), or the free list */
  uint32_t waiting;       /* consumer inputs of t the walk has still to run */
  bool deferred;          /* on a walk's list */
  bool got;               /* t got gradient in this walk */
  bool done;              /* delivered in this walk */
  tg_fwad_state fwad;     /* FWAD: forward_ad.c's tangent of t */
} record;

static _Thread_local record *recs;
static _Thread_local uint32_t n_recs, cap_recs, free_slots; /* free list: slot + 1 */
static _Thread_local uint32_t serial;  /* the low half of handle ids */
static _Thread_local int running;      /* hook calls in progress (removal waits) */
static _Thread_local bool swept_needed;
static _Thread_local hook *graveyard;  /* hooks of tensors that died while hooks ran */
static _Thread_local size_t live_hooks; /* registered and not yet freed */

static uint32_t slot_of(uint64_t id) { return (uint32_t)(id >> 32); } /* slot + 1 */

static void free_hook(hook *h) {
  live_hooks--;
  if (h->release) h->release(h->ctx);
  free(h);
}

static void free_hooks(hook *h) {
  while (h) {
    hook *next = h->next;
    free_hook(h);
    h = next;
  }
}

/* the tensor dies: its hooks go, its slot is free again */
static void unhook(tg_tensor *t) {
  record *r = &recs[t->hooks - 1];
  if (r->fwad.flags || r->fwad.tangent) tg_fwad_forget_(t); /* FWAD */
  r->fwad = (tg_fwad_state){0};
  if (running > 0 && r->hooks) { /* a hook may be walking this list: free it after */
    hook *last = r->hooks;
    for (hook *h = r->hooks; h; h = h->next) h->removed = true, last = h;
    last->next = graveyard;
    graveyard = r->hooks;
    swept_needed = true;
  } else {
    free_hooks(r->hooks);
  }
  r->hooks = NULL;
  r->t = NULL;
  r->pending = NULL;
  if (!r->deferred) { /* a deferred record leaves the walk's list first */
    r->next = free_slots;
    free_slots = t->hooks;
  }
  t->hooks = 0;
}

/* hooks removed while others ran are freed once none runs */
static void sweep(void) {
  if (running > 0 || !swept_needed) return;
  swept_needed = false;
  free_hooks(graveyard);
  graveyard = NULL;
  for (uint32_t s = 0; s < n_recs; s++) {
    hook **link = &recs[s].hooks;
    while (*link) {
      hook *h = *link;
      if (!h->removed) {
        link = &h->next;
        continue;
      }
      *link = h->next;
      free_hook(h);
    }
  }
}

static record *record_for(tg_tensor *t) {
  if (t->hooks) return &recs[t->hooks - 1];
  uint32_t slot;
  if (free_slots) {
    slot = free_slots - 1;
    free_slots = recs[slot].next;
  } else {
    if (n_recs == cap_recs) {
      uint32_t cap = cap_recs ? 2 * cap_recs : 16;
      record *bigger = realloc(recs, cap * sizeof *bigger);
      if (!bigger) {
        tg_error("register_hook: out of memory");
        return NULL;
      }
      recs = bigger;
      cap_recs = cap;
    }
    slot = n_recs++;
  }
  memset(&recs[slot], 0, sizeof recs[slot]);
  recs[slot].t = t;
  t->hooks = slot + 1;
  tg_ctx.tensor_unhook = unhook;
  return &recs[slot];
}

static tg_hook_handle add(const char *op, tg_tensor *t, tg_hook_fn fn, tg_post_hook_fn post, void *ctx,
                          void (*release)(void *)) {
  tg_hook_handle none = {0};
  hook *h = malloc(sizeof *h);
  record *r = h ? record_for(t) : NULL;
  if (!r) {
    free(h);
    if (!tg_has_error()) tg_error("%s: out of memory", op);
    return none;
  }
  *h = (hook){.fn = fn, .post = post, .ctx = ctx, .release = release};
  live_hooks++;
  h->id = ((uint64_t)t->hooks << 32) | ++serial;
  hook **link = &r->hooks;
  while (*link) link = &(*link)->next;
  *link = h;
  return (tg_hook_handle){h->id};
}

tg_hook_handle tg_register_hook(tg_tensor *t, tg_hook_fn fn, void *ctx) {
  tg_hook_handle none = {0};
  if (!tg_tensor_check(t, "register_hook", 1)) return none;
  if (!fn) {
    tg_error("register_hook: argument 2 (the hook function) is NULL");
    return none;
  }
  if (!t->requires_grad) {
    tg_error("register_hook: cannot register a hook on a tensor that doesn't require gradient");
    return none;
  }
  return add("register_hook", t, fn, NULL, ctx, NULL);
}

tg_hook_handle tg_register_hook_owned_(tg_tensor *t, tg_hook_fn fn, void *ctx, void (*release)(void *ctx)) {
  tg_hook_handle h = t->requires_grad ? add("register_hook", t, fn, NULL, ctx, release) : (tg_hook_handle){0};
  if (!h.id && release) release(ctx); /* the hook owns ctx from the call on */
  return h;
}

tg_hook_handle tg_register_post_accumulate_grad_hook(tg_tensor *leaf, tg_post_hook_fn fn, void *ctx) {
  const char *op = "register_post_accumulate_grad_hook";
  tg_hook_handle none = {0};
  if (!tg_tensor_check(leaf, op, 1)) return none;
  if (!fn) {
    tg_error("%s: argument 2 (the hook function) is NULL", op);
    return none;
  }
  if (leaf->grad_fn) {
    tg_error("%s: post accumulate grad hooks cannot be registered on non-leaf tensors "
             "(this one was made by %s)", op, leaf->grad_fn->op->name);
    return none;
  }
  if (!leaf->requires_grad) {
    tg_error("%s: cannot register a hook on a tensor that doesn't require gradient", op);
    return none;
  }
  return add(op, leaf, NULL, fn, ctx, NULL);
}

bool tg_remove_hook(tg_hook_handle handle) {
  uint32_t slot = slot_of(handle.id);
  if (slot == 0 || slot > n_recs || !recs[slot - 1].t) return false;
  for (hook **link = &recs[slot - 1].hooks; *link; link = &(*link)->next) {
    hook *h = *link;
    if (h->id != handle.id || h->removed) continue;
    if (running > 0) { /* a hook removes a hook: unlink after the calls */
      h->removed = true;
      swept_needed = true;
    } else {
      *link = h->next;
      free_hook(h);
    }
    return true;
  }
  return false;
}

/* ---------------------------------------------- FWAD: for forward_ad.c */

tg_fwad_state *tg_fwad_state_(tg_tensor *t, bool create) {
  if (!t->hooks && !create) return NULL;
  record *r = record_for(t);
  return r ? &r->fwad : NULL;
}

void tg_fwad_clear_all_(void) {
  for (uint32_t s = 0; s < n_recs; s++) recs[s].fwad = (tg_fwad_state){0};
}

/* --------------------------------------------------------- for engine.c */

static int check_result(const tg_tensor *t, const tg_tensor *g, const tg_tensor *r) {
  char a[96], b[96];
  if (!r) {
    if (!tg_has_error())
      tg_error("backward: a hook returned NULL; return the gradient it was given (or a replacement)");
    return -1;
  }
  if (!tg_tensor_check(r, "backward: the tensor a hook returned", 1)) return -1;
  if (!tg_same_shape(r, g)) {
    tg_error("backward: a hook has changed the size of value (the gradient of a %s tensor was %s, "
             "the hook returned %s)", tg_shape_str(t, a, sizeof a), tg_shape_str(g, b, sizeof b),
             tg_shape_str(r, a, sizeof a));
    return -1;
  }
  if (r->dtype != g->dtype) {
    tg_error("backward: a hook has changed the type of value (was %s, got %s)", tg_dtype_name(g->dtype),
             tg_dtype_name(r->dtype));
    return -1;
  }
  return 0;
}

int tg_hooks_pre_(tg_tensor *t, tg_tensor **g) {
  record *r = &recs[t->hooks - 1];
  int rc = 0;
  running++;
  for (hook *h = r->hooks; h && rc == 0; h = h->next) {
    if (!h->fn || h->removed) continue;
    tg_tensor *ng = h->fn(*g, h->ctx);
    rc = check_result(t, *g, ng);
    if (rc == 0) *g = ng;
  }
  running--;
  sweep();
  return rc;
}

bool tg_hooks_any_(void) { return live_hooks > 0; }

static bool has_grad_hook(const record *r) {
  for (const hook *h = r->hooks; h; h = h->next)
    if (h->fn && !h->removed) return true;
  return false;
}

/* r joins the walk's list (once) */
static void join(uint32_t *list, record *r, uint32_t slot) {
  if (r->deferred) return;
  r->deferred = true;
  r->pending = NULL;
  r->waiting = 0;
  r->got = r->done = false;
  r->next = *list;
  *list = slot;
}

void tg_hooks_count_(uint32_t *list, tg_tensor *t) {
  record *r = &recs[t->hooks - 1];
  if (!r->hooks) return; /* forward-mode state only */
  join(list, r, t->hooks);
  r->waiting++;
}

bool tg_hooks_sink_(tg_tensor *t) {
  record *r = &recs[t->hooks - 1];
  if (!r->hooks) return true;
  if (!r->deferred || has_grad_hook(r)) return false; /* route() holds it */
  r->got = true;
  return true;
}

int tg_hooks_route_(uint32_t *list, tg_tensor *t, tg_tensor *g) {
  record *r = &recs[t->hooks - 1];
  if (!r->hooks) return 0;
  join(list, r, t->hooks);
  r->got = true;
  r->done = false; /* gradient after its delivery (a count the walk missed): again at the end */
  if (!has_grad_hook(r)) return 0;
  if (!tg_same_shape(g, t)) {
    g = tg_ctx.grad_sum_to ? tg_ctx.grad_sum_to(g, t->ndim, t->shape) : NULL;
    if (!g) return -1;
  }
  if (!r->pending) {
    r->pending = g;
    return 1;
  }
  /* an ops-layer add: recorded under create_graph (grad mode is on then) */
  r->pending = tg_ctx.grad_add ? tg_ctx.grad_add(r->pending, g) : NULL;
  return r->pending ? 1 : -1;
}

bool tg_hooks_consumed_(tg_tensor *t) {
  record *r = &recs[t->hooks - 1];
  if (!r->deferred || !r->waiting || --r->waiting) return false;
  if (!r->got) r->done = true; /* nothing arrived: nothing to deliver */
  return !r->done;
}

int tg_hooks_take_(tg_tensor *t, tg_tensor **g) {
  record *r = &recs[t->hooks - 1];
  r->done = true;
  *g = r->pending;
  r->pending = NULL;
  return *g ? tg_hooks_pre_(t, g) : 0;
}

/* unlink the head of the walk's list; its slot goes free if the tensor died */
static record *pop(uint32_t *list) {
  record *r = &recs[*list - 1];
  uint32_t slot = *list;
  *list = r->next;
  r->deferred = false;
  r->next = 0;
  if (!r->t) {
    r->next = free_slots;
    free_slots = slot;
  }
  return r;
}

tg_tensor *tg_hooks_next_(uint32_t *list) {
  while (*list) {
    record *r = pop(list);
    if (r->t && r->got && !r->done) return r->t;
    r->pending = NULL;
  }
  return NULL;
}

int tg_hooks_post_(tg_tensor *t) {
  if (!t->hooks) return 0;
  record *r = &recs[t->hooks - 1];
  int rc = 0;
  running++;
  for (hook *h = r->hooks; h && rc == 0; h = h->next)
    if (h->post && !h->removed && h->post(t, h->ctx) != 0) {
      rc = -1;
      if (!tg_has_error()) tg_error("backward: a post-accumulate-grad hook failed");
    }
  running--;
  sweep();
  return rc;
}

void tg_hooks_drop_(uint32_t *list) {
  while (*list) pop(list)->pending = NULL;
}
