#!/usr/bin/env bash
# The API reference: Doxygen over the public headers (docs/Doxyfile), HTML in
# build-docs/html (open build-docs/html/index.html). Exits non-zero on any
# Doxygen warning, which are printed (CI runs this through scripts/test.sh).
# doxygen (2.7 MB installed) comes from Debian through setup.sh's
# TG_SETUP_EXTRA; besides it, it pulls in only libxapian30 (19 MB): the clang
# and LLVM 14 libraries it links are already there for the clang build.
set -uo pipefail
cd "$(dirname "$0")/.."
TG_SETUP_EXTRA="doxygen" scripts/setup.sh || exit 1
rm -rf build-docs
mkdir -p build-docs
doxygen docs/Doxyfile >build-docs/doxygen.log 2>&1
rc=$?
if [ $rc -ne 0 ] || [ -s build-docs/warnings.log ] || [ ! -f build-docs/html/index.html ]; then
  cat build-docs/doxygen.log build-docs/warnings.log 2>/dev/null
  echo "docs: FAILED (doxygen exit $rc)"
  exit 1
fi
echo "docs: build-docs/html/index.html ($(ls build-docs/html/*.html | wc -l) pages, no warnings)"
