//! The chat service over a real Thrift socket: what a gateway or a Kitex client sees.

use fanone_errno::{Code, from_rpc};
use volo_gen::{
    base::Page,
    chat::{self as rpc, ChatServiceClient, ChatServiceClientBuilder},
};

async fn start() -> (ChatServiceClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "chat");
    let rpc = fanone_testkit::rpc_kit().await;
    let handler = fanone_chat::open(
        &fanone_config::ShardSpec::single(url),
        1,
        &Default::default(),
        rpc.jobs(),
    )
    .await
    .unwrap();
    fanone_testkit::serve_thrift(
        &rpc,
        "chat",
        volo_gen::chat::ChatServiceServer::new(handler),
    )
    .await;
    let client = rpc.client(ChatServiceClientBuilder::new("chat"));
    (client, dir)
}

async fn send(c: &ChatServiceClient, from: i64, to: i64, content: &str) -> Result<i64, Code> {
    from_rpc(
        c.send(rpc::SendRequest {
            caller_id: from,
            to_user_id: to,
            content: content.to_owned().into(),
        })
        .await,
    )
    .map(|r| r.message.id)
    .map_err(|e| e.code)
}

async fn unread(c: &ChatServiceClient, caller: i64, peer: Option<i64>) -> Vec<i64> {
    from_rpc(
        c.unread(rpc::UnreadRequest {
            caller_id: caller,
            peer_id: peer,
        })
        .await,
    )
    .unwrap()
    .messages
    .into_iter()
    .map(|m| m.id)
    .collect()
}

#[tokio::test]
async fn send_validates_and_stores() {
    let (c, _dir) = start().await;
    let r = from_rpc(
        c.send(rpc::SendRequest {
            caller_id: 1,
            to_user_id: 2,
            content: "  hello  ".into(),
        })
        .await,
    )
    .unwrap()
    .message;
    assert_eq!((r.from_user_id, r.to_user_id), (1, 2));
    assert_eq!(r.content, "hello", "content is trimmed");
    assert!(!r.read);
    assert_eq!(r.created_at, fanone_id::timestamp_ms(r.id));

    assert_eq!(send(&c, 1, 2, "   ").await, Err(Code::ChatNotAllowed));
    assert_eq!(send(&c, 1, 1, "me").await, Err(Code::ChatNotAllowed));
    assert_eq!(
        send(&c, 1, 2, &"x".repeat(2001)).await,
        Err(Code::ChatNotAllowed)
    );
    assert!(send(&c, 1, 2, &"x".repeat(2000)).await.is_ok());
    assert_eq!(send(&c, 0, 2, "hi").await, Err(Code::Param));
}

#[tokio::test]
async fn history_unread_and_mark_read() {
    let (c, _dir) = start().await;
    let a = send(&c, 1, 2, "a").await.unwrap();
    let b = send(&c, 2, 1, "b").await.unwrap();
    let d = send(&c, 1, 2, "d").await.unwrap();
    let e = send(&c, 3, 2, "e").await.unwrap();

    let h = from_rpc(
        c.history(rpc::HistoryRequest {
            caller_id: 2,
            peer_id: 1,
            page: Page {
                page_num: 0,
                page_size: 2,
            },
        })
        .await,
    )
    .unwrap();
    assert_eq!(h.total, 3);
    assert_eq!(
        h.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![d, b]
    );
    let bad = from_rpc(
        c.history(rpc::HistoryRequest {
            caller_id: 2,
            peer_id: 1,
            page: Page {
                page_num: 0,
                page_size: 0,
            },
        })
        .await,
    );
    assert_eq!(bad.unwrap_err().code, Code::Param);

    // MarkRead: only the caller's own inbox
    from_rpc(
        c.mark_read(rpc::MarkReadRequest {
            caller_id: 1,
            message_ids: vec![a, e],
        })
        .await,
    )
    .unwrap();
    assert_eq!(unread(&c, 2, Some(1)).await, vec![a, d]);
    assert_eq!(unread(&c, 2, Some(1)).await, Vec::<i64>::new());
    assert_eq!(unread(&c, 2, None).await, vec![e]);
    from_rpc(
        c.mark_read(rpc::MarkReadRequest {
            caller_id: 1,
            message_ids: vec![b],
        })
        .await,
    )
    .unwrap();
    assert_eq!(unread(&c, 1, None).await, Vec::<i64>::new());
}
