//! A deadline on reading a request's body. actix-web bounds the time to read a request's
//! head, not its body: a client that declares `Content-Length: 1000`, sends nine bytes and
//! goes quiet would hold its connection (and a descriptor) for ever. Every body is read
//! through [`TimedPayload`]; a body not complete within the limit ends the request with 408
//! and closes the connection. WebSocket upgrades are left alone (their sockets close a
//! connection that never initialises, see `socket.rs`).

use crate::error::ErrorCode;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// The middleware: wraps the body, and answers 408 if its deadline passed.
pub async fn bound_body_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(Duration::from_secs(5), |state| {
            state.settings.limits.body_timeout
        });
    // A WebSocket's "body" is the connection itself: it lives as long as the socket.
    let upgrade = req
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrade {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let expired = Arc::new(AtomicBool::new(false));
    let payload = req.take_payload();
    let timed = TimedPayload {
        inner: payload,
        deadline: Box::pin(tokio::time::sleep(limit)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(timed),
    });
    let response = next.call(req).await?;
    if !expired.load(Ordering::Relaxed) {
        return Ok(response.map_into_left_body());
    }
    let mut timeout = HttpResponse::build(StatusCode::REQUEST_TIMEOUT).json(serde_json::json!({
        "errors": [{
            "message": format!("the request body did not arrive within {} ms", limit.as_millis()),
            "extensions": { "code": ErrorCode::LimitExceeded.as_str() }
        }]
    }));
    // What is left of the body is never read: the connection cannot carry another request.
    timeout
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(response.into_response(timeout).map_into_right_body())
}

/// A request body that fails with a timeout once its deadline passes.
struct TimedPayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
