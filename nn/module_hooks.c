/* Module hooks: forward pre-hooks, forward hooks and full backward hooks,
 * as nn.Module.register_forward_pre_hook / register_forward_hook /
 * register_full_backward_hook (PyTorch 1.13).
 *
 * tg_module_forward hands a module with hooks to nn_module_forward_hooked.
 * Full backward hooks work as PyTorch's BackwardHookFunction: the input
 * (when it requires grad) and the output pass through identity nodes, and
 * tensor hooks on those (autograd/hooks.c) see the gradient w.r.t. the
 * output first, then the one w.r.t. the input, where the module's hooks
 * run with both and may replace grad_input. A per-call record, shared by
 * the two tensor hooks, goes with the last of them. */
#include <stdlib.h>
#include <string.h>

#include "hooks_internal.h"
#include "nn_internal.h"

enum { PRE, FWD, BWD, N_KINDS };

typedef struct mhook {
  struct mhook *next;
  uint64_t id;
  void (*fn)(void); /* one of the three function types, by kind */
  void *ctx;
} mhook;

struct tg_module_hooks {
  tg_module *m;
  mhook *list[N_KINDS];         /* registration order */
  struct tg_module_hooks *next; /* every module with hooks, for removal by handle */
};

static _Thread_local struct tg_module_hooks *registry;
static _Thread_local uint64_t serial;
#define MODULE_HOOK_ID (1ull << 63) /* tensor hook ids never set it (autograd/hooks.c) */

static tg_hook_handle add(const char *op, tg_module *m, int kind, void (*fn)(void), void *ctx) {
  tg_hook_handle none = {0};
  if (!m) {
    tg_error("%s: argument 1 (the module) is NULL", op);
    return none;
  }
  if (!fn) {
    tg_error("%s: argument 2 (the hook function) is NULL", op);
    return none;
  }
  if (!m->forward) {
    tg_error("%s: %s takes several tensors (tg_module_forward_multi); module hooks need a one-tensor "
             "module", op, m->type);
    return none;
  }
  if (!m->hooks) {
    struct tg_module_hooks *h = calloc(1, sizeof *h);
    if (!h) {
      tg_error("%s: out of memory", op);
      return none;
    }
    h->m = m;
    h->next = registry;
    registry = h;
    m->hooks = h;
  }
  mhook *k = malloc(sizeof *k);
  if (!k) {
    tg_error("%s: out of memory", op);
    return none;
  }
  *k = (mhook){.fn = fn, .ctx = ctx, .id = MODULE_HOOK_ID | ++serial};
  mhook **link = &m->hooks->list[kind];
  while (*link) link = &(*link)->next;
  *link = k;
  return (tg_hook_handle){k->id};
}

tg_hook_handle tg_module_register_forward_pre_hook(tg_module *m, tg_module_pre_hook_fn fn, void *ctx) {
  return add("module_register_forward_pre_hook", m, PRE, (void (*)(void))fn, ctx);
}

tg_hook_handle tg_module_register_forward_hook(tg_module *m, tg_module_hook_fn fn, void *ctx) {
  return add("module_register_forward_hook", m, FWD, (void (*)(void))fn, ctx);
}

tg_hook_handle tg_module_register_full_backward_hook(tg_module *m, tg_module_backward_hook_fn fn, void *ctx) {
  return add("module_register_full_backward_hook", m, BWD, (void (*)(void))fn, ctx);
}

bool tg_module_remove_hook(tg_hook_handle h) {
  if (!(h.id & MODULE_HOOK_ID)) return false;
  for (struct tg_module_hooks *r = registry; r; r = r->next)
    for (int kind = 0; kind < N_KINDS; kind++)
      for (mhook **link = &r->list[kind]; *link; link = &(*link)->next)
        if ((*link)->id == h.id) {
          mhook *dead = *link;
          *link = dead->next;
          free(dead);
          return true;
        }
  return false;
}

void nn_module_hooks_free(tg_module *m) {
  struct tg_module_hooks *h = m->hooks;
  for (struct tg_module_hooks **link = &registry; *link; link = &(*link)->next)
    if (*link == h) {
      *link = h->next;
      break;
    }
  for (int kind = 0; kind < N_KINDS; kind++)
    for (mhook *k = h->list[kind], *next; k; k = next) {
      next = k->next;
      free(k);
    }
  free(h);
  m->hooks = NULL;
}

/* ------------------------------------------------------ full backward */

/* the identity node the backward hooks' tensor hooks sit on */
static void identity_backward(tg_node *n, tg_tensor *g, tg_tensor **gin) {
  (void)n;
  gin[0] = g;
}
static tg_tensor *identity_jvp(tg_node *n, tg_tensor *const *t) {
  (void)n;
  return t[0];
}
TG_DEFINE_OP_JVP(OP_BACKWARD_HOOK, "BackwardHookFunctionBackward", identity_backward, identity_jvp, 0);

static tg_tensor *identity(tg_tensor *x) {
  tg_tensor *y = tg_detach(x); /* a view: no copy */
  return y && tg_record(y, &OP_BACKWARD_HOOK, 1, &x) ? y : NULL;
}

/* one call's record, shared by the hooks on its input and output */
typedef struct call_rec {
  tg_module *m;
  tg_tensor *grad_output; /* set by the output's hook, read by the input's, in one backward */
  bool input_requires_grad;
  int refs;
} call_rec;

static void release(void *p) {
  call_rec *c = p;
  if (--c->refs == 0) free(c);
}

/* the module's backward hooks on (grad_input, grad_output); NULL fails */
static tg_tensor *run_backward_hooks(call_rec *c, tg_tensor *gi) {
  if (!c->m->hooks) return gi; /* removed since the forward */
  for (mhook *k = c->m->hooks->list[BWD], *next; k; k = next) {
    next = k->next; /* a hook may remove itself */
    tg_tensor *r = ((tg_module_backward_hook_fn)k->fn)(c->m, gi, c->grad_output, k->ctx);
    if (!gi) continue; /* no grad_input to replace */
    if (!r) {
      if (!tg_has_error()) tg_error("backward: a full backward hook of %s returned NULL", c->m->type);
      return NULL;
    }
    gi = r; /* shape and dtype checked by the tensor hook's caller */
  }
  return gi;
}

static tg_tensor *on_output_grad(tg_tensor *g, void *p) {
  call_rec *c = p;
  c->grad_output = g;
  if (!c->input_requires_grad && !run_backward_hooks(c, NULL) && tg_has_error()) return NULL;
  return g;
}

static tg_tensor *on_input_grad(tg_tensor *g, void *p) {
  return run_backward_hooks(p, g);
}

/* ------------------------------------------------------------- forward */

static tg_tensor *raw_forward(tg_module *m, tg_tensor *x) {
  return m->forward(m, x); /* registration refuses modules without forward */
}

static bool returned(const char *what, const tg_module *m, tg_tensor *t) {
  if (!t) {
    if (!tg_has_error()) tg_error("module_forward: a %s of %s returned NULL", what, m->type);
    return false;
  }
  return tg_tensor_check(t, "module_forward: a hook's result", 1);
}

tg_tensor *nn_module_forward_hooked(tg_module *m, tg_tensor *x) {
  struct tg_module_hooks *h = m->hooks;
  for (mhook *k = h->list[PRE], *next; k; k = next) {
    next = k->next; /* a hook may remove itself */
    if (!returned("forward pre-hook", m, x = ((tg_module_pre_hook_fn)k->fn)(m, x, k->ctx))) return NULL;
  }
  call_rec *c = NULL;
  tg_tensor *xin = x;
  if (h->list[BWD] && tg_grad_enabled()) {
    if (!(c = calloc(1, sizeof *c))) {
      tg_error("module_forward: out of memory");
      return NULL;
    }
    *c = (call_rec){.m = m, .input_requires_grad = x->requires_grad, .refs = 1};
    if (x->requires_grad) {
      if ((xin = identity(x))) c->refs++; /* the hook's reference */
      if (!xin || !tg_register_hook_owned_(xin, on_input_grad, c, release).id) {
        release(c); /* ours; a failed registration released the hook's */
        return NULL;
      }
    }
  }
  tg_tensor *y = raw_forward(m, xin);
  for (mhook *k = h->list[FWD], *next; y && k; k = next) {
    next = k->next;
    if (!returned("forward hook", m, y = ((tg_module_hook_fn)k->fn)(m, x, y, k->ctx))) y = NULL;
  }
  if (c && y && y->requires_grad) {
    tg_tensor *yout = identity(y);
    if (yout) c->refs++;
    y = yout && tg_register_hook_owned_(yout, on_output_grad, c, release).id ? yout : NULL;
  }
  if (c) release(c);
  return y;
}
