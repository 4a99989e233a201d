//! A tenant is a clinic chain: its branches (clinics), consultants,
//! managers, web forms, SLA and message templates. Built from a validated
//! configuration document (see [`crate::config`]).

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use crate::answer::AnswerWords;
use crate::contact::{Reach, Region};
use crate::ids::{
    BranchId, ConsultantId, FormId, Language, ManagerId, PractitionerId, ServiceId, TenantId,
};
use crate::journey::{Rule, SendHours, SurveyScale};
use crate::providers::{MessagingPolicy, SecretRef};
use crate::schedule::WeeklySchedule;
use crate::sla::SlaPolicy;
use crate::template::Templates;

#[derive(Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub default_language: Language,
    /// The languages the clinic serves: the default, its consultants',
    /// practitioners' and forms' (patient texts exist in each).
    pub languages: Vec<Language>,
    pub sla: SlaPolicy,
    pub branches: Vec<Branch>,
    pub consultants: Vec<Consultant>,
    pub managers: Vec<Manager>,
    pub forms: Vec<Form>,
    pub practitioners: Vec<Practitioner>,
    pub services: Vec<Service>,
    pub templates: Templates,
    /// Channel order, WhatsApp templates, opt-out words and providers.
    pub messaging: MessagingPolicy,
    /// How appointments are followed: journeys, send hours, answers.
    pub appointments: AppointmentPolicy,
    /// Blast templates, limits and prices.
    pub blasts: crate::blast::BlastPolicy,
    /// Lead ads: Google's key, Meta's app and Pages, the forms' mappings.
    pub lead_ads: crate::lead_ads::LeadAds,
    /// The switchboard's signed call records, when the clinic sends them.
    pub calls: Option<crate::calls::CallsPolicy>,
    /// How long a WhatsApp or Instagram lead's assignment waits for the
    /// answer to our language question; `None`: the clinic does not ask.
    pub language_question: Option<jiff::SignedDuration>,
}

impl Tenant {
    pub fn branch(&self, id: &BranchId) -> Option<&Branch> {
        self.branches.iter().find(|b| &b.id == id)
    }

    pub fn consultant(&self, id: &ConsultantId) -> Option<&Consultant> {
        self.consultants.iter().find(|c| &c.id == id)
    }

    pub fn manager(&self, id: &ManagerId) -> Option<&Manager> {
        self.managers.iter().find(|m| &m.id == id)
    }

    pub fn form(&self, id: &FormId) -> Option<&Form> {
        self.forms.iter().find(|f| &f.id == id)
    }

    /// The clinic's mapping of a network's lead form.
    pub fn lead_form(
        &self,
        network: crate::lead_ads::AdNetwork,
        id: &str,
    ) -> Option<&crate::lead_ads::LeadForm> {
        self.lead_ads
            .forms
            .iter()
            .find(|f| f.network == network && f.id == id)
    }

    /// A practitioner by id.
    pub fn practitioner(&self, id: &str) -> Option<&Practitioner> {
        self.practitioners.iter().find(|p| p.id.as_str() == id)
    }

    /// The practitioner whose Cal.com account (e-mail or username) this is.
    pub fn practitioner_by_calcom(&self, who: &str) -> Option<&Practitioner> {
        self.practitioners.iter().find(|p| {
            p.calcom
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(who))
        })
    }

    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| &s.id == id)
    }

    /// The service a scheduler's code names: its id, or one of its codes.
    pub fn service_by_code(&self, code: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.id.as_str() == code || s.codes.iter().any(|c| c == code))
    }

    /// The service a Cal.com event type (slug or id) is for.
    pub fn service_by_calcom(&self, event_type: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.calcom.iter().any(|c| c == event_type))
    }

    /// The branch a lead lands in when neither the form nor the patient chose one.
    pub fn default_branch(&self) -> &Branch {
        // Validation guarantees at least one branch.
        &self.branches[0]
    }

    /// The branch `id`, or the default branch when it left the configuration.
    pub fn branch_or_default(&self, id: &BranchId) -> &Branch {
        self.branch(id).unwrap_or_else(|| self.default_branch())
    }
}

#[derive(Debug)]
pub struct Branch {
    pub id: BranchId,
    pub name: String,
    pub time_zone: TimeZone,
    /// How national phone numbers typed at this branch are read.
    pub phone_region: Region,
    pub opening_hours: WeeklySchedule,
    /// Warned when a lead of this branch waits too long.
    pub manager: ManagerId,
    /// This branch's channel order for messages to its patients, if it has its own.
    pub channels: Option<Vec<crate::message::Channel>>,
    /// Told to patients in reminders.
    pub address: Option<String>,
    pub phone: Option<String>,
    pub map_link: Option<String>,
}

/// A practitioner (doctor, hygienist, …): whom an appointment is with.
#[derive(Debug)]
pub struct Practitioner {
    pub id: PractitionerId,
    pub name: String,
    pub branch: BranchId,
    pub languages: Vec<Language>,
    /// Their Cal.com account's e-mail (or username), to read Cal.com bookings.
    pub calcom: Option<String>,
}

/// A service the clinic offers.
#[derive(Debug)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    /// The name in other languages.
    pub names: BTreeMap<Language, String>,
    /// Codes a scheduler may name it by (FHIR `serviceType` codes), besides its id.
    pub codes: Vec<String>,
    /// Cal.com event types (slugs or ids) that book it.
    pub calcom: Vec<String>,
    /// Aftercare instructions per language.
    pub aftercare: BTreeMap<Language, String>,
}

impl Service {
    /// The name in `language`, else the default one.
    pub fn name_in(&self, language: &Language) -> &str {
        self.names.get(language).unwrap_or(&self.name)
    }

    /// The aftercare text in `language`, else in `fallback`, else none.
    pub fn aftercare_in(&self, language: &Language, fallback: &Language) -> &str {
        self.aftercare
            .get(language)
            .or_else(|| self.aftercare.get(fallback))
            .map_or("", String::as_str)
    }
}

/// How a tenant follows its appointments.
#[derive(Debug)]
pub struct AppointmentPolicy {
    /// The journeys: the default rules with the tenant's changes.
    pub rules: Vec<Rule>,
    /// When unsolicited messages may reach a patient, in their time zone.
    pub send_hours: SendHours,
    /// The most automated messages a patient gets in one of their days.
    pub max_per_day: u32,
    pub survey: SurveyScale,
    /// The highest survey score that opens a task for the branch manager.
    pub low_score: u8,
    /// Where patients book again (no-show recovery, cancellations).
    pub booking_link: Option<String>,
    /// The public base URL of this deployment: patients' confirm links point
    /// at `{link_base}/a/{tenant}/{token}`. Without it, messages carry no link.
    pub link_base: Option<String>,
    /// The reply grammar.
    pub answers: AnswerWords,
    /// The clinic's own scheduler, told of each patient answer.
    pub callback: Option<Callback>,
    /// The secret Cal.com signs this tenant's webhooks with.
    pub calcom_secret: Option<SecretRef>,
}

/// A signed HTTP POST to the clinic's scheduler.
#[derive(Debug)]
pub struct Callback {
    pub url: String,
    pub secret: SecretRef,
}

impl AppointmentPolicy {
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id.as_str() == id)
    }
}

#[derive(Debug)]
pub struct Consultant {
    pub id: ConsultantId,
    pub name: String,
    pub branch: BranchId,
    pub languages: Vec<Language>,
    /// Shifts in the local time of the consultant's branch.
    pub shifts: WeeklySchedule,
    /// The most open leads this consultant takes; `None` for no limit.
    pub capacity: Option<u32>,
    pub active: bool,
    pub reach: Reach,
}

impl Consultant {
    pub fn speaks(&self, language: &Language) -> bool {
        self.languages.contains(language)
    }

    /// The name a patient is told: the first word of the full name.
    pub fn first_name(&self) -> &str {
        first_word(&self.name)
    }
}

#[derive(Debug)]
pub struct Manager {
    pub id: ManagerId,
    pub name: String,
    pub reach: Reach,
}

#[derive(Debug)]
pub struct Form {
    pub id: FormId,
    pub name: String,
    /// A form on a branch's own page fixes the branch; otherwise the patient may choose one.
    pub branch: Option<BranchId>,
    pub language: Option<Language>,
    /// What the lead's source reads, such as `web_form` or `landing_page`.
    pub source: String,
    /// Origins (`https://clinic.example`) whose pages may post this form from a browser.
    pub allowed_origins: Vec<String>,
    /// A field hidden from people: a submission that fills it is a bot's.
    pub honeypot: Option<String>,
    /// Whether the patient must tick the privacy-notice box (KVKK, GDPR).
    pub require_privacy_consent: bool,
}

impl Form {
    /// Whether a browser page at `origin` may post this form.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

pub(crate) fn first_word(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or_default()
}
