use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::*;
use crate::contact::{Email, Reach};
use crate::ids::{LeadId, RecordRef};
use crate::journey::SendHours;
use crate::message::{Channel, Purpose};
use crate::messaging::{Route, Windows};

const CONFIG: &str = r#"
whatsapp_daily_limit = 1000
operational_reserve = 200

[prices]
as_of = "2026-07-01"
currency = "USD"
whatsapp = { TR = { operational = 0.0053, promotional = 0.0109 }, "*" = { operational = 0.02, promotional = 0.06 } }

[templates.sick_day]
purpose = "operational"
text.en = "Hello {{ first_name }}, {{ practitioner }} is ill on {{ date }}. Reply to pick a new time."
text.tr = "Merhaba {{ first_name }}, {{ practitioner }} {{ date }} günü hasta."
whatsapp = { name = "schedule_change_v1", category = "utility", params = ["first_name", "date"] }

[templates.spring]
purpose = "promotional"
text.en = "Spring check-up at {{ branch }}: 20% off."
whatsapp = { name = "spring_promo", category = "marketing" }
"#;

fn policy(text: &str) -> Result<BlastPolicy, Vec<(String, String)>> {
    let config: BlastsConfig = toml::from_str(text).unwrap();
    build("tenants[0].blasts", &config)
}

#[test]
fn templates_compile_and_render() {
    let p = policy(CONFIG).unwrap();
    let vars = BTreeMap::from([
        ("first_name", "Ada".to_owned()),
        ("practitioner", "Dr. Jared".to_owned()),
        ("date", "Friday".to_owned()),
    ]);
    let text = p
        .render("sick_day", &Language::parse("en").unwrap(), &vars)
        .unwrap();
    assert_eq!(
        text,
        "Hello Ada, Dr. Jared is ill on Friday. Reply to pick a new time."
    );
    assert_eq!(
        p.price(Channel::Whatsapp, Some("TR"), Purpose::Promotional),
        Some(0.0109)
    );
    assert_eq!(
        p.price(Channel::Whatsapp, Some("DE"), Purpose::Operational),
        Some(0.02)
    );
    assert_eq!(
        p.price(Channel::Sms, Some("TR"), Purpose::Operational),
        None
    );
}

#[test]
fn a_template_of_the_wrong_category_or_with_unknown_variables_is_refused_by_path() {
    let bad = r#"
[templates.closing]
purpose = "operational"
text.en = "We are closed on {{ holiday }}."
whatsapp = { name = "closing", category = "marketing", params = ["when"] }
"#;
    let problems = policy(bad).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        paths.contains(&"tenants[0].blasts.templates.closing.text.en"),
        "{problems:?}"
    );
    assert!(
        paths.contains(&"tenants[0].blasts.templates.closing.whatsapp.category"),
        "{problems:?}"
    );
    assert!(
        paths.contains(&"tenants[0].blasts.templates.closing.whatsapp.params"),
        "{problems:?}"
    );
}

#[test]
fn a_reserve_above_the_limit_is_refused() {
    let problems = policy("whatsapp_daily_limit = 100\noperational_reserve = 100").unwrap_err();
    assert_eq!(problems[0].0, "tenants[0].blasts.operational_reserve");
}

fn candidate(rng: &mut fastrand::Rng, n: usize) -> Candidate {
    // A few contacts appear twice (two appointments of one patient).
    let who = if rng.u8(..10) == 0 && n > 0 {
        rng.usize(..n)
    } else {
        n
    };
    let reach = Reach {
        phone: None,
        email: Some(Email::parse(&format!("p{who}@example.com")).unwrap()),
        instagram: None,
    };
    let mut routes = Vec::new();
    for channel in [Channel::Whatsapp, Channel::Sms, Channel::Email] {
        if rng.bool() {
            routes.push(Route {
                channel,
                to: format!("to-{who}"),
            });
        }
    }
    let opted_out = [Channel::Whatsapp, Channel::Sms, Channel::Email]
        .into_iter()
        .filter(|_| rng.u8(..4) == 0)
        .collect();
    let zone = ["Europe/Istanbul", "America/New_York", "Asia/Tokyo"][rng.usize(..3)];
    Candidate {
        contact: reach.dedupe_key().unwrap(),
        about: RecordRef::Lead(LeadId::new(format!("lead{n}")).unwrap()),
        language: Language::parse(["en", "tr"][rng.usize(..2)]).unwrap(),
        routes,
        country: Some("TR".into()),
        zone: TimeZone::get(zone).unwrap(),
        opted_out,
        marketing_consent: rng.bool(),
        windows: Windows {
            whatsapp: rng
                .bool()
                .then(|| Timestamp::from_second(1_780_000_000 - rng.i64(0..200_000)).unwrap()),
            instagram: None,
        },
        recent_promotions: rng.u32(0..3),
    }
}

/// Over generated audiences: one bucket per member, and each bucket's
/// promise holds (no promotion to an opted-out channel or without consent,
/// WhatsApp templates within the allowance, deferrals to the end of the
/// patient's quiet hours, duplicates only for a patient seen before).
#[test]
fn the_buckets_partition_every_generated_audience() {
    let p = policy(CONFIG).unwrap();
    let hours = SendHours::parse("09:00-21:00").unwrap();
    for seed in 0..300u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let size = rng.usize(0..200);
        let candidates: Vec<Candidate> = (0..size).map(|n| candidate(&mut rng, n)).collect();
        let purpose = if rng.bool() {
            Purpose::Operational
        } else {
            Purpose::Promotional
        };
        let template = &p.templates[if purpose == Purpose::Operational {
            "sick_day"
        } else {
            "spring"
        }];
        let allowance = rng.bool().then(|| rng.u32(0..50));
        let now = Timestamp::from_second(1_780_000_000 + rng.i64(0..86_400)).unwrap();
        let cx = Context {
            purpose,
            template,
            send_hours: &hours,
            whatsapp_allowance: allowance,
            promotional_per_patient: 1,
            now,
        };
        let buckets = classify(&candidates, &cx);
        assert_eq!(buckets.len(), candidates.len(), "seed {seed}");
        let mut seen = BTreeSet::new();
        let mut templates = 0;
        for (c, b) in candidates.iter().zip(&buckets) {
            let first = seen.insert(c.contact.clone());
            assert_eq!(
                matches!(b, Bucket::Excluded(Exclusion::Duplicate)),
                !first,
                "seed {seed}"
            );
            let sent = match b {
                Bucket::Send { route, template } => Some((route, *template)),
                Bucket::Deferred {
                    route,
                    template,
                    until,
                } => {
                    assert!(*until > now, "seed {seed}");
                    assert_eq!(hours.fit(*until, &c.zone), *until, "seed {seed}");
                    Some((route, *template))
                }
                Bucket::Excluded(_) => None,
            };
            if let Some((route, template)) = sent {
                assert!(c.routes.contains(route), "seed {seed}");
                if purpose == Purpose::Promotional {
                    assert!(
                        c.marketing_consent && !c.opted_out.contains(&route.channel),
                        "seed {seed}"
                    );
                    assert!(c.recent_promotions < 1, "seed {seed}");
                }
                if template {
                    templates += 1;
                    assert_eq!(route.channel, Channel::Whatsapp);
                }
            }
            if let Bucket::Excluded(
                Exclusion::NoPromotionalConsent | Exclusion::OptedOut | Exclusion::PatientCap,
            ) = b
            {
                assert_eq!(purpose, Purpose::Promotional, "seed {seed}");
            }
        }
        if let Some(limit) = allowance {
            assert!(
                templates <= limit,
                "seed {seed}: {templates} templates over {limit}"
            );
        }
        // The fingerprint sees the audience, not its order.
        let mut reversed = candidates.clone();
        reversed.reverse();
        let again = classify(&reversed, &cx);
        if candidates
            .iter()
            .map(|c| &c.contact)
            .collect::<BTreeSet<_>>()
            .len()
            == candidates.len()
            && allowance.is_none()
        {
            assert_eq!(
                fingerprint(&candidates, &buckets),
                fingerprint(&reversed, &again),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn provider_codes_say_what_happens_to_the_blast() {
    assert_eq!(effect("130429"), Effect::SlowDown);
    assert_eq!(effect("131056"), Effect::SlowDown);
    assert_eq!(effect("20429"), Effect::SlowDown);
    assert_eq!(effect("131048"), Effect::Pause);
    assert_eq!(effect("132015"), Effect::Pause);
    assert_eq!(effect("132016"), Effect::Pause);
    assert_eq!(effect("132001"), Effect::Fail);
    assert_eq!(effect("131049"), Effect::Skip);
    assert_eq!(effect("131050"), Effect::OptOut);
    assert_eq!(effect("131026"), Effect::Failed);
}

#[test]
fn a_tenant_without_a_blasts_section_gets_the_defaults() {
    let p = build("tenants[0].blasts", &BlastsConfig::default()).unwrap();
    assert_eq!(p.promotional_per_patient, 1);
    assert!(p.templates.is_empty());
}
