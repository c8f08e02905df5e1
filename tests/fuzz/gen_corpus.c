/* Writes the seed corpus of the fuzz targets: DIR/<target>/ok-* (valid
 * inputs, which must load) and DIR/<target>/bad-* (malformed ones, which
 * must be rejected with a message naming the file), in the input layouts
 * of fuzz_inputs.h. The committed tests/fuzz/corpus was made by
 *
 *   ninja -C build-fuzz tests/fuzz/fuzz_gen_corpus &&
 *     build-fuzz/tests/fuzz/fuzz_gen_corpus tests/fuzz/corpus
 *
 * Small on purpose: the fuzzer grows its own copy (scripts/fuzz.sh). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "tapegrad.h"

static const char *root;

static void die(const char *what) {
  fprintf(stderr, "gen_corpus: %s: %s\n", what, tg_last_error()[0] ? tg_last_error() : strerror(errno));
  exit(1);
}

static void mkdir_p(const char *path) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST) die(path);
}

static void path_of(char *buf, size_t len, const char *target, const char *name) {
  snprintf(buf, len, "%s/%s/%s", root, target, name);
}

static void put(const char *target, const char *name, const void *d, size_t n) {
  char path[1024];
  path_of(path, sizeof path, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0) die(path);
}

/* a growing byte buffer */
typedef struct buf {
  uint8_t d[65536];
  size_t n;
} buf;

static void b_bytes(buf *b, const void *p, size_t n) {
  if (b->n + n > sizeof b->d) die("buffer full");
  if (n) memcpy(b->d + b->n, p, n);
  b->n += n;
}
static void b_u8(buf *b, uint8_t v) { b_bytes(b, &v, 1); }
static void b_be32(buf *b, uint32_t v) {
  uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  b_bytes(b, p, 4);
}
static void b_str(buf *b, const char *s) { b_bytes(b, s, strlen(s)); }

/* gzip of d[0..n) appended to b */
static void b_gzip(buf *b, const uint8_t *d, size_t n) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) die("deflate");
  zs.next_in = (Bytef *)d;
  zs.avail_in = (uInt)n;
  zs.next_out = b->d + b->n;
  zs.avail_out = (uInt)(sizeof b->d - b->n);
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) die("deflate");
  b->n += zs.total_out;
  deflateEnd(&zs);
}

/* ------------------------------------------------------------ IDX */

static void idx_labels(buf *b, uint32_t n, uint32_t claim) {
  b_be32(b, 0x801);
  b_be32(b, claim);
  for (uint32_t i = 0; i < n; i++) b_u8(b, (uint8_t)(i % 10));
}

static void idx_images(buf *b, uint32_t n, uint32_t rows, uint32_t cols, uint32_t claim) {
  b_be32(b, 0x803);
  b_be32(b, claim);
  b_be32(b, rows);
  b_be32(b, cols);
  for (uint32_t k = 0; k < n * rows * cols; k++) b_u8(b, (uint8_t)(k * 37 + 11));
}

/* [u32 L][labels][images] into out, optionally after a flags byte, with
 * each part gzipped here when asked (for the raw-.gz seeds) */
static void idx_pair(buf *out, int flags, const buf *lab, const buf *img, bool gz_lab, bool gz_img) {
  buf l = {0}, i = {0};
  if (gz_lab) b_gzip(&l, lab->d, lab->n);
  else b_bytes(&l, lab->d, lab->n);
  if (gz_img) b_gzip(&i, img->d, img->n);
  else b_bytes(&i, img->d, img->n);
  out->n = 0;
  if (flags >= 0) b_u8(out, (uint8_t)flags);
  b_be32(out, (uint32_t)l.n);
  b_bytes(out, l.d, l.n);
  b_bytes(out, i.d, i.n);
}

static void gen_idx(void) {
  static buf lab, img, out, tmp;
  struct {
    const char *name;
    uint32_t n, rows, cols, lab_claim, img_claim, lab_n, img_n;
  } cases[] = {
      {"ok-3x4x4", 3, 4, 4, 3, 3, 3, 3},
      {"ok-1x28x28", 1, 28, 28, 1, 1, 1, 1},
      {"ok-12x2x3", 12, 2, 3, 12, 12, 12, 12},
      {"bad-count-mismatch", 3, 2, 2, 2, 3, 2, 3},
      {"bad-images-truncated", 3, 4, 4, 3, 3, 3, 2},
      {"bad-labels-truncated", 3, 2, 2, 5, 3, 3, 3},
      {"bad-huge-claim", 2, 2, 2, 2, 0xFFFFFFFFu, 2, 2},
      {"bad-zero-images", 0, 2, 2, 0, 0, 0, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    lab.n = img.n = 0;
    idx_labels(&lab, cases[c].lab_n, cases[c].lab_claim);
    idx_images(&img, cases[c].img_n, cases[c].rows, cases[c].cols, cases[c].img_claim);
    idx_pair(&out, -1, &lab, &img, false, false);
    put("fuzz_idx", cases[c].name, out.d, out.n);
    /* the same, gzipped by the harness (flags 3) */
    idx_pair(&out, 3, &lab, &img, false, false);
    put("fuzz_idx_gz", cases[c].name, out.d, out.n);
  }
  /* malformed in other ways */
  lab.n = img.n = 0;
  idx_labels(&lab, 2, 2);
  idx_images(&img, 2, 3, 3, 2);
  idx_pair(&out, -1, &img, &lab, false, false); /* swapped */
  put("fuzz_idx", "bad-swapped", out.d, out.n);
  tmp.n = 0;
  b_bytes(&tmp, img.d, img.n);
  b_str(&tmp, "trailing");
  idx_pair(&out, -1, &lab, &tmp, false, false);
  put("fuzz_idx", "bad-trailing-bytes", out.d, out.n);
  tmp.n = 0;
  b_bytes(&tmp, img.d, 10); /* inside the header */
  idx_pair(&out, -1, &lab, &tmp, false, false);
  put("fuzz_idx", "bad-short-header", out.d, out.n);
  put("fuzz_idx", "bad-empty", "", 0);

  /* .gz files as they are on disk (flags 0), and broken ones */
  lab.n = img.n = 0;
  idx_labels(&lab, 4, 4);
  idx_images(&img, 4, 5, 5, 4);
  idx_pair(&out, 0, &lab, &img, true, true);
  put("fuzz_idx_gz", "ok-raw-gz-4x5x5", out.d, out.n);
  idx_pair(&out, 2, &lab, &img, true, false); /* labels .gz as is, images gzipped here */
  put("fuzz_idx_gz", "ok-raw-gz-labels", out.d, out.n);
  idx_pair(&out, 0, &lab, &img, true, true);
  out.n -= 12; /* cut off the end of the images' stream */
  put("fuzz_idx_gz", "bad-gz-truncated", out.d, out.n);
  idx_pair(&out, 0, &lab, &img, true, true);
  out.d[out.n - 6] ^= 0x55; /* the images' CRC */
  put("fuzz_idx_gz", "bad-gz-crc", out.d, out.n);
  lab.n = img.n = 0;
  idx_labels(&lab, 2, 2);
  idx_images(&img, 2, 16, 16, 1000000); /* a lying count (256 MB): memory must follow the data */
  idx_pair(&out, 3, &lab, &img, false, false);
  put("fuzz_idx_gz", "bad-gz-huge-claim", out.d, out.n);
}

/* ------------------------------------------------------------ CIFAR */

static void cifar_record(buf *b, uint8_t label, unsigned seed) {
  b_u8(b, label);
  for (unsigned k = 0; k < 3072; k++) b_u8(b, (uint8_t)((k * 7 + seed * 13) >> 3));
}

static void gen_cifar(void) {
  static buf b;
  b.n = 0;
  b_u8(&b, 0);
  cifar_record(&b, 3, 1);
  put("fuzz_cifar", "ok-1-record", b.d, b.n);
  b.n = 0;
  b_u8(&b, 1); /* gzipped here */
  cifar_record(&b, 9, 2);
  cifar_record(&b, 0, 3);
  put("fuzz_cifar", "ok-2-records-gz", b.d, b.n);
  b.n = 0;
  b_u8(&b, 2); /* two files */
  cifar_record(&b, 5, 4);
  put("fuzz_cifar", "ok-2-files", b.d, b.n);
  b.n = 0;
  b_u8(&b, 0);
  cifar_record(&b, 10, 5); /* label out of range */
  put("fuzz_cifar", "bad-label-10", b.d, b.n);
  b.n = 0;
  b_u8(&b, 0);
  cifar_record(&b, 1, 6);
  b.n -= 100; /* a partial record */
  put("fuzz_cifar", "bad-partial-record", b.d, b.n);
  b.n = 0;
  b_u8(&b, 1);
  cifar_record(&b, 1, 7);
  cifar_record(&b, 2, 8);
  b.n -= 1000; /* a partial record in a gzip stream */
  put("fuzz_cifar", "bad-partial-record-gz", b.d, b.n);
  b.n = 0;
  b_u8(&b, 0);
  put("fuzz_cifar", "bad-empty", b.d, b.n);
  static buf rec;
  rec.n = 0;
  cifar_record(&rec, 4, 9);
  b.n = 0;
  b_u8(&b, 0); /* a .gz batch file as it is */
  b_gzip(&b, rec.d, rec.n);
  put("fuzz_cifar", "ok-raw-gz", b.d, b.n);
}

/* ------------------------------------------------------------ CSV */

/* opts byte of fuzz_inputs.h: header 0 auto / 1 yes / 2 no; label column
 * -1..2; delimiter index into ",;\t "; gzip */
static uint8_t csv_opts(int header, int label, int delim, bool gz) {
  return (uint8_t)(header | (label + 1) << 2 | delim << 4 | (gz ? 64 : 0));
}

static void csv_seed(const char *name, uint8_t opts, const char *text) {
  static buf b;
  b.n = 0;
  b_u8(&b, opts);
  b_str(&b, text);
  put("fuzz_csv", name, b.d, b.n);
}

/* a CSV file that is itself gzip (the opts byte's gzip bit clear) */
static void csv_seed_raw_gz(const char *name, uint8_t opts, const char *text) {
  static buf b;
  b.n = 0;
  b_u8(&b, opts);
  b_gzip(&b, (const uint8_t *)text, strlen(text));
  put("fuzz_csv", name, b.d, b.n);
}

static void gen_csv(void) {
  csv_seed("ok-header-label0", csv_opts(0, 0, 0, false),
           "label,a,b,c\n1,0.5,2,-3\n0,1e3,-4.25,0\n2,7,8,9\n");
  csv_seed("ok-nolabel-semicolon", csv_opts(2, -1, 1, false), "1;2;3\n4.5;-6;7e-2\n\n8;9;10\n");
  csv_seed("ok-tab-label2-gz", csv_opts(1, 2, 2, true), "x\ty\tclass\n0.1\t0.2\t3\n0.3\t0.4\t1\n");
  csv_seed("ok-crlf-bom-space", csv_opts(0, 1, 3, false), "\xEF\xBB\xBF" "1 4 2\r\n3 0 4\r\n");
  csv_seed("bad-ragged", csv_opts(0, 0, 0, false), "1,2,3\n4,5\n");
  csv_seed("bad-negative-label", csv_opts(0, 0, 0, false), "1,2\n-1,3\n");
  csv_seed("bad-fractional-label", csv_opts(0, 0, 0, false), "1,2\n1.5,3\n");
  csv_seed("bad-nan", csv_opts(2, -1, 0, false), "1,nan\n");
  csv_seed("bad-empty-field", csv_opts(2, -1, 0, false), "1,,2\n");
  csv_seed("bad-header-only", csv_opts(1, -1, 0, false), "a,b\n");
  csv_seed("bad-empty", csv_opts(0, -1, 0, false), "");
  csv_seed("bad-label-column-missing", csv_opts(0, 2, 0, false), "1,2\n3,4\n");
  csv_seed("bad-only-label", csv_opts(0, 0, 0, false), "1\n2\n");
  csv_seed("bad-binary-gz", csv_opts(0, 0, 0, true), "1,2\n3,\x01\x02\n");
  csv_seed_raw_gz("ok-raw-gz", csv_opts(0, -1, 0, false), "a,b,c\n1,2,3\n\n\n4,5,6\n");
}

/* ------------------------------------------------------------ safetensors */

static size_t slurp(const char *target, const char *name, uint8_t *d, size_t cap) {
  char path[1024];
  path_of(path, sizeof path, target, name);
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  size_t n = fread(d, 1, cap, f);
  fclose(f);
  return n;
}

/* a file with a hand-written header (as other writers make them) */
static void st_raw(const char *name, const char *header, const void *data, size_t n) {
  static buf b;
  b.n = 0;
  size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
  for (int k = 0; k < 8; k++) b_u8(&b, (uint8_t)((uint64_t)padded >> (8 * k)));
  b_str(&b, header);
  for (size_t k = hl; k < padded; k++) b_u8(&b, ' ');
  b_bytes(&b, data, n);
  put("fuzz_safetensors", name, b.d, b.n);
}

static void gen_safetensors(void) {
  char path[1024];
  const float w[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
  const double s = 2.5;
  tg_tensor *t[3] = {tg_from_f32(TG_SHAPE(2, 3), w), tg_scalar(TG_FLOAT64, s),
                     tg_zeros(TG_INT64, TG_SHAPE(3))};
  const char *names[3] = {"weight", "scale", "idx"};
  const tg_kv meta[1] = {{"format", "pt"}};
  if (!t[0] || !t[1] || !t[2]) die("tensors");
  path_of(path, sizeof path, "fuzz_safetensors", "ok-tapegrad-3");
  if (tg_save_safetensors(path, 3, names, t, meta, 1) != 0) die(path);
  tg_tensor *e = tg_zeros(TG_FLOAT32, TG_SHAPE(0, 4));
  const char *ename = "empty";
  path_of(path, sizeof path, "fuzz_safetensors", "ok-tapegrad-empty-tensor");
  if (!e || tg_save_safetensors(path, 1, &ename, &e, NULL, 0) != 0) die(path);
  for (int k = 0; k < 3; k++) tg_free(t[k]);
  tg_free(e);

  static uint8_t f[4096];
  size_t n = slurp("fuzz_safetensors", "ok-tapegrad-3", f, sizeof f);
  f[n - 1] ^= 1; /* the last tensor's data: checksum mismatch */
  put("fuzz_safetensors", "bad-checksum", f, n);
  f[n - 1] ^= 1;
  put("fuzz_safetensors", "bad-truncated", f, n - 5);
  uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
  put("fuzz_safetensors", "bad-huge-header-length", huge, sizeof huge);
  uint8_t past[16] = {0x00, 0x10, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
  put("fuzz_safetensors", "bad-header-past-end", past, sizeof past);
  put("fuzz_safetensors", "bad-short", past, 5);

  const float two[2] = {1, 2};
  st_raw("ok-foreign-no-checksums",
         "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
         "\"data_offsets\":[0,8]}}", two, sizeof two);
  st_raw("ok-empty-header", "{}", NULL, 0);
  st_raw("bad-overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two, sizeof two);
  st_raw("bad-gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two,
         sizeof two);
  st_raw("bad-dtype", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", two,
         sizeof two);
  st_raw("bad-shape-size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", two,
         sizeof two);
  st_raw("bad-shape-overflow",
         "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
         two, sizeof two);
  st_raw("bad-json", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", two,
         sizeof two);
  st_raw("bad-duplicate-key",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two, sizeof two);
  st_raw("bad-deep", "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]", NULL, 0);
  st_raw("bad-checksum-unknown-tensor",
         "{\"__metadata__\":{\"tapegrad.xxh3.b\":\"0123456789abcdef\"},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", two, sizeof two);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR   (writes DIR/fuzz_<target>/ok-*, bad-*)\n", argv[0]);
    return 2;
  }
  root = argv[1];
  const char *targets[] = {"fuzz_idx", "fuzz_idx_gz", "fuzz_cifar", "fuzz_csv", "fuzz_safetensors"};
  char dir[1024];
  mkdir_p(root);
  for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
    snprintf(dir, sizeof dir, "%s/%s", root, targets[k]);
    mkdir_p(dir);
  }
  gen_idx();
  gen_cifar();
  gen_csv();
  gen_safetensors();
  tg_release_cached();
  return 0;
}
