//! Where a run stands and what each of its steps did, and the text each is stored as — named
//! here only.

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Enrolled, not yet checked against the entry audience.
    Pending,
    Active,
    /// Took its last step.
    Completed,
    /// Reached its exit goal (or its subject's happy end: paid, ordered).
    Converted,
    /// Ended early: its subject is gone, its step was removed, its campaign ended.
    Exited,
    /// Not in the entry audience.
    Skipped,
    /// Could not go on; the reason is its end reason.
    Failed,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Active,
        RunStatus::Completed,
        RunStatus::Converted,
        RunStatus::Exited,
        RunStatus::Skipped,
        RunStatus::Failed,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Active => "active",
            RunStatus::Completed => "completed",
            RunStatus::Converted => "converted",
            RunStatus::Exited => "exited",
            RunStatus::Skipped => "skipped",
            RunStatus::Failed => "failed",
        }
    }

    /// The stored texts of the statuses of runs that are not over, for a filter.
    pub fn open() -> [&'static str; 2] {
        [RunStatus::Pending, RunStatus::Active].map(RunStatus::as_str)
    }

    /// The status of a stored text (`None`: not one Nudge writes).
    pub fn from_stored(s: &str) -> Option<Self> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// One line of a run's log: what a step did, or why the run entered, waited or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Entered,
    NotInAudience,
    Waiting,
    OutsideWindow,
    /// A filter's condition held.
    Yes,
    /// A filter's condition did not hold.
    No,
    Queued,
    Skipped,
    Applied,
    EffectsApplied,
    EffectsNotApplied,
    EffectsFailed,
    AnchorMoved,
    /// The run ended with this status.
    Ended(RunStatus),
}

impl StepOutcome {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Entered => "entered",
            StepOutcome::NotInAudience => "notInAudience",
            StepOutcome::Waiting => "waiting",
            StepOutcome::OutsideWindow => "outsideWindow",
            StepOutcome::Yes => "yes",
            StepOutcome::No => "no",
            StepOutcome::Queued => "queued",
            StepOutcome::Skipped => "skipped",
            StepOutcome::Applied => "applied",
            StepOutcome::EffectsApplied => "effectsApplied",
            StepOutcome::EffectsNotApplied => "effectsNotApplied",
            StepOutcome::EffectsFailed => "effectsFailed",
            StepOutcome::AnchorMoved => "anchorMoved",
            StepOutcome::Ended(status) => status.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_stored_text() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::from_stored(status.as_str()), Some(status));
        }
        assert_eq!(RunStatus::from_stored("paused"), None);
    }
}
