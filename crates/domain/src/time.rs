use std::fmt;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};

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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
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
    fn truncates_nanoseconds() {
        let dt = DateTime::from_timestamp(10, 123_456_789).expect("in range");
        assert_eq!(Timestamp::from_datetime(dt).as_micros(), 10_123_456);
    }

    proptest! {
        #[test]
        fn micros_round_trip(m in 0i64..4_000_000_000_000_000) {
            let ts = Timestamp::from_micros(m).expect("in range");
            prop_assert_eq!(ts.as_micros(), m);
            prop_assert_eq!(Timestamp::from_datetime(ts.as_datetime()), ts);
        }
    }
}
