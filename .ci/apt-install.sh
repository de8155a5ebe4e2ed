#!/usr/bin/env bash
# Installs Debian packages for CI (`bash .ci/apt-install.sh pkg…`). Two tries: a mirror hiccup
# should not cost the CI run; waits for another apt holding the lock.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2; do
  if apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@"; then
    exit 0
  fi
  [ "$attempt" = 2 ] && exit 1
  sleep 10
done
