//! Building the adapters and the `App`, once per cold start.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use clinicflow_app::config::{Config, ConfigFileError};
use clinicflow_app::{App, Tuning};
use clinicflow_aws::{DynamoStore, Resources, SecretsManager, Usage};
use clinicflow_channels::meta_leads::MetaReader;
use clinicflow_channels::ses::SesEmail;
use clinicflow_channels::{Credentials, Router, SandboxMessenger};
use clinicflow_ports::{Clock, ItemStore, Messenger, UlidIds};
use serde::de::IgnoredAny;

/// Why a function could not start.
#[derive(Debug)]
pub enum WiringError {
    Config(ConfigFileError),
    /// Credentials the configuration names that did not resolve: (path, problem).
    Credentials(Vec<(String, String)>),
    Http(String),
}

impl fmt::Display for WiringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WiringError::Config(e) => write!(f, "{e}"),
            WiringError::Credentials(problems) => {
                write!(f, "credentials could not be read:")?;
                for (path, problem) in problems {
                    write!(f, "\n  {path}: {problem}")?;
                }
                Ok(())
            }
            WiringError::Http(e) => write!(f, "HTTPS client: {e}"),
        }
    }
}

impl std::error::Error for WiringError {}

/// The `App` over the AWS resources `resources` names, reached through
/// `sdk`, with the tenants of the configuration file `config` (its
/// `[local]` section is the local server's and is ignored here). Provider
/// credentials come from `env` (the function's environment) or Secrets
/// Manager. With a `usage`, every request to AWS is counted in it.
pub async fn app(
    config: &Path,
    sdk: &SdkConfig,
    resources: &Resources,
    usage: Option<&Usage>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    clock: Arc<dyn Clock>,
) -> Result<Arc<App>, WiringError> {
    let config = load_config(config)?;
    let store = Arc::new(resources.store(sdk, usage));
    build(config, store, sdk, env, clock).await
}

/// The tenants' configuration, checked.
pub fn load_config(config: &Path) -> Result<Config<IgnoredAny>, WiringError> {
    clinicflow_app::config::load(config).map_err(WiringError::Config)
}

/// The `App` over `store`, with the providers' credentials resolved and
/// their clients built.
pub async fn build(
    config: Config<IgnoredAny>,
    store: Arc<DynamoStore>,
    sdk: &SdkConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    clock: Arc<dyn Clock>,
) -> Result<Arc<App>, WiringError> {
    let store: Arc<dyn ItemStore> = store;
    let secrets = SecretsManager::new(sdk);
    let credentials = Credentials::resolve(&config.directory, env, Some(&secrets))
        .await
        .map_err(WiringError::Credentials)?;
    let http = clinicflow_channels::http::client().map_err(WiringError::Http)?;
    let email =
        |sender: &_| Arc::new(SesEmail::new(sdk, Clone::clone(sender))) as Arc<dyn Messenger>;
    let messenger = Router::new(
        &config.directory,
        &credentials,
        &http,
        &email,
        Arc::new(SandboxMessenger::new(store.clone())),
    );
    let directory = Arc::new(config.directory);
    let credentials = Arc::new(credentials);
    let leads = MetaReader::new(http, directory.clone(), credentials.clone());
    Ok(Arc::new(App::new(
        directory,
        store,
        Arc::new(messenger),
        Arc::new(leads),
        credentials,
        clock,
        Arc::new(UlidIds::default()),
        Tuning::default(),
    )))
}
