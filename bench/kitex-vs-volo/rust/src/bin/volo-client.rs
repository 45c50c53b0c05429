//! The benchmark's Rust load client: `--c` tasks in a closed loop over long
//! connections (Volo's connection pool, or `--mux`: multiplexed connections), a
//! warm-up, then a fixed measured window. Prints the same CSV fragment as the Go
//! client: calls,errors,qps,p50_us,p99_us,p999_us,server_cpu_pct,server_rss_mb,client_cpu_pct

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use volo_bench::{Snapshot, echo, flag, report, switch};

/// Seconds from `1.5`, `1.5s` or `500ms`.
fn seconds(v: &str) -> anyhow::Result<f64> {
    Ok(match v.strip_suffix("ms") {
        Some(ms) => ms.parse::<f64>()? / 1000.0,
        None => v.trim_end_matches('s').parse()?,
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = flag(&args, "--addr", "").parse()?;
    let method = flag(&args, "--method", "echo");
    let size: usize = flag(&args, "--size", "1024").parse()?;
    let conc: usize = flag(&args, "--c", "16").parse()?;
    let warmup = Duration::from_secs_f64(seconds(&flag(&args, "--warmup", "2"))?);
    let duration = Duration::from_secs_f64(seconds(&flag(&args, "--duration", "10"))?);
    let mux = switch(&args, "--mux");
    let server_pid = flag(&args, "--server-pid", "0").parse::<u32>()?;
    let server_pid = (server_pid > 0).then_some(server_pid);
    let threads = match flag(&args, "--threads", "0").parse::<usize>()? {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    anyhow::ensure!(
        method == "echo" || method == "mget",
        "--method echo|mget, not {method}"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = echo::EchoServiceClientBuilder::new("echo")
            .address(addr)
            .pool_config(volo_thrift::transport::Config::new(
                conc.max(1),
                Duration::from_secs(60),
            ))
            .multiplex(mux)
            .build();
        let payload: pilota::FastStr = "a".repeat(size).into();
        let one = {
            let client = client.clone();
            let method = method.clone();
            move |worker: usize, i: usize| {
                let client = client.clone();
                let payload = payload.clone();
                let method = method.clone();
                async move {
                    if method == "echo" {
                        let r = client
                            .echo(echo::EchoRequest {
                                msg: payload.clone(),
                            })
                            .await?;
                        anyhow::ensure!(r.msg.len() == payload.len(), "short echo");
                    } else {
                        let start = ((worker * 7 + i) % 981) as i64 + 1;
                        let ids = (start..start + 20).collect();
                        let r = client
                            .m_get_users(echo::MGetUsersRequest { user_ids: ids })
                            .await?;
                        anyhow::ensure!(
                            r.users.len() == 20 && r.users[0].id == start,
                            "mget of 20 users returned {}",
                            r.users.len()
                        );
                    }
                    Ok(())
                }
            }
        };
        one(0, 0)
            .await
            .map_err(|e| anyhow::anyhow!("first call: {e}"))?;

        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(conc);
        for w in 0..conc {
            let (one, measuring, stop, errors) =
                (one.clone(), measuring.clone(), stop.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat: Vec<u32> = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = one(w, i).await;
                    i += 1;
                    if !measuring.load(Ordering::Relaxed) {
                        continue;
                    }
                    match r {
                        Ok(()) => lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                lat
            }));
        }
        tokio::time::sleep(warmup).await;
        let before = Snapshot::take(server_pid);
        let t0 = Instant::now();
        measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(duration).await;
        measuring.store(false, Ordering::Relaxed);
        let secs = t0.elapsed().as_secs_f64();
        let after = Snapshot::take(server_pid);
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await?);
        }
        println!(
            "{}",
            report(all, errors.load(Ordering::Relaxed), secs, before, after)
        );
        Ok(())
    })
}
