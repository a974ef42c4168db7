//! What the generator's parts share: a file's rows before they are written
//! (`Table`), a weighted draw, date formats, and the CSV and XLSX writers.

use crate::error::WriteError;
use std::path::Path;

use chrono::NaiveDate;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::GenerateError;

/// Rows of one output file before faults are planted: a header and cells.
pub(super) struct Table {
    pub name: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Faults planted in `rows`, by row index: (row, field, reason).
    pub faults: Vec<(usize, String, String)>,
}

impl Table {
    /// An empty table that will be written to the file `name`.
    pub fn new(name: &str, header: &[&str]) -> Self {
        Table {
            name: name.into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// The index of the column headed `h` (a header the generator wrote).
    pub fn col(&self, h: &str) -> usize {
        self.header
            .iter()
            .position(|x| x == h)
            .expect("known header")
    }
}

/// A constant date.
pub(super) fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("constant date")
}

/// A date as yyyy-mm-dd.
pub(super) fn iso(x: NaiveDate) -> String {
    x.format("%Y-%m-%d").to_string()
}

/// A date as dd/mm/yyyy.
pub(super) fn dmy(x: NaiveDate) -> String {
    x.format("%d/%m/%Y").to_string()
}

/// One item drawn with the given weights (one uniform draw from `rng`).
pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// An I/O error on `path`, for `map_err`.
pub(super) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| {
        GenerateError::Write(WriteError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A CSV error on `path`, for `map_err`.
pub(super) fn csv_at(path: &Path) -> impl FnOnce(csv::Error) -> GenerateError + '_ {
    move |source| {
        GenerateError::Write(WriteError::Csv {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Writes `t` into `dir` as CSV with `delimiter`, in Windows-1252 if asked
/// (as one provider's system does).
pub(super) fn write_csv(
    dir: &Path,
    t: &Table,
    delimiter: u8,
    windows_1252: bool,
) -> Result<(), GenerateError> {
    let path = dir.join(&t.name);
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_writer(Vec::new());
    w.write_record(&t.header).map_err(csv_at(&path))?;
    for r in &t.rows {
        w.write_record(r).map_err(csv_at(&path))?;
    }
    let buffer = w.into_inner().map_err(|e| io_at(&path)(e.into_error()))?;
    let text = String::from_utf8(buffer)
        .map_err(|e| io_at(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    let bytes = if windows_1252 {
        encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
    } else {
        text.into_bytes()
    };
    std::fs::write(&path, bytes).map_err(io_at(&path))
}

/// Writes `t` into `dir` as a workbook with one sheet, `Referrals`: the
/// `date_cols` as Excel dates, the `number_cols` as numbers, the rest as text.
pub(super) fn write_xlsx(
    dir: &Path,
    t: &Table,
    date_cols: &[&str],
    number_cols: &[&str],
) -> Result<(), GenerateError> {
    let path = dir.join(&t.name);
    let xlsx = |source| {
        GenerateError::Write(WriteError::Xlsx {
            path: path.clone(),
            source,
        })
    };
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Referrals").map_err(xlsx)?;
    for (c, h) in t.header.iter().enumerate() {
        sheet.write_string(0, c as u16, h).map_err(xlsx)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let h = t.header[c].as_str();
            let (date, number) = (date_cols.contains(&h), number_cols.contains(&h));
            write_cell(sheet, (r as u32 + 1, c as u16), v, date, number).map_err(xlsx)?;
        }
    }
    book.save(&path).map_err(xlsx)
}

/// One cell of the workbook: blank left empty, a date or a number where the
/// column holds them and the value parses, otherwise text.
fn write_cell(
    sheet: &mut rust_xlsxwriter::Worksheet,
    (r, c): (u32, u16),
    v: &str,
    date: bool,
    number: bool,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    use chrono::Datelike;
    use rust_xlsxwriter::{ExcelDateTime, Format};
    if v.is_empty() {
        return Ok(());
    }
    if date {
        if let Ok(dt) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            let x = ExcelDateTime::from_ymd(dt.year() as u16, dt.month() as u8, dt.day() as u8)?;
            let date_fmt = Format::new().set_num_format("dd/mm/yyyy");
            sheet.write_datetime_with_format(r, c, &x, &date_fmt)?;
            return Ok(());
        }
    }
    if number {
        if let Ok(n) = v.parse::<f64>() {
            sheet.write_number(r, c, n)?;
            return Ok(());
        }
    }
    sheet.write_string(r, c, v)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pick_follows_the_weights_and_never_draws_a_zero_weight() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let items = [("a", 0.75), ("never", 0.0), ("b", 0.25)];
        let n = 20_000;
        let a = (0..n).filter(|_| pick(&mut rng, &items) == "a").count();
        assert!(
            (14_400..15_600).contains(&a),
            "{a} of {n} drew a (0.75 expected)"
        );
        assert!((0..1000).all(|_| pick(&mut rng, &items) != "never"));
    }

    #[test]
    fn dates_are_written_in_both_formats() {
        assert_eq!(iso(d(2024, 2, 9)), "2024-02-09");
        assert_eq!(dmy(d(2024, 2, 9)), "09/02/2024");
    }

    #[test]
    fn a_windows_1252_csv_has_the_header_first_and_one_byte_for_a_curly_quote() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table::new("t.csv", &["a", "b"]);
        t.rows.push(vec!["Crohn’s".into(), "x;y".into()]);
        assert_eq!(t.col("b"), 1);
        write_csv(dir.path(), &t, b';', true).unwrap();
        let bytes = std::fs::read(dir.path().join("t.csv")).unwrap();
        assert_eq!(bytes, b"a;b\nCrohn\x92s;\"x;y\"\n");
    }

    #[test]
    fn a_file_that_cannot_be_written_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::new("missing/t.csv", &["a"]);
        let err = write_csv(dir.path(), &t, b',', false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot write "), "{err}");
        assert!(err.contains("missing/t.csv"), "{err}");
    }
}
