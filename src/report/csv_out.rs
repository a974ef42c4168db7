//! Tables as CSV: suppressed cells read `[c]`.

use crate::disclosure::SUPPRESSED;
use std::path::Path;

use crate::error::WriteError;

use crate::metrics::Table;

/// A cell as shown in CSV, XLSX and HTML text.
pub fn shown(t: &Table, row: usize, column: &str) -> String {
    if t.is_suppressed(row, column) {
        return SUPPRESSED.into();
    }
    match t.df.column(column).map(|c| c.dtype().is_float()) {
        Ok(true) => match t.f64(row, column) {
            Some(x) if x.is_finite() => {
                let s = format!("{x:.6}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                if s == "-0" {
                    "0".into()
                } else {
                    s.to_string()
                }
            }
            _ => String::new(),
        },
        _ => t.text(row, column),
    }
}

/// Writes one tidy CSV: a single header row, then the rows (an internal
/// pack marks its files by name, `<table>-INTERNAL.csv`, not with a banner
/// row, so that `pandas.read_csv` and the like read them as they are).
pub fn write(t: &Table, path: &Path) -> Result<(), WriteError> {
    let csv_err = |source| WriteError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
    let cols = t.column_names();
    w.write_record(&cols).map_err(csv_err)?;
    for i in 0..t.height() {
        w.write_record(cols.iter().map(|c| shown(t, i, c)))
            .map_err(csv_err)?;
    }
    w.flush().map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The file name of a table's CSV.
pub fn file_name(t: &Table, internal: bool) -> String {
    if internal {
        format!("{}{}.csv", t.name, super::INTERNAL_SUFFIX)
    } else {
        format!("{}.csv", t.name)
    }
}

/// `tables/notes.txt`: what the CSVs hold and what their symbols mean.
pub fn notes(internal: bool, extra: &[String]) -> String {
    let mut s = String::new();
    if internal {
        s.push_str(super::INTERNAL_MARK);
        s.push_str(". These tables show exact figures, including small numbers that could identify people; every file name ends in -INTERNAL. Do not share them outside the organisation that holds the data.\n\n");
    }
    s.push_str("Each CSV holds one table: one header row, then one row per group, numbers as plain numbers (rates as fractions, money in pounds).\n\nSymbols:\n");
    for (sym, meaning) in super::xlsx::SYMBOLS {
        s.push_str(&format!("  {sym}  {meaning}\n"));
    }
    s.push_str("  (empty)  a figure not available in a CSV cell is left empty.\n");
    if !extra.is_empty() {
        s.push_str("\nNotes on this data:\n");
        for n in extra {
            s.push_str(&format!("  - {n}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn a_cell_is_shown_as_data_not_as_rust() {
        let mut t = Table::new(
            "t",
            "",
            df!("g" => ["a", "b", "c", "d"], "x" => [Some(0.25), Some(-0.0000001), None, Some(12.0)]).unwrap(),
        );
        t.suppressed.insert((3, "x".into()));
        // Six decimals at most, trailing zeros and a negative zero dropped,
        // a missing figure empty, a suppressed one [c].
        let shown_x: Vec<String> = (0..4).map(|i| shown(&t, i, "x")).collect();
        assert_eq!(shown_x, ["0.25", "0", "", "[c]"]);
        assert_eq!(shown(&t, 0, "g"), "a");
    }
}
