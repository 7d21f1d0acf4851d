//! How deeply a request nests, measured by one linear pass over its text and before anything
//! recursive reads it. async-graphql's parser and serde_json recurse on nested values, so a
//! few kilobytes of `[[[[…` overflow a worker's stack; these scans refuse such a request
//! first, whatever its key.

use async_graphql::Value;

/// The deepest bracket nesting of a GraphQL document: `{`, `[` and `(` open a level, `}`,
/// `]` and `)` close one. Brackets inside strings, block strings and comments do not count.
/// The scan stops as soon as the depth passes `limit` and returns `Err(limit + 1)`; otherwise
/// `Ok(depth)`. It never recurses and never allocates.
pub fn graphql_depth(text: &str, limit: usize) -> Result<usize, usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0_usize, 0_usize, 0_usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Err(limit + 1);
                }
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(deepest)
}

/// The deepest nesting of JSON text (objects and arrays; brackets inside strings do not
/// count), with the same early stop as [`graphql_depth`]. Malformed JSON is scanned as far
/// as it goes: the parser that reads it next reports what is wrong.
pub fn json_depth(bytes: &[u8], limit: usize) -> Result<usize, usize> {
    let (mut depth, mut deepest, mut i) = (0_usize, 0_usize, 0_usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(limit + 1);
                }
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(deepest)
}

/// The nesting of a GraphQL value (lists and objects), stopping past `limit`. Values that
/// reach here were parsed by serde_json, whose own limit keeps them under 128 levels, so the
/// recursion is bounded.
pub fn value_depth(value: &Value, limit: usize) -> Result<usize, usize> {
    fn walk(value: &Value, depth: usize, limit: usize) -> Result<usize, usize> {
        let mut children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::List(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => return Ok(depth),
        };
        let depth = depth + 1;
        if depth > limit {
            return Err(limit + 1);
        }
        children.try_fold(depth, |deepest, child| {
            walk(child, depth, limit).map(|d| d.max(deepest))
        })
    }
    walk(value, 0, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 64;

    fn nested(open: &str, close: &str, depth: usize) -> String {
        format!(
            "{{ viewer(x: {}1{}) {{ scope }} }}",
            open.repeat(depth),
            close.repeat(depth)
        )
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let text = "{ a(x: \"[[[{{{\", y: \"\"\"((( \\\"\"\" [[[ \"\"\") # {{{{{{{\n { b } }";
        assert_eq!(graphql_depth(text, LIMIT), Ok(2));
        assert_eq!(
            json_depth(br#"{"q": "[[[[{{{{", "v": [[1]]}"#, LIMIT),
            Ok(3)
        );
    }

    #[test]
    fn every_depth_up_to_a_hundred_thousand_is_measured_or_refused() {
        // Every depth: the scan stops past the limit, so the opening brackets are all it sees.
        let opens = "[".repeat(100_000);
        for depth in 1..=100_000 {
            let expected = if depth > LIMIT {
                Err(LIMIT + 1)
            } else {
                Ok(depth)
            };
            assert_eq!(
                graphql_depth(&opens[..depth], LIMIT),
                expected,
                "depth {depth}"
            );
            assert_eq!(
                json_depth(&opens.as_bytes()[..depth], LIMIT),
                expected,
                "depth {depth}"
            );
        }
        // Whole documents, balanced, at every depth to 2,000 and then in steps.
        let mut depth = 1;
        while depth <= 100_000 {
            let expected = if depth + 2 > LIMIT {
                Err(LIMIT + 1)
            } else {
                Ok(depth + 2)
            };
            assert_eq!(
                graphql_depth(&nested("[", "]", depth), LIMIT),
                expected,
                "depth {depth}"
            );
            let expected = if depth + 2 > LIMIT {
                Err(LIMIT + 1)
            } else {
                Ok(depth + 2)
            };
            assert_eq!(
                graphql_depth(&nested("{a: ", "}", depth), LIMIT),
                expected,
                "depth {depth}"
            );
            depth += if depth < 2_000 { 1 } else { 997 };
        }
    }

    #[test]
    fn value_depth_counts_lists_and_objects() {
        let value: Value = serde_json::from_str::<serde_json::Value>(r#"{"a": [{"b": [1]}]}"#)
            .map(|v| Value::from_json(v).expect("a value"))
            .expect("json");
        assert_eq!(value_depth(&value, LIMIT), Ok(4));
        assert_eq!(value_depth(&value, 3), Err(4));
        assert_eq!(value_depth(&Value::Null, LIMIT), Ok(0));
    }

    /// Parses on a thread with a deliberately small stack: a document the scan lets through
    /// must be safe for the real parser even there.
    fn parses_on_a_small_stack(text: String) -> bool {
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                let _ = async_graphql::parser::parse_query(&text);
            })
            .expect("a thread")
            .join()
            .is_ok()
    }

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just("\"".to_owned()),
            Just("\"\"\"".to_owned()),
            Just("\\".to_owned()),
            Just("#".to_owned()),
            Just("\n".to_owned()),
            Just("a: ".to_owned()),
            Just("x".to_owned()),
            Just(", ".to_owned()),
            "[a-z0-9 ]{0,4}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("NUDGE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128)
        ))]

        /// Random text made of the characters that matter: the scan never panics, agrees
        /// with itself under a larger limit, and what it accepts the parser survives.
        #[test]
        fn random_documents_are_measured_safely(parts in prop::collection::vec(fragment(), 0..1_500)) {
            let text: String = parts.concat();
            let verdict = graphql_depth(&text, LIMIT);
            match verdict {
                Ok(depth) => {
                    prop_assert!(depth <= LIMIT);
                    prop_assert_eq!(graphql_depth(&text, usize::MAX), Ok(depth));
                    prop_assert!(parses_on_a_small_stack(text.clone()));
                }
                Err(over) => prop_assert_eq!(over, LIMIT + 1),
            }
            let _ = json_depth(text.as_bytes(), LIMIT);
        }

        /// Real nesting of random kinds and depth: refused exactly when it passes the limit.
        #[test]
        fn nesting_is_refused_exactly_past_the_limit(
            kinds in prop::collection::vec(0_usize..3, 1..400),
        ) {
            let (open, close): (String, String) = kinds.iter().fold(
                (String::new(), String::new()),
                |(mut open, mut close), kind| {
                    let (o, c) = [("[", "]"), ("{a: ", "}"), ("[{b: ", "}]")][*kind];
                    open.push_str(o);
                    close.insert_str(0, c);
                    (open, close)
                },
            );
            let text = format!("{{ f(x: {open}1{close}) }}");
            let depth = 2 + kinds.iter().map(|k| if *k == 2 { 2 } else { 1 }).sum::<usize>();
            let expected = if depth > LIMIT { Err(LIMIT + 1) } else { Ok(depth) };
            prop_assert_eq!(graphql_depth(&text, LIMIT), expected);
        }
    }
}
