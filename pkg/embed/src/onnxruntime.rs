//! EfficientNet-Lite0 on ONNX Runtime: Microsoft's C++ engine, opened at start-up from
//! a `libonnxruntime.so` that `scripts/onnxruntime.sh` installs (crate `ort`, feature
//! `load-dynamic`; nothing links against it). Same model file, same preprocessing and
//! the same vectors as [`TractEmbedder`](crate::TractEmbedder) to within float
//! rounding (a test compares them), about four times faster per inference on this
//! machine (`docs/image-embedding.md`).
//!
//! An ONNX Runtime session runs one inference at a time (`Session::run` takes
//! `&mut self`), so the embedder keeps a pool of sessions, each running on the calling
//! thread (one intra-op thread: no thread pool to spin or oversubscribe the cores).
//! A query with several views runs them in parallel on the sessions that are idle at
//! that moment: alone on the machine it uses every core, under load it uses its own.

use std::{
    path::{Path, PathBuf},
    sync::{
        Mutex, MutexGuard, OnceLock, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use ort::{
    environment::Environment,
    session::{Session, builder::GraphOptimizationLevel},
    value::TensorRef,
};

use crate::{EmbedError, Embedder, INPUT_LEN, INPUT_SIDE, check_inputs, unit_vectors};

/// ONNX Runtime allows one environment per process, bound to the library it was
/// loaded from.
static RUNTIME: OnceLock<Result<(PathBuf, Environment), String>> = OnceLock::new();

fn environment(lib: &Path) -> Result<Environment, EmbedError> {
    let loaded = RUNTIME.get_or_init(|| {
        let env = ort::init_from(lib)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?
            .with_name("fanone-embed")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("ONNX Runtime environment: {e}"))?;
        Ok((lib.to_path_buf(), env))
    });
    match loaded {
        Ok((path, env)) if path == lib => Ok(env.clone()),
        Ok((path, _)) => Err(EmbedError::Model(format!(
            "ONNX Runtime is already loaded from {} in this process, not {}",
            path.display(),
            lib.display()
        ))),
        Err(e) => Err(EmbedError::Model(e.clone())),
    }
}

/// EfficientNet-Lite0 on ONNX Runtime; one instance serves concurrent requests, up to
/// its number of sessions at once (more wait for a session).
pub struct OrtEmbedder {
    sessions: Vec<Mutex<Session>>,
    /// Where the next caller starts looking for an idle session.
    next: AtomicUsize,
}

impl std::fmt::Debug for OrtEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEmbedder")
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl OrtEmbedder {
    /// Opens ONNX Runtime from `lib` (the shared library's path; the first call in a
    /// process decides it) and loads the model at `model` (input `f32[1,3,224,224]`,
    /// output `f32[1,1280]`, checked by a first inference) into `sessions` sessions
    /// (at least one): how many inferences may run at once, one core each.
    pub fn load(
        lib: impl AsRef<Path>,
        model: impl AsRef<Path>,
        sessions: usize,
    ) -> Result<Self, EmbedError> {
        let (lib, model) = (lib.as_ref(), model.as_ref());
        let env = environment(lib)?;
        let err =
            |e: &dyn std::fmt::Display| EmbedError::Model(format!("{}: {e}", model.display()));
        let mut pool = Vec::with_capacity(sessions.max(1));
        for _ in 0..sessions.max(1) {
            let session = Session::builder(&env)
                .map_err(|e| err(&e))?
                .with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(|e| err(&e))?
                .with_intra_threads(1)
                .map_err(|e| err(&e))?
                .with_inter_threads(1)
                .map_err(|e| err(&e))?
                .commit_from_file(model)
                .map_err(|e| err(&e))?;
            pool.push(Mutex::new(session));
        }
        let embedder = OrtEmbedder {
            sessions: pool,
            next: AtomicUsize::new(0),
        };
        let mut first = embedder.sessions[0]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        run(&mut first, &vec![0f32; INPUT_LEN]).map_err(|e| err(&e))?;
        drop(first);
        Ok(embedder)
    }

    /// An idle session if there is one, else the next in turn once it is free.
    fn acquire(&self) -> MutexGuard<'_, Session> {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .find_map(|i| self.sessions[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.sessions[start % n]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            })
    }

    /// Up to `max` more sessions that are idle right now (none waits).
    fn idle(&self, max: usize) -> Vec<MutexGuard<'_, Session>> {
        self.sessions
            .iter()
            .filter_map(|s| s.try_lock().ok())
            .take(max)
            .collect()
    }
}

impl Embedder for OrtEmbedder {
    /// On an idle session, and the other inputs in parallel on the other sessions
    /// idle right now.
    fn embed_inputs(&self, inputs: &[f32], n: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        check_inputs(inputs, n)?;
        let mut first = self.acquire();
        let mut sessions = self.idle(n - 1);
        if sessions.is_empty() {
            return inputs
                .chunks_exact(INPUT_LEN)
                .map(|input| run(&mut first, input))
                .collect();
        }
        sessions.insert(0, first);
        // input i runs on session i % k: the calling thread takes the first share
        let k = sessions.len();
        let share = |s: usize| -> Vec<(usize, &[f32])> {
            inputs
                .chunks_exact(INPUT_LEN)
                .enumerate()
                .filter(|(i, _)| i % k == s)
                .collect()
        };
        let mut results: Vec<(usize, Result<Vec<f32>, EmbedError>)> = std::thread::scope(|scope| {
            // the guards stay here; each thread borrows its session
            let mut guards = sessions.iter_mut().map(|g| &mut **g);
            let Some(own) = guards.next() else {
                return Vec::new();
            };
            let others: Vec<_> = guards
                .enumerate()
                .map(|(j, session)| {
                    let mine = share(j + 1);
                    scope.spawn(move || {
                        mine.into_iter()
                            .map(|(i, input)| (i, run(session, input)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut all: Vec<_> = share(0)
                .into_iter()
                .map(|(i, input)| (i, run(own, input)))
                .collect();
            for handle in others {
                match handle.join() {
                    Ok(done) => all.extend(done),
                    Err(_) => all.push((
                        usize::MAX,
                        Err(EmbedError::Model("inference thread panicked".into())),
                    )),
                }
            }
            all
        });
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// The sessions idle right now (at least 1: a call waits for one).
    fn idle_parallelism(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| s.try_lock().is_ok())
            .count()
            .max(1)
    }
}

/// One inference of one input on `session`.
fn run(session: &mut Session, input: &[f32]) -> Result<Vec<f32>, EmbedError> {
    let model = |e: ort::Error| EmbedError::Model(e.to_string());
    let side = INPUT_SIDE as usize;
    let tensor = TensorRef::from_array_view(([1usize, 3, side, side], input)).map_err(model)?;
    let outputs = session.run(ort::inputs![tensor]).map_err(model)?;
    let (_, flat) = outputs[0].try_extract_tensor::<f32>().map_err(model)?;
    let mut vectors = unit_vectors(flat, 1)?;
    vectors
        .pop()
        .ok_or_else(|| EmbedError::Model("no output".into()))
}
