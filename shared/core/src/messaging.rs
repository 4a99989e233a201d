//! How a tenant reaches people: the order of channels per message kind,
//! the 24-hour customer-service windows of WhatsApp and Instagram,
//! WhatsApp's approved templates, and the words that opt a patient out of
//! (or back into) promotional messages.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::contact::Reach;
use crate::ids::Language;
use crate::message::Channel;
use crate::template::TemplateKind;

/// The customer-service window of WhatsApp and Instagram: free-form
/// messages may be sent for 24 hours after the patient's last message;
/// outside it WhatsApp takes only approved templates, Instagram nothing.
pub const WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// Whether the window opened by the patient's last inbound message at
/// `last_inbound` is still open at `now`.
pub fn window_open(last_inbound: Option<Timestamp>, now: Timestamp) -> bool {
    last_inbound.is_some_and(|at| at <= now && now.duration_since(at) < WINDOW)
}

/// When the patient last wrote on each channel that has a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    #[serde(
        default,
        rename = "whatsapp_inbound_at",
        skip_serializing_if = "Option::is_none"
    )]
    pub whatsapp: Option<Timestamp>,
    #[serde(
        default,
        rename = "instagram_inbound_at",
        skip_serializing_if = "Option::is_none"
    )]
    pub instagram: Option<Timestamp>,
}

impl Windows {
    /// Whether `channel` may carry a free-form message at `now` (a channel
    /// without a window always may).
    pub fn open(&self, channel: Channel, now: Timestamp) -> bool {
        match channel {
            Channel::Whatsapp => window_open(self.whatsapp, now),
            Channel::Instagram => window_open(self.instagram, now),
            Channel::Sms | Channel::Email | Channel::Webhook => true,
        }
    }

    /// The windows a message of `template` may use: one approved with a
    /// validity period is always sent as the template (its expiry is the
    /// point), so WhatsApp's window counts as closed for it.
    pub fn for_template(self, template: Option<&WhatsappTemplate>) -> Windows {
        match template {
            Some(t) if t.ttl.is_some() => Windows {
                whatsapp: None,
                ..self
            },
            _ => self,
        }
    }

    /// The windows after the patient wrote on `channel` at `at`.
    pub fn wrote(&mut self, channel: Channel, at: Timestamp) {
        let last = match channel {
            Channel::Whatsapp => &mut self.whatsapp,
            Channel::Instagram => &mut self.instagram,
            Channel::Sms | Channel::Email | Channel::Webhook => return,
        };
        *last = (*last).max(Some(at));
    }
}

/// One way to reach a recipient: a channel and the address on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub channel: Channel,
    /// E.164 phone number or e-mail address.
    pub to: String,
}

impl Route {
    /// How this route can carry a message at `now`: free-form
    /// (`Some(None)`), as the kind's `approved` template
    /// (`Some(Some(call))`), or not at all (`None`: WhatsApp outside its
    /// window without an approved template, Instagram outside its window).
    pub fn format(
        &self,
        windows: &Windows,
        now: Timestamp,
        approved: Option<&TemplateCall>,
    ) -> Option<Option<TemplateCall>> {
        if windows.open(self.channel, now) {
            return Some(None);
        }
        match self.channel {
            Channel::Whatsapp => approved.cloned().map(Some),
            _ => None,
        }
    }
}

/// The first of `routes` that can carry a message at `now`, how
/// (free-form or the template), and the routes after it, kept as fallbacks.
pub fn pick(
    mut routes: Vec<Route>,
    windows: &Windows,
    now: Timestamp,
    approved: Option<&TemplateCall>,
) -> Option<(Route, Option<TemplateCall>, Vec<Route>)> {
    let first = routes
        .iter()
        .position(|r| r.format(windows, now, approved).is_some())?;
    let fallbacks = routes.split_off(first + 1);
    let route = routes.pop()?;
    let format = route.format(windows, now, approved).flatten();
    Some((route, format, fallbacks))
}

/// The order in which a tenant tries its channels, per message kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    default: Vec<Channel>,
    by_kind: BTreeMap<TemplateKind, Vec<Channel>>,
}

impl Default for Routing {
    /// SMS to a phone number, else e-mail: what every tenant gets until it
    /// configures its own order.
    fn default() -> Self {
        Routing {
            default: vec![Channel::Sms, Channel::Email],
            by_kind: BTreeMap::new(),
        }
    }
}

impl Routing {
    pub fn new(default: Vec<Channel>, by_kind: BTreeMap<TemplateKind, Vec<Channel>>) -> Self {
        Routing { default, by_kind }
    }

    /// The channels for `kind`, most preferred first.
    pub fn order(&self, kind: TemplateKind) -> &[Channel] {
        self.by_kind.get(&kind).unwrap_or(&self.default)
    }

    /// Every channel the tenant uses for any kind.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.default
            .iter()
            .chain(self.by_kind.values().flatten())
            .copied()
    }

    /// The routes to `reach` for `kind`, in the tenant's order, skipping
    /// channels the recipient has no address on.
    pub fn routes(&self, kind: TemplateKind, reach: &Reach) -> Vec<Route> {
        routes_in(self.order(kind), reach)
    }
}

/// The routes to `reach` in `order`, skipping channels it has no address on.
pub fn routes_in(order: &[Channel], reach: &Reach) -> Vec<Route> {
    order
        .iter()
        .filter_map(|&channel| {
            Some(Route {
                channel,
                to: reach.address(channel)?.to_owned(),
            })
        })
        .collect()
}

/// A WhatsApp template approved in the tenant's WhatsApp Business Account,
/// used for a message kind outside the customer-service window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatsappTemplate {
    pub name: String,
    /// Our language → the template's language code at WhatsApp (`en_US`);
    /// a language not listed is sent with its own code.
    pub languages: BTreeMap<Language, String>,
    /// The template's body parameters `{{1}}`, `{{2}}`, …, as variables of
    /// the kind, in order.
    pub params: Vec<String>,
    /// Its quick-reply buttons' answers, in order (`confirm`, `reschedule`,
    /// `cancel`, or scores): each button's payload is ours, made per message.
    pub buttons: Vec<String>,
    /// The message validity period it was approved with (WhatsApp Manager).
    pub ttl: Option<SignedDuration>,
}

/// A template message as it is sent: name, language code, parameters, and
/// the payloads of its quick-reply buttons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateCall {
    pub name: String,
    pub language: String,
    pub params: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<String>,
}

impl WhatsappTemplate {
    /// The call of this template in `language` with the kind's `vars`.
    pub fn call(&self, language: &Language, vars: &BTreeMap<&'static str, String>) -> TemplateCall {
        TemplateCall {
            name: self.name.clone(),
            language: self
                .languages
                .get(language)
                .cloned()
                .unwrap_or_else(|| language.as_str().to_owned()),
            params: self
                .params
                .iter()
                .map(|p| vars.get(p.as_str()).cloned().unwrap_or_default())
                .map(|v| {
                    if v.trim().is_empty() {
                        "-".to_owned()
                    } else {
                        v
                    }
                })
                .collect(),
            buttons: Vec::new(),
        }
    }
}

/// What an inbound text asks of the patient's promotional subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subscription {
    /// Stop promotional messages on this channel.
    Stop,
    /// Receive them again.
    Start,
}

/// The providers' standard opt-out and opt-in keywords (Twilio's, which
/// WhatsApp users also send), matched as the whole message.
const STOP_WORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "REVOKE",
];
// Not `YES`: a patient answering a question must not re-subscribe.
const START_WORDS: &[&str] = &["START", "UNSTOP", "OPTIN"];

/// Opt-out and opt-in words: the standard ones plus a tenant's, per language.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keywords {
    stop: BTreeMap<Language, Vec<String>>,
    start: BTreeMap<Language, Vec<String>>,
}

impl Keywords {
    pub fn new(
        stop: BTreeMap<Language, Vec<String>>,
        start: BTreeMap<Language, Vec<String>>,
    ) -> Self {
        let normal = |words: BTreeMap<Language, Vec<String>>| {
            words
                .into_iter()
                .map(|(l, ws)| (l, ws.iter().map(|w| normalise(w)).collect()))
                .collect()
        };
        Keywords {
            stop: normal(stop),
            start: normal(start),
        }
    }

    /// Whether `text` (a whole inbound message) is an opt-out or opt-in
    /// word. A tenant's words count in every language: a patient writing
    /// `IPTAL` from a number whose lead speaks English still means it.
    pub fn classify(&self, text: &str) -> Option<Subscription> {
        let word = normalise(text);
        if word.is_empty() {
            return None;
        }
        let is_in = |standard: &[&str], own: &BTreeMap<Language, Vec<String>>| {
            standard.iter().any(|w| *w == word) || own.values().flatten().any(|w| *w == word)
        };
        if is_in(STOP_WORDS, &self.stop) {
            Some(Subscription::Stop)
        } else if is_in(START_WORDS, &self.start) {
            Some(Subscription::Start)
        } else {
            None
        }
    }
}

/// Upper case without surrounding spaces and punctuation, with Turkish
/// dotted and dotless i folded (`iptal`, `İPTAL` and `IPTAL` are one word).
pub(crate) fn normalise(text: &str) -> String {
    text.trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .chars()
        .map(|c| match c {
            'i' | 'ı' | 'İ' => 'I',
            c => c,
        })
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{Email, PhoneNumber, Region};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_window_lasts_24_hours_from_the_last_inbound_message() {
        let inbound = at("2026-11-24T10:00:00Z");
        assert!(!window_open(None, inbound));
        assert!(window_open(Some(inbound), inbound));
        assert!(window_open(Some(inbound), at("2026-11-25T09:59:59Z")));
        assert!(!window_open(Some(inbound), at("2026-11-25T10:00:00Z")));
        assert!(!window_open(Some(inbound), at("2026-11-24T09:00:00Z")));
    }

    #[test]
    fn routes_follow_the_order_and_skip_missing_addresses() {
        let routing = Routing::new(
            vec![Channel::Whatsapp, Channel::Sms, Channel::Email],
            BTreeMap::from([(TemplateKind::SlaAlert, vec![Channel::Email])]),
        );
        let phone_only = Reach {
            phone: Some(
                PhoneNumber::parse("+90 532 123 45 67", "TR".parse::<Region>().unwrap()).unwrap(),
            ),
            ..Reach::default()
        };
        let channels: Vec<Channel> = routing
            .routes(TemplateKind::Greeting, &phone_only)
            .iter()
            .map(|r| r.channel)
            .collect();
        assert_eq!(channels, [Channel::Whatsapp, Channel::Sms]);
        assert!(
            routing
                .routes(TemplateKind::SlaAlert, &phone_only)
                .is_empty()
        );
        let both = Reach {
            email: Some(Email::parse("a@b.example").unwrap()),
            ..phone_only
        };
        let routes = routing.routes(TemplateKind::SlaAlert, &both);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].to, "a@b.example");
    }

    #[test]
    fn instagram_carries_free_text_inside_its_window_only() {
        let routing = Routing::new(vec![Channel::Instagram, Channel::Sms], BTreeMap::new());
        let (reach, _) =
            Reach::by_instagram(crate::contact::InstagramId::parse("17841400000000042").unwrap());
        let routes = routing.routes(TemplateKind::Reply, &reach);
        assert_eq!(routes.len(), 1, "no phone: no SMS route");
        assert_eq!(routes[0].to, "17841400000000042");
        let wrote = at("2026-11-24T10:00:00Z");
        let mut windows = Windows::default();
        windows.wrote(Channel::Instagram, wrote);
        windows.wrote(Channel::Sms, wrote);
        assert_eq!(windows.whatsapp, None, "one channel's window is its own");
        let template = TemplateCall {
            name: "t".into(),
            language: "en".into(),
            params: vec![],
            buttons: vec![],
        };
        let inside = pick(routes.clone(), &windows, at("2026-11-25T09:00:00Z"), None);
        assert_eq!(
            inside.map(|(r, f, _)| (r.channel, f)),
            Some((Channel::Instagram, None))
        );
        // Outside the window Instagram takes nothing, template or not.
        let after = at("2026-11-25T10:00:00Z");
        assert!(pick(routes, &windows, after, Some(&template)).is_none());
        assert!(!windows.open(Channel::Whatsapp, after));
        assert!(windows.open(Channel::Email, after));
    }

    #[test]
    fn standard_and_own_words_opt_out_and_in() {
        let tr = Language::parse("tr").unwrap();
        let words = Keywords::new(
            BTreeMap::from([(tr.clone(), vec!["IPTAL".into(), "DUR".into()])]),
            BTreeMap::from([(tr, vec!["BAŞLA".into()])]),
        );
        assert_eq!(words.classify("stop"), Some(Subscription::Stop));
        assert_eq!(words.classify("  Stop! "), Some(Subscription::Stop));
        assert_eq!(words.classify("iptal"), Some(Subscription::Stop));
        assert_eq!(words.classify("İptal"), Some(Subscription::Stop));
        assert_eq!(words.classify("dur"), Some(Subscription::Stop));
        assert_eq!(words.classify("başla"), Some(Subscription::Start));
        assert_eq!(words.classify("START"), Some(Subscription::Start));
        assert_eq!(words.classify("please stop calling at night"), None);
        assert_eq!(words.classify(""), None);
    }

    #[test]
    fn a_template_call_fills_its_parameters_in_order() {
        let t = WhatsappTemplate {
            name: "greeting_v2".into(),
            languages: BTreeMap::from([(Language::parse("en").unwrap(), "en_US".into())]),
            params: vec!["first_name".into(), "consultant".into()],
            buttons: vec![],
            ttl: None,
        };
        let vars = BTreeMap::from([("first_name", String::new()), ("consultant", "Elif".into())]);
        let call = t.call(&Language::parse("en").unwrap(), &vars);
        assert_eq!(call.language, "en_US");
        assert_eq!(call.params, ["-", "Elif"]);
        assert_eq!(
            t.call(&Language::parse("tr").unwrap(), &vars).language,
            "tr"
        );
    }
}
