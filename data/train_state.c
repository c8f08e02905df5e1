/* A whole training state in one safetensors file: the model's state dict,
 * the optimizer's state and per-group hyper-parameters, the scheduler, the
 * caller's epoch/step counters, any number of generators and the
 * DataLoader's position, so a run stopped anywhere resumes bit-identically.
 *
 * Entries (names are the format; metadata "tapegrad.train_state" = "1"):
 *   model.<state dict name>     the module's tensors as they are
 *   optim.<state entry name>    tg_optim_state_at's entries
 *   optim.groups   F64 [G,3]    lr, weight_decay, momentum (NaN: none) per group
 *   sched          F64 [4]      epoch (steps), plateau best, bad epochs, cooldown
 *   counters       I64 [2]      the caller's epoch and step
 *   rngs           I64 [n,4]    each generator's xoshiro state, bit for bit
 *   loader         I64 [7]      shuffle rng (4 words), epoch, next batch, in_epoch
 *   early_stop     F64 [4]      best, best epoch, bad epochs, stopped (0/1)
 *   early_stop.best.<state dict name>  the best epoch's weights, when kept
 * Loading reads and checks everything before it writes anything. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_data.h"
#include "tg_internal.h"
#include "tg_optim.h"

#define NAME_MAX_LEN 200

typedef struct entries {
  const char **names;
  tg_tensor **tensors;
  int n, cap;
} entries;

static void entries_free(entries *e) {
  for (int i = 0; i < e->n; i++) free((char *)e->names[i]);
  free(e->names);
  free(e->tensors);
}

/* name = prefix + base (copied); t borrowed (temporaries live in the scope) */
static int entries_add(entries *e, const char *prefix, const char *base, tg_tensor *t) {
  if (!t) return -1;
  if (e->n == e->cap) {
    int cap = e->cap ? 2 * e->cap : 32;
    const char **nn = realloc(e->names, (size_t)cap * sizeof *nn);
    if (nn) e->names = nn;
    tg_tensor **nt = realloc(e->tensors, (size_t)cap * sizeof *nt);
    if (nt) e->tensors = nt;
    if (!nn || !nt) goto oom;
    e->cap = cap;
  }
  size_t len = strlen(prefix) + strlen(base) + 1;
  char *name = malloc(len);
  if (!name) goto oom;
  snprintf(name, len, "%s%s", prefix, base);
  e->names[e->n] = name;
  e->tensors[e->n++] = t;
  return 0;
oom:
  tg_error("train_state_save: out of memory");
  return -1;
}

static bool check_state(const char *op, const char *path, const tg_train_state *st) {
  if (!path || !st) {
    tg_error("%s: %s is NULL", op, path ? "the state" : "path");
    return false;
  }
  if (!st->model) {
    tg_error("%s: state->model is NULL", op);
    return false;
  }
  if (st->n_rngs < 0 || (st->n_rngs > 0 && !st->rngs)) {
    tg_error("%s: %d generators and rngs %s", op, st->n_rngs, st->rngs ? "given" : "NULL");
    return false;
  }
  for (int i = 0; i < st->n_rngs; i++)
    if (!st->rngs[i]) {
      tg_error("%s: rngs[%d] is NULL", op, i);
      return false;
    }
  if (st->sched && !st->opt) {
    tg_error("%s: a scheduler without its optimizer (state->opt is NULL)", op);
    return false;
  }
  return true;
}

/* best_weights[i] is a tensor shaped as the model's state dict entry i */
static int check_best_weights(const char *op, const tg_early_stop *es, const tg_state_dict *sd) {
  if (!es || !es->best_weights) return 0;
  for (size_t i = 0; i < sd->n; i++) {
    const tg_tensor *b = es->best_weights[i], *t = sd->entries[i].tensor;
    if (!tg_tensor_check(b, op, 2)) {
      tg_error("%s: early->best_weights[%zu] (for '%s') is %s", op, i, sd->entries[i].name,
               b ? "not a live tensor" : "NULL");
      return -1;
    }
    bool same = b->dtype == t->dtype && b->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = b->shape[d] == t->shape[d];
    if (!same) {
      char want[96], got[96];
      tg_error("%s: early->best_weights[%zu] is %s %s, but '%s' is %s %s", op, i,
               tg_dtype_name(b->dtype), tg_dims_str(b->ndim, b->shape, got, sizeof got),
               sd->entries[i].name, tg_dtype_name(t->dtype),
               tg_dims_str(t->ndim, t->shape, want, sizeof want));
      return -1;
    }
  }
  return 0;
}

/* per group: lr, weight_decay, momentum (NaN where the optimizer has none) */
static tg_tensor *groups_tensor(tg_optimizer *opt) {
  int g = tg_optim_num_groups(opt);
  if (g < 0) return NULL;
  double *v = malloc((size_t)(g ? g : 1) * 3 * sizeof *v);
  if (!v) return NULL;
  for (int i = 0; i < g; i++) {
    v[3 * i] = tg_optim_get_group_lr(opt, i);
    v[3 * i + 1] = tg_optim_get_group_weight_decay(opt, i);
    v[3 * i + 2] = tg_optim_get_group_momentum(opt, i);
  }
  tg_clear_error(); /* Adagrad's and Adadelta's momentum: NaN, as meant */
  tg_tensor *t = tg_from_f64(2, (size_t[]){(size_t)g, 3}, v);
  free(v);
  return t;
}

static tg_tensor *sched_tensor(const tg_lr_scheduler *s) {
  double v[4] = {(double)tg_scheduler_get_epoch(s), 0, 0, 0};
  tg_plateau_state pl;
  if (tg_reduce_lr_on_plateau_state(s, &pl) == 0)
    v[1] = pl.best, v[2] = (double)pl.num_bad_epochs, v[3] = (double)pl.cooldown_counter;
  tg_clear_error(); /* not a plateau scheduler: the epoch is its whole state */
  return tg_from_f64(1, (size_t[]){4}, v);
}

static int collect(const tg_train_state *st, tg_state_dict *sd, entries *e) {
  for (size_t i = 0; i < sd->n; i++)
    if (entries_add(e, "model.", sd->entries[i].name, sd->entries[i].tensor)) return -1;
  if (st->opt) {
    size_t n = tg_optim_state_count(st->opt);
    for (size_t i = 0; i < n; i++) {
      const char *name;
      tg_tensor *t = tg_optim_state_at(st->opt, i, &name);
      if (!t || entries_add(e, "optim.", name, t)) return -1;
    }
    if (entries_add(e, "optim.", "groups", groups_tensor(st->opt))) return -1;
  }
  if (st->sched && entries_add(e, "", "sched", sched_tensor(st->sched))) return -1;
  int64_t c[2] = {st->epoch, st->step};
  if (entries_add(e, "", "counters", tg_from_i64(1, (size_t[]){2}, c))) return -1;
  if (st->n_rngs) {
    int64_t *r = malloc((size_t)st->n_rngs * 4 * sizeof *r);
    if (!r) return -1;
    for (int i = 0; i < st->n_rngs; i++) memcpy(r + 4 * i, st->rngs[i]->s, 4 * sizeof *r);
    tg_tensor *t = tg_from_i64(2, (size_t[]){(size_t)st->n_rngs, 4}, r);
    free(r);
    if (entries_add(e, "", "rngs", t)) return -1;
  }
  if (st->loader) {
    tg_loader_state ls;
    if (tg_loader_get_state(st->loader, &ls)) return -1;
    int64_t v[7];
    memcpy(v, ls.rng, sizeof ls.rng);
    v[4] = (int64_t)ls.epoch, v[5] = (int64_t)ls.next, v[6] = ls.in_epoch;
    if (entries_add(e, "", "loader", tg_from_i64(1, (size_t[]){7}, v))) return -1;
  }
  const tg_early_stop *es = st->early;
  if (es) {
    double v[4] = {es->best, (double)es->best_epoch, (double)es->bad_epochs, es->stopped};
    if (entries_add(e, "", "early_stop", tg_from_f64(1, (size_t[]){4}, v))) return -1;
    for (size_t i = 0; es->best_weights && i < sd->n; i++)
      if (entries_add(e, "early_stop.best.", sd->entries[i].name, es->best_weights[i])) return -1;
  }
  return 0;
}

int tg_train_state_save(const char *path, const tg_train_state *st) {
  const char *op = "train_state_save";
  if (!check_state(op, path, st)) return -1;
  tg_state_dict *sd = tg_module_state_dict(st->model);
  if (!sd) return -1;
  if (check_best_weights(op, st->early, sd)) {
    tg_state_dict_free(sd);
    return -1;
  }
  if (tg_scope_begin() != 0) {
    tg_state_dict_free(sd);
    return -1;
  }
  entries e = {0};
  int rc = collect(st, sd, &e);
  if (rc == 0) {
    tg_kv meta[2] = {{"tapegrad.train_state", "1"},
                     {"optimizer", st->opt ? tg_optim_name(st->opt) : "none"}};
    rc = tg_save_safetensors(path, e.n, e.names, e.tensors, meta, 2);
  } else if (!tg_has_error())
    tg_error("%s: out of memory", op);
  tg_scope_end();
  entries_free(&e);
  tg_state_dict_free(sd);
  return rc;
}

/* ------------------------------------------------------------------ load */

/* the entry `name` of ck, of exactly dt and shape; NULL with an error naming it */
static tg_tensor *expect(const char *path, const tg_checkpoint *ck, const char *name,
                         tg_dtype dt, int ndim, const size_t *shape) {
  const char *op = "train_state_load";
  tg_tensor *t = tg_checkpoint_find(ck, name);
  char want[96], got[96];
  if (!t) {
    tg_error("%s: '%s' has no entry '%s'", op, path, name);
    return NULL;
  }
  bool same = t->dtype == dt && t->ndim == ndim;
  for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
  if (!same) {
    tg_error("%s: '%s': entry '%s' is %s %s, expected %s %s", op, path, name,
             tg_dtype_name(t->dtype), tg_dims_str(t->ndim, t->shape, got, sizeof got),
             tg_dtype_name(dt), tg_dims_str(ndim, shape, want, sizeof want));
    return NULL;
  }
  return t;
}

static const int64_t *i64_of(const tg_tensor *t) { return (const int64_t *)tg_ptr(t); }
static const double *f64_of(const tg_tensor *t) { return (const double *)tg_ptr(t); }

/* every model.* entry of the file must be one of the module's */
static int no_stray_model_entries(const char *path, const tg_checkpoint *ck,
                                  const tg_state_dict *sd) {
  for (size_t i = 0; i < tg_checkpoint_count(ck); i++) {
    const char *n = tg_checkpoint_name(ck, i);
    const char *key = strncmp(n, "model.", 6) == 0              ? n + 6
                      : strncmp(n, "early_stop.best.", 16) == 0 ? n + 16
                                                                : NULL;
    if (key && !tg_state_dict_get(sd, key)) {
      tg_error("train_state_load: '%s' has '%s', which the model does not have", path, n);
      return -1;
    }
  }
  return 0;
}

static int check_optim(const char *path, const tg_checkpoint *ck, tg_optimizer *opt) {
  const char *op = "train_state_load", *saved = tg_checkpoint_meta_get(ck, "optimizer");
  if (!saved || strcmp(saved, opt ? tg_optim_name(opt) : "none") != 0) {
    tg_error("%s: '%s' holds the state of optimizer %s, not %s", op, path,
             saved ? saved : "(unnamed)", opt ? tg_optim_name(opt) : "none");
    return -1;
  }
  if (!opt) return 0;
  size_t n = tg_optim_state_count(opt);
  for (size_t i = 0; i < n; i++) {
    const char *name;
    char full[NAME_MAX_LEN + 8];
    tg_tensor *t = tg_optim_state_at(opt, i, &name);
    if (!t) return -1;
    snprintf(full, sizeof full, "optim.%s", name);
    if (!expect(path, ck, full, t->dtype, t->ndim, t->shape)) return -1;
  }
  size_t gs[2] = {(size_t)tg_optim_num_groups(opt), 3};
  return expect(path, ck, "optim.groups", TG_FLOAT64, 2, gs) ? 0 : -1;
}

/* present as wanted, counts that are counts, best weights of the model's shapes */
static int check_early(const char *path, const tg_checkpoint *ck, const tg_early_stop *es,
                       const tg_state_dict *sd) {
  const char *op = "train_state_load";
  bool has = tg_checkpoint_find(ck, "early_stop") != NULL;
  if (has != (es != NULL)) {
    tg_error("%s: '%s' %s early stopping's state but the state given %s one", op, path,
             has ? "holds" : "has no", es ? "has" : "has no");
    return -1;
  }
  if (!es) return 0;
  const tg_tensor *t = expect(path, ck, "early_stop", TG_FLOAT64, 1, (size_t[]){4});
  if (!t) return -1;
  const double *v = (const double *)tg_ptr(t);
  for (int i = 1; i < 4; i++)
    if (!(v[i] >= 0 && v[i] < 9e15 && v[i] == floor(v[i])) || (i == 3 && v[i] > 1)) {
      tg_error("%s: '%s': early_stop[%d] = %g is not a %s", op, path, i, v[i],
               i == 3 ? "flag (0 or 1)" : "count");
      return -1;
    }
  bool has_best = false;
  for (size_t i = 0; i < tg_checkpoint_count(ck) && !has_best; i++)
    has_best = strncmp(tg_checkpoint_name(ck, i), "early_stop.best.", 16) == 0;
  if (has_best != (es->best_weights != NULL)) {
    tg_error("%s: '%s' %s the best epoch's weights but the state given %s them", op, path,
             has_best ? "holds" : "has no", es->best_weights ? "asks for" : "has no place for");
    return -1;
  }
  for (size_t i = 0; es->best_weights && i < sd->n; i++) {
    char full[NAME_MAX_LEN + 24];
    const tg_tensor *m = sd->entries[i].tensor;
    snprintf(full, sizeof full, "early_stop.best.%s", sd->entries[i].name);
    if (!expect(path, ck, full, m->dtype, m->ndim, m->shape)) return -1;
  }
  return 0;
}

static int check_all(const char *path, const tg_checkpoint *ck, const tg_train_state *st,
                     const tg_state_dict *sd) {
  const char *op = "train_state_load";
  if (!tg_checkpoint_meta_get(ck, "tapegrad.train_state")) {
    tg_error("%s: '%s' is not a training state (no tapegrad.train_state metadata)", op, path);
    return -1;
  }
  for (size_t i = 0; i < sd->n; i++) {
    char full[NAME_MAX_LEN + 8];
    const tg_tensor *t = sd->entries[i].tensor;
    snprintf(full, sizeof full, "model.%s", sd->entries[i].name);
    if (!expect(path, ck, full, t->dtype, t->ndim, t->shape)) return -1;
  }
  if (no_stray_model_entries(path, ck, sd) || check_optim(path, ck, st->opt)) return -1;
  bool has_sched = tg_checkpoint_find(ck, "sched") != NULL;
  if (has_sched != (st->sched != NULL)) {
    tg_error("%s: '%s' %s a scheduler's state but the state given %s one", op, path,
             has_sched ? "holds" : "has no", st->sched ? "has" : "has no");
    return -1;
  }
  if (st->sched && !expect(path, ck, "sched", TG_FLOAT64, 1, (size_t[]){4})) return -1;
  if (!expect(path, ck, "counters", TG_INT64, 1, (size_t[]){2})) return -1;
  tg_tensor *r = tg_checkpoint_find(ck, "rngs");
  size_t saved_rngs = r && r->ndim == 2 ? r->shape[0] : 0;
  if (saved_rngs != (size_t)st->n_rngs) {
    tg_error("%s: '%s' holds %zu generators, the state given has %d", op, path, saved_rngs,
             st->n_rngs);
    return -1;
  }
  if (st->n_rngs && !expect(path, ck, "rngs", TG_INT64, 2, (size_t[]){saved_rngs, 4})) return -1;
  bool has_loader = tg_checkpoint_find(ck, "loader") != NULL;
  if (has_loader != (st->loader != NULL)) {
    tg_error("%s: '%s' %s a loader's position but the state given %s one", op, path,
             has_loader ? "holds" : "has no", st->loader ? "has" : "has no");
    return -1;
  }
  if (st->loader && !expect(path, ck, "loader", TG_INT64, 1, (size_t[]){7})) return -1;
  return check_early(path, ck, st->early, sd);
}

static int restore_optim(const tg_checkpoint *ck, tg_optimizer *opt) {
  size_t n = tg_optim_state_count(opt);
  for (size_t i = 0; i < n; i++) {
    const char *name;
    char full[NAME_MAX_LEN + 8];
    if (!tg_optim_state_at(opt, i, &name)) return -1;
    snprintf(full, sizeof full, "optim.%s", name);
    if (tg_optim_state_load(opt, name, tg_checkpoint_find(ck, full))) return -1;
  }
  const double *g = f64_of(tg_checkpoint_find(ck, "optim.groups"));
  for (int i = 0; i < tg_optim_num_groups(opt); i++) {
    if (tg_optim_set_group_lr(opt, i, g[3 * i]) ||
        tg_optim_set_group_weight_decay(opt, i, g[3 * i + 1]))
      return -1;
    /* a momentum of 0 has no buffer to switch on: set only what changed */
    double m = g[3 * i + 2];
    if (!isnan(m) && m != tg_optim_get_group_momentum(opt, i) &&
        tg_optim_set_group_momentum(opt, i, m))
      return -1;
  }
  return 0;
}

static int restore_sched(const tg_checkpoint *ck, tg_lr_scheduler *s) {
  const double *v = f64_of(tg_checkpoint_find(ck, "sched"));
  if (!(v[0] >= 0 && v[0] < 9e15)) {
    tg_error("train_state_load: the scheduler's epoch %g is not a count", v[0]);
    return -1;
  }
  tg_plateau_state pl;
  if (tg_reduce_lr_on_plateau_state(s, &pl) == 0)
    return tg_reduce_lr_on_plateau_set_state(
        s, &(tg_plateau_state){v[1], (long)v[2], (long)v[3]}, (long)v[0]);
  tg_clear_error();
  return tg_scheduler_set_epoch(s, (long)v[0]);
}

static int restore_all(const tg_checkpoint *ck, tg_train_state *st, const tg_state_dict *sd) {
  for (size_t i = 0; i < sd->n; i++) {
    char full[NAME_MAX_LEN + 8];
    snprintf(full, sizeof full, "model.%s", sd->entries[i].name);
    if (tg_copy_(sd->entries[i].tensor, tg_checkpoint_find(ck, full))) return -1;
  }
  /* the scheduler first: it sets the lrs, which the saved groups' lrs then
   * replace (equal for closed forms; a plateau's lrs live only there) */
  if (st->sched && restore_sched(ck, st->sched)) return -1;
  if (st->opt && restore_optim(ck, st->opt)) return -1;
  const int64_t *c = i64_of(tg_checkpoint_find(ck, "counters"));
  st->epoch = (long)c[0], st->step = (long)c[1];
  if (st->n_rngs) {
    const int64_t *r = i64_of(tg_checkpoint_find(ck, "rngs"));
    for (int i = 0; i < st->n_rngs; i++) memcpy(st->rngs[i]->s, r + 4 * i, 4 * sizeof *r);
  }
  if (st->loader) {
    const int64_t *v = i64_of(tg_checkpoint_find(ck, "loader"));
    tg_loader_state ls = {.epoch = (uint64_t)v[4], .next = (uint64_t)v[5], .in_epoch = v[6] != 0};
    memcpy(ls.rng, v, sizeof ls.rng);
    if (tg_loader_set_state(st->loader, &ls)) return -1;
  }
  tg_early_stop *es = st->early;
  if (es) {
    const double *v = f64_of(tg_checkpoint_find(ck, "early_stop"));
    es->best = v[0], es->best_epoch = (long)v[1], es->bad_epochs = (long)v[2];
    es->stopped = v[3] != 0;
    for (size_t i = 0; es->best_weights && i < sd->n; i++) {
      char full[NAME_MAX_LEN + 24];
      snprintf(full, sizeof full, "early_stop.best.%s", sd->entries[i].name);
      if (tg_copy_(es->best_weights[i], tg_checkpoint_find(ck, full))) return -1;
    }
  }
  return 0;
}

int tg_train_state_load(const char *path, tg_train_state *st) {
  if (!check_state("train_state_load", path, st)) return -1;
  tg_state_dict *sd = tg_module_state_dict(st->model);
  if (!sd) return -1;
  if (check_best_weights("train_state_load", st->early, sd)) {
    tg_state_dict_free(sd);
    return -1;
  }
  tg_checkpoint *ck = tg_checkpoint_read(path);
  int rc = ck && check_all(path, ck, st, sd) == 0 ? restore_all(ck, st, sd) : -1;
  tg_checkpoint_free(ck);
  tg_state_dict_free(sd);
  return rc;
}
