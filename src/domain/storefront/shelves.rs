//! What a storefront shows each customer, kept in memory: the storefront asks on every page
//! view, and most answers do not change between two views. A customer's shelf holds their
//! recommended products (ranked, at most [`MAX_FIRST`]) and their banners that are not
//! dismissed or over (those not yet started too: which show is decided at each read). It is
//! read from the database on a miss and dropped when a write tells [`stale`] that it changed,
//! so an answer is never older than the last write this process committed or heard of (on
//! PostgreSQL, other processes' writes arrive a few milliseconds after their commit).
//! Bounded by bytes (`NUDGE_STOREFRONT_CACHE_MB`); the least useful shelves go first.

use crate::clock::to_millis;
use crate::db::raw_statement;
use crate::domain::stale::{self, Forget};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{banner, product};
use sea_orm::{ConnectionTrait, EntityTrait};
use std::sync::Arc;

/// The most products a shelf keeps: the most `recommendations` returns.
const MAX_FIRST: u64 = 100;
/// The most banners `banners` returns.
const MAX_BANNERS: usize = 100;
/// A customer with more banners to come than this is read from the database each time.
const KEPT_BANNERS: u64 = 1_000;

/// One customer's recommendations and banners as read from the database.
#[derive(Debug)]
pub struct Shelf {
    /// Shared with every shelf that recommends the same products (see [`Shelves::intern`]).
    products: Arc<[product::Model]>,
    banners: Vec<banner::Model>,
}

impl Shelf {
    /// The first `first` recommended products.
    pub fn recommendations(&self, first: u64) -> Vec<product::Model> {
        let first = usize::try_from(first).unwrap_or(usize::MAX);
        self.products.iter().take(first).cloned().collect()
    }

    /// The banners showing at `now`, newest first.
    pub fn banners(&self, now: DateTime<Utc>) -> Vec<banner::Model> {
        let now_ms = to_millis(now);
        self.banners
            .iter()
            .filter(|b| b.starts_at <= now_ms && b.ends_at.is_none_or(|end| end > now_ms))
            .take(MAX_BANNERS)
            .cloned()
            .collect()
    }

    /// Roughly the bytes the shelf takes besides its shared products.
    fn bytes(&self) -> u64 {
        let banner = |b: &banner::Model| {
            let coupon = b.coupon_code.as_ref().map_or(0, String::len);
            144 + b.owner_key.len() + b.title.len() + b.body_html.len() + coupon
        };
        let banners: usize = self.banners.iter().map(banner).sum();
        (64 + 16 * self.products.len() + banners) as u64
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

impl quick_cache::Weighter<Vec<i64>, Arc<[product::Model]>> for ListWeight {
    fn weight(&self, ids: &Vec<i64>, list: &Arc<[product::Model]>) -> u64 {
        8 * ids.len() as u64 + 64 + list_bytes(list)
    }
}

#[derive(Clone)]
struct ShelfWeight;

impl quick_cache::Weighter<String, Arc<Shelf>> for ShelfWeight {
    fn weight(&self, key: &String, shelf: &Arc<Shelf>) -> u64 {
        key.len() as u64 + 48 + shelf.bytes()
    }
}

/// The shelves of one process's customers.
pub struct Shelves {
    /// `None` when nothing is kept (`NUDGE_STOREFRONT_CACHE_MB=0`).
    kept: Option<Kept>,
}

struct Kept {
    shelves: quick_cache::sync::Cache<String, Arc<Shelf>, ShelfWeight>,
    /// The lists of recommended products shelves share, by their product ids.
    lists: quick_cache::sync::Cache<Vec<i64>, Arc<[product::Model]>, ListWeight>,
}

impl Forget for Shelves {
    fn forget(&self, customers: Option<&[String]>) {
        let Some(kept) = &self.kept else { return };
        match customers {
            Some(ids) => {
                for id in ids {
                    kept.shelves.remove(id.as_str());
                }
            }
            None => {
                kept.shelves.clear();
                kept.lists.clear();
            }
        }
    }
}

impl Shelves {
    /// Shelves taking at most `bytes` (none are kept when 0), told of every change.
    pub fn new(bytes: u64) -> Arc<Self> {
        let kept = (bytes > 0).then(|| {
            let estimated = usize::try_from(bytes / 512).unwrap_or(usize::MAX).max(16);
            Kept {
                shelves: quick_cache::sync::Cache::with_weighter(estimated, bytes, ShelfWeight),
                lists: quick_cache::sync::Cache::with_weighter(256, (bytes / 8).max(1), ListWeight),
            }
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
            let (products, banners) = read(db, now, customer).await?;
            return Ok(Arc::new(Shelf {
                products: products.into(),
                banners,
            }));
        };
        let guard = match kept.shelves.get_value_or_guard_async(customer).await {
            Ok(shelf) => {
                metrics::counter!("nudge_storefront_cache_total", "outcome" => "hit").increment(1);
                return Ok(shelf);
            }
            Err(guard) => guard,
        };
        metrics::counter!("nudge_storefront_cache_total", "outcome" => "miss").increment(1);
        let ticket = stale::ticket();
        let (products, banners) = read(db, now, customer).await?;
        let complete = banners.len() as u64 <= KEPT_BANNERS;
        let shelf = Arc::new(Shelf {
            products: kept.intern(products),
            banners,
        });
        if complete {
            stale::keep_if_fresh(&ticket, customer, || {
                let _ = guard.insert(shelf.clone());
            });
        }
        Ok(shelf)
    }
}

impl Kept {
    /// The shared list equal to `products`: most customers are recommended one of a few
    /// lists. A kept list is used only when it equals what was just read (a product may
    /// have changed since it was kept).
    fn intern(&self, products: Vec<product::Model>) -> Arc<[product::Model]> {
        let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
        if let Some(kept) = self.lists.get(&ids)
            && *kept == *products
        {
            return kept;
        }
        let list: Arc<[product::Model]> = products.into();
        self.lists.insert(ids, list.clone());
        list
    }
}

/// The customer's recommended products and their banners still to show (one more than
/// [`KEPT_BANNERS`] at most) as the database has them.
async fn read(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer: &str,
) -> AppResult<(Vec<product::Model>, Vec<banner::Model>)> {
    Ok(futures_util::try_join!(
        super::recommendations(db, customer, MAX_FIRST),
        unended_banners(db, now, customer),
    )?)
}

/// The customer's banners neither dismissed nor over at `now` (one more than
/// [`KEPT_BANNERS`] at most), newest first.
async fn unended_banners(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer: &str,
) -> AppResult<Vec<banner::Model>> {
    let now_ms = to_millis(now);
    let sql = format!(
        "SELECT b.* FROM banners b JOIN customers c ON c.id = b.customer_id \
         WHERE c.external_id = ? AND b.dismissed_at IS NULL \
         AND (b.ends_at IS NULL OR b.ends_at > ?) ORDER BY b.id DESC LIMIT {}",
        KEPT_BANNERS + 1
    );
    let values = [customer.into(), now_ms.into()];
    let statement = raw_statement(db.get_database_backend(), &sql, values);
    Ok(banner::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?)
}
