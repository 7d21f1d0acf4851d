use super::*;
use crate::helpers::spawn_app_with;

/// Ann's cart (see `decide::ann_with_a_cart`) and its page's path.
async fn page_of(app: &TestApp) -> (String, String) {
    let cart = super::decide::ann_with_a_cart(app).await;
    let data = app
        .admin_data(
            "{ predictedCart(customerExternalId: \"ann\") { link } }",
            json!({}),
        )
        .await;
    let link = data["predictedCart"]["link"]
        .as_str()
        .expect("a link")
        .to_owned();
    let path = link
        .strip_prefix("https://nudge.example")
        .expect("under the public URL")
        .to_owned();
    (cart, path)
}

/// A person's browser.
const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(BROWSER)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_page_shows_the_lines_and_three_choices_and_a_decision_is_taken_once() {
    // Arrange
    let app = spawn_app_with(|s| s.delivery.public_url = "https://nudge.example".into()).await;
    let (_, path) = page_of(&app).await;
    let url = format!("{}{path}", app.address);

    // Act: a mail scanner follows the link first; then the customer opens it.
    let scanner = reqwest::Client::builder()
        .user_agent("Mozilla/5.0 (compatible; Barracuda Sentinel link scanner)")
        .build()
        .expect("client");
    assert_eq!(scanner.get(&url).send().await.expect("scan").status(), 200);
    let unseen = app
        .admin_data(
            "{ predictedCart(customerExternalId: \"ann\") { viewedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(unseen["predictedCart"]["viewedAt"], Value::Null);
    let page = client().get(&url).send().await.expect("page");

    // Assert: the lines, a quantity field with its label, and the three choices.
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.expect("html");
    assert!(html.contains("<meta name=\"viewport\""), "{html}");
    assert!(html.contains("Coffee 1 kg"), "{html}");
    assert!(
        html.contains("name=\"q1\" min=\"0\" max=\"999\" value=\"2\""),
        "{html}"
    );
    assert!(html.contains("<label for=\"q1\""), "{html}");
    assert!(html.contains("40.00 USD"), "{html}");
    assert!(
        html.contains("value=\"confirm\">Confirm</button>"),
        "{html}"
    );
    assert!(
        html.contains("value=\"postpone-14\">Remind me in 14 days</button>"),
        "{html}"
    );
    assert!(
        html.contains("value=\"decline\">I have enough</button>"),
        "{html}"
    );
    let viewed = app
        .admin_data(
            "{ predictedCart(customerExternalId: \"ann\") { viewedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        viewed["predictedCart"]["viewedAt"],
        "2026-12-07T10:00:00+00:00"
    );

    // Act: confirm 1 kg; then the same button again.
    let confirm = [("action", "confirm"), ("q1", "1")];
    let first = client()
        .post(&url)
        .form(&confirm)
        .send()
        .await
        .expect("post");
    let second = client()
        .post(&url)
        .form(&[("action", "decline")])
        .send()
        .await
        .expect("post");

    // Assert: the page now says what was decided, and the second click changed nothing.
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], path.as_str());
    assert_eq!(second.status(), 303);
    let after = client()
        .get(&url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(after.contains("Your order is confirmed"), "{after}");
    assert!(!after.contains("<button"), "{after}");
    let order = app
        .admin_data(
            "{ customer(externalId: \"ann\") { orders(first: 5) { status lines { quantity } } } }",
            json!({}),
        )
        .await;
    let requested: Vec<&Value> = order["customer"]["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter(|o| o["status"] == "REQUESTED")
        .collect();
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["lines"], json!([{ "quantity": 1 }]));
}

#[tokio::test]
async fn a_tampered_or_expired_link_is_refused() {
    // Arrange
    let app = spawn_app_with(|s| s.delivery.public_url = "https://nudge.example".into()).await;
    let (_, path) = page_of(&app).await;
    let token = path.trim_start_matches("/r/");
    let (payload, tag) = token.split_once('.').expect("a token");
    let mut forged_tag = tag.to_owned();
    let last = forged_tag.pop().expect("a tag");
    forged_tag.push(if last == 'A' { 'B' } else { 'A' });

    // Act / Assert
    let tampered = client()
        .get(format!("{}/r/{payload}.{forged_tag}", app.address))
        .send()
        .await
        .expect("page");
    assert_eq!(tampered.status(), 404);
    let posted = client()
        .post(format!("{}/r/{payload}.{forged_tag}", app.address))
        .form(&[("action", "decline")])
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 404);
    // 30 days after the collection the link no longer works.
    app.clock
        .set("2027-01-06T09:00:00Z".parse().expect("instant"));
    let expired = client()
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("page");
    assert_eq!(expired.status(), 404);
    let cart = app
        .admin_data(
            "{ predictedCart(customerExternalId: \"ann\") { status viewedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(cart["predictedCart"]["status"], "OPEN");
    assert_eq!(cart["predictedCart"]["viewedAt"], Value::Null);
}
