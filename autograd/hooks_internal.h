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
/* true while any hook is registered (the engine counts hooked leaves only then) */
bool tg_hooks_any_(void);
/* The walk's pre-pass: one consumer input of the hooked leaf t will run;
 * t joins *list, the walk's list of hooked leaves (0: empty). */
void tg_hooks_count_(uint32_t *list, tg_tensor *t);
/* May an op write t's gradient straight into t->grad (the engine's sink)?
 * Yes for a leaf with only post-accumulate hooks (it is noted as having
 * gradient), no for one with gradient hooks. */
bool tg_hooks_sink_(tg_tensor *t);
/* A contribution g for the hooked leaf t: 1 held (gradient hooks: summed
 * to t's shape and added to what the walk holds), 0 the engine
 * accumulates it as for an unhooked leaf, -1 an error. */
int tg_hooks_route_(uint32_t *list, tg_tensor *t, tg_tensor *g);
/* One counted consumer input of t has run; true when it was the last and
 * t has gradient to deliver now. */
bool tg_hooks_consumed_(tg_tensor *t);
/* t is delivered: *g = the held total through its gradient hooks (NULL:
 * nothing held, .grad has it already); 0, or -1 when a hook failed. */
int tg_hooks_take_(tg_tensor *t, tg_tensor **g);
/* Pop the walk's list up to the next live leaf with gradient not yet
 * delivered (the end of the walk); NULL when the list is empty. */
tg_tensor *tg_hooks_next_(uint32_t *list);
/* The post-accumulate-grad hooks of the leaf t; 0 or -1. */
int tg_hooks_post_(tg_tensor *t);
/* Forget what the walk holds (after an error). */
void tg_hooks_drop_(uint32_t *list);

#endif
