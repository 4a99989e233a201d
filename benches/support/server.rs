//! What the benchmarks share: a server running as a child process, found
//! by the `Listening on` line it prints, the CPU time of a process, the
//! commit and machine measured, and the HTTP client that talks to it.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The clock ticks of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: u64 = 100;

/// A server running as a child process; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Spawns `command` with stderr to `log` and waits for the
    /// `Listening on <url>` line on its stdout.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<ServerProcess, String> {
        let stderr =
            File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start the {name} server: {e}"))?;
        let stdout = child.stdout.take();
        // From here on the guard kills the child on every path.
        let mut server = ServerProcess {
            child,
            base: String::new(),
        };
        let stdout = stdout.ok_or("the server's stdout is not piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads to the end, so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("Listening on") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(base) => {
                server.base = base;
                Ok(server)
            }
            Err(_) => Err(format!(
                "the {name} server did not start; its log ({}):\n{}",
                log.display(),
                fs::read_to_string(log).unwrap_or_default()
            )),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(&self.child.id().to_string())
    }

    /// Peak resident set size (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time of process `pid` (a number or `self`).
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; after it come
    // the fields from number 3 (state) on: utime is 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// The checked-out commit, when this is a git checkout.
pub fn commit() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !commit.is_empty()).then_some(commit)
}

/// The machine, for a report: `2 CPUs, Intel(R) Xeon(R) Processor`.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    format!("{cpus} CPUs, {model}")
}

/// The benchmarks' HTTP client: loopback without proxies, with `timeout`
/// per request.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    clinicflow_channels::http::builder()?
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// A benchmark's `main`: its settings (or why they are wrong), `run` on a
/// multi-threaded runtime, and the report on stdout.
pub fn bench_main<S>(
    settings: Result<S, String>,
    run: impl AsyncFnOnce(&S) -> Result<String, String>,
) -> ExitCode {
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&settings)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the benchmark could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
