/* The fuzz targets' inputs replayed under cmocka (and ASan + UBSan in CI),
 * through the same decoding as the libFuzzer targets (fuzz/fuzz_inputs.h):
 *
 *   tests/fuzz/corpus/<target>/ok-*       must load
 *   tests/fuzz/corpus/<target>/bad-*      must be rejected with a message
 *                                         that names the file
 *   tests/fuzz/regressions/<target>/...  every input that once crashed a
 *                                         reader (or made it allocate what
 *                                         a header claimed): must now load,
 *                                         or be rejected with a message
 *                                         naming the file
 *
 * A new crash found by scripts/fuzz.sh goes into regressions/<target>/ as
 * it is (README "Fuzzing"); this test picks it up without any edit. */
#include "fuzz/fuzz_inputs.h"

#include <dirent.h>

#include "tg_test.h"

#ifndef TG_SOURCE_DIR
#define TG_SOURCE_DIR "."
#endif

/* Under AddressSanitizer (HAVE_MALLOC_HOOK) a malloc hook sees every
 * allocation: no input here may make a reader ask for more than
 * FZ_MAX_ALLOC in one piece (the fuzzer's -malloc_limit_mb, scaled to
 * these small files). */
#define FZ_MAX_ALLOC ((size_t)256 << 20)

static volatile size_t largest_alloc;

#ifdef HAVE_MALLOC_HOOK
static void on_malloc(const volatile void *p, size_t n) {
  (void)p;
  if (n > largest_alloc) largest_alloc = n;
}
static void on_free(const volatile void *p) { (void)p; }
#endif

typedef int (*fz_run_fn)(const uint8_t *d, size_t n);

static const struct {
  const char *name;
  fz_run_fn run;
} TARGETS[] = {
    {"fuzz_idx", fz_run_idx},
    {"fuzz_idx_gz", fz_run_idx_gz},
    {"fuzz_cifar", fz_run_cifar},
    {"fuzz_csv", fz_run_csv},
    {"fuzz_safetensors", fz_run_safetensors},
};
#define N_TARGETS (sizeof TARGETS / sizeof TARGETS[0])

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the names in dir starting with prefix ("" for all), sorted; *n of them */
static char **list_dir(const char *dir, const char *prefix, size_t *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **names = NULL;
  size_t cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      names = realloc(names, cap * sizeof *names);
      assert_non_null(names);
    }
    names[*n] = strdup(e->d_name);
    assert_non_null(names[*n]);
    ++*n;
  }
  closedir(d);
  if (*n) qsort(names, *n, sizeof *names, name_cmp);
  return names;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  size_t cap = 4096;
  uint8_t *d = malloc(cap);
  assert_non_null(d);
  *n = 0;
  for (size_t k; (k = fread(d + *n, 1, cap - *n, f)) > 0;) {
    *n += k;
    if (*n == cap) {
      d = realloc(d, cap *= 2);
      assert_non_null(d);
    }
  }
  fclose(f);
  return d;
}

/* the reader's message names one of the scratch files the input went to */
static bool names_the_file(const char *msg) {
  for (int k = 0; k < fz_n_files; k++)
    if (strstr(msg, fz_files[k].path)) return true;
  return false;
}

typedef enum { EXPECT_OK, EXPECT_ERROR, EXPECT_NO_CRASH } expectation;

/* replays every file of TG_SOURCE_DIR/tests/fuzz/<sub>/<target>/<prefix>*;
 * returns how many there were */
static size_t replay(const char *sub, const char *prefix, expectation expect) {
  size_t total = 0;
  for (size_t t = 0; t < N_TARGETS; t++) {
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", TG_SOURCE_DIR, sub, TARGETS[t].name);
    size_t n;
    char **names = list_dir(dir, prefix, &n);
    for (size_t i = 0; i < n; i++) {
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      size_t len;
      uint8_t *d = read_all(path, &len);
      tg_clear_error();
      largest_alloc = 0;
      int rc = TARGETS[t].run(d, len);
      const char *msg = tg_last_error();
      if (largest_alloc > FZ_MAX_ALLOC)
        fail_msg("%s: an allocation of %zu bytes from a %zu-byte input", path,
                 (size_t)largest_alloc, len);
      if (expect == EXPECT_OK && rc != 0) fail_msg("%s: expected to load, got: %s", path, msg);
      if (expect == EXPECT_ERROR && rc == 0) fail_msg("%s: loaded, expected an error", path);
      if (rc != 0 && !names_the_file(msg))
        fail_msg("%s: the error does not name the file: %s", path, msg);
      free(d);
      tg_clear_error();
      tg_release_cached();
    }
    free_names(names, n);
    total += n;
  }
  return total;
}

static void test_valid_seeds_load(void **state) {
  (void)state;
  assert_true(replay("corpus", "ok-", EXPECT_OK) >= 2 * N_TARGETS);
}

static void test_malformed_seeds_rejected_naming_the_file(void **state) {
  (void)state;
  assert_true(replay("corpus", "bad-", EXPECT_ERROR) >= 2 * N_TARGETS);
}

static void test_fuzz_regressions(void **state) {
  (void)state;
  size_t n = replay("regressions", "", EXPECT_NO_CRASH);
  print_message("[          ] %zu fuzz regression inputs replayed\n", n);
}

/* the corpus directories exist (a renamed target or a moved corpus would
 * otherwise make the tests above pass on nothing) */
static void test_every_target_has_seeds(void **state) {
  (void)state;
  for (size_t t = 0; t < N_TARGETS; t++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", TG_SOURCE_DIR, TARGETS[t].name);
    size_t ok, bad;
    char **a = list_dir(dir, "ok-", &ok), **b = list_dir(dir, "bad-", &bad);
    if (!ok || !bad) fail_msg("%s: expected ok-* and bad-* seeds", dir);
    free_names(a, ok);
    free_names(b, bad);
  }
}

int main(void) {
#ifdef HAVE_MALLOC_HOOK
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
  const struct CMUnitTest tests[] = {
      TG_TEST(test_every_target_has_seeds),
      TG_TEST(test_valid_seeds_load),
      TG_TEST(test_malformed_seeds_rejected_naming_the_file),
      TG_TEST(test_fuzz_regressions),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  fz_cleanup();
  return rc;
}
