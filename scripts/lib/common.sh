# shellcheck shell=bash
# Helpers shared by scripts/*.sh. Source it; it defines functions only.

# Prefix every line with the calling script's name, so interleaved output from
# CI or a Makefile still says who is talking.
_hl_name="$(basename "${0:-hookline}" .sh)"
log()  { printf '%s: %s\n' "$_hl_name" "$*"; }
warn() { printf '%s: warning: %s\n' "$_hl_name" "$*" >&2; }
die()  { printf '%s: error: %s\n' "$_hl_name" "$*" >&2; exit 1; }

# Run as root: directly when we are root (CI, containers), through sudo
# otherwise. Fails clearly rather than prompting forever when sudo is absent.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    warn "need root for: $* (no sudo available)"
    return 1
  fi
}

# Install Debian packages, running 'apt-get update' at most once per script
# run (fresh machines have no package lists). Recommends are skipped: the
# prometheus package would otherwise pull in node-exporter and more daemons.
_hl_apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || { warn "apt-get not available"; return 1; }
  if [ "$_hl_apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq || return 1
    _hl_apt_updated=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" || return 1
}

# Debian starts (and enables) a package's daemon on install unless a
# policy-rc.d forbids it. We only want promtool, and a stray Prometheus server
# would hold :9090, which hookline's ops listener uses. Call this right after
# installing the package, and only then: it stops what that install started.
quiet_packaged_daemon() {
  local svc="$1"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    as_root invoke-rc.d "$svc" stop >/dev/null 2>&1 || true
    as_root update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
}

# Make sure promtool exists, installing Debian's prometheus package if needed.
# Returns non-zero (without exiting) when it cannot; callers decide how bad
# that is.
ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  log "promtool missing; installing Debian package 'prometheus'"
  apt_install prometheus || return 1
  quiet_packaged_daemon prometheus
  command -v promtool >/dev/null 2>&1
}
