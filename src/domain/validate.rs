//! Collects every field violation of one input before anything is written, so a client sees
//! all its mistakes at once and a refused mutation writes nothing.

use super::values::Refusal;
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};

/// Gathers violations for the fields of one input.
#[derive(Debug, Default)]
pub struct Checker {
    violations: Vec<FieldViolation>,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value of a successful check, or records why `field` was refused.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Refusal>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err((code, message)) => {
                self.refuse(field, code, message);
                None
            }
        }
    }

    /// Records a violation of `field`.
    pub fn refuse(&mut self, field: &str, code: ViolationCode, message: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(&[field], code, message));
    }

    /// Records a violation of a nested field, e.g. `["locales", "2", "locale"]`.
    pub fn refuse_at(&mut self, path: &[&str], code: ViolationCode, message: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(path, code, message));
    }

    /// Takes the violations of a nested input (a list item, a sub-object) under `prefix`.
    pub fn absorb(&mut self, prefix: &str, nested: Vec<FieldViolation>) {
        self.violations
            .extend(nested.into_iter().map(|v| v.under(prefix)));
    }

    /// Takes violations whose paths are complete already.
    pub fn absorb_flat(&mut self, violations: Vec<FieldViolation>) {
        self.violations.extend(violations);
    }

    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// `Ok` when nothing was refused, otherwise every violation as one `AppError::Invalid`.
    pub fn finish(self) -> AppResult<()> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid(self.violations))
        }
    }

    /// Like [`Checker::finish`], but hands back the violations for a caller that nests them.
    pub fn into_violations(self) -> Vec<FieldViolation> {
        self.violations
    }
}

/// A change to one optional field of a record: leave it, clear it, or set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    /// Converts a present value while keeping `Keep` and `Clear`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Change<U> {
        match self {
            Change::Keep => Change::Keep,
            Change::Clear => Change::Clear,
            Change::Set(v) => Change::Set(f(v)),
        }
    }

    /// Applies the change to the current value.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Clear => None,
            Change::Set(v) => Some(v),
        }
    }
}
