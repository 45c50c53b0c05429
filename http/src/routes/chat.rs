//! CONTRACT.md §5 WebSocket chat (`GET /ws`); the protocol as built is in docs/chat.md.
//!
//! The handshake needs a valid identity (the `Caller` extractor runs before the
//! upgrade, so a refusal is the usual HTTP 200 envelope with 10004). Each connection
//! is one task: it reads client frames and answers them in order, and forwards the
//! pushes the hub queues for its user. Every frame is JSON text
//! `{"type": <int>, "data": {...}}`; ids are strings (numbers are accepted on input).

use std::time::Duration;

use fanone_errno::{Code, Error, from_rpc};
use fanone_telemetry::trace;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument as _, field::Empty};
use volo_gen::{base, chat as crpc, social as srpc};
use volo_http::{
    server::{
        route::{Router, get},
        utils::ws::{Message, WebSocket, WebSocketUpgrade},
    },
    utils::Extension,
};

use crate::{
    auth::Caller,
    envelope::ApiResult,
    extract::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    state::State,
    ws::Push,
};

/// Largest message (and frame) a client may send; a bigger one closes the connection.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The server pings an idle connection this often...
const PING_EVERY: Duration = Duration::from_secs(30);
/// ...and drops it when nothing (not even a pong) arrived for this long.
const IDLE_LIMIT: Duration = Duration::from_secs(90);
/// A write that cannot complete this fast (a client that does not read) drops the
/// connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Frame types (CONTRACT.md §5).
const T_ERROR: i64 = 0;
const T_SEND: i64 = 1;
const T_HISTORY: i64 = 2;
const T_UNREAD: i64 = 3;
const T_GROUP_SEND: i64 = 4;
const T_GROUP_HISTORY: i64 = 5;

pub fn router() -> Router {
    Router::new().route("/ws", get(ws))
}

/// `Caller` comes first: without a valid identity the request is answered with the
/// 10004 envelope and never upgraded.
async fn ws(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    upgrade: Option<WebSocketUpgrade>,
) -> ApiResult {
    let Some(upgrade) = upgrade else {
        return Err(Error::param("GET /ws must be a WebSocket upgrade request").into());
    };
    let max = st.limits().ws_max_per_user;
    if st.hub.connections(uid) >= max {
        return Err(too_many_connections(max).into());
    }
    Ok(upgrade
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .on_failed_upgrade(move |e| tracing::warn!(user_id = uid, error = %e, "ws upgrade failed"))
        .on_upgrade(move |socket| session(st, uid, socket)))
}

fn too_many_connections(max: usize) -> Error {
    Error::new(
        Code::ChatNotAllowed,
        format!("too many live chat connections (at most {max} per user)"),
    )
}

/// One connection, from upgrade to close.
async fn session(st: State, uid: i64, mut socket: WebSocket) {
    let max = st.limits().ws_max_per_user;
    // checked again under the hub's lock: concurrent handshakes may pass the first check
    let Some((registration, mut inbox)) = st.hub.try_register(uid, max) else {
        let _ = write(&mut socket, error_frame(&too_many_connections(max))).await;
        let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.close(None)).await;
        return;
    };
    tracing::info!(user_id = uid, "ws connected");
    let connections = metrics::gauge!("fanone_ws_connections");
    connections.increment(1.0);
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            incoming = socket.next() => {
                let msg = match incoming {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        // protocol error, oversized frame, reset connection
                        tracing::debug!(user_id = uid, error = %e, "ws read failed");
                        break;
                    }
                    None => break,
                };
                last_seen = Instant::now();
                let reply = match msg {
                    Message::Text(text) => handle(&st, uid, text.as_str()).await,
                    Message::Binary(_) => error_frame(&Error::param("frames must be JSON text")),
                    Message::Close(_) => break,
                    // pings are answered by the protocol layer
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                if !write(&mut socket, reply).await {
                    break;
                }
            }
            Some(push) = inbox.recv() => {
                if !write(&mut socket, push.frame).await {
                    break;
                }
                metrics::counter!("fanone_ws_pushes_total").increment(1);
                if let Some(id) = push.message_id {
                    received(&st, uid, id).await;
                }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > IDLE_LIMIT {
                    tracing::debug!(user_id = uid, "ws idle; closing");
                    break;
                }
                if !write(&mut socket, Message::Ping(Default::default())).await {
                    break;
                }
            }
        }
    }
    // leave the hub first: pushes from now on stay unread for type 3
    drop(registration);
    connections.decrement(1.0);
    let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.close(None)).await;
    tracing::info!(user_id = uid, "ws closed");
}

/// Write one frame; false when the connection is gone or stuck.
async fn write(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

/// A pushed message was written to a live connection of its recipient: it no
/// longer waits in the unread inbox.
async fn received(st: &State, uid: i64, message_id: i64) {
    let r = st
        .chat
        .mark_read(crpc::MarkReadRequest {
            caller_id: uid,
            message_ids: vec![message_id],
        })
        .await;
    if let Err(e) = from_rpc(r) {
        tracing::warn!(message_id, error = %e, "marking a delivered message read failed");
    }
}

/// Answer one client frame: a reply frame, or a type 0 error frame. Never closes.
/// One frame from the client, in a span (and trace) of its own.
async fn handle(st: &State, uid: i64, text: &str) -> Message {
    let span = tracing::info_span!(
        "ws.message",
        otel.kind = "server",
        user.id = uid,
        ws.type = Empty,
        fanone.code = Empty,
        trace_id = Empty,
    );
    let tp = trace::continue_trace(&span, None);
    let started = std::time::Instant::now();
    let (kind, answer) = trace::scope(
        tp,
        async {
            match parse(text) {
                Ok((kind, data)) => (Some(kind), dispatch(st, uid, kind, &data).await),
                Err(e) => (None, Err(e)),
            }
        }
        .instrument(span.clone()),
    )
    .await;
    // a label per known type only: clients choose the number
    let kind = match kind {
        Some(k @ (T_SEND | T_HISTORY | T_UNREAD | T_GROUP_SEND | T_GROUP_HISTORY)) => k.to_string(),
        Some(_) => "unknown".to_owned(),
        None => "invalid".to_owned(),
    };
    let code = answer
        .as_ref()
        .err()
        .map_or(Code::Success.as_i32(), |e| e.code.as_i32())
        .to_string();
    span.record("ws.type", kind.as_str());
    span.record("fanone.code", code.as_str());
    metrics::counter!("fanone_ws_messages_total", "type" => kind.clone(), "code" => code)
        .increment(1);
    metrics::histogram!("fanone_ws_message_duration_seconds", "type" => kind)
        .record(started.elapsed().as_secs_f64());
    answer.unwrap_or_else(|e| error_frame(&e))
}

async fn dispatch(
    st: &State,
    uid: i64,
    kind: i64,
    data: &Map<String, Value>,
) -> Result<Message, Error> {
    match kind {
        T_SEND => send(st, uid, data).await,
        T_HISTORY => history(st, uid, data).await,
        T_UNREAD => unread(st, uid, data).await,
        T_GROUP_SEND | T_GROUP_HISTORY => Err(Error::param("group chat is not supported")),
        _ => Err(Error::param(format!("unknown message type {kind}"))),
    }
}

/// Type 1: store a message to a friend, push it to the recipient's live connections
/// (each marks it read once written; offline, it stays unread), and echo it to the
/// sender as the ack.
async fn send(st: &State, uid: i64, data: &Map<String, Value>) -> Result<Message, Error> {
    let to = id_field(data, "to_user_id")?.ok_or_else(|| Error::param("to_user_id is required"))?;
    let content = match data.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => return Err(Error::param("content is required")),
        Some(_) => return Err(Error::param("content must be a string")),
    };
    let friends = from_rpc(
        st.social
            .is_friend(srpc::IsFriendRequest {
                user_id: uid,
                other_id: to,
            })
            .await,
    )?
    .is_friend;
    if !friends {
        return Err(Error::new(
            Code::ChatNotAllowed,
            "you can only chat with friends (users who follow each other)",
        ));
    }
    let msg = from_rpc(
        st.chat
            .send(crpc::SendRequest {
                caller_id: uid,
                to_user_id: to,
                content: content.into(),
            })
            .await,
    )?
    .message;
    let push = Push {
        message_id: Some(msg.id),
        frame: frame(T_SEND, MessageView::from(msg)),
    };
    let live = st.hub.deliver(to, &push).await;
    tracing::debug!(from = uid, to, live, "chat message sent");
    Ok(push.frame)
}

/// Type 2: one page of the conversation with `to_user_id`, newest first.
async fn history(st: &State, uid: i64, data: &Map<String, Value>) -> Result<Message, Error> {
    let peer =
        id_field(data, "to_user_id")?.ok_or_else(|| Error::param("to_user_id is required"))?;
    let r = from_rpc(
        st.chat
            .history(crpc::HistoryRequest {
                caller_id: uid,
                peer_id: peer,
                page: page(data)?,
            })
            .await,
    )?;
    Ok(frame(
        T_HISTORY,
        Items {
            items: r.messages.into_iter().map(MessageView::from).collect(),
            total: Some(r.total),
        },
    ))
}

/// Type 3: unread messages to the caller (from `to_user_id` when given), oldest
/// first; the chat service marks them read as it hands them out.
async fn unread(st: &State, uid: i64, data: &Map<String, Value>) -> Result<Message, Error> {
    let peer = id_field(data, "to_user_id")?;
    let r = from_rpc(
        st.chat
            .unread(crpc::UnreadRequest {
                caller_id: uid,
                peer_id: peer,
            })
            .await,
    )?;
    Ok(frame(
        T_UNREAD,
        Items {
            items: r.messages.into_iter().map(MessageView::from).collect(),
            total: None,
        },
    ))
}

/// A chat message on the wire: string ids, `created_at` in Unix seconds.
#[derive(Debug, Serialize)]
struct MessageView {
    id: String,
    from_user_id: String,
    to_user_id: String,
    content: String,
    created_at: i64,
}

impl From<base::Message> for MessageView {
    fn from(m: base::Message) -> Self {
        Self {
            id: m.id.to_string(),
            from_user_id: m.from_user_id.to_string(),
            to_user_id: m.to_user_id.to_string(),
            content: m.content.to_string(),
            created_at: m.created_at.div_euclid(1000),
        }
    }
}

#[derive(Serialize)]
struct Items {
    items: Vec<MessageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<i64>,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: i32,
    msg: &'a str,
}

#[derive(Serialize)]
struct Frame<T: Serialize> {
    #[serde(rename = "type")]
    kind: i64,
    data: T,
}

fn frame<T: Serialize>(kind: i64, data: T) -> Message {
    let text = serde_json::to_string(&Frame { kind, data }).unwrap_or_else(|_| {
        r#"{"type":0,"data":{"code":10001,"msg":"internal server error"}}"#.to_owned()
    });
    Message::text(text)
}

fn error_frame(e: &Error) -> Message {
    frame(
        T_ERROR,
        ErrorData {
            code: e.code.as_i32(),
            msg: &e.msg,
        },
    )
}

/// `{"type": <int>, "data": {...}}`; `data` may be absent or null (= `{}`).
fn parse(text: &str) -> Result<(i64, Map<String, Value>), Error> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| Error::param("frame is not valid JSON"))?;
    let Value::Object(mut obj) = value else {
        return Err(Error::param("frame must be a JSON object"));
    };
    let kind = match obj.get("type") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| Error::param("type must be an integer"))?;
    let data = match obj.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(Error::param("data must be an object")),
    };
    Ok((kind, data))
}

/// An id as a decimal string or a number; absent, null or "" = `None`.
fn id_field(data: &Map<String, Value>, name: &str) -> Result<Option<i64>, Error> {
    let bad = || Error::param(format!("{name} must be a numeric id"));
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => fanone_id::parse(s).map(Some).ok_or_else(bad),
        Some(Value::Number(n)) => n.as_i64().filter(|&n| n > 0).map(Some).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// An integer as a number or a numeric string; absent, null or "" = `None`.
fn int_field(data: &Map<String, Value>, name: &str) -> Result<Option<i64>, Error> {
    let bad = || Error::param(format!("{name} must be an integer"));
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad()),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// Paging as on the HTTP routes (CONTRACT.md §1.6): 0-based `page_num` (negative is
/// an error), `page_size` default 10, non-positive = default, capped at 100.
fn page(data: &Map<String, Value>) -> Result<base::Page, Error> {
    let page_num = int_field(data, "page_num")?.unwrap_or(0);
    if page_num < 0 {
        return Err(Error::param("page_num must not be negative"));
    }
    if page_num > 1_000_000 {
        return Err(Error::param("page_num is too large"));
    }
    let page_size = match int_field(data, "page_size")? {
        Some(n) if n > 0 => n.min(MAX_PAGE_SIZE),
        _ => DEFAULT_PAGE_SIZE,
    };
    Ok(base::Page {
        page_num,
        page_size,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn frames_parse() {
        let (k, d) = parse(r#"{"type":1,"data":{"to_user_id":"5","content":"hi"}}"#).unwrap();
        assert_eq!((k, d["content"].as_str()), (1, Some("hi")));
        assert_eq!(parse(r#"{"type":"3"}"#).unwrap(), (3, Map::new()));
        assert_eq!(parse(r#"{"type":3,"data":null}"#).unwrap().0, 3);
        for bad in [
            "{not json",
            "[1]",
            r#"{"data":{}}"#,
            r#"{"type":1.5}"#,
            r#"{"type":"x"}"#,
            r#"{"type":1,"data":[1]}"#,
        ] {
            assert_eq!(parse(bad).unwrap_err().code, Code::Param, "{bad}");
        }
    }

    #[test]
    fn ids_and_ints() {
        let d = obj(json!({"a": "12", "b": 13, "c": "", "d": "x", "e": -1, "f": true, "g": null}));
        assert_eq!(id_field(&d, "a").unwrap(), Some(12));
        assert_eq!(id_field(&d, "b").unwrap(), Some(13));
        assert_eq!(id_field(&d, "c").unwrap(), None);
        assert_eq!(id_field(&d, "g").unwrap(), None);
        assert_eq!(id_field(&d, "missing").unwrap(), None);
        for bad in ["d", "e", "f"] {
            assert!(id_field(&d, bad).is_err(), "{bad}");
        }
        assert_eq!(int_field(&d, "e").unwrap(), Some(-1));
        assert!(int_field(&d, "d").is_err());
    }

    #[test]
    fn paging_follows_the_http_rules() {
        let p = page(&Map::new()).unwrap();
        assert_eq!((p.page_num, p.page_size), (0, DEFAULT_PAGE_SIZE));
        let p = page(&obj(json!({"page_num": "2", "page_size": 1000}))).unwrap();
        assert_eq!((p.page_num, p.page_size), (2, MAX_PAGE_SIZE));
        let p = page(&obj(json!({"page_size": 0}))).unwrap();
        assert_eq!(p.page_size, DEFAULT_PAGE_SIZE);
        assert!(page(&obj(json!({"page_num": -1}))).is_err());
    }

    #[test]
    fn message_view_uses_string_ids_and_seconds() {
        let v = MessageView::from(base::Message {
            id: 42,
            from_user_id: 1,
            to_user_id: 2,
            content: "hi".into(),
            created_at: 1_722_124_800_999,
            read: false,
        });
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(
            j,
            json!({"id":"42","from_user_id":"1","to_user_id":"2","content":"hi","created_at":1_722_124_800})
        );
    }

    #[test]
    fn error_frames() {
        let m = error_frame(&Error::new(Code::ChatNotAllowed, "no"));
        let Message::Text(t) = m else {
            panic!("text frame")
        };
        let j: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(j, json!({"type":0,"data":{"code":10010,"msg":"no"}}));
    }
}
