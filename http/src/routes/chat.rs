//! CONTRACT.md §5 WebSocket chat (`GET /ws`).

use volo_http::server::route::Router;

pub fn router() -> Router {
    Router::new()
}
