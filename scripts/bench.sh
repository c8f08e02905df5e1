#!/usr/bin/env bash
# The benchmarks side by side with PyTorch (bench/README.md): installs
# Debian's python3-torch next to the usual set-up, builds bench/ optimised for
# this CPU (-Dmarch=native, release) in build-bench, and runs
# bench/compare_torch.py at 1 and 2 threads (the small_graphs workload, the
# scalar graphs of issue 17, at 1 thread). Extra arguments go to
# compare_torch.py, e.g. --quick, --only mlp,vae,small, --markdown FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
TG_SETUP_EXTRA="python3-torch" scripts/setup.sh
if [ ! -f build-bench/build.ninja ]; then
  meson setup build-bench --buildtype=release -Dmarch=native -Dtests=false -Dbench=true >/tmp/tg-bench-setup.log 2>&1 ||
    { cat /tmp/tg-bench-setup.log; exit 1; }
fi
# a build-bench from before the bench option (off by default) has it off
grep -q '"name": "bench", "value": true' build-bench/meson-info/intro-buildoptions.json ||
  meson configure build-bench -Dbench=true >/tmp/tg-bench-setup.log 2>&1 || { cat /tmp/tg-bench-setup.log; exit 1; }
ninja -C build-bench >/tmp/tg-bench-build.log 2>&1 || { cat /tmp/tg-bench-build.log; exit 1; }
exec /usr/bin/python3 bench/compare_torch.py --build build-bench "$@"
