//! The built-in console (`/console`): the shop's campaigns, statistics, segments, outbox and
//! health as server-rendered pages with SVG charts, for a person rather than a program.
//!
//! - **Sign-in.** A person pastes an admin or integrator key into a form once; it is exchanged
//!   for a session ([`sessions`]) whose random token lives in an `HttpOnly`, `SameSite=Strict`
//!   cookie (`Secure` over HTTPS). The key never appears in a URL or in the browser's storage.
//!   Signing out ends the session at once; revoking the key ends it too.
//! - **One data path.** Every figure is read by running a GraphQL document in-process, as the
//!   signed-in key, through the same schema admin apps call ([`ask`]): the same guards (an
//!   integrator key reads, and sees the outbox refused), limits and numbers.
//! - **Forms** post only to this origin: a post whose `Origin` or `Sec-Fetch-Site` names
//!   another site is refused, and sign-out and an admin's changes ([`writes`]: pausing a
//!   campaign, lifting a suppression) also carry a token derived from the session.
//! - **Pages** carry the strict headers of [`super::assets`]: scripts of this origin only
//!   (the live feed's), none inline, nothing from another host, no framing.

mod charts;
mod pages;
mod render;
mod writes;

use crate::domain::api_keys::sessions;
use crate::domain::api_keys::{Principal, Scope};
use crate::graphql::budget::RequestBudget;
use crate::graphql::{AppSchema, operation_data};
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "nudge_console";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(pages::campaigns))
        .route("/console/", web::get().to(pages::campaigns))
        .route("/console/sign-in", web::get().to(sign_in_form))
        .route("/console/sign-in", web::post().to(sign_in))
        .route("/console/sign-out", web::post().to(sign_out))
        .route("/console/campaigns/{id}", web::get().to(pages::campaign))
        .route(
            "/console/campaigns/{id}/status",
            web::post().to(writes::campaign_status),
        )
        .route("/console/actions", web::get().to(pages::actions))
        .route("/console/actions/{id}", web::get().to(pages::action))
        .route("/console/segments", web::get().to(pages::segments))
        .route("/console/segments/{id}", web::get().to(pages::segment))
        .route("/console/outbox", web::get().to(pages::outbox))
        .route("/console/outbox/{id}", web::get().to(pages::delivery))
        .route("/console/suppressions", web::get().to(pages::suppressions))
        .route(
            "/console/suppressions/{id}/remove",
            web::post().to(writes::lift_suppression),
        )
        .route("/console/live", web::get().to(pages::live))
        .route("/console/health", web::get().to(pages::health));
}

/// The person behind a console request: the key they signed in with and their session.
pub struct Visitor {
    principal: Principal,
    token: String,
}

impl Visitor {
    /// The token forms carry besides the cookie: derived from the session, so another site
    /// cannot know it.
    fn form_token(&self) -> String {
        form_token(&self.token)
    }

    fn may_write(&self) -> bool {
        self.principal.scope == Scope::Admin
    }
}

fn form_token(session_token: &str) -> String {
    hex::encode(Sha256::digest(format!("console-form:{session_token}")))
}

/// The session token a request carries, if any.
pub fn session_token(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The signed-in visitor, or the response that sends them to sign in (forgetting an ended
/// session's cookie).
async fn visitor(state: &AppState, req: &HttpRequest) -> Result<Visitor, HttpResponse> {
    let Some(token) = session_token(req) else {
        return Err(to_sign_in(false));
    };
    match sessions::resolve(&state.db, &state.keys, state.clock.now(), &token).await {
        Ok((principal, _)) => Ok(Visitor { principal, token }),
        Err(crate::error::AppError::Unauthenticated(_)) => Err(to_sign_in(true)),
        Err(e) => Err(render::failure(req, &e.public_message())),
    }
}

fn to_sign_in(forget: bool) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, "/console/sign-in"));
    if forget {
        response.cookie(removal());
    }
    response.finish()
}

fn removal() -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    cookie.make_removal();
    cookie
}

/// Whether a form post comes from a page of this origin: a browser names the page's origin
/// in `Origin` and the relation in `Sec-Fetch-Site`; a post that names another is refused.
/// (A client sending neither holds no browser cookie to abuse.)
pub fn same_origin(req: &HttpRequest) -> bool {
    let info = req.connection_info();
    let expected = format!("{}://{}", info.scheme(), info.host());
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    let origin_ok = match req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        // An opaque origin (a privacy setting): only the browser's own word will do.
        Some("null") => site == Some("same-origin"),
        Some(origin) => origin.eq_ignore_ascii_case(&expected),
    };
    let site_ok = site.is_none_or(|site| matches!(site, "same-origin" | "none"));
    origin_ok && site_ok
}

#[derive(Deserialize)]
struct SignInForm {
    key: String,
}

#[derive(Deserialize)]
struct SignOutForm {
    #[serde(default)]
    token: String,
}

async fn sign_in_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(token) = session_token(&req)
        && sessions::resolve(&state.db, &state.keys, state.clock.now(), &token)
            .await
            .is_ok()
    {
        return see_other("/console");
    }
    render::sign_in(&req, None, StatusCode::OK)
}

async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Result<web::Form<SignInForm>, actix_web::Error>,
) -> HttpResponse {
    if !same_origin(&req) {
        return render::sign_in(
            &req,
            Some(
                "The sign-in form was sent from another site; open the console here and sign in again.",
            ),
            StatusCode::FORBIDDEN,
        );
    }
    let Ok(form) = form else {
        return render::sign_in(
            &req,
            Some("Paste a key to sign in."),
            StatusCode::BAD_REQUEST,
        );
    };
    if form.key.trim().is_empty() {
        return render::sign_in(
            &req,
            Some("Paste a key to sign in."),
            StatusCode::BAD_REQUEST,
        );
    }
    let opened = sessions::open(
        &state.db,
        &state.keys,
        state.clock.now(),
        &form.key,
        state.settings.console_session,
    )
    .await;
    match opened {
        Ok(opened) => {
            let secure = req.connection_info().scheme() == "https";
            let cookie = Cookie::build(COOKIE, opened.token)
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Strict)
                .max_age(time::Duration::seconds(
                    state.settings.console_session.as_secs() as i64,
                ))
                .finish();
            tracing::info!(key.id = opened.principal.key_id, "console: signed in");
            let mut response = HttpResponse::SeeOther();
            response
                .insert_header((header::LOCATION, "/console"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(cookie);
            response.finish()
        }
        Err(crate::error::AppError::Unauthenticated(_)) => render::sign_in(
            &req,
            Some("That key is not valid: it is unknown or was revoked."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(crate::error::AppError::Forbidden(message)) => {
            render::sign_in(&req, Some(&message), StatusCode::FORBIDDEN)
        }
        Err(e) => render::failure(&req, &e.public_message()),
    }
}

async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Result<web::Form<SignOutForm>, actix_web::Error>,
) -> HttpResponse {
    let Some(token) = session_token(&req) else {
        return to_sign_in(false);
    };
    let carried = form.map(|f| f.into_inner().token).unwrap_or_default();
    if !same_origin(&req) || carried != form_token(&token) {
        return render::refused(
            &req,
            StatusCode::FORBIDDEN,
            "Signing out needs the console's own button: this request came from elsewhere.",
        );
    }
    if let Err(e) = sessions::close(&state.db, state.clock.now(), &token).await {
        return render::failure(&req, &e.public_message());
    }
    tracing::info!("console: signed out");
    to_sign_in(true)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A GraphQL answer as JSON: its data and its errors' codes and messages.
pub struct Answer {
    data: serde_json::Value,
    errors: Vec<(String, String)>,
}

impl Answer {
    /// The first error with `code`, if any.
    fn error(&self, code: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, m)| m.as_str())
    }

    /// The page that says why the answer has no data, when it has errors: sign in again,
    /// this key may not read or do it, what was wrong with the request, or Nudge failed.
    fn refusal(&self, req: &HttpRequest, visitor: &Visitor, nav: &str) -> Option<HttpResponse> {
        if self.error("UNAUTHENTICATED").is_some() {
            return Some(to_sign_in(true));
        }
        if let Some(message) = self.error("FORBIDDEN") {
            return Some(render::restricted(req, visitor, nav, message));
        }
        let (code, _) = self.errors.first()?;
        let messages: Vec<&str> = self.errors.iter().map(|(_, m)| m.as_str()).collect();
        let message = messages.join("; ");
        Some(match code.as_str() {
            "INTERNAL" => render::failure(req, &message),
            _ => render::problem(req, visitor, nav, &message),
        })
    }
}

/// Runs `document` as the visitor, through the schema admin apps call.
async fn ask(
    schema: &AppSchema,
    state: &AppState,
    visitor: &Visitor,
    document: &str,
    variables: serde_json::Value,
) -> Answer {
    let budget = RequestBudget::new(state.settings.limits.request_connections);
    let mut request = async_graphql::Request::new(document)
        .variables(async_graphql::Variables::from_json(variables));
    operation_data(state, &budget, Some(&visitor.principal), &mut request.data);
    let response = schema.execute(request).await;
    let errors = response
        .errors
        .iter()
        .map(|e| {
            let code = e
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .and_then(|c| match c {
                    async_graphql::Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "INTERNAL".into());
            (code, e.message.clone())
        })
        .collect();
    let data = response.data.into_json().unwrap_or(serde_json::Value::Null);
    Answer { data, errors }
}
