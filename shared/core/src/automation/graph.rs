//! Loops between rules, found before a rule is saved. A rule's actions can
//! cause events (a stage move enters a stage; a copy creates a deal in a
//! stage); a rule whose trigger such an event satisfies follows it. A
//! cycle in that graph is a loop a record could run forever, so a rule set
//! with one is refused, with the cycle shown.

use std::collections::BTreeMap;

use super::spec::{Action, RuleSpec, Subject, Trigger};

/// An event an action causes: entering (pipeline, stage), and for a copy
/// also the creation of a deal.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Effect<'a> {
    subject: Subject,
    pipeline: Option<&'a str>,
    stage: &'a str,
    created: bool,
}

fn effects(rule: &RuleSpec) -> Vec<Effect<'_>> {
    rule.actions
        .iter()
        .filter_map(|a| match a {
            Action::MoveStage { stage } => Some(Effect {
                subject: rule.subject,
                pipeline: rule.pipeline(),
                stage,
                created: false,
            }),
            Action::CopyToPipeline { pipeline, stage } => Some(Effect {
                subject: Subject::Deal,
                pipeline: Some(pipeline),
                stage,
                created: true,
            }),
            // A lead moved into a pipeline becomes a new deal; a deal keeps its id.
            Action::MoveToPipeline { pipeline, stage } => Some(Effect {
                subject: Subject::Deal,
                pipeline: Some(pipeline),
                stage,
                created: rule.subject == Subject::Lead,
            }),
            _ => None,
        })
        .collect()
}

/// Whether an effect can satisfy the rule's trigger.
fn triggers(effect: &Effect<'_>, rule: &RuleSpec) -> bool {
    if effect.subject != rule.subject {
        return false;
    }
    let same_pipeline = |pipeline: &str| effect.pipeline.is_none_or(|p| p == pipeline);
    match &rule.trigger {
        Trigger::StageEntered { pipeline, stage }
        | Trigger::Idle {
            pipeline, stage, ..
        } => same_pipeline(pipeline) && stage == effect.stage,
        Trigger::RecordCreated => effect.created,
        // A new deal has its own creation and stage-entry times.
        Trigger::Time { anchor, .. } => effect.created || anchor.ends_with(".stage_entered_at"),
        _ => false,
    }
}

/// The first cycle among the rules (by their ids), as the ids along it,
/// the first repeated at the end; `None` when there is none.
pub fn cycle<'a>(rules: &[(&'a str, &'a RuleSpec)]) -> Option<Vec<&'a str>> {
    let edges: BTreeMap<&str, Vec<&str>> = rules
        .iter()
        .map(|(id, rule)| {
            let next = rules
                .iter()
                .filter(|(_, other)| effects(rule).iter().any(|e| triggers(e, other)))
                .map(|(other, _)| *other)
                .collect();
            (*id, next)
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = edges.keys().map(|k| (*k, Mark::New)).collect();
    fn visit<'a>(
        at: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        marks.insert(at, Mark::Open);
        path.push(at);
        for next in edges.get(at).into_iter().flatten() {
            match marks.get(next).copied() {
                Some(Mark::Open) => {
                    let from = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next);
                    return Some(cycle);
                }
                Some(Mark::New) => {
                    if let Some(c) = visit(next, edges, marks, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        marks.insert(at, Mark::Done);
        None
    }
    let ids: Vec<&str> = edges.keys().copied().collect();
    for id in ids {
        if marks.get(id) == Some(&Mark::New) {
            let mut path = Vec::new();
            if let Some(c) = visit(id, &edges, &mut marks, &mut path) {
                return Some(c);
            }
        }
    }
    None
}
