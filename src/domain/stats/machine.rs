//! Telling automatic opens from people's. Mail privacy proxies, security scanners and link
//! checkers fetch the open pixel without anyone reading: an open is counted apart (a machine
//! open, never a unique open) when it comes within a few seconds of the send, or from a user
//! agent known to prefetch. Such an open stays automatic unless a person's sign follows — a
//! click counts as the message's open.

use std::time::Duration;

/// User-agent fragments (lower case) of known prefetchers and scanners.
const PREFETCHERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "scanner",
    "preview",
    "headless",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "forcepoint",
    "trendmicro",
    "sophos",
    "fortiguard",
    "cisco",
    "microsoft office protocol discovery",
    "python-",
    "curl/",
    "wget",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "httpclient",
];

/// How an open hit looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenKind {
    Human,
    /// Fetched by a machine (the reason says why).
    Machine(&'static str),
}

/// Judges an open hit `since_send` after the message went out, from `user_agent`.
pub fn judge_open(
    user_agent: Option<&str>,
    since_send: Option<Duration>,
    window: Duration,
) -> OpenKind {
    if since_send.is_some_and(|d| d < window) {
        return OpenKind::Machine("within seconds of the send");
    }
    let agent = user_agent.map(str::trim).unwrap_or_default();
    // Apple Mail Privacy Protection fetches through proxies that say only this.
    if agent.is_empty() || agent == "Mozilla/5.0" {
        return OpenKind::Machine("a privacy proxy's user agent");
    }
    let lower = agent.to_ascii_lowercase();
    if PREFETCHERS.iter().any(|p| lower.contains(p)) {
        return OpenKind::Machine("a known prefetcher's user agent");
    }
    OpenKind::Human
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
    const WINDOW: Duration = Duration::from_secs(5);

    #[test]
    fn an_open_long_after_the_send_from_a_mail_client_is_a_person() {
        let late = Some(Duration::from_secs(3600));
        assert_eq!(judge_open(Some(PERSON), late, WINDOW), OpenKind::Human);
    }

    #[test]
    fn an_open_within_seconds_of_the_send_is_a_machine() {
        let soon = Some(Duration::from_secs(2));
        assert!(matches!(
            judge_open(Some(PERSON), soon, WINDOW),
            OpenKind::Machine(_)
        ));
    }

    #[test]
    fn privacy_proxies_and_scanners_are_machines() {
        let late = Some(Duration::from_secs(3600));
        for agent in [
            "Mozilla/5.0",
            "",
            "Barracuda Sentinel (EE)",
            "python-requests/2.31",
            "Googlebot/2.1",
        ] {
            assert!(
                matches!(judge_open(Some(agent), late, WINDOW), OpenKind::Machine(_)),
                "{agent}"
            );
        }
        assert!(matches!(
            judge_open(None, late, WINDOW),
            OpenKind::Machine(_)
        ));
    }
}
