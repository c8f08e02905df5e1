/* The ops the PyTorch oracle can call, by the names torch_oracle.py uses,
 * and the parameters a case carries. */
#ifndef ORACLE_OPS_H
#define ORACLE_OPS_H

#include "tapegrad.h"

#define ORACLE_MAX_PARAMS 8
#define ORACLE_MAX_LIST 16

typedef struct oracle_param {
  char key[24];
  int count; /* numbers in v; 0 for a string parameter */
  double v[ORACLE_MAX_LIST];
  char s[32];
} oracle_param;

typedef struct oracle_params {
  int n;
  oracle_param p[ORACLE_MAX_PARAMS];
} oracle_params;

/* parameter lookups with a default for an absent key */
double oracle_num(const oracle_params *p, const char *key, double def);
const char *oracle_str(const oracle_params *p, const char *key, const char *def);
/* a list of ints (dims, shape); returns the count, 0 when absent */
int oracle_ints(const oracle_params *p, const char *key, long *out);

/* fills out[0..k) and returns k, or -1 when the op failed (message in
 * tg_last_error) */
typedef int (*oracle_fn)(tg_tensor **x, const oracle_params *p, tg_tensor **out);
typedef struct oracle_op {
  const char *name;
  oracle_fn fn;
} oracle_op;

const oracle_op *oracle_find(const char *name);

#endif
