/* The part every optimizer shares: checking and holding the parameters, the
 * state tensors (allocated once, at creation), the step driver, zero_grad,
 * the learning rate, and named state access for checkpoints. The algorithms
 * themselves (sgd.c, adam.c, rmsprop.c, adagrad.c) only supply an update
 * over one parameter's contiguous memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

/* ------------------------------------------------------------ options */

bool optim_check_nonneg(const char *op, const char *what, double x) {
  if (x >= 0) return true; /* false for NaN too */
  tg_error("%s: invalid %s %g: must be >= 0", op, what, x);
  return false;
}

bool optim_check_unit(const char *op, const char *what, double x) {
  if (x >= 0 && x < 1) return true;
  tg_error("%s: invalid %s %g: must be in [0, 1)", op, what, x);
  return false;
}

/* --------------------------------------------------------- parameters */

/* Why each rule: the optimizer writes through raw pointers (float,
 * contiguous), keeps the pointers across scopes (persistent), and would
 * update a parameter twice if it appeared twice. */
static bool check_param(const char *op, tg_tensor **params, int i) {
  const tg_tensor *p = params[i];
  if (!p) {
    tg_error("%s: params[%d] is NULL", op, i);
    return false;
  }
  if (p->obj.magic != TG_MAGIC_TENSOR) {
    tg_error("%s: params[%d] was freed or its scope has ended", op, i);
    return false;
  }
  const char *why = NULL;
  if (p->dtype == TG_INT64) why = "is int64; parameters must be float32 or float64";
  else if (!tg_dtype_is_float(p->dtype)) why = "is bool; parameters must be float32 or float64";
  else if (p->grad_fn) why = "is not a leaf (it was made by an op); pass the leaf itself";
  else if (!p->requires_grad) why = "does not require grad";
  else if (p->obj.scope != 0)
    why = "belongs to a scope; parameters must be persistent (made outside any scope, "
          "or tg_keep'd out to depth 0)";
  else if (!tg_is_contiguous(p))
    why = "is not contiguous; the optimizer updates contiguous memory in place";
  if (why) {
    tg_error("%s: params[%d] %s", op, i, why);
    return false;
  }
  for (int j = 0; j < i; j++)
    if (params[j] == p) {
      tg_error("%s: params[%d] is the same tensor as params[%d]", op, i, j);
      return false;
    }
  return true;
}

static bool check_params(const char *op, tg_tensor **params, int n) {
  if (!params) {
    tg_error("%s: params is NULL", op);
    return false;
  }
  if (n <= 0) {
    tg_error("%s: got %d parameters; an optimizer needs at least one", op, n);
    return false;
  }
  for (int i = 0; i < n; i++)
    if (!check_param(op, params, i)) return false;
  return true;
}

/* -------------------------------------------------------------- state */

static size_t entries_per_param(const tg_optimizer *o) { return 1 + (size_t)o->n_bufs; }

static tg_tensor *state_tensor(const tg_optimizer *o, int i, int k) {
  return o->state[(size_t)i * entries_per_param(o) + (size_t)k];
}

/* a persistent tensor whatever scope is open: it lives as long as the optimizer */
static tg_tensor *persistent_full(tg_dtype dt, int ndim, const size_t *shape, double v) {
  tg_tensor *t = tg_tensor_alloc_in(0, dt, ndim, shape);
  if (t && !tg_fill_(t, v)) {
    tg_free(t);
    return NULL;
  }
  return t;
}

static int alloc_state(tg_optimizer *o, const optim_layout *lay) {
  size_t per = entries_per_param(o);
  for (int i = 0; i < o->n; i++) {
    const tg_tensor *p = o->params[i];
    size_t e = (size_t)i * per;
    snprintf(o->names[e], OPTIM_NAME_LEN, "%d.step", i);
    o->state[e] = persistent_full(TG_FLOAT64, 0, NULL, 0.0);
    if (!o->state[e]) return -1;
    for (int k = 0; k < o->n_bufs; k++) {
      snprintf(o->names[e + 1 + (size_t)k], OPTIM_NAME_LEN, "%d.%s", i, lay->buf_names[k]);
      o->state[e + 1 + (size_t)k] =
          lay->buf_scalar[k] ? persistent_full(TG_FLOAT32, 0, NULL, lay->buf_init[k])
                             : persistent_full(p->dtype, p->ndim, p->shape, lay->buf_init[k]);
      if (!o->state[e + 1 + (size_t)k]) return -1;
    }
  }
  return 0;
}

tg_optimizer *optim_create(const char *op, tg_tensor **params, int n, const optim_layout *lay) {
  if (!check_params(op, params, n)) return NULL;
  tg_optimizer *o = calloc(1, sizeof *o);
  if (!o) goto oom;
  o->n = n;
  o->n_bufs = lay->n_bufs;
  size_t n_state = (size_t)n * entries_per_param(o);
  o->params = malloc((size_t)n * sizeof *o->params);
  o->state = calloc(n_state, sizeof *o->state);
  o->names = calloc(n_state, sizeof *o->names);
  if (!o->params || !o->state || !o->names) goto oom;
  memcpy(o->params, params, (size_t)n * sizeof *params);
  if (alloc_state(o, lay) != 0) {
    tg_optim_free(o); /* alloc_state left the pool's message */
    return NULL;
  }
  return o;
oom:
  tg_optim_free(o);
  tg_error("%s: out of memory for %d parameters", op, n);
  return NULL;
}

/* --------------------------------------------------------------- step */

/* Everything that could stop a step, checked before any parameter changes. */
static bool check_step_param(const tg_optimizer *o, int i) {
  const tg_tensor *p = o->params[i];
  if (p->obj.magic != TG_MAGIC_TENSOR) {
    tg_error("optim_step: parameter %d was freed after the optimizer was made", i);
    return false;
  }
  const tg_tensor *g = p->grad;
  if (!g) return true;
  const char *why = NULL;
  if (g->obj.magic != TG_MAGIC_TENSOR) why = "was freed or its scope has ended";
  else if (g->dtype != p->dtype) why = "has a different dtype from the parameter";
  else if (!tg_same_shape(g, p)) why = "has a different shape from the parameter";
  else if (!tg_is_contiguous(g)) why = "is not contiguous";
  if (why) tg_error("optim_step: the gradient of parameter %d %s", i, why);
  return why == NULL;
}

/* The step count advances only for parameters that have a gradient, so a
 * parameter that sat out some steps gets its own bias correction, as in
 * PyTorch. */
static int step_param(const tg_optimizer *o, int i) {
  tg_tensor *p = o->params[i];
  /* maximize: every torch 1.13 algorithm negates the gradient before
   * anything else, so the update runs on a negated copy (p->grad stays) */
  void *neg = NULL;
  if (o->maximize) {
    size_t es = p->dtype == TG_FLOAT64 ? sizeof(double) : sizeof(float);
    neg = malloc(p->numel * es + 1);
    if (!neg) {
      tg_error("optim_step: out of memory negating the gradient of parameter %d", i);
      return -1;
    }
    if (p->dtype == TG_FLOAT64)
      for (size_t k = 0; k < p->numel; k++)
        ((double *)neg)[k] = -((const double *)tg_ptr(p->grad))[k];
    else
      for (size_t k = 0; k < p->numel; k++)
        ((float *)neg)[k] = -((const float *)tg_ptr(p->grad))[k];
  }
  tg_tensor *step = state_tensor(o, i, 0);
  double *count = (double *)tg_ptr(step);
  *count += 1;
  optim_slot s = {.p = tg_ptr(p), .g = neg ? neg : tg_ptr(p->grad), .n = p->numel, .dt = p->dtype,
                  .step = *count};
  for (int k = 0; k < o->n_bufs; k++) s.buf[k] = tg_ptr(state_tensor(o, i, 1 + k));
  o->update(o, &s);
  free(neg);
  /* in-place writes: a graph that saved the old values must notice */
  p->storage->version++;
  for (int k = 0; k <= o->n_bufs; k++) state_tensor(o, i, k)->storage->version++;
  return 0;
}

int tg_optim_step(tg_optimizer *opt) {
  if (!opt) {
    tg_error("optim_step: optimizer is NULL");
    return -1;
  }
  for (int i = 0; i < opt->n; i++)
    if (!check_step_param(opt, i)) return -1;
  for (int i = 0; i < opt->n; i++)
    if (opt->params[i]->grad && step_param(opt, i) != 0) return -1;
  return 0;
}

int tg_optim_zero_grad(tg_optimizer *opt) {
  if (!opt) {
    tg_error("optim_zero_grad: optimizer is NULL");
    return -1;
  }
  for (int i = 0; i < opt->n; i++)
    if (tg_zero_grad(opt->params[i]) != 0) return -1;
  return 0;
}

/* --------------------------------------------------------- properties */

double tg_optim_get_lr(const tg_optimizer *opt) {
  if (!opt) {
    tg_error("optim_get_lr: optimizer is NULL");
    return NAN;
  }
  return opt->lr;
}

int tg_optim_set_lr(tg_optimizer *opt, double lr) {
  if (!opt) {
    tg_error("optim_set_lr: optimizer is NULL");
    return -1;
  }
  if (!optim_check_nonneg("optim_set_lr", "learning rate", lr)) return -1;
  opt->lr = lr;
  return 0;
}

const char *tg_optim_name(const tg_optimizer *opt) {
  if (!opt) tg_error("optim_name: optimizer is NULL");
  return opt ? opt->name : NULL;
}

int tg_optim_num_params(const tg_optimizer *opt) {
  if (!opt) tg_error("optim_num_params: optimizer is NULL");
  return opt ? opt->n : -1;
}

void tg_optim_free(tg_optimizer *opt) {
  if (!opt) return;
  if (opt->state) {
    size_t n_state = (size_t)opt->n * entries_per_param(opt);
    for (size_t e = 0; e < n_state; e++) tg_free(opt->state[e]);
  }
  free(opt->state);
  free(opt->names);
  free(opt->params);
  free(opt);
}

/* ------------------------------------------------- state for checkpoints */

size_t tg_optim_state_count(const tg_optimizer *opt) {
  if (!opt) tg_error("optim_state_count: optimizer is NULL");
  return opt ? (size_t)opt->n * entries_per_param(opt) : 0;
}

tg_tensor *tg_optim_state_at(const tg_optimizer *opt, size_t i, const char **name) {
  if (!opt) {
    tg_error("optim_state_at: optimizer is NULL");
    return NULL;
  }
  size_t count = tg_optim_state_count(opt);
  if (i >= count) {
    tg_error("optim_state_at: entry %zu out of range for %zu entries", i, count);
    return NULL;
  }
  if (name) *name = opt->names[i];
  return opt->state[i];
}

static long find_entry(const tg_optimizer *opt, const char *name) {
  size_t count = tg_optim_state_count(opt);
  for (size_t e = 0; e < count; e++)
    if (strcmp(opt->names[e], name) == 0) return (long)e;
  return -1;
}

tg_tensor *tg_optim_state_find(const tg_optimizer *opt, const char *name) {
  if (!opt || !name) {
    tg_error("optim_state_find: %s is NULL", opt ? "name" : "optimizer");
    return NULL;
  }
  long e = find_entry(opt, name);
  if (e < 0) {
    tg_error("optim_state_find: %s has no state entry \"%s\"", opt->name, name);
    return NULL;
  }
  return opt->state[e];
}

/* A step count decides bias corrections and (SGD) whether the momentum
 * buffer holds anything yet, so only whole counts make sense. */
static bool valid_step_count(const tg_tensor *src) {
  if (src->numel != 1) return true; /* tg_copy_ reports the shape */
  double v = tg_get_flat(src, 0);
  if (v >= 0 && v == floor(v) && v <= 9007199254740992.0) return true;
  tg_error("optim_state_load: a step count must be a whole number >= 0, not %g", v);
  return false;
}

int tg_optim_state_load(tg_optimizer *opt, const char *name, const tg_tensor *src) {
  if (!opt || !name) {
    tg_error("optim_state_load: %s is NULL", opt ? "name" : "optimizer");
    return -1;
  }
  tg_tensor *dst = tg_optim_state_find(opt, name);
  if (!dst || !tg_tensor_check(src, "optim_state_load", 3)) return -1;
  if (!tg_same_shape(dst, src)) {
    char a[96], b[96];
    tg_error("optim_state_load: \"%s\" has shape %s; the source has %s", name,
             tg_shape_str(dst, a, sizeof a), tg_shape_str(src, b, sizeof b));
    return -1;
  }
  bool is_step = strcmp(strchr(name, '.') + 1, "step") == 0;
  if (is_step && !valid_step_count(src)) return -1;
  return tg_copy_(dst, src);
}
