//! From a decoded image to model inputs: one small working copy, then views of it.
//!
//! A picture is decoded and resampled once: [`working`] composites alpha on white and
//! reduces the image so that its longer side is at most [`WORK_SIDE`] (SIMD bilinear,
//! `fast_image_resize`). Every model input is a rectangle of that copy ([`Rect`]),
//! squash-resized to 224×224 with the same filter and normalised ([`input_into`]).
//! The stored side embeds one view, the whole picture; a query embeds the views
//! [`query_views`] picks (see `docs/image-search.md`, "Query views").

use fast_image_resize::{
    FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
    images::{Image, ImageRef},
};
use image::{DynamicImage, RgbImage};

use crate::{EmbedError, INPUT_SIDE};

/// Longer side of the working copy. Views as small as 45 % of it still have twice the
/// model's input resolution.
pub const WORK_SIDE: u32 = 1024;

/// Floats in one model input (`3 × 224 × 224`).
pub const INPUT_LEN: usize = 3 * (INPUT_SIDE as usize) * (INPUT_SIDE as usize);

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// A rectangle of pixels of an image (non-empty, inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    /// The whole of a `w × h` image.
    pub fn whole(w: u32, h: u32) -> Rect {
        Rect { x: 0, y: 0, w, h }
    }

    /// The centred rectangle covering `frac` of each side of `self`.
    pub fn centre(self, frac: f32) -> Rect {
        let w = ((self.w as f32 * frac).round() as u32).clamp(1, self.w);
        let h = ((self.h as f32 * frac).round() as u32).clamp(1, self.h);
        Rect {
            x: self.x + (self.w - w) / 2,
            y: self.y + (self.h - h) / 2,
            w,
            h,
        }
    }
}

fn resize_error(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Decode(format!("resampling: {e}"))
}

fn bilinear() -> ResizeOptions {
    ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
}

/// The working copy of `img`: 8-bit RGB, alpha composited on white, the longer side at
/// most [`WORK_SIDE`] (bilinear with a support scaled to the reduction, so every
/// source pixel counts). An 8-bit RGB image is read in place, not copied.
pub fn working(img: &DynamicImage) -> Result<RgbImage, EmbedError> {
    let converted;
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => {
            converted = on_white(other);
            &converted
        }
    };
    let (w, h) = rgb.dimensions();
    if w == 0 || h == 0 {
        return Err(EmbedError::Decode("empty image".into()));
    }
    let longer = w.max(h);
    if longer <= WORK_SIDE {
        return Ok(rgb.clone());
    }
    let scale = f64::from(WORK_SIDE) / f64::from(longer);
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let src = ImageRef::new(w, h, rgb.as_raw(), PixelType::U8x3).map_err(resize_error)?;
    let mut dst = Image::new(tw, th, PixelType::U8x3);
    Resizer::new()
        .resize(&src, &mut dst, &bilinear())
        .map_err(resize_error)?;
    RgbImage::from_raw(tw, th, dst.into_vec()).ok_or_else(|| resize_error("buffer size mismatch"))
}

/// 8-bit RGB with any alpha composited on a white background.
pub(crate) fn on_white(img: &DynamicImage) -> RgbImage {
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

/// Writes the model input for `rect` of `work` into `out` ([`INPUT_LEN`] floats):
/// squash-resized to 224×224 (bilinear), each channel `(x/255 − mean) / std`, planar
/// (CHW). `resizer` keeps its scratch buffers between calls.
pub fn input_into(
    resizer: &mut Resizer,
    work: &RgbImage,
    rect: Rect,
    out: &mut [f32],
) -> Result<(), EmbedError> {
    if out.len() != INPUT_LEN {
        return Err(resize_error(format!("{} floats for an input", out.len())));
    }
    let small = small(resizer, work, rect)?;
    normalise_into(small.buffer(), out);
    Ok(())
}

/// 224×224 RGB pixels as a model input: each channel `(x/255 − mean) / std`, planar.
pub(crate) fn normalise_into(small: &[u8], out: &mut [f32]) {
    let plane = (INPUT_SIDE * INPUT_SIDE) as usize;
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * STD[c]));
    let shift: [f32; 3] = std::array::from_fn(|c| MEAN[c] / STD[c]);
    for (i, px) in small.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = f32::from(px[c]) * scale[c] - shift[c];
        }
    }
}

/// `rect` of the working copy squash-resized to the model's 224×224 RGB: the pixels
/// of a model input before normalisation (also what [`crate::layout`] averages).
pub(crate) fn small(
    resizer: &mut Resizer,
    work: &RgbImage,
    rect: Rect,
) -> Result<Image<'static>, EmbedError> {
    let (w, h) = work.dimensions();
    if rect.w == 0 || rect.h == 0 || rect.x + rect.w > w || rect.y + rect.h > h {
        return Err(resize_error(format!(
            "view {rect:?} outside a {w}×{h} image"
        )));
    }
    let src = ImageRef::new(w, h, work.as_raw(), PixelType::U8x3).map_err(resize_error)?;
    let mut small = Image::new(INPUT_SIDE, INPUT_SIDE, PixelType::U8x3);
    let options = bilinear().crop(
        f64::from(rect.x),
        f64::from(rect.y),
        f64::from(rect.w),
        f64::from(rect.h),
    );
    resizer
        .resize(&src, &mut small, &options)
        .map_err(resize_error)?;
    Ok(small)
}

/// The views of a query worth embedding besides the whole picture: people search with
/// screenshots that frame the picture in a page and with phone photos of a screen.
///
/// - the picture found in a frame ([`find_picture`]), when there is one;
/// - the centre 60 % and 45 % of each side (a photo of a screen: the screen fills the
///   middle, tilted, with a bezel and a wall around it).
///
/// Each view is compared with the stored pictures and a picture scores its best view
/// (`docs/image-search.md`, "Query views": how these were chosen).
pub fn query_views(work: &RgbImage) -> Vec<Rect> {
    let (w, h) = work.dimensions();
    let whole = Rect::whole(w, h);
    let mut views = Vec::with_capacity(3);
    views.extend(find_picture(work));
    if w.min(h) >= 32 {
        views.push(whole.centre(0.6));
        views.push(whole.centre(0.45));
    }
    views
}

/// Side of the thumbnail [`find_picture`] works on.
const FIND_SIDE: u32 = 256;
/// Side of its cells, in thumbnail pixels.
const CELL: u32 = 8;

/// The picture inside a frame: the bounding box of the largest solid region that
/// differs from the background, when it covers 6–92 % of the image.
///
/// On a thumbnail (longer side 256): the background is the most common colour (16
/// levels a channel) of the outer two-pixel ring; a pixel is foreground when a
/// channel differs from the background's mean by more than 24; a cell of 8×8 is solid
/// when 85 % of its pixels are foreground (text on a page is not, a picture is); the
/// answer is the bounding box of the largest 4-connected group of solid cells.
pub fn find_picture(work: &RgbImage) -> Option<Rect> {
    let (w, h) = work.dimensions();
    let scale = f64::from(FIND_SIDE) / f64::from(w.max(h));
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let (gw, gh) = (tw / CELL, th / CELL);
    if gw < 4 || gh < 4 {
        return None;
    }
    let src = ImageRef::new(w, h, work.as_raw(), PixelType::U8x3).ok()?;
    let mut thumb = Image::new(tw, th, PixelType::U8x3);
    Resizer::new().resize(&src, &mut thumb, &bilinear()).ok()?;
    let px = thumb.buffer();
    let at = |x: u32, y: u32| -> [i16; 3] {
        let i = 3 * (y * tw + x) as usize;
        [i16::from(px[i]), i16::from(px[i + 1]), i16::from(px[i + 2])]
    };

    // background: the mean of the ring pixels in the ring's most common colour bin
    let ring: Vec<[i16; 3]> = (0..tw)
        .flat_map(|x| [at(x, 0), at(x, 1), at(x, th - 2), at(x, th - 1)])
        .chain((2..th - 2).flat_map(|y| [at(0, y), at(1, y), at(tw - 2, y), at(tw - 1, y)]))
        .collect();
    let bin = |p: &[i16; 3]| ((p[0] >> 4) << 8 | (p[1] >> 4) << 4 | (p[2] >> 4)) as usize;
    let mut counts = vec![0u32; 4096];
    for p in &ring {
        counts[bin(p)] += 1;
    }
    let mode = (0..4096).max_by_key(|&b| counts[b]).unwrap_or(0);
    let mut sum = [0i64; 3];
    for p in ring.iter().filter(|p| bin(p) == mode) {
        for c in 0..3 {
            sum[c] += i64::from(p[c]);
        }
    }
    let n = i64::from(counts[mode].max(1));
    let bg: [i16; 3] = std::array::from_fn(|c| (sum[c] / n) as i16);

    // solid cells
    let solid: Vec<bool> = (0..gh * gw)
        .map(|i| {
            let (cx, cy) = (i % gw, i / gw);
            let fg = (0..CELL * CELL)
                .filter(|j| {
                    let p = at(cx * CELL + j % CELL, cy * CELL + j / CELL);
                    (0..3).any(|c| (p[c] - bg[c]).abs() > 24)
                })
                .count();
            fg * 100 >= (CELL * CELL) as usize * 85
        })
        .collect();

    // the largest 4-connected group, by cells
    let mut seen = vec![false; solid.len()];
    let mut best: Option<(usize, [u32; 4])> = None;
    for start in 0..solid.len() {
        if !solid[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let (mut count, mut bbox) = (0, [u32::MAX, u32::MAX, 0, 0]);
        while let Some(i) = stack.pop() {
            count += 1;
            let (x, y) = (i as u32 % gw, i as u32 / gw);
            bbox = [
                bbox[0].min(x),
                bbox[1].min(y),
                bbox[2].max(x),
                bbox[3].max(y),
            ];
            let near = [
                (x > 0).then(|| i - 1),
                (x + 1 < gw).then(|| i + 1),
                (y > 0).then(|| i - gw as usize),
                (y + 1 < gh).then(|| i + gw as usize),
            ];
            for j in near.into_iter().flatten() {
                if solid[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        if best.is_none_or(|(c, _)| count > c) {
            best = Some((count, bbox));
        }
    }
    let (_, [x0, y0, x1, y1]) = best?;
    let cells = u64::from(x1 - x0 + 1) * u64::from(y1 - y0 + 1);
    let all = u64::from(gw) * u64::from(gh);
    if cells * 100 < all * 6 || cells * 100 > all * 92 {
        return None;
    }
    // thumbnail pixels back to the working copy's
    let to =
        |v: u32, side: u32, thumb: u32| (u64::from(v) * u64::from(side) / u64::from(thumb)) as u32;
    let (left, top) = (to(x0 * CELL, w, tw), to(y0 * CELL, h, th));
    let right = to((x1 + 1) * CELL, w, tw).min(w);
    let bottom = to((y1 + 1) * CELL, h, th).min(h);
    (right > left && bottom > top).then_some(Rect {
        x: left,
        y: top,
        w: right - left,
        h: bottom - top,
    })
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
    fn input_is_chw_normalised() {
        let work = RgbImage::from_pixel(7, 3, image::Rgb([255, 0, 128]));
        let mut x = vec![0.0; INPUT_LEN];
        input_into(&mut Resizer::new(), &work, Rect::whole(7, 3), &mut x).unwrap();
        let plane = 224 * 224;
        let expect = [
            (1.0 - MEAN[0]) / STD[0],
            (0.0 - MEAN[1]) / STD[1],
            (128.0 / 255.0 - MEAN[2]) / STD[2],
        ];
        for c in 0..3 {
            assert!(
                x[c * plane..(c + 1) * plane]
                    .iter()
                    .all(|v| (v - expect[c]).abs() < 1e-5),
                "channel {c}"
            );
        }
    }

    #[test]
    fn views_outside_the_image_are_refused() {
        let work = RgbImage::new(10, 10);
        let mut x = vec![0.0; INPUT_LEN];
        let bad = Rect {
            x: 5,
            y: 0,
            w: 6,
            h: 10,
        };
        assert!(input_into(&mut Resizer::new(), &work, bad, &mut x).is_err());
    }

    #[test]
    fn working_copy_is_bounded_and_keeps_the_aspect() {
        let big = DynamicImage::ImageRgb8(RgbImage::new(3000, 1500));
        let work = working(&big).unwrap();
        assert_eq!(work.dimensions(), (WORK_SIDE, WORK_SIDE / 2));
        let small = DynamicImage::ImageRgb8(RgbImage::new(300, 200));
        assert_eq!(working(&small).unwrap().dimensions(), (300, 200));
    }

    /// A 1280×800 page: light background, a dark title bar, text lines, and a
    /// textured picture of `pw × ph` at (`px`, `py`).
    fn page(px: u32, py: u32, pw: u32, ph: u32) -> RgbImage {
        let mut page = RgbImage::from_pixel(1280, 800, image::Rgb([246, 246, 248]));
        for y in 0..48 {
            for x in 0..1280 {
                page.put_pixel(x, y, image::Rgb([52, 56, 64]));
            }
        }
        for line in 0..20 {
            for x in 40..(200 + (line * 53) % 160) {
                for dy in 0..6 {
                    page.put_pixel(x, 120 + line * 30 + dy, image::Rgb([90, 90, 96]));
                }
            }
        }
        for y in 0..ph {
            for x in 0..pw {
                let v = ((x * 37 + y * 91) % 200) as u8;
                page.put_pixel(px + x, py + y, image::Rgb([v, 40 + v / 2, 200 - v]));
            }
        }
        page
    }

    #[test]
    fn the_picture_in_a_page_is_found() {
        let shot = page(560, 140, 600, 420);
        let r = find_picture(&shot).expect("a picture");
        // within one thumbnail cell (5 px of the page) of the truth
        let cell = 1280 / 256 * CELL;
        assert!(
            r.x.abs_diff(560) <= cell && r.y.abs_diff(140) <= cell,
            "{r:?}"
        );
        assert!(
            r.w.abs_diff(600) <= 2 * cell && r.h.abs_diff(420) <= 2 * cell,
            "{r:?}"
        );
        let views = query_views(&shot);
        assert_eq!(views[0], r);
        assert_eq!(views.len(), 3);
    }

    #[test]
    fn no_picture_is_found_in_a_picture_or_a_blank_page() {
        // the whole image is the picture: nothing framed
        let busy = RgbImage::from_fn(400, 300, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
        });
        assert_eq!(find_picture(&busy), None);
        assert_eq!(query_views(&busy).len(), 2, "centre crops only");
        // a page with text only: text is not solid
        let text = page(0, 0, 0, 0);
        assert_eq!(find_picture(&text), None);
        // tiny images: no views beyond the whole
        assert!(query_views(&RgbImage::new(20, 20)).is_empty());
        assert_eq!(find_picture(&RgbImage::new(20, 20)), None);
    }

    #[test]
    fn centre_rect() {
        let r = Rect::whole(100, 50).centre(0.6);
        assert_eq!(
            r,
            Rect {
                x: 20,
                y: 10,
                w: 60,
                h: 30
            }
        );
    }
}
