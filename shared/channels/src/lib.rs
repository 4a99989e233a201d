//! Outbound channels behind the messenger port.
//!
//! - [`sandbox`]: the default until real channels are configured: records
//!   each message as delivered, once, and logs it without patient data.

pub mod sandbox;

pub use sandbox::SandboxMessenger;
