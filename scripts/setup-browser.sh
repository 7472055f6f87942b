#!/usr/bin/env bash
# Installs Debian's chromium, which one test uses to render a run's report.html headless, as a
# person's browser would. Safe to run again: it does nothing when chromium is already there.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup-browser: chromium is missing and this user cannot install it (not root, no sudo);" \
      "install Debian's chromium package" >&2
    exit 1
  fi
fi
echo "setup-browser: installing Debian's chromium" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
