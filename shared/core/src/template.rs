//! Message templates: built-in texts in a few languages that a tenant may
//! replace, rendered with MiniJinja (`Merhaba {{ first_name }}`). Templates
//! are compiled and trial-rendered when the configuration is read, so a typo
//! in a variable name stops the configuration, not a message.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::ids::Language;

/// What a template is for; each kind has its own variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// To the patient, right after the lead is assigned.
    Greeting,
    /// To the branch manager when nobody contacted a lead in time.
    SlaAlert,
    /// To the lead's consultant when the patient writes in.
    InboundNotice,
    /// A consultant's own words to the patient (the template only frames them).
    Reply,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 4] = [
        TemplateKind::Greeting,
        TemplateKind::SlaAlert,
        TemplateKind::InboundNotice,
        TemplateKind::Reply,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Greeting => "greeting",
            TemplateKind::SlaAlert => "sla_alert",
            TemplateKind::InboundNotice => "inbound_notice",
            TemplateKind::Reply => "reply",
        }
    }

    /// The variables a template of this kind may use.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            TemplateKind::Greeting => &[
                "first_name",
                "name",
                "clinic",
                "branch",
                "consultant",
                "service",
            ],
            TemplateKind::SlaAlert => &[
                "manager",
                "consultant",
                "branch",
                "lead_id",
                "service",
                "waited_minutes",
            ],
            TemplateKind::InboundNotice => &["consultant", "patient", "channel", "lead_id"],
            TemplateKind::Reply => &["text"],
        }
    }

    fn builtin(self) -> &'static [(&'static str, &'static str)] {
        match self {
            TemplateKind::Greeting => &[
                (
                    "tr",
                    "Merhaba{% if first_name %} {{ first_name }}{% endif %}, {{ clinic }} olarak talebinizi aldık. {{ consultant }} kısa süre içinde sizi arayacak.",
                ),
                (
                    "en",
                    "Hello{% if first_name %} {{ first_name }}{% endif %}, thank you for contacting {{ clinic }}. {{ consultant }} will call you back shortly.",
                ),
                (
                    "ru",
                    "Здравствуйте{% if first_name %}, {{ first_name }}{% endif %}! {{ clinic }} получила вашу заявку. {{ consultant }} скоро вам перезвонит.",
                ),
                (
                    "de",
                    "Hallo{% if first_name %} {{ first_name }}{% endif %}, vielen Dank für Ihre Anfrage bei {{ clinic }}. {{ consultant }} ruft Sie in Kürze zurück.",
                ),
                (
                    "ar",
                    "مرحباً{% if first_name %} {{ first_name }}{% endif %}، شكراً لتواصلك مع {{ clinic }}. سيتصل بك {{ consultant }} قريباً.",
                ),
            ],
            TemplateKind::SlaAlert => &[
                (
                    "tr",
                    "{{ manager }}, {{ branch }} şubesindeki {{ lead_id }} numaralı talebe {{ waited_minutes }} dakikadır dönülmedi (sorumlu: {{ consultant }}).",
                ),
                (
                    "en",
                    "{{ manager }}, lead {{ lead_id }} at {{ branch }} has had no contact for {{ waited_minutes }} minutes (owner: {{ consultant }}).",
                ),
                (
                    "ru",
                    "{{ manager }}, по заявке {{ lead_id }} ({{ branch }}) нет контакта уже {{ waited_minutes }} мин. (ответственный: {{ consultant }}).",
                ),
                (
                    "de",
                    "{{ manager }}, bei der Anfrage {{ lead_id }} ({{ branch }}) gab es seit {{ waited_minutes }} Minuten keinen Kontakt (zuständig: {{ consultant }}).",
                ),
                (
                    "ar",
                    "{{ manager }}، لم يتم التواصل مع الطلب {{ lead_id }} في {{ branch }} منذ {{ waited_minutes }} دقيقة (المسؤول: {{ consultant }}).",
                ),
            ],
            TemplateKind::InboundNotice => &[
                (
                    "tr",
                    "{{ consultant }}, {{ patient }} {{ channel }} üzerinden yazdı (talep {{ lead_id }}).",
                ),
                (
                    "en",
                    "{{ consultant }}, {{ patient }} wrote on {{ channel }} (lead {{ lead_id }}).",
                ),
                (
                    "ru",
                    "{{ consultant }}, {{ patient }} написал(а) в {{ channel }} (заявка {{ lead_id }}).",
                ),
                (
                    "de",
                    "{{ consultant }}, {{ patient }} hat über {{ channel }} geschrieben (Anfrage {{ lead_id }}).",
                ),
                (
                    "ar",
                    "{{ consultant }}، كتب {{ patient }} عبر {{ channel }} (الطلب {{ lead_id }}).",
                ),
            ],
            TemplateKind::Reply => &[
                ("tr", "{{ text }}"),
                ("en", "{{ text }}"),
                ("ru", "{{ text }}"),
                ("de", "{{ text }}"),
                ("ar", "{{ text }}"),
            ],
        }
    }
}

/// A tenant's templates: built-ins overlaid with its own, by kind and language.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    languages: BTreeMap<TemplateKind, Vec<Language>>,
}

impl Templates {
    /// Compiles the built-ins and `overrides` (kind → language → source) and
    /// trial-renders each one. Errors name the kind and language at fault.
    pub fn new(
        overrides: &BTreeMap<TemplateKind, BTreeMap<String, String>>,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut languages: BTreeMap<TemplateKind, Vec<Language>> = BTreeMap::new();
        let mut errors = Vec::new();
        for kind in TemplateKind::ALL {
            let mut sources: BTreeMap<Language, String> = kind
                .builtin()
                .iter()
                .filter_map(|(lang, src)| Some((Language::parse(lang).ok()?, (*src).to_owned())))
                .collect();
            for (lang, src) in overrides.get(&kind).into_iter().flatten() {
                let at = format!("{}.{lang}", kind.as_str());
                match Language::parse(lang) {
                    Ok(lang) => {
                        sources.insert(lang, src.clone());
                    }
                    Err(problem) => errors.push((at, problem)),
                }
            }
            for (lang, src) in sources {
                let name = template_name(kind, &lang);
                let at = format!("{}.{lang}", kind.as_str());
                if let Err(e) = env.add_template_owned(name.clone(), src) {
                    errors.push((at, format!("does not compile: {e}")));
                    continue;
                }
                let sample: BTreeMap<&str, String> = kind
                    .variables()
                    .iter()
                    .map(|v| (*v, format!("<{v}>")))
                    .collect();
                if let Err(e) = env.get_template(&name).and_then(|t| t.render(sample)) {
                    errors.push((
                        at,
                        format!(
                            "does not render: {e}; the variables of a {} template are: {}",
                            kind.as_str(),
                            kind.variables().join(", ")
                        ),
                    ));
                    continue;
                }
                languages.entry(kind).or_default().push(lang);
            }
        }
        if errors.is_empty() {
            Ok(Templates { env, languages })
        } else {
            Err(errors)
        }
    }

    /// Renders `kind` in `language`, else in `fallback`, else in English.
    pub fn render(
        &self,
        kind: TemplateKind,
        language: &Language,
        fallback: &Language,
        vars: &BTreeMap<&'static str, String>,
    ) -> Result<Rendered, String> {
        let available = self
            .languages
            .get(&kind)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let english = Language::parse("en").ok();
        let chosen = [Some(language), Some(fallback), english.as_ref()]
            .into_iter()
            .flatten()
            .find(|l| available.contains(l))
            .or(available.first())
            .ok_or_else(|| format!("no {} template", kind.as_str()))?;
        let text = self
            .env
            .get_template(&template_name(kind, chosen))
            .and_then(|t| t.render(vars.clone()))
            .map_err(|e| e.to_string())?;
        Ok(Rendered {
            language: chosen.clone(),
            text: text.trim().to_owned(),
        })
    }
}

/// A rendered message text and the language it was rendered in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub language: Language,
    pub text: String,
}

fn template_name(kind: TemplateKind, lang: &Language) -> String {
    format!("{}.{}", kind.as_str(), lang.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("first_name", "Ayşe".to_owned()),
            ("name", "Ayşe Demir".to_owned()),
            ("clinic", "Demo Dental".to_owned()),
            ("branch", "Kadıköy".to_owned()),
            ("consultant", "Elif".to_owned()),
            ("service", String::new()),
        ])
    }

    #[test]
    fn renders_in_the_leads_language_or_falls_back() {
        let t = Templates::new(&BTreeMap::new()).unwrap();
        let tr = Language::parse("tr").unwrap();
        let ru = Language::parse("ru").unwrap();
        let ja = Language::parse("ja").unwrap();
        let r = t.render(TemplateKind::Greeting, &ru, &tr, &vars()).unwrap();
        assert_eq!(r.language, ru);
        assert_eq!(
            r.text,
            "Здравствуйте, Ayşe! Demo Dental получила вашу заявку. Elif скоро вам перезвонит."
        );
        let r = t.render(TemplateKind::Greeting, &ja, &tr, &vars()).unwrap();
        assert_eq!(r.language, tr);
        assert_eq!(
            r.text,
            "Merhaba Ayşe, Demo Dental olarak talebinizi aldık. Elif kısa süre içinde sizi arayacak."
        );
    }

    #[test]
    fn a_greeting_without_a_name_still_reads_well() {
        let t = Templates::new(&BTreeMap::new()).unwrap();
        let mut v = vars();
        v.insert("first_name", String::new());
        let en = Language::parse("en").unwrap();
        let r = t.render(TemplateKind::Greeting, &en, &en, &v).unwrap();
        assert!(r.text.starts_with("Hello, thank you"), "{}", r.text);
    }

    #[test]
    fn tenant_templates_replace_builtins_and_typos_are_caught_early() {
        let mut over = BTreeMap::new();
        over.insert(
            TemplateKind::Greeting,
            BTreeMap::from([("en".to_owned(), "Hi {{ first_name }}!".to_owned())]),
        );
        let t = Templates::new(&over).unwrap();
        let en = Language::parse("en").unwrap();
        let r = t.render(TemplateKind::Greeting, &en, &en, &vars()).unwrap();
        assert_eq!(r.text, "Hi Ayşe!");

        over.insert(
            TemplateKind::Greeting,
            BTreeMap::from([("en".to_owned(), "Hi {{ frist_name }}!".to_owned())]),
        );
        let errors = Templates::new(&over).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "greeting.en");
        assert!(errors[0].1.contains("first_name"), "{}", errors[0].1);

        over.insert(
            TemplateKind::Greeting,
            BTreeMap::from([("en".to_owned(), "Hi {% if %}".to_owned())]),
        );
        assert!(Templates::new(&over).unwrap_err()[0].1.contains("compile"));
    }
}
