//! The store's SQL dialects: every statement is written once, in PostgreSQL's dialect, and
//! [`Dialect::sql`] translates it for the backend that runs it.
//!
//! The translation is plain text substitution, so statements keep to the spellings it knows: the
//! database clock as `now()`, "the clock plus $N milliseconds" as `now_plus_ms($N)`, numbered
//! `$N` parameters, `::text` and `::timestamptz` casts, the row locks `FOR UPDATE` and
//! `FOR UPDATE OF s SKIP LOCKED`, the two-argument `GREATEST(`, and the index hint
//! `/*+ INDEXED BY name */` after a table (a comment to PostgreSQL, whose cost-based planner has
//! statistics; SQLite's `INDEXED BY`, for a plan its planner would not find). No statement may
//! hold a `$` in a string literal. This module knows no table.

use time::OffsetDateTime;

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// PostgreSQL: the statements as written.
    Postgres,
    /// SQLite: numbered `?N` parameters, text timestamps, no row locks (one writer at a time).
    Sqlite,
}

/// SQLite's database clock, as the fixed-width text every SQLite timestamp is stored in.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// The opening of an index hint, `/*+ INDEXED BY name */`.
const INDEX_HINT: &str = "/*+ INDEXED BY ";

/// `sql` with each index hint made SQLite's `INDEXED BY name`.
fn sqlite_index_hints(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(INDEX_HINT) {
        out.push_str(&rest[..start]);
        let after = &rest[start + INDEX_HINT.len()..];
        let end = after.find("*/").expect("an index hint has its */");
        out.push_str("INDEXED BY ");
        out.push_str(after[..end].trim());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

impl Dialect {
    /// `sql` (PostgreSQL, with `now_plus_ms($N)` for "the database clock plus $N milliseconds")
    /// in this dialect.
    pub(super) fn sql(self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 64);
        let mut rest = sql;
        while let Some(start) = rest.find("now_plus_ms(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "now_plus_ms(".len()..];
            let end = after.find(')').expect("now_plus_ms( has its )");
            let ms = &after[..end];
            match self {
                Self::Postgres => {
                    out.push_str(&format!("(now() + {ms} * interval '1 millisecond')"))
                }
                Self::Sqlite => out.push_str(&format!(
                    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ({ms} / 1000.0) || ' seconds')"
                )),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        match self {
            // PostgreSQL's now() is the transaction's start: a claim that began before another
            // transaction committed the step it waited for would stamp its start earlier than
            // that step's end. The statement's start keeps recorded times in causal order (and,
            // unlike clock_timestamp(), is stable, so indexes still serve comparisons with it).
            Self::Postgres => out.replace("now()", "statement_timestamp()"),
            // SQLite's scalar MAX takes two or more arguments, like GREATEST; its aggregate MAX
            // takes one, so an aggregate `MAX(` in a statement is left alone.
            Self::Sqlite => sqlite_index_hints(&out)
                .replace("now()", SQLITE_NOW)
                .replace("::timestamptz", "")
                .replace("::text", "")
                .replace(" FOR UPDATE OF s SKIP LOCKED", "")
                .replace(" FOR UPDATE", "")
                .replace("GREATEST(", "MAX(")
                .replace('$', "?"),
        }
    }
}

/// A time as bound into statements that compare it with the database clock: RFC 3339 UTC with
/// milliseconds, which SQLite compares as text and PostgreSQL casts with `::timestamptz`.
pub(super) fn time_text(time: OffsetDateTime) -> String {
    let utc = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// Milliseconds of a duration, as bound into `now_plus_ms`.
pub(super) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses RFC 3339 text (for tests of [`time_text`]).
    fn parse_time(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    }

    /// Asserts PostgreSQL runs `pg` as written (but for its clock) and SQLite runs `lite`.
    fn translates(pg: &str, lite: &str) {
        assert_eq!(
            Dialect::Postgres.sql(pg),
            pg.replace("now()", "statement_timestamp()")
        );
        assert_eq!(Dialect::Sqlite.sql(pg), lite);
    }

    #[test]
    fn parameters_are_numbered_question_marks_on_sqlite() {
        translates(
            "UPDATE t SET a = $1 WHERE id = $2 AND b = $10",
            "UPDATE t SET a = ?1 WHERE id = ?2 AND b = ?10",
        );
    }

    #[test]
    fn the_database_clock_is_the_statement_start_on_postgres() {
        // Not now(), the transaction's start: see Dialect::sql.
        assert_eq!(
            Dialect::Postgres.sql("SELECT now()"),
            "SELECT statement_timestamp()"
        );
    }

    #[test]
    fn the_database_clock_is_fixed_width_text_on_sqlite() {
        translates(
            "SELECT now()",
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        );
    }

    #[test]
    fn casts_are_dropped_on_sqlite() {
        translates(
            "WHERE ($1::text IS NULL OR kind = $1) AND at < $2::timestamptz",
            "WHERE (?1 IS NULL OR kind = ?1) AND at < ?2",
        );
    }

    #[test]
    fn row_locks_are_dropped_on_sqlite() {
        translates(
            "SELECT s.id FROM workflow_steps s LIMIT $1 FOR UPDATE OF s SKIP LOCKED",
            "SELECT s.id FROM workflow_steps s LIMIT ?1",
        );
        translates(
            "SELECT id FROM workflow_runs WHERE id = $1 FOR UPDATE",
            "SELECT id FROM workflow_runs WHERE id = ?1",
        );
    }

    #[test]
    fn greatest_is_scalar_max_on_sqlite_and_aggregate_max_is_kept() {
        translates(
            "SET a = GREATEST(a, $1), b = GREATEST(b, $1 + 1)",
            "SET a = MAX(a, ?1), b = MAX(b, ?1 + 1)",
        );
        translates(
            "SELECT COALESCE(MAX(id), 0) FROM t",
            "SELECT COALESCE(MAX(id), 0) FROM t",
        );
    }

    #[test]
    fn lease_arithmetic_is_translated_for_each_backend() {
        let sql = "SET lease_expires_at = now_plus_ms($2) WHERE id = $1";
        assert_eq!(
            Dialect::Postgres.sql(sql),
            "SET lease_expires_at = (statement_timestamp() + $2 * interval '1 millisecond') \
             WHERE id = $1"
        );
        assert_eq!(
            Dialect::Sqlite.sql(sql),
            "SET lease_expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || (?2 / 1000.0) \
             || ' seconds') WHERE id = ?1"
        );
    }

    #[test]
    fn index_hints_are_comments_on_postgres_and_indexed_by_on_sqlite() {
        translates(
            "SELECT r.id FROM workflow_runs r /*+ INDEXED BY workflow_runs_live */ JOIN s \
             ON s.run_id = r.id",
            "SELECT r.id FROM workflow_runs r INDEXED BY workflow_runs_live JOIN s \
             ON s.run_id = r.id",
        );
    }

    #[test]
    fn rules_combine_in_one_statement() {
        translates(
            "SELECT s.id FROM workflow_steps s WHERE s.not_before <= now() \
             AND ($1::text IS NULL OR s.kind = $1) AND s.x < $2::timestamptz \
             LIMIT $3 FOR UPDATE OF s SKIP LOCKED",
            "SELECT s.id FROM workflow_steps s WHERE s.not_before <= \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now') AND (?1 IS NULL OR s.kind = ?1) \
             AND s.x < ?2 LIMIT ?3",
        );
    }

    #[test]
    fn bound_times_are_fixed_width_utc_with_milliseconds() {
        let t = parse_time("2025-03-04T05:06:07.089+02:00");
        assert_eq!(time_text(t), "2025-03-04T03:06:07.089Z");
        assert_eq!(parse_time(&time_text(t)), t);
    }

    #[test]
    fn millis_saturate_instead_of_wrapping() {
        assert_eq!(millis(std::time::Duration::from_millis(1500)), 1500);
        assert_eq!(millis(std::time::Duration::MAX), i64::MAX);
    }
}
