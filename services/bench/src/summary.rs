//! Turns `results.jsonl` (one measurement per line, written by
//! `scripts/bench`) into the Markdown tables BENCHMARKS.md quotes.

use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn cell(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| {
        if x >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
        }
    })
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Reads the results file and renders every section present.
pub fn render(path: &Path) -> anyhow::Result<String> {
    let rows: Vec<Value> = std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |section: &str| -> Vec<&Value> {
        rows.iter()
            .filter(|r| r["section"].as_str() == Some(section))
            .collect()
    };
    let mut out = String::new();
    edge(&mut out, &of("edge"))?;
    e2e(&mut out, &of("e2e"))?;
    cpu(&mut out, &of("cpu"))?;
    webhooks(&mut out, &of("webhooks"))?;
    delivered(&mut out, &of("delivered"))?;
    memory(&mut out, &of("memory"), &of("rss"))?;
    Ok(out)
}

fn edge(out: &mut String, rows: &[&Value]) -> std::fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "### Edge vs bare axum vs raw JetStream (closed loop, 64 connections)\n"
    )?;
    writeln!(
        out,
        "| round | bare axum req/s | edge req/s | edge / bare | edge p50 / p99 ms | JetStream 64 in flight /s | edge / JetStream 64 | JetStream 256 /s | JetStream 1024 /s | edge / JetStream 1024 | load avg |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    let rounds = rows
        .iter()
        .filter_map(|r| r["round"].as_u64())
        .max()
        .unwrap_or(0);
    for round in 1..=rounds {
        let find = |target: &str, mode: &str, extra: Option<u64>| {
            rows.iter().copied().find(|r| {
                r["round"].as_u64() == Some(round)
                    && text(r, &["result", "target"]) == target
                    && (mode.is_empty() || text(r, &["result", "mode"]) == mode)
                    && extra.is_none_or(|n| r["result"]["in_flight"].as_u64() == Some(n))
            })
        };
        let rate = |r: Option<&Value>| r.and_then(|r| num(r, &["result", "accepted_per_sec"]));
        let bare = rate(find("bare", "closed", None));
        let edge = find("edge", "closed", None);
        let edge_rate = rate(edge);
        let js64 = rate(find("jetstream", "", Some(64)));
        let js256 = rate(find("jetstream", "", Some(256)));
        let js1024 = rate(find("jetstream", "", Some(1024)));
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.0} %", a / b * 100.0),
            _ => "–".into(),
        };
        let lat = edge.map_or("–".into(), |e| {
            format!(
                "{} / {}",
                cell(num(e, &["result", "latency", "p50_ms"])),
                cell(num(e, &["result", "latency", "p99_ms"]))
            )
        });
        writeln!(
            out,
            "| {round} | {} | {} | {} | {lat} | {} | {} | {} | {} | {} | {} |",
            cell(bare),
            cell(edge_rate),
            ratio(edge_rate, bare),
            cell(js64),
            ratio(edge_rate, js64),
            cell(js256),
            cell(js1024),
            ratio(edge_rate, js1024),
            edge.map_or("", |e| text(e, &["load_average"])),
        )?;
    }
    writeln!(out)?;
    open_loop(out, rows)
}

/// The open-loop rows of the edge section: latency at a fixed offered rate.
fn open_loop(out: &mut String, rows: &[&Value]) -> std::fmt::Result {
    writeln!(
        out,
        "### Fixed offered rate (open loop, latency from the intended send time)\n"
    )?;
    writeln!(
        out,
        "| round | target | offered /s | accepted /s | p50 ms | p99 ms | p99.9 ms | max ms | errors |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    for r in rows
        .iter()
        .filter(|r| text(r, &["result", "mode"]) == "open")
    {
        let res = &r["result"];
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r["round"],
            text(res, &["target"]),
            cell(num(res, &["offered_rate"])),
            cell(num(res, &["accepted_per_sec"])),
            cell(num(res, &["latency", "p50_ms"])),
            cell(num(res, &["latency", "p99_ms"])),
            cell(num(res, &["latency", "p999_ms"])),
            cell(num(res, &["latency", "max_ms"])),
            res["errors"].as_u64().unwrap_or(0) + non_2xx(res),
        )?;
    }
    writeln!(out)
}

fn non_2xx(res: &Value) -> u64 {
    res["statuses"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

fn e2e(out: &mut String, rows: &[&Value]) -> std::fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "### End to end: edge 202 → committed by all three CRM consumers\n"
    )?;
    writeln!(
        out,
        "| offered /s | accepted /s | completed | completed /s | observed p50 / p99 / max ms | processed_at p50 / p99 ms | drain s | lag 0 after s | load avg |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    for r in rows {
        let res = &r["result"];
        // A flood is closed loop: as fast as the edge takes them.
        let offered = match num(res, &["load", "offered_rate"]) {
            None if r["flood"].as_bool() == Some(true) => "flood".to_string(),
            x => cell(x),
        };
        writeln!(
            out,
            "| {offered} | {} | {} / {} | {} | {} / {} / {} | {} / {} | {} | {} | {} |",
            cell(num(res, &["load", "accepted_per_sec"])),
            res["completed"],
            res["tracked"],
            cell(num(res, &["completed_per_sec"])),
            cell(num(res, &["observed", "p50_ms"])),
            cell(num(res, &["observed", "p99_ms"])),
            cell(num(res, &["observed", "max_ms"])),
            cell(num(res, &["processed_at", "p50_ms"])),
            cell(num(res, &["processed_at", "p99_ms"])),
            cell(num(res, &["drain_seconds"])),
            cell(num(res, &["lag_zero_after_s"])),
            text(r, &["load_average"]),
        )?;
    }
    writeln!(out)
}

/// The roles of the pipeline, in the order events cross them; anything else
/// the snapshots saw (the watcher, Postgres's background writers) follows.
const PIPELINE: [&str; 8] = [
    "edge",
    "dedupe",
    "webhook-out",
    "ingest",
    "consume",
    "nats",
    "postgres-rc",
    "postgres-crm",
];

fn cpu(out: &mut String, rows: &[&Value]) -> std::fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "### CPU per event (µs), by process, over each e2e run\n"
    )?;
    let extra = ["postgres-bg", "watcher"];
    let roles: Vec<&str> = PIPELINE.iter().chain(&extra).copied().collect();
    writeln!(
        out,
        "| run | events | {} | pipeline total ms |",
        roles.join(" | ")
    )?;
    writeln!(out, "|---|---|{}---|", "---|".repeat(roles.len()))?;
    for r in rows {
        let res = &r["result"];
        let us = |role: &str| num(res, &["roles", role, "us_per_event"]);
        let total: f64 = PIPELINE.iter().filter_map(|role| us(role)).sum();
        let cells: Vec<String> = roles.iter().map(|role| cell(us(role))).collect();
        writeln!(
            out,
            "| {} | {} | {} | {:.3} |",
            text(r, &["at"]),
            res["events"],
            cells.join(" | "),
            total / 1000.0
        )?;
    }
    writeln!(out)
}

fn webhooks(out: &mut String, rows: &[&Value]) -> std::fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let raw = |r: &&&Value| text(r, &["result", "target"]) == "raw-http";
    let rounds: Vec<&&Value> = rows.iter().filter(raw).collect();
    if !rounds.is_empty() {
        writeln!(
            out,
            "### webhook-out vs a raw keep-alive HTTP loop (64 connections, same receiver)\n"
        )?;
        writeln!(
            out,
            "| round | raw HTTP req/s | webhook-out, 1 endpoint, deliveries/s | webhook-out / raw | load avg |"
        )?;
        writeln!(out, "|---|---|---|---|---|")?;
        for r in rounds {
            let wh = rows.iter().find(|w| {
                w["round"] == r["round"] && text(w, &["result", "target"]) == "webhook-out"
            });
            let a = num(r, &["result", "accepted_per_sec"]);
            let b = wh.and_then(|w| num(w, &["result", "deliveries_per_sec"]));
            let ratio = match (a, b) {
                (Some(a), Some(b)) if a > 0.0 => format!("{:.0} %", b / a * 100.0),
                _ => "–".into(),
            };
            writeln!(
                out,
                "| {} | {} | {} | {ratio} | {} |",
                r["round"],
                cell(a),
                cell(b),
                wh.map_or("", |w| text(w, &["load_average"])),
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "### webhook-out deliveries to a local 200 receiver\n")?;
    writeln!(
        out,
        "| webhooks | events | delivered | deliveries /s | seconds | load avg |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for r in rows.iter().filter(|r| !raw(r)) {
        let res = &r["result"];
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            res["webhooks"],
            res["events"],
            res["delivered"],
            cell(num(res, &["deliveries_per_sec"])),
            cell(num(res, &["seconds"])),
            text(r, &["load_average"]),
        )?;
    }
    writeln!(out)
}

fn delivered(out: &mut String, rows: &[&Value]) -> std::fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "### Edge → delivered (edge, dedupe, webhook-out; flood)\n"
    )?;
    writeln!(
        out,
        "| webhooks | accepted | edge accepted /s | delivered | seconds | delivered /s | load avg |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for r in rows {
        let res = &r["result"];
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            res["webhooks"],
            res["accepted"],
            cell(num(res, &["accepted_per_sec"])),
            res["delivered"],
            cell(num(res, &["seconds"])),
            cell(num(res, &["delivered_per_sec"])),
            text(r, &["load_average"]),
        )?;
    }
    writeln!(out)
}

fn memory(out: &mut String, fills: &[&Value], rss: &[&Value]) -> std::fmt::Result {
    if !fills.is_empty() {
        writeln!(out, "### dedupe filled with distinct keys\n")?;
        writeln!(out, "| keys | judged /s | seconds | drained |")?;
        writeln!(out, "|---|---|---|---|")?;
        for r in fills {
            let res = &r["result"];
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                res["events"],
                cell(num(res, &["judged_per_sec"])),
                cell(num(res, &["seconds"])),
                res["drained"],
            )?;
        }
        writeln!(out)?;
    }
    if !rss.is_empty() {
        writeln!(out, "### Resident memory (VmRSS; VmHWM = peak)\n")?;
        writeln!(out, "| when | service | RSS MiB | peak MiB |")?;
        writeln!(out, "|---|---|---|---|")?;
        for r in rss {
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                text(r, &["at"]),
                text(r, &["service"]),
                cell(num(r, &["result", "rss_mib"])),
                cell(num(r, &["result", "hwm_mib"])),
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}
