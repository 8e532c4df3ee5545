//! IMF-fixdate values for the `Date` header (RFC 9110 section 5.6.7),
//! formatted without a calendar library. The server formats one per second
//! and hands copies to response writers.

use std::time::{SystemTime, UNIX_EPOCH};

const LEN: usize = 29;
const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// "Sun, 06 Nov 1994 08:49:37 GMT": always 29 ASCII bytes, so it is `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HttpDate([u8; LEN]);

impl HttpDate {
    /// Formats seconds since the Unix epoch (years up to 9999).
    pub fn from_unix(seconds: u64) -> Self {
        let days = seconds / 86_400;
        let second_of_day = seconds % 86_400;
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday.
        let weekday = ((days + 4) % 7) as usize;
        let mut out = [0u8; LEN];
        out[0..3].copy_from_slice(DAYS[weekday]);
        out[3..5].copy_from_slice(b", ");
        two_digits(&mut out[5..7], day);
        out[7] = b' ';
        out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
        out[11] = b' ';
        two_digits(&mut out[12..14], (year / 100) % 100);
        two_digits(&mut out[14..16], year % 100);
        out[16] = b' ';
        two_digits(&mut out[17..19], second_of_day / 3600);
        out[19] = b':';
        two_digits(&mut out[20..22], second_of_day / 60 % 60);
        out[22] = b':';
        two_digits(&mut out[23..25], second_of_day % 60);
        out[25..29].copy_from_slice(b" GMT");
        HttpDate(out)
    }

    /// Formats a clock reading (times before 1970 give the epoch).
    pub fn from_system_time(time: SystemTime) -> Self {
        let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        HttpDate::from_unix(seconds)
    }

    /// Takes an already formatted date if it is 29 visible ASCII bytes or spaces.
    pub fn from_formatted(date: &str) -> Option<Self> {
        let bytes: [u8; LEN] = date.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|&b| b == b' ' || b.is_ascii_graphic())
            .then_some(HttpDate(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpDate({:?})", self.as_str())
    }
}

fn two_digits(out: &mut [u8], value: u64) {
    out[0] = b'0' + (value / 10 % 10) as u8;
    out[1] = b'0' + (value % 10) as u8;
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01, by
/// counting in 400-year eras of the proleptic Gregorian calendar whose years
/// start on March 1st (so the leap day is the last day of a year).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the origin to 0000-03-01: 719_468 days before 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(
            HttpDate::from_unix(0).as_str(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix(784_111_777).as_str(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        // Leap day, and the last second of a year.
        assert_eq!(
            HttpDate::from_unix(951_782_400).as_str(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix(1_704_067_199).as_str(),
            "Sun, 31 Dec 2023 23:59:59 GMT"
        );
        assert_eq!(
            HttpDate::from_unix(4_107_542_400).as_str(),
            "Mon, 01 Mar 2100 00:00:00 GMT"
        );
    }

    #[test]
    fn every_day_for_a_few_centuries_round_trips() {
        // Walk day by day and check the date advances by exactly one day.
        let mut previous = civil_from_days(0);
        assert_eq!(previous, (1970, 1, 1));
        for days in 1..(400 * 366) {
            let (year, month, day) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = (year, month, day) == (py, pm, pd + 1);
            let next_month = (year, month, day) == (py, pm + 1, 1);
            let next_year = (year, month, day) == (py + 1, 1, 1) && pm == 12 && pd == 31;
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {year}-{month}-{day}"
            );
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            if next_month {
                let length = match pm {
                    2 if leap => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                assert_eq!(pd, length, "{py}-{pm} ended early or late");
            }
            previous = (year, month, day);
        }
    }

    #[test]
    fn accepts_only_well_formed_preformatted_dates() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(HttpDate::from_formatted(date).unwrap().as_str(), date);
        assert!(HttpDate::from_formatted("Sun, 06 Nov 1994 08:49:37 GM").is_none());
        assert!(HttpDate::from_formatted("Sun, 06 Nov 1994 08:49:37\r\nX: y").is_none());
        assert!(HttpDate::from_formatted("Sun, 06 Nov 1994 08:49:3\r GMT").is_none());
    }
}
