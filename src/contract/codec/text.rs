//! Text forms of .NET `DateTime` and `TimeSpan` on the wire, read leniently and written one way.
//!
//! TimeSpans are kept to .NET tick precision (100 ns) so that a value survives JSON and XML alike.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const NANOS_PER_TICK: u32 = 100;
const SECONDS_PER_DAY: u64 = 86_400;

/// Parses a .NET `DateTime` as it travels: RFC 3339; without offset
/// (`2014-07-09T22:00:00.0000000`, taken as UTC); or the `/Date(ms)/` literal of Json.NET's
/// Microsoft date format and OData verbose JSON (an offset suffix such as `+0000` does not change
/// the instant). Surrounding blanks are ignored.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Some(inner) = text
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
    {
        let digits_end = inner
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map_or(inner.len(), |(i, _)| i);
        let millis: i64 = inner[..digits_end].parse().ok()?;
        return OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok();
    }
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(time);
    }
    let local = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(text, local)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Writes a timestamp as RFC 3339 in UTC (`2014-07-09T22:00:00Z`).
pub fn format_time(time: OffsetDateTime) -> String {
    let mut text = String::new();
    push_time(&mut text, time);
    text
}

/// Appends [`format_time`]'s text to `buffer`, without a `String` of its own (a list of a hundred
/// VMs writes three hundred times).
pub fn push_time(buffer: &mut String, time: OffsetDateTime) {
    let utc = time.to_offset(UtcOffset::UTC);
    // RFC 3339 with nanoseconds is at most 35 bytes for the years it can write.
    let mut bytes = [0u8; 40];
    let mut free = &mut bytes[..];
    let written = utc
        .format_into(&mut free, &Rfc3339)
        .ok()
        .and_then(|length| std::str::from_utf8(&bytes[..length]).ok());
    match written {
        Some(text) => buffer.push_str(text),
        // Only years outside 0..=9999 fail; they cannot come from a parsed body, but never panic.
        None => buffer.push_str(&utc.to_string()),
    }
}

/// Parses a Json.NET TimeSpan (`[d.]hh:mm:ss[.fffffff]`) or an `xs:duration` (`P1DT2H3M4.5S`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    if text.starts_with('P') || text.starts_with('p') {
        parse_xs_duration(&text[1..])
    } else {
        parse_timespan(text)
    }
}

fn parse_timespan(text: &str) -> Option<Duration> {
    let (days, clock) = match text.split_once(':') {
        Some((head, _)) => match head.split_once('.') {
            Some((days, _)) => (days.parse::<u64>().ok()?, &text[days.len() + 1..]),
            None => (0, text),
        },
        None => return None,
    };
    let mut parts = clock.split(':');
    let hours = parse_u64(parts.next()?)?;
    let minutes = parse_u64(parts.next()?)?;
    let (seconds, fraction) = split_seconds(parts.next().unwrap_or("0"))?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let whole = days
        .checked_mul(SECONDS_PER_DAY)?
        .checked_add(hours * 3600 + minutes * 60 + seconds)?;
    Some(Duration::new(whole, fraction))
}

fn parse_xs_duration(text: &str) -> Option<Duration> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (text, None),
    };
    let mut whole: u64 = 0;
    let mut nanos = 0;
    let mut any = false;
    for (number, unit) in designators(date)? {
        let scale = match unit {
            'D' => SECONDS_PER_DAY,
            _ => return None,
        };
        whole = whole.checked_add(parse_u64(number)?.checked_mul(scale)?)?;
        any = true;
    }
    for (number, unit) in designators(time.unwrap_or(""))? {
        let scale = match unit {
            'H' => 3600,
            'M' => 60,
            'S' => {
                let (seconds, fraction) = split_seconds(number)?;
                nanos = fraction;
                whole = whole.checked_add(seconds)?;
                any = true;
                continue;
            }
            _ => return None,
        };
        whole = whole.checked_add(parse_u64(number)?.checked_mul(scale)?)?;
        any = true;
    }
    any.then(|| Duration::new(whole, nanos))
}

/// Splits `12H30M` into `[("12", 'H'), ("30", 'M')]`.
fn designators(text: &str) -> Option<Vec<(&str, char)>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (index, c) in text.char_indices() {
        if c.is_ascii_alphabetic() {
            let number = &text[start..index];
            if number.is_empty() {
                return None;
            }
            out.push((number, c.to_ascii_uppercase()));
            start = index + c.len_utf8();
        }
    }
    (start == text.len()).then_some(out)
}

/// Seconds with an optional fraction, truncated to ticks: `"30.5"` is 30 s and 500 000 000 ns.
fn split_seconds(text: &str) -> Option<(u64, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds = parse_u64(whole)?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: u32 = 0;
    for (index, digit) in fraction.bytes().take(7).enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - index as u32);
    }
    Some((seconds, nanos))
}

fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Writes a TimeSpan as Json.NET does: `hh:mm:ss`, `d.hh:mm:ss`, with `.fffffff` when needed.
pub fn format_timespan(duration: Duration) -> String {
    let total = duration.as_secs();
    let (days, rest) = (total / SECONDS_PER_DAY, total % SECONDS_PER_DAY);
    let clock = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    let ticks = duration.subsec_nanos() / NANOS_PER_TICK;
    let fraction = if ticks == 0 {
        String::new()
    } else {
        format!(".{ticks:07}")
    };
    if days == 0 {
        format!("{clock}{fraction}")
    } else {
        format!("{days}.{clock}{fraction}")
    }
}

/// Writes a TimeSpan as `XmlConvert` does: `PT30S`, `P1DT2H`, `PT0.5S`, `PT0S`.
pub fn format_xs_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (days, rest) = (total / SECONDS_PER_DAY, total % SECONDS_PER_DAY);
    let (hours, minutes, seconds) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let ticks = duration.subsec_nanos() / NANOS_PER_TICK;
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if rest == 0 && ticks == 0 {
        if days == 0 {
            out.push_str("T0S");
        }
        return out;
    }
    out.push('T');
    if hours > 0 {
        out.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}M"));
    }
    if seconds > 0 || ticks > 0 {
        let fraction = format!("{ticks:07}");
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            out.push_str(&format!("{seconds}S"));
        } else {
            out.push_str(&format!("{seconds}.{fraction}S"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_written_as_rfc_3339_in_utc_to_the_nanosecond() {
        let cases = [
            (datetime!(2026-12-05 07:30:00 UTC), "2026-12-05T07:30:00Z"),
            (
                datetime!(2026-12-05 08:30:00.123456789 +01:00),
                "2026-12-05T07:30:00.123456789Z",
            ),
            (
                datetime!(9999-12-31 23:59:59.5 UTC),
                "9999-12-31T23:59:59.5Z",
            ),
        ];
        for (time, text) in cases {
            let mut buffer = String::from("at ");
            push_time(&mut buffer, time);
            assert_eq!(buffer, format!("at {text}"));
            assert_eq!(format_time(time), text);
            assert_eq!(parse_time(text), Some(time));
        }
        // A year RFC 3339 cannot write still gives a text, not a panic.
        assert!(!format_time(datetime!(-0001-01-01 00:00 UTC)).is_empty());
    }

    #[test]
    fn microsoft_date_literals_are_read_as_instants() {
        let expected = OffsetDateTime::from_unix_timestamp(1_404_944_400).unwrap();
        assert_eq!(parse_time("/Date(1404944400000)/"), Some(expected));
        assert_eq!(parse_time("/Date(1404944400000+0000)/"), Some(expected));
        assert_eq!(parse_time(" /Date(1404944400000-0700)/ "), Some(expected));
        assert_eq!(
            parse_time("/Date(-86400000)/"),
            OffsetDateTime::from_unix_timestamp(-86_400).ok()
        );
        assert_eq!(parse_time("/Date(abc)/"), None);
        assert_eq!(parse_time("/Date(1)"), None);
    }

    #[test]
    fn dotnet_times_without_offset_are_utc() {
        let with_ticks = parse_time("2014-07-09T22:00:00.1234567").unwrap();
        assert_eq!(with_ticks.offset(), UtcOffset::UTC);
        assert_eq!(with_ticks.nanosecond(), 123_456_700);
        let plain = parse_time("2014-07-09T22:00:00").unwrap();
        assert_eq!(format_time(plain), "2014-07-09T22:00:00Z");
    }

    #[test]
    fn times_with_offsets_are_written_in_utc() {
        let time = parse_time("2014-07-09T23:00:00.0000000+01:00").unwrap();
        assert_eq!(format_time(time), "2014-07-09T22:00:00Z");
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn json_net_timespans_read_with_and_without_days() {
        assert_eq!(parse_duration("00:00:30"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_duration("1.00:00:00"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_duration("00:00:01.5000000"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("00:61:00"), None);
        assert_eq!(parse_duration("-00:00:30"), None);
        assert_eq!(parse_duration("30"), None);
    }

    #[test]
    fn xs_durations_read_every_designator() {
        assert_eq!(parse_duration("PT30S"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_duration("P1DT2H3M4.5S"),
            Some(Duration::new(93_784, 500_000_000))
        );
        assert_eq!(parse_duration("P2D"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("P1Y"), None);
        assert_eq!(parse_duration("PT99999999999999999999S"), None);
    }

    #[test]
    fn timespans_are_written_as_json_net_and_xml_convert_do() {
        let samples = [
            (Duration::from_secs(30), "00:00:30", "PT30S"),
            (Duration::from_secs(90_061), "1.01:01:01", "P1DT1H1M1S"),
            (Duration::from_secs(86_400), "1.00:00:00", "P1D"),
            (Duration::ZERO, "00:00:00", "PT0S"),
            (Duration::from_millis(500), "00:00:00.5000000", "PT0.5S"),
        ];
        for (duration, json, xml) in samples {
            assert_eq!(format_timespan(duration), json);
            assert_eq!(format_xs_duration(duration), xml);
            assert_eq!(parse_duration(json), Some(duration));
            assert_eq!(parse_duration(xml), Some(duration));
        }
    }
}
