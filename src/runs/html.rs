//! A past run as one HTML page: a header, the totals, a timeline of every build's steps, and
//! the tables people look for after a run (failures, slowest steps, every build).
//!
//! The page is self-contained (inline CSS and SVG, no script, no font or image fetched) so
//! that it can be attached to a ticket, kept as a CI artifact or opened offline years later,
//! and look the same everywhere. Every string from the events is escaped: build names and
//! error messages come from configuration files and remote systems.

use std::time::Duration;

use super::record::{BuildOutcome, BuildRecord, RunRecord, Span};

/// The SVG's width in user units; the viewBox lets it shrink to the window.
const WIDTH: f64 = 1200.0;
/// The left column, where lanes show their build's name.
const LABEL_WIDTH: f64 = 230.0;
/// Room right of the time axis for the last tick's label.
const RIGHT_MARGIN: f64 = 24.0;
const AXIS_HEIGHT: f64 = 26.0;
const REGION_HEIGHT: f64 = 22.0;
const LANE_HEIGHT: f64 = 18.0;
const BAR_HEIGHT: f64 = 12.0;
/// A reused AMI took no time worth drawing; its bar is a fixed-width label instead.
const REUSED_WIDTH: f64 = 190.0;
/// Roughly how wide a character of the 11px labels is, to cut text that would not fit.
const CHAR_WIDTH: f64 = 6.2;
const SLOWEST: usize = 8;

/// The colour of each step: the Okabe-Ito palette (distinguishable with every common colour
/// vision deficiency) with its vermillion swapped for wine, so no step looks like failure red.
const STEP_COLOURS: [(&str, &str); 8] = [
    ("replace", "#882255"),
    ("stage", "#56b4e9"),
    ("copy", "#0072b2"),
    ("launch", "#e69f00"),
    ("provision", "#009e73"),
    ("image", "#f0e442"),
    ("permissions", "#cc79a7"),
    ("finish", "#555555"),
];

const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1a1a1a;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}
dl.meta dt{color:#555}dl.meta dd{margin:0}
p.warning{color:#8a4b00;background:#fff4e0;border:1px solid #f0c36d;padding:6px 10px;border-radius:4px}
ul.totals{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:10px}
ul.totals li{border:1px solid #ddd;border-radius:4px;padding:6px 14px;min-width:90px}
ul.totals .n{display:block;font-size:20px;font-weight:600}
ul.totals li.bad .n{color:#c00000}
svg.timeline{display:block;width:100%;max-width:1200px;height:auto}
svg.timeline text{font-size:11px;fill:#222}
.tick{fill:#555}.grid{stroke:#e3e3e3;stroke-width:1}
.region-label{font-weight:600;font-size:12px}
.lane-bg{fill:#f5f5f5}
rect.step{fill:#bbbbbb;stroke:#000;stroke-opacity:.35;stroke-width:.5}
rect.step.failed{stroke:#c00000;stroke-opacity:1;stroke-width:2}
.failure-mark{fill:#c00000;font-weight:700}
.reason{fill:#a00000;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
rect.reused{stroke:#888;stroke-width:.5}
.lane-note{fill:#555;font-style:italic;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px}
.swatch{display:inline-block;width:14px;height:10px;margin-right:6px;border:1px solid rgba(0,0,0,.35);vertical-align:-1px;background:#bbbbbb}
.swatch.reused{background:repeating-linear-gradient(45deg,#e6e6e6 0 3px,#a0a0a0 3px 5px)}
.fail-key{color:#c00000;font-weight:700;margin-right:6px}
table{border-collapse:collapse;margin:4px 0 8px}
th,td{text-align:left;padding:3px 12px 3px 0;border-bottom:1px solid #e6e6e6;vertical-align:top}
th{color:#555;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td.result{color:#c00000}
";

/// The whole page for `r`.
pub fn render(r: &RunRecord) -> String {
    let mut page = String::new();
    head(&mut page, r);
    header(&mut page, r);
    totals(&mut page, r);
    timeline(&mut page, r);
    failures(&mut page, r);
    slowest(&mut page, r);
    builds(&mut page, r);
    page.push_str("</body>\n</html>\n");
    page
}

/// A duration for people: `0.97s` and `4.38s` under 10 s (a step that short still took time),
/// then whole seconds: `23s`, `1m 23s`, `1h 2m 3s`.
pub fn duration_text(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        return format!("{:.2}s", d.as_secs_f64());
    }
    whole_seconds(d.as_secs())
}

/// `1h 2m 3s`, leaving out zero parts (`2m`, `1h 5s`); `0s` for nothing.
fn whole_seconds(secs: u64) -> String {
    let parts = [(secs / 3600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if shown.is_empty() {
        "0s".to_string()
    } else {
        shown.join(" ")
    }
}

/// `s` made safe for HTML text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters, the cut shown; the full text goes in a tooltip or a table.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let kept: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A step as a CSS class suffix: a step name from another version must not break the
/// attribute or add classes.
fn class_name(step: &str) -> String {
    step.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '_',
        })
        .collect()
}

fn head(page: &mut String, r: &RunRecord) {
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str(&format!("<title>amipub run {}</title>\n", esc(&r.run_id)));
    page.push_str("<style>\n");
    page.push_str(CSS);
    for (step, colour) in STEP_COLOURS {
        page.push_str(&format!(
            "rect.step-{step}{{fill:{colour}}}.swatch.step-{step}{{background:{colour}}}\n"
        ));
    }
    page.push_str("</style>\n</head>\n<body>\n");
}

fn header(page: &mut String, r: &RunRecord) {
    page.push_str(&format!(
        "<header>\n<h1>amipub run <code>{}</code></h1>\n<dl class=\"meta\">\n",
        esc(&r.run_id)
    ));
    let started = humantime::format_rfc3339_seconds(r.started).to_string();
    let wall = duration_text(r.wall());
    let rows = [
        ("Profile", r.profile.as_deref().unwrap_or("(not recorded)")),
        ("Version", r.version.as_deref().unwrap_or("(not recorded)")),
        ("Started", started.as_str()),
        ("Wall time", wall.as_str()),
    ];
    for (name, value) in rows {
        page.push_str(&format!("<dt>{name}</dt><dd>{}</dd>\n", esc(value)));
    }
    page.push_str("</dl>\n");
    let open = r.builds.iter().filter(|b| !b.finished).count();
    if open > 0 {
        page.push_str(&format!(
            "<p class=\"warning\">The run did not finish: {open} of {} builds have no end \
             (the run was killed, or is still going).</p>\n",
            r.builds.len()
        ));
    }
    page.push_str("</header>\n");
}

fn totals(page: &mut String, r: &RunRecord) {
    let t = r.totals();
    let items = [
        (t.published.to_string(), "published now", false),
        (t.reused.to_string(), "reused", false),
        (t.failed.to_string(), "failed", t.failed > 0),
        (t.cancelled.to_string(), "cancelled", t.cancelled > 0),
        (t.unfinished.to_string(), "unfinished", t.unfinished > 0),
        (duration_text(r.wall()), "wall time", false),
        (r.launches().to_string(), "instance launches", false),
    ];
    page.push_str("<section>\n<h2>Totals</h2>\n<ul class=\"totals\">\n");
    for (n, what, bad) in items {
        let class = if bad { " class=\"bad\"" } else { "" };
        page.push_str(&format!(
            "<li{class}><span class=\"n\">{}</span>{what}</li>\n",
            esc(&n)
        ));
    }
    page.push_str("</ul>\n</section>\n");
}

/// Seconds on the time axis to pixels.
struct Scale {
    /// The time the axis covers, in seconds (never zero).
    span: f64,
}

impl Scale {
    /// Covers the run and anything drawn past its last event.
    fn of(r: &RunRecord) -> Scale {
        let ends = r.builds.iter().flat_map(|b| b.spans.iter().map(|s| s.end));
        let latest = ends.chain([r.wall()]).max().unwrap_or_default();
        Scale {
            span: latest.as_secs_f64().max(0.001),
        }
    }

    fn x(&self, t: Duration) -> f64 {
        self.x_secs(t.as_secs_f64())
    }

    fn x_secs(&self, secs: f64) -> f64 {
        LABEL_WIDTH + secs / self.span * (WIDTH - LABEL_WIDTH - RIGHT_MARGIN)
    }

    fn right(&self) -> f64 {
        WIDTH - RIGHT_MARGIN
    }
}

/// Seconds between ticks: the smallest of 1-2-5 steps (and minutes, hours) that puts at most
/// 14 intervals on the axis; the steps grow by at most 2.5x, so there are at least 6 ticks.
fn tick_step(span: f64) -> f64 {
    const LADDER: [f64; 23] = [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
        60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ];
    let mut step = LADDER
        .iter()
        .copied()
        .find(|s| span / s <= 14.0)
        .unwrap_or(7200.0);
    while span / step > 14.0 {
        step *= 2.0;
    }
    step
}

/// A tick's label: as many decimals as the step needs under a second, else `1m 30s`.
fn tick_label(secs: f64, step: f64) -> String {
    if step >= 1.0 {
        return whole_seconds(secs.round() as u64);
    }
    // The epsilon keeps 0.001 at 3 decimals despite floating-point log10.
    let decimals = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
    format!("{secs:.decimals$}s")
}

/// The builds of each region, regions in the order their first build appears.
fn by_region(r: &RunRecord) -> Vec<(&str, Vec<&BuildRecord>)> {
    let mut groups: Vec<(&str, Vec<&BuildRecord>)> = Vec::new();
    for b in &r.builds {
        let region = b.region.as_deref().unwrap_or("(region unknown)");
        match groups.iter_mut().find(|(name, _)| *name == region) {
            Some((_, builds)) => builds.push(b),
            None => groups.push((region, vec![b])),
        }
    }
    groups
}

fn timeline(page: &mut String, r: &RunRecord) {
    let groups = by_region(r);
    let height = AXIS_HEIGHT
        + groups.len() as f64 * REGION_HEIGHT
        + r.builds.len() as f64 * LANE_HEIGHT
        + 6.0;
    let scale = Scale::of(r);
    page.push_str("<section>\n<h2>Timeline</h2>\n");
    page.push_str(&format!(
        "<svg class=\"timeline\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"Steps of {} builds over time\">\n",
        r.builds.len()
    ));
    page.push_str(
        "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#e6e6e6\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#a0a0a0\" stroke-width=\"3\"/>\
         </pattern></defs>\n",
    );
    axis(page, &scale, height);
    let mut y = AXIS_HEIGHT;
    let mut lane_no = 0;
    for (region, builds) in groups {
        page.push_str(&format!(
            "<g class=\"region\" data-region=\"{0}\">\n<text class=\"region-label\" x=\"4\" \
             y=\"{1:.1}\">{0}</text>\n",
            esc(region),
            y + REGION_HEIGHT - 7.0
        ));
        y += REGION_HEIGHT;
        for b in builds {
            lane(page, b, y, lane_no, &scale);
            y += LANE_HEIGHT;
            lane_no += 1;
        }
        page.push_str("</g>\n");
    }
    page.push_str("</svg>\n");
    legend(page, r);
    page.push_str("</section>\n");
}

fn axis(page: &mut String, scale: &Scale, height: f64) {
    let step = tick_step(scale.span);
    let count = (scale.span / step + 1e-9).floor() as u64;
    for i in 0..=count {
        let secs = i as f64 * step;
        let x = scale.x_secs(secs);
        page.push_str(&format!(
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{height:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            AXIS_HEIGHT - 6.0,
            AXIS_HEIGHT - 10.0,
            tick_label(secs, step)
        ));
    }
}

/// One build's row: its name, a bar per step, and how it ended when that is not plain success.
fn lane(page: &mut String, b: &BuildRecord, y: f64, lane_no: usize, scale: &Scale) {
    let reused = matches!(b.outcome, BuildOutcome::Published { reused: true, .. });
    let class = if reused { "lane reused" } else { "lane" };
    page.push_str(&format!(
        "<g class=\"{class}\" data-build=\"{}\">\n",
        esc(&b.name)
    ));
    if lane_no % 2 == 1 {
        // Every other lane shaded, so the eye can follow a lane across 1200 px.
        page.push_str(&format!(
            "<rect class=\"lane-bg\" x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" \
             height=\"{LANE_HEIGHT}\"/>\n"
        ));
    }
    let max_name = (LABEL_WIDTH / CHAR_WIDTH) as usize - 2;
    page.push_str(&format!(
        "<text class=\"build\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}\
         <title>{}</title></text>\n",
        LABEL_WIDTH - 8.0,
        y + LANE_HEIGHT - 5.0,
        esc(&cut(&b.name, max_name)),
        esc(&b.name)
    ));
    let failed = failed_span(b);
    for (i, s) in b.spans.iter().enumerate() {
        bar(page, b, s, y, failed == Some(i), scale);
    }
    match &b.outcome {
        BuildOutcome::Failed { step, error } => {
            let at = failed.map(|i| b.spans[i].end).or(b.last_event);
            failure(page, step, error, scale.x(at.unwrap_or_default()), y, scale);
        }
        BuildOutcome::Published {
            ami_id,
            reused: true,
        } => reused_bar(page, b, ami_id, y, scale),
        BuildOutcome::Cancelled => lane_note(page, b, "cancelled", y, scale),
        BuildOutcome::Unfinished => lane_note(page, b, "unfinished", y, scale),
        BuildOutcome::Published { .. } => {}
    }
    page.push_str("</g>\n");
}

/// The span of the step that failed: its last attempt.
fn failed_span(b: &BuildRecord) -> Option<usize> {
    let BuildOutcome::Failed { step, .. } = &b.outcome else {
        return None;
    };
    b.spans.iter().rposition(|s| &s.step == step)
}

fn bar(page: &mut String, b: &BuildRecord, s: &Span, y: f64, failed: bool, scale: &Scale) {
    let x = scale.x(s.start);
    // A step of a few microseconds still ran: keep it visible.
    let width = (scale.x(s.end) - x).max(1.0);
    let extra = if failed { " failed" } else { "" };
    let how = if failed { ", failed" } else { "" };
    page.push_str(&format!(
        "<rect class=\"step step-{}{extra}\" x=\"{x:.2}\" y=\"{:.1}\" width=\"{width:.2}\" \
         height=\"{BAR_HEIGHT}\" data-build=\"{}\" data-step=\"{}\">\
         <title>{}: {} {}{how}</title></rect>\n",
        class_name(&s.step),
        y + (LANE_HEIGHT - BAR_HEIGHT) / 2.0,
        esc(&b.name),
        esc(&s.step),
        esc(&b.name),
        esc(&s.step),
        duration_text(s.duration()),
    ));
}

/// A red cross where the build failed, and why beside it: right of the cross when there is
/// room, else left of it over the lane's bars (a white halo keeps it legible).
fn failure(page: &mut String, step: &str, error: &str, x: f64, y: f64, scale: &Scale) {
    let baseline = y + LANE_HEIGHT - 5.0;
    let reason = format!("failed at {step}: {error}");
    page.push_str(&format!(
        "<text class=\"failure-mark\" x=\"{:.1}\" y=\"{baseline:.1}\">✕\
         <title>{}</title></text>\n",
        x + 2.0,
        esc(&reason)
    ));
    let room_right = WIDTH - (x + 16.0) - 4.0;
    let (anchor, tx, room) = if room_right >= 160.0 {
        ("start", x + 16.0, room_right)
    } else {
        ("end", x - 3.0, x - 3.0 - scale.x_secs(0.0))
    };
    let max = (room / CHAR_WIDTH).max(10.0) as usize;
    page.push_str(&format!(
        "<text class=\"reason\" x=\"{tx:.1}\" y=\"{baseline:.1}\" \
         text-anchor=\"{anchor}\">{}</text>\n",
        esc(&cut(&reason, max))
    ));
}

/// A reused AMI: a hatched label where the build found it, not a span of work.
fn reused_bar(page: &mut String, b: &BuildRecord, ami_id: &str, y: f64, scale: &Scale) {
    let start = scale.x(b.first_event.unwrap_or_default());
    let x = start.min(scale.right() - REUSED_WIDTH);
    let label = format!("reused {ami_id}");
    page.push_str(&format!(
        "<rect class=\"reused\" x=\"{x:.2}\" y=\"{:.1}\" width=\"{REUSED_WIDTH}\" \
         height=\"{BAR_HEIGHT}\" fill=\"url(#hatch)\" data-build=\"{}\">\
         <title>{}: {} (published by an earlier run)</title></rect>\n\
         <text class=\"reused-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
        y + (LANE_HEIGHT - BAR_HEIGHT) / 2.0,
        esc(&b.name),
        esc(&b.name),
        esc(&label),
        x + 4.0,
        y + LANE_HEIGHT - 5.0,
        esc(&cut(&label, (REUSED_WIDTH / CHAR_WIDTH) as usize - 1)),
    ));
}

/// A word after the lane's last bar, for builds that neither published nor failed.
fn lane_note(page: &mut String, b: &BuildRecord, note: &str, y: f64, scale: &Scale) {
    let end = b.spans.last().map(|s| s.end).or(b.last_event);
    let x = end.map_or(LABEL_WIDTH, |t| scale.x(t)) + 4.0;
    let (anchor, x) = if x + 80.0 > WIDTH {
        ("end", WIDTH - 4.0)
    } else {
        ("start", x)
    };
    page.push_str(&format!(
        "<text class=\"lane-note\" x=\"{x:.1}\" y=\"{:.1}\" \
         text-anchor=\"{anchor}\">{note}</text>\n",
        y + LANE_HEIGHT - 5.0
    ));
}

fn legend(page: &mut String, r: &RunRecord) {
    page.push_str("<ul class=\"legend\">\n");
    let known = STEP_COLOURS.map(|(step, _)| step);
    let mut others: Vec<&str> = Vec::new();
    for s in r.builds.iter().flat_map(|b| &b.spans) {
        if !known.contains(&s.step.as_str()) && !others.contains(&s.step.as_str()) {
            others.push(&s.step);
        }
    }
    for step in known.iter().copied().chain(others) {
        page.push_str(&format!(
            "<li><span class=\"swatch step-{}\"></span>{}</li>\n",
            class_name(step),
            esc(step)
        ));
    }
    page.push_str("<li><span class=\"swatch reused\"></span>reused AMI</li>\n");
    page.push_str("<li><span class=\"fail-key\">✕</span>failed step</li>\n</ul>\n");
}

/// A table: `head` the column titles, each row's cells already escaped.
fn table(page: &mut String, class: &str, head: &[&str], rows: &[(String, Vec<String>)]) {
    page.push_str(&format!("<table class=\"{class}\">\n<thead><tr>"));
    for h in head {
        page.push_str(&format!("<th>{h}</th>"));
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for (row_class, cells) in rows {
        page.push_str(&format!("<tr class=\"{row_class}\">"));
        for c in cells {
            page.push_str(c);
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n");
}

fn td(s: &str) -> String {
    format!("<td>{}</td>", esc(s))
}

fn td_class(class: &str, s: &str) -> String {
    format!("<td class=\"{class}\">{}</td>", esc(s))
}

fn region(b: &BuildRecord) -> &str {
    b.region.as_deref().unwrap_or("")
}

fn failures(page: &mut String, r: &RunRecord) {
    page.push_str("<section>\n<h2>Failures</h2>\n");
    let rows: Vec<(String, Vec<String>)> = r
        .builds
        .iter()
        .filter_map(|b| match &b.outcome {
            BuildOutcome::Failed { step, error } => Some((
                "failed".to_string(),
                vec![
                    td(&b.name),
                    td(region(b)),
                    td(step),
                    td_class("mono", error),
                ],
            )),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        page.push_str("<p>None.</p>\n");
    } else {
        table(
            page,
            "failures",
            &["Build", "Region", "Step", "Error"],
            &rows,
        );
    }
    page.push_str("</section>\n");
}

fn slowest(page: &mut String, r: &RunRecord) {
    page.push_str("<section>\n<h2>Slowest steps</h2>\n");
    let rows: Vec<(String, Vec<String>)> = r
        .slowest_steps(SLOWEST)
        .iter()
        .map(|s| {
            let cells = vec![
                td(&s.build.name),
                td(region(s.build)),
                td(&s.span.step),
                td_class("num", &duration_text(s.span.duration())),
            ];
            ("step".to_string(), cells)
        })
        .collect();
    if rows.is_empty() {
        page.push_str("<p>No step ran.</p>\n");
    } else {
        table(
            page,
            "slowest",
            &["Build", "Region", "Step", "Duration"],
            &rows,
        );
    }
    page.push_str("</section>\n");
}

/// What the builds table says about how `b` ended, and its AMI.
fn result_cells(b: &BuildRecord) -> (String, &str) {
    let (result, ami) = match &b.outcome {
        BuildOutcome::Published { ami_id, reused } => {
            let what = if *reused { "reused" } else { "published" };
            (what.to_string(), ami_id.as_str())
        }
        BuildOutcome::Failed { step, .. } => (format!("failed at {step}"), ""),
        BuildOutcome::Cancelled => ("cancelled".to_string(), ""),
        BuildOutcome::Unfinished => ("unfinished".to_string(), ""),
    };
    let killed = !b.finished && b.outcome != BuildOutcome::Unfinished;
    if killed {
        return (
            format!("{result} (the run ended before the build did)"),
            ami,
        );
    }
    (result, ami)
}

fn builds(page: &mut String, r: &RunRecord) {
    page.push_str("<section>\n<h2>Builds</h2>\n");
    let rows: Vec<(String, Vec<String>)> = r
        .builds
        .iter()
        .map(|b| {
            let (result, ami) = result_cells(b);
            let class = match b.outcome {
                BuildOutcome::Failed { .. } => "failed",
                _ => "build",
            };
            let duration = b.duration.map(duration_text).unwrap_or_default();
            let cells = vec![
                td(&b.name),
                td(region(b)),
                td_class("result", &result),
                td_class("mono", ami),
                td_class("num", &duration),
            ];
            (class.to_string(), cells)
        })
        .collect();
    table(
        page,
        "builds",
        &["Build", "Region", "Result", "AMI", "Duration"],
        &rows,
    );
    page.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::record::sample;

    fn page() -> (RunRecord, String) {
        let r = RunRecord::from_ndjson(&sample::events()).unwrap();
        let html = render(&r);
        (r, html)
    }

    /// Every `<rect ...>` start tag.
    fn rects(html: &str) -> Vec<&str> {
        html.match_indices("<rect ")
            .map(|(i, _)| {
                let end = html[i..].find('>').unwrap();
                &html[i..=i + end]
            })
            .collect()
    }

    /// The value of `name="..."` in a start tag.
    fn attr<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = tag[start..].find('"')?;
        Some(&tag[start..start + len])
    }

    fn classes(tag: &str) -> Vec<&str> {
        attr(tag, "class").unwrap_or("").split(' ').collect()
    }

    /// Checks that elements nest: every start tag is closed in order, save void and
    /// self-closed ones. A stray `<` in text (an escaping bug) shows up as a bad tag.
    fn check_nesting(html: &str) {
        const VOID: [&str; 2] = ["meta", "!DOCTYPE"];
        let mut open: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find('<') {
            let end = rest[i..].find('>').expect("unclosed tag") + i;
            let tag = &rest[i + 1..end];
            rest = &rest[end + 1..];
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                .collect();
            assert!(!name.is_empty(), "not a tag: <{tag}>");
            if let Some(closing) = tag.strip_prefix('/') {
                assert_eq!(
                    open.pop().as_deref(),
                    Some(closing),
                    "misnested </{closing}>"
                );
            } else if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "never closed: {open:?}");
    }

    #[test]
    fn every_step_of_every_build_is_a_bar() {
        let (r, html) = page();
        let rects = rects(&html);
        for b in &r.builds {
            for s in &b.spans {
                let found = rects.iter().any(|t| {
                    attr(t, "data-build") == Some(b.name.as_str())
                        && attr(t, "data-step") == Some(s.step.as_str())
                        && classes(t).contains(&"step")
                        && classes(t).contains(&format!("step-{}", s.step).as_str())
                });
                assert!(found, "no bar for {} {}", b.name, s.step);
            }
        }
        let bars = rects.iter().filter(|t| classes(t).contains(&"step"));
        assert_eq!(bars.count(), 9);
    }

    #[test]
    fn bars_follow_time() {
        let (_, html) = page();
        let rects = rects(&html);
        let bar = |build: &str, step: &str| {
            let t = rects
                .iter()
                .find(|t| {
                    attr(t, "data-build") == Some(build) && attr(t, "data-step") == Some(step)
                })
                .unwrap();
            let x: f64 = attr(t, "x").unwrap().parse().unwrap();
            let w: f64 = attr(t, "width").unwrap().parse().unwrap();
            (x, w)
        };
        let (stage_x, stage_w) = bar("us-east-1-hvm", "stage");
        let (launch_x, _) = bar("us-east-1-hvm", "launch");
        let (_, provision_w) = bar("us-east-1-hvm", "provision");
        assert!((stage_x + stage_w - launch_x).abs() < 0.05);
        // provision took 4 s, stage 0.3 s.
        assert!((provision_w / stage_w - 4.0 / 0.3).abs() < 0.01);
        assert!(stage_x >= LABEL_WIDTH && launch_x <= WIDTH - RIGHT_MARGIN);
    }

    #[test]
    fn the_failed_step_is_marked_with_its_reason_escaped() {
        let (_, html) = page();
        let failed: Vec<&str> = rects(&html)
            .into_iter()
            .filter(|t| classes(t).contains(&"failed"))
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(attr(failed[0], "data-build"), Some("eu-west-1-hvm"));
        assert_eq!(attr(failed[0], "data-step"), Some("provision"));
        assert!(html.contains("class=\"failure-mark\""));
        let escaped = esc(sample::ERROR);
        assert!(escaped.contains("&lt;") && escaped.contains("&amp;&amp;"));
        assert!(html.contains(&format!("<td class=\"mono\">{escaped}</td>")));
        assert!(html.contains("class=\"reason\""));
        assert!(html.contains(&format!("failed at provision: {escaped}")));
        assert!(!html.contains(sample::ERROR));
    }

    #[test]
    fn the_reused_build_has_a_reused_lane() {
        let (_, html) = page();
        assert!(html.contains("<g class=\"lane reused\" data-build=\"us-east-1-pv\">"));
        let reused: Vec<&str> = rects(&html)
            .into_iter()
            .filter(|t| classes(t).contains(&"reused"))
            .collect();
        assert_eq!(reused.len(), 1);
        assert_eq!(attr(reused[0], "data-build"), Some("us-east-1-pv"));
        assert!(html.contains(">reused ami-reused</text>"));
    }

    #[test]
    fn lanes_are_grouped_by_region_in_order() {
        let (_, html) = page();
        let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("no {s}"));
        let us = at("data-region=\"us-east-1\"");
        let eu = at("data-region=\"eu-west-1\"");
        assert!(us < at("data-build=\"us-east-1-hvm\">"));
        assert!(at("data-build=\"us-east-1-pv\">") < eu);
        assert!(eu < at("data-build=\"eu-west-1-hvm\">"));
        assert_eq!(html.matches("class=\"region-label\"").count(), 2);
    }

    #[test]
    fn the_page_is_self_contained_and_well_formed() {
        let (_, html) = page();
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("@import") && !html.contains("@font-face"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>amipub run r1</title>"));
        assert_eq!(html.matches("<svg").count(), 1);
        assert_eq!(html.matches("</svg>").count(), 1);
        check_nesting(&html);
    }

    #[test]
    fn the_tables_and_totals_say_what_happened() {
        let (_, html) = page();
        for heading in ["Totals", "Timeline", "Failures", "Slowest steps", "Builds"] {
            assert!(html.contains(&format!("<h2>{heading}</h2>")), "{heading}");
        }
        assert!(html.contains("<span class=\"n\">2</span>instance launches"));
        assert!(html.contains("<span class=\"n\">8.00s</span>wall time"));
        assert!(html.contains("<dd>demo</dd>") && html.contains("<dd>2.6.2</dd>"));
        assert!(html.contains(
            "<td>us-east-1-hvm</td><td>us-east-1</td><td class=\"result\">published</td>\
             <td class=\"mono\">ami-111</td><td class=\"num\">7.90s</td>"
        ));
        let slowest = &html[html.find("<table class=\"slowest\">").unwrap()..];
        let first = slowest.find("<tr class=\"step\">").unwrap();
        assert!(slowest[first..].starts_with(
            "<tr class=\"step\"><td>us-east-1-hvm</td><td>us-east-1</td><td>provision</td>\
             <td class=\"num\">4.00s</td>"
        ));
        assert_eq!(slowest.matches("<tr class=\"step\">").count(), 8);
        assert!(!html.contains("did not finish"));
    }

    #[test]
    fn legend_has_every_step_colour() {
        let (_, html) = page();
        for (step, colour) in STEP_COLOURS {
            assert!(html.contains(&format!("<span class=\"swatch step-{step}\"></span>{step}")));
            assert!(html.contains(&format!("rect.step-{step}{{fill:{colour}}}")));
        }
        let colours: std::collections::HashSet<_> = STEP_COLOURS.iter().map(|c| c.1).collect();
        assert_eq!(colours.len(), STEP_COLOURS.len());
    }

    #[test]
    fn hostile_names_are_escaped_everywhere() {
        let text = [
            sample::line(
                0,
                r#""type":"run-started","run_id":"r<1>","builds":["a\"b'<&>"],"profile":"<p>""#,
            ),
            sample::line(
                10,
                r#""type":"build-started","build":"a\"b'<&>","region":"r&<""#,
            ),
            sample::line(
                10,
                r#""type":"step-started","build":"a\"b'<&>","step":"odd \"step\" <x>""#,
            ),
        ]
        .concat();
        let html = render(&RunRecord::from_ndjson(&text).unwrap());
        check_nesting(&html);
        assert!(html.contains("<title>amipub run r&lt;1&gt;</title>"));
        assert!(html.contains("data-build=\"a&quot;b&#39;&lt;&amp;&gt;\""));
        assert!(html.contains("class=\"step step-odd__step___x_\""));
        assert!(html.contains("did not finish"));
        assert!(html.contains(">unfinished</text>"));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        let ms = Duration::from_millis;
        assert_eq!(duration_text(ms(970)), "0.97s");
        assert_eq!(duration_text(ms(4)), "0.00s");
        assert_eq!(duration_text(ms(9_994)), "9.99s");
        assert_eq!(duration_text(ms(10_600)), "10s");
        assert_eq!(duration_text(ms(83_000)), "1m 23s");
        assert_eq!(duration_text(ms(120_000)), "2m");
        assert_eq!(duration_text(ms(3_723_000)), "1h 2m 3s");
    }

    #[test]
    fn the_axis_has_5_to_15_ticks_whatever_the_run_length() {
        for secs in [
            0.004, 0.3, 1.0, 2.0, 5.0, 8.0, 47.0, 100.0, 299.0, 900.0, 3700.0, 86_000.0,
        ] {
            let step = tick_step(secs);
            let ticks = (secs / step + 1e-9).floor() as u64 + 1;
            assert!(
                (5..=15).contains(&ticks),
                "{secs}s: step {step}, {ticks} ticks"
            );
        }
        assert_eq!(tick_label(2.5, 0.5), "2.5s");
        assert_eq!(tick_label(90.0, 30.0), "1m 30s");
        assert_eq!(tick_label(0.0, 1.0), "0s");
    }

    #[test]
    fn the_sample_axis_ticks_every_second() {
        let (_, html) = page();
        let ticks: Vec<&str> = html
            .match_indices("<text class=\"tick\"")
            .map(|(i, _)| {
                let from = html[i..].find('>').unwrap() + i + 1;
                let to = html[from..].find('<').unwrap() + from;
                &html[from..to]
            })
            .collect();
        assert_eq!(
            ticks,
            ["0s", "1s", "2s", "3s", "4s", "5s", "6s", "7s", "8s"]
        );
    }
}
