//! Building blocks shared by every endpoint's generators: broken JSON,
//! wrong-typed values, over-long text, absurd headers, odd methods.
//!
//! Every strategy here is built so its output is *definitely* invalid for
//! the purpose it names (a proper prefix of a JSON object never parses; a
//! float is never a whole number; …): a 2xx to any of it is a bug.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// JSON object strategy.
pub type Obj = BoxedStrategy<Map<String, Value>>;

/// Header names and values, as raw bytes.
pub type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// Bytes that are never valid inside a JSON string: invalid UTF-8, raw
/// control characters.
const BAD_STRING_BYTES: &[&[u8]] = &[
    &[0xff],
    &[0x80],
    &[0xc3, 0x28],
    &[0xe2, 0x82],
    &[0xed, 0xa0, 0x80],
    &[0xf8, 0x88, 0x80, 0x80, 0x80],
    &[0xc0, 0xaf],
    &[0x01],
    &[0x0a],
    &[0x1f],
    b"\\x41",
    b"\\u12G4",
    b"\\ud800",
    b"\\udc00x",
    b"\\q",
    b"\\",
];

/// What may follow a complete JSON value and make the body invalid.
const TRAILING: &[&str] = &[",", "}", "]", "x", "\"", "{", " 1", "\n{}", "null", "\u{0}"];

/// JSON texts that parse but are not objects.
const NOT_OBJECTS: &[&str] = &[
    "[]", "[1,2]", "[{}]", "1", "-0.5", "1e400", "\"text\"", "null", "true", "false", "\"{}\"",
];

fn marker_body(obj: &Map<String, Value>, marker_field: &str) -> (Vec<u8>, usize) {
    let mut obj = obj.clone();
    obj.insert(marker_field.into(), json!("ZZMARKZZ"));
    let body = serde_json::to_vec(&obj).expect("serialises");
    let at = body
        .windows(8)
        .position(|w| w == b"ZZMARKZZ")
        .expect("marker present");
    (body, at)
}

/// A body that is not a JSON object at all, built from `valid` objects.
pub fn broken_json(valid: Obj) -> BoxedStrategy<(&'static str, Vec<u8>)> {
    prop_oneof![
        // Any proper prefix of a serialised object is invalid JSON.
        (valid.clone(), 0.0..1.0f64).prop_map(|(m, f)| {
            let b = serde_json::to_vec(&m).expect("serialises");
            let cut = ((b.len() as f64 * f) as usize).min(b.len() - 1);
            ("truncated json", b[..cut].to_vec())
        }),
        (valid.clone(), select(TRAILING)).prop_map(|(m, t)| {
            let mut b = serde_json::to_vec(&m).expect("serialises");
            b.extend_from_slice(t.as_bytes());
            ("trailing garbage", b)
        }),
        (valid.clone(), select(BAD_STRING_BYTES)).prop_map(|(m, bad)| {
            let (mut b, at) = marker_body(&m, "title");
            b.splice(at..at + 8, bad.iter().copied());
            ("invalid utf-8 or escape in a string", b)
        }),
        select(NOT_OBJECTS).prop_map(|t| ("json but not an object", t.as_bytes().to_vec())),
        "[^{ \t\r\n]\\PC{0,60}".prop_map(|t| ("random text", t.into_bytes())),
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_filter("cannot start an object", |b| {
                b.iter()
                    .find(|c| !c.is_ascii_whitespace())
                    .is_none_or(|c| *c != b'{')
            })
            .prop_map(|b| ("random bytes", b)),
    ]
    .boxed()
}

/// A JSON value that is never a string (nor null: null means "absent").
pub fn not_a_string() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9..1e9f64).prop_map(|f| json!(f)),
        prop::collection::vec(any::<i32>(), 0..3).prop_map(|v| json!(v)),
        "[a-z]{0,5}".prop_map(|k| json!({ k: 1 })),
    ]
    .boxed()
}

/// A JSON value that is neither a string nor a whole number (ids accept both).
pub fn not_an_id() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        // Serialised with a fraction or exponent, so never a whole number.
        (-1e9..1e9f64).prop_map(|f| json!(f)),
        prop::collection::vec("[a-z]{1,3}", 0..3).prop_map(|v| json!(v)),
        "[a-z]{0,5}".prop_map(|k| json!({ k: "v" })),
    ]
    .boxed()
}

/// A `gdpr` value that is no flag.
pub fn bad_gdpr() -> BoxedStrategy<Value> {
    const FLAGS: &[&str] = &["1", "true", "yes", "on", "0", "false", "no", "off", ""];
    prop_oneof![
        (2..100_000i64).prop_map(Value::from),
        (-100_000..0i64).prop_map(Value::from),
        (0.1..0.9f64).prop_map(|f| json!(f)),
        Just(json!([])),
        Just(json!({"on": true})),
        "[a-z]{1,8}"
            .prop_filter("not a flag word", |s| !FLAGS.contains(&s.as_str()))
            .prop_map(Value::from),
    ]
    .boxed()
}

/// A text of exactly `len` characters (mixing 1-, 2- and 4-byte ones) with
/// no whitespace at either end: over a cap by characters, not bytes.
pub fn long_text(len: usize, seed: u8) -> String {
    const CHARS: [char; 5] = ['a', 'é', '😀', 'z', '中'];
    (0..len)
        .map(|i| CHARS[(i + seed as usize) % CHARS.len()])
        .collect()
}

/// A content type that is not `event`, `resource` or `news`.
pub fn unknown_content_type() -> BoxedStrategy<String> {
    prop_oneof![
        "[A-Za-z_]{1,12}".prop_filter("unknown", |s| !matches!(
            s.as_str(),
            "event" | "resource" | "news"
        )),
        select(
            &[
                "Event",
                "EVENT",
                "events",
                "blog",
                "page",
                "événement",
                "news!"
            ][..]
        )
        .prop_map(String::from),
    ]
    .boxed()
}

/// Methods no collection endpoint serves (HTTP methods are case-sensitive:
/// `post` is not `POST`).
pub fn wrong_method(allowed: &'static str) -> BoxedStrategy<&'static str> {
    const ALL: &[&str] = &[
        "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "post", "M-SEARCH",
    ];
    select(ALL)
        .prop_filter("not the allowed one", move |m| *m != allowed)
        .boxed()
}

/// Content-Type values that are not JSON.
pub fn not_json_content_type() -> BoxedStrategy<Option<Vec<u8>>> {
    const TYPES: &[&str] = &[
        "text/plain",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
        "application/json-patch",
        "json",
        "",
        "*/*",
        "application/",
        "application/vnd.api",
        ";application/json",
    ];
    prop_oneof![
        Just(None),
        select(TYPES).prop_map(|t| Some(t.as_bytes().to_vec())),
        Just(Some("application/jsön".as_bytes().to_vec())),
    ]
    .boxed()
}

/// Odd headers. `severe` ones may exceed the server's header limits (too
/// many, too long); mild ones stay within them, so a valid body must still
/// be accepted.
pub fn absurd_headers(severe: bool) -> BoxedStrategy<(&'static str, Headers)> {
    let (long, many) = if severe {
        (60_000usize, 150usize)
    } else {
        (16_000, 40)
    };
    prop_oneof![
        ("x-[a-z]{1,10}", 1_000..long)
            .prop_map(|(n, len)| { ("very long header", vec![(n.into_bytes(), vec![b'a'; len])]) }),
        (10..many).prop_map(|n| {
            let hs = (0..n)
                .map(|i| (format!("x-h{i}").into_bytes(), format!("v{i}").into_bytes()))
                .collect();
            ("many headers", hs)
        }),
        (
            select(
                &[
                    "user-agent",
                    "x-forwarded-for",
                    "accept-language",
                    "referer",
                    "cookie",
                    "x-real-ip"
                ][..]
            ),
            prop::collection::vec(0x80u8..=0xff, 1..300)
        )
            .prop_map(|(n, v)| ("non-ascii header", vec![(n.as_bytes().to_vec(), v)])),
        (1..8_000usize).prop_map(|len| {
            let mut ua = b"Mozilla/5.0 (X11; Linux x86_64) ".to_vec();
            ua.extend(std::iter::repeat_n(b'x', len));
            ("very long user agent", vec![(b"user-agent".to_vec(), ua)])
        }),
        "[ -~]{0,200}".prop_map(|v| {
            (
                "garbage forwarding headers",
                vec![
                    (b"x-forwarded-for".to_vec(), v.clone().into_bytes()),
                    (b"forwarded".to_vec(), v.into_bytes()),
                ],
            )
        }),
    ]
    .boxed()
}
