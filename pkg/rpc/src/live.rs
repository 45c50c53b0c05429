//! The config center: a TOML document in the registry (etcd key `<ns>/config`,
//! Nacos data id `fanone.toml`) layered over the file and env configuration while
//! the process runs.
//!
//! Each new document is loaded as one more layer (defaults → file → env → document),
//! validated as a whole, and only its run-time part ([`Live`]: log filter, breaker
//! thresholds, size limits, feature switches) is applied, atomically (one pointer
//! swap; readers see the old or the new settings, never a mix). A document that does
//! not parse or validate is refused and logged; the settings in force stay. Keys
//! outside the run-time part are ignored with a warning (they need a restart). A
//! removed document brings back the file and env settings.

use std::{path::PathBuf, sync::Arc};

use arc_swap::ArcSwap;
use fanone_config::{Config, Live};

use crate::{Registry, Rpc, RpcError};

/// Why a document was refused.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("config center document refused: {0}")]
    Invalid(String),
}

/// Applies documents to the live settings of one process.
pub struct Applier {
    file: Option<PathBuf>,
    base: Config,
    live: Arc<ArcSwap<Live>>,
    breaker: Arc<ArcSwap<fanone_config::BreakerConfig>>,
}

impl Applier {
    pub(crate) fn new(
        file: Option<PathBuf>,
        base: Config,
        live: Arc<ArcSwap<Live>>,
        breaker: Arc<ArcSwap<fanone_config::BreakerConfig>>,
    ) -> Self {
        Self {
            file,
            base,
            live,
            breaker,
        }
    }

    /// Apply `doc` (or the base settings when `None`); returns whether anything changed.
    pub fn apply(&self, doc: Option<&str>) -> Result<bool, LiveError> {
        let next = match doc {
            Some(doc) => Config::load_with(self.file.as_deref(), Some(doc))
                .map_err(|e| LiveError::Invalid(e.to_string()))?,
            None => self.base.clone(),
        };
        next.validate()
            .map_err(|e| LiveError::Invalid(e.to_string()))?;
        fanone_telemetry::check_filter(&next.telemetry.log)
            .map_err(|e| LiveError::Invalid(format!("telemetry.log: {e}")))?;
        let live = next.live();
        if self.base.with_live(&live) != next {
            tracing::warn!(
                "config center: keys outside the run-time settings changed; they apply after a restart"
            );
        }
        let current = self.live.load();
        if **current == live {
            return Ok(false);
        }
        if current.log != live.log
            && let Err(e) = fanone_telemetry::set_filter(&live.log)
        {
            tracing::warn!(error = %e, "log filter not changed");
        }
        self.breaker.store(Arc::new(live.breaker.clone()));
        self.live.store(Arc::new(live));
        tracing::info!("config center: new settings applied");
        Ok(true)
    }
}

impl Rpc {
    /// Follow the config center when `registry.config_center` is on (no-op
    /// otherwise). `file` is the configuration file the process started with.
    pub async fn follow_config(
        self: &Arc<Self>,
        file: Option<PathBuf>,
        base: &Config,
    ) -> Result<(), RpcError> {
        if !base.registry.config_center {
            return Ok(());
        }
        let applier = Applier::new(file, base.clone(), self.live.clone(), self.breaker.clone());
        let mut rx = self.registry.watch_config().await?;
        let first = rx.borrow_and_update().clone();
        if let Err(e) = applier.apply(first.as_deref()) {
            tracing::error!(error = %e, "config center document refused; file and env settings in force");
        }
        self.jobs.spawn("config-center", move |_| async move {
            while rx.changed().await.is_ok() {
                let doc = rx.borrow_and_update().clone();
                if let Err(e) = applier.apply(doc.as_deref()) {
                    tracing::error!(error = %e, "config center document refused; settings unchanged");
                }
            }
        });
        tracing::info!(
            backend = self.registry.backend(),
            "following the config center"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applier() -> (
        Applier,
        Arc<ArcSwap<Live>>,
        Arc<ArcSwap<fanone_config::BreakerConfig>>,
    ) {
        let base = Config::default();
        let live = Arc::new(ArcSwap::from_pointee(base.live()));
        let breaker = Arc::new(ArcSwap::from_pointee(base.rpc.breaker.clone()));
        (
            Applier::new(None, base, live.clone(), breaker.clone()),
            live,
            breaker,
        )
    }

    #[test]
    fn good_documents_apply_bad_ones_are_refused_and_removal_reverts() {
        let (a, live, breaker) = applier();
        assert!(
            a.apply(Some(
                "[rpc.breaker]\nopen_ms = 1234\n[gateway]\nmax_avatar_bytes = 1000\n"
            ))
            .unwrap()
        );
        assert_eq!(breaker.load().open_ms, 1234);
        assert_eq!(live.load().max_avatar_bytes, 1000);
        // the same document again changes nothing
        assert!(
            !a.apply(Some(
                "[rpc.breaker]\nopen_ms = 1234\n[gateway]\nmax_avatar_bytes = 1000\n"
            ))
            .unwrap()
        );
        // invalid: not TOML, a wrong type, a rule broken, a bad log filter
        for bad in [
            "[rpc.breaker",
            "[rpc.breaker]\nopen_ms = \"soon\"",
            "[rpc.breaker]\nfailure_ratio = 3.0",
            "[telemetry]\nlog = \"info,[[\"",
        ] {
            assert!(a.apply(Some(bad)).is_err(), "{bad}");
            assert_eq!(
                breaker.load().open_ms,
                1234,
                "old settings stay after {bad}"
            );
        }
        assert!(a.apply(None).unwrap());
        assert_eq!(
            breaker.load().open_ms,
            Config::default().rpc.breaker.open_ms
        );
        assert_eq!(**live.load(), Config::default().live());
    }
}
