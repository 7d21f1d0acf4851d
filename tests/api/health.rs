use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_answer_ok() {
    let app = spawn_app().await;

    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("sent");
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("sent");

    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn graphiql_is_served_whole_by_the_binary_under_a_strict_policy() {
    let app = spawn_app().await;

    // Act: the page, then every file it names.
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .expect("sent");

    // Assert: HTML under a policy that allows this origin's scripts only, never framed.
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    assert_eq!(header("x-frame-options"), "DENY");
    let policy = header("content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = page.text().await.expect("text");
    // Every script has a source of its own (no inline script), and every source and style is
    // on this server.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/assets/").count(),
        "{html}"
    );
    let named: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    assert_eq!(named.len(), 6, "{html}");
    assert!(
        !html.contains("//cdn") && !html.contains("https://"),
        "{html}"
    );
    for path in named {
        let file = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("asset");
        assert_eq!(file.status(), 200, "{path}");
        let kind = file
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let expected = if path.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(kind.starts_with(expected), "{path}: {kind}");
        let body = file.bytes().await.expect("bytes");
        assert!(body.len() > 100, "{path}");
        // Nothing a file loads comes from another host either.
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("fonts.googleapis"), "{path}");
    }
    let missing = app
        .client
        .get(format!("{}/assets/nope.js", app.address))
        .send()
        .await
        .expect("asset");
    assert_eq!(missing.status(), 404);
}

async fn readiness(app: &crate::helpers::TestApp) -> (u16, serde_json::Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Polls `/readyz` (10 s at most) until `done` holds; returns the last answer.
async fn readiness_until(
    app: &crate::helpers::TestApp,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> (u16, serde_json::Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = readiness(app).await;
        if done(status, &body) {
            return (status, body);
        }
        assert!(std::time::Instant::now() < deadline, "{status} {body}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn checks(body: &serde_json::Value) -> Vec<String> {
    body["problems"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|p| p["check"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn readiness_names_a_due_message_that_waited_past_the_bound() {
    // Arrange: a dispatcher that looks only when woken, and a message due ten minutes ago
    // put in the outbox behind its back.
    let app = crate::helpers::spawn_app_with(|s| {
        s.delivery.poll = std::time::Duration::from_secs(3600);
        s.readiness.dispatch_lag = std::time::Duration::from_secs(300);
    })
    .await;
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    let now_ms = nudge::clock::to_millis(nudge::clock::Clock::now(&app.clock));
    let before = readiness(&app).await;
    nudge::domain::deliveries::outbox::enqueue(
        &db,
        nudge::domain::deliveries::outbox::NewDelivery {
            dedupe_key: "late".into(),
            channel: nudge::domain::templates::Channel::Email,
            purpose: nudge::domain::deliveries::Purpose::Staff,
            customer_id: None,
            recipient: Some("staff@shop.example".into()),
            subject: Some("Hi".into()),
            body_html: None,
            body_text: Some("Hi".into()),
            action_id: None,
            firing_id: None,
            campaign_id: None,
            run_id: None,
            step_id: None,
            template_id: None,
        },
        now_ms - 600_000,
    )
    .await
    .expect("queued");

    // Act
    let (status, body) = readiness(&app).await;

    // Assert
    assert_eq!(before.0, 200, "{}", before.1);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(checks(&body), vec!["dispatcher"]);
    assert_eq!(
        body["problems"][0]["message"],
        "the oldest due message has waited 600 s (bound 300 s)"
    );
}

#[tokio::test]
async fn readiness_names_a_task_waiting_to_be_restarted_and_recovers() {
    // Arrange
    let app = crate::helpers::spawn_app_with(|s| {
        s.delivery.poll = std::time::Duration::from_millis(20);
    })
    .await;

    // Act: the dispatcher fails once; the supervisor waits before starting it again.
    app.supervisor
        .inject_fault(nudge::domain::deliveries::dispatch::TASK);
    let (_, failing) = readiness_until(&app, |status, _| status == 503).await;
    let (recovered, _) = readiness_until(&app, |status, _| status == 200).await;

    // Assert
    assert_eq!(checks(&failing), vec!["task"], "{failing}");
    assert!(
        failing["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("dispatcher is waiting to be restarted")),
        "{failing}"
    );
    assert_eq!(recovered, 200);
}

#[tokio::test]
async fn readiness_says_the_database_does_not_answer_and_recovers() {
    use sea_orm::ConnectionTrait;
    let app = crate::helpers::spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let name = app
        .database_url
        .rsplit('/')
        .next()
        .and_then(|n| n.split('?').next())
        .expect("a name")
        .to_owned();
    let admin_url = app.database_url.replace(&format!("/{name}"), "/postgres");
    let admin = sea_orm::Database::connect(&admin_url)
        .await
        .expect("connected");
    let set = |allow: bool| format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {allow}");

    // Act: no new connection is allowed, and every open one is cut.
    admin.execute_unprepared(&set(false)).await.expect("closed");
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .expect("cut");
    let (_, down) = readiness_until(&app, |status, _| status == 503).await;
    admin.execute_unprepared(&set(true)).await.expect("opened");
    let (up, _) = readiness_until(&app, |status, _| status == 200).await;

    // Assert
    assert_eq!(checks(&down), vec!["database"], "{down}");
    assert_eq!(up, 200);
}
