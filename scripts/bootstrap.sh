#!/usr/bin/env bash
# Set-up shared by `make run` and `make test` on a fresh Debian/Ubuntu machine:
#   bootstrap.sh venv REQUIREMENTS   create .venv and install the pinned requirements (skipped when unchanged)
#   bootstrap.sh services [postgres] [rabbitmq]
#                                    make sure Redis and Mosquitto (and PostgreSQL, RabbitMQ) listen on loopback
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do listening "$1" && return 0; sleep 0.2; done
  return 1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
  command -v apt-get >/dev/null || return 1
  say "installing $* from the OS packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  listening 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server || true
  command -v redis-server >/dev/null || die "Redis is not listening on 127.0.0.1:6379 and could not be installed. Install it (sudo apt-get install redis-server) and start it."
  say "starting Redis on 127.0.0.1:6379 (data in var/redis)"
  mkdir -p var/redis
  # It is the default Celery broker: queued batches must survive a restart (append-only file, fsync every
  # second) and never be evicted when memory runs short (docs/brokers.md).
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction >/dev/null
  wait_port 6379 || die "Redis did not start; see var/redis/redis.log."
}

# Optional (the tests' RabbitMQ broker, or CELERY_BROKER_URL=amqp://...): a warning, not a failure, when it
# cannot be had; the tests that need it then say so.
ensure_rabbitmq() {
  listening 5672 && return 0
  command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || apt_install rabbitmq-server || true
  local bin; bin=$(command -v rabbitmq-server || echo /usr/sbin/rabbitmq-server)
  if [ ! -x "$bin" ]; then
    say "RabbitMQ is not listening on 127.0.0.1:5672 and could not be installed (sudo apt-get install rabbitmq-server)"
    return 0
  fi
  say "starting RabbitMQ on port 5672"
  # Debian's wrapper runs the node as the rabbitmq user; -detached returns before the node listens.
  as_root "$bin" -detached >/dev/null 2>&1 || true
  for _ in $(seq 1 150); do listening 5672 && return 0; sleep 0.4; done
  say "RabbitMQ did not start listening on 5672 within a minute; see /var/log/rabbitmq/"
}

ensure_mosquitto() {
  listening 1883 && return 0
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto mosquitto-clients || true
  local bin; bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  [ -x "$bin" ] || die "Mosquitto is not listening on 127.0.0.1:1883 and could not be installed. Install it (sudo apt-get install mosquitto) and start it."
  say "starting Mosquitto on 127.0.0.1:1883"
  mkdir -p var
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n' > var/mosquitto-dev.conf
  "$bin" -d -c var/mosquitto-dev.conf
  wait_port 1883 || die "Mosquitto did not start."
}

ensure_postgres() {
  listening 5432 && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql || die "PostgreSQL is not listening on 127.0.0.1:5432 and could not be installed."
  fi
  say "starting PostgreSQL"
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || die "PostgreSQL did not start."
  wait_port 5432 || die "PostgreSQL did not start listening on 5432."
}

ensure_venv() {
  local requirements=$1
  command -v python3 >/dev/null || die "python3 is missing: sudo apt-get install python3 python3-venv"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed (found $(python3 -V))."
  if [ ! -x .venv/bin/python ]; then
    say "creating the virtual environment in .venv"
    python3 -m venv .venv || die "could not create a venv: sudo apt-get install python3-venv"
  fi
  local stamp=".venv/.installed-$(basename "$requirements" .txt)"
  if [ ! -f "$stamp" ] || [ "$requirements" -nt "$stamp" ] || [ requirements/base.txt -nt "$stamp" ]; then
    say "installing $requirements"
    # grep: some machines' pip configs point at absent local indexes and warn once per package.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements" 2>&1 \
      | { grep -v "^WARNING: Location '.*' is ignored" || true; }
    [ "${PIPESTATUS[0]}" = 0 ] || die "pip could not install $requirements (see above)."
    touch "$stamp"
  fi
}

case "${1:-}" in
  venv) ensure_venv "${2:-requirements/base.txt}" ;;
  services)
    ensure_redis
    ensure_mosquitto
    for extra in "${@:2}"; do
      case "$extra" in
        postgres) ensure_postgres ;;
        rabbitmq) ensure_rabbitmq ;;
        "") ;;
        *) die "unknown service: $extra (postgres, rabbitmq)" ;;
      esac
    done
    ;;
  *) die "usage: bootstrap.sh venv REQUIREMENTS | services [postgres] [rabbitmq]" ;;
esac
