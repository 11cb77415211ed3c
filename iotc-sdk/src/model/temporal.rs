//! Serde helpers for DTDL's temporal schemas, for `#[serde(with = "...")]`:
//!
//! * [`duration`]: `std::time::Duration` as an ISO 8601 duration (`"PT1H30M"`), DTDL
//!   `duration`; [`duration::option`] for `Option<Duration>`;
//! * [`date`]: `time::Date` as `"2020-05-17"`, DTDL `date` (and `date::option`);
//! * [`time_of_day`]: `time::Time` as `"13:45:00"`, DTDL `time` (and `time_of_day::option`);
//! * DTDL `dateTime` is `time::serde::rfc3339` of the `time` crate.
//!
//! The `DtdlSchema` of such a field is its Rust type's (`time::Date` is `date`...); a
//! `std::time::Duration` field names its schema with
//! `#[iotc(schema = iotc_sdk::model::marker::Duration)]`.
//!
//! ```
//! use std::time::Duration;
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Settings {
//!     #[serde(with = "iotc_sdk::model::temporal::duration")]
//!     interval: Duration,
//! }
//! let json = serde_json::to_string(&Settings { interval: Duration::from_secs(5400) }).unwrap();
//! assert_eq!(json, r#"{"interval":"PT1H30M"}"#);
//! let back: Settings = serde_json::from_str(r#"{"interval":"P1DT0.5S"}"#).unwrap();
//! assert_eq!(back.interval, Duration::from_millis(86_400_500));
//! ```

use std::fmt;
use std::time::Duration;

/// Why a text is not an ISO 8601 duration this module reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an ISO 8601 duration (PnWnDTnHnMnS): {why}")]
pub struct DurationError {
    text: String,
    why: &'static str,
}

/// Parses an ISO 8601 duration: `P`, then weeks, days, and after `T` hours, minutes and
/// seconds, each a number followed by its designator (`W`, `D`, `H`, `M`, `S`); only the
/// seconds may have a fraction. Years and months are refused: they have no fixed length.
///
/// # Errors
///
/// [`DurationError`] naming what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |why| DurationError {
        text: text.to_owned(),
        why,
    };
    let rest = text
        .strip_prefix('P')
        .ok_or_else(|| fail("it must start with `P`"))?;
    if rest.is_empty() || rest == "T" {
        return Err(fail("it has no component"));
    }
    let mut total = Duration::ZERO;
    let mut in_time = false;
    let mut number = String::new();
    let mut seen_any = false;
    for c in rest.chars() {
        match c {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            designator => {
                if number.is_empty() {
                    return Err(fail("a designator without a number"));
                }
                let seconds_per = match (in_time, designator) {
                    (false, 'W') => 604_800.0,
                    (false, 'D') => 86_400.0,
                    (true, 'H') => 3_600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    (false, 'Y' | 'M') => {
                        return Err(fail("years and months have no fixed length"))
                    }
                    _ => return Err(fail("an unknown or misplaced designator")),
                };
                if number.contains('.') && designator != 'S' {
                    return Err(fail("only seconds may have a fraction"));
                }
                let value: f64 = number.parse().map_err(|_| fail("a number is malformed"))?;
                total += Duration::try_from_secs_f64(value * seconds_per)
                    .map_err(|_| fail("it is too long"))?;
                number.clear();
                seen_any = true;
            }
        }
    }
    if !number.is_empty() || !seen_any {
        return Err(fail("it ends with a number without designator"));
    }
    Ok(total)
}

/// Writes `duration` as an ISO 8601 duration: days, hours, minutes and seconds (with up to
/// nine fraction digits), leaving out the zero parts (`PT0S` for zero).
pub fn format_duration(duration: Duration) -> String {
    struct Iso(Duration);
    impl fmt::Display for Iso {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let secs = self.0.as_secs();
            let nanos = self.0.subsec_nanos();
            let (days, hours, minutes, seconds) =
                (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
            f.write_str("P")?;
            if days > 0 {
                write!(f, "{days}D")?;
            }
            if hours == 0 && minutes == 0 && seconds == 0 && nanos == 0 {
                return if days == 0 {
                    f.write_str("T0S")
                } else {
                    Ok(())
                };
            }
            f.write_str("T")?;
            if hours > 0 {
                write!(f, "{hours}H")?;
            }
            if minutes > 0 {
                write!(f, "{minutes}M")?;
            }
            if seconds > 0 || nanos > 0 {
                if nanos > 0 {
                    let fraction = format!("{nanos:09}");
                    write!(f, "{seconds}.{}S", fraction.trim_end_matches('0'))?;
                } else {
                    write!(f, "{seconds}S")?;
                }
            }
            Ok(())
        }
    }
    Iso(duration).to_string()
}

/// `std::time::Duration` as an ISO 8601 duration string.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as an ISO 8601 duration.
    ///
    /// # Errors
    ///
    /// The serializer's.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    /// Deserializes an ISO 8601 duration.
    ///
    /// # Errors
    ///
    /// A string that is not an ISO 8601 duration of weeks, days, hours, minutes and seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// `Option<Duration>` (`null` for `None`).
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes `Some` as an ISO 8601 duration, `None` as `null`.
        ///
        /// # Errors
        ///
        /// The serializer's.
        pub fn serialize<S: Serializer>(
            value: &Option<Duration>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => serializer.serialize_str(&super::super::format_duration(*value)),
                None => serializer.serialize_none(),
            }
        }

        /// Deserializes an ISO 8601 duration or `null`.
        ///
        /// # Errors
        ///
        /// A string that is not an ISO 8601 duration.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| super::super::parse_duration(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// The `time` crate's serde modules for DTDL `date` and `time`, re-exported below.
#[allow(missing_docs)]
mod formats {
    time::serde::format_description!(pub date, Date, "[year]-[month]-[day]");
    time::serde::format_description!(pub time_of_day, Time, "[hour]:[minute]:[second]");
}

/// `time::Date` as an RFC 3339 full date (`"2020-05-17"`), DTDL `date`; `date::option` for
/// `Option<time::Date>`.
pub use formats::date;
/// `time::Time` as an RFC 3339 partial time (`"13:45:00"`), DTDL `time`; `time_of_day::option`
/// for `Option<time::Time>`.
pub use formats::time_of_day;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, secs, nanos) in [
            ("PT0S", 0, 0),
            ("PT10H24M6.5S", 37_446, 500_000_000),
            ("P1W", 604_800, 0),
            ("P2DT3H", 183_600, 0),
            ("PT0,25S", 0, 250_000_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::new(secs, nanos)),
                "{text}"
            );
        }
        for bad in [
            "", "P", "PT", "1H", "PT1", "P1Y", "P1M", "PT1.5M", "PTS", "P1H",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for (secs, nanos, text) in [
            (0, 0, "PT0S"),
            (90, 0, "PT1M30S"),
            (86_400, 0, "P1D"),
            (90_061, 5_000_000, "P1DT1H1M1.005S"),
        ] {
            let duration = Duration::new(secs, nanos);
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration));
        }
    }

    #[test]
    fn dates_and_times() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Both {
            #[serde(with = "date")]
            day: time::Date,
            #[serde(with = "time_of_day::option")]
            at: Option<time::Time>,
        }
        let both = Both {
            day: time::macros::date!(2020 - 05 - 17),
            at: Some(time::macros::time!(13:45:00)),
        };
        let json = serde_json::to_string(&both).unwrap();
        assert_eq!(json, r#"{"day":"2020-05-17","at":"13:45:00"}"#);
        assert_eq!(serde_json::from_str::<Both>(&json).unwrap(), both);
    }
}
