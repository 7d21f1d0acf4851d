//! What the clock alone changes, in order: segments whose members crossed a time boundary,
//! predicted carts whose collection time came, then campaigns (whose conditions may read
//! segments). Each part goes on its own: one that
//! fails does not stop the other, and the next tick tries it again. The scheduler, the
//! `runCampaignTick` mutation and `nudge tick` all run this.

use crate::config::StoreSettings;
use crate::domain::campaigns::{self, TickReport};
use crate::domain::predicted_carts::collect::{Collected, collect};
use crate::domain::segments::{self, refresh::Refreshed};
use crate::error::AppResult;
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

/// What one tick did, part by part.
pub struct Ticked {
    pub segments: AppResult<Refreshed>,
    pub carts: AppResult<Collected>,
    pub campaigns: AppResult<TickReport>,
}

/// Runs the clock's work at `now`.
pub async fn tick(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    store: &StoreSettings,
) -> Ticked {
    let segments = segments::tick::tick(db, bus, now).await;
    let carts = collect(db, now, store.time_zone, &store.replenishment).await;
    let campaigns = campaigns::tick(db, bus, now, store).await;
    Ticked {
        segments,
        carts,
        campaigns,
    }
}
