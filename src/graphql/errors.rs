//! How domain errors reach clients: validation failures of a mutation become `userErrors` in
//! its payload; everything else becomes a GraphQL error with `extensions.code`. Internal
//! causes are logged once here and never shown.

use crate::error::{AppError, ErrorCode, FieldViolation, ViolationCode};
use async_graphql::{Enum, ErrorExtensions, SimpleObject};

/// Why a field of the input was refused.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "UserErrorCode")]
pub enum UserErrorCode {
    /// Required and missing, or empty.
    Blank,
    /// Malformed (not an email address, not E.164, not a time zone, not an amount …).
    Invalid,
    /// Longer than allowed.
    TooLong,
    /// Outside the allowed range.
    OutOfRange,
    /// Another record already uses this value.
    Taken,
    /// Refers to something that does not exist.
    NotFound,
    /// Contradicts what was recorded before (an event id reused for other content).
    Conflict,
}

/// A refused input field. `field` is the path to it, starting with the argument name.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    pub field: Vec<String>,
    pub code: UserErrorCode,
    pub message: String,
}

impl From<FieldViolation> for UserError {
    fn from(v: FieldViolation) -> Self {
        let code = match v.code {
            ViolationCode::Blank => UserErrorCode::Blank,
            ViolationCode::Invalid => UserErrorCode::Invalid,
            ViolationCode::TooLong => UserErrorCode::TooLong,
            ViolationCode::OutOfRange => UserErrorCode::OutOfRange,
            ViolationCode::Taken => UserErrorCode::Taken,
            ViolationCode::NotFound => UserErrorCode::NotFound,
            ViolationCode::Conflict => UserErrorCode::Conflict,
        };
        UserError {
            field: v.field,
            code,
            message: v.message,
        }
    }
}

/// A GraphQL error carrying `code` in its extensions.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// Converts a domain error for a query or a non-validation mutation failure.
pub fn to_graphql(err: AppError) -> async_graphql::Error {
    if let AppError::Internal(cause) = &err {
        tracing::error!(error = %cause, "request failed");
    }
    let error = coded(err.code(), err.public_message());
    match err {
        AppError::Invalid(violations) => {
            let fields: Vec<String> = violations.iter().map(|v| v.field.join(".")).collect();
            error.extend_with(|_, e| e.set("fields", fields))
        }
        _ => error,
    }
}

/// A mutation payload: the result, or the `userErrors` that stopped it.
pub trait Payload: Sized {
    type Output;
    fn ok(output: Self::Output) -> Self;
    fn refused(errors: Vec<UserError>) -> Self;
}

/// Turns a domain result into the mutation's payload: validation failures become
/// `userErrors` whose paths start with `argument`; other failures become GraphQL errors.
pub fn respond<P: Payload>(
    result: Result<P::Output, AppError>,
    argument: &str,
) -> async_graphql::Result<P> {
    match result {
        Ok(output) => Ok(P::ok(output)),
        Err(AppError::Invalid(violations)) => Ok(P::refused(
            violations
                .into_iter()
                .map(|v| {
                    if argument.is_empty() {
                        v
                    } else {
                        v.under(argument)
                    }
                })
                .map(UserError::from)
                .collect(),
        )),
        Err(other) => Err(to_graphql(other)),
    }
}

/// Declares a payload object `$name { $field: Option<$ty>, userErrors }`.
macro_rules! payload {
    ($(#[$doc:meta])* $name:ident, $field:ident : $ty:ty) => {
        $(#[$doc])*
        #[derive(async_graphql::SimpleObject)]
        pub struct $name {
            pub $field: Option<$ty>,
            pub user_errors: Vec<$crate::graphql::errors::UserError>,
        }

        impl $crate::graphql::errors::Payload for $name {
            type Output = $ty;
            fn ok(output: $ty) -> Self {
                Self { $field: Some(output), user_errors: Vec::new() }
            }
            fn refused(errors: Vec<$crate::graphql::errors::UserError>) -> Self {
                Self { $field: None, user_errors: errors }
            }
        }
    };
}
pub(crate) use payload;
