//! Click tracking for HTML email: every `href="http…"` becomes a redirect through Nudge, and
//! an open pixel goes before `</body>`.

/// Rewrites each absolute http(s) link of `html` with `tracked(index, url)` — except those that
/// start with one of `keep` (Nudge's own unsubscribe, view and tracking links) — and returns
/// the new HTML with the original targets by index.
pub fn track_links(
    html: &str,
    keep: &[String],
    mut tracked: impl FnMut(u32, &str) -> String,
) -> (String, Vec<String>) {
    const HREF: &str = "href=\"";
    let mut out = String::with_capacity(html.len() + 64);
    let mut targets = Vec::new();
    let mut rest = html;
    while let Some(start) = find_ignore_case(rest, HREF) {
        let value_start = start + HREF.len();
        let Some(len) = rest[value_start..].find('"') else {
            break;
        };
        let url = &rest[value_start..value_start + len];
        out.push_str(&rest[..value_start]);
        let lower = url.to_ascii_lowercase();
        let trackable = (lower.starts_with("http://") || lower.starts_with("https://"))
            && !keep.iter().any(|prefix| url.starts_with(prefix.as_str()));
        if trackable {
            let index = u32::try_from(targets.len()).unwrap_or(u32::MAX);
            // The template engine escaped `&` as `&amp;` in attribute values.
            targets.push(url.replace("&amp;", "&"));
            out.push_str(&tracked(index, url));
        } else {
            out.push_str(url);
        }
        rest = &rest[value_start + len..];
    }
    out.push_str(rest);
    (out, targets)
}

/// Puts `pixel` (an `<img>` tag) before `</body>`, or at the end when there is none.
pub fn add_open_pixel(html: &str, pixel: &str) -> String {
    match rfind_ignore_case(html, "</body>") {
        Some(at) => format!("{}{pixel}{}", &html[..at], &html[at..]),
        None => format!("{html}{pixel}"),
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn rfind_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .rposition(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_links_are_tracked_and_our_own_are_kept() {
        let html = r#"<a href="https://shop.example/p?a=1&amp;b=2">P</a> <a HREF="https://nudge.example/u/x">U</a> <a href="mailto:a@b">M</a> <a href="https://nudge.example/r/c">C</a>"#;
        let keep = ["https://nudge.example/u/".to_owned()];
        let (out, targets) =
            track_links(html, &keep, |i, _| format!("https://nudge.example/t/c/{i}"));
        assert_eq!(
            targets,
            vec![
                "https://shop.example/p?a=1&b=2".to_owned(),
                "https://nudge.example/r/c".to_owned()
            ]
        );
        assert_eq!(
            out,
            r#"<a href="https://nudge.example/t/c/0">P</a> <a HREF="https://nudge.example/u/x">U</a> <a href="mailto:a@b">M</a> <a href="https://nudge.example/t/c/1">C</a>"#
        );
    }

    #[test]
    fn the_pixel_goes_before_the_end_of_the_body() {
        assert_eq!(
            add_open_pixel("<html><body>Hi</BODY></html>", "<img>"),
            "<html><body>Hi<img></BODY></html>"
        );
        assert_eq!(add_open_pixel("Hi", "<img>"), "Hi<img>");
    }
}
