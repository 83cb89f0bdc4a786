#!/bin/sh
# The package_build fixture (tests/CMakeLists.txt): makes the Debian packages from this build with
# CPack, as ./scripts/package does, into OUT/cpack, and unpacks both into OUT/root.
#   make_packages.sh CPACK CPACK_CONFIG OUT
set -eu
cpack=$1 config=$2 out=$3
rm -rf "$out"
mkdir -p "$out/root"
"$cpack" --config "$config" -B "$out/cpack"
for deb in "$out"/cpack/*.deb; do
  dpkg-deb -x "$deb" "$out/root"
done
ls -l "$out"/cpack/*.deb
