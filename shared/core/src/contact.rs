//! A patient's contact data: phone numbers in E.164, e-mail addresses, the
//! key that deduplicates leads, and masks that keep contact data out of logs.

use std::fmt;
use std::str::FromStr;

use phonenumber::PhoneNumber as ParsedNumber;
use phonenumber::country;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::message::Channel;
use crate::phone_plans;

/// A country whose numbering plan reads national numbers (`0532 …`), as a
/// CLDR region code such as `TR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region(country::Id);

impl Region {
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl FromStr for Region {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        country::Id::from_str(&s.trim().to_ascii_uppercase())
            .map(Region)
            .map_err(|_| format!("`{s}` is not a region code such as TR, DE or GB"))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A valid phone number in E.164 form (`+905321234567`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("is not a phone number")]
    NotANumber,
    #[error("is not a valid phone number (read with default region {0})")]
    Invalid(Region),
}

impl PhoneNumber {
    /// Reads a phone number as people type it, with `region` deciding how a
    /// national number without a country code is read.
    ///
    /// `0532 123 45 67`, `+90 (532) 123-4567`, `00905321234567` and
    /// `5321234567` read with region TR are all `+905321234567`.
    pub fn parse(raw: &str, region: Region) -> Result<Self, PhoneError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(PhoneError::Empty);
        }
        let (parsed, plans) = read(raw, Some(region)).ok_or(PhoneError::NotANumber)?;
        if !parsed.is_valid_with(plans.database()) {
            return Err(PhoneError::Invalid(region));
        }
        Ok(PhoneNumber(e164(&parsed)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country the number belongs to (`TR` for +90…), when its plan
    /// names one.
    pub fn region(&self) -> Option<Region> {
        let (parsed, plans) = read(&self.0, None)?;
        let plan = parsed.metadata(plans.database())?;
        country::Id::from_str(plan.id()).ok().map(Region)
    }

    /// `+90*******67`: enough to tell numbers apart in a log, not to call one.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 3, 2)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    /// Stored numbers are already E.164; reading one back validates it again.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let (parsed, _) = read(&s, None)
            .ok_or_else(|| serde::de::Error::custom("not a phone number in E.164 form"))?;
        Ok(PhoneNumber(e164(&parsed)))
    }
}

/// The plans a number was read with.
enum Plans {
    Served(std::sync::Arc<phonenumber::metadata::Database>),
    All(&'static phonenumber::metadata::Database),
}

impl Plans {
    fn database(&self) -> &phonenumber::metadata::Database {
        match self {
            Plans::Served(database) => database,
            Plans::All(database) => database,
        }
    }
}

/// Reads `raw` with the served regions' plans when they decide it (they hold
/// every region of its country code), else with every region's.
fn read(raw: &str, region: Option<Region>) -> Option<(ParsedNumber, Plans)> {
    let served = match region {
        Some(region) => phone_plans::with(region),
        None => phone_plans::served(),
    };
    if let Some(database) = served
        && let Ok(parsed) = phonenumber::parse_with(&database, region.map(|r| r.0), raw)
        && phone_plans::deciding(&database, parsed.code().value())
    {
        return Some((parsed, Plans::Served(database)));
    }
    let database = phone_plans::all();
    let parsed = phonenumber::parse_with(database, region.map(|r| r.0), raw).ok()?;
    Some((parsed, Plans::All(database)))
}

/// `+{code}{national}`, as the crate's E.164 formatter writes it (which
/// would load the full database, whatever plans it is given).
fn e164(parsed: &ParsedNumber) -> String {
    format!("+{}{}", parsed.code().value(), parsed.national())
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid e-mail address, kept as the patient typed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is empty")]
    Empty,
    #[error("is not a valid e-mail address")]
    Invalid,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(EmailError::Empty);
        }
        let parsed = email_address::EmailAddress::from_str(raw).map_err(|_| EmailError::Invalid)?;
        // A display name (`Ayşe <a@b.c>`) is not an address to store.
        if parsed.display_part() != "" {
            return Err(EmailError::Invalid);
        }
        Ok(Email(parsed.email().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address compared case-insensitively, as dedupe compares it.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }

    /// `a***@***`: the shape of an address, not the address.
    pub fn masked(&self) -> String {
        let first = self.0.chars().next().unwrap_or('?');
        format!("{first}***@***")
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Instagram-scoped user id (IGSID): how Instagram names a person who
/// wrote to the clinic's professional account, and the only address its
/// Send API takes. Digits, as Instagram gives them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct InstagramId(String);

impl InstagramId {
    /// The longest id accepted (Instagram's are 15 to 17 digits today).
    const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err("is not an Instagram-scoped user id (digits)".into());
        }
        Ok(InstagramId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `ig:17*************42`: tells ids apart in a log, nothing more.
    pub fn masked(&self) -> String {
        format!("ig:{}", mask_middle(&self.0, 2, 2))
    }
}

impl<'de> Deserialize<'de> for InstagramId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        InstagramId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for InstagramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What Instagram shows of an account that wrote to the clinic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstagramProfile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

impl InstagramProfile {
    /// The name to call them by: their name, else their `@username`.
    pub fn display_name(&self) -> Option<String> {
        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let username = self
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| format!("@{}", u.trim_start_matches('@')));
        name.map(|n| n.chars().take(200).collect()).or(username)
    }
}

/// Where to reach a person: a phone number, an e-mail address, an
/// Instagram account that wrote to the clinic — any of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    pub phone: Option<PhoneNumber>,
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram: Option<InstagramId>,
}

impl Reach {
    /// Someone known by a phone number alone (a patient's message, a
    /// call), with the key that identifies them.
    pub fn by_phone(phone: PhoneNumber) -> (Reach, ContactKey) {
        let key = phone_key(&phone);
        let reach = Reach {
            phone: Some(phone),
            ..Reach::default()
        };
        (reach, key)
    }

    /// Someone known by the Instagram account they wrote from.
    pub fn by_instagram(id: InstagramId) -> (Reach, ContactKey) {
        let key = instagram_key(&id);
        let reach = Reach {
            instagram: Some(id),
            ..Reach::default()
        };
        (reach, key)
    }

    /// Their address on `channel`, if they have one there.
    pub fn address(&self, channel: Channel) -> Option<&str> {
        match channel {
            Channel::Sms | Channel::Whatsapp => self.phone.as_ref().map(PhoneNumber::as_str),
            Channel::Email => self.email.as_ref().map(Email::as_str),
            Channel::Instagram => self.instagram.as_ref().map(InstagramId::as_str),
            Channel::Webhook => None,
        }
    }

    /// The identity that deduplicates leads and names the patient: the
    /// phone number when there is one, otherwise the e-mail address
    /// compared case-insensitively, otherwise the Instagram account.
    pub fn dedupe_key(&self) -> Option<ContactKey> {
        self.dedupe_keys().into_iter().next()
    }

    /// Every identity a lead is found by: its phone number, its e-mail
    /// address, its Instagram account. A later submission matching any
    /// reaches the same lead.
    pub fn dedupe_keys(&self) -> Vec<ContactKey> {
        let phone = self.phone.as_ref().map(phone_key);
        let email = self
            .email
            .as_ref()
            .map(|e| ContactKey::of(&format!("email:{}", e.canonical())));
        let instagram = self.instagram.as_ref().map(instagram_key);
        phone.into_iter().chain(email).chain(instagram).collect()
    }

    /// A short description safe for logs.
    pub fn masked(&self) -> String {
        match (&self.phone, &self.email, &self.instagram) {
            (Some(phone), _, _) => phone.masked(),
            (None, Some(email), _) => email.masked(),
            (None, None, Some(instagram)) => instagram.masked(),
            (None, None, None) => "-".to_owned(),
        }
    }
}

fn phone_key(phone: &PhoneNumber) -> ContactKey {
    ContactKey::of(&format!("phone:{}", phone.as_str()))
}

fn instagram_key(id: &InstagramId) -> ContactKey {
    ContactKey::of(&format!("instagram:{}", id.as_str()))
}

/// A stable identity of a patient's contact (SHA-256 of the normalised
/// phone, e-mail or Instagram id), so that store keys, which infrastructure logs and
/// metrics may show, never carry a phone number or an address in clear.
/// It is a pseudonym, not anonymity: an unkeyed hash of a phone number can
/// be reversed by trying every number, so keys are kept out of logs too.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContactKey(String);

impl ContactKey {
    fn of(identity: &str) -> Self {
        let digest = Sha256::digest(identity.as_bytes());
        let mut hex = String::with_capacity(32);
        for byte in &digest[..16] {
            hex.push_str(&format!("{byte:02x}"));
        }
        ContactKey(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn mask_middle(s: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= keep_start + keep_end {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..keep_start].iter().collect();
    out.push_str(&"*".repeat(chars.len() - keep_start - keep_end));
    out.extend(&chars[chars.len() - keep_end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> Region {
        "TR".parse().unwrap()
    }

    #[test]
    fn turkish_forms_of_one_number_are_one_number() {
        for raw in [
            "0532 123 45 67",
            "+90 (532) 123-4567",
            "00905321234567",
            "5321234567",
            "+905321234567",
            "0 (532) 123 45 67",
            "tel:+90-532-123-4567",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, tr()).unwrap().as_str(),
                "+905321234567",
                "{raw}"
            );
        }
    }

    #[test]
    fn the_region_only_decides_national_numbers() {
        let de: Region = "de".parse().unwrap();
        let gb: Region = "GB".parse().unwrap();
        assert_eq!(
            PhoneNumber::parse("030 1234567", de).unwrap().as_str(),
            "+49301234567"
        );
        assert_eq!(
            PhoneNumber::parse("07911 123456", gb).unwrap().as_str(),
            "+447911123456"
        );
        // An international number stays itself whatever the default region.
        assert_eq!(
            PhoneNumber::parse("+7 912 345-67-89", tr())
                .unwrap()
                .as_str(),
            "+79123456789"
        );
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(PhoneNumber::parse("  ", tr()), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("call me", tr()),
            Err(PhoneError::NotANumber)
        );
        assert_eq!(
            PhoneNumber::parse("0532 12", tr()),
            Err(PhoneError::Invalid(tr()))
        );
        assert!(PhoneNumber::parse("+90 999 999 99 99 99", tr()).is_err());
        assert!("XX".parse::<Region>().is_err());
    }

    #[test]
    fn emails_dedupe_case_insensitively() {
        let a = Reach {
            phone: None,
            email: Some(Email::parse("Ayse.Demir@Example.com").unwrap()),
            instagram: None,
        };
        let b = Reach {
            phone: None,
            email: Some(Email::parse(" ayse.demir@example.com ").unwrap()),
            instagram: None,
        };
        assert_eq!(a.dedupe_key(), b.dedupe_key());
        assert_eq!(a.email.unwrap().as_str(), "Ayse.Demir@Example.com");
        assert_eq!(Email::parse("not-an-address"), Err(EmailError::Invalid));
        assert_eq!(
            Email::parse("Ayşe <ayse@example.com>"),
            Err(EmailError::Invalid)
        );
    }

    #[test]
    fn the_phone_wins_over_the_email_and_keys_hide_both() {
        let phone = PhoneNumber::parse("05321234567", tr()).unwrap();
        let with_email = Reach {
            phone: Some(phone.clone()),
            email: Some(Email::parse("a@b.co").unwrap()),
            instagram: None,
        };
        let without = Reach {
            phone: Some(phone),
            email: None,
            instagram: None,
        };
        let key = with_email.dedupe_key().unwrap();
        assert_eq!(Some(key.clone()), without.dedupe_key());
        assert_eq!(key.as_str().len(), 32);
        assert!(!key.as_str().contains("532"));
        assert_eq!(Reach::default().dedupe_key(), None);
    }

    #[test]
    fn an_instagram_account_is_an_identity_of_its_own() {
        let id = InstagramId::parse(" 17841400000000042 ").unwrap();
        assert_eq!(id.as_str(), "17841400000000042");
        assert!(InstagramId::parse("").is_err());
        assert!(InstagramId::parse("ayse.demir").is_err());
        assert!(InstagramId::parse(&"1".repeat(33)).is_err());
        let (reach, key) = Reach::by_instagram(id.clone());
        assert_eq!(reach.dedupe_key(), Some(key.clone()));
        assert_eq!(reach.address(Channel::Instagram), Some("17841400000000042"));
        assert_eq!(reach.address(Channel::Sms), None);
        assert_eq!(id.masked(), "ig:17*************42");
        assert_eq!(reach.masked(), id.masked());
        let profile = |name: Option<&str>, username: Option<&str>| InstagramProfile {
            name: name.map(str::to_owned),
            username: username.map(str::to_owned),
        };
        assert_eq!(
            profile(Some("Ayşe Kaya"), Some("ayse.kaya")).display_name(),
            Some("Ayşe Kaya".into())
        );
        assert_eq!(
            profile(Some(" "), Some("ayse.kaya")).display_name(),
            Some("@ayse.kaya".into())
        );
        assert_eq!(profile(None, None).display_name(), None);
        // The same digits as a phone are another person.
        let phone = PhoneNumber::parse("+905321234567", tr()).unwrap();
        assert_ne!(Reach::by_phone(phone).1, key);
    }

    #[test]
    fn masks_keep_contact_data_out_of_sight() {
        let phone = PhoneNumber::parse("05321234567", tr()).unwrap();
        assert_eq!(phone.masked(), "+90********67");
        assert_eq!(
            Email::parse("ayse@example.com").unwrap().masked(),
            "a***@***"
        );
    }
}
