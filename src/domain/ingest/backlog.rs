//! Back-pressure from the processor to ingest. Reacting to an event costs more than storing
//! it, so a storefront that sends events faster than the processor reacts would leave it
//! further behind every second. An ingest writer therefore holds its next group while more
//! than `NUDGE_INGEST_MAX_BACKLOG` events wait for the processor, until the processor has
//! brought the backlog under the bound: ingest then accepts events at the rate they are
//! reacted to, and the lag stays bounded at any load.
//!
//! Back-pressure never turns a broken engine into a broken checkout: when the backlog does not
//! move for [`STALL`] (no processor running, or one stuck), groups are let through as they
//! come, and `/readyz` reports the lag.

use crate::error::AppResult;
use sea_orm::ConnectionTrait;
use std::time::Duration;
use tokio::time::Instant;

/// How long a backlog over the bound may stand still before ingest stops waiting for it.
pub const STALL: Duration = Duration::from_secs(2);
/// How often a held writer looks again.
const POLL: Duration = Duration::from_millis(20);

/// How often the oldest waiting event is looked for from the first event on, rather than from
/// the one seen last.
const RESCAN: Duration = Duration::from_secs(5);

/// The events waiting for the processor: from the oldest unprocessed one to the newest event,
/// by id (ids are given in order, so this counts the events after the oldest waiting one;
/// those handled out of order in between are counted too). Two index lookups whatever the
/// backlog.
///
/// The oldest is looked for from id `from` on (the oldest seen before: the processor only
/// moves forward). On PostgreSQL the index of waiting events keeps an entry for every event
/// handled since the table was last vacuumed, and a search from the first event on walks them
/// all (12 ms for 1,260,000 events with autovacuum off, against a few microseconds from the
/// one seen last). An event of a lower id that commits after a look is found by the next
/// look from the start.
async fn waiting(db: &impl ConnectionTrait, from: i64) -> AppResult<Backlog> {
    let sql = "SELECT (SELECT id FROM events WHERE processed_at IS NULL AND id >= ? \
               ORDER BY id LIMIT 1), (SELECT id FROM events ORDER BY id DESC LIMIT 1)";
    let statement = crate::db::raw_statement(db.get_database_backend(), sql, [from.into()]);
    let row = db.query_one_raw(statement).await?;
    let (oldest, newest) = match row {
        Some(row) => (
            row.try_get_by_index::<Option<i64>>(0)?,
            row.try_get_by_index::<Option<i64>>(1)?,
        ),
        None => (None, None),
    };
    Ok(match (oldest, newest) {
        (Some(oldest), Some(newest)) => Backlog {
            oldest,
            events: (newest - oldest + 1).max(0) as u64,
        },
        _ => Backlog::EMPTY,
    })
}

/// What waits for the processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// The id of the oldest unprocessed event (0 when none waits).
    pub oldest: i64,
    pub events: u64,
}

impl Backlog {
    const EMPTY: Backlog = Backlog {
        oldest: 0,
        events: 0,
    };
}

/// What a writer does with its next group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Record it now.
    Admit,
    /// Look again shortly: the processor is behind and catching up.
    Hold,
    /// Record it now although the processor is behind: it has not moved for [`STALL`].
    Stalled,
}

/// One writer's view of the backlog between its groups.
#[derive(Debug)]
pub struct Gate {
    /// The most events that may wait before a group is held (0: never held).
    limit: u64,
    /// The oldest waiting event last seen, and since when.
    seen: Option<(i64, Instant)>,
    /// Whether the current stall was logged.
    told: bool,
    /// Where the next look for the oldest waiting event starts, and when it last started
    /// from the first event.
    from: i64,
    rescanned: Option<Instant>,
}

impl Gate {
    /// A gate holding groups while more than `limit` events wait (never, when 0).
    pub fn new(limit: u64) -> Self {
        Gate {
            limit,
            seen: None,
            told: false,
            from: 0,
            rescanned: None,
        }
    }

    /// Decides on the next group from the backlog measured at `now`.
    pub fn decide(&mut self, backlog: Backlog, now: Instant) -> Admission {
        if self.limit == 0 || backlog.events <= self.limit {
            self.seen = None;
            return Admission::Admit;
        }
        match self.seen {
            Some((oldest, since)) if oldest == backlog.oldest => {
                if now.duration_since(since) >= STALL {
                    Admission::Stalled
                } else {
                    Admission::Hold
                }
            }
            _ => {
                self.seen = Some((backlog.oldest, now));
                self.told = false;
                Admission::Hold
            }
        }
    }

    /// Waits until the next group may be recorded. A backlog that cannot be read holds
    /// nothing (the error is the writer's own to meet).
    pub async fn admit(&mut self, db: &impl ConnectionTrait) {
        if self.limit == 0 {
            return;
        }
        let started = Instant::now();
        loop {
            if self.rescanned.is_none_or(|at| at.elapsed() >= RESCAN) {
                self.from = 0;
                self.rescanned = Some(Instant::now());
            }
            let backlog = match waiting(db, self.from).await {
                Ok(backlog) => {
                    if backlog.oldest > 0 {
                        self.from = backlog.oldest;
                    }
                    backlog
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ingest: the processor's backlog cannot be read");
                    return;
                }
            };
            match self.decide(backlog, Instant::now()) {
                Admission::Admit => break,
                Admission::Stalled => {
                    if !std::mem::replace(&mut self.told, true) {
                        tracing::warn!(
                            events = backlog.events,
                            "ingest: the processor's backlog has not moved for 2 s; \
                             recording without waiting for it"
                        );
                    }
                    break;
                }
                Admission::Hold => tokio::time::sleep(POLL).await,
            }
        }
        let held = started.elapsed();
        if held >= POLL {
            metrics::counter!("nudge_ingest_held_milliseconds_total")
                .increment(held.as_millis() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(oldest: i64, events: u64) -> Backlog {
        Backlog { oldest, events }
    }

    #[test]
    fn a_backlog_within_the_bound_is_admitted() {
        let mut gate = Gate::new(100);
        let now = Instant::now();
        assert_eq!(gate.decide(backlog(1, 100), now), Admission::Admit);
        assert_eq!(gate.decide(Backlog::EMPTY, now), Admission::Admit);
    }

    #[test]
    fn a_backlog_over_the_bound_is_held_while_the_processor_moves() {
        let mut gate = Gate::new(100);
        let start = Instant::now();
        assert_eq!(gate.decide(backlog(1, 500), start), Admission::Hold);
        // The processor moved on: held again, however long ago the first look was.
        let later = start + STALL * 3;
        assert_eq!(gate.decide(backlog(200, 400), later), Admission::Hold);
        assert_eq!(
            gate.decide(backlog(200, 400), later + STALL / 2),
            Admission::Hold
        );
        assert_eq!(
            gate.decide(backlog(400, 100), later + STALL),
            Admission::Admit
        );
    }

    #[test]
    fn a_backlog_that_stands_still_lets_ingest_go_on() {
        let mut gate = Gate::new(100);
        let start = Instant::now();
        assert_eq!(gate.decide(backlog(7, 500), start), Admission::Hold);
        assert_eq!(
            gate.decide(backlog(7, 900), start + STALL),
            Admission::Stalled
        );
        // Once it moves again, the bound holds again.
        assert_eq!(
            gate.decide(backlog(8, 900), start + STALL * 2),
            Admission::Hold
        );
    }

    #[test]
    fn no_bound_admits_everything() {
        let mut gate = Gate::new(0);
        assert_eq!(
            gate.decide(backlog(1, 1_000_000), Instant::now()),
            Admission::Admit
        );
    }
}
