//! The template engine: minijinja in a sandbox. Templates are written by shop staff, so the
//! environment has no loader (no file access, no includes), no access to the process
//! environment, a fuel limit on the work one render may do, strict undefined variables, and
//! HTML auto-escaping for HTML parts only.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

/// The most instructions one render may run (loops included).
const FUEL: u64 = 100_000;

/// The variables every template may use, with the attributes of the objects among them.
/// Attributes of list items (`order.lines`, `products`, …) are not checked when saving.
pub const VARIABLES: &[(&str, &[&str])] = &[
    (
        "customer",
        &[
            "external_id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "name",
            "birthday",
            "locale",
            "time_zone",
            "customer_type",
            "wholesale",
            "orders_count",
            "total_spent",
            "registered_at",
            "attributes",
        ],
    ),
    (
        "order",
        &[
            "external_id",
            "status",
            "total",
            "currency",
            "payment_method",
            "placed_at",
            "paid_at",
            "planned_delivery_at",
            "delivered_at",
            "lines",
        ],
    ),
    ("cart", &["lines", "total", "currency"]),
    (
        "predicted_cart",
        &["lines", "total", "currency", "status", "created_at"],
    ),
    ("products", &[]),
    ("recommended", &[]),
    (
        "banner",
        &["title", "body_html", "coupon_code", "starts_at", "ends_at"],
    ),
    ("coupon", &[]),
    (
        "links",
        &["unsubscribe", "view_in_browser", "predicted_cart"],
    ),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
});

/// Which part of a message a text is; HTML parts are auto-escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Subject,
    Html,
    Text,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Subject => "subject.txt",
            Part::Html => "body.html",
            Part::Text => "body.txt",
        }
    }
}

/// A text compiled once: to learn which variables it uses, and to render it.
pub struct Compiled<'s>(minijinja::Template<'s, 's>);

/// Compiles `source`; fails on a syntax error.
pub fn compile(part: Part, source: &str) -> Result<Compiled<'_>, String> {
    ENV.template_from_named_str(part.name(), source)
        .map(Compiled)
        .map_err(|e| describe(&e))
}

impl Compiled<'_> {
    /// The variables the text uses, top-level (`order`, `cart` …) and by their paths
    /// (`links.predicted_cart`), so that rendering loads only those.
    pub fn variables(&self) -> HashSet<String> {
        self.0
            .undeclared_variables(true)
            .into_iter()
            .flat_map(|path| {
                let top = path.split('.').next().unwrap_or_default().to_owned();
                [top, path]
            })
            .collect()
    }

    /// Renders with `context`; fails on an undefined variable or when the fuel runs out.
    pub fn render(&self, context: &Value) -> Result<String, String> {
        self.0.render(context).map_err(|e| describe(&e))
    }
}

/// Why a template cannot be saved: a syntax error, or variables Nudge does not provide.
pub fn check(part: Part, source: &str) -> Result<(), String> {
    let template = compile(part, source)?;
    let unknown: BTreeSet<String> = template
        .0
        .undeclared_variables(true)
        .into_iter()
        .filter(|name| !is_known(name))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = unknown.into_iter().collect();
        Err(format!(
            "unknown variable{} {}; known: {}",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            VARIABLES
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn is_known(path: &str) -> bool {
    let mut parts = path.split('.');
    let top = parts.next().unwrap_or_default();
    let Some((_, attributes)) = VARIABLES.iter().find(|(name, _)| *name == top) else {
        return false;
    };
    match parts.next() {
        None => true,
        // `customer.attributes.size` and the like: the shop's own keys.
        Some(attribute) => attributes.is_empty() || attributes.contains(&attribute),
    }
}

/// Renders `source` with `context`; fails on a syntax error, an undefined variable or when
/// the fuel runs out.
pub fn render(part: Part, source: &str, context: &Value) -> Result<String, String> {
    compile(part, source)?.render(context)
}

fn describe(error: &minijinja::Error) -> String {
    let what = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    match error.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let ctx = context! { customer => context! { first_name => "<Ann & Bo>" } };
        let html = render(Part::Html, "Hi {{ customer.first_name }}", &ctx);
        let text = render(Part::Text, "Hi {{ customer.first_name }}", &ctx);
        assert_eq!(html.as_deref(), Ok("Hi &lt;Ann &amp; Bo&gt;"));
        assert_eq!(text.as_deref(), Ok("Hi <Ann & Bo>"));
    }

    #[test]
    fn an_undefined_variable_fails_the_render() {
        let ctx = context! { customer => context! { first_name => "Ann" } };
        assert!(render(Part::Text, "{{ customer.nickname }}", &ctx).is_err());
        assert!(render(Part::Text, "{{ order.total }}", &ctx).is_err());
    }

    #[test]
    fn a_template_that_loops_forever_runs_out_of_fuel() {
        let ctx = context! {};
        let err = render(
            Part::Text,
            "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
            &ctx,
        );
        assert!(err.is_err_and(|e| e.contains("fuel")), "fuel stops it");
    }

    #[test]
    fn saving_checks_syntax_and_variable_names() {
        assert!(
            check(
                Part::Html,
                "Hi {{ customer.first_name }} {{ links.unsubscribe }}"
            )
            .is_ok()
        );
        assert!(
            check(
                Part::Text,
                "{% for l in order.lines %}{{ l.product.name }}{% endfor %}"
            )
            .is_ok()
        );
        let err = check(Part::Text, "Hi {{ custmer.first_name }}").unwrap_err();
        assert!(err.contains("custmer"), "{err}");
        let err = check(Part::Text, "Hi {{ customer.nickname }}").unwrap_err();
        assert!(err.contains("customer.nickname"), "{err}");
        let err = check(Part::Text, "Hi {{ customer.first_name ").unwrap_err();
        assert!(err.starts_with("line 1"), "{err}");
    }

    #[test]
    fn no_environment_or_files_are_reachable() {
        let ctx = context! {};
        assert!(render(Part::Text, "{% include '/etc/passwd' %}", &ctx).is_err());
        assert!(render(Part::Text, "{{ env }}", &ctx).is_err());
    }
}
