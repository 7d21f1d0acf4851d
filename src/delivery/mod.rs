//! Sending messages: the email transport (lettre over SMTP, or a local recorder), the SMS
//! client (a Twilio-compatible Messages API, or a local recorder), the webhook client and the
//! addresses it may reach, signed tracking tokens, link rewriting and the retry policies.
//! Nothing here knows customers or campaigns: the domain decides what to send and records what
//! happened.

pub mod address;
pub mod email;
pub mod links;
pub mod retry;
pub mod sms;
pub mod tokens;
pub mod webhook;

pub use email::{EmailSettings, Mailer, OutgoingEmail};
pub use retry::RetryPolicy;
pub use sms::{OutgoingSms, SmsClient, SmsSettings};

/// How one try at sending ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted the message; its id for the message.
    Sent { provider_id: String },
    /// Worth trying again later (a full mailbox, 429, 5xx, a refused connection).
    Transient(String),
    /// Trying again would fail the same way (4xx from the API, a message that cannot be built).
    Permanent(String),
    /// The recipient's address itself was refused for good (SMTP 55x, an SMS number the
    /// provider knows to be invalid or unsubscribed): it is suppressed, like a bounce.
    Rejected(String),
    /// The request may have gone out (a timeout while waiting for the answer): never re-sent
    /// automatically.
    Unknown(String),
}

impl SendOutcome {
    /// The name stored with the attempt.
    pub fn as_str(&self) -> &'static str {
        match self {
            SendOutcome::Sent { .. } => "sent",
            SendOutcome::Transient(_) => "transient",
            SendOutcome::Permanent(_) => "permanent",
            SendOutcome::Rejected(_) => "rejected",
            SendOutcome::Unknown(_) => "unknown",
        }
    }

    /// The provider's id or the reason.
    pub fn detail(&self) -> &str {
        match self {
            SendOutcome::Sent { provider_id } => provider_id,
            SendOutcome::Transient(r)
            | SendOutcome::Permanent(r)
            | SendOutcome::Rejected(r)
            | SendOutcome::Unknown(r) => r,
        }
    }
}
