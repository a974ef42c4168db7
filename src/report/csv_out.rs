//! Tables as CSV: suppressed cells read `[c]`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::metrics::Table;

/// A cell as shown in CSV, XLSX and HTML text.
pub fn shown(t: &Table, row: usize, column: &str) -> String {
    if t.is_suppressed(row, column) {
        return "[c]".into();
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

pub fn write(t: &Table, path: &Path, internal: bool) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    let cols = t.column_names();
    if internal {
        w.write_record(
            std::iter::once("INTERNAL — not for publication".to_string()).chain(
                std::iter::repeat_n(String::new(), cols.len().saturating_sub(1)),
            ),
        )?;
    }
    w.write_record(&cols)?;
    for i in 0..t.height() {
        w.write_record(cols.iter().map(|c| shown(t, i, c)))?;
    }
    w.flush()?;
    Ok(())
}
