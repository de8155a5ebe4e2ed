#!/usr/bin/env bash
# Installs Debian's chromium for the browser call test (driven by playwright-core with
# executablePath /usr/bin/chromium; playwright's own browser download cannot run here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium is installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-liberation
/usr/bin/chromium --version || true
