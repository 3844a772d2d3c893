//! A token bucket driven by the caller's clock: the core's publish rate limit.

/// Holds up to `burst` tokens and gains `rate_per_s` a second. Counted in
/// thousandths of a token, so a refill of less than one token a millisecond is exact.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_s: u64,
    capacity_milli: u64,
    level_milli: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ms`.
    pub fn new(rate_per_s: u32, burst: u32, now_ms: u64) -> Self {
        let capacity_milli = u64::from(burst.max(1)) * 1000;
        TokenBucket {
            rate_per_s: u64::from(rate_per_s),
            capacity_milli,
            level_milli: capacity_milli,
            last_ms: now_ms,
        }
    }

    /// Takes one token if there is one. A clock that goes back refills nothing.
    pub fn try_take(&mut self, now_ms: u64) -> bool {
        let elapsed_ms = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        // rate tokens/s = rate thousandths of a token per ms.
        self.level_milli = self
            .level_milli
            .saturating_add(elapsed_ms.saturating_mul(self.rate_per_s))
            .min(self.capacity_milli);
        if self.level_milli >= 1000 {
            self.level_milli -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(2, 3, 1_000);
        assert!((0..3).all(|_| b.try_take(1_000)));
        assert!(!b.try_take(1_000));
        assert!(!b.try_take(1_499));
        assert!(b.try_take(1_500));
        assert!(!b.try_take(1_500));
        // Never more than the burst, however long idle.
        assert_eq!((0..10).filter(|_| b.try_take(1_000_000)).count(), 3);
        // A clock going back does not refill or panic.
        assert!(!b.try_take(0));
    }
}
