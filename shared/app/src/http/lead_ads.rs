//! The clinic's lead-ad forms as the networks' test leads showed them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::staff::Staff;
use crate::App;
use crate::records::LeadAdTest;

/// The last test lead of one network form, as the mapping read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadAdTestView {
    /// `google` or `meta`.
    pub network: String,
    /// The network's form id.
    pub form_id: String,
    pub lead_id: String,
    pub at: String,
    /// Our form it posts as; absent when the form is not mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// The network's question keys it carried.
    pub questions: Vec<String>,
    /// `mapped`, `unmapped` or `unreadable`.
    pub outcome: String,
    /// What to fix, when not `mapped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl From<LeadAdTest> for LeadAdTestView {
    fn from(t: LeadAdTest) -> Self {
        LeadAdTestView {
            network: t.network,
            form_id: t.form_id,
            lead_id: t.lead_id,
            at: t.at.to_string(),
            form: t.form.map(|f| f.to_string()),
            questions: t.questions,
            outcome: t.outcome,
            problem: t.problem,
        }
    }
}

/// The last test lead ("send test data") of each lead-ad form: whether
/// the clinic's mapping reads it. Test leads make no lead.
#[utoipa::path(
    get,
    path = "/v1/lead-ads/tests",
    tag = "staff",
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Each form's last test lead", body = Vec<LeadAdTestView>),
        (status = 401, description = "No valid staff token", body = ErrorBody),
    ),
)]
pub async fn tests(
    State(app): State<Arc<App>>,
    Staff(tenant): Staff,
) -> Result<Json<Vec<LeadAdTestView>>, ApiError> {
    let tests = app.lead_ad_tests(&tenant.id).await?;
    Ok(Json(tests.into_iter().map(Into::into).collect()))
}
