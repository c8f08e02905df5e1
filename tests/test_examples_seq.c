/* Examples about sequences, run as programs (TG_BUILD_DIR/examples/<name>)
 * with what they print checked against values from outside tapegrad.
 *
 * rnn_on_the_fly (issue 12): the expected losses and gradient norms are
 * PyTorch 1.13's for the same weights and inputs, from this script
 * (/usr/bin/python3), whose printed values are pasted below:
 *
 *   import math, torch
 *   torch.set_default_dtype(torch.float64)
 *   H, D = 3, 2
 *   W_h = torch.tensor([[0.5*math.sin(i+2*j+1) for j in range(H)] for i in range(H)], requires_grad=True)
 *   W_x = torch.tensor([[0.5*math.cos(2*i+j) for j in range(D)] for i in range(H)], requires_grad=True)
 *   for T in (3, 7, 12):
 *       h = torch.zeros(H, 1)
 *       for t in range(1, T+1):
 *           x = torch.tensor([[math.sin(0.5*t+j)] for j in range(D)])
 *           h = torch.tanh(W_h @ h + W_x @ x)
 *       W_h.grad = None; W_x.grad = None
 *       loss = h.sum(); loss.backward()
 *       print(T, repr(loss.item()), repr(W_h.grad.norm().item()), repr(W_x.grad.norm().item()))
 *
 * and the grad_fn chain torch shows for h_3 (h.grad_fn.next_functions ...):
 * TanhBackward0 <- AddBackward0 <- (MmBackward0 <- (AccumulateGrad,
 * TanhBackward0), MmBackward0 <- (AccumulateGrad, None)). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "tg_test.h"
#include "example_util.h"

static void test_rnn_on_the_fly_chain(void **state) {
  (void)state;
  const char *out = example_run("rnn_on_the_fly", NULL, NULL);
  /* torch's nodes, without its "0" suffixes; the leaf W_h is AccumulateGrad,
   * the constant x_3 None, and the previous step's h its TanhBackward */
  const char *chain = "TanhBackward\n"
                      "  AddBackward\n"
                      "    MmBackward\n"
                      "      AccumulateGrad  W_h\n"
                      "      TanhBackward    h_2 (the previous step: the chain goes on there)\n"
                      "    MmBackward\n"
                      "      AccumulateGrad  W_x\n"
                      "      None            x_3 (needs no gradient)\n";
  const char *at = strstr(out, "from h_3 back");
  assert_non_null(at);
  at = strchr(at, '\n') + 1;
  if (strncmp(at, chain, strlen(chain)) != 0) fail_msg("chain printed:\n%s\nexpected:\n%s", at, chain);
}

static void test_rnn_on_the_fly_gradients(void **state) {
  (void)state;
  const char *out = example_run("rnn_on_the_fly", NULL, NULL);
  /* PyTorch 1.13 (the script above): T, loss, |dL/dW_h|, |dL/dW_x| */
  const struct {
    int T;
    double loss, gwh, gwx;
  } torch[] = {
      {3, 0.5163449660151461, 1.011730510059885, 1.4426268009500343},
      {7, 0.03105840093367418, 1.3486670441371258, 1.933884075416999},
      {12, -0.4073839534426028, 1.0801248308083897, 1.319156385752551},
  };
  for (size_t k = 0; k < sizeof torch / sizeof *torch; k++) {
    char head[64], loss[64];
    snprintf(head, sizeof head, "length %d: ", torch[k].T);
    const char *s = example_line_after(out, head);
    /* a graph as long as the sequence: two products, an add and a tanh a step */
    assert_int_equal((int)strtol(s, NULL, 10), 4 * torch[k].T);
    snprintf(loss, sizeof loss, "  loss = sum(h_%d) = ", torch[k].T);
    assert_rel_close(example_number(s, loss), torch[k].loss, 1e-12);
    assert_rel_close(example_number(s, "  |dL/dW_h| = "), torch[k].gwh, 1e-12);
    assert_rel_close(example_number(s, "  |dL/dW_x| = "), torch[k].gwx, 1e-12);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rnn_on_the_fly_chain, test_setup, example_teardown),
      cmocka_unit_test_setup_teardown(test_rnn_on_the_fly_gradients, test_setup, example_teardown),
  };
  int rc = cmocka_run_group_tests_name("examples_seq", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
