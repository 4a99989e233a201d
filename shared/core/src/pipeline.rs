//! Pipelines and deals. A tenant works its patients in pipelines of
//! ordered stages (a stage may be marked won or lost). The leads' own
//! pipeline (`leads`, the stages of [`crate::lead::Stage`]) is always
//! there; a tenant adds its own (seed 004's Appointments, Patient base,
//! Coordinators, Reactivation), whose cards are deals. A deal may be a
//! copy of another (a won Appointments deal fans out into Patient base
//! and Coordinators), linked to its parent.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::contact::{ContactKey, Reach};
use crate::ids::{BranchId, ConsultantId, DealId, Language, LeadId, PipelineId, TenantId};
use crate::lead::Stage;

/// The id of the leads' pipeline.
pub const LEADS: &str = "leads";

/// Whether a stage ends its card's journey in the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Open,
    Won,
    Lost,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Won => "won",
            Outcome::Lost => "lost",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineStage {
    pub id: PipelineId,
    pub name: String,
    #[serde(default)]
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub id: PipelineId,
    pub name: String,
    pub stages: Vec<PipelineStage>,
}

impl Pipeline {
    /// The leads' pipeline: arrived is won, lost is lost.
    pub fn leads() -> Pipeline {
        Pipeline {
            id: slug(LEADS),
            name: "Leads".into(),
            stages: Stage::ALL
                .iter()
                .map(|s| PipelineStage {
                    id: slug(s.as_str()),
                    name: s.as_str().replace('_', " "),
                    outcome: match s {
                        Stage::Arrived => Outcome::Won,
                        Stage::Lost => Outcome::Lost,
                        _ => Outcome::Open,
                    },
                })
                .collect(),
        }
    }

    pub fn stage(&self, id: &str) -> Option<&PipelineStage> {
        self.stages.iter().find(|s| s.id.as_str() == id)
    }

    pub fn is_leads(&self) -> bool {
        self.id.as_str() == LEADS
    }

    /// What is wrong with this pipeline, as (path, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(("name".into(), "must not be empty".into()));
        }
        if self.stages.is_empty() || self.stages.len() > 30 {
            problems.push(("stages".into(), "must hold 1 to 30 stages".into()));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            if self.stages[..i].iter().any(|s| s.id == stage.id) {
                problems.push((
                    format!("stages[{i}].id"),
                    format!("`{}` is used twice", stage.id),
                ));
            }
            if stage.name.trim().is_empty() {
                problems.push((format!("stages[{i}].name"), "must not be empty".into()));
            }
        }
        if self.id.as_str() == LEADS {
            problems.push((
                "id".into(),
                "`leads` is the leads' own pipeline; it cannot be redefined".into(),
            ));
        }
        problems
    }
}

fn slug(s: &str) -> PipelineId {
    // The leads' stage names are valid slugs.
    PipelineId::new(s).unwrap_or_else(|_| unreachable!("stage id {s}"))
}

/// One stay of a deal in a stage: its entry names the occurrence that
/// stage rules fire for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStay {
    pub stage: PipelineId,
    pub entered_at: Timestamp,
    /// The firing that moved it here, if a rule did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_firing: Option<String>,
}

/// A patient's card in a tenant's pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    pub id: DealId,
    pub tenant: TenantId,
    pub pipeline: PipelineId,
    pub stage: PipelineId,
    pub stage_entered_at: Timestamp,
    pub contact_key: ContactKey,
    pub reach: Reach,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub language: Language,
    pub branch: BranchId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ConsultantId>,
    pub source: String,
    /// The deal this one was copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<DealId>,
    /// The lead it started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<LeadId>,
    /// The patient's flags (`in_treatment`, `first_visit`).
    #[serde(default)]
    pub flags: BTreeMap<String, bool>,
    pub outcome: Outcome,
    /// The stages it stayed in, oldest first.
    pub history: Vec<StageStay>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The flags a deal may carry.
pub const FLAGS: &[&str] = &["in_treatment", "first_visit"];

impl Deal {
    /// The occurrence of its current stay: what a stage rule fires for.
    pub fn stage_entry(&self) -> String {
        stage_entry(self.stage.as_str(), self.stage_entered_at)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.get(name).copied().unwrap_or(false)
    }

    /// The deal moved to `stage` of its pipeline at `at`.
    pub fn enter(&mut self, stage: &PipelineStage, at: Timestamp, by_firing: Option<String>) {
        self.stage = stage.id.clone();
        self.stage_entered_at = at;
        self.outcome = stage.outcome;
        self.updated_at = at;
        self.history.push(StageStay {
            stage: stage.id.clone(),
            entered_at: at,
            by_firing,
        });
    }
}

/// The occurrence of a stay in a stage, entered at `at`.
pub fn stage_entry(stage: &str, at: Timestamp) -> String {
    format!("s-{stage}-{}", at.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leads_pipeline_marks_arrived_won_and_lost_lost() {
        let p = Pipeline::leads();
        assert_eq!(p.stages.len(), Stage::ALL.len());
        assert_eq!(p.stage("arrived").map(|s| s.outcome), Some(Outcome::Won));
        assert_eq!(p.stage("lost").map(|s| s.outcome), Some(Outcome::Lost));
        assert_eq!(p.stage("new").map(|s| s.outcome), Some(Outcome::Open));
    }

    #[test]
    fn a_pipeline_names_its_problems() {
        let p: Pipeline = serde_json::from_str(
            r#"{"id":"leads","name":" ","stages":[{"id":"a","name":"A"},{"id":"a","name":""}]}"#,
        )
        .unwrap();
        let paths: Vec<String> = p.problems().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["name", "stages[1].id", "stages[1].name", "id"]);
    }
}
