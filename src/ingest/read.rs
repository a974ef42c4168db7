//! Reading one input file (CSV in UTF-8 or Windows-1252, or XLSX) into text
//! columns for the fields the pipeline maps, with the line each row came from.
//! Rows that cannot be split into the header's fields are rejects, not errors.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use calamine::{Data, Reader};
use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::InputError;
use crate::pipeline::{Encoding, Format, Source};

use super::Reject;

/// One mapped column's cells as text (None for an empty cell), built
/// straight into a polars text column: no heap string per cell.
pub struct TextColumn {
    done: Vec<StringChunked>,
    building: StringChunkedBuilder,
}

impl Default for TextColumn {
    fn default() -> Self {
        TextColumn {
            done: Vec::new(),
            building: StringChunkedBuilder::new(PlSmallStr::EMPTY, 0),
        }
    }
}

impl TextColumn {
    pub fn push(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.building.append_value(v),
            None => self.building.append_null(),
        }
    }

    /// Appends another column's cells after these (a later part of the file).
    fn append(&mut self, mut other: TextColumn) {
        let mine = std::mem::take(self);
        self.done = mine.done;
        self.done.push(mine.building.finish());
        self.done.append(&mut other.done);
        self.building = other.building;
    }

    /// The whole column, named, in one chunk.
    pub fn into_series(self, name: &str) -> PolarsResult<Series> {
        let mut parts = self.done;
        parts.push(self.building.finish());
        let mut parts = parts.into_iter().filter(|p| !p.is_empty());
        let mut out = match parts.next() {
            Some(first) => first,
            None => StringChunked::full_null(PlSmallStr::EMPTY, 0),
        };
        for p in parts {
            out.append(&p)?;
        }
        Ok(out.with_name(name.into()).into_series().rechunk())
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
    fn push_row<'c>(
        &mut self,
        wanted: &[(String, usize)],
        line: u32,
        mut cell: impl FnMut(&str, usize) -> Option<std::borrow::Cow<'c, str>>,
    ) {
        for (field, i) in wanted {
            if let Some(c) = self.columns.get_mut(field) {
                c.push(cell(field, *i).as_deref());
            }
        }
        self.lines.push(line);
    }

    /// Appends the rows of a later part of the same file.
    fn append(&mut self, other: RawTable) {
        for (field, column) in other.columns {
            if let Some(mine) = self.columns.get_mut(&field) {
                mine.append(column);
            }
        }
        self.lines.extend(other.lines);
        self.rejects.extend(other.rejects);
        self.rows_read += other.rows_read;
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

/// Characters that take no room: a header holding one looks like one without.
const ZERO_WIDTH: [char; 5] = ['\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}'];

/// A header as it is matched: zero-width characters removed, every run of
/// white space (any Unicode space) one space, trimmed, case folded.
/// `Course\u{a0}Start`, `Course  Start` and `course start` are one header.
fn header_key(h: &str) -> String {
    let visible = h.replace(ZERO_WIDTH, "");
    visible
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A header as a message shows it: a space other than a plain one, a
/// zero-width or a control character written as its code (`\u{a0}`), so
/// two headers that look alike can be told apart.
fn shown_header(h: &str) -> String {
    let unseen =
        |c: char| c != ' ' && (c.is_whitespace() || c.is_control() || ZERO_WIDTH.contains(&c));
    h.chars()
        .map(|c| match unseen(c) {
            true => format!("\\u{{{:x}}}", c as u32),
            false => c.to_string(),
        })
        .collect()
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
        let at: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| header_key(h) == header_key(header))
            .map(|(i, _)| i + 1)
            .collect();
        match at[..] {
            [i] => out.push((field.clone(), i - 1)),
            [] => missing.push(format!("\"{header}\" (for {field})")),
            _ => {
                let columns: Vec<String> = at.iter().map(|i| i.to_string()).collect();
                return Err(file_err(
                    path,
                    format!(
                        "the header row has \"{header}\" (for {field}) more than once (columns {}): rename the one not to use",
                        columns.join(" and ")
                    ),
                ));
            }
        }
    }
    if !missing.is_empty() {
        let shown: Vec<String> = headers
            .iter()
            .take(30)
            .map(|h| format!("\"{}\"", shown_header(h)))
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

/// What a file that is not CSV text looks like, from its first bytes: an
/// analyst's words for it and what to do, or None for text.
pub(crate) fn not_text(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(8192)];
    if head.starts_with(b"PK\x03\x04") {
        Some("it looks like an XLSX workbook (a zip file), not CSV text: declare format = \"xlsx\" for its source, or save it as CSV")
    } else if head.starts_with(b"\xD0\xCF\x11\xE0") {
        Some("it looks like an old Excel .xls workbook, not CSV text: save it as .xlsx or CSV")
    } else if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        Some("it is UTF-16 text (Excel's \"Unicode Text\"), not CSV: save it as \"CSV UTF-8\"")
    } else if head.iter().filter(|b| **b == 0).count() > head.len() / 64 {
        // Many NULs: a binary file (one stray NUL in a cell is the row's problem).
        Some("it is not a text file (it holds NUL bytes): check that it is the CSV export")
    } else {
        None
    }
}

fn decode<'b>(path: &Path, bytes: &'b [u8], source: &Source) -> Result<Cow<'b, str>, InputError> {
    if let Some(why) = not_text(bytes) {
        return Err(file_err(path, why));
    }
    let whole = bytes.len();
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    // A byte-order mark is dropped whether or not the pipeline declares one.
    match source.encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
            let at = e.valid_up_to();
            let line = newlines(&bytes[..at]).count() + 1;
            file_err(
                path,
                format!("line {line}: the file is not UTF-8 (byte 0x{:02X}, {} bytes from the file's start); if it was saved from Excel, declare encoding = \"windows-1252\"", bytes[at], at + whole - bytes.len()),
            )
        }),
        Encoding::Windows1252 => Ok(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0),
    }
}

/// A cell's text trimmed, or None when nothing is left.
fn clean(s: &str) -> Option<Cow<'_, str>> {
    let t = s.trim();
    (!t.is_empty()).then_some(Cow::Borrowed(t))
}

/// Physical line numbers (1-based) from byte offsets in a part of the file
/// that starts on line `first`: counts line breaks ([`newlines`]: LF, CRLF
/// and a lone CR each once), inside quoted fields too, as an editor shows them.
struct LineIndex {
    first: u32,
    newlines: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str, first: u32) -> Self {
        LineIndex {
            first,
            newlines: newlines(text.as_bytes()).collect(),
        }
    }
    fn line_at(&self, byte: usize) -> u32 {
        self.first + self.newlines.partition_point(|&n| n < byte) as u32
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

/// A CSV text's records in turn, each with the physical line it starts on.
struct Records<'a> {
    rdr: csv::Reader<&'a [u8]>,
    record: csv::StringRecord,
    text: &'a str,
    /// Where in `text` the reader started (after a stray quote's line, the
    /// next line: [`Records::resume_after_line`]); its positions are from there.
    base: usize,
    delimiter: u8,
    lines: LineIndex,
}

/// A csv reader of `bytes`, split at `delimiter`, every record however many
/// fields it has (a ragged row is rejected by its count, not by the reader).
fn csv_reader(bytes: &[u8], delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes)
}

impl<'a> Records<'a> {
    /// The records of `text` (a file, or a part of one that starts a record
    /// on line `first`), split at `delimiter`.
    fn new(text: &'a str, delimiter: u8, first: u32) -> Self {
        // The csv crate's own line count is off for CRLF files: lines come from byte offsets.
        Records {
            rdr: csv_reader(text.as_bytes(), delimiter),
            record: csv::StringRecord::new(),
            text,
            base: 0,
            delimiter,
            lines: LineIndex::new(text, first),
        }
    }

    /// The byte offset in `text` of a reader's position.
    fn at(&self, pos: &csv::Position) -> usize {
        self.base + pos.byte() as usize
    }

    /// The line a csv position is on (0 without one).
    fn line_of(&self, pos: Option<&csv::Position>) -> u32 {
        pos.map(|p| self.lines.record_line(self.text, self.at(p)))
            .unwrap_or(0)
    }

    /// The last line of the record just read when it spans lines and reads
    /// as rows swallowed by a stray quote: an odd number of quotes in its
    /// text (a quote never closed); a line of a field with a line break that
    /// holds a whole row's delimiters, or, after the break, in the field of
    /// column k (k ≥ 2), at least k of them (the next row's first k fields,
    /// up to a stray quote closing the field in the same column); or another
    /// number of fields than the header's. None for a record on one line, or
    /// a quoted field with line breaks that is well formed.
    fn swallowed(&self, header_len: usize) -> Option<u32> {
        let fields = self.record.as_byte_record().as_slice();
        if !fields.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            return None;
        }
        let start = self.at(self.record.position()?);
        let end = self.at(self.rdr.position()).min(self.text.len());
        let span = self.text.as_bytes().get(start..end)?;
        let span = span.trim_ascii_end();
        let quotes = span.iter().filter(|b| **b == b'"').count();
        let delimiter = self.delimiter;
        let delimiters = |l: &str| l.bytes().filter(|b| *b == delimiter).count();
        let whole_row = |l: &str| delimiters(l) + 1 >= header_len.max(2);
        let row_like = self.record.iter().enumerate().any(|(k, f)| {
            let mut lines = f.split(['\n', '\r']);
            let first = lines.next().unwrap_or_default();
            let broken = f.contains(['\n', '\r']);
            (broken && whole_row(first))
                || lines.any(|l| whole_row(l) || (k >= 2 && delimiters(l) >= k))
        });
        let ragged = self.record.len() != header_len;
        (quotes % 2 == 1 || row_like || ragged).then(|| self.lines.line_at(start + span.len()))
    }

    /// Reads on from the line after the one the record just read starts on
    /// (a stray quote's line, rejected alone). The lines of the text stay
    /// indexed once, so a file with many stray quotes is read in one pass.
    fn resume_after_line(&mut self) {
        let start = self.record.position().map_or(self.base, |p| self.at(p));
        let rest = self.text.as_bytes().get(start..).unwrap_or_default();
        // A record never starts with a line break (see `record_line`).
        let lead = rest
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let next = newlines(&rest[lead..])
            .next()
            .map_or(self.text.len(), |i| start + lead + i + 1);
        self.rdr = csv_reader(&self.text.as_bytes()[next..], self.delimiter);
        self.base = next;
    }

    /// Reads the next record into `self.record`; its line, or None at the end.
    fn next(&mut self) -> Result<Option<u32>, csv::Error> {
        if !self.rdr.read_record(&mut self.record)? {
            return Ok(None);
        }
        Ok(Some(self.line_of(self.record.position())))
    }

    /// The byte offset where the next record starts.
    fn offset(&self) -> usize {
        self.at(self.rdr.position())
    }
}

/// How many parts a large file's rows are read in, side by side: polars'
/// thread count (`POLARS_MAX_THREADS`), else the machine's cores.
pub(super) fn reading_threads() -> usize {
    std::env::var("POLARS_MAX_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1)
}

/// `f` over each of `parts`, one thread each (on this thread when there is
/// only one), the results in order.
pub(super) fn side_by_side<P: Sync, R: Send>(parts: &[P], f: impl Fn(&P) -> R + Sync) -> Vec<R> {
    if parts.len() <= 1 {
        return parts.iter().map(f).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts.iter().map(|p| s.spawn(|| f(p))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The byte offsets of the line breaks in `bytes`: each `\n`, and each `\r`
/// not followed by one (an old Mac line end, which the csv reader also ends
/// a record at), so CRLF is one break.
fn newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, b)| match b {
            b'\n' => true,
            b'\r' => bytes.get(i + 1) != Some(&b'\n'),
            _ => false,
        })
        .map(|(i, _)| i)
}

/// Below this many bytes of rows a file is read in one part.
const PART_BYTES: usize = 4 << 20;

/// The rows after the header split into parts that each start a record:
/// (part, its first line). A file with a quote anywhere in its rows is one
/// part (a quoted field may hold a line break); else parts end at line breaks.
fn row_parts(rows: &str, first: u32, threads: usize, part_bytes: usize) -> Vec<(&str, u32)> {
    let n = (rows.len() / part_bytes.max(1)).clamp(1, threads);
    if n == 1 || rows.as_bytes().contains(&b'"') {
        return vec![(rows, first)];
    }
    let mut parts = Vec::with_capacity(n);
    let (mut start, mut line) = (0, first);
    for k in 1..=n {
        let end = if k == n {
            rows.len()
        } else {
            let target = (rows.len() * k / n).max(start);
            match rows.as_bytes()[target..].iter().position(|b| *b == b'\n') {
                Some(i) => target + i + 1,
                None => rows.len(),
            }
        };
        if end > start {
            let part = &rows[start..end];
            parts.push((part, line));
            line += newlines(part.as_bytes()).count() as u32;
        }
        start = end;
    }
    parts
}

/// Reads the rows of one part: blank lines (and rows of empty cells as
/// wide as the header) skipped, rows with another number of fields than the
/// header's rejected, the rest kept.
fn read_rows(
    path: &Path,
    part: &str,
    first: u32,
    delimiter: u8,
    header_len: usize,
    wanted: &[(String, usize)],
) -> Result<RawTable, InputError> {
    let mut records = Records::new(part, delimiter, first);
    let mut table = RawTable::for_columns(wanted);
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
        // A blank line, or a row of empty cells as wide as the header (a
        // spreadsheet's empty row), carries no row; empty cells of another
        // number are read, and rejected as a row of the wrong width.
        let blank = record.len() == 1 || record.len() == header_len;
        if blank && record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        table.rows_read += 1;
        if let Some(last) = records.swallowed(header_len) {
            // Only the stray quote's own line is lost: the lines it would
            // have taken in are read again as rows of their own.
            table.rejects.push(unclosed_quote(line, last));
            records.resume_after_line();
            continue;
        }
        if record.len() != header_len {
            table.rejects.push(ragged(line, record.len(), header_len));
            continue;
        }
        table.push_row(wanted, line, |_, i| record.get(i).and_then(clean));
    }
    Ok(table)
}

fn read_csv(path: &Path, bytes: &[u8], source: &Source) -> Result<RawTable, InputError> {
    read_csv_in(path, bytes, source, reading_threads(), PART_BYTES)
}

/// `read_csv` with a file of at least `part_bytes` of rows read in up to
/// `threads` parts side by side (the same rows, lines and rejects as one).
fn read_csv_in(
    path: &Path,
    bytes: &[u8],
    source: &Source,
    threads: usize,
    part_bytes: usize,
) -> Result<RawTable, InputError> {
    let text = decode(path, bytes, source)?;
    let rows = csv_rows(path, &text, source)?;
    rows.read(path, source, rows.text, rows.first, threads, part_bytes)
}

/// Lines searched for the header row after the line it is declared on.
const HEAD_LINES: usize = 1000;

/// The byte offset just after the `n`th line break of `text` (its end when
/// it has fewer).
fn line_end(text: &str, n: usize) -> usize {
    newlines(text.as_bytes())
        .nth(n.saturating_sub(1))
        .map(|i| i + 1)
        .unwrap_or(text.len())
}

/// A CSV file's rows after its header, and where its fields are.
struct CsvRows<'t> {
    /// The text after the header row.
    text: &'t str,
    /// The line `text` starts on.
    first: u32,
    header_len: usize,
    wanted: Vec<(String, usize)>,
}

/// Rows searched below the declared header row for the mapped headers.
const HINT_ROWS: usize = 50;

/// A "missing columns" error with the line the mapped headers are on, where
/// one of the next rows (`rows`: each line and its cells) holds them all
/// (title rows above the header), and the setting that reads it.
fn with_header_line(
    e: InputError,
    source: &Source,
    rows: impl Iterator<Item = (u32, Vec<String>)>,
) -> InputError {
    let InputError::File { path, message } = e else {
        return e;
    };
    let found = rows
        .take(source.header_row as usize + HINT_ROWS)
        .find(|(line, headers)| {
            *line > source.header_row && locate(&path, headers, source).is_ok()
        });
    let message = match (message.starts_with("missing column"), found) {
        (true, Some((n, _))) => {
            format!("{message}; the headers are on line {n}: set header_row = {n} for this source")
        }
        _ => message,
    };
    InputError::File { path, message }
}

/// The first rows of a CSV text: each line and its cells, trimmed.
fn csv_head_rows(head: &str, delimiter: u8) -> impl Iterator<Item = (u32, Vec<String>)> + '_ {
    let mut records = Records::new(head, delimiter, 1);
    std::iter::from_fn(move || {
        let line = records.next().ok().flatten()?;
        Some((
            line,
            records
                .record
                .iter()
                .map(|h| h.trim().to_string())
                .collect(),
        ))
    })
}

/// Finds the header row of a CSV text and the mapped fields in it.
fn csv_rows<'t>(path: &Path, text: &'t str, source: &Source) -> Result<CsvRows<'t>, InputError> {
    if text.trim().is_empty() {
        return Err(file_err(path, "the file is empty (no header row)"));
    }
    // The header is found in the first lines (their line breaks indexed, not
    // the whole file's), unless it runs past them.
    let head = &text[..line_end(text, source.header_row as usize + HEAD_LINES)];
    let mut records = Records::new(head, source.delimiter, 1);
    let found = csv_headers(path, &mut records, source.header_row);
    let headers = match found {
        Ok(h) if records.offset() < head.len() || head.len() == text.len() => h,
        Err(e) if head.len() == text.len() => return Err(e),
        _ => {
            records = Records::new(text, source.delimiter, 1);
            csv_headers(path, &mut records, source.header_row)?
        }
    };
    check_delimiter(path, &headers, source.delimiter as char)?;
    let wanted = locate(path, &headers, source)
        .map_err(|e| with_header_line(e, source, csv_head_rows(head, source.delimiter)))?;
    let at = records.offset();
    Ok(CsvRows {
        text: &text[at..],
        first: records.lines.line_at(at),
        header_len: headers.len(),
        wanted,
    })
}

impl CsvRows<'_> {
    /// Reads `rows` (a stretch of `self.text` starting on line `first`) in
    /// up to `threads` parts side by side.
    fn read(
        &self,
        path: &Path,
        source: &Source,
        rows: &str,
        first: u32,
        threads: usize,
        part_bytes: usize,
    ) -> Result<RawTable, InputError> {
        let parts = row_parts(rows, first, threads, part_bytes);
        let read = |(part, first): &(&str, u32)| {
            read_rows(
                path,
                part,
                *first,
                source.delimiter,
                self.header_len,
                &self.wanted,
            )
        };
        let tables = side_by_side(&parts, read);
        let mut out = RawTable::for_columns(&self.wanted);
        for t in tables {
            out.append(t?);
        }
        Ok(out)
    }
}

/// Reads `path` a batch of rows at a time, about `batch_bytes` of CSV each,
/// handing each batch to `each` in line order: memory follows the batch, not
/// the file. An XLSX file, or a CSV file with a quote anywhere in its rows (a
/// quoted field may hold a line break), is one batch.
pub fn read_batches<E: From<InputError>>(
    path: &Path,
    bytes: &[u8],
    source: &Source,
    batch_bytes: usize,
    mut each: impl FnMut(RawTable) -> Result<(), E>,
) -> Result<(), E> {
    if source.format == Format::Xlsx {
        return each(read_xlsx(path, bytes, source)?);
    }
    let text = decode(path, bytes, source)?;
    let rows = csv_rows(path, &text, source)?;
    for (batch, first) in row_parts(rows.text, rows.first, usize::MAX, batch_bytes) {
        each(rows.read(path, source, batch, first, reading_threads(), PART_BYTES)?)?;
    }
    Ok(())
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

/// A record a stray quote ran on from `line` to `last`: rejected whole, its
/// lines named (the rows inside it are not read).
fn unclosed_quote(line: u32, last: u32) -> Reject {
    Reject {
        line,
        field: String::new(),
        rule: "quote not closed",
        reason: format!(
            "a quote opened on this line is not closed where its field should end (read on, it would take in the lines up to line {last} as one row), so this line is rejected alone and the next lines are read as rows; close or remove the stray quote"
        ),
        value: None,
    }
}

/// The reject for a sheet row with a number of 16 or more digits in a
/// field read: a spreadsheet keeps 15 (and a double about 16), so such a
/// number, nearly always an id typed as a number, is no longer the id it was.
fn too_long_number(wanted: &[(String, usize)], row: &[Data], line: u32) -> Option<Reject> {
    // A number formatted as a date or time is a number all the same.
    let number = |c: &Data| match c {
        Data::Float(f) => Some(*f),
        Data::DateTime(dt) => Some(dt.as_f64()),
        _ => None,
    };
    let (field, _) = wanted.iter().find(|(_, col)| {
        row.get(*col)
            .and_then(number)
            .is_some_and(|f| f.is_finite() && f.abs() >= 1e15)
    })?;
    Some(Reject {
        line,
        field: field.clone(),
        rule: "number too long for a spreadsheet",
        reason: "holds a number of 16 or more digits, more than a spreadsheet keeps exactly (15), so its last digits may already be lost; format the column as text in the workbook and enter the value again".into(),
        value: None,
    })
}

/// The reject for a row with another number of fields than the header.
fn ragged(line: u32, fields: usize, header: usize) -> Reject {
    Reject {
        line,
        field: String::new(),
        rule: "wrong number of fields",
        reason: format!(
            "the row has {fields} fields; the header has {header} (a stray delimiter or quote?)"
        ),
        value: None,
    }
}

fn cell_text<'c>(cell: &'c Data, date_format: &str) -> Option<Cow<'c, str>> {
    let owned = |s: String| Some(Cow::Owned(s));
    match cell {
        Data::Empty => None,
        Data::String(s) => clean(s),
        Data::Int(i) => owned(i.to_string()),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => owned(format!("{}", *f as i64)),
        Data::Float(f) => owned(f.to_string()),
        Data::Bool(b) => owned(if *b { "1".into() } else { "0".into() }),
        Data::DateTime(dt) => dt
            .as_datetime()
            .map(|d| d.date().format(date_format).to_string())
            .or_else(|| Some(dt.to_string()))
            .map(Cow::Owned),
        Data::DateTimeIso(s) => NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
            .map(|d| Cow::Owned(d.format(date_format).to_string()))
            .ok()
            .or_else(|| clean(s)),
        Data::DurationIso(s) => clean(s),
        // A formula's error (#N/A, #DIV/0!, …) is no value: read as empty.
        Data::Error(_) => None,
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

/// [`locate`] in a sheet, a "missing columns" error saying which row below
/// holds the headers where one does.
fn locate_in_sheet(
    path: &Path,
    headers: &[String],
    source: &Source,
    range: &calamine::Range<Data>,
) -> Result<Vec<(String, usize)>, InputError> {
    locate(path, headers, source).map_err(|e| {
        let start_row = range.start().map(|(r, _)| r).unwrap_or(0);
        let cells = |r: &[Data]| {
            r.iter()
                .map(|c| {
                    cell_text(c, "%Y-%m-%d")
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                })
                .collect()
        };
        let rows = range.rows().enumerate();
        with_header_line(
            e,
            source,
            rows.map(|(i, r)| (start_row + i as u32 + 1, cells(r))),
        )
    })
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
    let names = book.sheet_names();
    if !names.contains(&sheet) {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        return Err(file_err(
            path,
            format!(
                "the workbook has no sheet named \"{sheet}\" (its sheets: {}); set `sheet` for its source",
                quoted.join(", ")
            ),
        ));
    }
    let range = book.worksheet_range(&sheet).map_err(|e| {
        file_err(
            path,
            format!(
                "cannot read sheet \"{sheet}\" (sheets: {}): {e}",
                names.join(", ")
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
            .map(|c| {
                cell_text(c, "%Y-%m-%d")
                    .map(Cow::into_owned)
                    .unwrap_or_default()
            })
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
    let wanted = locate_in_sheet(path, &headers, source, &range)?;
    let mut table = RawTable::for_columns(&wanted);
    for (i, row) in rows.enumerate() {
        if row.iter().all(|c| matches!(c, Data::Empty)) {
            continue;
        }
        table.rows_read += 1;
        // Sheet rows are 1-based; the header is sheet row `header_at + 1`.
        let line = header_at + i as u32 + 2;
        if let Some(reject) = too_long_number(&wanted, row, line) {
            table.rejects.push(reject);
            continue;
        }
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
    fn a_sheet_number_of_16_digits_in_a_field_read_rejects_its_row() {
        use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};
        let wanted = vec![("person_id".to_string(), 1)];
        let row = |id: f64| vec![Data::Float(1e20), Data::Float(id)];
        let r = too_long_number(&wanted, &row(12345678901234568.0), 7).unwrap();
        assert_eq!((r.line, r.field.as_str()), (7, "person_id"));
        assert!(
            r.reason.contains("format the column as text"),
            "{}",
            r.reason
        );
        // 15 digits are kept exactly; a column not read is not looked at.
        assert!(too_long_number(&wanted, &row(123456789012345.0), 7).is_none());
        assert!(too_long_number(&wanted, &row(-999999999999999.0), 7).is_none());
        assert!(too_long_number(&wanted, &row(-1e15), 7).is_some());
        // The same number with a date format.
        let dated = ExcelDateTime::new(12345678901234568.0, ExcelDateTimeType::DateTime, false);
        let row = vec![Data::Empty, Data::DateTime(dated)];
        assert!(too_long_number(&wanted, &row, 7).is_some());
        // A formula's error is read as empty.
        assert_eq!(cell_text(&Data::Error(CellErrorType::NA), "%Y-%m-%d"), None);
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

    /// Everything a reading gives: each column's cells, lines, rejects, rows.
    type Whole = (
        Vec<Vec<Option<String>>>,
        Vec<u32>,
        Vec<(u32, String)>,
        usize,
    );

    fn whole(t: RawTable) -> Whole {
        let lines = t.lines.clone();
        let rejects = t
            .rejects
            .iter()
            .map(|r| (r.line, r.reason.clone()))
            .collect();
        let rows = t.rows_read;
        let mut cols = Vec::new();
        let mut columns = t.columns;
        let names: Vec<String> = columns.keys().cloned().collect();
        for f in names {
            let s = columns.remove(&f).unwrap().into_series(&f).unwrap();
            assert_eq!(s.n_chunks(), 1);
            cols.push(
                s.str()
                    .unwrap()
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect(),
            );
        }
        (cols, lines, rejects, rows)
    }

    #[test]
    fn empty_cells_of_another_width_than_the_header_are_a_ragged_row() {
        // Line 2: a spreadsheet's empty row (7 empty cells): no row. Line 3:
        // 21 empty cells: read and rejected. Line 4: blank. Line 5: a row.
        let text = format!(
            "{HEADER}\n,,,,,,\n{}\n\nA,1,generic,,p1,01/02/2024,0\n",
            ",".repeat(20)
        );
        let p = crate::ingest::test_pipeline("");
        let t = read_csv_in(
            Path::new("x.csv"),
            text.as_bytes(),
            &p.sources[0],
            1,
            usize::MAX,
        )
        .unwrap();
        let (_, lines, rejects, rows) = whole(t);
        assert_eq!(rows, 2);
        assert_eq!(lines, [5]);
        assert_eq!(rejects.iter().map(|r| r.0).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn a_file_read_in_parts_gives_what_one_part_gives() {
        // CRLF and LF lines, a blank line, a line of empty cells, ragged rows
        // and a row with empty cells, over many parts.
        let mut text = format!("Title row\r\n{HEADER}\r\n");
        for i in 0..200 {
            match i % 7 {
                0 => text.push_str("\r\n"),
                1 => text.push_str(",,,,,,\n"),
                2 => text.push_str(&format!("A,{i},generic\r\n")),
                3 => text.push_str(&format!("A,{i},generic,,p{i},01/02/2024,0,extra\n")),
                _ => text.push_str(&format!(" A ,{i},generic,, p{i} ,01/02/2024,{}\r\n", i % 3)),
            }
        }
        let p = crate::ingest::test_pipeline("header_row = 2");
        let src = &p.sources[0];
        let path = Path::new("x.csv");
        let one = whole(read_csv_in(path, text.as_bytes(), src, 1, usize::MAX).unwrap());
        for threads in [2, 3, 8] {
            let parts = row_parts(&text, 1, threads, 64);
            assert_eq!(parts.len(), threads, "{threads} parts");
            let many = whole(read_csv_in(path, text.as_bytes(), src, threads, 64).unwrap());
            assert_eq!(many, one, "{threads} parts");
        }
        // Every row is accounted for and lines are physical lines.
        let (cells, lines, rejects, rows) = one;
        assert_eq!(rows, lines.len() + rejects.len());
        // Line 3 is blank (i = 0), line 4 empty cells (skipped, as blank), line 5
        // (i = 2) and line 6 (i = 3) are ragged, line 7 (i = 4) is the first row.
        assert_eq!(rows, 200 - 2 * 29);
        assert_eq!(lines[..2], [7, 8]);
        assert_eq!(rejects[..2].iter().map(|r| r.0).collect::<Vec<_>>(), [5, 6]);
        // Row i is on line 3 + i; the last kept row is i = 195 (196 to 199 are not).
        assert_eq!(*lines.last().unwrap(), 3 + 195);
        assert!(cells.iter().all(|c| c.len() == lines.len()));
    }

    #[test]
    fn a_workbook_or_utf16_file_named_csv_is_said_to_be_one() {
        let p = crate::ingest::test_pipeline("");
        for (bytes, said) in [
            (
                b"PK\x03\x04\x14\x00\x00\x00[Content_Types].xml".to_vec(),
                "XLSX workbook",
            ),
            (
                b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec(),
                ".xls workbook",
            ),
            (b"\xFF\xFEa\x00,\x00".to_vec(), "UTF-16"),
            (b"a,b\n\x00\x01".to_vec(), "NUL bytes"),
        ] {
            let Err(e) = read_file(Path::new("x.csv"), &bytes, &p.sources[0]) else {
                panic!("read as CSV: {said}");
            };
            let shown = e.to_string();
            assert!(shown.contains(said), "{shown}");
            assert!(!shown.contains('\0'), "{shown:?}");
        }
    }

    #[test]
    fn a_mapped_column_named_twice_is_refused() {
        let p = crate::ingest::test_pipeline("");
        let (first, _) = HEADER.split_once(',').unwrap();
        let text = format!("{HEADER},{first}\nA,1,generic,,p1,01/02/2024,0,B\n");
        let Err(e) = read_file(Path::new("x.csv"), text.as_bytes(), &p.sources[0]) else {
            panic!("read a file with a column twice");
        };
        let shown = e.to_string();
        assert!(
            shown.contains("more than once (columns 1 and 8)"),
            "{shown}"
        );
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line() {
        // Old Mac (CR), LF and CRLF line ends in one file: each row on its own line.
        let text = format!(
            "{HEADER}\nA,1,generic,,p1,01/02/2024,0\rA,2,generic,,p2,01/02/2024,0\n\
             A,3,generic,,p3,01/02/2024,0\r\nA,4,generic\rA,5,generic,,p5,01/02/2024,0"
        );
        let p = crate::ingest::test_pipeline("");
        let (_, lines, rejects, rows) = whole(
            read_csv_in(
                Path::new("x.csv"),
                text.as_bytes(),
                &p.sources[0],
                1,
                usize::MAX,
            )
            .unwrap(),
        );
        assert_eq!(rows, 5);
        assert_eq!(lines, [2, 3, 4, 6]);
        assert_eq!(rejects.iter().map(|r| r.0).collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn a_file_with_a_quote_is_read_in_one_part() {
        let rows = "A,1\nB,\"2\n3\"\nC,4\n".repeat(10);
        assert_eq!(row_parts(&rows, 2, 4, 8).len(), 1);
        let plain = "A,1\nB,2\nC,3\n".repeat(10);
        let parts = row_parts(&plain, 2, 4, 8);
        assert_eq!(parts.len(), 4);
        // Parts end at line breaks, cover the rows, and know their first line.
        assert_eq!(parts.iter().map(|(p, _)| *p).collect::<String>(), plain);
        let mut at = 0;
        for (part, first) in &parts {
            assert!(part.ends_with('\n'));
            assert_eq!(*first as usize, 2 + plain[..at].matches('\n').count());
            at += part.len();
        }
    }

    #[test]
    fn title_rows_above_the_header_are_pointed_at_the_setting_that_skips_them() {
        let text = format!(
            "Northside - quarterly return\n\nRun 3 March\n{HEADER}\nA,1,generic,,p1,01/02/2024,0\n"
        );
        let e = read("", text.as_bytes()).err().unwrap().to_string();
        assert!(e.contains("missing columns"), "{e}");
        assert!(
            e.ends_with("the headers are on line 4: set header_row = 4 for this source"),
            "{e}"
        );
        let t = read("header_row = 4", text.as_bytes()).unwrap();
        assert_eq!(t.lines, [5]);
        // A sheet: the row number, under a title and a blank row.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write(0, 0, "Eastleigh - quarterly return").unwrap();
        for (c, h) in HEADER.split(',').enumerate() {
            sheet.write(2, c as u16, h).unwrap();
        }
        let bytes = book.save_to_buffer().unwrap();
        let e = read("format = \"xlsx\"", &bytes).err().unwrap().to_string();
        assert!(
            e.ends_with("the headers are on line 3: set header_row = 3 for this source"),
            "{e}"
        );
        // No row has them: no line is suggested.
        let e = read("", b"a,b\n1,2\n").err().unwrap().to_string();
        assert!(!e.contains("header_row"), "{e}");
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

    /// The lines of a text's kept rows and of its rejects, every row read
    /// one or the other.
    fn kept_and_rejected(text: &str) -> (Vec<u32>, Vec<u32>) {
        let t = read("", text.as_bytes()).unwrap();
        let rejected: Vec<u32> = t.rejects.iter().map(|r| r.line).collect();
        assert_eq!(t.rows_read, t.lines.len() + rejected.len());
        (t.lines, rejected)
    }

    #[test]
    fn a_quote_never_closed_loses_its_own_line_only() {
        // Line 4's last field opens a quote that is never closed: lines 4 to 6
        // would read as one row. Line 4 is rejected, naming how far the quote
        // runs, and lines 5 and 6 are rows. Line 2's well-formed quoted line
        // break stays.
        for eol in ["\n", "\r\n"] {
            let text = format!(
                "{HEADER}\n\"North\nside\",1,generic,,p1,01/02/2024,0\nB,2,generic,,p2,01/02/2024,\"0\nC,3,generic,,p3,01/02/2024,0\nD,4,generic,,p4,01/02/2024,0\n"
            )
            .replace('\n', eol);
            let t = read("", text.as_bytes()).unwrap();
            assert_eq!(
                (t.lines.clone(), t.rows_read),
                (vec![2, 5, 6], 4),
                "{eol:?}"
            );
            assert_eq!(t.rejects.len(), 1);
            let r = &t.rejects[0];
            assert_eq!((r.line, r.rule), (4, "quote not closed"));
            assert!(r.reason.contains("up to line 6"), "{}", r.reason);
            assert_eq!(
                cells(t, "provider_id")[1..],
                [Some("C".into()), Some("D".into())]
            );
        }
        // A quote opened mid-file and closed lines later, by a quote in another
        // row's text, is caught too (an odd number of quotes over its lines):
        // line 2 is rejected; line 3 and line 4 (its quote inside a field
        // read as it is) are rows.
        let text = format!(
            "{HEADER}\nA,1,generic,,p1,01/02/2024,\"0\nB,2,generic,,p2,01/02/2024,0\nC,3,generic,,p3,01/02/2024,0 \"ok\" 0\n"
        );
        let t = read("", text.as_bytes()).unwrap();
        assert_eq!(t.rejects.len(), 1, "{:?}", t.rejects);
        assert_eq!(t.rejects[0].line, 2);
        assert!(
            t.rejects[0].reason.contains("up to line 4"),
            "{}",
            t.rejects[0].reason
        );
        assert_eq!((t.lines.clone(), t.rows_read), (vec![3, 4], 3));
        // Every other line with a stray quote: each loses its own line only.
        let mut text = format!("{HEADER}\r\n");
        for i in 0..2000 {
            let q = if i % 2 == 0 { "\"" } else { "" };
            text.push_str(&format!("{q}A,{i},generic,,p{i},01/02/2024,0\r\n"));
        }
        let t = read("", text.as_bytes()).unwrap();
        assert_eq!(
            (t.rows_read, t.rejects.len(), t.lines.len()),
            (2000, 1000, 1000)
        );
        assert!(t
            .rejects
            .iter()
            .enumerate()
            .all(|(k, r)| r.line == 2 + 2 * k as u32));
        assert!(t
            .lines
            .iter()
            .enumerate()
            .all(|(k, l)| *l == 3 + 2 * k as u32));
        // Stray quotes on two lines, in the same column (the third): the
        // first line is rejected, the second read; not one row of the two.
        let text = format!(
            "{HEADER}\nA,1,\"generic,,p1,01/02/2024,0\nB,2,\"generic,,p2,01/02/2024,0\nC,3,generic,,p3,01/02/2024,0\n"
        );
        assert_eq!(kept_and_rejected(&text), (vec![4], vec![2, 3]));
        // At the start of two lines (a record of the wrong length over two lines).
        let text = format!(
            "{HEADER}\n\"A,1,generic,,p1,01/02/2024,0\n\"B,2,generic,,p2,01/02/2024,0\nC,3,generic,,p3,01/02/2024,0\n"
        );
        let t = read("", text.as_bytes()).unwrap();
        assert_eq!(t.rows_read, t.lines.len() + t.rejects.len());
        assert_eq!(t.lines, [4]);
        // Two stray quotes: each loses its own line.
        let text = format!(
            "{HEADER}\n\"A,1,generic,,p1,01/02/2024,0\nB,2,generic,,p2,01/02/2024,0\n\"C,3,generic,,p3,01/02/2024,0\nD,4,generic,,p4,01/02/2024,0\n"
        );
        assert_eq!(kept_and_rejected(&text), (vec![3, 5], vec![2, 4]));
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
            e.starts_with("x.csv: line 2: the file is not UTF-8 (byte 0xE9, 60 bytes from"),
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

    #[test]
    fn headers_match_whatever_their_spaces_and_case() {
        // A no-break space, a zero-width space, two spaces and capitals.
        let header =
            "PROVIDER,co\u{200b}urse,programme,  start ,\u{a0}person\u{3000},Referred,sessions";
        let text = format!("{header}\nA,1,generic,,p1,01/02/2024,0\n");
        let t = read("", text.as_bytes()).unwrap();
        assert_eq!(cells(t, "person_id"), [Some("p1".to_string())]);
        // A header still missing is shown with its unseen characters written out.
        let e = read("", "pro\u{a0}vider,co\u{200b}urse\nA,1\n".as_bytes())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.ends_with("the header row has \"pro\\u{a0}vider\", \"co\\u{200b}urse\""),
            "{e}"
        );
    }
}
