//! Every answer names the instance that produced it, in the backward TTHeader
//! metainfo key [`METAINFO_KEY`] (`RPC_BACKWARD_FANONE_INSTANCE` on the wire; Kitex
//! reads it with `metainfo.RecvBackwardValue`). Operators and tests use it to see
//! where load balancing sent a call.

use metainfo::Backward as _;
use motore::{layer::Layer, service::Service};
use volo_thrift::context::ServerContext;

pub const METAINFO_KEY: &str = "FANONE_INSTANCE";

#[derive(Clone)]
pub struct ServedByLayer {
    name: volo::FastStr,
}

impl ServedByLayer {
    /// `name` is `<service>@<ip:port>`.
    pub fn new(name: String) -> Self {
        Self { name: name.into() }
    }
}

impl<S> Layer<S> for ServedByLayer {
    type Service = ServedBy<S>;

    fn layer(self, inner: S) -> Self::Service {
        ServedBy {
            inner,
            name: self.name,
        }
    }
}

#[derive(Clone)]
pub struct ServedBy<S> {
    inner: S,
    name: volo::FastStr,
}

impl<S, Req> Service<ServerContext, Req> for ServedBy<S>
where
    S: Service<ServerContext, Req> + Send + Sync,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;

    async fn call(&self, cx: &mut ServerContext, req: Req) -> Result<S::Response, S::Error> {
        let _ = metainfo::METAINFO.try_with(|m| {
            m.borrow_mut()
                .set_backward_transient(METAINFO_KEY, self.name.clone())
        });
        self.inner.call(cx, req).await
    }
}

/// The instance that answered the last call made in the current metainfo scope
/// (wrap the call in `metainfo::METAINFO.scope(...)` to read it).
pub fn last_served_by() -> Option<String> {
    metainfo::METAINFO
        .try_with(|m| m.borrow().get_backward_downstream(METAINFO_KEY))
        .ok()
        .flatten()
        .map(|s| s.to_string())
}
