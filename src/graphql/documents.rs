//! Parsed operations, kept by their shape. Storefronts send the same few operations over and
//! over, often with the customer's id written into the text rather than passed as a variable,
//! and parsing one costs more than copying its parsed form. An operation's shape is its text
//! with the contents of each plain string literal (printable ASCII, no escapes) blanked out
//! letter for letter: operations of one shape differ only in those contents, so a kept
//! document of the shape, with the literals of this text put in place, is what parsing this
//! text gives — positions included. Every other check (limits, validation) still runs on
//! every request.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::parser::{Pos, Positioned};
use async_graphql::{ServerResult, Variables};
use async_graphql_value::{ConstValue, Value};
use std::sync::Arc;

/// Operations longer than this are parsed every time (they are rarely repeated).
const MAX_QUERY_BYTES: usize = 8 * 1024;
/// How many shapes are kept at most, and the bytes of their text.
const MAX_ENTRIES: usize = 1024;
const MAX_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Clone)]
struct TextWeight;

impl quick_cache::Weighter<String, Arc<ExecutableDocument>> for TextWeight {
    fn weight(&self, shape: &String, _: &Arc<ExecutableDocument>) -> u64 {
        // The parsed form is a few times its text.
        4 * shape.len() as u64 + 64
    }
}

type Documents = quick_cache::sync::Cache<String, Arc<ExecutableDocument>, TextWeight>;

/// The extension; one cache per schema.
pub struct DocumentCache(Arc<Documents>);

impl Default for DocumentCache {
    fn default() -> Self {
        DocumentCache(Arc::new(Documents::with_weighter(
            MAX_ENTRIES,
            MAX_BYTES,
            TextWeight,
        )))
    }
}

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentCacheExtension(self.0.clone()))
    }
}

struct DocumentCacheExtension(Arc<Documents>);

#[async_trait::async_trait]
impl Extension for DocumentCacheExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let Some(Shape { text, literals }) = (query.len() <= MAX_QUERY_BYTES)
            .then(|| shape(query))
            .flatten()
        else {
            return next.run(ctx, query, variables).await;
        };
        if let Some(kept) = self.0.get(&text) {
            let mut document = (*kept).clone();
            let mut strings = strings_of(&mut document);
            if strings.len() == literals.len() {
                for (string, literal) in strings.iter_mut().zip(&literals) {
                    if let Some(literal) = literal {
                        string.clear();
                        string.push_str(literal);
                    }
                }
                return Ok(document);
            }
        }
        let mut document = next.run(ctx, query, variables).await?;
        // Kept only when every string of the document is one of the text's literals (a
        // duplicate object key, say, drops one): then putting them back is exact.
        if strings_of(&mut document).len() == literals.len() {
            self.0.insert(text, Arc::new(document.clone()));
        }
        Ok(document)
    }
}

/// An operation's shape and the contents of its string literals in order (`None` for one
/// kept in the shape as written).
struct Shape<'q> {
    text: String,
    literals: Vec<Option<&'q str>>,
}

/// The shape of `query`, or `None` when it holds a block string or a string that does not end
/// on its line (the parser decides about those).
fn shape(query: &str) -> Option<Shape<'_>> {
    let bytes = query.as_bytes();
    let mut text = String::with_capacity(query.len());
    let mut literals = Vec::new();
    // Where the text not yet copied starts.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                if bytes[i + 1..].starts_with(b"\"\"") {
                    return None;
                }
                let start = i + 1;
                let mut end = start;
                let mut plain = true;
                loop {
                    match bytes.get(end)? {
                        b'"' => break,
                        b'\n' | b'\r' => return None,
                        b'\\' => {
                            plain = false;
                            end += 2;
                        }
                        b => {
                            plain &= (0x20..0x7f).contains(b);
                            end += 1;
                        }
                    }
                }
                if plain {
                    text.push_str(&query[copied..start]);
                    text.extend(std::iter::repeat_n('x', end - start));
                    copied = end;
                    literals.push(Some(&query[start..end]));
                } else {
                    literals.push(None);
                }
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    text.push_str(&query[copied..]);
    Some(Shape { text, literals })
}

/// Every string value of `document`, in the order of the text.
fn strings_of(document: &mut ExecutableDocument) -> Vec<&mut String> {
    let mut found = Found::default();
    match &mut document.operations {
        DocumentOperations::Single(op) => found.operation(op),
        DocumentOperations::Multiple(ops) => ops.values_mut().for_each(|op| found.operation(op)),
    }
    for fragment in document.fragments.values_mut() {
        found.directives(&mut fragment.node.directives);
        found.selections(&mut fragment.node.selection_set.node);
    }
    // Values nested in one argument share its position and are found in their order.
    found.strings.sort_by_key(|(pos, seq, _)| (*pos, *seq));
    found.strings.into_iter().map(|(_, _, s)| s).collect()
}

/// The strings found so far, each with the position of the value holding it and the order in
/// which it was found.
#[derive(Default)]
struct Found<'d> {
    strings: Vec<(Pos, usize, &'d mut String)>,
}

impl<'d> Found<'d> {
    fn operation(&mut self, op: &'d mut Positioned<OperationDefinition>) {
        for variable in &mut op.node.variable_definitions {
            self.directives(&mut variable.node.directives);
            if let Some(default) = &mut variable.node.default_value {
                self.constant(default.pos, &mut default.node);
            }
        }
        self.directives(&mut op.node.directives);
        self.selections(&mut op.node.selection_set.node);
    }

    fn selections(&mut self, set: &'d mut SelectionSet) {
        for item in &mut set.items {
            match &mut item.node {
                Selection::Field(field) => {
                    for (_, value) in &mut field.node.arguments {
                        self.value(value.pos, &mut value.node);
                    }
                    self.directives(&mut field.node.directives);
                    self.selections(&mut field.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => self.directives(&mut spread.node.directives),
                Selection::InlineFragment(inline) => {
                    self.directives(&mut inline.node.directives);
                    self.selections(&mut inline.node.selection_set.node);
                }
            }
        }
    }

    fn directives(&mut self, directives: &'d mut [Positioned<Directive>]) {
        for directive in directives {
            for (_, value) in &mut directive.node.arguments {
                self.value(value.pos, &mut value.node);
            }
        }
    }

    fn value(&mut self, pos: Pos, value: &'d mut Value) {
        match value {
            Value::String(s) => self.push(pos, s),
            Value::List(items) => items.iter_mut().for_each(|v| self.value(pos, v)),
            Value::Object(fields) => fields.values_mut().for_each(|v| self.value(pos, v)),
            _ => {}
        }
    }

    fn constant(&mut self, pos: Pos, value: &'d mut ConstValue) {
        match value {
            ConstValue::String(s) => self.push(pos, s),
            ConstValue::List(items) => items.iter_mut().for_each(|v| self.constant(pos, v)),
            ConstValue::Object(fields) => fields.values_mut().for_each(|v| self.constant(pos, v)),
            _ => {}
        }
    }

    fn push(&mut self, pos: Pos, s: &'d mut String) {
        let seq = self.strings.len();
        self.strings.push((pos, seq, s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::extensions::NextParseQuery;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Query;

    #[derive(async_graphql::InputObject)]
    struct Pair {
        k: String,
        v: Vec<String>,
    }

    #[Object]
    impl Query {
        async fn echo(&self, s: String) -> String {
            s
        }
        async fn join(&self, list: Vec<String>, pair: Pair) -> String {
            format!("{}|{}={}", list.join(","), pair.k, pair.v.join(","))
        }
    }

    /// Counts the documents the parser really parses (inside the cache).
    struct Parses(Arc<AtomicUsize>);

    impl ExtensionFactory for Parses {
        fn create(&self) -> Arc<dyn Extension> {
            Arc::new(ParsesExtension(self.0.clone()))
        }
    }

    struct ParsesExtension(Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl Extension for ParsesExtension {
        async fn parse_query(
            &self,
            ctx: &ExtensionContext<'_>,
            query: &str,
            variables: &Variables,
            next: NextParseQuery<'_>,
        ) -> ServerResult<ExecutableDocument> {
            self.0.fetch_add(1, Ordering::SeqCst);
            next.run(ctx, query, variables).await
        }
    }

    fn schema(parses: &Arc<AtomicUsize>) -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(DocumentCache::default())
            .extension(Parses(parses.clone()))
            .finish()
    }

    async fn answer(
        schema: &Schema<Query, EmptyMutation, EmptySubscription>,
        query: &str,
    ) -> serde_json::Value {
        let response = schema.execute(Request::new(query)).await;
        serde_json::to_value(&response).expect("json")
    }

    #[tokio::test]
    async fn operations_that_differ_in_their_string_literals_are_parsed_once_and_answer_their_own()
    {
        let parses = Arc::new(AtomicUsize::new(0));
        let schema = schema(&parses);
        let query = |a: &str, b: &str, c: &str, d: &str| {
            format!(
                r#"# a "comment" with quotes
                {{ a: echo(s: "{a}") b: join(list: ["{b}", "{c}"], pair: {{k: "{d}", v: ["{a}"]}}) }}"#
            )
        };
        let first = answer(&schema, &query("ab", "cd", "ef", "gh")).await;
        assert_eq!(first["data"]["a"], "ab");
        assert_eq!(first["data"]["b"], "cd,ef|gh=ab");
        let second = answer(&schema, &query("12", "34", "56", "78")).await;
        assert_eq!(second["data"]["a"], "12");
        assert_eq!(second["data"]["b"], "34,56|78=12");
        assert_eq!(
            parses.load(Ordering::SeqCst),
            1,
            "the second is the first's shape"
        );
        // A literal of another length is another shape, parsed, and answers its own too.
        let third = answer(&schema, &query("abc", "d", "", "g")).await;
        assert_eq!(third["data"]["b"], "d,|g=abc");
        assert_eq!(parses.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn strings_with_escapes_or_outside_ascii_are_kept_in_the_shape_and_decoded_by_the_parser()
    {
        let parses = Arc::new(AtomicUsize::new(0));
        let schema = schema(&parses);
        let escaped = answer(&schema, r#"{ echo(s: "a\"b\u00e9") }"#).await;
        assert_eq!(escaped["data"]["echo"], "a\"b\u{e9}");
        let other = answer(&schema, r#"{ echo(s: "a\"c\u00e9") }"#).await;
        assert_eq!(other["data"]["echo"], "a\"c\u{e9}");
        let accented = answer(&schema, r#"{ echo(s: "zé") }"#).await;
        assert_eq!(accented["data"]["echo"], "zé");
        let again = answer(&schema, r#"{ echo(s: "zé") }"#).await;
        assert_eq!(again["data"]["echo"], "zé");
        assert_eq!(
            parses.load(Ordering::SeqCst),
            3,
            "one parse per distinct text"
        );
        let block = answer(&schema, r#"{ echo(s: """x"y""") }"#).await;
        assert_eq!(block["data"]["echo"], "x\"y");
    }

    #[tokio::test]
    async fn a_kept_shape_reports_errors_where_the_text_has_them() {
        let parses = Arc::new(AtomicUsize::new(0));
        let schema = schema(&parses);
        answer(&schema, r#"{ echo(s: "aa") nope }"#).await;
        let error = answer(&schema, r#"{ echo(s: "bb") nope }"#).await;
        assert_eq!(parses.load(Ordering::SeqCst), 1);
        assert_eq!(error["errors"][0]["locations"][0]["column"], 17, "{error}");
        // A broken text is never kept: each is parsed and refused.
        for _ in 0..2 {
            let broken = answer(&schema, r#"{ echo(s: "a) }"#).await;
            assert!(broken["errors"][0]["message"].is_string(), "{broken}");
        }
    }

    #[test]
    fn the_shape_blanks_plain_literals_and_keeps_the_rest() {
        let s = shape(
            r#"{ f(a: "c12", b: "x\ny", c: "é") # "not a literal"
        }"#,
        )
        .expect("a shape");
        assert_eq!(s.literals, vec![Some("c12"), None, None]);
        assert!(
            s.text
                .starts_with(r#"{ f(a: "xxx", b: "x\ny", c: "é") # "not"#)
        );
        assert!(shape(r#"{ f(a: """block""") }"#).is_none());
        assert!(shape("{ f(a: \"open\n\") }").is_none());
        assert!(shape(r#"{ f(a: "unterminated"#).is_none());
        assert!(shape(r#"{ f(a: "ends in a backslash\"#).is_none());
    }
}
