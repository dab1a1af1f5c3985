#!/usr/bin/env bash
# Install the Debian 12 packages Kinora needs to build and run (and, with --test, to run its tests).
# Runs apt-get through sudo when not root.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

build_pkgs=(
  build-essential meson ninja-build pkg-config gettext clang
  libgtk-4-dev libadwaita-1-dev libepoxy-dev libopenblas-dev libpng-dev libjpeg-dev libgif-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libdnnl-dev libjson-c-dev libglib2.0-dev
  libx11-dev  # tests/ui/test-window-input syncs with the X server
  libsoup-3.0-dev
)
run_pkgs=(
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav libgtk-4-media-gstreamer gstreamer1.0-gl libgl1-mesa-dri
  librsvg2-common  # GTK's symbolic icons are SVG: only a Recommends, absent with --no-install-recommends
)
test_pkgs=(
  xvfb xauth imagemagick dbus-daemon gstreamer1.0-tools gstreamer1.0-plugins-base-apps
  xdotool desktop-file-utils appstream libglib2.0-bin ffmpeg sentencepiece python3-sentencepiece python3-protobuf python3-numpy
  libclang-rt-14-dev
)
pkgs=("${build_pkgs[@]}" "${run_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then pkgs+=("${test_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
