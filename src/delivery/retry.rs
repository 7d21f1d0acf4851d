//! When a transient failure is tried again: capped exponential backoff (messages to people),
//! or a fixed list of waits (webhooks, on the Standard Webhooks schedule).

use std::str::FromStr;
use std::time::Duration;

/// How often and how soon something that failed for now is tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryPolicy {
    /// The wait doubles after each failure, up to `cap`.
    Doubling {
        /// Attempts in all, the first included.
        max_attempts: i32,
        /// The wait after the first failure.
        base: Duration,
        /// The longest wait.
        cap: Duration,
    },
    /// The wait after the n-th failure is the n-th of these; after the last, it is given up
    /// (attempts in all: one more than there are waits).
    Waits(Vec<Duration>),
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::Doubling {
            max_attempts: 5,
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The Standard Webhooks schedule: immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h,
    /// 10 h and 10 h.
    pub fn webhooks() -> Self {
        Self::Waits(
            [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }

    /// The wait before the next try after `attempts` failed ones, or `None` when they are
    /// used up.
    pub fn next_delay(&self, attempts: i32) -> Option<Duration> {
        match self {
            RetryPolicy::Doubling {
                max_attempts,
                base,
                cap,
            } => {
                if attempts >= *max_attempts {
                    return None;
                }
                let doublings = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(30);
                Some(base.saturating_mul(1 << doublings).min(*cap))
            }
            RetryPolicy::Waits(waits) => {
                let index = usize::try_from(attempts.max(1) - 1).ok()?;
                waits.get(index).copied()
            }
        }
    }
}

/// A list of waits such as `5s,5m,30m,2h,5h,10h,10h` (units `s`, `m`, `h`, `d`).
impl FromStr for RetryPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let waits = s
            .split(',')
            .map(|part| {
                let part = part.trim();
                let unit_at = part
                    .find(|c: char| !c.is_ascii_digit())
                    .ok_or_else(|| format!("{part:?} has no unit (s, m, h or d)"))?;
                let (number, unit) = part.split_at(unit_at);
                let n: u64 = number
                    .parse()
                    .map_err(|_| format!("{part:?} does not start with a whole number"))?;
                let seconds = match unit {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3_600,
                    "d" => 86_400,
                    _ => return Err(format!("{part:?}: the unit must be s, m, h or d")),
                };
                Ok(Duration::from_secs(n.saturating_mul(seconds)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if waits.len() > 50 {
            return Err("at most 50 retries".into());
        }
        Ok(RetryPolicy::Waits(waits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stop_after_the_last_attempt() {
        let policy = RetryPolicy::Doubling {
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

    #[test]
    fn the_webhook_schedule_is_the_specifications_and_ends_after_eight_attempts() {
        let policy = RetryPolicy::webhooks();
        let waits: Vec<_> = (1..=8)
            .map(|n| policy.next_delay(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            waits,
            vec![
                Some(5),
                Some(300),
                Some(1_800),
                Some(7_200),
                Some(18_000),
                Some(36_000),
                Some(36_000),
                None
            ]
        );
        assert_eq!("5s,5m,30m,2h,5h,10h,10h".parse(), Ok(policy));
        assert!("5s,soon".parse::<RetryPolicy>().is_err());
        assert!("5".parse::<RetryPolicy>().is_err());
        assert_eq!(
            "1d".parse(),
            Ok(RetryPolicy::Waits(vec![Duration::from_secs(86_400)]))
        );
    }
}
