//! `/openapi.json`, generated from the handlers and types.

use super::deliveries::{
    self, AttemptOut, DeliveryPage, ReplayRequest, ReplayResponse, TestResponse,
};
use super::dlq::{self, DlqList, PurgeResponse, RedriveResponse};
use super::secrets::{self, SecretOut};
use super::webhooks::{self, CreateWebhook, UpdateWebhook, WebhookList, WebhookOut};
use super::{events, resend};
use crate::store::Profile;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The admin API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookline webhook-out admin API",
        description = "Webhook subscriptions, their delivery log, replays, dead letters and event traces. Every call needs `Authorization: Bearer <webhook_out.admin_token>`."
    ),
    paths(
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate_secret,
        secrets::get,
        deliveries::list,
        deliveries::test,
        deliveries::replay,
        resend::resend,
        dlq::list,
        dlq::show,
        dlq::redrive,
        dlq::purge,
        events::get,
    ),
    components(schemas(
        CreateWebhook,
        UpdateWebhook,
        WebhookOut,
        WebhookList,
        SecretOut,
        Profile,
        AttemptOut,
        DeliveryPage,
        TestResponse,
        ReplayRequest,
        ReplayResponse,
        DlqList,
        RedriveResponse,
        PurgeResponse,
        hookline_core::dlq_admin::Entry,
        hookline_core::dlq_admin::Side,
        hookline_core::dlq_admin::select::Selection,
        hookline_core::dlq_admin::redrive::Redriven,
        crate::trace::Trace,
        crate::trace::Stored,
        crate::trace::Dedupe,
        crate::trace::Delivery,
        crate::trace::Crm,
        crate::trace::ConsumerState,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Serves the document.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
