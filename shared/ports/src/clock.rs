//! Time and fresh identifiers, as ports so that tests control both.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

pub trait Ids: Send + Sync + 'static {
    /// A new unique, time-ordered identifier.
    fn new_id(&self) -> String;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.saturating_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// ULIDs: 26 characters, sortable by creation time.
#[derive(Debug, Default)]
pub struct UlidIds(Mutex<ulid::Generator>);

impl Ids for UlidIds {
    fn new_id(&self) -> String {
        let mut generator = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Monotonic within a millisecond; past 2^80 ids in one millisecond
        // the generator overflows and a fresh random id is as good.
        generator
            .generate()
            .unwrap_or_else(|_| ulid::Ulid::generate())
            .to_string()
    }
}
