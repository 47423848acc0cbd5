#!/usr/bin/env bash
# System packages the browser tests need (Debian's Chromium and its driver). Installs them when
# this user may (root with apt-get); otherwise the browser tests skip and say why.
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped"
else
  echo "note: chromium is not installed and cannot be installed here; browser tests will be skipped"
fi
exit 0
