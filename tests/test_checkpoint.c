/* Checkpoints (safetensors), PNG grids and metrics logs. Expected bytes,
 * offsets and checksums are computed here from the test's own arrays, and
 * files are parsed back here byte by byte, never through the library. */
#define _GNU_SOURCE /* nftw's FTW_DEPTH | FTW_PHYS */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "json_internal.h"
#include "png_read.h"
#include "tg_test.h"

static char g_dir[256]; /* a fresh directory for this run's files */

static void tpath(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", g_dir, name); }

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int group_setup(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/tg-ckpt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------- helpers */

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  unsigned char *buf = malloc((size_t)len + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  buf[len] = '\0';
  *n = (size_t)len;
  return buf;
}

static void spit(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
  return v;
}

/* a safetensors file written by hand: json padded with spaces to a
 * multiple of 8, as the format's reference writer does */
static void write_st(const char *path, const char *json, const void *data, size_t ndata) {
  size_t n = strlen(json), padded = (n + 7) / 8 * 8;
  unsigned char *buf = calloc(8 + padded + ndata + 1, 1);
  assert_non_null(buf);
  for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)padded >> (8 * k));
  memcpy(buf + 8, json, n);
  memset(buf + 8 + n, ' ', padded - n);
  if (ndata) memcpy(buf + 8 + padded, data, ndata);
  spit(path, buf, 8 + padded + ndata);
  free(buf);
}

/* little-endian bytes of n elements of size es (host order converted) */
static void to_le(const void *src, size_t n, size_t es, unsigned char *out) {
  const unsigned char *s = src;
  uint16_t probe = 1;
  bool little = *(unsigned char *)&probe == 1;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < es; k++) out[i * es + k] = s[i * es + (little ? k : es - 1 - k)];
}

static void expect_error(const char *needle) {
  const char *e = tg_last_error();
  if (!strstr(e, needle)) fail_msg("error \"%s\" does not mention \"%s\"", e, needle);
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* bytes of a contiguous persistent tensor equal the expected array */
static void assert_tensor_bytes(const tg_tensor *t, tg_dtype dt, int ndim, const size_t *shape,
                                const void *expect) {
  assert_non_null(t);
  assert_int_equal(t->dtype, dt);
  assert_int_equal(t->ndim, ndim);
  size_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    assert_int_equal(t->shape[d], shape[d]);
    numel *= shape[d];
  }
  assert_true(tg_is_contiguous(t));
  if (numel) assert_memory_equal(tg_data(t), expect, numel * tg_dtype_size(dt));
}

/* ------------------------------------------------- round trip, header */

static const float W[6] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
static const double B[3] = {1.0 / 3.0, -2.5, 1e300};
static const int64_t IDX[4] = {-7, 0, 1099511627776LL, 9007199254740993LL};
static const float S = 3.25f;
static const double BASE[6] = {1, 2, 3, 4, 5, 6};     /* [3,2] */
static const double TVIEW[6] = {1, 3, 5, 2, 4, 6};    /* its transpose, row-major */

#define N_RT 6
static const char *RT_NAMES[N_RT] = {"w", "b", "idx", "s", "tview", "empty"};

/* the round-trip tensors in the current scope */
static void make_rt(tg_tensor **t) {
  t[0] = tg_from_f32(TG_SHAPE(2, 3), W);
  t[1] = tg_from_f64(TG_SHAPE(3), B);
  t[2] = tg_from_i64(TG_SHAPE(4), IDX);
  t[3] = tg_scalar(TG_FLOAT32, S);
  t[4] = tg_transpose(tg_from_f64(TG_SHAPE(3, 2), BASE), 0, 1);
  t[5] = tg_zeros(TG_FLOAT32, TG_SHAPE(0, 3));
  for (int i = 0; i < N_RT; i++) assert_non_null(t[i]);
  assert_false(tg_is_contiguous(t[4]));
}

static void save_rt(const char *path) {
  tg_tensor *t[N_RT];
  make_rt(t);
  const tg_kv meta[2] = {{"epoch", "7"}, {"note", "quote \" backslash \\ tab\t caf\xc3\xa9"}};
  assert_int_equal(tg_save_safetensors(path, N_RT, RT_NAMES, t, meta, 2), 0);
}

static void test_roundtrip_exact_values(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "rt.safetensors");
  save_rt(path);
  tg_checkpoint *ck = tg_checkpoint_read(path);
  assert_non_null(ck);
  assert_int_equal(tg_checkpoint_count(ck), N_RT);
  for (size_t i = 0; i < N_RT; i++) assert_string_equal(tg_checkpoint_name(ck, i), RT_NAMES[i]);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 0), TG_FLOAT32, TG_SHAPE(2, 3), W);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 1), TG_FLOAT64, TG_SHAPE(3), B);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 2), TG_INT64, TG_SHAPE(4), IDX);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 3), TG_FLOAT32, 0, NULL, &S);
  assert_close(tg_item(tg_checkpoint_tensor(ck, 3)), 3.25, 0);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 4), TG_FLOAT64, TG_SHAPE(2, 3), TVIEW);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 5), TG_FLOAT32, TG_SHAPE(0, 3), NULL);
  /* persistent, whatever scope was open */
  assert_int_equal(tg_checkpoint_tensor(ck, 0)->obj.scope, 0);
  assert_ptr_equal(tg_checkpoint_find(ck, "idx"), tg_checkpoint_tensor(ck, 2));
  assert_null(tg_checkpoint_find(ck, "nope"));
  assert_string_equal(tg_checkpoint_meta_get(ck, "epoch"), "7");
  assert_string_equal(tg_checkpoint_meta_get(ck, "note"), "quote \" backslash \\ tab\t caf\xc3\xa9");
  assert_true(tg_checkpoint_verified(ck));
  /* a taken tensor outlives the checkpoint */
  tg_tensor *taken = tg_checkpoint_take(ck, 1);
  assert_null(tg_checkpoint_tensor(ck, 1));
  tg_checkpoint_free(ck);
  assert_close(tg_get_flat(taken, 1), -2.5, 0);
  tg_free(taken);
}

static void test_empty_checkpoint_and_bad_arguments(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "empty.safetensors");
  const tg_kv meta[1] = {{"run", "none"}};
  assert_int_equal(tg_save_safetensors(path, 0, NULL, NULL, meta, 1), 0);
  size_t size;
  unsigned char *file = slurp(path, &size);
  const char json[] = "{\"__metadata__\":{\"run\":\"none\"}}"; /* 31 bytes, padded to 32 */
  assert_int_equal(le64(file), 32);
  assert_int_equal(size, 8 + 32);
  assert_memory_equal(file + 8, json, sizeof json - 1);
  assert_int_equal(file[8 + 31], ' ');
  free(file);
  tg_checkpoint *ck = tg_checkpoint_read(path);
  assert_non_null(ck);
  assert_int_equal(tg_checkpoint_count(ck), 0);
  assert_false(tg_checkpoint_verified(ck));
  assert_int_equal(tg_checkpoint_meta_count(ck), 1);
  assert_string_equal(tg_checkpoint_meta_key(ck, 0), "run");
  assert_string_equal(tg_checkpoint_meta_value(ck, 0), "none");
  assert_null(tg_checkpoint_name(ck, 0));
  tg_checkpoint_free(ck);

  tg_tensor *t = NULL;
  const char *name = "x";
  assert_int_equal(tg_save_safetensors(path, 1, &name, &t, NULL, 0), -1);
  expect_error("argument 0 is NULL");
  assert_int_equal(tg_save_safetensors(path, -1, NULL, NULL, NULL, 0), -1);
  expect_error("bad arguments");
  assert_int_equal(tg_save_safetensors(NULL, 0, NULL, NULL, NULL, 0), -1);
  expect_error("path is NULL");
  assert_null(tg_checkpoint_read(g_dir));
  expect_error("not a regular file");
  tg_checkpoint_free(NULL);
}

/* expected LE bytes of the round-trip tensors' data section, and offsets */
static size_t rt_expected(unsigned char *data, size_t *begin, size_t *end) {
  const struct { const void *p; size_t n, es; } parts[N_RT] = {
      {W, 6, 4}, {B, 3, 8}, {IDX, 4, 8}, {&S, 1, 4}, {TVIEW, 6, 8}, {NULL, 0, 4}};
  size_t at = 0;
  for (int i = 0; i < N_RT; i++) {
    begin[i] = at;
    if (parts[i].n) to_le(parts[i].p, parts[i].n, parts[i].es, data + at);
    at += parts[i].n * parts[i].es;
    end[i] = at;
  }
  return at;
}

static void test_header_parsed_independently(void **state) {
  (void)state;
  char path[512], want[256];
  tpath(path, sizeof path, "hdr.safetensors");
  save_rt(path);
  size_t size, begin[N_RT], end[N_RT];
  unsigned char *file = slurp(path, &size), data[256];
  size_t ndata = rt_expected(data, begin, end);
  uint64_t n = le64(file);
  assert_int_equal(n % 8, 0);
  assert_int_equal(8 + n + ndata, size);
  char *json = calloc(n + 1, 1);
  memcpy(json, file + 8, n);
  assert_int_equal(json[0], '{');
  char *close = strrchr(json, '}');
  for (char *p = close + 1; *p; p++) assert_int_equal(*p, ' '); /* padding only */
  static const char *dtype[N_RT] = {"F32", "F64", "I64", "F32", "F64", "F32"};
  static const char *shape[N_RT] = {"[2,3]", "[3]", "[4]", "[]", "[2,3]", "[0,3]"};
  for (int i = 0; i < N_RT; i++) {
    snprintf(want, sizeof want, "\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
             RT_NAMES[i], dtype[i], shape[i], begin[i], end[i]);
    if (!strstr(json, want)) fail_msg("header %s lacks %s", json, want);
    snprintf(want, sizeof want, "\"tapegrad.xxh3.%s\":\"%016" PRIx64 "\"", RT_NAMES[i],
             (uint64_t)XXH3_64bits(data + begin[i], end[i] - begin[i]));
    if (!strstr(json, want)) fail_msg("header %s lacks checksum %s", json, want);
  }
  /* offsets in header order run consecutively and end at the file's end */
  unsigned long long b, e, at = 0;
  int count = 0;
  for (char *p = json; (p = strstr(p, "\"data_offsets\":[")); p++, count++) {
    assert_int_equal(sscanf(p, "\"data_offsets\":[%llu,%llu]", &b, &e), 2);
    assert_int_equal(b, at);
    at = e;
  }
  assert_int_equal(count, N_RT);
  assert_int_equal(at, size - 8 - n);
  assert_memory_equal(file + 8 + n, data, ndata);
  assert_non_null(strstr(json, "\"epoch\":\"7\""));
  assert_non_null(strstr(json, "\"note\":\"quote \\\" backslash \\\\ tab\\u0009 caf\xc3\xa9\""));
  free(json);
  free(file);
}

static void test_names_with_escapes_round_trip(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "names.safetensors");
  const char *names[3] = {"layer.0/\"w\"", "back\\slash \x01 ctl", "na\xc3\xafve \xf0\x9f\x98\x80"};
  tg_tensor *t[3] = {tg_scalar(TG_FLOAT32, 1), tg_scalar(TG_FLOAT64, 2), tg_scalar(TG_FLOAT32, 3)};
  assert_int_equal(tg_save_safetensors(path, 3, names, t, NULL, 0), 0);
  tg_checkpoint *ck = tg_checkpoint_read(path);
  assert_non_null(ck);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(tg_checkpoint_name(ck, i), names[i]);
    assert_close(tg_item(tg_checkpoint_tensor(ck, i)), (double)(i + 1), 0);
  }
  tg_checkpoint_free(ck);
  /* names that cannot be written */
  const char *bad[2] = {"a", "a"};
  assert_int_equal(tg_save_safetensors(path, 2, bad, t, NULL, 0), -1);
  expect_error("'a' appears twice");
  const char *bad_utf8[1] = {"\xff"};
  assert_int_equal(tg_save_safetensors(path, 1, bad_utf8, t, NULL, 0), -1);
  expect_error("UTF-8");
  const char *reserved[1] = {"__metadata__"};
  assert_int_equal(tg_save_safetensors(path, 1, reserved, t, NULL, 0), -1);
  expect_error("__metadata__");
  const tg_kv meta[1] = {{"tapegrad.xxh3.x", "0"}};
  assert_int_equal(tg_save_safetensors(path, 1, names, t, meta, 1), -1);
  expect_error("reserved");
}

/* ------------------------------------------------------ damaged files */

/* a small checkpoint: a f32 [3], b i64 [2], c f64 [] -> 36 data bytes */
static const float SA[3] = {1.5f, -2.0f, 0.25f};
static const int64_t SB[2] = {123456789, -1};
static const double SC = 6.5;
static const char *SMALL_NAMES[3] = {"a", "b", "c"};

static void save_small(const char *path) {
  tg_tensor *t[3] = {tg_from_f32(TG_SHAPE(3), SA), tg_from_i64(TG_SHAPE(2), SB),
                     tg_scalar(TG_FLOAT64, SC)};
  assert_int_equal(tg_save_safetensors(path, 3, SMALL_NAMES, t, NULL, 0), 0);
}

static void assert_small_values(const tg_checkpoint *ck) {
  assert_int_equal(tg_checkpoint_count(ck), 3);
  for (size_t i = 0; i < 3; i++) assert_string_equal(tg_checkpoint_name(ck, i), SMALL_NAMES[i]);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 0), TG_FLOAT32, TG_SHAPE(3), SA);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 1), TG_INT64, TG_SHAPE(2), SB);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 2), TG_FLOAT64, 0, NULL, &SC);
}

static void test_every_data_byte_corruption_detected(void **state) {
  (void)state;
  char path[512], bad[512], want[64];
  tpath(path, sizeof path, "small.safetensors");
  tpath(bad, sizeof bad, "small-bad.safetensors");
  save_small(path);
  size_t size;
  unsigned char *file = slurp(path, &size);
  size_t data_start = 8 + (size_t)le64(file);
  assert_int_equal(size - data_start, 3 * 4 + 2 * 8 + 8);
  const size_t ends[3] = {12, 28, 36}; /* a, b, c */
  tg_tensor *dst = tg_zeros(TG_FLOAT32, TG_SHAPE(3));
  const unsigned char flips[2] = {0xff, 0x01};
  for (size_t at = data_start; at < size; at++)
    for (int f = 0; f < 2; f++) {
      file[at] ^= flips[f];
      spit(bad, file, size);
      file[at] ^= flips[f];
      size_t k = 0;
      while (at - data_start >= ends[k]) k++;
      tg_clear_error();
      assert_null(tg_checkpoint_read(bad));
      snprintf(want, sizeof want, "tensor '%s': checksum mismatch", SMALL_NAMES[k]);
      expect_error(want);
      expect_error(bad);
      assert_int_equal(tg_load_safetensors_into(bad, 1, SMALL_NAMES, &dst), -1);
      expect_error(want);
      assert_close(tg_get_flat(dst, 0), 0.0, 0); /* not written */
    }
  free(file);
}

static void test_every_truncation_fails(void **state) {
  (void)state;
  char path[512], bad[512];
  tpath(path, sizeof path, "trunc.safetensors");
  tpath(bad, sizeof bad, "trunc-bad.safetensors");
  save_small(path);
  size_t size;
  unsigned char *file = slurp(path, &size);
  for (size_t len = 0; len < size; len++) {
    spit(bad, file, len);
    tg_clear_error();
    assert_null(tg_checkpoint_read(bad));
    expect_error(bad);
  }
  spit(bad, file, size);
  tg_checkpoint *ck = tg_checkpoint_read(bad);
  assert_non_null(ck);
  assert_small_values(ck);
  tg_checkpoint_free(ck);
  free(file);
}

static void test_header_byte_corruption_never_crashes(void **state) {
  (void)state;
  char path[512], bad[512];
  tpath(path, sizeof path, "hcor.safetensors");
  tpath(bad, sizeof bad, "hcor-bad.safetensors");
  save_small(path);
  size_t size;
  unsigned char *file = slurp(path, &size);
  size_t data_start = 8 + (size_t)le64(file);
  const char *json = (const char *)file + 8;
  size_t json_end = data_start - 8; /* just after the closing brace */
  while (json_end > 0 && json[json_end - 1] != '}') json_end--;
  assert_true(json_end < data_start - 8); /* these names leave some padding */
  const unsigned char flips[4] = {0xff, 0x01, 0x20, 0x80};
  int loaded = 0;
  for (size_t at = 0; at < data_start; at++)
    for (int f = 0; f < 4; f++) {
      file[at] ^= flips[f];
      spit(bad, file, size);
      file[at] ^= flips[f];
      tg_clear_error();
      tg_checkpoint *ck = tg_checkpoint_read(bad);
      if (!ck) {
        expect_error(bad);
        continue;
      }
      assert_true(at >= 8 + json_end); /* only in the padding ... */
      assert_small_values(ck);         /* ... and then with the same values */
      tg_checkpoint_free(ck);
      loaded++;
    }
  /* whitespace in place of padding spaces is still valid JSON */
  const char ws[3] = {'\t', '\n', '\r'};
  for (size_t at = 8 + json_end; at < data_start; at++)
    for (int k = 0; k < 3; k++) {
      unsigned char was = file[at];
      file[at] = (unsigned char)ws[k];
      spit(bad, file, size);
      file[at] = was;
      tg_checkpoint *ck = tg_checkpoint_read(bad);
      assert_non_null(ck);
      assert_small_values(ck);
      tg_checkpoint_free(ck);
    }
  assert_int_equal(loaded, 0); /* no single flip of these kinds makes a valid file */
  free(file);
}

/* random multi-byte damage to the header: never a crash or an over-read
 * (ASan), always either a checkpoint or an error naming the file */
static void test_header_fuzz(void **state) {
  (void)state;
  char path[512], bad[512];
  tpath(path, sizeof path, "fuzz.safetensors");
  tpath(bad, sizeof bad, "fuzz-bad.safetensors");
  save_small(path);
  size_t size;
  unsigned char *file = slurp(path, &size), *copy = malloc(size);
  size_t hlen = (size_t)le64(file);
  static const char pool[] = "{}[]\":,\\u0123456789-+.eE \t\n\xc3\xa9\xff\x00";
  tg_rng r;
  tg_rng_seed(&r, 42);
  int failures = 0;
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(copy, file, size);
    int edits = 1 + (int)(tg_rng_next(&r) % 4);
    for (int k = 0; k < edits; k++) {
      size_t at = 8 + (size_t)(tg_rng_next(&r) % hlen);
      copy[at] = (unsigned char)pool[tg_rng_next(&r) % (sizeof pool - 1)];
    }
    spit(bad, copy, size);
    tg_clear_error();
    tg_checkpoint *ck = tg_checkpoint_read(bad);
    if (!ck) {
      expect_error(bad);
      failures++;
    } else {
      assert_small_values(ck); /* damage the format tolerates (whitespace) */
    }
    tg_checkpoint_free(ck);
  }
  assert_true(failures > 2900); /* nearly every edit breaks something */
  free(copy);
  free(file);
}

static void expect_rejected(const char *path, const char *json, const void *data, size_t ndata,
                            const char *needle) {
  write_st(path, json, data, ndata);
  tg_clear_error();
  assert_null(tg_checkpoint_read(path));
  expect_error(path);
  expect_error(needle);
}

static void test_huge_and_malformed_headers_rejected(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "huge.safetensors");
  /* a header length of 1 TB (then of 200 MB, then of 50 bytes) in a tiny file */
  const uint64_t claims[3] = {(uint64_t)1 << 40, 200000000, 50};
  const char *why[3] = {"exceeds the 100 MB limit", "exceeds the 100 MB limit", "exceeds the 12 bytes after it"};
  for (int i = 0; i < 3; i++) {
    unsigned char buf[20] = "........{}          ";
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)(claims[i] >> (8 * k));
    spit(path, buf, sizeof buf);
    tg_clear_error();
    assert_null(tg_checkpoint_read(path));
    expect_error(why[i]);
  }
  unsigned char four[4] = {0};
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1099511627776]}}",
                  four, 4, "run past the end");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[274877906944],\"data_offsets\":[0,1099511627776]}}",
                  four, 4, "run past the end");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
                  four, 4, "two non-negative integers");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                  "\"data_offsets\":[0,4]}}", four, 4, "overflows");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", four, 4,
                  "hold 4 bytes but F32 [2] needs 8");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", four, 4,
                  "shape[0]");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", four, 4,
                  "shape[0]");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", four, 4,
                  "end before they begin");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", four, 4,
                  "unsupported dtype \"F16\"");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                  four, 4, "9 dims");
  expect_rejected(path, "{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", four, 4, "\"dtype\" is missing");
  unsigned char twelve[12] = {0};
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", twelve, 12, "overlap");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", twelve, 12,
                  "data bytes [4, 8) belong to no tensor");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", twelve, 12,
                  "trailing bytes");
  expect_rejected(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", four, 4, "duplicate key");
  expect_rejected(path, "{\"x\\u0000y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", four, 4,
                  "NUL");
  expect_rejected(path, "{\"\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", four, 4,
                  "invalid UTF-8");
  expect_rejected(path, "{\"\\ud800\":1}", four, 4, "surrogate");
  expect_rejected(path, "{\"__metadata__\":{\"k\":1}}", NULL, 0, "not a string");
  expect_rejected(path, "{\"__metadata__\":{\"tapegrad.xxh3.x\":\"0123456789abcdef\"}}", NULL, 0,
                  "does not hold");
  char wide[600] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1";
  for (int i = 0; i < 100; i++) strcat(wide, ",1");
  strcat(wide, "],\"data_offsets\":[0,4]}}");
  expect_rejected(path, wide, four, 4, "array longer than 64 items");
  expect_rejected(path, "[1,2]", NULL, 0, "not a JSON object");
  expect_rejected(path, "{\"x\":", NULL, 0, "not valid JSON");
  /* nesting far deeper than any header: an error, not a stack overflow */
  char deep[4200] = "{\"x\":";
  for (int i = 0; i < 2000; i++) strcat(deep, "[");
  expect_rejected(path, deep, NULL, 0, "nesting deeper");
}

/* the header parser on its own: RFC 8259 strictness, escapes, lookups */
static void test_json_parser(void **state) {
  (void)state;
  char err[240];
  tg_json v;
  const char *doc = " {\"b\" : [true, false, null, -0, 1.5e3, 18446744073709551615],\n"
                    "  \"a\\u00e9\\ud83d\\ude00\\n\\\"\\/\" : {\"k\": \"v\"}} ";
  assert_int_equal(tg_json_parse(doc, strlen(doc), NULL, &v, err, sizeof err), 0);
  assert_int_equal(v.type, TG_JSON_OBJECT);
  assert_int_equal(v.n, 2);
  const tg_json *b = tg_json_get(&v, "b", 1);
  assert_non_null(b);
  assert_int_equal(b->n, 6);
  assert_true(b->items[0].type == TG_JSON_BOOL && b->items[0].boolean);
  assert_true(b->items[1].type == TG_JSON_BOOL && !b->items[1].boolean);
  assert_int_equal(b->items[2].type, TG_JSON_NULL);
  assert_string_equal(b->items[4].str, "1.5e3");
  uint64_t u;
  assert_false(tg_json_u64(&b->items[3], &u)); /* "-0" is not unsigned */
  assert_false(tg_json_u64(&b->items[4], &u));
  assert_true(tg_json_u64(&b->items[5], &u));
  assert_true(u == UINT64_MAX);
  const char key[] = "a\xc3\xa9\xf0\x9f\x98\x80\n\"/"; /* what the escapes decode to */
  const tg_json *a = tg_json_get(&v, key, sizeof key - 1);
  assert_non_null(a);
  assert_string_equal(tg_json_get(a, "k", 1)->str, "v");
  assert_null(tg_json_get(&v, "c", 1));
  tg_json_free(&v);

  static const char *bad[] = {"01", "1.", ".5", "-", "1e", "+1", "[1,]", "{\"a\":1,}", "{\"a\" 1}",
                              "{a:1}", "\"\\x\"", "\"\\u12\"", "\"\\udc00\"", "\"tab\there\"",
                              "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                              "tru", "nul", "[1] x", "", "   ", "\"open", "[", "{\"a\":1,\"a\":2}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    if (tg_json_parse(bad[i], strlen(bad[i]), NULL, &v, err, sizeof err) == 0)
      fail_msg("accepted invalid JSON <%s>", bad[i]);
    assert_non_null(strstr(err, "at byte "));
  }
  /* a NUL inside the text is just an invalid character, never an end */
  assert_int_equal(tg_json_parse("[1,\0 2]", 6, NULL, &v, err, sizeof err), -1);
  const tg_json_limits lim = {.max_depth = 2, .max_array_len = 3};
  assert_int_equal(tg_json_parse("[[1,2,3]]", 9, &lim, &v, err, sizeof err), 0);
  tg_json_free(&v);
  assert_int_equal(tg_json_parse("[[[1]]]", 7, &lim, &v, err, sizeof err), -1);
  assert_non_null(strstr(err, "nesting deeper than 2 levels"));
  assert_int_equal(tg_json_parse("[1,2,3,4]", 9, &lim, &v, err, sizeof err), -1);
  assert_non_null(strstr(err, "array longer than 3 items"));
}

/* --------------------------------------------------- loading into tensors */

static void test_load_into_checks_and_copies(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "into.safetensors");
  save_rt(path);
  /* into a parameter that requires grad and into a non-contiguous view */
  tg_tensor *w = tg_requires_grad_(tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3)), true);
  tg_tensor *tv = tg_transpose(tg_zeros(TG_FLOAT64, TG_SHAPE(3, 2)), 0, 1);
  tg_tensor *idx = tg_zeros(TG_INT64, TG_SHAPE(4));
  const char *names[3] = {"w", "tview", "idx"};
  tg_tensor *dst[3] = {w, tv, idx};
  assert_int_equal(tg_load_safetensors_into(path, 3, names, dst), 0);
  for (size_t i = 0; i < 6; i++) {
    assert_close(tg_get_flat(w, i), W[i], 0);
    assert_close(tg_get_flat(tv, i), TVIEW[i], 0);
  }
  assert_memory_equal(tg_data(idx), IDX, sizeof IDX);

  tg_tensor *z = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 3));
  tg_tensor *wrong_shape = tg_zeros(TG_FLOAT32, TG_SHAPE(3, 2));
  tg_tensor *wrong_dtype = tg_zeros(TG_FLOAT64, TG_SHAPE(2, 3));
  const char *n2[2] = {"w", "w"};
  tg_tensor *d2[2] = {z, wrong_shape};
  assert_int_equal(tg_load_safetensors_into(path, 2, n2, d2), -1);
  expect_error("tensor 'w' is float32 [2,3] in the file but the destination is float32 [3,2]");
  assert_close(tg_get_flat(z, 0), 0.0, 0); /* all or nothing: the good one was not written */
  assert_int_equal(tg_load_safetensors_into(path, 1, n2, &wrong_dtype), -1);
  expect_error("destination is float64 [2,3]");
  const char *missing[1] = {"nope"};
  assert_int_equal(tg_load_safetensors_into(path, 1, missing, &z), -1);
  expect_error("holds no tensor named 'nope'");
  expect_error(path);
  char absent[512];
  tpath(absent, sizeof absent, "absent.safetensors");
  assert_int_equal(tg_load_safetensors_into(absent, 1, n2, &z), -1);
  expect_error("cannot open");
}

/* written by hand the way PyTorch's safetensors writes it: no tapegrad
 * checksums, header order different from data order, spaces in the JSON */
static void test_foreign_file_without_checksums_loads(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "torch.safetensors");
  const float weight[4] = {0.5f, -1.25f, 2.0f, 3.0f}, bias[2] = {-0.125f, 8.0f};
  const int64_t steps = 1000;
  unsigned char data[32];
  to_le(weight, 4, 4, data);
  to_le(bias, 2, 4, data + 16);
  to_le(&steps, 1, 8, data + 24);
  write_st(path,
           "{\"__metadata__\": {\"format\": \"pt\"},\n"
           " \"bias\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]},\n"
           " \"steps\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [24, 32]},\n"
           " \"fc.w\\u0065ight\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}",
           data, sizeof data);
  tg_checkpoint *ck = tg_checkpoint_read(path);
  assert_non_null(ck);
  assert_false(tg_checkpoint_verified(ck));
  assert_int_equal(tg_checkpoint_count(ck), 3);
  assert_string_equal(tg_checkpoint_name(ck, 0), "bias"); /* header order */
  assert_string_equal(tg_checkpoint_name(ck, 2), "fc.weight");
  assert_tensor_bytes(tg_checkpoint_find(ck, "fc.weight"), TG_FLOAT32, TG_SHAPE(2, 2), weight);
  assert_tensor_bytes(tg_checkpoint_find(ck, "bias"), TG_FLOAT32, TG_SHAPE(2), bias);
  assert_tensor_bytes(tg_checkpoint_find(ck, "steps"), TG_INT64, 0, NULL, &steps);
  assert_string_equal(tg_checkpoint_meta_get(ck, "format"), "pt");
  tg_checkpoint_free(ck);
  tg_tensor *w = tg_zeros(TG_FLOAT32, TG_SHAPE(2, 2));
  const char *name = "fc.weight";
  assert_int_equal(tg_load_safetensors_into(path, 1, &name, &w), 0);
  assert_close(tg_get_flat(w, 1), -1.25, 0);
}

/* ------------------------------------------------------- atomic writes */

static void assert_v1_intact(const char *path) {
  tg_checkpoint *ck = tg_checkpoint_read(path);
  assert_non_null(ck);
  assert_small_values(ck);
  tg_checkpoint_free(ck);
}

static void test_failed_save_keeps_previous_checkpoint(void **state) {
  (void)state;
  char path[512], tmp[600];
  tpath(path, sizeof path, "atomic.safetensors");
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  save_small(path);
  float big[3000];
  for (int i = 0; i < 3000; i++) big[i] = (float)i;
  tg_tensor *t = tg_from_f32(TG_SHAPE(3000), big);
  const char *name = "a";

  /* the temporary name is taken by a directory: cannot even start */
  assert_int_equal(mkdir(tmp, 0700), 0);
  assert_int_equal(tg_save_safetensors(path, 1, &name, &t, NULL, 0), -1);
  expect_error("temporary");
  expect_error("unchanged");
  assert_true(file_exists(tmp)); /* not ours: left alone */
  assert_int_equal(rmdir(tmp), 0);
  assert_v1_intact(path);

  /* the disk fills up after `limit` bytes (RLIMIT_FSIZE: writes past it fail) */
  struct rlimit old;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  char v2[512];
  size_t v2_size;
  tpath(v2, sizeof v2, "atomic-v2.safetensors");
  assert_int_equal(tg_save_safetensors(v2, 1, &name, &t, NULL, 0), 0);
  free(slurp(v2, &v2_size));
  assert_true(v2_size > 12000);
  const rlim_t limits[5] = {0, 5, 8, 200, v2_size - 1};
  for (int i = 0; i < 5; i++) {
    struct rlimit lim = {limits[i], old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = tg_save_safetensors(path, 1, &name, &t, NULL, 0);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_int_equal(rc, -1);
    expect_error("cannot write");
    expect_error("unchanged");
    assert_false(file_exists(tmp));
    assert_v1_intact(path);
  }
  signal(SIGXFSZ, prev);

  /* and without the limit the new checkpoint replaces the old one */
  assert_int_equal(tg_save_safetensors(path, 1, &name, &t, NULL, 0), 0);
  assert_false(file_exists(tmp));
  tg_checkpoint *ck = tg_checkpoint_read(path);
  assert_non_null(ck);
  assert_tensor_bytes(tg_checkpoint_tensor(ck, 0), TG_FLOAT32, TG_SHAPE(3000), big);
  tg_checkpoint_free(ck);
}

static void test_save_where_it_cannot_go(void **state) {
  (void)state;
  char dir[512], inside[600], path[600], tmp[700];
  tpath(dir, sizeof dir, "a-directory");
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(inside, sizeof inside, "%s/keep", dir);
  spit(inside, "x", 1);
  tg_tensor *t = tg_scalar(TG_FLOAT32, 1);
  const char *name = "x";
  /* rename over a non-empty directory fails after the temp file was written */
  assert_int_equal(tg_save_safetensors(dir, 1, &name, &t, NULL, 0), -1);
  expect_error(dir);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
  assert_false(file_exists(tmp));
  assert_true(file_exists(inside));
  tpath(path, sizeof path, "no/such/dir/x.safetensors");
  assert_int_equal(tg_save_safetensors(path, 1, &name, &t, NULL, 0), -1);
  expect_error("no/such/dir");
}

/* ---------------------------------------------------------------- PNG */

static unsigned char expect_byte(float v) {
  if (!(v > 0)) return 0;
  if (v >= 1) return 255;
  return (unsigned char)(v * 255.0f + 0.5f);
}

static void test_png_gray_grid(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "grid.png");
  enum { N = 5, H = 2, WD = 3 };
  float px[N * H * WD];
  for (int i = 0; i < N * H * WD; i++) px[i] = (float)(i + 1) / 31.0f;
  assert_int_equal(tg_save_image_grid(path, px, N, H, WD, 1, 3, 1), 0);
  png_read r;
  read_png(path, &r);
  /* 3 columns, 2 rows: width 3*(3+1)+1, height 2*(2+1)+1 */
  assert_int_equal(r.img.width, 13);
  assert_int_equal(r.img.height, 7);
  assert_int_equal(r.img.format, PNG_FORMAT_GRAY);
  for (int k = 0; k < N; k++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < WD; x++) {
        int gy = 1 + (k / 3) * (H + 1) + y, gx = 1 + (k % 3) * (WD + 1) + x;
        assert_int_equal(r.px[gy * 13 + gx], expect_byte(px[(k * H + y) * WD + x]));
      }
  assert_int_equal(r.px[0], 0);              /* border */
  assert_int_equal(r.px[3 * 13 + 2], 0);     /* padding row between grid rows */
  assert_int_equal(r.px[5 * 13 + 10], 0);    /* the empty sixth cell */
  assert_int_equal(r.px[1 * 13 + 1], expect_byte(1.0f / 31.0f));
  free(r.px);
}

static void test_png_rgb_clamps_and_tensor_layouts(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "rgb.png");
  /* 2 images of 1x2 RGB, no padding, ncols 0 (-> 8, capped at n) */
  const float px[12] = {-0.5f, 1.5f, NAN, 0.5f, 0.25f, 1.0f, 0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.6f};
  assert_int_equal(tg_save_image_grid(path, px, 2, 1, 2, 3, 0, 0), 0);
  png_read r;
  read_png(path, &r);
  assert_int_equal(r.img.width, 4);
  assert_int_equal(r.img.height, 1);
  assert_int_equal(r.img.format, PNG_FORMAT_RGB);
  const unsigned char want[12] = {0, 255, 0, 128, 64, 255, 0, 26, 51, 77, 102, 153};
  assert_memory_equal(r.px, want, 12);
  free(r.px);

  /* [n,c,h,w]: channel planes become interleaved RGB */
  float chw[2 * 3 * 2 * 2];
  for (int i = 0; i < 24; i++) chw[i] = (float)i / 23.0f;
  tg_tensor *t = tg_from_f32(TG_SHAPE(2, 3, 2, 2), chw);
  assert_int_equal(tg_save_image_grid_tensor(path, t, 0, 0, 2, 1), 0);
  read_png(path, &r);
  assert_int_equal(r.img.width, 2 * 3 + 1);
  assert_int_equal(r.img.height, 2 + 2);
  for (int k = 0; k < 2; k++)
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++) {
          int gy = 1 + y, gx = 1 + k * 3 + x;
          assert_int_equal(r.px[(gy * 7 + gx) * 3 + c], expect_byte(chw[((k * 3 + c) * 2 + y) * 2 + x]));
        }
  free(r.px);

  /* [n,h*w] rows, folded by h and w, any dtype */
  tg_tensor *rows = tg_from_f64(TG_SHAPE(1, 6), (const double[]){0, 0.2, 0.4, 0.6, 0.8, 1});
  assert_int_equal(tg_save_image_grid_tensor(path, rows, 2, 3, 1, 0), 0);
  read_png(path, &r);
  assert_int_equal(r.img.width, 3);
  assert_int_equal(r.img.height, 2);
  assert_int_equal(r.img.format, PNG_FORMAT_GRAY);
  assert_int_equal(r.px[4], expect_byte(0.8f));
  free(r.px);

  assert_int_equal(tg_save_image_grid_tensor(path, rows, 4, 2, 1, 0), -1);
  expect_error("h = 4 and w = 2");
  assert_int_equal(tg_save_image_grid_tensor(path, tg_zeros(TG_FLOAT32, TG_SHAPE(1, 2, 2, 2)), 0, 0, 1, 0), -1);
  expect_error("2 channels");
  assert_int_equal(tg_save_image_grid_tensor(path, tg_zeros(TG_FLOAT32, TG_SHAPE(4)), 0, 0, 1, 0), -1);
  expect_error("expected [n,h*w]");
}

/* two 2x3 gray images zoomed twice under the captions "a" and "17": each
 * cell is as wide as "17" (11 pixels), the image centred above it */
static void test_png_captioned_grid(void **state) {
  (void)state;
  char path[512], upper[512];
  tpath(path, sizeof path, "captioned.png");
  tpath(upper, sizeof upper, "captioned-upper.png");
  tg_tensor *imgs = tg_full(TG_FLOAT32, TG_SHAPE(2, 2, 3), 0.5);
  const char *caps[2] = {"a", "17"}, *caps_upper[2] = {"A", "17"};
  assert_int_equal(tg_save_image_grid_captioned(path, imgs, caps, 2, 1, 2), 0);
  png_read r;
  read_png(path, &r);
  enum { GW = 2 * (11 + 1) + 1, GH = (4 + 10) + 2 };
  assert_int_equal(r.img.width, GW);
  assert_int_equal(r.img.height, GH);
  const unsigned char *px = r.px;
#define AT(y, x) px[(y) * GW + (x)]
  assert_int_equal(AT(1, 1 + 2), 128);    /* image 0 starts (11 - 6) / 2 into its cell */
  assert_int_equal(AT(1, 1 + 1), 0);
  assert_int_equal(AT(4, 1 + 7), 128);    /* its last zoomed pixel */
  assert_int_equal(AT(1 + 6, 1 + 4), 0);  /* 'a' row 0 is empty */
  for (int x = 4; x <= 6; x++) assert_int_equal(AT(1 + 8, 1 + x), 255); /* 'a' row 2 ".###." */
  assert_int_equal(AT(1 + 8, 1 + 3), 0);
  assert_int_equal(AT(1 + 6, 13 + 2), 255); /* '1' row 0 "..#.." */
  for (int x = 6; x <= 10; x++) assert_int_equal(AT(1 + 6, 13 + x), 255); /* '7' row 0 */
  assert_int_equal(AT(1 + 6, 13 + 5), 0);   /* the gap between letters */
#undef AT
  /* upper case is drawn as lower case */
  assert_int_equal(tg_save_image_grid_captioned(upper, imgs, caps_upper, 2, 1, 2), 0);
  png_read u;
  read_png(upper, &u);
  assert_memory_equal(u.px, r.px, GW * GH);
  free(u.px);
  free(r.px);
  assert_int_equal(tg_save_image_grid_captioned(path, imgs, NULL, 2, 1, 2), -1);
  expect_error("captions is NULL");
  const char *one_null[2] = {"a", NULL};
  assert_int_equal(tg_save_image_grid_captioned(path, imgs, one_null, 2, 1, 2), -1);
  expect_error("caption 1 is NULL");
  assert_int_equal(tg_save_image_grid_captioned(path, imgs, caps, 2, 1, 17), -1);
  expect_error("zoom 17");
  assert_int_equal(tg_save_image_grid_captioned(path, tg_zeros(TG_FLOAT32, TG_SHAPE(2, 6)), caps, 2, 1, 1), -1);
  expect_error("[n,h,w] or [n,c,h,w]");
  assert_int_equal(tg_save_image_grid_captioned(path, NULL, caps, 2, 1, 1), -1);
}

static void test_png_errors_leave_no_file(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "wide.png");
  /* wider than libpng accepts: its error longjmps back, the file is removed */
  size_t w = 1000001;
  float *px = calloc(w, sizeof *px);
  assert_non_null(px);
  assert_int_equal(tg_save_image_grid(path, px, 1, 1, w, 1, 1, 0), -1);
  expect_error("libpng");
  assert_false(file_exists(path));
  free(px);
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_false(file_exists(tmp));
  tpath(path, sizeof path, "missing-dir/grid.png");
  float one = 0.5f;
  assert_int_equal(tg_save_image_grid(path, &one, 1, 1, 1, 1, 1, 0), -1);
  expect_error("missing-dir");
  assert_int_equal(tg_save_image_grid(path, &one, 0, 1, 1, 1, 1, 0), -1);
  expect_error("nothing to draw");
}

/* ------------------------------------------------------------- metrics */

static void test_metrics_csv(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "metrics.csv");
  tg_metrics *m = tg_metrics_open(path, "epoch,loss,accuracy");
  assert_non_null(m);
  assert_int_equal(tg_metrics_ncols(m), 3);
  assert_int_equal(tg_metrics_row(m, (const double[]){1, 0.5, 0.25}), 0);
  assert_int_equal(tg_metrics_row(m, (const double[]){2, 0.1, 0.875}), 0);
  assert_int_equal(tg_metrics_close(m), 0);
  size_t n;
  char *text = (char *)slurp(path, &n);
  assert_string_equal(text, "epoch,loss,accuracy\n1,0.5,0.25\n2,0.1,0.875\n");
  free(text);

  /* reopened to append with the same columns (a resumed run): appended */
  m = tg_metrics_open_append(path, "epoch,loss,accuracy");
  assert_non_null(m);
  assert_int_equal(tg_metrics_row(m, (const double[]){10, NAN, 1.0 / 3.0}), 0);
  assert_int_equal(tg_metrics_row(m, (const double[]){1e20, -INFINITY, 1e-7}), 0);
  assert_int_equal(tg_metrics_close(m), 0);
  text = (char *)slurp(path, &n);
  char *last = strstr(text, "\n10,nan,"); /* an integer as one, not 1e+01 */
  assert_non_null(last);
  assert_true(strtod(last + 8, NULL) == 1.0 / 3.0); /* shortest text, exact value */
  assert_non_null(strstr(text, "\n1e+20,-inf,1e-07\n"));
  free(text);

  /* appending other columns: refused, the file untouched */
  assert_null(tg_metrics_open_append(path, "step,loss"));
  expect_error("already logs the columns \"epoch,loss,accuracy\"");
  assert_null(tg_metrics_open(path, "a,,b"));
  expect_error("every column needs a name");
  assert_null(tg_metrics_open(path, ""));
  expect_error("every column needs a name");
  text = (char *)slurp(path, &n);
  assert_int_equal(strncmp(text, "epoch,loss,accuracy\n1,0.5,0.25\n", 31), 0);
  free(text);

  /* a new run (plain open) starts afresh, whatever the old columns */
  m = tg_metrics_open(path, "step,loss");
  assert_non_null(m);
  assert_int_equal(tg_metrics_row(m, (const double[]){1, 2}), 0);
  assert_int_equal(tg_metrics_close(m), 0);
  text = (char *)slurp(path, &n);
  assert_string_equal(text, "step,loss\n1,2\n");
  free(text);
  /* appending to a missing log starts it */
  char other[512];
  tpath(other, sizeof other, "metrics-new.csv");
  m = tg_metrics_open_append(other, "a,b");
  assert_non_null(m);
  assert_int_equal(tg_metrics_close(m), 0);
  text = (char *)slurp(other, &n);
  assert_string_equal(text, "a,b\n");
  free(text);
  assert_int_equal(tg_metrics_close(NULL), 0);
}

/* tg_save_module/tg_load_module: a module's state dict (parameters and
 * BatchNorm buffers) survives the round trip into a differently initialised
 * module; a module of another shape is refused and left unchanged. */
static void test_module_round_trip(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "module.safetensors");
  tg_rng r1, r2;
  tg_rng_seed(&r1, 1);
  tg_rng_seed(&r2, 2);
  tg_module *a = tg_nn_sequential(2, tg_nn_linear(3, 4, true, &r1), tg_nn_batchnorm1d(4, 1e-5, 0.1, true));
  tg_module *b = tg_nn_sequential(2, tg_nn_linear(3, 4, true, &r2), tg_nn_batchnorm1d(4, 1e-5, 0.1, true));
  tg_module *c = tg_nn_sequential(1, tg_nn_linear(3, 5, true, &r2));
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  tg_fill_(tg_module_get(a, "1.running_mean"), 0.25); /* a buffer, not a parameter */
  assert_int_equal(tg_save_module(path, a, NULL, 0), 0);
  assert_int_equal(tg_load_module(path, b), 0);
  const char *names[] = {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"};
  for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
    tg_tensor *ta = tg_module_get(a, names[k]), *tb = tg_module_get(b, names[k]);
    assert_non_null(ta);
    assert_non_null(tb);
    for (size_t i = 0; i < ta->numel; i++) assert_true(tg_get_flat(ta, i) == tg_get_flat(tb, i));
  }
  double before = tg_get_flat(tg_module_get(c, "0.weight"), 0);
  assert_int_equal(tg_load_module(path, c), -1);
  assert_non_null(strstr(tg_last_error(), "0.weight"));
  assert_true(tg_get_flat(tg_module_get(c, "0.weight"), 0) == before);
  assert_int_equal(tg_save_module(path, NULL, NULL, 0), -1);
  tg_module_free(a);
  tg_module_free(b);
  tg_module_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_roundtrip_exact_values),
      TG_TEST(test_module_round_trip),
      TG_TEST(test_header_parsed_independently),
      TG_TEST(test_empty_checkpoint_and_bad_arguments),
      TG_TEST(test_names_with_escapes_round_trip),
      TG_TEST(test_every_data_byte_corruption_detected),
      TG_TEST(test_every_truncation_fails),
      TG_TEST(test_header_byte_corruption_never_crashes),
      TG_TEST(test_header_fuzz),
      TG_TEST(test_huge_and_malformed_headers_rejected),
      TG_TEST(test_json_parser),
      TG_TEST(test_load_into_checks_and_copies),
      TG_TEST(test_foreign_file_without_checksums_loads),
      TG_TEST(test_failed_save_keeps_previous_checkpoint),
      TG_TEST(test_save_where_it_cannot_go),
      TG_TEST(test_png_gray_grid),
      TG_TEST(test_png_rgb_clamps_and_tensor_layouts),
      TG_TEST(test_png_captioned_grid),
      TG_TEST(test_png_errors_leave_no_file),
      TG_TEST(test_metrics_csv),
  };
  int rc = cmocka_run_group_tests_name("checkpoint", tests, group_setup, group_teardown);
  tg_release_cached();
  return rc;
}
