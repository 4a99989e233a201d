//! A patient's local time, and dates and times written in their language.
//!
//! The patient's time zone is their own when a scheduler sends it, else
//! their phone number's country's (the zone most of its people live in,
//! from the IANA database's `zone.tab`), else the branch's. Dates are
//! written the way each built-in language writes them; any other language
//! gets ISO dates.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use crate::contact::Reach;
use crate::country_zones::COUNTRY_ZONES;
use crate::ids::Language;

/// The time zone to plan a patient's messages in.
pub fn patient_zone(own: Option<&str>, reach: &Reach, branch: &TimeZone) -> TimeZone {
    if let Some(tz) = own.and_then(|name| TimeZone::get(name).ok()) {
        return tz;
    }
    reach
        .phone
        .as_ref()
        .and_then(|p| p.region())
        .and_then(|r| country_zone(r.code()))
        .unwrap_or_else(|| branch.clone())
}

/// The zone of a country (ISO 3166 code), if the database knows it.
pub fn country_zone(country: &str) -> Option<TimeZone> {
    let i = COUNTRY_ZONES
        .binary_search_by(|(code, _, _)| (*code).cmp(country))
        .ok()?;
    TimeZone::get(COUNTRY_ZONES[i].1).ok()
}

/// How a language names days and months.
struct Words {
    days: [&'static str; 7],
    months: [&'static str; 12],
}

const TR: Words = Words {
    days: [
        "Pazartesi",
        "Salı",
        "Çarşamba",
        "Perşembe",
        "Cuma",
        "Cumartesi",
        "Pazar",
    ],
    months: [
        "Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim",
        "Kasım", "Aralık",
    ],
};
const EN: Words = Words {
    days: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
};
/// Russian months in the genitive, as dates need them (3 декабря).
const RU: Words = Words {
    days: [
        "понедельник",
        "вторник",
        "среда",
        "четверг",
        "пятница",
        "суббота",
        "воскресенье",
    ],
    months: [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ],
};
const DE: Words = Words {
    days: [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ],
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
};
const AR: Words = Words {
    days: [
        "الاثنين",
        "الثلاثاء",
        "الأربعاء",
        "الخميس",
        "الجمعة",
        "السبت",
        "الأحد",
    ],
    months: [
        "يناير",
        "فبراير",
        "مارس",
        "أبريل",
        "مايو",
        "يونيو",
        "يوليو",
        "أغسطس",
        "سبتمبر",
        "أكتوبر",
        "نوفمبر",
        "ديسمبر",
    ],
};

fn words(language: &Language) -> Option<&'static Words> {
    match language.as_str() {
        "tr" => Some(&TR),
        "en" => Some(&EN),
        "ru" => Some(&RU),
        "de" => Some(&DE),
        "ar" => Some(&AR),
        _ => None,
    }
}

fn day_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

fn month_index(date: Date) -> usize {
    usize::try_from(date.month() - 1).unwrap_or(0)
}

/// A date as the language writes it: `3 Aralık Perşembe`, `Thursday 3
/// December`, `четверг, 3 декабря`, `Donnerstag, 3. Dezember`.
pub fn date(at: Timestamp, tz: &TimeZone, language: &Language) -> String {
    let d = tz.to_datetime(at).date();
    let Some(w) = words(language) else {
        return d.to_string();
    };
    let (day, month, n) = (
        w.days[day_index(d.weekday())],
        w.months[month_index(d)],
        d.day(),
    );
    match language.as_str() {
        "tr" => format!("{n} {month} {day}"),
        "ru" => format!("{day}, {n} {month}"),
        "de" => format!("{day}, {n}. {month}"),
        _ => format!("{day} {n} {month}"),
    }
}

/// A time of day on the 24-hour clock: `09:30`.
pub fn time(at: Timestamp, tz: &TimeZone) -> String {
    let t = tz.to_datetime(at).time();
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// When something will happen, from `now`, as a phrase that completes "…
/// will call you": `tomorrow at 09:00`, `yarın saat 09:00 civarında`.
pub fn when(at: Timestamp, now: Timestamp, tz: &TimeZone, language: &Language) -> String {
    let day = tz.to_datetime(at).date();
    let today = tz.to_datetime(now).date();
    let offset = today.until(day).map(|span| span.get_days()).unwrap_or(2);
    let clock = time(at, tz);
    let lang = if words(language).is_some() {
        language.as_str()
    } else {
        "en"
    };
    let named = || {
        date(
            at,
            tz,
            &Language::parse(lang).unwrap_or_else(|_| language.clone()),
        )
    };
    match (lang, offset) {
        ("tr", 0) => format!("bugün saat {clock} civarında"),
        ("tr", 1) => format!("yarın saat {clock} civarında"),
        ("tr", _) => format!("{} saat {clock} civarında", named()),
        ("ru", 0) => format!("сегодня в {clock}"),
        ("ru", 1) => format!("завтра в {clock}"),
        ("ru", _) => {
            const ON: [&str; 7] = [
                "в понедельник",
                "во вторник",
                "в среду",
                "в четверг",
                "в пятницу",
                "в субботу",
                "в воскресенье",
            ];
            format!(
                "{}, {} {}, в {clock}",
                ON[day_index(day.weekday())],
                day.day(),
                RU.months[month_index(day)]
            )
        }
        ("de", 0) => format!("heute um {clock} Uhr"),
        ("de", 1) => format!("morgen um {clock} Uhr"),
        ("de", _) => format!("am {}, um {clock} Uhr", named()),
        ("ar", 0) => format!("اليوم الساعة {clock}"),
        ("ar", 1) => format!("غداً الساعة {clock}"),
        ("ar", _) => format!("يوم {} الساعة {clock}", named()),
        (_, 0) => format!("today at {clock}"),
        (_, 1) => format!("tomorrow at {clock}"),
        (_, _) => format!("on {} at {clock}", named()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{Email, PhoneNumber, Region};

    fn lang(s: &str) -> Language {
        Language::parse(s).unwrap()
    }

    fn phone(s: &str) -> Reach {
        Reach {
            phone: Some(PhoneNumber::parse(s, "TR".parse::<Region>().unwrap()).unwrap()),
            email: None,
            instagram: None,
        }
    }

    #[test]
    fn the_patients_zone_comes_from_them_their_number_or_the_branch() {
        let istanbul = TimeZone::get("Europe/Istanbul").unwrap();
        let berlin = patient_zone(None, &phone("+49 30 12345678"), &istanbul);
        assert_eq!(berlin.iana_name(), Some("Europe/Berlin"));
        let ny = patient_zone(None, &phone("+1 212 555 0100"), &istanbul);
        assert_eq!(ny.iana_name(), Some("America/New_York"));
        let own = patient_zone(
            Some("America/Los_Angeles"),
            &phone("+1 212 555 0100"),
            &istanbul,
        );
        assert_eq!(own.iana_name(), Some("America/Los_Angeles"));
        let email_only = Reach {
            phone: None,
            email: Some(Email::parse("a@b.example").unwrap()),
            instagram: None,
        };
        assert_eq!(
            patient_zone(Some("Not/AZone"), &email_only, &istanbul).iana_name(),
            Some("Europe/Istanbul")
        );
        assert_eq!(
            country_zone("RU").unwrap().iana_name(),
            Some("Europe/Moscow")
        );
        assert!(country_zone("XX").is_none());
    }

    #[test]
    fn dates_read_as_each_language_writes_them() {
        let tz = TimeZone::get("Europe/Istanbul").unwrap();
        let at: Timestamp = "2026-12-03T07:30:00Z".parse().unwrap();
        assert_eq!(date(at, &tz, &lang("tr")), "3 Aralık Perşembe");
        assert_eq!(date(at, &tz, &lang("en")), "Thursday 3 December");
        assert_eq!(date(at, &tz, &lang("ru")), "четверг, 3 декабря");
        assert_eq!(date(at, &tz, &lang("de")), "Donnerstag, 3. Dezember");
        assert_eq!(date(at, &tz, &lang("fr")), "2026-12-03");
        assert_eq!(time(at, &tz), "10:30");
    }

    #[test]
    fn when_says_today_tomorrow_or_the_day() {
        let tz = TimeZone::get("Europe/Istanbul").unwrap();
        let now: Timestamp = "2026-11-30T20:00:00Z".parse().unwrap(); // 23:00 Monday
        let nine = |d: &str| format!("{d}T06:00:00Z").parse::<Timestamp>().unwrap();
        assert_eq!(
            when(nine("2026-12-01"), now, &tz, &lang("en")),
            "tomorrow at 09:00"
        );
        assert_eq!(
            when(nine("2026-12-01"), now, &tz, &lang("tr")),
            "yarın saat 09:00 civarında"
        );
        assert_eq!(
            when(nine("2026-12-03"), now, &tz, &lang("ru")),
            "в четверг, 3 декабря, в 09:00"
        );
        assert_eq!(
            when(nine("2026-12-03"), now, &tz, &lang("de")),
            "am Donnerstag, 3. Dezember, um 09:00 Uhr"
        );
        assert_eq!(
            when(nine("2026-12-03"), now, &tz, &lang("fr")),
            "on Thursday 3 December at 09:00"
        );
    }
}
