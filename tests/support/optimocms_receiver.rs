//! The OptimoCMS vendor guide's Express receiver, transcribed line for line,
//! to check that what webhook-out's `optimocms` profile sends is accepted by
//! a receiver written exactly like the guide's.
//!
//! Guide (Step 2 and Step 3): `express.raw({ type: 'application/json' })`,
//! then `verifySignature(req.body, signature, timestamp)` with
//! `WEBHOOK_SECRET` the secret string as shown, `whsec_` included; 401
//! `{ error: 'Invalid signature' }` or 200 `{ received: true }`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

/// One delivery the receiver saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Whether `verifySignature` passed (200) or not (401).
    pub accepted: bool,
    /// The `webhook-id` header.
    pub webhook_id: Option<String>,
    /// `JSON.parse(req.body.toString())`, for accepted deliveries.
    pub event: Value,
}

/// A running receiver.
pub struct Receiver {
    /// Its URL (`/webhooks/optimocms`, as in the guide).
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on 127.0.0.1 with `secret` as `OPTIMOCMS_WEBHOOK_SECRET`.
    pub async fn start(secret: &str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = (secret.to_string(), seen.clone());
        let app = axum::Router::new()
            .route("/webhooks/optimocms", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/webhooks/optimocms",
            listener.local_addr().unwrap()
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, seen, task }
    }

    /// Every delivery so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ReceiverState = (String, Arc<Mutex<Vec<Seen>>>);

async fn receive(
    State((secret, seen)): State<ReceiverState>,
    headers: HeaderMap,
    raw: Bytes,
) -> (StatusCode, Json<Value>) {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    // express.raw({ type: 'application/json' }): a Buffer only for JSON;
    // otherwise req.body is `{}`, whose toString() is "[object Object]".
    let is_json = header("content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    let body: &[u8] = if is_json { &raw } else { b"[object Object]" };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let ok = verify_signature(
        &secret,
        body,
        header("x-optimocms-signature"),
        header("x-optimocms-timestamp"),
        now_ms,
    );
    let event = if ok {
        serde_json::from_str(&String::from_utf8_lossy(body)).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    seen.lock().unwrap().push(Seen {
        accepted: ok,
        webhook_id: header("webhook-id").map(str::to_string),
        event,
    });
    if ok {
        (StatusCode::OK, Json(json!({"received": true})))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Invalid signature"})),
        )
    }
}

/// The guide's `verifySignature(body, signature, timestamp)`, with
/// JavaScript's semantics where they matter: `!""` is true, `parseInt`
/// reads leading digits (NaN makes `ageMs > …` false), the payload uses the
/// timestamp header as sent, `body.toString()` decodes UTF-8 lossily and
/// `Buffer.from(s, 'hex')` stops at the first pair that is not hex.
pub fn verify_signature(
    secret: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_ms: i64,
) -> bool {
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return false;
    };
    if signature.is_empty() || timestamp.is_empty() {
        return false;
    }
    if let Some(timestamp_ms) = parse_int(timestamp) {
        let age_ms = now_ms - timestamp_ms;
        if age_ms > 5 * 60 * 1000 {
            return false;
        }
    }
    let payload = format!("{timestamp}.{}", String::from_utf8_lossy(body));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    let expected = mac.finalize().into_bytes().to_vec();
    let received = buffer_from_hex(signature);
    if expected.len() != received.len() {
        return false;
    }
    // crypto.timingSafeEqual
    expected
        .iter()
        .zip(&received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// `parseInt(s, 10)`: optional whitespace and sign, then leading digits.
fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<i64>().ok().map(|v| sign * v)
}

/// `Buffer.from(s, 'hex')`.
fn buffer_from_hex(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    for pair in b.chunks_exact(2) {
        let Ok(text) = std::str::from_utf8(pair) else {
            break;
        };
        match u8::from_str_radix(text, 16) {
            Ok(v) if pair.iter().all(u8::is_ascii_hexdigit) => out.push(v),
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same vector as the signing module's, computed with Node.
    const SECRET: &str = "whsec_k7x9m2p4q8r1t5w3";
    const BODY: &str = r#"{"id":"evt_1","type":"form.submitted","created_at":"2026-05-26T14:00:00.000Z","data":{"formId":"frm_1"}}"#;
    const SIG: &str = "cc0fc80beb0123d0e1d73ebcf2d610e10e916c208a9061d96268ab1ff33f7356";
    const TS: i64 = 1_779_804_000_000;

    #[test]
    fn accepts_the_node_vector_and_refuses_what_the_guide_refuses() {
        let ts = TS.to_string();
        let check = |body: &str, sig: &str, ts: &str, now: i64| {
            verify_signature(SECRET, body.as_bytes(), Some(sig), Some(ts), now)
        };
        assert!(check(BODY, SIG, &ts, TS + 1000));
        assert!(!check(BODY, SIG, &ts, TS + 5 * 60 * 1000 + 1), "too old");
        assert!(
            !check(&BODY.replace("frm_1", "frm_2"), SIG, &ts, TS),
            "body changed"
        );
        assert!(!check(BODY, &SIG[..62], &ts, TS), "short");
        assert!(
            !check(BODY, SIG, &(TS + 1).to_string(), TS),
            "timestamp changed"
        );
        assert!(!verify_signature(
            SECRET,
            BODY.as_bytes(),
            None,
            Some(&ts),
            TS
        ));
        assert!(!verify_signature(
            "k7x9m2p4q8r1t5w3",
            BODY.as_bytes(),
            Some(SIG),
            Some(&ts),
            TS
        ));
    }
}
