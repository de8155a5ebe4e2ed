#!/usr/bin/env bash
# Installs Debian's chromium for the browser call test (driven by playwright-core with
# executablePath /usr/bin/chromium; playwright's own browser download cannot run here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium is installed"
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" chromium fonts-liberation
/usr/bin/chromium --version || true
