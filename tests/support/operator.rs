//! Operator mode (JWT) minted at test time with the `nkeys` crate: an
//! operator, an account it signs, users the account signs, and the `.creds`
//! files `nats.creds_file` reads, in the format `nsc` writes. The server
//! learns the operator and the account from its config (memory resolver).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};

/// An operator and one account, ready to sign users.
pub struct Operator {
    operator: KeyPair,
    account: KeyPair,
}

/// A JWT: header, claims, and the issuer's ed25519 signature over both.
fn sign(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let claims = json!({
        "jti": uuid::Uuid::now_v7().simple().to_string().to_uppercase(),
        "iat": chrono::Utc::now().timestamp(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let body = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer.sign(body.as_bytes()).expect("sign");
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(signature))
}

impl Operator {
    /// A fresh operator and account.
    pub fn new() -> Self {
        Self {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
        }
    }

    /// The server config lines that trust this operator and preload the
    /// account.
    pub fn server_config(&self) -> String {
        let op = self.operator.public_key();
        let operator_jwt = sign(
            &self.operator,
            &op,
            "test-operator",
            json!({"type": "operator", "version": 2}),
        );
        let account_jwt = sign(
            &self.operator,
            &self.account.public_key(),
            "hookline",
            json!({
                "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                    "exports": -1, "wildcards": true, "conn": -1, "leaf": -1},
                "default_permissions": {"pub": {}, "sub": {}},
                "type": "account", "version": 2
            }),
        );
        format!(
            "operator: {operator_jwt:?}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {account_jwt:?}\n}}\n",
            self.account.public_key()
        )
    }

    /// A `.creds` file's text for a new user of this account.
    pub fn user_creds(&self) -> String {
        creds(&self.account)
    }
}

impl Default for Operator {
    fn default() -> Self {
        Self::new()
    }
}

/// A `.creds` file's text for a user signed by `account` (which the server
/// may or may not know).
pub fn creds(account: &KeyPair) -> String {
    let user = KeyPair::new_user();
    let jwt = sign(
        account,
        &user.public_key(),
        "hookline-test-user",
        json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2}),
    );
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().expect("seed")
    )
}
