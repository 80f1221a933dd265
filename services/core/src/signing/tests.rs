use super::*;

struct Vector {
    secret: &'static str,
    id: &'static str,
    ts: i64,
    body: &'static str,
    sig: &'static str,
}

/// The Standard Webhooks spec's published test vectors.
const VECTORS: [Vector; 2] = [
    Vector {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
        ts: 1614265330,
        body: r#"{"test": 2432232314}"#,
        sig: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    },
    Vector {
        secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        ts: 1649367553,
        body: r#"{"email":"test@example.com","username":"test_user"}"#,
        sig: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    },
];

fn verify_vector(v: &Vector, body: &str, sig: &str, now: i64) -> Result<(), SignatureError> {
    let secret = Secret::standard(v.secret).unwrap();
    standard::verify(
        &[secret],
        Some(v.id),
        Some(&v.ts.to_string()),
        Some(sig),
        body.as_bytes(),
        now,
        300,
    )
}

#[test]
fn spec_vectors_sign_byte_for_byte() {
    for v in &VECTORS {
        let secret = Secret::standard(v.secret).unwrap();
        assert_eq!(
            standard::sign(&secret, v.id, v.ts, v.body.as_bytes()),
            v.sig
        );
    }
}

#[test]
fn spec_vectors_verify() {
    for v in &VECTORS {
        assert_eq!(verify_vector(v, v.body, v.sig, v.ts), Ok(()));
        assert_eq!(verify_vector(v, v.body, v.sig, v.ts + 299), Ok(()));
        assert_eq!(verify_vector(v, v.body, v.sig, v.ts - 299), Ok(()));
    }
}

#[test]
fn tampered_body_is_refused() {
    let v = &VECTORS[0];
    let tampered = v.body.replace('2', "3");
    assert_eq!(
        verify_vector(v, &tampered, v.sig, v.ts),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn wrong_secret_is_refused() {
    let v = &VECTORS[0];
    let other = Secret::standard(VECTORS[1].secret).unwrap();
    let got = standard::verify(
        &[other],
        Some(v.id),
        Some(&v.ts.to_string()),
        Some(v.sig),
        v.body.as_bytes(),
        v.ts,
        300,
    );
    assert_eq!(got, Err(SignatureError::BadSignature));
}

#[test]
fn stale_and_future_timestamps_are_refused() {
    let v = &VECTORS[0];
    assert_eq!(
        verify_vector(v, v.body, v.sig, v.ts + 301),
        Err(SignatureError::StaleTimestamp)
    );
    assert_eq!(
        verify_vector(v, v.body, v.sig, v.ts - 301),
        Err(SignatureError::FutureTimestamp)
    );
}

#[test]
fn malformed_and_missing_headers_are_named() {
    let v = &VECTORS[0];
    let s = || vec![Secret::standard(v.secret).unwrap()];
    let b = v.body.as_bytes();
    let ts = v.ts.to_string();
    assert_eq!(
        standard::verify(&s(), None, Some(&ts), Some(v.sig), b, v.ts, 300),
        Err(SignatureError::MissingHeader(WEBHOOK_ID))
    );
    assert_eq!(
        standard::verify(&s(), Some(v.id), None, Some(v.sig), b, v.ts, 300),
        Err(SignatureError::MissingHeader(WEBHOOK_TIMESTAMP))
    );
    assert_eq!(
        standard::verify(&s(), Some(v.id), Some(&ts), None, b, v.ts, 300),
        Err(SignatureError::MissingHeader(WEBHOOK_SIGNATURE))
    );
    assert_eq!(
        standard::verify(&s(), Some(v.id), Some("12ab"), Some(v.sig), b, v.ts, 300),
        Err(SignatureError::MalformedHeader(WEBHOOK_TIMESTAMP))
    );
    for bad in ["", "v2,abc", "g0hM9SsE", "v1,!!!"] {
        assert_eq!(
            standard::verify(&s(), Some(v.id), Some(&ts), Some(bad), b, v.ts, 300),
            Err(SignatureError::MalformedHeader(WEBHOOK_SIGNATURE)),
            "{bad:?}"
        );
    }
}

#[test]
fn several_signatures_and_secrets_allow_rotation() {
    let v = &VECTORS[0];
    let header = format!("v1,AAAA v2,zzz {}", v.sig);
    assert_eq!(verify_vector(v, v.body, &header, v.ts), Ok(()));
    let old = Secret::standard(v.secret).unwrap();
    let new = Secret::standard(&Secret::generate()).unwrap();
    let got = standard::verify(
        &[new, old],
        Some(v.id),
        Some(&v.ts.to_string()),
        Some(v.sig),
        v.body.as_bytes(),
        v.ts,
        300,
    );
    assert_eq!(got, Ok(()));
}

#[test]
fn bad_secrets_are_refused() {
    assert_eq!(
        Secret::standard("whsec_***").unwrap_err(),
        SignatureError::BadSecret
    );
    assert_eq!(
        Secret::standard("whsec_").unwrap_err(),
        SignatureError::BadSecret
    );
    assert_eq!(Secret::standard("").unwrap_err(), SignatureError::BadSecret);
    assert_eq!(Secret::legacy("").unwrap_err(), SignatureError::BadSecret);
    assert!(Secret::generate().starts_with(SECRET_PREFIX));
}

#[test]
fn legacy_matches_the_seed_node_code() {
    // Computed with the legacy Node app's signPayload: createHmac("sha256", secret)
    // .update(`${ts}.${body}`).digest("base64").
    let secret = Secret::legacy("super-long-random-shared-secret").unwrap();
    let secrets = std::slice::from_ref(&secret);
    let body = br#"{"api_key":"k","event":"page_view","data":{}}"#;
    let sig = legacy::sign(&secret, 1700000000, body);
    // From node: the legacy Node app's signPayload("super-long-random-shared-secret", body, 1700000000).
    let expected = "HARfck0tIpUl/Uyrtv92Ej8RsYxl2AD/2LdbBj1RItE=";
    assert_eq!(sig, expected);
    let check = |ts: &str, sig: Option<&str>, body: &[u8], now: i64| {
        legacy::verify(secrets, Some(ts), sig, body, now, 300)
    };
    let ok = check("1700000000", Some(&sig), body, 1700000100);
    assert_eq!(ok, Ok(()));
    let tampered = check("1700000000", Some(&sig), b"{}", 1700000000);
    assert_eq!(tampered, Err(SignatureError::BadSignature));
    let stale = check("1700000000", Some(&sig), body, 1700000301);
    assert_eq!(stale, Err(SignatureError::StaleTimestamp));
    let future = check("1700000400", Some(&sig), body, 1700000000);
    assert_eq!(future, Err(SignatureError::FutureTimestamp));
    let missing = check("1700000000", None, body, 1700000000);
    assert_eq!(missing, Err(SignatureError::MissingHeader(X_SIGNATURE)));
    let malformed = check("1700000000", Some("%%%"), body, 1700000000);
    assert_eq!(malformed, Err(SignatureError::MalformedHeader(X_SIGNATURE)));
}
