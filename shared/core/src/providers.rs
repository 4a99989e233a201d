//! The providers a tenant sends through — WhatsApp Business Cloud API,
//! Twilio (SMS), Amazon SES (e-mail), the Instagram API (direct messages)
//! — as configured, and validated.
//! Credentials are never in the file: they are references (`env:NAME`,
//! `secret:NAME#field`) that the adapters resolve at start.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::ids::Language;
use crate::message::Channel;
use crate::messaging::{Keywords, Routing, WhatsappTemplate};
use crate::template::TemplateKind;

/// WhatsApp's default throughput per business phone number.
pub const WHATSAPP_RATE: u32 = 80;
/// A cautious default for an SMS sender (Twilio queues above a number's own rate).
pub const SMS_RATE: u32 = 10;
/// SES's default sending rate for an account out of the sandbox.
pub const EMAIL_RATE: u32 = 14;
/// Instagram's Send API takes about 100 calls a second per professional
/// account for text (Meta's rate limits for Instagram messaging).
pub const INSTAGRAM_RATE: u32 = 100;

/// `[tenants.messaging]`: channel order and opt-out words.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingConfig {
    /// Channels in order of preference (`whatsapp`, `sms`, `email`, `instagram`).
    #[serde(default)]
    pub order: Option<Vec<Channel>>,
    /// The order for one kind of message (`greeting`, `sla_alert`, …).
    #[serde(default)]
    pub order_by_kind: BTreeMap<TemplateKind, Vec<Channel>>,
    #[serde(default)]
    pub opt_out: OptOutConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOutConfig {
    /// Language → words that stop promotional messages (besides STOP & co).
    #[serde(default)]
    pub stop: BTreeMap<String, Vec<String>>,
    /// Language → words that start them again (besides START).
    #[serde(default)]
    pub start: BTreeMap<String, Vec<String>>,
}

/// `[tenants.whatsapp]`: a WhatsApp Business phone number.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappConfig {
    pub phone_number_id: String,
    pub access_token: String,
    /// The Meta app's secret, which signs webhooks (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The token Meta echoes in the webhook verification handshake.
    pub verify_token: String,
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// The Graph API base, such as `https://graph.facebook.com/v23.0`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Kind → the approved template sent outside the 24-hour window.
    #[serde(default)]
    pub templates: BTreeMap<TemplateKind, WhatsappTemplateConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappTemplateConfig {
    pub name: String,
    #[serde(default)]
    pub params: Vec<String>,
    /// Our language → the template's language code at WhatsApp.
    #[serde(default)]
    pub languages: BTreeMap<String, String>,
    /// Its quick-reply buttons, in order: answers (`confirm`, `reschedule`,
    /// `cancel`) or survey scores (`1` … `5`). Their payloads are ours.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// The message validity period the template was approved with, if set
    /// (30s to 12h for utility templates).
    #[serde(default)]
    pub ttl: Option<jiff::SignedDuration>,
}

/// `[tenants.instagram]`: the clinic's Instagram professional account,
/// through the Instagram API with Instagram Login.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstagramConfig {
    /// The professional account's id (`entry[].id` of its webhooks).
    pub account_id: String,
    pub access_token: String,
    /// The Meta app's secret, which signs webhooks (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The token Meta echoes in the webhook verification handshake.
    pub verify_token: String,
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// The API base, `https://graph.instagram.com/v23.0` by default.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// `[tenants.sms]`: a Twilio account and sender.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// The sending number (E.164) or alphanumeric sender id…
    #[serde(default)]
    pub from: Option<String>,
    /// …or a Messaging Service.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// Twilio's API base, `https://api.twilio.com` by default.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Where Twilio reports each message's status (our `/webhooks/twilio/{tenant}`).
    #[serde(default)]
    pub status_callback: Option<String>,
}

/// `[tenants.email]`: an SES v2 sender.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// A verified identity, such as `Demo Clinic <hello@clinic.example>`.
    pub from: String,
    #[serde(default)]
    pub configuration_set: Option<String>,
    #[serde(default)]
    pub messages_per_second: Option<u32>,
}

/// Where a credential comes from. Resolved by the adapters at start.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable (a `.env` file locally).
    Env(String),
    /// A secret in AWS Secrets Manager; with a field, the secret is JSON.
    SecretsManager { id: String, field: Option<String> },
}

impl SecretRef {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(name) = s.strip_prefix("env:") {
            let ok =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            return if ok {
                Ok(SecretRef::Env(name.to_owned()))
            } else {
                Err("`env:` needs a variable name of letters, digits and _".into())
            };
        }
        if let Some(rest) = s.strip_prefix("secret:") {
            let (id, field) = match rest.split_once('#') {
                Some((id, field)) => (id, Some(field.to_owned())),
                None => (rest, None),
            };
            return if id.is_empty() || field.as_deref() == Some("") {
                Err("`secret:` needs a secret name or ARN, and a field after `#` if any".into())
            } else {
                Ok(SecretRef::SecretsManager {
                    id: id.to_owned(),
                    field,
                })
            };
        }
        Err(
            "credentials are not written in the file: use `env:VARIABLE` or `secret:name#field`"
                .into(),
        )
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::SecretsManager { id, field: None } => write!(f, "secret:{id}"),
            SecretRef::SecretsManager {
                id,
                field: Some(field),
            } => write!(f, "secret:{id}#{field}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whatsapp {
    pub phone_number_id: String,
    pub access_token: SecretRef,
    pub app_secret: SecretRef,
    pub verify_token: SecretRef,
    pub messages_per_second: u32,
    pub api_url: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsSender {
    From(String),
    MessagingService(String),
}

impl SmsSender {
    pub fn as_str(&self) -> &str {
        match self {
            SmsSender::From(s) | SmsSender::MessagingService(s) => s,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sms {
    pub account_sid: String,
    pub auth_token: SecretRef,
    pub sender: SmsSender,
    pub messages_per_second: u32,
    pub api_url: String,
    pub status_callback: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instagram {
    pub account_id: String,
    pub access_token: SecretRef,
    pub app_secret: SecretRef,
    pub verify_token: SecretRef,
    pub messages_per_second: u32,
    pub api_url: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailSender {
    pub from: String,
    pub configuration_set: Option<String>,
    pub messages_per_second: u32,
}

/// A tenant's providers; a channel without one is served by the sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Providers {
    pub whatsapp: Option<Whatsapp>,
    pub sms: Option<Sms>,
    pub email: Option<EmailSender>,
    pub instagram: Option<Instagram>,
}

/// Everything about how a tenant messages people, validated.
#[derive(Clone, Debug, Default)]
pub struct MessagingPolicy {
    pub routing: Routing,
    pub whatsapp_templates: BTreeMap<TemplateKind, WhatsappTemplate>,
    pub keywords: Keywords,
    pub providers: Providers,
}

/// A tenant's provider sections, as configured.
#[derive(Clone, Copy, Default)]
pub struct ProviderConfigs<'a> {
    pub whatsapp: Option<&'a WhatsappConfig>,
    pub sms: Option<&'a SmsConfig>,
    pub email: Option<&'a EmailConfig>,
    pub instagram: Option<&'a InstagramConfig>,
}

/// Validates the messaging sections of one tenant; problems are
/// (path, problem).
pub fn build(
    prefix: &str,
    messaging: &MessagingConfig,
    configs: ProviderConfigs<'_>,
) -> Result<MessagingPolicy, Vec<(String, String)>> {
    let ProviderConfigs {
        whatsapp,
        sms,
        email,
        instagram,
    } = configs;
    let mut problems = Vec::new();
    let default_order = Routing::default().order(TemplateKind::Greeting).to_vec();
    let order = messaging.order.clone().unwrap_or(default_order);
    problems.extend(check_order(format!("{prefix}.messaging.order"), &order));
    for (kind, channels) in &messaging.order_by_kind {
        let path = format!("{prefix}.messaging.order_by_kind.{}", kind.as_str());
        problems.extend(check_order(path, channels));
    }
    let routing = Routing::new(order, messaging.order_by_kind.clone());
    let opt_out = format!("{prefix}.messaging.opt_out");
    let keywords = Keywords::new(
        by_language(
            &mut problems,
            &format!("{opt_out}.stop"),
            &messaging.opt_out.stop,
        ),
        by_language(
            &mut problems,
            &format!("{opt_out}.start"),
            &messaging.opt_out.start,
        ),
    );
    let mut whatsapp_templates = BTreeMap::new();
    let whatsapp = whatsapp.and_then(|w| {
        build_whatsapp(
            &mut problems,
            &format!("{prefix}.whatsapp"),
            w,
            &mut whatsapp_templates,
        )
    });
    let sms = sms.and_then(|s| build_sms(&mut problems, &format!("{prefix}.sms"), s));
    let email = email.map(|e| {
        let p = format!("{prefix}.email");
        if !e.from.contains('@') {
            problems.push((format!("{p}.from"), "must be an e-mail address".into()));
        }
        EmailSender {
            from: e.from.clone(),
            configuration_set: e.configuration_set.clone(),
            messages_per_second: rate(&mut problems, &p, e.messages_per_second, EMAIL_RATE),
        }
    });
    let instagram = instagram.and_then(|i| {
        let p = format!("{prefix}.instagram");
        if !routing.channels().any(|c| c == Channel::Instagram) {
            problems.push((
                format!("{prefix}.messaging.order"),
                "add `instagram` to an order: patients who write on Instagram are answered there"
                    .into(),
            ));
        }
        build_instagram(&mut problems, &p, i)
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(MessagingPolicy {
        routing,
        whatsapp_templates,
        keywords,
        providers: Providers {
            whatsapp,
            sms,
            email,
            instagram,
        },
    })
}

type Problems = Vec<(String, String)>;

/// What is wrong with an order of channels: none, or one listed twice.
pub fn check_order(path: String, channels: &[Channel]) -> Problems {
    let mut problems = Vec::new();
    if channels.is_empty() {
        problems.push((path.clone(), "name at least one channel".into()));
    }
    for (i, c) in channels.iter().enumerate() {
        if *c == Channel::Webhook {
            problems.push((
                path.clone(),
                "`webhook` reaches the clinic's scheduler, not people: use whatsapp, sms, email or instagram"
                    .into(),
            ));
        }
        if channels[..i].contains(c) {
            problems.push((path.clone(), format!("`{}` is listed twice", c.as_str())));
        }
    }
    problems
}

fn by_language<T: Clone>(
    problems: &mut Problems,
    path: &str,
    words: &BTreeMap<String, T>,
) -> BTreeMap<Language, T> {
    let mut out = BTreeMap::new();
    for (lang, ws) in words {
        match Language::parse(lang) {
            Ok(l) => {
                out.insert(l, ws.clone());
            }
            Err(e) => problems.push((format!("{path}.{lang}"), e)),
        }
    }
    out
}

fn secret(problems: &mut Problems, path: String, s: &str) -> Option<SecretRef> {
    SecretRef::parse(s)
        .map_err(|e| problems.push((path, e)))
        .ok()
}

fn build_whatsapp(
    problems: &mut Problems,
    p: &str,
    w: &WhatsappConfig,
    templates: &mut BTreeMap<TemplateKind, WhatsappTemplate>,
) -> Option<Whatsapp> {
    let access_token = secret(problems, format!("{p}.access_token"), &w.access_token);
    let app_secret = secret(problems, format!("{p}.app_secret"), &w.app_secret);
    let verify_token = secret(problems, format!("{p}.verify_token"), &w.verify_token);
    for (kind, t) in &w.templates {
        let tp = format!("{p}.templates.{}", kind.as_str());
        if t.name.trim().is_empty() {
            problems.push((format!("{tp}.name"), "must not be empty".into()));
        }
        for param in &t.params {
            if !kind.variables().contains(&param.as_str()) {
                problems.push((
                    format!("{tp}.params"),
                    format!(
                        "`{param}` is not a variable of {}; they are: {}",
                        kind.as_str(),
                        kind.variables().join(", ")
                    ),
                ));
            }
        }
        let languages = by_language(problems, &format!("{tp}.languages"), &t.languages);
        for button in &t.buttons {
            let answer = crate::answer::Answer::parse(button).is_some();
            let score = button.parse::<u8>().is_ok_and(|n| n <= 10);
            if !(answer || score) {
                problems.push((
                    format!("{tp}.buttons"),
                    format!("`{button}` is not an answer (confirm, reschedule, cancel) nor a score (0 to 10)"),
                ));
            }
        }
        if t.buttons.len() > 10 {
            problems.push((
                format!("{tp}.buttons"),
                "a template has at most 10 quick-reply buttons".into(),
            ));
        }
        if let Some(ttl) = t.ttl
            && !(jiff::SignedDuration::from_secs(30)..=jiff::SignedDuration::from_hours(12))
                .contains(&ttl)
        {
            problems.push((
                format!("{tp}.ttl"),
                "WhatsApp takes a validity period from 30s to 12h for utility templates".into(),
            ));
        }
        templates.insert(
            *kind,
            WhatsappTemplate {
                name: t.name.clone(),
                languages,
                params: t.params.clone(),
                buttons: t.buttons.clone(),
                ttl: t.ttl,
            },
        );
    }
    numeric_id(
        problems,
        format!("{p}.phone_number_id"),
        &w.phone_number_id,
        "the phone number in WhatsApp Manager",
    );
    let messages_per_second = rate(problems, p, w.messages_per_second, WHATSAPP_RATE);
    let api_url = url(
        problems,
        p,
        w.api_url.as_deref(),
        "https://graph.facebook.com/v23.0",
    );
    Some(Whatsapp {
        phone_number_id: w.phone_number_id.clone(),
        access_token: access_token?,
        app_secret: app_secret?,
        verify_token: verify_token?,
        messages_per_second,
        api_url,
    })
}

fn build_instagram(problems: &mut Problems, p: &str, i: &InstagramConfig) -> Option<Instagram> {
    let access_token = secret(problems, format!("{p}.access_token"), &i.access_token);
    let app_secret = secret(problems, format!("{p}.app_secret"), &i.app_secret);
    let verify_token = secret(problems, format!("{p}.verify_token"), &i.verify_token);
    numeric_id(
        problems,
        format!("{p}.account_id"),
        &i.account_id,
        "the Instagram professional account",
    );
    let messages_per_second = rate(problems, p, i.messages_per_second, INSTAGRAM_RATE);
    let api_url = url(
        problems,
        p,
        i.api_url.as_deref(),
        "https://graph.instagram.com/v23.0",
    );
    Some(Instagram {
        account_id: i.account_id.clone(),
        access_token: access_token?,
        app_secret: app_secret?,
        verify_token: verify_token?,
        messages_per_second,
        api_url,
    })
}

fn build_sms(problems: &mut Problems, p: &str, s: &SmsConfig) -> Option<Sms> {
    let auth_token = secret(problems, format!("{p}.auth_token"), &s.auth_token);
    if !(s.account_sid.starts_with("AC") && s.account_sid.len() == 34) {
        problems.push((
            format!("{p}.account_sid"),
            "must be a Twilio Account SID (AC followed by 32 characters)".into(),
        ));
    }
    let sender = match (&s.from, &s.messaging_service_sid) {
        (Some(from), None) => Some(SmsSender::From(from.clone())),
        (None, Some(ms)) => Some(SmsSender::MessagingService(ms.clone())),
        _ => {
            problems.push((
                format!("{p}.from"),
                "set exactly one of `from` and `messaging_service_sid`".into(),
            ));
            None
        }
    };
    let messages_per_second = rate(problems, p, s.messages_per_second, SMS_RATE);
    let api_url = url(problems, p, s.api_url.as_deref(), "https://api.twilio.com");
    Some(Sms {
        account_sid: s.account_sid.clone(),
        auth_token: auth_token?,
        sender: sender?,
        messages_per_second,
        api_url,
        status_callback: s.status_callback.clone(),
    })
}

/// A Graph API object id: digits only. `of` names the object.
fn numeric_id(problems: &mut Problems, path: String, id: &str, of: &str) {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        problems.push((path, format!("must be the numeric id of {of}")));
    }
}

fn rate(problems: &mut Problems, path: &str, given: Option<u32>, default: u32) -> u32 {
    match given {
        Some(0) => {
            problems.push((
                format!("{path}.messages_per_second"),
                "must be at least 1".into(),
            ));
            default
        }
        Some(n) => n,
        None => default,
    }
}

fn url(problems: &mut Problems, path: &str, given: Option<&str>, default: &str) -> String {
    let url = given.unwrap_or(default).trim_end_matches('/').to_owned();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push((format!("{path}.api_url"), "must be an http(s) URL".into()));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instagram_account_is_checked_and_must_be_in_an_order() {
        let config = |account_id: &str| InstagramConfig {
            account_id: account_id.into(),
            access_token: "env:IG_TOKEN".into(),
            app_secret: "env:IG_SECRET".into(),
            verify_token: "plain".into(),
            messages_per_second: None,
            api_url: None,
        };
        let instagram = config("17841400000000001");
        let configs = ProviderConfigs {
            instagram: Some(&instagram),
            ..ProviderConfigs::default()
        };
        let problems = build("tenants[0]", &MessagingConfig::default(), configs).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tenants[0].messaging.order",
                "tenants[0].instagram.verify_token"
            ],
            "{problems:?}"
        );
        let ordered = MessagingConfig {
            order: Some(vec![Channel::Instagram, Channel::Sms]),
            ..MessagingConfig::default()
        };
        let bad = config("ayse.clinic");
        let problems = build(
            "tenants[0]",
            &ordered,
            ProviderConfigs {
                instagram: Some(&bad),
                ..ProviderConfigs::default()
            },
        )
        .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|(p, _)| p == "tenants[0].instagram.account_id")
        );
        let good = InstagramConfig {
            verify_token: "env:IG_VERIFY".into(),
            ..config("17841400000000001")
        };
        let policy = build(
            "tenants[0]",
            &ordered,
            ProviderConfigs {
                instagram: Some(&good),
                ..ProviderConfigs::default()
            },
        )
        .unwrap();
        let account = policy.providers.instagram.unwrap();
        assert_eq!(account.api_url, "https://graph.instagram.com/v23.0");
        assert_eq!(account.messages_per_second, INSTAGRAM_RATE);
    }

    #[test]
    fn secret_references_name_their_source() {
        assert_eq!(
            SecretRef::parse("env:WA_TOKEN"),
            Ok(SecretRef::Env("WA_TOKEN".into()))
        );
        assert_eq!(
            SecretRef::parse("secret:clinicflow/demo#whatsapp_token"),
            Ok(SecretRef::SecretsManager {
                id: "clinicflow/demo".into(),
                field: Some("whatsapp_token".into())
            })
        );
        assert!(SecretRef::parse("EAAG-a-real-token").is_err());
        assert!(SecretRef::parse("env:").is_err());
        assert!(SecretRef::parse("secret:x#").is_err());
    }
}
