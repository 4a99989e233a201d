//! Keeping each sender under its rate across every consumer that sends for
//! it: a counter per sender and second in the store, taken by conditional
//! writes, so that two Lambda instances (or two local workers) share one
//! budget. A sender whose second is full waits for the next one.

use std::time::Duration;

use clinicflow_core::ids::TenantId;
use clinicflow_ports::SendRate;

use super::landed;
use crate::error::AppError;
use crate::{App, keys, records};

/// Turns taken before giving up as busy (the queue message comes back).
const MAX_TURNS: usize = 64;

/// Waits until `rate.sender` may send one more message this second, and
/// counts it; the second it counted in (Unix seconds).
pub(super) async fn wait_turn(
    app: &App,
    tenant: &TenantId,
    rate: &SendRate,
) -> Result<i64, AppError> {
    for _ in 0..MAX_TURNS {
        let now = app.clock.now();
        let second = now.as_second();
        let key = keys::send_count(tenant, &rate.sender, second);
        let current = records::get::<u32>(app.store.as_ref(), &key).await?;
        let sent = current.as_ref().map_or(0, |c| c.value);
        if sent < rate.per_second {
            let write = records::send_count(key, sent + 1, current.map(|c| c.version), second)?;
            if landed(app.store.write(vec![write]).await)? {
                return Ok(second);
            }
            // Another sender took a turn meanwhile: look again.
            continue;
        }
        // This second is full: sleep into the next.
        let into_second = u64::try_from(now.subsec_nanosecond()).unwrap_or(0);
        let rest = 1_000_000_000u64.saturating_sub(into_second);
        tokio::time::sleep(Duration::from_nanos(rest.max(1_000_000))).await;
    }
    Err(AppError::Busy(format!(
        "sender {} is at its rate",
        rate.sender
    )))
}

/// Time left in a second below which turns are taken in the next one: a
/// chunk sent at the very end of a second would reach the provider in
/// the next, and count there.
const TAIL: Duration = Duration::from_millis(150);

/// Takes up to `wanted` turns of `rate.sender` at once, in one write (a
/// blast takes its turns in chunks, so that the sender's counter item
/// sees a few writes a second, not one per message); the turns granted
/// (at least one) and the second they count in.
pub(super) async fn take_turns(
    app: &App,
    tenant: &TenantId,
    rate: &SendRate,
    wanted: u32,
) -> Result<(u32, i64), AppError> {
    for _ in 0..MAX_TURNS {
        let now = app.clock.now();
        let into_second = u64::try_from(now.subsec_nanosecond()).unwrap_or(0);
        let rest = Duration::from_nanos(1_000_000_000u64.saturating_sub(into_second));
        let second = now.as_second();
        let key = keys::send_count(tenant, &rate.sender, second);
        let current = records::get::<u32>(app.store.as_ref(), &key).await?;
        let sent = current.as_ref().map_or(0, |c| c.value);
        if sent < rate.per_second && rest > TAIL {
            let granted = wanted.max(1).min(rate.per_second - sent);
            let write =
                records::send_count(key, sent + granted, current.map(|c| c.version), second)?;
            if landed(app.store.write(vec![write]).await)? {
                return Ok((granted, second));
            }
            continue;
        }
        tokio::time::sleep(rest.max(Duration::from_millis(1))).await;
    }
    Err(AppError::Busy(format!(
        "sender {} is at its rate",
        rate.sender
    )))
}
