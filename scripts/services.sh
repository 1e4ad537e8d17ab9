#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
# Starts them with the commands from DESIGN.md when they are installed but stopped. Under CI=true a service
# that cannot be brought up fails the run; elsewhere it is reported and the tests that need it fail or skip.
set -u

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() {  # wait_for NAME CHECK: poll CHECK for up to 30 s
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  return 1
}

status=0
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  wait_for postgresql pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; status=1; }
fi
if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "services: starting Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  wait_for redis redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379" >&2; status=1; }
fi
if [ "$status" -ne 0 ] && [ "${CI:-}" = "true" ]; then
  echo "services: a required service is missing under CI; failing" >&2
  exit 1
fi
exit 0
