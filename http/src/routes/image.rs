//! CONTRACT.md §4.1 `POST /user/image/search` (以图搜图): upload an image (`data`),
//! get the URL of the most similar stored image (avatars and video covers).
//!
//! Extension: with `top_k` (1..=20) the answer is `{url, items: [{image_id, url,
//! score, urls}]}` — the best `top_k` distinct pictures with their cosine
//! similarity — instead of the bare URL string. Images with the same bytes are one
//! picture, answered by the newest live one; `urls` lists every live URL holding it,
//! newest first.

use fanone_errno::{Code, Error, from_rpc};
use serde::Serialize;
use volo_gen::image as rpc;
use volo_http::{
    server::route::{Router, post},
    utils::Extension,
};

use crate::{
    envelope::{ApiResult, ok},
    extract::Input,
    state::State,
};

/// Largest `top_k` a client may ask for.
pub const MAX_TOP_K: i64 = 20;

pub fn router() -> Router {
    Router::new().route("/user/image/search", post(search))
}

#[derive(Serialize)]
struct HitView {
    image_id: String,
    url: String,
    score: f64,
    /// Every live URL of the same picture, newest first (`url` first).
    urls: Vec<String>,
}

#[derive(Serialize)]
struct TopView {
    url: String,
    items: Vec<HitView>,
}

async fn search(Extension(st): Extension<State>, mut input: Input) -> ApiResult {
    if !st.features().image_search {
        return Err(Error::new(Code::Unavailable, "image search is switched off").into());
    }
    let top_k = match input.opt_i64("top_k")? {
        None => None,
        Some(k) if (1..=MAX_TOP_K).contains(&k) => Some(k),
        Some(_) => return Err(Error::param("top_k must be between 1 and 20").into()),
    };
    let mut upload = input.take_file("data")?;
    if fanone_storage::sniff_image(upload.object.head()).is_none() {
        return Err(Error::param("data must be a JPEG, PNG, GIF or WebP image").into());
    }
    let data = upload.object.read_all().await.map_err(Error::internal)?;
    let req = rpc::SearchImageRequest {
        data: data.into(),
        top_k: top_k.unwrap_or(1) as i32,
    };
    let hits = from_rpc(st.image.search_image(req).await)?.hits;
    let Some(best) = hits.first() else {
        return Err(Error::new(Code::NotFound, "no images are indexed yet").into());
    };
    let best_url = best.url.to_string();
    Ok(match top_k {
        None => ok(best_url),
        Some(_) => ok(TopView {
            url: best_url,
            items: hits
                .into_iter()
                .map(|h| HitView {
                    image_id: h.image_id.to_string(),
                    urls: match h.urls {
                        Some(urls) if !urls.is_empty() => {
                            urls.into_iter().map(|u| u.to_string()).collect()
                        }
                        _ => vec![h.url.to_string()],
                    },
                    url: h.url.to_string(),
                    score: h.score,
                })
                .collect(),
        }),
    })
}
