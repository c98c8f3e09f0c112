#!/usr/bin/env bash
# Idempotent set-up of everything fastpoll's demo and tests need on a fresh Debian machine:
# system packages (as root), the project's virtualenv, and running MariaDB/Redis.
# Usage: scripts/setup.sh            (safe to run again: it only does what is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_pkgs+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
[ -x /usr/sbin/snmpd ] || need_pkgs+=(snmpd)
command -v snmpget >/dev/null 2>&1 || need_pkgs+=(snmp)
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)
[ -x /usr/bin/prometheus-snmp-exporter ] || need_pkgs+=(prometheus-snmp-exporter)  # a benchmark baseline
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)   # validates compose.yml (no engine needed)
command -v systemd-analyze >/dev/null 2>&1 || need_pkgs+=(systemd)          # verifies the systemd unit
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs npm)                  # the Payload CMS used by sync tests
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_pkgs[*]} from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    # Debian's packages start their own daemons; fastpoll's tests start what they need themselves.
    service snmpd stop >/dev/null 2>&1 || true
    service prometheus stop >/dev/null 2>&1 || true
    service prometheus-snmp-exporter stop >/dev/null 2>&1 || true
  else
    echo "setup: missing ${need_pkgs[*]} (run as root to install them); tests that need them will skip" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.fastpoll-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi

# Services: start them when they are not already answering.
if [ "${FASTPOLL_NO_SERVICES:-}" != 1 ]; then
  if ! mysqladmin -uroot -h127.0.0.1 ping >/dev/null 2>&1; then
    if [ -x /usr/sbin/mariadbd ]; then
      mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
      [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null 2>&1 || true
      start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
      for _ in $(seq 1 60); do mysqladmin -uroot -h127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
    fi
  fi
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
  fi
fi
