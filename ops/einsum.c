/* einsum as PyTorch's: a subscript repeated within one operand takes the
 * diagonal first, the dims an ellipsis covers get subscripts of their own;
 * operands are combined left to right, each pair as one batched matmul
 * (permute + reshape to [batch, left, contracted] @ [batch, contracted,
 * right]); subscripts used nowhere later are summed out first.
 * Every step is a differentiable op, so gradients of any order follow. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

/* labels: 52 letters, then ELL + k for the k-th dim an ellipsis covers */
#define ELL 1
#define N_LABELS (52 + TG_MAX_DIMS)

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

static int label(char c) {
  return c >= ELL && c < ELL + TG_MAX_DIMS ? 52 + c - ELL : letter(c);
}

/* uses[l]: how many of terms[from..n) and the output have letter l */
static void count_uses(const term *terms, int from, int n, const char *out, int *uses) {
  memset(uses, 0, N_LABELS * sizeof *uses);
  for (int i = from; i < n; i++)
    for (int k = 0; k < terms[i].n; k++) uses[label(terms[i].s[k])]++;
  for (const char *c = out; *c; c++) uses[label(*c)]++;
}

/* sum out the dims whose letter nothing else uses (uses counts this term too) */
static void sum_unused(term *t, const int *uses) {
  int dims[TG_MAX_DIMS], nd = 0, keep = 0;
  for (int k = 0; k < t->n; k++) {
    if (uses[label(t->s[k])] == 1) dims[nd++] = k;
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
    else if (later[label(c)]) bat[nb++] = c;
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

/* one operand's subscripts, '.' standing for its ellipsis; n counts letters */
typedef struct raw {
  char s[TG_MAX_DIMS + 2];
  int n;
  bool ell;
} raw;

/* "..." at *c (the first '.'): taken once per operand i or (i < 0) the output */
static bool ellipsis(const char **c, bool *seen, int i) {
  char who[24] = "the output";
  if (i >= 0) snprintf(who, sizeof who, "operand %d", i);
  if ((*c)[1] != '.' || (*c)[2] != '.') {
    tg_error("einsum: found '.' for %s that is not part of any ellipsis", who);
    return false;
  }
  if (*seen) {
    tg_error("einsum: found '.' for %s for which an ellipsis was already found", who);
    return false;
  }
  *seen = true;
  *c += 2;
  return true;
}

/* the operands' subscripts up to "->" or the end, checked against ranks */
static const char *parse_inputs(const char *c, int n, tg_tensor **ops, raw *r) {
  int i = 0, len = 0;
  for (; *c && !(c[0] == '-' && c[1] == '>'); c++) {
    if (*c == ' ') continue;
    if (*c == ',') {
      if (++i >= n) {
        tg_error("einsum: fewer operands were provided (%d) than specified in the equation", n);
        return NULL;
      }
      len = 0;
      continue;
    }
    if (*c == '.') {
      if (!ellipsis(&c, &r[i].ell, i)) return NULL;
    } else if (letter(*c) < 0) {
      tg_error("einsum: invalid subscript '%c' for operand %d (letters a-z, A-Z)", *c, i);
      return NULL;
    } else {
      r[i].n++;
    }
    if (len > TG_MAX_DIMS || r[i].n > ops[i]->ndim) {
      tg_error("einsum: more subscripts than the %d dims of operand %d", ops[i]->ndim, i);
      return NULL;
    }
    r[i].s[len++] = *c;
  }
  if (i != n - 1) {
    tg_error("einsum: more operands were provided (%d) than specified in the equation (%d)", n, i + 1);
    return NULL;
  }
  for (int j = 0; j < n; j++)
    if (!r[j].ell && r[j].n != ops[j]->ndim) {
      tg_error("einsum: %d subscripts for operand %d, which has %d dims, and no ellipsis was given",
               r[j].n, j, ops[j]->ndim);
      return NULL;
    }
  return c;
}

/* labels of each operand and of the output: letters, and for the dims an
 * ellipsis covers the labels ELL + k, right-aligned over all operands so
 * that they broadcast as PyTorch's. Implicit output: the ellipsis dims,
 * then the letters used once in ASCII order; spaces are ignored */
static bool parse(const char *eq, int n, tg_tensor **ops, term *terms, char *out) {
  raw r[64];
  memset(r, 0, (size_t)n * sizeof *r);
  const char *c = parse_inputs(eq, n, ops, r);
  if (!c) return false;
  int count[128] = {0}, n_ell = 0;
  for (int i = 0; i < n; i++)
    if (r[i].ell && ops[i]->ndim - r[i].n > n_ell) n_ell = ops[i]->ndim - r[i].n;
  for (int i = 0; i < n; i++) {
    int e = ops[i]->ndim - r[i].n, k = 0;
    for (const char *p = r[i].s; *p; p++) {
      if (*p != '.') {
        terms[i].s[k++] = *p;
        count[(int)*p]++;
      } else {
        for (int j = 0; j < e; j++) terms[i].s[k++] = (char)(ELL + n_ell - e + j);
      }
    }
    terms[i].n = k;
    terms[i].s[k] = 0;
  }
  int no = 0;
  if (!*c) {
    for (int j = 0; j < n_ell && no < TG_MAX_DIMS; j++) out[no++] = (char)(ELL + j);
    for (int ch = 'A'; ch <= 'z'; ch++) {
      if (count[ch] != 1) continue;
      if (no >= TG_MAX_DIMS) {
        tg_error("einsum: the output would have more than %d dims", TG_MAX_DIMS);
        return false;
      }
      out[no++] = (char)ch;
    }
  } else {
    bool ell = false;
    for (c += 2; *c; c++) {
      if (*c == ' ') continue;
      if (*c == '.') {
        if (!ellipsis(&c, &ell, -1)) return false;
        if (no + n_ell > TG_MAX_DIMS) {
          tg_error("einsum: the output would have more than %d dims", TG_MAX_DIMS);
          return false;
        }
        for (int j = 0; j < n_ell && no < TG_MAX_DIMS; j++) out[no++] = (char)(ELL + j);
        continue;
      }
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

/* a subscript repeated within an operand takes its diagonal (tg_diagonal
 * puts it last), until each subscript appears once */
static bool take_diagonals(int n, term *terms) {
  for (int i = 0; i < n; i++) {
    term *t = &terms[i];
    for (int k1 = 0; k1 < t->n; k1++) {
      const char *p = memchr(t->s + k1 + 1, t->s[k1], (size_t)(t->n - k1 - 1));
      if (!p) continue;
      int k2 = (int)(p - t->s);
      char c = t->s[k1];
      if (t->t->shape[k1] != t->t->shape[k2]) {
        tg_error("einsum: subscript %c is repeated for operand %d but the sizes don't match, %zu != %zu",
                 c, i, t->t->shape[k2], t->t->shape[k1]);
        return false;
      }
      t->t = tg_diagonal(t->t, 0, k1, k2);
      if (!t->t) return false;
      memmove(t->s + k2, t->s + k2 + 1, (size_t)(t->n - k2));
      memmove(t->s + k1, t->s + k1 + 1, (size_t)(t->n - k1));
      t->s[t->n - 2] = c;
      t->s[--t->n] = 0;
      k1--; /* the subscript now at k1 is unchecked */
    }
  }
  return true;
}

/* a subscript's sizes must agree; a size 1 broadcasts (expanded here) */
static bool broadcast_sizes(int n, term *terms) {
  size_t size[N_LABELS];
  for (int l = 0; l < N_LABELS; l++) size[l] = SIZE_MAX; /* not seen */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < terms[i].n; k++) {
      char c = terms[i].s[k];
      size_t *s = &size[label(c)], d = terms[i].t->shape[k];
      if (*s == SIZE_MAX || *s == 1) *s = d;
      else if (d != 1 && d != *s) {
        if (letter(c) < 0)
          tg_error("einsum: dimension %d covered by ellipsis in operand %d has size %zu which does not "
                   "broadcast with previously seen ellipsis with size %zu", c - ELL, i, d, *s);
        else
          tg_error("einsum: subscript %c has size %zu for operand %d which does not broadcast with "
                   "previously seen size %zu", c, d, i, *s);
        return false;
      }
    }
  for (int i = 0; i < n; i++) {
    size_t shape[TG_MAX_DIMS];
    bool grow = false;
    for (int k = 0; k < terms[i].n; k++) {
      shape[k] = size[label(terms[i].s[k])];
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
    if (!ops_check_numeric("einsum", operands[i], 3)) return NULL;
    if (operands[i]->dtype != operands[0]->dtype) {
      tg_error("einsum: operands of dtypes %s and %s; convert with tg_to_dtype",
               tg_dtype_name(operands[0]->dtype), tg_dtype_name(operands[i]->dtype));
      return NULL;
    }
    terms[i].t = operands[i];
  }
  char out[TG_MAX_DIMS + 1];
  int uses[N_LABELS], later[N_LABELS];
  if (!parse(equation, n, operands, terms, out) || !take_diagonals(n, terms) ||
      !broadcast_sizes(n, terms)) return NULL;
  term cur = terms[0];
  count_uses(terms, 0, n, out, uses);
  sum_unused(&cur, uses);
  for (int i = 1; i < n && cur.t; i++) {
    count_uses(terms, i, n, out, uses);
    for (int k = 0; k < cur.n; k++) uses[label(cur.s[k])]++;
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
