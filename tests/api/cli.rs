//! The `nudge` binary's commands, run as a user would.

use std::process::Command;

fn nudge(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nudge"))
        .args(args)
        .env("NUDGE_DATABASE_URL", database_url)
        .env("NUDGE_LOG", "warn")
        .output()
        .expect("nudge runs")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_from_the_command_line() {
    let app = crate::helpers::spawn_app().await;

    let created = nudge(
        &app.database_url,
        &[
            "keys",
            "create",
            "--scope",
            "storefront",
            "--name",
            "web shop",
        ],
    );
    let printed = stdout(&created);
    let mut lines = printed.lines();
    let secret = lines.next().expect("the key").trim().to_owned();
    let identity_secret = lines.next().expect("its identity secret").trim().to_owned();
    assert!(identity_secret.starts_with("nis_"), "{printed}");
    let works = app
        .graphql(
            Some(&secret),
            "{ viewer { scope keyName } }",
            serde_json::json!({}),
        )
        .await;
    let listed = nudge(&app.database_url, &["keys", "list"]);
    let id = stdout(&listed)
        .lines()
        .find(|l| l.ends_with("web shop"))
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .expect("the key is listed");
    let revoked = nudge(&app.database_url, &["keys", "revoke", &id]);
    // Another process revoked it: the server trusts what it checked for up to a second.
    let mut refused = serde_json::Value::Null;
    for _ in 0..30 {
        refused = app
            .graphql(Some(&secret), "{ viewer { scope } }", serde_json::json!({}))
            .await;
        if refused.get("errors").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let bad_scope = nudge(
        &app.database_url,
        &["keys", "create", "--scope", "root", "--name", "x"],
    );

    assert!(created.status.success(), "{created:?}");
    assert!(secret.starts_with("nk_sf_"), "{secret}");
    assert_eq!(
        works["data"]["viewer"],
        serde_json::json!({ "scope": "STOREFRONT", "keyName": "web shop" })
    );
    assert!(
        !stdout(&listed).contains(&secret),
        "the list never shows secrets"
    );
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(crate::helpers::error_code(&refused), "UNAUTHENTICATED");
    assert!(!bad_scope.status.success());
}

#[test]
fn the_schema_command_prints_the_sdl() {
    let output = nudge("sqlite://unused.db", &["schema"]);

    assert!(output.status.success());
    assert_eq!(stdout(&output), nudge::graphql::sdl());
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_nudge"))
        .arg("migrate")
        .env("NUDGE_DEFAULT_TIMEZONE", "Mars/Olympus")
        .output()
        .expect("nudge runs");

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("NUDGE_DEFAULT_TIMEZONE"));
}

#[tokio::test]
async fn a_tick_at_an_instant_runs_the_campaign_engine_from_the_command_line() {
    // Arrange: an inactivity campaign and a customer away for over a year.
    let app = crate::helpers::spawn_app().await;
    let template = app
        .admin_data(
            "mutation { createTemplate(input: { name: \"miss-you\", channel: EMAIL, subject: \"Hi\", bodyText: \"Hi\" }) { template { id } } }",
            serde_json::json!({}),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    app.admin_data(
        "mutation($input: CampaignInput!) { createCampaign(input: $input) { userErrors { message } } }",
        serde_json::json!({ "input": {
            "name": "win back", "status": "ACTIVE",
            "anchor": { "inactive": { "basis": "LAST_LOGIN", "days": 365 } },
            "steps": [{ "id": "mail", "message": { "channel": "EMAIL", "templateId": template } }]
        } }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        serde_json::json!([{ "eventId": "l", "customerExternalId": "away", "occurredAt": "2025-01-01T00:00:00Z",
            "payload": { "registered": { "email": "away@example.com" } } },
            { "eventId": "l2", "customerExternalId": "away", "occurredAt": "2025-01-01T00:00:00Z",
            "payload": { "loggedIn": true } }]),
    )
    .await;
    app.processed("l2").await;

    // Act
    let first = nudge(&app.database_url, &["tick", "--at", "2026-11-22T12:00:00Z"]);
    let again = nudge(&app.database_url, &["tick", "--at", "2026-11-22T12:00:00Z"]);

    // Assert
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        stdout(&first).trim(),
        "tick at 2026-11-22T12:00:00+00:00: 0 segment joins and 0 leaves, 1 runs enrolled, 1 runs advanced"
    );
    assert_eq!(
        stdout(&again).trim(),
        "tick at 2026-11-22T12:00:00+00:00: 0 segment joins and 0 leaves, 0 runs enrolled, 0 runs advanced"
    );
}

#[tokio::test]
async fn the_first_admin_key_goes_to_an_owner_only_file_never_into_the_log() {
    let database = crate::helpers::TestDatabase::create().await;
    let dir = std::env::temp_dir().join(format!("nudge-key-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let key_file = dir.join("admin-key");

    let output = Command::new(env!("CARGO_BIN_EXE_nudge"))
        .arg("migrate")
        .env("NUDGE_DATABASE_URL", &database.url)
        .env("NUDGE_LOG_FORMAT", "json")
        .env("NUDGE_LOG", "info")
        .env("NUDGE_BOOTSTRAP_KEY_FILE", &key_file)
        .output()
        .expect("nudge runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains("nk_adm_"),
        "the key leaked into the log: {stderr}"
    );
    assert!(stderr.contains(&key_file.display().to_string()), "{stderr}");
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
    }
    let secret = std::fs::read_to_string(&key_file).expect("the key file");
    assert!(secret.trim().starts_with("nk_adm_"), "{secret}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
