//! GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`). The key comes
//! in the `connection_init` payload, since browsers cannot set headers on WebSockets (a console
//! page of this origin may instead open it with its session cookie). The
//! connection keeps only the key's hash: every operation checks the key again (through the
//! same one-second cache as HTTP), and a revoked key's connections are closed with 4403 as
//! soon as this process learns of the revocation (at once where it was revoked, within
//! [`REVOCATION_POLL`](crate::domain::api_keys::REVOCATION_POLL) elsewhere).

use crate::domain::api_keys::{Principal, key_hash, sessions};
use crate::error::ErrorCode;
use crate::graphql::budget::RequestBudget;
use crate::graphql::limits::refusal;
use crate::graphql::{AppSchema, operation_data};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor, Request, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The close code of a connection whose key is no longer valid.
const KEY_REVOKED: u16 = 4403;
/// The close code of a connection that sent no `connection_init` in time
/// (graphql-transport-ws): within `NUDGE_REQUEST_TIMEOUT_MS` of the upgrade.
const INIT_TIMEOUT: u16 = 4408;
/// The close code of a connection whose client took no message for
/// `NUDGE_SOCKET_SEND_TIMEOUT_MS` while one waited: it is too slow for the feed it asked for.
const TOO_SLOW: u16 = 4008;
/// How often the server pings, and how long a silent client is kept.
const HEARTBEAT: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The key a connection was opened with, known once `connection_init` succeeded.
#[derive(Clone)]
struct Identity {
    key_id: i64,
    key_hash: String,
    /// The console session the connection was opened with (its cookie), if it came without
    /// a key: checked again with every operation and every heartbeat, so signing out ends it.
    session: Option<String>,
}

/// Upgrades the request and serves the connection until either side closes it.
pub fn subscribe(
    schema: AppSchema,
    state: AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let protocol = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| {
            offered
                .split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
        .ok_or_else(|| actix_web::error::ErrorBadRequest("no supported subprotocol"))?;
    // A browser page of this origin may open the socket with its console session instead of
    // a key; another site's page may not use the cookie (cross-site WebSocket hijacking).
    let console_session = super::console::session_token(req)
        .filter(|_| super::console::same_origin(req) && req.headers().contains_key("origin"));
    let (response, session, messages) =
        actix_ws::handle_with_protocols(req, payload, &ALL_WEBSOCKET_PROTOCOLS)?;
    let messages = messages
        .max_frame_size(state.settings.limits.max_body_bytes)
        .aggregate_continuations()
        .max_continuation_size(state.settings.limits.max_body_bytes);
    actix_web::rt::spawn(serve(
        schema,
        state,
        protocol,
        session,
        messages,
        console_session,
    ));
    Ok(response)
}

async fn serve(
    schema: AppSchema,
    state: AppState,
    protocol: WebSocketProtocols,
    mut session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
    console_session: Option<String>,
) {
    let identity: Arc<OnceLock<Identity>> = Arc::default();
    let executor = CheckedExecutor {
        schema,
        state: state.clone(),
        identity: identity.clone(),
    };
    let (to_graphql, mut received) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let from_client = Box::pin(async_stream::stream! {
        while let Some(message) = received.recv().await {
            yield message;
        }
    });
    let on_init = {
        let (state, identity) = (state.clone(), identity.clone());
        move |init: serde_json::Value| async move {
            let refused =
                |e: crate::error::AppError| crate::graphql::coded(e.code(), e.public_message());
            let (principal, key_hash, session) = match (key_from_init(&init), console_session) {
                (Some(secret), _) => {
                    let principal = state
                        .keys
                        .authenticate(&state.db, state.clock.now(), &secret)
                        .await
                        .map_err(refused)?;
                    (principal, key_hash(&secret), None)
                }
                (None, Some(token)) => {
                    let (principal, hash) =
                        sessions::resolve(&state.db, &state.keys, state.clock.now(), &token)
                            .await
                            .map_err(refused)?;
                    (principal, hash, Some(token))
                }
                (None, None) => {
                    return Err(crate::graphql::coded(
                        ErrorCode::Unauthenticated,
                        "send the key in connection_init: {\"Authorization\": \"Bearer <key>\"}",
                    ));
                }
            };
            let _ = identity.set(Identity {
                key_id: principal.key_id,
                key_hash,
                session,
            });
            let mut data = Data::default();
            data.insert(principal);
            Ok(data)
        }
    };
    let keys = executor.clone();
    let mut graphql = WebSocket::new(executor, from_client, protocol).on_connection_init(on_init);
    let mut revocations = state.keys.revocations();
    // The sender lives in the state this task holds, so the channel stays open; should it
    // close, the branch is switched off rather than polled in a loop.
    let mut hearing_revocations = true;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut heard = Instant::now();
    let send_timeout = state.settings.limits.socket_send_timeout;
    let init_deadline = tokio::time::sleep(state.settings.limits.body_timeout);
    tokio::pin!(init_deadline);
    let close = loop {
        tokio::select! {
            () = &mut init_deadline, if identity.get().is_none() => {
                break Some(CloseReason {
                    code: CloseCode::Other(INIT_TIMEOUT),
                    description: Some("Connection initialisation timeout".into()),
                });
            }
            message = messages.next() => match message {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    heard = Instant::now();
                    if to_graphql.send(text.as_bytes().to_vec()).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(AggregatedMessage::Binary(bytes))) => {
                    heard = Instant::now();
                    if to_graphql.send(bytes.to_vec()).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    heard = Instant::now();
                    if session.pong(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => heard = Instant::now(),
                Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                Some(Err(e)) => {
                    break Some(CloseReason {
                        code: CloseCode::Protocol,
                        description: Some(e.to_string()),
                    });
                }
            },
            reply = graphql.next() => match reply {
                // The outgoing queue is short and the response body is written only as fast as
                // the client reads, so a client that stops reading stops the feed here: the
                // socket's memory stays bounded, and past the timeout the client is cut off.
                Some(WsMessage::Text(text)) => match tokio::time::timeout(send_timeout, session.text(text)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::info!(timeout_ms = send_timeout.as_millis() as u64, "cutting off a WebSocket client that stopped reading");
                        metrics::counter!("nudge_websocket_cut_offs_total").increment(1);
                        break Some(CloseReason {
                            code: CloseCode::Other(TOO_SLOW),
                            description: Some("too slow: no message was taken in time; reconnect and resume with after".into()),
                        });
                    }
                },
                Some(WsMessage::Close(code, description)) => {
                    break Some(CloseReason { code: CloseCode::Other(code), description: Some(description) });
                }
                None => break None,
            },
            revoked = revocations.recv(), if hearing_revocations => {
                let ours = identity.get().map(|i| i.key_id);
                let gone = match revoked {
                    Ok(key_id) => ours == Some(key_id),
                    // Missed some: ask about our own key.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        ours.is_some() && keys.caller().await.is_err()
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        hearing_revocations = false;
                        false
                    }
                };
                if gone {
                    tracing::info!(key.id = ours, "closing a WebSocket whose key was revoked");
                    break Some(CloseReason {
                        code: CloseCode::Other(KEY_REVOKED),
                        description: Some("the API key was revoked".into()),
                    });
                }
            }
            _ = heartbeat.tick() => {
                if heard.elapsed() > CLIENT_TIMEOUT || session.ping(b"").await.is_err() {
                    break None;
                }
                if identity.get().is_some_and(|i| i.session.is_some()) && keys.caller().await.is_err() {
                    tracing::info!("closing a WebSocket whose console session ended");
                    break Some(CloseReason {
                        code: CloseCode::Other(KEY_REVOKED),
                        description: Some("the console session ended".into()),
                    });
                }
            }
        }
    };
    // Behind what waits to be sent, or never when the client reads nothing: then the
    // connection ends without the frame.
    let _ = tokio::time::timeout(send_timeout, session.close(close)).await;
}

/// The schema, behind a check of the connection's key before every operation.
#[derive(Clone)]
struct CheckedExecutor {
    schema: AppSchema,
    state: AppState,
    identity: Arc<OnceLock<Identity>>,
}

impl CheckedExecutor {
    /// The caller behind the connection's key, checked now (through the key cache), or the
    /// response that refuses the operation.
    async fn caller(&self) -> Result<Principal, Response> {
        let refused =
            |code: ErrorCode, message: String| Response::from_errors(vec![refusal(code, message)]);
        let Some(identity) = self.identity.get() else {
            return Err(refused(
                ErrorCode::Unauthenticated,
                "the connection is not initialised".into(),
            ));
        };
        let state = &self.state;
        match &identity.session {
            Some(token) => sessions::resolve(&state.db, &state.keys, state.clock.now(), token)
                .await
                .map(|(principal, _)| principal),
            None => {
                state
                    .keys
                    .authenticate_hash(&state.db, state.clock.now(), &identity.key_hash)
                    .await
            }
        }
        .map_err(|e| refused(e.code(), e.public_message()))
    }

    /// What every operation carries besides the connection's data: its loaders and budget
    /// (and the caller, when checked).
    fn prepare(&self, mut request: Request, principal: Option<&Principal>) -> Request {
        let state = &self.state;
        let budget = RequestBudget::new(state.settings.limits.request_connections);
        operation_data(state, &budget, principal, &mut request.data);
        request
    }
}

impl Executor for CheckedExecutor {
    async fn execute(&self, request: Request) -> Response {
        match self.caller().await {
            Ok(principal) => {
                self.schema
                    .execute(self.prepare(request, Some(&principal)))
                    .await
            }
            Err(refused) => refused,
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let this = self.clone();
        Box::pin(async_stream::stream! {
            if let Err(refused) = this.caller().await {
                yield refused;
                return;
            }
            let mut responses = this.schema.execute_stream_with_session_data(
                this.prepare(request, None),
                session_data.unwrap_or_default(),
            );
            while let Some(response) = responses.next().await {
                yield response;
            }
        })
    }
}

fn key_from_init(init: &serde_json::Value) -> Option<String> {
    let object = init.as_object()?;
    object.iter().find_map(|(name, value)| {
        let value = value.as_str()?;
        match name.to_ascii_lowercase().as_str() {
            "authorization" => value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::to_owned),
            "apikey" => Some(value.to_owned()),
            _ => None,
        }
    })
}
