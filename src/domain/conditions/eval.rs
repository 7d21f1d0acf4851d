//! Evaluating a condition: pure, total and cheap.

use super::{
    Condition, DatedFact, Facts, Item, ItemAttribute, ItemScope, Quantifier, TextMatch, UrlField,
};
use crate::domain::message::Channel;

const DAY_MS: i64 = 86_400_000;

/// Whether `condition` holds for `facts`. A predicate about something absent (no event, no
/// order, never logged in) is false.
pub fn evaluate(condition: &Condition, facts: &Facts<'_>) -> bool {
    match condition {
        Condition::All(parts) => parts.iter().all(|p| evaluate(p, facts)),
        Condition::Any(parts) => parts.iter().any(|p| evaluate(p, facts)),
        Condition::Not(inner) => !evaluate(inner, facts),
        Condition::Items(p) => {
            let items: &[Item] = match p.scope {
                ItemScope::Cart => facts.cart,
                ItemScope::Event => facts.event.map_or(&[], |e| e.items.as_slice()),
            };
            let present = |value: &String| items.iter().any(|item| has(item, p.attribute, value));
            match p.quantifier {
                Quantifier::Any => p.values.iter().any(present),
                Quantifier::All => !p.values.is_empty() && p.values.iter().all(present),
            }
        }
        Condition::HasRole { role_ids } => role_ids.iter().any(|id| facts.role_ids.contains(id)),
        Condition::InSegment { segment_ids } => {
            segment_ids.iter().any(|id| facts.segment_ids.contains(id))
        }
        Condition::HasTag { tag_id, value } => match (facts.tags.get(tag_id), value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(actual), Some(wanted)) => actual.as_deref() == Some(wanted.as_str()),
        },
        Condition::OrderTotal(range) => facts
            .event
            .and_then(|e| e.order.as_ref())
            .is_some_and(|o| o.currency == facts.store_currency && range.contains(o.total)),
        Condition::LifetimeSpent(range) => range.contains(facts.customer.total_spent),
        Condition::OrdersCount(range) => range.contains(i64::from(facts.customer.orders_count)),
        Condition::NthOrder { n } => facts
            .event
            .and_then(|e| e.order.as_ref())
            .is_some_and(|o| o.nth == *n),
        Condition::PaymentMethod { methods } => facts
            .event
            .and_then(|e| e.order.as_ref())
            .and_then(|o| o.payment_method.as_deref())
            .is_some_and(|m| methods.iter().any(|wanted| wanted.eq_ignore_ascii_case(m))),
        Condition::CustomerType { company } => {
            (facts.customer.customer_type == "company") == *company
        }
        Condition::Wholesale { wholesale } => facts.customer.wholesale == *wholesale,
        Condition::Affiliate { affiliate_ids } => match facts.customer.affiliate_id.as_deref() {
            None => false,
            Some(actual) => affiliate_ids.is_empty() || affiliate_ids.iter().any(|a| a == actual),
        },
        Condition::Url(p) => {
            let text = facts.event.and_then(|e| match p.field {
                UrlField::Url => e.url.as_deref(),
                UrlField::Referrer => e.referrer.as_deref(),
            });
            text.is_some_and(|text| {
                let (text, wanted) = (text.to_lowercase(), p.value.to_lowercase());
                match p.matching {
                    TextMatch::Contains => text.contains(&wanted),
                    TextMatch::Equals => text == wanted,
                }
            })
        }
        Condition::Attribute { key, equals } => facts.customer.attributes.get(key) == Some(equals),
        Condition::DaysSince { fact, range } => {
            let at = match fact {
                DatedFact::Registration => facts.customer.registered_at,
                DatedFact::LastLogin => facts.customer.last_login_at,
                DatedFact::LastOrder => facts.customer.last_order_at,
            };
            at.is_some_and(|at| range.contains((facts.now_ms - at).div_euclid(DAY_MS)))
        }
        Condition::BirthdayMonth { months } => facts.customer.birthday_month.is_some_and(|m| {
            months
                .iter()
                .any(|wanted| i64::from(*wanted) == i64::from(m))
        }),
        Condition::Consent { channel } => match channel {
            Channel::Email => facts.customer.email_consent,
            Channel::Sms => facts.customer.sms_consent,
        },
        Condition::TimeZone { zones } => facts
            .customer
            .time_zone
            .as_deref()
            .is_some_and(|zone| zones.iter().any(|z| z == zone)),
        Condition::MessageOpened { step_id } => {
            facts.run.is_some_and(|r| r.opened_steps.contains(step_id))
        }
        Condition::MessageClicked {
            step_id,
            link_contains,
        } => facts.run.is_some_and(|r| {
            let wanted = link_contains.as_deref().map(str::to_lowercase);
            r.clicks.iter().any(|(step, url)| {
                step == step_id
                    && wanted
                        .as_deref()
                        .is_none_or(|w| url.to_lowercase().contains(w))
            })
        }),
        Condition::CartViewed {} => facts.run.is_some_and(|r| r.cart_viewed),
        Condition::CartDecided {} => facts.run.is_some_and(|r| r.cart_decided),
    }
}

fn has(item: &Item, attribute: ItemAttribute, value: &str) -> bool {
    match attribute {
        ItemAttribute::Product => item.product_external_id == value,
        ItemAttribute::Category => item.category_ids.iter().any(|c| c == value),
        ItemAttribute::Manufacturer => item.manufacturer.as_deref() == Some(value),
        ItemAttribute::Vendor => item.vendor.as_deref() == Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conditions::{
        EventFacts, ItemsPredicate, OrderFacts, Range, Reads, RunFacts, UrlPredicate,
    };
    use entity::customer;
    use std::collections::{HashMap, HashSet};

    const NOW: i64 = 1_800_000_000_000;

    fn customer() -> customer::Model {
        customer::Model {
            id: 1,
            external_id: "c1".into(),
            email: None,
            phone: None,
            first_name: None,
            last_name: None,
            birthday: None,
            birthday_month: None,
            birthday_day: None,
            time_zone: None,
            locale: None,
            customer_type: "person".into(),
            wholesale: false,
            affiliate_id: None,
            email_consent: false,
            email_consent_at: None,
            email_consent_source: None,
            sms_consent: false,
            sms_consent_at: None,
            sms_consent_source: None,
            registered_at: Some(NOW - 10 * DAY_MS - 1),
            last_login_at: None,
            last_order_at: None,
            orders_count: 3,
            total_spent: 250_000,
            attributes: serde_json::json!({ "shoeSize": 38 }),
            cart_updated_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn bread() -> Item {
        Item {
            product_external_id: "bread-gf".into(),
            category_ids: vec!["gluten-free".into(), "bakery".into()],
            manufacturer: Some("Mill".into()),
            vendor: None,
            quantity: 1,
        }
    }

    struct World {
        customer: customer::Model,
        roles: HashSet<i64>,
        tags: HashMap<i64, Option<String>>,
        cart: Vec<Item>,
        event: Option<EventFacts>,
        run: Option<RunFacts>,
    }

    impl World {
        fn new() -> Self {
            World {
                customer: customer(),
                roles: HashSet::from([7]),
                tags: HashMap::from([(3, Some("reviewed".to_owned())), (4, None)]),
                cart: vec![],
                event: Some(EventFacts {
                    items: vec![bread()],
                    order: Some(OrderFacts {
                        total: 12_000,
                        currency: "USD".into(),
                        payment_method: Some("card".into()),
                        nth: 2,
                    }),
                    url: Some("https://shop.example/landing?utm=fb".into()),
                    referrer: Some("https://Facebook.com/ad/1".into()),
                }),
                run: None,
            }
        }

        fn check(&self, condition: Condition) -> bool {
            evaluate(
                &condition,
                &Facts {
                    now_ms: NOW,
                    store_currency: "USD",
                    customer: &self.customer,
                    role_ids: &self.roles,
                    tags: &self.tags,
                    segment_ids: &HashSet::new(),
                    cart: &self.cart,
                    event: self.event.as_ref(),
                    run: self.run.as_ref(),
                },
            )
        }
    }

    fn items(attribute: ItemAttribute, values: &[&str], quantifier: Quantifier) -> Condition {
        Condition::Items(ItemsPredicate {
            attribute,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            quantifier,
            scope: ItemScope::Event,
        })
    }

    fn range(min: Option<i64>, max: Option<i64>) -> Range {
        Range { min, max }
    }

    #[test]
    fn all_any_and_not_combine_as_boolean_logic() {
        let w = World::new();
        let yes = Condition::Wholesale { wholesale: false };
        let no = Condition::Wholesale { wholesale: true };
        assert!(w.check(Condition::All(vec![])));
        assert!(!w.check(Condition::Any(vec![])));
        assert!(w.check(Condition::All(vec![yes.clone(), yes.clone()])));
        assert!(!w.check(Condition::All(vec![yes.clone(), no.clone()])));
        assert!(w.check(Condition::Any(vec![no.clone(), yes.clone()])));
        assert!(w.check(Condition::Not(Box::new(no))));
        assert!(!w.check(Condition::Not(Box::new(yes))));
    }

    #[test]
    fn item_predicates_match_products_categories_and_manufacturers() {
        let w = World::new();
        assert!(w.check(items(
            ItemAttribute::Product,
            &["bread-gf", "x"],
            Quantifier::Any
        )));
        assert!(!w.check(items(
            ItemAttribute::Product,
            &["bread-gf", "x"],
            Quantifier::All
        )));
        assert!(w.check(items(
            ItemAttribute::Category,
            &["gluten-free", "bakery"],
            Quantifier::All
        )));
        assert!(w.check(items(
            ItemAttribute::Manufacturer,
            &["Mill"],
            Quantifier::Any
        )));
        assert!(!w.check(items(ItemAttribute::Vendor, &["Mill"], Quantifier::Any)));
        let cart_scoped = Condition::Items(ItemsPredicate {
            attribute: ItemAttribute::Product,
            values: vec!["bread-gf".into()],
            quantifier: Quantifier::Any,
            scope: ItemScope::Cart,
        });
        assert!(!w.check(cart_scoped), "the cart is empty");
    }

    #[test]
    fn membership_predicates_read_roles_and_tag_values() {
        let w = World::new();
        assert!(w.check(Condition::HasRole {
            role_ids: vec![1, 7]
        }));
        assert!(!w.check(Condition::HasRole { role_ids: vec![1] }));
        assert!(w.check(Condition::HasTag {
            tag_id: 3,
            value: None
        }));
        assert!(w.check(Condition::HasTag {
            tag_id: 3,
            value: Some("reviewed".into())
        }));
        assert!(!w.check(Condition::HasTag {
            tag_id: 3,
            value: Some("new".into())
        }));
        assert!(!w.check(Condition::HasTag {
            tag_id: 4,
            value: Some("x".into())
        }));
        assert!(!w.check(Condition::HasTag {
            tag_id: 5,
            value: None
        }));
    }

    #[test]
    fn order_predicates_need_an_order_in_the_event() {
        let mut w = World::new();
        assert!(w.check(Condition::OrderTotal(range(Some(10_000), Some(12_000)))));
        assert!(!w.check(Condition::OrderTotal(range(Some(12_001), None))));
        assert!(w.check(Condition::NthOrder { n: 2 }));
        assert!(!w.check(Condition::NthOrder { n: 1 }));
        assert!(w.check(Condition::PaymentMethod {
            methods: vec!["CARD".into()]
        }));
        assert!(!w.check(Condition::PaymentMethod {
            methods: vec!["cod".into()]
        }));
        w.event.as_mut().unwrap().order.as_mut().unwrap().currency = "EUR".into();
        assert!(
            !w.check(Condition::OrderTotal(range(None, None))),
            "other currencies never match"
        );
        w.event = None;
        assert!(!w.check(Condition::NthOrder { n: 2 }));
    }

    #[test]
    fn customer_predicates_read_the_customers_facts() {
        let mut w = World::new();
        assert!(w.check(Condition::LifetimeSpent(range(
            Some(200_000),
            Some(500_000)
        ))));
        assert!(!w.check(Condition::LifetimeSpent(range(Some(500_001), None))));
        assert!(w.check(Condition::OrdersCount(range(Some(3), Some(3)))));
        assert!(w.check(Condition::CustomerType { company: false }));
        assert!(!w.check(Condition::Affiliate {
            affiliate_ids: vec![]
        }));
        w.customer.affiliate_id = Some("aff-1".into());
        assert!(w.check(Condition::Affiliate {
            affiliate_ids: vec![]
        }));
        assert!(!w.check(Condition::Affiliate {
            affiliate_ids: vec!["aff-2".into()]
        }));
        assert!(w.check(Condition::Attribute {
            key: "shoeSize".into(),
            equals: serde_json::json!(38)
        }));
        assert!(!w.check(Condition::Attribute {
            key: "shoeSize".into(),
            equals: serde_json::json!("38")
        }));
    }

    #[test]
    fn url_predicates_ignore_case() {
        let w = World::new();
        let url = |field, matching, value: &str| {
            Condition::Url(UrlPredicate {
                field,
                matching,
                value: value.into(),
            })
        };
        assert!(w.check(url(UrlField::Referrer, TextMatch::Contains, "facebook.com")));
        assert!(w.check(url(UrlField::Url, TextMatch::Contains, "UTM=FB")));
        assert!(!w.check(url(
            UrlField::Url,
            TextMatch::Equals,
            "https://shop.example/"
        )));
    }

    #[test]
    fn days_since_counts_whole_days_and_needs_the_fact() {
        let w = World::new();
        let since = |fact, min, max| Condition::DaysSince {
            fact,
            range: range(min, max),
        };
        assert!(w.check(since(DatedFact::Registration, Some(10), Some(10))));
        assert!(!w.check(since(DatedFact::Registration, Some(11), None)));
        assert!(
            !w.check(since(DatedFact::LastLogin, None, None)),
            "never logged in"
        );
    }

    #[test]
    fn conditions_survive_a_json_round_trip() {
        let condition = Condition::All(vec![
            items(ItemAttribute::Category, &["gluten-free"], Quantifier::Any),
            Condition::Not(Box::new(Condition::HasTag {
                tag_id: 3,
                value: Some("x".into()),
            })),
        ]);
        let json = serde_json::to_value(&condition).unwrap();
        assert_eq!(json["all"][1]["not"]["hasTag"]["tagId"], 3);
        assert_eq!(
            serde_json::from_value::<Condition>(json).unwrap(),
            condition
        );
    }

    #[test]
    fn run_predicates_look_at_the_runs_own_messages_and_cart() {
        let opened = |step: &str| Condition::MessageOpened {
            step_id: step.into(),
        };
        let clicked = |step: &str, text: Option<&str>| Condition::MessageClicked {
            step_id: step.into(),
            link_contains: text.map(str::to_owned),
        };
        let mut world = World::new();
        // Outside a run, nothing about a run holds.
        assert!(!world.check(opened("mail")));
        assert!(!world.check(Condition::CartViewed {}));
        world.run = Some(RunFacts {
            opened_steps: HashSet::from(["mail".to_owned()]),
            clicks: vec![("mail".into(), "https://nudge.example/R/abc".into())],
            cart_viewed: true,
            cart_decided: false,
        });
        assert!(world.check(opened("mail")));
        assert!(!world.check(opened("reminder")));
        assert!(world.check(clicked("mail", None)));
        assert!(world.check(clicked("mail", Some("/r/"))));
        assert!(!world.check(clicked("mail", Some("/unsubscribe"))));
        assert!(!world.check(clicked("reminder", None)));
        assert!(world.check(Condition::CartViewed {}));
        assert!(!world.check(Condition::CartDecided {}));
        if let Some(run) = world.run.as_mut() {
            run.cart_decided = true;
        }
        assert!(world.check(Condition::CartDecided {}));
        assert_eq!(
            Condition::All(vec![opened("mail"), Condition::CartDecided {}]).reads(),
            Reads::RUN
        );
    }
}
