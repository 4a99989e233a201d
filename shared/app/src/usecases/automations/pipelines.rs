//! A tenant's pipelines (the leads' own is fixed), the presets that load
//! pipelines and rules in one call, and the deals staff open, move and
//! flag. A pipeline or stage a rule names cannot be removed: the refusal
//! names the rule.

use std::collections::BTreeMap;

use clinicflow_core::automation::{self, Action, Event, RuleSpec, Trigger};
use clinicflow_core::ids::{DealId, LeadId, PipelineId, RecordRef};
use clinicflow_core::lead::Lead;
use clinicflow_core::pipeline::{Deal, FLAGS, Pipeline, StageStay};
use clinicflow_core::submission::FieldError;
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{Condition, Index, Write};
use serde::Serialize;
use tracing::info;

use super::arm::automation_events;
use crate::error::AppError;
use crate::records::{self, Versioned};
use crate::usecases::Listing;
use crate::usecases::{MAX_ROUNDS, busy, landed};
use crate::{App, keys};

/// A deal staff open: from a lead, in a pipeline and stage, with flags.
#[derive(Clone, Debug)]
pub struct DealInput {
    pub pipeline: String,
    pub stage: String,
    pub lead: String,
    pub flags: BTreeMap<String, bool>,
}

/// A deal with the firings that touched it.
#[derive(Clone, Debug, Serialize)]
pub struct DealView {
    #[serde(flatten)]
    pub deal: Deal,
    pub version: u64,
}

/// What loading a preset did.
#[derive(Clone, Debug, Serialize)]
pub struct PresetLoaded {
    pub preset: String,
    pub pipelines: Vec<String>,
    pub rules_created: Vec<String>,
    /// Rules the tenant had already under the preset's ids: left as they are.
    pub rules_kept: Vec<String>,
}

/// Where a rule names `pipeline` (and `stage`, if given): its JSON path.
fn uses(rule: &RuleSpec, pipeline: &str, stage: Option<&str>) -> Option<String> {
    let hit = |p: &str, s: &str| p == pipeline && stage.is_none_or(|want| want == s);
    match &rule.trigger {
        Trigger::StageEntered {
            pipeline: p,
            stage: s,
        }
        | Trigger::Idle {
            pipeline: p,
            stage: s,
            ..
        } if hit(p, s) => {
            return Some("trigger".into());
        }
        _ => {}
    }
    rule.actions.iter().enumerate().find_map(|(i, a)| match a {
        Action::CopyToPipeline {
            pipeline: p,
            stage: s,
        }
        | Action::MoveToPipeline {
            pipeline: p,
            stage: s,
        } if hit(p, s) => Some(format!("actions[{i}]")),
        Action::MoveStage { stage: s } if rule.pipeline() == Some(pipeline) && hit(pipeline, s) => {
            Some(format!("actions[{i}]"))
        }
        _ => None,
    })
}

impl App {
    pub async fn list_pipelines(&self, tenant: &Tenant) -> Result<Vec<Pipeline>, AppError> {
        Ok(self
            .pipelines(&tenant.id)
            .await?
            .into_iter()
            .map(|p| p.value)
            .collect())
    }

    /// Creates or replaces pipeline `id`. A stage a rule names may not go.
    pub async fn put_pipeline(
        &self,
        tenant: &Tenant,
        id: &str,
        pipeline: Pipeline,
    ) -> Result<Pipeline, AppError> {
        if pipeline.id.as_str() != id {
            return Err(AppError::invalid("id", "must be the id in the path"));
        }
        let problems = pipeline.problems();
        if !problems.is_empty() {
            return Err(AppError::Invalid(
                problems
                    .into_iter()
                    .map(|(p, m)| FieldError::new(&p, m))
                    .collect(),
            ));
        }
        let rules = self.rules_of(&tenant.id).await?;
        for (stage, _) in self
            .pipelines(&tenant.id)
            .await?
            .iter()
            .filter(|p| p.value.id == pipeline.id)
            .flat_map(|p| p.value.stages.iter().map(|s| (s.id.clone(), ())))
            .filter(|(s, _)| pipeline.stage(s.as_str()).is_none())
        {
            if let Some((rule, at)) = rules.iter().find_map(|r| {
                uses(&r.value.spec, id, Some(stage.as_str())).map(|at| (&r.value.id, at))
            }) {
                return Err(AppError::Conflict(format!(
                    "stage `{stage}` is used by automation `{rule}` ({at}); change the rule first"
                )));
            }
        }
        for _ in 0..MAX_ROUNDS {
            let current = records::get::<Pipeline>(
                self.store.as_ref(),
                &keys::pipeline(&tenant.id, &pipeline.id),
            )
            .await?;
            let write = records::pipeline(&tenant.id, &pipeline, current.map(|c| c.version))?;
            if landed(self.store.write(vec![write]).await)? {
                info!(tenant = %tenant.id, pipeline = %pipeline.id, "pipeline saved");
                return Ok(pipeline);
            }
        }
        Err(busy("pipeline"))
    }

    /// Deletes pipeline `id`, unless a rule names it.
    pub async fn delete_pipeline(&self, tenant: &Tenant, id: &str) -> Result<(), AppError> {
        let id = PipelineId::new(id).map_err(|_| AppError::NotFound("pipeline"))?;
        let rules = self.rules_of(&tenant.id).await?;
        if let Some((rule, at)) = rules
            .iter()
            .find_map(|r| uses(&r.value.spec, id.as_str(), None).map(|at| (&r.value.id, at)))
        {
            return Err(AppError::Conflict(format!(
                "pipeline `{id}` is used by automation `{rule}` ({at}); change the rule first"
            )));
        }
        let key = keys::pipeline(&tenant.id, &id);
        let Some(current) = self.store.get(&key).await? else {
            return Err(AppError::NotFound("pipeline"));
        };
        if !landed(
            self.store
                .write(vec![records::delete(
                    key,
                    Condition::VersionIs(current.version),
                )])
                .await,
        )? {
            return Err(busy("pipeline"));
        }
        Ok(())
    }

    /// Loads preset `name`: its pipelines (saved over any of the same id)
    /// and its rules, active, for what happens from now on (`run` reaches
    /// the records already there). A rule id the tenant has is kept as is.
    pub async fn load_preset(&self, tenant: &Tenant, name: &str) -> Result<PresetLoaded, AppError> {
        let preset = automation::preset(name)
            .ok_or(AppError::NotFound("preset"))?
            .map_err(AppError::Internal)?;
        let mut loaded = PresetLoaded {
            preset: name.to_owned(),
            pipelines: Vec::new(),
            rules_created: Vec::new(),
            rules_kept: Vec::new(),
        };
        for pipeline in preset.pipelines {
            loaded.pipelines.push(pipeline.id.to_string());
            let id = pipeline.id.to_string();
            self.put_pipeline(tenant, &id, pipeline).await?;
        }
        let existing = self.rules_of(&tenant.id).await?;
        for rule in preset.rules {
            if existing.iter().any(|r| r.value.id == rule.id) {
                loaded.rules_kept.push(rule.id.to_string());
                continue;
            }
            let created = self
                .create_rule(tenant, Some(rule.id.as_str()), rule.spec)
                .await?;
            self.set_rule_active(
                tenant,
                created.id.as_str(),
                Some(created.version),
                true,
                false,
                None,
            )
            .await?;
            loaded.rules_created.push(created.id.to_string());
        }
        info!(tenant = %tenant.id, preset = name, rules = loaded.rules_created.len(), "preset loaded");
        Ok(loaded)
    }

    /// Opens a deal for a lead's patient in a pipeline's stage.
    pub async fn create_deal(
        &self,
        tenant: &Tenant,
        input: DealInput,
    ) -> Result<DealView, AppError> {
        let pipelines = self.pipelines(&tenant.id).await?;
        let mut errors = Vec::new();
        let pipeline = pipelines
            .iter()
            .find(|p| p.value.id.as_str() == input.pipeline && !p.value.is_leads());
        if pipeline.is_none() {
            errors.push(FieldError::new(
                "pipeline",
                "is not one of the tenant's own pipelines",
            ));
        }
        let stage = pipeline.and_then(|p| p.value.stage(&input.stage));
        if pipeline.is_some() && stage.is_none() {
            errors.push(FieldError::new("stage", "is not a stage of the pipeline"));
        }
        check_flags(&input.flags, &mut errors);
        let lead_id = LeadId::new(input.lead.as_str()).ok();
        let lead = match &lead_id {
            Some(id) => {
                records::get::<Lead>(self.store.as_ref(), &keys::lead(&tenant.id, id)).await?
            }
            None => None,
        };
        if lead.is_none() {
            errors.push(FieldError::new("lead", "no such lead"));
        }
        let (Some(pipeline), Some(stage), Some(lead), true) =
            (pipeline, stage, lead, errors.is_empty())
        else {
            return Err(AppError::Invalid(errors));
        };
        let now = self.clock.now();
        let l = lead.value;
        let deal = Deal {
            id: DealId::new(format!("d{}", self.ids.new_id())).map_err(AppError::Internal)?,
            tenant: tenant.id.clone(),
            pipeline: pipeline.value.id.clone(),
            stage: stage.id.clone(),
            stage_entered_at: now,
            contact_key: l.contact_key.clone(),
            reach: l.reach.clone(),
            name: l.name.clone(),
            language: l.language.clone(),
            branch: l.branch.clone(),
            owner: l.owner.as_ref().map(|o| o.consultant.clone()),
            source: l.source.clone(),
            parent: None,
            lead: Some(l.id.clone()),
            flags: input.flags,
            outcome: stage.outcome,
            history: vec![StageStay {
                stage: stage.id.clone(),
                entered_at: now,
                by_firing: None,
            }],
            created_at: now,
            updated_at: now,
        };
        if !landed(self.store.write(opened(&deal, 0)?.into()).await)? {
            return Err(busy("deal"));
        }
        info!(tenant = %tenant.id, deal = %deal.id, pipeline = %deal.pipeline, "deal opened");
        Ok(DealView { deal, version: 1 })
    }

    pub async fn deal(&self, tenant: &Tenant, id: &str) -> Result<Versioned<Deal>, AppError> {
        let id = DealId::new(id).map_err(|_| AppError::NotFound("deal"))?;
        records::get::<Deal>(self.store.as_ref(), &keys::deal(&tenant.id, &id))
            .await?
            .ok_or(AppError::NotFound("deal"))
    }

    /// Moves a deal to a stage of its pipeline (or of `pipeline`).
    pub async fn move_deal(
        &self,
        tenant: &Tenant,
        id: &str,
        pipeline: Option<&str>,
        stage: &str,
    ) -> Result<DealView, AppError> {
        let pipelines = self.pipelines(&tenant.id).await?;
        for _ in 0..MAX_ROUNDS {
            let current = self.deal(tenant, id).await?;
            let pipeline_id = pipeline.unwrap_or(current.value.pipeline.as_str());
            let Some(target) = pipelines
                .iter()
                .find(|p| p.value.id.as_str() == pipeline_id && !p.value.is_leads())
            else {
                return Err(AppError::invalid(
                    "pipeline",
                    "is not one of the tenant's own pipelines",
                ));
            };
            let Some(stage) = target.value.stage(stage) else {
                return Err(AppError::invalid("stage", "is not a stage of the pipeline"));
            };
            if current.value.pipeline == target.value.id && current.value.stage == stage.id {
                return Err(AppError::Conflict(format!(
                    "the deal is in {} already",
                    stage.id
                )));
            }
            let now = self.clock.now();
            let mut deal = current.value.clone();
            deal.pipeline = target.value.id.clone();
            deal.enter(stage, now, None);
            let writes = vec![
                records::deal(&deal, Some(current.version))?,
                automation_events(
                    &tenant.id,
                    &RecordRef::Deal(deal.id.clone()),
                    vec![Event::entered(&deal)],
                    now,
                    0,
                ),
            ];
            if landed(self.store.write(writes).await)? {
                info!(tenant = %tenant.id, deal = %deal.id, stage = %deal.stage, "deal moved");
                return Ok(DealView {
                    deal,
                    version: current.version + 1,
                });
            }
        }
        Err(busy("deal"))
    }

    /// Sets a deal's flags (`in_treatment`, `first_visit`).
    pub async fn flag_deal(
        &self,
        tenant: &Tenant,
        id: &str,
        flags: BTreeMap<String, bool>,
    ) -> Result<DealView, AppError> {
        let mut errors = Vec::new();
        check_flags(&flags, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        for _ in 0..MAX_ROUNDS {
            let current = self.deal(tenant, id).await?;
            let now = self.clock.now();
            let mut deal = current.value.clone();
            deal.flags.extend(flags.clone());
            deal.updated_at = now;
            let writes = vec![
                records::deal(&deal, Some(current.version))?,
                automation_events(
                    &tenant.id,
                    &RecordRef::Deal(deal.id.clone()),
                    vec![Event::Saved],
                    now,
                    0,
                ),
            ];
            if landed(self.store.write(writes).await)? {
                return Ok(DealView {
                    deal,
                    version: current.version + 1,
                });
            }
        }
        Err(busy("deal"))
    }

    /// A pipeline's deals, newest first (or only those in `stage`).
    pub async fn list_deals(
        &self,
        tenant: &Tenant,
        pipeline: &str,
        stage: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Listing<Deal>, AppError> {
        let pipeline = PipelineId::new(pipeline).map_err(|e| AppError::invalid("pipeline", e))?;
        let pk = keys::pipeline_deals_index_pk(&tenant.id, &pipeline);
        self.scan(tenant, Index::Gsi1, pk, limit, cursor, |d: &Deal| {
            d.pipeline == pipeline && stage.is_none_or(|s| d.stage.as_str() == s)
        })
        .await
    }
}

/// The writes of a new deal: the deal, and its news for the engine
/// (created, in its stage), `depth` firings deep.
pub(super) fn opened(deal: &Deal, depth: u8) -> Result<[Write; 2], AppError> {
    Ok([
        records::deal(deal, None)?,
        automation_events(
            &deal.tenant,
            &RecordRef::Deal(deal.id.clone()),
            vec![Event::RecordCreated, Event::entered(deal)],
            deal.created_at,
            depth,
        ),
    ])
}

fn check_flags(flags: &BTreeMap<String, bool>, errors: &mut Vec<FieldError>) {
    for name in flags.keys() {
        if !FLAGS.contains(&name.as_str()) {
            errors.push(FieldError::new(
                &format!("flags.{name}"),
                format!("is not a flag; flags: {}", FLAGS.join(", ")),
            ));
        }
    }
}
