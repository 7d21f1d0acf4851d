//! The one error type of Nudge, with a closed set of codes that clients see as
//! `extensions.code`. Validation failures carry field-level violations that mutations turn
//! into `userErrors`; internal errors keep their cause for the log and show clients nothing.

use std::fmt;

/// The codes a client can receive in `extensions.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NotFound,
    Validation,
    Conflict,
    Forbidden,
    Unauthenticated,
    RateLimited,
    LimitExceeded,
    BadRequest,
    Internal,
}

impl ErrorCode {
    /// The wire spelling, e.g. `NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Validation => "VALIDATION",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// Why one input field was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationCode {
    /// Required and missing, or empty.
    Blank,
    /// Malformed: not an email address, not E.164, not a time zone, not an amount …
    Invalid,
    /// Longer than allowed.
    TooLong,
    /// Outside the allowed range.
    OutOfRange,
    /// Another record already uses this value.
    Taken,
    /// Refers to a record that does not exist.
    NotFound,
    /// Contradicts what was recorded before (an event id reused for other content).
    Conflict,
}

/// One refused input field. `field` is the path inside the operation's input, e.g.
/// `["products", "2", "price"]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: Vec<String>,
    pub code: ViolationCode,
    pub message: String,
}

impl FieldViolation {
    /// A violation of the field at `path` (dot-free names, outermost first).
    pub fn new(path: &[&str], code: ViolationCode, message: impl Into<String>) -> Self {
        Self {
            field: path.iter().map(|p| (*p).to_owned()).collect(),
            code,
            message: message.into(),
        }
    }

    /// The same violation, nested under `prefix` (e.g. the argument name or a list index).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field.insert(0, prefix.to_owned());
        self
    }
}

/// Every failure a domain call or a request can end in.
#[derive(Debug)]
pub enum AppError {
    Invalid(Vec<FieldViolation>),
    NotFound(String),
    Conflict(String),
    Forbidden(String),
    Unauthenticated(String),
    LimitExceeded(String),
    BadRequest(String),
    /// The server is too busy for the request now (no database connection came in time).
    Busy(String),
    /// Something broke that the client cannot fix. The cause is logged, never shown.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// The result of every fallible domain call.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Invalid(_) => ErrorCode::Validation,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AppError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            AppError::BadRequest(_) => ErrorCode::BadRequest,
            AppError::Busy(_) => ErrorCode::RateLimited,
            AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Whether the failure is the database's (down, locked, out of connections) rather than
    /// the work's: such work is tried again later, while work whose own data or definition
    /// fails (a constraint its writes break, a step that cannot be taken) fails alone.
    pub fn is_database_failure(&self) -> bool {
        match self {
            AppError::Busy(_) => true,
            AppError::Internal(cause) => cause
                .downcast_ref::<sea_orm::DbErr>()
                .is_some_and(|db| db.sql_err().is_none()),
            _ => false,
        }
    }

    /// Whether PostgreSQL gave up the transaction to break a deadlock (or a serialization
    /// conflict) with another: the work itself is fine and is worth another try at once.
    pub fn is_deadlock(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr};
        let AppError::Internal(cause) = self else {
            return false;
        };
        match cause.downcast_ref::<DbErr>() {
            Some(
                DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)),
            ) => e
                .as_database_error()
                .and_then(|db| db.code())
                .is_some_and(|code| code == "40P01" || code == "40001"),
            _ => false,
        }
    }

    /// A single-field validation failure.
    pub fn invalid(path: &[&str], code: ViolationCode, message: impl Into<String>) -> Self {
        AppError::Invalid(vec![FieldViolation::new(path, code, message)])
    }

    /// An internal failure with its cause (logged when it reaches the edge).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AppError::Internal(cause.into())
    }

    /// The text a client may see.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Invalid(violations) => match violations.as_slice() {
                [one] => one.message.clone(),
                many => format!("{} fields are invalid", many.len()),
            },
            AppError::NotFound(m)
            | AppError::Conflict(m)
            | AppError::Forbidden(m)
            | AppError::Unauthenticated(m)
            | AppError::LimitExceeded(m)
            | AppError::BadRequest(m)
            | AppError::Busy(m) => m.clone(),
            AppError::Internal(_) => "internal error".to_owned(),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Internal(cause) => write!(f, "internal error: {cause}"),
            other => write!(f, "{}: {}", other.code().as_str(), other.public_message()),
        }
    }
}

impl std::error::Error for AppError {}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                AppError::Conflict("a record with the same unique value already exists".into())
            }
            _ if matches!(
                err,
                sea_orm::DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout)
            ) =>
            {
                AppError::Busy("the server is busy; try again shortly".into())
            }
            _ => AppError::Internal(Box::new(err)),
        }
    }
}
