//! Spreadsheet export over HTTP: `GET /export/{segments|roles|tags}/{id}.csv` with an admin or
//! integrator key in `Authorization: Bearer <key>`, streamed as the client reads it (see
//! [`crate::domain::export`]).

use super::{app_error_response, authenticate};
use crate::domain::api_keys::Scope;
use crate::domain::export::{self, Group};
use crate::error::AppError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/export/{kind}/{file}", web::get().to(export_csv));
}

async fn export_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let principal = match authenticate(&state, &req).await {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            return app_error_response(AppError::Unauthenticated(
                "send an admin or integrator key as `Authorization: Bearer <key>`".into(),
            ));
        }
        Err(e) => return app_error_response(e),
    };
    if !matches!(principal.scope, Scope::Admin | Scope::Integrator) {
        return app_error_response(AppError::Forbidden(
            "exports need an admin or integrator key".into(),
        ));
    }
    let (kind, file) = path.into_inner();
    let group = file
        .strip_suffix(".csv")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .and_then(|id| Group::parse(&kind, id));
    let Some(group) = group else {
        return app_error_response(AppError::NotFound(
            "export /export/segments/{id}.csv, /export/roles/{id}.csv or /export/tags/{id}.csv"
                .into(),
        ));
    };
    if let Err(e) = export::check(&state.db, group).await {
        return app_error_response(e);
    }
    let currency = state.settings.store.currency.clone();
    let body = export::csv(state.db.clone(), group, currency).map(|chunk| {
        chunk.map(|c| web::Bytes::from(c.bytes)).map_err(|e| {
            tracing::error!(error = %e, "an export failed while streaming");
            actix_web::error::ErrorInternalServerError("the export failed")
        })
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", group.file_name()),
        ))
        .streaming(body)
}
