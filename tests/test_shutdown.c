/* tg_shutdown and threads that clean up (issue 14): the workers a split
 * product starts are joined by tg_shutdown, which is idempotent and after
 * which the next product starts them again with the same result; a user
 * thread's pool goes back to the system when the thread exits; the calling
 * thread's cached blocks go back at tg_shutdown; a program that exits
 * without calling anything (tests/shutdown_prog.c, also run under valgrind
 * by scripts/test.sh) exits cleanly. Threads are counted in /proc/self/task,
 * memory by the allocator's own count (ASan's, or glibc's mallinfo2). */
#define _GNU_SOURCE
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tg_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
size_t __sanitizer_get_current_allocated_bytes(void); /* ASan's runtime; gcc ships no header */
static size_t allocated_bytes(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
static size_t allocated_bytes(void) { return mallinfo2().uordblks; }
#endif

static int count_tasks(void) {
  DIR *d = opendir("/proc/self/task");
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* a joined thread can linger in /proc for a moment: wait up to 2 s for want */
static int tasks_settle(int want) {
  int n = count_tasks();
  for (int i = 0; i < 200 && n != want; i++) {
    nanosleep(&(struct timespec){0, 10000000}, NULL);
    n = count_tasks();
  }
  return n;
}

#define M 256 /* 2*M^3 = 3.4e7 flop: split over the workers */

/* a @ b for fixed operands, written into out (M*M floats) */
static void split_product(float *out) {
  tg_rng r;
  tg_rng_seed(&r, 3);
  tg_scope_begin();
  tg_tensor *c = tg_matmul(tg_randn(&r, TG_FLOAT32, TG_SHAPE(M, M)),
                           tg_randn(&r, TG_FLOAT32, TG_SHAPE(M, M)));
  assert_non_null(c);
  memcpy(out, tg_data(c), sizeof(float) * M * M);
  tg_scope_end();
}

static void test_workers_joined_and_restarted(void **state) {
  (void)state;
  tg_shutdown(); /* whatever an earlier test started */
  int base = tasks_settle(count_tasks());
  float *first = malloc(sizeof(float) * M * M), *again = malloc(sizeof(float) * M * M);
  assert_non_null(first);
  assert_non_null(again);
  tg_set_num_threads(3);
  split_product(first);
  assert_int_equal(count_tasks(), base + 2); /* 3 parts: the caller and 2 workers */
  tg_shutdown();
  assert_int_equal(tasks_settle(base), base);
  tg_shutdown(); /* idempotent: nothing left to join */
  assert_int_equal(count_tasks(), base);
  split_product(again); /* lazy restart */
  assert_int_equal(count_tasks(), base + 2);
  assert_memory_equal(first, again, sizeof(float) * M * M);
  tg_set_num_threads(1);
  split_product(again); /* one thread: no worker is asked for */
  assert_int_equal(count_tasks(), base + 2);
  tg_shutdown();
  assert_int_equal(tasks_settle(base), base);
  free(first);
  free(again);
}

typedef struct {
  size_t reserved, cached;
  int rc;
} thread_report;

/* tensors of many sizes (slab classes and blocks of their own), a graph and
 * its backward, all freed: the pool caches every block it got */
static void *pool_user(void *arg) {
  thread_report *rep = arg;
  tg_rng r;
  tg_rng_seed(&r, 9);
  for (int round = 0; round < 3; round++) {
    tg_scope_begin();
    for (size_t n = 1; n <= 4096; n *= 2) {
      tg_tensor *x = tg_requires_grad_(tg_randn(&r, TG_FLOAT32, TG_SHAPE(n, 8)), true);
      tg_tensor *l = tg_sum(tg_mul(tg_tanh(x), x));
      if (!l || tg_backward(l, NULL, false)) rep->rc = -1;
    }
    tg_scope_end();
  }
  tg_memory_stats s = tg_memory_get_stats();
  rep->reserved = s.bytes_reserved;
  rep->cached = s.bytes_cached;
  if (s.live_objects != 0) rep->rc = -1;
  return NULL;
}

static void test_thread_pool_returned_at_exit(void **state) {
  (void)state;
  /* the thread's start and exit themselves allocate nothing lasting:
   * measured around a first thread, so that the comparison below is of
   * tapegrad's blocks alone */
  pthread_t th;
  thread_report rep = {0};
  assert_int_equal(pthread_create(&th, NULL, pool_user, &rep), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  size_t before = allocated_bytes();
  rep = (thread_report){0};
  assert_int_equal(pthread_create(&th, NULL, pool_user, &rep), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  size_t after = allocated_bytes();
  assert_int_equal(rep.rc, 0);
  /* the thread held more than a megabyte when it ended... */
  assert_true(rep.reserved > ((size_t)1 << 20));
  assert_true(rep.cached > 0);
  /* ...and none of it is still allocated */
  if (after > before + 1024)
    fail_msg("%zu bytes more allocated after the thread exited (it had reserved %zu)",
             after - before, rep.reserved);
}

static void test_shutdown_returns_callers_pool(void **state) {
  (void)state;
  tg_release_cached();
  assert_int_equal(tg_memory_get_stats().live_objects, 0);
  tg_rng r;
  tg_rng_seed(&r, 4);
  tg_tensor *keep = tg_randn(&r, TG_FLOAT64, TG_SHAPE(100)); /* alive across the shutdown */
  assert_non_null(keep);
  tg_scope_begin();
  for (size_t n = 1; n <= 1 << 14; n *= 4) assert_non_null(tg_randn(&r, TG_FLOAT32, TG_SHAPE(n)));
  tg_scope_end();
  tg_memory_stats before = tg_memory_get_stats();
  assert_true(before.bytes_cached > ((size_t)1 << 16));
  tg_shutdown();
  tg_memory_stats s = tg_memory_get_stats();
  /* everything tg_release_cached can return is back: in a pool build the
   * free blocks of the slab that holds keep stay (0 where ASan bypasses
   * the pool), so a second release changes nothing */
  assert_true(s.bytes_cached < before.bytes_cached);
  assert_true(s.bytes_reserved < before.bytes_reserved);
  tg_release_cached();
  assert_int_equal(tg_memory_get_stats().bytes_cached, s.bytes_cached);
  assert_int_equal(tg_memory_get_stats().bytes_reserved, s.bytes_reserved);
  assert_int_equal(s.live_objects, 1);
  /* the tensor kept is untouched and the library goes on */
  tg_rng_seed(&r, 4);
  tg_scope_begin();
  tg_tensor *same = tg_randn(&r, TG_FLOAT64, TG_SHAPE(100));
  assert_non_null(same);
  assert_memory_equal(tg_data(keep), tg_data(same), 100 * sizeof(double));
  tg_scope_end();
  tg_free(keep);
  tg_shutdown();
  s = tg_memory_get_stats();
  assert_int_equal(s.live_objects, 0);
  assert_int_equal(s.bytes_reserved, 0);
}

/* the user program: workers, a pthread, a tg_shutdown in the middle and an
 * exit through the atexit handler; it checks its products itself */
static void test_user_program_exits_cleanly(void **state) {
  (void)state;
  FILE *p = popen("timeout 120 " TG_BUILD_DIR "/tests/shutdown_prog 2>&1", "r");
  assert_non_null(p);
  char out[4096] = "";
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  if (st != 0) fail_msg("shutdown_prog exited with status %d:\n%s", st, out);
  assert_non_null(strstr(out, "shutdown_prog: ok"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_workers_joined_and_restarted),
      cmocka_unit_test(test_thread_pool_returned_at_exit),
      cmocka_unit_test(test_shutdown_returns_callers_pool),
      cmocka_unit_test(test_user_program_exits_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
