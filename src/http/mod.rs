//! The HTTP surface: `/graphql` (POST operations, GET GraphiQL or read-only queries,
//! WebSocket subscriptions), `/healthz` and `/readyz`, the links messages carry and the
//! SMS provider calls (see [`tracking`]), and spreadsheet exports (see [`export`]).

mod assets;
mod cart_texts;
mod carts;
mod console;
mod deadline;
mod export;
mod logging;
mod socket;
mod tracking;

pub use deadline::bound_body_time;
pub use logging::{RouteSpan, measure};

use crate::domain::api_keys::Principal;
use crate::error::{AppError, ErrorCode};
use crate::graphql::AppSchema;
use crate::graphql::budget::RequestBudget;
use crate::graphql::limits::ArrivedOverGet;
use crate::graphql::nesting;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::BatchRequest;
use futures_util::StreamExt;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/graphql", web::post().to(graphql_post))
        .route("/graphql", web::get().to(graphql_get))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .configure(tracking::routes)
        .configure(carts::routes)
        .configure(assets::routes)
        .configure(console::routes)
        .configure(export::routes);
}

/// A JSON body with one GraphQL error and its code.
fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    }))
}

fn app_error_response(err: AppError) -> HttpResponse {
    if let AppError::Internal(cause) = &err {
        tracing::error!(error = %cause, "request failed");
    }
    let status = match err.code() {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::LimitExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    error_response(status, err.code(), &err.public_message())
}

/// The caller behind `Authorization: Bearer <key>`: `None` without the header (fields then
/// answer `UNAUTHENTICATED`), an error for a malformed header or an invalid key.
async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Option<Principal>, AppError> {
    let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let secret = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            AppError::Unauthenticated("the Authorization header must be `Bearer <key>`".into())
        })?;
    state
        .keys
        .authenticate(&state.db, state.clock.now(), secret)
        .await
        .map(Some)
}

/// Reads the body up to `limit` bytes; a larger one is refused without reading it all.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, AppError> {
    let too_large =
        || AppError::LimitExceeded(format!("the request body is larger than {limit} bytes"));
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AppError::BadRequest(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request whose JSON nests deeper than the limit, refused before it is parsed.
fn nesting_refused(limit: usize) -> HttpResponse {
    error_response(
        StatusCode::BAD_REQUEST,
        ErrorCode::LimitExceeded,
        &format!("the request nests more than {limit} levels deep"),
    )
}

async fn execute(
    schema: &AppSchema,
    state: &AppState,
    principal: Option<Principal>,
    request: BatchRequest,
    over_get: bool,
) -> HttpResponse {
    let max_batch = state.settings.limits.max_batch;
    if let BatchRequest::Batch(operations) = &request
        && operations.len() > max_batch
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::LimitExceeded,
            &format!(
                "the batch holds {} operations; the limit is {max_batch}",
                operations.len()
            ),
        );
    }
    let operations =
        logging::record_operations(request.iter().map(|r| r.operation_name.as_deref()));
    let mut response = execute_named(schema, state, principal, request, over_get).await;
    response.extensions_mut().insert(operations);
    response
}

async fn execute_named(
    schema: &AppSchema,
    state: &AppState,
    principal: Option<Principal>,
    mut request: BatchRequest,
    over_get: bool,
) -> HttpResponse {
    let budget = RequestBudget::new(state.settings.limits.request_connections);
    for single in request.iter_mut() {
        crate::graphql::operation_data(state, &budget, principal.as_ref(), &mut single.data);
        if over_get {
            single.data.insert(ArrivedOverGet);
        }
    }
    let response = schema.execute_batch(request).await;
    HttpResponse::Ok().json(response)
}

async fn graphql_post(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let limit = state.settings.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return app_error_response(AppError::LimitExceeded(format!(
            "the request body is larger than {limit} bytes"
        )));
    }
    let principal = match authenticate(&state, &req).await {
        Ok(p) => p,
        Err(err) => return app_error_response(err),
    };
    let body = match read_body(payload, limit).await {
        Ok(body) => body,
        Err(err) => return app_error_response(err),
    };
    // The request object, the variables object, then each variable (two more in a batch).
    if nesting::json_depth(&body, state.settings.limits.max_nesting + 3).is_err() {
        return nesting_refused(state.settings.limits.max_nesting);
    }
    let request: BatchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return app_error_response(AppError::BadRequest(format!(
                "the body is not a GraphQL request in JSON: {e}"
            )));
        }
    };
    execute(&schema, &state, principal, request, false).await
}

async fn graphql_get(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let upgrade = req
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return socket::subscribe(
            schema.get_ref().clone(),
            state.get_ref().clone(),
            &req,
            payload,
        )
        .unwrap_or_else(|_| {
            error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "a WebSocket needs Sec-WebSocket-Protocol: graphql-transport-ws",
            )
        });
    }
    if req.query_string().is_empty() {
        return assets::graphiql(&req);
    }
    let principal = match authenticate(&state, &req).await {
        Ok(p) => p,
        Err(err) => return app_error_response(err),
    };
    let limit = state.settings.limits.max_nesting;
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    if pairs.iter().any(|(name, value)| {
        matches!(name.as_str(), "variables" | "extensions")
            && nesting::json_depth(value.as_bytes(), limit + 1).is_err()
    }) {
        return nesting_refused(limit);
    }
    match async_graphql::http::parse_query_string(req.query_string()) {
        Ok(mut request) => {
            // The GraphQL-over-HTTP name is `operationName`; the parser reads `operation_name`.
            if request.operation_name.is_none() {
                request.operation_name = pairs
                    .iter()
                    .find(|(name, _)| name == "operationName")
                    .map(|(_, value)| value.clone());
            }
            execute(
                &schema,
                &state,
                principal,
                BatchRequest::Single(request),
                true,
            )
            .await
        }
        Err(e) => app_error_response(AppError::BadRequest(format!(
            "the query string is not a GraphQL request: {e}"
        ))),
    }
}

/// `/metrics` (on its own listener): the Prometheus text.
pub async fn metrics(
    state: web::Data<AppState>,
    handle: web::Data<metrics_exporter_prometheus::PrometheusHandle>,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::prometheus::render(&state, &handle).await)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let problems = crate::readiness::problems(&state).await;
    if problems.is_empty() {
        return HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }));
    }
    HttpResponse::ServiceUnavailable()
        .json(serde_json::json!({ "status": "unavailable", "problems": problems }))
}
