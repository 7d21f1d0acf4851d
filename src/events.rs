//! Domain events and the bus that fans them out to subscribers.
//!
//! With SQLite (one process) the domain publishes after its transaction commits. With
//! PostgreSQL every change is announced with `pg_notify` inside the writing transaction and
//! each process's listener publishes what it hears, so subscribers of every process see every
//! change exactly once, in commit order.

use std::sync::Arc;
use tokio::sync::broadcast;

/// How many changes a slow subscriber may fall behind before it re-reads from the log.
const BUS_CAPACITY: usize = 4096;

/// What kind of membership changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MembershipKind {
    RoleAssigned,
    RoleRemoved,
    TagSet,
    TagRemoved,
    SegmentJoined,
    SegmentLeft,
}

impl MembershipKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipKind::RoleAssigned => "role_assigned",
            MembershipKind::RoleRemoved => "role_removed",
            MembershipKind::TagSet => "tag_set",
            MembershipKind::TagRemoved => "tag_removed",
            MembershipKind::SegmentJoined => "segment_joined",
            MembershipKind::SegmentLeft => "segment_left",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "role_assigned" => Some(MembershipKind::RoleAssigned),
            "role_removed" => Some(MembershipKind::RoleRemoved),
            "tag_set" => Some(MembershipKind::TagSet),
            "tag_removed" => Some(MembershipKind::TagRemoved),
            "segment_joined" => Some(MembershipKind::SegmentJoined),
            "segment_left" => Some(MembershipKind::SegmentLeft),
            _ => None,
        }
    }
}

/// One change of a customer's roles, tags or segments, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipChange {
    /// Position in the change log; later changes have larger ids.
    pub id: i64,
    pub customer_id: i64,
    pub customer_external_id: String,
    pub kind: MembershipKind,
    pub role_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub value: Option<String>,
    pub previous_value: Option<String>,
    pub segment_id: Option<i64>,
    /// `admin`, `action:<id>` for a customer action's effect, `campaign:<id>` for a campaign
    /// step's, `segment:<id>` for a segment's membership.
    pub source: String,
    /// Why a segment's membership changed: `event:<event id>`, `admin`, `time:<boundary>`,
    /// `definition` or `erased`.
    pub reason: Option<String>,
    /// Epoch milliseconds.
    pub occurred_at: i64,
}

/// Who publishes on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusMode {
    /// The domain publishes after commit (one process, SQLite).
    InProcess,
    /// A PostgreSQL listener publishes what `pg_notify` announces.
    Postgres,
}

/// What the bus carries.
#[derive(Clone, Debug)]
pub enum Announced {
    /// One change, as logged.
    Change(Arc<MembershipChange>),
    /// Many changes were logged at once, up to this id (a segment rebuilt, say): each
    /// subscriber reads them from the log at its own pace rather than the bus carrying them.
    Logged(i64),
}

/// The membership change bus of one process. Bounded: a subscriber that falls more than
/// [`BUS_CAPACITY`] announcements behind is told so and must catch up from the change log.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Announced>,
    mode: BusMode,
}

impl EventBus {
    pub fn new(mode: BusMode) -> Self {
        let (sender, _) = broadcast::channel(BUS_CAPACITY);
        Self { sender, mode }
    }

    pub fn mode(&self) -> BusMode {
        self.mode
    }

    /// Hands a change to every current subscriber.
    pub fn publish(&self, change: MembershipChange) {
        // No subscriber is not an error: the change is in the log.
        let _ = self.sender.send(Announced::Change(Arc::new(change)));
    }

    /// Tells every current subscriber that changes up to `upto` were logged in bulk.
    pub fn publish_logged(&self, upto: i64) {
        let _ = self.sender.send(Announced::Logged(upto));
    }

    /// Whether anyone in this process listens (a subscriber that comes later starts from the
    /// change log).
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Announced> {
        self.sender.subscribe()
    }
}
