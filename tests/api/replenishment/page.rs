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

#[tokio::test]
async fn the_page_speaks_the_customers_language_and_shows_product_pictures() {
    // Arrange: Ann reads German; the coffee has a picture; a product with a script for a
    // picture is refused.
    let app = spawn_app_with(|s| s.delivery.public_url = "https://nudge.example".into()).await;
    let (_, path) = page_of(&app).await;
    let ann = app
        .admin_data("{ customer(externalId: \"ann\") { id } }", json!({}))
        .await["customer"]["id"]
        .clone();
    let updated = app
        .admin_data(
            "mutation($id: ID!) { updateCustomer(id: $id, input: { locale: \"de-AT\" }) { userErrors { field } } }",
            json!({ "id": ann }),
        )
        .await;
    assert_eq!(updated["updateCustomer"]["userErrors"], json!([]));
    let products = "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { products { imageUrl } userErrors { field code } } }";
    let coffee = json!({ "externalId": "coffee", "name": "Kaffee 1 kg", "price": "20.00", "currency": "USD",
        "replenishmentDays": 10, "imageUrl": "https://cdn.shop.example/coffee.jpg?w=96&h=96" });
    let saved = app.admin_data(products, json!({ "p": [coffee] })).await;
    assert_eq!(
        saved["upsertProducts"]["products"][0]["imageUrl"],
        "https://cdn.shop.example/coffee.jpg?w=96&h=96"
    );
    let hostile = json!({ "externalId": "x", "name": "X", "price": "1.00", "currency": "USD",
        "imageUrl": "javascript:alert(1)" });
    let refused = app.admin_data(products, json!({ "p": [hostile] })).await;

    // Act
    let page = client()
        .get(format!("{}{path}", app.address))
        .header("Accept-Language", "fr")
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let invalid = client()
        .get(format!("{}/r/not-a-token", app.address))
        .header("Accept-Language", "fr-CH, en;q=0.5")
        .send()
        .await
        .expect("page");

    // Assert: German words (the customer's locale beats the browser's), the picture with
    // its address escaped; the refused picture named at its path; an invalid link's page in
    // the browser's language.
    assert!(page.contains("<html lang=\"de\">"), "{page}");
    assert!(
        page.contains("value=\"confirm\">Bestätigen</button>"),
        "{page}"
    );
    assert!(page.contains(">In 14 Tagen erinnern</button>"), "{page}");
    assert!(page.contains("Menge von Kaffee 1 kg"), "{page}");
    assert!(
        page.contains(
            "<img src=\"https:&#x2f;&#x2f;cdn.shop.example&#x2f;coffee.jpg?w=96&amp;h=96\" alt=\"\""
        ),
        "{page}"
    );
    assert_eq!(
        crate::helpers::user_errors(&refused["upsertProducts"]),
        vec![("products.0.imageUrl".to_owned(), "INVALID".to_owned())]
    );
    assert_eq!(invalid.status(), 404);
    let invalid = invalid.text().await.expect("html");
    assert!(invalid.contains("Ce lien n'est pas valide"), "{invalid}");
}
