#!/usr/bin/env bash
# Installs Debian's chromium for the browser call test (driven by playwright-core with
# executablePath /usr/bin/chromium; playwright's own browser download cannot run here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium is installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Two tries: a mirror hiccup should not cost the CI run; waits for another apt holding the lock.
for attempt in 1 2; do
  if apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium fonts-liberation; then
    break
  fi
  [ "$attempt" = 2 ] && exit 1
  sleep 10
done
/usr/bin/chromium --version || true
