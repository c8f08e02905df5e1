#!/usr/bin/env bash
# Installs what tapegrad needs from Debian 12's packages (only what is missing).
# Run as root on a fresh machine; a no-op when everything is there.
# oneDNN (libdnnl-dev, ~40 MB installed) is no longer installed: the direct
# convolution kernels (ops/conv_direct.c) beat it, and linking it cost every
# program resident memory (bench/RESULTS.md); -Ddnnl=enabled still builds
# ops/conv_dnnl.c where it is installed. wamerican (/usr/share/dict/words, ~5 MB) is the text
# of the sequence examples (char_lstm, gpt_mini). libopenmpi-dev and
# openmpi-bin (Open MPI 4.1: 30 packages, ~51 MB installed, among them
# libfabric, UCX, PMIx, hwloc, libevent and the autotools that
# libopenmpi-dev depends on) are optional: meson finds them for dist/
# (-Ddist=auto), and CI runs the tests of data-parallel training under mpirun.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libcmocka-dev libxxhash-dev libopenblas-dev zlib1g-dev libpng-dev
      valgrind libclang-rt-14-dev
      dataset-fashion-mnist wamerican
      libopenmpi-dev openmpi-bin)
[ "${TG_SETUP_EXTRA:-}" ] && pkgs+=($TG_SETUP_EXTRA)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
