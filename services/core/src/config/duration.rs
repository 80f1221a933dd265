//! Durations as the strings people write (`24h`, `10m`, `5s`).

use std::time::Duration;

/// Parses `24h`, `10m`, `5s`, `1h 30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration like 24h, 10m or 5s ({e})"))
}

fn format(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

/// Serde for one duration string.
pub mod serde_duration {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `1h 30m`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    /// Reads `1h 30m`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde for a list of duration strings.
pub mod serde_durations {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    /// Writes `["5s", "30s"]`.
    pub fn serialize<S: Serializer>(ds: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ds.len()))?;
        for d in ds {
            seq.serialize_element(&format(d))?;
        }
        seq.end()
    }

    /// Reads `["5s", "30s"]`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| parse_duration(s).map_err(serde::de::Error::custom))
            .collect()
    }
}
