//! Reading everything a stack keeps — every stream message, every table
//! row — as text, to look for what must never be kept.

use crate::stack::Stack;
use hookline_core::nats::Nats;

/// Every message of every stream and KV bucket of the stack, as text
/// (payload and headers).
pub async fn stream_texts(stack: &Stack) -> Vec<(String, String)> {
    use futures::TryStreamExt;
    let nats = Nats::connect(&stack.config.nats).await.expect("NATS");
    let prefix = &stack.config.nats.prefix;
    let names: Vec<String> = nats
        .js
        .stream_names()
        .try_collect()
        .await
        .expect("stream names");
    let mut out = Vec::new();
    for name in names
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}_")) || n.starts_with(&format!("KV_{prefix}_")))
    {
        let mut stream = nats.js.get_stream(&name).await.expect("stream");
        let state = stream.info().await.expect("info").state.clone();
        if state.messages == 0 {
            continue;
        }
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(m) = stream.get_raw_message(seq).await {
                let text = format!(
                    "{} {:?} {}",
                    m.subject,
                    m.headers,
                    String::from_utf8_lossy(&m.payload)
                );
                out.push((name.clone(), text));
            }
        }
    }
    out
}

/// Every row of every table of a database, as text.
pub async fn table_texts(url: &str) -> Vec<(String, String)> {
    let pool = sqlx::PgPool::connect(url).await.expect("database");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut out = Vec::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&pool)
            .await
            .expect("rows");
        out.extend(rows.into_iter().map(|r| (table.clone(), r)));
    }
    pool.close().await;
    out
}

pub fn assert_absent(place: &str, texts: &[(String, String)], needles: &[&str]) {
    for (where_, text) in texts {
        for needle in needles {
            assert!(
                !text.contains(needle),
                "{place} {where_} holds {needle:?}: {text}"
            );
        }
    }
}

pub fn assert_present(place: &str, texts: &[(String, String)], needle: &str) {
    assert!(
        texts.iter().any(|(_, t)| t.contains(needle)),
        "{place}: the scan never saw {needle:?} — it is not reading the data"
    );
}
