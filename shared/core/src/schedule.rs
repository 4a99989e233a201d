//! Weekly timetables in a branch's local time — opening hours and
//! consultants' shifts — and the arithmetic on them: is it open now, when
//! does it next open, and what instant lies `n` minutes of open time ahead.
//!
//! Spans are written as people write them: `mon-fri 09:00-19:00`,
//! `sat 10:00-14:00, 15:00-18:00`, `daily 00:00-24:00`, and a span whose end
//! is not after its start runs past midnight (`fri 22:00-06:00`). Local
//! clock times are turned into instants with the branch's time zone, so a
//! 09:00 opening stays 09:00 across a daylight-saving change.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// How far ahead the arithmetic looks for open time before giving up.
const HORIZON_DAYS: i32 = 400;

/// One recurring span: every `day`, from `start` for `length` of local clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    day: Weekday,
    start: Time,
    length: SignedDuration,
}

/// A week of spans in local time, with optional dates on which it is closed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeeklySchedule {
    spans: Vec<Span>,
    closed_on: BTreeSet<Date>,
    source: Vec<String>,
}

/// An instant interval `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl WeeklySchedule {
    /// Parses lines such as `mon-fri 09:00-19:00` or `sat,sun 10:00-14:00, 15:00-18:00`.
    pub fn parse<S: AsRef<str>>(lines: &[S]) -> Result<Self, String> {
        let mut spans = Vec::new();
        for line in lines {
            let line = line.as_ref().trim();
            let (days, times) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("`{line}` should read like `mon-fri 09:00-17:00`"))?;
            let days = parse_days(days)?;
            for range in times.split(',') {
                let (start, length) = parse_time_range(range.trim())?;
                for &day in &days {
                    spans.push(Span { day, start, length });
                }
            }
        }
        Ok(WeeklySchedule {
            spans,
            closed_on: BTreeSet::new(),
            source: lines.iter().map(|l| l.as_ref().trim().to_owned()).collect(),
        })
    }

    /// The same schedule, closed all day on each of `dates` (local dates).
    pub fn closed_on(mut self, dates: impl IntoIterator<Item = Date>) -> Self {
        self.closed_on.extend(dates);
        self
    }

    /// Always open: what a schedule without any lines would be useless as.
    pub fn always() -> Self {
        WeeklySchedule::parse(&["daily 00:00-24:00"]).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The lines the schedule was read from.
    pub fn lines(&self) -> &[String] {
        &self.source
    }

    /// Whether `at` falls in an open span.
    pub fn contains(&self, tz: &TimeZone, at: Timestamp) -> bool {
        self.intervals_from(tz, at)
            .next()
            .is_some_and(|i| i.start <= at && at < i.end)
    }

    /// The first instant at or after `at` that is open: `at` itself when open.
    pub fn next_open(&self, tz: &TimeZone, at: Timestamp) -> Option<Timestamp> {
        self.intervals_from(tz, at).next().map(|i| i.start.max(at))
    }

    /// Whether any span starts on local date `day` (a working day).
    pub fn opens_on(&self, tz: &TimeZone, day: Date) -> bool {
        !self.day_intervals(tz, day).is_empty()
    }

    /// The start of the next span that begins strictly after `at`.
    pub fn next_start_after(&self, tz: &TimeZone, at: Timestamp) -> Option<Timestamp> {
        self.intervals_from(tz, at)
            .map(|i| i.start)
            .find(|&start| start > at)
    }

    /// The instant at which `open_time` of open time has passed, counting from `from`.
    ///
    /// A lead arriving at 23:00 with a 10-minute SLA at a branch that opens at
    /// 09:00 is due at 09:10. `None` when the schedule has no open time.
    pub fn add_open_time(
        &self,
        tz: &TimeZone,
        from: Timestamp,
        open_time: SignedDuration,
    ) -> Option<Timestamp> {
        let mut left = open_time.max(SignedDuration::ZERO);
        for interval in self.intervals_from(tz, from) {
            let start = interval.start.max(from);
            let available = interval.end.duration_since(start);
            if available >= left {
                return start.checked_add(left).ok();
            }
            left -= available;
        }
        None
    }

    /// The open intervals that end after `from`, in order, merged where they
    /// overlap, as instants.
    pub fn intervals_from<'a>(
        &'a self,
        tz: &'a TimeZone,
        from: Timestamp,
    ) -> impl Iterator<Item = Interval> + 'a {
        // A span that started yesterday may still be open: start a day early.
        let first_day = tz.to_datetime(from).date().yesterday().ok();
        let days =
            std::iter::successors(first_day, |d| d.tomorrow().ok()).take(HORIZON_DAYS as usize + 1);
        let mut covered_until = from;
        days.flat_map(move |day| self.day_intervals(tz, day))
            .filter_map(move |interval| {
                // Spans of one day come sorted by start, and every span of a
                // day starts after those of the day before: clipping at the
                // end of what was already returned merges overlaps.
                let start = interval.start.max(covered_until);
                if interval.end <= start {
                    return None;
                }
                covered_until = interval.end;
                Some(Interval {
                    start,
                    end: interval.end,
                })
            })
    }

    /// The spans that start on local date `day`, as instants sorted by start.
    fn day_intervals(&self, tz: &TimeZone, day: Date) -> Vec<Interval> {
        if self.closed_on.contains(&day) {
            return Vec::new();
        }
        let mut out: Vec<Interval> = self
            .spans
            .iter()
            .filter(|s| s.day == day.weekday())
            .filter_map(|s| {
                let start_local = day.to_datetime(s.start);
                let end_local = start_local.checked_add(s.length).ok()?;
                let start = local_to_instant(tz, start_local)?;
                let end = local_to_instant(tz, end_local)?;
                (end > start).then_some(Interval { start, end })
            })
            .collect();
        out.sort_by_key(|i| i.start);
        out
    }
}

impl fmt::Display for WeeklySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source.join("; "))
    }
}

/// A local clock time that does not exist (skipped by a DST change) moves
/// forward; one that happens twice takes the first.
fn local_to_instant(tz: &TimeZone, local: DateTime) -> Option<Timestamp> {
    tz.to_timestamp(local).ok()
}

fn parse_days(text: &str) -> Result<Vec<Weekday>, String> {
    let text = text.trim().to_ascii_lowercase();
    if text == "daily" || text == "every-day" {
        return Ok(all_days().collect());
    }
    let mut days = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (parse_day(from)?, parse_day(to)?);
                // `fri-mon` wraps over the weekend.
                let mut day = from;
                loop {
                    days.push(day);
                    if day == to {
                        break;
                    }
                    day = day.next();
                }
            }
            None => days.push(parse_day(part)?),
        }
    }
    Ok(days)
}

fn all_days() -> impl Iterator<Item = Weekday> {
    [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ]
    .into_iter()
}

fn parse_day(text: &str) -> Result<Weekday, String> {
    let day = match text.trim() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        other => {
            return Err(format!(
                "`{other}` is not a day; use mon, tue, wed, thu, fri, sat, sun, a range such as mon-fri, or daily"
            ));
        }
    };
    Ok(day)
}

/// `09:00-17:00` → (09:00, 8h); `22:00-06:00` → (22:00, 8h); `00:00-24:00` → (00:00, 24h).
fn parse_time_range(text: &str) -> Result<(Time, SignedDuration), String> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` should be a time range such as 09:00-17:00"))?;
    let start = parse_clock(start.trim())?;
    let end_text = end.trim();
    let day = SignedDuration::from_hours(24);
    let end_offset = if end_text == "24:00" {
        day
    } else {
        parse_clock(end_text)?.duration_since(Time::midnight())
    };
    let start_offset = start.duration_since(Time::midnight());
    let length = if end_offset > start_offset {
        end_offset - start_offset
    } else {
        end_offset + day - start_offset
    };
    Ok((start, length))
}

fn parse_clock(text: &str) -> Result<Time, String> {
    Time::strptime("%H:%M", text)
        .map_err(|_| format!("`{text}` is not a time of day such as 09:00 or 17:30"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn istanbul() -> TimeZone {
        TimeZone::get("Europe/Istanbul").unwrap()
    }

    fn at(tz: &TimeZone, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        tz.to_timestamp(date(y, mo, d).at(h, mi, 0, 0)).unwrap()
    }

    fn local(tz: &TimeZone, ts: Timestamp) -> String {
        tz.to_datetime(ts).strftime("%a %Y-%m-%d %H:%M").to_string()
    }

    #[test]
    fn parses_what_people_write() {
        let s = WeeklySchedule::parse(&["mon-fri 09:00-19:00", "sat 10:00-14:00, 15:00-18:00"])
            .unwrap();
        assert_eq!(s.spans.len(), 7);
        assert!(WeeklySchedule::parse(&["fri-mon 22:00-06:00"]).is_ok());
        assert!(WeeklySchedule::parse(&["daily 00:00-24:00"]).is_ok());
        for bad in [
            "mon-fry 09:00-17:00",
            "mon 9am-5pm",
            "mon",
            "mon 25:00-26:00",
        ] {
            assert!(WeeklySchedule::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn open_and_closed() {
        let tz = istanbul();
        let s = WeeklySchedule::parse(&["mon-fri 09:00-19:00"]).unwrap();
        // 2026-11-23 is a Monday.
        assert!(s.contains(&tz, at(&tz, 2026, 11, 23, 9, 0)));
        assert!(s.contains(&tz, at(&tz, 2026, 11, 23, 18, 59)));
        assert!(!s.contains(&tz, at(&tz, 2026, 11, 23, 19, 0)));
        assert!(!s.contains(&tz, at(&tz, 2026, 11, 28, 12, 0)));
        let next = s.next_open(&tz, at(&tz, 2026, 11, 27, 23, 0)).unwrap();
        assert_eq!(local(&tz, next), "Mon 2026-11-30 09:00");
    }

    #[test]
    fn a_lead_at_night_is_due_minutes_after_opening() {
        let tz = istanbul();
        let s = WeeklySchedule::parse(&["mon-fri 09:00-19:00", "sat 10:00-14:00"]).unwrap();
        let ten = SignedDuration::from_mins(10);
        let due = |ts| local(&tz, s.add_open_time(&tz, ts, ten).unwrap());
        assert_eq!(due(at(&tz, 2026, 11, 23, 23, 0)), "Tue 2026-11-24 09:10");
        assert_eq!(due(at(&tz, 2026, 11, 24, 12, 0)), "Tue 2026-11-24 12:10");
        // Five minutes before closing: five today, five tomorrow.
        assert_eq!(due(at(&tz, 2026, 11, 24, 18, 55)), "Wed 2026-11-25 09:05");
        // Friday night waits for Saturday's short day, Saturday evening for Monday.
        assert_eq!(due(at(&tz, 2026, 11, 27, 20, 0)), "Sat 2026-11-28 10:10");
        assert_eq!(due(at(&tz, 2026, 11, 28, 13, 55)), "Mon 2026-11-30 09:05");
    }

    #[test]
    fn durations_longer_than_a_day_span_several_days() {
        let tz = istanbul();
        let s = WeeklySchedule::parse(&["mon-fri 09:00-17:00"]).unwrap();
        let due = s
            .add_open_time(
                &tz,
                at(&tz, 2026, 11, 27, 16, 0),
                SignedDuration::from_hours(10),
            )
            .unwrap();
        // 1h on Friday, 8h on Monday, 1h on Tuesday.
        assert_eq!(local(&tz, due), "Tue 2026-12-01 10:00");
    }

    #[test]
    fn overlapping_spans_are_not_counted_twice() {
        let tz = istanbul();
        let s = WeeklySchedule::parse(&["mon 09:00-12:00", "mon 11:00-13:00"]).unwrap();
        let due = s
            .add_open_time(
                &tz,
                at(&tz, 2026, 11, 23, 9, 0),
                SignedDuration::from_hours(4),
            )
            .unwrap();
        // Counted twice, the overlap would end the four hours at 12:00.
        assert_eq!(local(&tz, due), "Mon 2026-11-23 13:00");
    }

    #[test]
    fn spans_past_midnight_and_closed_dates() {
        let tz = istanbul();
        let night = WeeklySchedule::parse(&["fri 22:00-06:00"]).unwrap();
        assert!(night.contains(&tz, at(&tz, 2026, 11, 28, 5, 0)));
        assert!(!night.contains(&tz, at(&tz, 2026, 11, 28, 6, 0)));
        let due = night
            .add_open_time(
                &tz,
                at(&tz, 2026, 11, 28, 5, 50),
                SignedDuration::from_mins(20),
            )
            .unwrap();
        assert_eq!(local(&tz, due), "Fri 2026-12-04 22:10");

        let s = WeeklySchedule::parse(&["mon-fri 09:00-17:00"])
            .unwrap()
            .closed_on([date(2026, 12, 31), date(2027, 1, 1)]);
        let due = s
            .add_open_time(
                &tz,
                at(&tz, 2026, 12, 30, 16, 55),
                SignedDuration::from_mins(10),
            )
            .unwrap();
        assert_eq!(local(&tz, due), "Mon 2027-01-04 09:05");
    }

    #[test]
    fn business_time_across_a_dst_change() {
        // Berlin springs forward on Sunday 2027-03-28 at 02:00 → 03:00 and
        // falls back on Sunday 2026-10-25 at 03:00 → 02:00.
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let s = WeeklySchedule::parse(&["daily 00:00-24:00"]).unwrap();
        let start = at(&tz, 2027, 3, 28, 1, 30);
        let due = s
            .add_open_time(&tz, start, SignedDuration::from_mins(60))
            .unwrap();
        // One real hour later the clocks read 03:30, not 02:30.
        assert_eq!(local(&tz, due), "Sun 2027-03-28 03:30");

        // Opening hours follow the local clock on both sides of the change:
        // Saturday 18:00 + 2h of 09:00-19:00 opening lands on Monday 10:00,
        // and the Sunday-night gap is 23 real hours shorter... of local time.
        let office = WeeklySchedule::parse(&["mon-sat 09:00-19:00"]).unwrap();
        let due = office
            .add_open_time(
                &tz,
                at(&tz, 2027, 3, 27, 18, 0),
                SignedDuration::from_hours(2),
            )
            .unwrap();
        assert_eq!(local(&tz, due), "Mon 2027-03-29 10:00");
        assert_eq!(
            due.duration_since(at(&tz, 2027, 3, 29, 9, 0)),
            SignedDuration::from_hours(1)
        );

        // On the autumn day the 00:00-24:00 span is 25 real hours long.
        let autumn_day = at(&tz, 2026, 10, 25, 0, 0);
        let day_end = s
            .add_open_time(&tz, autumn_day, SignedDuration::from_hours(25))
            .unwrap();
        assert_eq!(local(&tz, day_end), "Mon 2026-10-26 00:00");
    }

    #[test]
    fn a_span_starting_in_a_skipped_hour_starts_when_the_clock_resumes() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let s = WeeklySchedule::parse(&["sun 02:30-04:00"]).unwrap();
        let open = s.next_open(&tz, at(&tz, 2027, 3, 28, 0, 0)).unwrap();
        assert_eq!(local(&tz, open), "Sun 2027-03-28 03:30");
    }

    #[test]
    fn next_start_after_skips_the_running_span() {
        let tz = istanbul();
        let s = WeeklySchedule::parse(&["mon-fri 09:00-17:00"]).unwrap();
        let next = s
            .next_start_after(&tz, at(&tz, 2026, 11, 23, 10, 0))
            .unwrap();
        assert_eq!(local(&tz, next), "Tue 2026-11-24 09:00");
        assert_eq!(
            WeeklySchedule::default().next_open(&tz, Timestamp::UNIX_EPOCH),
            None
        );
    }
}
