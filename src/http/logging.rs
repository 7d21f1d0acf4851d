//! The span of each request: method, route pattern, status and GraphQL operation names —
//! never the path or query string (tracking, unsubscribe and view-in-browser links carry tokens; `GET /graphql`
//! carries variables), nor the client's address or user agent.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// [`RootSpanBuilder`] for `TracingLogger`: what a request's log lines carry.
pub struct RouteSpan;

impl RootSpanBuilder for RouteSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = route.as_deref().unwrap_or("unmatched"),
            http.status_code = tracing::field::Empty,
            graphql.operation = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.status_code", status.as_u16());
        // One line per request at debug: the span's fields, never the path or query.
        span.in_scope(|| tracing::debug!("request finished"));
    }
}

/// The GraphQL operations a response answered, for the request metrics.
#[derive(Clone)]
pub struct Operations(pub String);

/// Names the GraphQL operations of the request being served in its span (`anonymous` for
/// one without a name; a batch's names joined by commas, cut at 200 characters) and returns
/// the names.
pub fn record_operations<'a>(names: impl Iterator<Item = Option<&'a str>>) -> Operations {
    let mut joined = String::new();
    for name in names {
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(name.unwrap_or("anonymous"));
    }
    if let Some((cut, _)) = joined.char_indices().nth(200) {
        joined.truncate(cut);
    }
    Span::current().record("graphql.operation", joined.as_str());
    Operations(joined)
}

/// The middleware that counts and times every request by route pattern, GraphQL operation
/// and status.
pub async fn measure(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.call(req).await?;
    let status = response.status().as_u16().to_string();
    let operation = response
        .response()
        .extensions()
        .get::<Operations>()
        .map_or_else(String::new, |o| crate::prometheus::operation_label(&o.0));
    let labels = [
        ("route", route),
        ("operation", operation),
        ("status", status),
    ];
    metrics::counter!("nudge_http_requests_total", &labels).increment(1);
    metrics::histogram!("nudge_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}
