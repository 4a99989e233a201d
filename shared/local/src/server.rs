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
use clinicflow_channels::SandboxMessenger;
use clinicflow_core::config::TenantConfig;
use clinicflow_embedded::{Database, Options};
use clinicflow_ports::{ItemStore, StoreError, SystemClock, UlidIds};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::settings::LocalSettings;
use crate::workers;

#[derive(Debug)]
pub enum StartError {
    Config(ConfigFileError),
    Store(StoreError),
    Io(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
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
    let ids: Arc<UlidIds> = Arc::new(UlidIds::default());
    let app_over = |store: Arc<dyn ItemStore>| {
        Arc::new(App {
            directory: directory.clone(),
            store: store.clone(),
            messenger: Arc::new(SandboxMessenger::new(store)),
            clock: Arc::new(SystemClock),
            ids: ids.clone(),
            tuning: settings.tuning,
        })
    };
    let requests = app_over(Arc::new(db.store()));
    let background = app_over(Arc::new(db.background_store()));

    let listener = TcpListener::bind((settings.host, port)).await?;
    let addr = listener.local_addr()?;
    print_banner(addr, &data_dir, config_path, &config.tenants);
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

fn print_banner(addr: SocketAddr, data_dir: &Path, config_path: &Path, tenants: &[TenantConfig]) {
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
    if let Some(token) = token {
        out.push_str(&format!("  Staff token   {token}\n"));
    }
    out.push_str(&format!("  API document  {base}/openapi.json\n\nTry it:\n"));
    if let Some(form) = form {
        out.push_str(&format!(
            "  curl -X POST {base}/v1/forms/{form}/leads -d name=Ayşe -d phone='0532 123 45 67' -d utm_source=instagram\n"
        ));
    }
    if let Some(token) = token {
        out.push_str(&format!(
            "  curl -H 'Authorization: Bearer {token}' {base}/v1/leads\n"
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
