#!/usr/bin/env bash
# The local stack: a single-node Apache Kafka broker (KRaft, run natively from its Maven Central jars) and a
# redis-server, for development, `make demo` and the test fixtures (tests/conftest.py), which all go through this
# script so the broker's configuration, storage format and readiness probe are written once.
#
#   scripts/stack.sh up|down|status [kafka|redis]...   (default: both)
#   scripts/stack.sh jars                              (fetch the Kafka jars into scripts/kafka/libs if needed)
#
# Every command is idempotent: `up` on a running service and `down` on a stopped one succeed and say so.
# `up` returns once the services answer (Kafka: TCP connect to its client port, which the broker opens only when
# it is ready; Redis: PING). `status` exits 0 when every named service answers, 3 otherwise.
#
# Environment (all optional):
#   INFERWATCH_RUN_DIR       runtime dir: data, pid files, logs, generated configs (default: <repo>/.run)
#   INFERWATCH_KAFKA_PORT    Kafka client port on 127.0.0.1 (default 9092); the KRaft controller uses port+1
#   INFERWATCH_REDIS_PORT    Redis port on 127.0.0.1 (default 6379)
#   INFERWATCH_REDIS_PERSIST aof (default: append-only file, so a restart loses nothing) | none (tests)
#   INFERWATCH_KAFKA_EXTRA_PROPERTIES  a file appended to the broker's server.properties (its keys win), e.g. the
#                            SASL_SSL listener of the secure-broker test fixture
set -euo pipefail

say() { echo "stack: $*"; }
die() { echo "stack: $*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_JARS_POM=$ROOT/scripts/kafka/pom.xml
KAFKA_LIBS=$ROOT/scripts/kafka/libs
RUN_DIR=$(realpath -m "${INFERWATCH_RUN_DIR:-$ROOT/.run}")
KAFKA_PORT=${INFERWATCH_KAFKA_PORT:-9092}
REDIS_PORT=${INFERWATCH_REDIS_PORT:-6379}
for port in "$KAFKA_PORT" "$REDIS_PORT"; do
  [[ $port =~ ^[1-9][0-9]{0,4}$ ]] && ((port < 65535)) || die "invalid port '$port'"
done
CONTROLLER_PORT=$((KAFKA_PORT + 1))
REDIS_PERSIST=${INFERWATCH_REDIS_PERSIST:-aof}

KAFKA_START_TIMEOUT_S=90
REDIS_START_TIMEOUT_S=10
STOP_TIMEOUT_S=60
# Below about 512 MB of heap the log cleaner runs out of memory.
KAFKA_JVM_OPTS=(-Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true)
LOG_TAIL_LINES=40

# --- probes --------------------------------------------------------------------------------------------------

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_pongs() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || exit 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || exit 1
  [[ $reply == +PONG* ]]
)

# The pid recorded for a service, if that process is alive and is still ours (a stale pid file may name a
# reused pid): its command line must name our config (Kafka) or be a redis-server (which rewrites its title).
service_pid() {
  local service=$1 pid cmdline pidfile
  pidfile=$(pid_file "$service")
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  case $service in
    kafka) [[ $cmdline == *"kafka.Kafka $RUN_DIR/kafka/server.properties"* ]] ;;
    redis) [[ $cmdline == redis-server* ]] ;;
  esac || return 1
  echo "$pid"
}

pid_file() { echo "$RUN_DIR/$1/$1.pid"; }
recorded_port() { cat "$RUN_DIR/$1/port" 2>/dev/null || echo "?"; }

answers() {
  case $1 in
    kafka) port_answers "$2" ;;
    redis) redis_pongs "$2" ;;
  esac
}

log_tail() {
  local file
  for file in "$@"; do
    [[ -s $file ]] || continue
    echo "--- last $LOG_TAIL_LINES lines of $file"
    tail -n "$LOG_TAIL_LINES" "$file"
  done
}

# --- Kafka jars ----------------------------------------------------------------------------------------------

# libs/ is complete when its stamp holds the checksum of the pom it was fetched from. A fetch goes to a temporary
# dir that replaces libs/ only if it differs, so a broker already running from libs/ is never pulled out from under.
ensure_kafka_jars() {
  local stamp=$KAFKA_LIBS/.fetched-from-pom want tmp
  want=$(sha256sum "$KAFKA_JARS_POM" | cut -d' ' -f1)
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars: run scripts/install.sh"
  exec 8<"$KAFKA_JARS_POM"
  flock 8 # one fetch at a time; re-check once we hold the lock
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then exec 8<&-; return 0; fi
  say "fetching the Kafka jars with Maven into $KAFKA_LIBS"
  tmp=$(mktemp -d "$KAFKA_LIBS.tmp.XXXXXX")
  if ! mvn -B -q -f "$KAFKA_JARS_POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "fetching the Kafka jars failed (Maven output above)"
  fi
  if [[ -d $KAFKA_LIBS ]] && diff -q <(jar_listing "$KAFKA_LIBS") <(jar_listing "$tmp") >/dev/null; then
    rm -rf "$tmp"
  else
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
  fi
  rm -f "$tmp.log"
  echo "$want" >"$stamp"
  exec 8<&-
}

jar_listing() { (cd "$1" && find . -maxdepth 1 -name '*.jar' -printf '%f %s\n' | sort); }

# --- Kafka ---------------------------------------------------------------------------------------------------

write_kafka_config() {
  local dir=$1
  cat >"$dir/server.properties" <<EOF
# Generated by scripts/stack.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# saves 3 s on every first consumer-group join
group.initial.rebalance.delay.ms=0
EOF
  if [[ -n ${INFERWATCH_KAFKA_EXTRA_PROPERTIES:-} ]]; then
    cat "$INFERWATCH_KAFKA_EXTRA_PROPERTIES" >>"$dir/server.properties"
  fi
  cat >"$dir/log4j2.properties" <<EOF
# Generated by scripts/stack.sh: the broker logs to a file, not to the terminal.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF
}

# Kafka's own cluster ids are 16 random bytes in URL-safe base64 without padding, never starting with '-'
# (which would read as a CLI flag); making one here saves a JVM start.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
    [[ $id != -* ]] && echo "$id" && return
  done
}

# Static voters (controller.quorum.voters) rather than --standalone: the voter endpoint then lives in the config,
# not in the formatted log, so the same data dir can be started again on other ports.
format_kafka_storage() {
  local dir=$1
  [[ -f $dir/data/meta.properties ]] && return 0
  java -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool \
    format -t "$(new_cluster_id)" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; die "formatting the Kafka storage in $dir/data failed (output above)"; }
}

kafka_up() {
  local dir=$RUN_DIR/kafka pid started
  already_up kafka "$KAFKA_PORT" "$KAFKA_START_TIMEOUT_S" && return
  refuse_ports_in_use kafka "$KAFKA_PORT" "$CONTROLLER_PORT"
  command -v java >/dev/null || die "kafka: java is needed: run scripts/install.sh"
  ensure_kafka_jars
  mkdir -p "$dir/data"
  write_kafka_config "$dir"
  format_kafka_storage "$dir"
  started=$SECONDS
  # setsid: the broker outlives this script and ignores the terminal's Ctrl-C and hang-up; `down` stops it.
  setsid java "${KAFKA_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$(pid_file kafka)"
  echo "$KAFKA_PORT" >"$dir/port"
  wait_until_answers kafka "$pid" "$KAFKA_PORT" "$KAFKA_START_TIMEOUT_S" "$dir/server.log" "$dir/stdout.log"
  say "kafka: started (pid $pid) on 127.0.0.1:$KAFKA_PORT in $((SECONDS - started)) s; log: $dir/server.log"
}

# --- Redis ---------------------------------------------------------------------------------------------------

redis_up() {
  local dir=$RUN_DIR/redis pid persistence started
  already_up redis "$REDIS_PORT" "$REDIS_START_TIMEOUT_S" && return
  refuse_ports_in_use redis "$REDIS_PORT"
  command -v redis-server >/dev/null || die "redis: redis-server is needed: run scripts/install.sh"
  case $REDIS_PERSIST in
    aof) persistence=(--appendonly yes) ;;
    none) persistence=(--save "" --appendonly no) ;;
    *) die "INFERWATCH_REDIS_PERSIST must be aof or none, not '$REDIS_PERSIST'" ;;
  esac
  mkdir -p "$dir/data"
  rm -f "$(pid_file redis)"
  started=$SECONDS
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir/data" "${persistence[@]}" \
    --daemonize yes --pidfile "$(pid_file redis)" --logfile "$dir/redis.log" \
    || { log_tail "$dir/redis.log" >&2; die "redis: redis-server did not start"; }
  echo "$REDIS_PORT" >"$dir/port"
  until pid=$(service_pid redis); do
    ((SECONDS - started < REDIS_START_TIMEOUT_S)) || { log_tail "$dir/redis.log" >&2; die "redis: no pid file"; }
    sleep 0.05
  done
  wait_until_answers redis "$pid" "$REDIS_PORT" "$REDIS_START_TIMEOUT_S" "$dir/redis.log"
  say "redis: started (pid $pid) on 127.0.0.1:$REDIS_PORT ($REDIS_PERSIST persistence); log: $dir/redis.log"
}

# --- shared lifecycle ----------------------------------------------------------------------------------------

# Succeeds, and says so, when the service already runs from this run dir on the port asked for.
already_up() {
  local service=$1 port=$2 timeout=$3 pid
  pid=$(service_pid "$service") || return 1
  [[ $(recorded_port "$service") == "$port" ]] \
    || die "$service: already running from $RUN_DIR on port $(recorded_port "$service"), not $port: stop it first"
  wait_until_answers "$service" "$pid" "$port" "$timeout"
  say "$service: already running (pid $pid) on 127.0.0.1:$port"
}

refuse_ports_in_use() {
  local service=$1 port
  for port in "${@:2}"; do
    ! port_answers "$port" || die "$service: port $port on 127.0.0.1 is already in use by another process"
  done
}

# Waits until the service answers on its port; fails with the log tail if it dies or the time runs out.
wait_until_answers() {
  local service=$1 pid=$2 port=$3 timeout=$4 logs=("${@:5}") deadline=$((SECONDS + $4))
  until answers "$service" "$port"; do
    if ! service_pid "$service" >/dev/null; then
      log_tail "${logs[@]}" >&2
      rm -f "$(pid_file "$service")"
      die "$service: exited during start-up (see the log above)"
    fi
    if ((SECONDS >= deadline)); then
      log_tail "${logs[@]}" >&2
      stop_service "$service" >&2
      die "$service: did not answer on 127.0.0.1:$port within $timeout s; stopped it (see the log above)"
    fi
    sleep 0.1
  done
}

# SIGTERM to the recorded pid only, then wait for it to exit (Kafka shuts down cleanly in a few seconds).
stop_service() {
  local service=$1 pid deadline
  if ! pid=$(service_pid "$service"); then
    rm -f "$(pid_file "$service")"
    say "$service: not running"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT_S))
  while service_pid "$service" >/dev/null; do
    if ((SECONDS >= deadline)); then
      say "$service: pid $pid ignored SIGTERM for $STOP_TIMEOUT_S s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  rm -f "$(pid_file "$service")"
  say "$service: stopped (pid $pid)"
}

status_of() {
  local service=$1 pid port
  if ! pid=$(service_pid "$service"); then
    say "$service: stopped"
    return 3
  fi
  port=$(recorded_port "$service")
  if answers "$service" "$port"; then
    say "$service: running (pid $pid) on 127.0.0.1:$port"
  else
    say "$service: running (pid $pid) but not answering on 127.0.0.1:$port"
    return 3
  fi
}

main() {
  local command=${1:-} services=("${@:2}") service rc=0
  ((${#services[@]})) || services=(kafka redis)
  for service in "${services[@]}"; do
    [[ $service == kafka || $service == redis ]] || die "unknown service '$service' (kafka, redis)"
  done
  case $command in
    up) for service in "${services[@]}"; do "${service}_up"; done ;;
    down) for service in "${services[@]}"; do stop_service "$service"; done ;;
    status) for service in "${services[@]}"; do status_of "$service" || rc=$?; done ;;
    jars) ensure_kafka_jars ;;
    *) die "usage: $0 up|down|status [kafka|redis]... | jars" ;;
  esac
  return "$rc"
}

main "$@"
