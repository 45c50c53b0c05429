//! A circuit breaker per service instance, as an inner client layer (it runs after
//! load balancing picked an instance, so it knows which one).
//!
//! - **Closed**: calls pass; outcomes go into a sliding window (ten buckets over
//!   `window_ms`). The breaker opens when `consecutive_failures` calls in a row failed,
//!   or when the window holds at least `min_requests` calls and the failure ratio
//!   reaches `failure_ratio`.
//! - **Open** for `open_ms`: calls to the instance fail at once with a transport error,
//!   which the load-balance layer treats like a refused connection and retries on the
//!   next instance. A dead or stuck instance thus costs nothing once detected.
//! - **Half-open**: up to `half_open_probes` calls pass; all succeeding closes the
//!   breaker, any failing opens it again.
//!
//! A failure is a transport, protocol or application error, or a call abandoned by the
//! deadline (a slow instance). A business error is an answer, hence a success. A call
//! the *caller* gave up on before its deadline (its HTTP client went away, a `select!`
//! dropped it) says nothing about the instance: it is not counted, and a half-open
//! probe slot it held is given back — otherwise every load test's end, or a burst of
//! browsers navigating away, opened the breaker of a healthy instance.
//! Thresholds are read on every call from a shared [`BreakerConfig`] that the config
//! center may replace at run time.

use std::{
    io,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use fanone_config::BreakerConfig;
use motore::{layer::Layer, service::Service};
use pilota::thrift::TransportException;
use volo::{context::Context as _, net::Address};
use volo_thrift::{ClientError, context::ClientContext};

const BUCKETS: usize = 10;

/// What a breaker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Called on every state change: `(service, instance, new state)`.
pub type Observer = Arc<dyn Fn(&str, &Address, BreakerState) + Send + Sync>;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    ok: u32,
    fail: u32,
}

#[derive(Debug)]
enum Mode {
    Closed,
    Open { until: Instant },
    HalfOpen { admitted: u32, succeeded: u32 },
}

#[derive(Debug)]
struct Instance {
    mode: Mode,
    consecutive: u32,
    buckets: [Bucket; BUCKETS],
}

impl Instance {
    fn new() -> Self {
        Self {
            mode: Mode::Closed,
            consecutive: 0,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn state(&self) -> BreakerState {
        match self.mode {
            Mode::Closed => BreakerState::Closed,
            Mode::Open { .. } => BreakerState::Open,
            Mode::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// The breakers of one client (one per instance of the service it calls).
pub struct Breakers {
    service: Arc<str>,
    config: Arc<ArcSwap<BreakerConfig>>,
    origin: Instant,
    instances: DashMap<Address, Arc<Mutex<Instance>>>,
    observer: Option<Observer>,
}

/// Why a call was not let through.
#[derive(Debug)]
pub struct Rejected;

impl Breakers {
    pub fn new(
        service: &str,
        config: Arc<ArcSwap<BreakerConfig>>,
        observer: Option<Observer>,
    ) -> Self {
        Self {
            service: service.into(),
            config,
            origin: Instant::now(),
            instances: DashMap::new(),
            observer,
        }
    }

    /// The state of every instance seen so far.
    pub fn states(&self) -> Vec<(Address, BreakerState)> {
        self.instances
            .iter()
            .map(|e| {
                let st = e.value().lock().unwrap_or_else(|p| p.into_inner()).state();
                (e.key().clone(), st)
            })
            .collect()
    }

    fn entry(&self, addr: &Address) -> Arc<Mutex<Instance>> {
        if let Some(e) = self.instances.get(addr) {
            return e.clone();
        }
        self.instances
            .entry(addr.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Instance::new())))
            .clone()
    }

    fn epoch(&self, cfg: &BreakerConfig, now: Instant) -> u64 {
        let bucket_ms = (cfg.window_ms / BUCKETS as u64).max(1);
        now.duration_since(self.origin).as_millis() as u64 / bucket_ms
    }

    /// Let a call to `addr` through, or refuse it while the breaker is open. The call
    /// has `timeout` (its deadline); dropped unfinished before that, it was cancelled.
    pub fn admit(&self, addr: &Address, timeout: Option<Duration>) -> Result<Permit<'_>, Rejected> {
        let cfg = self.config.load();
        if !cfg.enabled {
            return Ok(Permit {
                breakers: self,
                addr: None,
                abandoned_after: None,
            });
        }
        let inst = self.entry(addr);
        let mut st = inst.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match &mut st.mode {
            Mode::Closed => {}
            Mode::Open { until } if now >= *until => {
                st.mode = Mode::HalfOpen {
                    admitted: 1,
                    succeeded: 0,
                };
                drop(st);
                self.changed(addr, BreakerState::HalfOpen);
            }
            Mode::Open { .. } => return Err(Rejected),
            Mode::HalfOpen { admitted, .. } => {
                if *admitted >= cfg.half_open_probes {
                    return Err(Rejected);
                }
                *admitted += 1;
            }
        }
        // the deadline layer runs outside this one and started the clock a moment
        // earlier: a drop within the last 5 % of the timeout is the deadline's
        let abandoned_after = timeout.map(|t| Instant::now() + t - t / 20);
        Ok(Permit {
            breakers: self,
            addr: Some(addr.clone()),
            abandoned_after,
        })
    }

    /// A call cancelled by its caller: no outcome; a probe slot goes back.
    fn release(&self, addr: &Address) {
        let inst = self.entry(addr);
        let mut st = inst.lock().unwrap_or_else(|p| p.into_inner());
        if let Mode::HalfOpen { admitted, .. } = &mut st.mode {
            *admitted = admitted.saturating_sub(1);
        }
    }

    fn record(&self, addr: &Address, success: bool) {
        let cfg = self.config.load();
        let inst = self.entry(addr);
        let mut st = inst.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let epoch = self.epoch(&cfg, now);
        let b = &mut st.buckets[(epoch % BUCKETS as u64) as usize];
        if b.epoch != epoch {
            *b = Bucket {
                epoch,
                ..Default::default()
            };
        }
        if success {
            b.ok += 1;
            st.consecutive = 0;
        } else {
            b.fail += 1;
            st.consecutive += 1;
        }
        let open_for = Duration::from_millis(cfg.open_ms);
        let next = match &mut st.mode {
            Mode::HalfOpen { succeeded, .. } if success => {
                *succeeded += 1;
                (*succeeded >= cfg.half_open_probes).then_some(Mode::Closed)
            }
            Mode::HalfOpen { .. } => Some(Mode::Open {
                until: now + open_for,
            }),
            Mode::Closed if !success => {
                let (mut ok, mut fail) = (0u64, 0u64);
                for b in &st.buckets {
                    if epoch.saturating_sub(b.epoch) < BUCKETS as u64 {
                        ok += u64::from(b.ok);
                        fail += u64::from(b.fail);
                    }
                }
                let total = ok + fail;
                let ratio_trips = total >= u64::from(cfg.min_requests)
                    && fail as f64 >= cfg.failure_ratio * total as f64;
                (st.consecutive >= cfg.consecutive_failures || ratio_trips).then_some(Mode::Open {
                    until: now + open_for,
                })
            }
            _ => None,
        };
        if let Some(mode) = next {
            if matches!(mode, Mode::Closed) {
                st.buckets = [Bucket::default(); BUCKETS];
                st.consecutive = 0;
            }
            st.mode = mode;
            let state = st.state();
            drop(st);
            self.changed(addr, state);
        }
    }

    fn changed(&self, addr: &Address, state: BreakerState) {
        match state {
            BreakerState::Open => {
                tracing::warn!(service = %self.service, instance = %addr, "circuit breaker opened")
            }
            _ => {
                tracing::info!(service = %self.service, instance = %addr, state = state.as_str(), "circuit breaker")
            }
        }
        if let Some(o) = &self.observer {
            o(&self.service, addr, state);
        }
    }
}

/// One admitted call; its outcome is recorded by [`Permit::finish`]. Dropped
/// unfinished, it is a failure if the deadline abandoned the call, and no outcome if
/// the caller cancelled it earlier.
pub struct Permit<'a> {
    breakers: &'a Breakers,
    addr: Option<Address>,
    /// From then on a drop is the deadline's (no deadline: always a cancellation).
    abandoned_after: Option<Instant>,
}

impl Permit<'_> {
    pub fn finish(mut self, success: bool) {
        if let Some(addr) = self.addr.take() {
            self.breakers.record(&addr, success);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(addr) = self.addr.take() {
            if self.abandoned_after.is_some_and(|t| Instant::now() >= t) {
                self.breakers.record(&addr, false);
            } else {
                self.breakers.release(&addr);
            }
        }
    }
}

/// The client layer (inner: after load balancing).
#[derive(Clone)]
pub struct BreakerLayer {
    breakers: Arc<Breakers>,
}

impl BreakerLayer {
    pub fn new(breakers: Arc<Breakers>) -> Self {
        Self { breakers }
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = BreakerService<S>;

    fn layer(self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breakers: self.breakers,
        }
    }
}

#[derive(Clone)]
pub struct BreakerService<S> {
    inner: S,
    breakers: Arc<Breakers>,
}

impl<S, Req> Service<ClientContext, Req> for BreakerService<S>
where
    S: Service<ClientContext, Req, Error = ClientError> + Send + Sync,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = ClientError;

    async fn call(&self, cx: &mut ClientContext, req: Req) -> Result<S::Response, ClientError> {
        let Some(addr) = cx.rpc_info().callee().address.clone() else {
            return self.inner.call(cx, req).await;
        };
        let timeout = cx.rpc_info().config().rpc_timeout();
        let permit = self.breakers.admit(&addr, timeout).map_err(|Rejected| {
            ClientError::Transport(TransportException::from(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("circuit breaker open for {addr}"),
            )))
        })?;
        let result = self.inner.call(cx, req).await;
        permit.finish(matches!(result, Ok(_) | Err(ClientError::Biz(_))));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers(cfg: BreakerConfig) -> Breakers {
        Breakers::new("user", Arc::new(ArcSwap::from_pointee(cfg)), None)
    }

    fn addr(port: u16) -> Address {
        Address::Ip(([127, 0, 0, 1], port).into())
    }

    fn state(b: &Breakers, a: &Address) -> BreakerState {
        b.states()
            .into_iter()
            .find(|(x, _)| x == a)
            .map(|(_, s)| s)
            .unwrap_or(BreakerState::Closed)
    }

    #[test]
    fn consecutive_failures_open_then_probes_close() {
        let b = breakers(BreakerConfig {
            consecutive_failures: 3,
            open_ms: 30,
            half_open_probes: 2,
            ..Default::default()
        });
        let a = addr(1);
        for _ in 0..3 {
            b.admit(&a, None).expect("closed").finish(false);
        }
        assert_eq!(state(&b, &a), BreakerState::Open);
        assert!(b.admit(&a, None).is_err(), "open refuses");
        assert_eq!(state(&b, &addr(2)), BreakerState::Closed, "per instance");
        std::thread::sleep(Duration::from_millis(40));
        let p1 = b.admit(&a, None).expect("first probe");
        let p2 = b.admit(&a, None).expect("second probe");
        assert!(b.admit(&a, None).is_err(), "only the probes pass");
        assert_eq!(state(&b, &a), BreakerState::HalfOpen);
        p1.finish(true);
        p2.finish(true);
        assert_eq!(state(&b, &a), BreakerState::Closed);
    }

    #[test]
    fn cancelled_probe_gives_its_slot_back() {
        let b = breakers(BreakerConfig {
            consecutive_failures: 1,
            open_ms: 20,
            half_open_probes: 1,
            ..Default::default()
        });
        let a = addr(1);
        b.admit(&a, None).expect("closed").finish(false);
        std::thread::sleep(Duration::from_millis(30));
        let probe = b.admit(&a, Some(Duration::from_secs(60))).expect("probe");
        assert!(b.admit(&a, None).is_err(), "one probe at a time");
        drop(probe); // the caller went away
        assert_eq!(state(&b, &a), BreakerState::HalfOpen);
        b.admit(&a, None).expect("the slot is back").finish(true);
        assert_eq!(state(&b, &a), BreakerState::Closed);
    }

    #[test]
    fn failed_probe_reopens_and_abandoned_call_is_a_failure() {
        let b = breakers(BreakerConfig {
            consecutive_failures: 1,
            open_ms: 20,
            ..Default::default()
        });
        let a = addr(1);
        // cancelled by the caller well before its deadline: no outcome
        drop(b.admit(&a, Some(Duration::from_secs(60))).expect("closed"));
        assert_eq!(state(&b, &a), BreakerState::Closed);
        // abandoned by the deadline (it has passed when the call is dropped)
        drop(b.admit(&a, Some(Duration::from_millis(5))).expect("closed"));
        assert_eq!(
            state(&b, &a),
            BreakerState::Closed,
            "not yet: 5 ms not over"
        );
        let p = b.admit(&a, Some(Duration::from_millis(5))).expect("closed");
        std::thread::sleep(Duration::from_millis(10));
        drop(p);
        assert_eq!(state(&b, &a), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(30));
        b.admit(&a, None).expect("probe").finish(false);
        assert_eq!(state(&b, &a), BreakerState::Open);
    }

    #[test]
    fn failure_ratio_needs_enough_calls() {
        let b = breakers(BreakerConfig {
            consecutive_failures: 100,
            min_requests: 10,
            failure_ratio: 0.5,
            ..Default::default()
        });
        let a = addr(1);
        for i in 0..9 {
            b.admit(&a, None).expect("closed").finish(i % 2 == 0);
        }
        assert_eq!(
            state(&b, &a),
            BreakerState::Closed,
            "9 calls < min_requests"
        );
        b.admit(&a, None).expect("closed").finish(false);
        assert_eq!(state(&b, &a), BreakerState::Open, "5 of 10 failed");
    }

    #[test]
    fn disabled_by_config_at_run_time() {
        let cfg = Arc::new(ArcSwap::from_pointee(BreakerConfig {
            consecutive_failures: 1,
            ..Default::default()
        }));
        let b = Breakers::new("user", cfg.clone(), None);
        let a = addr(1);
        b.admit(&a, None).expect("closed").finish(false);
        assert!(b.admit(&a, None).is_err());
        cfg.store(Arc::new(BreakerConfig {
            enabled: false,
            ..Default::default()
        }));
        assert!(
            b.admit(&a, None).is_ok(),
            "a disabled breaker lets everything through"
        );
    }
}
