//! The messenger the use cases see: each message goes to its tenant's
//! provider for its channel, or to the sandbox when the tenant has none.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use clinicflow_core::config::Directory;
use clinicflow_core::ids::TenantId;
use clinicflow_core::message::{Channel, Message};
use clinicflow_core::providers::EmailSender;
use clinicflow_ports::{Messenger, Receipt, SendError, SendRate};

use crate::callback::CallbackPoster;
use crate::credentials::Credentials;
use crate::instagram::InstagramSender;
use crate::twilio::TwilioSms;
use crate::whatsapp::WhatsappSender;

pub struct Router {
    providers: HashMap<(TenantId, Channel), Arc<dyn Messenger>>,
    sandbox: Arc<dyn Messenger>,
}

impl Router {
    /// Every tenant's configured providers; `email` builds the e-mail
    /// sender (it needs AWS) and is called only for tenants that have one.
    pub fn new(
        directory: &Directory,
        credentials: &Credentials,
        http: &reqwest::Client,
        email: &dyn Fn(&EmailSender) -> Arc<dyn Messenger>,
        sandbox: Arc<dyn Messenger>,
    ) -> Self {
        let mut providers: HashMap<(TenantId, Channel), Arc<dyn Messenger>> = HashMap::new();
        for tenant in directory.tenants() {
            let configured = &tenant.messaging.providers;
            let keys = credentials.tenant(&tenant.id);
            if let (Some(w), Some(k)) =
                (&configured.whatsapp, keys.and_then(|k| k.whatsapp.as_ref()))
            {
                providers.insert(
                    (tenant.id.clone(), Channel::Whatsapp),
                    Arc::new(WhatsappSender::new(
                        http.clone(),
                        &w.api_url,
                        &w.phone_number_id,
                        k.access_token.clone(),
                        w.messages_per_second,
                    )),
                );
            }
            if let (Some(s), Some(k)) = (&configured.sms, keys.and_then(|k| k.sms.as_ref())) {
                providers.insert(
                    (tenant.id.clone(), Channel::Sms),
                    Arc::new(TwilioSms::new(
                        http.clone(),
                        &s.api_url,
                        &s.account_sid,
                        k.auth_token.clone(),
                        s.sender.clone(),
                        s.status_callback.clone(),
                        s.messages_per_second,
                    )),
                );
            }
            if let (Some(i), Some(k)) = (
                &configured.instagram,
                keys.and_then(|k| k.instagram.as_ref()),
            ) {
                providers.insert(
                    (tenant.id.clone(), Channel::Instagram),
                    Arc::new(InstagramSender::new(
                        http.clone(),
                        &i.api_url,
                        &i.account_id,
                        k.access_token.clone(),
                        i.messages_per_second,
                    )),
                );
            }
            if let Some(e) = &configured.email {
                providers.insert((tenant.id.clone(), Channel::Email), email(e));
            }
            if let (Some(_), Some(secret)) = (
                &tenant.appointments.callback,
                keys.and_then(|k| k.callback_secret.as_ref()),
            ) {
                providers.insert(
                    (tenant.id.clone(), Channel::Webhook),
                    Arc::new(CallbackPoster::new(http.clone(), secret.clone())),
                );
            }
        }
        Router { providers, sandbox }
    }

    fn provider(&self, message: &Message) -> &Arc<dyn Messenger> {
        self.providers
            .get(&(message.tenant.clone(), message.channel))
            .unwrap_or(&self.sandbox)
    }

    /// Which (tenant, channel) pairs have a real provider, for the start banner.
    pub fn live(&self) -> Vec<(TenantId, Channel)> {
        let mut live: Vec<_> = self.providers.keys().cloned().collect();
        live.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
        live
    }
}

#[async_trait]
impl Messenger for Router {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        self.provider(message).send(message).await
    }

    fn deduplicates(&self, message: &Message) -> bool {
        self.provider(message).deduplicates(message)
    }

    fn rate(&self, message: &Message) -> Option<SendRate> {
        self.provider(message).rate(message)
    }
}
