//! Google Ads lead forms: the webhook Google posts each lead to (JSON:
//! `lead_id`, `user_column_data`, `form_id`, `campaign_id`, `adgroup_id`,
//! `creative_id`, `gcl_id`, `google_key`, `is_test`). Google has no
//! signature: the form's key travels in the body and is compared in
//! constant time.

use clinicflow_core::lead_ads::{AdAttribution, AdNetwork, LeadAd};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// One lead as Google posts it.
#[derive(Debug, Deserialize)]
struct WebhookLead {
    lead_id: String,
    #[serde(default)]
    user_column_data: Vec<Column>,
    /// int64 in Google's schema: a JSON number, or a string.
    form_id: Value,
    #[serde(default)]
    campaign_id: Option<Value>,
    #[serde(default)]
    adgroup_id: Option<Value>,
    #[serde(default)]
    creative_id: Option<Value>,
    #[serde(default)]
    gcl_id: Option<String>,
    #[serde(default)]
    google_key: Option<String>,
    #[serde(default)]
    is_test: bool,
}

#[derive(Debug, Deserialize)]
struct Column {
    #[serde(default)]
    column_id: Option<String>,
    #[serde(default)]
    column_name: Option<String>,
    #[serde(default)]
    string_value: Option<String>,
}

/// A lead Google posted, and the key it carried (to be checked).
#[derive(Debug)]
pub struct Delivered {
    pub lead: LeadAd,
    pub key: Option<String>,
}

/// Reads Google's lead webhook body; `at` is when it arrived (Google sends
/// no time).
pub fn parse_webhook(body: &[u8], at: Timestamp) -> Result<Delivered, String> {
    let w: WebhookLead = serde_json::from_slice(body)
        .map_err(|e| format!("not a Google Ads lead form webhook: {e}"))?;
    let lead_id = w.lead_id.trim();
    if lead_id.is_empty() || lead_id.len() > 256 {
        return Err("lead_id must be Google's id of the lead".into());
    }
    let form_id = id(Some(&w.form_id)).ok_or("form_id must be Google's id of the lead form")?;
    let answers = w
        .user_column_data
        .into_iter()
        .filter_map(|c| {
            let key = c.column_id.or(c.column_name)?;
            let value = c.string_value?;
            Some((key, value))
        })
        .collect();
    Ok(Delivered {
        lead: LeadAd {
            network: AdNetwork::Google,
            lead_id: lead_id.to_owned(),
            form_id,
            answers,
            ad: AdAttribution {
                campaign_id: id(w.campaign_id.as_ref()),
                adset_id: id(w.adgroup_id.as_ref()),
                ad_id: id(w.creative_id.as_ref()),
                click_id: w.gcl_id.filter(|g| !g.is_empty()),
                ..AdAttribution::default()
            },
            test: w.is_test,
            at,
        },
        key: w.google_key,
    })
}

/// An int64 id as Google's JSON may carry it.
fn id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() && s.len() <= 64 => Some(s.trim().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Google's documented sample ("send test data").
    const SAMPLE: &str = r#"{
      "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789-AaBbCcDdEeFf",
      "user_column_data": [
        {"column_name": "Full Name", "string_value": "FirstName LastName", "column_id": "FULL_NAME"},
        {"column_name": "User Phone", "string_value": "+16505550123", "column_id": "PHONE_NUMBER"},
        {"column_name": "User Email", "string_value": "test@example.com", "column_id": "EMAIL"}
      ],
      "api_version": "1.0",
      "form_id": 40000000000,
      "campaign_id": 10000000000,
      "google_key": "secret-key",
      "is_test": true,
      "gcl_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
      "adgroup_id": 20000000000,
      "creative_id": 30000000000
    }"#;

    #[test]
    fn googles_sample_reads() {
        let d = parse_webhook(SAMPLE.as_bytes(), Timestamp::UNIX_EPOCH)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.key.as_deref(), Some("secret-key"));
        assert!(d.lead.test);
        assert_eq!(d.lead.form_id, "40000000000");
        assert_eq!(d.lead.ad.campaign_id.as_deref(), Some("10000000000"));
        assert_eq!(d.lead.ad.adset_id.as_deref(), Some("20000000000"));
        assert_eq!(d.lead.ad.ad_id.as_deref(), Some("30000000000"));
        assert_eq!(
            d.lead.answers[1],
            ("PHONE_NUMBER".into(), "+16505550123".into())
        );
    }

    #[test]
    fn what_is_not_googles_is_refused() {
        for body in [
            "",
            "{}",
            r#"{"lead_id": "", "form_id": 1}"#,
            r#"{"lead_id": "x", "form_id": null}"#,
            r#"{"lead_id": "x", "form_id": {"a": 1}}"#,
        ] {
            assert!(
                parse_webhook(body.as_bytes(), Timestamp::UNIX_EPOCH).is_err(),
                "{body}"
            );
        }
        let ok = parse_webhook(
            br#"{"lead_id": "x", "form_id": "77"}"#,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(ok.map(|d| d.lead.form_id).ok().as_deref(), Some("77"));
    }
}
