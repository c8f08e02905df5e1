/* The module API beyond one tensor in, one out (nn/module.c): modules whose
 * forward takes and returns several tensors, called through either entry
 * point, with NULL inputs standing for documented defaults; the containers
 * ModuleList and ModuleDict (nn/containers.c); print(model) and the
 * summary table (nn/summary.c). The printed texts expected here were
 * produced by PyTorch 1.13's print() of the same modules (/usr/bin/python3)
 * and pasted as literals. */
#include "tg_internal.h" /* tg_error, for a custom module's own message */
#include "tg_test.h"

#include <stdio.h>
#include <stdlib.h>

/* (x, h) -> (x + h, x * h); h NULL means zeros, as a cell's initial state */
static int add_mul_forward(tg_module *m, tg_tensor *const *in, int n_in, tg_tensor **out, int max_out) {
  if (n_in < 1 || n_in > 2 || max_out < 2) {
    tg_error("%s: takes (x, h) and gives two outputs", m->type);
    return -1;
  }
  tg_tensor *x = in[0], *h = n_in > 1 && in[1] ? in[1] : tg_zeros_like(in[0]);
  out[0] = tg_add(x, h);
  out[1] = tg_mul(x, h);
  return out[0] && out[1] ? 2 : -1;
}

static tg_tensor *double_forward(tg_module *m, tg_tensor *x) {
  (void)m;
  return tg_mul_scalar(x, 2.0);
}

static void test_multi_forward_both_calls(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 3);
  tg_tensor *x = test_leaf(&r, 2, (size_t[]){2, 3}), *h = test_leaf(&r, 2, (size_t[]){2, 3});
  tg_module *m = tg_module_new_multi("AddMul", add_mul_forward);
  assert_non_null(m);
  assert_null(m->forward);
  tg_tensor *out[2] = {0};
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, h}, 2, out, 2), 2);
  test_assert_identical(out[0], tg_add(x, h));
  test_assert_identical(out[1], tg_mul(x, h));
  /* gradients flow through both outputs */
  assert_int_equal(tg_backward(tg_add(tg_sum(out[0]), tg_sum(out[1])), NULL, false), 0);
  assert_close(tg_item(tg_sum(x->grad)), tg_item(tg_sum(tg_add_scalar(h, 1.0))), 1e-12);
  /* a NULL input is the module's default (zeros): x + 0 */
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, NULL}, 2, out, 2), 2);
  test_assert_identical(out[0], x);
  /* tg_module_forward passes {x} and keeps the first output */
  test_assert_identical(tg_module_forward(m, x), x);
  /* the module's own error reaches the caller */
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, h}, 2, out, 1), -1);
  test_expect_error("AddMul", "two outputs");
  tg_module_free(m);
}

static void test_single_module_through_multi(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 4);
  tg_tensor *x = test_leaf(&r, 1, (size_t[]){5});
  tg_module *m = tg_module_new("Double", double_forward);
  tg_tensor *out[1] = {0};
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x}, 1, out, 1), 1);
  test_assert_identical(out[0], tg_mul_scalar(x, 2.0));
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x, x}, 2, out, 1), -1);
  test_expect_error("Double", "takes one input, got 2");
  assert_int_equal(tg_module_forward_multi(m, (tg_tensor *[]){x}, 1, out, 0), -1);
  test_expect_error("max_out 0", NULL);
  tg_module *box = tg_module_new("Box", NULL);
  assert_int_equal(tg_module_forward_multi(box, (tg_tensor *[]){x}, 1, out, 1), -1);
  test_expect_error("Module [Box] is missing the required \"forward\" function", NULL);
  tg_module_free(box);
  tg_module_free(m);
}

/* ---------------------------------------------------------- containers */

static tg_module *lin(size_t in, size_t out, bool bias) { return tg_nn_linear(in, out, bias, NULL); }

/* the state-dict keys of m joined by spaces */
static const char *keys_of(const tg_module *m) {
  static char buf[1024];
  buf[0] = '\0';
  tg_state_dict *sd = tg_module_state_dict(m);
  assert_non_null(sd);
  for (size_t k = 0; k < sd->n; k++) {
    strncat(buf, k ? " " : "", sizeof buf - strlen(buf) - 1);
    strncat(buf, sd->entries[k].name, sizeof buf - strlen(buf) - 1);
  }
  tg_state_dict_free(sd);
  return buf;
}

static void test_module_list(void **s) {
  (void)s;
  tg_module *a = lin(2, 3, true), *b = tg_nn_relu(), *c = lin(3, 1, false);
  tg_module *list = tg_nn_module_list(2, (tg_module *[]){a, b});
  assert_non_null(list);
  assert_string_equal(list->type, "ModuleList");
  assert_int_equal(tg_nn_module_list_len(list), 2);
  assert_ptr_equal(tg_nn_module_list_get(list, 0), a);
  assert_ptr_equal(tg_nn_module_list_get(list, -1), b);
  assert_ptr_equal(tg_module_child(list, "1"), b);
  assert_int_equal(tg_nn_module_list_append(list, c), 0);
  assert_ptr_equal(tg_nn_module_list_get(list, 2), c);
  /* insert(1, m): m becomes "1", the rest move up one (torch renumbers) */
  tg_module *t = tg_nn_tanh(), *e = tg_nn_elu(1.0);
  assert_int_equal(tg_nn_module_list_insert(list, 1, t), 0);
  assert_ptr_equal(tg_module_child(list, "1"), t);
  assert_ptr_equal(tg_module_child(list, "2"), b);
  assert_ptr_equal(tg_module_child(list, "3"), c);
  assert_int_equal(tg_nn_module_list_insert(list, -1, e), 0); /* Python: before the last */
  assert_ptr_equal(tg_nn_module_list_get(list, 3), e);
  assert_ptr_equal(tg_nn_module_list_get(list, 4), c);
  assert_int_equal(tg_nn_module_list_insert(list, 5, tg_nn_sigmoid()), 0); /* at len: appends */
  assert_string_equal(tg_nn_module_list_get(list, 5)->type, "Sigmoid");
  assert_string_equal(keys_of(list), "0.weight 0.bias 4.weight");
  assert_int_equal(tg_nn_module_list_extend(list, 2, (tg_module *[]){tg_nn_relu6(), lin(1, 1, true)}), 0);
  assert_int_equal(tg_nn_module_list_len(list), 8);
  assert_string_equal(keys_of(list), "0.weight 0.bias 4.weight 7.weight 7.bias");
  size_t n = 0;
  assert_non_null(tg_module_parameters(list, &n));
  assert_int_equal(n, 5);
  assert_int_equal(tg_module_num_parameters(list, false), 6 + 3 + 3 + 2);
  /* bad indices, as Python's IndexError */
  assert_null(tg_nn_module_list_get(list, 8));
  test_expect_error("module_list_get", "index 8 is out of range");
  assert_null(tg_nn_module_list_get(list, -9));
  test_expect_error("index -9 is out of range", NULL);
  assert_int_equal(tg_nn_module_list_insert(list, 9, tg_nn_relu()), -1); /* the child is freed (ASan) */
  test_expect_error("module_list_insert", "out of range");
  /* a module is owned once: adding a child the list holds fails and frees nothing */
  assert_int_equal(tg_nn_module_list_append(list, c), -1);
  test_expect_error("already the child \"4\"", NULL);
  assert_ptr_equal(tg_nn_module_list_get(list, 4), c);
    /* a failed extend adds none and frees all of them */
  assert_int_equal(tg_nn_module_list_extend(list, 2, (tg_module *[]){tg_nn_relu(), NULL}), -1);
  test_expect_error("module_list_extend", "NULL");
  assert_int_equal(tg_nn_module_list_len(list), 8);
  /* no forward: torch's NotImplementedError text */
  tg_tensor *x = tg_zeros(TG_FLOAT32, TG_SHAPE(1, 2));
  assert_null(tg_module_forward(list, x));
  test_expect_error("Module [ModuleList] is missing the required \"forward\" function", NULL);
  /* the list calls refuse another module type */
  assert_int_equal(tg_nn_module_list_len(a), 0);
  test_expect_error("module_list_len", "expected a ModuleList, got a Linear");
  tg_module_free(list);
  /* the constructor frees the others on a NULL child; an empty list is fine */
  assert_null(tg_nn_module_list(3, (tg_module *[]){tg_nn_relu(), NULL, lin(2, 2, true)}));
  test_expect_error("module_list", "NULL");
  tg_module *empty = tg_nn_module_list(0, NULL);
  assert_non_null(empty);
  assert_int_equal(tg_nn_module_list_len(empty), 0);
  tg_module_free(empty);
}

static void test_module_dict(void **s) {
  (void)s;
  tg_module *q = lin(4, 2, false), *k = lin(4, 2, false);
  tg_module *d = tg_nn_module_dict(2, (const char *[]){"q", "k"}, (tg_module *[]){q, k});
  assert_non_null(d);
  assert_string_equal(d->type, "ModuleDict");
  assert_int_equal(tg_nn_module_dict_len(d), 2);
  assert_ptr_equal(tg_nn_module_dict_get(d, "k"), k);
  assert_string_equal(tg_nn_module_dict_key(d, 0), "q");
  assert_string_equal(tg_nn_module_dict_key(d, 1), "k");
  assert_string_equal(keys_of(d), "q.weight k.weight");
  /* set: a new key goes last, an existing one is replaced in place */
  tg_module *v = lin(4, 3, true), *q2 = lin(4, 5, false);
  assert_int_equal(tg_nn_module_dict_set(d, "v", v), 0);
  assert_int_equal(tg_nn_module_dict_set(d, "q", q2), 0); /* the old q is freed (ASan) */
  assert_ptr_equal(tg_nn_module_dict_get(d, "q"), q2);
  assert_string_equal(tg_nn_module_dict_key(d, 0), "q");
  assert_string_equal(keys_of(d), "q.weight k.weight v.weight v.bias");
  assert_ptr_equal(tg_module_get(d, "q.weight"), q2->params[0].tensor);
  assert_int_equal(tg_module_num_parameters(d, false), 20 + 8 + 12 + 3);
  assert_int_equal(tg_nn_module_dict_set(d, "v", k), -1); /* k is the dict's "k" already */
  test_expect_error("already the ModuleDict's \"k\"", NULL);
  assert_int_equal(tg_nn_module_dict_set(d, "w", k), -1);
  test_expect_error("already the child \"k\"", NULL);
  assert_ptr_equal(tg_nn_module_dict_get(d, "v"), v);
    /* insert refuses a key that is there; a missing key and bad keys are errors */
  assert_int_equal(tg_nn_module_dict_insert(d, "k", tg_nn_relu()), -1);
  test_expect_error("module_dict_insert", "already has a key \"k\"");
  assert_ptr_equal(tg_nn_module_dict_get(d, "k"), k);
  assert_null(tg_nn_module_dict_get(d, "o"));
  test_expect_error("module_dict_get", "no key \"o\"");
  assert_int_equal(tg_nn_module_dict_set(d, "a.b", tg_nn_relu()), -1);
  test_expect_error("\"a.b\"", "'.'");
  assert_int_equal(tg_nn_module_dict_set(d, "", tg_nn_relu()), -1);
  test_expect_error("non-empty", NULL);
  assert_null(tg_nn_module_dict_key(d, 3));
  test_expect_error("module_dict_key", "index 3 is out of range");
  assert_int_equal(tg_nn_module_dict_len(d), 3);
  tg_tensor *x = tg_zeros(TG_FLOAT32, TG_SHAPE(1, 4));
  assert_null(tg_module_forward(d, x));
  test_expect_error("Module [ModuleDict] is missing the required \"forward\" function", NULL);
  assert_null(tg_nn_module_dict_get(q2, "q"));
  test_expect_error("expected a ModuleDict, got a Linear", NULL);
  tg_module_free(d);
  /* a duplicate key in the constructor fails and frees every child */
  assert_null(tg_nn_module_dict(3, (const char *[]){"a", "b", "a"},
                                (tg_module *[]){tg_nn_relu(), tg_nn_tanh(), tg_nn_relu()}));
  test_expect_error("already has a key \"a\"", NULL);
  assert_null(tg_nn_module_dict(2, (const char *[]){"a", "b"}, (tg_module *[]){NULL, tg_nn_tanh()}));
  test_expect_error("module_dict", "NULL");
}

/* Net: embed, layers (a ModuleList), heads (a ModuleDict), as the torch
 * class in the comment of test_print_nested */
static tg_module *make_net(void) {
  tg_module *net = tg_module_new("Net", NULL);
  assert_non_null(net);
  assert_int_equal(tg_module_add_child(net, "embed", tg_nn_embedding(10, 4, TG_NO_PADDING_IDX, NULL)), 0);
  assert_int_equal(tg_module_add_child(net, "layers",
                                       tg_nn_module_list(2, (tg_module *[]){lin(4, 4, true),
                                                                            tg_nn_layernorm(1, (size_t[]){4}, 1e-5, true)})),
                   0);
  assert_int_equal(tg_module_add_child(net, "heads", tg_nn_module_dict(2, (const char *[]){"q", "k"},
                                                                       (tg_module *[]){lin(4, 2, false), lin(4, 2, false)})),
                   0);
  return net;
}

/* ------------------------------------------------------------- printing */

static char text[16384];

static const char *printed(int (*fn)(FILE *, const tg_module *), const tg_module *m) {
  FILE *f = fmemopen(text, sizeof text, "w");
  assert_non_null(f);
  assert_int_equal(fn(f, m), 0);
  assert_int_equal(fclose(f), 0);
  return text;
}

/* print(m) of one module, newline stripped */
static void assert_repr(tg_module *m, const char *want) {
  assert_non_null(m);
  const char *got = printed(tg_module_print, m);
  size_t n = strlen(got);
  assert_true(n > 0 && got[n - 1] == '\n');
  if (strncmp(got, want, n - 1) != 0 || strlen(want) != n - 1)
    fail_msg("printed\n%.*s\nPyTorch prints\n%s", (int)(n - 1), got, want);
  tg_module_free(m);
}

/* the recurrent layers: each string is PyTorch 1.13's print() of the module
 * in the comment before it */
static void test_print_recurrent(void **s) {
  (void)s;
  tg_rnn_opts o = tg_rnn_defaults(24, 64);
  o.num_layers = 2;
  o.batch_first = true;
  /* nn.LSTM(24, 64, num_layers=2, batch_first=True) */
  assert_repr(tg_nn_lstm(o), "LSTM(24, 64, num_layers=2, batch_first=True)");
  o = tg_rnn_defaults(3, 5);
  o.bias = false;
  o.dropout = 0.25;
  o.bidirectional = true;
  /* nn.GRU(3, 5, bias=False, dropout=0.25, bidirectional=True) */
  assert_repr(tg_nn_gru(o), "GRU(3, 5, bias=False, dropout=0.25, bidirectional=True)");
  o = tg_rnn_defaults(2, 4);
  o.nonlinearity = "relu";
  /* nn.RNN(2, 4, nonlinearity='relu'): the nonlinearity is not shown */
  assert_repr(tg_nn_rnn(o), "RNN(2, 4)");
}

static void test_print_layers(void **s) {
  (void)s;
  const int64_t k3[2] = {3, 3}, k35[2] = {3, 5}, s21[2] = {2, 1}, p1[2] = {1, 1}, p12[2] = {1, 2}, d2[2] = {2, 2},
                s2[2] = {2, 2}, one[2] = {1, 1}, k2[2] = {2, 2}, k23[2] = {2, 3}, s12[2] = {1, 2}, o23[2] = {2, 3};
  /* each string: PyTorch 1.13's print() of the module in the comment */
  assert_repr(lin(2, 3, true), "Linear(in_features=2, out_features=3, bias=True)");
  assert_repr(lin(2, 3, false), "Linear(in_features=2, out_features=3, bias=False)");
  /* nn.Conv1d(3,8,3); nn.Conv1d(3,8,3,stride=2,padding=1,dilation=2,bias=False) */
  assert_repr(tg_nn_conv1d(3, 8, 3, 1, 0, 1, 1, true, NULL), "Conv1d(3, 8, kernel_size=(3,), stride=(1,))");
  assert_repr(tg_nn_conv1d(3, 8, 3, 2, 1, 2, 1, false, NULL),
              "Conv1d(3, 8, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), bias=False)");
  /* nn.Conv2d(3,8,3,padding=1); nn.Conv2d(4,8,(3,5),stride=(2,1),padding=(1,2),dilation=2,groups=2,bias=False) */
  assert_repr(tg_nn_conv2d(3, 8, k3, NULL, p1, NULL, 1, true, NULL),
              "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  assert_repr(tg_nn_conv2d(4, 8, k35, s21, p12, d2, 2, false, NULL),
              "Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 2), groups=2, bias=False)");
  /* nn.ConvTranspose2d(3,8,3); (4,8,3,stride=2,padding=1,output_padding=1,groups=2,bias=False); (4,8,3,dilation=2) */
  assert_repr(tg_nn_conv_transpose2d(3, 8, k3, NULL, NULL, NULL, 1, true, NULL, NULL),
              "ConvTranspose2d(3, 8, kernel_size=(3, 3), stride=(1, 1))");
  assert_repr(tg_nn_conv_transpose2d(4, 8, k3, s2, p1, p1, 2, false, NULL, NULL),
              "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), "
              "groups=2, bias=False)");
  assert_repr(tg_nn_conv_transpose2d(4, 8, k3, NULL, NULL, NULL, 1, true, d2, NULL),
              "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2))");
  assert_repr(tg_nn_relu(), "ReLU()");
  assert_repr(tg_nn_sigmoid(), "Sigmoid()");
  assert_repr(tg_nn_tanh(), "Tanh()");
  assert_repr(tg_nn_leaky_relu(0.01), "LeakyReLU(negative_slope=0.01)");
  assert_repr(tg_nn_leaky_relu(1e-7), "LeakyReLU(negative_slope=1e-07)");
  assert_repr(tg_nn_elu(1.0), "ELU(alpha=1.0)");
  assert_repr(tg_nn_elu(0.5), "ELU(alpha=0.5)");
  assert_repr(tg_nn_gelu("none"), "GELU(approximate='none')");
  assert_repr(tg_nn_gelu("tanh"), "GELU(approximate='tanh')");
  assert_repr(tg_nn_silu(), "SiLU()");
  assert_repr(tg_nn_mish(), "Mish()");
  assert_repr(tg_nn_hardtanh(-1, 1), "Hardtanh(min_val=-1.0, max_val=1.0)");
  assert_repr(tg_nn_relu6(), "ReLU6()");
  assert_repr(tg_nn_selu(), "SELU()");
  assert_repr(tg_nn_celu(0.5), "CELU(alpha=0.5)");
  assert_repr(tg_nn_softsign(), "Softsign()");
  assert_repr(tg_nn_hardsigmoid(), "Hardsigmoid()");
  assert_repr(tg_nn_hardswish(), "Hardswish()");
  assert_repr(tg_nn_logsigmoid(), "LogSigmoid()");
  assert_repr(tg_nn_softplus(1, 20), "Softplus(beta=1, threshold=20)"); /* torch's int defaults */
  assert_repr(tg_nn_softplus(0.5, 10), "Softplus(beta=0.5, threshold=10)");
  /* Python's float repr at its edges: nn.ELU(123456.0), nn.LeakyReLU(0.0001), nn.CELU(1e16),
   * nn.Hardtanh(-2.5e-5, 3.0), nn.ELU(0.1 + 0.2), nn.Softplus(0.5, 1e20) */
  assert_repr(tg_nn_elu(123456.0), "ELU(alpha=123456.0)");
  assert_repr(tg_nn_leaky_relu(0.0001), "LeakyReLU(negative_slope=0.0001)");
  assert_repr(tg_nn_celu(1e16), "CELU(alpha=1e+16)");
  assert_repr(tg_nn_hardtanh(-2.5e-5, 3.0), "Hardtanh(min_val=-2.5e-05, max_val=3.0)");
  assert_repr(tg_nn_elu(0.1 + 0.2), "ELU(alpha=0.30000000000000004)");
  assert_repr(tg_nn_softplus(0.5, 1e20), "Softplus(beta=0.5, threshold=1e+20)");
  assert_repr(tg_nn_softmax(1), "Softmax(dim=1)");
  assert_repr(tg_nn_log_softmax(-1), "LogSoftmax(dim=-1)");
  assert_repr(tg_nn_dropout(0.5, NULL), "Dropout(p=0.5, inplace=False)");
  assert_repr(tg_nn_dropout(0.123456789, NULL), "Dropout(p=0.123456789, inplace=False)");
  assert_repr(tg_nn_dropout(0.0, NULL), "Dropout(p=0.0, inplace=False)");
  assert_repr(tg_nn_dropout2d(0.1, NULL), "Dropout2d(p=0.1, inplace=False)");
  assert_repr(tg_nn_flatten(1, -1), "Flatten(start_dim=1, end_dim=-1)");
  assert_repr(tg_nn_flatten(0, 2), "Flatten(start_dim=0, end_dim=2)");
  /* nn.BatchNorm1d(4); (4, eps=1e-3, momentum=None, affine=False); (4,eps=1e-7,momentum=0.01) */
  assert_repr(tg_nn_batchnorm1d(4, 1e-5, 0.1, true),
              "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  assert_repr(tg_nn_batchnorm1d(4, 1e-3, NAN, false),
              "BatchNorm1d(4, eps=0.001, momentum=None, affine=False, track_running_stats=True)");
  assert_repr(tg_nn_batchnorm1d(4, 1e-7, 0.01, true),
              "BatchNorm1d(4, eps=1e-07, momentum=0.01, affine=True, track_running_stats=True)");
  assert_repr(tg_nn_batchnorm2d(8, 1e-5, 0.1, true, false),
              "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)");
  assert_repr(tg_nn_instancenorm2d(3, 1e-5, 0.1, false, false),
              "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)");
  assert_repr(tg_nn_instancenorm2d(3, 1e-5, 0.1, true, true),
              "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  assert_repr(tg_nn_groupnorm(2, 4, 1e-5, true), "GroupNorm(2, 4, eps=1e-05, affine=True)");
  assert_repr(tg_nn_groupnorm(2, 4, 1e-6, false), "GroupNorm(2, 4, eps=1e-06, affine=False)");
  assert_repr(tg_nn_layernorm(1, (size_t[]){5}, 1e-5, true), "LayerNorm((5,), eps=1e-05, elementwise_affine=True)");
  assert_repr(tg_nn_layernorm(2, (size_t[]){4, 5}, 1e-5, false),
              "LayerNorm((4, 5), eps=1e-05, elementwise_affine=False)");
  /* nn.Embedding(10,3); (10,3,padding_idx=0); (10,3,padding_idx=-1) */
  assert_repr(tg_nn_embedding(10, 3, TG_NO_PADDING_IDX, NULL), "Embedding(10, 3)");
  assert_repr(tg_nn_embedding(10, 3, 0, NULL), "Embedding(10, 3, padding_idx=0)");
  assert_repr(tg_nn_embedding(10, 3, -1, NULL), "Embedding(10, 3, padding_idx=9)");
  /* nn.MaxPool1d(2); nn.MaxPool1d(3,stride=2,padding=1,ceil_mode=True) */
  assert_repr(tg_nn_maxpool1d(2, NULL, 0, 1, false),
              "MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
  assert_repr(tg_nn_maxpool1d(3, (int64_t[]){2}, 1, 1, true),
              "MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)");
  /* nn.MaxPool2d(2); nn.MaxPool2d((2,3),stride=(1,2),padding=1); nn.MaxPool2d(2, dilation=2) */
  assert_repr(tg_nn_maxpool2d(k2, NULL, NULL, NULL, false),
              "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
  assert_repr(tg_nn_maxpool2d(k23, s12, p1, NULL, false),
              "MaxPool2d(kernel_size=(2, 3), stride=(1, 2), padding=1, dilation=1, ceil_mode=False)");
  assert_repr(tg_nn_maxpool2d(k2, NULL, NULL, d2, false),
              "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=2, ceil_mode=False)");
  /* nn.AvgPool1d(2); nn.AvgPool1d(3,2,1,True,False); nn.AvgPool2d(2); nn.AvgPool2d((2,3),(1,2),1,True,False,3) */
  assert_repr(tg_nn_avgpool1d(2, NULL, 0, false, true), "AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))");
  assert_repr(tg_nn_avgpool1d(3, (int64_t[]){2}, 1, true, false),
              "AvgPool1d(kernel_size=(3,), stride=(2,), padding=(1,))");
  assert_repr(tg_nn_avgpool2d(k2, NULL, NULL, false, true, 0), "AvgPool2d(kernel_size=2, stride=2, padding=0)");
  assert_repr(tg_nn_avgpool2d(k23, s12, p1, true, false, 3),
              "AvgPool2d(kernel_size=(2, 3), stride=(1, 2), padding=1)");
  /* nn.AdaptiveAvgPool2d((1,1)); nn.AdaptiveMaxPool2d((2,3)) */
  assert_repr(tg_nn_adaptive_avgpool2d(one), "AdaptiveAvgPool2d(output_size=(1, 1))");
  assert_repr(tg_nn_adaptive_maxpool2d(o23), "AdaptiveMaxPool2d(output_size=(2, 3))");
  /* nn.Upsample(scale_factor=2); (size=(4,5), mode='bilinear', align_corners=True); (scale_factor=(2,3), mode='bilinear') */
  assert_repr(tg_nn_upsample(NULL, (double[]){2, 2}, TG_INTERP_NEAREST, false),
              "Upsample(scale_factor=2.0, mode=nearest)");
  assert_repr(tg_nn_upsample((int64_t[]){4, 5}, NULL, TG_INTERP_BILINEAR, true), "Upsample(size=(4, 5), mode=bilinear)");
  assert_repr(tg_nn_upsample(NULL, (double[]){2, 3}, TG_INTERP_BILINEAR, false),
              "Upsample(scale_factor=(2.0, 3.0), mode=bilinear)");
  assert_repr(tg_nn_pixel_shuffle(2), "PixelShuffle(upscale_factor=2)");
  assert_repr(tg_nn_pixel_unshuffle(3), "PixelUnshuffle(downscale_factor=3)");
  /* torch 2.4's nn.RMSNorm(5) (1.13 has none) */
  assert_repr(tg_nn_rmsnorm(1, (size_t[]){5}, NAN, true), "RMSNorm((5,), eps=None, elementwise_affine=True)");
  assert_repr(tg_nn_sequential(0), "Sequential()");
  assert_repr(tg_nn_module_list(0, NULL), "ModuleList()");
  assert_repr(tg_nn_module_dict(0, NULL, NULL), "ModuleDict()");
}

static void test_print_models(void **s) {
  (void)s;
  tg_rng r;
  tg_rng_seed(&r, 1);
  const int64_t k5[2] = {5, 5}, p2[2] = {2, 2}, k2[2] = {2, 2};
  /* nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
   *   nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.25),
   *   nn.Linear(400, 120), nn.GELU(), nn.Linear(120, 10), nn.LogSoftmax(dim=1)) */
  tg_module *cnn = tg_nn_sequential(
      13, tg_nn_conv2d(1, 6, k5, NULL, p2, NULL, 1, true, &r), tg_nn_batchnorm2d(6, 1e-5, 0.1, true, true),
      tg_nn_relu(), tg_nn_maxpool2d(k2, NULL, NULL, NULL, false), tg_nn_conv2d(6, 16, k5, NULL, NULL, NULL, 1, true, &r),
      tg_nn_relu(), tg_nn_avgpool2d(k2, NULL, NULL, false, true, 0), tg_nn_flatten(1, -1), tg_nn_dropout(0.25, &r),
      tg_nn_linear(400, 120, true, &r), tg_nn_gelu("none"), tg_nn_linear(120, 10, true, &r), tg_nn_log_softmax(1));
  assert_non_null(cnn);
  assert_string_equal(
      printed(tg_module_print, cnn),
      "Sequential(\n  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))\n  (1): BatchNorm2d(6, "
      "eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n  (2): ReLU()\n  (3): MaxPool2d(kernel_size=2, "
      "stride=2, padding=0, dilation=1, ceil_mode=False)\n  (4): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))\n  "
      "(5): ReLU()\n  (6): AvgPool2d(kernel_size=2, stride=2, padding=0)\n  (7): Flatten(start_dim=1, end_dim=-1)\n  "
      "(8): Dropout(p=0.25, inplace=False)\n  (9): Linear(in_features=400, out_features=120, bias=True)\n  (10): "
      "GELU(approximate='none')\n  (11): Linear(in_features=120, out_features=10, bias=True)\n  (12): "
      "LogSoftmax(dim=1)\n)\n");
  assert_int_equal(tg_module_num_parameters(cnn, false), 51914); /* sum(p.numel()) in torch */
  tg_module_free(cnn);
  /* nn.Sequential(nn.Linear(784,200), nn.Tanh(), nn.Linear(200,10)) */
  tg_module *mlp = tg_nn_sequential(3, lin(784, 200, true), tg_nn_tanh(), lin(200, 10, true));
  assert_string_equal(printed(tg_module_print, mlp),
                      "Sequential(\n  (0): Linear(in_features=784, out_features=200, bias=True)\n  (1): Tanh()\n  (2): "
                      "Linear(in_features=200, out_features=10, bias=True)\n)\n");
  tg_module_free(mlp);
}

/* class Net(nn.Module): embed = nn.Embedding(10, 4); layers =
 * nn.ModuleList([nn.Linear(4, 4), nn.LayerNorm(4)]); heads =
 * nn.ModuleDict({'q': nn.Linear(4, 2, bias=False), 'k': nn.Linear(4, 2, bias=False)}) */
static void test_print_nested(void **s) {
  (void)s;
  tg_module *net = make_net();
  assert_string_equal(printed(tg_module_print, net),
                      "Net(\n  (embed): Embedding(10, 4)\n  (layers): ModuleList(\n    (0): Linear(in_features=4, "
                      "out_features=4, bias=True)\n    (1): LayerNorm((4,), eps=1e-05, elementwise_affine=True)\n  )\n  "
                      "(heads): ModuleDict(\n    (q): Linear(in_features=4, out_features=2, bias=False)\n    (k): "
                      "Linear(in_features=4, out_features=2, bias=False)\n  )\n)\n");
  /* list(net.state_dict().keys()) */
  assert_string_equal(keys_of(net),
                      "embed.weight layers.0.weight layers.0.bias layers.1.weight layers.1.bias heads.q.weight heads.k.weight");
  assert_int_equal(tg_module_num_parameters(net, false), 84);
  /* a module's own extra_repr beside children goes first, one line each */
  assert_int_equal(tg_module_set_extra_repr(net, "dim=%d\nheads=%d", 4, 2), 0);
  tg_module *box = tg_module_new("Box", NULL);
  assert_int_equal(tg_module_add_child(box, "net", net), 0);
  const char *got = printed(tg_module_print, box);
  assert_true(strncmp(got, "Box(\n  (net): Net(\n    dim=4\n    heads=2\n    (embed): Embedding(10, 4)\n", 70) == 0);
  assert_non_null(strstr(got, "\n    )\n  )\n)\n"));
  char longer[TG_NN_REPR_MAX + 8];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  assert_int_equal(tg_module_set_extra_repr(box, "%s", longer), -1);
  test_expect_error("module_set_extra_repr", "Box");
  assert_int_equal(tg_module_set_extra_repr(box, "%s", ""), 0);
  assert_string_equal(printed(tg_module_print, box->children[0].module->children[0].module), "Embedding(10, 4)\n");
  tg_module_free(box);
}

/* the "N" after prefix in the summary text */
static size_t summary_count(const char *t, const char *prefix) {
  const char *p = strstr(t, prefix);
  if (!p) fail_msg("no \"%s\" in the summary:\n%s", prefix, t);
  return (size_t)strtoull(p + strlen(prefix), NULL, 10);
}

static void test_summary(void **s) {
  (void)s;
  tg_module *net = make_net();
  assert_int_equal(tg_module_freeze(tg_module_child(net, "embed")), 0);
  const char *t = printed(tg_module_summary, net);
  assert_int_equal(summary_count(t, "Total params: "), tg_module_num_parameters(net, false));
  assert_int_equal(summary_count(t, "Trainable params: "), tg_module_num_parameters(net, true));
  assert_int_equal(summary_count(t, "Non-trainable params: "), 40); /* Embedding(10, 4) frozen */
  assert_int_equal(summary_count(t, "Total params: "), 84);
  /* a row per module with its own parameters, shapes and count */
  assert_non_null(strstr(t, "embed"));
  assert_non_null(strstr(t, "weight [10, 4] (frozen)"));
  const char *row = strstr(t, "layers.0 ");
  assert_non_null(row);
  assert_non_null(strstr(row, "Linear"));
  assert_non_null(strstr(row, "weight [4, 4]"));
  assert_int_equal(strtoull(strstr(row, "weight [4, 4]") + 13, NULL, 10), 20);
  assert_non_null(strstr(row, "bias [4]"));
  row = strstr(t, "heads.k ");
  assert_non_null(row);
  assert_int_equal(strtoull(strstr(row, "weight [2, 4]") + 13, NULL, 10), 8);
  /* the per-module counts add up to the total */
  size_t sum = 0;
  for (const char *l = strstr(t, "\n==") + 1; (l = strchr(l, '\n')) && l[1] != '-'; l++) {
    const char *e = strchr(l + 1, '\n');
    const char *p = e;
    while (p > l && p[-1] >= '0' && p[-1] <= '9') p--;
    if (p < e && p[-1] == ' ') sum += strtoull(p, NULL, 10);
  }
  assert_int_equal(sum, 84);
  tg_module_free(net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TG_TEST(test_multi_forward_both_calls),
      TG_TEST(test_single_module_through_multi),
      TG_TEST(test_module_list),
      TG_TEST(test_module_dict),
      TG_TEST(test_print_layers),
      TG_TEST(test_print_recurrent),
      TG_TEST(test_print_models),
      TG_TEST(test_print_nested),
      TG_TEST(test_summary),
  };
  int rc = cmocka_run_group_tests_name("nn_modules", tests, NULL, NULL);
  tg_release_cached();
  return rc;
}
