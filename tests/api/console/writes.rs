//! What an admin changes from the console, and who may not.

use super::{Seeded, client, form_token, page, seed, sign_in};
use crate::helpers::TestApp;
use serde_json::json;

async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
    origin: &str,
) -> reqwest::Response {
    client()
        .post(format!("{}{path}", app.address))
        .header("Cookie", cookie)
        .header("Origin", origin)
        .form(form)
        .send()
        .await
        .expect("posted")
}

async fn status(app: &TestApp, campaign: &str) -> String {
    app.admin_data(
        "query($id: ID!) { campaign(id: $id) { status } }",
        json!({ "id": campaign }),
    )
    .await["campaign"]["status"]
        .as_str()
        .expect("a status")
        .to_owned()
}

#[tokio::test]
async fn an_admin_pauses_and_activates_a_campaign_and_lifts_a_suppression_from_its_pages() {
    let (app, Seeded { campaign, .. }) = seed().await;
    let cookie = sign_in(&app, &app.admin_key).await;
    let path = format!("/console/campaigns/{campaign}");
    let (_, html, _) = page(&app, &cookie, &path).await;
    let form = form_token(&html);
    let action = format!("{path}/status");

    let forged = post(
        &app,
        &cookie,
        &action,
        &[("token", "guess"), ("status", "PAUSED")],
        &app.address,
    )
    .await;
    let elsewhere = post(
        &app,
        &cookie,
        &action,
        &[("token", &form), ("status", "PAUSED")],
        "https://evil.example",
    )
    .await;
    let still_active = status(&app, &campaign).await;
    let paused = post(
        &app,
        &cookie,
        &action,
        &[("token", &form), ("status", "PAUSED")],
        &app.address,
    )
    .await;
    let after_pause = status(&app, &campaign).await;
    let (_, paused_page, _) = page(&app, &cookie, &path).await;
    let draft = post(
        &app,
        &cookie,
        &action,
        &[("token", &form), ("status", "DRAFT")],
        &app.address,
    )
    .await;
    post(
        &app,
        &cookie,
        &action,
        &[("token", &form), ("status", "ACTIVE")],
        &app.address,
    )
    .await;
    let after_activation = status(&app, &campaign).await;

    let (_, list, _) = page(&app, &cookie, "/console/suppressions").await;
    let suppression = list
        .split("data-suppression=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a suppression")
        .to_owned();
    let lifted = post(
        &app,
        &cookie,
        &format!("/console/suppressions/{suppression}/remove"),
        &[("token", &form)],
        &app.address,
    )
    .await;
    let left = app
        .admin_data("{ suppressions(first: 10) { nodes { id } } }", json!({}))
        .await;

    assert!(html.contains("Pause the campaign"));
    assert_eq!(forged.status(), 403);
    assert_eq!(elsewhere.status(), 403);
    assert_eq!(still_active, "ACTIVE", "nothing changed by a refused post");
    assert_eq!(paused.status(), 303);
    assert_eq!(paused.headers()["location"], path.as_str());
    assert_eq!(after_pause, "PAUSED");
    assert!(paused_page.contains("Activate the campaign"));
    assert_eq!(draft.status(), 400);
    assert_eq!(after_activation, "ACTIVE");
    assert_eq!(lifted.status(), 303);
    assert_eq!(lifted.headers()["location"], "/console/suppressions");
    assert_eq!(left["suppressions"]["nodes"], json!([]));
}

#[tokio::test]
async fn an_integrator_sees_no_buttons_and_its_posts_are_refused_as_the_api_refuses_them() {
    let (app, Seeded { campaign, .. }) = seed().await;
    let integrator = app.create_key("INTEGRATOR").await;
    let cookie = sign_in(&app, &integrator).await;
    let path = format!("/console/campaigns/{campaign}");
    let (status_code, html, _) = page(&app, &cookie, &path).await;

    let refused = post(
        &app,
        &cookie,
        &format!("{path}/status"),
        &[("token", &form_token(&html)), ("status", "PAUSED")],
        &app.address,
    )
    .await;
    let code = refused.status();
    let body = refused.text().await.expect("a page");

    assert_eq!(status_code, 200);
    assert!(!html.contains("Pause the campaign"), "read-only");
    assert_eq!(code, 403);
    assert!(
        body.contains("key may not use this field"),
        "the API's refusal"
    );
    assert_eq!(status(&app, &campaign).await, "ACTIVE");
}
