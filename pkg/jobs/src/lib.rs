//! Background jobs with one owner.
//!
//! Every background task of a process — counter settlers, the popular-ranking refresh,
//! event consumers, registry keep-alives and watches — is started through a [`Jobs`]
//! and stopped by it: [`Jobs::shutdown`] asks every job to stop and waits for it (then
//! aborts what is left), and dropping the owner aborts them all. A job is never started
//! by a bare `tokio::spawn` that nobody stops.
//!
//! Interval settings have one meaning everywhere: the time between two runs, and `0`
//! means the job is off.

use std::{fmt::Display, future::Future, sync::Mutex, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

/// The owner of a set of background jobs.
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
}

/// When the stop signal ends a job.
#[derive(Clone, Copy)]
enum Cut {
    /// At once, wherever the job is waiting.
    OnStop,
    /// When the job returns (it watches [`Stop`] itself), or when the shutdown's grace
    /// is over.
    AfterGrace,
}

/// A job's view of the stop signal.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once the owner asks its jobs to stop (at once if it already has).
    pub async fn stopped(&mut self) {
        // an error means the owner is gone, which also means stop
        let _ = self.0.wait_for(|s| *s).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Jobs {
    pub fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// The stop signal, for jobs started elsewhere but owned here.
    pub fn stop_signal(&self) -> Stop {
        Stop(self.stop.subscribe())
    }

    /// Run `job` until it returns or the owner stops it. The stop signal ends it at
    /// once, wherever it is waiting (the job also receives the signal, to end its own
    /// work first if it wins the race). Work that must not be cut in the middle, such
    /// as a database transaction, runs as [`Jobs::every`] runs its ticks.
    pub fn spawn<F, Fut>(&self, name: &'static str, job: F)
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.start(name, job, Cut::OnStop);
    }

    fn start<F, Fut>(&self, name: &'static str, job: F, cut: Cut)
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.stop_signal();
        if stop.is_stopped() {
            tracing::debug!(job = name, "not started: jobs are stopping");
            return;
        }
        let fut = job(stop.clone());
        let handle = match cut {
            Cut::OnStop => tokio::spawn(async move {
                tokio::select! {
                    _ = fut => {}
                    _ = stop.stopped() => {}
                }
            }),
            Cut::AfterGrace => tokio::spawn(fut),
        };
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|(_, h)| !h.is_finished());
        tasks.push((name, handle));
    }

    /// Run `tick` every `every` (the first run after one interval) until stopped; a
    /// failed run is logged with the job's name and retried at the next tick. An
    /// interval of zero means the job is off and nothing is started.
    ///
    /// The stop signal ends the job between runs, never inside one: a run may be in a
    /// database transaction, and a connection whose `BEGIN` is cut short goes back to
    /// the pool with the transaction open on the server (later statements on it fail
    /// with "transaction characteristics can't be changed", reads see an old
    /// snapshot). Only a run that outlasts the shutdown's grace is aborted.
    pub fn every<F, Fut, T, E>(&self, name: &'static str, every: Duration, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send,
        E: Display,
    {
        if every.is_zero() {
            tracing::info!(job = name, "off (interval 0)");
            return;
        }
        let job = move |mut stop: Stop| async move {
            let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // stop first: after a long run the next tick is due at once, and an
                // unbiased select would pick either
                tokio::select! {
                    biased;
                    _ = stop.stopped() => return,
                    _ = timer.tick() => {}
                }
                if let Err(e) = tick().await {
                    tracing::warn!(job = name, error = %e, "background job failed; will retry");
                }
            }
        };
        self.start(name, job, Cut::AfterGrace);
    }

    /// How many jobs are running.
    pub fn running(&self) -> usize {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.iter().filter(|(_, h)| !h.is_finished()).count()
    }

    /// Ask every job to stop, wait up to `grace` for them, then abort the rest.
    /// Jobs spawned after this call are not started.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let deadline = tokio::time::Instant::now() + grace;
        for (name, mut handle) in tasks {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                tracing::warn!(job = name, "did not stop in time; aborted");
                handle.abort();
            }
        }
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        let tasks = self.tasks.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, h) in tasks.drain(..) {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn periodic_job_runs_until_shutdown() {
        let jobs = Jobs::new();
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        jobs.every("count", Duration::from_millis(100), move || {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            }
        });
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        jobs.shutdown(Duration::from_secs(1)).await;
        assert_eq!(jobs.running(), 0);
        let after = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(runs.load(Ordering::SeqCst), after, "no run after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_interval_is_off_and_failures_keep_the_job() {
        let jobs = Jobs::new();
        jobs.every("off", Duration::ZERO, || async { Ok::<_, String>(()) });
        assert_eq!(jobs.running(), 0);
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        jobs.every("failing", Duration::from_millis(10), move || {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("boom")
            }
        });
        tokio::time::sleep(Duration::from_millis(55)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        assert_eq!(jobs.running(), 1);
    }

    /// A run in progress when the owner stops finishes (it may be inside a database
    /// transaction); no run starts after.
    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_a_run_in_progress_finish() {
        let jobs = Jobs::new();
        let (started, finished) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let (s, f) = (started.clone(), finished.clone());
        jobs.every("slow", Duration::from_millis(10), move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1, "inside the first run");
        jobs.shutdown(Duration::from_secs(1)).await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the run was not cut short"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1, "no run after shutdown");
        assert_eq!(jobs.running(), 0);
    }

    #[tokio::test]
    async fn long_job_sees_stop_and_drop_aborts() {
        let jobs = Jobs::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        jobs.spawn("waiter", move |mut stop| async move {
            stop.stopped().await;
            let _ = tx.send(());
        });
        jobs.shutdown(Duration::from_secs(1)).await;
        // the job's own select arm won the race or the job saw the signal: either way it ended
        assert_eq!(jobs.running(), 0);
        drop(rx);
        jobs.spawn("late", |_| async {});
        assert_eq!(jobs.running(), 0, "nothing starts after shutdown");

        let owner = Jobs::new();
        let flag = Arc::new(AtomicU32::new(0));
        let f = flag.clone();
        owner.spawn("forever", move |_| async move {
            loop {
                f.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(owner);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let n = flag.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            flag.load(Ordering::SeqCst),
            n,
            "dropping the owner aborted the job"
        );
    }
}
