#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the dashboard's browser tests (tests/dashboard, marker "browser").
# Debian's packages: /usr/bin/chromium and /usr/bin/chromedriver. Nothing else is downloaded at test time.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver
