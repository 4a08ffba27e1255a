use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// A point in time in UTC with microsecond precision, the precision both databases keep.
///
/// Truncating on construction means a value read back from storage compares equal to the
/// value written, which keyset pagination relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Truncates a UTC date-time to microseconds.
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        let nanos = dt.nanosecond();
        // with_nanosecond only fails for values >= 2e9, which truncation cannot produce.
        Self(dt.with_nanosecond(nanos - nanos % 1_000).unwrap_or(dt))
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// The inverse of [`Timestamp::as_micros`]; `None` when out of chrono's range.
    pub fn from_micros(micros: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(micros).map(Self)
    }

    /// An RFC 3339 date-time with any offset (`2026-11-24T10:15:30Z`,
    /// `2026-11-24T11:15:30.5+01:00`), truncated to microseconds; `None` when the text is
    /// not one, or its year is outside 1..=9999 (the range every store orders correctly).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let parsed = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
        (1..=9999)
            .contains(&parsed.year())
            .then(|| Self::from_datetime(parsed))
    }

    /// The date-time inside.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// This instant plus `micros` microseconds (saturating at chrono's range).
    pub fn plus_micros(&self, micros: i64) -> Self {
        Self::from_micros(self.as_micros().saturating_add(micros)).unwrap_or(*self)
    }

    /// RFC 3339 in UTC with exactly six fractional digits: `2026-11-24T10:15:30.123456Z`.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl fmt::Display for Timestamp {
    /// The same text as [`Timestamp::to_rfc3339`], written without an intermediate
    /// string (responses print two timestamps per message).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.0;
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return f.write_str(&self.to_rfc3339());
        }
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year.unsigned_abs());
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        // A leap second is kept in the nanoseconds by chrono (second 59, nanos >= 1e9).
        put(17, 2, t.second() + t.nanosecond() / 1_000_000_000);
        put(20, 6, (t.nanosecond() % 1_000_000_000) / 1_000);
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_with_microseconds_and_z() {
        let ts = Timestamp::from_micros(1_795_954_530_123_456).expect("in range");
        assert_eq!(ts.to_rfc3339(), "2026-11-29T12:15:30.123456Z");
        let whole = Timestamp::from_micros(1_795_954_530_000_000).expect("in range");
        assert_eq!(whole.to_rfc3339(), "2026-11-29T12:15:30.000000Z");
    }

    #[test]
    fn years_past_9999_are_printed_by_chrono() {
        let far = Timestamp::from_micros(253_402_300_800_000_000).expect("year 10000");
        assert_eq!(far.to_string(), far.to_rfc3339());
        assert_eq!(far.to_rfc3339(), "+10000-01-01T00:00:00.000000Z");
    }

    #[test]
    fn truncates_nanoseconds() {
        let dt = DateTime::from_timestamp(10, 123_456_789).expect("in range");
        assert_eq!(Timestamp::from_datetime(dt).as_micros(), 10_123_456);
    }

    #[test]
    fn parses_rfc3339_with_any_offset_into_utc() {
        let ts = Timestamp::parse_rfc3339("2026-11-29T13:15:30.1234567+01:00").expect("valid");
        assert_eq!(ts.to_rfc3339(), "2026-11-29T12:15:30.123456Z");
        for bad in [
            "",
            "2026-11-29",
            "2026-11-29T12:15:30",
            "29/11/2026",
            "0000-01-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_is_the_rfc3339_text(m in -62_135_596_800_000_000i64..253_402_300_799_999_999) {
            let ts = Timestamp::from_micros(m).expect("in range");
            prop_assert_eq!(ts.to_string(), ts.to_rfc3339());
        }

        #[test]
        fn micros_round_trip(m in 0i64..4_000_000_000_000_000) {
            let ts = Timestamp::from_micros(m).expect("in range");
            prop_assert_eq!(ts.as_micros(), m);
            prop_assert_eq!(Timestamp::from_datetime(ts.as_datetime()), ts);
        }
    }
}
