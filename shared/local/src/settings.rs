//! The `[local]` section of the configuration file: how the one-machine
//! runtime listens, where it keeps its data, and its machinery's timings.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clinicflow_app::Tuning;
use jiff::SignedDuration;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalSettings {
    /// The address to listen on (127.0.0.1: this machine only).
    pub host: IpAddr,
    /// The port; the `PORT` environment variable overrides it; 0 picks a free one.
    pub port: u16,
    /// The port of the Prometheus metrics page (`GET /metrics`), on `host`;
    /// unset, there is none. 0 picks a free one.
    pub metrics_port: Option<u16>,
    /// Where the embedded store keeps its data, relative to the working directory.
    pub data_dir: PathBuf,
    /// How long a received queue message stays hidden before redelivery.
    pub queue_visibility: SignedDuration,
    /// Deliveries of a queue message before it is dead-lettered.
    pub max_receives: u32,
    /// Concurrent consumers per queue.
    pub workers: usize,
    /// How often the timer sweep runs.
    pub timer_tick: SignedDuration,
    /// Feed a few demo appointments over the next days at first start.
    pub demo_appointments: bool,
    pub tuning: Tuning,
}

impl clinicflow_app::config::Section for LocalSettings {
    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            problems.push(("data_dir".into(), "must name a directory".into()));
        }
        if self.queue_visibility < SignedDuration::from_secs(1) {
            problems.push(("queue_visibility".into(), "must be at least 1s".into()));
        }
        if self.max_receives == 0 {
            problems.push(("max_receives".into(), "must be at least 1".into()));
        }
        if !(1..=64).contains(&self.workers) {
            problems.push(("workers".into(), "must be from 1 to 64".into()));
        }
        if self.timer_tick < SignedDuration::from_millis(50) {
            problems.push(("timer_tick".into(), "must be at least 50ms".into()));
        }
        problems.extend(
            self.tuning
                .problems()
                .into_iter()
                .map(|(field, problem)| (format!("tuning.{field}"), problem)),
        );
        problems
    }
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3000,
            metrics_port: None,
            data_dir: PathBuf::from(".clinicflow/data"),
            queue_visibility: SignedDuration::from_secs(30),
            max_receives: 5,
            workers: 4,
            timer_tick: SignedDuration::from_secs(1),
            demo_appointments: false,
            tuning: Tuning::default(),
        }
    }
}
