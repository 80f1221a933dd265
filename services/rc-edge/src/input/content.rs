//! `content_published` bodies, from the site's backend.

use super::{Fields, MAX_CHECKSUM, MAX_SHORT, MAX_SLUG, MAX_TITLE, content_type};
use crate::error::ApiError;
use hookline_core::content::{Checksum, ContentPublished};
use serde_json::{Map, Value};

/// Validates a content announcement: every field is required, and
/// `checksum` must be the SHA-256 as 64 hex digits (kept lowercase).
pub fn content_published(obj: &Map<String, Value>) -> Result<ContentPublished, ApiError> {
    let f = Fields(obj);
    let content_type = content_type(&f.required_text("content_type", MAX_SHORT)?)?;
    let content_id = f.required_id("content_id")?;
    let slug = f.required_text("slug", MAX_SLUG)?;
    let title = f.required_text("title", MAX_TITLE)?;
    let checksum = f.required_text("checksum", MAX_CHECKSUM)?;
    let checksum =
        Checksum::parse(&checksum).map_err(|e| ApiError::bad_request(format!("checksum {e}")))?;
    Ok(ContentPublished {
        content_type,
        content_id,
        slug,
        title,
        checksum,
    })
}
