/* Shared by the files of nn/: the ops machinery (kernels, ops_record) and
 * the helper that makes module state persistent. */
#ifndef TG_NN_INTERNAL_H
#define TG_NN_INTERNAL_H

#include "ops_internal.h"
#include "tg_nn.h"

/* a zero-filled tensor owned by scope 0 (persistent) whatever scope is open */
tg_tensor *nn_persistent_zeros(tg_dtype dt, int ndim, const size_t *shape);

#endif
