//! A condition compiled to SQL selects exactly the customers the evaluator holds it for: random
//! conditions over random customers, on the database the suite runs on.

use crate::helpers::{spawn_app, test_start};
use nudge::db::raw_statement;
use nudge::domain::conditions::sql::compile;
use nudge::domain::conditions::{Condition, DatedFact, Facts, Range, evaluate};
use nudge::domain::message::Channel;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Value};
use serde_json::json;
use std::collections::{HashMap, HashSet};

const CUSTOMERS: i64 = 60;
const CONDITIONS: usize = 400;
const DAY_MS: i64 = 86_400_000;

fn range(rng: &mut StdRng, scale: i64) -> Range {
    let a = rng.random_range(0..scale);
    let b = a + rng.random_range(0..scale);
    Range {
        min: rng.random_bool(0.8).then_some(a),
        max: rng.random_bool(0.8).then_some(b),
    }
}

fn attribute_value(rng: &mut StdRng) -> serde_json::Value {
    [
        json!("gold"),
        json!("silver"),
        json!(3),
        json!(true),
        json!(null),
        json!("é ü"),
    ][rng.random_range(0..6)]
    .clone()
}

fn condition(rng: &mut StdRng, roles: &[i64], tags: &[i64], depth: u32) -> Condition {
    let leaf = depth == 0 || rng.random_bool(0.5);
    if !leaf {
        let parts = (0..rng.random_range(0..4))
            .map(|_| condition(rng, roles, tags, depth - 1))
            .collect();
        return match rng.random_range(0..3) {
            0 => Condition::All(parts),
            1 => Condition::Any(parts),
            _ => Condition::Not(Box::new(condition(rng, roles, tags, depth - 1))),
        };
    }
    match rng.random_range(0..12) {
        9 => Condition::BirthdayMonth {
            months: (0..rng.random_range(1..4))
                .map(|_| rng.random_range(1..=12))
                .collect(),
        },
        10 => Condition::Consent {
            channel: if rng.random_bool(0.5) {
                Channel::Email
            } else {
                Channel::Sms
            },
        },
        11 => Condition::TimeZone {
            zones: vec![
                ["Europe/Warsaw", "UTC", "America/New_York"][rng.random_range(0..3)].into(),
            ],
        },
        0 => Condition::HasRole {
            role_ids: vec![roles[rng.random_range(0..roles.len())]],
        },
        1 => Condition::HasTag {
            tag_id: tags[rng.random_range(0..tags.len())],
            value: rng
                .random_bool(0.5)
                .then(|| ["a", "b"][rng.random_range(0..2)].to_owned()),
        },
        2 => Condition::LifetimeSpent(range(rng, 50_000)),
        3 => Condition::OrdersCount(range(rng, 6)),
        4 => Condition::CustomerType {
            company: rng.random_bool(0.5),
        },
        5 => Condition::Wholesale {
            wholesale: rng.random_bool(0.5),
        },
        6 => Condition::Affiliate {
            affiliate_ids: if rng.random_bool(0.5) {
                Vec::new()
            } else {
                vec!["aff1".into()]
            },
        },
        7 => Condition::Attribute {
            key: ["tier", "n", "$odd"][rng.random_range(0..3)].into(),
            equals: attribute_value(rng),
        },
        _ => Condition::DaysSince {
            fact: [
                DatedFact::Registration,
                DatedFact::LastLogin,
                DatedFact::LastOrder,
            ][rng.random_range(0..3)],
            range: range(rng, 300),
        },
    }
}

#[tokio::test]
async fn a_condition_as_sql_selects_exactly_the_customers_the_evaluator_holds_it_for() {
    // Arrange: two roles and two tags, and customers with random facts.
    let app = spawn_app().await;
    let db = nudge::db::connect(&app.database_url, 2)
        .await
        .expect("connected");
    let backend = db.get_database_backend();
    let roles = [
        app.create_role("R1", "r1", &[]).await,
        app.create_role("R2", "r2", &[]).await,
    ];
    let tags = [app.create_tag("t1").await, app.create_tag("t2").await];
    let id = |s: &String| s.parse::<i64>().expect("an id");
    let (roles, tags): (Vec<i64>, Vec<i64>) = (
        roles.iter().map(id).collect(),
        tags.iter().map(id).collect(),
    );
    let now_ms = nudge::clock::to_millis(test_start());
    let mut rng = StdRng::seed_from_u64(17);
    let json_param = if backend == DbBackend::Postgres {
        "CAST(? AS json)"
    } else {
        "?"
    };
    let dated = |rng: &mut StdRng| -> Value {
        rng.random_bool(0.8)
            .then(|| now_ms - rng.random_range(-5..400) * DAY_MS - rng.random_range(0..DAY_MS))
            .into()
    };
    for n in 0..CUSTOMERS {
        let mut attributes = serde_json::Map::new();
        for key in ["tier", "n", "$odd"] {
            if rng.random_bool(0.5) {
                attributes.insert(key.into(), attribute_value(&mut rng));
            }
        }
        let values: Vec<Value> = vec![
            format!("c{n}").into(),
            (if rng.random_bool(0.3) {
                "company"
            } else {
                "person"
            })
            .into(),
            rng.random_bool(0.4).into(),
            rng.random_bool(0.5)
                .then(|| ["aff1", "aff2"][rng.random_range(0..2)].to_owned())
                .into(),
            rng.random_range(0..6_i32).into(),
            rng.random_range(0..60_000_i64).into(),
            serde_json::Value::Object(attributes).to_string().into(),
            dated(&mut rng),
            dated(&mut rng),
            dated(&mut rng),
            now_ms.into(),
            now_ms.into(),
            rng.random_bool(0.5).into(),
            rng.random_bool(0.5).into(),
            rng.random_bool(0.7)
                .then(|| rng.random_range(1..=12_i16))
                .into(),
            rng.random_bool(0.7)
                .then(|| ["Europe/Warsaw", "UTC", "Asia/Tokyo"][rng.random_range(0..3)].to_owned())
                .into(),
        ];
        db.execute_raw(raw_statement(
            backend,
            &format!(
                "INSERT INTO customers (external_id, customer_type, wholesale, affiliate_id, orders_count, \
                 total_spent, attributes, registered_at, last_login_at, last_order_at, created_at, updated_at, \
                 email_consent, sms_consent, birthday_month, time_zone) \
                 VALUES (?, ?, ?, ?, ?, ?, {json_param}, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            values,
        ))
        .await
        .expect("a customer");
    }
    let mut customers = entity::customer::Entity::find()
        .all(&db)
        .await
        .expect("customers");
    customers.sort_by_key(|c| c.id);
    let mut role_sets: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut tag_maps: HashMap<i64, HashMap<i64, Option<String>>> = HashMap::new();
    for c in &customers {
        for role in &roles {
            if rng.random_bool(0.4) {
                db.execute_raw(raw_statement(
                    backend,
                    "INSERT INTO customer_roles (customer_id, role_id, assigned_at) VALUES (?, ?, ?)",
                    [c.id.into(), (*role).into(), now_ms.into()],
                ))
                .await
                .expect("a role");
                role_sets.entry(c.id).or_default().insert(*role);
            }
        }
        for tag in &tags {
            if rng.random_bool(0.4) {
                let value = rng
                    .random_bool(0.7)
                    .then(|| ["a", "b"][rng.random_range(0..2)].to_owned());
                db.execute_raw(raw_statement(
                    backend,
                    "INSERT INTO customer_tags (customer_id, tag_id, value, set_at) VALUES (?, ?, ?, ?)",
                    [c.id.into(), (*tag).into(), value.clone().into(), now_ms.into()],
                ))
                .await
                .expect("a tag");
                tag_maps.entry(c.id).or_default().insert(*tag, value);
            }
        }
    }
    let (no_roles, no_tags) = (HashSet::new(), HashMap::new());

    // Act / Assert: each random condition selects in SQL whom the evaluator picks.
    let mut selected_some = 0;
    for _ in 0..CONDITIONS {
        let condition = condition(&mut rng, &roles, &tags, 3);
        let fragment = compile(&condition, backend, now_ms).expect("a customer condition compiles");
        let rows = db
            .query_all_raw(raw_statement(
                backend,
                &format!(
                    "SELECT c.id FROM customers c WHERE {} ORDER BY c.id",
                    fragment.sql
                ),
                fragment.values.clone(),
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", fragment.sql));
        let by_sql: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64>("", "id").expect("an id"))
            .collect();
        let by_rust: Vec<i64> = customers
            .iter()
            .filter(|c| {
                let facts = Facts {
                    now_ms,
                    store_currency: "USD",
                    customer: c,
                    role_ids: role_sets.get(&c.id).unwrap_or(&no_roles),
                    tags: tag_maps.get(&c.id).unwrap_or(&no_tags),
                    segment_ids: &Default::default(),
                    cart: &[],
                    event: None,
                    run: None,
                };
                evaluate(&condition, &facts)
            })
            .map(|c| c.id)
            .collect();
        assert_eq!(by_sql, by_rust, "{condition:?}\n{}", fragment.sql);
        if !by_sql.is_empty() && by_sql.len() < customers.len() {
            selected_some += 1;
        }
    }
    assert!(
        selected_some > CONDITIONS / 4,
        "the conditions tell customers apart: {selected_some}"
    );
}
