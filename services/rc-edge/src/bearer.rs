//! Bearer-token routes of the edge: the site's backend announcing content
//! (`edge.content_api_key`) and the CRM reading health-sync
//! (`edge.health_sync_api_key`).
//!
//! A key is kept only as its SHA-256 digest and a presented token is compared
//! digest to digest in constant time, so neither where nor whether by length
//! it differs leaks. A route whose key is unset is never open: its handler
//! answers 404. Tokens are never logged.

use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// A configured key, kept only as its digest.
#[derive(Clone)]
pub struct BearerKey {
    digest: [u8; 32],
    /// The config key, named in the 401 so an operator knows which token.
    name: &'static str,
}

impl BearerKey {
    /// The key from config; blank counts as unset.
    pub fn from_config(name: &'static str, key: Option<&str>) -> Option<Self> {
        key.map(str::trim).filter(|k| !k.is_empty()).map(|k| Self {
            digest: Sha256::digest(k.as_bytes()).into(),
            name,
        })
    }

    /// Whether `headers` carry `Authorization: Bearer <key>`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Unauthorized> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(Unauthorized {
                name: self.name,
                missing: true,
            })?;
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        if bool::from(self.digest.ct_eq(&digest)) {
            Ok(())
        } else {
            Err(Unauthorized {
                name: self.name,
                missing: false,
            })
        }
    }
}

/// A request without the right token: 401 with `WWW-Authenticate: Bearer`.
#[derive(Debug)]
pub struct Unauthorized {
    name: &'static str,
    missing: bool,
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        metrics::counter!("hookline_edge_bearer_auth_failures_total", "key" => self.name)
            .increment(1);
        let message = if self.missing {
            format!("missing Authorization: Bearer <{}>", self.name)
        } else {
            format!("invalid bearer token for {}", self.name)
        };
        let mut response = ApiError {
            status: StatusCode::UNAUTHORIZED,
            message,
        }
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

/// Declares the edge's two bearer schemes in its OpenAPI document.
pub struct BearerSchemes;

impl utoipa::Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for key in ["content_api_key", "health_sync_api_key"] {
            components.add_security_scheme(
                key,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(format!("edge.{key}")))
                        .build(),
                ),
            );
        }
    }
}
