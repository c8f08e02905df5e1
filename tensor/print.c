/* Printing with PyTorch's rules (torch/_tensor_str.py): integer-valued floats
 * print as "1.", others with 4 decimals, scientific notation when the values
 * span more than 1000x or leave [1e-4, 1e8]; every entry is padded to the
 * widest (nonzero finite) one; rows wrap at 80 columns; more than 1000
 * elements are summarised with "..." at 3 per edge. */
#include <math.h>
#include <string.h>

#include "tg_internal.h"

typedef struct out_buf {
  char *buf;
  size_t len, used; /* used may pass len: then we report the size wanted */
  size_t line_start; /* offset just past the last '\n' emitted (0: none yet) */
} out_buf;

#define TG_PRINT_LINEWIDTH 80 /* PyTorch's PRINT_OPTS.linewidth */

static void emit(out_buf *o, const char *s) {
  size_t n = strlen(s);
  const char *nl = strrchr(s, '\n');
  if (nl) o->line_start = o->used + (size_t)(nl - s) + 1;
  if (o->used < o->len) {
    size_t room = o->len - o->used - 1;
    memcpy(o->buf + o->used, s, n < room ? n : room);
    o->buf[o->used + (n < room ? n : room)] = '\0';
  }
  o->used += n;
}

typedef struct fmt {
  int mode; /* 0 int-valued float, 1 fixed, 2 scientific, 3 integer dtype, 4 bool */
  int width;
  bool summarise;
} fmt;

static void format_value(const fmt *f, double v, char *s, size_t n) {
  if (f->mode == 4) snprintf(s, n, v != 0 ? "True" : "False");
  else if (isnan(v)) snprintf(s, n, "nan");
  else if (isinf(v)) snprintf(s, n, v > 0 ? "inf" : "-inf");
  else if (f->mode == 3) snprintf(s, n, "%lld", (long long)v);
  else if (f->mode == 0) snprintf(s, n, "%.0f.", v);
  else if (f->mode == 1) snprintf(s, n, "%.4f", v);
  else snprintf(s, n, "%.4e", v);
}

static bool shown(const tg_tensor *t, const fmt *f, int d, size_t i) {
  return !f->summarise || t->shape[d] <= 6 || i < 3 || i >= t->shape[d] - 3;
}

/* Visit every shown element in logical order. */
static void scan(const tg_tensor *t, const fmt *f, int d, size_t flat, double *mn, double *mx,
                 bool *all_int, int *width, bool measure) {
  if (d == t->ndim) {
    double v = tg_get_flat(t, flat);
    if (measure) {
      /* PyTorch sizes float columns by the nonzero finite values only */
      if (f->mode < 3 && (!isfinite(v) || v == 0)) return;
      char s[64];
      format_value(f, v, s, sizeof s);
      if ((int)strlen(s) > *width) *width = (int)strlen(s);
      return;
    }
    if (!isfinite(v)) return;
    double a = fabs(v);
    if (v != floor(v)) *all_int = false;
    if (a != 0) {
      if (a < *mn) *mn = a;
      if (a > *mx) *mx = a;
    }
    return;
  }
  for (size_t i = 0; i < t->shape[d]; i++)
    if (shown(t, f, d, i)) scan(t, f, d + 1, flat * t->shape[d] + i, mn, mx, all_int, width, measure);
}

static void print_rec(out_buf *o, const tg_tensor *t, const fmt *f, int d, size_t flat, int indent) {
  if (d == t->ndim) {
    char s[64], pad[80];
    format_value(f, tg_get_flat(t, flat), s, sizeof s);
    int w = f->width - (int)strlen(s);
    snprintf(pad, sizeof pad, "%*s%s", w > 0 ? w : 0, "", s);
    emit(o, pad);
    return;
  }
  /* As _vector_str and _tensor_str_with_formatter: the entries of a row
   * (" ..." standing for the elided ones) wrap after as many as fit in the
   * line width; sub-tensors and "..." are separated by "," and ndim-d-1
   * newlines, then indented one column past the opening bracket. */
  bool row = d == t->ndim - 1;
  int per_line = (TG_PRINT_LINEWIDTH - indent) / (f->width + 2);
  if (per_line < 1) per_line = 1;
  size_t items = 0;
  emit(o, "[");
  for (size_t i = 0; i < t->shape[d]; i++) {
    bool show = shown(t, f, d, i);
    if (!show && i != 3) continue;
    if (items > 0) {
      if (row && items % (size_t)per_line != 0) {
        emit(o, ", ");
      } else {
        emit(o, ",");
        for (int k = 0; k < (row ? 1 : t->ndim - d - 1); k++) emit(o, "\n");
        for (int k = 0; k < indent + 1; k++) emit(o, " ");
      }
    }
    items++;
    if (show) print_rec(o, t, f, d + 1, flat * t->shape[d] + i, indent + 1);
    else emit(o, row ? " ..." : "...");
  }
  emit(o, "]");
}

size_t tg_format(const tg_tensor *t, char *buf, size_t len) {
  out_buf o = {buf, buf ? len : 0, 0, 0}; /* no buf: measure only */
  if (buf && len) buf[0] = '\0';
  if (!t) {
    emit(&o, "tensor(NULL)");
    return o.used;
  }
  if (t->obj.magic != TG_MAGIC_TENSOR) {
    emit(&o, "tensor(<freed: its scope has ended>)");
    return o.used;
  }
  fmt f = {.mode = t->dtype == TG_BOOL ? 4 : 3, .summarise = t->numel > 1000};
  if (tg_dtype_is_float(t->dtype)) {
    double mn = INFINITY, mx = 0;
    bool all_int = true;
    int w = 0;
    scan(t, &f, 0, 0, &mn, &mx, &all_int, &w, false);
    bool sci = mx > 0 && (mx / mn > 1000.0 || mx > 1e8 || (!all_int && mn < 1e-4));
    f.mode = sci ? 2 : all_int ? 0 : 1;
  }
  f.width = 1;
  scan(t, &f, 0, 0, NULL, NULL, NULL, &f.width, true);
  emit(&o, "tensor(");
  if (t->numel == 0) emit(&o, "[]");
  else print_rec(&o, t, &f, 0, 0, 7);
  /* suffixes as _str_intern/_add_suffixes: size (empty tensors that are not
   * 1-D), dtype (float64; int64 and bool too when empty), then grad_fn or
   * requires_grad; one that would pass the line width starts a new line */
  char suffix[3][128];
  int n_suffix = 0;
  if (t->numel == 0 && t->ndim != 1) {
    size_t u = (size_t)snprintf(suffix[n_suffix], sizeof suffix[0], "size=(");
    for (int d = 0; d < t->ndim && u < sizeof suffix[0]; d++)
      u += (size_t)snprintf(suffix[n_suffix] + u, sizeof suffix[0] - u, d ? ", %zu" : "%zu", t->shape[d]);
    if (u < sizeof suffix[0]) snprintf(suffix[n_suffix] + u, sizeof suffix[0] - u, ")");
    n_suffix++;
  }
  if (t->dtype == TG_FLOAT64 || (t->numel == 0 && t->dtype != TG_FLOAT32))
    snprintf(suffix[n_suffix++], sizeof suffix[0], "dtype=%s", tg_dtype_name(t->dtype));
  if (t->grad_fn && tg_ctx.node_name)
    snprintf(suffix[n_suffix++], sizeof suffix[0], "grad_fn=<%s>", tg_ctx.node_name(t->grad_fn));
  else if (t->requires_grad)
    snprintf(suffix[n_suffix++], sizeof suffix[0], "requires_grad=True");
  size_t last_line = o.used - o.line_start + 2; /* PyTorch's count, off by two as there */
  for (int k = 0; k < n_suffix; k++) {
    size_t n = strlen(suffix[k]);
    if (last_line + n + 2 > TG_PRINT_LINEWIDTH) {
      emit(&o, ",\n       "); /* len("tensor(") spaces */
      last_line = 7 + n;
    } else {
      emit(&o, ", ");
      last_line += n + 2;
    }
    emit(&o, suffix[k]);
  }
  emit(&o, ")");
  return o.used;
}

int tg_fprint(FILE *fp, const tg_tensor *t) {
  if (!fp) {
    tg_error("fprint: FILE is NULL");
    return -1;
  }
  char small[512];
  size_t need = tg_format(t, small, sizeof small);
  if (need < sizeof small) return fprintf(fp, "%s\n", small);
  char *big = tg_pool_alloc(need + 1);
  if (!big) return -1;
  tg_format(t, big, need + 1);
  int r = fprintf(fp, "%s\n", big);
  tg_pool_free(big);
  return r;
}

int tg_print(const tg_tensor *t) { return tg_fprint(stdout, t); }
