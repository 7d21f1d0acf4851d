//! Files the browser needs, embedded in the binary at build time (`assets/`), so GraphiQL
//! works offline and behind a firewall: nothing is loaded from another host. Their licences
//! are in `assets/graphiql/LICENSES.md`. Names carry their version, so they are cached for a
//! year.
//!
//! Pages of the binary send [`strict_headers`]: a Content-Security-Policy that allows only
//! this origin's scripts (none inline), no framing, no referrer to other sites, no content
//! sniffing.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

/// (name under `/assets/`, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "graphiql-3.8.3.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-3.8.3.min.js"),
    ),
    (
        "graphiql-3.8.3.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-3.8.3.min.css"),
    ),
    (
        "react-18.3.1.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-18.3.1.min.js"),
    ),
    (
        "react-dom-18.3.1.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom-18.3.1.min.js"),
    ),
    (
        "graphiql-init-1.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-init.js"),
    ),
    (
        "graphiql-page-1.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql-page.css"),
    ),
    (
        "console-1.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console/console.css"),
    ),
    (
        "console-live-1.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/live.js"),
    ),
    (
        "LICENSES.md",
        "text/markdown; charset=utf-8",
        include_bytes!("../../assets/graphiql/LICENSES.md"),
    ),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{name}", web::get().to(asset));
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(file, _, _)| *file == name.as_str()) {
        Some((_, content_type, bytes)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

/// The headers of a page the binary serves: scripts, styles, images, fonts and connections of
/// this origin only (its WebSocket included); inline styles allowed (the editor sets them),
/// inline scripts never; no framing.
pub(super) fn strict_headers(response: &mut HttpResponseBuilder, req: &HttpRequest) {
    let host = req.connection_info().host().to_owned();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws://{host} wss://{host}; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    response
        .insert_header(("Content-Security-Policy", policy))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Browsers then name this origin in a form's `Origin`, and nothing to another site.
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
}

/// GraphiQL, offline: the page, its styles and scripts all from `/assets/`.
pub fn graphiql(req: &HttpRequest) -> HttpResponse {
    const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nudge GraphiQL</title>
<link rel="stylesheet" href="/assets/graphiql-3.8.3.min.css">
<link rel="stylesheet" href="/assets/graphiql-page-1.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/assets/react-18.3.1.min.js"></script>
<script src="/assets/react-dom-18.3.1.min.js"></script>
<script src="/assets/graphiql-3.8.3.min.js"></script>
<script src="/assets/graphiql-init-1.js"></script>
</body>
</html>
"#;
    let mut response = HttpResponse::Ok();
    strict_headers(&mut response, req);
    response.content_type("text/html; charset=utf-8").body(PAGE)
}
