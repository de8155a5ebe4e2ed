#!/usr/bin/env bash
# Installs Docker Compose v2 (the `docker-compose` standalone binary) for the compose file check
# (test/container/compose.test.ts): `docker-compose config` loads and validates docker-compose.yml
# against the Compose specification with the real Compose parser (compose-go, the schema and its
# semantic checks, interpolation, merge keys) and needs no Docker engine.
#
# Bookworm's docker-compose is 1.29 (Python), which knows neither inline `configs` nor today's
# specification, so the binary comes from Debian's newest package (unstable, else trixie), fetched
# with a private apt configuration (the system's sources are untouched) and unpacked into
# /usr/local/bin: a Go binary that needs only libc >= 2.34, which bookworm has.
set -euo pipefail

MIN=2.23.1 # inline `configs` (content:), which docker-compose.yml uses
BIN=/usr/local/bin/docker-compose

new_enough() { # binary: exit 0 when it is Compose v2 at MIN or newer
  local v
  v="$("$1" version --short 2>/dev/null)" || return 1
  v="${v#v}"
  [ "$(printf '%s\n%s\n' "$MIN" "${v%%-*}" | sort -V | head -1)" = "$MIN" ]
}

if command -v docker-compose >/dev/null 2>&1 && new_enough "$(command -v docker-compose)"; then
  echo "docker-compose $(docker-compose version --short) is installed"
  exit 0
fi

STATE=/var/cache/nova-ci/compose-apt
mkdir -p "$STATE/lists/partial" "$STATE/archives/partial" "$STATE/prefs"
printf 'deb http://deb.debian.org/debian %s main\n' sid trixie >"$STATE/sources.list"
APT=(
  -o "Dir::Etc::SourceList=$STATE/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::Etc::Preferences=/dev/null -o "Dir::Etc::PreferencesParts=$STATE/prefs"
  -o "Dir::State::Lists=$STATE/lists" -o "Dir::Cache=$STATE" -o "Dir::Cache::archives=$STATE/archives"
  -o APT::Sandbox::User=root -o DPkg::Lock::Timeout=300
)
for attempt in 1 2; do
  apt-get "${APT[@]}" update -qq && break
  [ "$attempt" = 2 ] && exit 1
  sleep 10
done

# The newest version first (unstable's), trixie's when that one does not run here.
mapfile -t versions < <(apt-cache "${APT[@]}" madison docker-compose | awk -F'|' '{gsub(/ /,"",$2); print $2}')
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for v in "${versions[@]}"; do
  (cd "$work" && apt-get "${APT[@]}" download -qq "docker-compose=$v") || continue
  rm -rf "$work/x"
  dpkg-deb -x "$work"/docker-compose_*.deb "$work/x"
  rm -f "$work"/docker-compose_*.deb
  if new_enough "$work/x/usr/bin/docker-compose"; then
    install -m 0755 "$work/x/usr/bin/docker-compose" "$BIN"
    echo "docker-compose $("$BIN" version --short) installed in $BIN (Debian $v)"
    exit 0
  fi
done
echo "no Debian docker-compose >= $MIN runs here (tried: ${versions[*]:-none})" >&2
exit 1
