#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft) for CI, without Docker.
#
#   bash .ci/kafka.sh start   fetch the broker jars with Maven (cached in .kafka/lib), format a
#                             KRaft log dir, start kafka.Kafka on 127.0.0.1:${KAFKA_PORT:-9092}
#                             and wait until it answers
#   bash .ci/kafka.sh stop    stop the broker this script started
#   bash .ci/kafka.sh fetch   only fetch the jars
#   bash .ci/kafka.sh status  exit 0 when the broker answers
#
# KAFKA_INSTANCE (default "main") names the data/pid/log folder under .kafka/, so a test can run
# a second, private broker (other KAFKA_PORT/KAFKA_CONTROLLER_PORT) that it may stop and restart.
#
# Kafka 3.9 is used rather than 4.x: kafkajs 2.2 speaks protocol versions that 4.0 removed
# (KIP-896), and 3.9 runs KRaft without ZooKeeper.
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
ROOT="$PWD/.kafka"
LIB="$ROOT/lib-$KAFKA_VERSION"
INSTANCE="$ROOT/${KAFKA_INSTANCE:-main}"
DATA="$INSTANCE/data"
PIDFILE="$INSTANCE/kafka.pid"
LOG="$INSTANCE/kafka.log"

fetch() {
  if [ -f "$LIB/.complete" ]; then return 0; fi
  mkdir -p "$ROOT/pom"
  # A throwaway project whose only dependency is the broker; Maven resolves its runtime
  # classpath (scala, jackson, the kafka-* modules…) and copies it next to it.
  cat >"$ROOT/pom/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>nova.ci</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
POM
  rm -rf "$LIB.tmp"
  mvn -q -B -f "$ROOT/pom/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIB.tmp"
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
  touch "$LIB/.complete"
}

answers() {
  # The broker answers once its client port accepts connections and it has registered with
  # the controller; a metadata request through the bundled admin tool checks both.
  timeout 20 java -cp "$LIB/*" -Dlog4j.configuration="file:$INSTANCE/log4j.properties" \
    kafka.admin.BrokerApiVersionsCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
}

start() {
  fetch
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "kafka already running (pid $(cat "$PIDFILE"))"
    return 0
  fi
  mkdir -p "$DATA"
  cat >"$INSTANCE/log4j.properties" <<'L4J'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
L4J
  cat >"$INSTANCE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=8
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
PROPS
  # Another broker already on this port (a developer's, another checkout's CI run): use it.
  if answers; then
    echo "Kafka already answers on 127.0.0.1:$KAFKA_PORT (not started by this script)"
    return 0
  fi
  if [ ! -f "$DATA/meta.properties" ]; then
    java -cp "$LIB/*" -Dlog4j.configuration="file:$INSTANCE/log4j.properties" kafka.tools.StorageTool \
      format --config "$INSTANCE/server.properties" --cluster-id "$(java -cp "$LIB/*" -Dlog4j.configuration="file:$INSTANCE/log4j.properties" kafka.tools.StorageTool random-uuid)" \
      --ignore-formatted >/dev/null
  fi
  # Small heap: the CI machine is shared with PostgreSQL, Redis and the test processes.
  nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$INSTANCE/log4j.properties" -cp "$LIB/*" \
    kafka.Kafka "$INSTANCE/server.properties" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 90); do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "kafka exited; last log lines:" >&2
      tail -n 30 "$LOG" >&2
      return 1
    fi
    if answers; then echo "Kafka is up on 127.0.0.1:$KAFKA_PORT"; return 0; fi
    sleep 1
  done
  echo "kafka did not answer in time" >&2
  tail -n 30 "$LOG" >&2
  return 1
}

stop() {
  if [ -f "$PIDFILE" ]; then
    local pid
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$PIDFILE"
  fi
  echo "kafka stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  fetch) fetch ;;
  status) answers ;;
  *) echo "usage: $0 start|stop|fetch|status" >&2; exit 2 ;;
esac
