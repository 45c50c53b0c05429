//! CONTRACT.md §4.4 relation routes.

use volo_http::server::route::Router;

pub fn router() -> Router {
    Router::new()
}
