#!/usr/bin/env bash
# Installs what the tests need on Debian bookworm (apt needs root or sudo), then npm packages.
# Idempotent: skips apt when the right versions are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# Dawn rejects bookworm's Mesa 22: lavapipe comes from backports (Mesa 25). Chromium ships SwiftShader.
mesa_ok() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '^2[5-9]'; }
if ! mesa_ok || ! command -v chromium >/dev/null; then
  echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers
  $SUDO apt-get install -y -q chromium
fi
mesa_ok || { echo "setup: mesa-vulkan-drivers >= 25 is required (Dawn rejects older Mesa)" >&2; exit 1; }
npm ci --no-audit --no-fund
