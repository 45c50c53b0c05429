//! CONTRACT.md §4.3 like and comment routes.

use volo_http::server::route::Router;

pub fn router() -> Router {
    Router::new()
}
