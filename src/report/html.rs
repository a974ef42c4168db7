//! The HTML pack: one self-contained file (inline CSS, SVG charts and the
//! shipped font; no network requests) that reads well on screen and prints
//! to A4. Every figure comes from the disclosure-controlled tables.

use base64::Engine;

use super::charts::{Chart, FONT_REGULAR};
use super::format::{display, headline, kind, Kind};
use crate::metrics::{Evaluation, Table};
use crate::pipeline::Pipeline;

/// The README's Methods section: the pack states the same definitions the code uses.
const README: &str = include_str!("../../README.md");

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Minimal Markdown for the methods text: paragraphs, **bold**, `code`.
fn markdown(md: &str) -> String {
    let mut out = String::new();
    for para in md.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let mut s = esc(&para.replace('\n', " "));
        for (mark, open, close) in [("**", "<strong>", "</strong>"), ("`", "<code>", "</code>")] {
            let mut res = String::new();
            let mut inside = false;
            for (i, part) in s.split(mark).enumerate() {
                if i > 0 {
                    res.push_str(if inside { close } else { open });
                    inside = !inside;
                }
                res.push_str(part);
            }
            s = res;
        }
        out.push_str(&format!("<p>{s}</p>\n"));
    }
    out
}

fn methods_text() -> String {
    let start = README.find("## Methods").map(|i| i + "## Methods".len());
    match start {
        Some(i) => {
            let rest = &README[i..];
            let end = rest.find("\n## ").unwrap_or(rest.len());
            markdown(&rest[..end])
        }
        None => String::new(),
    }
}

/// A column name as a reader sees it.
pub fn heading(c: &str) -> String {
    let known = [
        ("provider_id", "Provider"),
        ("rate", "Completion rate"),
        ("ci_low", "95% CI low"),
        ("ci_high", "95% CI high"),
        ("uptake_ci_low", "Uptake 95% CI low"),
        ("uptake_ci_high", "Uptake 95% CI high"),
        ("n", "People"),
        ("n_paired", "People with scores before and after"),
        ("n_up_one_level", "Up at least one level"),
        ("n_up_3_points", "Up at least 3 points"),
        ("pct_up_one_level", "Share up at least one level"),
        ("pct_up_3_points", "Share up at least 3 points"),
        ("pam_n", "PAM pairs"),
        ("did", "Difference in differences"),
        ("estimate", "Difference in differences"),
        ("events_pre", "Events in the year before"),
        ("events_post", "Events in the year after"),
        ("mean_pre", "Per person, year before"),
        ("mean_post", "Per person, year after"),
        ("pct_change", "Change (%)"),
        ("no_variation", "No variation"),
        ("in_progress", "Starters on courses in progress"),
        ("to_level_1", "To level 1"),
        ("to_level_2", "To level 2"),
        ("to_level_3", "To level 3"),
        ("to_level_4", "To level 4"),
        ("local_is", "Local figure is"),
        ("pam_capture", "PAM capture (share of starters)"),
        (
            "deprived_share",
            "Starters from the most deprived 40% of areas",
        ),
        ("non_english_course_share", "Courses not in English"),
        ("imd_completeness", "Deprivation recorded"),
        ("ethnicity_completeness", "Ethnicity recorded"),
        ("completion_with_ci", "Completion % (95% CI)"),
        ("pam_change_with_ci", "PAM change, points (95% CI)"),
        (
            "emergency_admissions_vs_comparison",
            "Emergency admissions vs comparison (95% CI)",
        ),
    ];
    match known.iter().find(|(k, _)| *k == c) {
        Some((_, v)) => v.to_string(),
        None => plain(c),
    }
}

/// A code as words: `chronic_pain` → "Chronic pain"; other text unchanged.
pub fn plain(s: &str) -> String {
    let known = [
        ("generic", "Generic"),
        ("chronic_pain", "Chronic pain"),
        ("social_prescriber", "Social prescriber"),
        ("gp", "GP"),
        ("emergency_admissions", "Emergency admissions"),
        ("ae_attendances", "A&E attendances"),
        ("emergency_bed_days", "Emergency bed days"),
        ("elective_admissions", "Planned admissions"),
        ("outpatient_attendances", "Outpatient attendances"),
        ("starters", "Starters"),
        ("completers", "Completers"),
        ("comparison", "Referred but did not start"),
        ("per_year", "Per year"),
        ("one_off", "One-off"),
        ("per_course", "Per course"),
        ("per_starter", "Per starter"),
        ("per_completer", "Per completer"),
        ("contract", "Contract value a year"),
        ("not_allocated", "Not allocated"),
    ];
    if let Some((_, v)) = known.iter().find(|(k, _)| *k == s) {
        return v.to_string();
    }
    let is_code = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if is_code {
        let words = s.replace('_', " ");
        let mut c = words.chars();
        return match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => words,
        };
    }
    unsnake(s)
}

/// Codes inside a sentence ("is not one of generic, chronic_pain") as
/// words; file names and paths (next to `.` or `/`) are left as they are.
fn unsnake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !word(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && word(chars[i]) {
            i += 1;
        }
        let token: String = chars[start..i].iter().collect();
        let near_path = |c: Option<&char>| matches!(c, Some('.') | Some('/') | Some('\\'));
        let path =
            near_path(start.checked_sub(1).and_then(|k| chars.get(k))) || near_path(chars.get(i));
        if token.contains('_') && !path {
            out.push_str(&token.replace('_', " "));
        } else {
            out.push_str(&token);
        }
    }
    out
}

/// Every named table the evaluation has, in order, with all its columns.
fn tables_html(p: &Pipeline, e: &Evaluation, names: &[&str]) -> String {
    names
        .iter()
        .filter_map(|n| e.table(n))
        .map(|x| table_html(p, x, None))
        .collect()
}

fn table_html(p: &Pipeline, t: &Table, columns: Option<&[&str]>) -> String {
    let cols: Vec<String> = match columns {
        Some(c) => c
            .iter()
            .map(|s| s.to_string())
            .filter(|c| t.column_names().contains(c))
            .collect(),
        None => t.column_names(),
    };
    let mut h = format!(
        // A scrolling table is a focusable, named region (WCAG 2.1.1 keyboard access).
        "<div class=\"tablewrap\" role=\"region\" tabindex=\"0\" aria-label=\"{}\"><table data-table=\"{}\"><caption>{}</caption><thead><tr>",
        esc(&t.title),
        esc(&t.name),
        esc(&t.title)
    );
    for c in &cols {
        let class = if kind(t, c) == Kind::Text {
            "txt"
        } else {
            "num"
        };
        h.push_str(&format!("<th class=\"{class}\">{}</th>", esc(&heading(c))));
    }
    h.push_str("</tr></thead><tbody>");
    for i in 0..t.height() {
        h.push_str("<tr>");
        for c in &cols {
            let k = kind(t, c);
            let class = match k {
                Kind::Count => "num count",
                Kind::Text => "txt",
                _ => "num",
            };
            let shown = match k {
                Kind::Text if c == "provider_id" => p.provider_name(&display(t, i, c)),
                Kind::Text => plain(&display(t, i, c)),
                _ => display(t, i, c),
            };
            h.push_str(&format!(
                "<td class=\"{class}\" data-col=\"{}\">{}</td>",
                esc(c),
                esc(&shown)
            ));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>\n");
    h
}

/// Whether a row's 95% interval (`ci_low`, `ci_high`) includes zero; None
/// when the interval is not shown.
fn ci_includes_zero(t: &Table, i: usize) -> Option<bool> {
    if t.is_suppressed(i, "ci_low") || t.is_suppressed(i, "ci_high") {
        return None;
    }
    let (lo, hi) = (t.f64(i, "ci_low")?, t.f64(i, "ci_high")?);
    Some(lo <= 0.0 && hi >= 0.0)
}

fn chart_html(charts: &[Chart], name: &str) -> String {
    match charts.iter().find(|c| c.name == name) {
        Some(c) => format!(
            "<figure class=\"chart\" data-chart=\"{}\" aria-label=\"{}\">{}<figcaption>{}</figcaption></figure>\n",
            esc(c.name),
            esc(&c.title),
            // The chart's text alternative: its title and caption (WCAG 1.1.1).
            c.svg
                .replacen(
                    "<svg ",
                    &format!(
                        "<svg role=\"img\" aria-label=\"{}\" class=\"chart-svg\" viewBox=\"0 0 960 540\" ",
                        esc(&format!("{}. {}", c.title, c.caption))
                    ),
                    1
                )
                .replace("font-family=\"sans-serif\"", "font-family=\"DejaVu Sans, sans-serif\""),
            esc(&c.caption)
        ),
        None => format!("<p class=\"note\">No data for the chart “{}”.</p>", esc(name)),
    }
}

/// Methods for a commissioner: what was counted and compared, in plain words.
/// The definitions as the code applies them follow in the technical appendix.
pub const PLAIN_METHODS: &str = "**Who is counted.** Everyone referred to a course in the evaluation period. A starter came to at least one of the six weekly sessions; a completer came to at least four. Courses still running when the data were extracted are counted as activity but not yet judged on completion.

**Completion and uptake.** Completion is completers as a share of starters on finished courses; uptake is starters as a share of people referred. Each comes with a 95% confidence interval: the range the true figure probably lies in.

**Hospital use.** For each person we counted emergency admissions, A&E attendances, emergency bed days, planned admissions and outpatient attendances in the year before and the year after they started (or, for people who did not start, after they were referred). Only people whose hospital records cover both years are included. Starters' change is compared with the change among people referred who did not start (a difference in differences), because hospital use often falls after a referral whatever happens.

**Activation (PAM).** Scores shortly before the course are compared with scores one to twelve months after, for starters who have both.

**Cost and value.** The cost is the sum of the cost lines over the period: yearly costs and contract values for each year of the period, one-off costs spread over their life, and costs per course, starter or completer for the period's own numbers. Costs that are not one provider's are shared among providers by their own courses, starters or completers, as the cost table's heading says. Where a price base is set, every amount is first brought to that year's prices with the GDP deflator. Hospital activity avoided is priced at national average costs; it is an estimate of activity, not cash released.

**Providers.** Each provider's completion is set on a funnel plot, which allows for small providers' figures varying more by chance; the scorecard puts the rest side by side.

**Privacy.** Small numbers are hidden and every count is rounded to the nearest 5; every other figure is calculated from the rounded counts (see the disclosure statement).";

/// The published pack's disclosure statement (README "Disclosure control" says the same).
pub const DISCLOSURE_STATEMENT: &str = "This pack applies statistical disclosure control, following the NHS Digital HES Analysis Guide and OpenSAFELY's practice. Any count from 1 to 7 is shown as [c] and every other count, totals included, is rounded to the nearest 5; zero stays zero, except that a group with 7 or fewer people (or none) has all of its figures hidden. Every other figure is calculated from the rounded counts: rates, shares and their intervals from the rounded numerator and denominator, average events per person from the rounded event total and the rounded number of people, costs per person from the rounded number of people. Averages and other statistics about individuals are shown only where every group they describe has at least 10 people, to two decimal places. Because each count is rounded on its own, figures may not add up exactly, and no hidden number can be worked out from the others. Group labels are shown only from the lists the commissioner declared; anything else is shown as Other. No NHS number or other identifier appears in this pack.";

const RTM_CAUTION: &str = "Caution: people are often referred after a bad spell, so their hospital use tends to fall afterwards whatever happens (regression to the mean). A before/after change on its own overstates the programme's effect; the difference-in-differences against the comparison group allows for it.";

/// What every part of the page is drawn from.
#[derive(Clone, Copy)]
struct Page<'a> {
    p: &'a Pipeline,
    e: &'a Evaluation,
    charts: &'a [Chart],
    run_id: &'a str,
    internal: bool,
}

impl Page<'_> {
    /// A chart with its caption and text alternative.
    fn chart(&self, name: &str) -> String {
        chart_html(self.charts, name)
    }

    /// A table by name with a paragraph (or heading) before it; nothing when absent.
    fn table_after(&self, name: &str, intro: &str) -> String {
        match self.e.table(name) {
            Some(x) => format!("{intro}{}", table_html(self.p, x, None)),
            None => String::new(),
        }
    }

    /// Tables by name (separated by spaces), each with its title and notes
    /// (absent ones skipped).
    fn tables(&self, names: &str) -> String {
        tables_html(self.p, self.e, &words(names))
    }
}

pub fn render(
    p: &Pipeline,
    e: &Evaluation,
    charts: &[Chart],
    run_id: &str,
    internal: bool,
) -> String {
    let c = Page {
        p,
        e,
        charts,
        run_id,
        internal,
    };
    let mut h = String::new();
    head(&mut h, &c);
    summary_and_headlines(&mut h, &c);
    let sections: [fn(&mut String, &Page); 14] = [
        activity,
        completion,
        equity,
        hospital,
        pam,
        cost_and_value,
        providers,
        trend,
        data_quality,
        limitations,
        methods,
        glossary,
        disclosure,
        appendix,
    ];
    for section in sections {
        section(&mut h, &c);
    }
    h
}

/// The document head, the banners and the title block.
fn head(h: &mut String, c: &Page) {
    let Page {
        p,
        e,
        internal,
        run_id,
        ..
    } = *c;
    let font = base64::engine::general_purpose::STANDARD.encode(FONT_REGULAR);
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>@font-face{{font-family:'DejaVu Sans';src:url(data:font/ttf;base64,{font}) format('truetype');}}{CSS}</style></head><body{}>\n",
        esc(&p.title),
        if internal || p.privacy.demo { " class=\"internal\"" } else { "" }
    ));
    let mut banner = Vec::new();
    if internal {
        banner.push(format!(
            "{}: exact figures, no disclosure control",
            super::INTERNAL_MARK
        ));
    }
    if p.privacy.demo {
        banner.push(String::from(
            "DEMONSTRATION — synthetic data; the pipeline allows the public demo key",
        ));
    }
    if !banner.is_empty() {
        h.push_str(&format!(
            "<div class=\"banner\">{}</div>\n",
            esc(&banner.join(" · "))
        ));
    }
    let period = format!(
        "{} to {}",
        e.period.0.format("%-d %B %Y"),
        e.period.1.format("%-d %B %Y")
    );
    h.push_str(&format!(
        "<header><h1>{}</h1><p class=\"meta\">For: {} · Evaluation period: {} · Run {} · {}</p></header>\n",
        esc(&p.title),
        esc(&p.audience),
        esc(&period),
        esc(run_id),
        if internal { "Internal figures" } else { "Published figures (counts of 1–7 shown as [c], others rounded to the nearest 5)" }
    ));
}

/// Names separated by spaces, as a list.
fn words(names: &str) -> Vec<&str> {
    names.split_whitespace().collect()
}

/// A headline's interval in words: "95% CI low to high".
fn ci_words(t: Option<&Table>) -> String {
    format!(
        "95% CI {} to {}",
        headline(t, "ci_low"),
        headline(t, "ci_high")
    )
}

/// The summary in words and the headline cards.
fn summary_and_headlines(h: &mut String, c: &Page) {
    let t = |n: &str| c.e.table(n);
    // Headline figures.
    let (did_text, did_verdict) = did_card(c.e);
    let cards = [
        (
            "Starters",
            esc(&headline(t("activity_overall"), "starters")),
            "people who attended at least one session".to_string(),
        ),
        (
            "Completion rate",
            esc(&headline(t("completion_overall"), "rate")),
            ci_words(t("completion_overall")),
        ),
        (
            "Emergency admissions vs comparison",
            did_text,
            format!(
                "change per person per year, starters minus people referred who did not start: {}",
                did_verdict
            ),
        ),
        (
            "PAM change",
            esc(&headline(t("pam_summary"), "change")),
            format!("points; {}", ci_words(t("pam_summary"))),
        ),
        (
            "Cost per completer",
            esc(&headline(t("cost_summary"), "per_completer")),
            "Dudley: about £240 per completion (commissioning guide, 2018)".to_string(),
        ),
    ];
    if let Some(x) = t("summary") {
        h.push_str("<section class=\"summary\"><h2>Summary</h2><ul>");
        for i in 0..x.height() {
            h.push_str(&format!("<li>{}</li>", esc(&x.text(i, "sentence"))));
        }
        h.push_str("</ul></section>\n");
    }
    h.push_str("<section class=\"headlines\"><h2>Headline figures</h2><div class=\"cards\">");
    for (label, value, note) in cards {
        h.push_str(&format!(
            "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{value}</div><div class=\"note\">{}</div></div>",
            esc(label),
            esc(&note)
        ));
    }
    h.push_str("</div></section>\n");
}

/// The headline card of the primary outcome: the matched DiD where matching
/// ran, else the unmatched one, as HTML, and its verdict in words.
fn did_card(e: &Evaluation) -> (String, &'static str) {
    let t = |n: &str| e.table(n);
    // The primary outcome's matched DiD where matching ran, else the unmatched one.
    let did_table = if t("did_matched")
        .and_then(|d| d.find("outcome", "emergency_admissions"))
        .is_some()
    {
        "did_matched"
    } else {
        "did"
    };
    let did_em = t(did_table).and_then(|d| {
        (0..d.height())
            .find(|&i| d.text(i, "outcome") == "emergency_admissions")
            .map(|i| (d, i))
    });
    let did_text = match did_em {
        Some((d, i)) => format!(
            "{} <small>(95% CI {} to {}){}</small>",
            esc(&display(d, i, "estimate")),
            esc(&display(d, i, "ci_low")),
            esc(&display(d, i, "ci_high")),
            if ci_includes_zero(d, i) == Some(true) {
                ": no clear difference"
            } else {
                ""
            }
        ),
        None => "–".into(),
    };
    let did_verdict = match did_em.map(|(d, i)| {
        crate::metrics::summary::verdict(
            d.f64(i, "estimate"),
            d.f64(i, "ci_low"),
            d.f64(i, "ci_high"),
        )
    }) {
        Some(crate::metrics::summary::Verdict::ClearFall) => "a clear fall",
        Some(crate::metrics::summary::Verdict::ClearRise) => "a clear rise",
        Some(crate::metrics::summary::Verdict::NoClearDifference) => {
            "no clear difference (the interval includes zero)"
        }
        _ => "too few people to estimate",
    };
    (did_text, did_verdict)
}

/// 1. Activity.
fn activity(h: &mut String, c: &Page) {
    h.push_str("<section><h2>1. Activity</h2>");
    h.push_str(&c.chart("referral_funnel"));
    h.push_str(&c.tables(
        "activity_by_provider activity_by_programme activity_by_financial_year activity_by_quarter",
    ));
}

/// 2. Completion and retention.
fn completion(h: &mut String, c: &Page) {
    h.push_str("</section>\n<section><h2>2. Completion and retention</h2>");
    h.push_str(&c.chart("retention"));
    h.push_str(&c.tables("completion_overall completion_by_provider completion_by_programme waits_by_provider retention"));
}

/// 3. Reach and equity.
fn equity(h: &mut String, c: &Page) {
    let Page { p, e, .. } = *c;
    h.push_str("</section>\n<section><h2>3. Reach and equity</h2>");
    h.push_str(&c.chart("completion_by_imd"));
    h.push_str("<p class=\"note\">\"Not known\" rows are missing data, not a group of people: how complete each provider's data are is in the scorecard.</p>");
    for x in e.tables.iter().filter(|x| x.name.starts_with("equity_by_")) {
        h.push_str(&table_html(
            p,
            x,
            Some(&words(
                "group referrals starters uptake completers rate ci_low ci_high",
            )),
        ));
    }
    h.push_str(&c.table_after("reach", "<p>Reach: starters per 1,000 of the target population, and each group's share of starters against its share of that population (a representation ratio of 1 means represented in proportion; below 1, under-represented).</p>"));
}

/// 4. Hospital use.
fn hospital(h: &mut String, c: &Page) {
    let Page { p, e, .. } = *c;
    let t = |n: &str| e.table(n);
    h.push_str("</section>\n<section><h2>4. Hospital use</h2>");
    if let Some(why) = &e.hospital_absent {
        h.push_str(&format!("<p class=\"caution\">{}</p>", esc(why)));
    } else {
        h.push_str(&format!(
        "<p>Hospital data coverage: {} to {}. Each person's year before and year after their index date must lie inside it; people without full follow-up are counted below, not dropped.</p>",
        e.coverage.0.format("%-d %B %Y"),
        e.coverage.1.format("%-d %B %Y")
    ));
        if let Some(x) = t("hospital_follow_up") {
            h.push_str(&table_html(p, x, None));
        }
        h.push_str(&format!("<p class=\"caution\">{}</p>", esc(RTM_CAUTION)));
        h.push_str(&c.chart("hospital_pre_post"));
        h.push_str(&c.chart("hospital_change"));
        if let Some(x) = t("hospital_pre_post") {
            h.push_str(&table_html(p, x, None));
        }
        if t("hospital_pre_post")
            .is_some_and(|x| (0..x.height()).any(|i| x.text(i, "no_variation") == "true"))
        {
            h.push_str("<p class=\"note\">Where a row's no variation column reads true, every person's change was the same: its interval has no width (no variation), not infinite precision.</p>");
        }
        h.push_str(&c.chart("did_forest"));
        if let Some(x) = t("did") {
            h.push_str(&table_html(p, x, None));
            let unclear: Vec<String> = (0..x.height())
                .filter(|&i| ci_includes_zero(x, i) == Some(true))
                .map(|i| x.text(i, "outcome").replace('_', " "))
                .collect();
            if !unclear.is_empty() {
                h.push_str(&format!(
                    "<p class=\"note\">No clear difference between starters and the comparison group in {}: the 95% confidence interval includes zero, so the data are consistent with no effect.</p>",
                    esc(&unclear.join(", "))
                ));
            }
        }
        h.push_str("<h3>Compared with whom?</h3><p>Starters differ from people referred who did not start (age, deprivation, earlier hospital use). The matched comparison gives each starter comparison people with the same characteristics and earlier hospital use, weighted so the two groups have the same mix; the balance table shows how alike the groups are before and after (a standardised difference under 0.1 is usually taken as balanced). Starters with no similar comparison person are counted, not hidden.</p>");
        h.push_str(&c.chart("balance_smd"));
        h.push_str(
            &c.tables("matching did_matched balance did_aligned_index placebo_did sensitivity"),
        );
    }
}

/// 5. Patient activation (PAM).
fn pam(h: &mut String, c: &Page) {
    h.push_str("</section>\n<section><h2>5. Patient activation (PAM)</h2>");
    h.push_str("<p class=\"caution\">The PAM change is a before/after change among starters with both scores, with no comparison group: part of it may be regression to the mean, especially for people starting at level 1.</p>");
    h.push_str(&c.chart("pam_levels"));
    h.push_str(&c.chart("pam_by_baseline"));
    h.push_str(&c.tables("pam_summary pam_transitions pam_by_baseline"));
}

/// 6. Cost and value, the evidence and the contract.
fn cost_and_value(h: &mut String, c: &Page) {
    let Page { p, e, .. } = *c;
    let t = |n: &str| e.table(n);
    h.push_str("</section>\n<section><h2>6. Cost and value</h2>");
    h.push_str(&c.chart("cost_per_completer"));
    h.push_str(&c.tables("cost_lines cost_summary cost_by_provider savings unit_costs value"));
    h.push_str(&format!(
        "<p class=\"note\">{}</p>",
        esc(&crate::metrics::cost::prices_sentence(p))
    ));
    for (what, why) in &e.not_estimable {
        h.push_str(&format!(
            "<p class=\"caution\">The {} is not estimable: {}.</p>",
            if what == "value" {
                "value of hospital activity avoided"
            } else {
                what.as_str()
            },
            esc(why)
        ));
    }
    if t("value").is_some_and(|v| v.text(0, "partial") == "true") {
        h.push_str(&format!(
            "<p class=\"caution\">Partial: the value covers only {}; the other outcomes could not be published.</p>",
            esc(&t("value").map(|v| v.text(0, "outcomes_covered")).unwrap_or_default())
        ));
    }
    h.push_str("<p class=\"note\">This is the estimated value of hospital activity avoided, priced at national average unit costs — not cash released: money is released only if commissioners act to take the capacity out. It is the difference-in-differences of each person's costed hospital use over one outcome year, estimated on starters with full follow-up and applied to all starters in the period, the same people the costs are for. An interval that includes zero means the data are consistent with no change.</p>");
    h.push_str(&c.table_after("evidence", "<h3>The published evidence beside the local figures</h3><p>The service was bought on published figures; each is shown beside the nearest local figure. A trial's or another service's population is not this service's: the local figure is expected to differ, and the last column says why it may.</p>"));
    h.push_str(&c.tables("contract quality_assurance"));
}

/// 7. Provider comparison.
fn providers(h: &mut String, c: &Page) {
    let Page { p, .. } = *c;
    let t = |n: &str| c.e.table(n);
    h.push_str("</section>\n<section><h2>7. Provider comparison</h2>");
    h.push_str(&c.table_after("scorecard", "<p>The scorecard puts each provider's volume, completion, group size, activation (PAM) capture and change, hospital result, reach into deprived areas and non-English courses, data completeness and cost side by side. \"Too few to estimate\" means fewer than 10 people; [c] means hidden to protect privacy.</p>"));
    h.push_str(&c.chart("provider_hospital"));
    h.push_str(&c.chart("provider_funnel"));
    if let Some(x) = t("providers") {
        h.push_str(&table_html(
            p,
            x,
            Some(&words("provider_id referrals starters completers rate ci_low ci_high funnel_position cost_per_completer pam_n pam_change")),
        ));
    }
    h.push_str(&c.chart("provider_funnel_adjusted"));
    h.push_str(&c.table_after("providers_adjusted", "<p>Completion adjusted for case mix: each provider's completers against the number expected from the age, sex, deprivation and long-term conditions of its starters (a ratio above 1 means more completed than expected; an interval wholly above or below 1 is a clear difference).</p>"));
}

/// 8. Trend and year on year.
fn trend(h: &mut String, c: &Page) {
    let Page { p, .. } = *c;
    let t = |n: &str| c.e.table(n);
    h.push_str("</section>\n<section><h2>8. Trend</h2>");
    h.push_str(&c.chart("trend_xmr"));
    if let Some(x) = t("trend_monthly") {
        h.push_str(&table_html(
            p,
            x,
            Some(&words(
                "month starters completers starters_special_cause completers_special_cause",
            )),
        ));
    }
    h.push_str(&c.table_after("year_on_year", "<h3>Year on year</h3>"));
    if let Some(x) = t("did_by_financial_year").filter(|x| x.height() > 0) {
        h.push_str("<h3>Hospital use by financial year</h3><p>The difference in differences for people whose course started (or, for the comparison group, who were referred) in each financial year. A year's figure rests on fewer people than the whole period's, so its interval is wider; figures for fewer than 10 people in either group are not shown.</p>");
        h.push_str(&table_html(p, x, None));
    }
    if let Some(x) = t("did_year_on_year").filter(|x| x.height() > 0) {
        h.push_str("<p>The change in each year's figure on the year before, with a 95% interval built from the two years' intervals (the years' people are different).</p>");
        h.push_str(&table_html(p, x, None));
    }
}

/// 9. Data quality.
fn data_quality(h: &mut String, c: &Page) {
    let Page { e, .. } = *c;
    h.push_str("</section>\n<section><h2>9. Data quality</h2><p>Every row read from every file is accepted or rejected with a reason; rejected rows are kept in the warehouse for the data's owners to correct.</p>");
    h.push_str(&c.tables("data_quality reject_reasons"));
    for note in &e.notes {
        h.push_str(&format!("<p class=\"note\">{}</p>", esc(note)));
    }
}

/// 10. Limitations.
fn limitations(h: &mut String, c: &Page) {
    let t = |n: &str| c.e.table(n);
    h.push_str("</section>\n<section><h2>10. Limitations</h2><ul>");
    if let Some(x) = t("limitations") {
        for i in 0..x.height() {
            h.push_str(&format!("<li>{}</li>", esc(&x.text(i, "limitation"))));
        }
    }
}

/// 11. How the figures were made.
fn methods(h: &mut String, _: &Page) {
    h.push_str("</ul></section>\n<section><h2>11. How the figures were made</h2>");
    h.push_str(&markdown(PLAIN_METHODS));
}

/// 12. Glossary.
fn glossary(h: &mut String, c: &Page) {
    let t = |n: &str| c.e.table(n);
    h.push_str("</section>\n<section><h2>12. Glossary</h2>");
    if let Some(x) = t("glossary") {
        h.push_str("<dl class=\"glossary\">");
        for i in 0..x.height() {
            h.push_str(&format!(
                "<dt>{}</dt><dd>{}</dd>",
                esc(&x.text(i, "term")),
                esc(&x.text(i, "meaning"))
            ));
        }
        h.push_str("</dl>");
    }
}

/// 13. Disclosure statement.
fn disclosure(h: &mut String, c: &Page) {
    let Page { internal, .. } = *c;
    h.push_str("</section>\n<section><h2>13. Disclosure statement</h2>");
    if internal {
        h.push_str(&format!(
            "<p><strong>{}.</strong> This pack",
            super::INTERNAL_MARK
        ));
        h.push_str(" shows exact figures, including small numbers that could identify people. Do not share it outside the organisation that holds the data.</p>");
    } else {
        h.push_str(&format!("<p>{}</p>", esc(DISCLOSURE_STATEMENT)));
    }
}

/// The technical appendix, closing the page.
fn appendix(h: &mut String, c: &Page) {
    let Page { p, .. } = *c;
    h.push_str("</section>\n<section class=\"methods\" id=\"technical-appendix\"><h2>Technical appendix: definitions as the code applies them</h2>");
    h.push_str(&methods_text());
    h.push_str(&format!(
        "<p class=\"meta\">Made by smpeval {} from pipeline {} (SHA-256 {}).</p></section>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&p.path.display().to_string()),
        &p.sha256[..16]
    ));
}

const CSS: &str = r#"
:root{--ink:#1b1b1b;--muted:#555;--rule:#d0d0d0;--accent:#0072B2;--warn:#D55E00;}
*{box-sizing:border-box}
body{font-family:'DejaVu Sans',Arial,sans-serif;color:var(--ink);max-width:1000px;margin:0 auto;padding:1.5rem;line-height:1.45;font-size:15px}
h1{font-size:1.9rem;margin:.2rem 0}
h2{font-size:1.35rem;border-bottom:2px solid var(--accent);padding-bottom:.2rem;margin-top:2rem}
.meta{color:var(--muted);font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:.8rem}
.card{border:1px solid var(--rule);border-left:5px solid var(--accent);padding:.7rem;border-radius:4px;break-inside:avoid}
.card .label{font-size:.85rem;color:var(--muted)}
.card .value{font-size:1.6rem;font-weight:bold;margin:.2rem 0}
.card .value small{font-size:.8rem;font-weight:normal}
.card .note{font-size:.8rem;color:var(--muted)}
figure.chart{margin:1rem 0;break-inside:avoid;page-break-inside:avoid}
figure.chart svg{width:100%;height:auto;display:block}
figcaption{font-size:.85rem;color:var(--muted);margin-top:.3rem}
.tablewrap{overflow-x:auto;margin:.8rem 0;break-inside:avoid}
table{border-collapse:collapse;font-size:.82rem;width:100%}
caption{text-align:left;font-weight:bold;margin-bottom:.3rem}
th{background:#f2f2f2;text-align:left;border-bottom:2px solid var(--rule);padding:.3rem .4rem}
td{border-bottom:1px solid var(--rule);padding:.25rem .4rem}
th.num{text-align:right}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.caution{border-left:5px solid var(--warn);background:#fff4ec;padding:.6rem .8rem}
.note{color:var(--muted);font-size:.9rem}
.summary ul{font-size:1.05rem;line-height:1.5}
dl.glossary dt{font-weight:bold;margin-top:.5rem}
dl.glossary dd{margin-left:1rem}
.banner{position:fixed;top:0;left:0;right:0;background:#9C3D00;color:#fff;font-weight:bold;text-align:center;padding:.35rem;z-index:10}
body.internal{padding-top:3rem}
code{background:#f2f2f2;padding:0 .2rem}
@page{size:A4;margin:14mm 12mm}
@media print{body{max-width:none;padding:0;font-size:10.5pt}h2{break-after:avoid}section{break-inside:auto}.tablewrap{overflow:visible}body.internal{padding-top:0}.banner{position:fixed;top:0}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_before_markup_is_added() {
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(
            markdown("Use **bold** and `code`.\n\nA <second> para."),
            "<p>Use <strong>bold</strong> and <code>code</code>.</p>\n<p>A &lt;second&gt; para.</p>\n"
        );
    }

    #[test]
    fn codes_read_as_words_but_file_names_do_not() {
        assert_eq!(plain("chronic_pain"), "Chronic pain");
        assert_eq!(plain("ae_attendances"), "A&E attendances");
        assert_eq!(plain("imd_decile"), "Imd decile");
        assert_eq!(heading("provider_id"), "Provider");
        assert_eq!(
            plain("is not one of generic, chronic_pain in hes_apc.csv"),
            "is not one of generic, chronic pain in hes_apc.csv"
        );
        assert_eq!(words(" a  b c "), vec!["a", "b", "c"]);
    }
}
