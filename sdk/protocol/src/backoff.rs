//! Reconnect delays: exponential, capped, and jittered so that the clients of a
//! gateway that restarts do not all come back in the same instant.

use rand::rngs::StdRng;
use rand::Rng;

/// Delays between reconnect attempts. The n-th delay (from 0) is drawn uniformly
/// from `[nominal / 2, nominal]` where `nominal = min(max, initial * 2^n)`: never
/// below half the initial delay, never above the maximum.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    attempt: u32,
    rng: StdRng,
}

impl Backoff {
    pub(crate) fn new(initial_ms: u64, max_ms: u64, rng: StdRng) -> Self {
        Backoff {
            initial_ms,
            max_ms: max_ms.max(initial_ms),
            attempt: 0,
            rng,
        }
    }

    /// The un-jittered delay of the next attempt.
    fn nominal_ms(&self) -> u64 {
        let factor = 1u64.checked_shl(self.attempt).unwrap_or(u64::MAX);
        self.initial_ms.saturating_mul(factor).min(self.max_ms)
    }

    /// The delay before the next attempt, in milliseconds; each call doubles the
    /// nominal delay.
    pub(crate) fn next_delay_ms(&mut self) -> u64 {
        let nominal_ms = self.nominal_ms();
        // Stop counting once at the ceiling, so the shift can never overflow.
        if nominal_ms < self.max_ms {
            self.attempt += 1;
        }
        self.rng.random_range(nominal_ms / 2..=nominal_ms)
    }

    /// Back to the initial delay, once a connection has proved healthy.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn backoff(initial_ms: u64, max_ms: u64, seed: u64) -> Backoff {
        Backoff::new(initial_ms, max_ms, StdRng::seed_from_u64(seed))
    }

    #[test]
    fn every_delay_is_between_half_the_initial_and_the_max() {
        for seed in 0..50 {
            let mut backoff = backoff(100, 10_000, seed);
            for _ in 0..100 {
                let delay = backoff.next_delay_ms();
                assert!((50..=10_000).contains(&delay), "seed {seed}: {delay}");
            }
        }
    }

    #[test]
    fn each_delay_is_within_its_doubling_window() {
        let mut backoff = backoff(100, 10_000, 7);
        let windows_ms = [100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000];
        for nominal_ms in windows_ms {
            let delay_ms = backoff.next_delay_ms();
            assert!(
                (nominal_ms / 2..=nominal_ms).contains(&delay_ms),
                "{delay_ms} outside [{}, {nominal_ms}]",
                nominal_ms / 2
            );
        }
    }

    #[test]
    fn reset_returns_to_the_initial_window() {
        let mut backoff = backoff(100, 10_000, 3);
        for _ in 0..20 {
            backoff.next_delay_ms();
        }
        backoff.reset();
        let delay_ms = backoff.next_delay_ms();
        assert!((50..=100).contains(&delay_ms), "{delay_ms}");
    }

    #[test]
    fn huge_attempt_counts_and_limits_do_not_overflow() {
        let mut backoff = backoff(u64::MAX / 4, u64::MAX, 1);
        for _ in 0..200 {
            backoff.next_delay_ms();
        }
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        // Two clients with different seeds should not pick identical delay sequences.
        let mut a = backoff(100, 10_000, 1);
        let mut b = backoff(100, 10_000, 2);
        let a_delays: Vec<_> = (0..10).map(|_| a.next_delay_ms()).collect();
        let b_delays: Vec<_> = (0..10).map(|_| b.next_delay_ms()).collect();
        assert_ne!(a_delays, b_delays);
    }
}
