//! Readiness: the checks of what a process needs to serve (its databases, its
//! registry), registered where those connections are made, run by the admin
//! listener's `/health/ready`. A process being stopped reports not ready at once, so
//! load balancers stop sending before it drains.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::future::{BoxFuture, join_all};

/// One readiness check: `Ok` when the dependency answers.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

static ENABLED: AtomicBool = AtomicBool::new(false);
static DRAINING: AtomicBool = AtomicBool::new(false);
static CHECKS: Mutex<Vec<(String, Check)>> = Mutex::new(Vec::new());

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Collect checks from now on (the admin listener of a running process does this;
/// libraries used elsewhere, e.g. in tests, register nothing).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Add a named check (ignored unless [`enable`]d).
pub fn register(name: impl Into<String>, check: Check) {
    if ENABLED.load(Ordering::Relaxed)
        && let Ok(mut c) = CHECKS.lock()
    {
        c.push((name.into(), check));
    }
}

/// The process is stopping: report not ready from now on.
pub fn set_draining() {
    DRAINING.store(true, Ordering::Relaxed);
}

pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Run every check at once; each result by name (a timeout is a failure).
pub async fn check_all() -> Vec<(String, Result<(), String>)> {
    let checks: Vec<(String, Check)> = CHECKS.lock().map(|c| c.clone()).unwrap_or_default();
    let runs = checks.into_iter().map(|(name, check)| async move {
        let result = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        };
        (name, result)
    });
    join_all(runs).await
}
