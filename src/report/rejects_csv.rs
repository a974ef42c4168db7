//! Rejected rows as CSV, to send back to the data's owners: file, line,
//! field, reason and the value found. Every text cell passes the one masking
//! function (an NHS number typed anywhere is never written).

use std::path::Path;

use polars::prelude::*;

use super::{ReportError, ReportResult};
use crate::ingest::nhs::mask_text;

/// The header of a rejects file.
pub const COLUMNS: [&str; 5] = ["file", "line", "field", "reason", "value"];

/// Writes every reject of every file (whole or not at all: through a
/// temporary file renamed into place); returns the number of rows written.
pub fn write_validate_rejects(out: &Path, files: &[(String, DataFrame)]) -> ReportResult<usize> {
    let folder = crate::files::folder_of(out);
    if !folder.is_dir() {
        let why = format!("its folder {} does not exist", folder.display());
        return Err(ReportError::file(out)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            why,
        )));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS).map_err(ReportError::file(out))?;
    let mut n = 0;
    for (path, df) in files {
        n += write_rows(&mut w, path, df).map_err(ReportError::file(out))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::file(out)(e.into_error()))?;
    crate::files::write_atomic(out, &bytes, "rejects")?;
    Ok(n)
}

/// Why a rejects file could not be written: the file, or a rejects table
/// not as ingest writes it.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("the rejects table is not as ingest writes it")]
    Frame(#[from] PolarsError),
}

/// Writes one file's rejects (columns line, field, reason, value).
pub fn write_rows<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    path: &str,
    df: &DataFrame,
) -> Result<usize, RowsError> {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let line = df.column("line")?.cast(&DataType::UInt64)?;
    let line = line.u64()?;
    let text = |c: &str| -> PolarsResult<StringChunked> {
        Ok(df.column(c)?.cast(&DataType::String)?.str()?.clone())
    };
    let (field, reason, value) = (text("field")?, text("reason")?, text("value")?);
    for i in 0..df.height() {
        w.write_record(
            [
                mask_text(&name).into_owned(),
                line.get(i).map(|l| l.to_string()).unwrap_or_default(),
                field.get(i).unwrap_or_default().to_string(),
                mask_text(reason.get(i).unwrap_or_default()).into_owned(),
                mask_text(value.get(i).unwrap_or_default()).into_owned(),
            ]
            .map(spreadsheet_safe),
        )?;
    }
    Ok(df.height())
}

/// A CSV cell as a spreadsheet will take it as text: one that begins with
/// `=`, `+`, `-`, `@`, a tab or a carriage return and is not a plain number
/// gets a leading `'`, so that a value from a provider's file
/// (`=HYPERLINK(...)`) is never run as a formula when the file is opened
/// in Excel (OWASP's advice on CSV injection). Numbers (`-1.35`) are kept.
/// Only the rejects hold values as sent: a pack's tables hold the tool's
/// own figures and words (`-0.19 (-0.48 to 0.09)`) and labels from fixed or
/// declared lists, and are written as they are.
fn spreadsheet_safe(cell: String) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.trim().parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell
    }
}

/// The file name part for a provider code or source name: letters, digits, `-` and `_`.
fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

/// `stem`, cut to `max` characters, made unlike every name in `taken`
/// whatever the case (Excel's sheet names, and file names on a
/// case-insensitive disk, are one name in any case; two provider codes can
/// also clean to one stem, `A/B` and `A:B`): `_2`, `_3`, … added where needed.
fn unique_name(stem: &str, max: usize, taken: &mut Vec<String>) -> String {
    let base: String = stem.chars().take(max).collect();
    let mut name = base.clone();
    let mut n = 1;
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
        n += 1;
        name = format!("{base}_{n}");
    }
    taken.push(name.clone());
    name
}

/// A row's own cells: (the provider's header, the value as sent).
type Cells = Vec<(String, Option<String>)>;

/// One provider's (or source's) rejected rows.
struct Group {
    /// The provider's headers, in first-seen order.
    headers: Vec<String>,
    /// The fixed columns and the row's own cells.
    rows: Vec<(Vec<String>, Cells)>,
}

/// An internal pack's feedback files: `rejects/<provider>.csv`, one per
/// provider (or per source, for hospital and PAM files), with file, line,
/// field, reason, the value found, and the row's own columns under the
/// provider's headers (identifiers, postcodes and free-text conditions left
/// out), and `rejects/rejects.xlsx` with the same rows, one sheet per
/// provider. Returns the files written.
pub fn write_feedback(
    p: &crate::pipeline::Pipeline,
    dir: &Path,
) -> ReportResult<Vec<std::path::PathBuf>> {
    let Some(df) = crate::warehouse::read_table(&p.warehouse, crate::warehouse::REJECTS)? else {
        return Ok(Vec::new());
    };
    let groups = grouped(p, &df).map_err(|source| ReportError::Table {
        table: crate::warehouse::REJECTS,
        source,
    })?;
    let out_dir = dir.join("rejects");
    std::fs::create_dir_all(&out_dir).map_err(ReportError::file(&out_dir))?;
    let mut written = Vec::new();
    let mut book = rust_xlsxwriter::Workbook::new();
    let (mut file_names, mut sheet_names) = (Vec::new(), Vec::new());
    for ((_, key), g) in groups {
        let (header, rows) = group_table(&g);
        let stem = file_stem(&key);
        let file = unique_name(&stem, 100, &mut file_names);
        let path = out_dir.join(format!("{file}.csv"));
        write_csv(&path, &header, &rows)?;
        written.push(path);

        // The same rows as one sheet per provider, an Excel Table each.
        let name = unique_name(&stem, 28, &mut sheet_names);
        write_sheet(&mut book, &name, &header, &rows, sheet_names.len())
            .map_err(ReportError::file(&out_dir.join("rejects.xlsx")))?;
    }
    if !sheet_names.is_empty() {
        let path = out_dir.join("rejects.xlsx");
        book.save(&path).map_err(ReportError::file(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// One group's rows as a CSV file under its header.
fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> ReportResult<()> {
    let mut w = csv::Writer::from_path(path).map_err(ReportError::file(path))?;
    w.write_record(header.iter().cloned().map(spreadsheet_safe))
        .map_err(ReportError::file(path))?;
    for r in rows {
        w.write_record(r.iter().cloned().map(spreadsheet_safe))
            .map_err(ReportError::file(path))?;
    }
    w.flush().map_err(ReportError::file(path))
}

/// The warehouse's rejects grouped by provider (or source), masked.
fn grouped(
    p: &crate::pipeline::Pipeline,
    df: &DataFrame,
) -> PolarsResult<std::collections::BTreeMap<(bool, String), Group>> {
    use std::collections::BTreeMap;
    let text = |c: &str| -> PolarsResult<Option<StringChunked>> {
        match df.column(c) {
            Ok(col) => Ok(Some(col.cast(&DataType::String)?.str()?.clone())),
            Err(_) => Ok(None),
        }
    };
    let (source, file, field, reason, value, provider, row) = (
        text(crate::schema::SOURCE)?,
        text(crate::schema::SOURCE_FILE)?,
        text("field")?,
        text("reason")?,
        text("value")?,
        text("provider")?,
        text("row")?,
    );
    let line = df.column("line")?.cast(&DataType::UInt64)?;
    let line = line.u64()?;
    let get = |c: &Option<StringChunked>, i: usize| -> String {
        c.as_ref()
            .and_then(|c| c.get(i))
            .map(|s| mask_text(s).into_owned())
            .unwrap_or_default()
    };
    // Group rows by provider, keeping each group's headers in first-seen order.
    let mut groups: BTreeMap<(bool, String), Group> = BTreeMap::new();
    for i in 0..df.height() {
        let src = get(&source, i);
        // A provider's rows, else the source's (a source named as a provider
        // code is still another group).
        let key = match get(&provider, i) {
            p if !p.is_empty() => (false, p),
            _ => p
                .sources
                .iter()
                .find(|s| s.name == src)
                .and_then(|s| s.constants.get(crate::schema::PROVIDER_ID).cloned())
                .map_or((true, src), |code| (false, code)),
        };
        let cells: Cells = serde_json::from_str(&get(&row, i)).unwrap_or_default();
        let name = Path::new(&get(&file, i))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let g = groups.entry(key).or_insert_with(|| Group {
            headers: Vec::new(),
            rows: Vec::new(),
        });
        for (h, _) in &cells {
            if !g.headers.contains(h) {
                g.headers.push(h.clone());
            }
        }
        g.rows.push((
            vec![
                name,
                line.get(i).map(|l| l.to_string()).unwrap_or_default(),
                get(&field, i),
                get(&reason, i),
                get(&value, i),
            ],
            cells,
        ));
    }
    Ok(groups)
}

/// A group's header (our columns, then the provider's own) and its rows.
fn group_table(g: &Group) -> (Vec<String>, Vec<Vec<String>>) {
    // A header that repeats one of ours is marked as the provider's own.
    let own: Vec<String> = g
        .headers
        .iter()
        .map(|h| {
            if COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(h)) {
                format!("{h} (as sent)")
            } else {
                h.clone()
            }
        })
        .collect();
    let header: Vec<String> = COLUMNS.iter().map(|s| s.to_string()).chain(own).collect();
    let rows: Vec<Vec<String>> = g
        .rows
        .iter()
        .map(|(fixed, cells)| {
            let extra = g.headers.iter().map(|h| {
                cells
                    .iter()
                    .find(|(k, _)| k == h)
                    .and_then(|(_, v)| v.clone())
                    .map(|v| mask_text(&v).into_owned())
                    .unwrap_or_default()
            });
            fixed.iter().cloned().chain(extra).collect()
        })
        .collect();
    (header, rows)
}

/// One group's rows as a sheet holding an Excel Table (`n` numbers its name).
fn write_sheet(
    book: &mut rust_xlsxwriter::Workbook,
    name: &str,
    header: &[String],
    rows: &[Vec<String>],
    n: usize,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let ws = book.add_worksheet();
    ws.set_name(name)?;
    for (j, h) in header.iter().enumerate() {
        ws.set_column_width(j as u16, (h.chars().count().max(8) + 2) as f64)?;
    }
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            let (row, col) = (1 + i as u32, j as u16);
            // Line numbers are numbers; everything else is kept as sent.
            match (j, v.parse::<f64>()) {
                (1, Ok(x)) => ws.write_number(row, col, x)?,
                _ => ws.write_string(row, col, v)?,
            };
        }
    }
    let last_row = rows.len().max(1) as u32;
    super::xlsx::excel_table(ws, 0, last_row, header, format!("Rejects_{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_unique_whatever_their_case() {
        let mut taken = Vec::new();
        let names: Vec<String> = ["A_B", "A_B", "abc", "ABC", "abc_2"]
            .iter()
            .map(|s| unique_name(s, 28, &mut taken))
            .collect();
        assert_eq!(names, ["A_B", "A_B_2", "abc", "ABC_2", "abc_2_2"]);
        let long = "x".repeat(40);
        let (a, b) = (
            unique_name(&long, 28, &mut taken),
            unique_name(&long, 28, &mut taken),
        );
        assert_eq!((a.len(), b.len()), (28, 30));
    }

    #[test]
    fn file_stems_are_safe_names() {
        assert_eq!(file_stem("NTH"), "NTH");
        assert_eq!(file_stem("../etc/passwd"), "___etc_passwd");
        assert_eq!(file_stem(""), "unknown");
    }

    #[test]
    fn a_reject_row_names_file_and_line_and_never_an_nhs_number() {
        let df = df!(
            "line" => [7u64],
            "field" => ["person_id"],
            "reason" => ["943 476 5919 fails the check"],
            "value" => ["9434765919"],
        )
        .unwrap();
        let mut w = csv::Writer::from_writer(Vec::new());
        let n = write_rows(&mut w, "data/returns 943-476-5919.csv", &df).unwrap();
        assert_eq!(n, 1);
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert!(text.contains(",7,person_id,"), "{text}");
        let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
        assert!(!digits.contains("9434765919"), "{text}");
    }

    #[test]
    fn a_cell_a_spreadsheet_would_run_as_a_formula_is_made_text() {
        let safe = |c: &str| spreadsheet_safe(c.to_string());
        assert_eq!(
            safe("=HYPERLINK(\"http://x/\",\"y\")"),
            "'=HYPERLINK(\"http://x/\",\"y\")"
        );
        assert_eq!(safe("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe("-2+3"), "'-2+3");
        assert_eq!(safe("\t=1"), "'\t=1");
        for kept in ["-1.35", "+4", "-0", "English", "", "[c]", "a=b"] {
            assert_eq!(safe(kept), kept);
        }
    }

    #[test]
    fn a_rejected_value_is_never_written_as_a_formula() {
        let df = df!(
            "line" => [2u64, 3],
            "field" => ["sessions_attended", "sessions_attended"],
            "reason" => ["is not a whole number", "is below 0"],
            "value" => ["=HYPERLINK(\"http://evil.example/\",\"x\")", "-2"],
        )
        .unwrap();
        let mut w = csv::Writer::from_writer(Vec::new());
        write_rows(&mut w, "a.csv", &df).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert!(text.contains(",\"'=HYPERLINK("), "{text}");
        assert!(text.ends_with(",is below 0,-2\n"), "{text}");
    }
}
