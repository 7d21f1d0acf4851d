use sea_orm::entity::prelude::*;

/// A timed flow: an anchor, an entry audience, steps, an exit goal, a re-entry policy and a
/// send window, each stored as JSON in the shape of its GraphQL input.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// draft, active, paused or archived.
    pub status: String,
    pub anchor_kind: String,
    pub anchor: Json,
    pub audience: Json,
    pub steps: Json,
    pub exit_goal: Option<Json>,
    pub reentry_policy: String,
    pub reentry_days: Option<i32>,
    pub send_window: Option<Json>,
    /// How long before its anchor a run is enrolled (anchors in the future).
    pub lead_ms: i64,
    /// The planner has enrolled every anchor up to this instant.
    pub planned_until: Option<i64>,
    pub activated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Why Nudge switched the rule off: its stored definition no longer decodes.
    pub broken_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
