//! The sums are exact: a random workload — sends, skips, repeated events and tracking hits,
//! machine and human opens, clicks, unsubscribes, orders, refunds and cancellations, folds
//! that crash half-way — and every figure read back equals a COUNT or SUM over the raw tables,
//! before the folder has caught up and after.

use super::*;
use crate::deliveries::{deliveries, email_effect, spawn_with_smtp};
use crate::helpers::ev;
use crate::smtp_sink::SmtpSink;
use nudge::domain::stats::fold;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

const CUSTOMERS: usize = 6;
const STEPS: usize = 120;

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let sql = format!("SELECT CAST(({sql}) AS BIGINT) AS n");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("counted")
        .expect("a row");
    row.try_get::<Option<i64>>("", "n")
        .expect("a number")
        .unwrap_or(0)
}

/// Each figure as the raw tables have it (marketing messages only).
async fn raw_figures(db: &DatabaseConnection) -> Vec<(&'static str, i64)> {
    let m = "SELECT COUNT(*) FROM deliveries WHERE purpose = 'marketing'";
    let e = |kind: &str| {
        format!(
            "SELECT COUNT(*) FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id \
             WHERE d.purpose = 'marketing' AND e.kind = '{kind}'"
        )
    };
    vec![
        (
            "fired",
            count(db, "SELECT COUNT(*) FROM action_firings").await,
        ),
        ("queued", count(db, m).await),
        (
            "sent",
            count(
                db,
                &format!(
                    "{m} AND sent_at IS NOT NULL AND status IN ('sent', 'delivered', 'failed')"
                ),
            )
            .await,
        ),
        (
            "skipped",
            count(db, &format!("{m} AND status = 'skipped'")).await,
        ),
        (
            "failed",
            count(
                db,
                &format!("{m} AND status = 'failed' AND sent_at IS NULL"),
            )
            .await,
        ),
        ("opens", count(db, &e("opened")).await),
        ("machineOpens", count(db, &e("machineOpened")).await),
        (
            "uniqueOpens",
            count(db, &format!("{m} AND opened_at IS NOT NULL")).await,
        ),
        ("clicks", count(db, &e("clicked")).await),
        (
            "uniqueClicks",
            count(db, &format!("{m} AND clicked_at IS NOT NULL")).await,
        ),
        (
            "unsubscribed",
            count(db, &format!("{m} AND unsubscribed_at IS NOT NULL")).await,
        ),
        (
            "bounced",
            count(db, &format!("{m} AND bounced_at IS NOT NULL")).await,
        ),
        ("deferred", count(db, &e("deferred")).await),
        (
            "conversions",
            count(db, "SELECT COUNT(*) FROM order_credits WHERE counted").await,
        ),
        (
            "revenueMinor",
            count(db, "SELECT COALESCE(SUM(revenue), 0) FROM order_credits").await,
        ),
    ]
}

/// The same figures as the API reads them, over the whole range.
async fn read_figures(app: &TestApp) -> Vec<(&'static str, i64)> {
    let data = app
        .admin_data(
            &format!("{{ statistics(from: \"2026-11-20\", to: \"2027-01-31\") {{ totals {{ {FIGURES} }} }} }}"),
            json!({}),
        )
        .await;
    let t = &data["statistics"]["totals"];
    let revenue = t["revenue"]["amount"]
        .as_str()
        .and_then(|a| a.replace('.', "").parse::<i64>().ok())
        .unwrap_or(i64::MIN);
    let mut figures: Vec<(&'static str, i64)> = [
        "fired",
        "queued",
        "sent",
        "skipped",
        "failed",
        "opens",
        "machineOpens",
        "uniqueOpens",
        "clicks",
        "uniqueClicks",
        "unsubscribed",
        "bounced",
        "deferred",
        "conversions",
    ]
    .into_iter()
    .map(|f| (f, t[f].as_i64().unwrap_or(i64::MIN)))
    .collect();
    figures.push(("revenueMinor", revenue));
    figures
}

#[tokio::test]
async fn every_figure_equals_the_count_over_the_raw_tables_under_a_random_workload() {
    // Arrange: customers with and without consent; every login sends an email.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    for c in 0..CUSTOMERS {
        let consent = c % 3 != 0;
        // One mailbox that is refused, one that is put off at every other try.
        let mailbox = match c {
            1 => "bounce".to_owned(),
            2 => "busy".to_owned(),
            _ => format!("c{c}"),
        };
        app.create_customer(
            json!({ "externalId": format!("c{c}"), "email": format!("{mailbox}@example.com"),
            "emailConsent": { "granted": consent, "source": "checkout" } }),
        )
        .await;
    }
    app.create_action(json!({ "name": "On login", "trigger": "LOGGED_IN",
        "effects": [email_effect()], "repeat": { "kind": "EVERY_TIME" } }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;
    let db = nudge::db::connect(&app.database_url, 2)
        .await
        .expect("connected");
    let mut rng = StdRng::seed_from_u64(16);
    let agents = [PERSON, "Mozilla/5.0", "python-requests/2.31", PERSON];
    let mut events = 0;
    let mut orders: Vec<(String, String)> = Vec::new();

    // Act: a random workload.
    for _ in 0..STEPS {
        let customer = format!("c{}", rng.random_range(0..CUSTOMERS));
        match rng.random_range(0..10) {
            0..=2 => {
                events += 1;
                let id = format!("e{events}");
                let login = ev(
                    &id,
                    &customer,
                    "2026-11-22T11:00:00Z",
                    json!({ "loggedIn": true }),
                );
                app.record(&storefront, json!([login.clone()])).await;
                if rng.random_bool(0.3) {
                    // The storefront repeats itself: nothing more may count.
                    app.record(&storefront, json!([login])).await;
                }
                app.processed(&id).await;
            }
            3..=5 => {
                let list = deliveries(&app).await;
                let sent: Vec<&Value> = list.iter().filter(|d| d["status"] == "SENT").collect();
                if let Some(d) = sent.get(rng.random_range(0..sent.len().max(1))) {
                    let html = d["bodyHtml"].as_str().unwrap_or_default();
                    let urls: Vec<String> = html
                        .split(['"'])
                        .filter(|u| u.contains("/t/o/") || u.contains("/t/c/"))
                        .map(|u| u.replace("https://nudge.example", &app.address))
                        .collect();
                    if let Some(url) = urls.get(rng.random_range(0..urls.len().max(1))) {
                        let agent = agents[rng.random_range(0..agents.len())];
                        for _ in 0..rng.random_range(1..=2) {
                            hit(url, agent).await;
                        }
                    }
                }
            }
            6 => {
                let list = deliveries(&app).await;
                if let Some(d) = list.iter().find(|d| d["status"] == "SENT") {
                    let html = d["bodyHtml"].as_str().unwrap_or_default();
                    if let Some(url) = html.split('"').find(|u| u.contains("/u/")) {
                        let url = url.replace("https://nudge.example", &app.address);
                        app.client
                            .post(&url)
                            .header("Content-Type", "application/x-www-form-urlencoded")
                            .body("List-Unsubscribe=One-Click")
                            .send()
                            .await
                            .expect("one-click");
                    }
                }
            }
            7 => {
                events += 1;
                let id = format!("o{events}");
                let at = nudge::clock::Clock::now(&app.clock).to_rfc3339();
                let cents = rng.random_range(100..10_000);
                let total = format!("{}.{:02}", cents / 100, cents % 100);
                let payload = json!({ "orderPlaced": { "orderExternalId": id, "total": total,
                    "currency": "USD", "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": total }] } });
                app.record(&storefront, json!([ev(&id, &customer, &at, payload)]))
                    .await;
                app.processed(&id).await;
                orders.push((id, customer));
            }
            8 => {
                if let Some((order, owner)) = orders.get(rng.random_range(0..orders.len().max(1))) {
                    events += 1;
                    let id = format!("s{events}");
                    let status = if rng.random_bool(0.5) {
                        "REFUNDED"
                    } else {
                        "CANCELLED"
                    };
                    let at = nudge::clock::Clock::now(&app.clock).to_rfc3339();
                    let payload = json!({ "orderStatusChanged": { "orderExternalId": order, "status": status } });
                    app.record(&storefront, json!([ev(&id, owner, &at, payload)]))
                        .await;
                    app.processed(&id).await;
                }
            }
            _ => {
                // A fold that crashes half-way changes nothing; a whole one moves facts.
                let txn = nudge::db::begin_write(&db).await.expect("begun");
                txn.execute_unprepared("DELETE FROM stat_facts")
                    .await
                    .expect("deleted");
                txn.execute_unprepared("UPDATE stat_days SET value = value + 1000")
                    .await
                    .expect("updated");
                txn.rollback().await.expect("rolled back");
                fold::fold_once(&db, chrono_tz::UTC).await.expect("folded");
            }
        }
        app.clock
            .advance(chrono::Duration::minutes(rng.random_range(1..600)));
    }
    // Retries still waiting for their backoff come due.
    app.clock.advance(chrono::Duration::hours(2));
    wait_until(&app, |l| {
        l.iter()
            .all(|d| d["status"] != "QUEUED" && d["status"] != "SENDING")
    })
    .await;

    // Assert: exact with facts not folded yet, and exact once all are folded.
    let raw = raw_figures(&db).await;
    assert!(raw.iter().any(|(f, v)| *f == "sent" && *v > 5), "{raw:?}");
    let retried = "SELECT COUNT(*) FROM deliveries WHERE attempts > 1 AND status = 'sent'";
    assert!(
        count(&db, retried).await > 0,
        "a message was sent on a second try"
    );
    assert!(
        raw.iter().any(|(f, v)| *f == "bounced" && *v > 0),
        "{raw:?}"
    );
    assert_eq!(read_figures(&app).await, raw, "before folding");
    fold::fold_all(&db, chrono_tz::UTC).await.expect("folded");
    fold::vacuum(&db).await.expect("the fact queue is vacuumed");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM stat_facts").await, 0);
    assert_eq!(read_figures(&app).await, raw, "after folding");

    // Forgetting every message's texts changes no figure.
    let later = nudge::clock::to_millis(nudge::clock::Clock::now(&app.clock)) + 1;
    let purged = nudge::domain::deliveries::retention::purge_texts(&db, later)
        .await
        .expect("purged");
    assert!(purged > 5, "{purged}");
    let kept =
        "SELECT COUNT(*) FROM deliveries WHERE rendered_html IS NOT NULL OR body_html IS NOT NULL";
    assert_eq!(count(&db, kept).await, 0);
    assert_eq!(read_figures(&app).await, raw, "after the purge");
}

#[tokio::test]
async fn a_read_adds_the_facts_not_folded_yet_to_the_folded_sums_in_every_scope() {
    use crate::helpers::{TestDatabase, test_settings, test_start};
    use nudge::clock::{ManualClock, SharedClock};
    use nudge::domain::stats::read::{Basis, Range, tallies};
    use nudge::domain::stats::{Dims, Fact, Metric, Scope, note};
    use std::sync::Arc;

    // Arrange: no server runs, so nothing folds behind the test's back.
    let database = TestDatabase::create().await;
    let settings = test_settings(&database.url);
    let clock: SharedClock = Arc::new(ManualClock::new(test_start()));
    nudge::startup::prepare_database(&settings, &clock, nudge::startup::Bootstrap::MigrateOnly)
        .await
        .expect("migrated");
    let db = nudge::db::connect(&database.url, 2)
        .await
        .expect("connected");
    let at = nudge::clock::to_millis(test_start());
    let dims = Dims {
        channel: Some("email".into()),
        campaign_id: Some(4),
        step_id: Some("a".into()),
        ..Default::default()
    };
    let other = Dims {
        campaign_id: Some(5),
        ..dims.clone()
    };
    let sent = |dims: &Dims| Fact::one(Metric::Sent, dims.clone(), at, at);
    note(&db, vec![sent(&dims), sent(&dims), sent(&other)])
        .await
        .expect("noted");
    fold::fold_all(&db, chrono_tz::UTC).await.expect("folded");
    note(&db, vec![sent(&dims), sent(&other)])
        .await
        .expect("noted");
    let day = test_start().date_naive();
    let range = Range::new(day, day, &["from"]).expect("range");
    let scopes = [
        Scope::Shop,
        Scope::Channel("email".into()),
        Scope::Campaign(4),
        Scope::Step(4, "a".into()),
        Scope::Campaign(6),
    ];
    let sums = |t: &nudge::domain::stats::read::Tally| t.totals().values().sum::<i64>();

    // Act: the first scopes read per day, the others whole.
    let (daily, whole) = scopes.split_at(2);
    let before = tallies(&db, daily, whole, range, Basis::Activity, chrono_tz::UTC)
        .await
        .expect("read");
    fold::fold_all(&db, chrono_tz::UTC).await.expect("folded");
    let after = tallies(&db, daily, whole, range, Basis::Activity, chrono_tz::UTC)
        .await
        .expect("read");

    // Assert
    let expected = [5, 5, 3, 3, 0];
    for (scope, want) in scopes.iter().zip(expected) {
        assert_eq!(sums(&before[scope]), want, "{scope:?} before folding");
        assert_eq!(sums(&after[scope]), want, "{scope:?} after folding");
    }
    assert!(after[&Scope::Shop].whole.is_empty() && !after[&Scope::Shop].days.is_empty());
    let step = &after[&Scope::Step(4, "a".into())];
    assert!(step.days.is_empty() && !step.whole.is_empty());
}
