//! Builds a running Nudge: database (migrated), state, schema and HTTP server.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{SetupSession, connect_with_cache};
use crate::delivery::tokens::TokenSigner;
use crate::delivery::{Mailer, SmsClient};
use crate::domain::api_keys::{self, KeyCache, NewKey};
use crate::domain::campaigns::follow::StepEffects;
use crate::domain::deliveries::{Dispatcher, Senders, dispatch, secrets};
use crate::domain::ingest::IngestQueue;
use crate::domain::membership;
use crate::domain::react::runner;
use crate::domain::stale;
use crate::domain::stats::fold;
use crate::domain::storefront::shelves::Shelves;
use crate::domain::webhook_sender::{self, WebhookSender};
use crate::events::{BusMode, EventBus};
use crate::graphql::{self, AppSchema};
use crate::state::AppState;
use crate::supervisor::Supervisor;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;

/// Any start-up failure, with its cause.
pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// Whether preparing the database may create the first admin key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// On a database without keys, create an admin key and return it.
    CreateAdminKey,
    /// Only migrate.
    MigrateOnly,
}

/// Migrates the database and, with [`Bootstrap::CreateAdminKey`] on a database without keys,
/// creates the first admin key — under the setup lock, so several processes starting at
/// once do this one after the other.
pub async fn prepare_database(
    settings: &Settings,
    clock: &SharedClock,
    bootstrap: Bootstrap,
) -> Result<Option<NewKey>, StartupError> {
    let session = SetupSession::acquire(&settings.database_url).await?;
    let outcome = async {
        session.migrate().await?;
        if bootstrap == Bootstrap::MigrateOnly {
            return Ok(None);
        }
        let key = api_keys::ensure_bootstrap_key(&session.db, clock.now()).await?;
        Ok::<_, StartupError>(key)
    }
    .await;
    session.release().await?;
    outcome
}

/// A server bound to its port, not yet running.
pub struct Application {
    port: u16,
    /// The port `/metrics` is served on, when `NUDGE_METRICS_LISTEN` is set.
    metrics_port: Option<u16>,
    server: Server,
    /// The admin key created on first start, if this start created one.
    pub bootstrap_key: Option<NewKey>,
    pub state: AppState,
    /// The campaign ticker, kept alive with the server.
    _scheduler: Option<tokio_cron_scheduler::JobScheduler>,
}

impl Application {
    /// Migrates, connects and binds `settings.listen` (port 0 picks a free port).
    pub async fn build(settings: Settings, clock: SharedClock) -> Result<Self, StartupError> {
        if settings.metrics_listen.is_some() {
            // Before anything is measured.
            crate::prometheus::install();
        }
        let bootstrap_key = prepare_database(&settings, &clock, Bootstrap::CreateAdminKey).await?;
        let caches = settings.sqlite_cache_kib();
        let url = &settings.database_url;
        let api = settings.database_max_connections;
        let mut db = connect_with_cache(url, api, caches.api).await?;
        let background = settings.database_background_connections;
        let mut work_db = connect_with_cache(url, background, caches.background).await?;
        if settings.metrics_listen.is_some() {
            // A callback on every statement: only when something will read what it counts.
            crate::prometheus::measure_statements(&mut db, "api");
            crate::prometheus::measure_statements(&mut work_db, "background");
        }
        let listener = TcpListener::bind(settings.listen)?;
        let port = listener.local_addr()?.port();
        let settings = Arc::new(settings);
        let supervisor = Supervisor::default();
        let bus = EventBus::new(if settings.is_sqlite() {
            BusMode::InProcess
        } else {
            BusMode::Postgres
        });
        if bus.mode() == BusMode::Postgres {
            let (url, db, bus) = (settings.database_url.clone(), work_db.clone(), bus.clone());
            supervisor.spawn("membership relay", move || {
                membership::relay_postgres_notifications(url.clone(), db.clone(), bus.clone())
            });
            let url = settings.database_url.clone();
            supervisor.spawn("cache notice relay", move || {
                stale::relay_postgres_notices(url.clone())
            });
        }
        let processor_wake = Arc::new(tokio::sync::Notify::new());
        let wake = processor_wake.clone();
        let ingest = IngestQueue::start(
            &supervisor,
            work_db.clone(),
            settings.store.clone(),
            settings.ingest_writers,
            settings.ingest_max_backlog,
            move || wake.notify_one(),
        );
        let senders = build_senders(&settings, &db, &clock).await?;
        let state = AppState {
            db,
            work_db,
            clock,
            bus,
            processor_wake,
            ingest,
            keys: KeyCache::default(),
            shelves: Shelves::new(u64::from(settings.storefront_cache_mb) << 20),
            senders,
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
            settings: settings.clone(),
            supervisor: supervisor.clone(),
        };
        if settings.delivery.dispatch {
            let dispatcher = Dispatcher::new(
                state.work_db.clone(),
                state.clock.clone(),
                state.senders.clone(),
                settings.clone(),
                Arc::new(StepEffects::new(
                    settings.store.staff_email.clone(),
                    state.bus.clone(),
                )),
            );
            let faults = supervisor.clone();
            supervisor.spawn(dispatch::TASK, move || {
                dispatcher.clone().run(faults.clone())
            });
        }
        if settings.webhooks.send {
            let sender = WebhookSender::new(
                state.work_db.clone(),
                state.clock.clone(),
                settings.clone(),
                state.webhook_wake.clone(),
            )?;
            let (faults, bus) = (supervisor.clone(), state.bus.clone());
            supervisor.spawn(webhook_sender::TASK, move || {
                sender.clone().run(faults.clone(), bus.clone())
            });
        }
        {
            let state = state.clone();
            supervisor.spawn(runner::TASK, move || {
                runner::run(
                    state.work_db.clone(),
                    state.bus.clone(),
                    state.clock.clone(),
                    state.processor_wake.clone(),
                    state.settings.clone(),
                    state.senders.wake.clone(),
                    state.supervisor.clone(),
                )
            });
        }
        {
            let (db, keys, faults) = (
                state.work_db.clone(),
                state.keys.clone(),
                supervisor.clone(),
            );
            supervisor.spawn(api_keys::REVOCATION_TASK, move || {
                api_keys::watch_revocations(db.clone(), keys.clone(), faults.clone())
            });
        }
        {
            let (db, tz, faults) = (
                state.work_db.clone(),
                settings.store.time_zone,
                supervisor.clone(),
            );
            supervisor.spawn(fold::TASK, move || {
                fold::run(db.clone(), tz, faults.clone())
            });
        }
        let scheduler = crate::scheduler::start(state.clone()).await?;
        let schema = graphql::build_schema(state.clone(), Arc::new(settings.limits.clone()));
        let server = serve(listener, state.clone(), schema)?;
        let metrics_port = serve_metrics(&state)?;
        Ok(Self {
            port,
            metrics_port,
            server,
            bootstrap_key,
            state,
            _scheduler: scheduler,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// Runs until the server stops (Ctrl-C or SIGTERM), or until a supervised task could not
    /// be restarted: then the server stops and this returns the reason as an error, so the
    /// process exits non-zero and its process manager starts it afresh.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        tokio::select! {
            stopped = self.server => stopped,
            reason = self.state.supervisor.fatal() => {
                tracing::error!(reason = %reason, "stopping: a task cannot be restarted");
                handle.stop(false).await;
                Err(std::io::Error::other(reason))
            }
        }
    }
}

/// The mailer and SMS client of the settings, and the tracking-link signer (its key from the
/// settings, or the one the database keeps for every process).
pub async fn build_senders(
    settings: &Settings,
    db: &sea_orm::DatabaseConnection,
    clock: &SharedClock,
) -> Result<Senders, StartupError> {
    // rustls may see two crypto providers (ring for lettre, aws-lc-rs for reqwest); pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let delivery = &settings.delivery;
    let key = match &delivery.tracking_secret {
        Some(secret) => secrecy::ExposeSecret::expose_secret(secret).to_owned(),
        None => secrets::ensure(db, secrets::TRACKING, clock.now()).await?,
    };
    Ok(Senders {
        mailer: Mailer::new(&delivery.email)?,
        sms: SmsClient::new(delivery.sms.clone())?,
        signer: TokenSigner::new(key),
        wake: Arc::new(tokio::sync::Notify::new()),
    })
}

/// Serves `/metrics` on `NUDGE_METRICS_LISTEN`, if set, for the life of the process; returns
/// the port.
fn serve_metrics(state: &AppState) -> Result<Option<u16>, StartupError> {
    let Some(address) = state.settings.metrics_listen else {
        return Ok(None);
    };
    let handle = crate::prometheus::install()
        .ok_or("another metrics recorder was installed in this process")?;
    let listener = TcpListener::bind(address)?;
    let port = listener.local_addr()?.port();
    let state = web::Data::new(state.clone());
    let handle = web::Data::new(handle);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(handle.clone())
            .route("/metrics", web::get().to(crate::http::metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(Some(port))
}

fn serve(listener: TcpListener, state: AppState, schema: AppSchema) -> std::io::Result<Server> {
    let settings = state.settings.clone();
    let workers = settings
        .http_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let state = web::Data::new(state);
    let schema = web::Data::new(schema);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::http::bound_body_time))
            .wrap(tracing_actix_web::TracingLogger::<crate::http::RouteSpan>::new())
            .wrap(actix_web::middleware::from_fn(crate::http::measure))
            .app_data(state.clone())
            .app_data(schema.clone())
            .configure(crate::http::routes)
    })
    .workers(workers)
    // actix counts connections per worker.
    .max_connections(settings.max_connections.div_ceil(workers).max(1))
    .client_request_timeout(settings.limits.body_timeout)
    .listen(listener)?;
    Ok(server.run())
}
