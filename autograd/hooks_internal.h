/* Between the backward engine (engine.c) and the tensor hooks (hooks.c).
 * The engine calls these only for tensors whose `hooks` field is set, so a
 * backward without hooks pays one branch per edge. */
#ifndef TG_HOOKS_INTERNAL_H
#define TG_HOOKS_INTERNAL_H

#include <stdint.h>

#include "tg_tensor.h"

#include "tg_extension.h"

/* tg_register_hook for a hook that owns ctx: release(ctx) runs when the
 * hook goes (removed, or with its tensor), and at once if registering
 * fails. For nn's module hooks. */
tg_hook_handle tg_register_hook_owned_(tg_tensor *t, tg_hook_fn fn, void *ctx, void (*release)(void *ctx));

/* Run t's gradient hooks on *g in registration order (each sees the
 * previous one's result); 0, or -1 with an error. */
int tg_hooks_pre_(tg_tensor *t, tg_tensor **g);
/* Hold a contribution g for the hooked leaf t (summed to t's shape and
 * added to what the walk already holds for it); *list is the walk's list
 * of such leaves (0: empty). 0 or -1. */
int tg_hooks_defer_(uint32_t *list, tg_tensor *t, tg_tensor *g);
/* Pop the next leaf of the walk's list with its total gradient passed
 * through its hooks in *g; NULL when the list is empty, or when a hook
 * failed (*rc = -1). */
tg_tensor *tg_hooks_next_(uint32_t *list, tg_tensor **g, int *rc);
/* The post-accumulate-grad hooks of the leaf t; 0 or -1. */
int tg_hooks_post_(tg_tensor *t);
/* Forget what the walk holds (after an error). */
void tg_hooks_drop_(uint32_t *list);

#endif
