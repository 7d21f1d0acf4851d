//! Charts drawn as SVG on the server: no script, nothing to download, readable by a screen
//! reader (each has a title and a description, each point a tooltip) and testable as HTML.
//! Every chart says its unit and the time zone its days are drawn in.

use std::fmt::Write;

/// One line of a chart: its name (also its CSS class suffix) and a value per day.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<f64>,
}

/// How a chart reads its values.
#[derive(Clone, Copy)]
pub enum Unit<'a> {
    /// Whole things (messages, runs, customers), named.
    Count(&'a str),
    /// Money in a currency, two decimals.
    Money(&'a str),
}

impl Unit<'_> {
    fn label(&self) -> String {
        match self {
            Unit::Count(what) => (*what).to_owned(),
            Unit::Money(currency) => (*currency).to_owned(),
        }
    }

    fn show(&self, value: f64) -> String {
        match self {
            Unit::Count(_) => format!("{}", value.round() as i64),
            Unit::Money(_) => format!("{value:.2}"),
        }
    }
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;
/// Past this many days, points carry no circle of their own (the line stays).
const POINTS_UP_TO: usize = 92;

/// A small line of `values` (a sparkline), labelled for screen readers.
pub fn sparkline(label: &str, values: &[f64]) -> String {
    let (w, h) = (120.0, 28.0);
    let max = values.iter().copied().fold(0.0, f64::max);
    let step = if values.len() > 1 {
        w / (values.len() - 1) as f64
    } else {
        0.0
    };
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        let y = if max > 0.0 {
            h - 2.0 - v / max * (h - 4.0)
        } else {
            h - 2.0
        };
        let _ = write!(points, "{:.1},{:.1} ", i as f64 * step, y);
    }
    format!(
        r#"<svg class="spark" data-chart="sparkline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}"><title>{label}</title><polyline points="{}"/></svg>"#,
        points.trim_end(),
        label = escape(label),
    )
}

/// A line chart of daily series with axes, a legend and a table of its numbers for those who
/// do not see it; `id` makes its element ids unique on the page.
pub fn daily(
    id: &str,
    title: &str,
    unit: Unit<'_>,
    time_zone: &str,
    dates: &[String],
    series: &[Series<'_>],
) -> String {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0, f64::max),
    );
    let mut svg = frame(id, title, unit, time_zone, dates, max, "line");
    for (n, s) in series.iter().enumerate() {
        let mut points = String::new();
        for (i, v) in s.values.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", x_of(i, dates.len()), y_of(*v, max));
        }
        let _ = write!(
            svg,
            r#"<g class="series s{n}" data-series="{name}"><polyline points="{points}"/>"#,
            name = escape(s.name),
            points = points.trim_end()
        );
        if dates.len() <= POINTS_UP_TO {
            for (i, v) in s.values.iter().enumerate() {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5"><title>{}: {} {}</title></circle>"#,
                    x_of(i, dates.len()),
                    y_of(*v, max),
                    escape(&dates[i]),
                    unit.show(*v),
                    escape(s.name)
                );
            }
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    figure(id, title, unit, time_zone, dates, series, svg)
}

/// A bar chart of one daily series.
pub fn bars(
    id: &str,
    title: &str,
    unit: Unit<'_>,
    time_zone: &str,
    dates: &[String],
    series: Series<'_>,
) -> String {
    let max = nice_max(series.values.iter().copied().fold(0.0, f64::max));
    let mut svg = frame(id, title, unit, time_zone, dates, max, "bars");
    let slot = (WIDTH - LEFT - RIGHT) / dates.len().max(1) as f64;
    let _ = write!(
        svg,
        r#"<g class="series s0" data-series="{}">"#,
        escape(series.name)
    );
    for (i, v) in series.values.iter().enumerate() {
        let top = y_of(*v, max);
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>{}: {} {}</title></rect>"#,
            LEFT + i as f64 * slot + slot * 0.15,
            (slot * 0.7).max(1.0),
            (TOP + plot_height() - top).max(0.0),
            escape(&dates[i]),
            unit.show(*v),
            escape(series.name),
        );
    }
    svg.push_str("</g></svg>");
    figure(id, title, unit, time_zone, dates, &[series], svg)
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn x_of(i: usize, n: usize) -> f64 {
    let width = WIDTH - LEFT - RIGHT;
    if n <= 1 {
        LEFT + width / 2.0
    } else {
        LEFT + i as f64 * width / (n - 1) as f64
    }
}

fn y_of(value: f64, max: f64) -> f64 {
    TOP + plot_height() - (value / max).clamp(0.0, 1.0) * plot_height()
}

/// The axis's top: the maximum rounded up to 1, 2 or 5 times a power of ten (at least 1).
fn nice_max(max: f64) -> f64 {
    if max <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|candidate| *candidate >= max)
        .unwrap_or(10.0 * power)
}

/// The opening `<svg>` with its title, description, grid, y labels and first, middle and
/// last dates.
fn frame(
    id: &str,
    title: &str,
    unit: Unit<'_>,
    time_zone: &str,
    dates: &[String],
    max: f64,
    kind: &str,
) -> String {
    let mut svg = String::new();
    let span = match (dates.first(), dates.last()) {
        (Some(first), Some(last)) => format!("{first} to {last}"),
        _ => "no days".into(),
    };
    let _ = write!(
        svg,
        r#"<svg class="chart" data-chart="{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{title}</title><desc id="{id}-desc">{unit} per day, {span}, days in {tz}</desc>"#,
        id = escape(id),
        title = escape(title),
        unit = escape(&unit.label()),
        tz = escape(time_zone),
    );
    for k in 0..=2 {
        let value = max * k as f64 / 2.0;
        let y = y_of(value, max);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            unit.show(value)
        );
    }
    let n = dates.len();
    let mut labelled: Vec<usize> = vec![0, n / 2, n.saturating_sub(1)];
    labelled.dedup();
    for i in labelled.into_iter().filter(|i| *i < n) {
        let anchor = match i {
            0 if n > 1 => "start",
            i if i + 1 == n && n > 1 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            x_of(i, n),
            HEIGHT - BOTTOM + 18.0,
            escape(&dates[i])
        );
    }
    svg
}

/// The chart in a `<figure>`: a caption with its unit and time zone, a legend, and its
/// numbers as a table behind a disclosure.
fn figure(
    id: &str,
    title: &str,
    unit: Unit<'_>,
    time_zone: &str,
    dates: &[String],
    series: &[Series<'_>],
    svg: String,
) -> String {
    let mut html = format!(
        r#"<figure class="chart-figure" id="{id}"><figcaption><strong>{title}</strong> <span class="unit">{unit} per day · days in {tz}</span></figcaption>"#,
        id = escape(id),
        title = escape(title),
        unit = escape(&unit.label()),
        tz = escape(time_zone),
    );
    html.push_str(r#"<ul class="legend">"#);
    for (n, s) in series.iter().enumerate() {
        let _ = write!(
            html,
            r#"<li><span class="swatch s{n}" aria-hidden="true"></span>{}</li>"#,
            escape(s.name)
        );
    }
    html.push_str("</ul>");
    html.push_str(&svg);
    html.push_str(r#"<details><summary>The numbers</summary><div class="scroll"><table><thead><tr><th scope="col">Day</th>"#);
    for s in series {
        let _ = write!(html, r#"<th scope="col" class="n">{}</th>"#, escape(s.name));
    }
    html.push_str("</tr></thead><tbody>");
    for (i, date) in dates.iter().enumerate() {
        let _ = write!(html, r#"<tr><th scope="row">{}</th>"#, escape(date));
        for s in series {
            let value = s.values.get(i).copied().unwrap_or(0.0);
            let _ = write!(html, r#"<td class="n">{}</td>"#, unit.show(value));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div></details></figure>");
    html
}

/// Text made safe inside HTML and SVG (and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(420.0), 500.0);
        assert_eq!(nice_max(1000.0), 1000.0);
    }

    #[test]
    fn a_chart_says_what_it_shows_and_escapes_its_texts() {
        let dates = vec!["2026-12-01".to_owned(), "2026-12-02".to_owned()];
        let html = daily(
            "c1",
            "Sends <per> day",
            Unit::Count("messages"),
            "Europe/Berlin",
            &dates,
            &[Series {
                name: "sent",
                values: vec![3.0, 5.0],
            }],
        );
        assert!(html.contains("Sends &lt;per&gt; day"));
        assert!(html.contains("days in Europe/Berlin"));
        assert!(html.contains(r#"data-series="sent""#));
        assert!(html.contains("<title>2026-12-02: 5 sent</title>"));
        assert!(html.contains(r#"<td class="n">5</td>"#));
        let money = bars(
            "c2",
            "Revenue",
            Unit::Money("EUR"),
            "UTC",
            &dates,
            Series {
                name: "revenue",
                values: vec![0.0, 12.5],
            },
        );
        assert!(money.contains("12.50 revenue"));
        assert_eq!(money.matches("<rect").count(), 2);
        assert!(sparkline("a <b>", &[1.0, 2.0]).contains("aria-label=\"a &lt;b&gt;\""));
    }
}
