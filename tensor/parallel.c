/* A small pool of worker threads for splitting one large kernel (a GEMM)
 * into parts. OpenBLAS's own threading costs a malloc per call and, on the
 * MLP and VAE shapes, wakes its threads too slowly; here a job is announced
 * through one generation counter that idle workers spin on for a while
 * before they sleep on a condition variable, so back-to-back products in a
 * training step find them awake.
 *
 * Parts are claimed, not assigned: the caller and the workers take the next
 * unclaimed part from one atomic word until none is left, so a worker that
 * has no core (another process is running) costs nothing — the caller does
 * its parts — and more threads are never slower than one. The word holds
 * the job's number, its part count and the next part, so a late worker can
 * never claim a part of a job that has finished or not yet begun.
 *
 * Workers run only the part function: they never touch a tensor, a scope or
 * the per-thread context. One job at a time: a caller that finds the pool
 * busy (another thread, or a part that itself asks for parallelism) runs
 * all parts itself.
 *
 * The workers are joinable: tg_shutdown (registered with atexit when the
 * first one starts) stops and joins them, so a program that exits leaves no
 * thread stack behind for valgrind to call "possibly lost"; the next job
 * after it starts them again. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tg_internal.h"

#define MAX_WORKERS 63
#define SPIN_ROUNDS 200000 /* rounds of polling before a worker sleeps (their time: bench/RESULTS.md) */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  atomic_uint gen;           /* bumped once per job: wakes the workers */
  _Atomic uint64_t claim;    /* job << 32 | n_parts << 16 | next part */
  atomic_int done;           /* parts of the current job finished */
  atomic_bool busy;
  atomic_bool quit;          /* set by tg_parallel_shutdown: workers return */
  tg_part_fn fn;
  void *arg;
  int n_workers;             /* started so far */
  pthread_t th[MAX_WORKERS];
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static atomic_int requested; /* tg_set_num_threads; 0: not set */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* run unclaimed parts of the job in the claim word until none is left */
static void run_claimed(void) {
  uint64_t v = atomic_load_explicit(&pool.claim, memory_order_acquire);
  for (;;) {
    unsigned n = (unsigned)(v >> 16) & 0xffff, next = (unsigned)v & 0xffff;
    if (next >= n) return;
    if (!atomic_compare_exchange_weak_explicit(&pool.claim, &v, v + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    /* the job cannot finish while this part is unfinished: fn and arg are its own */
    pool.fn(pool.arg, (int)next, (int)n);
    atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    v = atomic_load_explicit(&pool.claim, memory_order_acquire);
  }
}

/* arg: the generation when the worker was made. Read here instead, it could
 * already include a later bump (the worker's thread may first run after a
 * job or a shutdown was announced), and that announcement would be missed. */
static void *worker_main(void *arg) {
  unsigned seen = (unsigned)(uintptr_t)arg;
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
    if (atomic_load_explicit(&pool.quit, memory_order_acquire)) return NULL;
    run_claimed();
  }
  return NULL;
}

/* start workers until there are n (the caller holds busy); false if the
 * system refuses */
static bool ensure_workers(int n) {
  static bool at_exit_registered;
  if (n > MAX_WORKERS) n = MAX_WORKERS;
  if (pool.n_workers < n && !at_exit_registered)
    at_exit_registered = atexit(tg_shutdown) == 0;
  while (pool.n_workers < n) {
    void *gen = (void *)(uintptr_t)atomic_load(&pool.gen);
    if (pthread_create(&pool.th[pool.n_workers], NULL, worker_main, gen) != 0)
      return false;
    pool.n_workers++;
  }
  return true;
}

/* Stop and join every worker. It waits for a job under way (the pool is
 * taken as a job would take it), so no worker is inside a part. */
void tg_parallel_shutdown(void) {
  while (atomic_exchange(&pool.busy, true)) sched_yield();
  if (pool.n_workers > 0) {
    atomic_store_explicit(&pool.quit, true, memory_order_release);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.n_workers; i++) pthread_join(pool.th[i], NULL);
    pool.n_workers = 0;
    atomic_store(&pool.quit, false);
  }
  atomic_store(&pool.busy, false);
}

void tg_shutdown(void) {
  tg_parallel_shutdown();
  tg_release_cached();
}

void tg_parallel_set_threads(int n) {
  if (n > MAX_WORKERS + 1) n = MAX_WORKERS + 1;
  if (n > 0) atomic_store(&requested, n);
}

int tg_parallel_threads(void) { return atomic_load(&requested); }

void tg_parallel_run(int n_parts, tg_part_fn fn, void *arg) {
  if (n_parts > 0xffff) n_parts = 0xffff;
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
  atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
  uint64_t job = (atomic_load_explicit(&pool.claim, memory_order_relaxed) >> 32) + 1;
  atomic_store_explicit(&pool.claim, job << 32 | (uint64_t)n_parts << 16, memory_order_release);
  /* sleeping workers need the signal; spinning ones see gen change */
  pthread_mutex_lock(&pool.mu);
  atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mu);
  run_claimed();
  /* only parts a running worker has claimed are left to wait for */
  while (atomic_load_explicit(&pool.done, memory_order_acquire) < n_parts) cpu_relax();
  atomic_store(&pool.busy, false);
}
