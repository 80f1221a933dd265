//! Least privilege on the bus: one NATS user per role, each allowed to
//! publish and subscribe only where that role's code does, as a nats-server
//! `accounts { … }` block (what `hookline nats-config` prints).
//!
//! Who may do what, and why:
//! - `admin` (`hookline migrate`, `lag`, operators) holds the whole
//!   JetStream API of the account: it creates and updates streams and KV
//!   buckets, so no service can reshape or delete them.
//! - Each service may read stream and consumer info of the stack (its own
//!   declaration compares before it creates, and every service exports lag
//!   figures), and create only the durables it consumes through: they carry
//!   its own settings (ack wait, max deliveries, back-off).
//! - Only `edge` publishes `rc.raw.>`, only `dedupe` `rc.events.>` and the
//!   dedupe buckets, only `ingest` `crm.events.>` and the CRM form bucket
//!   (`crm_form_dedupe`); dead letters come from
//!   `webhook-out` (`rc.dlq.>`), `dedupe` (`rc.dlq.dedupe`) and `consumers`
//!   (`crm.dlq.>`).
//! - `edge` may also read `RC_EVENTS` through ephemeral consumers, for
//!   `GET /api/health-sync`.
//! - `webhook-out` may also read (never write) the other streams, for the
//!   admin API's event traces and resends; redriving or purging dead letters
//!   republishes events or deletes entries, so only `admin` (`hookline dlq`)
//!   may.
//! - Replies (PubAcks, API answers, pulled messages) reach each role only on
//!   its own inbox prefix, so no role reads another's answers.
//!
//! Every name goes through [`Names`], so a config generated for a
//! `nats.prefix` fits exactly that stack.

use crate::event::EventType;
use crate::names::{self, Names};
use std::fmt::Write;

/// The roles, in the order they are written.
pub const ROLES: [&str; 6] = [
    "edge",
    "dedupe",
    "webhook-out",
    "ingest",
    "consumers",
    "admin",
];

/// The NATS user name of a role under a prefix: `edge`, or `<prefix>-edge`,
/// so stacks sharing a server have distinct users.
pub fn user_name(names: &Names, role: &str) -> String {
    match names.prefix() {
        "" => role.to_string(),
        p => format!("{p}-{role}"),
    }
}

/// The inbox prefix a user's replies arrive on (`_INBOX_<user>`): the
/// value of that service's `nats.inbox_prefix`.
pub fn inbox_prefix(user: &str) -> String {
    format!("_INBOX_{user}")
}

/// The environment variable nats-server reads a role's password from.
pub fn password_variable(role: &str) -> String {
    format!(
        "HOOKLINE_NATS_{}_PASSWORD",
        role.to_ascii_uppercase().replace('-', "_")
    )
}

/// Publish and subscribe allow-lists of one role.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects the role may publish to.
    pub publish: Vec<String>,
    /// Subjects the role may subscribe to.
    pub subscribe: Vec<String>,
}

/// The JetStream API subject root.
const API: &str = "$JS.API";

/// The permissions of `role` under `names`.
pub fn permissions(names: &Names, role: &str) -> Permissions {
    let mut publish = match role {
        "edge" => edge(names),
        "dedupe" => dedupe(names),
        "webhook-out" => webhook_out(names),
        "ingest" => ingest(names),
        "consumers" => consumers(names),
        "admin" => vec![format!("{API}.>")],
        other => panic!("unknown NATS role {other:?}"),
    };
    if role != "admin" {
        publish.extend(inspect(names));
    }
    Permissions {
        publish,
        subscribe: vec![format!("{}.>", inbox_prefix(&user_name(names, role)))],
    }
}

/// Durables a role creates and pulls from, and acknowledges.
fn durables(stream: &str, consumer: &str) -> Vec<String> {
    vec![
        format!("{API}.CONSUMER.CREATE.{stream}.{consumer}"),
        format!("{API}.CONSUMER.CREATE.{stream}.{consumer}.>"),
        format!("{API}.CONSUMER.DURABLE.CREATE.{stream}.{consumer}"),
        format!("{API}.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
        format!("$JS.ACK.{stream}.{consumer}.>"),
    ]
}

/// Reading a stream by start time through ephemeral ordered consumers:
/// creating, pulling and removing those, never a durable, never a publish
/// to the stream.
fn ephemeral_reader(stream: &str) -> [String; 4] {
    [
        format!("{API}.CONSUMER.CREATE.{stream}"),
        format!("{API}.CONSUMER.CREATE.{stream}.>"),
        format!("{API}.CONSUMER.MSG.NEXT.{stream}.*"),
        format!("{API}.CONSUMER.DELETE.{stream}.*"),
    ]
}

/// `edge`: publishes raw events; `GET /api/health-sync` reads `RC_EVENTS`.
fn edge(names: &Names) -> Vec<String> {
    let mut publish = vec![names.subject("rc.raw.>")];
    publish.extend(ephemeral_reader(&names.stream(names::RC_EVENTS)));
    publish
}

/// `dedupe`: its durable on `RC_RAW`, the dedupe buckets, `RC_EVENTS`.
fn dedupe(names: &Names) -> Vec<String> {
    let mut publish = vec![names.subject("rc.events.>")];
    for (kind, kv) in EventType::ALL.iter().zip(kv_streams(names)) {
        publish.push(format!("$KV.{}.>", names.dedupe_bucket(*kind)));
        publish.push(format!("{API}.DIRECT.GET.{kv}.>"));
        publish.push(format!("{API}.STREAM.MSG.GET.{kv}"));
    }
    publish.extend(durables(&names.stream(names::RC_RAW), "dedupe"));
    // Raw messages it cannot read go to its own dead-letter subject.
    publish.push(names.subject("rc.dlq.dedupe"));
    publish
}

/// `webhook-out`: one durable per webhook, dead letters, and reading (never
/// writing) the other streams for traces and resends.
fn webhook_out(names: &Names) -> Vec<String> {
    let mut publish = vec![names.subject("rc.dlq.>")];
    let events = names.stream(names::RC_EVENTS);
    // One durable per webhook (created and deleted with it) and the
    // ordered consumers of replays.
    publish.push(format!("{API}.CONSUMER.CREATE.{events}"));
    publish.extend(durables(&events, "*"));
    publish.push(format!("{API}.CONSUMER.DELETE.{events}.*"));
    // Its janitor lists the durables to remove those of deleted webhooks.
    publish.push(format!("{API}.CONSUMER.NAMES.{events}"));
    // Event traces and resends (`/v1/events/{id}`, `…/resend/…`) read the
    // streams: single messages by sequence (`STREAM.MSG.GET`, below) and
    // ranges from a start time (ephemeral consumers); reading only.
    // Redriving and purging dead letters republish or delete: `hookline
    // dlq` as `admin` does that.
    let read = [
        names::RC_RAW,
        names::CRM_EVENTS,
        names::RC_DLQ,
        names::CRM_DLQ,
    ];
    for base in read {
        publish.extend(ephemeral_reader(&names.stream(base)));
    }
    for base in [
        names::RC_RAW,
        names::RC_EVENTS,
        names::CRM_EVENTS,
        names::RC_DLQ,
        names::CRM_DLQ,
    ] {
        publish.push(format!("{API}.STREAM.MSG.GET.{}", names.stream(base)));
    }
    publish
}

/// `ingest`: `CRM_EVENTS` and the form fingerprints (create a key, read its
/// first event id).
fn ingest(names: &Names) -> Vec<String> {
    let bucket = names.crm_form_bucket();
    vec![
        names.subject("crm.events.>"),
        format!("$KV.{bucket}.>"),
        format!("{API}.DIRECT.GET.KV_{bucket}.>"),
        format!("{API}.STREAM.MSG.GET.KV_{bucket}"),
    ]
}

/// `consumers`: their durables on `CRM_EVENTS` and their dead letters.
fn consumers(names: &Names) -> Vec<String> {
    let mut publish = vec![names.subject("crm.dlq.>")];
    publish.extend(durables(&names.stream(names::CRM_EVENTS), "*"));
    publish
}

/// The streams behind the stack's KV buckets (`KV_<bucket>`).
fn kv_streams(names: &Names) -> Vec<String> {
    names.buckets().iter().map(|b| format!("KV_{b}")).collect()
}

/// Stream and consumer info of every stream and bucket of the stack, which
/// every service but `admin` (who holds the whole API) reads: declaration
/// compares before it creates, and every service exports lag figures.
fn inspect(names: &Names) -> Vec<String> {
    let streams = [
        names::RC_RAW,
        names::RC_EVENTS,
        names::RC_DLQ,
        names::CRM_EVENTS,
        names::CRM_DLQ,
    ]
    .map(|base| names.stream(base));
    let mut publish = Vec::new();
    for s in streams.iter().chain(&kv_streams(names)) {
        publish.push(format!("{API}.STREAM.INFO.{s}"));
        publish.push(format!("{API}.CONSUMER.LIST.{s}"));
        publish.push(format!("{API}.CONSUMER.INFO.{s}.*"));
    }
    publish
}

/// The `accounts { … }` block of a nats-server config: one account,
/// `HOOKLINE`, with JetStream, and one user per role whose password
/// nats-server reads from the environment ([`password_variable`]).
pub fn server_config(names: &Names) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# One account for hookline, one user per role, each allowed only the\n\
         # subjects its code uses. Generated by `hookline nats-config`{}; regenerate\n\
         # it rather than editing. Passwords come from the environment of\n\
         # nats-server ({}, …).\n",
        match names.prefix() {
            "" => String::new(),
            p => format!(" for nats.prefix {p:?}"),
        },
        password_variable("edge"),
    );
    out.push_str("accounts {\n  HOOKLINE {\n    jetstream: enabled\n    users: [\n");
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| format!("            {s:?}\n"))
            .collect::<String>()
    };
    for role in ROLES {
        let p = permissions(names, role);
        let _ = write!(
            out,
            "      {{\n        user: {:?}\n        password: ${}\n        permissions: {{\n\
             \x20         publish: {{ allow: [\n{}          ] }}\n\
             \x20         subscribe: {{ allow: [\n{}          ] }}\n        }}\n      }}\n",
            user_name(names, role),
            password_variable(role),
            list(&p.publish),
            list(&p.subscribe),
        );
    }
    out.push_str("    ]\n  }\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publishers(names: &Names, subject: &str) -> Vec<&'static str> {
        ROLES
            .into_iter()
            .filter(|r| permissions(names, r).publish.iter().any(|s| s == subject))
            .collect()
    }

    #[test]
    fn only_the_owning_role_publishes_each_event_subject() {
        let names = Names::new("p1");
        assert_eq!(publishers(&names, "p1.rc.raw.>"), ["edge"]);
        assert_eq!(publishers(&names, "p1.rc.events.>"), ["dedupe"]);
        assert_eq!(publishers(&names, "p1.crm.events.>"), ["ingest"]);
        assert_eq!(publishers(&names, "$KV.p1_crm_form_dedupe.>"), ["ingest"]);
        assert_eq!(
            publishers(&names, "$KV.p1_rc_dedupe_form_submission.>"),
            ["dedupe"]
        );
        assert_eq!(publishers(&names, "$JS.API.>"), ["admin"]);
        for role in ROLES {
            let p = permissions(&names, role);
            assert_eq!(p.subscribe, [format!("_INBOX_p1-{role}.>")]);
            if role != "admin" {
                assert!(
                    p.publish.iter().all(|s| s.contains("p1")),
                    "{role} may use a subject outside its stack: {p:?}"
                );
                assert!(!p.publish.iter().any(|s| s.contains("STREAM.DELETE")
                    || s.contains("STREAM.UPDATE")
                    || s.contains("STREAM.CREATE")));
            }
        }
    }

    #[test]
    fn the_shipped_accounts_file_is_the_generated_one() {
        let shipped = include_str!("../../../../deploy/nats/secured/accounts.conf");
        assert_eq!(
            shipped,
            server_config(&Names::default()),
            "regenerate deploy/nats/secured/accounts.conf with `hookline nats-config`"
        );
    }
}
