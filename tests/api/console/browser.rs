//! The console in a real browser: headless Chromium from the distribution's packages, driven
//! over the DevTools protocol (a WebSocket of JSON messages: a few calls, no extra crate).
//! It signs in through the form, opens every page on seeded data, compares the numbers shown
//! with the API's, checks the charts' labels, follows the live feed, reads the pages at 360 px,
//! walks in with the keyboard, signs out — and fails if any request leaves the server's origin.
//! Screenshots of each page land in `target/console-screenshots/` (`NUDGE_SCREENSHOT_DIR`).
//!
//! Chromium is found as `NUDGE_CHROMIUM`, else `chromium`, `chromium-browser` or
//! `google-chrome` on the PATH. `.ci/run` installs it when missing; outside CI (`CI` unset) a
//! machine without it skips this test and says so.

use super::{Seeded, seed};
use crate::helpers::TestApp;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(30);

/// A headless Chromium with one page, killed when dropped.
struct Chromium {
    child: std::process::Child,
    profile: PathBuf,
    socket: Socket,
    session: String,
    next: u64,
    /// Events read while waiting for something else, oldest first.
    events: Vec<Value>,
    /// Every address the page asked for (documents, scripts, styles, images, sockets).
    requested: Vec<String>,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NUDGE_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

impl Chromium {
    async fn launch() -> Option<Self> {
        let Some(binary) = find_chromium() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "Chromium is needed for the console's browser test: install it (apt-get install chromium) or set NUDGE_CHROMIUM"
            );
            eprintln!(
                "SKIPPED the console's browser test: no Chromium here (apt-get install chromium)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let profile = std::env::temp_dir().join(format!("nudge-chromium-{}", uuid::Uuid::new_v4()));
        let child = std::process::Command::new(&binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-allow-origins=*",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Chromium starts");
        let version = format!("http://127.0.0.1:{port}/json/version");
        let deadline = tokio::time::Instant::now() + WAIT;
        let url = loop {
            if let Ok(response) = reqwest::get(&version).await
                && let Ok(body) = response.json::<Value>().await
                && let Some(url) = body["webSocketDebuggerUrl"].as_str()
            {
                break url.to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Chromium's DevTools did not open"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("DevTools");
        let mut browser = Chromium {
            child,
            profile,
            socket,
            session: String::new(),
            next: 0,
            events: Vec::new(),
            requested: Vec::new(),
        };
        let target = browser
            .call_browser("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = browser
            .call_browser(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_owned();
        for domain in ["Page.enable", "Network.enable", "Runtime.enable"] {
            browser.call(domain, json!({})).await;
        }
        Some(browser)
    }

    async fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("sent to Chromium");
        loop {
            let message = self.read().await;
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    async fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None).await
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(session)).await
    }

    /// The next message from Chromium, noting every address the page asks for.
    async fn read(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("Chromium answered in time")
                .expect("Chromium is connected")
                .expect("a frame");
            if let Message::Text(text) = frame {
                let message: Value = serde_json::from_str(&text).expect("JSON");
                match message["method"].as_str() {
                    Some("Network.requestWillBeSent") => self.requested.push(
                        message["params"]["request"]["url"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                    Some("Network.webSocketCreated") => self.requested.push(
                        message["params"]["url"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                    _ => {}
                }
                return message;
            }
        }
    }

    /// Waits for the page's next `method` event (or one read while waiting for a reply).
    async fn event(&mut self, method: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return self.events.remove(i);
        }
        loop {
            let message = self.read().await;
            if message["method"] == method {
                return message;
            }
            self.events.push(message);
        }
    }

    fn forget_loads(&mut self) {
        self.events.retain(|e| e["method"] != "Page.loadEventFired");
    }

    async fn open(&mut self, url: &str) {
        self.forget_loads();
        self.call("Page.navigate", json!({ "url": url })).await;
        self.event("Page.loadEventFired").await;
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            answer.get("exceptionDetails").is_none(),
            "{expression}: {answer}"
        );
        answer["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is true (the live feed, a navigation).
    async fn until(&mut self, expression: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.eval(expression).await != json!(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never true: {expression}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `action` (a click, a submit) and waits for the page it leads to.
    async fn navigate_by(&mut self, action: &str) {
        self.forget_loads();
        self.eval(action).await;
        self.event("Page.loadEventFired").await;
    }

    async fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await;
    }

    async fn key(&mut self, key: &str, code: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code }),
            )
            .await;
        }
    }

    async fn screenshot(&mut self, name: &str) {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("a picture"))
            .expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = std::env::var_os("NUDGE_SCREENSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
            });
        std::fs::create_dir_all(&dir).expect("a screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("a screenshot");
    }
}

/// The figures of the element matching `scope` as the page shows them: (figure, data-value,
/// visible text without thousands separators).
const FIGURES_IN: &str = "(scope) => [...document.querySelector(scope).querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.dataset.value, e.textContent.replace(/,/g, '').trim()])";

async fn shown(browser: &mut Chromium, scope: &str) -> Vec<(String, String, String)> {
    let value = browser
        .eval(&format!(
            "({FIGURES_IN})({})",
            serde_json::to_string(scope).expect("text")
        ))
        .await;
    serde_json::from_value(value).expect("figures")
}

/// Asserts every figure on the open page is a link to the list behind it.
async fn figures_link(browser: &mut Chromium, page: &str) {
    let loose = browser
        .eval("[...document.querySelectorAll('[data-figure]')].filter(e => !e.closest('a[href]')).map(e => e.dataset.figure)")
        .await;
    assert_eq!(loose, json!([]), "{page}: figures that open nothing");
}

/// Asserts the page shows `api`'s count for `name` (as the raw value and as the text).
fn same_count(figures: &[(String, String, String)], name: &str, api: &Value) {
    let (_, value, text) = figures
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} shown"));
    assert_eq!(value, &api.to_string(), "{name}");
    assert_eq!(text, &api.to_string(), "{name} as shown");
}

#[tokio::test]
async fn the_console_works_in_a_real_browser_and_asks_nothing_of_another_host() {
    let Some(mut browser) = Chromium::launch().await else {
        return;
    };
    let (
        app,
        Seeded {
            campaign,
            action,
            segment,
            ..
        },
    ) = seed().await;
    let origin = app.address.clone();
    let api = app
        .admin_data(
            "query($c: ID!, $a: ID!, $s: ID!) {
               campaign(id: $c) { stats { totals { entered active converted sent conversions openRate clickRate revenue { amount } } } }
               customerAction(id: $a) { stats { totals { fired sent } } }
               segment(id: $s) { memberCount } }",
            json!({ "c": campaign, "a": action, "s": segment }),
        )
        .await;
    browser.viewport(1280, 900, false).await;

    // Sign in through the form; the key goes nowhere the page's scripts can read.
    browser.open(&format!("{origin}/console")).await;
    assert_eq!(browser.eval("location.pathname").await, "/console/sign-in");
    browser.screenshot("sign-in").await;
    browser
        .navigate_by(&format!(
            "document.getElementById('key').value = {}; document.querySelector('form').submit(); true",
            serde_json::to_string(&app.admin_key).expect("text")
        ))
        .await;
    let text = browser.eval("document.body.innerText").await;
    assert_eq!(
        browser.eval("location.pathname").await,
        "/console",
        "{text}"
    );
    assert_eq!(
        browser.eval("document.cookie").await,
        "",
        "the session cookie is HttpOnly"
    );
    assert_eq!(
        browser
            .eval("localStorage.length + sessionStorage.length")
            .await,
        0
    );

    // Campaigns: the row's figures are the API's.
    let totals = &api["campaign"]["stats"]["totals"];
    let row = shown(&mut browser, &format!("tr[data-campaign='{campaign}']")).await;
    for name in ["entered", "active", "converted", "sent"] {
        same_count(&row, name, &totals[name]);
    }
    assert_eq!(
        browser
            .eval("document.querySelectorAll('svg[data-chart=sparkline] title').length")
            .await,
        1
    );
    figures_link(&mut browser, "campaigns").await;
    browser.screenshot("campaigns").await;

    // One campaign: cards, funnel, charts with their labels.
    browser
        .open(&format!("{origin}/console/campaigns/{campaign}"))
        .await;
    let cards = shown(&mut browser, "ul.cards").await;
    for name in ["entered", "active", "converted", "sent", "conversions"] {
        same_count(&cards, name, &totals[name]);
    }
    let revenue = cards
        .iter()
        .find(|(n, _, _)| n == "revenue")
        .expect("revenue");
    assert_eq!(
        revenue.1,
        totals["revenue"]["amount"].as_str().expect("amount")
    );
    assert_eq!(
        browser.eval("[...document.querySelectorAll('figure.chart-figure')].map(f => f.querySelector('figcaption').textContent)").await,
        json!([
            "Sends, opens, clicks and conversions per day messages per day · days in UTC",
            "Revenue per day USD per day · days in UTC"
        ])
    );
    assert_eq!(
        browser.eval("[...document.querySelectorAll('svg[data-chart=line] [data-series]')].map(s => s.dataset.series)").await,
        json!(["sent", "unique opens", "unique clicks", "conversions"])
    );
    assert_eq!(
        browser
            .eval(
                "document.querySelectorAll('svg.chart[role=img][aria-labelledby] title').length > 2"
            )
            .await,
        true
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('tr[data-step]').length")
            .await,
        4
    );
    figures_link(&mut browser, "campaign").await;
    browser.screenshot("campaign").await;

    // Actions, segments, the outbox, the suppression list, health.
    browser.open(&format!("{origin}/console/actions")).await;
    let row = shown(&mut browser, &format!("tr[data-action='{action}']")).await;
    same_count(
        &row,
        "fired",
        &api["customerAction"]["stats"]["totals"]["fired"],
    );
    figures_link(&mut browser, "actions").await;
    browser.screenshot("actions").await;
    browser
        .open(&format!("{origin}/console/actions/{action}"))
        .await;
    figures_link(&mut browser, "action").await;
    browser.screenshot("action").await;
    browser.open(&format!("{origin}/console/segments")).await;
    let block = shown(&mut browser, &format!("li[data-segment='{segment}']")).await;
    same_count(&block, "memberCount", &api["segment"]["memberCount"]);
    figures_link(&mut browser, "segments").await;
    browser.screenshot("segments").await;
    browser
        .open(&format!("{origin}/console/segments/{segment}"))
        .await;
    figures_link(&mut browser, "segment").await;
    browser.screenshot("segment").await;
    browser.open(&format!("{origin}/console/outbox")).await;
    let listed = browser
        .eval("document.querySelectorAll('tr[data-delivery]').length")
        .await;
    assert!(listed.as_u64() >= Some(3), "{listed}");
    figures_link(&mut browser, "outbox").await;
    browser.screenshot("outbox").await;
    browser
        .navigate_by("document.querySelector('tr[data-delivery] a').click(); true")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('h1').textContent.startsWith('Message')")
            .await,
        true
    );
    browser.screenshot("delivery").await;
    browser
        .open(&format!("{origin}/console/suppressions"))
        .await;
    assert_eq!(
        browser
            .eval(
                "document.querySelector('#suppressions').textContent.includes('gone@example.com')"
            )
            .await,
        true
    );
    browser.screenshot("suppressions").await;
    browser.open(&format!("{origin}/console/health")).await;
    assert_eq!(
        browser
            .eval("document.querySelector('[data-figure=ready]').dataset.value")
            .await,
        "true"
    );
    browser.screenshot("health").await;

    // The live feed: a change made through the API shows up on the open page.
    let tag = app.create_tag("live").await;
    browser.open(&format!("{origin}/console/live")).await;
    browser
        .until("document.getElementById('live-status').textContent.startsWith('Live')")
        .await;
    tag_ann(&app, &tag).await;
    browser.until("[...document.querySelectorAll('#feed tr')].some(r => r.textContent.includes('ann (') && r.textContent.includes('tag set') && r.textContent.includes('tag live'))").await;
    browser.screenshot("live").await;

    // At 360 px nothing spills sideways; the keyboard reaches the content first.
    browser.viewport(360, 780, true).await;
    for (name, path) in [
        ("campaigns", "/console".to_owned()),
        ("campaign", format!("/console/campaigns/{campaign}")),
        ("segments", "/console/segments".into()),
        ("outbox", "/console/outbox".into()),
        ("health", "/console/health".into()),
    ] {
        browser.open(&format!("{origin}{path}")).await;
        let width = browser.eval("document.documentElement.scrollWidth").await;
        assert!(
            width.as_u64() <= Some(362),
            "{path} is {width} px wide at 360"
        );
        browser.screenshot(&format!("{name}-360")).await;
    }
    browser.viewport(1280, 900, false).await;
    browser.open(&format!("{origin}/console")).await;
    browser.key("Tab", 9).await;
    assert_eq!(
        browser.eval("document.activeElement.textContent").await,
        "Skip to content"
    );
    browser.key("Enter", 13).await;
    browser.until("document.activeElement.id === 'main'").await;

    // Sign out with the page's own button; the session is over.
    browser
        .navigate_by("document.querySelector('form.who button').click(); true")
        .await;
    assert_eq!(browser.eval("location.pathname").await, "/console/sign-in");
    browser.open(&format!("{origin}/console/health")).await;
    assert_eq!(browser.eval("location.pathname").await, "/console/sign-in");

    let ws_origin = origin.replacen("http://", "ws://", 1);
    let elsewhere: Vec<&String> = browser
        .requested
        .iter()
        .filter(|url| {
            !url.starts_with(&format!("{origin}/"))
                && !url.starts_with(&format!("{ws_origin}/"))
                && !url.starts_with("about:")
                && !url.starts_with("data:")
        })
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests off the origin: {elsewhere:?}"
    );
    assert!(
        browser
            .requested
            .iter()
            .any(|u| u.ends_with("/assets/console-1.css"))
    );
    assert!(
        browser
            .requested
            .iter()
            .any(|u| u == &format!("{ws_origin}/graphql"))
    );
}

/// Sets `tag` on Ann (seeded), through the API.
async fn tag_ann(app: &TestApp, tag: &str) {
    let data = app
        .admin_data("{ customer(externalId: \"ann\") { id } }", json!({}))
        .await;
    let changed = app
        .admin_data(
            "mutation($c: ID!, $t: ID!) { setCustomerTag(customerId: $c, tagId: $t) { userErrors { message } } }",
            json!({ "c": data["customer"]["id"], "t": tag }),
        )
        .await;
    assert_eq!(changed["setCustomerTag"]["userErrors"], json!([]));
}
