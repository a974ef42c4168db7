//! The HES-shaped hospital extract: admitted patient care (spells of one or
//! more episodes), A&E and outpatients, for the referred people (with the
//! planted effects) and for never-referred people up to the requested size.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use super::population::{Index, PersonRates};
use super::table::{csv_at, io_at, iso, pick, Table};
use super::{GenerateError, Options, AE_EFFECT, EMERGENCY_EFFECT, REFERRAL_BUMP};
use crate::ingest::nhs;

/// The three files of the extract, or what is left of them to write.
pub(super) struct Extract {
    pub apc: Table,
    pub ae: Table,
    pub op: Table,
    /// Written already, as it was made: nothing is left in the tables.
    pub streamed: bool,
}

/// Poisson draws of event days in [from, to) at `rate_per_year`.
fn events(
    rng: &mut ChaCha8Rng,
    from: NaiveDate,
    to: NaiveDate,
    rate_per_year: f64,
) -> Vec<NaiveDate> {
    let days = (to - from).num_days();
    if days <= 0 || rate_per_year <= 0.0 {
        return Vec::new();
    }
    let mean = rate_per_year * days as f64 / 365.0;
    let n = Poisson::new(mean)
        .map(|p| p.sample(rng) as usize)
        .unwrap_or(0);
    (0..n)
        .map(|_| from + Duration::days(rng.gen_range(0..days)))
        .collect()
}

/// A referred person's events of one kind across the extract: the usual rate,
/// `1 + REFERRAL_BUMP` times it in the year before the index date, and
/// `post_factor` times it in the year after.
fn bumped_events(
    rng: &mut ChaCha8Rng,
    coverage: (NaiveDate, NaiveDate),
    index: NaiveDate,
    rate: f64,
    post_factor: f64,
) -> Vec<NaiveDate> {
    let year = Duration::days(365);
    let (pre, post) = (index - year, index + year);
    let mut out = events(rng, coverage.0, pre, rate);
    out.extend(events(rng, pre, index, rate * (1.0 + REFERRAL_BUMP)));
    out.extend(events(rng, index, post, rate * post_factor));
    out.extend(events(rng, post, coverage.1 + Duration::days(1), rate));
    out.retain(|d| *d <= coverage.1);
    out
}

/// One admission: a spell of 1–3 episodes; only the last has a discharge date.
fn add_spell(rng: &mut ChaCha8Rng, apc: &mut Table, nhs: &str, day: NaiveDate, method: &str) {
    let los = if method.starts_with('2') {
        (rng.gen::<f64>() * 8.0).floor() as i64
    } else {
        rng.gen_range(0..3)
    };
    let episodes = pick(rng, &[(1usize, 0.9), (2, 0.08), (3, 0.02)]);
    for e in 1..=episodes {
        let dis = if e == episodes {
            iso(day + Duration::days(los))
        } else {
            String::new()
        };
        apc.rows.push(vec![
            nhs.into(),
            "RXX".into(),
            iso(day),
            dis,
            method.into(),
            e.to_string(),
        ]);
    }
}

const EMERGENCY_CODES: [&str; 8] = ["21", "21", "21", "22", "23", "24", "28", "2A"];
const AE_DEPARTMENTS: [(&str, f64); 3] = [("01", 0.8), ("03", 0.15), ("99", 0.05)];
const OP_ATTENDED: [(&str, f64); 6] = [
    ("5", 0.8),
    ("6", 0.03),
    ("3", 0.08),
    ("2", 0.03),
    ("4", 0.05),
    ("7", 0.01),
];

/// The referred people's hospital use: emergency admissions and A&E bumped
/// before the index date and cut after it for starters; the rest unchanged.
fn referred_events(
    rng: &mut ChaCha8Rng,
    coverage: (NaiveDate, NaiveDate),
    index: &Index,
    rates: &BTreeMap<String, PersonRates>,
) -> [Table; 3] {
    let header = [
        "NHSNO", "PROCODE3", "ADMIDATE", "DISDATE", "ADMIMETH", "EPIORDER",
    ];
    let mut apc = Table::new("hes_apc.csv", &header);
    let mut ae = Table::new("hes_ae.csv", &["NHSNO", "ARRIVALDATE", "AEDEPTTYPE"]);
    let mut op = Table::new("hes_op.csv", &["NHSNO", "APPTDATE", "ATTENDED"]);
    let after_end = coverage.1 + Duration::days(1);
    for (nhs, (idx, started, _)) in index {
        let r = &rates[nhs];
        let factor = |e: f64| if *started { 1.0 - e } else { 1.0 };
        let em = bumped_events(rng, coverage, *idx, r.emergency, factor(EMERGENCY_EFFECT));
        for day in em {
            let m = EMERGENCY_CODES[rng.gen_range(0..EMERGENCY_CODES.len())];
            add_spell(rng, &mut apc, nhs, day, m);
        }
        for day in events(rng, coverage.0, after_end, r.elective) {
            let m = ["11", "12", "13"][rng.gen_range(0..3)];
            add_spell(rng, &mut apc, nhs, day, m);
        }
        for day in bumped_events(rng, coverage, *idx, r.ae, factor(AE_EFFECT)) {
            let dept = pick(rng, &AE_DEPARTMENTS);
            ae.rows.push(vec![nhs.clone(), iso(day), dept.into()]);
        }
        for day in events(rng, coverage.0, after_end, r.outpatient) {
            let attended = pick(rng, &OP_ATTENDED);
            op.rows.push(vec![nhs.clone(), iso(day), attended.into()]);
        }
    }
    [apc, ae, op]
}

/// Above this many hospital rows the extract is written as it is made, in
/// batches of a tenth of this (2M rows), so memory stays flat at any size.
pub const STREAM_ABOVE: usize = 20_000_000;

/// The first nine digits of the `k`-th (from 1) never-referred person's NHS
/// number: 998 000 001… for the first million (as the committed sample was
/// made); then 900 000 000 to 995 999 999, round again after 96 million. Always
/// nine digits (an earlier 998 000 000 + k overflowed to ten, making 11-digit
/// "NHS numbers" past k = 2 million that ingest rightly rejected), and clear of
/// the referred people's 999…, the faults' 997… and the warned rows' 996….
pub fn background_first_nine(k: u64) -> u64 {
    if k < 1_000_000 {
        998_000_000 + k
    } else {
        900_000_000 + (k - 1_000_000) % 96_000_000
    }
}

/// HES extracts come in no particular order; keep episodes of a spell together.
fn sort_hes(t: &mut Table) {
    t.rows.sort_by(|a, b| (&a[1], &a[0]).cmp(&(&b[1], &b[0])));
}

/// The open files of a streamed extract, one a table.
type Sinks = Vec<(csv::Writer<File>, std::path::PathBuf)>;

/// Sorts and appends each table's rows to its file; the rows written.
fn flush_batch(sinks: &mut Sinks, tables: [&mut Table; 3]) -> Result<usize, GenerateError> {
    let mut n = 0;
    for ((w, path), t) in sinks.iter_mut().zip(tables) {
        sort_hes(t);
        n += t.rows.len();
        for r in t.rows.drain(..) {
            w.write_record(&r).map_err(csv_at(path))?;
        }
    }
    Ok(n)
}

/// Opens the three files of a streamed extract and writes each header.
fn open_sinks(dir: &Path, tables: [&Table; 3]) -> Result<Sinks, GenerateError> {
    let mut sinks = Vec::new();
    for t in tables {
        let path = dir.join(&t.name);
        let mut w = csv::Writer::from_path(&path).map_err(csv_at(&path))?;
        w.write_record(&t.header).map_err(csv_at(&path))?;
        sinks.push((w, path));
    }
    Ok(sinks)
}

/// The whole extract: the referred people's rows, then never-referred people
/// up to `opts.hospital_rows`. A very large extract (W-national) is written as
/// it is made, a batch of rows at a time, so memory stays flat: the referred
/// people's rows first, then each batch sorted on its own (the same rows as a
/// small extract would hold, in another order). Faults need every row in
/// memory, so not with them.
pub(super) fn make_extract(
    rng: &mut ChaCha8Rng,
    coverage: (NaiveDate, NaiveDate),
    (index, rates): (&Index, &BTreeMap<String, PersonRates>),
    opts: &Options,
) -> Result<Extract, GenerateError> {
    let [mut apc, mut ae, mut op] = referred_events(rng, coverage, index, rates);
    let streamed = !opts.faults && opts.hospital_rows > opts.stream_above;
    let batch = (opts.stream_above / 10).max(1);
    let mut written = 0usize;
    let mut sinks = if streamed {
        let mut sinks = open_sinks(&opts.out, [&apc, &ae, &op])?;
        written += flush_batch(&mut sinks, [&mut apc, &mut ae, &mut op])?;
        Some(sinks)
    } else {
        None
    };
    let mut background = 0u64;
    while written + apc.rows.len() + ae.rows.len() + op.rows.len() < opts.hospital_rows {
        let nhs = loop {
            background += 1;
            if let Some(n) = nhs::with_check_digit(background_first_nine(background)) {
                break n;
            }
        };
        let day =
            coverage.0 + Duration::days(rng.gen_range(0..(coverage.1 - coverage.0).num_days()));
        match rng.gen_range(0..3) {
            0 => add_spell(rng, &mut apc, &nhs, day, "21"),
            1 => ae.rows.push(vec![nhs, iso(day), "01".into()]),
            _ => op.rows.push(vec![nhs, iso(day), "5".into()]),
        }
        if let Some(sinks) = sinks.as_mut() {
            if apc.rows.len() + ae.rows.len() + op.rows.len() >= batch {
                written += flush_batch(sinks, [&mut apc, &mut ae, &mut op])?;
            }
        }
    }
    if let Some(mut sinks) = sinks.take() {
        flush_batch(&mut sinks, [&mut apc, &mut ae, &mut op])?;
        for (w, path) in sinks.iter_mut() {
            w.flush().map_err(io_at(path))?;
        }
    } else {
        for t in [&mut apc, &mut ae, &mut op] {
            sort_hes(t);
        }
    }
    Ok(Extract {
        apc,
        ae,
        op,
        streamed,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{generate, Options};
    use super::*;
    use crate::generate::table::d;
    use rand::SeedableRng;

    #[test]
    fn a_streamed_extract_holds_the_same_rows_as_one_made_in_memory() {
        let make = |stream_above: usize| {
            let dir = tempfile::tempdir().unwrap();
            generate(&Options {
                out: dir.path().to_path_buf(),
                participants: 60,
                hospital_rows: 3000,
                seed: 7,
                faults: false,
                confounded: None,
                stream_above,
            })
            .unwrap();
            let read = |f: &str| -> Vec<String> {
                let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
                let mut lines: Vec<String> = text.lines().map(String::from).collect();
                let header = lines.remove(0);
                lines.sort();
                lines.insert(0, header);
                lines
            };
            (read("hes_apc.csv"), read("hes_ae.csv"), read("hes_op.csv"))
        };
        let (in_memory, streamed) = (make(usize::MAX), make(100));
        assert_eq!(in_memory, streamed, "the same rows, in another order");
        let rows = in_memory.0.len() + in_memory.1.len() + in_memory.2.len() - 3;
        assert!(
            (3000..3010).contains(&rows),
            "{rows} rows (a spell may end past the target)"
        );
    }

    #[test]
    fn background_ids_are_valid_ten_digit_nhs_numbers_clear_of_the_others() {
        let mut seen = std::collections::HashSet::new();
        let ks = (1..3_000_000u64)
            .step_by(997)
            .chain([999_999, 1_000_000, 1_999_999, 2_000_000, 2_000_001])
            .chain([96_999_999, 97_000_000, 97_000_001, 99_000_000, 150_000_000]);
        for k in ks {
            let nine = background_first_nine(k);
            assert!(
                (100_000_000..1_000_000_000).contains(&nine),
                "k={k}: {nine}"
            );
            assert!(
                ![999, 997, 996].contains(&(nine / 1_000_000)),
                "k={k}: {nine} is in a range the referred people or faults use"
            );
            if let Some(n) = nhs::with_check_digit(nine) {
                assert_eq!(n.len(), 10, "k={k}: {n}");
                assert!(n.bytes().all(|b| b.is_ascii_digit()));
            }
            // One-to-one below the wrap.
            if k < 97_000_000 {
                assert!(seen.insert(nine), "k={k}: {nine} repeats");
            }
        }
    }

    #[test]
    fn hand_picked_background_ids() {
        let ks = [1, 999_999, 1_000_000, 97_000_000];
        let nines = [998_000_001, 998_999_999, 900_000_000, 900_000_000];
        assert_eq!(ks.map(background_first_nine), nines);
    }

    #[test]
    fn events_stay_in_their_window_and_a_zero_rate_gives_none() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (from, to) = (d(2021, 1, 1), d(2022, 1, 1));
        assert!(events(&mut rng, from, to, 0.0).is_empty());
        assert!(events(&mut rng, to, from, 5.0).is_empty());
        let e = events(&mut rng, from, to, 50.0);
        assert!(
            (25..=80).contains(&e.len()),
            "{} events at 50 a year",
            e.len()
        );
        assert!(e.iter().all(|x| (from..to).contains(x)));
    }

    #[test]
    fn a_spell_has_one_discharge_date_on_its_last_episode() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut apc = Table::new("a", &["NHSNO", "PROCODE3", "ADMIDATE", "DISDATE", "M", "E"]);
        for _ in 0..200 {
            add_spell(&mut rng, &mut apc, "x", d(2023, 5, 1), "21");
        }
        for (i, row) in apc.rows.iter().enumerate() {
            let last = apc.rows.get(i + 1).is_none_or(|next| next[5] == "1");
            assert_eq!(!row[3].is_empty(), last, "row {i}: {row:?}");
            assert_eq!(row[2], "2023-05-01");
        }
        // Emergency stays are 0–7 days.
        assert!(apc
            .rows
            .iter()
            .all(|r| r[3].is_empty() || r[3].as_str() <= "2023-05-08"));
    }
}
