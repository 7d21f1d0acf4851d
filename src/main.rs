//! The `nudge` command: serve (the default), migrate, schema, keys.

use clap::{Parser, Subcommand};
use nudge::clock::{SharedClock, SystemClock};
use nudge::config::{LogFormat, Settings};
use nudge::domain::api_keys;
use nudge::startup::{Application, Bootstrap, StartupError, prepare_database};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

/// glibc's allocator spends a lot of time in its locks and consolidation under many small,
/// short-lived allocations (requests, JSON); mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocators' settings that are read only when the process starts, each unless set:
///
/// - `MALLOC_ARENA_MAX=2`. SQLite allocates its page cache with the C allocator, from the
///   thread of each pooled connection (sqlx runs one per connection), and glibc gives every
///   such thread an arena of its own that keeps what it freed: measured over the
///   1,000,000-customer bench, 332 MB of RSS at the end with one arena per thread against
///   236 MB with two.
/// - `MIMALLOC_PURGE_DELAY=0`. mimalloc keeps the pages it freed committed for a while, in a
///   heap per thread (two dozen threads here): measured over 20,000 registrations and views,
///   a high-water mark of 215 MB against 163 MB when freed pages go back at once.
///
/// - `MIMALLOC_ALLOW_THP=0`. mimalloc asks for transparent huge pages on its arenas, and a
///   huge page is resident as a whole once one byte of it is touched: measured over the
///   1,000,000-customer bench, 63 MB of the 118 MB mimalloc held were huge pages before the
///   storefront reads. With it unset mimalloc also opts the process out of them.
///
/// So unless they are all set the process starts itself again with them (the same process id,
/// arguments and environment otherwise).
fn tune_allocators() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let defaults = [
            ("MALLOC_ARENA_MAX", "2"),
            ("MIMALLOC_PURGE_DELAY", "0"),
            ("MIMALLOC_ALLOW_THP", "0"),
        ];
        let missing: Vec<(&str, &str)> = defaults
            .into_iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .envs(missing)
            .exec();
        // Not started again: go on with the allocators' defaults.
        eprintln!("nudge: could not tune the allocators ({error}); going on");
    }
}

/// Nudge: marketing automation for online shops.
#[derive(Parser)]
#[command(name = "nudge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve GraphQL (what a bare `nudge` does).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Run the campaign engine once (planner, then runner) at an instant, then exit.
    Tick {
        /// The instant, RFC 3339 (e.g. 2027-03-10T09:00:00Z); now when omitted.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Write the members of a segment, a role or a tag as CSV to standard output (the columns
    /// of `GET /export/…`), with a progress bar on standard error when it is a terminal.
    Export {
        /// segment, role or tag.
        kind: String,
        /// The group's id.
        id: i64,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print its secret (shown this once).
    Create {
        /// admin, storefront or integrator.
        #[arg(long)]
        scope: String,
        #[arg(long)]
        name: String,
        /// Storefront keys: trust the key with any customer, without signatures (only for a
        /// key that stays on the shop's servers).
        #[arg(long)]
        server_side: bool,
    },
    /// Make a storefront key verify customers with a new identity secret (printed once), or
    /// rotate its secret.
    EnableIdentity { id: i64 },
    /// Let a storefront key act for any customer without signatures.
    DisableIdentity { id: i64 },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: i64 },
}

fn main() -> ExitCode {
    tune_allocators();
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", nudge::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("nudge: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    nudge::telemetry::init(settings.log_format, &settings.log_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nudge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nudge: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    let clock: SharedClock = Arc::new(SystemClock);
    match command {
        Command::Serve => serve(settings, clock).await,
        Command::Migrate => {
            if let Some(key) =
                prepare_database(&settings, &clock, Bootstrap::CreateAdminKey).await?
            {
                announce_bootstrap_key(&key.secret, &settings)?;
            }
            tracing::info!("database is up to date");
            Ok(())
        }
        Command::Schema => Ok(()),
        Command::Keys { command } => keys(command, settings, clock).await,
        Command::Tick { at } => tick(settings, at.unwrap_or_else(|| clock.now())).await,
        Command::Export { kind, id } => export(settings, clock, &kind, id).await,
    }
}

async fn tick(settings: Settings, at: chrono::DateTime<chrono::Utc>) -> Result<(), StartupError> {
    let clock: SharedClock = Arc::new(nudge::clock::ManualClock::new(at));
    prepare_database(&settings, &clock, Bootstrap::MigrateOnly).await?;
    let db = nudge::db::connect(&settings.database_url, 2).await?;
    let bus = nudge::events::EventBus::new(nudge::events::BusMode::InProcess);
    let ticked = nudge::domain::clockwork::tick(&db, &bus, at, &settings.store).await;
    let (crossed, collected, report) = (ticked.segments?, ticked.carts?, ticked.campaigns?);
    if collected.carts > 0 {
        println!(
            "{} predicted carts collected ({} lines)",
            collected.carts, collected.lines
        );
    }
    println!(
        "tick at {}: {} segment joins and {} leaves, {} runs enrolled, {} runs advanced",
        at.to_rfc3339(),
        crossed.joined,
        crossed.left,
        report.enrolled,
        report.advanced
    );
    db.close().await?;
    Ok(())
}

async fn export(
    settings: Settings,
    clock: SharedClock,
    kind: &str,
    id: i64,
) -> Result<(), StartupError> {
    use futures_util::StreamExt;
    use nudge::domain::export::{self, Group};
    use std::io::{IsTerminal, Write};
    let group =
        Group::parse(kind, id).ok_or_else(|| format!("{kind:?} is not segment, role or tag"))?;
    prepare_database(&settings, &clock, Bootstrap::MigrateOnly).await?;
    let db = nudge::db::connect(&settings.database_url, 2).await?;
    export::check(&db, group).await?;
    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(export::count(&db, group).await?);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} members {per_sec} eta {eta}",
            )
            .map_err(|e| e.to_string())?,
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut chunks = std::pin::pin!(export::csv(
        db.clone(),
        group,
        settings.store.currency.clone()
    ));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        out.write_all(&chunk.bytes).map_err(|e| e.to_string())?;
        progress.inc(chunk.members);
    }
    out.flush().map_err(|e| e.to_string())?;
    progress.finish_and_clear();
    db.close().await?;
    Ok(())
}

async fn serve(settings: Settings, clock: SharedClock) -> Result<(), StartupError> {
    let sqlite = settings.is_sqlite();
    let app = Application::build(settings, clock).await?;
    if let Some(key) = &app.bootstrap_key {
        announce_bootstrap_key(&key.secret, &app.state.settings)?;
    }
    let listen = app.state.settings.listen;
    tracing::info!(
        port = app.port(),
        database.kind = if sqlite { "sqlite" } else { "postgres" },
        "nudge is listening; GraphiQL at http://{}:{}/graphql",
        listen.ip(),
        app.port()
    );
    app.run_until_stopped().await?;
    Ok(())
}

/// Hands the first admin key to the person starting Nudge, never to a log collector: on a
/// terminal with human logs it is printed on standard error, once; otherwise (JSON logs, or
/// standard error going to a file or a collector) it is written to
/// `NUDGE_BOOTSTRAP_KEY_FILE`, readable by its owner only, and only that path is logged.
fn announce_bootstrap_key(secret: &str, settings: &Settings) -> Result<(), StartupError> {
    if settings.log_format == LogFormat::Human && std::io::stderr().is_terminal() {
        eprintln!();
        eprintln!("  The database had no API keys, so an admin key was created.");
        eprintln!("  It is shown only now; keep it somewhere safe:");
        eprintln!();
        eprintln!("    {secret}");
        eprintln!();
        eprintln!("  Use it as: Authorization: Bearer <key>");
        eprintln!();
        return Ok(());
    }
    let path = &settings.bootstrap_key_file;
    write_owner_only(path, &format!("{secret}\n")).map_err(|e| {
        format!(
            "could not write the first admin key to {} ({e}); set NUDGE_BOOTSTRAP_KEY_FILE, \
             or create a key with `nudge keys create --scope admin`",
            path.display()
        )
    })?;
    tracing::warn!(
        path = %path.display(),
        "the database had no API keys: an admin key was created and written to this file \
         (readable by its owner only); keep the key elsewhere and delete the file"
    );
    Ok(())
}

/// Writes `contents` to `path`, replacing it, with permissions for its owner only.
fn write_owner_only(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // A file that existed before keeps its mode on open: narrow it first.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

async fn keys(
    command: KeysCommand,
    settings: Settings,
    clock: SharedClock,
) -> Result<(), StartupError> {
    prepare_database(&settings, &clock, Bootstrap::MigrateOnly).await?;
    let db = nudge::db::connect(&settings.database_url, 1).await?;
    match command {
        KeysCommand::Create {
            scope,
            name,
            server_side,
        } => {
            let scope = api_keys::parse_scope(&scope)?;
            let verification = api_keys::Verification::when(!server_side);
            let key = api_keys::create(&db, clock.now(), scope, &name, verification).await?;
            println!("{}", key.secret);
            if let Some(identity) = &key.identity_secret {
                println!("{}", identity.expose());
            }
            eprintln!(
                "created {} key {} ({}); the secret above is shown only now",
                scope.as_str(),
                key.key.id,
                key.key.name
            );
            if key.identity_secret.is_some() {
                eprintln!(
                    "the second line is its identity secret: the shop's backend signs customers' \
                     external ids with it (hex HMAC-SHA256); keep it on servers"
                );
            }
        }
        KeysCommand::EnableIdentity { id } => {
            let (key, secret) = api_keys::enable_identity(&db, id).await?;
            println!("{}", secret.expose());
            eprintln!(
                "key {} ({}) now verifies customers; the identity secret above is shown only now",
                key.id, key.name
            );
        }
        KeysCommand::DisableIdentity { id } => {
            let key = api_keys::disable_identity(&db, id).await?;
            eprintln!("key {} ({}) no longer verifies customers", key.id, key.name);
        }
        KeysCommand::List => {
            println!(
                "{:<6} {:<11} {:<14} {:<25} NAME",
                "ID", "SCOPE", "PREFIX", "STATUS"
            );
            for key in api_keys::list(&db).await? {
                let status = match key.revoked_at {
                    Some(at) => format!(
                        "revoked {}",
                        nudge::clock::from_millis(at).format("%Y-%m-%d %H:%M")
                    ),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<6} {:<11} {:<14} {:<25} {}",
                    key.id, key.scope, key.prefix, status, key.name
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let key = api_keys::revoke(&db, clock.now(), id).await?;
            eprintln!("revoked key {} ({})", key.id, key.name);
        }
    }
    db.close().await?;
    Ok(())
}
