//! What a use case can answer besides success, mapped to HTTP by `http::error`.

use clinicflow_core::submission::FieldError;
use clinicflow_ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The thing does not exist — or belongs to another tenant, which a
    /// caller must not be able to tell apart.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input that cannot be accepted, field by field.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The request contradicts the current state (a stage move not allowed).
    #[error("{0}")]
    Conflict(String),
    /// The caller's precondition (`If-Match`) no longer holds.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// Someone else is working on it right now; try again shortly.
    #[error("busy: {0}")]
    Busy(String),
    /// A dependency (store, queue) failed; retrying may help.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data: never retried into success.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        AppError::Invalid(vec![FieldError::new(field, problem)])
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            StoreError::Invalid(m) => AppError::Internal(m),
        }
    }
}
