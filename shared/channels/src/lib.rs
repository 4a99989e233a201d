//! Outbound channels behind the messenger port.
//!
//! - [`sandbox`]: the default until real channels are configured: records
//!   each message as delivered, once, and logs it without patient data.
//! - [`signature`]: the providers' webhook signatures (Meta, Twilio).

pub mod sandbox;
pub mod signature;

pub use sandbox::SandboxMessenger;
