//! A result table: a small polars frame with its title and, for every column,
//! what kind of figure it holds. The declaration is what disclosure control
//! works from (`crate::disclosure::finalize`): counts are controlled, and every
//! derived column (rate, interval, mean, money per unit) is *computed* by its
//! formula from the controlled inputs, so that in a published pack no figure
//! can be worked back to an exact or suppressed count.

use std::collections::BTreeSet;

use polars::prelude::*;

/// A derived figure: a function of other columns of the same row.
pub type Formula = fn(&[Option<f64>]) -> Option<f64>;

/// What a column holds.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A group label (published only from declared value sets) or other text.
    Label,
    /// A number that describes no one (a session number, a level, a limit
    /// set by the pipeline, a unit cost).
    Exact,
    /// A count of persons, referrals or events: 1–7 → `[c]`, else rounded to 5.
    /// `within`: the count it is a subset of (completers within starters): a
    /// suppressed parent suppresses it, zero included.
    Count {
        within: Option<String>,
        /// A count across two dimensions (deprived starters of a provider):
        /// zero is hidden like 1–7, so that moving a few people between
        /// groups cannot turn a `[c]` into a 0.
        zero_hidden: bool,
    },
    /// Controlled like a count (a subset of `within` where given; zero hidden
    /// too where `zero_hidden`), used by formulas, not written.
    HiddenCount {
        within: Option<String>,
        zero_hidden: bool,
    },
    /// An exact individual-level quantity (a standard deviation, an interval's
    /// half-width) used only by formulas that publish it under the n rules; never written.
    Hidden,
    /// An exact fact about the people the counts `n` describe (every change
    /// the same): published only where each is shown and at least 10.
    ExactOf { n: Vec<String> },
    /// An amount of money that does not depend on counts (a cost line's amount).
    Money,
    /// Computed from other columns by `f`.
    Derived(Derived),
}

#[derive(Debug, Clone)]
pub struct Derived {
    pub inputs: Vec<String>,
    pub f: Formula,
    /// The count columns this figure describes: it is suppressed with any of
    /// them, and (when `min_n`) while any is under 10 after rounding.
    pub n: Vec<String>,
    /// Means and individual-level statistics need n ≥ 10 (published packs).
    pub min_n: bool,
    /// Decimal places in a published pack (None: as computed).
    pub decimals: Option<i32>,
}

impl Derived {
    /// `num ÷ den`, a figure of the count `den`.
    fn ratio(num: &str, den: &str, min_n: bool, decimals: Option<i32>) -> Self {
        Derived {
            inputs: vec![num.into(), den.into()],
            f: formulas::ratio,
            n: vec![den.into()],
            min_n,
            decimals,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    /// File stem and sheet name, e.g. `completion_by_provider`.
    pub name: String,
    pub title: String,
    pub df: DataFrame,
    /// Every column's kind, in order (the written columns follow this order).
    pub kinds: Vec<(String, Kind)>,
    /// Columns counting persons/events (written as counts).
    pub counts: Vec<String>,
    /// Cells suppressed by disclosure control: (row, column).
    pub suppressed: BTreeSet<(usize, String)>,
    /// The count that is each row's group size: when it is suppressed, every
    /// figure of the row is.
    pub base: Option<String>,
    /// Set once disclosure control (or the internal pass) has run.
    pub finalized: bool,
    /// A row whose group size is zero is shown like a small group (`[c]`):
    /// for tables that list every declared group of a dimension, so that
    /// moving people out of a small group changes nothing in the pack.
    pub empty_group_hidden: bool,
    /// Published only: a row whose counts in these columns are all hidden
    /// (`[c]`) is left out. Decided from the controlled counts alone, so
    /// leaving it out tells nothing they do not.
    pub drop_if_hidden: Vec<String>,
}

impl Table {
    pub fn new(name: &str, title: &str, df: DataFrame) -> Self {
        Table {
            name: name.into(),
            title: title.into(),
            df,
            kinds: Vec::new(),
            counts: Vec::new(),
            suppressed: BTreeSet::new(),
            base: None,
            finalized: false,
            empty_group_hidden: false,
            drop_if_hidden: Vec::new(),
        }
    }

    fn declare(mut self, cols: &[&str], kind: Kind) -> Self {
        for c in cols {
            if matches!(kind, Kind::Count { .. }) {
                self.counts.push(c.to_string());
            }
            self.kinds.push((c.to_string(), kind.clone()));
        }
        self
    }
    pub fn labels(self, cols: &[&str]) -> Self {
        self.declare(cols, Kind::Label)
    }
    pub fn exact(self, cols: &[&str]) -> Self {
        self.declare(cols, Kind::Exact)
    }
    /// Exact facts about the people `n` counts ([`Kind::ExactOf`]).
    pub fn exact_of(self, cols: &[&str], n: &[&str]) -> Self {
        let n = n.iter().map(|c| c.to_string()).collect();
        self.declare(cols, Kind::ExactOf { n })
    }
    pub fn money(self, cols: &[&str]) -> Self {
        self.declare(cols, Kind::Money)
    }
    pub fn hidden(self, cols: &[&str]) -> Self {
        self.declare(cols, Kind::Hidden)
    }
    pub fn hidden_counts(self, cols: &[&str]) -> Self {
        self.declare(
            cols,
            Kind::HiddenCount {
                within: None,
                zero_hidden: false,
            },
        )
    }
    /// A count used by formulas and not written, controlled as a
    /// [`Table::cross_count_within`] `parent` (zero hidden, and hidden with it).
    pub fn hidden_cross_count_within(self, col: &str, parent: &str) -> Self {
        self.declare(
            &[col],
            Kind::HiddenCount {
                within: Some(parent.into()),
                zero_hidden: true,
            },
        )
    }
    /// Independent counts.
    pub fn counts(self, cols: &[&str]) -> Self {
        self.declare(
            cols,
            Kind::Count {
                within: None,
                zero_hidden: false,
            },
        )
    }
    /// A count that is a subset of `parent`.
    pub fn count_within(self, col: &str, parent: &str) -> Self {
        self.declare(
            &[col],
            Kind::Count {
                within: Some(parent.into()),
                zero_hidden: false,
            },
        )
    }
    /// A cross-dimension count within `parent`: 0–7 are all `[c]`.
    pub fn cross_count_within(self, col: &str, parent: &str) -> Self {
        self.declare(
            &[col],
            Kind::Count {
                within: Some(parent.into()),
                zero_hidden: true,
            },
        )
    }
    /// In a published pack, leave out a row whose `cols` are all hidden.
    pub fn drop_if_hidden(mut self, cols: &[&str]) -> Self {
        self.drop_if_hidden = cols.iter().map(|c| c.to_string()).collect();
        self
    }
    /// The count that is each row's group size.
    pub fn base(mut self, col: &str) -> Self {
        self.base = Some(col.into());
        self
    }
    /// A derived column computed from `inputs` by `f`.
    pub fn derive(mut self, col: &str, d: Derived) -> Self {
        self.kinds.push((col.to_string(), Kind::Derived(d)));
        self
    }
    /// A proportion `num / den` with its Wilson 95% interval as `rate`-like columns.
    pub fn rate(self, names: [&str; 3], num: &str, den: &str) -> Self {
        let d = |f: Formula| Derived {
            f,
            ..Derived::ratio(num, den, false, None)
        };
        self.derive(names[0], d(formulas::ratio))
            .derive(names[1], d(formulas::wilson_low))
            .derive(names[2], d(formulas::wilson_high))
    }
    /// A share `num / den` without an interval.
    pub fn share(self, name: &str, num: &str, den: &str) -> Self {
        self.derive(name, Derived::ratio(num, den, false, None))
    }
    /// A mean of counts: the (controlled) total ÷ the (controlled) n.
    pub fn mean_of(self, name: &str, total: &str, n: &str) -> Self {
        self.derive(name, Derived::ratio(total, n, true, Some(2)))
    }
    /// An individual-level statistic: `f(inputs)`, published to `decimals`
    /// places only while every count in `n` is at least 10.
    pub fn statistic(
        self,
        name: &str,
        inputs: &[&str],
        f: Formula,
        n: &[&str],
        decimals: i32,
    ) -> Self {
        self.derive(
            name,
            Derived {
                inputs: inputs.iter().map(|s| s.to_string()).collect(),
                f,
                n: n.iter().map(|s| s.to_string()).collect(),
                min_n: true,
                decimals: Some(decimals),
            },
        )
    }
    /// An interval `low`, `high` = `of` ∓ `half`: statistics like `of`, shown
    /// only while every count in `n` is at least 10.
    pub fn interval(self, bounds: [&str; 2], of: &str, half: &str, n: &[&str]) -> Self {
        self.interval_to(bounds, of, half, n, 2)
    }
    /// [`Table::interval`] shown to `decimals` places.
    pub fn interval_to(
        self,
        [low, high]: [&str; 2],
        of: &str,
        half: &str,
        n: &[&str],
        decimals: i32,
    ) -> Self {
        self.statistic(low, &[of, half], formulas::minus, n, decimals)
            .statistic(high, &[of, half], formulas::plus, n, decimals)
    }
    /// Money per unit: money ÷ the (controlled) count of units.
    pub fn money_per(self, name: &str, money: &str, units: &str) -> Self {
        self.derive(name, Derived::ratio(money, units, false, Some(2)))
    }

    pub fn kind(&self, col: &str) -> Option<&Kind> {
        self.kinds.iter().find(|(c, _)| c == col).map(|(_, k)| k)
    }

    pub fn height(&self) -> usize {
        self.df.height()
    }

    /// A cell as f64 (None for null, a missing column, or text).
    pub fn f64(&self, row: usize, col: &str) -> Option<f64> {
        if row >= self.height() {
            return None;
        }
        let c = self.df.column(col).ok()?;
        let c = c.cast(&DataType::Float64).ok()?;
        c.f64().ok()?.get(row).filter(|x| !x.is_nan())
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

    /// The row whose `col` reads `value`.
    pub fn find(&self, col: &str, value: &str) -> Option<usize> {
        (0..self.height()).find(|&i| self.text(i, col) == value)
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

/// The formulas derived columns use. Each takes its inputs in the order declared.
pub mod formulas {
    use crate::stats;

    pub fn ratio(x: &[Option<f64>]) -> Option<f64> {
        match (x[0]?, x[1]?) {
            (_, d) if d <= 0.0 => None,
            (n, d) => Some(n / d),
        }
    }
    pub fn wilson_low(x: &[Option<f64>]) -> Option<f64> {
        stats::wilson(x[0]?, x[1]?, 0.95).map(|w| w.low)
    }
    pub fn wilson_high(x: &[Option<f64>]) -> Option<f64> {
        stats::wilson(x[0]?, x[1]?, 0.95).map(|w| w.high)
    }
    pub fn identity(x: &[Option<f64>]) -> Option<f64> {
        x[0]
    }
    /// (post − pre) / pre.
    pub fn relative_change(x: &[Option<f64>]) -> Option<f64> {
        let (pre, post) = (x[0]?, x[1]?);
        (pre > 0.0).then(|| (post - pre) / pre)
    }
    /// estimate − half-width.
    pub fn minus(x: &[Option<f64>]) -> Option<f64> {
        Some(x[0]? - x[1]?)
    }
    /// estimate + half-width.
    pub fn plus(x: &[Option<f64>]) -> Option<f64> {
        Some(x[0]? + x[1]?)
    }
    /// Difference of two differences of means of counts:
    /// (post_a − pre_a)/n_a − (post_b − pre_b)/n_b.
    pub fn did_of_totals(x: &[Option<f64>]) -> Option<f64> {
        let (pre_a, post_a, n_a, pre_b, post_b, n_b) = (x[0]?, x[1]?, x[2]?, x[3]?, x[4]?, x[5]?);
        if n_a <= 0.0 || n_b <= 0.0 {
            return None;
        }
        Some((post_a - pre_a) / n_a - (post_b - pre_b) / n_b)
    }
    /// (post − pre) / n.
    pub fn change_of_totals(x: &[Option<f64>]) -> Option<f64> {
        let (pre, post, n) = (x[0]?, x[1]?, x[2]?);
        (n > 0.0).then(|| (post - pre) / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_read_by_name_and_row_and_past_the_end_is_none() {
        let t = Table::new(
            "t",
            "",
            df!("g" => ["a", "b"], "n" => [5i64, 10], "x" => [Some(0.5), None]).unwrap(),
        )
        .labels(&["g"])
        .counts(&["n"])
        .exact(&["x"]);
        assert_eq!(t.find("g", "b"), Some(1));
        assert_eq!(t.find("g", "z"), None);
        assert_eq!(t.f64(1, "n"), Some(10.0));
        assert_eq!(t.f64(0, "x"), Some(0.5));
        assert_eq!(t.f64(1, "x"), None);
        assert_eq!(t.f64(2, "n"), None, "past the last row");
        assert_eq!(t.f64(0, "no_such_column"), None);
        assert!(matches!(t.kind("n"), Some(Kind::Count { .. })));
        assert!(matches!(t.kind("g"), Some(Kind::Label)));
    }
}
