//! EfficientNet-Lite0 on tract, in pure Rust: the default runtime (nothing to install).

use std::{path::Path, sync::Arc};

use tract_onnx::prelude::*;

use crate::{DIM, EmbedError, Embedder, INPUT_LEN, INPUT_SIDE, check_inputs, unit_vectors};

/// Largest batch one inference runs; larger inputs run in several batches. One: on
/// tract 0.23 a batch of a query's three extra views took longer than three
/// inferences of one (opt-level 3 tract in a debug build: 680 against 500 ms; a
/// symbolic batch size was three times slower still), so views run one at a time.
pub const MAX_BATCH: usize = 1;

/// EfficientNet-Lite0 on tract: loaded once and optimised for each batch size up to
/// [`MAX_BATCH`] (tract's kernels are fastest on concrete shapes); every call runs a
/// shared, immutable plan with its own state, so one instance serves concurrent
/// requests.
#[derive(Debug, Clone)]
pub struct TractEmbedder {
    /// `plans[n - 1]` runs a batch of `n`.
    plans: Vec<Arc<TypedRunnableModel>>,
}

impl TractEmbedder {
    /// Loads the ONNX model at `path` (input `f32[N,3,224,224]`, output `f32[N,1280]`)
    /// and optimises it for this machine, each inference on the calling thread (the
    /// service runs one per core).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EmbedError> {
        Self::load_with_threads(path, 1)
    }

    /// As [`load`](Self::load), with each inference's matrix products on a pool of
    /// `threads` threads (1 = on the calling thread).
    pub fn load_with_threads(path: impl AsRef<Path>, threads: usize) -> Result<Self, EmbedError> {
        let path = path.as_ref();
        let model_err = |e: TractError| EmbedError::Model(format!("{}: {e:#}", path.display()));
        let side = INPUT_SIDE as usize;
        let onnx = tract_onnx::onnx().model_for_path(path).map_err(model_err)?;
        let options = RunOptions {
            executor: (threads > 1).then(|| multithread::Executor::multithread(threads)),
            ..RunOptions::default()
        };
        let mut plans = Vec::with_capacity(MAX_BATCH);
        for n in 1..=MAX_BATCH {
            let model = onnx
                .clone()
                .with_input_fact(0, f32::fact([n, 3, side, side]).into())
                .and_then(|m| m.into_optimized())
                .map_err(model_err)?;
            let out = model.output_fact(0).map_err(model_err)?;
            if out.datum_type != f32::datum_type() || out.shape.as_concrete() != Some(&[n, DIM][..])
            {
                return Err(EmbedError::Model(format!(
                    "{}: output is {out:?}, expected f32[{n},{DIM}]",
                    path.display()
                )));
            }
            plans.push(
                model
                    .into_runnable_with_options(&options)
                    .map_err(model_err)?,
            );
        }
        Ok(TractEmbedder { plans })
    }

    fn run_batch(&self, inputs: &[f32], n: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = |e: TractError| EmbedError::Model(format!("{e:#}"));
        let side = INPUT_SIDE as usize;
        let plan = self
            .plans
            .get(n.wrapping_sub(1))
            .ok_or_else(|| EmbedError::Model(format!("no plan for a batch of {n}")))?;
        let tensor = Tensor::from_shape(&[n, 3, side, side], inputs).map_err(model)?;
        let outputs = plan.run(tvec!(tensor.into())).map_err(model)?;
        let view = outputs[0].to_plain_array_view::<f32>().map_err(model)?;
        match view.as_slice() {
            Some(flat) => unit_vectors(flat, n),
            None => unit_vectors(&view.iter().copied().collect::<Vec<_>>(), n),
        }
    }

    /// Runs the model on one preprocessed input (see [`preprocess`]).
    pub fn embed_input(&self, input: &[f32]) -> Result<Vec<f32>, EmbedError> {
        let mut out = self.embed_inputs(input, 1)?;
        Ok(out.remove(0))
    }
}

impl Embedder for TractEmbedder {
    /// In batches of at most [`MAX_BATCH`].
    fn embed_inputs(&self, inputs: &[f32], n: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        check_inputs(inputs, n)?;
        let mut out = Vec::with_capacity(n);
        for batch in inputs.chunks(MAX_BATCH * INPUT_LEN) {
            out.extend(self.run_batch(batch, batch.len() / INPUT_LEN)?);
        }
        Ok(out)
    }
}
