//! When a transient failure is tried again: capped exponential backoff.

use std::time::Duration;

/// How often and how soon a delivery is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: i32,
    /// The wait after the first failure; it doubles after each further one.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next try after `attempts` failed ones, or `None` when they are
    /// used up.
    pub fn next_delay(&self, attempts: i32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(30);
        Some(self.base.saturating_mul(1 << doublings).min(self.cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stop_after_the_last_attempt() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(30),
            cap: Duration::from_secs(100),
        };
        let waits: Vec<_> = (1..=5).map(|n| policy.next_delay(n)).collect();
        assert_eq!(
            waits,
            vec![
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(60)),
                Some(Duration::from_secs(100)),
                Some(Duration::from_secs(100)),
                None
            ]
        );
    }
}
