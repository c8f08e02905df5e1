/* The module tree: creation, registration of parameters, buffers and
 * children, forward, modes, the parameter array, freezing, dtype
 * conversion, lookup and freeing. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ------------------------------------------------------------- creation */

tg_module *tg_module_new(const char *type, tg_forward_fn forward) {
  tg_module *m = calloc(1, sizeof *m);
  if (!m) {
    tg_error("module_new: out of memory");
    return NULL;
  }
  snprintf(m->type, sizeof m->type, "%s", type ? type : "Module");
  m->forward = forward;
  m->training = true;
  return m;
}

tg_module *tg_module_new_multi(const char *type, tg_forward_multi_fn forward) {
  tg_module *m = tg_module_new(type, NULL);
  if (m) m->forward_multi = forward;
  return m;
}

static bool name_taken(const tg_module *m, const char *name) {
  for (size_t k = 0; k < m->n_params; k++)
    if (strcmp(m->params[k].name, name) == 0) return true;
  for (size_t k = 0; k < m->n_buffers; k++)
    if (strcmp(m->buffers[k].name, name) == 0) return true;
  for (size_t k = 0; k < m->n_children; k++)
    if (strcmp(m->children[k].name, name) == 0) return true;
  return false;
}

/* a name must be usable as one component of a dotted state-dict key */
static bool check_name(const char *op, const tg_module *m, const char *name) {
  if (!m) {
    tg_error("%s: module is NULL", op);
    return false;
  }
  if (!name) {
    tg_error("%s: name is NULL", op);
    return false;
  }
  if (!name[0] || strchr(name, '.') || strlen(name) >= TG_NN_NAME_MAX) {
    tg_error("%s: name \"%s\" must be non-empty, contain no '.', and be shorter than %d characters",
             op, name, TG_NN_NAME_MAX);
    return false;
  }
  if (name_taken(m, name)) {
    tg_error("%s: %s already has a member named \"%s\"", op, m->type, name);
    return false;
  }
  return true;
}

/* arr (n elements of size es) reallocated to hold one more, or NULL */
static void *grow(void *arr, size_t n, size_t es) {
  void *p = realloc(arr, (n + 1) * es);
  if (!p) tg_error("module: out of memory");
  return p;
}

/* a zero-filled tensor in scope 0, whatever scope is open: module state
 * outlives every scope and is freed by tg_module_free */
tg_tensor *nn_persistent_zeros(tg_dtype dt, int ndim, const size_t *shape) {
  tg_tensor *t = tg_tensor_alloc_in(0, dt, ndim, shape);
  if (t) memset(t->storage->data, 0, t->storage->nbytes);
  return t;
}

/* append a persistent zero tensor to a list whose name was checked */
static tg_tensor *add_tensor(tg_named_tensor **list, size_t *n, const char *name, tg_dtype dt,
                             int ndim, const size_t *shape) {
  tg_named_tensor *bigger = grow(*list, *n, sizeof **list);
  if (!bigger) return NULL;
  *list = bigger;
  tg_tensor *t = nn_persistent_zeros(dt, ndim, shape);
  if (!t) return NULL;
  tg_set_name(t, name);
  snprintf((*list)[*n].name, TG_NN_NAME_MAX, "%s", name);
  (*list)[*n].tensor = t;
  (*n)++;
  return t;
}

tg_tensor *tg_module_add_parameter(tg_module *m, const char *name, tg_dtype dt, int ndim,
                                   const size_t *shape) {
  if (!tg_dtype_is_float(dt)) {
    tg_error("module_add_parameter: parameter \"%s\" must be float32 or float64, not %s",
             name ? name : "(null)", tg_dtype_name(dt));
    return NULL;
  }
  if (!check_name("module_add_parameter", m, name) || !tg_shape_given("module_add_parameter", ndim, shape))
    return NULL;
  tg_tensor *t = add_tensor(&m->params, &m->n_params, name, dt, ndim, shape);
  return t ? tg_requires_grad_(t, true) : NULL;
}

tg_tensor *tg_module_add_buffer(tg_module *m, const char *name, tg_dtype dt, int ndim,
                                const size_t *shape) {
  if (!check_name("module_add_buffer", m, name) || !tg_shape_given("module_add_buffer", ndim, shape))
    return NULL;
  return add_tensor(&m->buffers, &m->n_buffers, name, dt, ndim, shape);
}

int tg_module_add_child(tg_module *m, const char *name, tg_module *child) {
  if (!child) {
    if (!tg_has_error()) tg_error("module_add_child: child \"%s\" is NULL", name ? name : "(null)");
    return -1;
  }
  if (child == m) {
    tg_error("module_add_child: a module cannot be its own child");
    return -1;
  }
  /* already owned here: freeing it (the failure rule) would free a live child */
  for (size_t k = 0; m && k < m->n_children; k++)
    if (m->children[k].module == child) {
      tg_error("module_add_child: this %s is already the child \"%s\" of the %s", child->type,
               m->children[k].name, m->type);
      return -1;
    }
  tg_named_module *bigger = NULL;
  if (check_name("module_add_child", m, name))
    bigger = grow(m->children, m->n_children, sizeof *m->children);
  if (!bigger) {
    tg_module_free(child);
    return -1;
  }
  m->children = bigger;
  snprintf(m->children[m->n_children].name, TG_NN_NAME_MAX, "%s", name);
  m->children[m->n_children++].module = child;
  return 0;
}

/* ------------------------------------------------------------- freeing */

void tg_module_free(tg_module *m) {
  if (!m) return;
  for (size_t k = 0; k < m->n_children; k++) tg_module_free(m->children[k].module);
  for (size_t k = 0; k < m->n_params; k++) tg_free(m->params[k].tensor);
  for (size_t k = 0; k < m->n_buffers; k++) tg_free(m->buffers[k].tensor);
  if (m->ctx_free) m->ctx_free(m->ctx);
  if (m->hooks) nn_module_hooks_free(m); /* MODULE HOOKS */
  free(m->children);
  free(m->params);
  free(m->buffers);
  free(m->param_list);
  free(m);
}

/* ------------------------------------------------------------- forward */

/* the most outputs tg_module_forward takes from a multi module (it keeps the first) */
#define MODULE_MAX_OUTPUTS 8

tg_tensor *tg_module_forward(tg_module *m, tg_tensor *x) {
  if (!m) {
    tg_error("module_forward: module is NULL");
    return NULL;
  }
  if (!m->forward && !m->forward_multi) {
    tg_error("module_forward: Module [%s] is missing the required \"forward\" function", m->type);
    return NULL;
  }
  if (!tg_tensor_check(x, m->type, 1)) return NULL;
  if (__builtin_expect(m->hooks != NULL, 0)) return nn_module_forward_hooked(m, x); /* MODULE HOOKS */
  if (m->forward) return m->forward(m, x);
  tg_tensor *out[MODULE_MAX_OUTPUTS] = {0};
  return m->forward_multi(m, &x, 1, out, MODULE_MAX_OUTPUTS) >= 1 ? out[0] : NULL;
}

int tg_module_forward_multi(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out) {
  if (!m || !in || !out) {
    tg_error("module_forward_multi: %s is NULL", !m ? "module" : !in ? "in" : "out");
    return -1;
  }
  if (n_in < 0 || max_out < 1) {
    tg_error("module_forward_multi: %s: n_in %d and max_out %d must be >= 0 and >= 1", m->type, n_in,
             max_out);
    return -1;
  }
  if (m->forward_multi) return m->forward_multi(m, in, n_in, out, max_out);
  if (!m->forward) {
    tg_error("module_forward_multi: Module [%s] is missing the required \"forward\" function", m->type);
    return -1;
  }
  if (n_in != 1) {
    tg_error("module_forward_multi: %s takes one input, got %d", m->type, n_in);
    return -1;
  }
  out[0] = tg_module_forward(m, in[0]);
  return out[0] ? 1 : -1;
}

/* ------------------------------------------------------ modes and walks */

void tg_module_train(tg_module *m, bool on) {
  if (!m) {
    tg_error("module_train: module is NULL");
    return;
  }
  m->training = on;
  for (size_t k = 0; k < m->n_children; k++) tg_module_train(m->children[k].module, on);
}

void tg_module_eval(tg_module *m) {
  if (!m) tg_error("module_eval: module is NULL");
  else tg_module_train(m, false);
}

static size_t count_params(const tg_module *m) {
  size_t n = m->n_params;
  for (size_t k = 0; k < m->n_children; k++) n += count_params(m->children[k].module);
  return n;
}

static void list_params(const tg_module *m, tg_tensor **out, size_t *at) {
  for (size_t k = 0; k < m->n_params; k++) out[(*at)++] = m->params[k].tensor;
  for (size_t k = 0; k < m->n_children; k++) list_params(m->children[k].module, out, at);
}

tg_tensor **tg_module_parameters(tg_module *m, size_t *n) {
  if (n) *n = 0;
  if (!m) {
    tg_error("module_parameters: module is NULL");
    return NULL;
  }
  size_t total = count_params(m);
  /* one slot at least, so success is never NULL */
  if (total + 1 > m->param_cap) {
    tg_tensor **p = realloc(m->param_list, (total + 1) * sizeof *p);
    if (!p) {
      tg_error("module_parameters: out of memory");
      return NULL;
    }
    m->param_list = p;
    m->param_cap = total + 1;
  }
  size_t at = 0;
  list_params(m, m->param_list, &at);
  m->param_list[at] = NULL;
  if (n) *n = at;
  return m->param_list;
}

size_t tg_module_num_parameters(const tg_module *m, bool trainable_only) {
  if (!m) {
    tg_error("module_num_parameters: module is NULL");
    return 0;
  }
  size_t total = 0;
  for (size_t k = 0; k < m->n_params; k++) {
    const tg_tensor *t = m->params[k].tensor;
    if (!trainable_only || t->requires_grad) total += t->numel;
  }
  for (size_t k = 0; k < m->n_children; k++)
    total += tg_module_num_parameters(m->children[k].module, trainable_only);
  return total;
}

int tg_module_zero_grad(tg_module *m) {
  if (!m) {
    tg_error("module_zero_grad: module is NULL");
    return -1;
  }
  int rc = 0;
  for (size_t k = 0; k < m->n_params; k++)
    if (m->params[k].tensor->grad && tg_zero_grad(m->params[k].tensor) != 0) rc = -1;
  for (size_t k = 0; k < m->n_children; k++)
    if (tg_module_zero_grad(m->children[k].module) != 0) rc = -1;
  return rc;
}

static int set_requires_grad(tg_module *m, bool on, const char *op) {
  if (!m) {
    tg_error("%s: module is NULL", op);
    return -1;
  }
  for (size_t k = 0; k < m->n_params; k++)
    if (!tg_requires_grad_(m->params[k].tensor, on)) return -1;
  for (size_t k = 0; k < m->n_children; k++)
    if (set_requires_grad(m->children[k].module, on, op) != 0) return -1;
  return 0;
}

int tg_module_freeze(tg_module *m) { return set_requires_grad(m, false, "module_freeze"); }
int tg_module_unfreeze(tg_module *m) { return set_requires_grad(m, true, "module_unfreeze"); }

/* --------------------------------------------------------- dtype change */

/* replace e's tensor by a persistent copy in dt; the old one (and its grad) goes */
static int convert_entry(tg_named_tensor *e, tg_dtype dt) {
  tg_tensor *old = e->tensor;
  if (!tg_dtype_is_float(old->dtype) || old->dtype == dt) return 0;
  tg_tensor *t = tg_tensor_alloc_in(0, dt, old->ndim, old->shape);
  if (!t || tg_copy_(t, old) != 0) {
    if (t) tg_free(t);
    return -1;
  }
  tg_set_name(t, e->name);
  if (old->requires_grad) tg_requires_grad_(t, true);
  tg_free(old);
  e->tensor = t;
  return 0;
}

int tg_module_to_(tg_module *m, tg_dtype dt) {
  if (!m) {
    tg_error("module_to: module is NULL");
    return -1;
  }
  if (dt != TG_FLOAT32 && dt != TG_FLOAT64) {
    tg_error("module_to: modules hold float32 or float64 tensors, not %s", tg_dtype_name(dt));
    return -1;
  }
  for (size_t k = 0; k < m->n_params; k++)
    if (convert_entry(&m->params[k], dt) != 0) return -1;
  for (size_t k = 0; k < m->n_buffers; k++)
    if (convert_entry(&m->buffers[k], dt) != 0) return -1;
  for (size_t k = 0; k < m->n_children; k++)
    if (tg_module_to_(m->children[k].module, dt) != 0) return -1;
  return 0;
}

/* --------------------------------------------------------------- lookup */

/* the child named by the first len characters of path, or NULL */
static tg_module *child_named(const tg_module *m, const char *path, size_t len) {
  for (size_t k = 0; k < m->n_children; k++)
    if (strlen(m->children[k].name) == len && strncmp(m->children[k].name, path, len) == 0)
      return m->children[k].module;
  return NULL;
}

tg_tensor *tg_module_get(const tg_module *m, const char *name) {
  if (!m || !name) {
    tg_error("module_get: %s is NULL", m ? "name" : "module");
    return NULL;
  }
  const char *dot = strchr(name, '.');
  if (dot) {
    const tg_module *c = child_named(m, name, (size_t)(dot - name));
    return c ? tg_module_get(c, dot + 1) : NULL;
  }
  for (size_t k = 0; k < m->n_params; k++)
    if (strcmp(m->params[k].name, name) == 0) return m->params[k].tensor;
  for (size_t k = 0; k < m->n_buffers; k++)
    if (strcmp(m->buffers[k].name, name) == 0) return m->buffers[k].tensor;
  return NULL;
}

tg_module *tg_module_child(const tg_module *m, const char *path) {
  if (!m || !path) {
    tg_error("module_child: %s is NULL", m ? "path" : "module");
    return NULL;
  }
  const char *dot = strchr(path, '.');
  size_t len = dot ? (size_t)(dot - path) : strlen(path);
  tg_module *c = child_named(m, path, len);
  return c && dot ? tg_module_child(c, dot + 1) : c;
}

/* ----------------------------------------------------------- Sequential */

static tg_tensor *sequential_forward(tg_module *m, tg_tensor *x) {
  for (size_t k = 0; k < m->n_children && x; k++) x = tg_module_forward(m->children[k].module, x);
  return x;
}

int tg_nn_sequential_append(tg_module *seq, tg_module *child) {
  if (!seq || !child) {
    /* a NULL child is a failed constructor: its message is kept */
    if (!seq || !tg_has_error()) tg_error("sequential_append: %s is NULL", seq ? "child" : "seq");
    tg_module_free(child); /* ownership was taken */
    return -1;
  }
  char name[24];
  snprintf(name, sizeof name, "%zu", seq ? seq->n_children : (size_t)0);
  return tg_module_add_child(seq, name, child);
}

tg_module *tg_nn_sequential_array(size_t n, tg_module **children) {
  bool any_null = n > 0 && !children;
  for (size_t k = 0; k < n && !any_null; k++) any_null = !children[k];
  tg_module *seq = any_null ? NULL : tg_module_new("Sequential", sequential_forward);
  if (!seq) {
    /* a NULL child is a failed constructor: its message is kept */
    if (any_null && !tg_has_error()) tg_error("sequential: a child module is NULL");
    for (size_t k = 0; children && k < n; k++) tg_module_free(children[k]);
    return NULL;
  }
  size_t k = 0;
  while (k < n && tg_nn_sequential_append(seq, children[k]) == 0) k++;
  if (k < n) {
    /* append freed children[k]; the rest are still ours to free */
    for (size_t j = k + 1; j < n; j++) tg_module_free(children[j]);
    tg_module_free(seq);
    return NULL;
  }
  return seq;
}

tg_module *tg_nn_sequential(size_t n, ...) {
  tg_module **children = calloc(n ? n : 1, sizeof *children);
  va_list ap;
  va_start(ap, n);
  for (size_t k = 0; k < n; k++) {
    tg_module *c = va_arg(ap, tg_module *);
    if (children) children[k] = c;
    else tg_module_free(c);
  }
  va_end(ap);
  if (!children) {
    tg_error("sequential: out of memory");
    return NULL;
  }
  tg_module *seq = tg_nn_sequential_array(n, children);
  free(children);
  return seq;
}
