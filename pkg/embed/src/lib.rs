//! Image embeddings for reverse image search (CONTRACT §4.1 `POST /user/image/search`).
//!
//! - [`decode`] turns untrusted upload bytes into an image, or refuses them: magic bytes
//!   must say JPEG, PNG, GIF or WebP; size, header dimensions and decoder allocations are
//!   bounded by [`Limits`] *before* any pixel is decoded (decompression bombs are refused
//!   from their header); EXIF orientation is applied.
//! - [`working`] resamples the decoded image once into a small working copy; model
//!   inputs are rectangles of it ([`Rect`], [`input_into`]); [`query_views`] picks the
//!   extra views of a query (the picture found in a frame, centre crops).
//! - [`Embedder`] maps an image to a unit-norm [`DIM`]-d vector (what the index
//!   stores) and a query to one vector per view; similarity is a dot product (cosine).
//!   [`TractEmbedder`] runs EfficientNet-Lite0 (`models/`, see
//!   `docs/image-embedding.md`) in pure Rust with tract: the model is loaded once and
//!   optimised for batches of 1 to [`MAX_BATCH`] (one: see there); views run in
//!   batches of at most that.
//!
//! Preprocessing is part of the model's contract and must not drift (a golden test
//! guards it): EXIF orientation, alpha composited on white, RGB, reduced to the
//! working copy, squash-resize to 224×224 with a bilinear filter (support scaled to the
//! reduction), no centre crop, `(x/255 − mean) / std` with the ImageNet mean and std,
//! NCHW `f32[N,3,224,224]`.

mod decode;
mod prep;

use std::path::Path;

use fast_image_resize::Resizer;
use tract_onnx::prelude::*;

pub use decode::{Limits, decode};
/// The decoded picture [`decode`] returns and the working copy (from the `image` crate).
pub use image::{DynamicImage, RgbImage};
pub use prep::{INPUT_LEN, Rect, WORK_SIDE, find_picture, input_into, query_views, working};

/// Length of an embedding.
pub const DIM: usize = 1280;

/// Where the project keeps the model, relative to the repository root (see
/// `models/README.md`); services take the path from their configuration.
pub const DEFAULT_MODEL_PATH: &str = "models/effnet_lite0_emb.onnx";

/// Side of the square model input.
pub const INPUT_SIDE: u32 = 224;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The bytes are not a JPEG, PNG, GIF or WebP file.
    #[error("not a JPEG, PNG, GIF or WebP image")]
    NotAnImage,
    /// Over a size, dimension or memory limit.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// A supported format, but the data is corrupt, truncated or uses an unsupported feature.
    #[error("cannot decode image: {0}")]
    Decode(String),
    /// The model could not be loaded or run.
    #[error("embedding model: {0}")]
    Model(String),
}

/// Maps images to unit-norm vectors of length [`DIM`].
pub trait Embedder: Send + Sync + 'static {
    /// The embeddings of `views` of a working copy ([`working`]), one per view, in
    /// order (in batches of at most `MAX_BATCH`).
    fn embed_views(&self, work: &RgbImage, views: &[Rect]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// The embedding of the whole image: what the index stores.
    fn embed(&self, img: &DynamicImage) -> Result<Vec<f32>, EmbedError> {
        let work = working(img)?;
        let (w, h) = work.dimensions();
        self.embed_views(&work, &[Rect::whole(w, h)])?
            .pop()
            .ok_or_else(|| EmbedError::Model("no output".into()))
    }
}

/// The model input for the whole of `img`: NCHW `f32[1,3,224,224]` in row-major
/// order (see the crate documentation). Public so that tests and tools can check it
/// against other runtimes.
pub fn preprocess(img: &DynamicImage) -> Result<Vec<f32>, EmbedError> {
    let work = working(img)?;
    let mut out = vec![0f32; INPUT_LEN];
    let (w, h) = work.dimensions();
    input_into(&mut Resizer::new(), &work, Rect::whole(w, h), &mut out)?;
    Ok(out)
}

/// Scales `v` to unit length (a zero vector stays zero).
fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

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

    /// Runs the model on `n` preprocessed inputs laid end to end (see [`input_into`]),
    /// in batches of at most [`MAX_BATCH`]; returns one unit-length vector per input.
    pub fn embed_inputs(&self, inputs: &[f32], n: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        if n == 0 || inputs.len() != n * INPUT_LEN {
            return Err(EmbedError::Model(format!(
                "{} floats for {n} inputs",
                inputs.len()
            )));
        }
        let mut out = Vec::with_capacity(n);
        for batch in inputs.chunks(MAX_BATCH * INPUT_LEN) {
            out.extend(self.run_batch(batch, batch.len() / INPUT_LEN)?);
        }
        Ok(out)
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
        let flat: Vec<f32> = view.iter().copied().collect();
        if flat.len() != n * DIM || flat.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::Model(format!(
                "bad output: {} values",
                flat.len()
            )));
        }
        Ok(flat
            .chunks_exact(DIM)
            .map(|c| {
                let mut v = c.to_vec();
                l2_normalize(&mut v);
                v
            })
            .collect())
    }

    /// Runs the model on one preprocessed input (see [`preprocess`]).
    pub fn embed_input(&self, input: &[f32]) -> Result<Vec<f32>, EmbedError> {
        let mut out = self.embed_inputs(input, 1)?;
        Ok(out.remove(0))
    }
}

impl Embedder for TractEmbedder {
    fn embed_views(&self, work: &RgbImage, views: &[Rect]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if views.is_empty() {
            return Ok(Vec::new());
        }
        let mut inputs = vec![0f32; views.len() * INPUT_LEN];
        let mut resizer = Resizer::new();
        for (view, out) in views.iter().zip(inputs.chunks_exact_mut(INPUT_LEN)) {
            input_into(&mut resizer, work, *view, out)?;
        }
        self.embed_inputs(&inputs, views.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        let mut v = [3.0, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0; 2];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 2]);
    }
}
