//! Building the adapters and the `App`, once per cold start.

use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use clinicflow_app::config::{Config, ConfigFileError};
use clinicflow_app::{App, Tuning};
use clinicflow_aws::{Resources, Usage};
use clinicflow_channels::SandboxMessenger;
use clinicflow_ports::{Clock, ItemStore, UlidIds};
use serde::de::IgnoredAny;

/// The `App` over the AWS resources `resources` names, reached through
/// `sdk`, with the tenants of the configuration file `config` (its
/// `[local]` section is the local server's and is ignored here). With a
/// `usage`, every request to AWS is counted in it.
pub fn app(
    config: &Path,
    sdk: &SdkConfig,
    resources: &Resources,
    usage: Option<&Usage>,
    clock: Arc<dyn Clock>,
) -> Result<Arc<App>, ConfigFileError> {
    let config: Config<IgnoredAny> = clinicflow_app::config::load(config)?;
    let store: Arc<dyn ItemStore> = Arc::new(resources.store(sdk, usage));
    Ok(Arc::new(App {
        directory: Arc::new(config.directory),
        store: store.clone(),
        messenger: Arc::new(SandboxMessenger::new(store)),
        clock,
        ids: Arc::new(UlidIds::default()),
        tuning: Tuning::default(),
    }))
}
