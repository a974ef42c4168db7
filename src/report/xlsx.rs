//! All tables in one workbook, laid out as the Government Analysis Function's
//! "Releasing statistics in spreadsheets" asks: a cover sheet (title, period,
//! source, disclosure, contact), a contents sheet, a notes sheet explaining
//! `[c]`, `[x]` and `[z]`, and a sheet per table holding one Excel Table with
//! one header row; numbers stored as numbers with formats by column. An
//! internal workbook says so in every sheet's title and page header.

use crate::disclosure::SUPPRESSED;
use std::path::Path;

use crate::error::WriteError;
use rust_xlsxwriter::XlsxError;
use rust_xlsxwriter::{Color, Format, FormatAlign, Workbook};

use super::format::{kind, Kind};
use crate::metrics::Table;

use super::INTERNAL_MARK as INTERNAL;

fn sheet_name(name: &str, used: &mut Vec<String>) -> String {
    // Excel: at most 31 characters, unique.
    let mut s: String = name.chars().take(31).collect();
    let mut k = 2;
    while used.contains(&s) {
        let suffix = format!("_{k}");
        s = format!(
            "{}{suffix}",
            name.chars().take(31 - suffix.len()).collect::<String>()
        );
        k += 1;
    }
    used.push(s.clone());
    s
}

/// What the workbook's symbols mean (Government Analysis Function,
/// "Releasing statistics in spreadsheets": shorthand explained in a notes sheet).
pub const SYMBOLS: &[(&str, &str)] = &[
    (
        SUPPRESSED,
        "Confidential: a count of 1 to 7 people, or a figure calculated from one, withheld to protect privacy (disclosure control).",
    ),
    (
        "[x]",
        "Not available: the figure could not be calculated from the data (for example, too few people for an interval).",
    ),
    (
        "[z]",
        "Not applicable: the figure does not apply to this row.",
    ),
];

/// Facts the cover sheet states.
pub struct Cover<'a> {
    pub title: &'a str,
    pub period: (chrono::NaiveDate, chrono::NaiveDate),
    pub source: String,
    pub disclosure: &'a str,
    pub contact: &'a str,
    pub notes: &'a [String],
}

/// An Excel table name: letters, digits and underscores, starting with a letter.
fn table_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("Table_{s}")
}

/// The cell formats of the workbook, and the INTERNAL mark on titles.
struct Formats {
    title: Format,
    heading: Format,
    wrap: Format,
    banner: Format,
    pct: Format,
    money: Format,
    count: Format,
    year: Format,
    dec: Format,
    symbol: Format,
    internal: bool,
}

impl Formats {
    fn new(internal: bool) -> Formats {
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            heading: Format::new().set_bold(),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            banner: Format::new()
                .set_bold()
                .set_font_color(Color::White)
                .set_background_color(Color::RGB(0xD55E00)),
            pct: Format::new().set_num_format("0.0%"),
            money: Format::new().set_num_format("£#,##0.00"),
            count: Format::new().set_num_format("#,##0"),
            year: Format::new().set_num_format("0"),
            dec: Format::new().set_num_format("0.000"),
            symbol: Format::new().set_align(FormatAlign::Right),
            internal,
        }
    }
    /// A sheet's title, marked INTERNAL in an internal pack.
    fn mark(&self, t: &str) -> String {
        if self.internal {
            format!("{INTERNAL}: {t}")
        } else {
            t.to_string()
        }
    }
}

/// The workbook: a cover sheet, a contents sheet, a notes sheet, then one
/// sheet per table with its title in A1, a line on its symbols in A2 and
/// the table from A3 as an Excel Table with one header row; numbers are
/// stored as numbers, withheld or missing cells hold `[c]` or `[x]`.
pub fn write(
    tables: &[Table],
    cover: &Cover,
    path: &Path,
    internal: bool,
) -> Result<(), WriteError> {
    let mut book = Workbook::new();
    let f = Formats::new(internal);
    let mut used = vec![
        "Cover".to_string(),
        "Contents".to_string(),
        "Notes".to_string(),
    ];
    let sheet_names: Vec<String> = tables
        .iter()
        .map(|t| sheet_name(&t.name, &mut used))
        .collect();
    let mut sheets = || -> Result<(), XlsxError> {
        cover_sheet(&mut book, cover, &f)?;
        contents_sheet(&mut book, tables, &sheet_names, &f)?;
        notes_sheet(&mut book, cover, &f)?;
        for (t, name) in tables.iter().zip(&sheet_names) {
            table_sheet(&mut book, t, name, &f)?;
        }
        book.save(path)
    };
    sheets().map_err(|source| WriteError::Xlsx {
        path: path.to_path_buf(),
        source,
    })
}

/// The cover: title, the INTERNAL banner where it applies, and the facts.
fn cover_sheet(book: &mut Workbook, cover: &Cover, f: &Formats) -> Result<(), XlsxError> {
    let internal = f.internal;
    let ws = book.add_worksheet();
    ws.set_name("Cover")?;
    ws.set_column_width(0, 110)?;
    let mut r = 0;
    ws.write_string_with_format(r, 0, f.mark(cover.title), &f.title)?;
    r += 1;
    if internal {
        ws.write_string_with_format(r, 0, INTERNAL, &f.banner)?;
        ws.set_header(format!("&C{INTERNAL}"));
        r += 1;
    }
    let facts = [
        ("Period covered", format!(
            "{} to {}",
            cover.period.0.format("%-d %B %Y"),
            cover.period.1.format("%-d %B %Y")
        )),
        ("Source", cover.source.clone()),
        ("Disclosure control", cover.disclosure.to_string()),
        ("Contact", cover.contact.to_string()),
        (
            "This workbook",
            "A contents sheet lists every table; the notes sheet explains the symbols [c], [x] and [z] and notes on the data. Each table is on its own sheet as an Excel Table with one header row.".to_string(),
        ),
    ];
    for (h, v) in facts {
        r += 1;
        ws.write_string_with_format(r, 0, h, &f.heading)?;
        r += 1;
        ws.write_string_with_format(r, 0, &v, &f.wrap)?;
    }

    Ok(())
}

/// The contents: one row per table sheet, linked.
fn contents_sheet(
    book: &mut Workbook,
    tables: &[Table],
    sheet_names: &[String],
    f: &Formats,
) -> Result<(), XlsxError> {
    let ws = book.add_worksheet();
    ws.set_name("Contents")?;
    ws.write_string_with_format(0, 0, f.mark("Contents"), &f.title)?;
    ws.write_string(
        1,
        0,
        "This worksheet contains one table: one row per sheet of tables.",
    )?;
    let rows = tables.len() as u32;
    ws.write_string(2, 0, "Sheet name")?;
    ws.write_string(2, 1, "Table title")?;
    for (i, (t, name)) in tables.iter().zip(sheet_names).enumerate() {
        let row = 3 + i as u32;
        ws.write_url_with_text(
            row,
            0,
            rust_xlsxwriter::Url::new(format!("internal:'{name}'!A1")),
            name,
        )?;
        ws.write_string(row, 1, &t.title)?;
    }
    ws.set_column_width(0, 34)?;
    ws.set_column_width(1, 80)?;
    if rows > 0 {
        ws.add_table(
            2,
            0,
            2 + rows,
            1,
            &two_columns("Table_contents", "Sheet name", "Table title"),
        )?;
    }

    Ok(())
}

/// An Excel Table of two columns with no filter buttons (a list to read).
fn two_columns(name: &str, first: &str, second: &str) -> rust_xlsxwriter::Table {
    rust_xlsxwriter::Table::new()
        .set_name(name)
        .set_autofilter(false)
        .set_columns(&[
            rust_xlsxwriter::TableColumn::new().set_header(first),
            rust_xlsxwriter::TableColumn::new().set_header(second),
        ])
}

/// The notes: the symbols, then the notes on the data.
fn notes_sheet(book: &mut Workbook, cover: &Cover, f: &Formats) -> Result<(), XlsxError> {
    let ws = book.add_worksheet();
    ws.set_name("Notes")?;
    ws.write_string_with_format(0, 0, f.mark("Notes"), &f.title)?;
    ws.write_string(1, 0, "This worksheet contains one table: the symbols used in the tables, then notes on this data.")?;
    ws.write_string(2, 0, "Note")?;
    ws.write_string(2, 1, "Meaning")?;
    let mut row = 3;
    for (sym, meaning) in SYMBOLS {
        ws.write_string(row, 0, *sym)?;
        ws.write_string_with_format(row, 1, *meaning, &f.wrap)?;
        row += 1;
    }
    for (i, n) in cover.notes.iter().enumerate() {
        ws.write_string(row, 0, format!("Note {}", i + 1))?;
        ws.write_string_with_format(row, 1, n, &f.wrap)?;
        row += 1;
    }
    ws.set_column_width(0, 12)?;
    ws.set_column_width(1, 110)?;
    ws.add_table(
        2,
        0,
        row - 1,
        1,
        &two_columns("Table_notes", "Note", "Meaning"),
    )?;

    Ok(())
}

/// One cell of a table at `at` (row, column): `[c]` where suppressed, text
/// as text, numbers in their column's format, `[x]` for a missing number.
fn write_cell(
    ws: &mut rust_xlsxwriter::Worksheet,
    at: (u32, u16),
    t: &Table,
    i: usize,
    c: &str,
    f: &Formats,
) -> Result<(), XlsxError> {
    let (r, j) = at;
    if t.is_suppressed(i, c) {
        ws.write_string_with_format(r, j, SUPPRESSED, &f.symbol)?;
        return Ok(());
    }
    let k = kind(t, c);
    if k == Kind::Text {
        let v = t.text(i, c);
        if !v.is_empty() {
            ws.write_string(r, j, &v)?;
        }
        return Ok(());
    }
    match t.f64(i, c).filter(|x| x.is_finite()) {
        Some(x) => {
            let format = match k {
                Kind::Percent => &f.pct,
                Kind::Money => &f.money,
                Kind::Count | Kind::Integer => &f.count,
                Kind::Year => &f.year,
                _ => &f.dec,
            };
            ws.write_number_with_format(r, j, x, format)?;
        }
        // No empty cells in a numeric column: say why it is empty.
        None => {
            ws.write_string_with_format(r, j, "[x]", &f.symbol)?;
        }
    }
    Ok(())
}

/// One table on its own sheet as an Excel Table.
fn table_sheet(book: &mut Workbook, t: &Table, name: &str, f: &Formats) -> Result<(), XlsxError> {
    let internal = f.internal;
    let ws = book.add_worksheet();
    ws.set_name(name)?;
    if internal {
        ws.set_header(format!("&C{INTERNAL}"));
    }
    ws.write_string_with_format(0, 0, f.mark(&t.title), &f.title)?;
    ws.write_string(
        1,
        0,
        "This worksheet contains one table. [c] marks a confidential figure, [x] one not available, [z] one not applicable: see the Notes sheet.",
    )?;
    let header_row: u32 = 2;
    let cols = t.column_names();
    for (j, c) in cols.iter().enumerate() {
        let longest = (0..t.height())
            .map(|i| t.text(i, c).chars().count())
            .max()
            .unwrap_or(0)
            .min(60);
        let width = (c.len().max(10) + 2).max(longest + 2);
        ws.set_column_width(j as u16, width as f64)?;
    }
    ws.set_freeze_panes(header_row + 1, 0)?;
    for i in 0..t.height() {
        let r = header_row + 1 + i as u32;
        for (j, c) in cols.iter().enumerate() {
            write_cell(ws, (r, j as u16), t, i, c, f)?;
        }
    }
    if cols.is_empty() {
        return Ok(());
    }
    let last_col = cols.len() as u16 - 1;
    // An Excel Table needs a data row: an empty table gets one row of [z].
    if t.height() == 0 {
        for j in 0..=last_col {
            ws.write_string_with_format(header_row + 1, j, "[z]", &f.symbol)?;
        }
    }
    let last_row = header_row + t.height().max(1) as u32;
    excel_table(ws, header_row, last_row, &cols, table_name(&t.name))
}

/// Makes rows `header_row` to `last_row` of a sheet, from its first column,
/// an Excel Table called `name` whose header row holds `headers`.
pub(super) fn excel_table(
    ws: &mut rust_xlsxwriter::Worksheet,
    header_row: u32,
    last_row: u32,
    headers: &[String],
    name: String,
) -> Result<(), XlsxError> {
    let columns: Vec<rust_xlsxwriter::TableColumn> = headers
        .iter()
        .map(|h| rust_xlsxwriter::TableColumn::new().set_header(h))
        .collect();
    ws.add_table(
        header_row,
        0,
        last_row,
        headers.len() as u16 - 1,
        &rust_xlsxwriter::Table::new()
            .set_name(name)
            .set_columns(&columns),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_fit_excel_and_never_repeat() {
        let mut used = Vec::new();
        let long = "activity_by_financial_year_and_provider";
        assert_eq!(
            sheet_name(long, &mut used),
            "activity_by_financial_year_and_"
        );
        assert_eq!(
            sheet_name(long, &mut used),
            "activity_by_financial_year_an_2"
        );
        assert_eq!(
            sheet_name(long, &mut used),
            "activity_by_financial_year_an_3"
        );
        assert!(used.iter().all(|s| s.chars().count() <= 31));
        assert_eq!(
            table_name("equity_by_imd-quintile"),
            "Table_equity_by_imd_quintile"
        );
    }
}
