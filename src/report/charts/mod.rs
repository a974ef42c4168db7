//! The pack's charts, drawn with plotters from the (disclosure-controlled)
//! tables: each as SVG (inlined in the HTML) and PNG. Text uses DejaVu Sans,
//! shipped in `assets/fonts`, so no system font is needed. Colours are the
//! Okabe–Ito colour-blind-safe palette. A suppressed figure is not drawn.

mod activity;
mod hospital;
mod pam;
mod providers;
mod theme;

use crate::error::WriteError;
use crate::metrics::{Evaluation, Table};
use plotters::prelude::*;
use std::path::Path;

use activity::*;
use hospital::*;
use pam::*;
use providers::*;
use theme::*;
pub use theme::{FONT, FONT_REGULAR, HEIGHT, WIDTH};

/// One drawn chart.
pub struct Chart {
    pub name: &'static str,
    pub title: String,
    /// The SVG markup (inlined in the HTML).
    pub svg: String,
    /// A sentence under the chart.
    pub caption: String,
}

#[derive(Clone, Copy)]
enum Kind {
    ReferralFunnel,
    Retention,
    ProviderFunnel,
    HospitalPrePost,
    HospitalChange,
    DidForest,
    PamLevels,
    PamByBaseline,
    Trend,
    CostPerCompleter,
    CompletionByImd,
    BalanceSmd,
    AdjustedFunnel,
    ProviderForest,
}

const KINDS: &[(Kind, &str, &str)] = &[
    (
        Kind::ReferralFunnel,
        "referral_funnel",
        "Referrals, starters and completers",
    ),
    (
        Kind::Retention,
        "retention",
        "Starters attending each session",
    ),
    (
        Kind::ProviderFunnel,
        "provider_funnel",
        "Completion rate by provider: funnel plot",
    ),
    (
        Kind::HospitalPrePost,
        "hospital_pre_post",
        "Hospital use per person, year before vs year after",
    ),
    (
        Kind::HospitalChange,
        "hospital_change",
        "Change in hospital use per person (95% CI)",
    ),
    (
        Kind::DidForest,
        "did_forest",
        "Difference-in-differences: starters vs comparison (95% CI)",
    ),
    (
        Kind::PamLevels,
        "pam_levels",
        "PAM level at baseline and follow-up",
    ),
    (
        Kind::PamByBaseline,
        "pam_by_baseline",
        "PAM change by baseline level",
    ),
    (Kind::Trend, "trend_xmr", "Monthly starters: XmR chart"),
    (
        Kind::CostPerCompleter,
        "cost_per_completer",
        "Cost per completer by provider",
    ),
    (
        Kind::CompletionByImd,
        "completion_by_imd",
        "Completion by IMD quintile",
    ),
    (
        Kind::AdjustedFunnel,
        "provider_funnel_adjusted",
        "Completion by provider adjusted for case mix: funnel plot",
    ),
    (
        Kind::ProviderForest,
        "provider_hospital",
        "Emergency admissions by provider: starters vs comparison (95% CI)",
    ),
    (
        Kind::BalanceSmd,
        "balance_smd",
        "Balance: standardised differences before and after matching",
    ),
];

/// Draws every chart with data, writing `<name>.svg` and `<name>.png` into `dir`.
pub fn draw_all(e: &Evaluation, dir: &Path) -> Result<Vec<Chart>, WriteError> {
    register_fonts();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut out = Vec::new();
    for (kind, name, title) in KINDS {
        let failed = |message: String| WriteError::Chart {
            name: name.to_string(),
            message,
        };
        let mut svg = String::new();
        let drawn = {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            let caption = draw(*kind, e, &root, title).map_err(|err| failed(err.to_string()))?;
            root.present().map_err(|err| failed(err.to_string()))?;
            caption
        };
        let Some(caption) = drawn else { continue };
        let svg_path = dir.join(format!("{name}.svg"));
        std::fs::write(&svg_path, &svg).map_err(io(&svg_path))?;
        let png = dir.join(format!("{name}.png"));
        {
            let root = BitMapBackend::new(&png, (WIDTH, HEIGHT)).into_drawing_area();
            draw(*kind, e, &root, title).map_err(|err| failed(err.to_string()))?;
            root.present()
                .map_err(|err| failed(format!("(png) {err}")))?;
        }
        out.push(Chart {
            name,
            title: title.to_string(),
            svg,
            caption,
        });
    }
    Ok(out)
}

/// Draws one chart; Ok(None) when there is nothing to draw.
fn draw<DB: Backend>(kind: Kind, e: &Evaluation, root: &Area<DB>, title: &str) -> Drawn {
    root.fill(&WHITE)?;
    // A chart of one table: nothing to draw without the table.
    let from = |table: &str, chart: fn(&Table, &Area<DB>, &str) -> Drawn| match e.table(table) {
        Some(t) => chart(t, root, title),
        None => Ok(None),
    };
    let caption = match kind {
        Kind::ReferralFunnel => from("activity_overall", referral_funnel)?,
        Kind::Retention => retention(e, root, title)?,
        Kind::ProviderFunnel => provider_funnel(e, root, title)?,
        Kind::HospitalPrePost => from("hospital_pre_post", hospital_pre_post)?,
        Kind::HospitalChange => from("hospital_pre_post", hospital_change)?,
        Kind::DidForest => from("did", did_forest)?,
        Kind::PamLevels => from("pam_levels", pam_levels)?,
        Kind::PamByBaseline => pam_by_baseline(e, root, title)?,
        Kind::Trend => from("trend_monthly", trend)?,
        Kind::CostPerCompleter => cost_per_completer(e, root, title)?,
        Kind::CompletionByImd => from("equity_by_imd_quintile", completion_by_imd)?,
        Kind::BalanceSmd => from("balance", balance_smd)?,
        Kind::AdjustedFunnel => adjusted_funnel(e, root, title)?,
        Kind::ProviderForest => provider_forest(e, root, title)?,
    };
    Ok(caption)
}
