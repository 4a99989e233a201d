//! Assignment fairness and fallbacks.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::assignment::{Load, Request, Rule, choose};
use crate::fixture::{self, istanbul};
use crate::ids::{BranchId, ConsultantId, Language};

fn id(s: &str) -> ConsultantId {
    ConsultantId::new(s).unwrap()
}

struct Case {
    branch: &'static str,
    language: &'static str,
    previous: Option<&'static str>,
    exclude: Vec<&'static str>,
    loads: HashMap<ConsultantId, Load>,
    now: Timestamp,
}

impl Case {
    fn at(now: Timestamp) -> Self {
        Case {
            branch: "kadikoy",
            language: "tr",
            previous: None,
            exclude: vec![],
            loads: HashMap::new(),
            now,
        }
    }

    fn load(mut self, who: &str, open_leads: u32, last: Option<Timestamp>) -> Self {
        self.loads.insert(
            id(who),
            Load {
                open_leads,
                last_assigned_at: last,
            },
        );
        self
    }

    fn run(&self) -> (String, Rule) {
        let tenant = fixture::tenant();
        let branch = BranchId::new(self.branch).unwrap();
        let language = Language::parse(self.language).unwrap();
        let previous = self.previous.map(id);
        let exclude: Vec<ConsultantId> = self.exclude.iter().map(|s| id(s)).collect();
        let d = choose(&Request {
            tenant: &tenant,
            branch: &branch,
            language: &language,
            previous: previous.as_ref(),
            exclude: &exclude,
            loads: &self.loads,
            now: self.now,
        })
        .unwrap();
        assert!(!d.reason.is_empty());
        (d.consultant.to_string(), d.rule)
    }
}

fn monday(h: i8, m: i8) -> Timestamp {
    istanbul(2026, 11, 23, h, m)
}

#[test]
fn fewest_open_leads_wins_among_matching_consultants_on_shift() {
    // 13:00: elif and mert (tr, Kadıköy) are both on shift.
    let (who, rule) = Case::at(monday(13, 0))
        .load("elif", 3, None)
        .load("mert", 1, None)
        .run();
    assert_eq!((who.as_str(), rule), ("mert", Rule::BranchLanguageOnShift));
}

#[test]
fn ties_go_round_robin_to_whoever_waited_longest() {
    let earlier = monday(10, 0);
    let later = monday(11, 0);
    let (who, _) = Case::at(monday(13, 0))
        .load("elif", 2, Some(later))
        .load("mert", 2, Some(earlier))
        .run();
    assert_eq!(who, "mert");

    // Simulate a stream of leads: with equal loads they alternate.
    let mut loads: HashMap<ConsultantId, Load> = HashMap::new();
    let mut picks = Vec::new();
    for minute in 0..6 {
        let mut case = Case::at(monday(13, minute));
        case.loads = loads.clone();
        let (who, _) = case.run();
        let entry = loads.entry(id(&who)).or_default();
        entry.open_leads += 1;
        entry.last_assigned_at = Some(monday(13, minute));
        picks.push(who);
    }
    assert_eq!(picks, ["elif", "mert", "elif", "mert", "elif", "mert"]);
}

#[test]
fn inactive_consultants_never_get_leads() {
    for minute in 0..5 {
        let (who, _) = Case::at(monday(10, minute)).load("elif", 5, None).run();
        assert_ne!(who, "emre");
    }
}

#[test]
fn language_falls_back_to_the_branch_then_to_the_tenant() {
    // A German speaker at Kadıköy at 10:00: nobody there speaks German.
    let mut case = Case::at(monday(10, 0));
    case.language = "de";
    let (who, rule) = case.run();
    assert_eq!(rule, Rule::BranchOnShift);
    assert!(["elif", "olga"].contains(&who.as_str()), "{who}");

    // A Russian speaker goes to Olga while she has room; then to the branch.
    let mut case = Case::at(monday(10, 0));
    case.language = "ru";
    assert_eq!(case.run(), ("olga".to_owned(), Rule::BranchLanguageOnShift));
    let case = Case {
        language: "ru",
        ..Case::at(monday(10, 0))
    }
    .load("olga", 2, None);
    assert_eq!(case.run().1, Rule::BranchOnShift);

    // At 18:30 Istanbul (16:30 Berlin) only Mert is on shift at Kadıköy,
    // and he speaks no English: Kadıköy first, any language.
    let case = Case {
        language: "en",
        ..Case::at(monday(18, 30))
    };
    assert_eq!(case.run(), ("mert".to_owned(), Rule::BranchOnShift));

    // A Berlin lead in German when Hans is excluded: nobody in Berlin,
    // nobody else speaks German → anyone on shift in the tenant.
    let case = Case {
        branch: "berlin",
        language: "de",
        exclude: vec!["hans"],
        ..Case::at(monday(13, 0))
    };
    assert_eq!(case.run().1, Rule::TenantOnShift);

    // A Berlin lead in Turkish: Hans does not speak it; a Turkish speaker elsewhere does.
    let case = Case {
        branch: "berlin",
        language: "tr",
        ..Case::at(monday(13, 0))
    };
    assert_eq!(case.run().1, Rule::BranchOnShift);
    let case = Case {
        branch: "berlin",
        language: "tr",
        exclude: vec!["hans"],
        ..Case::at(monday(13, 0))
    };
    assert_eq!(case.run().1, Rule::TenantLanguageOnShift);
}

#[test]
fn outside_every_shift_the_first_shift_to_start_wins() {
    // Monday 23:00 Istanbul: everyone is off. Tuesday, Elif starts at 09:00
    // Istanbul, Mert at 12:00, Hans at 08:00 Berlin = 10:00 Istanbul.
    let (who, rule) = Case::at(monday(23, 0)).run();
    assert_eq!(
        (who.as_str(), rule),
        ("elif", Rule::BranchLanguageNextShift)
    );
    let case = Case {
        language: "de",
        ..Case::at(monday(23, 0))
    };
    // Nobody at Kadıköy speaks German: the branch's first shift (Elif or Olga at 09:00).
    let (who, rule) = case.run();
    assert_eq!(rule, Rule::BranchNextShift);
    assert!(["elif", "olga"].contains(&who.as_str()));
    // Friday night waits for Monday.
    let (who, _) = Case::at(istanbul(2026, 11, 27, 22, 0))
        .load("elif", 9, None)
        .run();
    assert_eq!(who, "elif");
}

#[test]
fn a_returning_patient_goes_back_to_their_consultant() {
    let case = Case {
        previous: Some("mert"),
        ..Case::at(monday(13, 0))
    }
    .load("mert", 10, None);
    assert_eq!(case.run(), ("mert".to_owned(), Rule::ReturningPatient));
    // Off shift while others work: not available.
    let case = Case {
        previous: Some("mert"),
        ..Case::at(monday(10, 0))
    };
    assert_ne!(case.run().1, Rule::ReturningPatient);
    // Off shift while everyone is: they keep their patient.
    let case = Case {
        previous: Some("mert"),
        ..Case::at(monday(23, 0))
    };
    assert_eq!(case.run(), ("mert".to_owned(), Rule::ReturningPatient));
    // Gone (inactive) or excluded: the normal rules.
    let case = Case {
        previous: Some("emre"),
        ..Case::at(monday(13, 0))
    };
    assert_ne!(case.run().1, Rule::ReturningPatient);
}

#[test]
fn capacity_is_respected_until_everyone_is_full() {
    let case = Case {
        language: "ru",
        ..Case::at(monday(10, 0))
    }
    .load("olga", 2, None);
    assert_ne!(case.run().0, "olga");
    // Everyone but Olga excluded and Olga full: overflow to the least loaded.
    let case = Case {
        language: "ru",
        exclude: vec!["elif", "mert", "hans"],
        ..Case::at(monday(10, 0))
    }
    .load("olga", 2, None);
    assert_eq!(case.run(), ("olga".to_owned(), Rule::OverCapacity));
}

#[test]
fn reassignment_skips_previous_owners_and_nobody_left_is_none() {
    let (who, _) = Case {
        exclude: vec!["elif"],
        ..Case::at(monday(10, 0))
    }
    .run();
    assert_eq!(who, "olga"); // Kadıköy, on shift, any language (Mert starts at 12).
    let tenant = fixture::tenant();
    let all: Vec<ConsultantId> = tenant.consultants.iter().map(|c| c.id.clone()).collect();
    let d = choose(&Request {
        tenant: &tenant,
        branch: &BranchId::new("kadikoy").unwrap(),
        language: &Language::parse("tr").unwrap(),
        previous: None,
        exclude: &all,
        loads: &HashMap::new(),
        now: monday(10, 0) + SignedDuration::ZERO,
    });
    assert_eq!(d, None);
}
