/* What the parts of tests/optim_runner share: the token reader of its stdin
 * protocol and the printers of its answers (see the top of optim_runner.c). */
#ifndef OPTIM_RUNNER_H
#define OPTIM_RUNNER_H

#include <stddef.h>

#include "tapegrad.h"

#define TOK_MAX 128

/* a malformed input: a message on stderr and exit 2 */
void die(const char *what);
const char *tok(void);
double num(void);
long inum(void); /* a whole number */
void expect(const char *word);
double *nums(size_t n); /* n numbers, malloc'd (free them) */
/* a shape: NDIM then the sizes; returns numel */
size_t read_shape(int *ndim, size_t *shape);
/* prefix, then tg_last_error() on one line */
void print_msg(const char *prefix);
/* "TAG V.." with every value in %.17g */
void print_values(const char *tag, const tg_tensor *t);
/* a persistent float64 leaf that requires grad */
tg_tensor *persistent_leaf(int ndim, const size_t *shape, const double *v);

/* the L-BFGS case (optim_runner_lbfgs.c), after its "lbfgs" token */
void run_lbfgs_case(void);

#endif
