use crate::helpers::{spawn_app, user_errors};
use serde_json::{Value, json};

const UPSERT_PRODUCTS: &str = "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { products { id externalId name sku price { amount currency } categoryIds manufacturer vendor replenishmentDays } userErrors { field code } } }";
const UPSERT_ORDERS: &str = "mutation($o: [OrderInput!]!) { upsertOrders(orders: $o) { orders { id externalId status total { amount currency } plannedDeliveryAt lines { product { externalId } quantity unitPrice { amount } } } userErrors { field code } } }";

fn pair(f: &str, c: &str) -> (String, String) {
    (f.to_owned(), c.to_owned())
}

#[tokio::test]
async fn upserting_products_inserts_then_replaces_by_external_id() {
    let app = spawn_app().await;
    let first = json!([
        { "externalId": "p2", "name": "Gluten-free bread", "price": "4.5", "currency": "eur", "categoryIds": ["bakery", "gluten-free"], "replenishmentDays": 7 },
        { "externalId": "p1", "name": "Yen thing", "price": "1500", "currency": "JPY" }
    ]);

    let inserted = app.admin_data(UPSERT_PRODUCTS, json!({ "p": first })).await;
    let replaced = app
        .admin_data(
            UPSERT_PRODUCTS,
            json!({ "p": [{ "externalId": "p2", "name": "Bread", "sku": "B-1", "price": "5.00", "currency": "EUR", "manufacturer": "Mill", "vendor": "Baker" }] }),
        )
        .await;
    let read = app
        .admin_data("{ product(externalId: \"p2\") { id name categoryIds replenishmentDays } products(first: 10) { edges { node { externalId } } } }", json!({}))
        .await;

    let products = &inserted["upsertProducts"]["products"];
    assert_eq!(products[0]["externalId"], "p2", "input order is kept");
    assert_eq!(
        products[0]["price"],
        json!({ "amount": "4.50", "currency": "EUR" })
    );
    assert_eq!(products[0]["categoryIds"], json!(["bakery", "gluten-free"]));
    assert_eq!(
        products[1]["price"],
        json!({ "amount": "1500", "currency": "JPY" })
    );
    let updated = &replaced["upsertProducts"]["products"][0];
    assert_eq!(updated["id"], products[0]["id"], "the same row is updated");
    assert_eq!(updated["sku"], "B-1");
    assert_eq!(
        read["product"]["categoryIds"],
        json!([]),
        "an upsert replaces every field"
    );
    assert_eq!(read["product"]["replenishmentDays"], Value::Null);
    assert_eq!(
        read["products"]["edges"].as_array().expect("edges").len(),
        2
    );
}

#[tokio::test]
async fn a_product_batch_with_one_bad_item_writes_nothing() {
    let app = spawn_app().await;

    let data = app
        .admin_data(
            UPSERT_PRODUCTS,
            json!({ "p": [
                { "externalId": "ok", "name": "Fine", "price": "1.00", "currency": "USD" },
                { "externalId": "bad", "name": "", "price": "1.001", "currency": "dollars", "replenishmentDays": 0, "categoryIds": ["a", " "] },
                { "externalId": "ok", "name": "Twice", "price": "-1", "currency": "USD" }
            ] }),
        )
        .await;
    let read = app
        .admin_data("{ products(first: 10) { edges { cursor } } }", json!({}))
        .await;

    assert_eq!(
        user_errors(&data["upsertProducts"]),
        vec![
            pair("products.1.name", "BLANK"),
            pair("products.1.currency", "INVALID"),
            pair("products.1.categoryIds.1", "BLANK"),
            pair("products.1.replenishmentDays", "OUT_OF_RANGE"),
            pair("products.2.price", "OUT_OF_RANGE"),
        ]
    );
    assert_eq!(read["products"]["edges"], json!([]));
}

#[tokio::test]
async fn too_many_decimals_for_the_currency_is_refused() {
    let app = spawn_app().await;

    let data = app
        .admin_data(
            UPSERT_PRODUCTS,
            json!({ "p": [{ "externalId": "p", "name": "P", "price": "1.001", "currency": "USD" }] }),
        )
        .await;

    assert_eq!(
        user_errors(&data["upsertProducts"]),
        vec![pair("products.0.price", "INVALID")]
    );
}

fn order(
    external_id: &str,
    customer: &str,
    status: &str,
    total: &str,
    currency: &str,
    placed_at: &str,
) -> Value {
    json!({
        "externalId": external_id, "customerExternalId": customer, "status": status,
        "total": total, "currency": currency, "placedAt": placed_at, "paymentMethod": "card",
        "lines": [{ "productExternalId": "p1", "quantity": 2, "unitPrice": "10.00" }]
    })
}

#[tokio::test]
async fn upserting_orders_keeps_the_customers_order_facts_current() {
    // Arrange
    let app = spawn_app().await;
    app.create_products(&["p1"]).await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let facts = "query($c: ID!) { customer(id: $c) { ordersCount totalSpent { amount } lastOrderAt orders { externalId } } }";

    // Act
    let placed = app
        .admin_data(
            UPSERT_ORDERS,
            json!({ "o": [
                order("o1", "c1", "PAID", "20.00", "USD", "2026-10-01T10:00:00Z"),
                order("o2", "c1", "PLACED", "35.50", "USD", "2026-11-01T10:00:00Z"),
                order("o3", "c1", "DELIVERED", "99.00", "EUR", "2026-09-01T10:00:00Z"),
            ] }),
        )
        .await;
    let before_cancel = app.admin_data(facts, json!({ "c": customer })).await;
    let mut cancelled = order(
        "o2",
        "c1",
        "CANCELLED",
        "35.50",
        "USD",
        "2026-11-01T10:00:00Z",
    );
    cancelled["cancelledAt"] = json!("2026-11-02T10:00:00Z");
    app.admin_data(UPSERT_ORDERS, json!({ "o": [cancelled] }))
        .await;
    let after_cancel = app.admin_data(facts, json!({ "c": customer })).await;

    // Assert
    let orders = &placed["upsertOrders"]["orders"];
    assert_eq!(
        orders[0]["lines"],
        json!([{ "product": { "externalId": "p1" }, "quantity": 2, "unitPrice": { "amount": "10.00" } }])
    );
    assert_eq!(
        orders[2]["total"],
        json!({ "amount": "99.00", "currency": "EUR" })
    );
    let c = &before_cancel["customer"];
    assert_eq!(c["ordersCount"], 3);
    assert_eq!(
        c["totalSpent"]["amount"], "55.50",
        "only orders in the store currency add up"
    );
    assert_eq!(c["lastOrderAt"], "2026-11-01T10:00:00+00:00");
    assert_eq!(
        c["orders"],
        json!([{ "externalId": "o2" }, { "externalId": "o1" }, { "externalId": "o3" }])
    );
    let c = &after_cancel["customer"];
    assert_eq!(c["ordersCount"], 2, "a cancelled order does not count");
    assert_eq!(c["totalSpent"]["amount"], "20.00");
    assert_eq!(c["lastOrderAt"], "2026-10-01T10:00:00+00:00");
}

#[tokio::test]
async fn orders_for_unknown_customers_or_products_are_refused_whole() {
    let app = spawn_app().await;
    app.create_products(&["p1"]).await;
    app.create_customer(json!({ "externalId": "c1" })).await;
    let mut bad_line = order("o2", "c1", "PLACED", "1.00", "USD", "2026-11-01T10:00:00Z");
    bad_line["lines"] = json!([
        { "productExternalId": "ghost", "quantity": 1, "unitPrice": "1.00" },
        { "productExternalId": "p1", "quantity": 0, "unitPrice": "1.00" }
    ]);
    let mut early_payment = order("o3", "c1", "PAID", "1.00", "USD", "2026-11-01T10:00:00Z");
    early_payment["paidAt"] = json!("2026-10-01T10:00:00Z");

    let data = app
        .admin_data(
            UPSERT_ORDERS,
            json!({ "o": [order("o1", "nobody", "PLACED", "1.00", "USD", "2026-11-01T10:00:00Z"), bad_line, early_payment] }),
        )
        .await;
    let read = app
        .admin_data("{ order(externalId: \"o3\") { id } }", json!({}))
        .await;

    assert_eq!(
        user_errors(&data["upsertOrders"]),
        vec![
            pair("orders.0.customerExternalId", "NOT_FOUND"),
            pair("orders.1.lines.0.productExternalId", "NOT_FOUND"),
            pair("orders.1.lines.1.quantity", "OUT_OF_RANGE"),
            pair("orders.2.paidAt", "OUT_OF_RANGE"),
        ]
    );
    assert_eq!(read["order"], Value::Null);
}
