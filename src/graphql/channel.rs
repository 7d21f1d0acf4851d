//! How a message travels, as the API names it: shared by templates, deliveries, order
//! credits and statistics.

use crate::domain::templates::Channel as DomainChannel;
use async_graphql::Enum;

/// How a message travels.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl From<DomainChannel> for Channel {
    fn from(c: DomainChannel) -> Self {
        match c {
            DomainChannel::Email => Channel::Email,
            DomainChannel::Sms => Channel::Sms,
        }
    }
}

impl From<Channel> for DomainChannel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Email => DomainChannel::Email,
            Channel::Sms => DomainChannel::Sms,
        }
    }
}
