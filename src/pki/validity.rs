//! Validity periods: `20y`, `1y`, `90d`, `12h`, `30min`, `10s`, counted in calendar years, or
//! in days, hours, minutes or seconds from now.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::DateTime;
use x509_cert::time::{Time, Validity};

/// A validity length as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// Calendar years.
    Years(u16),
    /// Days of 24 hours.
    Days(u32),
    /// Seconds (given as hours, minutes or seconds): short-lived delegates.
    Seconds(u32),
}

/// A period that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "bad validity '{0}': give a whole number of years, days, hours, minutes or seconds, such as 20y, 90d, 12h, 30min or 10s"
)]
pub struct PeriodError(pub String);

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PeriodError(s.to_owned());
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: u32 = num.parse().map_err(|_| bad())?;
        let period = match unit {
            "y" => Period::Years(u16::try_from(n).map_err(|_| bad())?),
            "d" => Period::Days(n),
            "h" => Period::Seconds(n.checked_mul(3600).ok_or_else(bad)?),
            "min" => Period::Seconds(n.checked_mul(60).ok_or_else(bad)?),
            "s" => Period::Seconds(n),
            _ => return Err(bad()),
        };
        match period {
            Period::Years(0) | Period::Days(0) | Period::Seconds(0) => Err(bad()),
            Period::Years(y) if y > 100 => Err(bad()),
            Period::Days(d) if d > 36_600 => Err(bad()),
            Period::Seconds(s) if s > 36_600 * 86_400 => Err(bad()),
            p => Ok(p),
        }
    }
}

impl Period {
    /// The end of a period starting at `start`; 29 February moves to 28 February in a year
    /// that has none.
    pub fn end_from(self, start: DateTime) -> Result<DateTime, der::Error> {
        match self {
            Period::Days(d) => DateTime::from_unix_duration(
                start.unix_duration() + Duration::from_secs(u64::from(d) * 86_400),
            ),
            Period::Seconds(s) => DateTime::from_unix_duration(
                start.unix_duration() + Duration::from_secs(u64::from(s)),
            ),
            Period::Years(y) => {
                let year = start.year() + y;
                let day = if start.month() == 2 && start.day() == 29 && !is_leap(year) {
                    28
                } else {
                    start.day()
                };
                DateTime::new(
                    year,
                    start.month(),
                    day,
                    start.hour(),
                    start.minutes(),
                    start.seconds(),
                )
            }
        }
    }

    /// A validity starting now (to the second) and lasting this period.
    pub fn validity_from_now(self) -> Result<Validity, der::Error> {
        let now = DateTime::from_system_time(SystemTime::now())?;
        let end = self.end_from(now)?;
        Ok(Validity::new(Time::from(now), Time::from(end)))
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_years_and_days() {
        assert_eq!("20y".parse::<Period>().unwrap(), Period::Years(20));
        assert_eq!("90d".parse::<Period>().unwrap(), Period::Days(90));
        assert_eq!("12h".parse::<Period>().unwrap(), Period::Seconds(43_200));
        assert_eq!("30min".parse::<Period>().unwrap(), Period::Seconds(1800));
        assert_eq!("10s".parse::<Period>().unwrap(), Period::Seconds(10));
        for bad in [
            "", "y", "20", "20 y", "1.5y", "0y", "3m", "-1y", "101y", "0s", "5hours",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_leap_day_ends_on_the_28th() {
        let start = DateTime::new(2028, 2, 29, 12, 0, 0).unwrap();
        let end = Period::Years(1).end_from(start).unwrap();
        assert_eq!((end.year(), end.month(), end.day()), (2029, 2, 28));
    }

    #[test]
    fn long_validities_switch_to_generalized_time() {
        let start = DateTime::new(2026, 11, 24, 0, 0, 0).unwrap();
        let end = Period::Years(30).end_from(start).unwrap();
        assert!(matches!(Time::from(end), Time::GeneralTime(_)));
        assert!(matches!(Time::from(start), Time::UtcTime(_)));
    }
}
