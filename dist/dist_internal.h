/* Internal to dist/: the few MPI calls the data-parallel wrapper needs,
 * behind functions so that ddp.c builds without MPI's headers (and without
 * MPI at all, where every one of them fails as tg_dist_init does). */
#ifndef TG_DIST_INTERNAL_H
#define TG_DIST_INTERNAL_H

#include "tg_dist.h"
#include "tg_extension.h"
#include "tg_internal.h"

/* "who: rank R: ..." as the message of tg_last_error(); returns -1 */
int tg_dist_fail(const char *who, const char *fmt, ...) TG_PRINTF(2, 3);
/* -1 with "who: tg_dist_init has not been called" unless initialised */
int tg_dist_need_init(const char *who);

/* Every rank passes its own value; all get the minimum and maximum over
 * the ranks (one small all-reduce): how the ranks agree that a collective
 * may go ahead, so that a bad argument on one rank fails them all. */
int tg_dist_agree(int64_t mine, int64_t *min, int64_t *max, const char *who);
/* rank root's n bytes at buf to every rank */
int tg_dist_bcast_bytes(void *buf, size_t n, int root, const char *who);

/* non-blocking all-reduce (sum) of buckets of contiguous memory */
typedef struct tg_dist_reqs tg_dist_reqs;
tg_dist_reqs *tg_dist_reqs_new(size_t n); /* n requests, all idle; NULL + error */
void tg_dist_reqs_free(tg_dist_reqs *r);
/* start summing count elements of dt at buf in place into request i */
int tg_dist_iallreduce_sum(tg_dist_reqs *r, size_t i, void *buf, size_t count, tg_dtype dt,
                           const char *who);
/* has request i (started) finished? *done; a finished request is idle again */
int tg_dist_test(tg_dist_reqs *r, size_t i, bool *done, const char *who);
/* wait for one started request: its index in *done; -1 on an MPI error
 * (every started request is then waited for or abandoned) */
int tg_dist_wait_any(tg_dist_reqs *r, size_t *done, const char *who);

#endif
