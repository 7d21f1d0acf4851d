//! Checking one order input against what exists: its customer and products.

use super::OrderInput;
use super::{MAX_LINES, OrderStatus};
use crate::clock::to_millis;
use crate::domain::validate::Checker;
use crate::domain::values::{Currency, MAX_TEXT, optional_text, parse_amount, required_text};
use crate::error::{FieldViolation, ViolationCode};
use std::collections::HashMap;

pub(super) struct OrderRow {
    pub(super) external_id: String,
    pub(super) customer_id: i64,
    pub(super) status: OrderStatus,
    pub(super) payment_method: Option<String>,
    pub(super) total: i64,
    pub(super) currency: String,
    pub(super) placed_at: i64,
    pub(super) paid_at: Option<i64>,
    pub(super) planned_delivery_at: Option<i64>,
    pub(super) delivered_at: Option<i64>,
    pub(super) cancelled_at: Option<i64>,
    pub(super) lines: Vec<LineRow>,
}

pub(super) struct LineRow {
    pub(super) product_id: i64,
    pub(super) quantity: i32,
    pub(super) unit_price: i64,
}

pub(super) fn validate(
    input: OrderInput,
    customers: &HashMap<String, i64>,
    products: &HashMap<String, i64>,
) -> Result<OrderRow, Vec<FieldViolation>> {
    let mut c = Checker::new();
    let external_id = c.check("externalId", required_text(&input.external_id, MAX_TEXT));
    let customer_id = customers.get(input.customer_external_id.trim()).copied();
    if customer_id.is_none() {
        c.refuse(
            "customerExternalId",
            ViolationCode::NotFound,
            "no customer has this external id",
        );
    }
    let payment_method = c.check(
        "paymentMethod",
        input
            .payment_method
            .as_deref()
            .map(|s| optional_text(s, MAX_TEXT))
            .transpose(),
    );
    let currency = c.check("currency", Currency::parse(&input.currency));
    let total = currency
        .as_ref()
        .and_then(|cur| c.check("total", parse_amount(&input.total, cur)));
    if total.is_some_and(|t| t < 0) {
        c.refuse("total", ViolationCode::OutOfRange, "must not be negative");
    }
    if input.lines.len() > MAX_LINES {
        c.refuse(
            "lines",
            ViolationCode::OutOfRange,
            format!("an order has at most {MAX_LINES} lines"),
        );
    }
    let mut lines = Vec::with_capacity(input.lines.len());
    for (index, line) in input.lines.iter().enumerate() {
        let mut lc = Checker::new();
        let product_id = products.get(line.product_external_id.trim()).copied();
        if product_id.is_none() {
            lc.refuse(
                "productExternalId",
                ViolationCode::NotFound,
                "no product has this external id",
            );
        }
        if line.quantity < 1 {
            lc.refuse("quantity", ViolationCode::OutOfRange, "must be at least 1");
        }
        let unit_price = currency
            .as_ref()
            .and_then(|cur| lc.check("unitPrice", parse_amount(&line.unit_price, cur)));
        if let (Some(product_id), Some(unit_price), true) = (product_id, unit_price, lc.is_clean())
        {
            lines.push(LineRow {
                product_id,
                quantity: line.quantity,
                unit_price,
            });
        }
        let mut nested = Checker::new();
        nested.absorb(&index.to_string(), lc.into_violations());
        c.absorb("lines", nested.into_violations());
    }
    let placed_at = to_millis(input.placed_at);
    for (field, at) in [
        ("paidAt", input.paid_at),
        ("deliveredAt", input.delivered_at),
        ("cancelledAt", input.cancelled_at),
    ] {
        if at.is_some_and(|at| to_millis(at) < placed_at) {
            c.refuse(
                field,
                ViolationCode::OutOfRange,
                "must not be before placedAt",
            );
        }
    }
    let violations = c.into_violations();
    match (external_id, customer_id, currency, total, payment_method) {
        (
            Some(external_id),
            Some(customer_id),
            Some(currency),
            Some(total),
            Some(payment_method),
        ) if violations.is_empty() => Ok(OrderRow {
            external_id,
            customer_id,
            status: input.status,
            payment_method: payment_method.flatten(),
            total,
            currency: currency.code().to_owned(),
            placed_at,
            paid_at: input.paid_at.map(to_millis),
            planned_delivery_at: input.planned_delivery_at.map(to_millis),
            delivered_at: input.delivered_at.map(to_millis),
            cancelled_at: input.cancelled_at.map(to_millis),
            lines,
        }),
        _ => Err(violations),
    }
}
