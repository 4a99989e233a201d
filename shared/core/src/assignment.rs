//! Who gets a lead, and why.
//!
//! A returning patient goes back to their previous consultant when that
//! consultant is available. Otherwise the rules are tried in order, each
//! among active consultants with room under their capacity:
//!
//! 1. on shift now, at the lead's branch, speaking the lead's language;
//! 2. on shift, at the branch, any language;
//! 3. on shift, any branch of the tenant, speaking the language;
//! 4. on shift, anyone in the tenant;
//! 5. nobody is on shift: the same four groups, the consultant whose shift
//!    starts first;
//! 6. everyone is at capacity: the least loaded consultant, capacity aside.
//!
//! Within a group the consultant with the fewest open leads wins, and a tie
//! goes to whoever waited longest since their last new lead (round-robin).
//! The rule that chose and a sentence saying why are kept on the lead.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{BranchId, ConsultantId, Language};
use crate::tenant::{Consultant, Tenant};

/// A consultant's current load: what fairness is computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    pub open_leads: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assigned_at: Option<Timestamp>,
}

/// The rule that chose a consultant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    ReturningPatient,
    BranchLanguageOnShift,
    BranchOnShift,
    TenantLanguageOnShift,
    TenantOnShift,
    BranchLanguageNextShift,
    BranchNextShift,
    TenantLanguageNextShift,
    TenantNextShift,
    OverCapacity,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ReturningPatient => "returning_patient",
            Rule::BranchLanguageOnShift => "branch_language_on_shift",
            Rule::BranchOnShift => "branch_on_shift",
            Rule::TenantLanguageOnShift => "tenant_language_on_shift",
            Rule::TenantOnShift => "tenant_on_shift",
            Rule::BranchLanguageNextShift => "branch_language_next_shift",
            Rule::BranchNextShift => "branch_next_shift",
            Rule::TenantLanguageNextShift => "tenant_language_next_shift",
            Rule::TenantNextShift => "tenant_next_shift",
            Rule::OverCapacity => "over_capacity",
        }
    }
}

/// What the assignment needs to know about the lead and the team.
pub struct Request<'a> {
    pub tenant: &'a Tenant,
    pub branch: &'a BranchId,
    pub language: &'a Language,
    /// The consultant of the patient's previous lead.
    pub previous: Option<&'a ConsultantId>,
    /// Consultants who already had this lead and let it wait.
    pub exclude: &'a [ConsultantId],
    pub loads: &'a HashMap<ConsultantId, Load>,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub consultant: ConsultantId,
    pub rule: Rule,
    pub reason: String,
}

/// Chooses the consultant; `None` when no active consultant is left.
pub fn choose(req: &Request<'_>) -> Option<Decision> {
    let load = |c: &Consultant| req.loads.get(&c.id).copied().unwrap_or_default();
    let eligible: Vec<&Consultant> = req
        .tenant
        .consultants
        .iter()
        .filter(|c| c.active && !req.exclude.contains(&c.id))
        .collect();
    let has_room = |c: &&Consultant| c.capacity.is_none_or(|cap| load(c).open_leads < cap);
    let on_shift = |c: &&Consultant| {
        req.tenant
            .branch(&c.branch)
            .is_some_and(|b| c.shifts.contains(&b.time_zone, req.now))
    };
    let available: Vec<&Consultant> = eligible.iter().copied().filter(has_room).collect();
    let anyone_on_shift = available.iter().any(on_shift);

    if let Some(previous) = req.previous
        && let Some(c) = available.iter().find(|c| &c.id == previous)
        && (on_shift(c) || !anyone_on_shift)
    {
        return Some(Decision {
            consultant: c.id.clone(),
            rule: Rule::ReturningPatient,
            reason: format!(
                "returning patient: back to {}, who handled their previous request",
                c.name
            ),
        });
    }

    // Who matches, from the closest match to anyone at all.
    let in_branch = |c: &Consultant| &c.branch == req.branch;
    let speaks = |c: &Consultant| c.speaks(req.language);
    let groups = [
        Group::BranchLanguage,
        Group::Branch,
        Group::TenantLanguage,
        Group::Tenant,
    ];
    let group_matches = |group: Group, c: &Consultant| match group {
        Group::BranchLanguage => in_branch(c) && speaks(c),
        Group::Branch => in_branch(c),
        Group::TenantLanguage => speaks(c),
        Group::Tenant => true,
    };
    let on_shift_rules = [
        Rule::BranchLanguageOnShift,
        Rule::BranchOnShift,
        Rule::TenantLanguageOnShift,
        Rule::TenantOnShift,
    ];
    let next_shift_rules = [
        Rule::BranchLanguageNextShift,
        Rule::BranchNextShift,
        Rule::TenantLanguageNextShift,
        Rule::TenantNextShift,
    ];

    for (group, rule) in groups.into_iter().zip(on_shift_rules) {
        let candidates: Vec<&Consultant> = available
            .iter()
            .copied()
            .filter(|c| group_matches(group, c) && on_shift(c))
            .collect();
        if let Some(chosen) = least_loaded(&candidates, &load) {
            return Some(Decision {
                consultant: chosen.id.clone(),
                rule,
                reason: format!(
                    "{} {}, is on shift and has the fewest open leads ({}) of {} candidate{}{}",
                    chosen.name,
                    describe_match(rule, req, chosen),
                    load(chosen).open_leads,
                    candidates.len(),
                    if candidates.len() == 1 { "" } else { "s" },
                    tie_note(&candidates, chosen, &load),
                ),
            });
        }
    }

    for (group, rule) in groups.into_iter().zip(next_shift_rules) {
        let next_start = |c: &Consultant| {
            let branch = req.tenant.branch(&c.branch)?;
            c.shifts.next_start_after(&branch.time_zone, req.now)
        };
        let chosen = available
            .iter()
            .copied()
            .filter(|c| group_matches(group, c))
            .filter_map(|c| Some((next_start(c)?, c)))
            .min_by_key(|(start, c)| {
                (
                    *start,
                    load(c).open_leads,
                    load(c).last_assigned_at,
                    c.id.clone(),
                )
            });
        if let Some((start, chosen)) = chosen {
            let local = req
                .tenant
                .branch(&chosen.branch)
                .map(|b| {
                    b.time_zone
                        .to_datetime(start)
                        .strftime("%a %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            return Some(Decision {
                consultant: chosen.id.clone(),
                rule,
                reason: format!(
                    "nobody is on shift; {} {}, and their shift starts first ({local})",
                    chosen.name,
                    describe_match(rule, req, chosen),
                ),
            });
        }
    }

    // Everyone is at capacity (or nobody has shifts): share the overflow.
    let preferred: Vec<&Consultant> = eligible
        .iter()
        .copied()
        .filter(|c| &c.branch == req.branch && c.speaks(req.language))
        .collect();
    let pool = if preferred.is_empty() {
        &eligible
    } else {
        &preferred
    };
    let chosen = least_loaded(pool, &load)?;
    Some(Decision {
        consultant: chosen.id.clone(),
        rule: Rule::OverCapacity,
        reason: format!(
            "every matching consultant is at capacity; {} has the fewest open leads ({})",
            chosen.name,
            load(chosen).open_leads
        ),
    })
}

/// The widening groups the rules look in.
#[derive(Clone, Copy)]
enum Group {
    BranchLanguage,
    Branch,
    TenantLanguage,
    Tenant,
}

/// Fewest open leads, then longest since the last new lead, then id.
fn least_loaded<'a>(
    candidates: &[&'a Consultant],
    load: &impl Fn(&Consultant) -> Load,
) -> Option<&'a Consultant> {
    candidates
        .iter()
        .copied()
        .min_by_key(|c| (load(c).open_leads, load(c).last_assigned_at, c.id.clone()))
}

fn tie_note(
    candidates: &[&Consultant],
    chosen: &Consultant,
    load: &impl Fn(&Consultant) -> Load,
) -> String {
    let tied = candidates
        .iter()
        .filter(|c| c.id != chosen.id && load(c).open_leads == load(chosen).open_leads)
        .count();
    if tied == 0 {
        String::new()
    } else {
        format!(
            "; tied with {tied} other{}, longest without a new lead",
            if tied == 1 { "" } else { "s" }
        )
    }
}

fn describe_match(rule: Rule, req: &Request<'_>, c: &Consultant) -> String {
    let branch = req
        .tenant
        .branch(&c.branch)
        .map_or(c.branch.as_str(), |b| b.name.as_str());
    match rule {
        Rule::BranchLanguageOnShift | Rule::BranchLanguageNextShift => {
            format!("works at {branch} and speaks {}", req.language)
        }
        Rule::BranchOnShift | Rule::BranchNextShift => {
            format!(
                "works at {branch} (nobody there speaks {} and is available)",
                req.language
            )
        }
        Rule::TenantLanguageOnShift | Rule::TenantLanguageNextShift => {
            format!(
                "speaks {} and works at {branch} (nobody at the lead's branch is available)",
                req.language
            )
        }
        _ => format!("works at {branch} (nobody matching branch or language is available)"),
    }
}
