//! The web page of the site at `/`: three static files compiled into the binary
//! (`http/web/`), so nothing is built or fetched at run time. The page talks to the
//! same API as every other client.

use http::{HeaderValue, header};
use volo_http::{
    body::Body,
    response::Response,
    server::route::{Router, get},
};

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");

/// Scripts and styles from this origin only; media and pictures from wherever the
/// object store's public URL points; the chat WebSocket.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src * data: blob:; media-src * blob:; connect-src 'self' ws: wss:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { file(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/web/app.js",
            get(|| async { file(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/web/app.css",
            get(|| async { file(APP_CSS, "text/css; charset=utf-8") }),
        )
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // small files: revalidate each time, so a new binary's page is seen at once
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        for (name, text) in [("index", INDEX_HTML), ("js", APP_JS), ("css", APP_CSS)] {
            assert!(!text.contains("http://"), "{name} names an http:// URL");
            assert!(!text.contains("https://"), "{name} names an https:// URL");
            assert!(!text.contains("//cdn"), "{name} uses a CDN");
        }
        assert!(INDEX_HTML.contains(r#"src="/web/app.js""#));
        assert!(INDEX_HTML.contains(r#"href="/web/app.css""#));
    }
}
