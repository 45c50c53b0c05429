//! Internal trust (DESIGN.md rule 5): a process that reaches a service's Thrift port
//! cannot act as a user without the internal credential. Probed against the real
//! standalone binary with a plain Thrift client, as an outsider would.

use fanone_errno::from_rpc;
use fanone_rpc::credential::Credential;
use fanone_testkit::{Fanone, TEST_INTERNAL_SECRET, with_credential};
use volo_gen::{
    base,
    chat::{self as crpc, ChatServiceClientBuilder},
    user::{self as urpc, UserServiceClientBuilder},
};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

/// The refusal of a call that must not be served.
fn refusal<T>(r: Result<T, volo_thrift::ClientError>) -> String {
    match r {
        Ok(_) => panic!("served without a valid internal credential"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn thrift_calls_without_the_internal_credential_are_refused() {
    let app = Fanone::start(BIN).await;
    let (victim, _) = app.user("victim").await;
    let victim: i64 = victim.parse().unwrap();
    let (friend, _) = app.user("friend").await;
    let friend: i64 = friend.parse().unwrap();

    let user_addr: std::net::SocketAddr = app.endpoints["user"].parse().unwrap();
    let chat_addr: std::net::SocketAddr = app.endpoints["chat"].parse().unwrap();
    let users = UserServiceClientBuilder::new("user")
        .address(user_addr)
        .build();
    let chat = ChatServiceClientBuilder::new("chat")
        .address(chat_addr)
        .build();
    let history = || crpc::HistoryRequest {
        caller_id: victim,
        peer_id: friend,
        page: base::Page {
            page_num: 1,
            page_size: 10,
        },
    };

    // no credential: refused before any handler, for reads and for acting as a user
    let err = refusal(
        with_credential(
            None,
            users.get_user(urpc::GetUserRequest { user_id: victim }),
        )
        .await,
    );
    assert!(err.to_string().contains("refused"), "{err}");
    let err = refusal(with_credential(None, chat.history(history())).await);
    assert!(err.to_string().contains("refused"), "{err}");

    // a credential signed with another secret, or an old one: refused
    let forged = Credential::new(b"attacker-guess-attacker-guess-00", 60).issue("gateway");
    let err = refusal(with_credential(Some(forged), chat.history(history())).await);
    assert!(err.to_string().contains("bad signature"), "{err}");
    let stale = format!("v1:gateway:1000:{}", "0".repeat(64));
    let err = refusal(
        with_credential(
            Some(stale),
            users.get_user(urpc::GetUserRequest { user_id: victim }),
        )
        .await,
    );
    assert!(err.to_string().contains("refused"), "{err}");

    // the same calls with the deployment's credential go through (the control)
    let good = Credential::new(TEST_INTERNAL_SECRET.as_bytes(), 60).issue("gateway");
    let r = with_credential(Some(good.clone()), chat.history(history())).await;
    assert_eq!(from_rpc(r).expect("an internal caller is served").total, 0);
    let r = with_credential(
        Some(good),
        users.get_user(urpc::GetUserRequest { user_id: victim }),
    )
    .await;
    assert_eq!(
        from_rpc(r).expect("an internal caller is served").user.id,
        victim
    );
}

#[tokio::test]
async fn services_listen_on_loopback_by_default() {
    let cfg = fanone_config::Config::default();
    assert!(cfg.gateway.addr.ip().is_loopback());
    for name in fanone_config::SERVICES {
        assert!(
            cfg.services.get(name).unwrap().addr.ip().is_loopback(),
            "{name}"
        );
    }
}
