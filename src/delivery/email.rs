//! Email over SMTP with lettre (tokio, STARTTLS or TLS, auth, pooled connections), or a local
//! recorder when no SMTP server is configured.

use super::SendOutcome;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The SMTP server and the sender.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://…:465` (TLS) or
    /// `smtp://host:25` (plain, for a local relay); `None` records messages locally. It may
    /// hold a password: it prints as redacted.
    pub smtp_url: Option<SecretString>,
    /// Connections kept open to the server.
    pub pool_size: u32,
    pub timeout: Duration,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

/// One email to send.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
    /// The one-click unsubscribe URL (`List-Unsubscribe` with `List-Unsubscribe-Post`).
    pub unsubscribe_url: Option<String>,
    /// Unique per delivery; doubles as the provider id.
    pub message_id: String,
}

/// Sends email through SMTP, or records it locally.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    reply_to: Option<Mailbox>,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Local(Arc<AtomicU64>),
}

impl Mailer {
    /// Builds the transport; fails on a malformed SMTP URL.
    pub fn new(settings: &EmailSettings) -> Result<Self, lettre::transport::smtp::Error> {
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())?
                    .timeout(Some(settings.timeout))
                    .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)))
                    .build(),
            ),
            None => Transport::Local(Arc::default()),
        };
        Ok(Self {
            transport,
            from: settings.from.clone(),
            reply_to: settings.reply_to.clone(),
        })
    }

    /// The sender's domain, for message ids.
    pub fn from_domain(&self) -> &str {
        self.from.email.domain()
    }

    /// Sends one email and says how it went.
    pub async fn send(&self, email: &OutgoingEmail) -> SendOutcome {
        let message = match self.build(email) {
            Ok(message) => message,
            Err(reason) => return SendOutcome::Permanent(reason),
        };
        match &self.transport {
            Transport::Local(sequence) => {
                sequence.fetch_add(1, Ordering::Relaxed);
                SendOutcome::Sent {
                    provider_id: email.message_id.clone(),
                }
            }
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => SendOutcome::Sent {
                    provider_id: email.message_id.clone(),
                },
                Err(e) if e.is_permanent() => {
                    // 550, 551, 553: the mailbox does not exist or is not accepted.
                    let mailbox = e.status().is_some_and(|c| c.to_string().starts_with("55"));
                    if mailbox {
                        SendOutcome::Rejected(e.to_string())
                    } else {
                        SendOutcome::Permanent(e.to_string())
                    }
                }
                Err(e) if e.is_transient() => SendOutcome::Transient(e.to_string()),
                // lettre does not say how far a timed-out exchange got: the message may
                // have been accepted.
                Err(e) if e.is_timeout() => SendOutcome::Unknown(e.to_string()),
                Err(e) if e.is_response() => SendOutcome::Unknown(e.to_string()),
                // Connection, TLS and client errors happen before the message is handed over.
                Err(e) => SendOutcome::Transient(e.to_string()),
            },
        }
    }

    fn build(&self, email: &OutgoingEmail) -> Result<Message, String> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("the recipient address is invalid: {e}"))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(url) = &email.unsubscribe_url {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let built = match (&email.text, &email.html) {
            (Some(text), Some(html)) => builder.multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            )),
            (None, Some(html)) => builder.singlepart(SinglePart::html(html.clone())),
            (Some(text), None) => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text.clone()),
            ),
            (None, None) => return Err("the message has no body".into()),
        };
        built.map_err(|e| format!("the message cannot be built: {e}"))
    }
}
