//! What a network holds about a lead: Meta's webhook only names a lead;
//! its answers are read from the network (the Graph API) before the lead
//! is handled. Instagram's webhook only names the account that wrote; its
//! name is read the same way.

use async_trait::async_trait;
use clinicflow_core::contact::{InstagramId, InstagramProfile};
use clinicflow_core::ids::TenantId;
use clinicflow_core::lead_ads::{LeadAd, LeadNotice};

/// Why a lead could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// Worth another try: the network was down, slow or throttling.
    #[error("{0} (will retry)")]
    Retryable(String),
    /// Will not work as it is: no token for the Page, a token without the
    /// permission, a lead that is gone.
    #[error("{0}")]
    Permanent(String),
}

/// A call that got no usable answer: as retryable as the transport said.
impl From<crate::SendError> for FetchError {
    fn from(e: crate::SendError) -> Self {
        match e {
            crate::SendError::Retryable { reason, .. } => FetchError::Retryable(reason),
            crate::SendError::Permanent { reason, .. } => FetchError::Permanent(reason),
        }
    }
}

#[async_trait]
pub trait LeadFetcher: Send + Sync + 'static {
    /// The lead `notice` names, with its answers, as `tenant` may read it.
    async fn fetch(&self, tenant: &TenantId, notice: &LeadNotice) -> Result<LeadAd, FetchError>;

    /// The name and username of the Instagram account `id` that wrote to
    /// `tenant`'s professional account.
    async fn instagram_profile(
        &self,
        tenant: &TenantId,
        id: &InstagramId,
    ) -> Result<InstagramProfile, FetchError>;
}
