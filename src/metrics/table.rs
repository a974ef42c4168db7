//! A result table: a small polars frame with its title and which of its
//! columns count persons (for disclosure control) and which are derived from
//! a count (a rate, mean or interval is suppressed with its denominator).

use std::collections::BTreeSet;

use polars::prelude::*;

#[derive(Debug, Clone)]
pub struct Table {
    /// File stem and sheet name, e.g. `completion_by_provider`.
    pub name: String,
    pub title: String,
    pub df: DataFrame,
    /// Columns counting persons (or referrals): suppressed 1–7, rounded to 5.
    pub counts: Vec<String>,
    /// (column, the count column it is derived from).
    pub derived: Vec<(String, String)>,
    /// Cells suppressed by disclosure control: (row, column).
    pub suppressed: BTreeSet<(usize, String)>,
}

impl Table {
    pub fn new(name: &str, title: &str, df: DataFrame) -> Self {
        Table {
            name: name.into(),
            title: title.into(),
            df,
            counts: Vec::new(),
            derived: Vec::new(),
            suppressed: BTreeSet::new(),
        }
    }
    pub fn counts(mut self, cols: &[&str]) -> Self {
        self.counts.extend(cols.iter().map(|c| c.to_string()));
        self
    }
    /// `cols` are derived from (suppressed with) the count column `denominator`.
    pub fn derived(mut self, denominator: &str, cols: &[&str]) -> Self {
        self.derived.extend(
            cols.iter()
                .map(|c| (c.to_string(), denominator.to_string())),
        );
        self
    }

    pub fn height(&self) -> usize {
        self.df.height()
    }

    /// A cell as f64 (None for null, a missing column, or text).
    pub fn f64(&self, row: usize, col: &str) -> Option<f64> {
        let c = self.df.column(col).ok()?;
        let c = c.cast(&DataType::Float64).ok()?;
        c.f64().ok()?.get(row)
    }

    /// A cell as text ("" for null).
    pub fn text(&self, row: usize, col: &str) -> String {
        let Ok(c) = self.df.column(col) else {
            return String::new();
        };
        match c.get(row) {
            Ok(AnyValue::Null) | Err(_) => String::new(),
            Ok(AnyValue::String(s)) => s.to_string(),
            Ok(AnyValue::StringOwned(s)) => s.to_string(),
            Ok(v) => v.to_string(),
        }
    }

    pub fn column_names(&self) -> Vec<String> {
        self.df
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    pub fn is_suppressed(&self, row: usize, col: &str) -> bool {
        self.suppressed.contains(&(row, col.to_string()))
    }
}
