//! Blasts: one message to a filtered set of patients (a doctor's sick
//! afternoon, a holiday closing), previewed before anything is sent.
//!
//! This module is the pure part: the clinic's blast templates and limits
//! (`[tenants.blasts]`), the audience filter, the preview's buckets (every
//! patient of the filter in exactly one: sent on a channel, deferred by
//! quiet hours, or excluded with its reason), the cost estimate, and what a
//! provider's error code means for a blast.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::appointment::{AppointmentStatus, Confirmation};
use crate::contact::ContactKey;
use crate::ids::{BlastId, BranchId, Language, MessageId, PractitionerId, RecordRef, ServiceId};
use crate::journey::SendHours;
use crate::lead::Stage;
use crate::message::{Channel, Purpose};
use crate::messaging::{self, Route, WhatsappTemplate};

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

/// Which patients a blast is for. With a `date`, the audience is the
/// patients of that day's appointments (by branch, half day, practitioner,
/// service, status, confirmation); without, the patients of the leads (by
/// stage, source, campaign). Language and last visit narrow either.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    /// `morning` or `afternoon`, in the branch's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practitioner: Option<PractitionerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AppointmentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_visit_before: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_visit_after: Option<Timestamp>,
}

impl Filter {
    /// Whether the audience comes from appointments (else from leads).
    pub fn on_appointments(&self) -> bool {
        self.date.is_some()
    }

    /// The filter fields that only apply to appointments, if any is set
    /// without a date: (field, problem).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.date.is_none() {
            let set = [
                ("part", self.part.is_some()),
                ("practitioner", self.practitioner.is_some()),
                ("service", self.service.is_some()),
                ("status", self.status.is_some()),
                ("confirmation", self.confirmation.is_some()),
            ];
            if let Some((field, _)) = set.iter().find(|(_, s)| *s) {
                return Some((field, "filters appointments: give their `date` too".into()));
            }
        }
        if let Some(part) = &self.part
            && part != "morning"
            && part != "afternoon"
        {
            return Some(("part", "is `morning` or `afternoon`".into()));
        }
        None
    }

    /// Whether a patient's last visit passes the filter.
    pub fn visit_matches(&self, last_visit: Option<Timestamp>) -> bool {
        let before = self
            .last_visit_before
            .is_none_or(|b| last_visit.is_some_and(|v| v < b));
        let after = self
            .last_visit_after
            .is_none_or(|a| last_visit.is_some_and(|v| v >= a));
        before && after
    }
}

/// What the preview knows of one member of the filter's audience.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub contact: ContactKey,
    /// The appointment or lead the patient was selected by.
    pub about: RecordRef,
    pub language: Language,
    /// The channels that reach the patient, in the tenant's order.
    pub routes: Vec<Route>,
    /// The phone's country (ISO 3166), for prices.
    pub country: Option<String>,
    pub zone: TimeZone,
    /// Channels the patient opted out of promotional messages on.
    pub opted_out: BTreeSet<Channel>,
    /// The patient agreed to promotional messages.
    pub marketing_consent: bool,
    pub whatsapp_inbound_at: Option<Timestamp>,
    /// Promotional blasts the patient got in the tenant's period.
    pub recent_promotions: u32,
}

/// Why a patient of the filter gets nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Already in the audience through another appointment or lead.
    Duplicate,
    /// Opted out of promotional messages on every channel that reaches them.
    OptedOut,
    NoPromotionalConsent,
    NoChannel,
    /// Only WhatsApp reaches them, its window is closed and the template
    /// has no approved WhatsApp template.
    WindowClosedNoTemplate,
    /// Got as many promotional blasts as the period allows.
    PatientCap,
    /// Over the WhatsApp daily allowance left after the operational reserve.
    OverDailyAllowance,
}

impl Exclusion {
    pub const ALL: [Exclusion; 7] = [
        Exclusion::Duplicate,
        Exclusion::OptedOut,
        Exclusion::NoPromotionalConsent,
        Exclusion::NoChannel,
        Exclusion::WindowClosedNoTemplate,
        Exclusion::PatientCap,
        Exclusion::OverDailyAllowance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::Duplicate => "duplicate",
            Exclusion::OptedOut => "opted_out",
            Exclusion::NoPromotionalConsent => "no_promotional_consent",
            Exclusion::NoChannel => "no_channel",
            Exclusion::WindowClosedNoTemplate => "window_closed_no_template",
            Exclusion::PatientCap => "patient_cap",
            Exclusion::OverDailyAllowance => "over_daily_allowance",
        }
    }
}

/// The one bucket a patient of the filter is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// Sent now on this route (a template on WhatsApp outside the window).
    Send {
        route: Route,
        template: bool,
    },
    /// Sent on this route when the patient's quiet hours end.
    Deferred {
        route: Route,
        template: bool,
        until: Timestamp,
    },
    Excluded(Exclusion),
}

/// What every member's bucket is decided against.
pub struct Context<'a> {
    pub purpose: Purpose,
    pub template: &'a BlastTemplate,
    pub send_hours: &'a SendHours,
    /// WhatsApp patients outside the window this blast may still reach today.
    pub whatsapp_allowance: Option<u32>,
    pub promotional_per_patient: u32,
    pub now: Timestamp,
}

/// Puts every candidate in exactly one bucket, in order.
pub fn classify(candidates: &[Candidate], cx: &Context<'_>) -> Vec<Bucket> {
    let mut seen = BTreeSet::new();
    let mut allowance = cx.whatsapp_allowance;
    candidates
        .iter()
        .map(|c| {
            if !seen.insert(c.contact.clone()) {
                return Bucket::Excluded(Exclusion::Duplicate);
            }
            bucket(c, cx, &mut allowance)
        })
        .collect()
}

fn bucket(c: &Candidate, cx: &Context<'_>, allowance: &mut Option<u32>) -> Bucket {
    if c.routes.is_empty() {
        return Bucket::Excluded(Exclusion::NoChannel);
    }
    let promotional = cx.purpose == Purpose::Promotional;
    let mut routes: Vec<Route> = c.routes.clone();
    if promotional {
        if !c.marketing_consent {
            return Bucket::Excluded(Exclusion::NoPromotionalConsent);
        }
        routes.retain(|r| !c.opted_out.contains(&r.channel));
        if routes.is_empty() {
            return Bucket::Excluded(Exclusion::OptedOut);
        }
        if c.recent_promotions >= cx.promotional_per_patient {
            return Bucket::Excluded(Exclusion::PatientCap);
        }
    }
    let open = messaging::window_open(c.whatsapp_inbound_at, cx.now);
    let approved = cx.template.whatsapp.is_some();
    let mut over_allowance = false;
    let mut chosen = None;
    for route in routes {
        if route.channel != Channel::Whatsapp {
            chosen = Some((route, false));
            break;
        }
        if open {
            chosen = Some((route, false));
            break;
        }
        if !approved {
            continue;
        }
        // Outside the window a template counts against the daily limit.
        match allowance {
            Some(0) => {
                over_allowance = true;
                continue;
            }
            Some(n) => *n -= 1,
            None => {}
        }
        chosen = Some((route, true));
        break;
    }
    let Some((route, template)) = chosen else {
        return Bucket::Excluded(if over_allowance {
            Exclusion::OverDailyAllowance
        } else {
            Exclusion::WindowClosedNoTemplate
        });
    };
    let at = cx.send_hours.fit(cx.now, &c.zone);
    if at > cx.now {
        Bucket::Deferred {
            route,
            template,
            until: at,
        }
    } else {
        Bucket::Send { route, template }
    }
}

/// The languages of the audience the template has no text in (a blast
/// in the wrong language is refused, not sent in another).
pub fn missing_languages(template: &BlastTemplate, candidates: &[Candidate]) -> BTreeSet<Language> {
    candidates
        .iter()
        .filter(|c| !template.languages.contains(&c.language))
        .map(|c| c.language.clone())
        .collect()
}

/// A digest of the audience and its buckets: a send whose audience no
/// longer has the preview's digest is refused.
pub fn fingerprint(candidates: &[Candidate], buckets: &[Bucket]) -> String {
    let mut rows: Vec<String> = candidates
        .iter()
        .zip(buckets)
        .map(|(c, b)| {
            let bucket = match b {
                // Now or after the patient's quiet hours, it is sent: the
                // time of the send moves with the clock, the audience does not.
                Bucket::Send { route, .. } | Bucket::Deferred { route, .. } => {
                    format!("send:{}", route.channel.as_str())
                }
                Bucket::Excluded(e) => e.as_str().to_owned(),
            };
            format!("{}|{}|{}", c.contact.as_str(), c.about, bucket)
        })
        .collect();
    rows.sort();
    let mut hash = Sha256::new();
    for row in rows {
        hash.update(row.as_bytes());
        hash.update(b"\n");
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a provider's error code on one blast message means for the blast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Too fast: slow down, send it again later; the recipient waits.
    SlowDown,
    /// The sender or template is restricted: pause the whole blast.
    Pause,
    /// The template does not exist: fail the blast.
    Fail,
    /// This patient is skipped (Meta's per-user marketing cap): not an opt-out.
    Skip,
    /// The patient stopped promotional messages: record the opt-out.
    OptOut,
    /// An ordinary failure of this one message.
    Failed,
}

/// WhatsApp's and Twilio's codes (the provider's code as we record it).
pub fn effect(code: &str) -> Effect {
    match code {
        "130429" | "131056" | "20429" | "429" => Effect::SlowDown,
        "131048" | "132015" | "132016" => Effect::Pause,
        "132001" => Effect::Fail,
        "131049" => Effect::Skip,
        "131050" => Effect::OptOut,
        _ => Effect::Failed,
    }
}

/// Why a blast paused or failed, for staff, from the code that did it.
pub fn explain(code: &str) -> &'static str {
    match code {
        "131048" => {
            "WhatsApp restricted the number for spam (too many blocks or reports); check the number's quality in WhatsApp Manager before resuming"
        }
        "132015" => "WhatsApp paused the template for low quality; resume when it is active again",
        "132016" => "WhatsApp disabled the template for low quality; use another template",
        "132001" => "the WhatsApp template does not exist in this language; nothing more is sent",
        "131049" => {
            "Meta did not deliver it to keep the patient's marketing messages healthy (a per-user cap); not an opt-out"
        }
        "131050" => "the patient stopped marketing messages on WhatsApp; recorded as an opt-out",
        _ => "the provider refused it",
    }
}

/// The state of one recipient of a blast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    /// Waiting for its turn (or for its quiet hours to end).
    Pending,
    /// Its message is in the ledger and being sent.
    InFlight,
    Sent,
    Delivered,
    Read,
    Failed,
    /// Not sent, for a reason of the patient (Meta's marketing cap, an opt-out).
    Skipped,
    Cancelled,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::InFlight => "in_flight",
            RecipientState::Sent => "sent",
            RecipientState::Delivered => "delivered",
            RecipientState::Read => "read",
            RecipientState::Failed => "failed",
            RecipientState::Skipped => "skipped",
            RecipientState::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, RecipientState::Pending | RecipientState::InFlight)
    }
}

/// Where a blast is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlastState {
    /// Counted and shown; nothing is sent until staff send it.
    Previewed,
    /// Sent at `send_at`.
    Scheduled,
    Sending,
    /// Stopped by staff or by the provider (`reason`); resumable.
    Paused,
    /// Stopped for good by staff: what was not sent never will be.
    Cancelled,
    /// Stopped for good by the provider (`reason`: a missing template).
    Failed,
    /// Every recipient has its outcome.
    Done,
}

impl BlastState {
    pub fn as_str(self) -> &'static str {
        match self {
            BlastState::Previewed => "previewed",
            BlastState::Scheduled => "scheduled",
            BlastState::Sending => "sending",
            BlastState::Paused => "paused",
            BlastState::Cancelled => "cancelled",
            BlastState::Failed => "failed",
            BlastState::Done => "done",
        }
    }

    /// Whether recipients still waiting will never be sent.
    pub fn is_stopped(self) -> bool {
        matches!(self, BlastState::Cancelled | BlastState::Failed)
    }
}

/// The preview's counts: the audience, and every member in one bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    /// Patients the filter selected (appointments or leads, before dedup).
    pub audience: u32,
    /// Sent now, by channel.
    pub send: BTreeMap<Channel, u32>,
    /// Sent when the patient's quiet hours end, by channel.
    pub deferred: BTreeMap<Channel, u32>,
    /// Not sent, by reason.
    pub excluded: BTreeMap<Exclusion, u32>,
}

impl Buckets {
    pub fn of(buckets: &[Bucket]) -> Buckets {
        let mut b = Buckets {
            audience: u32::try_from(buckets.len()).unwrap_or(u32::MAX),
            ..Buckets::default()
        };
        for bucket in buckets {
            match bucket {
                Bucket::Send { route, .. } => *b.send.entry(route.channel).or_default() += 1,
                Bucket::Deferred { route, .. } => {
                    *b.deferred.entry(route.channel).or_default() += 1
                }
                Bucket::Excluded(e) => *b.excluded.entry(*e).or_default() += 1,
            }
        }
        b
    }

    /// Recipients: the patients who get the message, now or later.
    pub fn planned(&self) -> u32 {
        self.send.values().chain(self.deferred.values()).sum()
    }
}

/// One line of the cost estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub channel: Channel,
    /// ISO 3166, or `*` for a country the table prices as any other.
    pub country: String,
    pub messages: u32,
    /// `None` when the price table has no price for it.
    pub unit_price: Option<f64>,
    pub total: Option<f64>,
}

/// The estimate, from the tenant's price table of `prices_as_of`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub currency: Option<String>,
    pub prices_as_of: Option<Date>,
    pub lines: Vec<CostLine>,
    pub total: f64,
}

impl Cost {
    /// Prices each recipient's channel and country; free-form messages in
    /// an open WhatsApp window cost nothing for operational blasts.
    pub fn estimate(
        policy: &BlastPolicy,
        purpose: Purpose,
        rows: &[(Channel, Option<String>, bool)],
    ) -> Cost {
        let mut count: BTreeMap<(Channel, String), (u32, u32)> = BTreeMap::new();
        for (channel, country, template) in rows {
            let key = (*channel, country.clone().unwrap_or_else(|| "*".into()));
            let entry = count.entry(key).or_default();
            entry.0 += 1;
            // WhatsApp bills templates; a utility message inside the
            // window is free, a marketing one never is.
            let billed =
                *channel != Channel::Whatsapp || *template || purpose == Purpose::Promotional;
            if billed {
                entry.1 += 1;
            }
        }
        let mut cost = Cost {
            currency: policy.prices.as_ref().map(|p| p.currency.clone()),
            prices_as_of: policy.prices.as_ref().map(|p| p.as_of),
            ..Cost::default()
        };
        for ((channel, country), (messages, billed)) in count {
            let unit = policy.price(channel, Some(country.as_str()), purpose);
            let total = unit.map(|u| (u * f64::from(billed) * 10_000.0).round() / 10_000.0);
            cost.total += total.unwrap_or(0.0);
            cost.lines.push(CostLine {
                channel,
                country,
                messages,
                unit_price: unit,
                total,
            });
        }
        cost.total = (cost.total * 10_000.0).round() / 10_000.0;
        cost
    }
}

/// A rendered message of the preview's sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub channel: Channel,
    /// Masked.
    pub to: String,
    pub language: Language,
    pub text: String,
    /// The WhatsApp template it goes as, outside the 24-hour window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// A blast, from its preview on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blast {
    pub id: BlastId,
    pub tenant: crate::ids::TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub template: String,
    pub purpose: Purpose,
    pub filter: Filter,
    pub state: BlastState,
    /// Why it paused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub buckets: Buckets,
    /// Recipients (will be sent, now or later).
    pub planned: u32,
    /// Pages of the frozen audience.
    pub pages: u32,
    /// WhatsApp templates it sends outside a window: its share of the daily limit.
    pub whatsapp_templates: u32,
    pub fingerprint: String,
    pub cost: Cost,
    pub sample: Vec<Sample>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When its first message (sent alone, before any other) got an answer
    /// that did not stop the blast: a template the provider does not have
    /// fails the blast on that one message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Staff test sends so far.
    #[serde(default)]
    pub tests: u32,
}

/// One member of the frozen audience who gets the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    pub contact: ContactKey,
    #[serde(flatten)]
    pub about: RecordRef,
    pub language: Language,
    pub route: Route,
    /// On WhatsApp outside the window: as the approved template.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub template: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// The channels to try next if this one fails for good.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Route>,
    /// The patient's time zone (IANA): their quiet hours are checked
    /// again when the message goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// A page of the frozen audience.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudiencePage {
    pub page: u32,
    pub recipients: Vec<Planned>,
}

/// A recipient's record: its state, kept in step with its ledger message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    #[serde(flatten)]
    pub planned: Planned,
    pub state: RecipientState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
    /// The provider's code and our words, for failed and skipped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The provider's id of the message sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The patient replied within 72 hours (or to this very message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replied_at: Option<Timestamp>,
    /// The patient booked or moved an appointment within 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebooked_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Recipient {
    /// A recipient nothing has happened to yet.
    pub fn pending(planned: Planned, at: Timestamp) -> Recipient {
        Recipient {
            planned,
            state: RecipientState::Pending,
            message: None,
            code: None,
            reason: None,
            provider_id: None,
            replied_at: None,
            rebooked_at: None,
            updated_at: at,
        }
    }
}

/// How long after a blast message a reply is counted as its outcome.
pub const REPLY_WINDOW: SignedDuration = SignedDuration::from_hours(72);
/// How long after a blast message a booking or move is counted as its outcome.
pub const BOOKING_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 7);

/// The last blast message a patient got: what a reply or booking is
/// attributed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBlast {
    pub blast: BlastId,
    pub page: u32,
    pub at: Timestamp,
}

/// Exact counts of a blast's recipients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub planned: u32,
    pub pending: u32,
    pub in_flight: u32,
    /// Sent, whatever happened after (delivered and read are among them).
    pub sent: u32,
    pub delivered: u32,
    pub read: u32,
    pub failed: u32,
    pub skipped: u32,
    pub cancelled: u32,
    pub replied: u32,
    pub rebooked: u32,
}

impl Progress {
    /// Tallies the recipients; `unplanned` recipients have no record yet
    /// (pending). Pending ones of a stopped blast are cancelled.
    pub fn tally<'r>(blast: &Blast, recipients: impl Iterator<Item = &'r Recipient>) -> Progress {
        let mut p = Progress {
            planned: blast.planned,
            ..Progress::default()
        };
        let mut seen = 0u32;
        for r in recipients {
            seen += 1;
            match r.state {
                RecipientState::Pending => p.pending += 1,
                RecipientState::InFlight => p.in_flight += 1,
                RecipientState::Sent => p.sent += 1,
                RecipientState::Delivered => {
                    p.sent += 1;
                    p.delivered += 1;
                }
                RecipientState::Read => {
                    p.sent += 1;
                    p.delivered += 1;
                    p.read += 1;
                }
                RecipientState::Failed => p.failed += 1,
                RecipientState::Skipped => p.skipped += 1,
                RecipientState::Cancelled => p.cancelled += 1,
            }
            p.replied += u32::from(r.replied_at.is_some());
            p.rebooked += u32::from(r.rebooked_at.is_some());
        }
        p.pending += blast.planned.saturating_sub(seen);
        if blast.state.is_stopped() {
            p.cancelled += p.pending;
            p.pending = 0;
        }
        p
    }

    /// Whether every recipient has its outcome.
    pub fn finished(&self) -> bool {
        self.pending == 0 && self.in_flight == 0
    }
}

/// What ties a ledger message to its blast recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub blast: BlastId,
    /// The audience page the recipient is on.
    pub page: u32,
    pub contact: ContactKey,
}

/// The id of a blast's one message to a patient.
pub fn message_id(blast: &BlastId, contact: &ContactKey) -> Result<MessageId, String> {
    MessageId::new(format!("blast-{blast}-{}", contact.as_str()))
}

#[cfg(test)]
mod tests;
