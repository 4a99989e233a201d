//! Blasts: one message to a filtered set of patients, previewed, then sent
//! page by page through the ledger, once per patient.
//!
//! - [`audience`]: the filter's patients and what the preview knows of each.
//! - [`preview`]: the buckets, sample and cost; the audience frozen in pages.
//! - [`control`]: send (refused when the audience changed), test, schedule,
//!   pause, resume, cancel; exact counts and every recipient's state; the
//!   blast's timer.
//! - [`fanout`]: the blast function's work: one page, each recipient
//!   claimed once, paced to the provider.
//! - [`outcomes`]: each recipient in step with its message; replies and
//!   bookings counted as the blast's.

pub(crate) mod audience;
mod control;
mod fanout;
mod outcomes;
mod preview;

pub use control::{BlastView, RecipientFilter, Refused};
pub(crate) use fanout::Hold;
pub use preview::BlastInput;

/// Recipients per page of the frozen audience (and per blast queue message).
pub(crate) const PAGE_SIZE: usize = 500;
