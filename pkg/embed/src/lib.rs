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
//!   EfficientNet-Lite0 (`models/`, see `docs/image-embedding.md`) runs on one of two
//!   [`Runtime`]s: [`TractEmbedder`] in pure Rust with tract (the default: nothing to
//!   install), or [`OrtEmbedder`] on ONNX Runtime's C library (about four times
//!   faster; a pool of sessions, a query's views in parallel on idle ones).
//!
//! Preprocessing is part of the model's contract and must not drift (a golden test
//! guards it): EXIF orientation, alpha composited on white, RGB, reduced to the
//! working copy, squash-resize to 224×224 with a bilinear filter (support scaled to the
//! reduction), no centre crop, `(x/255 − mean) / std` with the ImageNet mean and std,
//! NCHW `f32[N,3,224,224]`.

mod decode;
mod layout;
mod prep;

mod onnxruntime;
mod tract;

use fast_image_resize::Resizer;

pub use decode::{Limits, decode, decode_reduced};
/// The decoded picture [`decode`] returns and the working copy (from the `image` crate).
pub use image::{DynamicImage, RgbImage};
pub use layout::{GRID, LAYOUT_LEN, LAYOUT_WEIGHT, Layout, QueryLayout, ViewMeans, layout};
pub use onnxruntime::OrtEmbedder;
pub use prep::{INPUT_LEN, Rect, WORK_SIDE, find_picture, input_into, query_views, working};
pub use tract::{MAX_BATCH, TractEmbedder};

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

/// Maps images to unit-norm vectors of length [`DIM`]. An engine implements
/// [`embed_inputs`](Self::embed_inputs); views and whole images go through it.
pub trait Embedder: Send + Sync + 'static {
    /// Runs the model on `n` preprocessed inputs laid end to end (see [`input_into`]);
    /// one unit-length vector per input, in order. Wrong lengths are `Model` errors
    /// ([`check_inputs`]).
    fn embed_inputs(&self, inputs: &[f32], n: usize) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// How many inputs one call would run side by side if made now: the engine's
    /// idle capacity (1 for an engine that runs one input at a time). A hint for
    /// work that is only worth doing on otherwise idle cores; it may be stale by the
    /// time of the call.
    fn idle_parallelism(&self) -> usize {
        1
    }

    /// The embeddings of `views` of a working copy ([`working`]), one per view, in
    /// order.
    fn embed_views(&self, work: &RgbImage, views: &[Rect]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_prepared(&prepare(work, views)?)
    }

    /// The embeddings of views already prepared ([`prepare`]), one per view, in
    /// order; none for none.
    fn embed_prepared(&self, prepared: &Prepared) -> Result<Vec<Vec<f32>>, EmbedError> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        self.embed_inputs(&prepared.inputs, prepared.len())
    }

    /// The embedding of the whole image: what the index stores.
    fn embed(&self, img: &DynamicImage) -> Result<Vec<f32>, EmbedError> {
        let work = working(img)?;
        let (w, h) = work.dimensions();
        self.embed_views(&work, &[Rect::whole(w, h)])?
            .pop()
            .ok_or_else(|| EmbedError::Model("no output".into()))
    }
}

/// `inputs` holds `n ≥ 1` model inputs, or a `Model` error says what it holds.
pub fn check_inputs(inputs: &[f32], n: usize) -> Result<(), EmbedError> {
    if n == 0 || inputs.len() != n * INPUT_LEN {
        return Err(EmbedError::Model(format!(
            "{} floats for {n} inputs",
            inputs.len()
        )));
    }
    Ok(())
}

/// The engine that runs the model: the same file, preprocessing and vectors on both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// tract, pure Rust: nothing to install (the default).
    Tract,
    /// ONNX Runtime from the shared library at `lib` (`scripts/onnxruntime.sh
    /// install` prints its path): about four times faster per inference.
    OnnxRuntime { lib: std::path::PathBuf },
}

/// Loads the model at `model` on `runtime`, for up to `concurrency` inferences at once
/// (ONNX Runtime keeps one session each; tract shares one plan).
pub fn load(
    runtime: &Runtime,
    model: &std::path::Path,
    concurrency: usize,
) -> Result<std::sync::Arc<dyn Embedder>, EmbedError> {
    Ok(match runtime {
        Runtime::Tract => std::sync::Arc::new(TractEmbedder::load(model)?),
        Runtime::OnnxRuntime { lib } => {
            std::sync::Arc::new(OrtEmbedder::load(lib, model, concurrency)?)
        }
    })
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

/// What [`prepare`] makes of a working copy's views.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The model inputs, laid end to end (for [`Embedder::embed_inputs`]).
    pub inputs: Vec<f32>,
    /// Each view's colour cell means (for [`QueryLayout::from_means`]), from the same
    /// 224×224 pixels as its input: a view is resized once for both.
    pub means: Vec<ViewMeans>,
}

impl Prepared {
    /// How many views.
    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }
}

/// The model inputs and colour cell means of `views` of a working copy.
pub fn prepare(work: &RgbImage, views: &[Rect]) -> Result<Prepared, EmbedError> {
    let mut inputs = vec![0f32; views.len() * INPUT_LEN];
    let mut means = Vec::with_capacity(views.len());
    let mut resizer = Resizer::new();
    for (view, out) in views.iter().zip(inputs.chunks_exact_mut(INPUT_LEN)) {
        let small = prep::small(&mut resizer, work, *view)?;
        prep::normalise_into(small.buffer(), out);
        means.push(ViewMeans::of_small(small.buffer()));
    }
    Ok(Prepared { inputs, means })
}

/// `n` model outputs laid end to end, checked and scaled to unit length.
fn unit_vectors(flat: &[f32], n: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
    if flat.len() != n * DIM || flat.iter().any(|x| !x.is_finite()) {
        return Err(EmbedError::Model(format!(
            "bad output: {} values for {n} inputs",
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

/// Scales `v` to unit length (a zero vector stays zero).
fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
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
