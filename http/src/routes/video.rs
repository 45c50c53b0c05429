//! CONTRACT.md §4.2 video routes.

use volo_http::server::route::Router;

pub fn router() -> Router {
    Router::new()
}
