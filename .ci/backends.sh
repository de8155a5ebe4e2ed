#!/usr/bin/env bash
# Checks PostgreSQL and Redis are up (starting them if this machine stopped them) and writes
# .ci/env.sh with the URLs the tests read.
set -euo pipefail
cd "$(dirname "$0")/.."

wait_for() { # name, command
  for _ in $(seq 1 60); do
    if eval "$2" >/dev/null 2>&1; then echo "$1 is up"; return 0; fi
    sleep 1
  done
  echo "$1 did not come up" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
wait_for PostgreSQL "pg_isready -h 127.0.0.1 -p 5432"

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi
wait_for Redis "redis-cli -h 127.0.0.1 -p 6379 ping"

# Calls: coturn (TURN test) and chromium (three-browser call test); the tests start their own instances.
bash .ci/coturn.sh
# Email 3PIDs: Debian's aiosmtpd, the SMTP server the email test starts on loopback.
bash .ci/smtp.sh
# Admin API: Debian's synadm, the Synapse admin client test/server/admin-synadm.test.ts drives.
bash .ci/synadm.sh
bash .ci/chromium.sh
# Media: ffmpeg for the video pipeline (its tests run real transcodes).
bash .ci/ffmpeg.sh
# Container: Docker Compose v2 validates docker-compose.yml without an engine (test/container/compose.test.ts).
bash .ci/compose.sh

# A real Kafka broker (KRaft, no Docker): jars fetched with Maven and cached in .kafka/.
bash .ci/kafka.sh start

# The database the tests create their own per-test databases from, new for every run (the
# machine keeps PostgreSQL's state between runs).
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS nova_ci WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE nova_ci"

cat > .ci/env.sh <<ENV
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/nova_ci
export REDIS_URL=redis://127.0.0.1:6379
export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
ENV
