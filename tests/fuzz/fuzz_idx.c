/* libFuzzer target: IDX files (tg_idx_load), plain: a labels file and an images file.
 * The input layout is in fuzz_inputs.h; run with scripts/fuzz.sh. */
#include "fuzz_inputs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)fz_run_idx(data, size);
  tg_clear_error();
  tg_release_cached(); /* memory stays bounded, and every run starts alike */
  return 0;
}
