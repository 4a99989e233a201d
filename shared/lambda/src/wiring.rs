//! Building the adapters and the `App`, once per cold start.

use std::sync::Arc;

use clinicflow_app::config::{Config, ConfigFileError};
use clinicflow_app::{App, Tuning};
use clinicflow_channels::SandboxMessenger;
use clinicflow_embedded::Database;
use clinicflow_ports::{ItemStore, StoreError, SystemClock, UlidIds};
use serde::de::IgnoredAny;

use crate::env::Env;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `App` over the adapters `env` names. (The `[local]` section of the
/// configuration file is the local server's and is ignored here.)
pub async fn app(env: &Env) -> Result<Arc<App>, InitError> {
    let config: Config<IgnoredAny> = clinicflow_app::config::load(&env.config)?;
    let db = Database::open(&env.data_dir)?;
    let store: Arc<dyn ItemStore> = Arc::new(db.store());
    Ok(Arc::new(App {
        directory: Arc::new(config.directory),
        store: store.clone(),
        messenger: Arc::new(SandboxMessenger::new(store)),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UlidIds::default()),
        tuning: Tuning::default(),
    }))
}
