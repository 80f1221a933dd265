//! Which entries an operator means: named ones, or `--all` of a stream or a
//! consumer; and `--since` as a duration back from now or a time.

use super::{DlqError, Filter, Side, list, parse_ref};
use crate::names::Names;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A request to act on dead letters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Entries by reference: `12`, `rc:12`, `crm:7`.
    #[serde(default)]
    pub entries: Vec<String>,
    /// Every entry (of `stream` and `consumer`, when given) instead; a
    /// `consumer` without `entries` implies it.
    #[serde(default)]
    pub all: bool,
    /// With `all`: one stream only.
    pub stream: Option<Side>,
    /// With `all`: one consumer or webhook id only.
    pub consumer: Option<String>,
    /// Redrive only: say what would happen, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Selection {
    /// The entry references the selection names, listing the streams for
    /// `all` (a consumer without entries means all of that consumer's).
    /// Refuses a selection that names nothing, or both entries and `all`.
    pub async fn refs(
        &self,
        js: &jetstream::Context,
        names: &Names,
    ) -> Result<Vec<(Option<Side>, u64)>, DlqError> {
        let all = self.all || (self.entries.is_empty() && self.consumer.is_some());
        match (all, self.entries.is_empty()) {
            (true, false) => Err(DlqError::Selection(
                "name entries or use `all`, not both".into(),
            )),
            (false, true) => Err(DlqError::Selection(
                "no entries named: give sequence numbers or use `all`".into(),
            )),
            (false, false) => self
                .entries
                .iter()
                .map(|e| {
                    let (side, seq) = parse_ref(e)?;
                    Ok((side.or(self.stream), seq))
                })
                .collect(),
            (true, true) => {
                let filter = Filter {
                    side: self.stream,
                    consumer: self.consumer.clone(),
                    since: None,
                    limit: 0,
                };
                Ok(list(js, names, &filter)
                    .await?
                    .into_iter()
                    .map(|e| (Some(e.stream), e.seq))
                    .collect())
            }
        }
    }
}

/// `2h`, `30m`, … back from `now`, or an RFC 3339 time.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, DlqError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(s).map_err(|_| {
        DlqError::Selection(format!(
            "since {s:?}: expected a duration like 2h or an RFC 3339 time"
        ))
    })?;
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| DlqError::Selection(format!("since {s:?} is too far back")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_duration_back_or_a_time() {
        let now = DateTime::parse_from_rfc3339("2026-10-13T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("2h", now).unwrap().to_rfc3339(),
            "2026-10-13T06:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-10-13T07:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-10-13T07:00:00+00:00"
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}
