//! Page views, from a JSON body or from the pixel's path and query string.

use super::{Fields, MAX_CHECKSUM, MAX_SHORT, MAX_SLUG, MAX_TITLE, MAX_URL, content_type};
use crate::error::ApiError;
use hookline_core::event::{ContentType, PageView};
use serde_json::{Map, Value};

/// A validated page view and whether the visitor asked for GDPR mode.
#[derive(Clone, Debug, PartialEq)]
pub struct PageViewInput {
    /// The event payload.
    pub view: PageView,
    /// No IP or user agent may be used for this visitor.
    pub gdpr: bool,
}

/// Validates a page view. `base_url` (`edge.public_base_url`) builds the page
/// URL when the client sends none, as the legacy Node app did; UTM parameters not sent
/// as fields are read from the URL's query string.
pub fn page_view(obj: &Map<String, Value>, base_url: &str) -> Result<PageViewInput, ApiError> {
    let f = Fields(obj);
    let ct = content_type(&f.required_text("content_type", MAX_SHORT)?)?;
    let content_id = f.required_id("content_id")?;
    let slug = f.required_text("slug", MAX_SLUG)?;
    let url = match f.text("url", MAX_URL)? {
        Some(u) => {
            hookline_core::web_url::check(&u)
                .map_err(|e| ApiError::bad_request(format!("url {e}")))?;
            u
        }
        None => page_url(base_url, ct, &slug),
    };
    let from_url = utm_from_url(&url, base_url);
    let utm = |name: &str| -> Result<Option<String>, ApiError> {
        Ok(f.text(name, MAX_SHORT)?.or_else(|| {
            from_url
                .iter()
                .find(|(k, v)| k == name && !v.trim().is_empty())
                .map(|(_, v)| v.trim().chars().take(MAX_SHORT).collect())
        }))
    };
    let view = PageView {
        content_type: ct,
        content_id,
        slug,
        title: f.text("title", MAX_TITLE)?,
        community: f.text("community", MAX_SHORT)?,
        contact_id: f.id("contact_id")?,
        url: Some(url),
        content_checksum: f.text("content_checksum", MAX_CHECKSUM)?,
        utm_campaign: utm("utm_campaign")?,
        utm_source: utm("utm_source")?,
        utm_medium: utm("utm_medium")?,
    };
    Ok(PageViewInput {
        view,
        gdpr: f.gdpr()?,
    })
}

/// The pixel's path and query as the same object a JSON page view sends:
/// repeated parameters keep their first value; every value is a string.
pub fn pixel_fields(
    content_type: &str,
    slug_gif: &str,
    query: Option<&str>,
) -> Result<Map<String, Value>, ApiError> {
    let slug = slug_gif.strip_suffix(".gif").ok_or_else(|| {
        ApiError::not_found("pixel paths end in .gif: /t/{content_type}/{slug}.gif")
    })?;
    let mut obj = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        obj.entry(k.into_owned())
            .or_insert_with(|| Value::String(v.into_owned()));
    }
    obj.insert("content_type".into(), Value::String(content_type.into()));
    obj.insert("slug".into(), Value::String(slug.into()));
    Ok(obj)
}

/// `{base}/{content_type}/{slug}`, with the slug percent-encoded.
fn page_url(base: &str, ct: ContentType, slug: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut u) if !u.cannot_be_a_base() => {
            if let Ok(mut segments) = u.path_segments_mut() {
                segments.pop_if_empty().push(ct.as_str()).push(slug);
            }
            u.to_string()
        }
        _ => format!("{}/{}/{slug}", base.trim_end_matches('/'), ct.as_str()),
    }
}

/// Query parameters of a page URL (absolute, or relative to the base).
fn utm_from_url(page: &str, base: &str) -> Vec<(String, String)> {
    let parsed =
        url::Url::parse(page).or_else(|_| url::Url::parse(base).and_then(|b| b.join(page)));
    match parsed {
        Ok(u) => u
            .query_pairs()
            .filter(|(k, _)| k.starts_with("utm_"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}
