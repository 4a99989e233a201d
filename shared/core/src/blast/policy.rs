//! A tenant's blast templates, limits and prices (`[tenants.blasts]`),
//! validated when the configuration is read.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use jiff::civil::Date;
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::ids::Language;
use crate::message::{Channel, Purpose};
use crate::messaging::WhatsappTemplate;

/// The variables a blast template may use.
pub const VARIABLES: &[&str] = &[
    "first_name",
    "name",
    "clinic",
    "branch",
    "branch_phone",
    "practitioner",
    "service",
    "date",
    "time",
    "booking_link",
];

/// `[tenants.blasts]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastsConfig {
    /// The business portfolio's WhatsApp messaging limit: unique patients
    /// reached outside a service window per rolling 24 hours.
    #[serde(default)]
    pub whatsapp_daily_limit: Option<u32>,
    /// Of that limit, what blasts leave for operational messages
    /// (greetings, reminders) sent the same day.
    #[serde(default)]
    pub operational_reserve: u32,
    /// The most promotional blasts one patient gets in `promotional_period`.
    #[serde(default = "one")]
    pub promotional_per_patient: u32,
    #[serde(default = "week")]
    pub promotional_period: SignedDuration,
    #[serde(default)]
    pub prices: Option<PricesConfig>,
    /// Template id → template.
    #[serde(default)]
    pub templates: BTreeMap<String, BlastTemplateConfig>,
}

impl Default for BlastsConfig {
    fn default() -> Self {
        BlastsConfig {
            whatsapp_daily_limit: None,
            operational_reserve: 0,
            promotional_per_patient: one(),
            promotional_period: week(),
            prices: None,
            templates: BTreeMap::new(),
        }
    }
}

fn one() -> u32 {
    1
}

fn week() -> SignedDuration {
    SignedDuration::from_hours(24 * 7)
}

/// A price list per channel and country (ISO 3166), per message, with the
/// date it was read off the providers' rate cards.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricesConfig {
    pub as_of: Date,
    pub currency: String,
    /// Channel → country → price; `*` is any other country.
    #[serde(default)]
    pub whatsapp: BTreeMap<String, PurposePrice>,
    #[serde(default)]
    pub sms: BTreeMap<String, PurposePrice>,
    #[serde(default)]
    pub email: BTreeMap<String, PurposePrice>,
}

/// WhatsApp bills utility (operational) and marketing (promotional)
/// templates differently; SMS and e-mail usually one price for both.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PurposePrice {
    pub operational: f64,
    pub promotional: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastTemplateConfig {
    pub purpose: Purpose,
    /// Language → text (MiniJinja, the variables of [`VARIABLES`]).
    pub text: BTreeMap<String, String>,
    /// The approved WhatsApp template (utility for operational blasts,
    /// marketing for promotional ones) sent outside the 24-hour window.
    #[serde(default)]
    pub whatsapp: Option<BlastWhatsappConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastWhatsappConfig {
    pub name: String,
    /// `utility` or `marketing`, as approved in WhatsApp Manager.
    pub category: WhatsappCategory,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub languages: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhatsappCategory {
    Utility,
    Marketing,
}

/// A clinic's blast template, compiled.
#[derive(Debug)]
pub struct BlastTemplate {
    pub id: String,
    pub purpose: Purpose,
    pub languages: Vec<Language>,
    pub whatsapp: Option<WhatsappTemplate>,
}

/// A tenant's blast templates and limits, validated.
#[derive(Debug)]
pub struct BlastPolicy {
    env: Environment<'static>,
    pub templates: BTreeMap<String, BlastTemplate>,
    pub whatsapp_daily_limit: Option<u32>,
    pub operational_reserve: u32,
    pub promotional_per_patient: u32,
    pub promotional_period: SignedDuration,
    pub prices: Option<PricesConfig>,
}

impl Default for BlastPolicy {
    fn default() -> Self {
        BlastPolicy {
            env: Environment::new(),
            templates: BTreeMap::new(),
            whatsapp_daily_limit: None,
            operational_reserve: 0,
            promotional_per_patient: 1,
            promotional_period: week(),
            prices: None,
        }
    }
}

/// Validates `[tenants.blasts]`; problems are (path, problem).
pub fn build(path: &str, c: &BlastsConfig) -> Result<BlastPolicy, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let sample: BTreeMap<&str, String> = VARIABLES.iter().map(|v| (*v, format!("<{v}>"))).collect();
    let mut templates = BTreeMap::new();
    for (id, t) in &c.templates {
        let at = format!("{path}.templates.{id}");
        if crate::ids::RuleId::new(id.as_str()).is_err() {
            problems.push((
                at.clone(),
                "a template id is lowercase letters, digits, - and _".into(),
            ));
        }
        let mut languages = Vec::new();
        for (lang, src) in &t.text {
            let la = format!("{at}.text.{lang}");
            let Ok(language) = Language::parse(lang) else {
                problems.push((la, "is not a language code".into()));
                continue;
            };
            let name = format!("{id}.{lang}");
            if let Err(e) = env.add_template_owned(name.clone(), src.clone()) {
                problems.push((la, format!("does not compile: {e}")));
                continue;
            }
            if let Err(e) = env.get_template(&name).and_then(|t| t.render(&sample)) {
                problems.push((
                    la,
                    format!(
                        "does not render: {e}; the variables are: {}",
                        VARIABLES.join(", ")
                    ),
                ));
                continue;
            }
            languages.push(language);
        }
        if t.text.is_empty() {
            problems.push((
                format!("{at}.text"),
                "needs a text in at least one language".into(),
            ));
        }
        let whatsapp = t.whatsapp.as_ref().map(|w| {
            let wa = format!("{at}.whatsapp");
            let expected = match t.purpose {
                Purpose::Operational => WhatsappCategory::Utility,
                Purpose::Promotional => WhatsappCategory::Marketing,
            };
            if w.category != expected {
                problems.push((
                    format!("{wa}.category"),
                    format!(
                        "a {} blast needs a {} template",
                        purpose_str(t.purpose),
                        if expected == WhatsappCategory::Utility {
                            "utility"
                        } else {
                            "marketing"
                        }
                    ),
                ));
            }
            if w.name.trim().is_empty() {
                problems.push((format!("{wa}.name"), "must not be empty".into()));
            }
            for p in &w.params {
                if !VARIABLES.contains(&p.as_str()) {
                    problems.push((
                        format!("{wa}.params"),
                        format!(
                            "`{p}` is not a blast variable; they are: {}",
                            VARIABLES.join(", ")
                        ),
                    ));
                }
            }
            let mut codes = BTreeMap::new();
            for (lang, code) in &w.languages {
                match Language::parse(lang) {
                    Ok(l) => {
                        codes.insert(l, code.clone());
                    }
                    Err(_) => problems.push((
                        format!("{wa}.languages.{lang}"),
                        "is not a language code".into(),
                    )),
                }
            }
            WhatsappTemplate {
                name: w.name.clone(),
                languages: codes,
                params: w.params.clone(),
                buttons: Vec::new(),
                ttl: None,
            }
        });
        templates.insert(
            id.clone(),
            BlastTemplate {
                id: id.clone(),
                purpose: t.purpose,
                languages,
                whatsapp,
            },
        );
    }
    if c.promotional_per_patient == 0 {
        problems.push((
            format!("{path}.promotional_per_patient"),
            "must be at least 1".into(),
        ));
    }
    if let (Some(limit), reserve) = (c.whatsapp_daily_limit, c.operational_reserve)
        && reserve >= limit
    {
        problems.push((
            format!("{path}.operational_reserve"),
            format!(
                "must be below whatsapp_daily_limit ({limit}), or blasts could never use WhatsApp"
            ),
        ));
    }
    if let Some(p) = &c.prices {
        for (channel, table) in [
            ("whatsapp", &p.whatsapp),
            ("sms", &p.sms),
            ("email", &p.email),
        ] {
            for (country, price) in table {
                if country != "*"
                    && (country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()))
                {
                    problems.push((
                        format!("{path}.prices.{channel}.{country}"),
                        "is not an ISO 3166 country code (like TR) nor *".into(),
                    ));
                }
                if !(price.operational >= 0.0 && price.promotional >= 0.0) {
                    problems.push((
                        format!("{path}.prices.{channel}.{country}"),
                        "prices are not negative".into(),
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(BlastPolicy {
        env,
        templates,
        whatsapp_daily_limit: c.whatsapp_daily_limit,
        operational_reserve: c.operational_reserve,
        promotional_per_patient: c.promotional_per_patient,
        promotional_period: c.promotional_period,
        prices: c.prices.clone(),
    })
}

pub fn purpose_str(p: Purpose) -> &'static str {
    match p {
        Purpose::Operational => "operational",
        Purpose::Promotional => "promotional",
    }
}

impl BlastPolicy {
    /// Renders template `id` in `language` (which must be one it has).
    pub fn render(
        &self,
        id: &str,
        language: &Language,
        vars: &BTreeMap<&'static str, String>,
    ) -> Result<String, String> {
        let text = self
            .env
            .get_template(&format!("{id}.{language}"))
            .and_then(|t| t.render(vars))
            .map_err(|e| e.to_string())?;
        Ok(text.trim().to_owned())
    }

    /// The price of one message, if the table has the channel and country.
    pub fn price(&self, channel: Channel, country: Option<&str>, purpose: Purpose) -> Option<f64> {
        let p = self.prices.as_ref()?;
        let table = match channel {
            Channel::Whatsapp => &p.whatsapp,
            Channel::Sms => &p.sms,
            Channel::Email => &p.email,
            // Meta does not charge for Instagram direct messages.
            Channel::Instagram => return Some(0.0),
            Channel::Webhook => return None,
        };
        let row = country
            .and_then(|c| table.get(c))
            .or_else(|| table.get("*"))?;
        Some(match purpose {
            Purpose::Operational => row.operational,
            Purpose::Promotional => row.promotional,
        })
    }
}
