//! The tenants' configuration document, as read from a file (serde types),
//! and its validation into a [`Directory`] of [`Tenant`]s.
//!
//! Validation reports every problem at once, each with the path of the
//! field at fault (`tenants[0].branches[1].time_zone`), and builds nothing
//! unless the whole document is right: a configuration is never half applied.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use jiff::SignedDuration;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::answer::{Answer, AnswerWords};
use crate::contact::{Email, PhoneNumber, Reach, Region};
use crate::ids::{
    BranchId, ConsultantId, FormId, Language, ManagerId, PractitionerId, ServiceId, TenantId,
};
use crate::journey::{self, RuleConfig, SendHours, SurveyScale};
use crate::providers::{
    self, EmailConfig, InstagramConfig, MessagingConfig, SecretRef, SmsConfig, WhatsappConfig,
};
use crate::schedule::WeeklySchedule;
use crate::sla::SlaPolicy;
use crate::template::{TemplateKind, Templates};
use crate::tenant::{
    AppointmentPolicy, Branch, Callback, Consultant, Form, Manager, Practitioner, Service, Tenant,
};

/// The shortest staff token accepted in clear: guessing it must be hopeless.
const MIN_TOKEN_LEN: usize = 16;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub default_language: Option<String>,
    #[serde(default)]
    pub sla: SlaConfig,
    /// Bearer tokens of the staff API, in clear or as `sha256:<hex>`.
    #[serde(default)]
    pub staff_tokens: Vec<String>,
    #[serde(default)]
    pub branches: Vec<BranchConfig>,
    #[serde(default)]
    pub managers: Vec<ManagerConfig>,
    #[serde(default)]
    pub consultants: Vec<ConsultantConfig>,
    #[serde(default)]
    pub forms: Vec<FormConfig>,
    /// Doctors and other practitioners appointments are with.
    #[serde(default)]
    pub practitioners: Vec<PractitionerConfig>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// How appointments are followed: send hours, caps, survey, links.
    #[serde(default)]
    pub appointments: AppointmentsConfig,
    /// Changes to the default journeys, by journey id.
    #[serde(default)]
    pub journeys: BTreeMap<String, RuleConfig>,
    /// Cal.com bookings feed, signed with this secret.
    #[serde(default)]
    pub calcom: Option<CalcomConfig>,
    /// Kind (`greeting`, `sla_alert`) → language → template source.
    #[serde(default)]
    pub templates: BTreeMap<TemplateKind, BTreeMap<String, String>>,
    /// Channel order and opt-out words.
    #[serde(default)]
    pub messaging: MessagingConfig,
    /// WhatsApp Business Cloud API; without it WhatsApp goes to the sandbox.
    #[serde(default)]
    pub whatsapp: Option<WhatsappConfig>,
    /// Twilio SMS; without it SMS goes to the sandbox.
    #[serde(default)]
    pub sms: Option<SmsConfig>,
    /// Amazon SES e-mail; without it e-mail goes to the sandbox.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// The clinic's Instagram professional account: its direct messages
    /// come in as leads and touches; without it Instagram replies go to
    /// the sandbox and no Instagram webhook is served.
    #[serde(default)]
    pub instagram: Option<InstagramConfig>,
    /// Blast templates, limits and prices.
    #[serde(default)]
    pub blasts: crate::blast::BlastsConfig,
    /// Lead forms inside ads (Google Ads, Meta) and how to read them.
    #[serde(default)]
    pub lead_ads: crate::lead_ads::LeadAdsConfig,
    /// The call centre's or switchboard's signed call records.
    #[serde(default)]
    pub calls: Option<crate::calls::CallsConfig>,
    /// Ask a WhatsApp or Instagram lead whose language nothing told which
    /// one they prefer, and wait this long for the answer before assigning
    /// it.
    #[serde(default)]
    pub language_question: Option<LanguageQuestionConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageQuestionConfig {
    /// How long the assignment waits for the answer (`10m`).
    pub wait: SignedDuration,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Open time before the branch manager is warned, such as `10m`.
    #[serde(default = "default_first_contact")]
    pub first_contact: SignedDuration,
    /// Open time before the lead goes to the next consultant, such as `30m`.
    #[serde(default = "default_reassign_after")]
    pub reassign_after: SignedDuration,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            first_contact: default_first_contact(),
            reassign_after: default_reassign_after(),
        }
    }
}

fn default_first_contact() -> SignedDuration {
    SlaPolicy::default().first_contact
}

fn default_reassign_after() -> SignedDuration {
    SlaPolicy::default().reassign_after
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchConfig {
    pub id: String,
    pub name: String,
    /// An IANA time zone such as `Europe/Istanbul`.
    pub time_zone: String,
    /// The region (`TR`) whose numbering plan reads national phone numbers.
    pub phone_region: String,
    /// Lines such as `mon-fri 09:00-19:00`.
    pub opening_hours: Vec<String>,
    /// Local dates (`2026-12-31`) on which the branch is closed.
    #[serde(default)]
    pub closed_on: Vec<String>,
    /// The manager warned about this branch's leads; the tenant's first manager by default.
    #[serde(default)]
    pub manager: Option<String>,
    /// This branch's own channel order for messages to its patients
    /// (`["whatsapp", "sms"]`), instead of the tenant's.
    #[serde(default)]
    pub channels: Option<Vec<crate::message::Channel>>,
    /// Told to patients in reminders.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub map_link: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PractitionerConfig {
    pub id: String,
    pub name: String,
    pub branch: String,
    #[serde(default)]
    pub languages: Vec<String>,
    /// Their Cal.com account's e-mail or username.
    #[serde(default)]
    pub calcom: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub id: String,
    pub name: String,
    /// Language → the name in it.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
    /// Scheduler codes (FHIR `serviceType`) besides the id.
    #[serde(default)]
    pub codes: Vec<String>,
    /// Cal.com event-type slugs or ids that book it.
    #[serde(default)]
    pub calcom: Vec<String>,
    /// Language → aftercare instructions.
    #[serde(default)]
    pub aftercare: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentsConfig {
    /// Local hours in which unsolicited messages reach patients (`09:00-21:00`).
    #[serde(default)]
    pub send_hours: Option<String>,
    /// The most automated messages one patient gets in a day (3).
    #[serde(default)]
    pub max_per_day: Option<u32>,
    /// `csat` (1–5) or `nps` (0–10).
    #[serde(default)]
    pub survey: Option<SurveyScale>,
    /// The highest score that opens a task for the branch manager.
    #[serde(default)]
    pub low_score: Option<u8>,
    #[serde(default)]
    pub booking_link: Option<String>,
    /// The public base URL patients' confirm links point at.
    #[serde(default)]
    pub link_base: Option<String>,
    /// Answer (`confirm`, `reschedule`, `cancel`) → language → words.
    #[serde(default)]
    pub answers: BTreeMap<Answer, BTreeMap<String, Vec<String>>>,
    /// The clinic's scheduler, told of patients' answers.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// The secret that signs those calls (a credential reference).
    #[serde(default)]
    pub callback_secret: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalcomConfig {
    /// The webhook's secret (a credential reference).
    pub signing_secret: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagerConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsultantConfig {
    pub id: String,
    pub name: String,
    pub branch: String,
    pub languages: Vec<String>,
    /// Lines such as `mon-fri 09:00-17:00`, in the branch's local time.
    pub shifts: Vec<String>,
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default = "web_form")]
    pub source: String,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub honeypot: Option<String>,
    #[serde(default)]
    pub require_privacy_consent: bool,
}

fn web_form() -> String {
    "web_form".to_owned()
}

/// One problem in the configuration: the field's path and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// All tenants, with the lookups requests need: by id, by form, by staff token.
#[derive(Debug)]
pub struct Directory {
    tenants: Vec<Arc<Tenant>>,
    forms: HashMap<FormId, (usize, usize)>,
    tokens: HashMap<[u8; 32], usize>,
}

impl Directory {
    /// Validates every tenant; builds nothing unless everything is right.
    /// `prefix` is the path of the tenant list in the document (`tenants`).
    pub fn from_config(prefix: &str, configs: &[TenantConfig]) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Errors::default();
        if configs.is_empty() {
            errors.add(prefix, "at least one tenant is required");
        }
        let mut tenants = Vec::new();
        let mut tenant_ids = HashSet::new();
        let mut forms = HashMap::new();
        let mut tokens = HashMap::new();
        for (i, config) in configs.iter().enumerate() {
            let path = format!("{prefix}[{i}]");
            let Some((tenant, digests)) = build_tenant(&path, config, &mut errors) else {
                continue;
            };
            if !tenant_ids.insert(tenant.id.clone()) {
                errors.add(
                    format!("{path}.id"),
                    format!("tenant `{}` is defined twice", tenant.id),
                );
            }
            for (f, form) in tenant.forms.iter().enumerate() {
                if forms.insert(form.id.clone(), (tenants.len(), f)).is_some() {
                    errors.add(
                        format!("{path}.forms[{f}].id"),
                        format!(
                            "form `{}` is defined twice; form ids are unique across tenants",
                            form.id
                        ),
                    );
                }
            }
            for (t, digest) in digests.into_iter().enumerate() {
                if tokens.insert(digest, tenants.len()).is_some() {
                    errors.add(
                        format!("{path}.staff_tokens[{t}]"),
                        "this token is already in use; every token belongs to one tenant",
                    );
                }
            }
            tenants.push(Arc::new(tenant));
        }
        errors.into_result(Directory {
            tenants,
            forms,
            tokens,
        })
    }

    pub fn tenants(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.tenants.iter()
    }

    pub fn tenant(&self, id: &TenantId) -> Option<&Arc<Tenant>> {
        self.tenants.iter().find(|t| &t.id == id)
    }

    /// The form with this public id and the tenant it belongs to.
    pub fn form(&self, id: &str) -> Option<(&Arc<Tenant>, &Form)> {
        let id = FormId::new(id).ok()?;
        let &(t, f) = self.forms.get(&id)?;
        let tenant = self.tenants.get(t)?;
        Some((tenant, tenant.forms.get(f)?))
    }

    /// The tenant a staff bearer token belongs to.
    pub fn tenant_for_token(&self, token: &str) -> Option<&Arc<Tenant>> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens.get(&digest).and_then(|&t| self.tenants.get(t))
    }
}

#[derive(Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    fn add(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            problem: problem.into(),
        });
    }

    /// Runs a check; on failure records it at `path` and returns `None`.
    fn check<T, E: fmt::Display>(&mut self, path: impl Into<String>, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.add(path, e.to_string())).ok()
    }

    fn into_result<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// Builds one tenant; `None` after recording its problems.
fn build_tenant(
    path: &str,
    c: &TenantConfig,
    errors: &mut Errors,
) -> Option<(Tenant, Vec<[u8; 32]>)> {
    let before = errors.0.len();
    let id = errors.check(format!("{path}.id"), TenantId::new(&c.id));
    if c.name.trim().is_empty() {
        errors.add(format!("{path}.name"), "must not be empty");
    }
    let default_language = match &c.default_language {
        Some(l) => errors.check(format!("{path}.default_language"), Language::parse(l)),
        None => Language::parse("en").ok(),
    };
    let sla = build_sla(&format!("{path}.sla"), &c.sla, errors);
    let digests = build_tokens(&format!("{path}.staff_tokens"), &c.staff_tokens, errors);

    // References are checked against what the file defines, so that one bad
    // entry is reported once, not again by everything that names it.
    let manager_ids: Vec<&str> = c.managers.iter().map(|m| m.id.as_str()).collect();
    let branch_ids: Vec<&str> = c.branches.iter().map(|b| b.id.as_str()).collect();
    let branches: Vec<Branch> = c
        .branches
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            build_branch(&format!("{path}.branches[{i}]"), b, &manager_ids, errors)
        })
        .collect();
    // The branches' numbering plans, loaded now rather than at the first
    // number a request reads.
    crate::phone_plans::serve(branches.iter().map(|b| b.phone_region));
    if c.branches.is_empty() {
        errors.add(
            format!("{path}.branches"),
            "at least one branch is required",
        );
    }
    unique(
        errors,
        &format!("{path}.branches"),
        branches.iter().map(|b| b.id.as_str()),
    );

    let managers: Vec<Manager> = c
        .managers
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            // A national number is read in the region of a branch the
            // manager is warned about, or of the tenant's first branch.
            let region = branches
                .iter()
                .find(|b| b.manager.as_str() == m.id)
                .or(branches.first())
                .map(|b| b.phone_region);
            build_manager(&format!("{path}.managers[{i}]"), m, region, errors)
        })
        .collect();
    if c.managers.is_empty() {
        errors.add(
            format!("{path}.managers"),
            "at least one manager is required: managers are warned when leads wait",
        );
    }
    unique(
        errors,
        &format!("{path}.managers"),
        managers.iter().map(|m| m.id.as_str()),
    );

    let consultants: Vec<Consultant> = c
        .consultants
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            build_consultant(
                &format!("{path}.consultants[{i}]"),
                k,
                &branch_ids,
                &branches,
                errors,
            )
        })
        .collect();
    if !c.consultants.iter().any(|k| k.active) && !c.consultants.is_empty() {
        errors.add(
            format!("{path}.consultants"),
            "at least one consultant must be active",
        );
    }
    if c.consultants.is_empty() {
        errors.add(
            format!("{path}.consultants"),
            "at least one consultant is required",
        );
    }
    unique(
        errors,
        &format!("{path}.consultants"),
        consultants.iter().map(|k| k.id.as_str()),
    );

    let forms: Vec<Form> = c
        .forms
        .iter()
        .enumerate()
        .filter_map(|(i, f)| build_form(&format!("{path}.forms[{i}]"), f, &branch_ids, errors))
        .collect();

    let practitioners: Vec<Practitioner> = c
        .practitioners
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            build_practitioner(
                &format!("{path}.practitioners[{i}]"),
                p,
                &branch_ids,
                errors,
            )
        })
        .collect();
    unique(
        errors,
        &format!("{path}.practitioners"),
        practitioners.iter().map(|p| p.id.as_str()),
    );
    let services: Vec<Service> = c
        .services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| build_service(&format!("{path}.services[{i}]"), s, errors))
        .collect();
    unique(
        errors,
        &format!("{path}.services"),
        services.iter().map(|s| s.id.as_str()),
    );

    // The languages the tenant serves: every patient text must exist in each.
    let mut serves: Vec<Language> = default_language.iter().cloned().collect();
    for l in consultants
        .iter()
        .flat_map(|k| &k.languages)
        .chain(practitioners.iter().flat_map(|p| &p.languages))
        .chain(forms.iter().filter_map(|f| f.language.as_ref()))
    {
        if !serves.contains(l) {
            serves.push(l.clone());
        }
    }
    let fallback = Language::parse("en").ok();
    let staff_language = default_language.as_ref().or(fallback.as_ref());
    let templates = match staff_language.map(|staff| Templates::new(&c.templates, &serves, staff)) {
        Some(Ok(t)) => Some(t),
        None => None,
        Some(Err(problems)) => {
            for (at, problem) in problems {
                errors.add(format!("{path}.templates.{at}"), problem);
            }
            None
        }
    };

    let configs = providers::ProviderConfigs {
        whatsapp: c.whatsapp.as_ref(),
        sms: c.sms.as_ref(),
        email: c.email.as_ref(),
        instagram: c.instagram.as_ref(),
    };
    let messaging = match providers::build(path, &c.messaging, configs) {
        Ok(m) => Some(m),
        Err(problems) => {
            for (at, problem) in problems {
                errors.add(at, problem);
            }
            None
        }
    };

    let appointments = messaging
        .as_ref()
        .and_then(|m| build_appointments(path, c, m, errors));

    let blasts = match crate::blast::build(&format!("{path}.blasts"), &c.blasts) {
        Ok(b) => Some(b),
        Err(problems) => {
            for (at, problem) in problems {
                errors.add(at, problem);
            }
            None
        }
    };

    let form_ids: Vec<FormId> = forms.iter().map(|f| f.id.clone()).collect();
    let lead_ads = match crate::lead_ads::build(&format!("{path}.lead_ads"), &c.lead_ads, &form_ids)
    {
        Ok(l) => Some(l),
        Err(problems) => {
            for (at, problem) in problems {
                errors.add(at, problem);
            }
            None
        }
    };

    let language_question = c.language_question.as_ref().map(|q| q.wait);
    if let Some(wait) = language_question {
        if wait <= SignedDuration::ZERO || wait > SignedDuration::from_hours(24) {
            errors.add(
                format!("{path}.language_question.wait"),
                "must be longer than zero and at most 24h (WhatsApp's window)",
            );
        }
        if serves.len() < 2 {
            errors.add(
                format!("{path}.language_question"),
                "the clinic serves one language: there is nothing to ask",
            );
        }
    }
    let consultant_ids: Vec<ConsultantId> = consultants.iter().map(|k| k.id.clone()).collect();
    let calls = match &c.calls {
        None => Some(None),
        Some(calls) => {
            match crate::calls::CallsPolicy::build(&format!("{path}.calls"), calls, &consultant_ids)
            {
                Ok(policy) => Some(Some(policy)),
                Err(problems) => {
                    for (at, problem) in problems {
                        errors.add(at, problem);
                    }
                    None
                }
            }
        }
    };

    if errors.0.len() > before {
        return None;
    }
    Some((
        Tenant {
            id: id?,
            name: c.name.trim().to_owned(),
            default_language: default_language?,
            languages: serves,
            sla: sla?,
            branches,
            consultants,
            managers,
            forms,
            practitioners,
            services,
            templates: templates?,
            messaging: messaging?,
            appointments: appointments?,
            blasts: blasts?,
            lead_ads: lead_ads?,
            calls: calls?,
            language_question,
        },
        digests,
    ))
}

fn unique<'a>(errors: &mut Errors, path: &str, ids: impl Iterator<Item = &'a str>) {
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            errors.add(
                format!("{path}[{i}].id"),
                format!("`{id}` is defined twice"),
            );
        }
    }
}

fn build_sla(path: &str, c: &SlaConfig, errors: &mut Errors) -> Option<SlaPolicy> {
    let mut ok = true;
    if c.first_contact <= SignedDuration::ZERO {
        errors.add(
            format!("{path}.first_contact"),
            "must be longer than zero, such as `10m`",
        );
        ok = false;
    }
    if c.reassign_after <= c.first_contact {
        errors.add(
            format!("{path}.reassign_after"),
            format!("must be longer than first_contact ({:#})", c.first_contact),
        );
        ok = false;
    }
    ok.then_some(SlaPolicy {
        first_contact: c.first_contact,
        reassign_after: c.reassign_after,
    })
}

fn build_tokens(path: &str, tokens: &[String], errors: &mut Errors) -> Vec<[u8; 32]> {
    let mut digests = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if let Some(hex) = token.strip_prefix("sha256:") {
            match decode_hex32(hex) {
                Some(d) => digests.push(d),
                None => errors.add(
                    at,
                    "a `sha256:` token must be followed by 64 hexadecimal digits",
                ),
            }
        } else if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
            errors.add(
                at,
                format!("a token must be at least {MIN_TOKEN_LEN} characters without spaces"),
            );
        } else {
            digests.push(Sha256::digest(token.as_bytes()).into());
        }
    }
    digests
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn build_reach(
    path: &str,
    phone: &Option<String>,
    email: &Option<String>,
    region: Option<Region>,
    errors: &mut Errors,
) -> Reach {
    // An international number (+90…) reads the same in any region; a
    // national one is read in the staff member's branch's region. Without
    // a valid branch there is nothing to read it with (that branch's own
    // error is reported).
    let phone = phone
        .as_deref()
        .and_then(|p| errors.check(format!("{path}.phone"), PhoneNumber::parse(p, region?)));
    let email = email
        .as_deref()
        .and_then(|e| errors.check(format!("{path}.email"), Email::parse(e)));
    Reach {
        phone,
        email,
        ..Reach::default()
    }
}

fn build_manager(
    path: &str,
    c: &ManagerConfig,
    region: Option<Region>,
    errors: &mut Errors,
) -> Option<Manager> {
    let id = errors.check(format!("{path}.id"), ManagerId::new(&c.id));
    let reach = build_reach(path, &c.phone, &c.email, region, errors);
    if c.phone.is_none() && c.email.is_none() {
        errors.add(path, "a manager needs a phone or an email to be warned on");
    }
    Some(Manager {
        id: id?,
        name: c.name.trim().to_owned(),
        reach,
    })
}

fn build_branch(
    path: &str,
    c: &BranchConfig,
    managers: &[&str],
    errors: &mut Errors,
) -> Option<Branch> {
    let id = errors.check(format!("{path}.id"), BranchId::new(&c.id));
    let time_zone = errors.check(
        format!("{path}.time_zone"),
        TimeZone::get(&c.time_zone).map_err(|_| {
            format!(
                "`{}` is not an IANA time zone such as Europe/Istanbul",
                c.time_zone
            )
        }),
    );
    let phone_region = errors.check(
        format!("{path}.phone_region"),
        c.phone_region.parse::<Region>(),
    );
    let closed_on: Vec<Date> = c
        .closed_on
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            errors.check(
                format!("{path}.closed_on[{i}]"),
                d.parse::<Date>()
                    .map_err(|_| format!("`{d}` is not a date such as 2026-12-31")),
            )
        })
        .collect();
    let opening_hours = errors
        .check(
            format!("{path}.opening_hours"),
            WeeklySchedule::parse(&c.opening_hours),
        )
        .map(|s| s.closed_on(closed_on));
    if opening_hours.as_ref().is_some_and(WeeklySchedule::is_empty) {
        errors.add(
            format!("{path}.opening_hours"),
            "a branch needs opening hours, such as [\"mon-fri 09:00-19:00\"]",
        );
    }
    let manager = match c.manager.as_deref().or(managers.first().copied()) {
        Some(m) if managers.contains(&m) => ManagerId::new(m).ok(),
        Some(m) => {
            errors.add(
                format!("{path}.manager"),
                format!("no manager `{m}` in this tenant"),
            );
            None
        }
        None => None,
    };
    if let Some(channels) = &c.channels {
        for (path, problem) in providers::check_order(format!("{path}.channels"), channels) {
            errors.add(path, problem);
        }
    }
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Some(Branch {
        id: id?,
        name: c.name.trim().to_owned(),
        time_zone: time_zone?,
        phone_region: phone_region?,
        opening_hours: opening_hours?,
        manager: manager?,
        channels: c.channels.clone(),
        address: text(&c.address),
        phone: text(&c.phone),
        map_link: text(&c.map_link),
    })
}

/// The branch `name` refers to, if the tenant defines it; else a problem at `{path}.branch`.
fn branch_named(
    path: &str,
    name: &str,
    branch_ids: &[&str],
    errors: &mut Errors,
) -> Option<BranchId> {
    if branch_ids.contains(&name) {
        BranchId::new(name).ok()
    } else {
        errors.add(
            format!("{path}.branch"),
            format!("no branch `{name}` in this tenant"),
        );
        None
    }
}

fn build_practitioner(
    path: &str,
    c: &PractitionerConfig,
    branch_ids: &[&str],
    errors: &mut Errors,
) -> Option<Practitioner> {
    let id = errors.check(format!("{path}.id"), PractitionerId::new(&c.id));
    let branch = branch_named(path, &c.branch, branch_ids, errors);
    let languages: Vec<Language> = c
        .languages
        .iter()
        .enumerate()
        .filter_map(|(i, l)| errors.check(format!("{path}.languages[{i}]"), Language::parse(l)))
        .collect();
    if c.name.trim().is_empty() {
        errors.add(format!("{path}.name"), "must not be empty");
    }
    Some(Practitioner {
        id: id?,
        name: c.name.trim().to_owned(),
        branch: branch?,
        languages,
        calcom: c.calcom.as_deref().map(str::trim).map(str::to_owned),
    })
}

fn build_service(path: &str, c: &ServiceConfig, errors: &mut Errors) -> Option<Service> {
    let id = errors.check(format!("{path}.id"), ServiceId::new(&c.id));
    if c.name.trim().is_empty() {
        errors.add(format!("{path}.name"), "must not be empty");
    }
    let by_language = |field: &str, texts: &BTreeMap<String, String>, errors: &mut Errors| {
        texts
            .iter()
            .filter_map(|(l, t)| {
                let lang = errors.check(format!("{path}.{field}.{l}"), Language::parse(l))?;
                Some((lang, t.trim().to_owned()))
            })
            .collect::<BTreeMap<_, _>>()
    };
    let names = by_language("names", &c.names, errors);
    let aftercare = by_language("aftercare", &c.aftercare, errors);
    Some(Service {
        id: id?,
        name: c.name.trim().to_owned(),
        names,
        codes: c.codes.clone(),
        calcom: c.calcom.clone(),
        aftercare,
    })
}

/// `[tenants.appointments]`, `[tenants.journeys]` and `[tenants.calcom]`.
fn build_appointments(
    path: &str,
    c: &TenantConfig,
    messaging: &providers::MessagingPolicy,
    errors: &mut Errors,
) -> Option<AppointmentPolicy> {
    let keywords = &messaging.keywords;
    let a = &c.appointments;
    let at = format!("{path}.appointments");
    let send_hours = match &a.send_hours {
        Some(h) => errors.check(format!("{at}.send_hours"), SendHours::parse(h))?,
        None => SendHours::default(),
    };
    let survey = a.survey.unwrap_or_default();
    let (min, max) = survey.range();
    let low_score = a.low_score.unwrap_or_else(|| survey.default_low());
    if !(min..=max).contains(&low_score) {
        errors.add(
            format!("{at}.low_score"),
            format!("must be on the survey's scale, {min} to {max}"),
        );
    }
    let max_per_day = a.max_per_day.unwrap_or(3);
    if max_per_day == 0 {
        errors.add(format!("{at}.max_per_day"), "must be at least 1");
    }
    let url = |field: &str, v: &Option<String>, errors: &mut Errors| {
        let v = v.as_deref()?.trim().trim_end_matches('/');
        if v.starts_with("https://") || v.starts_with("http://") {
            Some(v.to_owned())
        } else {
            errors.add(format!("{at}.{field}"), "must be an http(s) URL");
            None
        }
    };
    let booking_link = url("booking_link", &a.booking_link, errors);
    let link_base = url("link_base", &a.link_base, errors);
    let callback_url = url("callback_url", &a.callback_url, errors);
    let callback = match (callback_url, &a.callback_secret) {
        (Some(url), Some(secret)) => errors
            .check(format!("{at}.callback_secret"), SecretRef::parse(secret))
            .map(|secret| Callback { url, secret }),
        (None, None) => None,
        (Some(_), None) => {
            errors.add(
                format!("{at}.callback_secret"),
                "is required with callback_url: the calls are signed",
            );
            None
        }
        (None, Some(_)) => {
            if a.callback_url.is_none() {
                errors.add(
                    format!("{at}.callback_url"),
                    "is required with callback_secret",
                );
            }
            None
        }
    };
    let mut own = BTreeMap::new();
    for (answer, by_language) in &a.answers {
        let mut words = BTreeMap::new();
        for (l, ws) in by_language {
            if let Some(lang) = errors.check(
                format!("{at}.answers.{}.{l}", answer.as_str()),
                Language::parse(l),
            ) {
                words.insert(lang, ws.clone());
            }
        }
        own.insert(*answer, words);
    }
    let answers = AnswerWords::new(&own);
    for conflict in answers.conflicts(keywords) {
        errors.add(
            format!("{at}.answers"),
            format!("{conflict}: a reply must never mean two things"),
        );
    }
    let rules = match journey::rules(&format!("{path}.journeys"), &c.journeys, low_score) {
        Ok(r) => Some(r),
        Err(problems) => {
            for (p, problem) in problems {
                errors.add(p, problem);
            }
            None
        }
    };
    // A WhatsApp message before the visit must not outlive its use: its
    // template's validity period is at most the step's minimum lead.
    for rule in rules.iter().flatten() {
        let journey::Trigger::BeforeStart { .. } = rule.trigger else {
            continue;
        };
        for action in &rule.actions {
            let journey::Action::Message { kind, .. } = action else {
                continue;
            };
            let Some(template) = messaging.whatsapp_templates.get(kind) else {
                continue;
            };
            let at = format!("{path}.whatsapp.templates.{}.ttl", kind.as_str());
            match template.ttl {
                Some(ttl) if ttl > rule.min_lead => errors.add(
                    at,
                    format!(
                        "{ttl:#} is longer than the {} journey's minimum lead ({:#}): an undelivered message could arrive after its use",
                        rule.id, rule.min_lead
                    ),
                ),
                None if *kind == TemplateKind::AppointmentReminder => errors.add(
                    at,
                    "declare the validity period the template was approved with (at most the reminder's minimum lead), so a late reminder never lands after the visit",
                ),
                _ => {}
            }
        }
    }
    let calcom_secret = c.calcom.as_ref().and_then(|cal| {
        errors.check(
            format!("{path}.calcom.signing_secret"),
            SecretRef::parse(&cal.signing_secret),
        )
    });
    Some(AppointmentPolicy {
        rules: rules?,
        send_hours,
        max_per_day,
        survey,
        low_score,
        booking_link,
        link_base,
        answers,
        callback,
        calcom_secret,
    })
}

fn build_consultant(
    path: &str,
    c: &ConsultantConfig,
    branch_ids: &[&str],
    branches: &[Branch],
    errors: &mut Errors,
) -> Option<Consultant> {
    let id = errors.check(format!("{path}.id"), ConsultantId::new(&c.id));
    let branch = branch_named(path, &c.branch, branch_ids, errors);
    let region = branches
        .iter()
        .find(|b| b.id.as_str() == c.branch)
        .map(|b| b.phone_region);
    let languages: Vec<Language> = c
        .languages
        .iter()
        .enumerate()
        .filter_map(|(i, l)| errors.check(format!("{path}.languages[{i}]"), Language::parse(l)))
        .collect();
    if c.languages.is_empty() {
        errors.add(
            format!("{path}.languages"),
            "a consultant speaks at least one language",
        );
    }
    let shifts = errors.check(format!("{path}.shifts"), WeeklySchedule::parse(&c.shifts));
    if c.capacity == Some(0) {
        errors.add(
            format!("{path}.capacity"),
            "must be at least 1; leave it out for no limit",
        );
    }
    let reach = build_reach(path, &c.phone, &c.email, region, errors);
    Some(Consultant {
        id: id?,
        name: c.name.trim().to_owned(),
        branch: branch?,
        languages,
        shifts: shifts?,
        capacity: c.capacity,
        active: c.active,
        reach,
    })
}

fn build_form(
    path: &str,
    c: &FormConfig,
    branch_ids: &[&str],
    errors: &mut Errors,
) -> Option<Form> {
    let id = errors.check(format!("{path}.id"), FormId::new(&c.id));
    let branch = match &c.branch {
        Some(b) if branch_ids.contains(&b.as_str()) => Some(BranchId::new(b).ok()?),
        Some(b) => {
            errors.add(
                format!("{path}.branch"),
                format!("no branch `{b}` in this tenant"),
            );
            return None;
        }
        None => None,
    };
    let language = match &c.language {
        Some(l) => Some(errors.check(format!("{path}.language"), Language::parse(l))?),
        None => None,
    };
    for (i, origin) in c.allowed_origins.iter().enumerate() {
        if origin != "*" && !is_origin(origin) {
            errors.add(
                format!("{path}.allowed_origins[{i}]"),
                format!("`{origin}` is not an origin such as https://clinic.example (scheme, host and optional port, no path)"),
            );
        }
    }
    let honeypot = c.honeypot.as_ref().map(|h| h.trim().to_owned());
    if honeypot.as_deref() == Some("") {
        errors.add(format!("{path}.honeypot"), "must name a form field");
    }
    Some(Form {
        id: id?.clone(),
        name: c.name.clone().unwrap_or_else(|| c.id.clone()),
        branch,
        language,
        source: c.source.clone(),
        allowed_origins: c
            .allowed_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_owned())
            .collect(),
        honeypot,
        require_privacy_consent: c.require_privacy_consent,
    })
}

/// `scheme://host[:port]` with nothing after it: what a browser sends as `Origin`.
fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.trim_end_matches('/').split_once("://") else {
        return false;
    };
    let host = rest.rsplit_once(':').map_or(rest, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
            h
        } else {
            rest
        }
    });
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[tenants]]
id = "demo"
name = "Demo Dental"
default_language = "tr"
staff_tokens = ["a-long-enough-staff-token"]
sla = { first_contact = "10m", reassign_after = "30m" }

[[tenants.managers]]
id = "selin"
name = "Selin Kaya"
phone = "+90 532 000 00 01"

[[tenants.branches]]
id = "kadikoy"
name = "Kadıköy"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["mon-fri 09:00-19:00"]
closed_on = ["2026-12-31"]

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "kadikoy"
languages = ["tr", "en"]
shifts = ["mon-fri 09:00-17:00"]

[[tenants.forms]]
id = "web"
allowed_origins = ["https://clinic.example"]
honeypot = "website"
"#;

    #[derive(Deserialize)]
    struct Doc {
        tenants: Vec<TenantConfig>,
    }

    fn load(text: &str) -> Result<Directory, Vec<ConfigError>> {
        let doc: Doc = toml::from_str(text).unwrap();
        Directory::from_config("tenants", &doc.tenants)
    }

    #[test]
    fn a_good_document_builds_a_directory() {
        let d = load(GOOD).unwrap();
        let (tenant, form) = d.form("web").unwrap();
        assert_eq!(tenant.id.as_str(), "demo");
        assert!(form.allows_origin("https://clinic.example/"));
        assert!(!form.allows_origin("https://evil.example"));
        assert_eq!(tenant.branches[0].manager.as_str(), "selin");
        assert_eq!(tenant.sla.first_contact, SignedDuration::from_mins(10));
        assert!(d.tenant_for_token("a-long-enough-staff-token").is_some());
        assert!(d.tenant_for_token("a-long-enough-staff-tokeN").is_none());
        assert!(d.form("nope").is_none());
        assert!(d.form("Bad#Id").is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = GOOD
            .replace("Europe/Istanbul", "Europe/Istambul")
            .replace("\"tr\", \"en\"", "\"tr\", \"english\"")
            .replace("branch = \"kadikoy\"", "branch = \"moda\"")
            .replace("a-long-enough-staff-token", "short")
            .replace("reassign_after = \"30m\"", "reassign_after = \"5m\"")
            .replace("https://clinic.example", "clinic.example/path");
        let errors = load(&bad).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tenants[0].sla.reassign_after",
                "tenants[0].staff_tokens[0]",
                "tenants[0].branches[0].time_zone",
                "tenants[0].consultants[0].branch",
                "tenants[0].consultants[0].languages[1]",
                "tenants[0].forms[0].allowed_origins[0]",
            ],
            "{errors:#?}"
        );
        assert!(errors[2].problem.contains("Europe/Istambul"));
    }

    #[test]
    fn durations_are_human_readable() {
        let doc: Doc = toml::from_str(
            &GOOD
                .replace("\"10m\"", "\"1h 30s\"")
                .replace("\"30m\"", "\"2h\""),
        )
        .unwrap();
        let d = Directory::from_config("tenants", &doc.tenants).unwrap();
        let sla = d.tenants().next().unwrap().sla;
        assert_eq!(sla.first_contact, SignedDuration::from_secs(3630));
        assert_eq!(sla.reassign_after, SignedDuration::from_hours(2));
        assert!(toml::from_str::<Doc>(&GOOD.replace("\"10m\"", "\"ten minutes\"")).is_err());
    }

    #[test]
    fn ids_and_tokens_are_unique() {
        // The same tenant twice: its id, form and token collide.
        let twice = format!("{GOOD}\n{GOOD}");
        let errors = load(&twice).unwrap_err();
        let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("tenants[1].id: tenant `demo` is defined twice")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("tenants[1].forms[0].id")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("tenants[1].staff_tokens[0]")),
            "{problems:?}"
        );
    }

    #[test]
    fn hashed_tokens_are_accepted() {
        let digest: [u8; 32] = Sha256::digest(b"another-long-staff-token").into();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let d = load(&GOOD.replace("a-long-enough-staff-token", &format!("sha256:{hex}"))).unwrap();
        assert!(d.tenant_for_token("another-long-staff-token").is_some());
    }

    const LEAD_ADS: &str = r#"
[tenants.lead_ads]
google_key = "env:GOOGLE_KEY"

[[tenants.lead_ads.forms]]
network = "google"
id = "40000000001"
form = "web"
language = "en"
fields = { FULL_NAME = "name", PHONE_NUMBER = "phone", "which_treatment?" = "service" }
"#;

    fn google_lead(form_id: &str, answers: &[(&str, &str)]) -> crate::lead_ads::LeadAd {
        crate::lead_ads::LeadAd {
            network: crate::lead_ads::AdNetwork::Google,
            lead_id: "L-1".into(),
            form_id: form_id.into(),
            answers: answers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ad: crate::lead_ads::AdAttribution::default(),
            test: false,
            at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn lead_ad_forms_read_through_their_mapping() {
        use crate::lead_ads::{Read, read};
        let d = load(&format!("{GOOD}{LEAD_ADS}")).unwrap();
        let tenant = d.tenants().next().unwrap();
        assert!(tenant.lead_ads.google_key.is_some());
        let answers = [
            ("FULL_NAME", "Anna Schmidt"),
            ("PHONE_NUMBER", "+49 30 901820"),
            ("which_treatment?", "implant"),
        ];
        let Read::Mapped { submission, form } = read(tenant, &google_lead("40000000001", &answers))
        else {
            panic!("not mapped");
        };
        assert_eq!(form.as_str(), "web");
        assert_eq!(submission.service.as_deref(), Some("implant"));
        assert_eq!(submission.language.as_str(), "en");
        assert_eq!(
            submission.attribution.utm_source.as_deref(),
            Some("google_ads")
        );

        // Another form: its contact questions only, and why.
        let Read::Unmapped { submission, why } = read(tenant, &google_lead("77", &answers)) else {
            panic!("not unmapped");
        };
        assert!(submission.service.is_none());
        assert!(why.contains("form 77 has no mapping"), "{why}");
        // A mapped form whose phone does not read: kept by its e-mail,
        // unmapped, why named.
        let bad_phone = [
            ("FULL_NAME", "Anna"),
            ("PHONE_NUMBER", "12"),
            ("EMAIL", "anna@example.com"),
        ];
        let Read::Unmapped { submission, why } =
            read(tenant, &google_lead("40000000001", &bad_phone))
        else {
            panic!("not unmapped");
        };
        assert!(why.contains("phone"), "{why}");
        assert!(submission.reach.phone.is_none() && submission.reach.email.is_some());
        // No contact at all: unreadable.
        assert!(matches!(
            read(
                tenant,
                &google_lead("40000000001", &[("FULL_NAME", "Anna")])
            ),
            Read::Unreadable(_)
        ));
    }

    #[test]
    fn lead_ad_forms_are_checked_with_their_paths() {
        let bad = LEAD_ADS
            .replace("google_key = \"env:GOOGLE_KEY\"\n", "")
            .replace("network = \"google\"", "network = \"tiktok\"")
            .replace("form = \"web\"", "form = \"nope\"")
            .replace("language = \"en\"", "language = \"english!\"")
            .replace("= \"service\"", "= \"colour\"");
        let errors = load(&format!("{GOOD}{bad}")).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tenants[0].lead_ads.forms[0].network",
                "tenants[0].lead_ads.forms[0].form",
                "tenants[0].lead_ads.forms[0].language",
                "tenants[0].lead_ads.forms[0].fields.which_treatment?",
            ],
            "{errors:#?}"
        );
        // A Google form needs a key, its own or the tenant's; a mapping
        // must name the question that gives a phone or an e-mail.
        let keyless = LEAD_ADS
            .replace("google_key = \"env:GOOGLE_KEY\"\n", "")
            .replace("PHONE_NUMBER = \"phone\", ", "");
        let errors = load(&format!("{GOOD}{keyless}")).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tenants[0].lead_ads.forms[0].fields",
                "tenants[0].lead_ads.forms[0].key",
            ],
            "{errors:#?}"
        );
    }
}
