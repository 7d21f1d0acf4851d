//! Every console page on seeded data: the numbers it shows are the API's, each figure links
//! to the list behind it, charts say their unit and time zone, and nothing comes from another
//! host.

use super::{Seeded, figure, figures, page, row, same_rate, seed, sign_in};
use crate::helpers::spawn_app;
use serde_json::json;

const TOTALS: &str = "entered active converted sent uniqueOpens uniqueClicks conversions openRate clickRate revenue { amount currency }";

#[tokio::test]
async fn the_campaign_pages_show_the_numbers_the_api_gives() {
    let (app, Seeded { campaign, .. }) = seed().await;
    let cookie = sign_in(&app, &app.admin_key).await;
    let api = app
        .admin_data(
            &format!("query($id: ID!) {{ campaign(id: $id) {{ stats {{ totals {{ {TOTALS} }} steps {{ stepId totals {{ reached sent uniqueOpens converted }} }} links(first: 10) {{ nodes {{ url clicks }} }} }} }} list: campaigns {{ id stats {{ totals {{ {TOTALS} }} }} }} runs: campaignRuns(campaignId: $id) {{ id }} }}"),
            json!({ "id": campaign }),
        )
        .await;

    let (list_status, list, _) = page(&app, &cookie, "/console").await;
    let (status, html, _) = page(&app, &cookie, &format!("/console/campaigns/{campaign}")).await;
    let (_, week, _) = page(
        &app,
        &cookie,
        &format!("/console/campaigns/{campaign}?from=2026-11-22&to=2026-11-23"),
    )
    .await;
    let (bad_range, bad, _) = page(
        &app,
        &cookie,
        &format!("/console/campaigns/{campaign}?from=yesterday"),
    )
    .await;
    let (too_long, _, _) = page(
        &app,
        &cookie,
        &format!("/console/campaigns/{campaign}?from=2020-01-01&to=2026-11-23"),
    )
    .await;
    let (missing, _, _) = page(&app, &cookie, "/console/campaigns/999999").await;

    // The list: one row per campaign with the API's totals.
    assert_eq!(list_status, 200);
    let totals = &api["list"][0]["stats"]["totals"];
    assert!(totals["sent"].as_i64().expect("sent") >= 3, "{totals}");
    let line = row(&list, &format!("data-campaign=\"{campaign}\""));
    for name in ["entered", "active", "converted", "sent"] {
        assert_eq!(figure(line, name), totals[name].to_string(), "{name}");
    }
    assert!(same_rate(&totals["openRate"], &figure(line, "openRate")));
    assert!(same_rate(&totals["clickRate"], &figure(line, "clickRate")));
    assert_eq!(
        figure(line, "revenue"),
        totals["revenue"]["amount"].as_str().expect("amount")
    );
    assert!(line.contains(&format!(
        "href=\"/console/outbox?campaign={campaign}&amp;status=SENT\""
    )));
    assert!(line.contains("data-chart=\"sparkline\""));

    // The campaign: the cards, the funnel's steps, the links and the runs.
    assert_eq!(status, 200);
    let totals = &api["campaign"]["stats"]["totals"];
    for name in ["entered", "active", "converted", "sent", "conversions"] {
        assert_eq!(figure(&html, name), totals[name].to_string(), "{name}");
    }
    assert!(
        totals["conversions"].as_i64().expect("conversions") >= 1,
        "{totals}"
    );
    assert_eq!(
        figure(&html, "revenue"),
        totals["revenue"]["amount"].as_str().expect("amount")
    );
    for step in api["campaign"]["stats"]["steps"].as_array().expect("steps") {
        let id = step["stepId"].as_str().expect("id");
        let line = row(&html, &format!("data-step=\"{id}\""));
        assert_eq!(
            figure(line, "reached"),
            step["totals"]["reached"].to_string(),
            "{id}"
        );
        assert_eq!(
            figure(line, "converted"),
            step["totals"]["converted"].to_string(),
            "{id}"
        );
    }
    assert!(
        row(&html, "data-step=\"reminder\"").contains("depth-1"),
        "a branch is indented"
    );
    assert!(row(&html, "data-step=\"reminder\"").contains("opened: yes"));
    let link = &api["campaign"]["stats"]["links"]["nodes"][0];
    assert!(html.contains(link["url"].as_str().expect("url")));
    assert_eq!(figure(&html, "clicks"), link["clicks"].to_string());
    for run in api["runs"].as_array().expect("runs") {
        assert!(html.contains(&format!("data-run=\"{}\"", run["id"].as_str().expect("id"))));
    }
    assert!(html.contains("Log of run"));
    assert!(html.contains("id=\"activity\"") && html.contains("id=\"revenue\""));
    assert!(html.contains("days in UTC"), "charts say their time zone");
    assert!(
        html.contains("messages per day") && html.contains("USD per day"),
        "and their unit"
    );
    assert_eq!(
        html.matches("data-series=").count(),
        5,
        "four lines and the revenue bars"
    );
    assert!(week.contains("2026-11-22 to 2026-11-23"), "a chosen range");
    assert_eq!(bad_range, 200);
    assert!(
        bad.contains("is not a date"),
        "a bad date is named, the default shown"
    );
    assert_eq!(too_long, 400, "the API's own limit on ranges");
    assert_eq!(missing, 404);
}

#[tokio::test]
async fn actions_segments_outbox_suppressions_and_health_show_the_apis_numbers() {
    let (
        app,
        Seeded {
            action,
            segment,
            campaign,
            ..
        },
    ) = seed().await;
    let cookie = sign_in(&app, &app.admin_key).await;
    let api = app
        .admin_data(
            "query($a: ID!, $s: ID!, $c: ID!) {
               action: customerAction(id: $a) { stats { totals { fired sent } } }
               firings: actionFirings(actionId: $a) { id }
               segment(id: $s) { memberCount countHistory { date members } }
               sent: deliveries(first: 100, filter: { campaignId: $c, status: SENT }) { nodes { id attemptCount } }
               all: deliveries(first: 100) { nodes { id } }
               suppressions(first: 10) { nodes { address } }
               health { ready tasks { name restarts } }
               outbox { status channel count } }",
            json!({ "a": action, "s": segment, "c": campaign }),
        )
        .await;

    let (_, actions, _) = page(&app, &cookie, "/console/actions").await;
    let (_, one_action, _) = page(&app, &cookie, &format!("/console/actions/{action}")).await;
    let (_, segments, _) = page(&app, &cookie, "/console/segments").await;
    let (_, one_segment, _) = page(&app, &cookie, &format!("/console/segments/{segment}")).await;
    let (_, outbox, _) = page(&app, &cookie, "/console/outbox").await;
    let (_, filtered, _) = page(
        &app,
        &cookie,
        &format!("/console/outbox?campaign={campaign}&status=sent&channel=EMAIL"),
    )
    .await;
    let (_, nothing, _) = page(&app, &cookie, "/console/outbox?status=FAILED").await;
    let first = api["sent"]["nodes"][0]["id"].as_str().expect("a delivery");
    let (_, delivery, _) = page(&app, &cookie, &format!("/console/outbox/{first}")).await;
    let (_, suppressions, _) = page(&app, &cookie, "/console/suppressions").await;
    let (_, health, _) = page(&app, &cookie, "/console/health").await;

    let line = row(&actions, &format!("data-action=\"{action}\""));
    assert_eq!(
        figure(line, "fired"),
        api["action"]["stats"]["totals"]["fired"].to_string()
    );
    assert!(api["action"]["stats"]["totals"]["fired"].as_i64() >= Some(1));
    assert_eq!(
        figure(&one_action, "fired"),
        api["action"]["stats"]["totals"]["fired"].to_string()
    );
    assert!(one_action.contains("Firings per day") && one_action.contains("data-chart=\"bars\""));
    assert_eq!(
        one_action
            .matches("<td><a href=\"/console/outbox?customer=")
            .count(),
        api["firings"].as_array().expect("firings").len()
    );
    assert_eq!(
        figure(&segments, "memberCount"),
        api["segment"]["memberCount"].to_string()
    );
    assert_eq!(api["segment"]["memberCount"], 1);
    assert!(segments.contains("Members of Buyers at the end of each day"));
    assert_eq!(figure(&one_segment, "memberCount"), "1");
    assert!(
        one_segment.contains("<td>ann</td>"),
        "the members are listed"
    );
    let listed = |html: &str| html.matches("<tr data-delivery=").count();
    assert_eq!(
        listed(&outbox),
        api["all"]["nodes"].as_array().expect("all").len()
    );
    assert_eq!(
        listed(&filtered),
        api["sent"]["nodes"].as_array().expect("sent").len()
    );
    assert!(
        filtered.contains("<option value=\"SENT\" selected>"),
        "the filter is kept"
    );
    assert_eq!(listed(&nothing), 0);
    for count in api["outbox"].as_array().expect("counts") {
        let line = row(
            &outbox,
            &format!(
                "data-status=\"{}\"",
                count["status"].as_str().expect("status")
            ),
        );
        let channel = count["channel"].as_str().expect("channel").to_lowercase();
        assert_eq!(
            figure(line, &channel),
            count["count"].to_string(),
            "{count}"
        );
    }
    let sent_email = row(&outbox, "data-status=\"SENT\"");
    assert!(sent_email.contains("href=\"/console/outbox?status=SENT&amp;channel=EMAIL\""));
    assert_eq!(
        figure(sent_email, "email"),
        api["all"]["nodes"]
            .as_array()
            .map_or(0, Vec::len)
            .to_string(),
        "every seeded message went out by email"
    );
    assert!(
        nothing.contains("show every message"),
        "an empty filter says how to widen it"
    );
    assert!(delivery.contains("Attempts (1)"));
    assert!(delivery.contains("status-sent\">sent</span>"));
    assert!(
        delivery.contains("Thanks! https://shop.example/refill") || delivery.contains("Thanks!")
    );
    assert!(suppressions.contains("gone@example.com"));
    assert_eq!(figure(&health, "ready"), api["health"]["ready"].to_string());
    for task in api["health"]["tasks"].as_array().expect("tasks") {
        let name = task["name"].as_str().expect("name");
        assert_eq!(
            figure(row(&health, &format!("data-task=\"{name}\"")), "restarts"),
            task["restarts"].to_string()
        );
    }
}

#[tokio::test]
async fn every_page_is_sent_under_the_strict_policy_and_names_nothing_on_another_host() {
    let (
        app,
        Seeded {
            campaign,
            action,
            segment,
            ..
        },
    ) = seed().await;
    let cookie = sign_in(&app, &app.admin_key).await;
    // Names a person typed, made to break out of the page if they were not escaped.
    let hostile = "<img src=x onerror=alert(1)>\"'&";
    app.admin_data(
        "mutation($input: SegmentInput!) { createSegment(input: $input) { userErrors { message } } }",
        json!({ "input": { "name": hostile, "description": hostile, "condition": { "wholesale": false } } }),
    )
    .await;
    app.create_tag(hostile).await;
    let delivery = app
        .admin_data("{ deliveries(first: 1) { nodes { id } } }", json!({}))
        .await["deliveries"]["nodes"][0]["id"]
        .as_str()
        .expect("a delivery")
        .to_owned();
    let paths = [
        "/console".to_owned(),
        format!("/console/campaigns/{campaign}"),
        "/console/actions".into(),
        format!("/console/actions/{action}"),
        "/console/segments".into(),
        format!("/console/segments/{segment}"),
        "/console/outbox".into(),
        format!("/console/outbox/{delivery}"),
        "/console/suppressions".into(),
        "/console/live".into(),
        "/console/health".into(),
        "/console/sign-in".into(),
    ];

    for path in paths {
        // The sign-in page sends a signed-in visitor on; it is read signed out.
        let cookie = if path.ends_with("sign-in") {
            ""
        } else {
            cookie.as_str()
        };
        let (status, html, headers) = page(&app, cookie, &path).await;
        assert_eq!(status, 200, "{path}");
        let policy = headers["content-security-policy"].to_str().expect("text");
        assert!(
            policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-eval"));
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        for attribute in [" src=\"", " href=\"", " action=\""] {
            for target in html
                .split(attribute)
                .skip(1)
                .filter_map(|r| r.split('"').next())
            {
                assert!(
                    target.starts_with('/') && !target.starts_with("//")
                        || target.starts_with('#')
                        || target.starts_with('?'),
                    "{path} names {target}"
                );
            }
        }
        assert!(!html.contains("<script>"), "{path}: no inline script");
        assert!(!html.contains(" style=\""), "{path}: no inline style");
        for tag in html.split('<').skip(1).filter_map(|t| t.split('>').next()) {
            // The tag's attribute names, without their (quoted, escaped) values.
            let tag: String = tag.split('"').step_by(2).collect();
            for handler in [" onclick=", " onload=", " onerror=", " onsubmit="] {
                assert!(
                    !tag.contains(handler),
                    "{path}: an inline handler in <{tag}>"
                );
            }
        }
        assert!(!html.contains("<img src=x"), "{path}: names are escaped");
    }
    let (_, segments, _) = page(&app, &cookie, "/console/segments").await;
    assert!(
        segments.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"),
        "shown as typed"
    );
    let (_, live, _) = page(&app, &cookie, "/console/live").await;
    assert!(
        live.contains("&lt;img src=x onerror=alert(1)&gt;\\&quot;"),
        "the names the feed uses, escaped"
    );
    assert!(live.contains("<script src=\"/assets/console-live-1.js\" defer></script>"));
    let script = reqwest::get(format!("{}/assets/console-live-1.js", app.address))
        .await
        .expect("got");
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let script = script.text().await.expect("text");
    assert!(script.contains("graphql-transport-ws") && !script.contains("innerHTML"));
}

#[tokio::test]
async fn a_new_shop_sees_what_to_do_next_on_every_page() {
    let app = spawn_app().await;
    let cookie = sign_in(&app, &app.admin_key).await;

    for (path, hint) in [
        ("/console", "createCampaign"),
        ("/console/actions", "createCustomerAction"),
        ("/console/segments", "createSegment"),
        ("/console/outbox", "sendTestMessage"),
        ("/console/suppressions", "The list is empty"),
        ("/console/live", "Changes appear here"),
    ] {
        let (status, html, _) = page(&app, &cookie, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains(hint), "{path}: {hint}");
        // The outbox always counts its statuses (zeros included); nothing else has figures.
        assert_eq!(
            figures(&html).is_empty(),
            path != "/console/outbox",
            "{path}"
        );
    }
}
