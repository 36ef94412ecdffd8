//! How a step waits for the cluster: the first look again comes soon, and each later one waits
//! twice as long, up to the step's poll period. A state that settles at once is seen at once,
//! and a long wait costs the API server no more than one request per period.

use std::time::Duration;

/// The first interval of every wait.
pub const FIRST: Duration = Duration::from_millis(50);

/// The intervals of one wait: [`FIRST`], doubled each time, capped at the period.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    /// A wait whose intervals grow to `period` (a period under [`FIRST`] is used as it is).
    pub fn new(period: Duration) -> Backoff {
        Backoff {
            next: FIRST.min(period),
            cap: period,
        }
    }

    /// The interval to sleep now.
    pub fn next_interval(&mut self) -> Duration {
        let now = self.next;
        self.next = now.saturating_mul(2).min(self.cap);
        now
    }

    /// The interval [`Backoff::next_interval`] will return, without taking it.
    pub fn peek(&self) -> Duration {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_double_from_the_first_up_to_the_period_and_stay_there() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let got: Vec<u128> = (0..8).map(|_| b.next_interval().as_millis()).collect();
        assert_eq!(got, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn a_period_shorter_than_the_first_interval_is_used_as_it_is() {
        let mut b = Backoff::new(Duration::from_millis(10));
        assert_eq!(b.peek(), Duration::from_millis(10));
        assert_eq!(b.next_interval(), Duration::from_millis(10));
        assert_eq!(b.next_interval(), Duration::from_millis(10));
        let mut zero = Backoff::new(Duration::ZERO);
        assert_eq!(zero.next_interval(), Duration::ZERO);
    }

    #[test]
    fn a_huge_period_does_not_overflow() {
        let mut b = Backoff::new(Duration::MAX);
        for _ in 0..200 {
            b.next_interval();
        }
        assert_eq!(b.peek(), Duration::MAX);
    }
}
