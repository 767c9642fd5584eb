#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (no browser download is possible or needed).
set -euo pipefail
for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  [ -n "$candidate" ] && [ -x "$candidate" ] && exit 0
done
if command -v apt-get >/dev/null; then
  echo "==> installing chromium from the OS packages (for the browser tests)"
  run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  run env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "WARNING: no Chromium found; the browser tests will be skipped. Install it: sudo apt-get install chromium" >&2
