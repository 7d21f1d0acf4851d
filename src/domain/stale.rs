//! Telling caches that what they keep for a customer changed. A write that changes what a
//! storefront shows a customer (their roles, their banners) or everyone (a role's products, a
//! product) calls [`stale`] inside its transaction: this process's caches drop the entries at
//! once and keep none read before the transaction ended; on PostgreSQL the notice also goes
//! to every other process when the transaction commits (`pg_notify`), and a process that
//! loses that channel drops everything.
//!
//! The guarantee, in one process: an answer a cache keeps was read after every write it was
//! told of had ended. A reader takes a [`Ticket`] before it reads; a notice fences its keys at
//! a [mark](crate::db::writes::mark) after the writing transaction began; the reader may keep
//! what it read only if the fence had settled before its ticket was taken.

use crate::db::writes;
use crate::error::{AppError, AppResult};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The PostgreSQL channel of notices.
pub const NOTIFY_CHANNEL: &str = "nudge_stale";
/// How long a settled fence is kept for readers that started before it settled; a reader that
/// took longer keeps nothing.
const FENCE_KEEP: Duration = Duration::from_secs(2);
/// The most bytes of external ids in one notification (PostgreSQL allows under 8,000).
const NOTICE_BYTES: usize = 6_000;

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stale {
    /// What the customers with these external ids see.
    Customers(Vec<String>),
    /// What anyone sees.
    Everyone,
}

/// A notice as it travels between processes: what changed, and which process changed it (a
/// process has applied its own notices before its transaction committed, so it skips them).
#[derive(Serialize, Deserialize)]
struct Notice<'a> {
    origin: &'a str,
    stale: Stale,
}

/// This process's name on the notice channel: random, so each process has its own.
static ORIGIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use rand::RngCore;
    let mut bytes = [0_u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
});

/// A cache that keeps answers by customer external id.
pub trait Forget: Send + Sync {
    /// Drops the entries of `customers`, or every entry when `None`.
    fn forget(&self, customers: Option<&[String]>);
}

/// Taken before reading what a cache will keep.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    settled: u64,
    taken: Instant,
}

struct Fences {
    /// The fence of each customer told of lately, and when a pruning first saw it settled.
    by_customer: HashMap<String, (u64, Option<Instant>)>,
    /// How many fences were kept at the last pruning, and when it was: the next comes when
    /// they doubled or [`FENCE_KEEP`] passed, so the fences of a steady stream of writes stay
    /// those of its last few seconds.
    kept: usize,
    pruned: Instant,
    everyone: u64,
    caches: Vec<Weak<dyn Forget>>,
}

impl Fences {
    fn new() -> Self {
        Fences {
            by_customer: HashMap::new(),
            kept: 0,
            pruned: Instant::now(),
            everyone: 0,
            caches: Vec::new(),
        }
    }

    /// Drops the fences settled for [`FENCE_KEEP`] (no reader that took its ticket before
    /// one settled may keep anything by now) and the caches that are gone, when due.
    fn prune(&mut self, settled: u64, now: Instant) {
        let due = self.by_customer.len() > 2 * self.kept + 1_024
            || now.duration_since(self.pruned) >= FENCE_KEEP;
        if !due {
            return;
        }
        self.by_customer.retain(|_, (fence, seen)| {
            if *fence > settled {
                return true;
            }
            let seen = *seen.get_or_insert(now);
            now.duration_since(seen) < FENCE_KEEP
        });
        self.kept = self.by_customer.len();
        self.pruned = now;
        self.caches.retain(|c| c.strong_count() > 0);
    }
}

static FENCES: std::sync::LazyLock<Mutex<Fences>> =
    std::sync::LazyLock::new(|| Mutex::new(Fences::new()));

fn with<T>(f: impl FnOnce(&mut Fences) -> T) -> T {
    let mut fences = FENCES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut fences)
}

/// Tells `cache` of every notice from now on, for as long as it lives.
pub fn register(cache: Weak<dyn Forget>) {
    with(|f| f.caches.push(cache));
}

/// Notes that `stale` changed in the transaction `txn` (inside it, before its commit).
pub async fn stale(txn: &impl ConnectionTrait, stale: Stale) -> AppResult<()> {
    if matches!(&stale, Stale::Customers(ids) if ids.is_empty()) {
        return Ok(());
    }
    forget(&stale);
    if txn.get_database_backend() == DbBackend::Postgres {
        for payload in payloads(&stale)? {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [NOTIFY_CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
    }
    Ok(())
}

/// The notifications that tell `stale`, each small enough for `pg_notify`.
fn payloads(stale: &Stale) -> AppResult<Vec<String>> {
    let encode = |s: &Stale| {
        serde_json::to_string(&Notice {
            origin: &ORIGIN,
            stale: s.clone(),
        })
        .map_err(AppError::internal)
    };
    let Stale::Customers(ids) = stale else {
        return Ok(vec![encode(stale)?]);
    };
    let mut payloads = Vec::new();
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    for id in ids {
        if bytes + id.len() > NOTICE_BYTES && !chunk.is_empty() {
            payloads.push(encode(&Stale::Customers(std::mem::take(&mut chunk)))?);
            bytes = 0;
        }
        bytes += id.len() + 4;
        chunk.push(id.clone());
    }
    if !chunk.is_empty() {
        payloads.push(encode(&Stale::Customers(chunk))?);
    }
    Ok(payloads)
}

/// Fences the keys of `stale` and drops them from every cache of this process.
pub fn forget(stale: &Stale) {
    let at = writes::mark();
    let now = Instant::now();
    let caches = with(|f| {
        f.prune(writes::settled(), now);
        let caches: Vec<Arc<dyn Forget>> = f.caches.iter().filter_map(Weak::upgrade).collect();
        let customers = match stale {
            Stale::Customers(ids) => {
                for id in ids {
                    f.by_customer.insert(id.clone(), (at, None));
                }
                Some(ids.as_slice())
            }
            Stale::Everyone => {
                f.everyone = at;
                None
            }
        };
        // Under the lock, so no read keeps an entry between its fence and its removal.
        for cache in &caches {
            cache.forget(customers);
        }
        caches
    });
    // A cache whose last owner went meanwhile is dropped here, outside the lock.
    drop(caches);
}

/// A ticket for a read that starts now.
pub fn ticket() -> Ticket {
    Ticket {
        settled: writes::settled(),
        taken: Instant::now(),
    }
}

/// Runs `keep` (which puts what was read under `ticket` into a cache) when no notice for
/// `customer` could have been missed by that read; says whether it ran.
pub fn keep_if_fresh(ticket: &Ticket, customer: &str, keep: impl FnOnce()) -> bool {
    if ticket.taken.elapsed() >= FENCE_KEEP {
        return false;
    }
    with(|f| {
        let fenced = f.everyone > ticket.settled
            || f.by_customer
                .get(customer)
                .is_some_and(|(fence, _)| *fence > ticket.settled);
        if !fenced {
            keep();
        }
        !fenced
    })
}

/// On PostgreSQL: applies the notices of every other process, for the life of the process. Each
/// (re)connection starts by dropping everything, since notices sent meanwhile are lost.
pub async fn relay_postgres_notices(url: String) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut backoff = Duration::from_millis(200);
    loop {
        let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            forget(&Stale::Everyone);
            backoff = Duration::from_millis(200);
            loop {
                let notification = listener.recv().await?;
                match serde_json::from_str::<Notice>(notification.payload()) {
                    // This process applied its own notice inside the writing transaction.
                    Ok(notice) if notice.origin == ORIGIN.as_str() => {}
                    Ok(notice) => forget(&notice.stale),
                    Err(e) => {
                        tracing::warn!(error = %e, "an unreadable cache notice; dropping everything");
                        forget(&Stale::Everyone);
                    }
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cache notice listener failed; reconnecting");
        }
        forget(&Stale::Everyone);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_of_customers_are_told_in_several_notices() {
        let ids: Vec<String> = (0..2_000).map(|i| format!("customer-{i:06}")).collect();
        let payloads = payloads(&Stale::Customers(ids.clone())).expect("encoded");

        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let told: Vec<String> = payloads
            .iter()
            .flat_map(
                |p| match serde_json::from_str::<Notice>(p).expect("decoded").stale {
                    Stale::Customers(ids) => ids,
                    Stale::Everyone => Vec::new(),
                },
            )
            .collect();
        assert_eq!(told, ids);
    }

    #[test]
    fn fences_go_once_settled_for_a_while_however_many_customers_are_told() {
        let mut fences = Fences::new();
        let start = fences.pruned;
        let settled = 10;
        // A steady stream: a thousand customers told every 100 ms for a minute, each fence
        // settling as the next batch comes (one, the last, still open).
        let mut most = 0;
        for tick in 0..600u32 {
            let now = start + Duration::from_millis(100) * tick;
            for i in 0..1_000 {
                let fence = if tick == 599 { settled + 1 } else { settled };
                fences
                    .by_customer
                    .insert(format!("c{tick}-{i}"), (fence, None));
            }
            fences.prune(settled, now);
            most = most.max(fences.by_customer.len());
        }
        assert!(most < 60_000, "at most {most} fences were kept");
        let open = fences.by_customer.values().filter(|(f, _)| *f > settled);
        assert_eq!(open.count(), 1_000, "an open write's fences stay");
        // The rest go within two prunings once the stream stops.
        fences.prune(settled, start + Duration::from_secs(70));
        fences.prune(settled, start + Duration::from_secs(73));
        assert_eq!(fences.by_customer.len(), 1_000);
    }

    #[test]
    fn a_read_that_began_before_a_notice_keeps_nothing() {
        let before = ticket();
        forget(&Stale::Customers(vec!["fence-test".into()]));

        let mut kept = false;
        assert!(!keep_if_fresh(&before, "fence-test", || kept = true));
        assert!(!kept);
    }
}
