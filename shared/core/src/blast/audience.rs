//! The audience: the filter, what the preview knows of each member, the
//! one bucket each is in, and the digest a send is checked against.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BlastTemplate;
use crate::appointment::{AppointmentStatus, Confirmation};
use crate::contact::ContactKey;
use crate::ids::{BranchId, Language, PractitionerId, RecordRef, ServiceId};
use crate::journey::SendHours;
use crate::lead::Stage;
use crate::message::{Channel, Purpose};
use crate::messaging::{Route, Windows};

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
    /// When the patient last wrote on WhatsApp and Instagram.
    pub windows: Windows,
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
    let approved = cx.template.whatsapp.is_some();
    let mut over_allowance = false;
    let mut chosen = None;
    for route in routes {
        if c.windows.open(route.channel, cx.now) {
            chosen = Some((route, false));
            break;
        }
        // Outside its window Instagram carries nothing; WhatsApp a template.
        if route.channel != Channel::Whatsapp || !approved {
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
