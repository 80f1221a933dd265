#!/usr/bin/env bash
# Make sure the tools hookline's build and tests need are present.
#   cargo     required: we cannot download a toolchain here, so only explain.
#   promtool  (Debian 'prometheus') checks deploy/prometheus; optional.
#   wrk       (Debian 'wrk') drives the HTTP benchmarks; optional.
# Idempotent: installs a package only when its command is missing. Optional
# tools that cannot be installed give a warning, never a failure, so a
# machine without apt can still build and run the Rust tests.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"

# rustup installs into ~/.cargo/bin, which non-login shells often miss.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
  log "cargo found in ~/.cargo/bin (add it to PATH)"
fi

if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<'MSG'
ensure-toolchain: error: cargo not found.
  Install Rust with rustup (https://rustup.rs):
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . "$HOME/.cargo/env"
  The workspace needs Rust >= the rust-version in Cargo.toml.
MSG
  exit 1
fi

# Warn early about a toolchain older than the workspace's rust-version;
# cargo would refuse later with a less obvious message.
root="$(cd "$here/.." && pwd)"
want="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$root/Cargo.toml" 2>/dev/null | head -1 || true)"
have="$(rustc --version 2>/dev/null | awk '{print $2}' || true)"
log "cargo: $(cargo --version)"
if [ -n "$want" ] && [ -n "$have" ] &&
  [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
  warn "rustc $have is older than the workspace's rust-version $want; run 'rustup update'"
fi

if ensure_promtool; then
  log "promtool: $(command -v promtool)"
else
  warn "promtool unavailable (Debian package 'prometheus' could not be installed); deploy/prometheus checks will be skipped or fail"
fi

if command -v wrk >/dev/null 2>&1 || apt_install wrk; then
  log "wrk: $(command -v wrk)"
else
  warn "wrk unavailable (Debian package 'wrk' could not be installed); HTTP benchmarks cannot run"
fi
