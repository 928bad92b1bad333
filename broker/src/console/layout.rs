//! What every console page shares: the page shell (header, navigation,
//! stylesheet and script, compiled into the binary), the notice and error
//! boxes, the error page, links with their path segments encoded, and how
//! numbers, sizes and times are written.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat};
use maud::{html, Markup, DOCTYPE};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::api::ApiError;

pub const STYLESHEET: &str = include_str!("assets/console.css");
pub const SCRIPT: &str = include_str!("assets/console.js");
pub const FAVICON: &str = include_str!("assets/favicon.svg");

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `segment` encoded for a URL path.
pub fn enc(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The `notice` and `error` query parameters an action's redirect sets.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Flash {
    pub fn render(&self) -> Markup {
        html! {
            @if let Some(notice) = &self.notice {
                div.card.notice role="status" { (notice) }
            }
            @if let Some(error) = &self.error {
                div.card.error role="alert" { (error) }
            }
        }
    }
}

/// The page shell around `body`. `user` is who is signed in, if anyone.
pub fn page(title: &str, user: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Magnetar" }
                link rel="stylesheet" href="/ui/assets/console.css";
                link rel="icon" type="image/svg+xml" href="/ui/assets/favicon.svg";
                script src="/ui/assets/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/ui" { "Magnetar" }
                    nav {
                        a href="/ui" { "Cluster" }
                        a href="/ui/tenants" { "Tenants" }
                    }
                    span.who {
                        span #refreshed {}
                        @if let Some(user) = user {
                            " · " (user) " "
                            form.inline method="post" action="/ui/logout" {
                                button.plain type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page's answer: `markup` with `status`.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(markup.into_string()),
    )
        .into_response()
}

/// The page for an admin API error: its status (404 for unknown names,
/// 403 for what the role may not see), and the API's reason.
pub fn error_page(error: &ApiError, user: Option<&str>) -> Response {
    let status = error.status();
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::BAD_REQUEST => "Bad request",
        _ => "Something went wrong",
    };
    respond(
        status,
        page(
            heading,
            user,
            html! {
                h1 { (heading) }
                div.card.error { (error.to_string()) }
                p { a href="/ui" { "Back to the cluster" } }
            },
        ),
    )
}

/// Bytes as B, KiB, MiB, GiB or TiB.
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = value.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A rate with one decimal, or none when it is whole.
pub fn rate(value: f64) -> String {
    // A sum over nothing is -0.0; it reads as 0.
    let value = if value == 0.0 { 0.0 } else { value };
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Unix milliseconds as an RFC 3339 time in UTC; `-` for none.
pub fn time(millis: u64) -> String {
    i64::try_from(millis)
        .ok()
        .filter(|&m| m > 0)
        .and_then(DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".to_string())
}

/// A yes/no badge.
pub fn flag(value: bool, yes: &str, no: &str, yes_is_good: bool) -> Markup {
    let class = if value == yes_is_good {
        "badge ok"
    } else {
        "badge bad"
    };
    html! { span class=(class) { (if value { yes } else { no }) } }
}

/// A button that leads to a confirmation page before `action` is posted.
pub fn destructive(action: &str, what: &str, label: &str) -> Markup {
    html! {
        form.inline method="get" action="/ui/confirm" {
            input type="hidden" name="action" value=(action);
            input type="hidden" name="what" value=(what);
            button.danger type="submit" { (label) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
        assert_eq!(rate(12.0), "12");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(-0.0), "0");
        assert_eq!(time(0), "-");
        assert_eq!(time(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("my-topic_1.x"), "my-topic_1.x");
        assert_eq!(enc("a/b c"), "a%2Fb%20c");
        assert_eq!(enc("<script>"), "%3Cscript%3E");
    }

    #[test]
    fn text_in_pages_is_escaped() {
        let markup = page(
            "t",
            Some("<b>"),
            html! { p { ("<script>alert(1)</script>") } },
        );
        let text = markup.into_string();
        assert!(!text.contains("<script>alert"));
        assert!(text.contains("&lt;script&gt;"));
        assert!(!text.contains("<b>"));
    }
}
