#!/usr/bin/env bash
# Installs Debian's ffmpeg (ffmpeg + ffprobe): the media service's video pipeline runs them, and
# its tests transcode real clips.
set -euo pipefail
if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
  echo "ffmpeg is installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Two tries: a mirror hiccup should not cost the CI run; waits for another apt holding the lock.
for attempt in 1 2; do
  if apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends ffmpeg; then
    break
  fi
  [ "$attempt" = 2 ] && exit 1
  sleep 10
done
command -v ffmpeg
