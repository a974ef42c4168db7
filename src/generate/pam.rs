//! PAM scores: a baseline before the index date and, for most starters, a
//! follow-up whose gain depends on the baseline level and the provider.

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::courses::{Course, PROVIDERS};
use super::population::{Index, Referral};
use super::table::{dmy, Table};
use super::PAM_GAIN_BY_LEVEL;

/// The PAM level (1–4) of a score, at the schema's cut points.
fn level_of(score: f64) -> usize {
    if score <= crate::schema::PAM_CUT_1_2 {
        1
    } else if score <= crate::schema::PAM_CUT_2_3 {
        2
    } else if score <= crate::schema::PAM_CUT_3_4_DEFAULT {
        3
    } else {
        4
    }
}

/// A row of the PAM file: the score rounded to one decimal, and its level.
fn pam_row(nhs: &str, day: NaiveDate, score: f64) -> Vec<String> {
    let score = (score * 10.0).round() / 10.0;
    vec![
        nhs.into(),
        dmy(day),
        format!("{score:.1}"),
        level_of(score).to_string(),
    ]
}

/// The PAM file: 85% of referrals have a baseline; a follow-up for 75% of
/// completers, 40% of other starters and 10% of those who never started.
pub(super) fn pam_scores(
    rng: &mut ChaCha8Rng,
    referrals: &[Referral],
    index: &Index,
    courses: &[Course],
) -> Table {
    let normal = Normal::new(0.0, 4.0).expect("normal");
    let mut pam = Table::new(
        "pam_scores.csv",
        &["NHS Number", "Assessment Date", "PAM Score", "PAM Level"],
    );
    for r in referrals {
        let (idx, started, completer) = index[&r.nhs];
        if r.course
            != referrals
                .iter()
                .find(|x| x.nhs == r.nhs)
                .map(|x| x.course)
                .unwrap_or(r.course)
        {
            continue;
        }
        if rng.gen::<f64>() > 0.85 {
            continue;
        }
        let pre: f64 =
            (52.0f64 + 10.0 * Normal::new(0.0, 1.0).expect("normal").sample(rng)).clamp(20.0, 95.0);
        let level = level_of(pre);
        let pre_day = idx - Duration::days(rng.gen_range(0..60));
        pam.rows.push(pam_row(&r.nhs, pre_day, pre));
        let follow_up = if completer {
            0.75
        } else if started {
            0.4
        } else {
            0.1
        };
        if rng.gen::<f64>() < follow_up {
            let factor = PROVIDERS[courses[r.course].provider].pam_gain_factor;
            let gain = if started {
                PAM_GAIN_BY_LEVEL[level - 1] * factor
            } else {
                0.0
            };
            let post = (pre + gain + normal.sample(rng)).clamp(0.0, 100.0);
            let post_day = idx + Duration::days(rng.gen_range(42..180));
            pam.rows.push(pam_row(&r.nhs, post_day, post));
        }
    }
    pam
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::table::d;

    #[test]
    fn levels_follow_the_published_cut_points() {
        // Level 1 up to 47.0, 2 up to 55.1, 3 up to 67.0, then 4.
        let scores = [20.0, 47.0, 47.1, 55.1, 55.2, 67.0, 67.1];
        assert_eq!(scores.map(level_of), [1, 1, 2, 2, 3, 3, 4]);
    }

    #[test]
    fn a_row_rounds_the_score_before_taking_its_level() {
        // 47.04 rounds to 47.0 (level 1), though 47.04 itself is past the cut.
        let row = pam_row("9434765919", d(2024, 3, 7), 47.04);
        assert_eq!(row, ["9434765919", "07/03/2024", "47.0", "1"]);
        assert_eq!(pam_row("x", d(2024, 3, 7), 55.16)[2..], ["55.2", "3"]);
    }
}
