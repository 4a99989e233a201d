//! Wiring the embedded adapters into an [`App`] and serving it: the HTTP
//! routes, a consumer pool per queue and the timer sweep, in one process.

use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clinicflow_app::config::{Config, ConfigFileError, Problem};
use clinicflow_app::{App, http};
use clinicflow_channels::meta_leads::MetaReader;
use clinicflow_channels::ses::{self, SesEmail};
use clinicflow_channels::{Credentials, Router, SandboxMessenger};
use clinicflow_core::config::TenantConfig;
use clinicflow_core::ids::TenantId;
use clinicflow_core::message::Channel;
use clinicflow_core::providers::EmailSender;
use clinicflow_embedded::{Database, Options};
use clinicflow_ports::{ItemStore, Messenger, StoreError, SystemClock, UlidIds};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::env;
use crate::settings::LocalSettings;
use crate::workers;

#[derive(Debug)]
pub enum StartError {
    Config(ConfigFileError),
    /// Credentials the configuration names that did not resolve: (path, problem).
    Credentials(Vec<(String, String)>),
    Store(StoreError),
    Io(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Credentials(problems) => {
                write!(
                    f,
                    "credentials could not be read (set them in the environment or in .env):"
                )?;
                for (path, problem) in problems {
                    write!(f, "\n  {path}: {problem}")?;
                }
                Ok(())
            }
            StartError::Store(e) => write!(f, "{e}"),
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Store(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Io(e)
    }
}

pub async fn run(config_path: &Path) -> Result<(), StartError> {
    let config: Config<LocalSettings> =
        clinicflow_app::config::load(config_path).map_err(StartError::Config)?;
    let settings = config.local;
    let port = port_override(config_path)?.unwrap_or(settings.port);
    let data_dir = std::path::absolute(&settings.data_dir)?;

    let db = Database::open_with(
        &data_dir,
        Options {
            max_receives: settings.max_receives,
            ..Options::default()
        },
    )?;
    let queue = db.queue();
    // One process owns the data directory: what was in flight when the
    // previous process died is ready again now.
    let recovered = queue.recover_in_flight().await?;
    // Requests and background work share one database; the requests' writes
    // go first, so a burst of form posts is never slowed by the work it makes.
    let directory = Arc::new(config.directory);
    let variables = env::variables(Path::new(".env"))?;
    let lookup = |name: &str| variables.get(name).cloned();
    let credentials = Arc::new(
        Credentials::resolve(&directory, &lookup, None)
            .await
            .map_err(StartError::Credentials)?,
    );
    let http = clinicflow_channels::http::client()
        .map_err(|e| StartError::Io(std::io::Error::other(e)))?;
    let sdk = match directory
        .tenants()
        .any(|t| t.messaging.providers.email.is_some())
    {
        true => Some(ses::local_sdk_config().await),
        false => None,
    };
    let email = |sender: &EmailSender| -> Arc<dyn Messenger> {
        match &sdk {
            Some(sdk) => Arc::new(SesEmail::new(sdk, sender.clone())),
            None => Arc::new(SandboxMessenger::new(Arc::new(db.store()))),
        }
    };
    let ids: Arc<UlidIds> = Arc::new(UlidIds::default());
    let mut live = Vec::new();
    let mut app_over = |store: Arc<dyn ItemStore>| {
        let sandbox = Arc::new(SandboxMessenger::new(store.clone()));
        let router = Router::new(&directory, &credentials, &http, &email, sandbox);
        live = router.live();
        let leads = MetaReader::new(http.clone(), directory.clone(), credentials.clone());
        Arc::new(App::new(
            directory.clone(),
            store,
            Arc::new(router),
            Arc::new(leads),
            credentials.clone(),
            Arc::new(SystemClock),
            ids.clone(),
            settings.tuning,
        ))
    };
    let requests = app_over(Arc::new(db.store()));
    let background = app_over(Arc::new(db.background_store()));
    if settings.demo_appointments {
        crate::demo::seed(&requests, jiff::Timestamp::now()).await;
    }

    let listener = TcpListener::bind((settings.host, port)).await?;
    let addr = listener.local_addr()?;
    // Recorded only when someone can read them.
    let metrics = match settings
        .metrics_port
        .map(|p| (p, crate::metrics::recorder()))
    {
        Some((port, Some(handle))) => Some(crate::metrics::serve(
            TcpListener::bind((settings.host, port)).await?,
            handle,
        )?),
        _ => None,
    };
    print_banner(
        addr,
        metrics,
        &data_dir,
        config_path,
        &config.tenants,
        &live,
    );
    info!(%addr, data = %data_dir.display(), recovered, "clinicflow started");

    let (stop, stopped) = watch::channel(false);
    let background = workers::start(
        background,
        db.background_store(),
        queue,
        settings.workers,
        settings.queue_visibility.unsigned_abs(),
        settings
            .timer_tick
            .unsigned_abs()
            .max(Duration::from_millis(50)),
        stopped,
    )?;

    axum::serve(listener, http::router(requests))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    info!("shutting down");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || background.join()),
    )
    .await;
    Ok(())
}

/// `PORT`, when set, overrides the configured port.
fn port_override(config_path: &Path) -> Result<Option<u16>, StartError> {
    match std::env::var("PORT") {
        Err(_) => Ok(None),
        Ok(raw) => raw.trim().parse::<u16>().map(Some).map_err(|_| {
            StartError::Config(ConfigFileError {
                file: config_path.to_owned(),
                problems: vec![Problem {
                    line: None,
                    path: "PORT (environment)".into(),
                    message: format!("`{raw}` is not a port number"),
                }],
            })
        }),
    }
}

fn print_banner(
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    data_dir: &Path,
    config_path: &Path,
    tenants: &[TenantConfig],
    live: &[(TenantId, Channel)],
) {
    let base = format!("http://{addr}");
    let form = tenants
        .iter()
        .flat_map(|t| t.forms.iter())
        .map(|f| f.id.as_str())
        .next();
    let token = tenants
        .iter()
        .flat_map(|t| t.staff_tokens.iter())
        .find(|t| !t.starts_with("sha256:"))
        .map(String::as_str);
    let mut out = format!(
        "\nClinicflow is running.\n  Listening on  {base}\n  Data          {} (embedded SQLite; survives restarts)\n  Config        {}\n",
        data_dir.display(),
        display_path(config_path).display()
    );
    if let Some(form) = form {
        out.push_str(&format!("  Demo form id  {form}\n"));
    }
    let channels = if live.is_empty() {
        "sandbox only (no provider configured; messages are recorded, not sent)".to_owned()
    } else {
        let live: Vec<String> = live
            .iter()
            .map(|(t, c)| format!("{t}/{}", c.as_str()))
            .collect();
        format!("{} live; anything else to the sandbox", live.join(", "))
    };
    out.push_str(&format!("  Channels      {channels}\n"));
    if let Some(token) = token {
        out.push_str(&format!("  Staff token   {token}\n"));
    }
    out.push_str(&format!("  API document  {base}/openapi.json\n"));
    if let Some(metrics) = metrics {
        out.push_str(&format!(
            "  Metrics on    http://{metrics}/metrics (Prometheus)\n"
        ));
    }
    out.push_str("\nTry it:\n");
    if let Some(form) = form {
        out.push_str(&format!(
            "  curl -X POST {base}/v1/forms/{form}/leads -d name=Ayşe -d phone='0532 123 45 67' -d utm_source=instagram\n"
        ));
    }
    if let Some(token) = token {
        out.push_str(&format!(
            "  curl -H 'Authorization: Bearer {token}' {base}/v1/leads\n"
        ));
        let branch = tenants.iter().flat_map(|t| t.branches.iter()).next();
        // Tomorrow at the branch, where the demo's first appointment is.
        let tomorrow = branch
            .and_then(|b| jiff::tz::TimeZone::get(&b.time_zone).ok())
            .map(|tz| tz.to_datetime(jiff::Timestamp::now()).date())
            .and_then(|d| d.tomorrow().ok())
            .map(|d| d.to_string())
            .unwrap_or_default();
        let branch = branch.map(|b| b.id.as_str()).unwrap_or_default();
        out.push_str(&format!(
            "  curl -H 'Authorization: Bearer {token}' '{base}/v1/appointments?branch={branch}&date={tomorrow}'\n"
        ));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

fn display_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
