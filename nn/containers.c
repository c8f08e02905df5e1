/* ModuleList and ModuleDict as torch.nn's: modules that only hold children
 * (named "0", "1", ... or by key, so state-dict names are "layers.0.weight"
 * and "heads.q.weight") and have no forward. Children live in the module's
 * children array like any other; these functions keep the list's names
 * numbered and the dict's keys unique. */
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ------------------------------------------------------------ shared */

/* m is a container of the given type; else an error naming op */
static bool is_container(const char *op, const tg_module *m, const char *type) {
  if (!m) {
    tg_error("%s: %s is NULL", op, strcmp(type, "ModuleList") == 0 ? "list" : "dict");
    return false;
  }
  if (strcmp(m->type, type) != 0) {
    tg_error("%s: expected a %s, got a %s", op, type, m->type);
    return false;
  }
  return true;
}

static void free_all(size_t n, tg_module **children) {
  for (size_t k = 0; children && k < n; k++) tg_module_free(children[k]);
}

/* children[0..n) all non-NULL; else they are freed and an error set (a
 * constructor's message, when one failed, is kept) */
static bool all_given(const char *op, size_t n, tg_module **children) {
  bool ok = n == 0 || children != NULL;
  for (size_t k = 0; ok && k < n; k++) ok = children[k] != NULL;
  if (!ok) {
    if (!tg_has_error()) tg_error("%s: %s", op, children ? "a child module is NULL" : "children is NULL");
    free_all(n, children);
  }
  return ok;
}

/* ------------------------------------------------------------ ModuleList */

int tg_nn_module_list_append(tg_module *list, tg_module *child) {
  if (!is_container("module_list_append", list, "ModuleList") || !child) {
    if (list && !child && !tg_has_error()) tg_error("module_list_append: child is NULL");
    tg_module_free(child); /* ownership was taken */
    return -1;
  }
  char name[24];
  snprintf(name, sizeof name, "%zu", list->n_children);
  return tg_module_add_child(list, name, child);
}

int tg_nn_module_list_extend(tg_module *list, size_t n, tg_module **children) {
  if (!is_container("module_list_extend", list, "ModuleList")) {
    free_all(n, children);
    return -1;
  }
  if (!all_given("module_list_extend", n, children)) return -1;
  size_t before = list->n_children, k = 0;
  while (k < n && tg_nn_module_list_append(list, children[k]) == 0) k++;
  if (k == n) return 0;
  /* append freed children[k]; undo the ones added so the list is as it was */
  free_all(n - k - 1, children + k + 1);
  for (size_t j = before; j < list->n_children; j++) tg_module_free(list->children[j].module);
  list->n_children = before;
  return -1;
}

tg_module *tg_nn_module_list(size_t n, tg_module **children) {
  if (!all_given("module_list", n, children)) return NULL;
  tg_module *list = tg_module_new("ModuleList", NULL);
  if (!list) {
    free_all(n, children);
    return NULL;
  }
  if (tg_nn_module_list_extend(list, n, children) != 0) {
    tg_module_free(list);
    return NULL;
  }
  return list;
}

/* index in [-len, len + extra) mapped to [0, len + extra), or -1 with an error */
static int64_t list_index(const char *op, const tg_module *list, int64_t index, size_t extra) {
  int64_t len = (int64_t)list->n_children;
  int64_t i = index < 0 ? index + len : index;
  if (i < 0 || i >= len + (int64_t)extra) {
    tg_error("%s: index %lld is out of range (ModuleList of %lld)", op, (long long)index, (long long)len);
    return -1;
  }
  return i;
}

int tg_nn_module_list_insert(tg_module *list, int64_t index, tg_module *child) {
  int64_t at = -1;
  if (is_container("module_list_insert", list, "ModuleList"))
    at = list_index("module_list_insert", list, index, 1);
  if (at < 0 || !child) {
    if (at >= 0 && !tg_has_error()) tg_error("module_list_insert: child is NULL");
    tg_module_free(child);
    return -1;
  }
  if (tg_nn_module_list_append(list, child) != 0) return -1;
  /* move the new last child to `at` and renumber the ones it passed */
  tg_named_module *c = list->children;
  tg_module *moved = c[list->n_children - 1].module;
  for (size_t k = list->n_children - 1; k > (size_t)at; k--) c[k].module = c[k - 1].module;
  c[at].module = moved;
  return 0;
}

tg_module *tg_nn_module_list_get(const tg_module *list, int64_t index) {
  if (!is_container("module_list_get", list, "ModuleList")) return NULL;
  int64_t i = list_index("module_list_get", list, index, 0);
  return i < 0 ? NULL : list->children[i].module;
}

size_t tg_nn_module_list_len(const tg_module *list) {
  return is_container("module_list_len", list, "ModuleList") ? list->n_children : 0;
}

/* ------------------------------------------------------------ ModuleDict */

static tg_named_module *dict_find(const tg_module *dict, const char *key) {
  for (size_t k = 0; k < dict->n_children; k++)
    if (strcmp(dict->children[k].name, key) == 0) return &dict->children[k];
  return NULL;
}

/* set (replace allowed) or insert (a present key is an error) */
static int dict_put(const char *op, tg_module *dict, const char *key, tg_module *child, bool replace) {
  bool ok = is_container(op, dict, "ModuleDict");
  if (ok && !key) {
    tg_error("%s: key is NULL", op);
    ok = false;
  }
  if (ok && !child) {
    if (!tg_has_error()) tg_error("%s: child \"%s\" is NULL", op, key);
    ok = false;
  }
  tg_named_module *slot = ok ? dict_find(dict, key) : NULL;
  if (slot && !replace) {
    tg_error("%s: ModuleDict already has a key \"%s\"", op, key);
    ok = false;
  }
  if (!ok || (slot && child == slot->module)) {
    if (child && (!slot || child != slot->module)) tg_module_free(child);
    return ok ? 0 : -1;
  }
  if (slot) {
    for (size_t k = 0; k < dict->n_children; k++)
      if (dict->children[k].module == child) { /* owned under another key: not freed */
        tg_error("%s: this %s is already the ModuleDict's \"%s\"", op, child->type, dict->children[k].name);
        return -1;
      }
    tg_module_free(slot->module);
    slot->module = child;
    return 0;
  }
  /* add_child checks the key as a name and frees child on failure */
  return tg_module_add_child(dict, key, child);
}

int tg_nn_module_dict_set(tg_module *dict, const char *key, tg_module *child) {
  return dict_put("module_dict_set", dict, key, child, true);
}

int tg_nn_module_dict_insert(tg_module *dict, const char *key, tg_module *child) {
  return dict_put("module_dict_insert", dict, key, child, false);
}

tg_module *tg_nn_module_dict(size_t n, const char *const *keys, tg_module **children) {
  if (!all_given("module_dict", n, children)) return NULL;
  if (n > 0 && !keys) {
    tg_error("module_dict: keys is NULL");
    free_all(n, children);
    return NULL;
  }
  tg_module *dict = tg_module_new("ModuleDict", NULL);
  size_t k = 0;
  while (dict && k < n && tg_nn_module_dict_insert(dict, keys[k], children[k]) == 0) k++;
  if (k < n) {
    /* insert freed children[k] (or the dict was never made: free it too) */
    free_all(n - k - (dict ? 1 : 0), children + k + (dict ? 1 : 0));
    tg_module_free(dict);
    return NULL;
  }
  return dict;
}

tg_module *tg_nn_module_dict_get(const tg_module *dict, const char *key) {
  if (!is_container("module_dict_get", dict, "ModuleDict")) return NULL;
  if (!key) {
    tg_error("module_dict_get: key is NULL");
    return NULL;
  }
  tg_named_module *slot = dict_find(dict, key);
  if (!slot) tg_error("module_dict_get: no key \"%s\" in the ModuleDict", key);
  return slot ? slot->module : NULL;
}

size_t tg_nn_module_dict_len(const tg_module *dict) {
  return is_container("module_dict_len", dict, "ModuleDict") ? dict->n_children : 0;
}

const char *tg_nn_module_dict_key(const tg_module *dict, size_t i) {
  if (!is_container("module_dict_key", dict, "ModuleDict")) return NULL;
  if (i >= dict->n_children) {
    tg_error("module_dict_key: index %zu is out of range (ModuleDict of %zu)", i, dict->n_children);
    return NULL;
  }
  return dict->children[i].name;
}
