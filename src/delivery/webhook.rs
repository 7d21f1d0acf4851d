//! The webhook client: one POST per attempt, with a short connect and answer timeout, no
//! redirects followed, no proxy, and at most the first KiB of the answer read. Unless private
//! addresses are allowed, every address a host resolves to at send time must be public (so a
//! name that was public when the endpoint was saved and now points inside — DNS rebinding — is
//! refused), and so must an address written in the URL.

use super::address::{check_url, is_public};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most bytes of an answer kept (and read).
pub const ANSWER_BYTES: usize = 1024;

/// How one attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    /// The answer's status, when one came.
    pub status: Option<u16>,
    /// The first [`ANSWER_BYTES`] of the answer's body (as UTF-8, lossily).
    pub answer: Option<String>,
    /// Why no answer came (or why the answer could not be read).
    pub error: Option<String>,
    pub latency: Duration,
}

impl Posted {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s)) && self.error.is_none()
    }
}

/// Posts webhook messages.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_private: bool,
}

/// Resolves names as the system does, keeping only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (public, private): (Vec<_>, Vec<_>) =
                found.into_iter().partition(|a| is_public(a.ip()));
            if public.is_empty() {
                let shown = private
                    .first()
                    .map_or_else(|| "no address".to_owned(), |a| a.ip().to_string());
                return Err(
                    format!("{host} resolves to {shown}, which is not a public address").into(),
                );
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

impl WebhookClient {
    pub fn new(
        connect_timeout: Duration,
        timeout: Duration,
        allow_private: bool,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Nudge-Webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(64);
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            http: builder.build()?,
            allow_private,
        })
    }

    /// Posts `body` (JSON) to `url` with `headers`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Posted {
        let started = Instant::now();
        let failed = |error: String| Posted {
            status: None,
            answer: None,
            error: Some(error),
            latency: started.elapsed(),
        };
        let url = match check_url(url, true, self.allow_private) {
            Ok(url) => url,
            Err(refused) => return failed(format!("the URL {refused}")),
        };
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let mut kept: Vec<u8> = Vec::new();
        let mut error = None;
        while kept.len() < ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("the answer could not be read: {}", describe(&e)));
                    break;
                }
            }
        }
        kept.truncate(ANSWER_BYTES);
        let answer = (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned());
        Posted {
            status: Some(status),
            answer,
            // A 2xx whose body broke off still reached the endpoint: it counts as answered.
            error: if (200..300).contains(&status) {
                None
            } else {
                error
            },
            latency: started.elapsed(),
        }
    }
}

/// An error in words, with its causes (reqwest's own text says only "error sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
