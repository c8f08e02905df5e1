/* gpt_mini: the GPT of Karpathy's lecture script, shrunk as in BurTorch's
 * benchmark (examples/gpt_model.h: context 8, n_embd 24, 6 heads of 4, 6
 * pre-LayerNorm blocks, 46,289 parameters), trained at character level
 * with SGD on a text: by default the word list of Debian's wamerican
 * (/usr/share/dict/words, one word a line), or any UTF-8 file by --text.
 *
 * Vocabulary: always 65 tokens, as the benchmark's. A text with at most 65
 * distinct characters gets them sorted by code point (the lecture's
 * sorted(set(text))), the unused tokens left as padding; a text with more
 * (the word list has 70: letters, the apostrophe, the newline and 16
 * accented letters) keeps its 64 most frequent characters, sorted, and
 * maps every other one to token 64, printed as '?'.
 *
 * The first 90 % of the text trains, the last 10 % is held out (the
 * lecture's split). Every --eval-every steps it prints the mean loss of
 * --eval-iters batches from each split (the lecture's estimate_loss, from
 * its own generator so that evaluating changes no training batch), then
 * --sample characters sampled from the model (multinomial, seeded),
 * starting from a newline. Same seed, same flags: the same output, except
 * the timing line.
 *
 *   build/examples/gpt_mini [--text FILE] [--steps N] [--batch N] [--lr X] [--seed N]
 *                           [--eval-every N] [--eval-iters N] [--sample N] [--threads N] */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "gpt_model.h"

typedef struct flags {
  const char *text;
  long steps, batch, seed, eval_every, eval_iters, sample, threads;
  double lr;
} flags;

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--text FILE] [--steps N] [--batch N] [--lr X] [--seed N]\n"
          "          [--eval-every N] [--eval-iters N] [--sample N] [--threads N]\n",
          prog);
}

/* 0, or 2 after a message on a bad flag */
static int parse(int argc, char **argv, flags *f) {
  for (int i = 1; i < argc; i += 2) { /* every flag takes a value */
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    static const char *const names[] = {"--steps", "--batch", "--seed", "--eval-every",
                                        "--eval-iters", "--sample", "--threads"};
    long *dst[] = {&f->steps, &f->batch, &f->seed, &f->eval_every, &f->eval_iters, &f->sample, &f->threads};
    int which = -1;
    for (int k = 0; k < 7; k++)
      if (!strcmp(a, names[k])) which = k;
    if (which < 0 && strcmp(a, "--text") && strcmp(a, "--lr")) {
      fprintf(stderr, "%s: unknown flag %s\n", argv[0], a);
      usage(argv[0]);
      return 2;
    }
    if (!v) {
      fprintf(stderr, "%s: %s needs a value\n", argv[0], a);
      return 2;
    }
    char *end = NULL;
    errno = 0;
    if (!strcmp(a, "--text")) f->text = v;
    else if (!strcmp(a, "--lr")) f->lr = strtod(v, &end);
    else *dst[which] = strtol(v, &end, 10);
    if (end && (*end || end == v || errno)) {
      fprintf(stderr, "%s: %s expects a number, got '%s'\n", argv[0], a, v);
      return 2;
    }
  }
  if (f->steps < 0 || f->batch <= 0 || !(f->lr > 0) || !isfinite(f->lr) || f->eval_every <= 0 ||
      f->eval_iters <= 0 || f->sample < 0 || f->threads <= 0) {
    fprintf(stderr, "%s: --steps and --sample must be >= 0, --batch, --lr, --eval-every, --eval-iters and "
                    "--threads > 0\n", argv[0]);
    return 2;
  }
  return 0;
}

/* ------------------------------------------------------------- the text */

typedef struct corpus {
  uint32_t *chars; /* code points */
  size_t n;
  uint32_t vocab[GPT_VOCAB]; /* token -> code point ('?' for the rare token) */
  size_t n_distinct, n_rare_kinds;
  int64_t *tokens; /* n of them */
} corpus;

/* UTF-8 -> code points; a byte that starts no valid sequence stands for itself (Latin-1) */
static size_t decode_utf8(const unsigned char *s, size_t len, uint32_t *out) {
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    unsigned c = s[i], extra = c >= 0xF0 && c < 0xF8 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    uint32_t cp = extra == 3 ? c & 7 : extra == 2 ? c & 15 : c & 31;
    bool ok = extra > 0 && i + extra < len;
    for (unsigned k = 1; ok && k <= extra; k++) {
      ok = i + k < len && (s[i + k] & 0xC0) == 0x80;
      if (ok) cp = cp << 6 | (s[i + k] & 63);
    }
    if (ok) {
      out[n++] = cp;
      i += extra + 1;
    } else {
      out[n++] = c;
      i++;
    }
  }
  return n;
}

static void put_utf8(uint32_t cp, FILE *f) {
  if (cp < 0x80) fputc((int)cp, f);
  else if (cp < 0x800) fprintf(f, "%c%c", 0xC0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) fprintf(f, "%c%c%c", 0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else fprintf(f, "%c%c%c%c", 0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}

typedef struct char_count {
  uint32_t cp;
  size_t count;
} char_count;

static int by_count_desc(const void *a, const void *b) {
  const char_count *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return (x->cp > y->cp) - (x->cp < y->cp);
}

static int by_cp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* the vocabulary and the token stream; 0, or -1 after a message */
static int tokenize(corpus *c) {
  char_count *counts = NULL;
  size_t nc = 0, cap = 0;
  for (size_t i = 0; i < c->n; i++) {
    size_t k = 0;
    while (k < nc && counts[k].cp != c->chars[i]) k++; /* few distinct characters: a linear search */
    if (k == nc) {
      if (nc == cap) {
        cap = cap ? 2 * cap : 128;
        char_count *more = realloc(counts, cap * sizeof *counts);
        if (!more) return free(counts), -1;
        counts = more;
      }
      counts[nc++] = (char_count){c->chars[i], 0};
    }
    counts[k].count++;
    if (k > 0 && counts[k].count > counts[k - 1].count) { /* frequent ones first: shorter searches */
      char_count t = counts[k];
      counts[k] = counts[k - 1];
      counts[k - 1] = t;
    }
  }
  qsort(counts, nc, sizeof *counts, by_count_desc);
  size_t keep = nc <= GPT_VOCAB ? nc : GPT_VOCAB - 1;
  c->n_distinct = nc;
  c->n_rare_kinds = nc - keep;
  uint32_t kept[GPT_VOCAB];
  for (size_t k = 0; k < keep; k++) kept[k] = counts[k].cp;
  qsort(kept, keep, sizeof *kept, by_cp);
  for (size_t k = 0; k < GPT_VOCAB; k++) c->vocab[k] = k < keep ? kept[k] : '?';
  free(counts);
  c->tokens = malloc(c->n * sizeof *c->tokens);
  if (!c->tokens) return -1;
  for (size_t i = 0; i < c->n; i++) {
    uint32_t *hit = bsearch(&c->chars[i], kept, keep, sizeof *kept, by_cp);
    c->tokens[i] = hit ? (int64_t)(hit - kept) : GPT_VOCAB - 1;
  }
  return 0;
}

static int load_text(const char *path, corpus *c) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "gpt_mini: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, len = 0, got;
  unsigned char *buf = malloc(cap);
  while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) {
      unsigned char *more = realloc(buf, cap *= 2);
      if (!more) free(buf);
      buf = more;
    }
  }
  fclose(f);
  c->chars = buf ? malloc((len ? len : 1) * sizeof *c->chars) : NULL;
  if (!c->chars) {
    free(buf);
    fprintf(stderr, "gpt_mini: out of memory reading %s\n", path);
    return -1;
  }
  c->n = decode_utf8(buf, len, c->chars);
  free(buf);
  /* each split needs a window of T + 1 characters */
  if (c->n / 10 < GPT_CTX + 2) {
    fprintf(stderr, "gpt_mini: %s has %zu characters; at least %d are needed (10 %% held out, each split > %d)\n",
            path, c->n, 10 * (GPT_CTX + 2), GPT_CTX + 1);
    return -1;
  }
  if (tokenize(c)) {
    fprintf(stderr, "gpt_mini: out of memory\n");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- training */

typedef struct run {
  gpt_model g;
  tg_optimizer *opt;
  tg_tensor *idx, *tgt, *pos; /* persistent (B*T) int64 */
  size_t B;
} run;

/* mean loss over iters batches of one split, without recording */
static double estimate_loss(run *r, const int64_t *data, size_t n, long iters, tg_rng *rng) {
  double sum = 0;
  tg_no_grad_begin();
  for (long i = 0; i < iters; i++) {
    gpt_sample_batch(data, n, r->B, GPT_CTX, rng, r->idx, r->tgt);
    tg_scope_begin();
    sum += tg_item(gpt_loss(&r->g, r->idx, r->tgt, r->pos, r->B, GPT_CTX));
    tg_scope_end();
  }
  tg_no_grad_end();
  return sum / (double)iters;
}

/* n characters from the model, starting after a newline (or token 0) */
static int sample_text(const run *r, const corpus *c, long n, tg_rng *rng) {
  int64_t ctx[GPT_CTX] = {0};
  size_t len = 1;
  for (size_t k = 0; k < GPT_VOCAB; k++)
    if (c->vocab[k] == '\n') ctx[0] = (int64_t)k;
  tg_no_grad_begin();
  for (long i = 0; i < n; i++) {
    tg_scope_begin();
    tg_tensor *idx = tg_from_i64(TG_SHAPE(len), ctx);
    tg_tensor *pos = gpt_positions(1, len);
    tg_tensor *logits = gpt_forward(&r->g, idx, pos, 1, len);
    tg_tensor *probs = tg_softmax(tg_select(logits, 0, (long)len - 1), -1);
    tg_tensor *next = tg_multinomial(rng, probs, 1, true);
    int64_t tok = next ? ((int64_t *)tg_data(next))[0] : -1;
    tg_scope_end();
    if (tok < 0) {
      tg_no_grad_end();
      return -1;
    }
    put_utf8(c->vocab[tok], stdout);
    if (len == GPT_CTX) memmove(ctx, ctx + 1, (GPT_CTX - 1) * sizeof *ctx);
    else len++;
    ctx[len - 1] = tok;
  }
  tg_no_grad_end();
  return 0;
}

static int train(run *r, const corpus *c, const flags *f) {
  size_t n_train = c->n - c->n / 10, n_val = c->n / 10;
  const int64_t *train_data = c->tokens, *val_data = c->tokens + n_train;
  tg_rng batch_rng, eval_rng;
  tg_rng_seed(&batch_rng, (uint64_t)f->seed + 1);
  tg_rng_seed(&eval_rng, (uint64_t)f->seed + 2);
  double train_time = 0;
  struct timespec a, b;
  for (long s = 0; s <= f->steps; s++) {
    if (s % f->eval_every == 0 || s == f->steps) {
      double tl = estimate_loss(r, train_data, n_train, f->eval_iters, &eval_rng);
      double vl = estimate_loss(r, val_data, n_val, f->eval_iters, &eval_rng);
      printf("step %ld: train loss %.4f, val loss %.4f\n", s, tl, vl);
      fflush(stdout);
      if (isnan(tl) || isnan(vl)) {
        if (!tg_has_error()) fprintf(stderr, "gpt_mini: the loss is NaN at step %ld: diverged (try a smaller --lr)\n", s);
        return -1;
      }
    }
    if (s == f->steps) break;
    gpt_sample_batch(train_data, n_train, r->B, GPT_CTX, &batch_rng, r->idx, r->tgt);
    clock_gettime(CLOCK_MONOTONIC, &a);
    double loss = gpt_train_step(&r->g, r->opt, r->idx, r->tgt, r->pos, r->B, GPT_CTX);
    clock_gettime(CLOCK_MONOTONIC, &b);
    train_time += (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    if (isnan(loss)) {
      if (!tg_has_error()) fprintf(stderr, "gpt_mini: the loss is NaN at step %ld: diverged (try a smaller --lr)\n", s);
      return -1;
    }
  }
  printf("time: %.2f s in %ld training steps (%.0f steps/s, batch %zu)\n", train_time, f->steps,
         train_time > 0 ? (double)f->steps / train_time : 0.0, r->B);
  return 0;
}

int main(int argc, char **argv) {
  flags f = {.text = "/usr/share/dict/words", .steps = 2000, .batch = 32, .seed = 0, .eval_every = 500,
             .eval_iters = 20, .sample = 200, .threads = 1, .lr = 0.3};
  int rc = parse(argc, argv, &f);
  if (rc) return rc;
  tg_set_num_threads((int)f.threads);
  corpus c = {0};
  run r = {.B = (size_t)f.batch};
  rc = 1;
  if (load_text(f.text, &c)) goto out;
  tg_rng rng;
  tg_rng_seed(&rng, (uint64_t)f.seed);
  if (gpt_build(&r.g, &rng)) goto fail;
  size_t np = 0;
  tg_tensor **params = tg_module_parameters(r.g.root, &np);
  tg_sgd_opts so = tg_sgd_defaults();
  so.lr = f.lr;
  r.opt = params ? tg_sgd_new(params, (int)np, so) : NULL;
  r.idx = tg_empty(TG_INT64, TG_SHAPE(r.B * GPT_CTX));
  r.tgt = tg_empty(TG_INT64, TG_SHAPE(r.B * GPT_CTX));
  r.pos = gpt_positions(r.B, GPT_CTX);
  if (!r.opt || !r.idx || !r.tgt || !r.pos) goto fail;
  printf("text: %s, %zu characters (%zu train, %zu val), %zu distinct", f.text, c.n, c.n - c.n / 10, c.n / 10,
         c.n_distinct);
  if (c.n_rare_kinds) printf(" (the %zu rarest share token %d, '?')", c.n_rare_kinds, GPT_VOCAB - 1);
  printf("\nvocab: %d\nparameters: %zu\n", GPT_VOCAB, tg_module_num_parameters(r.g.root, false));
  printf("model: context %d, n_embd %d, %d heads of %d, %d blocks; SGD lr %g, batch %zu, seed %ld\n", GPT_CTX,
         GPT_EMBD, GPT_HEADS, GPT_EMBD / GPT_HEADS, GPT_LAYERS, f.lr, r.B, f.seed);
  if (train(&r, &c, &f)) goto fail;
  tg_rng sample_rng;
  tg_rng_seed(&sample_rng, (uint64_t)f.seed + 3);
  printf("sample:\n");
  if (sample_text(&r, &c, f.sample, &sample_rng)) goto fail;
  printf("\n");
  rc = 0;
  goto out;
fail:
  if (tg_has_error()) fprintf(stderr, "gpt_mini: %s\n", tg_last_error());
out:
  tg_optim_free(r.opt);
  tg_free(r.idx);
  tg_free(r.tgt);
  tg_free(r.pos);
  gpt_free(&r.g);
  free(c.chars);
  free(c.tokens);
  tg_release_cached();
  return rc;
}
