//! Routes that messages link to and the SMS provider calls: the open pixel (`/t/o/{token}`),
//! click redirects (`/t/c/{token}`), "view in browser" (`/m/{token}`), the unsubscribe page
//! and its one-click POST (`/u/{token}`), SMS status callbacks (`/sms/status`) and inbound
//! SMS (`/sms/inbound`). Tokens carry no personal data; the provider's requests must carry a
//! valid `X-Twilio-Signature`.

use crate::delivery::sms::verify_twilio_signature;
use crate::domain::deliveries::tracking::{self, Inbound};
use crate::error::AppError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/t/o/{token}", web::get().to(open))
        .route("/t/c/{token}", web::get().to(click))
        .route("/m/{token}", web::get().to(view))
        .route("/u/{token}", web::get().to(unsubscribe_page))
        .route("/u/{token}", web::post().to(unsubscribe))
        .route("/sms/status", web::post().to(sms_status))
        .route("/sms/inbound", web::post().to(sms_inbound));
}

fn failed(e: AppError) -> HttpResponse {
    tracing::error!(error = %e, "a tracking request failed");
    page(
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again later.",
    )
}

fn page(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1>{body}</body></html>"
        ))
}

fn not_found() -> HttpResponse {
    page(
        actix_web::http::StatusCode::NOT_FOUND,
        "Link not found",
        "<p>This link is not valid.</p>",
    )
}

async fn open(
    state: web::Data<AppState>,
    token: web::Path<String>,
    request: actix_web::HttpRequest,
) -> HttpResponse {
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let window = state.settings.delivery.machine_open_window;
    let (signer, now) = (&state.senders.signer, state.clock.now());
    // The pixel is answered either way: a mail client learns nothing from a bad token.
    if let Err(e) = tracking::open(&state.db, signer, &token, agent, window, now).await {
        tracing::error!(error = %e, "recording an open failed");
    }
    HttpResponse::Ok()
        .content_type("image/gif")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(PIXEL)
}

async fn click(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match tracking::click(&state.db, &state.senders.signer, &token, state.clock.now()).await {
        Ok(Some(target)) => HttpResponse::Found()
            .insert_header((header::LOCATION, target))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Ok(None) => not_found(),
        Err(e) => failed(e),
    }
}

async fn view(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match tracking::view(&state.db, &state.senders.signer, &token).await {
        Ok(Some((true, html))) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Ok(Some((false, text))) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(text),
        Ok(None) => not_found(),
        Err(e) => failed(e),
    }
}

/// A page with one button: following a link must not unsubscribe by itself (mail scanners
/// follow links), the POST does.
async fn unsubscribe_page(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match tracking::unsubscribe_target(&state.db, &state.senders.signer, &token).await {
        Ok(Some(_)) => page(
            actix_web::http::StatusCode::OK,
            "Unsubscribe",
            "<p>Stop receiving these messages?</p>\
             <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
        ),
        Ok(None) => not_found(),
        Err(e) => failed(e),
    }
}

/// The page's button and RFC 8058's one-click POST (`List-Unsubscribe=One-Click`).
async fn unsubscribe(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let source = if body.as_ref() == b"List-Unsubscribe=One-Click" {
        "one-click unsubscribe"
    } else {
        "unsubscribe page"
    };
    let done = tracking::unsubscribe(
        &state.db,
        &state.senders.signer,
        &token,
        source,
        state.clock.now(),
    )
    .await;
    match done {
        Ok(true) => page(
            actix_web::http::StatusCode::OK,
            "You are unsubscribed",
            "<p>You will not receive these messages any more.</p>",
        ),
        Ok(false) => not_found(),
        Err(e) => failed(e),
    }
}

/// The provider's form fields, once its signature is checked against our public URL.
fn signed_form(
    state: &AppState,
    req: &HttpRequest,
    form: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, Box<HttpResponse>> {
    let Some(token) = state.senders.sms.auth_token() else {
        return Err(Box::new(
            HttpResponse::NotFound().body("SMS is not configured"),
        ));
    };
    let mut url = format!("{}{}", state.settings.delivery.public_url, req.path());
    if !req.query_string().is_empty() {
        url = format!("{url}?{}", req.query_string());
    }
    let signature = req
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if verify_twilio_signature(token, &url, &form, signature) {
        Ok(form)
    } else {
        Err(Box::new(
            HttpResponse::Forbidden().body("invalid X-Twilio-Signature"),
        ))
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn sms_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let form = match signed_form(&state, &req, form.into_inner()) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let (Some(sid), Some(status)) = (field(&form, "MessageSid"), field(&form, "MessageStatus"))
    else {
        return HttpResponse::BadRequest().body("MessageSid and MessageStatus are required");
    };
    let recorded = tracking::sms_status(
        &state.db,
        sid,
        status,
        field(&form, "ErrorCode"),
        state.clock.now(),
    )
    .await;
    match recorded {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => failed(e),
    }
}

async fn sms_inbound(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let form = match signed_form(&state, &req, form.into_inner()) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let (Some(from), Some(body)) = (field(&form, "From"), field(&form, "Body")) else {
        return HttpResponse::BadRequest().body("From and Body are required");
    };
    match tracking::sms_inbound(&state.db, from, body, state.clock.now()).await {
        Ok(outcome) => {
            if outcome != Inbound::Ignored {
                tracing::info!(outcome = ?outcome, "inbound SMS keyword");
            }
            HttpResponse::Ok()
                .content_type("text/xml")
                .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>")
        }
        Err(e) => failed(e),
    }
}
