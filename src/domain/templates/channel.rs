//! The channel a message goes out on. Templates are written for one, deliveries are sent on
//! one and suppressions hold addresses of one; the stored text of each is named here only.

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
