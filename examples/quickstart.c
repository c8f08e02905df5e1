/* A model and a training loop in C, start to finish: a 2-16-1 MLP learns
 * XOR with Adam. This is the program the README walks through. */
#include <stdio.h>

#include "tapegrad.h"

int main(void) {
  /* data and parameters are persistent: made outside any scope */
  const float xs[] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[] = {0, 1, 1, 0};
  tg_tensor *x = tg_from_f32(TG_SHAPE(4, 2), xs);
  tg_tensor *y = tg_from_f32(TG_SHAPE(4, 1), ys);
  tg_rng rng;
  tg_rng_seed(&rng, 42);
  tg_module *model = tg_nn_sequential(3, tg_nn_linear(2, 16, true, &rng), tg_nn_tanh(),
                                      tg_nn_linear(16, 1, true, &rng));
  size_t n_params = 0;
  tg_tensor **params = model ? tg_module_parameters(model, &n_params) : NULL;
  tg_adam_opts ao = tg_adam_defaults();
  ao.lr = 0.05;
  tg_optimizer *opt = params ? tg_adam_new(params, (int)n_params, ao) : NULL;
  if (!x || !y || !opt) {
    fprintf(stderr, "quickstart: %s\n", tg_last_error());
    return 1;
  }
  for (int step = 0; step <= 300; step++) {
    tg_scope_begin(); /* everything made in this iteration is freed at scope_end */
    tg_tensor *logits = tg_module_forward(model, x);
    tg_tensor *loss = tg_bce_with_logits(logits, y, TG_REDUCTION_MEAN);
    if (!loss || tg_optim_zero_grad(opt) || tg_backward(loss, NULL, false) || tg_optim_step(opt)) {
      fprintf(stderr, "quickstart: %s\n", tg_last_error());
      return 1;
    }
    if (step % 100 == 0) printf("step %3d  loss %.4f\n", step, tg_item(loss));
    tg_scope_end();
  }
  tg_scope_begin();
  tg_no_grad_begin(); /* evaluation records nothing */
  tg_tensor *p = tg_sigmoid(tg_module_forward(model, x));
  tg_no_grad_end();
  printf("predictions for (0,0) (0,1) (1,0) (1,1): ");
  tg_print(p);
  tg_scope_end();
  tg_optim_free(opt);
  tg_module_free(model);
  tg_free(x);
  tg_free(y);
  tg_release_cached();
  return 0;
}
