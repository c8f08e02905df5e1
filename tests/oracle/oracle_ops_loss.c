/* The oracle's table of the losses of nn/. */
#include <math.h>

#include "oracle_ops.h"

/* losses */
ONE(cross_entropy, tg_cross_entropy(x[0], x[1], reduction(p)))
ONE(nll_loss, tg_nll_loss(x[0], x[1], reduction(p)))
ONE(binary_cross_entropy, tg_binary_cross_entropy(x[0], x[1], reduction(p)))
ONE(bce_with_logits, tg_bce_with_logits(x[0], x[1], reduction(p)))
ONE(mse_loss, tg_mse_loss(x[0], x[1], reduction(p)))
ONE(gaussian_kl, tg_gaussian_kl(x[0], x[1], reduction(p)))
static tg_class_loss_opts class_opts(tg_tensor **x, const oracle_params *p) {
  tg_class_loss_opts o = tg_class_loss_defaults();
  o.weight = BOOL("has_weight") ? x[2] : NULL;
  o.ignore_index = (int64_t)NUM("ignore_index", -100);
  o.label_smoothing = NUM("label_smoothing", 0);
  o.reduction = reduction(p);
  return o;
}
ONE(cross_entropy_with, tg_cross_entropy_with(x[0], x[1], class_opts(x, p)))
ONE(nll_loss_with, tg_nll_loss_with(x[0], x[1], class_opts(x, p)))
ONE(l1_loss, tg_l1_loss(x[0], x[1], reduction(p)))
ONE(smooth_l1_loss, tg_smooth_l1_loss(x[0], x[1], reduction(p), NUM("beta", 1)))
ONE(huber_loss, tg_huber_loss(x[0], x[1], reduction(p), NUM("delta", 1)))
static tg_reduction kl_reduction(const oracle_params *p) {
  return !strcmp(oracle_str(p, "reduction", "mean"), "batchmean") ? TG_REDUCTION_BATCHMEAN : reduction(p);
}
ONE(kl_div, tg_kl_div(x[0], x[1], kl_reduction(p), BOOL("log_target")))
ONE(poisson_nll_loss, tg_poisson_nll_loss(x[0], x[1], BOOL("log_input"), BOOL("full"), NUM("eps", 1e-8),
                                          reduction(p)))
ONE(margin_ranking_loss, tg_margin_ranking_loss(x[0], x[1], x[2], NUM("margin", 0), reduction(p)))
ONE(cosine_embedding_loss, tg_cosine_embedding_loss(x[0], x[1], x[2], NUM("margin", 0), reduction(p)))
ONE(cosine_similarity, tg_cosine_similarity(x[0], x[1], INT("dim", 1), NUM("eps", 1e-8)))

const oracle_op oracle_loss_ops[] = {
    E(cross_entropy), E(nll_loss), E(binary_cross_entropy), E(bce_with_logits), E(mse_loss),
    E(gaussian_kl), E(cross_entropy_with), E(nll_loss_with), E(l1_loss), E(smooth_l1_loss),
    E(huber_loss), E(kl_div), E(poisson_nll_loss), E(margin_ranking_loss), E(cosine_embedding_loss),
    E(cosine_similarity),
    {NULL, NULL},
};
