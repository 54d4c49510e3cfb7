//! The last 30 days of a connection's runs as one SVG drawn here: each run's duration above, and
//! the people it changed, by action, stacked below. No script: every bar has a `<title>`.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::service::RunRow;

/// How far back the chart reaches.
pub(super) const DAYS: i64 = 30;

/// The actions that change someone, with the colour each is drawn in (the same order in the
/// stack and the legend).
const CHANGES: [(&str, &str); 6] = [
    ("created", "#146c2e"),
    ("updated", "#0b57d0"),
    ("reactivated", "#6f42c1"),
    ("deactivated", "#b3261e"),
    ("quarantined", "#8a5300"),
    ("error", "#3c4043"),
];

const WIDTH: f64 = 720.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const PANEL: f64 = 90.0;
const TOP: f64 = 18.0;
const GAP: f64 = 34.0;
const BAR: f64 = 5.0;

/// One run as the chart draws it.
struct Point {
    id: i64,
    x: f64,
    seconds: f64,
    changed: Vec<(&'static str, &'static str, u64)>,
    status: String,
}

/// The chart of `runs` (any order) that started in the [`DAYS`] before `now`.
pub(super) fn runs(runs: &[RunRow], now: DateTime<Utc>) -> Markup {
    let start = now - chrono::Duration::days(DAYS);
    let span = (now - start).num_seconds().max(1) as f64;
    let plot = WIDTH - LEFT - RIGHT;
    let points: Vec<Point> = runs
        .iter()
        .filter(|r| r.started_at >= start && r.started_at <= now)
        .map(|r| Point {
            id: r.id.0,
            x: LEFT + plot * (r.started_at - start).num_seconds() as f64 / span,
            seconds: r
                .ended_at
                .map(|end| (end - r.started_at).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0),
            changed: CHANGES
                .iter()
                .map(|(action, colour)| {
                    (
                        *action,
                        *colour,
                        r.counts.get(*action).copied().unwrap_or(0),
                    )
                })
                .filter(|(_, _, n)| *n > 0)
                .collect(),
            status: r.status.to_string(),
        })
        .collect();
    let longest = points.iter().map(|p| p.seconds).fold(0.0, f64::max);
    // Bars are drawn against at least a second, so runs of no measurable length stay flat.
    let tallest = longest.max(1.0);
    let most = points
        .iter()
        .map(|p| p.changed.iter().map(|(_, _, n)| n).sum::<u64>())
        .max()
        .unwrap_or(0);
    let highest = most.max(1) as f64;
    let duration_base = TOP + PANEL;
    let changes_top = duration_base + GAP;
    let changes_base = changes_top + PANEL;
    let height = changes_base + 22.0;
    let ticks: Vec<(f64, String)> = (0..=DAYS)
        .step_by(7)
        .map(|back| {
            let day = now - chrono::Duration::days(DAYS - back);
            (
                LEFT + plot * back as f64 / DAYS as f64,
                day.format("%m-%d").to_string(),
            )
        })
        .collect();
    let label = format!(
        "{} runs in the last {DAYS} days; the longest took {:.1} s; at most {} people changed in one run",
        points.len(),
        longest,
        most
    );
    html! {
        figure {
            svg.chart viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(label)
                xmlns="http://www.w3.org/2000/svg" {
                text x=(LEFT) y="12" { "Duration (longest " (format!("{longest:.1}")) " s)" }
                text x=(LEFT) y=(changes_top - 6.0) { "People changed (most " (most) ")" }
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(duration_base) y2=(duration_base) stroke="#7a818d" {}
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(changes_base) y2=(changes_base) stroke="#7a818d" {}
                @for (x, day) in &ticks {
                    line x1=(x) x2=(x) y1=(TOP) y2=(changes_base) stroke="#e3e6ea" {}
                    text x=(x) y=(changes_base + 16.0) text-anchor="middle" { (day) }
                }
                @for p in &points {
                    @let h = PANEL * p.seconds / tallest;
                    rect x=(p.x - BAR / 2.0) y=(duration_base - h) width=(BAR) height=(h.max(1.0))
                        fill=(if p.status == "failed" { "#b3261e" } else { "#4a505c" }) {
                        title { "run " (p.id) " (" (p.status) "): " (format!("{:.1}", p.seconds)) " s" }
                    }
                    @for (action, colour, n, y, h) in stack(&p.changed, changes_base, highest) {
                        rect x=(p.x - BAR / 2.0) y=(y) width=(BAR) height=(h) fill=(colour) {
                            title { "run " (p.id) ": " (n) " " (action) }
                        }
                    }
                }
            }
            figcaption {
                "Last " (DAYS) " days. Below, by action: "
                @for (i, (action, colour)) in CHANGES.iter().enumerate() {
                    @if i > 0 { ", " }
                    span style={ "color:" (colour) } { "■ " } (action)
                }
                "."
                @if points.is_empty() { " No runs in that time." }
            }
        }
    }
}

/// The segments of one run's stacked bar, bottom up: action, colour, count, top and height.
fn stack(
    changed: &[(&'static str, &'static str, u64)],
    base: f64,
    highest: f64,
) -> Vec<(&'static str, &'static str, u64, f64, f64)> {
    let mut top = base;
    changed
        .iter()
        .map(|&(action, colour, n)| {
            let h = PANEL * n as f64 / highest;
            top -= h;
            (action, colour, n, top, h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::ids::{ConnectionId, RunId};
    use crate::vocab::{RunKind, RunStatus};

    fn run(id: i64, started: DateTime<Utc>, seconds: i64, counts: &[(&str, u64)]) -> RunRow {
        RunRow {
            id: RunId(id),
            connection_id: ConnectionId::parse("contoso").unwrap(),
            kind: RunKind::Delta,
            trigger: "test".to_owned(),
            status: RunStatus::Succeeded,
            started_at: started,
            ended_at: Some(started + chrono::Duration::seconds(seconds)),
            counts: counts
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect::<BTreeMap<_, _>>(),
            graph_requests: 0,
            graph_throttles: 0,
            error: None,
            approved_at: None,
            approved_by: None,
        }
    }

    #[test]
    fn the_chart_draws_recent_runs_only_with_a_bar_per_changing_action() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let svg = runs(
            &[
                run(
                    1,
                    now - chrono::Duration::days(2),
                    4,
                    &[("created", 3), ("updated", 1), ("unchanged", 9)],
                ),
                run(2, now - chrono::Duration::days(40), 9, &[("created", 5)]),
            ],
            now,
        )
        .into_string();
        assert!(svg.contains("run 1: 3 created"), "{svg}");
        assert!(svg.contains("run 1: 1 updated"), "{svg}");
        assert!(!svg.contains("unchanged"), "{svg}");
        assert!(
            !svg.contains("run 2"),
            "a run older than 30 days is left out: {svg}"
        );
        assert!(svg.contains("run 1 (succeeded): 4.0 s"), "{svg}");
        assert!(svg.contains("1 runs in the last 30 days"), "{svg}");
    }
}
