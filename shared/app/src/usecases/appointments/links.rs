//! The signed links of e-mail and SMS: `{link_base}/a/{tenant}/{token}`
//! opens a small page showing the appointment, with buttons to confirm or
//! cancel. The token names the appointment and the version it was sent
//! for, expires a day after the visit, and is an HMAC-SHA256 under a key
//! the tenant's store makes once (32 random bytes) and every function
//! reads once per process.

use clinicflow_core::answer::{Link, LinkError};
use clinicflow_core::appointment::{Appointment, AppointmentStatus};
use clinicflow_core::ids::TenantId;
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::WriteError;
use jiff::SignedDuration;

use super::messages::patient_vars;
use crate::error::AppError;
use crate::records::{self, LinkKey};
use crate::{App, keys};

/// What the page shows for a link.
#[derive(Clone, Debug)]
pub struct LinkPage {
    pub tenant: TenantId,
    pub appointment: Appointment,
    /// The appointment's time and place, as the patient's messages say them.
    pub date: String,
    pub time: String,
    pub branch: String,
    pub practitioner: String,
    pub clinic: String,
    /// The link is about the appointment as it is: it may be answered.
    pub current: bool,
    /// The version answers through the page are about.
    pub version: u64,
}

/// How long after the visit a link still opens.
const LINK_LIFE: SignedDuration = SignedDuration::from_hours(24);

impl App {
    /// The tenant's link key, made on first use.
    pub(crate) async fn link_key(&self, tenant: &TenantId) -> Result<Vec<u8>, AppError> {
        if let Some(key) = self.link_keys.get(tenant) {
            return Ok(key);
        }
        let key_of = |k: LinkKey| {
            hex::decode(k.key).map_err(|_| AppError::Internal("the link key is not hex".into()))
        };
        let item_key = keys::link_key(tenant);
        let key = match records::get::<LinkKey>(self.store.as_ref(), &item_key).await? {
            Some(stored) => key_of(stored.value)?,
            None => {
                let mut bytes = [0u8; 32];
                getrandom::getrandom(&mut bytes).map_err(|e| {
                    AppError::Internal(format!("no randomness for a link key: {e}"))
                })?;
                let made = LinkKey {
                    key: hex::encode(bytes),
                };
                match self
                    .store
                    .write(vec![records::link_key(tenant, &made)?])
                    .await
                {
                    Ok(()) => bytes.to_vec(),
                    // Another process made it first: theirs stands.
                    Err(WriteError::ConditionFailed { .. }) => {
                        let stored = records::get::<LinkKey>(self.store.as_ref(), &item_key)
                            .await?
                            .ok_or_else(|| {
                                AppError::Unavailable("the link key is not readable yet".into())
                            })?;
                        key_of(stored.value)?
                    }
                    Err(WriteError::Store(e)) => return Err(e.into()),
                }
            }
        };
        self.link_keys.put(tenant, key.clone());
        Ok(key)
    }

    /// The signed link for `a` as it is, if the tenant published where
    /// its pages live (`link_base`).
    pub(crate) async fn link(
        &self,
        tenant: &Tenant,
        a: &Appointment,
    ) -> Result<Option<String>, AppError> {
        let Some(base) = &tenant.appointments.link_base else {
            return Ok(None);
        };
        let key = self.link_key(&tenant.id).await?;
        let token = Link {
            appointment: a.id.clone(),
            version: a.version,
            expires: a
                .booking
                .end
                .saturating_add(LINK_LIFE)
                .unwrap_or(a.booking.end),
        }
        .sign(&key);
        Ok(Some(format!("{base}/a/{}/{token}", tenant.id)))
    }

    /// What a link opens: the appointment it is about, as it is now.
    pub async fn link_page(&self, tenant: &Tenant, token: &str) -> Result<LinkPage, AppError> {
        let key = self.link_key(&tenant.id).await?;
        let link = Link::verify(token, &key, self.clock.now()).map_err(|e| match e {
            LinkError::Expired => AppError::Conflict("this link has expired".into()),
            LinkError::Malformed | LinkError::BadSignature => AppError::NotFound("link"),
        })?;
        let a = records::get::<Appointment>(
            self.store.as_ref(),
            &keys::appointment(&tenant.id, &link.appointment),
        )
        .await?
        .ok_or(AppError::NotFound("link"))?
        .value;
        let vars = patient_vars(tenant, &a, None);
        let var = |k: &str| vars.get(k).cloned().unwrap_or_default();
        Ok(LinkPage {
            tenant: tenant.id.clone(),
            current: a.answers_current(link.version) && a.status() == AppointmentStatus::Booked,
            version: link.version,
            date: var("date"),
            time: var("time"),
            branch: var("branch"),
            practitioner: var("practitioner"),
            clinic: var("clinic"),
            appointment: a,
        })
    }
}
