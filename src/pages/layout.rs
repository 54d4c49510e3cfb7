//! The frame every page shares: the document, its stylesheet, the navigation, and how times
//! read (UTC, with a relative hint).

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The stylesheet: readable from a phone up, high contrast, a visible keyboard focus.
const STYLE: &str = "\
:root{--ink:#16181d;--muted:#4a505c;--line:#c9ced6;--bg:#fff;--accent:#0b57d0;--ok:#146c2e;--bad:#b3261e;--warn:#8a5300}\
*{box-sizing:border-box}\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:var(--ink);background:var(--bg);line-height:1.45}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}\
header .brand{font-weight:700;color:var(--ink);text-decoration:none}\
header nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;flex:1}\
header form{margin:0}\
main{padding:1rem;max-width:80rem;margin:0 auto}\
h1{font-size:1.4rem;margin:.4rem 0 1rem}h2{font-size:1.15rem;margin:1.6rem 0 .6rem}\
a{color:var(--accent)}\
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%;font-size:.92rem}\
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line)}\
th{background:#f1f3f6}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}\
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}\
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.85rem;font-weight:600;border:1px solid currentColor}\
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}.muted{color:var(--muted)}\
form.filters{display:flex;flex-wrap:wrap;gap:.6rem 1rem;align-items:flex-end;margin:0 0 1rem}\
form.filters label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted)}\
input,select{font:inherit;padding:.3rem .4rem;border:1px solid #7a818d;border-radius:.25rem;min-width:8rem}\
button,.button{font:inherit;padding:.35rem .8rem;border-radius:.25rem;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}\
button.secondary,.button.secondary{background:#fff;color:var(--accent)}\
button.danger{background:var(--bad);border-color:var(--bad)}\
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0}.actions form{margin:0}\
ul.changes{margin:0;padding-left:1rem}\
.notice{padding:.6rem .8rem;border-left:4px solid var(--accent);background:#eef3fd;margin:0 0 1rem}\
.notice.bad{border-color:var(--bad);background:#fdeeee;color:var(--ink)}\
svg.chart{width:100%;height:auto;max-width:60rem}\
svg.chart text{font-size:11px;fill:var(--muted)}\
.pager{display:flex;gap:1rem;margin:1rem 0}\
@media (max-width:40rem){th,td{padding:.3rem}dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}\
table.cards thead{position:absolute;left:-9999px}table.cards tr{display:block;border-bottom:2px solid var(--line);padding:.3rem 0}\
table.cards td{display:block;position:relative;padding-left:8.5rem;border:0;min-height:1.6rem}table.cards td::before{content:attr(data-label);position:absolute;left:.3rem;width:7.8rem;color:var(--muted);font-size:.85rem}}\
";

/// Who is signed in, as the navigation shows it.
pub(super) struct Nav<'a> {
    /// Who (`api key 7`).
    pub who: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: &'a str,
    /// The connection the page is about, for its section links.
    pub connection: Option<&'a str>,
}

/// A whole page: `title`, the navigation when someone is signed in, and `body`.
pub(super) fn page(title: &str, nav: Option<&Nav<'_>>, body: Markup) -> Markup {
    page_reloading(title, nav, None, body)
}

/// [`page`], reloading itself every `seconds` when given (a page waiting for something under
/// way).
pub(super) fn page_reloading(
    title: &str,
    nav: Option<&Nav<'_>>,
    seconds: Option<u32>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = seconds {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · entra-sync" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href="/" { "entra-sync" }
                    @if let Some(nav) = nav {
                        nav aria-label="Sections" {
                            a href="/" { "Connections" }
                            @if let Some(id) = nav.connection {
                                a href={ "/connections/" (id) } { "Runs" }
                                a href={ "/connections/" (id) "/log" } { "Inbound log" }
                                a href={ "/connections/" (id) "/preview" } { "Import preview" }
                                a href={ "/connections/" (id) "/licences" } { "Licences" }
                                a href={ "/connections/" (id) "/followers" } { "Followers" }
                            }
                        }
                        span.muted { "Signed in as " (nav.who) }
                        form method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(nav.csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 data-title=(title) { (title) }
                    (body)
                }
            }
        }
    }
}

/// A time in UTC with how long ago (or how far ahead) it is: `2026-03-02 09:00 UTC (3 min ago)`.
pub(super) fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(at.to_rfc3339()) {
            (at.format("%Y-%m-%d %H:%M UTC"))
        }
        " " span.muted { "(" (relative(at, now)) ")" }
    }
}

/// A time, or a dash when there is none.
pub(super) fn maybe_when(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    match at {
        Some(at) => when(at, now),
        None => html! { span.muted { "—" } },
    }
}

/// How far `at` is from `now`, in the largest whole unit: `just now`, `3 min ago`, `in 2 h`.
pub(super) fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let span = seconds.unsigned_abs();
    let amount = match span {
        0..60 => return "just now".to_owned(),
        60..3_600 => format!("{} min", span / 60),
        3_600..86_400 => format!("{} h", span / 3_600),
        _ => format!("{} d", span / 86_400),
    };
    if seconds > 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn relative_times_name_the_largest_whole_unit_either_way() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let at = |secs: i64| now - chrono::Duration::seconds(secs);
        assert_eq!(relative(at(30), now), "just now");
        assert_eq!(relative(at(180), now), "3 min ago");
        assert_eq!(relative(at(2 * 3_600 + 5), now), "2 h ago");
        assert_eq!(relative(at(3 * 86_400), now), "3 d ago");
        assert_eq!(relative(at(-300), now), "in 5 min");
    }

    #[test]
    fn a_time_reads_in_utc_with_its_hint() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let text = when(now - chrono::Duration::minutes(3), now).into_string();
        assert!(text.contains("2026-03-02 08:57 UTC"), "{text}");
        assert!(text.contains("(3 min ago)"), "{text}");
    }
}
