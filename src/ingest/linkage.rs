//! Checks across files that `validate` and `run` share: how many of the
//! returns' people are found in the hospital data (a broken linkage — the
//! wrong id kind or key — otherwise gives a pack of zeros), and whether any
//! referral falls in the evaluation period.

use super::Result;
use polars::prelude::*;

use crate::pipeline::Settings;
use crate::schema::{COURSE_START_DATE, PERSON_ID, PERSON_KEY, REFERRAL_DATE, SESSIONS_ATTENDED};

/// People in the returns, and how many of them have at least one hospital row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linkage {
    pub people: usize,
    pub linked: usize,
}

impl Linkage {
    pub fn share(&self) -> f64 {
        self.linked as f64 / self.people.max(1) as f64
    }
}

fn ids(frames: Vec<LazyFrame>) -> Result<Option<LazyFrame>> {
    let mut parts = Vec::new();
    for mut f in frames {
        if f.collect_schema()?.contains(PERSON_ID) {
            parts.push(f.select([col(PERSON_ID).cast(DataType::String)]));
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        concat(parts, UnionArgs::default())?.filter(col(PERSON_ID).is_not_null()),
    ))
}

/// [`ids`] of column `on` (`person_id`, or the [`PERSON_KEY`] as it is).
fn ids_in(frames: Vec<LazyFrame>, on: &str) -> Result<Option<LazyFrame>> {
    if on == PERSON_ID {
        return ids(frames);
    }
    let parts: Vec<LazyFrame> = frames.into_iter().map(|f| f.select([col(on)])).collect();
    Ok(Some(
        concat(parts, UnionArgs::default())?.filter(col(on).is_not_null()),
    ))
}

/// The returns' people found in the hospital rows (one lazy frame per file,
/// e.g. the warehouse's tables, scanned); None without both. Only the person
/// column is read, one hospital file at a time: its [`PERSON_KEY`] where the
/// file has one and the people have a key each (eight bytes a row, as the
/// report's [`events_of`](crate::metrics::hospital::events_of) finds
/// events), else `person_id`.
pub fn linkage_lazy(returns: Vec<LazyFrame>, hospital: Vec<LazyFrame>) -> Result<Option<Linkage>> {
    let Some(people) = ids(returns)? else {
        return Ok(None);
    };
    let people = people
        .unique(None, UniqueKeepStrategy::First)
        .with_column(super::nhs::person_key(col(PERSON_ID)).alias(PERSON_KEY))
        .collect()?;
    let keyed = super::nhs::keys_tell_apart(&people)?;
    let mut found: Vec<LazyFrame> = Vec::new();
    for mut h in hospital {
        let on = match keyed && super::nhs::has_person_key(h.collect_schema()?.as_ref()) {
            true => PERSON_KEY,
            false => PERSON_ID,
        };
        let Some(events) = ids_in(vec![h], on)? else {
            continue;
        };
        let df = people
            .clone()
            .lazy()
            .join(events, [col(on)], [col(on)], JoinArgs::new(JoinType::Semi))
            .select([col(PERSON_ID)])
            .collect()?;
        found.push(df.lazy());
    }
    if found.is_empty() {
        return Ok(None);
    }
    let linked = crate::metrics::referrals::rows_in(
        concat(found, UnionArgs::default())?.unique(None, UniqueKeepStrategy::First),
    )?;
    Ok(Some(Linkage {
        people: people.height(),
        linked,
    }))
}

/// The warning for a linkage below the pipeline's `min_linkage`, in words.
/// `exact`: give the counts (internal use); otherwise the share of the
/// controlled counts (as a published pack shows them) to the nearest 5%,
/// or "a few" where those found are 1–7.
pub fn linkage_warning(l: &Linkage, min: f64, exact: bool) -> Option<String> {
    let share = l.share();
    if l.people == 0 || share >= min {
        return None;
    }
    let found = if exact {
        format!(
            "{} of {} people ({:.1}%)",
            l.linked,
            l.people,
            100.0 * share
        )
    } else {
        let shown = crate::disclosure::published_share(l.linked as i64, l.people as i64);
        match shown.map(|s| (s * 20.0).round() * 5.0) {
            // Rounded up to the limit or past it, it would read as enough.
            Some(pct) if pct >= 100.0 * min => format!("under {} of people", percent(min)),
            Some(pct) => format!("about {pct:.0}% of people"),
            None => "a few people".into(),
        }
    };
    let why = if l.linked == 0 {
        "No one in the provider returns is found in the hospital data: the hospital figures would all be zero. Check that both sources declare the same id_kind and were hashed with the same key"
    } else {
        "Few people in the provider returns are found in the hospital data; check the sources' id_kind, the key and the hospital extract's coverage"
    };
    Some(format!(
        "{why} (found: {found}; the pipeline expects at least {}, settings.min_linkage).",
        percent(min)
    ))
}

/// A share as a percentage, to a tenth where it is not whole (0.524 →
/// 52.4%, 0.5 → 50%), so the limit is never shown rounded onto the share.
fn percent(share: f64) -> String {
    let pct = 100.0 * share;
    match (pct - pct.round()).abs() < 1e-9 {
        true => format!("{pct:.0}%"),
        false => format!("{pct:.1}%"),
    }
}

/// Referrals whose activity date (course start for a starter, else the
/// referral date) falls in the evaluation period; None if no period is set.
pub fn referrals_in_period(returns: &[&DataFrame], s: &Settings) -> Result<Option<usize>> {
    let (Some(a), Some(b)) = (s.evaluation_start, s.evaluation_end) else {
        return Ok(None);
    };
    let mut total = 0usize;
    for f in returns {
        let activity = when(col(SESSIONS_ATTENDED).cast(DataType::Int32).gt_eq(lit(1)))
            .then(col(COURSE_START_DATE))
            .otherwise(col(REFERRAL_DATE));
        let n =
            (*f).clone()
                .lazy()
                .filter(activity.is_between(lit(a), lit(b), ClosedInterval::Both));
        total += crate::metrics::referrals::rows_in(n)?;
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_linkage_warns_and_full_linkage_does_not() {
        let r = df!(PERSON_ID => ["a", "b", "c", "d"]).unwrap();
        let h = df!(PERSON_ID => ["x", "y"]).unwrap();
        let l = linkage_lazy(vec![r.clone().lazy()], vec![h.lazy()])
            .unwrap()
            .unwrap();
        assert_eq!(
            l,
            Linkage {
                people: 4,
                linked: 0
            }
        );
        let w = linkage_warning(&l, 0.5, true).unwrap();
        assert!(w.starts_with("No one in the provider returns"), "{w}");
        let h = df!(PERSON_ID => ["a", "b", "c", "a"]).unwrap();
        let l = linkage_lazy(vec![r.clone().lazy()], vec![h.lazy()])
            .unwrap()
            .unwrap();
        assert_eq!(l.linked, 3);
        assert!(linkage_warning(&l, 0.5, true).is_none());
        // Published: 3 of 4 found are "a few"; 48 of 97 (49.5%) is 50 of 95
        // (52.6%), about 55%, not the exact share's about 50%.
        assert!(linkage_warning(&l, 0.8, false)
            .unwrap()
            .contains("(found: a few people;"));
        let said = |people, linked, min, exact| {
            linkage_warning(&Linkage { people, linked }, min, exact).unwrap()
        };
        assert!(said(97, 48, 0.8, false).contains("about 55% of people"));
        assert!(said(97, 48, 0.8, true).contains("48 of 97 people (49.5%)"));
        // 95 of 96 found, where all are expected: not "about 100%".
        assert!(said(96, 95, 1.0, false)
            .contains("(found: under 100% of people; the pipeline expects at least 100%"));
        // A limit that is not a whole percent is not rounded onto the share.
        assert!(said(1000, 523, 0.524, false)
            .contains("(found: under 52.4% of people; the pipeline expects at least 52.4%"));
    }

    #[test]
    fn people_are_found_by_key_in_a_keyed_file_and_by_id_in_another() {
        let r = df!(PERSON_ID => [Some("a"), Some("b"), Some("c"), None, Some("a")]).unwrap();
        let keyed = df!(PERSON_ID => ["c", "x"])
            .unwrap()
            .lazy()
            .with_column(crate::ingest::nhs::person_key(col(PERSON_ID)).alias(PERSON_KEY));
        let plain = df!(PERSON_ID => ["b", "y"]).unwrap().lazy();
        let l = linkage_lazy(vec![r.lazy()], vec![keyed, plain])
            .unwrap()
            .unwrap();
        assert_eq!(
            l,
            Linkage {
                people: 3,
                linked: 2
            }
        );
    }
}
