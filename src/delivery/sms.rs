//! SMS through a Twilio-compatible Messages API (`POST {base}/2010-04-01/Accounts/{sid}/Messages.json`,
//! form-encoded, basic auth), or a local recorder when no account is configured. Also the
//! check of `X-Twilio-Signature` on the provider's callbacks.

use super::SendOutcome;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where and as whom SMS are sent.
#[derive(Clone, Debug)]
pub struct SmsSettings {
    /// The API's base URL, `https://api.twilio.com` for Twilio itself.
    pub api_url: String,
    pub account_sid: String,
    /// Prints as redacted.
    pub auth_token: SecretString,
    /// The sender number, or
    pub from: Option<String>,
    /// a messaging service that picks one.
    pub messaging_service_sid: Option<String>,
    /// How long one request may take.
    pub timeout: Duration,
}

/// One SMS to send.
#[derive(Clone, Debug)]
pub struct OutgoingSms {
    /// E.164.
    pub to: String,
    pub body: String,
    /// Where the provider reports delivered / failed.
    pub status_callback: Option<String>,
}

/// Sends SMS through the API, or records them locally.
#[derive(Clone)]
pub enum SmsClient {
    Api {
        http: reqwest::Client,
        settings: SmsSettings,
    },
    /// Accepts every message without sending it: the embedded default.
    Local { sequence: std::sync::Arc<AtomicU64> },
}

impl SmsClient {
    /// The API client for `settings`, or the local recorder for `None`.
    pub fn new(settings: Option<SmsSettings>) -> Result<Self, reqwest::Error> {
        Ok(match settings {
            Some(settings) => SmsClient::Api {
                http: reqwest::Client::builder()
                    .timeout(settings.timeout)
                    .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
                    .build()?,
                settings,
            },
            None => SmsClient::Local {
                sequence: Default::default(),
            },
        })
    }

    /// Whether messages only go to the local recorder.
    pub fn is_local(&self) -> bool {
        matches!(self, SmsClient::Local { .. })
    }

    /// The auth token callbacks are signed with, if there is an account.
    pub fn auth_token(&self) -> Option<&str> {
        match self {
            SmsClient::Api { settings, .. } => Some(settings.auth_token.expose_secret()),
            SmsClient::Local { .. } => None,
        }
    }

    /// Sends one message and says how it went.
    pub async fn send(&self, sms: &OutgoingSms) -> SendOutcome {
        let (http, settings) = match self {
            SmsClient::Local { sequence } => {
                let n = sequence.fetch_add(1, Ordering::Relaxed) + 1;
                return SendOutcome::Sent {
                    provider_id: format!("local-sms-{n}"),
                };
            }
            SmsClient::Api { http, settings } => (http, settings),
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            settings.api_url.trim_end_matches('/'),
            settings.account_sid
        );
        let mut form = vec![("To", sms.to.as_str()), ("Body", sms.body.as_str())];
        if let Some(service) = &settings.messaging_service_sid {
            form.push(("MessagingServiceSid", service));
        } else if let Some(from) = &settings.from {
            form.push(("From", from));
        }
        if let Some(callback) = &sms.status_callback {
            form.push(("StatusCallback", callback));
        }
        let response = http
            .post(url)
            .basic_auth(
                &settings.account_sid,
                Some(settings.auth_token.expose_secret()),
            )
            .form(&form)
            .send()
            .await;
        match response {
            Ok(response) => classify(response).await,
            Err(e) if e.is_connect() => SendOutcome::Transient(format!("cannot connect: {e}")),
            Err(e) if e.is_timeout() => {
                SendOutcome::Unknown("no answer in time; the message may have been sent".into())
            }
            Err(e) if e.is_builder() => SendOutcome::Permanent(e.to_string()),
            Err(e) => SendOutcome::Unknown(format!("the request broke off: {e}")),
        }
    }
}

async fn classify(response: reqwest::Response) -> SendOutcome {
    let status = response.status();
    let body: serde_json::Value = match response.json().await {
        Ok(body) => body,
        Err(e) if status.is_success() => {
            return SendOutcome::Unknown(format!("accepted, but the answer is unreadable: {e}"));
        }
        Err(_) => serde_json::Value::Null,
    };
    let message = body
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("no message");
    if status.is_success() {
        return match body.get("sid").and_then(|s| s.as_str()) {
            Some(sid) => SendOutcome::Sent {
                provider_id: sid.to_owned(),
            },
            None => SendOutcome::Unknown("accepted without a message sid".into()),
        };
    }
    let reason = format!("HTTP {}: {message}", status.as_u16());
    // Twilio's codes for a number that is not one, cannot receive SMS, or replied STOP.
    let code = body.get("code").and_then(serde_json::Value::as_i64);
    if matches!(code, Some(21211 | 21614 | 21610)) {
        return SendOutcome::Rejected(reason);
    }
    if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
        SendOutcome::Transient(reason)
    } else {
        SendOutcome::Permanent(reason)
    }
}

/// The `X-Twilio-Signature` of a form POST to `url`: base64 of HMAC-SHA1, keyed with the auth
/// token, over the URL followed by each parameter's name and value, sorted by name.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is the one the provider computes for this request.
pub fn verify_twilio_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let expected = twilio_signature(auth_token, url, params);
    expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_twilios_published_example() {
        // Expected value computed independently with Python's hmac module.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        let signature = twilio_signature("12345", url, &params);
        assert_eq!(signature, "vNe7KK2kJwCsxc9K3OLkkKB3qqI=");
        assert!(verify_twilio_signature("12345", url, &params, &signature));
        assert!(!verify_twilio_signature("other", url, &params, &signature));
    }
}
