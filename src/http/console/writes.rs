//! What an admin may change from the console: pause or activate a campaign, lift a
//! suppression. Each is a form post of this origin carrying the session's form token, runs the
//! same mutation the API offers (so an integrator key is refused as the API refuses it), then
//! sends the browser back to the page it came from (post, redirect, get).

use super::{Visitor, ask, form_token, render, same_origin, session_token, visitor};
use crate::graphql::AppSchema;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    token: String,
    status: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// The visitor behind a form post, or the page that refuses it.
async fn poster(state: &AppState, req: &HttpRequest, token: &str) -> Result<Visitor, HttpResponse> {
    let visitor = visitor(state, req).await?;
    let expected = session_token(req).map(|t| form_token(&t));
    if !same_origin(req) || expected.as_deref() != Some(token) {
        return Err(render::refused(
            req,
            StatusCode::FORBIDDEN,
            "That change must be made with the console's own buttons: this request came from elsewhere.",
        ));
    }
    Ok(visitor)
}

/// Runs `document` and sends the browser to the page `back` names from the payload;
/// refusals and `userErrors` (under `payload`) are shown instead.
async fn change(
    schema: &AppSchema,
    state: &AppState,
    req: &HttpRequest,
    visitor: &Visitor,
    nav: &str,
    (document, variables, payload): (&str, Value, &str),
    back: impl FnOnce(&Value) -> String,
) -> HttpResponse {
    let answer = ask(schema, state, visitor, document, variables).await;
    if let Some(page) = answer.refusal(req, visitor, nav) {
        return page;
    }
    let refused: Vec<String> = answer.data[payload]["userErrors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    if !refused.is_empty() {
        return render::problem(req, visitor, nav, &refused.join("; "));
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, back(&answer.data[payload])))
        .finish()
}

/// `POST /console/campaigns/{id}/status`: `status` is `ACTIVE` or `PAUSED`.
pub async fn campaign_status(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: Result<web::Form<StatusForm>, actix_web::Error>,
) -> HttpResponse {
    let Ok(form) = form else {
        return render::refused(&req, StatusCode::BAD_REQUEST, "The form was incomplete.");
    };
    let visitor = match poster(&state, &req, &form.token).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let status = match form.status.as_str() {
        "ACTIVE" | "PAUSED" => form.status.as_str(),
        _ => {
            return render::problem(
                &req,
                &visitor,
                "campaigns",
                "A campaign is set ACTIVE or PAUSED here.",
            );
        }
    };
    change(
        &schema,
        &state,
        &req,
        &visitor,
        "campaigns",
        (
            "mutation ConsoleCampaignStatus($id: ID!, $status: CampaignStatus!) { updateCampaign(id: $id, input: { status: $status }) { campaign { id } userErrors { field code message } } }",
            json!({ "id": id.as_str(), "status": status }),
            "updateCampaign",
        ),
        // The id the API answered with: one it knows, so the address is a plain number.
        |payload| {
            format!(
                "/console/campaigns/{}",
                payload["campaign"]["id"].as_str().unwrap_or_default()
            )
        },
    )
    .await
}

/// `POST /console/suppressions/{id}/remove`.
pub async fn lift_suppression(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: Result<web::Form<TokenForm>, actix_web::Error>,
) -> HttpResponse {
    let token = form.map(|f| f.into_inner().token).unwrap_or_default();
    let visitor = match poster(&state, &req, &token).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    change(
        &schema,
        &state,
        &req,
        &visitor,
        "suppressions",
        (
            "mutation ConsoleLift($id: ID!) { removeSuppression(id: $id) { removedSuppressionId userErrors { field code message } } }",
            json!({ "id": id.as_str() }),
            "removeSuppression",
        ),
        |_| "/console/suppressions".to_owned(),
    )
    .await
}
