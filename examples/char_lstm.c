/* A makemore-style character model on Debian's word list (wamerican's
 * /usr/share/dict/words), written as the PyTorch model:
 *
 *   Embedding(27, E) -> LSTM(E, H, num_layers=2, batch_first) -> Linear(H, 27)
 *
 * Words are the a-z lines in file order; word i is held out for validation
 * when i % 10 == 9. Tokens: '.' = 0 (start and end), 'a'..'z' = 1..26; the
 * word w is read as ". w" and predicts "w .". A batch pads its words to the
 * longest and hands their lengths to the LSTM (pack_padded_sequence's role),
 * so padded steps change nothing; padded targets are -100, which the loss
 * skips. Mean cross-entropy over real tokens, AdamW (weight decay 0.01),
 * gradient norm clipped at 1. Each epoch shuffles with splitmix64(seed +
 * epoch), as bench/char_lstm_torch.py (the same program in PyTorch) does, so
 * both see the same batches. Ends with 20 words sampled at a temperature.
 *
 *   build/examples/char_lstm [--words FILE] [--epochs 3] [--batch 32] ... */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"

#define VOCAB 27
#define MAX_SAMPLE_LEN 20

typedef struct flags {
  const char *words;
  int epochs, threads;
  size_t batch, embed, hidden, max_words;
  long max_steps;
  double lr, temperature;
  uint64_t seed;
} flags;

/* the a-z words of a file, in one buffer: word k is text + off[k], len[k] */
typedef struct word_list {
  char *text;
  size_t *off, *len, n;
} word_list;

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--words FILE] [--epochs N] [--batch N] [--embed N] [--hidden N] [--lr X]\n"
          "          [--seed N] [--max-words N] [--max-steps N] [--temperature X] [--threads N]\n",
          prog);
}

static int parse_number(const char *flag, const char *s, double lo, double *out) {
  char *end = NULL;
  errno = 0;
  double v = s ? strtod(s, &end) : NAN;
  if (!s || errno || end == s || *end || !(v >= lo)) {
    fprintf(stderr, "char_lstm: %s needs a number >= %g, got \"%s\"\n", flag, lo, s ? s : "");
    return -1;
  }
  *out = v;
  return 0;
}

static const char *const numeric_flags[] = {"--lr", "--temperature", "--epochs", "--threads", "--batch",
                                            "--embed", "--hidden", "--max-words", "--max-steps", "--seed"};

/* the value of numeric flag k into f */
static void set_flag(flags *f, int k, double x) {
  switch (k) {
  case 0: f->lr = x; break;
  case 1: f->temperature = x; break;
  case 2: f->epochs = (int)x; break;
  case 3: f->threads = (int)x; break;
  case 4: f->batch = (size_t)x; break;
  case 5: f->embed = (size_t)x; break;
  case 6: f->hidden = (size_t)x; break;
  case 7: f->max_words = (size_t)x; break;
  case 8: f->max_steps = (long)x; break;
  default: f->seed = (uint64_t)x; break;
  }
}

static int parse_flags(int argc, char **argv, flags *f) {
  /* the least value of each numeric flag, in numeric_flags' order */
  const double least[] = {1e-12, 1e-6, 1, 1, 1, 1, 1, 0, 0, 0};
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int k = 0, n = (int)(sizeof numeric_flags / sizeof *numeric_flags);
    while (k < n && strcmp(a, numeric_flags[k]) != 0) k++;
    double x = 0;
    if (strcmp(a, "--words") == 0 && v) {
      f->words = v;
      continue;
    }
    if (k < n && !parse_number(a, v, least[k], &x)) {
      set_flag(f, k, x);
      continue;
    }
    if (k == n) fprintf(stderr, "char_lstm: unknown or incomplete flag \"%s\"\n", a);
    usage(argv[0]);
    return 2;
  }
  return 0;
}

static bool is_az_word(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 'a' || s[i] > 'z') return false;
  return true;
}

/* the file's a-z lines (at most max, 0 = all); 0 or -1 with a message */
static int load_words(const char *path, size_t max, word_list *w) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "char_lstm: cannot open %s: %s (Debian: apt-get install wamerican)\n", path,
            strerror(errno));
    return -1;
  }
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  rewind(fp);
  w->text = size > 0 ? malloc((size_t)size + 1) : NULL;
  size_t got = w->text ? fread(w->text, 1, (size_t)size, fp) : 0;
  fclose(fp);
  w->off = calloc((size_t)size / 2 + 1, sizeof *w->off);
  w->len = calloc((size_t)size / 2 + 1, sizeof *w->len);
  if (!w->text || !w->off || !w->len || got != (size_t)size) {
    fprintf(stderr, "char_lstm: cannot read %s\n", path);
    return -1;
  }
  w->text[got] = '\n';
  w->n = 0;
  for (size_t i = 0; i < got && (!max || w->n < max);) {
    size_t j = i;
    while (w->text[j] != '\n') j++;
    if (is_az_word(w->text + i, j - i)) w->off[w->n] = i, w->len[w->n++] = j - i;
    i = j + 1;
  }
  if (w->n < 10) {
    fprintf(stderr, "char_lstm: %s has %zu a-z words; 10 are needed\n", path, w->n);
    return -1;
  }
  return 0;
}

static void free_words(word_list *w) {
  free(w->text), free(w->off), free(w->len);
}

/* splitmix64, the generator of bench/char_lstm_torch.py's shuffles */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void shuffle(size_t *order, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) order[i] = i;
  for (size_t i = n - 1; i > 0 && n > 1; i--) {
    size_t j = (size_t)(splitmix64(&seed) % (i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

/* The model: a container whose children carry PyTorch's names, so its
 * state dict reads embedding.weight, lstm.weight_ih_l0, ..., head.bias. */
static tg_module *char_lstm_model(const flags *f, tg_rng *rng) {
  tg_module *m = tg_module_new("CharLSTM", NULL);
  tg_rnn_opts ro = tg_rnn_defaults(f->embed, f->hidden);
  ro.num_layers = 2;
  ro.batch_first = true;
  ro.rng = rng;
  if (!m || tg_module_add_child(m, "embedding", tg_nn_embedding(VOCAB, f->embed, TG_NO_PADDING_IDX, rng)) ||
      tg_module_add_child(m, "lstm", tg_nn_lstm(ro)) ||
      tg_module_add_child(m, "head", tg_nn_linear(f->hidden, VOCAB, true, rng))) {
    tg_module_free(m);
    return NULL;
  }
  return m;
}

/* logits (B, T, 27) of the padded batch x (B, T) with its lengths */
static tg_tensor *model_forward(tg_module *m, tg_tensor *x, const int64_t *lengths) {
  tg_tensor *out = NULL;
  tg_tensor *emb = tg_module_forward(tg_module_child(m, "embedding"), x);
  if (!emb || tg_nn_rnn_forward(tg_module_child(m, "lstm"), emb, NULL, NULL, lengths, &out, NULL, NULL))
    return NULL;
  return tg_module_forward(tg_module_child(m, "head"), out);
}

/* The batch of words idx[0..n): inputs ". w" and targets "w ." padded with
 * 0 and -100 to T = the longest + 1, lengths len + 1; in the current scope. */
static int make_batch(const word_list *w, const size_t *idx, size_t n, int64_t *buf, int64_t *lengths,
                      tg_tensor **x, tg_tensor **y) {
  size_t t = 0;
  for (size_t b = 0; b < n; b++)
    if (w->len[idx[b]] + 1 > t) t = w->len[idx[b]] + 1;
  int64_t *xs = buf, *ys = buf + n * t;
  for (size_t b = 0; b < n; b++) {
    const char *s = w->text + w->off[idx[b]];
    size_t len = w->len[idx[b]];
    for (size_t k = 0; k < t; k++) {
      xs[b * t + k] = k == 0 ? 0 : k <= len ? s[k - 1] - 'a' + 1 : 0;
      ys[b * t + k] = k < len ? s[k] - 'a' + 1 : k == len ? 0 : -100;
    }
    lengths[b] = (int64_t)len + 1;
  }
  *x = tg_from_i64(2, (size_t[]){n, t}, xs);
  *y = tg_from_i64(1, (size_t[]){n * t}, ys);
  return *x && *y ? 0 : -1;
}

/* the summed cross-entropy over the real tokens of a batch, and their count */
static tg_tensor *batch_loss(tg_module *m, const word_list *w, const size_t *idx, size_t n, int64_t *buf,
                             int64_t *lengths, size_t *count) {
  tg_tensor *x = NULL, *y = NULL;
  if (make_batch(w, idx, n, buf, lengths, &x, &y)) return NULL;
  *count = 0;
  for (size_t b = 0; b < n; b++) *count += (size_t)lengths[b];
  tg_tensor *logits = model_forward(m, x, lengths);
  if (!logits) return NULL;
  tg_class_loss_opts o = tg_class_loss_defaults();
  o.reduction = TG_REDUCTION_SUM;
  return tg_cross_entropy_with(tg_reshape(logits, 2, (size_t[]){x->numel, VOCAB}), y, o);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct trainer {
  tg_module *model;
  tg_optimizer *opt;
  tg_tensor **params;
  size_t n_params;
  const word_list *words;
  size_t *train, n_train, *val, n_val, *order, *picked;
  int64_t *buf, *lengths; /* batch scratch, sized for the longest word */
} trainer;

/* one epoch over the shuffled training words: mean loss per token, words seen */
static int train_epoch(trainer *t, const flags *f, int epoch, double *loss, size_t *seen) {
  shuffle(t->order, t->n_train, f->seed + (uint64_t)epoch);
  double total = 0;
  size_t tokens = 0;
  *seen = 0;
  for (size_t i = 0, step = 0; i < t->n_train && (!f->max_steps || (long)step < f->max_steps);
       i += f->batch, step++) {
    size_t n = t->n_train - i < f->batch ? t->n_train - i : f->batch, count = 0;
    for (size_t b = 0; b < n; b++) t->picked[b] = t->train[t->order[i + b]];
    tg_scope_begin();
    tg_tensor *sum = batch_loss(t->model, t->words, t->picked, n, t->buf, t->lengths, &count);
    if (!sum || tg_optim_zero_grad(t->opt) || tg_backward(tg_div_scalar(sum, (double)count), NULL, false) ||
        isnan(tg_clip_grad_norm(t->params, (int)t->n_params, 1.0, 2.0)) || tg_optim_step(t->opt)) {
      tg_scope_end();
      return -1;
    }
    total += tg_item(sum);
    tokens += count;
    *seen += n;
    tg_scope_end();
  }
  *loss = total / (double)tokens;
  return 0;
}

/* mean loss per token over the validation words, in batches of 256 */
static int evaluate(trainer *t, double *loss) {
  double total = 0;
  size_t tokens = 0;
  tg_no_grad_begin();
  tg_module_eval(t->model);
  for (size_t i = 0; i < t->n_val; i += 256) {
    size_t n = t->n_val - i < 256 ? t->n_val - i : 256, count = 0;
    tg_scope_begin();
    tg_tensor *sum = batch_loss(t->model, t->words, t->val + i, n, t->buf, t->lengths, &count);
    if (sum) total += tg_item(sum), tokens += count;
    tg_scope_end();
    if (!sum) break;
  }
  tg_module_train(t->model, true);
  tg_no_grad_end();
  *loss = total / (double)(tokens ? tokens : 1);
  return tokens ? 0 : -1;
}

/* one word drawn token by token from '.', carrying the LSTM state */
static int sample_word(tg_module *m, double temperature, tg_rng *rng, char *word) {
  tg_tensor *h = NULL, *c = NULL;
  int64_t tok = 0;
  size_t n = 0;
  while (n < MAX_SAMPLE_LEN) {
    tg_tensor *x = tg_from_i64(2, (size_t[]){1, 1}, &tok), *out[3] = {0};
    tg_tensor *emb = tg_module_forward(tg_module_child(m, "embedding"), x);
    if (!emb || tg_module_forward_multi(tg_module_child(m, "lstm"), (tg_tensor *[]){emb, h, c}, 3, out, 3) < 3)
      return -1;
    h = out[1], c = out[2];
    tg_tensor *logits = tg_module_forward(tg_module_child(m, "head"), out[0]); /* (1, 1, 27) */
    tg_tensor *p = tg_softmax(tg_div_scalar(tg_reshape(logits, 1, (size_t[]){VOCAB}), temperature), 0);
    tg_tensor *s = p ? tg_multinomial(rng, p, 1, false) : NULL;
    if (!s) return -1;
    tok = (int64_t)tg_item(s);
    if (tok == 0) break;
    word[n++] = (char)('a' + tok - 1);
  }
  word[n] = '\0';
  return 0;
}

static int print_samples(tg_module *m, const flags *f, tg_rng *rng) {
  printf("samples (temperature %.2f):", f->temperature);
  tg_no_grad_begin();
  tg_module_eval(m);
  int rc = 0;
  for (int k = 0; k < 20 && !rc; k++) {
    char word[MAX_SAMPLE_LEN + 1];
    tg_scope_begin();
    rc = sample_word(m, f->temperature, rng, word);
    tg_scope_end();
    if (!rc) printf(" %s", word);
  }
  printf("\n");
  tg_module_train(m, true);
  tg_no_grad_end();
  return rc;
}

static int run(trainer *t, const flags *f, tg_rng *rng) {
  printf("char_lstm: %zu train words, %zu val words, %zu parameters, %d thread(s)\n", t->n_train, t->n_val,
         tg_module_num_parameters(t->model, true), f->threads);
  double start = now();
  for (int e = 0; e < f->epochs; e++) {
    double t0 = now(), train_loss = 0, val_loss = 0;
    size_t seen = 0;
    if (train_epoch(t, f, e, &train_loss, &seen)) return -1;
    double dt = now() - t0;
    if (evaluate(t, &val_loss)) return -1;
    printf("epoch %d/%d  train loss %.4f  val loss %.4f  %.0f words/s  elapsed %.1fs\n", e + 1, f->epochs,
           train_loss, val_loss, (double)seen / dt, now() - start);
    fflush(stdout);
  }
  return print_samples(t->model, f, rng);
}

/* the split (i % 10 == 9 held out) and the scratch arrays; 0 or -1 */
static int trainer_init(trainer *t, const word_list *w, const flags *f) {
  size_t longest = 0;
  for (size_t i = 0; i < w->n; i++) longest = w->len[i] > longest ? w->len[i] : longest;
  size_t rows = f->batch > 256 ? f->batch : 256;
  t->words = w;
  t->train = malloc(w->n * sizeof *t->train);
  t->val = malloc(w->n * sizeof *t->val);
  t->order = malloc(w->n * sizeof *t->order);
  t->picked = malloc(rows * sizeof *t->picked);
  t->buf = malloc(2 * rows * (longest + 1) * sizeof *t->buf);
  t->lengths = malloc(rows * sizeof *t->lengths);
  if (!t->train || !t->val || !t->order || !t->picked || !t->buf || !t->lengths) return -1;
  for (size_t i = 0; i < w->n; i++) {
    if (i % 10 == 9) t->val[t->n_val++] = i;
    else t->train[t->n_train++] = i;
  }
  return 0;
}

static void trainer_free(trainer *t) {
  free(t->train), free(t->val), free(t->order), free(t->picked), free(t->buf), free(t->lengths);
  tg_optim_free(t->opt);
  tg_module_free(t->model);
}

int main(int argc, char **argv) {
  flags f = {.words = "/usr/share/dict/words", .epochs = 3, .threads = 1, .batch = 32, .embed = 24,
             .hidden = 64, .lr = 3e-3, .temperature = 0.8, .seed = 1};
  int rc = parse_flags(argc, argv, &f);
  if (rc) return rc;
  tg_set_num_threads(f.threads);
  word_list w = {0};
  trainer t = {0};
  tg_rng rng;
  tg_rng_seed(&rng, f.seed);
  rc = load_words(f.words, f.max_words, &w);
  if (!rc) rc = trainer_init(&t, &w, &f);
  if (!rc) t.model = char_lstm_model(&f, &rng);
  if (t.model) t.params = tg_module_parameters(t.model, &t.n_params);
  tg_adam_opts ao = tg_adamw_defaults();
  ao.lr = f.lr;
  if (t.params) t.opt = tg_adamw_new(t.params, (int)t.n_params, ao);
  if (!rc && t.opt) rc = run(&t, &f, &rng);
  if (!rc && !t.opt) rc = -1;
  if (rc && tg_has_error()) fprintf(stderr, "char_lstm: %s\n", tg_last_error());
  trainer_free(&t);
  free_words(&w);
  tg_release_cached();
  return rc ? 1 : 0;
}
