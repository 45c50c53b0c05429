//! The video service over a real Thrift socket: what a gateway or a Kitex client sees.

use std::time::Duration;

use fanone_errno::{Code, from_rpc};
use volo_gen::{
    base::Page,
    video::{self as rpc, VideoServiceClient, VideoServiceClientBuilder},
};

async fn start() -> (VideoServiceClient, tempfile::TempDir) {
    start_with(&Default::default()).await
}

async fn start_with(caches: &fanone_cache::Caches) -> (VideoServiceClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "video");
    let tuning = fanone_config::Tuning {
        settle_interval_ms: 50,
        popular_refresh_ms: 50,
        popular_size: 1000,
    };
    let rpc = fanone_testkit::rpc_kit().await;
    let handler = fanone_video::open(
        &url,
        1,
        &tuning,
        Default::default(),
        caches,
        None,
        rpc.jobs(),
    )
    .await
    .unwrap();
    fanone_testkit::serve_thrift(
        &rpc,
        "video",
        volo_gen::video::VideoServiceServer::new(handler),
    )
    .await;
    let client = rpc.client(VideoServiceClientBuilder::new("video"));
    (client, dir)
}

fn page(page_num: i64, page_size: i64) -> Page {
    Page {
        page_num,
        page_size,
    }
}

fn publish_req(caller_id: i64, title: &str) -> rpc::PublishRequest {
    rpc::PublishRequest {
        caller_id,
        title: title.to_owned().into(),
        description: "about it".into(),
        video_url: "http://x/static/videos/1/1.mp4".into(),
        cover_url: "http://x/static/covers/1/1.png".into(),
        video_id: None,
    }
}

async fn publish(c: &VideoServiceClient, caller_id: i64, title: &str) -> i64 {
    let v = from_rpc(c.publish(publish_req(caller_id, title)).await)
        .unwrap()
        .video;
    assert_eq!(v.title, title.trim());
    assert_eq!((v.user_id, v.visit_count), (caller_id, 0));
    v.id
}

async fn visit(c: &VideoServiceClient, id: i64) -> i64 {
    from_rpc(c.visit(rpc::VisitRequest { video_id: id }).await)
        .unwrap()
        .visit_count
}

async fn popular_ids(c: &VideoServiceClient) -> (Vec<i64>, i64) {
    let r = from_rpc(c.popular(rpc::PopularRequest { page: page(0, 100) }).await).unwrap();
    (r.videos.iter().map(|v| v.id).collect(), r.total)
}

#[tokio::test]
async fn publish_validates_and_errors_keep_their_codes() {
    let (c, _dir) = start().await;
    let id = publish(&c, 7, "  first  ").await;

    // gateway-chosen id, then the same id again
    // a later millisecond than the first video: lists order by time, and a tie would
    // put the larger (snowflake) id first
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let mut req = publish_req(7, "chosen");
    req.video_id = Some(123_456);
    assert_eq!(
        from_rpc(c.publish(req.clone()).await).unwrap().video.id,
        123_456
    );
    assert_eq!(
        from_rpc(c.publish(req).await).unwrap_err().code,
        Code::Duplicate
    );

    let bad = [
        publish_req(7, ""),
        publish_req(7, "   "),
        publish_req(7, &"t".repeat(101)),
        publish_req(0, "anonymous"),
        rpc::PublishRequest {
            description: "d".repeat(1001).into(),
            ..publish_req(7, "long description")
        },
        rpc::PublishRequest {
            video_url: "".into(),
            ..publish_req(7, "no url")
        },
        rpc::PublishRequest {
            cover_url: "".into(),
            ..publish_req(7, "no cover")
        },
    ];
    for req in bad {
        let title = req.title.clone();
        let e = from_rpc(c.publish(req).await).unwrap_err();
        assert_eq!(e.code, Code::Param, "{title}");
    }

    // visits of unknown videos, bad pages, oversized batches
    let e = from_rpc(c.visit(rpc::VisitRequest { video_id: 404 }).await).unwrap_err();
    assert_eq!(e.code, Code::NotFound);
    let e = from_rpc(
        c.list_by_user(rpc::ListByUserRequest {
            user_id: 7,
            page: page(-1, 10),
        })
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, Code::Param);
    let e = from_rpc(
        c.m_get_videos(rpc::MGetVideosRequest {
            video_ids: (1..=501).collect(),
        })
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, Code::Param);

    // lists carry the visit count
    assert_eq!(visit(&c, id).await, 1);
    assert_eq!(visit(&c, id).await, 2);
    let r = from_rpc(
        c.list_by_user(rpc::ListByUserRequest {
            user_id: 7,
            page: page(0, 10),
        })
        .await,
    )
    .unwrap();
    assert_eq!(r.total, 2);
    assert_eq!(r.videos[1].id, id);
    assert_eq!(r.videos[1].visit_count, 2);
    assert_eq!(r.videos[1].deleted_at, None);
}

#[tokio::test]
async fn batch_reads_feed_and_search() {
    let (c, _dir) = start().await;
    let a = publish(&c, 1, "alpha").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let b = publish(&c, 2, "beta").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let d = publish(&c, 1, "gamma ALPHA").await;
    visit(&c, b).await;

    let got = from_rpc(
        c.m_get_videos(rpc::MGetVideosRequest {
            video_ids: vec![d, 999, a, d, b],
        })
        .await,
    )
    .unwrap()
    .videos;
    let ids: Vec<i64> = got.iter().map(|v| v.id).collect();
    assert_eq!(ids, vec![d, a, b]);
    assert_eq!(
        got.iter().map(|v| v.visit_count).collect::<Vec<_>>(),
        vec![0, 0, 1]
    );

    let feed = from_rpc(
        c.feed(rpc::FeedRequest {
            latest_time: None,
            page: page(0, 10),
        })
        .await,
    )
    .unwrap()
    .videos;
    assert_eq!(feed.iter().map(|v| v.id).collect::<Vec<_>>(), vec![d, b, a]);
    let after_a = feed[2].created_at;
    let newer = from_rpc(
        c.feed(rpc::FeedRequest {
            latest_time: Some(after_a),
            page: page(0, 10),
        })
        .await,
    )
    .unwrap()
    .videos;
    assert_eq!(newer.iter().map(|v| v.id).collect::<Vec<_>>(), vec![d, b]);

    let search = |keywords: &str, user_ids: Option<Vec<i64>>| {
        let c = c.clone();
        let req = rpc::SearchRequest {
            keywords: keywords.to_owned().into(),
            from_date: None,
            to_date: None,
            user_ids,
            page: page(0, 10),
        };
        async move {
            let r = from_rpc(c.search(req).await).unwrap();
            (r.videos.iter().map(|v| v.id).collect::<Vec<_>>(), r.total)
        }
    };
    assert_eq!(search("alpha", None).await, (vec![d, a], 2));
    assert_eq!(search(" ", None).await, (vec![d, b, a], 3));
    assert_eq!(search("alpha", Some(vec![2])).await, (vec![], 0));
    assert_eq!(search("", Some(vec![])).await, (vec![], 0));
    assert_eq!(search("", Some(vec![2, 1])).await.1, 3);
}

#[tokio::test]
async fn popular_ranks_by_visits_and_includes_unvisited() {
    let (c, _dir) = start().await;
    let a = publish(&c, 1, "a").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let b = publish(&c, 1, "b").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let d = publish(&c, 1, "d").await;
    for _ in 0..3 {
        visit(&c, a).await;
    }
    visit(&c, b).await;

    // rebuilt in the background: poll instead of sleeping a fixed time
    let want = (vec![a, b, d], 3);
    let mut got = popular_ids(&c).await;
    for _ in 0..60 {
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = popular_ids(&c).await;
    }
    assert_eq!(got, want, "visits desc, then newest first");

    // paging over the cached ranking, fresh counts in the rows
    let r = from_rpc(c.popular(rpc::PopularRequest { page: page(1, 2) }).await).unwrap();
    assert_eq!(r.total, 3);
    assert_eq!(r.videos.iter().map(|v| v.id).collect::<Vec<_>>(), vec![d]);
    let r = from_rpc(c.popular(rpc::PopularRequest { page: page(0, 1) }).await).unwrap();
    assert_eq!((r.videos[0].id, r.videos[0].visit_count), (a, 3));
    let r = from_rpc(c.popular(rpc::PopularRequest { page: page(5, 10) }).await).unwrap();
    assert!(r.videos.is_empty());
    assert_eq!(r.total, 3);
}

#[tokio::test]
async fn deleted_videos_leave_every_read_and_the_cache() {
    let caches = fanone_cache::Caches::local(&fanone_config::CacheConfig::default());
    let (c, _dir) = start_with(&caches).await;
    let a = publish(&c, 1, "keep me").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let d = publish(&c, 1, "delete me").await;
    visit(&c, d).await;
    let mget = |ids: Vec<i64>| {
        let c = c.clone();
        async move {
            from_rpc(
                c.m_get_videos(rpc::MGetVideosRequest { video_ids: ids })
                    .await,
            )
            .unwrap()
            .videos
            .iter()
            .map(|v| v.id)
            .collect::<Vec<_>>()
        }
    };
    let list = |user_id| {
        let c = c.clone();
        async move {
            let r = from_rpc(
                c.list_by_user(rpc::ListByUserRequest {
                    user_id,
                    page: page(0, 10),
                })
                .await,
            )
            .unwrap();
            (r.videos.iter().map(|v| v.id).collect::<Vec<_>>(), r.total)
        }
    };
    // read once, so the row and the author's list are cached
    assert_eq!(mget(vec![d, a]).await, vec![d, a]);
    assert_eq!(list(1).await, (vec![d, a], 2));
    let mut ranked = popular_ids(&c).await;
    for _ in 0..60 {
        if ranked.0.contains(&d) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ranked = popular_ids(&c).await;
    }
    assert!(ranked.0.contains(&d), "{ranked:?}");

    let delete = |caller_id, video_id| {
        let c = c.clone();
        async move {
            from_rpc(
                c.delete_video(rpc::DeleteVideoRequest {
                    caller_id,
                    video_id,
                })
                .await,
            )
        }
    };
    // only the author; unknown ids and bad input keep their codes
    assert_eq!(delete(2, d).await.unwrap_err().code, Code::Forbidden);
    assert_eq!(delete(1, 404).await.unwrap_err().code, Code::NotFound);
    assert_eq!(delete(1, 0).await.unwrap_err().code, Code::Param);
    assert_eq!(delete(0, d).await.unwrap_err().code, Code::Param);
    let r = delete(1, d).await.unwrap();
    assert!(!r.already_deleted);
    assert_eq!(r.video.id, d);
    assert_eq!(r.video.cover_url, "http://x/static/covers/1/1.png");
    assert!(r.video.deleted_at.is_some());

    // gone from every read at once, cached or not
    assert_eq!(mget(vec![d, a]).await, vec![a]);
    assert_eq!(list(1).await, (vec![a], 1));
    assert!(!popular_ids(&c).await.0.contains(&d));
    let feed = from_rpc(
        c.feed(rpc::FeedRequest {
            latest_time: None,
            page: page(0, 10),
        })
        .await,
    )
    .unwrap()
    .videos;
    assert_eq!(feed.iter().map(|v| v.id).collect::<Vec<_>>(), vec![a]);
    let found = from_rpc(
        c.search(rpc::SearchRequest {
            keywords: "me".into(),
            from_date: None,
            to_date: None,
            user_ids: None,
            page: page(0, 10),
        })
        .await,
    )
    .unwrap();
    assert_eq!(
        (
            found.videos.iter().map(|v| v.id).collect::<Vec<_>>(),
            found.total
        ),
        (vec![a], 1)
    );
    let err = from_rpc(c.visit(rpc::VisitRequest { video_id: d }).await).unwrap_err();
    assert_eq!(err.code, Code::NotFound);
    // the next rebuilds of the ranking leave it out too
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(popular_ids(&c).await, (vec![a], 1));

    // again: the author gets it back, flagged; anyone else: unknown
    let again = delete(1, d).await.unwrap();
    assert!(again.already_deleted);
    assert_eq!(again.video.id, d);
    assert_eq!(delete(2, d).await.unwrap_err().code, Code::NotFound);
}
