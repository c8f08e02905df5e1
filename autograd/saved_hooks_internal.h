/* Between the saved-tensor hooks (saved_hooks.c) and graph.c / engine.c.
 * graph.c calls in only while a hook pair is pushed, engine.c and
 * node_destroy only while some node holds packed values, so a program that
 * never pushes hooks pays one predictable branch per record and per node. */
#ifndef TG_SAVED_HOOKS_INTERNAL_H
#define TG_SAVED_HOOKS_INTERNAL_H

#include <stdint.h>

#include "tg_autograd.h"

/* the innermost pushed hook pair, NULL when none (or while a hook runs) */
extern _Thread_local const void *tg_saved_hooks_top_;
/* nodes holding packed values; 0: engine.c and node_destroy skip the lookup */
extern _Thread_local size_t tg_saved_packed_live_;

/* pack what n's op saves (inputs, output) through the innermost hooks */
void tg_saved_pack_node_(tg_node *n);
/* pack n's saved-slot tensor t (tg_node_save) */
void tg_saved_pack_slot_(tg_node *n, tg_tensor *t);

/* what the engine swaps into a node for its backward and back */
typedef struct tg_saved_swap {
  bool active;
  bool sink;                 /* tg_ctx.grad_sink before the swap */
  tg_tensor *in[TG_NODE_MAX_CHECKED], *out, *slot;
} tg_saved_swap;
/* If n holds packed values: unpack them and put them where its backward
 * reads (n->in[k], n->out, the saved slot), the originals in *sw. 0, or -1
 * with an error (a pack that failed, an unpack returning NULL or a tensor
 * of another shape or dtype). */
int tg_saved_unpack_(tg_node *n, tg_saved_swap *sw);
/* put the originals back (after the backward function) */
void tg_saved_restore_(tg_node *n, const tg_saved_swap *sw);
/* free n's packed values (backward without retain_graph, node destroyed) */
void tg_saved_release_(tg_node *n);

#endif
