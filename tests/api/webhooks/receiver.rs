//! A webhook receiver for tests: a real HTTP server (actix-web on a random port) that records
//! every call and answers as the test scripts it. Signatures are checked with `ring`'s HMAC,
//! not the `hmac` crate Nudge signs with, exactly as the Standard Webhooks specification
//! says: `v1,` and the base64 of HMAC-SHA256 over `id.timestamp.body` with the decoded secret.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One call as it arrived.
#[derive(Clone, Debug)]
pub struct Call {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

impl Call {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }

    /// How many of the signature's `v1,` entries `secret` (`whsec_…`) verifies.
    pub fn verified_by(&self, secret: &str) -> usize {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
            .expect("base64");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let signed = format!("{}.{}.{}", self.id, self.timestamp, self.body);
        let expected = STANDARD.encode(ring::hmac::sign(&key, signed.as_bytes()).as_ref());
        self.signature
            .split(' ')
            .filter(|entry| entry.strip_prefix("v1,") == Some(expected.as_str()))
            .count()
    }
}

#[derive(Default)]
struct Shared {
    calls: Vec<Call>,
    /// Statuses to answer, per path, before answering 200.
    script: HashMap<String, VecDeque<u16>>,
    /// A pause before answering, per path.
    delay: HashMap<String, Duration>,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let shared: Arc<Mutex<Shared>> = Arc::default();
        let state = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .default_service(web::to(answer))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("the receiver binds");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self {
            base: format!("http://localhost:{port}"),
            shared,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next calls to `path` with `statuses`, in order, then 200.
    pub fn script(&self, path: &str, statuses: &[u16]) {
        let mut shared = self.shared.lock().expect("lock");
        shared
            .script
            .entry(path.to_owned())
            .or_default()
            .extend(statuses.iter().copied());
    }

    /// Waits `pause` before answering each call to `path`.
    pub fn delay(&self, path: &str, pause: Duration) {
        let mut shared = self.shared.lock().expect("lock");
        shared.delay.insert(path.to_owned(), pause);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().expect("lock").calls.clone()
    }

    /// Waits (20 s at most) until `count` calls have arrived; returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Call> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.calls();
            if calls.len() >= count {
                return calls;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} calls arrived, not {count}: {calls:?}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn answer(
    request: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Mutex<Shared>>>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let path = request.path().to_owned();
    let (status, pause) = {
        let mut shared = shared.lock().expect("lock");
        shared.calls.push(Call {
            path: path.clone(),
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let status = shared
            .script
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or(200);
        (status, shared.delay.get(&path).copied())
    };
    if let Some(pause) = pause {
        tokio::time::sleep(pause).await;
    }
    let status = actix_web::http::StatusCode::from_u16(status).expect("a status");
    HttpResponse::build(status).body(format!("answered {}", status.as_u16()))
}
