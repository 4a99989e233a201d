//! Which language a patient speaks, decided from what we know of them in
//! an order of trust: what they chose (a form's field, a button of our
//! question), the campaign's configured language (a lead form's, a landing
//! form's), the link's `utm_lang`, the language of their first message's
//! text (detected, and only when confident, among the languages the clinic
//! serves), the country of their phone number, and at last the clinic's
//! default. The choice keeps its source and a reason, like an assignment.

use serde::{Deserialize, Serialize};
use whatlang::{Detector, Lang};

use crate::contact::PhoneNumber;
use crate::ids::Language;

/// The least confidence (whatlang's 0–1, the margin of the best language
/// over the next among the allowed ones) a detected language needs. Whole
/// sentences clear it; greetings and one-word questions ("Fiyat?",
/// "Hello") do not, and fall through to the phone's country.
pub const MIN_CONFIDENCE: f64 = 0.3;

/// Where a lead's language came from, most trusted first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanguageSource {
    /// The patient chose it: a form's field, a button of our question.
    Chosen,
    /// The ad set's or campaign's configured language: a lead form's
    /// mapping, a landing page form's.
    Campaign,
    /// The campaign link's `utm_lang`.
    UtmLang,
    /// Detected in the text of the patient's first message.
    Message,
    /// The country of the patient's phone number.
    PhoneCountry,
    /// Nothing told us: the clinic's default.
    Default,
}

impl LanguageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LanguageSource::Chosen => "chosen",
            LanguageSource::Campaign => "campaign",
            LanguageSource::UtmLang => "utm_lang",
            LanguageSource::Message => "message",
            LanguageSource::PhoneCountry => "phone_country",
            LanguageSource::Default => "default",
        }
    }
}

/// Where a lead's language came from and why, in words (kept on the lead
/// beside the language).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageChoice {
    pub source: LanguageSource,
    pub reason: String,
}

/// What may tell a patient's language. Every part is optional.
#[derive(Clone, Copy, Debug, Default)]
pub struct Evidence<'a> {
    /// What the patient chose (already read as a language).
    pub chosen: Option<&'a Language>,
    /// The campaign's configured language.
    pub campaign: Option<&'a Language>,
    /// The raw `utm_lang` of the campaign link (ignored when not a code).
    pub utm_lang: Option<&'a str>,
    /// The patient's first message.
    pub text: Option<&'a str>,
    pub phone: Option<&'a PhoneNumber>,
}

/// The language of `evidence` in its order of trust. A patient's choice,
/// a campaign's language and `utm_lang` are taken as given; a detected
/// language and a country's must be one of `served`; else `default`.
pub fn decide(
    evidence: &Evidence<'_>,
    served: &[Language],
    default: &Language,
) -> (Language, LanguageChoice) {
    let choice = |language: &Language, source, reason: String| {
        (language.clone(), LanguageChoice { source, reason })
    };
    if let Some(l) = evidence.chosen {
        return choice(l, LanguageSource::Chosen, format!("the patient chose {l}"));
    }
    if let Some(l) = evidence.campaign {
        return choice(
            l,
            LanguageSource::Campaign,
            format!("the campaign's language is {l}"),
        );
    }
    if let Some(l) = evidence.utm_lang.and_then(|raw| Language::parse(raw).ok()) {
        return choice(
            &l,
            LanguageSource::UtmLang,
            format!("the link's utm_lang is {l}"),
        );
    }
    if let Some(found) = evidence.text.and_then(|t| from_message(t, served)) {
        return found;
    }
    if let Some(phone) = evidence.phone
        && let Some(region) = phone.region()
        && let Some(l) = country_languages(region.code())
            .iter()
            .filter_map(|code| served.iter().find(|s| s.as_str() == *code))
            .next()
    {
        return choice(
            l,
            LanguageSource::PhoneCountry,
            format!("their phone number is from {}", region.code()),
        );
    }
    choice(
        default,
        LanguageSource::Default,
        format!("nothing told their language: the clinic's default, {default}"),
    )
}

/// The language of a patient's message, when it is confidently one the
/// clinic serves, with its choice (source `message`).
pub fn from_message(text: &str, served: &[Language]) -> Option<(Language, LanguageChoice)> {
    let (language, confidence) = detect(text, served)?;
    let reason = format!(
        "their message reads as {language} ({:.0} % confident)",
        confidence * 100.0
    );
    Some((
        language,
        LanguageChoice {
            source: LanguageSource::Message,
            reason,
        },
    ))
}

/// Whether a language from `found` should replace one from `held` (none:
/// a lead from before sources were kept): only a more trusted source does.
pub fn overrides(found: LanguageSource, held: Option<LanguageSource>) -> bool {
    found < held.unwrap_or(LanguageSource::Default)
}

/// The payload of a language question's button for `language`.
pub fn button_payload(language: &Language) -> String {
    format!("lang.{language}")
}

/// A language's name in itself ("Türkçe", "Русский"), for a button; its
/// code when the detector does not know it.
pub fn native_name(language: &Language) -> String {
    detector_lang(language.as_str()).map_or_else(|| language.to_string(), |l| l.name().to_owned())
}

/// The language a patient picked in answer to our question: a button's
/// payload, the number of an option (`2`), or a language's name or code,
/// among `served` (in the question's order).
pub fn answer(text: &str, payload: Option<&str>, served: &[Language]) -> Option<Language> {
    if let Some(code) = payload.and_then(|p| p.strip_prefix("lang.")) {
        return served.iter().find(|l| l.as_str() == code).cloned();
    }
    let text = text.trim().trim_end_matches(['.', '!']).trim();
    if let Ok(n) = text.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| served.get(i)).cloned();
    }
    let lower = text.to_lowercase();
    served
        .iter()
        .find(|l| l.as_str() == lower || native_name(l).to_lowercase() == lower)
        .cloned()
}

/// Widely written languages the detector always weighs, whether or not
/// the clinic serves them: a patient writing German to a clinic without
/// German is then read as German (and not served), not as whichever
/// served language looks least unlike it.
const ALWAYS_WEIGHED: [Lang; 13] = [
    Lang::Eng,
    Lang::Tur,
    Lang::Rus,
    Lang::Ukr,
    Lang::Ara,
    Lang::Pes,
    Lang::Deu,
    Lang::Fra,
    Lang::Spa,
    Lang::Ita,
    Lang::Por,
    Lang::Nld,
    Lang::Pol,
];

/// The language of `text` when it is one of `served` and the detector is
/// at least [`MIN_CONFIDENCE`] sure of it, with that confidence.
pub fn detect(text: &str, served: &[Language]) -> Option<(Language, f64)> {
    let served: Vec<(Lang, &Language)> = served
        .iter()
        .filter_map(|l| detector_lang(l.as_str()).map(|d| (d, l)))
        .collect();
    let mut weighed = ALWAYS_WEIGHED.to_vec();
    weighed.extend(served.iter().map(|(d, _)| *d));
    weighed.sort_by_key(|l| l.code());
    weighed.dedup();
    let info = Detector::with_allowlist(weighed).detect(text)?;
    let language = served.iter().find(|(d, _)| *d == info.lang())?.1;
    (info.confidence() >= MIN_CONFIDENCE).then(|| (language.clone(), info.confidence()))
}

/// The detector's language for an ISO 639-1 code (and the 639-3 codes it
/// knows by themselves).
fn detector_lang(code: &str) -> Option<Lang> {
    let three = match code {
        "af" => "afr",
        "ak" => "aka",
        "am" => "amh",
        "ar" => "ara",
        "az" => "aze",
        "be" => "bel",
        "bg" => "bul",
        "bn" => "ben",
        "ca" => "cat",
        "cs" => "ces",
        "cy" => "cym",
        "da" => "dan",
        "de" => "deu",
        "el" => "ell",
        "en" => "eng",
        "eo" => "epo",
        "es" => "spa",
        "et" => "est",
        "fa" => "pes",
        "fi" => "fin",
        "fr" => "fra",
        "gu" => "guj",
        "he" => "heb",
        "hi" => "hin",
        "hr" => "hrv",
        "hu" => "hun",
        "hy" => "hye",
        "id" => "ind",
        "it" => "ita",
        "ja" => "jpn",
        "jv" => "jav",
        "ka" => "kat",
        "km" => "khm",
        "kn" => "kan",
        "ko" => "kor",
        "la" => "lat",
        "lt" => "lit",
        "lv" => "lav",
        "mk" => "mkd",
        "ml" => "mal",
        "mr" => "mar",
        "my" => "mya",
        "nb" | "no" => "nob",
        "ne" => "nep",
        "nl" => "nld",
        "or" => "ori",
        "pa" => "pan",
        "pl" => "pol",
        "pt" => "por",
        "ro" => "ron",
        "ru" => "rus",
        "si" => "sin",
        "sk" => "slk",
        "sl" => "slv",
        "sn" => "sna",
        "sr" => "srp",
        "sv" => "swe",
        "ta" => "tam",
        "te" => "tel",
        "th" => "tha",
        "tk" => "tuk",
        "tl" => "tgl",
        "tr" => "tur",
        "uk" => "ukr",
        "ur" => "urd",
        "uz" => "uzb",
        "vi" => "vie",
        "yi" => "yid",
        "zh" => "cmn",
        "zu" => "zul",
        other => other,
    };
    Lang::from_code(three)
}

/// The languages people of a country (ISO 3166 alpha-2) are most likely
/// to write in, most likely first: a last hint, used only for languages
/// the clinic serves. Countries not listed give no hint.
pub fn country_languages(region: &str) -> &'static [&'static str] {
    match region {
        "TR" | "CY" => &["tr", "en"],
        "AZ" => &["az", "tr", "ru"],
        "RU" | "BY" | "KZ" | "KG" | "TJ" => &["ru"],
        "UA" => &["uk", "ru"],
        "UZ" => &["uz", "ru"],
        "TM" => &["tk", "ru"],
        "GE" => &["ka", "ru"],
        "AM" => &["hy", "ru"],
        "MD" => &["ro", "ru"],
        "EE" => &["et", "ru"],
        "LV" => &["lv", "ru"],
        "LT" => &["lt", "ru"],
        "SA" | "AE" | "QA" | "KW" | "BH" | "OM" | "YE" | "IQ" | "JO" | "LB" | "SY" | "PS"
        | "EG" | "LY" | "SD" => &["ar", "en"],
        "DZ" | "MA" | "TN" => &["ar", "fr"],
        "IR" => &["fa"],
        "IL" => &["he", "ar", "en"],
        "DE" | "AT" | "LI" => &["de", "en"],
        "CH" => &["de", "fr", "it", "en"],
        "GB" | "IE" | "US" | "CA" | "AU" | "NZ" | "ZA" | "NG" | "KE" | "GH" => &["en"],
        "IN" | "PK" => &["en", "hi", "ur"],
        "FR" | "MC" => &["fr", "en"],
        "BE" => &["nl", "fr", "de", "en"],
        "LU" => &["fr", "de", "en"],
        "NL" => &["nl", "en"],
        "ES" => &["es", "ca", "en"],
        "MX" | "AR" | "CO" | "CL" | "PE" | "VE" => &["es"],
        "PT" | "BR" => &["pt", "en"],
        "IT" | "SM" | "VA" => &["it", "en"],
        "GR" => &["el", "en"],
        "BG" => &["bg", "tr", "en"],
        "RO" => &["ro", "en"],
        "RS" | "ME" | "BA" => &["sr", "hr", "en"],
        "HR" => &["hr", "en"],
        "SI" => &["sl", "en"],
        "MK" => &["mk", "sq", "en"],
        "AL" | "XK" => &["sq", "en"],
        "PL" => &["pl", "en"],
        "CZ" => &["cs", "en"],
        "SK" => &["sk", "en"],
        "HU" => &["hu", "en"],
        "DK" => &["da", "en"],
        "SE" => &["sv", "en"],
        "NO" => &["nb", "en"],
        "FI" => &["fi", "en"],
        "CN" | "TW" | "HK" | "SG" => &["zh", "en"],
        "JP" => &["ja"],
        "KR" => &["ko"],
        "VN" => &["vi"],
        "TH" => &["th"],
        "ID" => &["id"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::Region;

    fn langs(codes: &[&str]) -> Vec<Language> {
        codes
            .iter()
            .filter_map(|c| Language::parse(c).ok())
            .collect()
    }

    fn lang(code: &str) -> Language {
        Language::parse(code).unwrap_or_else(|e| panic!("{e}"))
    }

    fn phone(raw: &str) -> PhoneNumber {
        let region: Region = "TR".parse().unwrap_or_else(|e: String| panic!("{e}"));
        PhoneNumber::parse(raw, region).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Texts patients write first, in the languages a Turkish health
    /// tourism clinic serves, short and mixed ones included: what the
    /// detector makes of each (None: not confident enough).
    #[test]
    fn first_messages_are_read_only_when_confident() {
        let served = langs(&["tr", "en", "ru", "ar", "de"]);
        let table: &[(&str, Option<&str>)] = &[
            (
                "Merhaba, diş beyazlatma için randevu almak istiyorum",
                Some("tr"),
            ),
            ("Merhaba, implant fiyatı nedir?", Some("tr")),
            ("fiyat bilgisi alabilir miyim", Some("tr")),
            (
                "Hi, I would like to book an appointment for teeth whitening",
                Some("en"),
            ),
            ("Hello, how much is an implant?", Some("en")),
            ("Здравствуйте, сколько стоит имплант?", Some("ru")),
            ("Добрый день", Some("ru")),
            ("Цена?", None),
            ("مرحبا كم سعر زراعة الأسنان", Some("ar")),
            ("السلام عليكم", Some("ar")),
            (
                "Guten Tag, ich möchte einen Termin für eine Zahnreinigung",
                Some("de"),
            ),
            ("Hallo, was kostet ein Implantat?", Some("de")),
            // Mixed: the larger part decides, or nothing does.
            ("Здравствуйте, hello", None),
            ("Hello, ich möchte info", Some("de")),
            ("Merhaba, I want info about implant", None),
            ("Merhaba hello price?", None),
            // Too short to tell among Latin-script languages.
            ("Merhaba", None),
            ("Hello", None),
            ("Hallo", None),
            ("Привет", None),
            ("Fiyat?", None),
            ("Preis?", None),
            ("ok", None),
            ("hi", None),
            ("👍", None),
            ("", None),
        ];
        let mut wrong = Vec::new();
        for (text, expected) in table {
            let got = detect(text, &served).map(|(l, _)| l.as_str().to_owned());
            if got.as_deref() != *expected {
                wrong.push(format!("{text:?}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn only_served_languages_are_detected() {
        // A clinic without German: a German sentence is read as German,
        // which it does not serve, never as Turkish or Russian.
        let served = langs(&["tr", "ru"]);
        assert_eq!(detect("Guten Tag, ich möchte einen Termin", &served), None);
        assert_eq!(
            detect("Bonjour, combien coûte un implant dentaire?", &served),
            None
        );
        let got = detect("Здравствуйте, сколько стоит имплант?", &served);
        assert_eq!(got.map(|(l, _)| l), Some(lang("ru")));
        // One language served is still read when the text is in it.
        let got = detect(
            "Merhaba, diş beyazlatma için randevu almak istiyorum",
            &langs(&["tr"]),
        );
        assert_eq!(got.map(|(l, _)| l), Some(lang("tr")));
        // Languages the detector does not know are left out of it.
        assert_eq!(
            detect("Merhaba, implant fiyatı nedir?", &langs(&["xx"])),
            None
        );
    }

    #[test]
    fn the_order_of_trust() {
        let served = langs(&["tr", "en", "ru", "ar", "de"]);
        let default = lang("tr");
        let ru_text = "Здравствуйте, сколько стоит имплант?";
        let de_phone = phone("+49 30 901820");
        let en = lang("en");
        let ar = lang("ar");
        let ru_phone = phone("+7 912 345 67 89");
        let sa_phone = phone("+966 50 123 4567");
        let fr_phone = phone("+33 6 12 34 56 78");
        let jp_phone = phone("+81 90 1234 5678");
        let full = Evidence {
            chosen: Some(&en),
            campaign: Some(&ar),
            utm_lang: Some("de"),
            text: Some(ru_text),
            phone: Some(&de_phone),
        };
        let cases: Vec<(Evidence<'_>, &str, LanguageSource)> = vec![
            (full, "en", LanguageSource::Chosen),
            (
                Evidence {
                    chosen: None,
                    ..full
                },
                "ar",
                LanguageSource::Campaign,
            ),
            (
                Evidence {
                    chosen: None,
                    campaign: None,
                    ..full
                },
                "de",
                LanguageSource::UtmLang,
            ),
            (
                Evidence {
                    chosen: None,
                    campaign: None,
                    utm_lang: Some("not a code!"),
                    ..full
                },
                "ru",
                LanguageSource::Message,
            ),
            (
                Evidence {
                    chosen: None,
                    campaign: None,
                    utm_lang: None,
                    ..full
                },
                "ru",
                LanguageSource::Message,
            ),
            (
                Evidence {
                    text: Some("Hallo"),
                    chosen: None,
                    campaign: None,
                    utm_lang: None,
                    ..full
                },
                "de",
                LanguageSource::PhoneCountry,
            ),
            (
                Evidence {
                    text: None,
                    phone: Some(&ru_phone),
                    ..Evidence::default()
                },
                "ru",
                LanguageSource::PhoneCountry,
            ),
            (
                Evidence {
                    phone: Some(&sa_phone),
                    ..Evidence::default()
                },
                "ar",
                LanguageSource::PhoneCountry,
            ),
            // French is not served; English, France's second, is.
            (
                Evidence {
                    phone: Some(&fr_phone),
                    ..Evidence::default()
                },
                "en",
                LanguageSource::PhoneCountry,
            ),
            // A country whose languages the clinic does not serve: default.
            (
                Evidence {
                    phone: Some(&jp_phone),
                    ..Evidence::default()
                },
                "tr",
                LanguageSource::Default,
            ),
            (Evidence::default(), "tr", LanguageSource::Default),
        ];
        for (i, (evidence, language, source)) in cases.into_iter().enumerate() {
            let (got, why) = decide(&evidence, &served, &default);
            assert_eq!(
                (got.as_str(), why.source),
                (language, source),
                "case {i}: {}",
                why.reason
            );
            assert!(!why.reason.is_empty());
        }
    }

    #[test]
    fn only_a_more_trusted_source_overrides() {
        use LanguageSource::*;
        assert!(overrides(Message, Some(PhoneCountry)));
        assert!(overrides(Message, Some(Default)));
        assert!(overrides(Message, None));
        assert!(!overrides(Message, Some(Message)));
        assert!(!overrides(Message, Some(UtmLang)));
        assert!(!overrides(Message, Some(Chosen)));
        assert!(overrides(Chosen, Some(Campaign)));
    }

    #[test]
    fn a_question_is_answered_by_button_number_or_name() {
        let served = langs(&["tr", "en", "ru", "ar"]);
        assert_eq!(
            answer("Русский", Some("lang.ru"), &served),
            Some(lang("ru"))
        );
        assert_eq!(answer("", Some("lang.de"), &served), None);
        assert_eq!(answer(" 2 ", None, &served), Some(lang("en")));
        assert_eq!(answer("5", None, &served), None);
        assert_eq!(answer("0", None, &served), None);
        assert_eq!(answer("русский", None, &served), Some(lang("ru")));
        assert_eq!(answer("Türkçe!", None, &served), Some(lang("tr")));
        assert_eq!(answer("AR", None, &served), Some(lang("ar")));
        assert_eq!(answer("I would like to book", None, &served), None);
        assert_eq!(native_name(&lang("ru")), "Русский");
        assert_eq!(native_name(&lang("xx")), "xx");
        assert_eq!(button_payload(&lang("ar")), "lang.ar");
    }

    #[test]
    fn the_reason_says_why() {
        let served = langs(&["tr", "ru"]);
        let (_, got) = decide(
            &Evidence {
                text: Some("Здравствуйте, сколько стоит имплант?"),
                ..Evidence::default()
            },
            &served,
            &lang("tr"),
        );
        assert_eq!(got.reason, "their message reads as ru (59 % confident)");
        let (_, got) = decide(
            &Evidence {
                phone: Some(&phone("+90 532 123 45 67")),
                ..Evidence::default()
            },
            &served,
            &lang("ru"),
        );
        assert_eq!(got.reason, "their phone number is from TR");
    }

    #[test]
    fn every_listed_country_names_codes_and_the_detector_knows_the_common_ones() {
        for code in [
            "tr", "en", "ru", "ar", "de", "fr", "uk", "fa", "he", "nb", "zh",
        ] {
            assert!(detector_lang(code).is_some(), "{code}");
        }
        for region in ["TR", "DE", "SA", "RU", "GB", "XK", "BR"] {
            for l in country_languages(region) {
                assert!(Language::parse(l).is_ok(), "{region}: {l}");
            }
        }
        assert!(country_languages("AQ").is_empty());
    }
}
