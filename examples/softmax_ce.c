/* Softmax cross-entropy and its famous gradient.
 *
 * For logits z and target class y, L = -log softmax(z)[y], and
 * dL/dz = softmax(z) - onehot(y). With z = log(p) for a probability vector
 * p, softmax(z) = p, so for p = [0.2, 0.7, 0.1] and y = 1:
 *   L = -log 0.7 = 0.3567,  dL/dz = [0.2, -0.3, 0.1]. */
#include <stdio.h>
#include <stdlib.h>

#include "tapegrad.h"

static void die(const char *what) {
  fprintf(stderr, "softmax_ce: %s failed: %s\n", what, tg_last_error());
  exit(1);
}

int main(void) {
  tg_scope_begin();
  const float p_data[] = {0.2f, 0.7f, 0.1f};
  const size_t target = 1;

  /* p does not require grad, so z = log(p) is a leaf; then we ask for its gradient */
  tg_tensor *p = tg_from_f32(TG_SHAPE(3), p_data);
  tg_tensor *z = tg_requires_grad_(tg_log(p), true);
  if (!z) die("creating the logits");
  printf("p = ");
  tg_print(p);
  printf("z = log(p) = ");
  tg_print(z);

  /* the loss, in its numerically stable form: log_softmax, then pick the target */
  tg_tensor *log_probs = tg_log_softmax(z, 0);
  tg_tensor *loss = tg_neg(tg_select(log_probs, 0, target));
  if (!loss) die("the loss");
  printf("target class = %zu\n", target);
  printf("loss = -log_softmax(z)[target] = ");
  tg_print(loss);

  tg_tensor *probs = tg_softmax(z, 0);
  if (!probs) die("softmax");
  printf("softmax(z) = ");
  tg_print(probs);

  if (tg_backward(loss, NULL, false) != 0) die("backward");
  printf("dL/dz = ");
  tg_print(z->grad);

  /* compare with softmax(z) - onehot(target), computed without autograd */
  tg_tensor *onehot = tg_zeros(TG_FLOAT32, TG_SHAPE(3));
  if (!onehot || tg_set(onehot, (size_t[]){target}, 1.0) != 0) die("the one-hot vector");
  tg_no_grad_begin();
  tg_tensor *expected = tg_sub(probs, onehot);
  tg_no_grad_end();
  if (!expected) die("softmax - onehot");
  printf("softmax(z) - onehot = ");
  tg_print(expected);

  tg_scope_end();
  tg_release_cached();
  return 0;
}
