/* Between forward_ad.c (dual tensors) and graph.c / hooks.c / ops/. */
#ifndef TG_FWAD_INTERNAL_H
#define TG_FWAD_INTERNAL_H

#include <stdint.h>

#include "tg_extension.h"
#include "tg_internal.h"

/* true while a dual level is open: ops then call tg_record even under
 * no_grad, and tg_record hands the op to forward_ad.c. Initial-exec TLS:
 * every recorded op and scalar backward reads it, and the shared library's
 * default model would make each read a call to __tls_get_addr */
extern _Thread_local bool tg_fwad_on_ TG_TLS_FAST;

/* A tensor's forward-mode state, kept in its hooks.c record (the side
 * table keyed by tensor): its tangent, or a pending one (the op made it,
 * the JVP runs at the next op, unpack or keep, once the op has filled in
 * its node's parameters), or poisoned (an op without a JVP). */
#define TG_FWAD_PENDING 1u
#define TG_FWAD_POISON 2u
typedef struct tg_fwad_state {
  tg_tensor *tangent;
  uint32_t flags;
} tg_fwad_state;
/* t's state; with create, made (zeroed) if absent; NULL when none */
tg_fwad_state *tg_fwad_state_(tg_tensor *t, bool create);
/* every state cleared (level exit) */
void tg_fwad_clear_all_(void);
/* t dies (hooks.c's unhook): forward_ad.c forgets a pending JVP for it */
void tg_fwad_forget_(tg_tensor *t);

/* set by ops/ (autograd/ does not include ops/): a JVP's result as the
 * output's tangent, expanded to out's shape and converted to its dtype */
extern _Thread_local tg_tensor *(*tg_fwad_fit_)(tg_tensor *t, const tg_tensor *out);

/* graph.c's recording of a tape node (tg_record without the forward-mode part) */
tg_node *tg_record_tape_(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in);
/* forward_ad.c's tg_record while a level is open */
tg_node *tg_fwad_record_(tg_tensor *out, const tg_op *op, int n_in, tg_tensor *const *in);
/* run a pending JVP now (before tg_keep moves its tensor) */
void tg_fwad_flush_(void);
/* t's tangent (after flushing), or NULL */
tg_tensor *tg_fwad_tangent_(tg_tensor *t);

#endif
