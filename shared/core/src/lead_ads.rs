//! Lead ads: a form a patient fills inside an ad (Google Ads lead forms,
//! Meta lead ads) instead of on the clinic's page. Its answers are read
//! into our form's fields by the clinic's mapping (the network's form id →
//! our form, its question keys → our field names), its campaign, ad group
//! and ad kept as the lead's attribution. Google posts a lead with its
//! answers; Meta's webhook only names a lead ([`LeadNotice`]), whose
//! answers are then read from the Graph API with the page's token.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{FormId, Language};
use crate::lead::Attribution;
use crate::providers::SecretRef;
use crate::submission::{Screened, Submission, screen_from};
use crate::tenant::{Form, Tenant};

/// The fields of ours a lead form's answers may fill.
pub const TARGETS: [&str; 9] = [
    "name",
    "phone",
    "email",
    "service",
    "message",
    "language",
    "branch",
    "consent_marketing",
    "consent_privacy",
];

/// Where a lead ad ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdNetwork {
    Google,
    Meta,
}

impl AdNetwork {
    pub fn as_str(self) -> &'static str {
        match self {
            AdNetwork::Google => "google",
            AdNetwork::Meta => "meta",
        }
    }

    /// The source its leads read.
    pub fn lead_source(self) -> &'static str {
        match self {
            AdNetwork::Google => "google_ads",
            AdNetwork::Meta => "meta_ads",
        }
    }

    pub fn parse(s: &str) -> Option<AdNetwork> {
        match s {
            "google" => Some(AdNetwork::Google),
            "meta" => Some(AdNetwork::Meta),
            _ => None,
        }
    }

    /// The network's own keys for the contact questions it fills in from
    /// the patient's profile: read even from a form nobody mapped.
    fn standard_field(self, key: &str) -> Option<&'static str> {
        match (self, key) {
            (AdNetwork::Google, "FULL_NAME") | (AdNetwork::Meta, "full_name") => Some("name"),
            (AdNetwork::Google, "PHONE_NUMBER") | (AdNetwork::Meta, "phone_number") => {
                Some("phone")
            }
            (AdNetwork::Google, "EMAIL" | "WORK_EMAIL") | (AdNetwork::Meta, "email") => {
                Some("email")
            }
            _ => None,
        }
    }
}

/// Which campaign, ad group (Meta: ad set) and ad a lead came from, as the
/// network names them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdAttribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adset_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adset_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_name: Option<String>,
    /// Google's click id (`gclid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
}

/// One lead a network delivered: its answers as the network keys them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadAd {
    pub network: AdNetwork,
    /// The network's id of the lead: a lead delivered again is the same.
    pub lead_id: String,
    /// The network's id of the form.
    pub form_id: String,
    /// Question key → answer, in the form's order.
    pub answers: Vec<(String, String)>,
    pub ad: AdAttribution,
    /// The network's test lead ("send test data"): stored as a test only.
    #[serde(default)]
    pub test: bool,
    pub at: Timestamp,
}

/// A clinic's mapping of one network form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadForm {
    pub network: AdNetwork,
    /// The network's id of the form.
    pub id: String,
    /// Our form the answers post as: its branch, consent rules, language.
    pub form: FormId,
    /// The language the campaign is configured in (ranks above the form's).
    pub language: Option<Language>,
    /// The network's question key → our field name (one of [`TARGETS`]).
    pub fields: BTreeMap<String, String>,
    /// Google: the key set on the form, which Google sends back in each
    /// lead (else the tenant's Google key).
    pub key: Option<SecretRef>,
}

/// `[tenants.lead_ads]`: the network forms a clinic's ads use.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadAdsConfig {
    /// The key Google sends in each lead of a form without a key of its
    /// own (a credential reference).
    #[serde(default)]
    pub google_key: Option<String>,
    /// Meta's Page `leadgen` webhook and the Graph API.
    #[serde(default)]
    pub meta: Option<MetaLeadsConfig>,
    #[serde(default)]
    pub forms: Vec<LeadFormConfig>,
}

/// `[tenants.lead_ads.meta]`: the Meta app whose Page webhook tells of
/// new leads, and each Page's access token (credential references).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaLeadsConfig {
    /// The app's secret: it signs the webhook (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The token the webhook's verification handshake echoes.
    pub verify_token: String,
    /// Page id → the Page's access token (`leads_retrieval`).
    pub pages: BTreeMap<String, String>,
    #[serde(default = "graph_api")]
    pub api_url: String,
}

fn graph_api() -> String {
    "https://graph.facebook.com/v23.0".to_owned()
}

/// The Meta app and Pages, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaLeads {
    pub app_secret: SecretRef,
    pub verify_token: SecretRef,
    pub pages: BTreeMap<String, SecretRef>,
    pub api_url: String,
}

/// A tenant's lead ads, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeadAds {
    /// The key Google sends with the leads of forms without one of their own.
    pub google_key: Option<SecretRef>,
    pub meta: Option<MetaLeads>,
    /// The network forms, and how their answers read as our fields.
    pub forms: Vec<LeadForm>,
}

/// What a network's webhook says of a lead it holds (Meta's `leadgen`
/// change): its answers are read from the network before it is handled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadNotice {
    pub network: AdNetwork,
    pub page_id: String,
    /// The network's id of the lead (Meta's `leadgen_id`).
    pub lead_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adgroup_id: Option<String>,
    pub at: Timestamp,
}

/// `[[tenants.lead_ads.forms]]`: one network form and how to read it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadFormConfig {
    /// `google` or `meta`.
    pub network: String,
    /// The network's form id.
    pub id: String,
    /// Our form its leads post as.
    pub form: String,
    #[serde(default)]
    pub language: Option<String>,
    /// The network's question key → our field name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub key: Option<String>,
}

/// The tenant's lead ads, checked; `forms` are our form ids. Problems are
/// (path, problem).
pub fn build(
    path: &str,
    c: &LeadAdsConfig,
    forms: &[FormId],
) -> Result<LeadAds, Vec<(String, String)>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let secret = |problems: &mut Vec<(String, String)>, at: String, raw: Option<&str>| {
        raw.and_then(|k| SecretRef::parse(k).map_err(|e| problems.push((at, e))).ok())
    };
    let google_key = secret(
        &mut problems,
        format!("{path}.google_key"),
        c.google_key.as_deref(),
    );
    let meta = c.meta.as_ref().and_then(|m| {
        let at = format!("{path}.meta");
        let app_secret = secret(
            &mut problems,
            format!("{at}.app_secret"),
            Some(&m.app_secret),
        );
        let verify_token = secret(
            &mut problems,
            format!("{at}.verify_token"),
            Some(&m.verify_token),
        );
        let mut pages = BTreeMap::new();
        for (page, token) in &m.pages {
            if let Some(token) = secret(&mut problems, format!("{at}.pages.{page}"), Some(token)) {
                pages.insert(page.trim().to_owned(), token);
            }
        }
        if m.pages.is_empty() {
            problems.push((
                format!("{at}.pages"),
                "name each Page whose leads the clinic reads, with its access token".into(),
            ));
        }
        let api_url = m.api_url.trim().trim_end_matches('/').to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            problems.push((format!("{at}.api_url"), "must be an http(s) URL".into()));
        }
        Some(MetaLeads {
            app_secret: app_secret?,
            verify_token: verify_token?,
            pages,
            api_url,
        })
    });
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, f) in c.forms.iter().enumerate() {
        let at = format!("{path}.forms[{i}]");
        let key = secret(&mut problems, format!("{at}.key"), f.key.as_deref());
        let mut bad =
            |field: &str, problem: String| problems.push((format!("{at}.{field}"), problem));
        let network = AdNetwork::parse(&f.network);
        if network.is_none() {
            bad(
                "network",
                format!("`{}` is not a lead-ad network: google or meta", f.network),
            );
        }
        let id = f.id.trim();
        if id.is_empty() || id.len() > 64 {
            bad("id", "must be the network's form id".into());
        }
        if network.is_some() && !seen.insert((network, id.to_owned())) {
            bad("id", format!("form `{id}` is mapped twice"));
        }
        let form = forms
            .iter()
            .find(|ours| ours.as_str() == f.form.trim())
            .cloned();
        if form.is_none() {
            bad(
                "form",
                format!("`{}` is not one of this clinic's forms", f.form),
            );
        }
        let language = f
            .language
            .as_deref()
            .and_then(|l| Language::parse(l).map_err(|p| bad("language", p)).ok());
        for (question, target) in &f.fields {
            if !TARGETS.contains(&target.as_str()) {
                bad(
                    &format!("fields.{question}"),
                    format!(
                        "`{target}` is not a field of ours: one of {}",
                        TARGETS.join(", ")
                    ),
                );
            }
        }
        if !f.fields.values().any(|t| t == "phone" || t == "email") {
            bad(
                "fields",
                "map the question that asks the phone number or the e-mail address".into(),
            );
        }
        if network == Some(AdNetwork::Meta) && c.meta.is_none() {
            bad(
                "network",
                "configure lead_ads.meta (the app and its Pages) to read Meta's leads".into(),
            );
        }
        if network == Some(AdNetwork::Meta) && f.key.is_some() {
            bad(
                "key",
                "Meta signs its webhooks with the app secret; a form has no key".into(),
            );
        }
        if network == Some(AdNetwork::Google) && f.key.is_none() && c.google_key.is_none() {
            bad(
                "key",
                "Google sends a key with each lead: set it here or as lead_ads.google_key".into(),
            );
        }
        if let (Some(network), Some(form)) = (network, form) {
            out.push(LeadForm {
                network,
                id: id.to_owned(),
                form,
                language,
                fields: f.fields.clone(),
                key,
            });
        }
    }
    if problems.is_empty() {
        Ok(LeadAds {
            google_key,
            meta,
            forms: out,
        })
    } else {
        Err(problems)
    }
}

/// `ad`'s answers as our form's fields, with its attribution: through
/// `mapping` when there is one, else the contact questions the network
/// names the same on every form. Several answers to one field are joined
/// (a first and a last name mapped to `name`).
pub fn fields(ad: &LeadAd, mapping: Option<&LeadForm>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in &ad.answers {
        let target = match mapping {
            Some(m) => m.fields.get(key).map(String::as_str),
            None => ad.network.standard_field(key),
        };
        let Some(target) = target else { continue };
        match out.iter_mut().find(|(k, _)| k == target) {
            Some((_, joined)) => {
                joined.push(' ');
                joined.push_str(value.trim());
            }
            None => out.push((target.to_owned(), value.trim().to_owned())),
        }
    }
    out
}

/// The lead's attribution: the network as `utm_source`, the campaign's
/// name (or id) as `utm_campaign`, the ad's as `utm_content`, the ad
/// group's as `utm_term`, and every id and name as they came.
pub fn attribution(ad: &LeadAd) -> Attribution {
    let a = &ad.ad;
    Attribution {
        utm_source: Some(ad.network.lead_source().to_owned()),
        utm_medium: Some("lead_form".to_owned()),
        utm_campaign: a.campaign_name.clone().or_else(|| a.campaign_id.clone()),
        utm_content: a.ad_name.clone().or_else(|| a.ad_id.clone()),
        utm_term: a.adset_name.clone().or_else(|| a.adset_id.clone()),
        ad: Some(Box::new(a.clone())),
        ..Attribution::default()
    }
}

/// How a delivered lead reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// Through the clinic's mapping, as a post of `form`.
    Mapped {
        submission: Submission,
        form: FormId,
    },
    /// Without a mapping (or with answers the mapping could not read): the
    /// contact questions only, at the default branch; `why` says what the
    /// clinic's admins should fix.
    Unmapped { submission: Submission, why: String },
    /// Not even a phone number or an e-mail address could be read.
    Unreadable(String),
}

/// Reads `ad` for `tenant` (attribution included).
pub fn read(tenant: &Tenant, ad: &LeadAd) -> Read {
    let attribution = attribution(ad);
    let network = ad.network.as_str();
    let why = match tenant.lead_form(ad.network, &ad.form_id) {
        Some(mapping) => match tenant.form(&mapping.form) {
            Some(form) => {
                let fields = fields(ad, Some(mapping));
                match screen_from(tenant, form, &fields, mapping.language.as_ref()) {
                    Ok(Screened::Accepted(mut s)) => {
                        s.attribution = attribution;
                        return Read::Mapped {
                            submission: *s,
                            form: form.id.clone(),
                        };
                    }
                    Ok(Screened::Spam) => format!(
                        "{network} form {}: an answer fills form {}'s honeypot",
                        ad.form_id, form.id
                    ),
                    Err(problems) => format!(
                        "{network} form {}: its answers do not read as form {}: {}",
                        ad.form_id,
                        form.id,
                        problems
                            .iter()
                            .map(|p| format!("{} {}", p.field, p.problem))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                }
            }
            None => format!(
                "{network} form {} is mapped to a form that left",
                ad.form_id
            ),
        },
        None => format!(
            "{network} form {} has no mapping: add it to lead_ads.forms",
            ad.form_id
        ),
    };
    // The contact questions alone, at the default branch; a contact that
    // does not read is left out, so the other one still makes the lead.
    let id = match FormId::new(format!("{network}-lead-form")) {
        Ok(id) => id,
        Err(e) => return Read::Unreadable(e),
    };
    let form = Form {
        id,
        name: String::new(),
        branch: Some(tenant.default_branch().id.clone()),
        language: None,
        source: ad.network.lead_source().to_owned(),
        allowed_origins: Vec::new(),
        honeypot: None,
        require_privacy_consent: false,
    };
    let mut fields = fields(ad, None);
    for _ in 0..2 {
        match screen_from(tenant, &form, &fields, None) {
            Ok(Screened::Accepted(mut s)) => {
                s.attribution = attribution;
                return Read::Unmapped {
                    submission: *s,
                    why,
                };
            }
            Ok(Screened::Spam) => break,
            Err(problems) => fields.retain(|(k, _)| !problems.iter().any(|p| &p.field == k)),
        }
    }
    Read::Unreadable(format!(
        "{why}; and neither a phone number nor an e-mail address reads"
    ))
}

/// A readable list of the answers, for a lead whose form is not mapped
/// (kept on its touch so nobody retypes them).
pub fn answers_text(ad: &LeadAd) -> String {
    ad.answers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(network: AdNetwork, answers: &[(&str, &str)]) -> LeadAd {
        LeadAd {
            network,
            lead_id: "l1".into(),
            form_id: "f1".into(),
            answers: answers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ad: AdAttribution {
                campaign_id: Some("111".into()),
                campaign_name: Some("Implant DE".into()),
                adset_id: Some("222".into()),
                ad_id: Some("333".into()),
                ..AdAttribution::default()
            },
            test: false,
            at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_mapping_reads_answers_into_our_fields() {
        let mapping = LeadForm {
            network: AdNetwork::Meta,
            id: "f1".into(),
            form: FormId::new("web").unwrap_or_else(|e| panic!("{e}")),
            language: None,
            fields: [
                ("first_name", "name"),
                ("last_name", "name"),
                ("phone_number", "phone"),
                ("which_treatment?", "service"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            key: None,
        };
        let got = fields(
            &ad(
                AdNetwork::Meta,
                &[
                    ("first_name", " Anna "),
                    ("last_name", "Schmidt"),
                    ("phone_number", "+49 30 901820"),
                    ("which_treatment?", "implant"),
                    ("unmapped_question", "ignored"),
                ],
            ),
            Some(&mapping),
        );
        assert_eq!(
            got,
            [
                ("name".to_owned(), "Anna Schmidt".to_owned()),
                ("phone".to_owned(), "+49 30 901820".to_owned()),
                ("service".to_owned(), "implant".to_owned()),
            ]
        );
    }

    #[test]
    fn an_unmapped_form_gives_its_contact_questions_only() {
        let google = ad(
            AdNetwork::Google,
            &[
                ("FULL_NAME", "Anna Schmidt"),
                ("PHONE_NUMBER", "+4930901820"),
                ("EMAIL", "anna@example.com"),
                ("what_is_your_budget?", "5000"),
            ],
        );
        let got = fields(&google, None);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["name", "phone", "email"]);
        assert_eq!(
            answers_text(&google).lines().last(),
            Some("what_is_your_budget?: 5000")
        );
        // Meta's keys are not Google's.
        assert!(fields(&ad(AdNetwork::Meta, &[("FULL_NAME", "x")]), None).is_empty());
    }

    #[test]
    fn attribution_names_the_campaign_and_keeps_every_id() {
        let a = attribution(&ad(AdNetwork::Google, &[]));
        assert_eq!(a.utm_source.as_deref(), Some("google_ads"));
        assert_eq!(a.utm_campaign.as_deref(), Some("Implant DE"));
        assert_eq!(a.utm_term.as_deref(), Some("222"));
        assert_eq!(a.utm_content.as_deref(), Some("333"));
        assert_eq!(a.ad.and_then(|x| x.campaign_id).as_deref(), Some("111"));
    }
}
