/* State dicts: ordered (dotted name -> tensor) pairs, taken from a module
 * tree in PyTorch's order and loaded back into one with every name, shape
 * and dtype checked before the first copy. */
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

tg_state_dict *tg_state_dict_new(void) {
  tg_state_dict *sd = calloc(1, sizeof *sd);
  if (!sd) tg_error("state_dict: out of memory");
  return sd;
}

static tg_state_entry *find(const tg_state_dict *sd, const char *name) {
  for (size_t k = 0; k < sd->n; k++)
    if (strcmp(sd->entries[k].name, name) == 0) return &sd->entries[k];
  return NULL;
}

tg_tensor *tg_state_dict_get(const tg_state_dict *sd, const char *name) {
  if (!sd || !name) {
    tg_error("state_dict_get: %s is NULL", sd ? "name" : "the state dict");
    return NULL;
  }
  tg_state_entry *e = find(sd, name);
  return e ? e->tensor : NULL;
}

static bool check_add(const tg_state_dict *sd, const char *name, const tg_tensor *t, bool take) {
  if (!sd || !name || !name[0]) {
    tg_error("state_dict_add: %s", !sd ? "the state dict is NULL" : !name ? "name is NULL" : "the name is empty");
    return false;
  }
  if (!tg_tensor_check(t, "state_dict_add", 3)) return false;
  if (find(sd, name)) {
    tg_error("state_dict_add: the state dict already has an entry \"%s\"", name);
    return false;
  }
  if (take && t->obj.scope != 0) {
    tg_error("state_dict_add: \"%s\" belongs to scope %d; only a persistent tensor can be "
             "handed over to the state dict", name, t->obj.scope);
    return false;
  }
  return true;
}

int tg_state_dict_add(tg_state_dict *sd, const char *name, tg_tensor *t, bool take_ownership) {
  if (!check_add(sd, name, t, take_ownership)) return -1;
  if (sd->n == sd->cap) {
    size_t cap = sd->cap ? 2 * sd->cap : 8;
    tg_state_entry *e = realloc(sd->entries, cap * sizeof *e);
    if (!e) {
      tg_error("state_dict_add: out of memory");
      return -1;
    }
    sd->entries = e;
    sd->cap = cap;
  }
  size_t len = strlen(name) + 1;
  char *copy = malloc(len);
  if (!copy) {
    tg_error("state_dict_add: out of memory");
    return -1;
  }
  memcpy(copy, name, len);
  sd->entries[sd->n++] = (tg_state_entry){copy, t, take_ownership};
  return 0;
}

void tg_state_dict_free(tg_state_dict *sd) {
  if (!sd) return;
  for (size_t k = 0; k < sd->n; k++) {
    if (sd->entries[k].owned) tg_free(sd->entries[k].tensor);
    free(sd->entries[k].name);
  }
  free(sd->entries);
  free(sd);
}

/* ------------------------------------------------- from a module tree */

/* prefix + name, dotted; NULL (and an error) when out of memory */
static char *join(const char *prefix, const char *name) {
  size_t lp = strlen(prefix), ln = strlen(name);
  char *s = malloc(lp + ln + 2);
  if (!s) {
    tg_error("state_dict: out of memory");
    return NULL;
  }
  memcpy(s, prefix, lp);
  if (lp) s[lp++] = '.';
  memcpy(s + lp, name, ln + 1);
  return s;
}

static int add_list(tg_state_dict *sd, const char *prefix, const tg_named_tensor *list, size_t n) {
  for (size_t k = 0; k < n; k++) {
    char *name = join(prefix, list[k].name);
    int rc = name ? tg_state_dict_add(sd, name, list[k].tensor, false) : -1;
    free(name);
    if (rc != 0) return -1;
  }
  return 0;
}

/* PyTorch's order: own parameters, own buffers, then each child's subtree */
static int collect(tg_state_dict *sd, const tg_module *m, const char *prefix) {
  if (add_list(sd, prefix, m->params, m->n_params) != 0 ||
      add_list(sd, prefix, m->buffers, m->n_buffers) != 0)
    return -1;
  for (size_t k = 0; k < m->n_children; k++) {
    char *p = join(prefix, m->children[k].name);
    int rc = p ? collect(sd, m->children[k].module, p) : -1;
    free(p);
    if (rc != 0) return -1;
  }
  return 0;
}

tg_state_dict *tg_module_state_dict(const tg_module *m) {
  if (!m) {
    tg_error("module_state_dict: module is NULL");
    return NULL;
  }
  tg_state_dict *sd = tg_state_dict_new();
  if (sd && collect(sd, m, "") != 0) {
    tg_state_dict_free(sd);
    return NULL;
  }
  return sd;
}

/* -------------------------------------------------------------- loading */

/* can src be copied into dst, the module's tensor called name? */
static bool compatible(const char *name, const tg_tensor *dst, const tg_tensor *src) {
  char a[96], b[96];
  if (!tg_tensor_check(src, "load_state_dict", 2)) return false;
  if (!tg_same_shape(dst, src)) {
    tg_error("load_state_dict: size mismatch for \"%s\": the state dict has %s, the module has %s",
             name, tg_shape_str(src, a, sizeof a), tg_shape_str(dst, b, sizeof b));
    return false;
  }
  if (dst->dtype != src->dtype) {
    tg_error("load_state_dict: dtype mismatch for \"%s\": the state dict has %s, the module has %s",
             name, tg_dtype_name(src->dtype), tg_dtype_name(dst->dtype));
    return false;
  }
  return true;
}

/* every check of a load, before any copy */
static bool check_load(const tg_state_dict *own, const tg_state_dict *sd, bool strict) {
  for (size_t k = 0; k < own->n; k++) {
    const tg_state_entry *e = &own->entries[k];
    const tg_tensor *src = tg_state_dict_get(sd, e->name);
    if (!src && strict) {
      tg_error("load_state_dict: missing key \"%s\" (the state dict has %zu entries, the module %zu)",
               e->name, sd->n, own->n);
      return false;
    }
    if (src && !compatible(e->name, e->tensor, src)) return false;
  }
  for (size_t k = 0; strict && k < sd->n; k++)
    if (!find(own, sd->entries[k].name)) {
      tg_error("load_state_dict: unexpected key \"%s\": the module has no such parameter or buffer",
               sd->entries[k].name);
      return false;
    }
  return true;
}

int tg_module_load_state_dict(tg_module *m, const tg_state_dict *sd, bool strict) {
  if (!m || !sd) {
    tg_error("load_state_dict: %s is NULL", !m ? "the module" : "the state dict");
    return -1;
  }
  tg_state_dict *own = tg_module_state_dict(m);
  if (!own) return -1;
  int rc = check_load(own, sd, strict) ? 0 : -1;
  for (size_t k = 0; rc == 0 && k < own->n; k++) {
    const tg_tensor *src = tg_state_dict_get(sd, own->entries[k].name);
    tg_tensor *dst = own->entries[k].tensor;
    /* loading a module's own state dict: nothing to copy (and memcpy must not overlap) */
    if (src && tg_ptr(src) != tg_ptr(dst)) rc = tg_copy_(dst, src);
  }
  tg_state_dict_free(own);
  return rc;
}
