/* The part every optimizer shares: checking and holding the parameters and
 * their groups, the state tensors (allocated when a group is added), the step
 * driver, zero_grad, the learning rates, and named state access for
 * checkpoints. The algorithms themselves (sgd.c, adam.c, ...) only supply an
 * option check and an update over one parameter's contiguous memory. */
#include <limits.h>
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

bool optim_check_adam_like(const char *op, double lr, double eps, double b1, double b2,
                           double wd) {
  return optim_check_nonneg(op, "learning rate", lr) && optim_check_nonneg(op, "eps", eps) &&
         optim_check_unit(op, "beta1", b1) && optim_check_unit(op, "beta2", b2) &&
         optim_check_nonneg(op, "weight_decay", wd);
}

/* --------------------------------------------------------- parameters */

/* Why each rule: the optimizer writes through raw pointers (float,
 * contiguous), keeps the pointers across scopes (persistent), and would
 * update a parameter twice if it appeared twice. */
static bool check_param(const tg_optimizer *o, const char *op, tg_tensor **params, int i) {
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
  for (int g = 0; g < o->n_groups; g++)
    for (int j = o->groups[g].first; j < o->groups[g].first + o->groups[g].n; j++)
      if (o->params[j] == p) {
        tg_error("%s: params[%d] is already in parameter group %d: some parameters appear in "
                 "more than one parameter group", op, i, g);
        return false;
      }
  return true;
}

/* a constructor needs a parameter; a later group may be empty, as torch's */
static bool check_params(const tg_optimizer *o, const char *op, tg_tensor **params, int n) {
  if (n < 0 || (n == 0 && o->n_groups == 0)) {
    tg_error("%s: got %d parameters; %s", op, n,
             n < 0 ? "a count must be >= 0" : "an optimizer needs at least one");
    return false;
  }
  if (!params && n > 0) {
    tg_error("%s: params is NULL", op);
    return false;
  }
  for (int i = 0; i < n; i++)
    if (!check_param(o, op, params, i)) return false;
  return true;
}

/* -------------------------------------------------------------- state */

static tg_tensor *state_tensor(const tg_optimizer *o, const optim_group *g, int i, int k) {
  return o->state[g->first_entry + (size_t)(i - g->first) * (1 + (size_t)g->n_bufs) + (size_t)k];
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

/* the state of group g's parameters, in the entries from g->first_entry on;
 * on failure the entries made are freed again */
static int alloc_state(tg_optimizer *o, const optim_group *g, const optim_layout *lay) {
  size_t e = g->first_entry;
  if (o->kind->no_param_state) return 0;
  for (int i = g->first; i < g->first + g->n; i++) {
    const tg_tensor *p = o->params[i];
    snprintf(o->names[e], OPTIM_NAME_LEN, "%d.step", i);
    o->state[e] = persistent_full(TG_FLOAT64, 0, NULL, 0.0);
    if (!o->state[e++]) goto fail;
    for (int k = 0; k < g->n_bufs; k++, e++) {
      snprintf(o->names[e], OPTIM_NAME_LEN, "%d.%s", i, lay->buf_names[k]);
      o->state[e] = lay->buf_scalar[k] ? persistent_full(TG_FLOAT32, 0, NULL, lay->buf_init[k])
                                       : persistent_full(p->dtype, p->ndim, p->shape, lay->buf_init[k]);
      if (!o->state[e]) goto fail;
    }
  }
  return 0;
fail:
  while (e-- > g->first_entry) tg_free(o->state[e]);
  return -1;
}

/* room for one more group of n parameters with per entries each; the counts
 * are not changed, so a failure leaves the optimizer as it was */
static bool grow(tg_optimizer *o, int n, size_t per) {
  size_t n_state = o->n_state + (size_t)n * per;
  tg_tensor **params = realloc(o->params, ((size_t)o->n + (size_t)n + 1) * sizeof *params);
  if (params) o->params = params;
  tg_tensor **state = realloc(o->state, (n_state + 1) * sizeof *state);
  if (state) o->state = state;
  char(*names)[OPTIM_NAME_LEN] = realloc(o->names, (n_state + 1) * sizeof *names);
  if (names) o->names = names;
  optim_group *groups = realloc(o->groups, ((size_t)o->n_groups + 1) * sizeof *groups);
  if (groups) o->groups = groups;
  return params && state && names && groups;
}

static int add_group(tg_optimizer *o, const char *op, tg_tensor **params, int n,
                     const optim_opts *opts) {
  optim_layout lay = {0};
  if (!o->kind->setup(op, opts, &lay) || !check_params(o, op, params, n)) return -1;
  size_t per = o->kind->no_param_state ? 0 : 1 + (size_t)lay.n_bufs;
  if (o->n > INT_MAX - n) {
    tg_error("%s: more than %d parameters", op, INT_MAX);
    return -1;
  }
  if (!grow(o, n, per)) {
    tg_error("%s: out of memory for %d parameters", op, n);
    return -1;
  }
  optim_group *g = &o->groups[o->n_groups];
  *g = (optim_group){.lr = lay.lr, .maximize = lay.maximize, .opts = *opts, .first = o->n,
                     .n = n, .n_bufs = lay.n_bufs, .first_entry = o->n_state};
  if (n > 0) memcpy(o->params + o->n, params, (size_t)n * sizeof *params);
  if (alloc_state(o, g, &lay) != 0) return -1; /* alloc_state left the pool's message */
  o->n += n;
  o->n_state += (size_t)n * per;
  o->n_groups++;
  return 0;
}

tg_optimizer *optim_create(const optim_kind *kind, tg_tensor **params, int n,
                           const optim_opts *opts) {
  tg_optimizer *o = calloc(1, sizeof *o);
  if (!o) {
    tg_error("%s: out of memory", kind->op);
    return NULL;
  }
  o->kind = kind;
  if (add_group(o, kind->op, params, n, opts) != 0) {
    tg_optim_free(o);
    return NULL;
  }
  return o;
}

int optim_add_group(tg_optimizer *opt, const char *opts_type, const char *op,
                    tg_tensor **params, int n, const optim_opts *opts) {
  if (!opt) {
    tg_error("%s: optimizer is NULL", op);
    return -1;
  }
  if (strcmp(opt->kind->opts_type, opts_type) != 0) {
    tg_error("%s: the optimizer is %s, whose groups take %s, not %s", op, opt->kind->name,
             opt->kind->opts_type, opts_type);
    return -1;
  }
  return add_group(opt, op, params, n, opts);
}

int optim_add_state(tg_optimizer *opt, const char *name, tg_tensor *t) {
  if (!t) return -1; /* the allocator left its message */
  tg_tensor **state = realloc(opt->state, (opt->n_state + 1) * sizeof *state);
  if (state) opt->state = state;
  char(*names)[OPTIM_NAME_LEN] = realloc(opt->names, (opt->n_state + 1) * sizeof *names);
  if (names) opt->names = names;
  if (!state || !names) {
    tg_free(t);
    tg_error("%s: out of memory for its state", opt->kind->op);
    return -1;
  }
  snprintf(opt->names[opt->n_state], OPTIM_NAME_LEN, "%s", name);
  opt->state[opt->n_state++] = t;
  return 0;
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

/* -g in place: exact, so a second call restores g bit for bit (NaN payloads
 * and signed zeros included) */
static void negate(tg_tensor *g) {
  if (g->dtype == TG_FLOAT64)
    for (double *x = (double *)tg_ptr(g), *end = x + g->numel; x < end; x++) *x = -*x;
  else
    for (float *x = (float *)tg_ptr(g), *end = x + g->numel; x < end; x++) *x = -*x;
}

/* The step count advances only for parameters that have a gradient, so a
 * parameter that sat out some steps gets its own bias correction, as in
 * PyTorch. */
static void step_param(const tg_optimizer *o, const optim_group *g, int i) {
  tg_tensor *p = o->params[i];
  /* maximize: every torch 1.13 algorithm negates the gradient before
   * anything else, so the update runs on the negated gradient, which is
   * negated back after it (p->grad ends as backward wrote it, and the step
   * allocates nothing) */
  if (g->maximize) negate(p->grad);
  double *count = (double *)tg_ptr(state_tensor(o, g, i, 0));
  *count += 1;
  optim_slot s = {.p = tg_ptr(p), .g = tg_ptr(p->grad), .n = p->numel, .dt = p->dtype,
                  .step = *count};
  for (int k = 0; k < g->n_bufs; k++) s.buf[k] = tg_ptr(state_tensor(o, g, i, 1 + k));
  o->kind->update(g, &s);
  if (g->maximize) negate(p->grad);
  /* in-place writes: a graph that saved the old values must notice */
  p->storage->version++;
  for (int k = 0; k <= g->n_bufs; k++) state_tensor(o, g, i, k)->storage->version++;
}

int tg_optim_step(tg_optimizer *opt) {
  if (!opt) {
    tg_error("optim_step: optimizer is NULL");
    return -1;
  }
  if (!opt->kind->update) {
    tg_error("optim_step: %s needs a closure that re-evaluates the loss; call tg_%s_step",
             opt->kind->name, opt->kind->op);
    return -1;
  }
  for (int i = 0; i < opt->n; i++)
    if (!check_step_param(opt, i)) return -1;
  for (int gi = 0; gi < opt->n_groups; gi++) {
    const optim_group *g = &opt->groups[gi];
    for (int i = g->first; i < g->first + g->n; i++)
      if (opt->params[i]->grad) step_param(opt, g, i);
  }
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

const char *tg_optim_name(const tg_optimizer *opt) {
  if (!opt) tg_error("optim_name: optimizer is NULL");
  return opt ? opt->kind->name : NULL;
}

int tg_optim_num_params(const tg_optimizer *opt) {
  if (!opt) tg_error("optim_num_params: optimizer is NULL");
  return opt ? opt->n : -1;
}

void tg_optim_free(tg_optimizer *opt) {
  if (!opt) return;
  if (opt->ext && opt->kind->free_ext) opt->kind->free_ext(opt->ext);
  for (size_t e = 0; e < opt->n_state; e++) tg_free(opt->state[e]);
  free(opt->state);
  free(opt->names);
  free(opt->params);
  free(opt->groups);
  free(opt);
}

/* ------------------------------------------------- state for checkpoints */

size_t tg_optim_state_count(const tg_optimizer *opt) {
  if (!opt) tg_error("optim_state_count: optimizer is NULL");
  return opt ? opt->n_state : 0;
}

tg_tensor *tg_optim_state_at(const tg_optimizer *opt, size_t i, const char **name) {
  if (!opt) {
    tg_error("optim_state_at: optimizer is NULL");
    return NULL;
  }
  if (i >= opt->n_state) {
    tg_error("optim_state_at: entry %zu out of range for %zu entries", i, opt->n_state);
    return NULL;
  }
  if (name) *name = opt->names[i];
  return opt->state[i];
}

static long find_entry(const tg_optimizer *opt, const char *name) {
  for (size_t e = 0; e < opt->n_state; e++)
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
    tg_error("optim_state_find: %s has no state entry \"%s\"", opt->kind->name, name);
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
