/* Parameter groups (torch's param_groups / add_param_group): a grouped
 * optimizer gives, bit for bit, what one optimizer per group gives; numbers
 * pinned from torch 1.13 runs; per-group learning rates, weight decay and
 * schedules; state over groups; errors.
 *
 * The pinned numbers were printed by this script (/usr/bin/python3, torch
 * 1.13, float64):
 *
 *   import torch
 *   torch.set_default_dtype(torch.float64)
 *   PA=[1.0,-0.5,2.0]; PB=[0.3,0.7]
 *   GA=[[0.3,-1.2,0.05],[0.25,-0.9,-0.4],[-0.1,-1.5,0.2],[0.6,0.8,-0.02],[0.45,-0.3,0.7],[-0.2,0.1,0.35]]
 *   GB=[[0.5,-0.25],[-0.75,0.1],[0.2,0.4],[-0.3,-0.6],[0.05,0.9],[0.8,-0.45]]
 *   def run(cls, g0, g1):
 *       a=torch.tensor(PA,requires_grad=True); b=torch.tensor(PB,requires_grad=True)
 *       o=cls([dict(params=[a],**g0)], **({} if cls is not torch.optim.SGD else {'lr':1e-3}))
 *       o.add_param_group(dict(params=[b],**g1))
 *       for s in range(len(GA)):
 *           a.grad=torch.tensor(GA[s]); b.grad=torch.tensor(GB[s]); o.step()
 *       return [repr(x) for x in a.tolist()+b.tolist()]
 *   cases=[
 *    ('SGD', torch.optim.SGD, dict(lr=0.1,momentum=0.9,weight_decay=0.01,nesterov=True), dict(lr=0.05,momentum=0.5,dampening=0.3)),
 *    ('SGD0', torch.optim.SGD, dict(lr=0.1), dict(lr=0.2,momentum=0.9,weight_decay=0.1)),
 *    ('Adam', torch.optim.Adam, dict(lr=0.1,weight_decay=0.1,amsgrad=True), dict(lr=0.01,betas=(0.8,0.99))),
 *    ('AdamW', torch.optim.AdamW, dict(lr=0.1), dict(lr=0.05,weight_decay=0.5)),
 *    ('RMSprop', torch.optim.RMSprop, dict(lr=0.01,momentum=0.9,centered=True), dict(lr=0.05,alpha=0.9,weight_decay=0.1)),
 *   ]
 *   for name,cls,g0,g1 in cases:
 *       print(name, ', '.join(run(cls,g0,g1)))
 *   # Adagrad: torch 1.13's add_param_group makes no state (KeyError 'sum' at the
 *   # step) and __init__ fills every group's sum with the constructor's value, so
 *   # group 1's sum is set to its own initial_accumulator_value by hand
 *   a=torch.tensor(PA,requires_grad=True); b=torch.tensor(PB,requires_grad=True)
 *   o=torch.optim.Adagrad([dict(params=[a],lr=0.1,initial_accumulator_value=0.5),
 *                          dict(params=[b],lr=0.2,lr_decay=0.1,initial_accumulator_value=2.0)],
 *                         initial_accumulator_value=0.5)
 *   o.state[b]['sum'].fill_(2.0)
 *   for s_ in range(len(GA)):
 *       a.grad=torch.tensor(GA[s_]); b.grad=torch.tensor(GB[s_]); o.step()
 *   print('Adagrad', ', '.join(repr(x) for x in a.tolist()+b.tolist()))
 *   for sname, mk in [('StepLR', lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
 *                     ('ExponentialLR', lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
 *                     ('CosineAnnealingLR', lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.001))]:
 *       a=torch.tensor(PA,requires_grad=True); b=torch.tensor(PB,requires_grad=True)
 *       o=torch.optim.SGD([a],lr=0.1); o.add_param_group(dict(params=[b],lr=0.02))
 *       s=mk(o); out=[]
 *       for e in range(7):
 *           out.append((o.param_groups[0]['lr'], o.param_groups[1]['lr']))
 *           o.step(); s.step()
 *       print(sname, ', '.join('{%r, %r}'%x for x in out))
 *
 * printed:
 *   SGD 0.4580625088721793, 0.9485428807893553, 1.785794322645181, 0.27626562499999996, 0.6968281249999999
 *   SGD0 0.8699999999999999, -0.19999999999999998, 1.912, 0.19945156305919998, 0.4049840603647999
 *   Adam 0.48696815501281293, -0.04567904482825303, 1.6378687058346797, 0.29467001645879753, 0.707490496120692
 *   AdamW 0.5230478460107914, -0.048768981370831695, 1.898100898455271, 0.23358446837534144, 0.6405700847301974
 *   RMSprop 0.04252526600300163, 0.391461234564258, 1.5955819211905489, 0.15237070708259567, 0.6393650180479638
 *   Adagrad 0.8600681382044317, -0.31781825603224795, 1.9260060167849682, 0.2613166011951379, 0.6967959797029817
 *   StepLR {0.1, 0.02}, {0.1, 0.02}, {0.05, 0.01}, {0.05, 0.01}, {0.025, 0.005}, {0.025, 0.005}, {0.0125, 0.0025}
 *   ExponentialLR {0.1, 0.02}, {0.09000000000000001, 0.018000000000000002}, {0.08100000000000002, 0.016200000000000003}, {0.07290000000000002, 0.014580000000000003}, {0.06561000000000002, 0.013122000000000003}, {0.05904900000000002, 0.011809800000000004}, {0.05314410000000002, 0.010628820000000004}
 *   CosineAnnealingLR {0.1, 0.02}, {0.0855017856687341, 0.0172175144212722}, {0.0505, 0.010499999999999999}, {0.0154982143312659, 0.0037824855787277987}, {0.001, 0.001}, {0.015498214331265896, 0.003782485578727798}, {0.05050000000000001, 0.010500000000000002}
 */
#include "optim_ref.h"

#define NA 3
#define NB 2
#define GSTEPS 6
static const double PA[NA] = {1.0, -0.5, 2.0}, PB[NB] = {0.3, 0.7};
static const double GA[GSTEPS][NA] = {{0.3, -1.2, 0.05}, {0.25, -0.9, -0.4}, {-0.1, -1.5, 0.2},
                                      {0.6, 0.8, -0.02}, {0.45, -0.3, 0.7},  {-0.2, 0.1, 0.35}};
static const double GB[GSTEPS][NB] = {{0.5, -0.25}, {-0.75, 0.1}, {0.2, 0.4},
                                      {-0.3, -0.6}, {0.05, 0.9},  {0.8, -0.45}};

/* ------------------------------------------------------------ helpers */

/* p.grad += g exactly: the gradient of sum(p * g) */
static void add_grad(tg_tensor *p, const double *g) {
  tg_scope_begin();
  tg_tensor *gt = tg_to_dtype(tg_from_f64(1, (size_t[]){p->numel}, g), p->dtype);
  assert_int_equal(tg_backward(tg_sum(tg_mul(p, gt)), NULL, false), 0);
  tg_scope_end();
}

/* the same leaf values, in a new persistent parameter */
static tg_tensor *copy_param(const tg_tensor *p) {
  double v[8];
  assert_true(p->numel <= 8);
  assert_int_equal(tg_to_f64_array(p, v), 0);
  return make_param(p->dtype, p->numel, v);
}

/* Every adder behind one signature, beside optim_ref.h's make_X: options
 * passed by pointer. */
typedef tg_optimizer *(*make_fn)(tg_tensor **p, int n, const void *o);
typedef int (*add_fn)(tg_optimizer *opt, tg_tensor **p, int n, const void *o);
#define WRAP(name, adder, T)                                                    \
  static int add_##name(tg_optimizer *opt, tg_tensor **p, int n, const void *o) { \
    return adder(opt, p, n, *(const T *)o);                                     \
  }
WRAP(sgd, tg_sgd_add_param_group, tg_sgd_opts)
WRAP(adam, tg_adam_add_param_group, tg_adam_opts)
WRAP(adamw, tg_adam_add_param_group, tg_adam_opts)
WRAP(rmsprop, tg_rmsprop_add_param_group, tg_rmsprop_opts)
WRAP(adagrad, tg_adagrad_add_param_group, tg_adagrad_opts)
WRAP(adamax, tg_adamax_add_param_group, tg_adamax_opts)
WRAP(adadelta, tg_adadelta_add_param_group, tg_adadelta_opts)
WRAP(nadam, tg_nadam_add_param_group, tg_nadam_opts)
WRAP(radam, tg_radam_add_param_group, tg_radam_opts)

typedef struct group_case {
  const char *name;
  make_fn make;
  add_fn add;
  const void *o0, *o1; /* group 0's and group 1's options */
} group_case;

static const tg_sgd_opts SGD0 = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true},
                         SGD1 = {.lr = 0.05, .momentum = 0.5, .dampening = 0.3},
                         SGD2 = {.lr = 0.1}, SGD3 = {.lr = 0.2, .momentum = 0.9, .weight_decay = 0.1};
static const tg_adam_opts ADAM0 = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                   .weight_decay = 0.1, .amsgrad = true},
                          ADAM1 = {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-8},
                          ADAMW0 = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                    .weight_decay = 1e-2},
                          ADAMW1 = {.lr = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                    .weight_decay = 0.5};
static const tg_rmsprop_opts RMS0 = {.lr = 0.01, .alpha = 0.99, .eps = 1e-8, .momentum = 0.9,
                                     .centered = true},
                             RMS1 = {.lr = 0.05, .alpha = 0.9, .eps = 1e-8, .weight_decay = 0.1};
static const tg_adagrad_opts ADAGRAD0 = {.lr = 0.1, .initial_accumulator_value = 0.5, .eps = 1e-10},
                             ADAGRAD1 = {.lr = 0.2, .lr_decay = 0.1,
                                         .initial_accumulator_value = 2.0, .eps = 1e-10};
static const tg_adamax_opts ADAMAX0 = {.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
                            ADAMAX1 = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                       .weight_decay = 0.1, .maximize = true};
static const tg_adadelta_opts ADADELTA0 = {.lr = 1.0, .rho = 0.9, .eps = 1e-6},
                              ADADELTA1 = {.lr = 0.5, .rho = 0.5, .eps = 1e-6, .weight_decay = 0.1};
static const tg_nadam_opts NADAM0 = {.lr = 2e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                     .momentum_decay = 4e-3},
                           NADAM1 = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                     .weight_decay = 0.1, .momentum_decay = 0.3};
static const tg_radam_opts RADAM0 = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
                           RADAM1 = {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-8,
                                     .weight_decay = 0.1};

static const group_case CASES[] = {
    {"SGD", make_sgd, add_sgd, &SGD0, &SGD1},
    {"SGD", make_sgd, add_sgd, &SGD2, &SGD3}, /* group 0 without a momentum buffer */
    {"Adam", make_adam, add_adam, &ADAM0, &ADAM1},
    {"AdamW", make_adamw, add_adamw, &ADAMW0, &ADAMW1},
    {"RMSprop", make_rmsprop, add_rmsprop, &RMS0, &RMS1},
    {"Adagrad", make_adagrad, add_adagrad, &ADAGRAD0, &ADAGRAD1},
    {"Adamax", make_adamax, add_adamax, &ADAMAX0, &ADAMAX1},
    {"Adadelta", make_adadelta, add_adadelta, &ADADELTA0, &ADADELTA1},
    {"NAdam", make_nadam, add_nadam, &NADAM0, &NADAM1},
    {"RAdam", make_radam, add_radam, &RADAM0, &RADAM1},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

/* group 0 = {a}, group 1 = {b} */
static tg_optimizer *make_grouped(const group_case *c, tg_tensor *a, tg_tensor *b) {
  tg_optimizer *opt = c->make(&a, 1, c->o0);
  assert_non_null(opt);
  assert_int_equal(c->add(opt, &b, 1, c->o1), 0);
  return opt;
}

static void step_all(tg_optimizer *opt, tg_tensor *a, tg_tensor *b, int s) {
  add_grad(a, GA[s]);
  add_grad(b, GB[s]);
  assert_int_equal(tg_optim_step(opt), 0);
  assert_int_equal(tg_optim_zero_grad(opt), 0);
}

static void assert_same_tensor(const tg_tensor *x, const tg_tensor *y) {
  assert_int_equal(x->dtype, y->dtype);
  assert_int_equal(x->numel, y->numel);
  assert_memory_equal(tg_data(x), tg_data(y), x->numel * tg_dtype_size(x->dtype));
}

/* ------------------------------------------- grouped == separate, bitwise */

/* One optimizer over two groups against one optimizer per group, with a
 * float64 parameter in group 0 and a float32 one in group 1: parameters
 * and every state entry agree bit for bit after each step, the grouped
 * entry "1.x" matching the second optimizer's "0.x". */
static void test_groups_match_separate_optimizers(void **state) {
  (void)state;
  for (size_t k = 0; k < N_CASES; k++) {
    const group_case *c = &CASES[k];
    tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT32, NB, PB);
    tg_tensor *a1 = copy_param(a), *b1 = copy_param(b);
    tg_optimizer *g = make_grouped(c, a, b);
    tg_optimizer *s0 = c->make(&a1, 1, c->o0), *s1 = c->make(&b1, 1, c->o1);
    assert_non_null(s0);
    assert_non_null(s1);
    assert_string_equal(tg_optim_name(g), c->name);
    assert_int_equal(tg_optim_num_groups(g), 2);
    assert_int_equal(tg_optim_num_params(g), 2);
    assert_int_equal(tg_optim_state_count(g), tg_optim_state_count(s0) + tg_optim_state_count(s1));
    for (int s = 0; s < GSTEPS; s++) {
      step_all(g, a, b, s);
      add_grad(a1, GA[s]);
      add_grad(b1, GB[s]);
      assert_int_equal(tg_optim_step(s0), 0);
      assert_int_equal(tg_optim_step(s1), 0);
      assert_int_equal(tg_optim_zero_grad(s0), 0);
      assert_int_equal(tg_optim_zero_grad(s1), 0);
      assert_same_tensor(a, a1);
      assert_same_tensor(b, b1);
      for (size_t e = 0; e < tg_optim_state_count(g); e++) {
        const char *name;
        tg_tensor *t = tg_optim_state_at(g, e, &name);
        char sep_name[40];
        snprintf(sep_name, sizeof sep_name, "0%s", strchr(name, '.'));
        tg_tensor *u = tg_optim_state_find(name[0] == '0' ? s0 : s1, sep_name);
        if (!u) fail_msg("%s: grouped entry %s has no twin %s", c->name, name, sep_name);
        assert_same_tensor(t, u);
      }
    }
    tg_optim_free(g);
    tg_optim_free(s0);
    tg_optim_free(s1);
    tg_tensor *ts[] = {a, b, a1, b1};
    for (int i = 0; i < 4; i++) tg_free(ts[i]);
  }
}

/* ------------------------------------------------- torch's own numbers */

static void test_groups_match_torch(void **state) {
  (void)state;
  static const double want[][NA + NB] = {
      {0.4580625088721793, 0.9485428807893553, 1.785794322645181, 0.27626562499999996,
       0.6968281249999999},
      {0.8699999999999999, -0.19999999999999998, 1.912, 0.19945156305919998, 0.4049840603647999},
      {0.48696815501281293, -0.04567904482825303, 1.6378687058346797, 0.29467001645879753,
       0.707490496120692},
      {0.5230478460107914, -0.048768981370831695, 1.898100898455271, 0.23358446837534144,
       0.6405700847301974},
      {0.04252526600300163, 0.391461234564258, 1.5955819211905489, 0.15237070708259567,
       0.6393650180479638},
      {0.8600681382044317, -0.31781825603224795, 1.9260060167849682, 0.2613166011951379,
       0.6967959797029817},
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) { /* CASES[0..5]: the script's order */
    tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT64, NB, PB);
    tg_optimizer *opt = make_grouped(&CASES[k], a, b);
    for (int s = 0; s < GSTEPS; s++) step_all(opt, a, b, s);
    for (size_t i = 0; i < NA; i++) assert_rel(tg_get_flat(a, i), want[k][i], 1e-14);
    for (size_t i = 0; i < NB; i++) assert_rel(tg_get_flat(b, i), want[k][NA + i], 1e-14);
    tg_optim_free(opt);
    tg_free(a);
    tg_free(b);
  }
}

/* ------------------------------------------------------ per-group values */

static void test_group_lr_and_weight_decay(void **state) {
  (void)state;
  tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT64, NB, PB);
  tg_tensor *c = make_param(TG_FLOAT64, NB, PB);
  tg_optimizer *opt = tg_sgd_new(&a, 1, (tg_sgd_opts){.lr = 0.1, .weight_decay = 0.5});
  assert_int_equal(tg_sgd_add_param_group(opt, (tg_tensor *[]){b, c}, 2, (tg_sgd_opts){.lr = 0.02}), 0);
  assert_int_equal(tg_optim_num_groups(opt), 2);
  assert_int_equal(tg_optim_group_num_params(opt, 0), 1);
  assert_int_equal(tg_optim_group_num_params(opt, 1), 2);
  assert_int_equal(tg_optim_num_params(opt), 3);
  assert_close(tg_optim_get_group_lr(opt, 0), 0.1, 0);
  assert_close(tg_optim_get_group_lr(opt, 1), 0.02, 0);
  assert_close(tg_optim_get_lr(opt), 0.1, 0); /* group 0 */
  assert_close(tg_optim_get_group_weight_decay(opt, 0), 0.5, 0);
  assert_close(tg_optim_get_group_weight_decay(opt, 1), 0, 0);
  /* set_lr sets every group */
  assert_int_equal(tg_optim_set_lr(opt, 0.3), 0);
  assert_close(tg_optim_get_group_lr(opt, 0), 0.3, 0);
  assert_close(tg_optim_get_group_lr(opt, 1), 0.3, 0);
  /* one group's lr and weight decay, then a step: p -= lr*(g + wd*p) by hand */
  assert_int_equal(tg_optim_set_group_lr(opt, 1, 0.25), 0);
  assert_int_equal(tg_optim_set_group_weight_decay(opt, 1, 2.0), 0);
  assert_int_equal(tg_optim_set_group_weight_decay(opt, 0, 0.0), 0);
  add_grad(a, GA[0]);
  add_grad(b, GB[0]);
  add_grad(c, GB[1]);
  assert_int_equal(tg_optim_step(opt), 0);
  for (size_t i = 0; i < NA; i++) assert_close(tg_get_flat(a, i), PA[i] - 0.3 * GA[0][i], 1e-15);
  for (size_t i = 0; i < NB; i++) {
    assert_close(tg_get_flat(b, i), PB[i] - 0.25 * (GB[0][i] + 2.0 * PB[i]), 1e-15);
    assert_close(tg_get_flat(c, i), PB[i] - 0.25 * (GB[1][i] + 2.0 * PB[i]), 1e-15);
  }
  /* bad values and indices change nothing */
  assert_int_equal(tg_optim_set_group_lr(opt, 1, NAN), -1);
  assert_error_has("optim_set_group_lr: invalid learning rate nan");
  assert_int_equal(tg_optim_set_group_lr(opt, 2, 0.1), -1);
  assert_error_has("optim_set_group_lr: group 2 out of range for 2 parameter groups");
  assert_int_equal(tg_optim_set_group_weight_decay(opt, 0, -0.5), -1);
  assert_error_has("optim_set_group_weight_decay: invalid weight_decay -0.5");
  assert_true(isnan(tg_optim_get_group_lr(opt, -1)));
  assert_error_has("group -1 out of range");
  assert_int_equal(tg_optim_group_num_params(opt, 5), -1);
  assert_error_has("optim_group_num_params: group 5 out of range");
  assert_int_equal(tg_optim_set_lr(opt, -1), -1);
  assert_error_has("optim_set_lr: invalid learning rate -1");
  assert_close(tg_optim_get_group_lr(opt, 1), 0.25, 0);
  assert_close(tg_optim_get_group_weight_decay(opt, 0), 0, 0);
  /* AdamW's weight decay per group is its decoupled one: p *= 1 - lr*wd first */
  tg_optimizer *w = tg_adamw_new(&a, 1, tg_adamw_defaults());
  assert_int_equal(tg_optim_set_group_weight_decay(w, 0, 0.0), 0);
  double before[NA];
  assert_int_equal(tg_to_f64_array(a, before), 0);
  assert_int_equal(tg_optim_zero_grad(w), 0); /* a zero gradient: Adam moves nothing */
  assert_int_equal(tg_optim_step(w), 0);
  for (size_t i = 0; i < NA; i++) assert_close(tg_get_flat(a, i), before[i], 0);
  assert_int_equal(tg_optim_set_group_weight_decay(w, 0, 0.5), 0);
  assert_int_equal(tg_optim_step(w), 0);
  for (size_t i = 0; i < NA; i++) assert_close(tg_get_flat(a, i), before[i] * (1 - 1e-3 * 0.5), 1e-16);
  tg_optim_free(w);
  tg_optim_free(opt);
  tg_free(a);
  tg_free(b);
  tg_free(c);
}

/* Adagrad's sum starts at each group's own initial_accumulator_value */
static void test_adagrad_group_accumulator(void **state) {
  (void)state;
  tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT32, NB, PB);
  tg_optimizer *opt = make_grouped(&CASES[5], a, b);
  for (size_t i = 0; i < NA; i++) assert_close(tg_get_flat(tg_optim_state_find(opt, "0.sum"), i), 0.5, 0);
  for (size_t i = 0; i < NB; i++) assert_close(tg_get_flat(tg_optim_state_find(opt, "1.sum"), i), 2.0, 0);
  tg_optim_free(opt);
  tg_free(a);
  tg_free(b);
}

/* ---------------------------------------------------------- schedules */

/* torch's lrs of both groups at epochs 0..6 (the script above); torch
 * steps its schedules in their chained form, tapegrad in the closed form,
 * so the two agree to rounding */
static void test_schedulers_per_group(void **state) {
  (void)state;
  static const double want[3][7][2] = {
      {{0.1, 0.02}, {0.1, 0.02}, {0.05, 0.01}, {0.05, 0.01}, {0.025, 0.005}, {0.025, 0.005},
       {0.0125, 0.0025}},
      {{0.1, 0.02}, {0.09000000000000001, 0.018000000000000002},
       {0.08100000000000002, 0.016200000000000003}, {0.07290000000000002, 0.014580000000000003},
       {0.06561000000000002, 0.013122000000000003}, {0.05904900000000002, 0.011809800000000004},
       {0.05314410000000002, 0.010628820000000004}},
      {{0.1, 0.02}, {0.0855017856687341, 0.0172175144212722}, {0.0505, 0.010499999999999999},
       {0.0154982143312659, 0.0037824855787277987}, {0.001, 0.001},
       {0.015498214331265896, 0.003782485578727798}, {0.05050000000000001, 0.010500000000000002}},
  };
  tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT64, NB, PB);
  for (int k = 0; k < 3; k++) {
    tg_optimizer *opt = tg_sgd_new(&a, 1, (tg_sgd_opts){.lr = 0.1});
    assert_int_equal(tg_sgd_add_param_group(opt, &b, 1, (tg_sgd_opts){.lr = 0.02}), 0);
    tg_lr_scheduler *s = k == 0   ? tg_step_lr_new(opt, 2, 0.5)
                         : k == 1 ? tg_exponential_lr_new(opt, 0.9)
                                  : tg_cosine_annealing_lr_new(opt, 4, 0.001);
    assert_non_null(s);
    for (int e = 0; e < 7; e++) {
      assert_rel(tg_optim_get_group_lr(opt, 0), want[k][e][0], 1e-14);
      assert_rel(tg_optim_get_group_lr(opt, 1), want[k][e][1], 1e-14);
      assert_close(tg_scheduler_lr_at(s, e), tg_optim_get_group_lr(opt, 0), 0); /* group 0 */
      assert_int_equal(tg_scheduler_step(s), 0);
    }
    /* resuming at an epoch sets every group from its own base */
    assert_int_equal(tg_scheduler_set_epoch(s, 2), 0);
    assert_rel(tg_optim_get_group_lr(opt, 1), want[k][2][1], 1e-14);
    /* a group added after the scheduler keeps its lr */
    tg_tensor *c = make_param(TG_FLOAT64, NB, PB);
    assert_int_equal(tg_sgd_add_param_group(opt, &c, 1, (tg_sgd_opts){.lr = 0.7}), 0);
    assert_int_equal(tg_scheduler_step(s), 0);
    assert_close(tg_optim_get_group_lr(opt, 2), 0.7, 0);
    assert_rel(tg_optim_get_group_lr(opt, 0), want[k][3][0], 1e-14);
    tg_scheduler_free(s);
    tg_optim_free(opt);
    tg_free(c);
  }
  tg_free(a);
  tg_free(b);
}

/* ------------------------------------------------------ state over groups */

/* names number the parameters across groups; each group's own options
 * decide its buffers */
static void test_state_names_over_groups(void **state) {
  (void)state;
  tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT32, NB, PB);
  tg_tensor *c = make_param(TG_FLOAT64, NB, PB);
  tg_optimizer *opt = tg_sgd_new(&a, 1, (tg_sgd_opts){.lr = 0.1});
  assert_int_equal(tg_sgd_add_param_group(opt, (tg_tensor *[]){b, c}, 2, SGD3), 0);
  const char *want[] = {"0.step", "1.step", "1.momentum_buffer", "2.step", "2.momentum_buffer"};
  assert_int_equal(tg_optim_state_count(opt), 5);
  for (size_t e = 0; e < 5; e++) {
    const char *name;
    tg_tensor *t = tg_optim_state_at(opt, e, &name);
    assert_string_equal(name, want[e]);
    assert_ptr_equal(tg_optim_state_find(opt, name), t);
  }
  assert_int_equal(tg_optim_state_find(opt, "1.momentum_buffer")->dtype, TG_FLOAT32);
  assert_null(tg_optim_state_find(opt, "0.momentum_buffer"));
  assert_error_has("SGD has no state entry \"0.momentum_buffer\"");
  tg_optim_free(opt);
  /* Adam with amsgrad in group 1 only */
  opt = make_grouped(&CASES[2], a, b); /* ADAM0 has amsgrad */
  assert_non_null(tg_optim_state_find(opt, "0.max_exp_avg_sq"));
  assert_null(tg_optim_state_find(opt, "1.max_exp_avg_sq"));
  tg_clear_error();
  tg_optim_free(opt);
  tg_free(a);
  tg_free(b);
  tg_free(c);
}

/* Three steps over two groups, every entry copied by name into a fresh
 * optimizer with the same groups over copies of the parameters: the next
 * steps agree bit for bit. */
static void test_state_round_trip_over_groups(void **state) {
  (void)state;
  for (size_t k = 0; k < N_CASES; k++) {
    const group_case *gc = &CASES[k];
    tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT32, NB, PB);
    tg_optimizer *o1 = make_grouped(gc, a, b);
    for (int s = 0; s < 3; s++) step_all(o1, a, b, s);
    tg_tensor *a2 = copy_param(a), *b2 = copy_param(b);
    tg_optimizer *o2 = make_grouped(gc, a2, b2);
    assert_int_equal(tg_optim_state_count(o2), tg_optim_state_count(o1));
    for (size_t e = 0; e < tg_optim_state_count(o1); e++) {
      const char *name;
      tg_tensor *t = tg_optim_state_at(o1, e, &name);
      assert_int_equal(tg_optim_state_load(o2, name, t), 0);
    }
    for (int s = 3; s < GSTEPS; s++) {
      step_all(o1, a, b, s);
      step_all(o2, a2, b2, s);
      assert_same_tensor(a, a2);
      assert_same_tensor(b, b2);
    }
    tg_optim_free(o1);
    tg_optim_free(o2);
    tg_tensor *ts[] = {a, b, a2, b2};
    for (int i = 0; i < 4; i++) tg_free(ts[i]);
  }
}

/* an added group allocates its state when added; steps allocate nothing */
static void test_grouped_step_allocates_nothing(void **state) {
  (void)state;
  for (size_t k = 0; k < N_CASES; k++) {
    tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT32, NB, PB);
    tg_optimizer *opt = make_grouped(&CASES[k], a, b);
    for (int s = 0; s < 3; s++) {
      add_grad(a, GA[s]);
      add_grad(b, GB[s]);
      size_t before = tg_memory_get_stats().mallocs;
      assert_int_equal(tg_optim_step(opt), 0);
      assert_int_equal(tg_memory_get_stats().mallocs, before);
      assert_int_equal(tg_optim_zero_grad(opt), 0);
    }
    tg_optim_free(opt);
    tg_free(a);
    tg_free(b);
  }
}

/* ------------------------------------------------------------ errors */

/* a failed add leaves the optimizer as it was */
static void assert_unchanged(const tg_optimizer *opt, int groups, int params, size_t entries) {
  assert_int_equal(tg_optim_num_groups(opt), groups);
  assert_int_equal(tg_optim_num_params(opt), params);
  assert_int_equal(tg_optim_state_count(opt), entries);
}

static void test_add_group_errors(void **state) {
  (void)state;
  tg_tensor *a = make_param(TG_FLOAT64, NA, PA), *b = make_param(TG_FLOAT64, NB, PB);
  tg_optimizer *sgd = tg_sgd_new(&a, 1, SGD0);
  size_t n0 = tg_optim_state_count(sgd);
  /* a parameter in two groups: torch's ValueError */
  assert_int_equal(tg_sgd_add_param_group(sgd, (tg_tensor *[]){b, a}, 2, SGD1), -1);
  assert_error_has("sgd_add_param_group: params[1] is already in parameter group 0: some "
                   "parameters appear in more than one parameter group");
  assert_unchanged(sgd, 1, 1, n0);
  assert_int_equal(tg_sgd_add_param_group(sgd, (tg_tensor *[]){b, b}, 2, SGD1), -1);
  assert_error_has("params[1] is the same tensor as params[0]");
  assert_unchanged(sgd, 1, 1, n0);
  /* the constructor's checks, under the adder's name */
  tg_sgd_opts bad = SGD1;
  bad.lr = -1;
  assert_int_equal(tg_sgd_add_param_group(sgd, &b, 1, bad), -1);
  assert_error_has("sgd_add_param_group: invalid learning rate -1");
  bad = SGD1;
  bad.nesterov = true; /* with dampening 0.3 */
  assert_int_equal(tg_sgd_add_param_group(sgd, &b, 1, bad), -1);
  assert_error_has("sgd_add_param_group: nesterov momentum requires");
  assert_unchanged(sgd, 1, 1, n0);
  /* bad parameters */
  tg_tensor *ints = tg_keep(tg_zeros(TG_INT64, TG_SHAPE(2)));
  assert_int_equal(tg_sgd_add_param_group(sgd, &ints, 1, SGD1), -1);
  assert_error_has("sgd_add_param_group: params[0] is int64");
  assert_int_equal(tg_sgd_add_param_group(sgd, &b, -1, SGD1), -1);
  assert_error_has("sgd_add_param_group: got -1 parameters");
  assert_int_equal(tg_sgd_add_param_group(sgd, NULL, 1, SGD1), -1);
  assert_error_has("sgd_add_param_group: params is NULL");
  assert_int_equal(tg_sgd_add_param_group(NULL, &b, 1, SGD1), -1);
  assert_error_has("sgd_add_param_group: optimizer is NULL");
  assert_unchanged(sgd, 1, 1, n0);
  /* another optimizer's options type */
  assert_int_equal(tg_adam_add_param_group(sgd, &b, 1, ADAM1), -1);
  assert_error_has("adam_add_param_group: the optimizer is SGD, whose groups take tg_sgd_opts, "
                   "not tg_adam_opts");
  tg_optimizer *adamw = tg_adamw_new(&a, 1, ADAMW0);
  assert_int_equal(tg_sgd_add_param_group(adamw, &b, 1, SGD1), -1);
  assert_error_has("the optimizer is AdamW, whose groups take tg_adam_opts, not tg_sgd_opts");
  assert_int_equal(tg_nadam_add_param_group(adamw, &b, 1, NADAM1), -1);
  assert_error_has("not tg_nadam_opts");
  assert_int_equal(tg_adam_add_param_group(adamw, &b, 1, ADAMW1), 0); /* AdamW takes Adam's */
  assert_unchanged(adamw, 2, 2, 6);
  /* each optimizer's own validator, in the adder */
  tg_adam_opts ab = ADAM1;
  ab.beta1 = 1.0;
  assert_int_equal(tg_adam_add_param_group(adamw, &ints, 1, ab), -1);
  assert_error_has("adam_add_param_group: invalid beta1 1: must be in [0, 1)");
  tg_optimizer *ad = tg_adadelta_new(&a, 1, ADADELTA0);
  tg_adadelta_opts dd = ADADELTA1;
  dd.rho = 2;
  assert_int_equal(tg_adadelta_add_param_group(ad, &b, 1, dd), -1);
  assert_error_has("adadelta_add_param_group: invalid rho 2: must be in [0, 1]");
  tg_optimizer *na = tg_nadam_new(&a, 1, NADAM0);
  tg_nadam_opts nd = NADAM1;
  nd.momentum_decay = -1;
  assert_int_equal(tg_nadam_add_param_group(na, &b, 1, nd), -1);
  assert_error_has("nadam_add_param_group: invalid momentum_decay -1");
  tg_optimizer *ag = tg_adagrad_new(&a, 1, ADAGRAD0);
  tg_adagrad_opts gd = ADAGRAD1;
  gd.initial_accumulator_value = -0.5;
  assert_int_equal(tg_adagrad_add_param_group(ag, &b, 1, gd), -1);
  assert_error_has("adagrad_add_param_group: invalid initial_accumulator_value -0.5");
  /* an empty group is a group, as torch's add_param_group({'params': []}) */
  assert_int_equal(tg_sgd_add_param_group(sgd, NULL, 0, SGD1), 0);
  assert_unchanged(sgd, 2, 1, n0);
  assert_int_equal(tg_optim_group_num_params(sgd, 1), 0);
  assert_int_equal(tg_sgd_add_param_group(sgd, &b, 1, SGD1), 0);
  assert_unchanged(sgd, 3, 2, n0 + 2);
  add_grad(a, GA[0]);
  add_grad(b, GB[0]);
  assert_int_equal(tg_optim_step(sgd), 0);
  /* a step error names the parameter by its number over all groups */
  tg_tensor *g = b->grad;
  b->grad = tg_keep(tg_zeros(TG_FLOAT64, TG_SHAPE(3)));
  assert_int_equal(tg_optim_step(sgd), -1);
  assert_error_has("optim_step: the gradient of parameter 1 has a different shape");
  tg_free(b->grad);
  b->grad = g;
  tg_optimizer *os[] = {sgd, adamw, ad, na, ag};
  for (int i = 0; i < 5; i++) tg_optim_free(os[i]);
  tg_free(ints);
  tg_free(a);
  tg_free(b);
}

static void test_group_nulls(void **state) {
  (void)state;
  assert_int_equal(tg_optim_num_groups(NULL), -1);
  assert_error_has("optim_num_groups: optimizer is NULL");
  assert_int_equal(tg_optim_group_num_params(NULL, 0), -1);
  assert_error_has("optim_group_num_params: optimizer is NULL");
  assert_true(isnan(tg_optim_get_group_lr(NULL, 0)));
  assert_error_has("optim_get_group_lr: optimizer is NULL");
  assert_int_equal(tg_optim_set_group_lr(NULL, 0, 0.1), -1);
  assert_error_has("optim_set_group_lr: optimizer is NULL");
  assert_true(isnan(tg_optim_get_group_weight_decay(NULL, 0)));
  assert_error_has("optim_get_group_weight_decay: optimizer is NULL");
  assert_int_equal(tg_optim_set_group_weight_decay(NULL, 0, 0.1), -1);
  assert_error_has("optim_set_group_weight_decay: optimizer is NULL");
  for (size_t k = 0; k < N_CASES; k++) {
    assert_int_equal(CASES[k].add(NULL, NULL, 0, CASES[k].o1), -1);
    assert_error_has("add_param_group: optimizer is NULL");
  }
}


int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_groups_match_separate_optimizers),
      TG_TEST(test_groups_match_torch),
      TG_TEST(test_group_lr_and_weight_decay),
      TG_TEST(test_adagrad_group_accumulator),
      TG_TEST(test_schedulers_per_group),
      TG_TEST(test_state_names_over_groups),
      TG_TEST(test_state_round_trip_over_groups),
      TG_TEST(test_grouped_step_allocates_nothing),
      TG_TEST(test_add_group_errors),
      TG_TEST(test_group_nulls),
  };
  return cmocka_run_group_tests_name("optim_groups", tests, NULL, NULL);
}
