//! The predicted cart's page (`/r/{token}`): a small server-rendered page, readable on a
//! phone, that shows the cart's lines with quantities the customer can change and three
//! buttons — Confirm, Remind me in N days (`NUDGE_REPLENISHMENT_POSTPONE_DAYS`), I have
//! enough. The form posts back to the same address; after a decision the page shows what was
//! decided, and a second click changes nothing. A person opening the page marks the cart
//! viewed (a link scanner's or prefetcher's user agent does not: the rule of opens). A
//! tampered or expired token gets a 404 page. Customer and catalogue texts are HTML-escaped.

use super::cart_texts::{Texts, texts_for};
use crate::domain::customers;
use crate::domain::predicted_carts::decide::{self, Decision};
use crate::domain::predicted_carts::read::Cart;
use crate::domain::predicted_carts::{CartStatus, link};
use crate::domain::stats::machine::{OpenKind, judge_open};
use crate::domain::values::format_amount;
use crate::error::AppError;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::{AutoEscape, Environment, context};
use std::sync::LazyLock;
use std::time::Duration;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/r/{token}", web::get().to(show))
        .route("/r/{token}", web::post().to(decide_on));
}

const PAGE: &str = r#"<!doctype html>
<html lang="{{ t.lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 0 auto; padding: 1rem; line-height: 1.5; color: #1a1a1a; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .5rem .25rem; border-bottom: 1px solid #ddd; }
td.n, th.n { text-align: right; }
td img { vertical-align: middle; object-fit: cover; border-radius: .25rem; }
input[type=number] { width: 4.5rem; font-size: 1rem; padding: .25rem; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: 1rem; }
button { font-size: 1rem; padding: .6rem 1rem; border-radius: .4rem; border: 1px solid #555; background: #fff; cursor: pointer; }
button.primary { background: #14532d; color: #fff; border-color: #14532d; }
button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
.decided { padding: .75rem; background: #f1f5f9; border-radius: .4rem; }
</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
{% if decided %}
<p class="decided" role="status">{{ decided }}</p>
{% else %}
<p>{{ t.intro }}</p>
{% endif %}
<form method="post">
<table>
<caption class="visually-hidden">{{ t.caption }}</caption>
<thead><tr><th scope="col">{{ t.product }}</th><th scope="col" class="n">{{ t.quantity }}</th><th scope="col" class="n">{{ t.price }}</th><th scope="col" class="n">{{ t.total }}</th></tr></thead>
<tbody>
{% for line in lines %}
<tr>
<td>{% if line.image %}<img src="{{ line.image }}" alt="" width="48" height="48" loading="lazy"> {% endif %}{{ line.name }}</td>
<td class="n">{% if decided %}{{ line.quantity }}{% else %}<label for="q{{ line.position }}" class="visually-hidden">{{ line.label }}</label><input id="q{{ line.position }}" type="number" name="q{{ line.position }}" min="0" max="999" value="{{ line.quantity }}" inputmode="numeric">{% endif %}</td>
<td class="n">{{ line.price }}</td>
<td class="n">{{ line.total }}</td>
</tr>
{% endfor %}
</tbody>
<tfoot>{% for total in totals %}<tr><th scope="row" colspan="3">{{ t.total }}</th><td class="n">{{ total }}</td></tr>{% endfor %}</tfoot>
</table>
{% if not decided %}
<div class="actions">
<button class="primary" type="submit" name="action" value="confirm">{{ t.confirm }}</button>
{% for choice in postpone %}<button type="submit" name="action" value="postpone-{{ choice.days }}">{{ choice.label }}</button>{% endfor %}
<button type="submit" name="action" value="decline">{{ t.enough }}</button>
</div>
{% endif %}
</form>
</main>
<style>.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }</style>
</body>
</html>
"#;

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // A constant template that parses (a unit test renders it).
    let _ = env.add_template("cart", PAGE);
    env
});

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(body)
}

fn not_found(t: &Texts) -> HttpResponse {
    let page = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1><p>{}</p></main></body></html>",
        t.lang,
        t.invalid_body,
        title = t.invalid_title,
    );
    html(StatusCode::NOT_FOUND, page)
}

/// The page of a tampered, expired or dead link, in the browser's language.
async fn invalid_link(state: &AppState, request: &HttpRequest) -> HttpResponse {
    match texts_of(state, request, None).await {
        Ok(texts) => not_found(texts),
        Err(e) => failed(e),
    }
}

fn failed(e: AppError) -> HttpResponse {
    tracing::error!(error = %e, "a predicted cart page failed");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Something went \
         wrong</title></head><body><main><h1>Something went wrong</h1><p>Please try again \
         later.</p></main></body></html>"
            .into(),
    )
}

/// What a decided cart's page says.
fn decision_text(cart: &Cart, t: &Texts) -> Option<String> {
    let status = CartStatus::from_stored(&cart.cart.status)?;
    let days = cart
        .cart
        .decision
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|d| d["days"].as_i64())
        .unwrap_or_default();
    match status {
        CartStatus::Open => None,
        CartStatus::Confirmed => Some(t.confirmed.into()),
        CartStatus::Postponed => Some(t.postponed.replace("{n}", &days.to_string())),
        CartStatus::Declined => Some(t.declined.into()),
        CartStatus::Closed => Some(t.closed.into()),
    }
}

fn render(cart: &Cart, postpone: &[i32], t: &Texts) -> Result<String, minijinja::Error> {
    let lines: Vec<minijinja::Value> = cart
        .lines
        .iter()
        .map(|(line, product)| {
            let money =
                |minor: i64| format!("{} {}", format_amount(minor, &line.currency), line.currency);
            context! {
                position => line.position,
                name => product.name.clone(),
                label => t.quantity_of.replace("{name}", &product.name),
                image => product.image_url.clone(),
                quantity => line.quantity,
                price => money(line.unit_price),
                total => money(line.unit_price.saturating_mul(i64::from(line.quantity))),
            }
        })
        .collect();
    let totals: Vec<String> = cart
        .totals()
        .into_iter()
        .map(|(currency, minor)| format!("{} {currency}", format_amount(minor, &currency)))
        .collect();
    let postpone: Vec<minijinja::Value> = postpone
        .iter()
        .map(|days| {
            context! {
                days => days,
                label => t.remind_in.replace("{n}", &days.to_string()),
            }
        })
        .collect();
    PAGES.get_template("cart")?.render(context! {
        title => t.title,
        t => minijinja::Value::from_serialize(t),
        decided => decision_text(cart, t),
        lines => lines,
        totals => totals,
        postpone => postpone,
    })
}

/// The words of the page: in the customer's locale, else the browser's language.
async fn texts_of(
    state: &AppState,
    request: &HttpRequest,
    cart: Option<&Cart>,
) -> Result<&'static Texts, AppError> {
    let locale = match cart {
        Some(cart) => customers::find(&state.db, cart.cart.customer_id)
            .await?
            .and_then(|c| c.locale),
        None => None,
    };
    let accepted = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Ok(texts_for(locale.as_deref(), accepted))
}

async fn show(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let now_ms = crate::clock::to_millis(state.clock.now());
    let cart = match link::open(&state.db, &state.senders.signer, &token, now_ms).await {
        Ok(Some(cart)) => cart,
        Ok(None) => return invalid_link(&state, &request).await,
        Err(e) => return failed(e),
    };
    // Link scanners and prefetchers open pages too; only a person's visit counts as seen.
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let person = judge_open(agent, None, Duration::ZERO) == OpenKind::Human;
    if person
        && cart.cart.viewed_at.is_none()
        && let Err(e) = decide::mark_viewed(&state.db, cart.cart.id, now_ms).await
    {
        return failed(e);
    }
    let texts = match texts_of(&state, &request, Some(&cart)).await {
        Ok(texts) => texts,
        Err(e) => return failed(e),
    };
    match render(
        &cart,
        &state.settings.store.replenishment.postpone_choices,
        texts,
    ) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => failed(AppError::internal(e.to_string())),
    }
}

async fn decide_on(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let now = state.clock.now();
    let now_ms = crate::clock::to_millis(now);
    let cart = match link::open(&state.db, &state.senders.signer, &token, now_ms).await {
        Ok(Some(cart)) => cart,
        Ok(None) => return invalid_link(&state, &request).await,
        Err(e) => return failed(e),
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let decision = match field("action") {
        Some("confirm") => Decision::Confirm(
            cart.lines
                .iter()
                .filter_map(|(line, product)| {
                    let quantity = field(&format!("q{}", line.position))?.parse::<i32>().ok()?;
                    let quantity = quantity.clamp(0, decide::MAX_QUANTITY);
                    Some((product.external_id.clone(), quantity))
                })
                .collect(),
        ),
        Some("decline") => Decision::Decline,
        Some(other) => match other
            .strip_prefix("postpone-")
            .and_then(|d| d.parse::<i32>().ok())
            .filter(|d| {
                state
                    .settings
                    .store
                    .replenishment
                    .postpone_choices
                    .contains(d)
            }) {
            Some(days) => Decision::Postpone { days },
            None => return html(StatusCode::BAD_REQUEST, "Unknown choice".into()),
        },
        None => return html(StatusCode::BAD_REQUEST, "Choose what to do".into()),
    };
    let decided = decide::decide(
        &state.db,
        now,
        &state.settings.store,
        cart.cart.customer_id,
        cart.cart.id,
        decision,
    )
    .await;
    match decided {
        Ok(decided) => {
            if decided.changed {
                state.processor_wake.notify_one();
                state.senders.wake.notify_one();
                state.webhook_wake.notify_one();
            }
            // Back to the page, which now shows what was decided.
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/r/{token}")))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        // Every quantity at 0: the page again, as it was.
        Err(AppError::Invalid(_)) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/r/{token}")))
            .finish(),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_template_parses() {
        assert!(super::PAGES.get_template("cart").is_ok());
    }
}
