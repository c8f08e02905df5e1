/* tapegrad: reverse-mode automatic differentiation for C.
 * The one header to include. Layers, bottom to top:
 *   tensor/   storage, views, creation, RNG, printing, scopes, errors
 *   autograd/ the tape, backward, grad, jacobian, gradcheck, graph export
 *   ops/      every differentiable op, forward and backward side by side
 *   nn/       modules, layers, losses, init      optim/ optimizers, clipping, schedules
 *   data/     datasets, loaders, readers, checkpoints, images
 *   dist/     data-parallel training over MPI (beside data/; without MPI
 *             tg_dist_available() is false) */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tg_tensor.h"
#include "tg_autograd.h"
#include "tg_extension.h" /* the node layout, for graph inspection and new ops */
#include "tg_ops.h"
#include "tg_nn.h"
#include "tg_nn_fused.h"
#include "tg_optim.h"
#include "tg_data.h"
#include "tg_dist.h"

#define TAPEGRAD_VERSION "0.1.0"

#endif
