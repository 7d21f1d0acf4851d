//! Money on the API: an exact decimal string and its currency.

use crate::domain::values::format_amount;
use async_graphql::SimpleObject;

/// An exact amount of money.
#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    /// A decimal string with the currency's minor digits, e.g. "19.99".
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

impl Money {
    pub fn new(minor: i64, currency: &str) -> Self {
        Money {
            amount: format_amount(minor, currency),
            currency: currency.to_owned(),
        }
    }
}
