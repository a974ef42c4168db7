//! Price years and the price base: every amount (cost lines and unit costs)
//! can be uplifted to one price base with the committed, sourced GDP deflator
//! series (`benchmarks/gdp_deflator.csv`, ONS YBGB). A year's index is the
//! mean of its four published quarters: a financial year "2023/24" is 2023 Q2
//! to 2024 Q1, a calendar year "2023" is 2023 Q1 to Q4.

/// The deflator series, built into the binary so a pack never depends on a
/// file beside it.
pub const DEFLATOR_CSV: &str = include_str!("../../benchmarks/gdp_deflator.csv");

/// Where the series comes from, for the pack's methods.
pub const DEFLATOR_SOURCE: &str =
    "ONS GDP implied deflator at market prices (series YBGB, 2022 = 100), release of 30 June 2025";

/// A price year as written in a pipeline: a financial year ("2023/24" or
/// "2023-24") or a calendar year ("2023").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceYear {
    Financial(i32),
    Calendar(i32),
}

impl PriceYear {
    /// Parses "2023/24", "2023-24" or "2023"; the second part of a financial
    /// year must be the year after the first.
    pub fn parse(s: &str) -> Option<PriceYear> {
        let s = s.trim();
        let year = |t: &str| {
            (t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<i32>().ok())
                .flatten()
        };
        if let Some((a, b)) = s.split_once(['/', '-']) {
            let y = year(a)?;
            let next = (y + 1) % 100;
            let ok = match b.len() {
                2 => b.parse::<i32>().ok() == Some(next),
                4 => b.parse::<i32>().ok() == Some(y + 1),
                _ => false,
            };
            return ok.then_some(PriceYear::Financial(y));
        }
        year(s).map(PriceYear::Calendar)
    }

    /// The year as the pack writes it: "2023/24" or "2023".
    pub fn label(self) -> String {
        match self {
            PriceYear::Financial(y) => format!("{y}/{:02}", (y + 1) % 100),
            PriceYear::Calendar(y) => y.to_string(),
        }
    }

    /// The quarters (year, quarter) the year's index averages.
    fn quarters(self) -> [(i32, u32); 4] {
        match self {
            PriceYear::Financial(y) => [(y, 2), (y, 3), (y, 4), (y + 1, 1)],
            PriceYear::Calendar(y) => [(y, 1), (y, 2), (y, 3), (y, 4)],
        }
    }
}

/// The published quarterly index values.
fn quarters() -> Vec<((i32, u32), f64)> {
    DEFLATOR_CSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("quarter"))
        .filter_map(|l| {
            let (q, v) = l.split_once(',')?;
            let (y, q) = q.split_once("-Q")?;
            Some(((y.parse().ok()?, q.parse().ok()?), v.trim().parse().ok()?))
        })
        .collect()
}

/// The year's index (mean of its four quarters), or None when the series
/// does not cover all four.
pub fn index(year: PriceYear) -> Option<f64> {
    let q = quarters();
    let vals: Option<Vec<f64>> = year
        .quarters()
        .iter()
        .map(|k| q.iter().find(|(x, _)| x == k).map(|(_, v)| *v))
        .collect();
    vals.map(|v| v.iter().sum::<f64>() / 4.0)
}

/// The years the series covers, for messages: "2010 to 2024/25".
pub fn coverage() -> String {
    let q = quarters();
    let first = q.first().map(|((y, _), _)| *y).unwrap_or(0);
    let mut last = PriceYear::Financial(first);
    for y in first..=first + 100 {
        if index(PriceYear::Financial(y)).is_some() {
            last = PriceYear::Financial(y);
        }
    }
    format!("{first} to {}", last.label())
}

/// The factor that takes an amount at `from` prices to `base` prices.
pub fn uplift(from: PriceYear, base: PriceYear) -> Option<f64> {
    Some(index(base)? / index(from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_financial_and_calendar_years() {
        for text in ["2023/24", "2023-24", "2023/2024"] {
            assert_eq!(
                PriceYear::parse(text),
                Some(PriceYear::Financial(2023)),
                "{text}"
            );
        }
        assert_eq!(
            PriceYear::parse("1999/00"),
            Some(PriceYear::Financial(1999))
        );
        assert_eq!(PriceYear::parse("2018"), Some(PriceYear::Calendar(2018)));
        assert_eq!(PriceYear::parse("2023/25"), None);
        assert_eq!(PriceYear::parse("23/24"), None);
        assert_eq!(PriceYear::parse("last year"), None);
        assert_eq!(PriceYear::Financial(2016).label(), "2016/17");
    }

    #[test]
    fn index_is_the_mean_of_the_published_quarters() {
        // ONS YBGB: 2022 Q1..Q4 = 97.0, 99.1, 100.7, 103.2 (2022 = 100).
        assert!((index(PriceYear::Calendar(2022)).unwrap() - 100.0).abs() < 1e-9);
        // 2018/19 = 2018 Q2..2019 Q1 = (88.1 + 88.6 + 89.3 + 89.3) / 4.
        assert!((index(PriceYear::Financial(2018)).unwrap() - 88.825).abs() < 1e-9);
        // 2024/25 = (110.1 + 112.1 + 113.2 + 114.1) / 4 = 112.375; 2025/26 not yet published.
        assert!((index(PriceYear::Financial(2024)).unwrap() - 112.375).abs() < 1e-9);
        assert_eq!(index(PriceYear::Financial(2025)), None);
        assert_eq!(coverage(), "2010 to 2024/25");
    }

    #[test]
    fn uplift_hand_worked() {
        // 2016/17 = 2016 Q2..2017 Q1 = (84.6 + 85.5 + 86.1 + 86.4) / 4 = 85.65; 2024/25 = 112.375.
        let f = uplift(PriceYear::Financial(2016), PriceYear::Financial(2024)).unwrap();
        assert!((f - 112.375 / 85.65).abs() < 1e-12);
        assert_eq!(
            uplift(PriceYear::Calendar(2018), PriceYear::Calendar(2018)),
            Some(1.0)
        );
    }
}
