/* The tapegrad half of the PyTorch oracle (tests/oracle/torch_oracle.py).
 *
 * Reads cases from stdin, runs each in tapegrad, writes what it got to
 * stdout; the Python side runs the same cases in PyTorch and compares. A
 * case names an op, its parameters, its inputs (a contiguous base tensor
 * per input and the view taken of it: transposed, strided, expanded or
 * narrowed), the upstream gradient of each float output and, for the
 * double backward, a weight per input:
 *
 *   case ID OP
 *   p KEY N V1 .. VN            numeric parameter (a list when N > 1)
 *   ps KEY WORD                 string parameter
 *   in DTYPE RG NDIM S.. VIEW ARGS..   then a line of the base's values
 *   gout                        then a line: upstream gradient of output k
 *   ggw I                       then a line: weight of d(loss)/d(input I)
 *   run
 *
 * Answer: "res ID err MESSAGE", or "res ID ok N" followed by N lines
 * "out DTYPE NDIM S.. : V..", a line per input "grad I ..." (or
 * "grad I none"), "gg I ..." lines when weights were given, and "end".
 * Gradients are of the base tensors, so a view's backward is checked too. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "oracle_ops.h"

#define MAX_IN 16
#define MAX_OUT 16
#define LINE_MAX_BYTES (1 << 22)

typedef struct input {
  tg_dtype dtype;
  bool rg;
  int ndim;
  size_t shape[TG_MAX_DIMS];
  char view[4];
  long vargs[4];
  int n_vargs;
  double *values;
  size_t numel;
  double *ggw; /* NULL when no double backward */
} input;

typedef struct ocase {
  char id[32], op[48];
  oracle_params p;
  input in[MAX_IN];
  int n_in;
  double *gout[MAX_OUT];
  size_t gout_n[MAX_OUT];
  int n_gout;
} ocase;

static char *line_buf;

static char *next_line(void) { return fgets(line_buf, LINE_MAX_BYTES, stdin); }

/* a line of numbers into a fresh array; count must match */
static double *read_values(size_t count) {
  double *v = malloc((count ? count : 1) * sizeof *v);
  if (!v || !next_line()) {
    free(v);
    return NULL;
  }
  char *s = line_buf, *end;
  for (size_t i = 0; i < count; i++) {
    v[i] = strtod(s, &end);
    if (end == s) {
      free(v);
      return NULL;
    }
    s = end;
  }
  return v;
}

static void free_case(ocase *c) {
  for (int i = 0; i < c->n_in; i++) {
    free(c->in[i].values);
    free(c->in[i].ggw);
  }
  for (int k = 0; k < c->n_gout; k++) free(c->gout[k]);
  memset(c, 0, sizeof *c);
}

static bool parse_dtype(const char *s, tg_dtype *dt) {
  if (!strcmp(s, "f64")) *dt = TG_FLOAT64;
  else if (!strcmp(s, "f32")) *dt = TG_FLOAT32;
  else if (!strcmp(s, "i64")) *dt = TG_INT64;
  else if (!strcmp(s, "bool")) *dt = TG_BOOL;
  else return false;
  return true;
}

static bool parse_input(char *s, input *in) {
  char dt[8];
  int rg, used;
  if (sscanf(s, "%7s %d %d%n", dt, &rg, &in->ndim, &used) != 3 || !parse_dtype(dt, &in->dtype) ||
      in->ndim < 0 || in->ndim > TG_MAX_DIMS)
    return false;
  in->rg = rg != 0;
  s += used;
  in->numel = 1;
  for (int d = 0; d < in->ndim; d++) {
    if (sscanf(s, "%zu%n", &in->shape[d], &used) != 1) return false;
    in->numel *= in->shape[d];
    s += used;
  }
  if (sscanf(s, "%3s%n", in->view, &used) != 1) return false;
  s += used;
  in->n_vargs = 0;
  while (in->n_vargs < 4 && sscanf(s, "%ld%n", &in->vargs[in->n_vargs], &used) == 1) {
    in->n_vargs++;
    s += used;
  }
  in->values = read_values(in->numel);
  return in->values != NULL;
}

static bool parse_param(char *s, oracle_params *p, bool is_string) {
  if (p->n >= ORACLE_MAX_PARAMS) return false;
  oracle_param *q = &p->p[p->n];
  int used;
  if (sscanf(s, "%23s%n", q->key, &used) != 1) return false;
  s += used;
  if (is_string) {
    if (sscanf(s, "%31s", q->s) != 1) return false;
    q->count = 0;
  } else {
    if (sscanf(s, "%d%n", &q->count, &used) != 1 || q->count < 0 || q->count > ORACLE_MAX_LIST)
      return false;
    s += used;
    for (int i = 0; i < q->count; i++) {
      if (sscanf(s, "%lf%n", &q->v[i], &used) != 1) return false;
      s += used;
    }
  }
  p->n++;
  return true;
}

static bool bad_line(const char *l) {
  fprintf(stderr, "oracle_runner: malformed input line: %.80s\n", l);
  exit(2);
}

/* reads one case up to "run"; false at the end of input (a malformed line
 * ends the run with exit code 2: the two halves disagree on the protocol) */
static bool read_case(ocase *c) {
  char *l;
  while ((l = next_line())) {
    l[strcspn(l, "\n")] = 0;
    if (!strncmp(l, "case ", 5)) {
      free_case(c);
      if (sscanf(l + 5, "%31s %47s", c->id, c->op) != 2) return bad_line(l);
    } else if (!strncmp(l, "p ", 2)) {
      if (!parse_param(l + 2, &c->p, false)) return bad_line(l);
    } else if (!strncmp(l, "ps ", 3)) {
      if (!parse_param(l + 3, &c->p, true)) return bad_line(l);
    } else if (!strncmp(l, "in ", 3)) {
      if (c->n_in >= MAX_IN || !parse_input(l + 3, &c->in[c->n_in])) return bad_line(l);
      c->n_in++;
    } else if (!strncmp(l, "gout ", 5)) {
      size_t n = strtoul(l + 5, NULL, 10);
      if (c->n_gout >= MAX_OUT) return bad_line(l);
      c->gout_n[c->n_gout] = n;
      if (!(c->gout[c->n_gout] = read_values(n))) return bad_line("gout values");
      c->n_gout++;
    } else if (!strncmp(l, "ggw ", 4)) {
      int i = atoi(l + 4);
      if (i < 0 || i >= c->n_in || !(c->in[i].ggw = read_values(c->in[i].numel))) return bad_line(l);
    } else if (!strcmp(l, "run")) {
      return true;
    }
  }
  return false;
}

/* the view the op receives, taken of the base leaf (differentiably) */
static tg_tensor *take_view(tg_tensor *base, const input *in) {
  const long *a = in->vargs;
  switch (in->view[0]) {
  case 'c': return base;
  case 't': return tg_transpose(base, (int)a[0], (int)a[1]);
  case 's': return tg_slice(base, (int)a[0], 0, (long)base->shape[a[0]], 2);
  case 'n': return tg_narrow(base, (int)a[0], (size_t)a[1], (size_t)a[2]);
  case 'e': {
    size_t shape[TG_MAX_DIMS];
    memcpy(shape, base->shape, (size_t)base->ndim * sizeof *shape);
    shape[a[0]] = (size_t)a[1];
    return tg_expand(base, base->ndim, shape);
  }
  default: return NULL;
  }
}

static const char *dtype_tag(tg_dtype dt) {
  switch (dt) {
  case TG_FLOAT32: return "f32";
  case TG_FLOAT64: return "f64";
  case TG_INT64: return "i64";
  case TG_BOOL: return "bool";
  default: return "other";
  }
}

static void print_tensor(const char *tag, int k, const tg_tensor *t) {
  printf("%s %d %s %d", tag, k, dtype_tag(t->dtype), t->ndim);
  for (int d = 0; d < t->ndim; d++) printf(" %zu", t->shape[d]);
  printf(" :");
  for (size_t i = 0; i < t->numel; i++) printf(" %.17g", tg_get_flat(t, i));
  printf("\n");
}

static void print_error(const ocase *c) {
  const char *msg = tg_last_error();
  printf("res %s err ", c->id);
  for (const char *s = *msg ? msg : "(no message)"; *s; s++) putchar(*s == '\n' ? ' ' : *s);
  printf("\n");
}

static bool is_float(const tg_tensor *t) {
  return t->dtype == TG_FLOAT32 || t->dtype == TG_FLOAT64;
}

/* gradients of the outputs (weighted by gout) w.r.t. the leaves, and with
 * weights, the gradient of sum_i <grad_i, ggw_i> (double backward) */
static void run_backward(const ocase *c, tg_tensor **leaves, tg_tensor **outs, int n_out) {
  tg_tensor *roots[MAX_OUT], *gouts[MAX_OUT], *wrt[MAX_IN], *grads[MAX_IN] = {0};
  int n_roots = 0, n_wrt = 0, map[MAX_IN];
  bool want_gg = false;
  for (int k = 0, g = 0; k < n_out; k++) {
    if (!is_float(outs[k])) continue;
    if (g >= c->n_gout) break;
    if (outs[k]->requires_grad && c->gout_n[g] == outs[k]->numel) {
      roots[n_roots] = outs[k];
      tg_tensor *go = tg_from_f64(TG_SHAPE(c->gout_n[g]), c->gout[g]);
      gouts[n_roots++] = tg_reshape(tg_to_dtype(go, outs[k]->dtype), outs[k]->ndim, outs[k]->shape);
    }
    g++;
  }
  for (int i = 0; i < c->n_in; i++) {
    map[i] = -1;
    if (c->in[i].rg) {
      map[i] = n_wrt;
      wrt[n_wrt++] = leaves[i];
      want_gg |= c->in[i].ggw != NULL;
    }
  }
  if (n_roots > 0 && n_wrt > 0 &&
      tg_grad(n_roots, roots, gouts, n_wrt, wrt, grads,
              (tg_grad_opts){.create_graph = want_gg, .allow_unused = true}) != 0) {
    print_error(c);
    return;
  }
  printf("res %s ok %d\n", c->id, n_out);
  for (int k = 0; k < n_out; k++) print_tensor("out", k, outs[k]);
  for (int i = 0; i < c->n_in; i++) {
    tg_tensor *g = map[i] >= 0 ? grads[map[i]] : NULL;
    if (g) print_tensor("grad", i, g);
    else printf("grad %d none\n", i);
  }
  if (want_gg) {
    tg_tensor *s = NULL;
    for (int i = 0; i < c->n_in; i++) {
      tg_tensor *g = map[i] >= 0 ? grads[map[i]] : NULL;
      if (!g || !c->in[i].ggw || !g->requires_grad) continue;
      tg_tensor *w = tg_reshape(tg_from_f64(TG_SHAPE(c->in[i].numel), c->in[i].ggw), g->ndim, g->shape);
      tg_tensor *term = tg_sum(tg_mul(g, w));
      s = s ? tg_add(s, term) : term;
    }
    tg_tensor *gg[MAX_IN] = {0};
    if (s && tg_grad(1, &s, NULL, n_wrt, wrt, gg, (tg_grad_opts){.allow_unused = true}) != 0) {
      printf("ggerr ");
      for (const char *m = tg_last_error(); *m; m++) putchar(*m == '\n' ? ' ' : *m);
      printf("\n");
    } else {
      for (int i = 0; i < c->n_in; i++) {
        tg_tensor *g = map[i] >= 0 ? gg[map[i]] : NULL;
        if (g) print_tensor("gg", i, g);
        else printf("gg %d none\n", i);
      }
    }
  }
  printf("end\n");
}

static void run_case(const ocase *c) {
  const oracle_op *op = oracle_find(c->op);
  if (!op) {
    printf("res %s err oracle_runner: unknown op %s\n", c->id, c->op);
    return;
  }
  tg_scope_begin();
  tg_clear_error();
  tg_tensor *leaves[MAX_IN], *views[MAX_IN], *outs[MAX_OUT] = {0};
  for (int i = 0; i < c->n_in; i++) {
    const input *in = &c->in[i];
    tg_tensor *t = tg_from_f64(in->ndim, in->shape, in->values);
    if (t && in->dtype != TG_FLOAT64) t = tg_detach(tg_to_dtype(t, in->dtype));
    leaves[i] = t ? tg_requires_grad_(t, in->rg) : NULL;
    views[i] = leaves[i] ? take_view(leaves[i], in) : NULL;
    if (!views[i]) {
      printf("res %s err oracle_runner: bad input %d (%s)\n", c->id, i, tg_last_error());
      tg_scope_end();
      return;
    }
  }
  int n_out = op->fn(views, &c->p, outs);
  bool ok = n_out > 0;
  for (int k = 0; k < n_out && ok; k++) ok = outs[k] != NULL;
  if (!ok) print_error(c);
  else run_backward(c, leaves, outs, n_out);
  tg_scope_end();
}

int main(void) {
  line_buf = malloc(LINE_MAX_BYTES);
  if (!line_buf) return 1;
  static ocase c;
  int n = 0;
  while (read_case(&c)) {
    run_case(&c);
    n++;
  }
  free_case(&c);
  free(line_buf);
  tg_release_cached();
  fprintf(stderr, "oracle_runner: %d cases\n", n);
  return 0;
}
