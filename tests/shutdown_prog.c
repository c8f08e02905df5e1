/* A user program for valgrind (scripts/test.sh): tapegrad's workers are
 * started by a product big enough to be split (tg_set_num_threads(2)), a
 * pthread of the program makes and frees tensors and is joined, and main
 * returns without calling tg_release_cached or tg_shutdown: the atexit
 * handler joins the workers and returns main's pool, the thread's pool went
 * back when it exited. Each product is checked against a plain loop, so a
 * clean run is also a correct one. Exit 0, or 1 with a message. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "tapegrad.h"

#define M 256 /* 2*M^3 = 3.4e7 flop: split over the workers */

/* the largest |c - a @ b| against a double loop */
static double product_error(tg_tensor *a, tg_tensor *b, tg_tensor *c) {
  const float *pa = tg_data(a), *pb = tg_data(b), *pc = tg_data(c);
  double worst = 0;
  for (size_t i = 0; i < M; i++)
    for (size_t j = 0; j < M; j++) {
      double s = 0;
      for (size_t p = 0; p < M; p++) s += (double)pa[i * M + p] * pb[p * M + j];
      double e = fabs(s - pc[i * M + j]);
      if (e > worst) worst = e;
    }
  return worst;
}

/* one product in a scope of its own; 0 when it is right */
static int checked_product(uint64_t seed) {
  tg_rng r;
  tg_rng_seed(&r, seed);
  tg_scope_begin();
  tg_tensor *a = tg_randn(&r, TG_FLOAT32, TG_SHAPE(M, M));
  tg_tensor *b = tg_randn(&r, TG_FLOAT32, TG_SHAPE(M, M));
  tg_tensor *c = tg_matmul(a, b);
  int rc = c && product_error(a, b, c) < 1e-3 ? 0 : -1;
  if (rc) fprintf(stderr, "shutdown_prog: product %llu: %s\n", (unsigned long long)seed,
                  c ? "wrong" : tg_last_error());
  tg_scope_end();
  return rc;
}

static void *user_thread(void *arg) {
  int *rc = arg;
  /* a graph and its backward on this thread's own pool, and a split product */
  tg_rng r;
  tg_rng_seed(&r, 7);
  tg_tensor *w = tg_requires_grad_(tg_randn(&r, TG_FLOAT32, TG_SHAPE(64, 32)), true);
  for (int step = 0; step < 3 && w; step++) {
    tg_scope_begin();
    tg_tensor *x = tg_randn(&r, TG_FLOAT32, TG_SHAPE(16, 64));
    tg_tensor *loss = tg_sum(tg_tanh(tg_matmul(x, w)));
    if (!loss || tg_backward(loss, NULL, false)) *rc = -1;
    tg_scope_end();
  }
  if (!w || !w->grad) *rc = -1;
  tg_free(w);
  if (checked_product(2)) *rc = -1;
  return NULL;
}

int main(void) {
  tg_set_num_threads(2);
  if (checked_product(1)) return 1;
  pthread_t th;
  int thread_rc = 0;
  if (pthread_create(&th, NULL, user_thread, &thread_rc) != 0 || pthread_join(th, NULL) != 0) {
    fprintf(stderr, "shutdown_prog: could not run a thread\n");
    return 1;
  }
  if (thread_rc) {
    fprintf(stderr, "shutdown_prog: the thread failed: %s\n", tg_last_error());
    return 1;
  }
  if (checked_product(3)) return 1;
  /* a shutdown in the middle: the next product starts the workers again */
  tg_shutdown();
  if (checked_product(4)) return 1;
  printf("shutdown_prog: ok\n");
  return 0;
}
