//! Channels: the providers behind the messenger port, and what their
//! webhooks tell us.
//!
//! - [`router`]: each message to its tenant's provider for its channel, or
//!   to the sandbox.
//! - [`whatsapp`]: WhatsApp Business Cloud API (send; webhook payloads).
//! - [`twilio`]: Twilio Programmable Messaging for SMS (send; webhooks).
//! - [`ses`]: Amazon SES v2 for e-mail.
//! - [`instagram`]: Instagram direct messages (send; messaging webhooks).
//! - [`sandbox`]: the default until real channels are configured: records
//!   each message as delivered, once, and logs it without patient data.
//! - [`callback`]: signed calls to a clinic's own scheduler.
//! - [`google_ads`]: Google Ads lead forms' webhook.
//! - [`meta_leads`]: Meta lead ads: the Page webhook, the Graph API read;
//!   `MetaReader`, the lead fetcher (Meta leads, Instagram profiles).
//! - [`graph`]: Meta's Graph API errors, sorted for retry.
//! - [`signature`]: the providers' webhook signatures (Meta, Twilio,
//!   Cal.com) and ours.
//! - [`credentials`]: resolving `env:` and `secret:` references at start.
//! - [`http`]: the HTTPS client the providers share.

pub mod callback;
pub mod credentials;
pub mod google_ads;
pub mod graph;
pub mod http;
pub mod instagram;
pub mod meta_leads;
pub mod router;
pub mod sandbox;
pub mod ses;
pub mod signature;
pub mod twilio;
pub mod whatsapp;

pub use credentials::Credentials;
pub use router::Router;
pub use sandbox::SandboxMessenger;
