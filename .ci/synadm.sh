#!/usr/bin/env bash
# Installs Debian's synadm, the Synapse admin API client the admin API test drives
# (test/server/admin-synadm.test.ts); the test writes its own config pointing at its own server.
set -euo pipefail
if command -v synadm >/dev/null 2>&1; then
  echo "synadm is installed"
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" synadm
command -v synadm
