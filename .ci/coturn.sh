#!/usr/bin/env bash
# Installs Debian's coturn (turnserver + turnutils_uclient). The TURN test starts its own
# turnserver on loopback, on a free port with its own secret, so nothing is started here.
set -euo pipefail
if command -v turnserver >/dev/null 2>&1 && command -v turnutils_uclient >/dev/null 2>&1; then
  echo "coturn is installed"
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" coturn
# The package may enable its own daemon; the tests run their own instance instead.
if pgrep -x turnserver >/dev/null 2>&1 && [ -f /etc/default/coturn ]; then
  service coturn stop >/dev/null 2>&1 || true
fi
command -v turnserver
