//! The first-contact SLA: how long a lead may wait, counted in the branch's
//! opening hours and time zone, before its manager is warned and before it
//! goes to the next consultant.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::tenant::Branch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlaPolicy {
    /// Open time after which the branch manager is warned (default 10 minutes).
    pub first_contact: SignedDuration,
    /// Open time after which the lead is reassigned (default 30 minutes).
    pub reassign_after: SignedDuration,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy {
            first_contact: SignedDuration::from_mins(10),
            reassign_after: SignedDuration::from_mins(30),
        }
    }
}

/// When one SLA cycle (one owner's turn) warns and when it reassigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaDeadlines {
    pub warn_at: Timestamp,
    pub reassign_at: Timestamp,
}

impl SlaPolicy {
    /// The deadlines of a cycle that starts at `start` (the lead's arrival,
    /// or the moment it was handed to the next consultant).
    pub fn deadlines(&self, branch: &Branch, start: Timestamp) -> SlaDeadlines {
        let after = |open_time: SignedDuration| {
            branch
                .opening_hours
                .add_open_time(&branch.time_zone, start, open_time)
                // Validation forbids schedules without open time; should one
                // slip through, wall-clock time is the honest fallback.
                .unwrap_or_else(|| start.saturating_add(open_time).unwrap_or(Timestamp::MAX))
        };
        SlaDeadlines {
            warn_at: after(self.first_contact),
            reassign_at: after(self.reassign_after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, istanbul};

    #[test]
    fn deadlines_count_open_time_only() {
        let tenant = fixture::tenant();
        let kadikoy = &tenant.branches[0];
        let sla = SlaPolicy::default();
        // Monday 23:00: opening is Tuesday 09:00.
        let d = sla.deadlines(kadikoy, istanbul(2026, 11, 23, 23, 0));
        assert_eq!(d.warn_at, istanbul(2026, 11, 24, 9, 10));
        assert_eq!(d.reassign_at, istanbul(2026, 11, 24, 9, 30));
        // Saturday 13:55 (open until 14:00): 5 minutes today, the rest on Monday.
        let d = sla.deadlines(kadikoy, istanbul(2026, 11, 28, 13, 55));
        assert_eq!(d.warn_at, istanbul(2026, 11, 30, 9, 5));
        assert_eq!(d.reassign_at, istanbul(2026, 11, 30, 9, 25));
        // In the middle of the day: wall-clock minutes.
        let d = sla.deadlines(kadikoy, istanbul(2026, 11, 24, 11, 0));
        assert_eq!(d.warn_at, istanbul(2026, 11, 24, 11, 10));
    }
}
