//! Decoding untrusted upload bytes, bounded before any pixel is decoded.

use std::{io::Cursor, panic::AssertUnwindSafe};

use fanone_storage::{ImageType, sniff_image};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::EmbedError;

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
    decode_reduced(bytes, limits, u32::MAX)
}

/// [`decode`], but a large baseline JPEG may come out smaller: scaled by 1/2, 1/4 or
/// 1/8 while decoding (IDCT scaling, `jpeg-decoder`), as long as its longer side stays
/// at least `longer_at_least`. A 12-megapixel photo needed at 1024 pixels is decoded
/// at a quarter of its pixels, and the resize that follows reads a quarter as many.
/// Every other image is decoded in full, as by [`decode`]; the checks are the same.
pub fn decode_reduced(
    bytes: &[u8],
    limits: &Limits,
    longer_at_least: u32,
) -> Result<DynamicImage, EmbedError> {
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
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        decode_checked(bytes, format, limits, longer_at_least)
    }))
    .unwrap_or_else(|_| Err(EmbedError::Decode("decoder panicked".into())))
}

fn decode_checked(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
    longer_at_least: u32,
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
    let scaled = match format {
        ImageFormat::Jpeg => jpeg_scaled(bytes, (w, h), longer_at_least, limits)?,
        _ => None,
    };
    let mut img = match scaled {
        Some(img) => img,
        None => DynamicImage::from_decoder(decoder).map_err(image_error)?,
    };
    img.apply_orientation(orientation);
    Ok(img)
}

/// A baseline JPEG of `dims` decoded at 1/2, 1/4 or 1/8 of its size, the smallest
/// whose longer side is still at least `longer_at_least`; `None` when no scale
/// applies (small image, progressive or lossless coding, CMYK or 16-bit pixels):
/// then the caller decodes it in full.
fn jpeg_scaled(
    bytes: &[u8],
    (w, h): (u32, u32),
    longer_at_least: u32,
    limits: &Limits,
) -> Result<Option<DynamicImage>, EmbedError> {
    let longer = w.max(h);
    let mut denom = 1;
    while denom < 8 && longer / (denom * 2) >= longer_at_least {
        denom *= 2;
    }
    if denom == 1 {
        return Ok(None);
    }
    let mut d = jpeg_decoder::Decoder::new(bytes);
    d.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc()).unwrap_or(usize::MAX));
    let jpeg = |e: jpeg_decoder::Error| EmbedError::Decode(e.to_string());
    d.read_info().map_err(jpeg)?;
    let Some(info) = d.info() else {
        return Ok(None);
    };
    if info.coding_process != jpeg_decoder::CodingProcess::DctSequential
        || !matches!(
            info.pixel_format,
            jpeg_decoder::PixelFormat::RGB24 | jpeg_decoder::PixelFormat::L8
        )
    {
        return Ok(None);
    }
    // the header sizes are u16 in JPEG, so these fit
    let want = |side: u32| u16::try_from(side.div_ceil(denom)).unwrap_or(u16::MAX);
    let (sw, sh) = d.scale(want(w), want(h)).map_err(jpeg)?;
    let pixels = d.decode().map_err(jpeg)?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let img = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageLuma8)
        }
        _ => image::RgbImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageRgb8),
    };
    img.map(Some)
        .ok_or_else(|| EmbedError::Decode("scaled JPEG: pixel count does not match".into()))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
