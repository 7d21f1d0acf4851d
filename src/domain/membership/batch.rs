//! Membership changes of many customers at once, for automation: what a set of customers
//! holds is loaded in two statements and kept in memory, every change is decided against it
//! (so an unchanged one costs nothing), and [`MembershipBatch::flush`] writes the difference —
//! the rows that changed and every logged change, in order — a statement for many.
//!
//! The memory is exact while the caller's write transaction holds the database (SQLite); on
//! PostgreSQL a concurrent admin change is written over as a change of the same row would be.

use super::{ChangeSource, Logged, NewChange, write_log};
use crate::db::{PARAMETER_BYTES, in_list, statement_chunks};
use crate::error::AppResult;
use crate::events::{MembershipChange, MembershipKind};
use entity::{customer, customer_role, customer_tag, segment_member};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Rows of a membership table per statement, at most.
const ROWS: usize = 500;

/// What one customer holds: roles, tags with their values, and the segments they are in
/// (which automation reads, never writes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub roles: HashSet<i64>,
    pub tags: HashMap<i64, Option<String>>,
    pub segments: HashSet<i64>,
}

/// The memberships of a set of customers, as written and as changed since.
#[derive(Default)]
pub struct MembershipBatch {
    written: HashMap<i64, Held>,
    current: HashMap<i64, Held>,
    /// When each role or tag that changed last changed, by (customer, role or tag).
    stamps: HashMap<(i64, Key), i64>,
    log: Vec<Logged>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Role(i64),
    Tag(i64),
}

impl MembershipBatch {
    /// What `customer_ids` hold now: three statements (none for no customers), two when
    /// nobody reads their `segments` (left empty then: a round whose conditions name no segment
    /// does not read millions of members for nothing).
    pub async fn load(
        txn: &impl ConnectionTrait,
        customer_ids: &[i64],
        segments: bool,
    ) -> AppResult<Self> {
        let mut held: HashMap<i64, Held> = customer_ids
            .iter()
            .map(|&id| (id, Held::default()))
            .collect();
        let ids: Vec<i64> = held.keys().copied().collect();
        for chunk in ids.chunks(ROWS) {
            let roles = customer_role::Entity::find()
                .filter(customer_role::Column::CustomerId.is_in(in_list(chunk.to_vec())))
                .all(txn)
                .await?;
            for row in roles {
                held.entry(row.customer_id)
                    .or_default()
                    .roles
                    .insert(row.role_id);
            }
            let tags = customer_tag::Entity::find()
                .filter(customer_tag::Column::CustomerId.is_in(in_list(chunk.to_vec())))
                .all(txn)
                .await?;
            for row in tags {
                held.entry(row.customer_id)
                    .or_default()
                    .tags
                    .insert(row.tag_id, row.value);
            }
            if !segments {
                continue;
            }
            let segments = segment_member::Entity::find()
                .filter(segment_member::Column::CustomerId.is_in(in_list(chunk.to_vec())))
                .all(txn)
                .await?;
            for row in segments {
                held.entry(row.customer_id)
                    .or_default()
                    .segments
                    .insert(row.segment_id);
            }
        }
        Ok(MembershipBatch {
            written: held.clone(),
            current: held,
            ..Default::default()
        })
    }

    /// What the customer holds now, changes of this batch included (nothing for a customer
    /// not loaded).
    pub fn held(&self, customer_id: i64) -> &Held {
        static NOTHING: std::sync::LazyLock<Held> = std::sync::LazyLock::new(Held::default);
        self.current.get(&customer_id).unwrap_or(&NOTHING)
    }

    /// Puts the customer in the role; false when they had it.
    pub fn grant_role(
        &mut self,
        at_ms: i64,
        customer: &customer::Model,
        role_id: i64,
        source: ChangeSource,
    ) -> bool {
        if !self.holding(customer.id).roles.insert(role_id) {
            return false;
        }
        let change = NewChange::role(MembershipKind::RoleAssigned, role_id);
        self.note(at_ms, customer, Key::Role(role_id), change, source);
        true
    }

    /// Takes the customer out of the role; false when they were not in it.
    pub fn revoke_role(
        &mut self,
        at_ms: i64,
        customer: &customer::Model,
        role_id: i64,
        source: ChangeSource,
    ) -> bool {
        if !self.holding(customer.id).roles.remove(&role_id) {
            return false;
        }
        let change = NewChange::role(MembershipKind::RoleRemoved, role_id);
        self.note(at_ms, customer, Key::Role(role_id), change, source);
        true
    }

    /// Sets the tag (and value) on the customer; false when it had that value already.
    pub fn set_tag(
        &mut self,
        at_ms: i64,
        customer: &customer::Model,
        tag_id: i64,
        value: Option<String>,
        source: ChangeSource,
    ) -> bool {
        let tags = &mut self.holding(customer.id).tags;
        if tags.get(&tag_id) == Some(&value) {
            return false;
        }
        let previous = tags.insert(tag_id, value.clone()).flatten();
        let change = NewChange::tag(MembershipKind::TagSet, tag_id, value, previous);
        self.note(at_ms, customer, Key::Tag(tag_id), change, source);
        true
    }

    /// Takes the tag off the customer; false when it did not have it.
    pub fn clear_tag(
        &mut self,
        at_ms: i64,
        customer: &customer::Model,
        tag_id: i64,
        source: ChangeSource,
    ) -> bool {
        let Some(previous) = self.holding(customer.id).tags.remove(&tag_id) else {
            return false;
        };
        let change = NewChange::tag(MembershipKind::TagRemoved, tag_id, None, previous);
        self.note(at_ms, customer, Key::Tag(tag_id), change, source);
        true
    }

    fn holding(&mut self, customer_id: i64) -> &mut Held {
        self.current.entry(customer_id).or_default()
    }

    fn note(
        &mut self,
        at_ms: i64,
        customer: &customer::Model,
        key: Key,
        change: NewChange,
        source: ChangeSource,
    ) {
        self.stamps.insert((customer.id, key), at_ms);
        self.log.push(Logged {
            customer_id: customer.id,
            customer_external_id: customer.external_id.clone(),
            change,
            source,
            occurred_at: at_ms,
        });
    }

    /// Writes what changed since the last flush inside `txn`: the rows that differ from what
    /// was written (a role given and taken back in one batch writes no row, but logs both), then
    /// the changes to the log. Returns the changes to announce after the commit.
    pub async fn flush(&mut self, txn: &impl ConnectionTrait) -> AppResult<Vec<MembershipChange>> {
        if self.log.is_empty() {
            return Ok(Vec::new());
        }
        let mut roles_in = Vec::new();
        let mut roles_out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut tags_set = Vec::new();
        let mut tags_out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut touched: Vec<(i64, Key)> = self.stamps.keys().copied().collect();
        touched.sort_unstable();
        for &(customer_id, key) in &touched {
            let at = self.stamps[&(customer_id, key)];
            let before = self.written.get(&customer_id);
            let now = self.current.get(&customer_id);
            match key {
                Key::Role(role) => {
                    let had = before.is_some_and(|h| h.roles.contains(&role));
                    let has = now.is_some_and(|h| h.roles.contains(&role));
                    if has && !had {
                        roles_in.push(customer_role::ActiveModel {
                            customer_id: ActiveValue::Set(customer_id),
                            role_id: ActiveValue::Set(role),
                            assigned_at: ActiveValue::Set(at),
                        });
                    } else if had && !has {
                        roles_out.entry(role).or_default().push(customer_id);
                    }
                }
                Key::Tag(tag) => {
                    let had = before.and_then(|h| h.tags.get(&tag));
                    let has = now.and_then(|h| h.tags.get(&tag));
                    match has {
                        Some(value) if had != Some(value) => {
                            tags_set.push(customer_tag::ActiveModel {
                                customer_id: ActiveValue::Set(customer_id),
                                tag_id: ActiveValue::Set(tag),
                                value: ActiveValue::Set(value.clone()),
                                set_at: ActiveValue::Set(at),
                            })
                        }
                        None if had.is_some() => tags_out.entry(tag).or_default().push(customer_id),
                        _ => {}
                    }
                }
            }
        }
        let backend = txn.get_database_backend();
        for chunk in roles_in.chunks(ROWS) {
            customer_role::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        customer_role::Column::CustomerId,
                        customer_role::Column::RoleId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
        for (role, customers) in roles_out {
            for chunk in customers.chunks(ROWS) {
                customer_role::Entity::delete_many()
                    .filter(customer_role::Column::RoleId.eq(role))
                    .filter(customer_role::Column::CustomerId.is_in(in_list(chunk.to_vec())))
                    .exec(txn)
                    .await?;
            }
        }
        let size = |m: &customer_tag::ActiveModel| match &m.value {
            ActiveValue::Set(Some(v)) => v.len() + 4 * PARAMETER_BYTES + 24,
            _ => 4 * PARAMETER_BYTES + 24,
        };
        for chunk in statement_chunks(backend, &tags_set, ROWS, false, size) {
            customer_tag::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        customer_tag::Column::CustomerId,
                        customer_tag::Column::TagId,
                    ])
                    .update_columns([customer_tag::Column::Value, customer_tag::Column::SetAt])
                    .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
        for (tag, customers) in tags_out {
            for chunk in customers.chunks(ROWS) {
                customer_tag::Entity::delete_many()
                    .filter(customer_tag::Column::TagId.eq(tag))
                    .filter(customer_tag::Column::CustomerId.is_in(in_list(chunk.to_vec())))
                    .exec(txn)
                    .await?;
            }
        }
        let changes = write_log(txn, std::mem::take(&mut self.log)).await?;
        for (customer_id, key) in touched {
            let now = self.current.get(&customer_id);
            let written = self.written.entry(customer_id).or_default();
            match key {
                Key::Role(role) => {
                    if now.is_some_and(|h| h.roles.contains(&role)) {
                        written.roles.insert(role);
                    } else {
                        written.roles.remove(&role);
                    }
                }
                Key::Tag(tag) => match now.and_then(|h| h.tags.get(&tag)) {
                    Some(value) => {
                        written.tags.insert(tag, value.clone());
                    }
                    None => {
                        written.tags.remove(&tag);
                    }
                },
            }
        }
        self.stamps.clear();
        Ok(changes)
    }
}
