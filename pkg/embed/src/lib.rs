//! Image embeddings for reverse image search (CONTRACT §4.1 `POST /user/image/search`).
//!
//! - [`decode`] turns untrusted upload bytes into an image, or refuses them: magic bytes
//!   must say JPEG, PNG, GIF or WebP; size, header dimensions and decoder allocations are
//!   bounded by [`Limits`] *before* any pixel is decoded (decompression bombs are refused
//!   from their header); EXIF orientation is applied.
//! - [`Embedder`] maps an image to a unit-norm [`DIM`]-d vector; similarity is a dot
//!   product (cosine). [`TractEmbedder`] runs EfficientNet-Lite0 (`models/`, see
//!   `docs/image-embedding.md`) in pure Rust with tract: the model is loaded and
//!   optimised once, every call runs the shared plan with its own state.
//!
//! Preprocessing is part of the model's contract and must not drift (a golden test
//! guards it): EXIF orientation, alpha composited on white, RGB, squash-resize to
//! 224×224 with the Triangle (bilinear) filter, no centre crop, `(x/255 − mean) / std`
//! with the ImageNet mean and std, NCHW `f32[1,3,224,224]`.

use std::{io::Cursor, panic::AssertUnwindSafe, path::Path};

use fanone_storage::{ImageType, sniff_image};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage, imageops::FilterType};
use tract_onnx::prelude::*;

/// Length of an embedding.
pub const DIM: usize = 1280;

/// Where the project keeps the model, relative to the repository root (see
/// `models/README.md`); services take the path from their configuration.
pub const DEFAULT_MODEL_PATH: &str = "models/effnet_lite0_emb.onnx";

/// Side of the square model input.
pub const INPUT_SIDE: u32 = 224;

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

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

/// Maps an image to a unit-norm vector of length [`DIM`].
pub trait Embedder: Send + Sync + 'static {
    fn embed(&self, img: &DynamicImage) -> Result<Vec<f32>, EmbedError>;
}

/// Bounds on what [`decode`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded file.
    pub max_bytes: u64,
    /// Largest `width × height` declared by the header.
    pub max_pixels: u64,
    /// Largest width or height declared by the header.
    pub max_side: u32,
    /// Memory one decode may use for pixels (the decoder's allocation limit and
    /// the decoded buffer). With a bounded number of concurrent decodes this bounds
    /// the memory image search can take.
    pub max_decode_bytes: u64,
}

impl Default for Limits {
    /// 10 MiB, 40 megapixels, 12000 pixels a side, 128 MiB of pixels.
    fn default() -> Self {
        Limits {
            max_bytes: 10 << 20,
            max_pixels: 40_000_000,
            max_side: 12_000,
            max_decode_bytes: 128 << 20,
        }
    }
}

impl Limits {
    /// The decoder's allocation budget: the largest allowed image as 16-bit RGBA
    /// (the widest layout the four formats decode to), within the memory budget.
    fn max_alloc(&self) -> u64 {
        self.max_pixels.saturating_mul(8).min(self.max_decode_bytes)
    }
}

/// Decodes untrusted bytes into an upright image, or refuses them.
///
/// Checks, in order: size (`max_bytes`), magic bytes (JPEG/PNG/GIF/WebP only), the
/// dimensions declared by the header (`max_side`, `max_pixels`) and the decoder's
/// output buffer (`image::Limits::max_alloc`), all before pixels are decoded. Then
/// decodes (the first frame of an animation) and applies the EXIF orientation.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, EmbedError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(EmbedError::TooLarge(format!(
            "{} bytes > {}",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let format = match sniff_image(bytes).ok_or(EmbedError::NotAnImage)? {
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Png => ImageFormat::Png,
        ImageType::Gif => ImageFormat::Gif,
        ImageType::Webp => ImageFormat::WebP,
    };
    // The JPEG decoder is lenient: it fills a truncated file's missing rows with grey
    // and succeeds. A cut-off upload must be refused, not indexed as half an image.
    if format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(EmbedError::Decode(
            "truncated JPEG (no end-of-image marker)".into(),
        ));
    }
    // Decoders parse hostile input; a panic in one must not take the request down.
    std::panic::catch_unwind(AssertUnwindSafe(|| decode_checked(bytes, format, limits)))
        .unwrap_or_else(|_| Err(EmbedError::Decode("decoder panicked".into())))
}

fn decode_checked(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<DynamicImage, EmbedError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| EmbedError::Decode(e.to_string()))?;
    if reader.format() != Some(format) {
        return Err(EmbedError::NotAnImage);
    }
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    image_limits.max_alloc = Some(limits.max_alloc());
    reader.limits(image_limits);

    // `into_dimensions()` is `into_decoder()?.dimensions()`: keep that decoder, so the
    // header is parsed once and checked before any pixel is read. `into_decoder`
    // already enforces `max_image_width/height`; check the rest here.
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (w, h) = decoder.dimensions();
    if w > limits.max_side || h > limits.max_side {
        return Err(EmbedError::TooLarge(format!("{w}×{h} pixels")));
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(EmbedError::TooLarge(format!(
            "{w}×{h} pixels, over {} in total",
            limits.max_pixels
        )));
    }
    // `ImageReader::into_decoder` does not count the output buffer against
    // `max_alloc` (`ImageReader::decode` does); do it here.
    if decoder.total_bytes() > limits.max_alloc() {
        return Err(EmbedError::TooLarge(format!(
            "{w}×{h} pixels need {} MiB decoded, over the {} MiB budget",
            decoder.total_bytes() >> 20,
            limits.max_alloc() >> 20
        )));
    }
    if w == 0 || h == 0 {
        return Err(EmbedError::Decode("empty image".into()));
    }
    let orientation = decoder.orientation().map_err(image_error)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Whether a JPEG has an end-of-image marker (`FF D9`) after its first scan.
///
/// Walks the marker segments up to the first start-of-scan (so that an `FF D9` inside
/// an EXIF thumbnail does not count); after it, byte stuffing guarantees `FF D9` can
/// only be a real marker.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        match marker {
            0xFF => i += 1,               // fill byte
            0x01 | 0xD0..=0xD7 => i += 2, // markers without a length
            0xD9 => return false,         // EOI before any scan
            _ => {
                let Some(len) = bytes.get(i + 2..i + 4) else {
                    return false;
                };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                if marker == 0xDA {
                    let scan = bytes.get(i + 2 + len..).unwrap_or_default();
                    return scan.windows(2).any(|w| w == [0xFF, 0xD9]);
                }
                i += 2 + len;
            }
        }
    }
    false
}

fn image_error(e: image::ImageError) -> EmbedError {
    match e {
        image::ImageError::Limits(e) => EmbedError::TooLarge(e.to_string()),
        e => EmbedError::Decode(e.to_string()),
    }
}

/// The model input for `img`: NCHW `f32[1,3,224,224]` in row-major order.
///
/// Alpha composited on white, RGB, squash-resized to 224×224 with the Triangle filter
/// (no crop), each channel `(x/255 − mean) / std` (ImageNet statistics). Public so that
/// tests and tools can check it against other runtimes.
pub fn preprocess(img: &DynamicImage) -> Vec<f32> {
    let rgb = on_white(img);
    let small = image::imageops::resize(&rgb, INPUT_SIDE, INPUT_SIDE, FilterType::Triangle);
    let plane = (INPUT_SIDE * INPUT_SIDE) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in small.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    out
}

/// 8-bit RGB with any alpha composited on a white background.
fn on_white(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = RgbImage::new(w, h);
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            // c·a + 255·(255 − a), divided by 255 with rounding
            let v = u32::from(src[c]) * a + 255 * (255 - a);
            dst[c] = ((v + 127) / 255) as u8;
        }
    }
    rgb
}

/// Scales `v` to unit length (a zero vector stays zero).
fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// EfficientNet-Lite0 on tract: loaded and optimised once; [`Embedder::embed`] runs the
/// shared, immutable plan (each call gets its own execution state), so one instance
/// serves concurrent requests, one core per call.
#[derive(Debug, Clone)]
pub struct TractEmbedder {
    plan: Arc<TypedRunnableModel>,
}

impl TractEmbedder {
    /// Loads the ONNX model at `path` (input `f32[1,3,224,224]`, output `f32[1,1280]`)
    /// and optimises it for this machine.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EmbedError> {
        let path = path.as_ref();
        let model_err = |e: TractError| EmbedError::Model(format!("{}: {e:#}", path.display()));
        let side = INPUT_SIDE as usize;
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, side, side]).into()))
            .and_then(|m| m.into_optimized())
            .map_err(model_err)?;
        let out = model.output_fact(0).map_err(model_err)?;
        if out.datum_type != f32::datum_type() || out.shape.as_concrete() != Some(&[1, DIM][..]) {
            return Err(EmbedError::Model(format!(
                "{}: output is {out:?}, expected f32[1,{DIM}]",
                path.display()
            )));
        }
        let plan = model.into_runnable().map_err(model_err)?;
        Ok(TractEmbedder { plan })
    }

    /// Runs the model on a preprocessed input (see [`preprocess`]); returns the raw
    /// output, normalised to unit length.
    pub fn embed_input(&self, input: &[f32]) -> Result<Vec<f32>, EmbedError> {
        let side = INPUT_SIDE as usize;
        let tensor = Tensor::from_shape(&[1, 3, side, side], input)
            .map_err(|e| EmbedError::Model(format!("{e:#}")))?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| EmbedError::Model(format!("{e:#}")))?;
        let view = outputs[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| EmbedError::Model(format!("{e:#}")))?;
        let mut v: Vec<f32> = view.iter().copied().collect();
        if v.len() != DIM || v.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::Model(format!("bad output: {} values", v.len())));
        }
        l2_normalize(&mut v);
        Ok(v)
    }
}

impl Embedder for TractEmbedder {
    fn embed(&self, img: &DynamicImage) -> Result<Vec<f32>, EmbedError> {
        self.embed_input(&preprocess(img))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_is_composited_on_white() {
        let mut img = image::RgbaImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 0, image::Rgba([10, 20, 30, 255]));
        let rgb = on_white(&DynamicImage::ImageRgba8(img));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn preprocess_is_nchw_normalised() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(7, 3, image::Rgb([255, 0, 128])));
        let x = preprocess(&img);
        let plane = 224 * 224;
        assert_eq!(x.len(), 3 * plane);
        let expect = [
            (1.0 - MEAN[0]) / STD[0],
            (0.0 - MEAN[1]) / STD[1],
            (128.0 / 255.0 - MEAN[2]) / STD[2],
        ];
        for c in 0..3 {
            assert!(
                x[c * plane..(c + 1) * plane]
                    .iter()
                    .all(|v| (v - expect[c]).abs() < 1e-6)
            );
        }
    }

    #[test]
    fn jpeg_end_marker_must_follow_the_scan() {
        // SOI, APP1 holding a thumbnail's EOI, SOS, entropy data (with a stuffed FF)
        let head = b"\xFF\xD8\xFF\xE1\x00\x06\xFF\xD9\x00\x00\xFF\xDA\x00\x02\x12\xFF\x00\x34";
        assert!(!jpeg_has_end(head));
        assert!(jpeg_has_end(&[&head[..], b"\xFF\xD9"].concat()));
        assert!(jpeg_has_end(
            &[&head[..], b"\xFF\xD9trailing junk"].concat()
        ));
        assert!(!jpeg_has_end(b"\xFF\xD8\xFF\xD9"));
        assert!(!jpeg_has_end(b"\xFF\xD8\xFF"));
    }

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
