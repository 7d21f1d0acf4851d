//! What every area says of a message: the channel it goes out on (templates are written for
//! one, deliveries are sent on one, suppressions hold addresses of one) and why it is sent.
//! The stored text of each is named here only.

use serde::{Deserialize, Serialize};

/// The channel of a message: an email or an SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    /// Both channels, in the order they are reported.
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    /// The channel of a stored value (`sms`, else email: the column holds nothing else).
    pub fn from_stored(s: &str) -> Self {
        if s == Channel::Sms.as_str() {
            Channel::Sms
        } else {
            Channel::Email
        }
    }

    /// The customer's address on this channel, if they have one.
    pub fn contact_of(self, customer: &entity::customer::Model) -> Option<&String> {
        match self {
            Channel::Email => customer.email.as_ref(),
            Channel::Sms => customer.phone.as_ref(),
        }
    }

    /// How the channel is named in a sentence (`email`, `SMS`).
    pub fn label(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "SMS",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message is sent, which decides the checks it must pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Needs consent; obeys quiet hours and frequency caps.
    Marketing,
    /// To the shop's staff (`notifyStaff`).
    Staff,
    /// `sendTestMessage`.
    Test,
}

impl Purpose {
    pub fn from_stored(s: &str) -> Self {
        match s {
            "staff" => Purpose::Staff,
            "test" => Purpose::Test,
            _ => Purpose::Marketing,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Marketing => "marketing",
            Purpose::Staff => "staff",
            Purpose::Test => "test",
        }
    }

    /// Whether consent, quiet hours and caps apply.
    pub fn is_marketing(self) -> bool {
        self == Purpose::Marketing
    }
}
