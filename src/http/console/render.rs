//! The console's templates (`templates/`, compiled into the binary and HTML-escaped by
//! minijinja, the engine of message templates) and the filters that format figures.

use super::Visitor;
use super::charts::escape;
use crate::http::assets::strict_headers;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use minijinja::value::ViaDeserialize;
use minijinja::{AutoEscape, Environment, Value, context};
use std::sync::LazyLock;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("notice.html", include_str!("templates/notice.html")),
    ("message.html", include_str!("templates/message.html")),
    ("range.html", include_str!("templates/range.html")),
    ("campaigns.html", include_str!("templates/campaigns.html")),
    ("campaign.html", include_str!("templates/campaign.html")),
    ("actions.html", include_str!("templates/actions.html")),
    ("action.html", include_str!("templates/action.html")),
    ("segments.html", include_str!("templates/segments.html")),
    ("segment.html", include_str!("templates/segment.html")),
    ("outbox.html", include_str!("templates/outbox.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    (
        "suppressions.html",
        include_str!("templates/suppressions.html"),
    ),
    ("live.html", include_str!("templates/live.html")),
    ("health.html", include_str!("templates/health.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // minijinja's own HTML escaping also writes `/` as `&#x2f;`; addresses read better as
    // they are, and `&`, `<`, `>` and both quotes are what HTML needs escaped.
    env.set_formatter(|out, _state, value| {
        if value.is_safe() {
            write!(out, "{value}")?;
        } else if !value.is_undefined() {
            out.write_str(&escape(&value.to_string()))?;
        }
        Ok(())
    });
    for (name, source) in TEMPLATES {
        // The templates are part of the binary and a unit test renders each: a broken one
        // cannot ship, so failing here is a build mistake, not a runtime condition.
        #[allow(clippy::expect_used)]
        env.add_template(name, source)
            .expect("a console template parses");
    }
    env.add_filter("num", num);
    env.add_filter("pct", pct);
    env.add_filter("money", money);
    env.add_filter("when", when);
    env.add_filter("secs", secs);
    env
});

/// Renders `template` inside the layout, as the visitor, with the strict headers.
pub fn page(
    req: &HttpRequest,
    visitor: &Visitor,
    template: &str,
    nav: &str,
    values: Value,
) -> HttpResponse {
    let viewer = context! {
        name => visitor.principal.key_name.clone(),
        scope => visitor.principal.scope.as_str(),
        may_write => visitor.may_write(),
    };
    let ctx = context! { viewer, form_token => visitor.form_token(), nav, ..values };
    respond(req, StatusCode::OK, template, ctx)
}

/// A console page saying this key may not read what the page shows (an integrator key on the
/// outbox).
pub fn restricted(req: &HttpRequest, visitor: &Visitor, nav: &str, message: &str) -> HttpResponse {
    let mut response = page(
        req,
        visitor,
        "message.html",
        nav,
        context! {
            title => "Not for this key",
            message,
            hint => "Sign in with an admin key to see this page.",
        },
    );
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// A console page saying what was wrong with the request (a filter, a range).
pub fn problem(req: &HttpRequest, visitor: &Visitor, nav: &str, message: &str) -> HttpResponse {
    let mut response = page(
        req,
        visitor,
        "message.html",
        nav,
        context! { title => "That did not work", message, hint => "Go back and change the request." },
    );
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// The sign-in page, with what went wrong last time.
pub fn sign_in(req: &HttpRequest, problem: Option<&str>, status: StatusCode) -> HttpResponse {
    respond(req, status, "sign_in.html", context! { problem })
}

/// A page that says why the request was refused.
pub fn refused(req: &HttpRequest, status: StatusCode, message: &str) -> HttpResponse {
    notice(req, status, "Not allowed", message)
}

/// A page that says something failed on Nudge's side.
pub fn failure(req: &HttpRequest, message: &str) -> HttpResponse {
    notice(
        req,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        message,
    )
}

/// A page for a visitor's request that has nothing to show (an unknown id).
pub fn not_found(req: &HttpRequest, message: &str) -> HttpResponse {
    notice(req, StatusCode::NOT_FOUND, "Not found", message)
}

fn notice(req: &HttpRequest, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let html = ENV
        .get_template("notice.html")
        .and_then(|t| t.render(context! { title, message }))
        .unwrap_or_else(|_| message.to_owned());
    let mut response = HttpResponse::build(status);
    strict_headers(&mut response, req);
    response.content_type("text/html; charset=utf-8").body(html)
}

fn respond(req: &HttpRequest, status: StatusCode, template: &str, ctx: Value) -> HttpResponse {
    match ENV.get_template(template).and_then(|t| t.render(ctx)) {
        Ok(html) => {
            let mut response = HttpResponse::build(status);
            strict_headers(&mut response, req);
            response.content_type("text/html; charset=utf-8").body(html)
        }
        Err(e) => {
            tracing::error!(error = %e, template, "console: a page failed to render");
            failure(
                req,
                "the page could not be drawn; the server's log has the details",
            )
        }
    }
}

/// `1234567` → `1,234,567`; a fraction keeps one decimal; nothing → `–`.
fn num(value: Value) -> String {
    if let Some(n) = value.as_i64() {
        return grouped(n.unsigned_abs(), n < 0);
    }
    match f64::try_from(value) {
        Ok(x) if x.is_finite() => {
            let whole = x.trunc();
            let tenth = ((x - whole).abs() * 10.0).round() as u64;
            let (whole, tenth) = if tenth == 10 {
                (whole + x.signum(), 0)
            } else {
                (whole, tenth)
            };
            format!(
                "{}.{tenth}",
                grouped(whole.abs() as u64, x < 0.0 && whole != 0.0)
            )
        }
        _ => "–".into(),
    }
}

fn grouped(n: u64, negative: bool) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if negative {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A rate (0.1234) as a percentage (`12.3 %`); no rate (nothing sent yet) → `–`.
fn pct(value: Value) -> String {
    match f64::try_from(value) {
        Ok(x) if x.is_finite() => format!("{:.1} %", x * 100.0),
        _ => "–".into(),
    }
}

#[derive(serde::Deserialize)]
struct Money {
    amount: String,
    currency: String,
}

/// `{amount: "1234.50", currency: "EUR"}` → `1,234.50 EUR`.
fn money(value: ViaDeserialize<Option<Money>>) -> String {
    let Some(m) = value.0 else {
        return "–".into();
    };
    let (sign, digits) = match m.amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", m.amount.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = whole
        .parse::<u64>()
        .map(|w| grouped(w, false))
        .unwrap_or_else(|_| whole.to_owned());
    if fraction.is_empty() {
        format!("{sign}{whole} {}", m.currency)
    } else {
        format!("{sign}{whole}.{fraction} {}", m.currency)
    }
}

/// An RFC 3339 instant as `2026-12-07 13:05 UTC` (instants are shown in UTC, and say so).
fn when(value: Value) -> String {
    let Some(text) = value.as_str() else {
        return "–".into();
    };
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(at) => at
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => text.to_owned(),
    }
}

/// Seconds as `850 ms`, `12.5 s`, `3.2 min`; nothing → `–`.
fn secs(value: Value) -> String {
    match f64::try_from(value) {
        Ok(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Ok(s) if s < 120.0 => format!("{s:.1} s"),
        Ok(s) => format!("{:.1} min", s / 60.0),
        Err(_) => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(num(Value::from(1_234_567)), "1,234,567");
        assert_eq!(num(Value::from(-1200)), "-1,200");
        assert_eq!(num(Value::from(0)), "0");
        assert_eq!(num(Value::from(2.96)), "3.0");
        assert_eq!(num(Value::from(())), "–");
        assert_eq!(pct(Value::from(0.1234)), "12.3 %");
        assert_eq!(pct(Value::from(())), "–");
        let m = |amount: &str| {
            money(ViaDeserialize(Some(Money {
                amount: amount.into(),
                currency: "EUR".into(),
            })))
        };
        assert_eq!(m("1234567.50"), "1,234,567.50 EUR");
        assert_eq!(m("-40.00"), "-40.00 EUR");
        assert_eq!(m("7"), "7 EUR");
        assert_eq!(
            when(Value::from("2026-12-07T13:05:09.123+00:00")),
            "2026-12-07 13:05:09 UTC"
        );
        assert_eq!(secs(Value::from(0.25)), "250 ms");
        assert_eq!(secs(Value::from(300.0)), "5.0 min");
    }

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(ENV.get_template(name).is_ok(), "{name}");
        }
    }
}
