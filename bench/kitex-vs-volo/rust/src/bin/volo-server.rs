//! The benchmark's EchoService served by Volo: TTHeader/Framed (detected per
//! connection); `--mux` serves multiplexed connections. `--threads` Tokio workers
//! (default: the CPUs this process may run on, i.e. its taskset).

use std::{collections::HashMap, sync::Arc};

use volo_bench::{base, echo, flag, switch};
use volo_thrift::ServerError;

struct Handler {
    users: Arc<HashMap<i64, base::User>>,
}

impl echo::EchoService for Handler {
    async fn echo(&self, req: echo::EchoRequest) -> Result<echo::EchoResponse, ServerError> {
        Ok(echo::EchoResponse { msg: req.msg })
    }

    async fn m_get_users(
        &self,
        req: echo::MGetUsersRequest,
    ) -> Result<echo::MGetUsersResponse, ServerError> {
        let users = req
            .user_ids
            .iter()
            .filter_map(|id| self.users.get(id).cloned())
            .collect();
        Ok(echo::MGetUsersResponse { users })
    }
}

/// The in-memory table MGetUsers reads: ids 1..=1000.
fn users() -> HashMap<i64, base::User> {
    (1..=1000i64)
        .map(|id| {
            let u = base::User {
                id,
                username: format!("user{id}").into(),
                avatar_url: format!("http://127.0.0.1:10001/static/avatars/{id}/{id}.png").into(),
                created_at: 1_700_000_000_000 + id,
                updated_at: 1_700_000_000_000 + id,
                deleted_at: None,
                mfa_enabled: false,
            };
            (id, u)
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = flag(&args, "--addr", "127.0.0.1:0");
    let mux = switch(&args, "--mux");
    let threads = match flag(&args, "--threads", "0").parse::<usize>()? {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("READY {}", listener.local_addr()?);
        let handler = Handler {
            users: Arc::new(users()),
        };
        echo::EchoServiceServer::new(handler)
            .multiplex(mux)
            .run(volo::net::incoming::DefaultIncoming::from(listener))
            .await
            .map_err(|e| anyhow::anyhow!("server: {e}"))
    })
}
