//! The real binary as a process of its own, for what only a whole process shows: its log, and
//! its metrics (the recorder is process-wide, so in-process servers would share them).

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A directory of its own, removed afterwards.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("nudge-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("a directory");
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `nudge` process; killed when dropped. Its output goes to `server.log` in the
/// directory it was started with.
pub struct Server {
    child: std::process::Child,
    pub base: String,
    /// The bootstrap admin key it wrote.
    pub admin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// Starts the binary on `database_url` with `env` besides a port, the key file and fast
    /// polling, and waits until it answers and has written its admin key.
    pub async fn start(database_url: &str, dir: &std::path::Path, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let out = std::fs::File::create(dir.join("server.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_nudge"));
        command
            .env("NUDGE_DATABASE_URL", database_url)
            .env("NUDGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("NUDGE_BOOTSTRAP_KEY_FILE", dir.join("key.txt"))
            .env("NUDGE_DELIVERY_POLL_MS", "50")
            .env("NUDGE_QUIET_HOURS", "off");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .stdout(out.try_clone().expect("file"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("nudge starts");
        let base = format!("http://127.0.0.1:{port}");
        let mut server = Server {
            child,
            base,
            admin: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.admin = loop {
            if let Ok(key) = std::fs::read_to_string(dir.join("key.txt"))
                && !key.trim().is_empty()
            {
                break key.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "no bootstrap key");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        server
    }

    /// A new storefront key (no identity verification).
    pub async fn storefront_key(&self) -> String {
        let data = post(
            self,
            &self.admin,
            "mutation { createApiKey(scope: STOREFRONT, name: \"web\", identityVerification: false) { created { secret } } }",
            json!({}),
        )
        .await;
        data["createApiKey"]["created"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned()
    }
}

/// Posts a GraphQL request with `key`; returns its data (and fails on errors).
pub async fn post(server: &Server, key: &str, query: &str, variables: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// The sum of the samples of metric `name` whose labels contain `labels` (all of them for ""),
/// as the `/metrics` of the listener at `metrics` reports them now (0 before the first).
pub async fn metric(metrics: &str, name: &str, labels: &str) -> f64 {
    let text = reqwest::get(format!("{metrics}/metrics"))
        .await
        .expect("scraped")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']) && rest.contains(labels))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
