//! Typed settings read from `NUDGE_*` environment variables. A bad value stops start-up with
//! the variable's name; every variable is documented in README.md.

use crate::delivery::{EmailSettings, RetryPolicy, SmsSettings};
use chrono::NaiveTime;
use chrono_tz::Tz;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

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
    /// Deepest bracket nesting of a document or of its variables, checked before parsing.
    pub max_nesting: usize,
    /// Most operations in one batched POST.
    pub max_batch: usize,
    /// How long a request's head, and then its whole body, may take to arrive.
    pub body_timeout: Duration,
    /// How long a WebSocket client may leave a waiting message untaken before it is cut off
    /// as too slow (it resumes with `after`).
    pub socket_send_timeout: Duration,
    /// Root fields of one request (a batch, a WebSocket connection) resolving at once, and
    /// so about the most pooled connections one request holds.
    pub request_connections: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

/// The shop itself: what conditions, templates, campaigns and effects read of it.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// The ISO 4217 code of the shop's prices; order conditions compare amounts in it.
    pub currency: String,
    /// The time zone of customers without one (campaign times, quiet hours).
    pub time_zone: Tz,
    /// Where `notifyStaff` effects send their email.
    pub staff_email: Option<String>,
    /// How orders are credited to messages.
    pub attribution: Attribution,
    /// Due dates and predicted carts.
    pub replenishment: Replenishment,
}

/// How replenishment due dates count and when predicted carts are gathered.
#[derive(Clone, Debug)]
pub struct Replenishment {
    /// Which orders start a product's clock.
    pub basis: ReplenishmentBasis,
    /// When due items are gathered into predicted carts, in each customer's own time zone.
    pub schedule: croner::Cron,
    /// Items due within this many days of the collection go into its carts.
    pub look_ahead_days: u32,
    /// How long a cart's page link works, in days from the collection.
    pub link_days: u32,
    /// The "remind me in N days" choices the cart's page offers.
    pub postpone_choices: Vec<i32>,
}

impl Replenishment {
    /// When the page link of a cart gathered at `created_at_ms` stops working.
    pub fn link_expires_at(&self, created_at_ms: i64) -> i64 {
        created_at_ms.saturating_add(i64::from(self.link_days) * 86_400_000)
    }
}

/// Which orders count for replenishment due dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplenishmentBasis {
    /// Orders once delivered (the default): an order on its way is not yet in use.
    Delivered,
    /// Every order not cancelled or refunded, from when it is placed.
    Placed,
}

impl FromStr for ReplenishmentBasis {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "delivered" => Ok(ReplenishmentBasis::Delivered),
            "placed" => Ok(ReplenishmentBasis::Placed),
            _ => Err("expected `delivered` or `placed`".into()),
        }
    }
}

/// The windows within which a touch earns an order's credit: the most recent click, else the
/// most recent person's open, else (SMS) the most recent delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attribution {
    pub click_window: Duration,
    pub open_window: Duration,
    pub sms_window: Duration,
}

/// SQLite page cache per connection of each pool, KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolCaches {
    pub api: u32,
    pub background: u32,
}

/// Everything Nudge reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: String,
    /// Connections of the pool that serves the API.
    pub database_max_connections: u32,
    /// Connections of a second pool kept for background work (ingest writers, processor,
    /// runner, dispatcher, ticks), so the API can never starve it.
    pub database_background_connections: u32,
    /// SQLite's page cache for the whole process, MiB, shared out over the connections of
    /// both pools (SQLite keeps one cache per connection); see [`Settings::sqlite_cache_kib`].
    pub sqlite_cache_mb: u32,
    /// Memory for the customers' storefront answers kept between requests, MiB (0: none
    /// kept, every request reads the database).
    pub storefront_cache_mb: u32,
    /// Ingest writer tasks of each process on PostgreSQL (SQLite has one writer at a time, so
    /// it always gets one).
    pub ingest_writers: usize,
    /// The most events that may wait for the processor before ingest writers hold further
    /// calls until it catches up (0: never held).
    pub ingest_max_backlog: u64,
    pub listen: SocketAddr,
    pub http_workers: Option<usize>,
    /// Open HTTP connections one process serves at once; more wait to be accepted.
    pub max_connections: usize,
    pub store: StoreSettings,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Where the first admin key is written when standard error is not a terminal or logs
    /// are JSON (the key never enters the log stream).
    pub bootstrap_key_file: std::path::PathBuf,
    pub limits: ApiLimits,
    /// When the campaign engine ticks: a six-field cron expression in UTC (seconds first), or
    /// `None` for never (ticks then come from `nudge tick`).
    pub tick_schedule: Option<String>,
    /// Whether admins may run a tick at any instant over GraphQL (`runCampaignTick`), for
    /// tests and demos.
    pub tick_mutation: bool,
    pub delivery: DeliverySettings,
    pub webhooks: WebhookSettings,
    /// Days a sent message's rendered texts are kept (0: forever); statistics outlive them.
    pub retention_days: u32,
    /// How long a console sign-in lasts (`NUDGE_CONSOLE_SESSION_MINUTES`, 480 by default).
    pub console_session: Duration,
    /// When `/readyz` says the engine is behind.
    pub readiness: ReadinessBounds,
    /// Where `/metrics` (Prometheus) is served; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
}

/// How far behind the engine may fall before `/readyz` answers 503.
#[derive(Clone, Copy, Debug)]
pub struct ReadinessBounds {
    /// The age of the oldest event not yet processed.
    pub processor_lag: Duration,
    /// How long the oldest due message has waited to be sent (checked where a dispatcher runs).
    pub dispatch_lag: Duration,
}

/// How the dispatcher sends what is in the outbox.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Whether this process runs a dispatcher at all.
    pub dispatch: bool,
    /// Nudge's address as recipients' browsers and the SMS provider reach it (tracking links,
    /// unsubscribe pages, status callbacks).
    pub public_url: String,
    pub email: EmailSettings,
    /// `None`: SMS are recorded locally, not sent.
    pub sms: Option<SmsSettings>,
    /// The key of tracking-link signatures; `None`: one generated and kept in the database.
    /// Prints as redacted.
    pub tracking_secret: Option<secrecy::SecretString>,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Deliveries claimed at once.
    pub batch: usize,
    /// How often the dispatcher looks for due deliveries when nothing woke it.
    pub poll: Duration,
    /// How long a claimed delivery stays with its process before another may take it.
    pub lease: Duration,
    pub retry: RetryPolicy,
    /// At most one marketing email per this long (`None`: no cap).
    pub email_cap: Option<Duration>,
    /// At most one marketing SMS per this long (`None`: no cap).
    pub sms_cap: Option<Duration>,
    /// No marketing message goes out in these local hours of the recipient.
    pub quiet_hours: Option<QuietHours>,
    /// An open this soon after the send counts as a machine's.
    pub machine_open_window: Duration,
}

/// How webhook messages are sent.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Whether this process sends webhook messages at all.
    pub send: bool,
    /// Whether endpoint URLs may be plain http.
    pub allow_http: bool,
    /// Whether endpoints may resolve to loopback, private or link-local addresses.
    pub allow_private: bool,
    /// The waits between attempts.
    pub retry: RetryPolicy,
    /// An endpoint failing without a success this long is disabled and staff are emailed.
    pub disable_after: Duration,
    /// How long a rotated secret still signs beside the new one.
    pub secret_overlap: Duration,
    pub connect_timeout: Duration,
    /// The longest an attempt may take, answer included.
    pub timeout: Duration,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Messages claimed at once.
    pub batch: usize,
    /// How long a claimed message stays with its process before another may take it.
    pub lease: Duration,
    /// How often the sender looks for due messages when nothing woke it.
    pub poll: Duration,
}

/// A daily span of local time, such as 21:00–08:00 (it may pass midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether `time` falls in the span (start included, end excluded).
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }
}

impl FromStr for QuietHours {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = || "expected HH:MM-HH:MM, such as 21:00-08:00, or off".to_owned();
        let (start, end) = s.split_once('-').ok_or_else(expected)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| expected());
        let hours = QuietHours {
            start: time(start)?,
            end: time(end)?,
        };
        if hours.start == hours.end {
            return Err("the quiet hours start and end at the same time".into());
        }
        Ok(hours)
    }
}

/// A variable that is set to something Nudge cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{name}: invalid value {value:?}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// Mondays at 09:00, in each customer's time zone.
pub const DEFAULT_REPLENISHMENT_SCHEDULE: &str = "0 9 * * MON";

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
        if currency.len() != 3
            || !currency.bytes().all(|b| b.is_ascii_uppercase())
            || crate::domain::values::Currency::parse(&currency).is_err()
        {
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
        let listen = parse(
            &get,
            "NUDGE_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
        )?;
        Ok(Settings {
            database_url,
            database_max_connections: parse(&get, "NUDGE_DATABASE_MAX_CONNECTIONS", 10)?,
            database_background_connections: parse(
                &get,
                "NUDGE_DATABASE_BACKGROUND_CONNECTIONS",
                6,
            )?,
            sqlite_cache_mb: parse::<u32>(&get, "NUDGE_SQLITE_CACHE_MB", 64)?.max(1),
            storefront_cache_mb: parse(&get, "NUDGE_STOREFRONT_CACHE_MB", 48)?,
            ingest_writers: parse::<usize>(&get, "NUDGE_INGEST_WRITERS", 2)?.clamp(1, 16),
            ingest_max_backlog: parse(&get, "NUDGE_INGEST_MAX_BACKLOG", 10_000)?,
            listen,
            http_workers: parse_opt(&get, "NUDGE_HTTP_WORKERS")?,
            max_connections: parse::<usize>(&get, "NUDGE_MAX_CONNECTIONS", 2_048)?.max(1),
            store: StoreSettings {
                currency,
                time_zone: parse(&get, "NUDGE_DEFAULT_TIMEZONE", Tz::UTC)?,
                staff_email,
                replenishment: Replenishment {
                    basis: parse(
                        &get,
                        "NUDGE_REPLENISHMENT_BASIS",
                        ReplenishmentBasis::Delivered,
                    )?,
                    schedule: {
                        let text = get("NUDGE_REPLENISHMENT_SCHEDULE")
                            .unwrap_or_else(|| DEFAULT_REPLENISHMENT_SCHEDULE.into());
                        croner::parser::CronParser::new()
                            .parse(text.trim())
                            .map_err(|e| ConfigError {
                                name: "NUDGE_REPLENISHMENT_SCHEDULE",
                                value: text.clone(),
                                reason: format!("not a cron expression: {e}"),
                            })?
                    },
                    look_ahead_days: parse::<u32>(&get, "NUDGE_REPLENISHMENT_LOOK_AHEAD_DAYS", 7)?
                        .min(366),
                    link_days: parse::<u32>(&get, "NUDGE_REPLENISHMENT_LINK_DAYS", 30)?
                        .clamp(1, 366),
                    postpone_choices: {
                        let text = get("NUDGE_REPLENISHMENT_POSTPONE_DAYS")
                            .unwrap_or_else(|| "7,14,30".into());
                        let choices: Result<Vec<i32>, _> =
                            text.split(',').map(|d| d.trim().parse::<i32>()).collect();
                        match choices {
                            Ok(days)
                                if !days.is_empty()
                                    && days.len() <= 6
                                    && days.iter().all(|d| (1..=365).contains(d)) =>
                            {
                                days
                            }
                            _ => {
                                return Err(ConfigError {
                                    name: "NUDGE_REPLENISHMENT_POSTPONE_DAYS",
                                    value: text,
                                    reason: "expected 1 to 6 whole days of 1-365, such as 7,14,30"
                                        .into(),
                                });
                            }
                        }
                    },
                },
                attribution: Attribution {
                    click_window: hours(&get, "NUDGE_ATTRIBUTION_CLICK_HOURS", 120)?,
                    open_window: hours(&get, "NUDGE_ATTRIBUTION_OPEN_HOURS", 120)?,
                    sms_window: hours(&get, "NUDGE_ATTRIBUTION_SMS_HOURS", 24)?,
                },
            },
            retention_days: parse(&get, "NUDGE_RETENTION_DAYS", 365)?,
            console_session: Duration::from_secs(
                parse::<u64>(&get, "NUDGE_CONSOLE_SESSION_MINUTES", 480)?.clamp(1, 43_200) * 60,
            ),
            log_format: parse(&get, "NUDGE_LOG_FORMAT", LogFormat::Human)?,
            log_filter: get("NUDGE_LOG").unwrap_or_else(|| "info".into()),
            bootstrap_key_file: get("NUDGE_BOOTSTRAP_KEY_FILE")
                .unwrap_or_else(|| "nudge-admin-key.txt".into())
                .into(),
            limits: ApiLimits {
                max_body_bytes: parse(&get, "NUDGE_MAX_BODY_BYTES", 1024 * 1024)?,
                // Past ~128 serde_json refuses on its own, and past ~1,500 the parser's
                // recursion overflows a worker's stack: the bound stays well below both.
                max_nesting: parse::<usize>(&get, "NUDGE_MAX_NESTING", 64)?.clamp(8, 100),
                max_batch: parse::<usize>(&get, "NUDGE_MAX_BATCH_OPERATIONS", 20)?.max(1),
                body_timeout: Duration::from_millis(
                    parse::<u64>(&get, "NUDGE_REQUEST_TIMEOUT_MS", 5_000)?.max(1),
                ),
                socket_send_timeout: Duration::from_millis(
                    parse::<u64>(&get, "NUDGE_SOCKET_SEND_TIMEOUT_MS", 10_000)?.max(1),
                ),
                request_connections: parse::<usize>(&get, "NUDGE_REQUEST_CONNECTIONS", 4)?.max(1),
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
            delivery: delivery_settings(&get, listen)?,
            webhooks: webhook_settings(&get)?,
            metrics_listen: parse_opt(&get, "NUDGE_METRICS_LISTEN")?,
            readiness: ReadinessBounds {
                processor_lag: Duration::from_secs(parse(
                    &get,
                    "NUDGE_READY_PROCESSOR_LAG_SECS",
                    60,
                )?),
                dispatch_lag: Duration::from_secs(parse(
                    &get,
                    "NUDGE_READY_DISPATCH_LAG_SECS",
                    300,
                )?),
            },
        })
    }

    /// Whether the database is the embedded SQLite one.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// SQLite page cache per connection, KiB, of the API pool and of the background pool:
    /// `NUDGE_SQLITE_CACHE_MB` shared out so the process as a whole holds at most about that
    /// much — three quarters to the background pool, whose bulk writes (ingest, a planner
    /// enrolling a million runs) spill and re-read index pages when it is small, and a quarter
    /// to the API pool, which reads and writes a few rows per request.
    pub fn sqlite_cache_kib(&self) -> PoolCaches {
        let total = u64::from(self.sqlite_cache_mb) * 1024;
        let share = |part: u64, connections: u32| {
            u32::try_from(part / u64::from(connections.max(1))).unwrap_or(u32::MAX)
        };
        PoolCaches {
            api: share(total / 4, self.database_max_connections),
            background: share(total - total / 4, self.database_background_connections),
        }
    }
}

fn delivery_settings(
    get: &impl Fn(&'static str) -> Option<String>,
    listen: SocketAddr,
) -> Result<DeliverySettings, ConfigError> {
    let mailbox = |name: &'static str, value: String| {
        value
            .trim()
            .parse()
            .map_err(|e: lettre::address::AddressError| ConfigError {
                name,
                value,
                reason: format!("expected an address such as `Shop <news@shop.example>`: {e}"),
            })
    };
    let from = mailbox(
        "NUDGE_EMAIL_FROM",
        get("NUDGE_EMAIL_FROM").unwrap_or_else(|| "Nudge <nudge@localhost>".into()),
    )?;
    let reply_to = get("NUDGE_EMAIL_REPLY_TO")
        .map(|v| mailbox("NUDGE_EMAIL_REPLY_TO", v))
        .transpose()?;
    let secs = |name, default| parse(get, name, default).map(Duration::from_secs);
    let hours = |name, default: u64| {
        parse(get, name, default).map(|h| (h > 0).then(|| Duration::from_secs(h * 3600)))
    };
    let sms = match (get("NUDGE_SMS_ACCOUNT_SID"), get("NUDGE_SMS_AUTH_TOKEN")) {
        (Some(account_sid), Some(auth_token)) => {
            let from = get("NUDGE_SMS_FROM");
            let messaging_service_sid = get("NUDGE_SMS_MESSAGING_SERVICE_SID");
            if from.is_none() && messaging_service_sid.is_none() {
                return Err(ConfigError {
                    name: "NUDGE_SMS_FROM",
                    value: String::new(),
                    reason: "set a sender number or NUDGE_SMS_MESSAGING_SERVICE_SID".into(),
                });
            }
            Some(SmsSettings {
                api_url: get("NUDGE_SMS_API_URL")
                    .unwrap_or_else(|| "https://api.twilio.com".into()),
                account_sid,
                auth_token: auth_token.into(),
                from,
                messaging_service_sid,
                timeout: secs("NUDGE_SMS_TIMEOUT_SECS", 15)?,
            })
        }
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(ConfigError {
                name: "NUDGE_SMS_AUTH_TOKEN",
                value: String::new(),
                reason: "set both NUDGE_SMS_ACCOUNT_SID and NUDGE_SMS_AUTH_TOKEN, or neither"
                    .into(),
            });
        }
    };
    let retry = RetryPolicy::Doubling {
        max_attempts: parse(get, "NUDGE_DELIVERY_MAX_ATTEMPTS", 5)?,
        base: secs("NUDGE_DELIVERY_RETRY_BASE_SECS", 30)?,
        cap: secs("NUDGE_DELIVERY_RETRY_CAP_SECS", 3600)?,
    };
    Ok(DeliverySettings {
        dispatch: parse_bool(get, "NUDGE_DISPATCH", true)?,
        public_url: get("NUDGE_PUBLIC_URL")
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{listen}")),
        email: EmailSettings {
            smtp_url: get("NUDGE_SMTP_URL").map(Into::into),
            pool_size: parse(get, "NUDGE_SMTP_POOL_SIZE", 8)?,
            timeout: secs("NUDGE_SMTP_TIMEOUT_SECS", 30)?,
            from,
            reply_to,
        },
        sms,
        tracking_secret: get("NUDGE_TRACKING_SECRET").map(Into::into),
        concurrency: parse::<usize>(get, "NUDGE_DELIVERY_CONCURRENCY", 32)?.max(1),
        batch: parse::<usize>(get, "NUDGE_DELIVERY_BATCH", 200)?.clamp(1, 1000),
        poll: Duration::from_millis(parse(get, "NUDGE_DELIVERY_POLL_MS", 1000)?),
        lease: secs("NUDGE_DELIVERY_LEASE_SECS", 120)?,
        retry,
        email_cap: hours("NUDGE_EMAIL_CAP_HOURS", 16)?,
        sms_cap: hours("NUDGE_SMS_CAP_HOURS", 24)?,
        machine_open_window: secs("NUDGE_MACHINE_OPEN_SECONDS", 5)?,
        quiet_hours: match get("NUDGE_QUIET_HOURS") {
            Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
            Some(v) => Some(v.parse().map_err(|reason| ConfigError {
                name: "NUDGE_QUIET_HOURS",
                value: v.clone(),
                reason,
            })?),
            None => Some(QuietHours {
                start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
                end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            }),
        },
    })
}

fn webhook_settings(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<WebhookSettings, ConfigError> {
    let secs = |name, default| parse(get, name, default).map(Duration::from_secs);
    Ok(WebhookSettings {
        send: parse_bool(get, "NUDGE_WEBHOOK_SEND", true)?,
        allow_http: parse_bool(get, "NUDGE_WEBHOOK_ALLOW_HTTP", false)?,
        allow_private: parse_bool(get, "NUDGE_WEBHOOK_ALLOW_PRIVATE", false)?,
        retry: parse(get, "NUDGE_WEBHOOK_RETRY_SCHEDULE", RetryPolicy::webhooks())?,
        disable_after: hours(get, "NUDGE_WEBHOOK_DISABLE_AFTER_HOURS", 120)?,
        secret_overlap: hours(get, "NUDGE_WEBHOOK_SECRET_OVERLAP_HOURS", 24)?,
        connect_timeout: secs("NUDGE_WEBHOOK_CONNECT_TIMEOUT_SECS", 5)?.max(Duration::from_secs(1)),
        timeout: secs("NUDGE_WEBHOOK_TIMEOUT_SECS", 15)?.max(Duration::from_secs(1)),
        concurrency: parse::<usize>(get, "NUDGE_WEBHOOK_CONCURRENCY", 64)?.clamp(1, 1024),
        batch: parse::<usize>(get, "NUDGE_WEBHOOK_BATCH", 500)?.clamp(1, 5000),
        lease: secs("NUDGE_WEBHOOK_LEASE_SECS", 120)?.max(Duration::from_secs(1)),
        poll: Duration::from_millis(parse(get, "NUDGE_WEBHOOK_POLL_MS", 1000)?),
    })
}

/// A duration given in whole hours.
fn hours(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    parse(get, name, default).map(|h| Duration::from_secs(h * 3600))
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
        assert_eq!(s.store.time_zone, Tz::UTC);
        assert_eq!(s.limits.max_body_bytes, 1024 * 1024);
        assert!(s.limits.introspection);
    }

    #[test]
    fn the_sqlite_page_cache_is_shared_out_over_both_pools() {
        let s = settings(&[]).expect("defaults are valid");
        // 64 MiB: 16 over the 10 API connections, 48 over the 6 background ones.
        let caches = s.sqlite_cache_kib();
        assert_eq!((caches.api, caches.background), (1638, 8 * 1024));
        let s = settings(&[
            ("NUDGE_SQLITE_CACHE_MB", "64"),
            ("NUDGE_DATABASE_MAX_CONNECTIONS", "4"),
            ("NUDGE_DATABASE_BACKGROUND_CONNECTIONS", "4"),
        ])
        .expect("valid");
        let caches = s.sqlite_cache_kib();
        assert_eq!((caches.api, caches.background), (4 * 1024, 12 * 1024));
        assert_eq!(
            settings(&[("NUDGE_SQLITE_CACHE_MB", "lots")])
                .unwrap_err()
                .name,
            "NUDGE_SQLITE_CACHE_MB"
        );
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
        let err = settings(&[("NUDGE_CURRENCY", "XYZ")]).unwrap_err();
        assert_eq!(err.name, "NUDGE_CURRENCY");
        let err = settings(&[("NUDGE_QUIET_HOURS", "late")]).unwrap_err();
        assert_eq!(err.name, "NUDGE_QUIET_HOURS");
        let err = settings(&[("NUDGE_SMS_ACCOUNT_SID", "AC1")]).unwrap_err();
        assert_eq!(err.name, "NUDGE_SMS_AUTH_TOKEN");
    }

    #[test]
    fn secrets_from_the_settings_print_as_redacted() {
        let s = settings(&[
            ("NUDGE_SMS_ACCOUNT_SID", "AC1"),
            ("NUDGE_SMS_AUTH_TOKEN", "token-that-must-not-print"),
            ("NUDGE_SMS_FROM", "+14155550100"),
            (
                "NUDGE_SMTP_URL",
                "smtp://user:password-that-must-not-print@mail.example:587",
            ),
        ])
        .expect("valid");
        let printed = format!("{s:?}");
        assert!(!printed.contains("token-that-must-not-print"), "{printed}");
        assert!(
            !printed.contains("password-that-must-not-print"),
            "{printed}"
        );
        assert!(printed.contains("REDACTED"), "{printed}");
    }

    #[test]
    fn quiet_hours_may_pass_midnight() {
        let s = settings(&[]).expect("defaults are valid");
        let quiet = s.delivery.quiet_hours.expect("on by default");
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("a time");
        assert!(quiet.contains(at(21, 0)) && quiet.contains(at(2, 0)));
        assert!(!quiet.contains(at(8, 0)) && !quiet.contains(at(20, 59)));
        assert_eq!(s.delivery.email_cap, Some(Duration::from_secs(16 * 3600)));
        let off = settings(&[("NUDGE_QUIET_HOURS", "off"), ("NUDGE_EMAIL_CAP_HOURS", "0")])
            .expect("valid");
        assert_eq!(
            (off.delivery.quiet_hours, off.delivery.email_cap),
            (None, None)
        );
    }
}
