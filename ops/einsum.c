/* einsum as PyTorch's, without ellipsis and repeated subscripts within one
 * operand: operands combined left to right, each pair as one batched
 * matmul (permute + reshape to [batch, left, contracted] @ [batch,
 * contracted, right]); subscripts used nowhere later are summed out first.
 * Every step is a differentiable op, so gradients of any order follow. */
#include <stdint.h>
#include <string.h>

#include "ops_internal.h"

#define N_LETTERS 52

typedef struct term {
  tg_tensor *t;
  int n;                   /* subscripts, one per dim */
  char s[TG_MAX_DIMS + 1];
} term;

static int letter(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + c - 'A';
  return -1;
}

/* uses[l]: how many of terms[from..n) and the output have letter l */
static void count_uses(const term *terms, int from, int n, const char *out, int *uses) {
  memset(uses, 0, N_LETTERS * sizeof *uses);
  for (int i = from; i < n; i++)
    for (int k = 0; k < terms[i].n; k++) uses[letter(terms[i].s[k])]++;
  for (const char *c = out; *c; c++) uses[letter(*c)]++;
}

/* sum out the dims whose letter nothing else uses (uses counts this term too) */
static void sum_unused(term *t, const int *uses) {
  int dims[TG_MAX_DIMS], nd = 0, keep = 0;
  for (int k = 0; k < t->n; k++) {
    if (uses[letter(t->s[k])] == 1) dims[nd++] = k;
    else t->s[keep++] = t->s[k];
  }
  if (nd) t->t = tg_sum_dims(t->t, nd, dims, false);
  t->n = keep;
  t->s[keep] = 0;
}

static int find(const term *t, char c) {
  const char *p = memchr(t->s, c, (size_t)t->n);
  return p ? (int)(p - t->s) : -1;
}

/* the product of the sizes of t's dims listed in order[0..k) */
static size_t size_of(const term *t, const char *order, int k) {
  size_t s = 1;
  for (int i = 0; i < k; i++) s *= t->t->shape[find(t, order[i])];
  return s;
}

/* t permuted to the letters of order (all of t's), then viewed as dims of
 * sizes sz[0..nsz) */
static tg_tensor *arrange(const term *t, const char *order, int nsz, const size_t *sz) {
  int perm[TG_MAX_DIMS];
  for (int k = 0; k < t->n; k++) perm[k] = find(t, order[k]);
  return tg_reshape(t->n ? tg_permute(t->t, perm) : t->t, nsz, sz);
}

/* a and b into one term: batch letters (in both, used later), then a's
 * own, then b's own; letters in both and not used later are contracted */
static term combine(const term *a, const term *b, const int *later) {
  char bat[TG_MAX_DIMS], con[TG_MAX_DIMS], lo[TG_MAX_DIMS], ro[TG_MAX_DIMS];
  int nb = 0, nc = 0, nl = 0, nr = 0;
  for (int k = 0; k < a->n; k++) {
    char c = a->s[k];
    if (find(b, c) < 0) lo[nl++] = c;
    else if (later[letter(c)]) bat[nb++] = c;
    else con[nc++] = c;
  }
  for (int k = 0; k < b->n; k++)
    if (find(a, b->s[k]) < 0) ro[nr++] = b->s[k];
  char oa[TG_MAX_DIMS], ob[TG_MAX_DIMS];
  memcpy(oa, bat, (size_t)nb), memcpy(oa + nb, lo, (size_t)nl), memcpy(oa + nb + nl, con, (size_t)nc);
  memcpy(ob, bat, (size_t)nb), memcpy(ob + nb, con, (size_t)nc), memcpy(ob + nb + nc, ro, (size_t)nr);
  size_t B = size_of(a, bat, nb), L = size_of(a, lo, nl), C = size_of(a, con, nc), R = size_of(b, ro, nr);
  tg_tensor *p = tg_matmul(arrange(a, oa, 3, (size_t[]){B, L, C}), arrange(b, ob, 3, (size_t[]){B, C, R}));
  term out = {.n = nb + nl + nr};
  if (out.n > TG_MAX_DIMS) {
    tg_error("einsum: an intermediate result would have more than %d dims", TG_MAX_DIMS);
    return (term){0};
  }
  size_t shape[TG_MAX_DIMS];
  for (int k = 0; k < nb + nl; k++) shape[k] = a->t->shape[find(a, oa[k])];
  for (int k = 0; k < nr; k++) shape[nb + nl + k] = b->t->shape[find(b, ro[k])];
  memcpy(out.s, oa, (size_t)(nb + nl));
  memcpy(out.s + nb + nl, ro, (size_t)nr);
  out.s[out.n] = 0;
  out.t = tg_reshape(p, out.n, shape);
  return out;
}

/* the subscripts of each operand and of the output (implicit: the letters
 * used once, in ASCII order, as PyTorch); spaces are ignored */
static bool parse(const char *eq, int n, tg_tensor **ops, term *terms, char *out) {
  int i = 0, k = 0, count[128] = {0};
  const char *c = eq;
  for (; *c && !(c[0] == '-' && c[1] == '>'); c++) {
    if (*c == ' ') continue;
    if (*c == ',') {
      if (++i >= n) {
        tg_error("einsum: the equation names more operands than the %d given", n);
        return false;
      }
      k = 0;
      continue;
    }
    if (*c == '.') {
      tg_error("einsum: ellipsis ('...') is not supported");
      return false;
    }
    if (letter(*c) < 0) {
      tg_error("einsum: invalid subscript '%c' (letters a-z, A-Z)", *c);
      return false;
    }
    if (k >= ops[i]->ndim) {
      tg_error("einsum: more subscripts than the %d dims of operand %d", ops[i]->ndim, i);
      return false;
    }
    if (find(&terms[i], *c) >= 0) {
      tg_error("einsum: subscript %c repeated in operand %d (diagonals are not supported)", *c, i);
      return false;
    }
    terms[i].s[k++] = *c;
    terms[i].n = k;
    count[(int)*c]++;
  }
  if (i != n - 1) {
    tg_error("einsum: %d operands given, the equation names %d", n, i + 1);
    return false;
  }
  for (int j = 0; j < n; j++)
    if (terms[j].n != ops[j]->ndim) {
      tg_error("einsum: %d subscripts for operand %d, which has %d dims", terms[j].n, j, ops[j]->ndim);
      return false;
    }
  int no = 0;
  if (!*c) {
    for (int ch = 'A'; ch <= 'z'; ch++)
      if (count[ch] == 1 && no < TG_MAX_DIMS) out[no++] = (char)ch;
  } else {
    for (c += 2; *c; c++) {
      if (*c == ' ') continue;
      if (letter(*c) < 0 || !count[(int)*c] || memchr(out, *c, (size_t)no) || no >= TG_MAX_DIMS) {
        tg_error("einsum: output subscript '%c' is %s", *c,
                 letter(*c) < 0 ? "not a letter" : !count[(int)*c] ? "in no operand" : "repeated or too many");
        return false;
      }
      out[no++] = *c;
    }
  }
  out[no] = 0;
  return true;
}

/* a subscript's sizes must agree; a size 1 broadcasts (expanded here) */
static bool broadcast_sizes(int n, term *terms) {
  size_t size[N_LETTERS];
  for (int l = 0; l < N_LETTERS; l++) size[l] = SIZE_MAX; /* not seen */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < terms[i].n; k++) {
      size_t *s = &size[letter(terms[i].s[k])], d = terms[i].t->shape[k];
      if (*s == SIZE_MAX || *s == 1) *s = d;
      else if (d != 1 && d != *s) {
        tg_error("einsum: subscript %c has size %zu for operand %d which does not broadcast with "
                 "previously seen size %zu", terms[i].s[k], d, i, *s);
        return false;
      }
    }
  for (int i = 0; i < n; i++) {
    size_t shape[TG_MAX_DIMS];
    bool grow = false;
    for (int k = 0; k < terms[i].n; k++) {
      shape[k] = size[letter(terms[i].s[k])];
      grow |= shape[k] != terms[i].t->shape[k];
    }
    if (grow) terms[i].t = tg_expand(terms[i].t, terms[i].n, shape);
  }
  return true;
}

tg_tensor *tg_einsum(const char *equation, int n, tg_tensor **operands) {
  if (!equation || !operands) {
    tg_error("einsum: %s (argument %d) is NULL", equation ? "operands" : "equation", equation ? 3 : 1);
    return NULL;
  }
  if (n < 1 || n > 64) {
    tg_error("einsum: %d operands (expected 1..64)", n);
    return NULL;
  }
  term terms[64];
  memset(terms, 0, sizeof terms);
  for (int i = 0; i < n; i++) {
    if (!ops_check_float("einsum", operands[i], 3)) return NULL;
    if (operands[i]->dtype != operands[0]->dtype) {
      tg_error("einsum: operands of dtypes %s and %s; convert with tg_to_dtype",
               tg_dtype_name(operands[0]->dtype), tg_dtype_name(operands[i]->dtype));
      return NULL;
    }
    terms[i].t = operands[i];
  }
  char out[TG_MAX_DIMS + 1];
  int uses[N_LETTERS], later[N_LETTERS];
  if (!parse(equation, n, operands, terms, out) || !broadcast_sizes(n, terms)) return NULL;
  term cur = terms[0];
  count_uses(terms, 0, n, out, uses);
  sum_unused(&cur, uses);
  for (int i = 1; i < n && cur.t; i++) {
    count_uses(terms, i, n, out, uses);
    for (int k = 0; k < cur.n; k++) uses[letter(cur.s[k])]++;
    sum_unused(&terms[i], uses);
    count_uses(terms, i + 1, n, out, later);
    if (!terms[i].t) return NULL;
    cur = combine(&cur, &terms[i], later);
  }
  if (!cur.t) return NULL;
  /* every letter left is an output letter: put them in its order */
  int perm[TG_MAX_DIMS];
  for (int k = 0; k < cur.n; k++) perm[k] = find(&cur, out[k]);
  return cur.n ? tg_permute(cur.t, perm) : cur.t;
}
