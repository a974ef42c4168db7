//! Reading one input file (CSV in UTF-8 or Windows-1252, or XLSX) into text
//! columns for the fields the pipeline maps, with the line each row came from.
//! Rows that cannot be split into the header's fields are rejects, not errors.

use std::collections::BTreeMap;
use std::path::Path;

use calamine::{Data, Reader};
use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::InputError;
use crate::pipeline::{Encoding, Format, Source};

use super::Reject;

/// One mapped column's cells as text (None for an empty cell), gathered a
/// block of rows at a time into polars text columns (16 bytes a short cell,
/// against a heap string each).
#[derive(Default)]
pub struct TextColumn {
    done: Vec<Series>,
    pending: Vec<Option<String>>,
}

/// Rows gathered as Rust strings before they move into a polars column.
const BLOCK: usize = 65_536;

impl TextColumn {
    pub fn push(&mut self, v: Option<String>) {
        self.pending.push(v);
        if self.pending.len() >= BLOCK {
            let block = std::mem::take(&mut self.pending);
            self.done.push(Series::new(PlSmallStr::EMPTY, block));
        }
    }

    /// The whole column, named.
    pub fn into_series(mut self, name: &str) -> PolarsResult<Series> {
        let mut out = Series::new(name.into(), std::mem::take(&mut self.pending));
        if let Some((first, rest)) = self.done.split_first() {
            let mut all = first.clone();
            for s in rest {
                all.append(s)?;
            }
            all.append(&out)?;
            // One chunk, as the column was read before it came in blocks.
            out = all.with_name(name.into()).rechunk();
        }
        Ok(out)
    }
}

/// The mapped columns of one file, as text (None for an empty cell).
pub struct RawTable {
    /// canonical field → cell text per accepted row.
    pub columns: BTreeMap<String, TextColumn>,
    /// The line (CSV) or sheet row (XLSX) of each row, 1-based, header = 1.
    pub lines: Vec<u32>,
    /// Rows rejected while reading (wrong number of fields).
    pub rejects: Vec<Reject>,
    /// Data rows seen, accepted here or not.
    pub rows_read: usize,
}

impl RawTable {
    /// An empty table with a column for each located field.
    fn for_columns(wanted: &[(String, usize)]) -> Self {
        RawTable {
            columns: wanted
                .iter()
                .map(|(f, _)| (f.clone(), TextColumn::default()))
                .collect(),
            lines: Vec::new(),
            rejects: Vec::new(),
            rows_read: 0,
        }
    }

    /// Adds one row from `line`: each located field's cell, as `cell(field,
    /// index)` gives it.
    fn push_row(
        &mut self,
        wanted: &[(String, usize)],
        line: u32,
        mut cell: impl FnMut(&str, usize) -> Option<String>,
    ) {
        for (field, i) in wanted {
            if let Some(c) = self.columns.get_mut(field) {
                c.push(cell(field, *i));
            }
        }
        self.lines.push(line);
    }
}

fn file_err(path: &Path, message: impl Into<String>) -> InputError {
    InputError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads `path` as `source` declares it.
pub fn read_file(path: &Path, bytes: &[u8], source: &Source) -> Result<RawTable, InputError> {
    match source.format {
        Format::Csv => read_csv(path, bytes, source),
        Format::Xlsx => read_xlsx(path, bytes, source),
    }
}

/// Finds the index of each mapped header, or says which are missing.
fn locate(
    path: &Path,
    headers: &[String],
    source: &Source,
) -> Result<Vec<(String, usize)>, InputError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (field, header) in &source.columns {
        match headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(header.trim()))
        {
            Some(i) => out.push((field.clone(), i)),
            None => missing.push(format!("\"{header}\" (for {field})")),
        }
    }
    if !missing.is_empty() {
        let shown: Vec<String> = headers
            .iter()
            .take(30)
            .map(|h| format!("\"{h}\""))
            .collect();
        return Err(file_err(
            path,
            format!(
                "missing column{} {}; the header row has {}{}",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                shown.join(", "),
                if headers.len() > 30 { ", …" } else { "" }
            ),
        ));
    }
    Ok(out)
}

fn decode(path: &Path, bytes: &[u8], source: &Source) -> Result<String, InputError> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    // A byte-order mark is dropped whether or not the pipeline declares one.
    match source.encoding {
        Encoding::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            file_err(
                path,
                format!("line {line}: the file is not UTF-8 (byte {at}); if it was saved from Excel, declare encoding = \"windows-1252\""),
            )
        }),
        Encoding::Windows1252 => Ok(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned()),
    }
}

fn clean(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Physical line numbers (1-based) from byte offsets: counts `\n` only, so
/// LF, CRLF and newlines inside quoted fields all count as the editor shows them.
struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        LineIndex {
            newlines: text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }
    fn line_at(&self, byte: usize) -> u32 {
        (self.newlines.partition_point(|&n| n < byte) + 1) as u32
    }
    /// The line a record starts on. After a CRLF the csv reader places the
    /// next record at the `\n` it has not consumed yet: a record never starts
    /// with a line break, so leading ones are skipped.
    fn record_line(&self, text: &str, byte: usize) -> u32 {
        let skip = text
            .as_bytes()
            .get(byte..)
            .map(|rest| {
                rest.iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count()
            })
            .unwrap_or(0);
        self.line_at(byte + skip)
    }
}

/// A CSV file's records in turn, each with the physical line it starts on.
struct Records<'a> {
    rdr: csv::Reader<&'a [u8]>,
    record: csv::StringRecord,
    text: &'a str,
    lines: LineIndex,
}

impl<'a> Records<'a> {
    /// The records of `text`, split at `delimiter`, header included.
    fn new(text: &'a str, delimiter: u8) -> Self {
        // The csv crate's own line count is off for CRLF files: lines come from byte offsets.
        let rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(false)
            .from_reader(text.as_bytes());
        Records {
            rdr,
            record: csv::StringRecord::new(),
            text,
            lines: LineIndex::new(text),
        }
    }

    /// The line a csv position is on (0 without one).
    fn line_of(&self, pos: Option<&csv::Position>) -> u32 {
        pos.map(|p| self.lines.record_line(self.text, p.byte() as usize))
            .unwrap_or(0)
    }

    /// Reads the next record into `self.record`; its line, or None at the end.
    fn next(&mut self) -> Result<Option<u32>, csv::Error> {
        if !self.rdr.read_record(&mut self.record)? {
            return Ok(None);
        }
        Ok(Some(self.line_of(self.record.position())))
    }
}

fn read_csv(path: &Path, bytes: &[u8], source: &Source) -> Result<RawTable, InputError> {
    let text = decode(path, bytes, source)?;
    if text.trim().is_empty() {
        return Err(file_err(path, "the file is empty (no header row)"));
    }
    let mut records = Records::new(&text, source.delimiter);
    let headers = csv_headers(path, &mut records, source.header_row)?;
    check_delimiter(path, &headers, source.delimiter as char)?;
    let wanted = locate(path, &headers, source)?;
    let mut table = RawTable::for_columns(&wanted);
    loop {
        let line = match records.next() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                let line = records.line_of(e.position());
                return Err(file_err(
                    path,
                    format!("line {line}: cannot read the row: {e}"),
                ));
            }
        };
        let record = &records.record;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue; // a blank line carries no row
        }
        table.rows_read += 1;
        if record.len() != headers.len() {
            table
                .rejects
                .push(ragged(line, record.len(), headers.len()));
            continue;
        }
        table.push_row(&wanted, line, |_, i| record.get(i).and_then(clean));
    }
    Ok(table)
}

/// The header row: the first record on or after line `header_row`.
fn csv_headers(
    path: &Path,
    records: &mut Records,
    header_row: u32,
) -> Result<Vec<String>, InputError> {
    loop {
        match records.next() {
            Ok(Some(line)) if line >= header_row => {
                return Ok(records
                    .record
                    .iter()
                    .map(|h| h.trim().to_string())
                    .collect())
            }
            Ok(Some(_)) => {}
            Ok(None) if header_row > 1 => {
                return Err(file_err(
                    path,
                    format!("no header row at or after line {header_row} (header_row)"),
                ))
            }
            Ok(None) => return Err(file_err(path, "the file is empty (no header row)")),
            Err(e) => return Err(file_err(path, format!("cannot read the header row: {e}"))),
        }
    }
}

/// A header row of one column that holds another delimiter: the pipeline
/// names the wrong delimiter.
fn check_delimiter(path: &Path, headers: &[String], delim: char) -> Result<(), InputError> {
    let [only] = headers else {
        return Ok(());
    };
    match [',', ';', '\t', '|']
        .into_iter()
        .find(|other| *other != delim && only.contains(*other))
    {
        Some(other) => Err(file_err(
            path,
            format!(
                "the header row has one column but contains {:?}: the file looks {}-separated, and the pipeline says delimiter = {:?}",
                other,
                if other == '\t' { "tab".to_string() } else { format!("{other:?}") },
                delim.to_string()
            ),
        )),
        None => Ok(()),
    }
}

/// The reject for a row with another number of fields than the header.
fn ragged(line: u32, fields: usize, header: usize) -> Reject {
    Reject {
        line,
        field: String::new(),
        reason: format!(
            "the row has {fields} fields; the header has {header} (a stray delimiter or quote?)"
        ),
        value: None,
    }
}

fn cell_text(cell: &Data, date_format: &str) -> Option<String> {
    match cell {
        Data::Empty => None,
        Data::String(s) => clean(s),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", *f as i64)),
        Data::Float(f) => Some(f.to_string()),
        Data::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        Data::DateTime(dt) => dt
            .as_datetime()
            .map(|d| d.date().format(date_format).to_string())
            .or_else(|| Some(dt.to_string())),
        Data::DateTimeIso(s) => NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
            .map(|d| d.format(date_format).to_string())
            .ok()
            .or_else(|| clean(s)),
        Data::DurationIso(s) => clean(s),
        Data::Error(e) => Some(format!("#{e:?}")),
    }
}

/// How a date cell is written before it is parsed as text is: in a year-first
/// format of the field's list where there is one (no day-first or month-first
/// format reads it, so a real date is never ambiguous), else the first.
fn cell_date_format<'a>(source: &'a Source, field: &str) -> &'a str {
    let formats = source.date_formats_for(field);
    formats
        .iter()
        .find(|(f, _)| f.starts_with("%Y"))
        .unwrap_or(&formats[0])
        .0
        .as_str()
}

fn read_xlsx(path: &Path, bytes: &[u8], source: &Source) -> Result<RawTable, InputError> {
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec()))
        .map_err(|e| file_err(path, format!("cannot open the workbook: {e}")))?;
    let sheet = match &source.sheet {
        Some(s) => s.clone(),
        None => book
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| file_err(path, "the workbook has no sheets"))?,
    };
    let range = book.worksheet_range(&sheet).map_err(|e| {
        file_err(
            path,
            format!(
                "cannot read sheet \"{sheet}\" (sheets: {}): {e}",
                book.sheet_names().join(", ")
            ),
        )
    })?;
    let start_row = range.start().map(|(r, _)| r).unwrap_or(0);
    // Rows above the declared header row (title rows) are skipped.
    let skip = (source.header_row as usize).saturating_sub(start_row as usize + 1);
    let mut rows = range.rows().skip(skip);
    let header_at = start_row + skip as u32;
    let headers: Vec<String> = match rows.next() {
        Some(h) => h
            .iter()
            .map(|c| cell_text(c, "%Y-%m-%d").unwrap_or_default())
            .collect(),
        None => {
            return Err(file_err(
                path,
                format!(
                    "sheet \"{sheet}\" has no header row at or after row {}",
                    source.header_row
                ),
            ))
        }
    };
    let wanted = locate(path, &headers, source)?;
    let mut table = RawTable::for_columns(&wanted);
    for (i, row) in rows.enumerate() {
        if row.iter().all(|c| matches!(c, Data::Empty)) {
            continue;
        }
        table.rows_read += 1;
        // Sheet rows are 1-based; the header is sheet row `header_at + 1`.
        let line = header_at + i as u32 + 2;
        table.push_row(&wanted, line, |field, col| {
            row.get(col)
                .and_then(|c| cell_text(c, cell_date_format(source, field)))
        });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "provider,course,programme,start,person,referred,sessions";

    fn read(extra: &str, bytes: &[u8]) -> Result<RawTable, InputError> {
        let p = crate::ingest::test_pipeline(extra);
        read_file(Path::new("x.csv"), bytes, &p.sources[0])
    }

    fn cells(t: RawTable, field: &str) -> Vec<Option<String>> {
        let mut columns = t.columns;
        let s = columns.remove(field).unwrap().into_series(field).unwrap();
        s.str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn a_ragged_row_is_a_reject_on_its_physical_line() {
        let text = format!(
            "{HEADER}\nA,1,generic,,p1,01/02/2024,0\nA,1,generic\n\nA,2,generic,,p2,01/02/2024,0\n"
        );
        let t = read("", text.as_bytes()).unwrap();
        // Line 4 is blank: no row. Lines 2 and 5 are kept, line 3 rejected.
        assert_eq!(t.rows_read, 3);
        assert_eq!(t.lines, [2, 5]);
        assert_eq!(t.rejects.len(), 1);
        assert_eq!(t.rejects[0].line, 3);
        assert_eq!(
            t.rejects[0].reason,
            "the row has 3 fields; the header has 7 (a stray delimiter or quote?)"
        );
    }

    #[test]
    fn a_quoted_newline_counts_as_a_line() {
        let text = format!("{HEADER}\r\n\"North\r\nside\",1,generic,,p1,01/02/2024,0\r\nB,2,generic,,p2,01/02/2024,0\r\n");
        let t = read("", text.as_bytes()).unwrap();
        // The first row spans lines 2 and 3; the next starts on line 4.
        assert_eq!(t.lines, [2, 4]);
        assert_eq!(
            cells(t, "provider_id"),
            [Some("North\r\nside".to_string()), Some("B".to_string())]
        );
    }

    #[test]
    fn a_bom_and_windows_1252_are_read() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(format!("{HEADER}\nA,1,generic,,p1,01/02/2024,0\n").as_bytes());
        let t = read("", &bytes).unwrap();
        assert_eq!(cells(t, "provider_id"), [Some("A".to_string())]);
        // 0xE9 is é in Windows-1252 and not UTF-8.
        let mut bytes = format!("{HEADER}\nCaf").into_bytes();
        bytes.extend(b"\xE9,1,generic,,p1,01/02/2024,0\n");
        let t = read("encoding = \"windows-1252\"", &bytes).unwrap();
        assert_eq!(cells(t, "provider_id"), [Some("Café".to_string())]);
        let e = read("", &bytes).err().unwrap().to_string();
        assert!(
            e.starts_with("x.csv: line 2: the file is not UTF-8 (byte"),
            "{e}"
        );
    }

    #[test]
    fn title_rows_above_the_header_are_skipped_and_a_missing_column_named() {
        let text = format!("Returns for March\n\n{HEADER}\nA,1,generic,,p1,01/02/2024,0\n");
        let t = read("header_row = 3", text.as_bytes()).unwrap();
        assert_eq!(t.lines, [4]);
        let e = read("", b"provider;course\nA;1\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("the file looks ';'-separated"), "{e}");
        let e = read("", b"provider,course\nA,1\n")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "x.csv: missing columns \"start\" (for course_start_date), \"person\" (for person_id), \"programme\" (for programme), \"referred\" (for referral_date), \"sessions\" (for sessions_attended); the header row has \"provider\", \"course\""
        );
    }
}
