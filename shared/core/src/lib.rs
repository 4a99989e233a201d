//! Clinicflow's domain, pure: no I/O, no async, no clock reads (time is
//! passed in). It builds for `wasm32-wasip1`.
//!
//! - [`contact`]: phone numbers (E.164), e-mail, the dedupe key, log masks.
//! - [`schedule`]: opening hours and shifts; open-time arithmetic.
//! - [`config`], [`tenant`]: clinic chains and their validated configuration.
//! - [`submission`]: screening a form post.
//! - [`lead`]: leads, stages, touches and history.
//! - [`assignment`]: who owns a lead, and why.
//! - [`sla`]: first-contact deadlines.
//! - [`message`], [`template`]: the message ledger and message texts.
//! - [`messaging`], [`providers`]: channel order, WhatsApp's window and
//!   templates, opt-out words; the providers a tenant sends through.
//! - [`inbound`]: patients' messages and delivery statuses, in our terms.
//! - [`timer`], [`task`]: pending work and managers' tasks.
//! - [`appointment`]: appointments, FHIR's statuses, versions and history.
//! - [`journey`]: the appointment journeys: configured rules, and an appointment's plan.
//! - [`automation`]: the clinic's own rules, stored and edited as data:
//!   checks at save, loops, arming and firing with their explanation.
//! - [`pipeline`]: pipelines of ordered stages, and the deals in them.
//! - [`answer`]: patients' one-tap and one-word answers, signed links.
//! - [`fhir`], [`calcom`]: what clinics' schedulers send, in our terms.
//! - [`locale`]: a patient's time zone; dates in their language.

pub mod answer;
pub mod appointment;
pub mod assignment;
pub mod automation;
pub mod blast;
pub mod calcom;
pub mod calls;
pub mod config;
pub mod contact;
mod country_zones;
pub mod fhir;
pub mod ids;
pub mod inbound;
pub mod journey;
pub mod language;
pub mod lead;
pub mod lead_ads;
pub mod locale;
pub mod message;
pub mod messaging;
pub mod phone_plans;
pub mod pipeline;
pub mod providers;
pub mod schedule;
pub mod sla;
pub mod submission;
pub mod task;
pub mod template;
pub mod tenant;
pub mod timer;

pub use jiff;

#[cfg(test)]
mod assignment_tests;
#[cfg(test)]
mod fixture;
