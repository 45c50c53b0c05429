//! One extractor for every route's parameters (CONTRACT.md §1.2): multipart,
//! urlencoded and JSON bodies, with the query string as a fallback. Files (multipart
//! parts with a filename) are streamed to a temporary object, never held in memory.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use fanone_errno::Error;
use fanone_storage::{StorageError, TempObject};
use http::{header, request::Parts};
use http_body_util::BodyExt;
use volo::context::Context;
use volo_http::{
    body::Body,
    context::ServerContext,
    server::{extract::FromRequest, utils::multipart::Multipart},
};

use crate::{envelope::ApiError, state::State};

/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: i64 = 10;
/// Largest page of any list route.
pub const MAX_PAGE_SIZE: i64 = 100;

/// Most fields (multipart parts, form pairs) a request may carry.
const MAX_FIELDS: usize = 64;
/// The only multipart field that may carry a file, on the routes that take one.
pub const FILE_FIELD: &str = "data";

/// The request headers (volo-http has no extractor for them).
#[derive(Debug, Clone)]
pub struct Headers(pub http::HeaderMap);

impl volo_http::server::extract::FromContext for Headers {
    type Rejection = ApiError;

    async fn from_context(_: &mut ServerContext, parts: &mut Parts) -> Result<Self, ApiError> {
        Ok(Headers(parts.headers.clone()))
    }
}

/// The parameters of a request, whatever their encoding.
#[derive(Debug, Default)]
pub struct Input {
    fields: HashMap<String, String>,
    files: HashMap<String, Upload>,
}

/// A file part of a multipart request, already written to a temporary object.
#[derive(Debug)]
pub struct Upload {
    pub file_name: Option<String>,
    pub object: TempObject,
}

impl Input {
    /// A text field: `None` if absent. Empty strings count as absent for optional use.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A required, non-empty text field.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.opt(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Error::param(format!("{name} is required")).into()),
        }
    }

    /// An optional id (decimal string of a positive i64).
    pub fn opt_id(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.opt(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => fanone_id::parse(v)
                .map(Some)
                .ok_or_else(|| Error::param(format!("{name} must be a numeric id")).into()),
        }
    }

    /// An optional integer; empty string = absent.
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.opt(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| Error::param(format!("{name} must be an integer")).into()),
        }
    }

    /// Paging per CONTRACT.md §1.6: 0-based `page_num` (default 0, negative is an
    /// error), `page_size` default 10, non-positive = default, capped at `max`.
    pub fn page(&self, max: i64) -> Result<volo_gen::base::Page, ApiError> {
        let page_num = self.opt_i64("page_num")?.unwrap_or(0);
        if page_num < 0 {
            return Err(Error::param("page_num must not be negative").into());
        }
        let page_size = match self.opt_i64("page_size")? {
            Some(n) if n > 0 => n.min(max),
            _ => DEFAULT_PAGE_SIZE.min(max),
        };
        // keep offset = page_num * page_size far from overflow
        if page_num > 1_000_000 {
            return Err(Error::param("page_num is too large").into());
        }
        Ok(volo_gen::base::Page {
            page_num,
            page_size,
        })
    }

    /// Take a file part.
    pub fn take_file(&mut self, name: &str) -> Result<Upload, ApiError> {
        self.files.remove(name).ok_or_else(|| {
            Error::param(format!("file field {name} is required (multipart)")).into()
        })
    }

    fn set_text(&mut self, name: String, value: String) -> Result<(), ApiError> {
        if self.fields.len() + self.files.len() >= MAX_FIELDS && !self.fields.contains_key(&name) {
            return Err(Error::param("too many fields").into());
        }
        self.fields.insert(name, value);
        Ok(())
    }
}

impl FromRequest for Input {
    type Rejection = ApiError;

    async fn from_request(
        cx: &mut ServerContext,
        parts: Parts,
        body: Body,
    ) -> Result<Self, ApiError> {
        let state = cx
            .extensions()
            .get::<State>()
            .cloned()
            .ok_or_else(|| Error::internal("gateway state missing"))?;
        let mut input = Input::default();
        if let Some(q) = parts.uri.query() {
            for (k, v) in form_pairs(q.as_bytes())? {
                input.set_text(k, v)?;
            }
        }
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let declared_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body_limit = state.limits().max_body_bytes;
        let idle = state.limits().body_idle_timeout;

        if content_type.starts_with("multipart/form-data") {
            let file_limit = state.limits().file_limit(parts.uri.path());
            // room for the file plus the text fields and multipart framing; the cap
            // holds for the whole body as it streams, whatever its framing (a declared
            // Content-Length is only the early answer)
            let request_limit = file_limit.saturating_add(body_limit);
            if declared_len.is_some_and(|n| n > request_limit) {
                return Err(too_large(request_limit));
            }
            let (body, cut) = capped(body, request_limit, idle);
            read_multipart(cx, parts, body, &state, file_limit, &mut input)
                .await
                .map_err(|e| cut.explain(e, request_limit))?;
        } else {
            if declared_len.is_some_and(|n| n > body_limit) {
                return Err(too_large(body_limit));
            }
            let (body, cut) = capped(body, body_limit, idle);
            let bytes = read_all(body)
                .await
                .map_err(|e| cut.explain(e, body_limit))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(input);
            }
            let pairs = if content_type.starts_with("application/json") {
                json_pairs(&bytes)?
            } else if content_type.starts_with("application/x-www-form-urlencoded")
                || content_type.is_empty()
            {
                form_pairs(&bytes)?
            } else {
                return Err(
                    Error::param(format!("unsupported content type {content_type}")).into(),
                );
            };
            for (k, v) in pairs {
                input.set_text(k, v)?;
            }
        }
        Ok(input)
    }
}

fn too_large(limit: u64) -> ApiError {
    Error::param(format!("request body exceeds {limit} bytes")).into()
}

/// Why a capped body stopped early.
#[derive(Clone, Default)]
struct Cut(Arc<AtomicU8>);

const CUT_TOO_LARGE: u8 = 1;
const CUT_IDLE: u8 = 2;

impl Cut {
    /// The error to answer: the body's own reason if it was cut, else `e`.
    fn explain(&self, e: ApiError, limit: u64) -> ApiError {
        match self.0.load(Ordering::Relaxed) {
            CUT_TOO_LARGE => too_large(limit),
            CUT_IDLE => {
                Error::param("request body stalled (no data within the idle timeout)").into()
            }
            _ => e,
        }
    }
}

/// The body, ended with an error once more than `limit` bytes arrived in total
/// (chunked or not) or once no data arrived for `idle`.
fn capped(body: Body, limit: u64, idle: Duration) -> (Body, Cut) {
    let cut = Cut::default();
    let flag = cut.clone();
    let stream = futures::stream::unfold((body, 0u64, false), move |(mut body, seen, done)| {
        let flag = flag.clone();
        async move {
            if done {
                return None;
            }
            let stop = |why: u8, body, seen| {
                flag.0.store(why, Ordering::Relaxed);
                let err: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(std::io::Error::other("request body cut"));
                Some((Err(err), (body, seen, true)))
            };
            match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => stop(CUT_IDLE, body, seen),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((Err(e), (body, seen, true))),
                Ok(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    let seen = seen.saturating_add(n);
                    if seen > limit {
                        stop(CUT_TOO_LARGE, body, seen)
                    } else {
                        Some((Ok(frame), (body, seen, false)))
                    }
                }
            }
        }
    });
    (Body::from_stream(stream), cut)
}

async fn read_all(mut body: Body) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Error::param("request body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

fn form_pairs(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .map_err(|_| Error::param("malformed form or query string").into())
}

/// A flat JSON object; numbers and booleans are taken as their text.
fn json_pairs(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| Error::param("malformed JSON body"))?;
    let serde_json::Value::Object(map) = value else {
        return Err(Error::param("JSON body must be an object").into());
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => return Err(Error::param(format!("{k} must be a string or a number")).into()),
        };
        out.push((k, text));
    }
    Ok(out)
}

async fn read_multipart(
    cx: &mut ServerContext,
    parts: Parts,
    body: Body,
    state: &State,
    file_limit: u64,
    input: &mut Input,
) -> Result<(), ApiError> {
    fn bad<E>(_: E) -> ApiError {
        ApiError(Error::param("malformed multipart body"))
    }
    let mut mp = Multipart::from_request(cx, parts, body)
        .await
        .map_err(|_| Error::param("malformed multipart body"))?;
    let mut text_bytes = 0u64;
    let mut parts_seen = 0usize;
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        parts_seen += 1;
        if parts_seen > MAX_FIELDS {
            return Err(Error::param("too many fields").into());
        }
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if let Some(file_name) = field.file_name().map(str::to_owned) {
            if file_limit == 0 {
                return Err(
                    Error::param(format!("this route takes no file (field {name})")).into(),
                );
            }
            if name != FILE_FIELD {
                return Err(Error::param(format!(
                    "unexpected file field {name} (the file goes in {FILE_FIELD})"
                ))
                .into());
            }
            if input.files.contains_key(&name) {
                return Err(Error::param(format!("only one file is allowed in {name}")).into());
            }
            let mut object = state
                .store
                .begin(file_limit)
                .await
                .map_err(Error::internal)?;
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                object.write(&chunk).await.map_err(|e| match e {
                    StorageError::TooLarge { limit } => {
                        Error::param(format!("{name} exceeds {limit} bytes"))
                    }
                    other => Error::internal(other),
                })?;
            }
            input.files.insert(
                name,
                Upload {
                    file_name: Some(file_name),
                    object,
                },
            );
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                text_bytes += chunk.len() as u64;
                if text_bytes > state.limits().max_body_bytes {
                    return Err(too_large(state.limits().max_body_bytes));
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value)
                .map_err(|_| Error::param(format!("{name} must be UTF-8 text")))?;
            input.set_text(name, value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_flattened() {
        let pairs = json_pairs(br#"{"a":"x","n":3,"b":true,"z":null}"#).unwrap();
        let m: HashMap<_, _> = pairs.into_iter().collect();
        assert_eq!(m["a"], "x");
        assert_eq!(m["n"], "3");
        assert_eq!(m["b"], "true");
        assert!(!m.contains_key("z"));
        assert!(json_pairs(br#"{"a":{"b":1}}"#).is_err());
        assert!(json_pairs(br#"[1,2]"#).is_err());
        assert!(json_pairs(br#"{"a":"#).is_err());
    }

    #[test]
    fn form_is_decoded() {
        let pairs = form_pairs(b"username=a%27+OR+1%3D1&password=p%26w").unwrap();
        assert_eq!(pairs[0], ("username".into(), "a' OR 1=1".into()));
        assert_eq!(pairs[1], ("password".into(), "p&w".into()));
    }

    #[test]
    fn typed_accessors() {
        let mut i = Input::default();
        i.set_text("id".into(), "123".into()).unwrap();
        i.set_text("bad".into(), "12x".into()).unwrap();
        i.set_text("empty".into(), "".into()).unwrap();
        assert_eq!(i.opt_id("id").unwrap(), Some(123));
        assert!(i.opt_id("bad").is_err());
        assert_eq!(i.opt_id("empty").unwrap(), None);
        assert_eq!(i.opt_i64("missing").unwrap(), None);
        assert!(i.required("empty").is_err());
        assert!(i.take_file("data").is_err());
        let p = i.page(MAX_PAGE_SIZE).unwrap();
        assert_eq!((p.page_num, p.page_size), (0, 10));
        i.set_text("page_num".into(), "2".into()).unwrap();
        i.set_text("page_size".into(), "1000".into()).unwrap();
        let p = i.page(MAX_PAGE_SIZE).unwrap();
        assert_eq!((p.page_num, p.page_size), (2, 100));
        i.set_text("page_size".into(), "0".into()).unwrap();
        assert_eq!(i.page(MAX_PAGE_SIZE).unwrap().page_size, 10);
        i.set_text("page_num".into(), "-1".into()).unwrap();
        assert!(i.page(MAX_PAGE_SIZE).is_err());
    }
}
