//! Known bad rows planted with `--faults`, and where they are (`faults.json`):
//! ingest must reject exactly these, or keep them with a warning.

use chrono::{Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::table::{dmy, Table};
use crate::ingest::nhs;

/// A planted bad row: where it is and what ingest must say.
#[derive(Serialize, Clone, Debug)]
pub struct Fault {
    pub file: String,
    pub line: u32,
    pub field: String,
    /// Words the reject reason must contain.
    pub reason: String,
    /// `reject` (the row is rejected) or `warning` (the row is kept, the
    /// value blanked or corrected, and the warnings table says so).
    pub severity: String,
}

/// A planted fault in a field that may be blank, or a course start date that
/// the course's other rows outvote, keeps its row with a warning.
fn severity(field: &str, reason: &str) -> &'static str {
    // The planted faults in optional fields of the returns (type checks only).
    const OPTIONAL: &[&str] = &["sex", "ethnicity", "imd_decile"];
    if OPTIONAL.contains(&field) || reason.starts_with("differs from the start date") {
        "warning"
    } else {
        "reject"
    }
}

impl Table {
    /// Plants a copy of a random row with one cell changed.
    fn plant(
        &mut self,
        rng: &mut ChaCha8Rng,
        header: &str,
        value: &str,
        field: &str,
        reason: &str,
    ) {
        // Copy a clean row, never an earlier fault.
        let src = loop {
            let i = rng.gen_range(0..self.rows.len());
            if self.faults.iter().all(|f| f.0 != i) {
                break i;
            }
        };
        let mut row = self.rows[src].clone();
        let c = self.col(header);
        row[c] = value.to_string();
        // A row kept with a warning must not also repeat its source row's referral.
        if severity(field, reason) == "warning" {
            if let Some(id) = self.header.iter().position(|h| h == "NHS Number") {
                let base = 996_000_000 + 100 * self.faults.len() as u64;
                row[id] = (0..100)
                    .find_map(|k| nhs::with_check_digit(base + k))
                    .unwrap_or_default();
            }
        }
        self.insert_fault(rng, row, field, reason);
    }

    /// Inserts a bad row at a random place, keeping the earlier faults' rows.
    fn insert_fault(&mut self, rng: &mut ChaCha8Rng, row: Vec<String>, field: &str, reason: &str) {
        let at = rng.gen_range(0..=self.rows.len());
        self.rows.insert(at, row);
        for f in self.faults.iter_mut() {
            if f.0 >= at {
                f.0 += 1;
            }
        }
        self.faults.push((at, field.into(), reason.into()));
    }

    /// Inserts a copy of the first row with the cell under `header` set to
    /// `value` (or, when it already holds `value`, to `otherwise`).
    fn insert_first_changed(
        &mut self,
        rng: &mut ChaCha8Rng,
        header: &str,
        (value, otherwise): (&str, &str),
        (field, reason): (&str, &str),
    ) {
        let c = self.col(header);
        let mut row = self.rows[0].clone();
        row[c] = if row[c] == value { otherwise } else { value }.into();
        self.insert_fault(rng, row, field, reason);
    }

    /// Appends a bad row after all the others.
    fn append_fault(&mut self, row: Vec<String>, field: &str, reason: &str) {
        self.rows.push(row);
        self.faults
            .push((self.rows.len() - 1, field.into(), reason.into()));
    }

    /// The planted faults as `faults.json` lists them (line 1 is the header).
    fn fault_list(&self) -> Vec<Fault> {
        self.faults
            .iter()
            .map(|(i, f, r)| Fault {
                file: self.name.clone(),
                line: *i as u32 + 2,
                field: f.clone(),
                reason: r.clone(),
                severity: severity(f, r).to_string(),
            })
            .collect()
    }
}

/// The tables faults are planted in, in the order they are planted.
pub(super) struct Targets<'a> {
    pub nth: &'a mut Table,
    pub els: &'a mut Table,
    pub wcp: &'a mut Table,
    pub apc: &'a mut Table,
    pub ae: &'a mut Table,
    pub op: &'a mut Table,
    pub pam: &'a mut Table,
}

/// Plants every fault; returns them in the order `faults.json` lists them.
pub(super) fn plant_all(r: &mut ChaCha8Rng, t: Targets) -> Vec<Fault> {
    let Targets {
        nth,
        els,
        wcp,
        apc,
        ae,
        op,
        pam,
    } = t;
    plant_northside(r, nth);
    els.plant(r, "Course Type", "yoga", "programme", "is not one of");
    els.plant(r, "Participant NHS No", "", "person_id", "is empty");
    let session = ("session_3", "is not 0 or 1");
    wcp.insert_first_changed(r, "wk3", ("maybe", "maybe"), session);
    // A duplicate referral goes last, after the row it repeats.
    let dup = wcp.rows[0].clone();
    wcp.append_fault(dup, "person_id", "duplicate referral");
    apc.plant(
        r,
        "ADMIDATE",
        "1801-01-01",
        "event_date",
        "sentinel 1801-01-01",
    );
    // A discharge before the admission, on a copy of the first row that has one.
    let i = apc.rows.iter().position(|x| !x[3].is_empty()).unwrap_or(0);
    let mut bad = apc.rows[i].clone();
    bad[3] = "2000-01-01".into();
    apc.insert_fault(r, bad, "discharge_date", "is before the admission date");
    ae.plant(
        r,
        "ARRIVALDATE",
        "2023-13-01",
        "event_date",
        "is not a date",
    );
    op.plant(r, "NHSNO", "1234567890", "person_id", "Modulus 11");
    pam.plant(r, "PAM Score", "130", "score", "out of range");
    let level = ("level", "does not match the score");
    pam.insert_first_changed(r, "PAM Level", ("1", "4"), level);
    pam.plant(r, "Assessment Date", "", "assessment_date", "is empty");
    let mut faults = Vec::new();
    for t in [nth, els, wcp, apc, ae, op, pam] {
        faults.extend(t.fault_list());
    }
    faults
}

/// The northside return's faults: bad values, a ragged row, and a second
/// start date for a course.
fn plant_northside(r: &mut ChaCha8Rng, nth: &mut Table) {
    // (header, value, field, reason), planted in this order.
    #[rustfmt::skip]
    const PLANTED: [(&str, &str, &str, &str); 9] = [
        ("NHS Number", "943 476 5918", "person_id", "Modulus 11"),
        ("NHS Number", "94347659", "person_id", "10-digit"),
        ("Referred On", "31/02/2024", "referral_date", "is not a date"),
        ("Referred On", "01/01/2030", "referral_date", "is after the course start date"),
        ("Gender", "X", "sex", "is not one of"),
        ("Ethnic Code", "Q", "ethnicity", "is not one of"),
        ("IMD Decile", "11", "imd_decile", "out of range"),
        ("Sessions Attended", "7", "sessions_attended", "out of range"),
        ("Course Ref", "", "course_id", "is empty"),
    ];
    for (header, value, field, reason) in PLANTED {
        nth.plant(r, header, value, field, reason);
    }
    let mut ragged = nth.rows[0].clone();
    ragged.push("stray".into());
    nth.insert_fault(r, ragged, "", "fields");
    // A second start date for a course, on a new person's row after all the course's rows.
    let (sc, nc) = (nth.col("Course Start"), nth.col("NHS Number"));
    let clean = (nth.rows.len() / 2..nth.rows.len())
        .find(|i| nth.faults.iter().all(|f| f.0 != *i))
        .unwrap_or(0);
    let mut moved = nth.rows[clean].clone();
    if let Ok(start) = NaiveDate::parse_from_str(&moved[sc], "%d/%m/%Y") {
        moved[sc] = dmy(start + Duration::days(7));
    }
    moved[nc] = (1..)
        .find_map(|k| nhs::with_check_digit(997_000_000 + k))
        .unwrap_or_default();
    let reason = "differs from the start date most rows of course";
    nth.append_fault(moved, "course_start_date", reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn table(rows: usize) -> Table {
        let mut t = Table::new("t.csv", &["NHS Number", "value"]);
        for i in 0..rows {
            t.rows.push(vec![format!("id{i}"), format!("v{i}")]);
        }
        t
    }

    #[test]
    fn only_faults_in_optional_fields_or_an_outvoted_start_date_are_warnings() {
        assert_eq!(severity("sex", "is not one of"), "warning");
        assert_eq!(severity("imd_decile", "out of range"), "warning");
        let moved = "differs from the start date most rows of course";
        assert_eq!(severity("course_start_date", moved), "warning");
        assert_eq!(severity("person_id", "Modulus 11"), "reject");
        assert_eq!(severity("", "fields"), "reject");
    }

    #[test]
    fn a_planted_fault_is_on_the_line_its_listing_names() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut t = table(20);
        t.plant(&mut rng, "value", "BAD1", "value", "is bad");
        t.plant(&mut rng, "value", "BAD2", "value", "is worse");
        t.append_fault(vec!["x".into(), "LAST".into()], "value", "is last");
        let list = t.fault_list();
        assert_eq!(list.len(), 3);
        assert_eq!(t.rows.len(), 23);
        for (f, want) in list.iter().zip(["BAD1", "BAD2", "LAST"]) {
            // Line 1 is the header, so row i is line i + 2.
            assert_eq!(t.rows[f.line as usize - 2][1], want, "{f:?}");
            assert_eq!((f.file.as_str(), f.severity.as_str()), ("t.csv", "reject"));
        }
        assert_eq!(list[2].line, 24);
    }

    #[test]
    fn a_row_kept_with_a_warning_gets_a_new_valid_nhs_number() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut t = table(5);
        t.plant(&mut rng, "value", "X", "sex", "is not one of");
        let row = &t.rows[t.faults[0].0];
        // The first warning's base is 996 000 000: weights 10..2 give
        // 9·10 + 9·9 + 6·8 = 219 = 11·19 + 10, so the check digit is 11 − 10 = 1.
        assert_eq!(row[0], "9960000001");
        assert_eq!(row[1], "X");
    }

    #[test]
    fn insert_first_changed_flips_a_value_that_already_matches() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut t = table(3);
        t.insert_first_changed(&mut rng, "value", ("v0", "other"), ("value", "r"));
        t.insert_first_changed(&mut rng, "value", ("new", "unused"), ("value", "r"));
        let planted: Vec<&str> = t.faults.iter().map(|f| t.rows[f.0][1].as_str()).collect();
        assert_eq!(planted, ["other", "new"]);
    }
}
