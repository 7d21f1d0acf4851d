//! What a storefront shows each customer, kept in memory: the storefront asks on every page
//! view, and most answers do not change between two views. A customer's shelf holds their
//! recommended products (ranked, at most [`MAX_FIRST`]) and their banners that are not
//! dismissed or over (those not yet started too: which show is decided at each read). It is
//! read from the database on a miss and dropped when a write tells [`stale`] that it changed,
//! so an answer is never older than the last write this process committed or heard of (on
//! PostgreSQL, other processes' writes arrive a few milliseconds after their commit).
//! Bounded by bytes (`NUDGE_STOREFRONT_CACHE_MB`): which shelf each customer has is kept in
//! 25 bytes (see [`super::kept`]), so a million customers who share theirs fit in 30 MiB; a
//! customer with a banner costs about a hundred more, its text shared (see [`super::shown`]).

use super::kept::{KeptShelves, Owned};
use super::shown::{ShownBanner, Texts};
use crate::clock::to_millis;
use crate::db::raw_statement;
use crate::domain::stale::{self, Forget};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{banner, product};
use sea_orm::{ConnectionTrait, FromQueryResult};
use std::sync::Arc;

/// The most products a shelf keeps: the most `recommendations` returns.
const MAX_FIRST: u64 = 100;
/// The most banners `banners` returns.
const MAX_BANNERS: usize = 100;
/// A customer with more banners to come than this is read from the database each time.
const KEPT_BANNERS: u64 = 1_000;

/// One customer's recommendations and banners as read from the database. Customers without
/// banners who are recommended the same products share one (see [`Kept::common`]).
#[derive(Debug)]
pub struct Shelf {
    products: Arc<[product::Model]>,
    banners: Vec<ShownBanner>,
    /// The bytes only this shelf holds (0 for one customers share).
    own: u64,
}

impl Shelf {
    /// The first `first` recommended products.
    pub fn recommendations(&self, first: u64) -> Vec<product::Model> {
        let first = usize::try_from(first).unwrap_or(usize::MAX);
        self.products.iter().take(first).cloned().collect()
    }

    /// The banners showing at `now`, newest first.
    pub fn banners(&self, now: DateTime<Utc>) -> Vec<ShownBanner> {
        let now_ms = to_millis(now);
        self.banners
            .iter()
            .filter(|b| b.starts_at <= now_ms && b.ends_at.is_none_or(|end| end > now_ms))
            .take(MAX_BANNERS)
            .cloned()
            .collect()
    }
}

impl Owned for Shelf {
    /// Roughly the bytes only this shelf holds: a shared one's are counted where it is
    /// shared, and a banner's text by the first shelf that read it.
    fn own_bytes(&self) -> u64 {
        self.own
    }
}

/// Roughly the bytes a list of products takes.
fn list_bytes(products: &[product::Model]) -> u64 {
    let product = |p: &product::Model| {
        let text = p.external_id.len() + p.name.len() + p.currency.len();
        let optional = [&p.sku, &p.manufacturer, &p.vendor]
            .iter()
            .map(|o| o.as_ref().map_or(0, String::len))
            .sum::<usize>();
        160 + text + optional + p.category_ids.to_string().len()
    };
    products.iter().map(product).sum::<usize>() as u64
}

#[derive(Clone)]
struct ListWeight;

impl quick_cache::Weighter<Vec<i64>, Arc<Shelf>> for ListWeight {
    fn weight(&self, roles: &Vec<i64>, shelf: &Arc<Shelf>) -> u64 {
        8 * roles.len() as u64 + 128 + list_bytes(&shelf.products)
    }
}

/// The shelves of one process's customers.
pub struct Shelves {
    /// `None` when nothing is kept (`NUDGE_STOREFRONT_CACHE_MB=0`).
    kept: Option<Kept>,
}

struct Kept {
    shelves: KeptShelves<Shelf>,
    /// The texts of the banners on kept shelves, shared.
    texts: Texts,
    /// The shelves without banners customers share, by the ids of their roles.
    common: quick_cache::sync::Cache<Vec<i64>, Arc<Shelf>, ListWeight>,
}

impl Forget for Shelves {
    fn forget(&self, customers: Option<&[String]>) {
        let Some(kept) = &self.kept else { return };
        match customers {
            Some(ids) => {
                for id in ids {
                    kept.shelves.remove(id);
                }
            }
            None => {
                kept.shelves.clear();
                kept.common.clear();
            }
        }
    }
}

impl Shelves {
    /// Shelves taking at most `bytes` (none are kept when 0), told of every change: five
    /// eighths hold which shelf each customer has, a quarter the shelves of customers with
    /// banners, a sixteenth the shelves customers share and a sixteenth banners' texts.
    pub fn new(bytes: u64) -> Arc<Self> {
        let kept = (bytes > 0).then(|| Kept {
            shelves: KeptShelves::new(bytes / 8 * 5, bytes / 4),
            texts: Texts::new(bytes / 16),
            common: quick_cache::sync::Cache::with_weighter(256, (bytes / 16).max(1), ListWeight),
        });
        let shelves = Arc::new(Shelves { kept });
        let as_forget: Arc<dyn Forget> = shelves.clone();
        stale::register(Arc::downgrade(&as_forget));
        shelves
    }

    /// The shelf of the customer with external id `customer` (empty for a customer Nudge does
    /// not know), from memory when kept.
    pub async fn shelf(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
        customer: &str,
    ) -> AppResult<Arc<Shelf>> {
        let Some(kept) = &self.kept else {
            return Ok(read(db, now, customer, None).await?.0);
        };
        if let Some(shelf) = kept.shelves.get(customer) {
            metrics::counter!("nudge_storefront_cache_total", "outcome" => "hit").increment(1);
            return Ok(shelf);
        }
        metrics::counter!("nudge_storefront_cache_total", "outcome" => "miss").increment(1);
        let ticket = stale::ticket();
        let (shelf, complete) = read(db, now, customer, Some(kept)).await?;
        if complete {
            stale::keep_if_fresh(&ticket, customer, || {
                kept.shelves.insert(customer, shelf.clone());
            });
        }
        Ok(shelf)
    }
}

impl Kept {
    /// The shelf without banners of the customers in exactly the roles `roles` (sorted):
    /// most customers are in one of a few sets of roles. Kept until a role or a product
    /// changes (those tell everyone).
    async fn common(&self, db: &impl ConnectionTrait, roles: Vec<i64>) -> AppResult<Arc<Shelf>> {
        let guard = match self.common.get_value_or_guard_async(&roles).await {
            Ok(shelf) => return Ok(shelf),
            Err(guard) => guard,
        };
        let ticket = stale::ticket();
        let products = super::recommended_by_roles(db, &roles, MAX_FIRST).await?;
        let shelf = Arc::new(Shelf {
            products: products.into(),
            banners: Vec::new(),
            own: 0,
        });
        // No customer's own notice concerns the roles' products: only one to everyone does.
        stale::keep_if_fresh(&ticket, "", || {
            let _ = guard.insert(shelf.clone());
        });
        Ok(shelf)
    }
}

/// The customer's shelf as the database has it — their roles' products (from the shelves
/// `kept` shares, when given) and their banners still to show — and whether it holds every
/// banner (at most [`KEPT_BANNERS`]).
async fn read(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer: &str,
    kept: Option<&Kept>,
) -> AppResult<(Arc<Shelf>, bool)> {
    let (roles, banners) = roles_and_banners(db, now, customer).await?;
    let complete = banners.len() as u64 <= KEPT_BANNERS;
    let shelf = match kept {
        Some(kept) => {
            let common = kept.common(db, roles).await?;
            if banners.is_empty() {
                return Ok((common, complete));
            }
            let mut own = 64;
            let banners = banners
                .into_iter()
                .map(|b| {
                    let (shown, bytes) = kept.texts.share(b);
                    own += bytes;
                    shown
                })
                .collect();
            Shelf {
                products: common.products.clone(),
                banners,
                own,
            }
        }
        None => Shelf {
            products: super::recommended_by_roles(db, &roles, MAX_FIRST)
                .await?
                .into(),
            banners: banners.into_iter().map(super::shown::alone).collect(),
            own: 0,
        },
    };
    Ok((Arc::new(shelf), complete))
}

/// The banner columns, in the order both halves of [`roles_and_banners`] give them.
const BANNER_COLUMNS: [(&str, &str); 14] = [
    ("id", "BIGINT"),
    ("customer_id", "BIGINT"),
    ("action_id", "BIGINT"),
    ("firing_id", "BIGINT"),
    ("run_id", "BIGINT"),
    ("owner_key", "TEXT"),
    ("effect_index", "INTEGER"),
    ("title", "TEXT"),
    ("body_html", "TEXT"),
    ("coupon_code", "TEXT"),
    ("starts_at", "BIGINT"),
    ("ends_at", "BIGINT"),
    ("dismissed_at", "BIGINT"),
    ("created_at", "BIGINT"),
];

/// The text of [`roles_and_banners`]' statement, written once.
static ROLES_AND_BANNERS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let nulls: Vec<String> = BANNER_COLUMNS
        .iter()
        .map(|(name, kind)| format!("CAST(NULL AS {kind}) AS {name}"))
        .collect();
    let columns: Vec<String> = BANNER_COLUMNS
        .iter()
        .map(|(n, _)| format!("b.{n}"))
        .collect();
    format!(
        "SELECT cr.role_id AS role_id, {nulls} FROM customer_roles cr \
         JOIN customers c ON c.id = cr.customer_id WHERE c.external_id = ? \
         UNION ALL SELECT * FROM (SELECT CAST(NULL AS BIGINT) AS role_id, {columns} \
         FROM banners b JOIN customers c ON c.id = b.customer_id \
         WHERE c.external_id = ? AND b.dismissed_at IS NULL \
         AND (b.ends_at IS NULL OR b.ends_at > ?) ORDER BY b.id DESC LIMIT {limit}) shown",
        nulls = nulls.join(", "),
        columns = columns.join(", "),
        limit = KEPT_BANNERS + 1
    )
});

/// The ids of the customer's roles (in order) and their banners neither dismissed nor over at
/// `now` (one more than [`KEPT_BANNERS`] at most, newest first), in one statement: a row per
/// role (with no banner) and a row per banner (with no role).
async fn roles_and_banners(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer: &str,
) -> AppResult<(Vec<i64>, Vec<banner::Model>)> {
    let statement = raw_statement(
        db.get_database_backend(),
        &ROLES_AND_BANNERS,
        [customer.into(), customer.into(), to_millis(now).into()],
    );
    let (mut roles, mut banners) = (Vec::new(), Vec::new());
    for row in db.query_all_raw(statement).await? {
        match row.try_get::<Option<i64>>("", "role_id")? {
            Some(role) => roles.push(role),
            None => banners.push(banner::Model::from_query_result(&row, "")?),
        }
    }
    roles.sort_unstable();
    banners.sort_unstable_by_key(|b| std::cmp::Reverse(b.id));
    Ok((roles, banners))
}
