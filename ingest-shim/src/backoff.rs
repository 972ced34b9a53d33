//! The pause between attempts to reach the broker or PostgreSQL: 100 ms, doubling up to a cap,
//! and 100 ms again after a success.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Backoff {
    upcoming: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff {
            upcoming: FIRST.min(max),
            max,
        }
    }

    /// The pause to take now; the next one is twice as long, up to the cap.
    pub fn next(&mut self) -> Duration {
        let pause = self.upcoming;
        self.upcoming = (pause * 2).min(self.max);
        pause
    }

    pub fn upcoming(&self) -> Duration {
        self.upcoming
    }

    pub fn reset(&mut self) {
        self.upcoming = FIRST.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_starts_over_after_a_reset() {
        let mut b = Backoff::new(Duration::from_millis(500));
        let pauses: Vec<u128> = (0..5).map(|_| b.next().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.upcoming(), Duration::from_millis(100));
        assert_eq!(Backoff::new(Duration::ZERO).next(), Duration::ZERO);
    }
}
