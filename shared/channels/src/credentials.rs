//! Resolving the credentials the configuration refers to (`env:NAME`,
//! `secret:name#field`), once at start. A reference that resolves to
//! nothing stops the start with its path, like any configuration error.

use std::collections::HashMap;

use clinicflow_core::config::Directory;
use clinicflow_core::ids::TenantId;
use clinicflow_core::providers::SecretRef;
use clinicflow_ports::SecretSource;

/// What a tenant's providers need in clear.
#[derive(Clone, Default)]
pub struct TenantCredentials {
    pub whatsapp: Option<MetaAppKeys>,
    pub sms: Option<SmsKeys>,
    /// The secret Cal.com signs the tenant's webhooks with.
    pub calcom_secret: Option<String>,
    /// The secret our calls to the tenant's scheduler are signed with.
    pub callback_secret: Option<String>,
    /// The key Google sends with each lead of a form without its own.
    pub google_key: Option<String>,
    /// Google lead forms' own keys, by the form's id.
    pub google_form_keys: HashMap<String, String>,
    /// The secret the clinic's switchboard signs call records with.
    pub calls_secret: Option<String>,
    /// Meta's lead ads: the app's secret and verify token, Pages' tokens.
    pub meta: Option<MetaLeadKeys>,
    /// The Instagram professional account's token, app secret, verify token.
    pub instagram: Option<MetaAppKeys>,
}

#[derive(Clone)]
pub struct MetaLeadKeys {
    pub app_secret: String,
    pub verify_token: String,
    /// Page id → its access token.
    pub page_tokens: HashMap<String, String>,
}

impl TenantCredentials {
    /// The key a Google lead of form `form_id` must carry.
    pub fn google_key_for(&self, form_id: &str) -> Option<&str> {
        self.google_form_keys
            .get(form_id)
            .or(self.google_key.as_ref())
            .map(String::as_str)
    }
}

/// What an account on a Meta app needs (a WhatsApp number, an Instagram
/// account): its access token, the app's secret, the verify token.
#[derive(Clone)]
pub struct MetaAppKeys {
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
}

#[derive(Clone)]
pub struct SmsKeys {
    pub auth_token: String,
}

/// Every tenant's credentials. Its `Debug` shows which are present, never values.
#[derive(Clone, Default)]
pub struct Credentials(HashMap<TenantId, TenantCredentials>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (tenant, c) in &self.0 {
            map.entry(
                &tenant.as_str(),
                &(
                    c.whatsapp.is_some(),
                    c.sms.is_some(),
                    c.calcom_secret.is_some(),
                    c.callback_secret.is_some(),
                    c.instagram.is_some(),
                ),
            );
        }
        map.finish()
    }
}

impl Credentials {
    pub fn tenant(&self, tenant: &TenantId) -> Option<&TenantCredentials> {
        self.0.get(tenant)
    }

    /// Resolves every reference of every tenant. `env` reads a variable;
    /// `secrets` reads AWS Secrets Manager (absent locally). Problems are
    /// (path, problem), all at once.
    pub async fn resolve(
        directory: &Directory,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        secrets: Option<&dyn SecretSource>,
    ) -> Result<Credentials, Vec<(String, String)>> {
        let mut resolver = Resolver {
            env,
            secrets,
            cache: HashMap::new(),
            problems: Vec::new(),
        };
        let mut out = HashMap::new();
        for (i, tenant) in directory.tenants().enumerate() {
            let path = format!("tenants[{i}]");
            let providers = &tenant.messaging.providers;
            let mut creds = TenantCredentials::default();
            if let Some(w) = &providers.whatsapp {
                let refs = [&w.access_token, &w.app_secret, &w.verify_token];
                creds.whatsapp = resolver.meta_app(&format!("{path}.whatsapp"), refs).await;
            }
            if let Some(i) = &providers.instagram {
                let refs = [&i.access_token, &i.app_secret, &i.verify_token];
                creds.instagram = resolver.meta_app(&format!("{path}.instagram"), refs).await;
            }
            if let Some(s) = &providers.sms
                && let Some(auth_token) = resolver
                    .get(&format!("{path}.sms.auth_token"), &s.auth_token)
                    .await
            {
                creds.sms = Some(SmsKeys { auth_token });
            }
            let appointments = &tenant.appointments;
            if let Some(secret) = &appointments.calcom_secret {
                creds.calcom_secret = resolver
                    .get(&format!("{path}.calcom.signing_secret"), secret)
                    .await;
            }
            if let Some(callback) = &appointments.callback {
                creds.callback_secret = resolver
                    .get(
                        &format!("{path}.appointments.callback_secret"),
                        &callback.secret,
                    )
                    .await;
            }
            if let Some(key) = &tenant.lead_ads.google_key {
                creds.google_key = resolver
                    .get(&format!("{path}.lead_ads.google_key"), key)
                    .await;
            }
            for (i, form) in tenant.lead_ads.forms.iter().enumerate() {
                if let Some(key) = &form.key
                    && let Some(value) = resolver
                        .get(&format!("{path}.lead_ads.forms[{i}].key"), key)
                        .await
                {
                    creds.google_form_keys.insert(form.id.clone(), value);
                }
            }
            if let Some(meta) = &tenant.lead_ads.meta {
                let p = format!("{path}.lead_ads.meta");
                let app_secret = resolver
                    .get(&format!("{p}.app_secret"), &meta.app_secret)
                    .await;
                let verify_token = resolver
                    .get(&format!("{p}.verify_token"), &meta.verify_token)
                    .await;
                let mut page_tokens = HashMap::new();
                for (page, token) in &meta.pages {
                    if let Some(value) = resolver.get(&format!("{p}.pages.{page}"), token).await {
                        page_tokens.insert(page.clone(), value);
                    }
                }
                if let (Some(app_secret), Some(verify_token)) = (app_secret, verify_token) {
                    creds.meta = Some(MetaLeadKeys {
                        app_secret,
                        verify_token,
                        page_tokens,
                    });
                }
            }
            if let Some(calls) = &tenant.calls {
                creds.calls_secret = resolver
                    .get(&format!("{path}.calls.signing_secret"), &calls.secret)
                    .await;
            }
            out.insert(tenant.id.clone(), creds);
        }
        if resolver.problems.is_empty() {
            Ok(Credentials(out))
        } else {
            Err(resolver.problems)
        }
    }
}

struct Resolver<'a> {
    env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    secrets: Option<&'a dyn SecretSource>,
    /// Secrets Manager values by id: one request per secret, not per field.
    cache: HashMap<String, Result<String, String>>,
    problems: Vec<(String, String)>,
}

impl Resolver<'_> {
    /// A Meta app account's keys from its references (access token, app
    /// secret, verify token) under `path`; none unless all three resolve.
    async fn meta_app(&mut self, path: &str, refs: [&SecretRef; 3]) -> Option<MetaAppKeys> {
        let [access_token, app_secret, verify_token] = refs;
        let access_token = self
            .get(&format!("{path}.access_token"), access_token)
            .await;
        let app_secret = self.get(&format!("{path}.app_secret"), app_secret).await;
        let verify_token = self
            .get(&format!("{path}.verify_token"), verify_token)
            .await;
        Some(MetaAppKeys {
            access_token: access_token?,
            app_secret: app_secret?,
            verify_token: verify_token?,
        })
    }

    async fn get(&mut self, path: &str, reference: &SecretRef) -> Option<String> {
        let value = match reference {
            SecretRef::Env(name) => (self.env)(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("the environment variable {name} is not set")),
            SecretRef::SecretsManager { id, field } => self.secret(id, field.as_deref()).await,
        };
        value
            .map_err(|e| self.problems.push((path.to_owned(), e)))
            .ok()
    }

    async fn secret(&mut self, id: &str, field: Option<&str>) -> Result<String, String> {
        let Some(source) = self.secrets else {
            return Err(format!(
                "`secret:{id}` is read from AWS Secrets Manager on Lambda only; use `env:` here"
            ));
        };
        if !self.cache.contains_key(id) {
            let value = source.secret(id).await;
            self.cache.insert(id.to_owned(), value);
        }
        let value = self
            .cache
            .get(id)
            .cloned()
            .unwrap_or_else(|| Err("unread".into()))?;
        let Some(field) = field else {
            return Ok(value);
        };
        let json: serde_json::Value = serde_json::from_str(&value)
            .map_err(|_| format!("secret {id} is not JSON, so it has no field `{field}`"))?;
        json.get(field)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("secret {id} has no string field `{field}`"))
    }
}
