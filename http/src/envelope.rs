//! The contract's envelope (CONTRACT.md §1.3): always `{"base":{code,msg},"data"?}`,
//! HTTP 200, JSON. Business errors become envelopes here and nowhere else.

use fanone_errno::{Code, Error};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use volo_http::{body::Body, response::Response, server::IntoResponse};

#[derive(Serialize)]
struct Base<'a> {
    code: i32,
    msg: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    base: Base<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// A successful answer with `data`.
pub fn ok<T: Serialize>(data: T) -> Response {
    render(
        StatusCode::OK,
        Code::Success.as_i32(),
        "success",
        Some(data),
    )
}

/// A successful answer without `data` (register, bind, ...).
pub fn ok_empty() -> Response {
    render::<()>(StatusCode::OK, Code::Success.as_i32(), "success", None)
}

/// The envelope code of a response (a response extension, read by the edge's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered(pub i32);

pub fn render<T: Serialize>(status: StatusCode, code: i32, msg: &str, data: Option<T>) -> Response {
    let body = serde_json::to_vec(&Envelope {
        base: Base { code, msg },
        data,
    })
    .unwrap_or_else(|_| br#"{"base":{"code":10001,"msg":"internal server error"}}"#.to_vec());
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.extensions_mut().insert(Answered(code));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// Every handler's error type: a business error, answered as an envelope.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = render::<()>(StatusCode::OK, self.0.code.as_i32(), &self.0.msg, None);
        // too many attempts / busy: when to try again (RFC 9110 §10.2.3)
        if let Some(secs) = self.0.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type ApiResult = Result<Response, ApiError>;
