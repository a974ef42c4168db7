//! All tables in one workbook for analysts: a sheet per table, a bold frozen
//! header, number formats by column, sensible widths. Suppressed cells read
//! `[c]`; an internal workbook says so on every sheet and in every page header.

use std::path::Path;

use anyhow::{Context, Result};
use rust_xlsxwriter::{Color, Format, FormatAlign, Workbook};

use super::format::{kind, Kind};
use crate::metrics::Table;

const INTERNAL: &str = "INTERNAL — not for publication";

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

pub fn write(tables: &[Table], path: &Path, internal: bool) -> Result<()> {
    let mut book = Workbook::new();
    let bold = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xF2F2F2))
        .set_border_bottom(rust_xlsxwriter::FormatBorder::Medium);
    let title = Format::new().set_bold().set_font_size(13);
    let banner = Format::new()
        .set_bold()
        .set_font_color(Color::White)
        .set_background_color(Color::RGB(0xD55E00));
    let pct = Format::new().set_num_format("0.0%");
    let money = Format::new().set_num_format("£#,##0.00");
    let count = Format::new().set_num_format("#,##0");
    let dec = Format::new().set_num_format("0.000");
    let suppressed = Format::new().set_align(FormatAlign::Right);
    let mut used = Vec::new();
    for t in tables {
        let ws = book.add_worksheet();
        ws.set_name(sheet_name(&t.name, &mut used))?;
        let mut row: u32 = 0;
        if internal {
            ws.write_string_with_format(row, 0, INTERNAL, &banner)?;
            ws.set_header(format!("&C{INTERNAL}"));
            row += 1;
        }
        ws.write_string_with_format(row, 0, &t.title, &title)?;
        row += 1;
        let cols = t.column_names();
        for (j, c) in cols.iter().enumerate() {
            ws.write_string_with_format(row, j as u16, c, &bold)?;
            let longest = (0..t.height())
                .map(|i| t.text(i, c).chars().count())
                .max()
                .unwrap_or(0)
                .min(60);
            let width = (c.len().max(10) + 2).max(longest + 2);
            ws.set_column_width(j as u16, width as f64)?;
        }
        ws.set_freeze_panes(row + 1, 0)?;
        let header_row = row;
        for i in 0..t.height() {
            let r = header_row + 1 + i as u32;
            for (j, c) in cols.iter().enumerate() {
                let j = j as u16;
                if t.is_suppressed(i, c) {
                    ws.write_string_with_format(r, j, "[c]", &suppressed)?;
                    continue;
                }
                let k = kind(t, c);
                if k == Kind::Text {
                    let v = t.text(i, c);
                    if !v.is_empty() {
                        ws.write_string(r, j, &v)?;
                    }
                    continue;
                }
                if let Some(x) = t.f64(i, c).filter(|x| x.is_finite()) {
                    let f = match k {
                        Kind::Percent => &pct,
                        Kind::Money => &money,
                        Kind::Count | Kind::Integer => &count,
                        _ => &dec,
                    };
                    ws.write_number_with_format(r, j, x, f)?;
                }
            }
        }
    }
    book.save(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
