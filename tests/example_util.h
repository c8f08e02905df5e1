/* Running an example program and reading what it prints, for the example
 * tests (test_examples.c, test_examples_lectures.c). Include after
 * tg_test.h; meson defines TG_BUILD_DIR for the test files. */
#ifndef TG_EXAMPLE_UTIL_H
#define TG_EXAMPLE_UTIL_H
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef TG_BUILD_DIR
#error "TG_BUILD_DIR must name the meson build root"
#endif

/* the last captured output; example_teardown frees it, so a failing
 * assertion (which leaves the test by longjmp) does not leak it */
static char *example_output;

static inline int example_teardown(void **state) {
  free(example_output);
  example_output = NULL;
  return test_teardown(state);
}

/* Run the example (from directory cwd when given, with the arguments args
 * when given, already quoted); returns its stdout and fails the test
 * unless it exits 0. Valid until the next run or the end of the test. */
static inline char *example_run(const char *name, const char *cwd, const char *args) {
  free(example_output);
  example_output = NULL;
  char cmd[4096];
  int n = snprintf(cmd, sizeof cmd, "%s%s%s'%s/examples/%s' %s", cwd ? "cd '" : "",
                   cwd ? cwd : "", cwd ? "' && " : "", TG_BUILD_DIR, name, args ? args : "");
  assert_true(n > 0 && (size_t)n < sizeof cmd);
  FILE *p = popen(cmd, "r");
  if (!p) fail_msg("popen(%s): %s", cmd, strerror(errno));
  size_t cap = 4096, len = 0, got;
  char *out = example_output = malloc(cap);
  assert_non_null(out);
  while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
    len += got;
    if (cap - len - 1 == 0) {
      cap *= 2;
      char *bigger = realloc(out, cap);
      assert_non_null(bigger);
      out = example_output = bigger;
    }
  }
  out[len] = '\0';
  int status = pclose(p);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    fprintf(stderr, "---- output of %s ----\n%s----\n", name, out);
    fail_msg("%s exited with status %d (see its stderr above)", cmd, status);
  }
  return out;
}

/* Run the example with args (already quoted) whatever its exit status: its
 * stdout and stderr into out (cut to cap - 1), returns the exit status (-1
 * when it did not exit), for the tests of bad flags and files. */
static inline int example_status(const char *name, const char *args, char *out, size_t cap) {
  char cmd[2048];
  int n = snprintf(cmd, sizeof cmd, "'%s/examples/%s' %s 2>&1", TG_BUILD_DIR, name, args ? args : "");
  assert_true(n > 0 && (size_t)n < sizeof cmd);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t len = fread(out, 1, cap - 1, p);
  out[len] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The rest of the first line that starts with prefix, searching from `from`. */
static inline const char *example_line_after(const char *from, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *l = from; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (strncmp(l, prefix, n) == 0) return l + n;
  fail_msg("no line starting with \"%s\" in the output:\n%s", prefix, from);
  return NULL;
}

/* Exactly n numbers (blank-separated) right after prefix on its line; returns
 * where the line ends so that a repeated prefix can be read in turn. */
static inline const char *example_numbers(const char *from, const char *prefix, double *v, int n) {
  const char *s = example_line_after(from, prefix);
  for (int i = 0; i < n; i++) {
    char *end;
    v[i] = strtod(s, &end);
    if (end == s) fail_msg("\"%s\": number %d of %d missing in \"%.80s\"", prefix, i + 1, n, s);
    s = end;
  }
  const char *nl = strchr(s, '\n');
  return nl ? nl + 1 : s + strlen(s);
}

static inline double example_number(const char *from, const char *prefix) {
  double v;
  example_numbers(from, prefix, &v, 1);
  return v;
}

#define assert_rel_close(got, want, rel)                                                  \
  do {                                                                                    \
    double g_ = (got), w_ = (want);                                                       \
    if (!(fabs(g_ - w_) <= (rel) * fmax(fabs(w_), 1e-300)))                               \
      fail_msg("%s = %.17g, expected %.17g (relative tol %g)", #got, g_, w_, (double)(rel)); \
  } while (0)

#endif
