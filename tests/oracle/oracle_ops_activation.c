/* The oracle's table of the activations (ops/activation.c). */
#include "oracle_ops.h"

ONE(gelu, tg_gelu(x[0], oracle_str(p, "approximate", "none")))
ONE(silu, tg_silu(x[0]))
ONE(mish, tg_mish(x[0]))
ONE(hardtanh, tg_hardtanh(x[0], NUM("min_val", -1), NUM("max_val", 1)))
ONE(relu6, tg_relu6(x[0]))
ONE(selu, tg_selu(x[0]))
ONE(celu, tg_celu(x[0], NUM("alpha", 1)))
ONE(softsign, tg_softsign(x[0]))
ONE(hardsigmoid, tg_hardsigmoid(x[0]))
ONE(hardswish, tg_hardswish(x[0]))
ONE(logsigmoid, tg_logsigmoid(x[0]))

const oracle_op oracle_activation_ops[] = {
    E(gelu), E(silu),     E(mish),        E(hardtanh),  E(relu6),      E(selu),
    E(celu), E(softsign), E(hardsigmoid), E(hardswish), E(logsigmoid), {NULL, NULL},
};
