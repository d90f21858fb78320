//! Retries with exponential backoff and full jitter, honouring a registry's `Retry-After`.
//!
//! What is worth retrying is decided by the caller (connection errors, `5xx`, `429`), which says so
//! in a [`Failed`]; this module runs the attempts ([`RetryPolicy::run`]: the one retry loop of every
//! network operation that has one), says how long to wait before attempt `n`, and reads
//! `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often and how patiently an operation is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1): `1` never retries.
    pub attempts: u32,
    /// The wait before the first retry, doubled for each one after it.
    pub base: Duration,
    /// No wait is longer than this (a `Retry-After` included).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry): the server's `Retry-After` when it
    /// gave one, otherwise a random duration between half and all of `base · 2^(retry-1)`; capped at
    /// `max_delay` either way.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let exp = retry.saturating_sub(1).min(20);
        let ceiling = self
            .base
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
            .as_millis() as u64;
        let half = ceiling / 2;
        let jitter = if ceiling > half {
            random_u64() % (ceiling - half + 1)
        } else {
            0
        };
        Duration::from_millis(half + jitter)
    }
}

/// One failed attempt of an operation: its error, whether another attempt may succeed, and how long
/// the server asked to wait.
#[derive(Debug)]
pub(crate) struct Failed<E> {
    /// What went wrong.
    pub(crate) error: E,
    /// Whether another attempt may succeed (connection errors, `5xx`, `429`).
    pub(crate) transient: bool,
    /// The server's `Retry-After`, when it sent one.
    pub(crate) retry_after: Option<Duration>,
}

impl<E> Failed<E> {
    /// A failure that another attempt would not change.
    pub(crate) fn fatal(error: E) -> Self {
        Failed {
            error,
            transient: false,
            retry_after: None,
        }
    }

    /// A failure worth another attempt, after `retry_after` when the server said so.
    pub(crate) fn transient(error: E, retry_after: Option<Duration>) -> Self {
        Failed {
            error,
            transient: true,
            retry_after,
        }
    }
}

impl RetryPolicy {
    /// Runs `op` (given the attempt's number, from 1) until it succeeds, fails for good, or
    /// [`RetryPolicy::attempts`] are used up, waiting [`RetryPolicy::delay`] between attempts. On
    /// failure: the last error and how many attempts were made.
    pub(crate) async fn run<T, E, F, Fut>(&self, mut op: F) -> Result<T, (E, u32)>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failed<E>>>,
    {
        let attempts = self.attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            match op(n).await {
                Ok(v) => return Ok(v),
                Err(f) if f.transient && n < attempts => {
                    tokio::time::sleep(self.delay(n, f.retry_after)).await;
                }
                Err(f) => return Err((f.error, n)),
            }
        }
    }
}

/// Reads a `Retry-After` value: delay-seconds, or an HTTP date (RFC 9110 §10.2.3, IMF-fixdate).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_imf_fixdate(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → seconds since the epoch.
fn parse_imf_fixdate(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (*h as i64) * 3600 + (*m as i64) * 60 + *sec as i64;
    u64::try_from(secs).ok()
}

/// A cheap random number (splitmix64 over the clock and a counter): enough to spread retries apart.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(p.delay(30, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(5))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
    }

    #[tokio::test]
    async fn runs_until_success_or_a_fatal_error_or_the_last_attempt() {
        let p = RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let r: Result<u32, (String, u32)> = p
            .run(|n| async move {
                if n < 2 {
                    Err(Failed::transient("again".to_string(), None))
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!(r, Ok(2));
        let r: Result<(), (String, u32)> = p
            .run(|_| async { Err(Failed::transient("down".to_string(), None)) })
            .await;
        assert_eq!(r, Err(("down".to_string(), 3)));
        let r: Result<(), (String, u32)> = p
            .run(|_| async { Err(Failed::fatal("no".to_string())) })
            .await;
        assert_eq!(r, Err(("no".to_string(), 1)));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
