//! Replenishment benchmark: 1,000,000 customers with 3,000,000 order lines of products that
//! run out, and their due items — 100,000 customers have something due within the week — and
//! the Monday collection that gathers them into predicted carts. Not a test: it prints figures,
//! beside two floors measured in the same run: one raw `INSERT … SELECT … GROUP BY customer`
//! of the same due items into a bare table (a row per customer with its line count and
//! total), and that plus the lines written raw (what the collection writes, without indexes).
//!
//!     cargo bench --bench replenishment
//!     NUDGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench replenishment
//!
//! `NUDGE_BENCH_CUSTOMERS` changes the number of customers (default 1,000,000); one in ten
//! has items due.

#[path = "bench_db.rs"]
#[allow(dead_code)]
mod bench_db;

use bench_db::{BenchDb, exec, numbers, scalar, size};
use chrono::{TimeZone, Utc};
use nudge::clock::to_millis;
use nudge::domain::predicted_carts::collect::collect;
use sea_orm::DbBackend;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_MS: i64 = 86_400_000;
const PRODUCTS: i64 = 30;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let n = size("NUDGE_BENCH_CUSTOMERS", 1_000_000);
        let opened = BenchDb::open("replenishment", 2).await;
        let db = &opened.db;
        // Monday 7 December 2026, 09:00 UTC: the collection time of customers without a zone.
        let monday = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let now_ms = to_millis(monday);
        let placed = now_ms - 20 * DAY_MS;
        let json = if opened.label() == "PostgreSQL" { "CAST('{}' AS json)" } else { "'{}'" };
        let started = Instant::now();
        exec(
            db,
            &format!(
                "INSERT INTO products (external_id, name, price, currency, category_ids, \
                 replenishment_days, created_at, updated_at) \
                 SELECT 'p' || i, 'Product ' || i, 500 + i * 100, 'USD', CAST('[]' AS {}), 10 + i, \
                 {now_ms}, {now_ms} FROM ({}) s",
                if opened.label() == "PostgreSQL" { "json" } else { "text" },
                numbers(db, PRODUCTS)
            ),
        )
        .await;
        exec(
            db,
            &format!(
                "INSERT INTO customers (external_id, customer_type, wholesale, email_consent, \
                 sms_consent, orders_count, total_spent, attributes, created_at, updated_at) \
                 SELECT 'r' || i, 'person', false, true, false, 1, 0, {json}, {now_ms}, {now_ms} \
                 FROM ({}) s",
                numbers(db, n)
            ),
        )
        .await;
        exec(
            db,
            &format!(
                "INSERT INTO orders (external_id, customer_id, status, total, currency, placed_at, \
                 delivered_at, created_at, updated_at) \
                 SELECT 'o' || c.id, c.id, 'delivered', 3000, 'USD', {placed}, {placed}, {now_ms}, {now_ms} \
                 FROM customers c"
            ),
        )
        .await;
        // Three lines an order: products (i, i+1, i+2) mod 30.
        exec(
            db,
            &format!(
                "INSERT INTO order_lines (order_id, position, product_id, quantity, unit_price) \
                 SELECT o.id, k.k, 1 + (o.customer_id + k.k) % {PRODUCTS}, 1 + k.k % 2, 1000 \
                 FROM orders o CROSS JOIN ({}) k",
                match db.get_database_backend() {
                    DbBackend::Postgres => "SELECT generate_series(0, 2) AS k",
                    _ => "SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2",
                }
            ),
        )
        .await;
        // Their due items as the orders make them: one in ten customers' run out this week.
        exec(
            db,
            &format!(
                "INSERT INTO replenishment_items (customer_id, product_id, last_order_id, \
                 last_ordered_at, quantity, days_per_unit, learned, due_at, status, updated_at) \
                 SELECT o.customer_id, l.product_id, o.id, {placed}, l.quantity, 10.0, false, \
                 CASE WHEN o.customer_id % 10 = 0 THEN {now_ms} + l.position * {DAY_MS} \
                 ELSE {now_ms} + (30 + o.customer_id % 60) * {DAY_MS} END, 'waiting', {now_ms} \
                 FROM order_lines l JOIN orders o ON o.id = l.order_id"
            ),
        )
        .await;
        if db.get_database_backend() == DbBackend::Postgres {
            for table in ["customers", "replenishment_items", "products", "predicted_carts"] {
                exec(db, &format!("VACUUM ANALYZE {table}")).await;
            }
        }
        let lines = scalar(db, "SELECT COUNT(*) AS n FROM order_lines").await;
        println!(
            "database: {}; {n} customers, {lines} order lines seeded in {:.1} s",
            opened.label(),
            started.elapsed().as_secs_f64()
        );

        // The floor: the same due items, grouped by customer, written raw.
        let due_by = now_ms + 7 * DAY_MS;
        exec(
            db,
            "CREATE TABLE floor_carts (customer_id BIGINT PRIMARY KEY, lines BIGINT, total BIGINT)",
        )
        .await;
        let started = Instant::now();
        exec(
            db,
            &format!(
                "INSERT INTO floor_carts (customer_id, lines, total) \
                 SELECT i.customer_id, COUNT(*), SUM(i.quantity * p.price) \
                 FROM replenishment_items i JOIN products p ON p.id = i.product_id \
                 WHERE i.status = 'waiting' AND i.due_at <= {due_by} GROUP BY i.customer_id"
            ),
        )
        .await;
        let floor = started.elapsed().as_secs_f64();
        let floor_rows = scalar(db, "SELECT COUNT(*) AS n FROM floor_carts").await;
        println!("floor: {floor_rows} customers grouped and written raw in {floor:.2} s");
        // The second floor writes what the collection writes, raw: beside the grouped row per
        // customer, a line per due item (keyed by customer and product, no other index).
        exec(
            db,
            "CREATE TABLE floor_lines (customer_id BIGINT, product_id BIGINT, item_id BIGINT, \
             quantity INTEGER, unit_price BIGINT, PRIMARY KEY (customer_id, product_id))",
        )
        .await;
        let started = Instant::now();
        exec(
            db,
            &format!(
                "INSERT INTO floor_lines (customer_id, product_id, item_id, quantity, unit_price) \
                 SELECT i.customer_id, i.product_id, i.id, i.quantity, p.price \
                 FROM replenishment_items i JOIN products p ON p.id = i.product_id \
                 WHERE i.status = 'waiting' AND i.due_at <= {due_by}"
            ),
        )
        .await;
        let with_lines = floor + started.elapsed().as_secs_f64();
        println!("floor with lines: the same carts and their lines written raw in {with_lines:.2} s");

        // The collection: the first look starts its clock a minute before; then Monday 09:00.
        let settings = &opened.settings.store.replenishment;
        collect(db, monday - chrono::Duration::minutes(1), chrono_tz::UTC, settings)
            .await
            .expect("the first look");
        let started = Instant::now();
        let collected = collect(db, monday, chrono_tz::UTC, settings)
            .await
            .expect("the collection");
        let took = started.elapsed().as_secs_f64();
        println!(
            "collection: {} carts with {} lines in {took:.2} s ({:.1}x the floor, {:.1}x the floor with lines)",
            collected.carts,
            collected.lines,
            took / floor,
            took / with_lines
        );
        assert_eq!(collected.carts as i64, floor_rows, "one cart per customer with items due");
        opened.remove();
    });
}
