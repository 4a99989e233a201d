//! Leads a network holds: Meta's webhook only names a lead; its answers
//! are read from the network (the Graph API) before the lead is handled.

use async_trait::async_trait;
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

#[async_trait]
pub trait LeadFetcher: Send + Sync + 'static {
    /// The lead `notice` names, with its answers, as `tenant` may read it.
    async fn fetch(&self, tenant: &TenantId, notice: &LeadNotice) -> Result<LeadAd, FetchError>;
}
