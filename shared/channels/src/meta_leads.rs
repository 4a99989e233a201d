//! Meta lead ads: the Page webhook's `leadgen` changes (signed like
//! WhatsApp's, `X-Hub-Signature-256` under the app secret) name new leads;
//! each lead's answers are read from the Graph API
//! (`GET /{leadgen_id}?fields=…` with the Page's access token) behind the
//! queue, never in the webhook's answer.

use std::sync::Arc;

use async_trait::async_trait;
use clinicflow_core::config::Directory;
use clinicflow_core::contact::{InstagramId, InstagramProfile};
use clinicflow_core::ids::TenantId;
use clinicflow_core::lead_ads::{AdAttribution, AdNetwork, LeadAd, LeadNotice};
use clinicflow_ports::{FetchError, LeadFetcher};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::credentials::Credentials;
use crate::graph::GraphError;
use crate::http::exchange;
use crate::instagram;

/// What we ask the Graph API of a lead.
const FIELDS: &str = "created_time,field_data,form_id,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,is_organic";

#[derive(Debug, Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    field: String,
    value: Value,
}

/// A `leadgen` change's value.
#[derive(Debug, Deserialize)]
struct Leadgen {
    leadgen_id: Value,
    page_id: Value,
    #[serde(default)]
    form_id: Option<Value>,
    #[serde(default)]
    ad_id: Option<Value>,
    #[serde(default)]
    adgroup_id: Option<Value>,
    #[serde(default)]
    created_time: Option<i64>,
}

/// Reads the Page webhook's body: one notice per `leadgen` change (other
/// fields are not ours and are skipped). `now` stands in for a missing time.
pub fn parse_webhook(body: &[u8], now: Timestamp) -> Result<Vec<LeadNotice>, String> {
    let n: Notification =
        serde_json::from_slice(body).map_err(|e| format!("not a Page notification: {e}"))?;
    if n.object != "page" {
        return Err(format!("unexpected object `{}`", n.object));
    }
    let mut notices = Vec::new();
    for change in n.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "leadgen" {
            continue;
        }
        let v: Leadgen = serde_json::from_value(change.value)
            .map_err(|e| format!("a leadgen change without its ids: {e}"))?;
        let (Some(lead_id), Some(page_id)) = (id(Some(&v.leadgen_id)), id(Some(&v.page_id))) else {
            return Err("leadgen_id and page_id must be Meta's ids".into());
        };
        notices.push(LeadNotice {
            network: AdNetwork::Meta,
            page_id,
            lead_id,
            form_id: id(v.form_id.as_ref()),
            ad_id: id(v.ad_id.as_ref()),
            adgroup_id: id(v.adgroup_id.as_ref()),
            at: v
                .created_time
                .and_then(|s| Timestamp::from_second(s).ok())
                .unwrap_or(now),
        });
    }
    Ok(notices)
}

/// An id as Meta's JSON may carry it: a string of digits, or a number.
fn id(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    (!s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(s)
}

/// A lead as the Graph API answers it.
#[derive(Debug, Deserialize)]
struct GraphLead {
    id: String,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    field_data: Vec<FieldData>,
    #[serde(default)]
    form_id: Option<String>,
    #[serde(default)]
    ad_id: Option<String>,
    #[serde(default)]
    ad_name: Option<String>,
    #[serde(default)]
    adset_id: Option<String>,
    #[serde(default)]
    adset_name: Option<String>,
    #[serde(default)]
    campaign_id: Option<String>,
    #[serde(default)]
    campaign_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FieldData {
    name: String,
    #[serde(default)]
    values: Vec<String>,
}

/// Reads the Graph API's answer for the lead `notice` names.
pub fn parse_lead(body: &[u8], notice: &LeadNotice) -> Result<LeadAd, String> {
    let g: GraphLead =
        serde_json::from_slice(body).map_err(|e| format!("not a Graph API lead: {e}"))?;
    if g.id != notice.lead_id {
        return Err("the Graph API answered with another lead".into());
    }
    // Meta writes `2026-12-01T09:31:00+0000`.
    let at = g
        .created_time
        .as_deref()
        .and_then(|t| jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%z", t).ok())
        .and_then(|t| t.to_timestamp().ok())
        .unwrap_or(notice.at);
    let form_id = g
        .form_id
        .or_else(|| notice.form_id.clone())
        .ok_or("the lead names no form")?;
    Ok(LeadAd {
        network: AdNetwork::Meta,
        lead_id: g.id,
        form_id,
        answers: g
            .field_data
            .into_iter()
            .map(|f| (f.name, f.values.join(", ")))
            .collect(),
        ad: AdAttribution {
            campaign_id: g.campaign_id,
            campaign_name: g.campaign_name,
            adset_id: g.adset_id.or_else(|| notice.adgroup_id.clone()),
            adset_name: g.adset_name,
            ad_id: g.ad_id.or_else(|| notice.ad_id.clone()),
            ad_name: g.ad_name,
            click_id: None,
        },
        test: false,
        at,
    })
}

/// The `LeadFetcher` over Meta's APIs: leads from the Graph API with each
/// tenant's Page tokens, and Instagram profiles ([`instagram::profile`])
/// with the tenant's Instagram token.
pub struct MetaReader {
    http: reqwest::Client,
    directory: Arc<Directory>,
    credentials: Arc<Credentials>,
}

impl MetaReader {
    pub fn new(
        http: reqwest::Client,
        directory: Arc<Directory>,
        credentials: Arc<Credentials>,
    ) -> Self {
        MetaReader {
            http,
            directory,
            credentials,
        }
    }
}

#[async_trait]
impl LeadFetcher for MetaReader {
    async fn fetch(&self, tenant: &TenantId, notice: &LeadNotice) -> Result<LeadAd, FetchError> {
        let meta = self
            .directory
            .tenant(tenant)
            .and_then(|t| t.lead_ads.meta.as_ref())
            .ok_or_else(|| FetchError::Permanent("lead_ads.meta is not configured".into()))?;
        let token = self
            .credentials
            .tenant(tenant)
            .and_then(|c| c.meta.as_ref())
            .and_then(|m| m.page_tokens.get(&notice.page_id))
            .ok_or_else(|| {
                FetchError::Permanent(format!(
                    "no access token for Page {} in lead_ads.meta.pages",
                    notice.page_id
                ))
            })?;
        let request = self
            .http
            // The lead id is digits (checked when the webhook was read), the
            // fields a constant: nothing here needs escaping.
            .get(format!(
                "{}/{}?fields={FIELDS}",
                meta.api_url, notice.lead_id
            ))
            .bearer_auth(token);
        let (status, body) = exchange("meta", request).await?;
        if !(200..300).contains(&status) {
            return Err(GraphError::read(status, &body).fetch_error("Meta lead", status));
        }
        parse_lead(&body, notice).map_err(FetchError::Retryable)
    }

    async fn instagram_profile(
        &self,
        tenant: &TenantId,
        id: &InstagramId,
    ) -> Result<InstagramProfile, FetchError> {
        let account = self
            .directory
            .tenant(tenant)
            .and_then(|t| t.messaging.providers.instagram.as_ref())
            .ok_or_else(|| FetchError::Permanent("instagram is not configured".into()))?;
        let token = self
            .credentials
            .tenant(tenant)
            .and_then(|c| c.instagram.as_ref())
            .ok_or_else(|| FetchError::Permanent("no Instagram access token".into()))?;
        instagram::profile(&self.http, &account.api_url, &token.access_token, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Page webhook's `leadgen` change, as Meta documents it.
    const WEBHOOK: &str = r#"{
      "object": "page",
      "entry": [{
        "id": "153125381133",
        "time": 1796032800,
        "changes": [{
          "field": "leadgen",
          "value": {
            "ad_id": "23850000000000001",
            "form_id": "1202838450239489",
            "leadgen_id": "2026120100000001",
            "created_time": 1796032790,
            "page_id": "153125381133",
            "adgroup_id": "23850000000000002"
          }
        }, {"field": "feed", "value": {"item": "status"}}]
      }]
    }"#;

    #[test]
    fn the_leadgen_change_names_the_lead() {
        let notices = parse_webhook(WEBHOOK.as_bytes(), Timestamp::UNIX_EPOCH)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(notices.len(), 1);
        let n = &notices[0];
        assert_eq!(n.lead_id, "2026120100000001");
        assert_eq!(n.page_id, "153125381133");
        assert_eq!(n.form_id.as_deref(), Some("1202838450239489"));
        assert_eq!(n.at.as_second(), 1796032790);
        assert!(
            parse_webhook(
                br#"{"object":"instagram","entry":[]}"#,
                Timestamp::UNIX_EPOCH
            )
            .is_err()
        );
        assert!(parse_webhook(b"[]", Timestamp::UNIX_EPOCH).is_err());
        let bad = WEBHOOK.replace(
            "\"leadgen_id\": \"2026120100000001\"",
            "\"leadgen_id\": \"../x\"",
        );
        assert!(parse_webhook(bad.as_bytes(), Timestamp::UNIX_EPOCH).is_err());
    }

    #[test]
    fn the_graph_apis_lead_reads() {
        let notices = parse_webhook(WEBHOOK.as_bytes(), Timestamp::UNIX_EPOCH)
            .unwrap_or_else(|e| panic!("{e}"));
        let body = br#"{
          "created_time": "2026-12-01T09:31:00+0000",
          "id": "2026120100000001",
          "form_id": "1202838450239489",
          "ad_id": "23850000000000001", "ad_name": "Implant video",
          "adset_id": "23850000000000002", "adset_name": "DE 35+",
          "campaign_id": "23850000000000003", "campaign_name": "Implant Germany",
          "field_data": [
            {"name": "full_name", "values": ["Anna Schmidt"]},
            {"name": "phone_number", "values": ["+4930901820"]},
            {"name": "which_treatment?", "values": ["implant", "whitening"]}
          ]
        }"#;
        let lead = parse_lead(body, &notices[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lead.at.to_string(), "2026-12-01T09:31:00Z");
        assert_eq!(lead.ad.campaign_name.as_deref(), Some("Implant Germany"));
        assert_eq!(lead.answers[2].1, "implant, whitening");
        let other = body.to_vec();
        let other = String::from_utf8(other)
            .unwrap_or_default()
            .replace("\"id\": \"2026120100000001\"", "\"id\": \"9\"");
        assert!(parse_lead(other.as_bytes(), &notices[0]).is_err());
    }

    #[test]
    fn graph_errors_are_sorted() {
        let throttled = br#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4}}"#;
        assert!(matches!(
            GraphError::read(400, throttled).fetch_error("lead", 400),
            FetchError::Retryable(_)
        ));
        let expired = br#"{"error":{"message":"Error validating access token","type":"OAuthException","code":190}}"#;
        assert!(matches!(
            GraphError::read(400, expired).fetch_error("lead", 400),
            FetchError::Permanent(_)
        ));
        assert!(matches!(
            GraphError::read(503, b"down").fetch_error("lead", 503),
            FetchError::Retryable(_)
        ));
        let transient = br#"{"error":{"message":"x","code":100,"is_transient":true}}"#;
        assert!(matches!(
            GraphError::read(400, transient).fetch_error("lead", 400),
            FetchError::Retryable(_)
        ));
    }
}
