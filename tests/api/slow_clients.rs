//! Clients that send their request slowly, or never finish it: a body that does not arrive
//! in time is answered 408 and its connection closed, and a process serves at most
//! `NUDGE_MAX_CONNECTIONS` connections at once.

use crate::helpers::{TestApp, spawn_app_with};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection and sends a request head announcing 1,000 bytes, then nine of them.
async fn start_slow_request(app: &TestApp, path: &str) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connected");
    let content_type = if path.starts_with("/sms") {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n{{\"query\":"
    );
    stream.write_all(head.as_bytes()).await.expect("written");
    stream
}

/// Everything the server sends until it closes the connection (10 s at most).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection in time")
        .expect("readable");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_and_its_connection_closed() {
    let app = spawn_app_with(|s| s.limits.body_timeout = Duration::from_millis(300)).await;

    for path in ["/graphql", "/u/some-token", "/sms/status", "/sms/inbound"] {
        let started = Instant::now();
        let mut stream = start_slow_request(&app, path).await;
        let response = read_to_close(&mut stream).await;

        assert!(response.starts_with("HTTP/1.1 408"), "{path}: {response}");
        assert!(response.contains("LIMIT_EXCEEDED"), "{path}: {response}");
        assert!(started.elapsed() >= Duration::from_millis(300), "{path}");
    }
}

#[tokio::test]
async fn a_slow_body_to_a_route_that_reads_none_does_not_hold_its_connection() {
    let app = spawn_app_with(|s| s.limits.body_timeout = Duration::from_millis(300)).await;

    for path in ["/nowhere", "/healthz"] {
        let mut stream = start_slow_request(&app, path).await;
        let response = read_to_close(&mut stream).await;

        assert!(response.starts_with("HTTP/1.1 4"), "{path}: {response}");
    }
}

#[tokio::test]
async fn many_slow_clients_neither_stop_health_checks_nor_stay_connected() {
    let app = spawn_app_with(|s| s.limits.body_timeout = Duration::from_millis(500)).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        slow.push(start_slow_request(&app, "/graphql").await);
    }

    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("answered");
    assert_eq!(health.status(), 200);
    for stream in &mut slow {
        let response = read_to_close(stream).await;
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    }
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_is_free() {
    let app = spawn_app_with(|s| {
        s.limits.body_timeout = Duration::from_millis(600);
        s.max_connections = 2;
        s.http_workers = Some(1);
    })
    .await;
    let mut slow = [
        start_slow_request(&app, "/graphql").await,
        start_slow_request(&app, "/graphql").await,
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("answered once a place is free");

    assert_eq!(health.status(), 200);
    // Both places were taken until the slow bodies' deadline freed them.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    for stream in &mut slow {
        assert!(read_to_close(stream).await.starts_with("HTTP/1.1 408"));
    }
}
