//! Replenishment: due dates from orders — quantities, the learned pace, moves on new and
//! cancelled orders, and the basis (delivered or placed).

mod campaign;
mod collect;
mod decide;
mod due;
mod page;

use crate::helpers::TestApp;
use serde_json::{Value, json};

pub(crate) const UPSERT_ORDERS: &str = "mutation($o: [OrderInput!]!) { upsertOrders(orders: $o) { orders { id } userErrors { field code message } } }";

/// Products `coffee` (a unit lasts 10 days), `filters` (30 days) and `mug` (none).
pub(crate) async fn catalog(app: &TestApp) {
    let products = json!([
        { "externalId": "coffee", "name": "Coffee 1 kg", "price": "20.00", "currency": "USD", "replenishmentDays": 10 },
        { "externalId": "filters", "name": "Filters", "price": "4.00", "currency": "USD", "replenishmentDays": 30 },
        { "externalId": "mug", "name": "Mug", "price": "8.00", "currency": "USD" }
    ]);
    let data = app
        .admin_data(
            "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
            json!({ "p": products }),
        )
        .await;
    assert_eq!(data["upsertProducts"]["userErrors"], json!([]));
}

/// An order of `lines` ((product, quantity)) by `customer`, placed at `placed`, with `status`.
pub(crate) fn order(
    id: &str,
    customer: &str,
    status: &str,
    placed: &str,
    lines: &[(&str, i32)],
) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(product, quantity)| json!({ "productExternalId": product, "quantity": quantity, "unitPrice": "1.00" }))
        .collect();
    let mut order = json!({
        "externalId": id, "customerExternalId": customer, "status": status,
        "total": "1.00", "currency": "USD", "placedAt": placed, "lines": lines
    });
    if status == "DELIVERED" {
        order["deliveredAt"] = json!(placed);
    }
    order
}

pub(crate) async fn upsert(app: &TestApp, orders: Value) {
    let data = app.admin_data(UPSERT_ORDERS, json!({ "o": orders })).await;
    assert_eq!(data["upsertOrders"]["userErrors"], json!([]), "{data}");
}

/// The customer's due items: product external id → the item.
pub(crate) async fn items(app: &TestApp, customer: &str) -> Vec<Value> {
    let data = app
        .admin_data(
            "query($e: String!) { customer(externalId: $e) { replenishment { product { externalId } quantity daysPerUnit learned lastOrderedAt dueAt postponedUntil status } } }",
            json!({ "e": customer }),
        )
        .await;
    data["customer"]["replenishment"]
        .as_array()
        .expect("items")
        .clone()
}
