//! A patient's one-tap or one-word answers: the payloads our WhatsApp
//! buttons carry, the SMS reply grammar, survey scores, and the signed
//! links of e-mail and SMS.
//!
//! Button payloads name the appointment and the version the question was
//! about (`apt:{id}:v{version}:confirm`), so a tap on an appointment that
//! moved since is recognised. The reply grammar (`1`/`2`/`3`, `C`/`R`, and
//! words per language such as `evet`) never uses an opt-out word — STOP,
//! CANCEL, END and the rest unsubscribe a patient at the carrier — and a
//! tenant's own words are checked against its opt-out words at start.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids::{AppointmentId, Language};
use crate::messaging::{Keywords, normalise};

/// What a patient can answer about an appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Confirm,
    Reschedule,
    Cancel,
}

impl Answer {
    pub const ALL: [Answer; 3] = [Answer::Confirm, Answer::Reschedule, Answer::Cancel];

    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Confirm => "confirm",
            Answer::Reschedule => "reschedule",
            Answer::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<Answer> {
        Answer::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// A reply button's title (at most 20 characters, as WhatsApp allows).
    pub fn title(self, language: &Language) -> &'static str {
        use Answer::*;
        match (language.as_str(), self) {
            ("tr", Confirm) => "Onaylıyorum",
            ("tr", Reschedule) => "Değiştir",
            ("tr", Cancel) => "Gelemeyeceğim",
            ("ru", Confirm) => "Подтверждаю",
            ("ru", Reschedule) => "Перенести",
            ("ru", Cancel) => "Не смогу прийти",
            ("de", Confirm) => "Bestätigen",
            ("de", Reschedule) => "Verschieben",
            ("de", Cancel) => "Absagen",
            ("ar", Confirm) => "تأكيد",
            ("ar", Reschedule) => "تغيير الموعد",
            ("ar", Cancel) => "لا أستطيع الحضور",
            (_, Confirm) => "Confirm",
            (_, Reschedule) => "Change time",
            (_, Cancel) => "Cannot come",
        }
    }
}

/// What a button's payload says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// An answer about an appointment as it was at `version`.
    Answer {
        appointment: AppointmentId,
        version: u64,
        answer: Answer,
    },
    /// A survey score for the visit.
    Score {
        appointment: AppointmentId,
        score: u8,
    },
}

impl Payload {
    pub fn answer(appointment: &AppointmentId, version: u64, answer: Answer) -> String {
        format!("apt:{appointment}:v{version}:{}", answer.as_str())
    }

    pub fn score(appointment: &AppointmentId, score: u8) -> String {
        format!("srv:{appointment}:{score}")
    }

    /// Reads a payload of ours; anything else (a label, another system's
    /// payload) is `None` and treated as the text it shows.
    pub fn parse(s: &str) -> Option<Payload> {
        let mut parts = s.split(':');
        match (parts.next()?, parts.next()?, parts.next()?, parts.next()) {
            ("apt", id, version, Some(answer)) if parts.next().is_none() => Some(Payload::Answer {
                appointment: AppointmentId::new(id).ok()?,
                version: version.strip_prefix('v')?.parse().ok()?,
                answer: Answer::parse(answer)?,
            }),
            ("srv", id, score, None) => Some(Payload::Score {
                appointment: AppointmentId::new(id).ok()?,
                score: score.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// The built-in answer words: digits and letters that work in any
/// language, and each built-in language's own.
const CONFIRM: &[&str] = &[
    "1",
    "C",
    "Y",
    "YES",
    "OK",
    "👍",
    "EVET",
    "E",
    "TAMAM",
    "ONAY",
    "ONAYLIYORUM",
    "ДА",
    "JA",
    "نعم",
];
const RESCHEDULE: &[&str] = &[
    "2",
    "R",
    "RESCHEDULE",
    "ERTELE",
    "DEĞİŞTİR",
    "ПЕРЕНЕСТИ",
    "VERSCHIEBEN",
    "تغيير",
];
const CANCEL: &[&str] = &["3", "N", "NO", "HAYIR", "GELEMEYECEĞİM", "НЕТ", "NEIN", "لا"];

/// The reply grammar: each answer's words, built-in and the tenant's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerWords {
    words: Vec<(String, Answer)>,
}

impl Default for AnswerWords {
    fn default() -> Self {
        AnswerWords::new(&BTreeMap::new())
    }
}

impl AnswerWords {
    /// The built-in words plus a tenant's (answer → language → words).
    pub fn new(own: &BTreeMap<Answer, BTreeMap<Language, Vec<String>>>) -> AnswerWords {
        let mut words = Vec::new();
        for (answer, builtin) in [
            (Answer::Confirm, CONFIRM),
            (Answer::Reschedule, RESCHEDULE),
            (Answer::Cancel, CANCEL),
        ] {
            words.extend(builtin.iter().map(|w| (normalise(w), answer)));
            for w in own
                .get(&answer)
                .into_iter()
                .flat_map(|by| by.values().flatten())
            {
                words.push((normalise(w), answer));
            }
        }
        AnswerWords { words }
    }

    /// The answer a whole reply gives, if it is one of the words.
    pub fn classify(&self, text: &str) -> Option<Answer> {
        let word = normalise(text);
        self.words
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, answer)| *answer)
    }

    /// Words that would also opt the patient out, or that mean two answers:
    /// each is a configuration error.
    pub fn conflicts(&self, keywords: &Keywords) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (word, answer)) in self.words.iter().enumerate() {
            if keywords.classify(word).is_some() {
                out.push(format!("`{word}` is also an opt-out or opt-in word"));
            }
            if self.words[..i]
                .iter()
                .any(|(w, a)| w == word && a != answer)
            {
                out.push(format!("`{word}` means two different answers"));
            }
        }
        out
    }
}

/// A survey score in a reply: the number it starts with (`5`, `4 - good`,
/// `٩`), if within `min..=max` and the only number in it.
pub fn score(text: &str, min: u8, max: u8) -> Option<u8> {
    let digits: String = text
        .chars()
        .map(|c| match c {
            '٠'..='٩' => char::from_digit(c as u32 - '٠' as u32, 10).unwrap_or(c),
            c => c,
        })
        .collect();
    let trimmed = digits.trim();
    let number: String = trimmed.chars().take_while(char::is_ascii_digit).collect();
    if number.is_empty() || number.len() > 2 {
        return None;
    }
    let rest = &trimmed[number.len()..];
    if rest.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u8 = number.parse().ok()?;
    (min..=max).contains(&n).then_some(n)
}

type HmacSha256 = Hmac<Sha256>;

/// What a signed link is about: one appointment as it was at one version,
/// until it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub appointment: AppointmentId,
    pub version: u64,
    pub expires: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is not one of ours")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

impl Link {
    fn message(&self) -> String {
        format!(
            "{}.{}.{}",
            self.appointment,
            self.version,
            self.expires.as_second()
        )
    }

    /// The link's token: `{appointment}.{version}.{expires}.{signature}`,
    /// the signature an HMAC-SHA256 of the rest under the tenant's key.
    pub fn sign(&self, key: &[u8]) -> String {
        let message = self.message();
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(message.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{message}.{signature}")
    }

    /// Reads and checks a token (in constant time) at `now`.
    pub fn verify(token: &str, key: &[u8], now: Timestamp) -> Result<Link, LinkError> {
        let (message, signature) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
        let mut parts = message.split('.');
        let (Some(expires), Some(version)) = (parts.next_back(), parts.next_back()) else {
            return Err(LinkError::Malformed);
        };
        let appointment: Vec<&str> = parts.collect();
        let link = Link {
            appointment: AppointmentId::new(appointment.join("."))
                .map_err(|_| LinkError::Malformed)?,
            version: version.parse().map_err(|_| LinkError::Malformed)?,
            expires: expires
                .parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok())
                .ok_or(LinkError::Malformed)?,
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::Malformed)?;
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(message.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| LinkError::BadSignature)?;
        if now >= link.expires {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_others_are_text() {
        let id = AppointmentId::new("01KBX0Q3").unwrap();
        let p = Payload::answer(&id, 4, Answer::Confirm);
        assert_eq!(p, "apt:01KBX0Q3:v4:confirm");
        assert_eq!(
            Payload::parse(&p),
            Some(Payload::Answer {
                appointment: id.clone(),
                version: 4,
                answer: Answer::Confirm
            })
        );
        assert_eq!(
            Payload::parse(&Payload::score(&id, 5)),
            Some(Payload::Score {
                appointment: id,
                score: 5
            })
        );
        for other in [
            "Onaylıyorum",
            "apt:x:4:confirm",
            "apt:x:v4:maybe",
            "srv:x",
            "apt:a#b:v1:cancel",
            "",
        ] {
            assert_eq!(Payload::parse(other), None, "{other}");
        }
    }

    #[test]
    fn the_grammar_reads_digits_letters_and_words_and_never_opts_out() {
        let words = AnswerWords::default();
        for (text, answer) in [
            ("1", Answer::Confirm),
            (" c ", Answer::Confirm),
            ("Evet!", Answer::Confirm),
            ("evet", Answer::Confirm),
            ("Да", Answer::Confirm),
            ("2", Answer::Reschedule),
            ("r", Answer::Reschedule),
            ("değiştir", Answer::Reschedule),
            ("3", Answer::Cancel),
            ("hayır", Answer::Cancel),
            ("Nein.", Answer::Cancel),
        ] {
            assert_eq!(words.classify(text), Some(answer), "{text}");
        }
        for text in [
            "cancel",
            "stop",
            "end",
            "4",
            "evet ama 10 dk gecikeceğim",
            "",
        ] {
            assert_eq!(words.classify(text), None, "{text}");
        }
        // No built-in word is an opt-out word, nor means two answers.
        assert!(words.conflicts(&Keywords::default()).is_empty());
        let tr = Language::parse("tr").unwrap();
        let iptal = Keywords::new(
            BTreeMap::from([(tr.clone(), vec!["IPTAL".into()])]),
            BTreeMap::new(),
        );
        let own = AnswerWords::new(&BTreeMap::from([(
            Answer::Cancel,
            BTreeMap::from([(tr, vec!["iptal".to_owned(), "evet".to_owned()])]),
        )]));
        let conflicts = own.conflicts(&iptal);
        assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    }

    #[test]
    fn scores_are_the_only_number_in_range() {
        assert_eq!(score("5", 1, 5), Some(5));
        assert_eq!(score(" 4 - güzeldi", 1, 5), Some(4));
        assert_eq!(score("10", 0, 10), Some(10));
        assert_eq!(score("٩", 0, 10), Some(9));
        assert_eq!(score("6", 1, 5), None);
        assert_eq!(score("3 or 4", 1, 5), None);
        assert_eq!(score("great", 1, 5), None);
        assert_eq!(score("100", 0, 10), None);
    }

    #[test]
    fn links_are_signed_and_expire() {
        let now: Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let link = Link {
            appointment: AppointmentId::new("01KBX0Q3").unwrap(),
            version: 3,
            expires: "2026-12-03T10:00:00Z".parse().unwrap(),
        };
        let token = link.sign(b"key-one");
        assert_eq!(Link::verify(&token, b"key-one", now), Ok(link.clone()));
        assert_eq!(
            Link::verify(&token, b"key-two", now),
            Err(LinkError::BadSignature)
        );
        let forged = token.replacen(".3.", ".4.", 1);
        assert_eq!(
            Link::verify(&forged, b"key-one", now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            Link::verify(&token, b"key-one", link.expires),
            Err(LinkError::Expired)
        );
        assert_eq!(
            Link::verify("nonsense", b"key-one", now),
            Err(LinkError::Malformed)
        );
    }
}
