//! When an event id was minted. Ids are `evt_` + the Crockford base32 of a
//! UUIDv7, whose first 48 bits are the Unix millisecond the edge accepted
//! the event: every hop can tell an event's age, and a trace knows where in
//! each stream to look, without any extra field on the wire.

use chrono::{DateTime, Utc};

/// The UUIDv7 time of an `evt_` id; `None` for other ids (a sender's own,
/// or one derived by crm-ingest from a legacy delivery).
pub fn minted_at(id: &str) -> Option<DateTime<Utc>> {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let digits = id.strip_prefix("evt_")?;
    if digits.len() != 26 {
        return None;
    }
    let mut v: u128 = 0;
    for b in digits.bytes() {
        let d = ALPHABET.iter().position(|&a| a == b)? as u128;
        v = v.checked_mul(32)?.checked_add(d)?;
    }
    if uuid::Uuid::from_u128(v).get_version_num() != 7 {
        return None;
    }
    DateTime::from_timestamp_millis((v >> 80) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventId;

    #[test]
    fn the_mint_time_comes_back_out_of_the_id() {
        let before = Utc::now() - chrono::Duration::milliseconds(1);
        let id = EventId::new();
        let at = minted_at(id.as_str()).expect("a v7 id");
        assert!(at >= before && at <= Utc::now(), "{at}");
        assert_eq!(minted_at("evt_nope"), None);
        assert_eq!(minted_at("legacy-123"), None);
        let v4 = EventId::from_uuid(uuid::Uuid::from_u128(
            0x4000_0000_0000_4000_8000_0000_0000_0000,
        ));
        assert_eq!(minted_at(v4.as_str()), None);
    }
}
