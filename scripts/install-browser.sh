#!/usr/bin/env bash
# Install a headless browser for the report's browser test (Debian's chromium), once.
# Idempotent: does nothing when chromium (or chromium-browser / google-chrome) is already on PATH.
# Needs root (or sudo) and apt-get; elsewhere it says so and exits 0, and the browser test is skipped.
set -euo pipefail

for b in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$b" >/dev/null 2>&1; then
    echo "install-browser: $b is already installed ($(command -v "$b"))"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get on this machine; install chromium yourself to run the browser test" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-browser: not root and no passwordless sudo; install chromium yourself to run the browser test" >&2
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
echo "install-browser: installed $(chromium --version 2>/dev/null || echo chromium)"
