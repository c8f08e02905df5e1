/* xoshiro256** (Blackman & Vigna) seeded through splitmix64: fast, 256 bits of
 * state, and the same stream on every platform. Normals use Box-Muller with
 * the cosine branch only, so each normal consumes exactly two uniforms and a
 * stream never depends on how many values were drawn before in pairs. */
#include <math.h>

#include "tg_internal.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void tg_rng_seed(tg_rng *r, uint64_t seed) {
  if (!r) { /* NULL is the default generator, as everywhere a tg_rng is taken */
    tg_manual_seed(seed);
    return;
  }
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tg_rng_next(tg_rng *r) {
  uint64_t *s = (r ? r : tg_default_rng())->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double tg_rng_uniform(tg_rng *r) { return (double)(tg_rng_next(r) >> 11) * 0x1.0p-53; }

double tg_rng_normal(tg_rng *r) {
  double u1 = 1.0 - tg_rng_uniform(r); /* (0, 1]: log is finite */
  double u2 = tg_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

tg_rng *tg_default_rng(void) {
  if (!tg_ctx.rng_seeded) {
    tg_rng_seed(&tg_ctx.rng, 0);
    tg_ctx.rng_seeded = true;
  }
  return &tg_ctx.rng;
}

void tg_manual_seed(uint64_t seed) {
  tg_rng_seed(&tg_ctx.rng, seed);
  tg_ctx.rng_seeded = true;
}
