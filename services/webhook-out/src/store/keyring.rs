//! Encryption at rest of webhook secrets and API keys (AES-256-GCM).
//!
//! Keys come from `webhook_out.encryption_keys`: the first seals every new
//! write, every one still opens what it sealed, so keys rotate without
//! downtime: put a new key first, restart, run `hookline webhooks
//! reencrypt`, then drop the old key. A sealed value is
//! `v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`; the key id (first 8
//! hex digits of the key's SHA-256) says which key opens it, and the column
//! name is the associated data, so a value copied into another column does
//! not open. Each value gets a fresh random 96-bit nonce.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_core::config::{ConfigError, decode_encryption_key};
use sha2::{Digest, Sha256};

/// Format tag of sealed values.
const VERSION: &str = "v1";
/// AES-GCM nonce length.
const NONCE_BYTES: usize = 12;

/// Why a stored value does not open.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Not in the `v1:<key id>:<base64>` form.
    #[error("stored secret in {column} is not a sealed value")]
    Malformed {
        /// The column.
        column: &'static str,
    },
    /// Sealed with a key no longer in `webhook_out.encryption_keys`.
    #[error(
        "stored secret in {column} was sealed with key {key_id}, which is not in webhook_out.encryption_keys"
    )]
    UnknownKey {
        /// The column.
        column: &'static str,
        /// The key id in the value.
        key_id: String,
    },
    /// The key is known but authentication failed (tampering, wrong column).
    #[error("stored secret in {column} does not authenticate")]
    Corrupt {
        /// The column.
        column: &'static str,
    },
}

/// The configured keys, first one current.
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keyring {{ key_ids: {ids:?} }}")
    }
}

impl Keyring {
    /// Builds the keyring of `webhook_out.encryption_keys`; at least one key.
    pub fn from_config(entries: &[String]) -> Result<Self, ConfigError> {
        let keys = entries
            .iter()
            .map(|entry| {
                let bytes = decode_encryption_key(entry)?;
                let id = hex8(&Sha256::digest(bytes));
                Ok((id, Aes256Gcm::new(&bytes.into())))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        if keys.is_empty() {
            return Err(ConfigError::Invalid {
                key: "webhook_out.encryption_keys",
                message: "is missing: at least one key is needed".into(),
            });
        }
        Ok(Self { keys })
    }

    /// Id of the key that seals new writes.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `plain` for `column` under the current key.
    pub fn seal(&self, column: &'static str, plain: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: column.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message under 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}:{id}:{}", B64.encode(out))
    }

    /// Opens a value sealed for `column` by any configured key.
    pub fn open(&self, column: &'static str, sealed: &str) -> Result<String, SealError> {
        let malformed = || SealError::Malformed { column };
        let rest = sealed
            .strip_prefix(VERSION)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(malformed)?;
        let (key_id, data) = rest.split_once(':').ok_or_else(malformed)?;
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .ok_or_else(|| SealError::UnknownKey {
                column,
                key_id: key_id.to_string(),
            })?;
        let bytes = B64.decode(data).map_err(|_| malformed())?;
        if bytes.len() < NONCE_BYTES {
            return Err(malformed());
        }
        let (nonce, body) = bytes.split_at(NONCE_BYTES);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: column.as_bytes(),
                },
            )
            .map_err(|_| SealError::Corrupt { column })?;
        String::from_utf8(plain).map_err(|_| SealError::Corrupt { column })
    }

    /// Whether `sealed` is already under the current key.
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .strip_prefix(VERSION)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(id, _)| id == self.current_id())
    }
}

fn hex8(digest: &[u8]) -> String {
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> String {
        B64.encode([n; 32])
    }

    #[test]
    fn seals_opens_and_rotates() {
        let old = Keyring::from_config(&[key(1)]).unwrap();
        let sealed = old.seal("secret", "whsec_abc");
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(sealed, old.seal("secret", "whsec_abc"), "fresh nonce");
        assert_eq!(old.open("secret", &sealed).unwrap(), "whsec_abc");
        assert!(matches!(
            old.open("api_key", &sealed),
            Err(SealError::Corrupt { .. })
        ));

        let rotated = Keyring::from_config(&[key(2), key(1)]).unwrap();
        assert_eq!(rotated.open("secret", &sealed).unwrap(), "whsec_abc");
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal("secret", "x")));

        let new_only = Keyring::from_config(&[key(2)]).unwrap();
        assert!(matches!(
            new_only.open("secret", &sealed),
            Err(SealError::UnknownKey { .. })
        ));
        assert!(matches!(
            new_only.open("secret", "whsec_plain"),
            Err(SealError::Malformed { .. })
        ));
        assert!(!format!("{new_only:?}").contains(&key(2)));
    }
}
