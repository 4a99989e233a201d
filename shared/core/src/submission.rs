//! Screening a web-form submission: the honeypot, contact data, branch,
//! language, consent flags and campaign fields, with one error per bad field.

use serde::Serialize;

use crate::contact::{Email, PhoneNumber, Reach};
use crate::ids::{BranchId, Language};
use crate::language::{self, LanguageChoice};
use crate::lead::{Attribution, Consents, Touch};
use crate::tenant::{Form, Tenant};

/// Longest accepted values, in characters.
const MAX_NAME: usize = 200;
const MAX_SHORT: usize = 500;
const MAX_URL: usize = 2048;
const MAX_MESSAGE: usize = 5000;

/// A submitted field that cannot be accepted, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// A submission that passed screening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub name: Option<String>,
    pub reach: Reach,
    pub branch: BranchId,
    pub language: Language,
    /// Where `language` came from, and why.
    pub language_choice: LanguageChoice,
    pub service: Option<String>,
    pub message: Option<String>,
    pub consents: Consents,
    pub attribution: Attribution,
}

impl Submission {
    /// A patient who reached the clinic themselves (a message, a call),
    /// known by `reach`: at the default branch, no consent given, the
    /// language from what they wrote (`text`) and their number, the message
    /// and attribution of their `touch`.
    pub fn from_contact(
        tenant: &Tenant,
        reach: Reach,
        name: Option<String>,
        text: Option<&str>,
        touch: &Touch,
    ) -> Submission {
        let (language, language_choice) = language::decide(
            &language::Evidence {
                text,
                phone: reach.phone.as_ref(),
                ..language::Evidence::default()
            },
            &tenant.languages,
            &tenant.default_language,
        );
        Submission {
            name,
            reach,
            branch: tenant.default_branch().id.clone(),
            language,
            language_choice,
            service: None,
            message: touch.message.clone(),
            consents: Consents::default(),
            attribution: touch.attribution.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screened {
    Accepted(Box<Submission>),
    /// The honeypot was filled: answer as if accepted, keep nothing.
    Spam,
}

/// Reads a submission of `form`. `fields` are name/value pairs as posted
/// (a JSON body is flattened to the same pairs); a repeated name keeps its
/// first value, and names the form does not know are ignored.
pub fn screen(
    tenant: &Tenant,
    form: &Form,
    fields: &[(String, String)],
) -> Result<Screened, Vec<FieldError>> {
    screen_from(tenant, form, fields, None)
}

/// [`screen`], for a post that comes from a campaign whose language is
/// configured (a lead-ad form's mapping): it ranks above the form's own.
pub fn screen_from(
    tenant: &Tenant,
    form: &Form,
    fields: &[(String, String)],
    campaign: Option<&Language>,
) -> Result<Screened, Vec<FieldError>> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    if let Some(honeypot) = &form.honeypot
        && get(honeypot).is_some()
    {
        return Ok(Screened::Spam);
    }

    let mut errors = Vec::new();
    let mut text = |field: &str, max: usize| -> Option<String> {
        let value = get(field)?;
        if value.chars().count() > max {
            errors.push(FieldError::new(
                field,
                format!("is longer than {max} characters"),
            ));
            return None;
        }
        Some(clean(value))
    };
    let name = text("name", MAX_NAME);
    let service = text("service", MAX_SHORT);
    let message = text("message", MAX_MESSAGE);
    let attribution = Attribution {
        utm_source: text("utm_source", MAX_SHORT),
        utm_medium: text("utm_medium", MAX_SHORT),
        utm_campaign: text("utm_campaign", MAX_SHORT),
        utm_content: text("utm_content", MAX_SHORT),
        utm_term: text("utm_term", MAX_SHORT),
        utm_lang: text("utm_lang", MAX_SHORT),
        landing_page: text("landing_page", MAX_URL),
        referrer: text("referrer", MAX_URL),
        ad: None,
    };

    let branch = match (&form.branch, get("branch")) {
        (Some(fixed), _) => tenant.branch(fixed),
        (None, Some(chosen)) => {
            let found = tenant.branches.iter().find(|b| b.id.as_str() == chosen);
            if found.is_none() {
                let known: Vec<&str> = tenant.branches.iter().map(|b| b.id.as_str()).collect();
                errors.push(FieldError::new(
                    "branch",
                    format!(
                        "is not a branch of this clinic; choose one of: {}",
                        known.join(", ")
                    ),
                ));
            }
            found
        }
        (None, None) => Some(tenant.default_branch()),
    };

    let chosen = match get("language") {
        Some(raw) => Language::parse(raw)
            .map_err(|p| errors.push(FieldError::new("language", p)))
            .ok(),
        None => None,
    };

    let phone = match (get("phone"), branch) {
        (Some(raw), Some(branch)) => PhoneNumber::parse(raw, branch.phone_region)
            .map_err(|e| errors.push(FieldError::new("phone", e.to_string())))
            .ok(),
        _ => None,
    };
    let email = get("email").and_then(|raw| {
        Email::parse(raw)
            .map_err(|e| errors.push(FieldError::new("email", e.to_string())))
            .ok()
    });
    if get("phone").is_none() && get("email").is_none() {
        for field in ["phone", "email"] {
            errors.push(FieldError::new(
                field,
                "a phone number or an e-mail address is required",
            ));
        }
    }

    let mut flag = |field: &str| match get(field) {
        None => false,
        Some(v) => parse_flag(v).unwrap_or_else(|| {
            errors.push(FieldError::new(
                field,
                "must be a yes/no flag such as true, false, on or 1",
            ));
            false
        }),
    };
    let consents = Consents {
        marketing: flag("consent_marketing"),
        privacy: flag("consent_privacy"),
    };
    if form.require_privacy_consent
        && !consents.privacy
        && get("consent_privacy").is_none_or(|v| parse_flag(v).is_some())
    {
        errors.push(FieldError::new(
            "consent_privacy",
            "must be accepted to send this form",
        ));
    }

    let evidence = language::Evidence {
        chosen: chosen.as_ref(),
        campaign: campaign.or(form.language.as_ref()),
        utm_lang: attribution.utm_lang.as_deref(),
        text: message.as_deref(),
        phone: phone.as_ref(),
    };
    let (language, language_choice) =
        language::decide(&evidence, &tenant.languages, &tenant.default_language);

    match branch {
        Some(branch) if errors.is_empty() => Ok(Screened::Accepted(Box::new(Submission {
            name,
            reach: Reach {
                phone,
                email,
                ..Reach::default()
            },
            branch: branch.id.clone(),
            language,
            language_choice,
            service,
            message,
            consents,
            attribution,
        }))),
        _ => Err(errors),
    }
}

/// Checkboxes post `on`; JSON posts `true`; people type `yes`.
fn parse_flag(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" | "y" | "evet" => Some(true),
        "off" | "false" | "0" | "no" | "n" | "hayir" | "hayır" => Some(false),
        _ => None,
    }
}

/// Drops control characters (but keeps line breaks in messages).
fn clean(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::ids::FormId;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn accept(form: &str, pairs: &[(&str, &str)]) -> Submission {
        let t = fixture::tenant();
        let form = t.form(&FormId::new(form).unwrap()).unwrap();
        match screen(&t, form, &fields(pairs)) {
            Ok(Screened::Accepted(s)) => *s,
            other => panic!("{other:?}"),
        }
    }

    fn reject(form: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let t = fixture::tenant();
        let form = t.form(&FormId::new(form).unwrap()).unwrap();
        screen(&t, form, &fields(pairs))
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.problem))
            .collect()
    }

    #[test]
    fn a_typical_submission() {
        let s = accept(
            "web",
            &[
                ("name", " Ayşe Demir "),
                ("phone", "0532 123 45 67"),
                ("service", "implant"),
                ("consent_marketing", "on"),
                ("utm_source", "instagram"),
                ("utm_campaign", "implant-kasim"),
                ("landing_page", "https://clinic.example/implant"),
                ("unknown_field", "ignored"),
            ],
        );
        assert_eq!(s.name.as_deref(), Some("Ayşe Demir"));
        assert_eq!(s.reach.phone.unwrap().as_str(), "+905321234567");
        assert_eq!(s.branch.as_str(), "kadikoy");
        assert_eq!(s.language.as_str(), "tr");
        assert!(s.consents.marketing && !s.consents.privacy);
        assert_eq!(s.attribution.utm_campaign.as_deref(), Some("implant-kasim"));
    }

    #[test]
    fn the_branch_decides_how_national_numbers_read() {
        let s = accept(
            "berlin-page",
            &[("phone", "030 1234567"), ("consent_privacy", "true")],
        );
        assert_eq!(s.reach.phone.unwrap().as_str(), "+49301234567");
        assert_eq!(s.language.as_str(), "de");
        // A patient-chosen branch on the general form, language from the campaign.
        let s = accept(
            "web",
            &[
                ("phone", "030 1234567"),
                ("branch", "berlin"),
                ("utm_lang", "en-GB"),
            ],
        );
        assert_eq!(s.reach.phone.unwrap().as_str(), "+49301234567");
        assert_eq!(s.language.as_str(), "en");
    }

    #[test]
    fn each_bad_field_is_named() {
        let errors = reject(
            "web",
            &[
                ("phone", "12"),
                ("email", "nope"),
                ("branch", "moda"),
                ("language", "klingon!"),
                ("consent_marketing", "maybe"),
            ],
        );
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["branch", "language", "email", "consent_marketing"],
            "{errors:?}"
        );
        let errors = reject("web", &[("phone", "0532 12")]);
        assert_eq!(errors[0].0, "phone");
        assert!(
            errors[0].1.contains("not a valid phone number"),
            "{errors:?}"
        );
        let errors = reject("web", &[("name", "Ayşe")]);
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .iter()
                .all(|(_, p)| p.contains("phone number or an e-mail"))
        );
        let errors = reject(
            "web",
            &[("phone", "05321234567"), ("message", &"x".repeat(5001))],
        );
        assert_eq!(
            errors,
            [(
                "message".to_owned(),
                "is longer than 5000 characters".to_owned()
            )]
        );
    }

    #[test]
    fn privacy_consent_when_the_form_requires_it() {
        let errors = reject("berlin-page", &[("email", "a@b.de")]);
        assert_eq!(errors[0].0, "consent_privacy");
        let errors = reject(
            "berlin-page",
            &[("email", "a@b.de"), ("consent_privacy", "off")],
        );
        assert_eq!(errors[0].0, "consent_privacy");
        accept(
            "berlin-page",
            &[("email", "a@b.de"), ("consent_privacy", "on")],
        );
    }

    #[test]
    fn a_filled_honeypot_is_spam_whatever_else_is_there() {
        let t = fixture::tenant();
        let form = t.form(&FormId::new("web").unwrap()).unwrap();
        let r = screen(
            &t,
            form,
            &fields(&[("phone", "x"), ("website", "http://spam.example")]),
        );
        assert_eq!(r, Ok(Screened::Spam));
        let r = screen(
            &t,
            form,
            &fields(&[("phone", "05321234567"), ("website", " ")]),
        );
        assert!(matches!(r, Ok(Screened::Accepted(_))));
    }
}
