/* libFuzzer target: safetensors checkpoints (tg_checkpoint_read, tg_load_safetensors_into).
 * The input layout is in fuzz_inputs.h; run with scripts/fuzz.sh. */
#include "fuzz_inputs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)fz_run_safetensors(data, size);
  tg_clear_error();
  tg_release_cached(); /* memory stays bounded, and every run starts alike */
  return 0;
}
