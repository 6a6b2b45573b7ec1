//! Cron schedules (croner syntax: five fields, or six with seconds first) and which tick is due.
//!
//! Only the latest due tick ever fires: an instance that was down for a day runs a runbook once,
//! not once per missed tick. Times given here are the database clock's; this module never reads a
//! clock itself.

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use time::OffsetDateTime;

use super::EngineError;

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
}

impl Schedule {
    /// Parses a cron expression; the error names it and says what is wrong.
    pub fn parse(expression: &str) -> Result<Self, EngineError> {
        let expression = expression.trim();
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|err| EngineError::InvalidSchedule {
                expression: expression.to_owned(),
                message: err.to_string(),
            })?;
        Ok(Self {
            expression: expression.to_owned(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.expression
    }

    /// The latest tick at or before `now` (UTC), if any.
    pub fn latest_tick(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let at = to_chrono(now)?;
        let tick = self.cron.find_previous_occurrence(&at, true).ok()?;
        from_chrono(tick)
    }

    /// The first tick after `after` (UTC), if any.
    pub fn next_tick(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let at = to_chrono(after)?;
        let tick = self.cron.find_next_occurrence(&at, false).ok()?;
        from_chrono(tick)
    }
}

fn to_chrono(time: OffsetDateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(time.unix_timestamp(), time.nanosecond())
}

fn from_chrono(time: chrono::DateTime<chrono::Utc>) -> Option<OffsetDateTime> {
    let nanos =
        i128::from(time.timestamp()) * 1_000_000_000 + i128::from(time.timestamp_subsec_nanos());
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_latest_tick_is_at_or_before_now_and_the_next_after_it() {
        let every_5_minutes = Schedule::parse("*/5 * * * *").unwrap();
        let now = datetime!(2025-01-01 10:07:30 UTC);
        assert_eq!(
            every_5_minutes.latest_tick(now),
            Some(datetime!(2025-01-01 10:05 UTC))
        );
        assert_eq!(
            every_5_minutes.latest_tick(datetime!(2025-01-01 10:05 UTC)),
            Some(datetime!(2025-01-01 10:05 UTC))
        );
        assert_eq!(
            every_5_minutes.next_tick(now),
            Some(datetime!(2025-01-01 10:10 UTC))
        );
    }

    #[test]
    fn seconds_are_optional_and_nonsense_is_refused_with_the_expression() {
        assert!(Schedule::parse("*/10 * * * * *").is_ok());
        let err = Schedule::parse("every tuesday").unwrap_err();
        assert!(err.to_string().contains("every tuesday"), "{err}");
        assert!(Schedule::parse("61 * * * *").is_err());
    }
}
