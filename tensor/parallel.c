/* A small pool of worker threads for splitting one large kernel (a GEMM)
 * into parts. OpenBLAS's own threading costs a malloc per call and, on the
 * MLP and VAE shapes, wakes its threads too slowly; here the parts are
 * handed over through one generation counter that idle workers spin on for
 * a while before they sleep on a condition variable, so back-to-back
 * products in a training step find them awake.
 *
 * Workers run only the part function: they never touch a tensor, a scope or
 * the per-thread context. One job at a time: a caller that finds the pool
 * busy (another thread, or a part that itself asks for parallelism) runs
 * all parts itself. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "tg_internal.h"

#define MAX_WORKERS 63
#define SPIN_ROUNDS 200000 /* ~0.1-0.5 ms of polling before a worker sleeps */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  atomic_uint gen;     /* bumped once per job */
  atomic_int pending;  /* workers that have not finished the current job */
  atomic_bool busy;
  tg_part_fn fn;
  void *arg;
  int n_parts;
  int n_workers;       /* started so far */
  pthread_t th[MAX_WORKERS];
  unsigned start_gen[MAX_WORKERS];
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static atomic_int requested; /* tg_set_num_threads; 0: not set */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void *worker_main(void *idp) {
  int id = (int)(intptr_t)idp; /* runs part id + 1 */
  unsigned seen = pool.start_gen[id]; /* jobs posted before it existed are not its own */
  for (;;) {
    unsigned g = atomic_load_explicit(&pool.gen, memory_order_acquire);
    for (int spin = 0; g == seen && spin < SPIN_ROUNDS; spin++) {
      cpu_relax();
      g = atomic_load_explicit(&pool.gen, memory_order_acquire);
    }
    if (g == seen) {
      pthread_mutex_lock(&pool.mu);
      while ((g = atomic_load(&pool.gen)) == seen) pthread_cond_wait(&pool.wake, &pool.mu);
      pthread_mutex_unlock(&pool.mu);
    }
    seen = g;
    /* every worker acknowledges every job, so the job fields are not
     * rewritten while one of them may still read them */
    if (id + 1 < pool.n_parts) pool.fn(pool.arg, id + 1, pool.n_parts);
    atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
  }
  return NULL;
}

/* start workers until there are n; false if the system refuses */
static bool ensure_workers(int n) {
  if (n > MAX_WORKERS) n = MAX_WORKERS;
  while (pool.n_workers < n) {
    pool.start_gen[pool.n_workers] = atomic_load(&pool.gen);
    if (pthread_create(&pool.th[pool.n_workers], NULL, worker_main,
                       (void *)(intptr_t)pool.n_workers) != 0)
      return false;
    pthread_detach(pool.th[pool.n_workers]);
    pool.n_workers++;
  }
  return true;
}

void tg_parallel_set_threads(int n) {
  if (n > MAX_WORKERS + 1) n = MAX_WORKERS + 1;
  if (n > 0) atomic_store(&requested, n);
}

int tg_parallel_threads(void) { return atomic_load(&requested); }

void tg_parallel_run(int n_parts, tg_part_fn fn, void *arg) {
  bool was_busy = n_parts <= 1 || atomic_exchange(&pool.busy, true);
  if (!was_busy && !ensure_workers(n_parts - 1)) {
    atomic_store(&pool.busy, false);
    was_busy = true;
  }
  if (was_busy) {
    for (int p = 0; p < n_parts; p++) fn(arg, p, n_parts);
    return;
  }
  pool.fn = fn;
  pool.arg = arg;
  pool.n_parts = n_parts;
  atomic_store(&pool.pending, pool.n_workers);
  /* sleeping workers need the signal; spinning ones see gen change */
  pthread_mutex_lock(&pool.mu);
  atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mu);
  fn(arg, 0, n_parts);
  while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) cpu_relax();
  atomic_store(&pool.busy, false);
}
