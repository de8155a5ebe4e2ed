#!/usr/bin/env bash
# Installs Debian's ffmpeg (ffmpeg + ffprobe): the media service's video pipeline runs them, and
# its tests transcode real clips.
set -euo pipefail
if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
  echo "ffmpeg is installed"
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" ffmpeg
command -v ffmpeg
