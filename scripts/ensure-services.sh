#!/usr/bin/env bash
# Make sure the two backing services hookline's defaults expect are up:
#   NATS with JetStream on 127.0.0.1:4222, PostgreSQL on 127.0.0.1:5432
#   (role 'postgres' reachable over TCP without a password).
#
# Idempotent and non-destructive: an instance that already answers is used as
# is (it may be shared with other projects, so it is never restarted); one that
# is installed but down is started; one that is missing is installed with apt.
# Used by local start-up, the end-to-end tests and CI, where no Docker exists.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"

HOST=127.0.0.1
NATS_PORT=4222
PG_PORT=5432
NATS_STORE=/var/lib/nats-server
NATS_LOG=/var/log/nats-server.log
NATS_PIDFILE=/run/hookline-nats-server.pid
WAIT_SECONDS=30

# ---------------------------------------------------------------- probes

nats_up() { timeout 2 bash -c "</dev/tcp/$HOST/$NATS_PORT" 2>/dev/null; }

pg_up() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PG_PORT"
}

# Can we log in as postgres over TCP with no password? PGPASSWORD and
# ~/.pgpass are ignored on purpose: hookline's default URLs carry no password,
# so a pass here that relied on them would be a false one.
pg_trust_ok() {
  env -u PGPASSWORD PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 \
    psql -w -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -XtAc 'select 1' >/dev/null 2>&1
}

# Ask the server for JetStream account info over the plain NATS protocol:
# Debian ships no 'nats' CLI and the shared instance has no monitoring port.
# With no_responders on, a server without JetStream answers at once with a
# 503 status (HMSG) instead of leaving us to time out.
jetstream_ok() {
  local reply
  # shellcheck disable=SC2016 # the inner script expands its own $1/$2
  reply="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"name\":\"hookline-ensure\"}\r\nSUB _INBOX.hookline_ensure 1\r\nPUB \$JS.API.INFO _INBOX.hookline_ensure 0\r\n\r\n" >&3
    while IFS= read -r line <&3; do
      case "$line" in
        MSG*) IFS= read -r body <&3; printf "%s" "$body"; exit 0 ;;
        HMSG*|-ERR*) printf "%s" "$line"; exit 1 ;;
      esac
    done' _ "$HOST" "$NATS_PORT" 2>/dev/null)" || true
  case "$reply" in
    *account_info_response*) ! grep -q '"error"' <<<"$reply" ;;
    *) return 1 ;;
  esac
}

wait_for() { # wait_for NAME PROBE
  local name="$1" probe="$2" i
  for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    "$probe" && return 0
    sleep 0.5
  done
  die "$name did not answer on $HOST within ${WAIT_SECONDS}s"
}

# ---------------------------------------------------------------- NATS

nats_bin() {
  command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true
}

ensure_nats() {
  if nats_up; then
    log "nats: answering on $HOST:$NATS_PORT"
    return
  fi
  local bin
  bin="$(nats_bin)"
  if [ -z "$bin" ]; then
    log "nats: not installed; installing Debian package nats-server"
    apt_install nats-server || die "could not install nats-server"
    bin="$(nats_bin)"
    [ -n "$bin" ] || die "nats-server still missing after install"
    # On a host with systemd and no policy-rc.d the package starts its own.
    if nats_up; then log "nats: started by the package"; return; fi
  fi
  log "nats: starting $bin on $HOST:$NATS_PORT (JetStream store $NATS_STORE, log $NATS_LOG)"
  as_root mkdir -p "$NATS_STORE"
  # The pidfile scopes --oknodo to *this* instance: without it any running
  # nats-server (say a test cluster node) would count as "already running".
  as_root start-stop-daemon --start --oknodo --background \
    --make-pidfile --pidfile "$NATS_PIDFILE" --exec "$bin" -- \
    -a "$HOST" -p "$NATS_PORT" -js -sd "$NATS_STORE" -l "$NATS_LOG"
}

# ---------------------------------------------------------------- PostgreSQL

# Newest entry of a directory of version numbers (15, 16, …), or nothing.
# shellcheck disable=SC2012 # plain version numbers; ls | sort -V is fine
newest_version_in() { ls "$1" 2>/dev/null | sort -V | tail -1; }

pg_newest_version() { newest_version_in /usr/lib/postgresql; }

ensure_pg() {
  if pg_up; then
    log "postgres: answering on $HOST:$PG_PORT"
    return
  fi
  if [ -z "$(pg_newest_version)" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "postgres: not installed; installing Debian package postgresql"
    apt_install postgresql || die "could not install postgresql"
    if pg_up; then log "postgres: started by the package"; return; fi
  fi
  local ver
  ver="$(newest_version_in /etc/postgresql)"
  if [ -z "$ver" ] || [ ! -d "/etc/postgresql/$ver/main" ]; then
    # Images built with create_main_cluster=false have the server but no cluster.
    ver="$(pg_newest_version)"
    [ -n "$ver" ] || die "no PostgreSQL server version found under /usr/lib/postgresql"
    log "postgres: creating cluster $ver/main"
    as_root pg_createcluster "$ver" main
  fi
  log "postgres: starting cluster $ver/main"
  # Exit status 2 means "already running" (e.g. listening elsewhere); the
  # wait below is the real test, so do not stop on it here.
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
}

# Debian's default pg_hba.conf wants scram for 127.0.0.1. hookline's URLs and
# the tests connect as postgres@127.0.0.1 with no password, so trust loopback.
# Lines go first because pg_hba.conf is first-match.
ensure_pg_trust() {
  if pg_trust_ok; then
    log "postgres: postgres@$HOST logs in without a password"
    return
  fi
  local hba
  hba="$(as_root runuser -u postgres -- psql -XtAc 'show hba_file' 2>/dev/null || true)"
  if [ -z "$hba" ]; then
    hba="/etc/postgresql/$(newest_version_in /etc/postgresql)/main/pg_hba.conf"
  fi
  as_root test -f "$hba" || die "cannot find pg_hba.conf (tried $hba); allow trust for 127.0.0.1 by hand"
  if as_root grep -q '^# hookline: trust loopback' "$hba"; then
    log "postgres: trust lines already in $hba; reloading"
  else
    local tmp
    tmp="$(mktemp)"
    {
      echo '# hookline: trust loopback (added by scripts/ensure-services.sh for local dev/tests)'
      echo 'host    all             all             127.0.0.1/32            trust'
      echo 'host    all             all             ::1/128                 trust'
      as_root cat "$hba"
    } >"$tmp"
    as_root cp -p "$hba" "$hba.hookline.bak"
    as_root tee "$hba" <"$tmp" >/dev/null
    rm -f "$tmp"
    log "postgres: CHANGED $hba: prepended 'host all all 127.0.0.1/32 trust' and 'host all all ::1/128 trust' (backup at $hba.hookline.bak)"
  fi
  as_root runuser -u postgres -- psql -XtAc 'select pg_reload_conf()' >/dev/null ||
    die "could not reload PostgreSQL configuration"
  sleep 0.5
  pg_trust_ok || die "postgres@$HOST still needs a password after editing $hba (is the role 'postgres' missing?)"
  log "postgres: postgres@$HOST logs in without a password"
}

# ---------------------------------------------------------------- main

ensure_nats
ensure_pg
wait_for nats nats_up
wait_for postgres pg_up
ensure_pg_trust

# A few tries: a server we just started may still be recovering its streams.
js=1
for _ in 1 2 3 4 5; do
  if jetstream_ok; then js=0; break; fi
  sleep 1
done
if [ "$js" -eq 0 ]; then
  log "nats: JetStream enabled (\$JS.API.INFO answered)"
else
  # A server we did not start may run without -js; restarting a shared
  # instance is not ours to do, so say what is wrong and stop.
  die "NATS on $HOST:$NATS_PORT answers but JetStream does not (\$JS.API.INFO); run it with -js"
fi

log "ready: nats://$HOST:$NATS_PORT postgres://postgres@$HOST:$PG_PORT"
