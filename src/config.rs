//! Typed settings read from `NUDGE_*` environment variables. A bad value stops start-up with
//! the variable's name; every variable is documented in README.md.

use chrono_tz::Tz;
use std::net::SocketAddr;
use std::str::FromStr;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "human" | "text" | "pretty" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected `human` or `json`".into()),
        }
    }
}

/// Limits applied to every GraphQL request.
#[derive(Clone, Debug)]
pub struct ApiLimits {
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

/// Everything Nudge reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: String,
    pub database_max_connections: u32,
    pub listen: SocketAddr,
    pub http_workers: Option<usize>,
    pub default_timezone: Tz,
    pub currency: String,
    /// Where `notifyStaff` effects send their email.
    pub staff_email: Option<String>,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub limits: ApiLimits,
    /// When the campaign engine ticks: a six-field cron expression in UTC (seconds first), or
    /// `None` for never (ticks then come from `nudge tick`).
    pub tick_schedule: Option<String>,
    /// Whether admins may run a tick at any instant over GraphQL (`runCampaignTick`), for
    /// tests and demos.
    pub tick_mutation: bool,
}

/// A variable that is set to something Nudge cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{name}: invalid value {value:?}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// Every minute, at second 0.
pub const DEFAULT_TICK_SCHEDULE: &str = "0 * * * * *";

/// The default database: a SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://nudge.db?mode=rwc";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let currency: String = parse(&get, "NUDGE_CURRENCY", "USD".to_owned())?;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError {
                name: "NUDGE_CURRENCY",
                value: currency,
                reason: "expected an ISO 4217 code such as USD".into(),
            });
        }
        let staff_email = get("NUDGE_STAFF_EMAIL").map(|v| v.trim().to_owned());
        if let Some(address) = &staff_email
            && !address.contains('@')
        {
            return Err(ConfigError {
                name: "NUDGE_STAFF_EMAIL",
                value: address.clone(),
                reason: "expected an email address".into(),
            });
        }
        let database_url = get("NUDGE_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        Ok(Settings {
            database_url,
            database_max_connections: parse(&get, "NUDGE_DATABASE_MAX_CONNECTIONS", 10)?,
            listen: parse(
                &get,
                "NUDGE_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 8080)),
            )?,
            http_workers: parse_opt(&get, "NUDGE_HTTP_WORKERS")?,
            default_timezone: parse(&get, "NUDGE_DEFAULT_TIMEZONE", Tz::UTC)?,
            currency,
            staff_email,
            log_format: parse(&get, "NUDGE_LOG_FORMAT", LogFormat::Human)?,
            log_filter: get("NUDGE_LOG").unwrap_or_else(|| "info".into()),
            limits: ApiLimits {
                max_body_bytes: parse(&get, "NUDGE_MAX_BODY_BYTES", 1024 * 1024)?,
                max_depth: parse(&get, "NUDGE_MAX_QUERY_DEPTH", 12)?,
                max_complexity: parse(&get, "NUDGE_MAX_QUERY_COMPLEXITY", 5000)?,
                introspection: parse_bool(&get, "NUDGE_INTROSPECTION", true)?,
            },
            tick_schedule: match get("NUDGE_TICK_SCHEDULE") {
                Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
                Some(v) => Some(v.trim().to_owned()),
                None => Some(DEFAULT_TICK_SCHEDULE.to_owned()),
            },
            tick_mutation: parse_bool(&get, "NUDGE_TICK_MUTATION", false)?,
        })
    }

    /// Whether the database is the embedded SQLite one.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn parse<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    Ok(parse_opt(get, name)?.unwrap_or(default))
}

fn parse_opt<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    get(name)
        .map(|value| {
            value.trim().parse::<T>().map_err(|e| ConfigError {
                name,
                reason: e.to_string(),
                value,
            })
        })
        .transpose()
}

fn parse_bool(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError {
                name,
                value,
                reason: "expected true or false".into(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_give_the_embedded_database_on_localhost() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.default_timezone, Tz::UTC);
        assert_eq!(s.limits.max_body_bytes, 1024 * 1024);
        assert!(s.limits.introspection);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = settings(&[("NUDGE_DEFAULT_TIMEZONE", "Mars/Olympus")]).unwrap_err();
        assert_eq!(err.name, "NUDGE_DEFAULT_TIMEZONE");
        assert!(err.to_string().contains("Mars/Olympus"));
        let err = settings(&[("NUDGE_LISTEN", "nowhere")]).unwrap_err();
        assert_eq!(err.name, "NUDGE_LISTEN");
        let err = settings(&[("NUDGE_INTROSPECTION", "maybe")]).unwrap_err();
        assert_eq!(err.name, "NUDGE_INTROSPECTION");
        let err = settings(&[("NUDGE_CURRENCY", "dollars")]).unwrap_err();
        assert_eq!(err.name, "NUDGE_CURRENCY");
    }
}
