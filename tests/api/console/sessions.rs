//! Signing in and out of the console.

use super::{client, form_token, page, session_cookie, sign_in, sign_in_response};
use crate::helpers::{WsClient, spawn_app};
use serde_json::json;

#[tokio::test]
async fn a_key_is_exchanged_for_a_short_lived_http_only_cookie_and_signing_out_ends_it() {
    let app = spawn_app().await;

    let response = sign_in_response(&app, &app.admin_key, Some(&app.address)).await;
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned();
    let cookie = session_cookie(&response).expect("the session");
    let (status, html, headers) = page(&app, &cookie, "/console").await;
    let sign_out = |token: String, origin: Option<String>| {
        let mut request = client()
            .post(format!("{}/console/sign-out", app.address))
            .header("Cookie", &cookie)
            .form(&[("token", token)]);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        async move { request.send().await.expect("posted") }
    };
    let forged = sign_out("not-the-token".into(), None).await;
    let out = sign_out(form_token(&html), Some(app.address.clone())).await;
    let removal = out.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_owned();
    let (after, _, after_headers) = page(&app, &cookie, "/console").await;

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/console");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    assert!(
        !set_cookie.contains(&app.admin_key),
        "the key is not the cookie"
    );
    assert_eq!(status, 200);
    assert!(html.contains("bootstrap"), "the key's name is shown");
    assert!(!html.contains(&app.admin_key), "the key is never on a page");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(forged.status(), 403, "a sign-out without the page's token");
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/console/sign-in");
    assert!(removal.starts_with("nudge_console=;"), "{removal}");
    assert_eq!(after, 303, "the ended session is sent to sign in");
    assert_eq!(after_headers["location"], "/console/sign-in");
}

#[tokio::test]
async fn only_admin_and_integrator_keys_sign_in_and_nothing_opens_without_a_session() {
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;

    let as_storefront = sign_in_response(&app, &storefront, None).await;
    let wrong = sign_in_response(&app, "nk_adm_not-a-key", None).await;
    let empty = sign_in_response(&app, "  ", None).await;
    let (no_session, _, headers) = page(&app, "", "/console/campaigns/1").await;
    let (bogus, _, bogus_headers) = page(&app, "nudge_console=forged", "/console/outbox").await;
    let (form, form_html, _) = page(&app, "", "/console/sign-in").await;

    assert_eq!(as_storefront.status(), 403);
    assert!(session_cookie(&as_storefront).is_none());
    assert!(
        as_storefront
            .text()
            .await
            .expect("text")
            .contains("storefront key cannot sign in")
    );
    assert_eq!(wrong.status(), 401);
    assert!(session_cookie(&wrong).is_none());
    assert_eq!(empty.status(), 400);
    assert_eq!(no_session, 303);
    assert_eq!(headers["location"], "/console/sign-in");
    assert_eq!(bogus, 303);
    assert!(
        bogus_headers["set-cookie"]
            .to_str()
            .expect("text")
            .starts_with("nudge_console=;"),
        "a dead cookie is removed"
    );
    assert_eq!(form, 200);
    assert!(form_html.contains("type=\"password\""));
    assert!(form_html.contains("method=\"post\""));
}

#[tokio::test]
async fn a_sign_in_posted_from_another_site_is_refused() {
    let app = spawn_app().await;

    let from_elsewhere = sign_in_response(&app, &app.admin_key, Some("https://evil.example")).await;
    let cross_site = client()
        .post(format!("{}/console/sign-in", app.address))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("key", app.admin_key.as_str())])
        .send()
        .await
        .expect("posted");

    assert_eq!(from_elsewhere.status(), 403);
    assert!(session_cookie(&from_elsewhere).is_none());
    assert_eq!(cross_site.status(), 403);
    assert!(session_cookie(&cross_site).is_none());
}

#[tokio::test]
async fn a_session_ends_with_its_lifetime_and_with_its_key() {
    let app = spawn_app().await;
    let integrator = app.create_key("INTEGRATOR").await;
    let kept = sign_in(&app, &app.admin_key).await;
    let revoked = sign_in(&app, &integrator).await;
    let key_id = app
        .graphql(Some(&integrator), "{ viewer { keyId } }", json!({}))
        .await["data"]["viewer"]["keyId"]
        .clone();

    app.admin_data(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }",
        json!({ "id": key_id }),
    )
    .await;
    let after_revocation = page(&app, &revoked, "/console").await.0;
    let before_expiry = {
        app.clock.advance(chrono::Duration::minutes(479));
        page(&app, &kept, "/console").await.0
    };
    app.clock.advance(chrono::Duration::minutes(2));
    let after_expiry = page(&app, &kept, "/console").await.0;

    assert_eq!(after_revocation, 303);
    assert_eq!(before_expiry, 200);
    assert_eq!(after_expiry, 303);
}

#[tokio::test]
async fn an_integrator_reads_read_only_pages_and_is_refused_the_outbox() {
    let app = spawn_app().await;
    let integrator = app.create_key("INTEGRATOR").await;
    let cookie = sign_in(&app, &integrator).await;

    let (campaigns, html, _) = page(&app, &cookie, "/console").await;
    let (outbox, refused, _) = page(&app, &cookie, "/console/outbox").await;
    let (suppressions, _, _) = page(&app, &cookie, "/console/suppressions").await;
    let (health, _, _) = page(&app, &cookie, "/console/health").await;

    assert_eq!(campaigns, 200);
    assert!(html.contains("integrator, read-only"));
    assert!(
        html.contains("No campaigns yet"),
        "an empty state says what to do"
    );
    assert_eq!(outbox, 403);
    assert!(refused.contains("Sign in with an admin key"));
    assert!(
        refused.contains("key may not use this field"),
        "the API's own refusal"
    );
    assert_eq!(suppressions, 403);
    assert_eq!(health, 200);
}

#[tokio::test]
async fn the_live_socket_takes_the_session_cookie_from_this_origin_only_and_closes_on_sign_out() {
    let app = spawn_app().await;
    let cookie = sign_in(&app, &app.admin_key).await;
    let tag = app.create_tag("vip").await;
    let customer = app.create_customer(json!({ "externalId": "ann" })).await;

    let mut from_elsewhere = WsClient::open_with_headers(
        &app,
        json!({}),
        &[
            ("Cookie", cookie.clone()),
            ("Origin", "https://evil.example".into()),
        ],
    )
    .await;
    let refused = from_elsewhere.next_frame_or_end().await;
    let mut socket = WsClient::open_with_headers(
        &app,
        json!({}),
        &[("Cookie", cookie.clone()), ("Origin", app.address.clone())],
    )
    .await;
    let ack = socket.next_json().await;
    socket
        .subscribe(
            "live",
            "subscription { membershipChanges(after: \"0\") { customerExternalId kind tagId } }",
            json!({}),
        )
        .await;
    app.admin_data(
        "mutation($c: ID!, $t: ID!) { setCustomerTag(customerId: $c, tagId: $t) { userErrors { message } } }",
        json!({ "c": customer, "t": tag }),
    )
    .await;
    let change = socket.next_data().await;
    let (_, html, _) = page(&app, &cookie, "/console/live").await;
    let token = form_token(&html);
    let out = client()
        .post(format!("{}/console/sign-out", app.address))
        .header("Cookie", &cookie)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("signed out");
    assert_eq!(out.status(), 303);
    // The heartbeat (every 5 s) finds the session ended and closes the socket.
    let closed = loop {
        match socket.next_frame_or_end().await {
            Some(tokio_tungstenite::tungstenite::Message::Close(frame)) => break frame,
            Some(_) => continue,
            None => break None,
        }
    };

    assert!(
        !matches!(&refused, Some(tokio_tungstenite::tungstenite::Message::Text(t)) if t.contains("connection_ack")),
        "another site's page may not use the cookie: {refused:?}"
    );
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    assert_eq!(change["membershipChanges"]["customerExternalId"], "ann");
    assert_eq!(change["membershipChanges"]["kind"], "TAG_SET");
    let frame = closed.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4403);
    assert_eq!(frame.reason.as_str(), "the console session ended");
}
