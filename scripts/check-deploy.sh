#!/usr/bin/env bash
# Static checks of deploy/: the Prometheus scrape config and alert rules must
# load in a real Prometheus (promtool) and the rules must pass their unit
# tests, so a typo or a renamed metric fails here and not on an operator's
# server. Installs Debian's 'prometheus' package for promtool when
# missing; if that is impossible the check fails, since it cannot pass blind.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"
root="$(cd "$here/.." && pwd)"

ensure_promtool ||
  die "promtool not found and Debian package 'prometheus' could not be installed; install it (apt-get install prometheus) and rerun"

# Run from deploy/prometheus so rule_files resolve as they do in the compose
# container, where alerts.yml sits next to prometheus.yml.
cd "$root/deploy/prometheus"
log "promtool check rules alerts.yml"
promtool check rules alerts.yml
log "promtool check config prometheus.yml"
promtool check config prometheus.yml
log "promtool test rules alerts_test.yml"
promtool test rules alerts_test.yml
log "deploy/prometheus OK"

# Every alert's runbook_url names a section that docs/runbook.md has.
for anchor in $(grep -o 'runbook.md#[a-z0-9-]*' alerts.yml | sed 's/.*#//' | sort -u); do
  grep -qi "^## $anchor\$" "$root/docs/runbook.md" ||
    die "alerts.yml links docs/runbook.md#$anchor, which has no such section"
done
log "runbook links OK"

# Grafana: dashboards are JSON with panels; provisioning and Alertmanager
# configs are YAML. (tests/dashboards.rs checks every expression against
# the metrics the services export, and with promtool.)
python3 - "$root" <<'PY' || die "deploy/grafana or deploy/alertmanager is invalid"
import glob, json, sys
root = sys.argv[1]
for f in glob.glob(f"{root}/deploy/grafana/dashboards/*.json"):
    doc = json.load(open(f))
    assert doc.get("panels"), f"{f}: no panels"
try:
    import yaml
except ImportError:
    sys.exit(0)
for f in glob.glob(f"{root}/deploy/grafana/provisioning/*/*.yml") + [f"{root}/deploy/alertmanager/alertmanager.yml"]:
    yaml.safe_load(open(f))
PY
if command -v amtool >/dev/null 2>&1; then
  amtool check-config "$root/deploy/alertmanager/alertmanager.yml" >/dev/null ||
    die "amtool check-config failed"
fi
log "deploy/grafana and deploy/alertmanager OK"

# NATS configs: syntax only (-t), when a nats-server is at hand; the
# end-to-end tests start them for real.
nats_bin="$(command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true)"
if [ -n "$nats_bin" ]; then
  for conf in "$root"/deploy/nats/single.conf "$root"/deploy/nats/cluster/n*.conf; do
    out="$("$nats_bin" -t -c "$conf" 2>&1)" || die "invalid NATS config: $out"
  done
  log "deploy/nats OK"
else
  warn "nats-server not installed; deploy/nats configs not checked"
fi

# docker-compose.yml: no compose engine here, so at least make sure it parses
# and every service has an image or a build.
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$root/docker-compose.yml" <<'PY' || die "docker-compose.yml is invalid"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
bad = [n for n, s in doc["services"].items() if "image" not in s and "build" not in s]
if bad:
    sys.exit(f"services without image/build: {bad}")
PY
  log "docker-compose.yml parses"
else
  warn "PyYAML missing (pip install pyyaml); docker-compose.yml not checked"
fi

# Where the compose plugin exists, let it validate the file too (this
# machine's docker client has none; the compose test in services/hookline
# checks commands and environment against the real binary either way).
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  (cd "$root" && docker compose config -q) || die "docker compose config failed"
  log "docker compose config OK"
else
  warn "no docker compose plugin; skipped 'docker compose config'"
fi
