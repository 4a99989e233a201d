//! Message templates: built-in texts in a few languages that a tenant may
//! replace, rendered with MiniJinja (`Merhaba {{ first_name }}`). A tenant's
//! own templates are compiled and trial-rendered when the configuration is
//! read, so a typo in a variable name stops the configuration, not a
//! message. The built-ins, which a unit test renders, compile at their
//! first use: a process renders a few of their hundred.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::ids::Language;

mod builtin;

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
    /// To the patient, asking them to confirm (48 hours before, by default).
    AppointmentConfirmation,
    /// To the patient who has not confirmed yet (24 hours before).
    AppointmentNudge,
    /// The practical reminder: address and map (2 hours before).
    AppointmentReminder,
    /// After a no-show: the first, gentle message.
    #[serde(rename = "no_show_recovery_1")]
    NoShowRecovery1,
    /// After a no-show: the invitation to book again.
    #[serde(rename = "no_show_recovery_2")]
    NoShowRecovery2,
    /// After a no-show: the last one.
    #[serde(rename = "no_show_recovery_3")]
    NoShowRecovery3,
    /// After the visit: instructions for the service.
    Aftercare,
    /// After the visit: the satisfaction question.
    Survey,
    /// The answer to a patient's confirmation.
    AnswerConfirmed,
    /// The answer to a patient's cancellation.
    AnswerCancelled,
    /// The answer to a patient who wants another time.
    AnswerReschedule,
    /// The answer to a tap or link about an appointment that has changed since.
    AnswerChanged,
    /// The thanks for a survey score.
    SurveyThanks,
    /// To the owner or branch manager: a patient cancelled, asked to
    /// reschedule, or wrote about an appointment.
    AppointmentNotice,
    /// To the clinic's own scheduler: a patient's answer, as JSON.
    SchedulerCallback,
    /// To a patient who wrote on WhatsApp in no language we could tell:
    /// which one they prefer (one line per language the clinic serves,
    /// each language a button).
    LanguageQuestion,
    /// A blast's message, rendered from the clinic's blast template (the
    /// kind only frames it, and names its channel order).
    Blast,
}

/// Who reads a kind, which decides the languages it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// Patients: a text in every language the tenant serves.
    Patient,
    /// Staff: a text in the tenant's default language.
    Staff,
    /// Another system: one text for all.
    System,
}

/// The variables of every template about an appointment, to the patient.
const APPOINTMENT_VARIABLES: &[&str] = &[
    "first_name",
    "name",
    "clinic",
    "branch",
    "address",
    "branch_phone",
    "map_link",
    "practitioner",
    "service",
    "date",
    "time",
    "booking_link",
    "link",
    "aftercare",
    "scale_min",
    "scale_max",
    "cancelled",
];

impl TemplateKind {
    pub const ALL: [TemplateKind; 21] = [
        TemplateKind::Greeting,
        TemplateKind::SlaAlert,
        TemplateKind::InboundNotice,
        TemplateKind::Reply,
        TemplateKind::AppointmentConfirmation,
        TemplateKind::AppointmentNudge,
        TemplateKind::AppointmentReminder,
        TemplateKind::NoShowRecovery1,
        TemplateKind::NoShowRecovery2,
        TemplateKind::NoShowRecovery3,
        TemplateKind::Aftercare,
        TemplateKind::Survey,
        TemplateKind::AnswerConfirmed,
        TemplateKind::AnswerCancelled,
        TemplateKind::AnswerReschedule,
        TemplateKind::AnswerChanged,
        TemplateKind::SurveyThanks,
        TemplateKind::AppointmentNotice,
        TemplateKind::SchedulerCallback,
        TemplateKind::Blast,
        TemplateKind::LanguageQuestion,
    ];

    pub fn as_str(self) -> &'static str {
        use TemplateKind::*;
        match self {
            Greeting => "greeting",
            SlaAlert => "sla_alert",
            InboundNotice => "inbound_notice",
            Reply => "reply",
            AppointmentConfirmation => "appointment_confirmation",
            AppointmentNudge => "appointment_nudge",
            AppointmentReminder => "appointment_reminder",
            NoShowRecovery1 => "no_show_recovery_1",
            NoShowRecovery2 => "no_show_recovery_2",
            NoShowRecovery3 => "no_show_recovery_3",
            Aftercare => "aftercare",
            Survey => "survey",
            AnswerConfirmed => "answer_confirmed",
            AnswerCancelled => "answer_cancelled",
            AnswerReschedule => "answer_reschedule",
            AnswerChanged => "answer_changed",
            SurveyThanks => "survey_thanks",
            AppointmentNotice => "appointment_notice",
            SchedulerCallback => "scheduler_callback",
            Blast => "blast",
            LanguageQuestion => "language_question",
        }
    }

    pub fn parse(s: &str) -> Option<TemplateKind> {
        TemplateKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn reader(self) -> Reader {
        use TemplateKind::*;
        match self {
            SlaAlert | InboundNotice | AppointmentNotice => Reader::Staff,
            SchedulerCallback => Reader::System,
            _ => Reader::Patient,
        }
    }

    /// The variables a template of this kind may use.
    pub fn variables(self) -> &'static [&'static str] {
        use TemplateKind::*;
        match self {
            Greeting => &[
                "first_name",
                "name",
                "clinic",
                "branch",
                "consultant",
                "service",
                "call_time",
            ],
            SlaAlert => &[
                "manager",
                "consultant",
                "branch",
                "lead_id",
                "service",
                "waited_minutes",
            ],
            InboundNotice => &["consultant", "patient", "channel", "lead_id"],
            Reply | Blast => &["text"],
            AppointmentNotice => &[
                "recipient",
                "patient",
                "what",
                "date",
                "time",
                "branch",
                "appointment_id",
            ],
            SchedulerCallback => &["payload"],
            LanguageQuestion => &["clinic"],
            AppointmentConfirmation
            | AppointmentNudge
            | AppointmentReminder
            | NoShowRecovery1
            | NoShowRecovery2
            | NoShowRecovery3
            | Aftercare
            | Survey
            | AnswerConfirmed
            | AnswerCancelled
            | AnswerReschedule
            | AnswerChanged
            | SurveyThanks => APPOINTMENT_VARIABLES,
        }
    }

    fn builtin(self) -> &'static [(&'static str, &'static str)] {
        builtin::texts(self)
    }
}

/// Renders template `name` of `kind` with a placeholder for each of its
/// variables: what a strict environment refuses (a misspelt variable, a
/// filter that does not exist) shows at configuration time, not at a send.
fn trial_render(env: &Environment<'static>, kind: TemplateKind, name: &str) -> Result<(), String> {
    let sample: BTreeMap<&str, String> = kind
        .variables()
        .iter()
        .map(|v| (*v, format!("<{v}>")))
        .collect();
    env.get_template(name)
        .and_then(|t| t.render(sample))
        .map(|_| ())
        .map_err(|e| {
            format!(
                "does not render: {e}; the variables of a {} template are: {}",
                kind.as_str(),
                kind.variables().join(", ")
            )
        })
}

/// A tenant's templates: built-ins overlaid with its own, by kind and language.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    languages: BTreeMap<TemplateKind, Vec<Language>>,
}

impl Templates {
    /// Compiles and trial-renders `overrides` (kind → language → source);
    /// the built-ins they leave compile when first rendered (a process's
    /// first render of one takes some 40 µs longer for it, where compiling
    /// all of them took 0.7–1 ms of every cold start). Every kind patients
    /// read needs a text in each of `serves` (the languages the tenant
    /// serves), and every kind staff read one in `staff` (its default
    /// language). Errors name the kind and language at fault.
    pub fn new(
        overrides: &BTreeMap<TemplateKind, BTreeMap<String, String>>,
        serves: &[Language],
        staff: &Language,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_loader(builtin_source);
        let mut languages: BTreeMap<TemplateKind, Vec<Language>> = BTreeMap::new();
        let mut errors = Vec::new();
        for kind in TemplateKind::ALL {
            // A built-in is left to the loader; a tenant's text of the same
            // name is added here, and the loader is never asked for it.
            let mut sources: BTreeMap<Language, Option<&String>> = kind
                .builtin()
                .iter()
                .filter_map(|(lang, _)| Some((Language::parse(lang).ok()?, None)))
                .collect();
            for (lang, src) in overrides.get(&kind).into_iter().flatten() {
                let at = format!("{}.{lang}", kind.as_str());
                match Language::parse(lang) {
                    Ok(lang) => {
                        sources.insert(lang, Some(src));
                    }
                    Err(problem) => errors.push((at, problem)),
                }
            }
            for (lang, own) in sources {
                if let Some(src) = own {
                    let name = template_name(kind, &lang);
                    let at = format!("{}.{lang}", kind.as_str());
                    if let Err(e) = env.add_template_owned(name.clone(), src.clone()) {
                        errors.push((at, format!("does not compile: {e}")));
                        continue;
                    }
                    if let Err(e) = trial_render(&env, kind, &name) {
                        errors.push((at, e));
                        continue;
                    }
                }
                languages.entry(kind).or_default().push(lang);
            }
            let needed: &[Language] = match kind.reader() {
                Reader::Patient => serves,
                Reader::Staff => std::slice::from_ref(staff),
                Reader::System => &[],
            };
            let have = languages.get(&kind).map(Vec::as_slice).unwrap_or_default();
            for lang in needed {
                if !have.contains(lang)
                    && !errors
                        .iter()
                        .any(|(at, _)| at == &format!("{}.{lang}", kind.as_str()))
                {
                    errors.push((
                        format!("{}.{lang}", kind.as_str()),
                        format!(
                            "the clinic serves {lang} but the {} message has no text in it; write one here",
                            kind.as_str()
                        ),
                    ));
                }
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

/// The loader of a tenant's environment: the built-in text a template's
/// name (`template_name`) stands for, if there is one.
fn builtin_source(name: &str) -> Result<Option<&'static str>, minijinja::Error> {
    let Some((kind, lang)) = name.split_once('.') else {
        return Ok(None);
    };
    let Ok(lang) = Language::parse(lang) else {
        return Ok(None);
    };
    Ok(TemplateKind::parse(kind).and_then(|kind| {
        kind.builtin()
            .iter()
            .find(|(l, _)| Language::parse(l).is_ok_and(|l| l == lang))
            .map(|(_, src)| *src)
    }))
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
            ("call_time", String::new()),
        ])
    }

    fn build(
        over: &BTreeMap<TemplateKind, BTreeMap<String, String>>,
    ) -> Result<Templates, Vec<(String, String)>> {
        let tr = Language::parse("tr").unwrap();
        Templates::new(over, &[tr.clone(), Language::parse("en").unwrap()], &tr)
    }

    /// What a tenant's own texts are checked for at configuration time,
    /// checked here once for every built-in.
    #[test]
    fn every_builtin_renders_in_every_language() {
        let templates =
            Templates::new(&BTreeMap::new(), &[], &Language::parse("en").unwrap()).unwrap();
        let mut rendered = 0;
        for kind in TemplateKind::ALL {
            for (lang, _) in kind.builtin() {
                let name = template_name(kind, &Language::parse(lang).unwrap());
                trial_render(&templates.env, kind, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
                rendered += 1;
            }
        }
        assert!(rendered > 60, "{rendered}");
    }

    #[test]
    fn every_language_served_has_every_patient_text() {
        let tr = Language::parse("tr").unwrap();
        let fr = Language::parse("fr").unwrap();
        let errors = Templates::new(&BTreeMap::new(), &[tr.clone(), fr.clone()], &tr).unwrap_err();
        assert!(
            errors.iter().any(|(at, _)| at == "appointment_reminder.fr"),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|(at, _)| at == "greeting.fr"),
            "{errors:?}"
        );
        // Staff texts need the default language only.
        assert!(
            !errors.iter().any(|(at, _)| at.starts_with("sla_alert")),
            "{errors:?}"
        );
        let mut over = BTreeMap::new();
        for kind in TemplateKind::ALL {
            if kind.reader() == Reader::Patient {
                over.insert(
                    kind,
                    BTreeMap::from([("fr".to_owned(), "Bonjour".to_owned())]),
                );
            }
        }
        Templates::new(&over, &[tr.clone(), fr], &tr).unwrap();
        // A staff language without its texts is caught too.
        let errors =
            Templates::new(&BTreeMap::new(), &[], &Language::parse("ja").unwrap()).unwrap_err();
        assert!(
            errors.iter().any(|(at, _)| at == "sla_alert.ja"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_greeting_says_when_the_clinic_will_call() {
        let t = build(&BTreeMap::new()).unwrap();
        let mut v = vars();
        v.insert("call_time", "tomorrow at 09:00".into());
        let en = Language::parse("en").unwrap();
        let r = t.render(TemplateKind::Greeting, &en, &en, &v).unwrap();
        assert!(
            r.text
                .ends_with("Elif will call you back tomorrow at 09:00."),
            "{}",
            r.text
        );
    }

    #[test]
    fn renders_in_the_leads_language_or_falls_back() {
        let t = build(&BTreeMap::new()).unwrap();
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
        let t = build(&BTreeMap::new()).unwrap();
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
        let t = build(&over).unwrap();
        let en = Language::parse("en").unwrap();
        let r = t.render(TemplateKind::Greeting, &en, &en, &vars()).unwrap();
        assert_eq!(r.text, "Hi Ayşe!");

        over.insert(
            TemplateKind::Greeting,
            BTreeMap::from([("en".to_owned(), "Hi {{ frist_name }}!".to_owned())]),
        );
        let errors = build(&over).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "greeting.en");
        assert!(errors[0].1.contains("first_name"), "{}", errors[0].1);

        over.insert(
            TemplateKind::Greeting,
            BTreeMap::from([("en".to_owned(), "Hi {% if %}".to_owned())]),
        );
        assert!(build(&over).unwrap_err()[0].1.contains("compile"));
    }
}
