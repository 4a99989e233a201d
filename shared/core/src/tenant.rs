//! A tenant is a clinic chain: its branches (clinics), consultants,
//! managers, web forms, SLA and message templates. Built from a validated
//! configuration document (see [`crate::config`]).

use jiff::tz::TimeZone;

use crate::contact::{Reach, Region};
use crate::ids::{BranchId, ConsultantId, FormId, Language, ManagerId, TenantId};
use crate::providers::MessagingPolicy;
use crate::schedule::WeeklySchedule;
use crate::sla::SlaPolicy;
use crate::template::Templates;

#[derive(Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub default_language: Language,
    pub sla: SlaPolicy,
    pub branches: Vec<Branch>,
    pub consultants: Vec<Consultant>,
    pub managers: Vec<Manager>,
    pub forms: Vec<Form>,
    pub templates: Templates,
    /// Channel order, WhatsApp templates, opt-out words and providers.
    pub messaging: MessagingPolicy,
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

    /// The branch a lead lands in when neither the form nor the patient chose one.
    pub fn default_branch(&self) -> &Branch {
        // Validation guarantees at least one branch.
        &self.branches[0]
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
