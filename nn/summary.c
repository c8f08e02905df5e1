/* Printing modules: print(model) in PyTorch 1.13's format, a summary table
 * of parameters, and the helpers constructors use to write their
 * extra_repr text the way Python prints the same values (1e-05, 0.5, 1.0,
 * True, (3, 3), (5,)). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ------------------------------------------------------------ Python text */

/* the ring of buffers the nn_py* helpers return: enough for every value
 * of one extra_repr call (a Conv2d's has 7) */
#define PY_SLOTS 12
#define PY_SLOT_LEN 80
static _Thread_local char py_slots[PY_SLOTS][PY_SLOT_LEN];
static _Thread_local int py_next;

static char *py_slot(void) {
  char *s = py_slots[py_next];
  py_next = (py_next + 1) % PY_SLOTS;
  return s;
}

/* Python's repr(float): the shortest digits that read back as v, fixed
 * notation with at least one decimal for 1e-4 <= |v| < 1e16, else d.ddde±XX */
static void py_float_into(char *out, size_t cap, double v) {
  if (isnan(v) || isinf(v)) {
    snprintf(out, cap, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    return;
  }
  char e[40];
  for (int p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    if (strtod(e, NULL) == v) break;
  }
  /* e is [-]d[.ddd]e±XX: the digits and the exponent */
  const char *s = e;
  bool neg = *s == '-';
  if (neg) s++;
  char digits[24];
  size_t nd = 0;
  for (; *s && *s != 'e'; s++)
    if (*s != '.') digits[nd++] = *s;
  digits[nd] = '\0';
  int exp10 = atoi(s + 1);
  while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
  size_t n = 0;
#define PUT(...) n += (size_t)snprintf(n < cap ? out + n : NULL, n < cap ? cap - n : 0, __VA_ARGS__)
  if (neg) PUT("-");
  if (exp10 >= -4 && exp10 < 16) {
    int point = exp10 + 1; /* digits before the decimal point */
    if (point <= 0) PUT("0.%.*s%s", -point, "0000", digits);
    else if ((size_t)point >= nd) PUT("%s%.*s.0", digits, point - (int)nd, "0000000000000000");
    else PUT("%.*s.%s", point, digits, digits + point);
  } else {
    PUT("%c%s%s", digits[0], nd > 1 ? "." : "", digits + 1);
    PUT("e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
  }
#undef PUT
}

const char *nn_pyfloat(double v) {
  char *s = py_slot();
  py_float_into(s, PY_SLOT_LEN, v);
  return s;
}

const char *nn_pynum(double v) {
  if (v == floor(v) && fabs(v) < 1e15) {
    char *s = py_slot();
    snprintf(s, PY_SLOT_LEN, "%lld", (long long)v);
    return s;
  }
  return nn_pyfloat(v);
}

const char *nn_pybool(bool b) { return b ? "True" : "False"; }

const char *nn_pytuple(int n, const int64_t *v) {
  char *s = py_slot();
  size_t at = (size_t)snprintf(s, PY_SLOT_LEN, "(");
  for (int i = 0; i < n && at < PY_SLOT_LEN; i++)
    at += (size_t)snprintf(s + at, PY_SLOT_LEN - at, "%s%lld", i ? ", " : "", (long long)v[i]);
  if (at < PY_SLOT_LEN) snprintf(s + at, PY_SLOT_LEN - at, "%s)", n == 1 ? "," : "");
  return s;
}

const char *nn_pyshape(int n, const size_t *shape) {
  int64_t v[TG_MAX_DIMS];
  for (int i = 0; i < n && i < TG_MAX_DIMS; i++) v[i] = (int64_t)shape[i];
  return nn_pytuple(n < TG_MAX_DIMS ? n : TG_MAX_DIMS, v);
}

const char *nn_pysize2(const int64_t v[2]) {
  if (v[0] != v[1]) return nn_pytuple(2, v);
  char *s = py_slot();
  snprintf(s, PY_SLOT_LEN, "%lld", (long long)v[0]);
  return s;
}

const char *nn_pyscale2(const double v[2]) {
  if (v[0] == v[1]) return nn_pyfloat(v[0]);
  char *s = py_slot();
  char a[32], b[32];
  py_float_into(a, sizeof a, v[0]);
  py_float_into(b, sizeof b, v[1]);
  snprintf(s, PY_SLOT_LEN, "(%s, %s)", a, b);
  return s;
}

int tg_module_set_extra_repr(tg_module *m, const char *fmt, ...) {
  if (!m || !fmt) {
    tg_error("module_set_extra_repr: %s is NULL", m ? "fmt" : "module");
    return -1;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(m->extra_repr, sizeof m->extra_repr, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof m->extra_repr) {
    tg_error("module_set_extra_repr: %s: the text needs %d characters, more than %d", m->type, n,
             TG_NN_REPR_MAX - 1);
    return -1;
  }
  return 0;
}

tg_module *nn_with_repr(tg_module *m, const char *fmt, ...) {
  if (!m) return NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->extra_repr, sizeof m->extra_repr, fmt, ap);
  va_end(ap);
  return m;
}

/* torch's _ConvNd.extra_repr: padding, dilation, output_padding and groups
 * only when not the defaults, bias=False only without bias */
tg_module *nn_conv_repr(tg_module *m, size_t in, size_t out, int sd, const int64_t *kernel,
                        const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                        const int64_t *out_pad, int64_t groups, bool bias) {
  if (!m) return NULL;
  bool pad = false, dil = false, opad = false;
  for (int i = 0; i < sd; i++) {
    pad |= padding[i] != 0;
    dil |= dilation[i] != 1;
    opad |= out_pad[i] != 0;
  }
  char g[32] = "";
  if (groups != 1) snprintf(g, sizeof g, ", groups=%lld", (long long)groups);
  return nn_with_repr(m, "%zu, %zu, kernel_size=%s, stride=%s%s%s%s%s%s%s%s%s", in, out,
                      nn_pytuple(sd, kernel), nn_pytuple(sd, stride), pad ? ", padding=" : "",
                      pad ? nn_pytuple(sd, padding) : "", dil ? ", dilation=" : "",
                      dil ? nn_pytuple(sd, dilation) : "", opad ? ", output_padding=" : "",
                      opad ? nn_pytuple(sd, out_pad) : "", g, bias ? "" : ", bias=False");
}

/* ------------------------------------------------------------ print(model) */

/* text with every line after the first indented by `indent` (torch's _addindent) */
static void put_indented(FILE *f, const char *text, int indent) {
  for (const char *p = text; *p; p++) {
    fputc(*p, f);
    if (*p == '\n') fprintf(f, "%*s", indent, "");
  }
}

/* torch's Module.__repr__: the extra_repr lines, then "(name): child" per
 * child, inside "Type(...)"; on one line when there is only a one-line
 * extra_repr */
static void print_tree(FILE *f, const tg_module *m, int indent) {
  fprintf(f, "%s(", m->type);
  bool extra = m->extra_repr[0] != '\0';
  if (!m->n_children && (!extra || !strchr(m->extra_repr, '\n'))) {
    fprintf(f, "%s)", m->extra_repr);
    return;
  }
  if (extra) {
    fprintf(f, "\n%*s", indent + 2, "");
    put_indented(f, m->extra_repr, indent + 2);
  }
  for (size_t k = 0; k < m->n_children; k++) {
    fprintf(f, "\n%*s(%s): ", indent + 2, "", m->children[k].name);
    print_tree(f, m->children[k].module, indent + 2);
  }
  fprintf(f, "\n%*s)", indent, "");
}

static bool check_print(const char *op, FILE *f, const tg_module *m) {
  if (!f || !m) {
    tg_error("%s: %s is NULL", op, !f ? "FILE" : "module");
    return false;
  }
  return true;
}

int tg_module_print(FILE *f, const tg_module *m) {
  if (!check_print("module_print", f, m)) return -1;
  print_tree(f, m, 0);
  fputc('\n', f);
  return ferror(f) ? (tg_error("module_print: write error"), -1) : 0;
}

/* ------------------------------------------------------------ summary */

typedef struct summary_widths {
  int name, type, param;
} summary_widths;

/* prefix.name into out, cut to cap - 1 characters (a very deep tree's
 * names are shortened, never overflowed) */
static void join_name(char *out, size_t cap, const char *prefix, const char *name) {
  size_t n = 0;
  for (const char *p = prefix; *p && n + 1 < cap; p++) out[n++] = *p;
  if (prefix[0] && n + 1 < cap) out[n++] = '.';
  for (const char *p = name; *p && n + 1 < cap; p++) out[n++] = *p;
  out[n] = '\0';
}

/* "weight [10, 4]", " (frozen)" added when it does not require grad */
static void param_text(char *out, size_t cap, const tg_named_tensor *p) {
  const tg_tensor *t = p->tensor;
  size_t n = (size_t)snprintf(out, cap, "%s [", p->name);
  for (int d = 0; d < t->ndim && n < cap; d++)
    n += (size_t)snprintf(out + n, cap - n, "%s%zu", d ? ", " : "", t->shape[d]);
  if (n < cap) snprintf(out + n, cap - n, "]%s", t->requires_grad ? "" : " (frozen)");
}

static int imax(int a, int b) { return a > b ? a : b; }

static void measure(const tg_module *m, const char *path, int depth, summary_widths *w) {
  w->name = imax(w->name, (int)strlen(path) + 2 * depth);
  w->type = imax(w->type, (int)strlen(m->type));
  for (size_t k = 0; k < m->n_params; k++) {
    char t[160];
    param_text(t, sizeof t, &m->params[k]);
    w->param = imax(w->param, (int)strlen(t));
  }
  for (size_t k = 0; k < m->n_children; k++) {
    char child[512];
    join_name(child, sizeof child, path, m->children[k].name);
    measure(m->children[k].module, child, depth + 1, w);
  }
}

/* one row per module (the first of its parameters beside it), one more
 * per further parameter; names indented by depth */
static void rows(FILE *f, const tg_module *m, const char *path, int depth, const summary_widths *w) {
  size_t own = 0;
  for (size_t k = 0; k < m->n_params; k++) own += m->params[k].tensor->numel;
  char t[160] = "";
  if (m->n_params) param_text(t, sizeof t, &m->params[0]);
  fprintf(f, "%*s%-*s  %-*s  %-*s  %12zu\n", 2 * depth, "", w->name - 2 * depth, path[0] ? path : "(root)",
          w->type, m->type, w->param, t, own);
  for (size_t k = 1; k < m->n_params; k++) {
    param_text(t, sizeof t, &m->params[k]);
    fprintf(f, "%-*s  %s\n", w->name + 2 + w->type, "", t);
  }
  for (size_t k = 0; k < m->n_children; k++) {
    char child[512];
    join_name(child, sizeof child, path, m->children[k].name);
    rows(f, m->children[k].module, child, depth + 1, w);
  }
}

int tg_module_summary(FILE *f, const tg_module *m) {
  if (!check_print("module_summary", f, m)) return -1;
  summary_widths w = {(int)strlen("(root)"), (int)strlen("type"), (int)strlen("parameters")};
  measure(m, "", 0, &w);
  int line = w.name + w.type + w.param + 6 + 12;
  fprintf(f, "%-*s  %-*s  %-*s  %12s\n", w.name, "name", w.type, "type", w.param, "parameters", "count");
  for (int i = 0; i < line; i++) fputc('=', f);
  fputc('\n', f);
  rows(f, m, "", 0, &w);
  for (int i = 0; i < line; i++) fputc('-', f);
  size_t total = tg_module_num_parameters(m, false), trainable = tg_module_num_parameters(m, true);
  fprintf(f, "\nTotal params: %zu\nTrainable params: %zu\nNon-trainable params: %zu\n", total, trainable,
          total - trainable);
  return ferror(f) ? (tg_error("module_summary: write error"), -1) : 0;
}
