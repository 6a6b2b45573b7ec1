//! The lab's own accelerated clock: lab time = an anchor + real elapsed time × acceleration.
//!
//! Everything behavioural in the lab (VM creation, initial replication, recovery points, ASR
//! operation latency, token expiry) is measured on this clock, so a test can run a day of
//! replication in seconds. It must never read the wall clock except through [`LabClock::now`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Lab time, accelerated and jumpable.
#[derive(Debug)]
pub struct LabClock {
    inner: Mutex<Anchor>,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    real: Instant,
    lab: OffsetDateTime,
    acceleration: f64,
}

impl LabClock {
    /// A clock starting at the current UTC time (whole milliseconds), running `acceleration` times
    /// faster than real time.
    pub fn new(acceleration: f64) -> Self {
        let lab = whole_millis(OffsetDateTime::now_utc());
        LabClock {
            inner: Mutex::new(Anchor {
                real: Instant::now(),
                lab,
                acceleration: sane(acceleration),
            }),
        }
    }

    /// The current lab time, in whole milliseconds (what the wire shows is what the lab compares).
    pub fn now(&self) -> OffsetDateTime {
        let a = *self.inner.lock().expect("clock lock");
        whole_millis(a.at(Instant::now()))
    }

    /// The acceleration in force.
    pub fn acceleration(&self) -> f64 {
        self.inner.lock().expect("clock lock").acceleration
    }

    /// Changes the acceleration from now on (lab time does not jump).
    pub fn set_acceleration(&self, acceleration: f64) {
        let mut a = self.inner.lock().expect("clock lock");
        let real = Instant::now();
        a.lab = a.at(real);
        a.real = real;
        a.acceleration = sane(acceleration);
    }

    /// Jumps lab time forward by `seconds` of lab time.
    pub fn advance(&self, seconds: f64) {
        let mut a = self.inner.lock().expect("clock lock");
        a.lab += time::Duration::seconds_f64(seconds.max(0.0));
    }

    /// Real seconds until lab time `at`, rounded up; 0 when it is under a second away (or past).
    pub fn real_seconds_until(&self, at: OffsetDateTime) -> u64 {
        let now = self.now();
        if at <= now {
            return 0;
        }
        let real = (at - now).as_seconds_f64() / self.acceleration();
        if real < 1.0 { 0 } else { real.ceil() as u64 }
    }

    /// The real duration that lasts `lab_seconds` of lab time.
    pub fn real_duration(&self, lab_seconds: f64) -> Duration {
        Duration::from_secs_f64((lab_seconds / self.acceleration()).max(0.0))
    }
}

impl Anchor {
    fn at(&self, real: Instant) -> OffsetDateTime {
        let elapsed = real.saturating_duration_since(self.real).as_secs_f64();
        self.lab + time::Duration::seconds_f64(elapsed * self.acceleration)
    }
}

/// Drops sub-millisecond precision, which neither OData nor ARM timestamps in the lab carry.
pub fn whole_millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}

/// A non-positive or non-finite acceleration would stop or reverse time; treat it as real time.
fn sane(acceleration: f64) -> f64 {
    if acceleration.is_finite() && acceleration > 0.0 {
        acceleration
    } else {
        1.0
    }
}

/// `at` plus `seconds` of lab time, in whole milliseconds.
pub fn after(at: OffsetDateTime, seconds: f64) -> OffsetDateTime {
    whole_millis(at + time::Duration::seconds_f64(seconds.max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_jumps_lab_time_forward() {
        let clock = LabClock::new(1.0);
        let before = clock.now();
        clock.advance(3600.0);
        assert!(clock.now() - before >= time::Duration::hours(1));
    }

    #[test]
    fn retry_after_is_zero_under_a_second_and_rounded_up_otherwise() {
        let clock = LabClock::new(60.0);
        let now = clock.now();
        assert_eq!(
            clock.real_seconds_until(now + time::Duration::seconds(30)),
            0
        );
        assert_eq!(
            clock.real_seconds_until(now + time::Duration::seconds(90)),
            2
        );
    }
}
