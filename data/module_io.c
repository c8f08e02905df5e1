/* A module's state dict to and from a safetensors checkpoint: the glue every
 * training program needs, in one place. */
#include <stdlib.h>

#include "tg_data.h"
#include "tg_internal.h"
#include "tg_nn.h"

/* the state dict as the parallel name/tensor arrays the file calls take */
typedef struct state_arrays {
  tg_state_dict *sd;
  const char **names;
  tg_tensor **tensors;
  int n;
} state_arrays;

static void arrays_free(state_arrays *a) {
  free(a->names);
  free(a->tensors);
  tg_state_dict_free(a->sd);
}

static int arrays_of(const char *path, const tg_module *m, const char *op, state_arrays *a) {
  *a = (state_arrays){0};
  if (!path) {
    tg_error("%s: path is NULL", op);
    return -1;
  }
  if (!m) {
    tg_error("%s: module is NULL", op);
    return -1;
  }
  if (!(a->sd = tg_module_state_dict(m))) return -1;
  a->names = calloc(a->sd->n + 1, sizeof *a->names);
  a->tensors = calloc(a->sd->n + 1, sizeof *a->tensors);
  if (!a->names || !a->tensors || a->sd->n > (size_t)INT32_MAX) {
    tg_error("%s: out of memory for %zu state entries", op, a->sd->n); /* before sd is freed */
    arrays_free(a);
    return -1;
  }
  for (size_t i = 0; i < a->sd->n; i++) {
    a->names[i] = a->sd->entries[i].name;
    a->tensors[i] = a->sd->entries[i].tensor;
  }
  a->n = (int)a->sd->n;
  return 0;
}

int tg_save_module(const char *path, const tg_module *m, const tg_kv *metadata, int n_meta) {
  state_arrays a;
  if (arrays_of(path, m, "save_module", &a)) return -1;
  int rc = tg_save_safetensors(path, a.n, a.names, a.tensors, metadata, n_meta);
  arrays_free(&a);
  return rc;
}

int tg_load_module(const char *path, tg_module *m) {
  state_arrays a;
  if (arrays_of(path, m, "load_module", &a)) return -1;
  int rc = tg_load_safetensors_into(path, a.n, a.names, a.tensors);
  arrays_free(&a);
  return rc;
}
