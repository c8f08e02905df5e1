/* DistributedSampler: torch.utils.data.DistributedSampler's index
 * arithmetic (pad by repeating the head, or drop the tail; the shard is
 * every num_replicas-th index from rank), with tapegrad's own permutation.
 * Needs no MPI: num_replicas and rank may be given. */
#include <stdlib.h>

#include "dist_internal.h"

struct tg_dist_sampler {
  size_t len;         /* of the dataset */
  size_t num_samples; /* per rank */
  size_t replicas, rank;
  bool shuffle, drop_last;
  uint64_t seed, epoch;
  size_t *perm; /* scratch for the epoch's permutation (len entries) */
};

tg_dist_sampler *tg_dist_sampler_new(size_t dataset_len, int num_replicas, int rank, bool shuffle,
                                     uint64_t seed, bool drop_last) {
  const char *who = "dist_sampler_new";
  if (num_replicas == 0 && (num_replicas = tg_dist_world_size()) < 0) return NULL;
  if (rank == -1 && (rank = tg_dist_rank()) < 0) return NULL;
  if (num_replicas < 0) {
    tg_dist_fail(who, "num_replicas is %d; it must be positive (or 0 for the world size)", num_replicas);
    return NULL;
  }
  if (rank < 0 || rank >= num_replicas) {
    /* torch: "Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]" */
    tg_dist_fail(who, "Invalid rank %d, rank should be in the interval [0, %d]", rank, num_replicas - 1);
    return NULL;
  }
  size_t r = (size_t)num_replicas;
  if (drop_last && dataset_len < r) {
    tg_dist_fail(who, "drop_last with %zu samples over %zu replicas leaves none", dataset_len, r);
    return NULL;
  }
  tg_dist_sampler *s = calloc(1, sizeof *s);
  size_t *perm = malloc((dataset_len ? dataset_len : 1) * sizeof *perm);
  if (!s || !perm) {
    free(s);
    free(perm);
    tg_dist_fail(who, "out of memory for %zu indices", dataset_len);
    return NULL;
  }
  /* torch: ceil((len - R) / R) with drop_last when R does not divide len, else ceil(len / R) */
  size_t ns = drop_last ? dataset_len / r : (dataset_len + r - 1) / r;
  *s = (tg_dist_sampler){.len = dataset_len, .num_samples = ns, .replicas = r, .rank = (size_t)rank,
                         .shuffle = shuffle, .drop_last = drop_last, .seed = seed, .perm = perm};
  return s;
}

int tg_dist_sampler_set_epoch(tg_dist_sampler *s, uint64_t epoch) {
  if (!s) return tg_dist_fail("dist_sampler_set_epoch", "the sampler is NULL");
  s->epoch = epoch;
  return 0;
}

size_t tg_dist_sampler_len(const tg_dist_sampler *s) {
  if (!s) tg_dist_fail("dist_sampler_len", "the sampler is NULL");
  return s ? s->num_samples : 0;
}

/* uniform in [0, bound) without modulo bias, as the DataLoader's shuffle */
static size_t uniform_below(tg_rng *r, size_t bound) {
  uint64_t b = bound, min = (0 - b) % b, v;
  do v = tg_rng_next(r);
  while (v < min);
  return (size_t)(v % b);
}

int tg_dist_sampler_indices(const tg_dist_sampler *s, size_t *out) {
  if (!s || !out) return tg_dist_fail("dist_sampler_indices", "the %s is NULL", s ? "output" : "sampler");
  size_t n = s->len, *perm = s->perm;
  for (size_t i = 0; i < n; i++) perm[i] = i;
  if (s->shuffle) {
    tg_rng rng;
    tg_rng_seed(&rng, s->seed + s->epoch);
    for (size_t i = n; i > 1; i--) {
      size_t j = uniform_below(&rng, i), t = perm[i - 1];
      perm[i - 1] = perm[j];
      perm[j] = t;
    }
  }
  /* padded index k of the total_size list is perm[k mod n] (the head
   * repeated as often as needed); the shard takes k = rank + i R */
  for (size_t i = 0; i < s->num_samples; i++) out[i] = perm[(s->rank + i * s->replicas) % n];
  return 0;
}

int tg_dist_sampler_fill(void *sampler, size_t *out) {
  return tg_dist_sampler_indices(sampler, out);
}

void tg_dist_sampler_free(tg_dist_sampler *s) {
  if (!s) return;
  free(s->perm);
  free(s);
}
