//! Rejected rows as CSV, to send back to the data's owners: file, line,
//! field, reason and the value found. Every text cell passes the one masking
//! function (an NHS number typed anywhere is never written).

use std::path::Path;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::ingest::nhs::mask_text;

/// The header of a rejects file.
pub const COLUMNS: [&str; 5] = ["file", "line", "field", "reason", "value"];

/// Writes every reject of every file; returns the number of rows written.
pub fn write_validate_rejects(out: &Path, files: &[(String, DataFrame)]) -> Result<usize> {
    let mut w =
        csv::Writer::from_path(out).with_context(|| format!("cannot write {}", out.display()))?;
    w.write_record(COLUMNS)?;
    let mut n = 0;
    for (path, df) in files {
        n += write_rows(&mut w, path, df)?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(n)
}

/// Writes one file's rejects (columns line, field, reason, value).
pub fn write_rows<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    path: &str,
    df: &DataFrame,
) -> Result<usize> {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let line = df.column("line")?.cast(&DataType::UInt64)?;
    let line = line.u64()?;
    let text = |c: &str| -> Result<StringChunked> {
        Ok(df.column(c)?.cast(&DataType::String)?.str()?.clone())
    };
    let (field, reason, value) = (text("field")?, text("reason")?, text("value")?);
    for i in 0..df.height() {
        w.write_record([
            mask_text(&name).into_owned(),
            line.get(i).map(|l| l.to_string()).unwrap_or_default(),
            field.get(i).unwrap_or_default().to_string(),
            mask_text(reason.get(i).unwrap_or_default()).into_owned(),
            mask_text(value.get(i).unwrap_or_default()).into_owned(),
        ])?;
    }
    Ok(df.height())
}
