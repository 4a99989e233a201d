//! What staff read: lead lists, one lead in full, the message ledger and
//! managers' tasks. Lists are newest first and paged with an opaque cursor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clinicflow_core::ids::{BranchId, ConsultantId, LeadId, RecordRef};
use clinicflow_core::lead::{Lead, Recorded, Stage, Touch};
use clinicflow_core::message::{Message, MessageStatus};
use clinicflow_core::task::Task;
use clinicflow_core::tenant::Tenant;
use clinicflow_core::timer::Timer;
use clinicflow_ports::{Cursor, Index, Item, Key, Query, SortKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::records::decode;
use crate::{App, keys};

/// Index pages read to fill one filtered page before answering with what
/// was found and a cursor to go on.
const MAX_SCAN_PAGES: usize = 20;

pub const MAX_LIMIT: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct LeadFilter {
    pub stage: Option<Stage>,
    pub owner: Option<ConsultantId>,
    pub branch: Option<BranchId>,
}

#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    /// Only failed messages staff (or a fallback) took care of, or only those not yet.
    pub handled: Option<bool>,
}

#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    /// Only tasks not done yet.
    pub open_only: bool,
    /// Only open tasks past their due time.
    pub overdue_only: bool,
    /// Only this person's tasks (a consultant's or a manager's id).
    pub assignee: Option<String>,
}

/// One page of a list, and where the next one starts.
#[derive(Clone, Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A lead with everything that happened to it.
#[derive(Clone, Debug)]
pub struct LeadDetail {
    pub lead: Lead,
    pub touches: Vec<Touch>,
    pub history: Vec<Recorded>,
    pub messages: Vec<Message>,
    pub timers: Vec<Timer>,
    pub tasks: Vec<Task>,
}

impl App {
    pub async fn list_leads(
        &self,
        tenant: &Tenant,
        filter: &LeadFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Listing<Lead>, AppError> {
        let (index, pk) = match &filter.owner {
            Some(owner) => (Index::Gsi2, keys::owner_index_pk(&tenant.id, owner)),
            None => (Index::Gsi1, keys::leads_index_pk(&tenant.id)),
        };
        self.scan(tenant, index, pk, limit, cursor, |lead: &Lead| {
            filter.stage.is_none_or(|s| lead.stage == s)
                && filter.branch.as_ref().is_none_or(|b| &lead.branch == b)
                && filter
                    .owner
                    .as_ref()
                    .is_none_or(|o| lead.owner.as_ref().is_some_and(|x| &x.consultant == o))
        })
        .await
    }

    pub async fn lead_detail(
        &self,
        tenant: &Tenant,
        lead_id: &str,
    ) -> Result<LeadDetail, AppError> {
        let id = LeadId::new(lead_id).map_err(|_| AppError::NotFound("lead"))?;
        let mut query = Query::partition(keys::lead_pk(&tenant.id, &id));
        let mut detail: Option<LeadDetail> = None;
        let (mut touches, mut history, mut messages, mut timers) = (vec![], vec![], vec![], vec![]);
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let sk = item.key.sk.as_str();
                if sk == keys::LEAD_SK {
                    detail = Some(LeadDetail {
                        lead: decode(item)?,
                        touches: vec![],
                        history: vec![],
                        messages: vec![],
                        timers: vec![],
                        tasks: vec![],
                    });
                } else if sk.starts_with(keys::TOUCH_PREFIX) {
                    touches.push(decode(item)?);
                } else if sk.starts_with(keys::EVENT_PREFIX) {
                    history.push(decode(item)?);
                } else if sk.starts_with(keys::MESSAGE_PREFIX) {
                    messages.push(decode(item)?);
                } else if sk.starts_with(keys::TIMER_PREFIX) {
                    timers.push(decode(item)?);
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let mut detail = detail.ok_or(AppError::NotFound("lead"))?;
        let tasks = self
            .store
            .query(&Query {
                index: Index::Gsi2,
                pk: keys::record_tasks_index_pk(&tenant.id, &RecordRef::Lead(id.clone())),
                ..Query::partition("")
            })
            .await?;
        detail.tasks = tasks.items.iter().map(decode).collect::<Result<_, _>>()?;
        messages.sort_by_key(|m: &Message| m.created_at);
        timers.sort_by_key(|t: &Timer| t.due_at);
        detail.touches = touches;
        detail.history = history;
        detail.messages = messages;
        detail.timers = timers;
        Ok(detail)
    }

    pub async fn list_messages(
        &self,
        tenant: &Tenant,
        filter: &MessageFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Listing<Message>, AppError> {
        let pk = keys::messages_index_pk(&tenant.id);
        self.scan(tenant, Index::Gsi1, pk, limit, cursor, |m: &Message| {
            filter.status.is_none_or(|s| m.status == s)
                && filter.handled.is_none_or(|h| m.handled.is_some() == h)
        })
        .await
    }

    pub async fn list_tasks(
        &self,
        tenant: &Tenant,
        filter: &TaskFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Listing<Task>, AppError> {
        let pk = keys::tasks_index_pk(&tenant.id);
        let now = self.clock.now();
        self.scan(tenant, Index::Gsi1, pk, limit, cursor, |t: &Task| {
            (!filter.open_only || t.done_at.is_none())
                && (!filter.overdue_only || t.overdue(now))
                && filter
                    .assignee
                    .as_ref()
                    .is_none_or(|a| t.assignee.as_str() == a)
        })
        .await
    }

    /// Reads an index partition newest first, keeping what `keep` accepts,
    /// until `limit` items are found.
    pub(super) async fn scan<T: DeserializeOwned>(
        &self,
        tenant: &Tenant,
        index: Index,
        pk: String,
        limit: usize,
        cursor: Option<&str>,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Listing<T>, AppError> {
        self.scan_range(tenant, index, pk, SortKey::All, true, limit, cursor, keep)
            .await
    }

    /// Reads the sort-key range `sk` of an index partition in order (newest
    /// first when `descending`), keeping what `keep` accepts, until `limit`
    /// items are found.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn scan_range<T: DeserializeOwned>(
        &self,
        tenant: &Tenant,
        index: Index,
        pk: String,
        sk: SortKey,
        descending: bool,
        limit: usize,
        cursor: Option<&str>,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Listing<T>, AppError> {
        let limit = limit.clamp(1, MAX_LIMIT);
        let mut after = cursor
            .map(|c| decode_cursor(tenant, index, c))
            .transpose()?;
        let mut items = Vec::new();
        for _ in 0..MAX_SCAN_PAGES {
            let page = self
                .store
                .query(&Query {
                    index,
                    pk: pk.clone(),
                    sk: sk.clone(),
                    descending,
                    limit,
                    after: after.take(),
                })
                .await?;
            for (i, item) in page.items.iter().enumerate() {
                let value: T = decode(item)?;
                if keep(&value) {
                    items.push(value);
                    if items.len() == limit {
                        // A next page only when something may follow.
                        let more = i + 1 < page.items.len() || page.next.is_some();
                        return Ok(Listing {
                            items,
                            next: more.then(|| encode_cursor(&cursor_of(index, item))),
                        });
                    }
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(Listing { items, next: None }),
            }
        }
        Ok(Listing {
            items,
            next: after.as_ref().map(encode_cursor),
        })
    }
}

fn cursor_of(index: Index, item: &Item) -> Cursor {
    let index_sk = match index {
        Index::Table => None,
        Index::Gsi1 => item.gsi1.as_ref().map(|k| k.sk.clone()),
        Index::Gsi2 => item.gsi2.as_ref().map(|k| k.sk.clone()),
    };
    Cursor {
        key: item.key.clone(),
        index_sk,
    }
}

#[derive(Serialize, Deserialize)]
struct WireCursor {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    isk: Option<String>,
}

fn encode_cursor(c: &Cursor) -> String {
    let wire = WireCursor {
        pk: c.key.pk.clone(),
        sk: c.key.sk.clone(),
        isk: c.index_sk.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

/// A cursor of this tenant's lists, shaped for the query it continues;
/// anything else is refused, so that a crafted cursor can neither position
/// a query in another tenant's data nor make the store fail.
fn decode_cursor(tenant: &Tenant, index: Index, s: &str) -> Result<Cursor, AppError> {
    let bad = || AppError::invalid("cursor", "is not a cursor this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let wire: WireCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let ours = wire.pk.starts_with(&format!("T#{}#", tenant.id)) && !wire.sk.is_empty();
    let shaped = match index {
        Index::Table => wire.isk.is_none(),
        Index::Gsi1 | Index::Gsi2 => wire.isk.as_deref().is_some_and(|isk| !isk.is_empty()),
    };
    if !(ours && shaped) {
        return Err(bad());
    }
    Ok(Cursor {
        key: Key::new(wire.pk, wire.sk),
        index_sk: wire.isk,
    })
}
