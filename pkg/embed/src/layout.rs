//! Colour layout: a second opinion on the best candidates of a hard query.
//!
//! The embedding pools the whole picture, so stickers or a frame over a third of it
//! move the vector as far as a different picture would. Where the colours are still
//! the stored picture's, though, they sit where they were. A picture keeps an 8×8
//! grid of its mean colours ([`Layout`], 192 bytes); a query that needs its extra views
//! compares its views' grids with each candidate's, robustly: after each grid's
//! per-channel median is taken out, the 0.7 quantile of the 64 cell distances (so up
//! to 30 % of the cells may disagree: stickers, captions, glare), the best over the
//! views and their mirror images. Agreement adds to the cosine; no agreement adds
//! nothing, so a picture whose layout cannot line up (a phone photo at an angle) keeps
//! its rank. Chosen by `bench/image/rerank_study.py` (`docs/image-search.md`).

use fast_image_resize::Resizer;

use crate::{EmbedError, INPUT_SIDE, Rect, RgbImage, prep::small};

/// Cells per side of a layout.
pub const GRID: usize = 8;
/// Bytes of a stored layout: `GRID × GRID` cells, row-major, RGB.
pub const LAYOUT_LEN: usize = GRID * GRID * 3;
/// Weight of the layout agreement next to the cosine.
pub const LAYOUT_WEIGHT: f32 = 0.3;
/// A layout distance of this much (RGB levels) or more means no agreement.
const FAR: f32 = 60.0;
/// The cell-distance quantile that decides a comparison.
const QUANTILE: f32 = 0.7;

const CELLS: usize = GRID * GRID;

/// A picture's colour layout: the mean colour of each cell of an 8×8 grid over its
/// 224×224 model input (the whole picture, squashed as the model sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout(pub [u8; LAYOUT_LEN]);

impl Layout {
    /// A stored layout, if `bytes` is one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Layout> {
        bytes.try_into().ok().map(Layout)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The mean colours of one view, in `GRID × GRID` cells (row-major, RGB), as floats:
/// what a layout is made of. [`crate::prepare`] makes them with a view's model input,
/// from the same 224×224 pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewMeans(pub(crate) [f32; LAYOUT_LEN]);

impl ViewMeans {
    /// The cell means of 224×224 RGB pixels (a view's model input before
    /// normalisation).
    pub(crate) fn of_small(small: &[u8]) -> ViewMeans {
        let side = INPUT_SIDE as usize;
        let cell = side / GRID;
        let mut sums = [0u32; LAYOUT_LEN];
        for (i, px) in small.chunks_exact(3).enumerate() {
            let (x, y) = (i % side, i / side);
            let at = ((y / cell) * GRID + x / cell) * 3;
            for c in 0..3 {
                sums[at + c] += u32::from(px[c]);
            }
        }
        let n = (cell * cell) as f32;
        ViewMeans(sums.map(|s| s as f32 / n))
    }

    /// The stored form: each mean rounded to a byte.
    pub fn layout(&self) -> Layout {
        Layout(self.0.map(|m| m.round().clamp(0.0, 255.0) as u8))
    }
}

/// The cell means of `rect` of a working copy.
fn means(resizer: &mut Resizer, work: &RgbImage, rect: Rect) -> Result<ViewMeans, EmbedError> {
    Ok(ViewMeans::of_small(small(resizer, work, rect)?.buffer()))
}

/// The layout of `rect` of a working copy (what a stored picture keeps, of its
/// whole rectangle).
pub fn layout(work: &RgbImage, rect: Rect) -> Result<Layout, EmbedError> {
    Ok(means(&mut Resizer::new(), work, rect)?.layout())
}

/// A query's side of the comparison: the grids of its views, each also mirrored,
/// with each channel's median taken out.
#[derive(Debug, Clone)]
pub struct QueryLayout {
    grids: Vec<[f32; LAYOUT_LEN]>,
}

impl QueryLayout {
    /// The grids of `views` of a working copy.
    pub fn new(work: &RgbImage, views: &[Rect]) -> Result<QueryLayout, EmbedError> {
        let mut resizer = Resizer::new();
        let means = views
            .iter()
            .map(|view| means(&mut resizer, work, *view))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(QueryLayout::from_means(&means))
    }

    /// The grids of views whose cell means are known (from [`crate::prepare`]).
    pub fn from_means(views: &[ViewMeans]) -> QueryLayout {
        let mut grids = Vec::with_capacity(2 * views.len());
        for view in views {
            let g = centred(view.0);
            grids.push(mirrored(&g));
            grids.push(g);
        }
        QueryLayout { grids }
    }

    /// How well `stored` agrees with the query, in 0..=1 (1 = the same layout, 0 = a
    /// distance of [`FAR`] or more).
    pub fn agreement(&self, stored: &Layout) -> f32 {
        let s = centred(stored.0.map(f32::from));
        let d = self
            .grids
            .iter()
            .map(|g| distance(g, &s))
            .fold(f32::INFINITY, f32::min);
        (1.0 - d / FAR).clamp(0.0, 1.0)
    }

    /// The score that ranks a candidate of cosine `cosine` whose stored layout is
    /// `stored` (none: the cosine alone), scaled back to at most 1.
    pub fn rescore(&self, cosine: f32, stored: Option<&Layout>) -> f32 {
        let bonus = stored.map_or(0.0, |l| LAYOUT_WEIGHT * self.agreement(l));
        (cosine + bonus) / (1.0 + LAYOUT_WEIGHT)
    }
}

/// `g` with each channel's median over the cells subtracted (a uniform colour cast or
/// brightness change does not count as a different layout).
fn centred(mut g: [f32; LAYOUT_LEN]) -> [f32; LAYOUT_LEN] {
    for c in 0..3 {
        let mut v: [f32; CELLS] = std::array::from_fn(|i| g[i * 3 + c]);
        v.sort_unstable_by(f32::total_cmp);
        let median = (v[CELLS / 2 - 1] + v[CELLS / 2]) / 2.0;
        for i in 0..CELLS {
            g[i * 3 + c] -= median;
        }
    }
    g
}

/// `g` mirrored left to right.
fn mirrored(g: &[f32; LAYOUT_LEN]) -> [f32; LAYOUT_LEN] {
    let mut m = [0f32; LAYOUT_LEN];
    for y in 0..GRID {
        for x in 0..GRID {
            let (from, to) = ((y * GRID + x) * 3, (y * GRID + GRID - 1 - x) * 3);
            m[to..to + 3].copy_from_slice(&g[from..from + 3]);
        }
    }
    m
}

/// The [`QUANTILE`] of the 64 per-cell RGB distances (linear between ranks).
fn distance(a: &[f32; LAYOUT_LEN], b: &[f32; LAYOUT_LEN]) -> f32 {
    let mut d: [f32; CELLS] = std::array::from_fn(|i| {
        let at = i * 3;
        let sq: f32 = (0..3).map(|c| (a[at + c] - b[at + c]).powi(2)).sum();
        sq.sqrt()
    });
    d.sort_unstable_by(f32::total_cmp);
    let pos = QUANTILE * (CELLS - 1) as f32;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(CELLS - 1);
    d[lo] + (pos - lo as f32) * (d[hi] - d[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth landscape-like picture: colours vary across it, none saturates.
    fn picture() -> RgbImage {
        RgbImage::from_fn(400, 300, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            image::Rgb([
                (110.0 + 70.0 * (fx / 60.0).sin()) as u8,
                (120.0 + 60.0 * (fy / 45.0).cos()) as u8,
                (60.0 + (fx + fy) / 6.0) as u8,
            ])
        })
    }

    fn whole(img: &RgbImage) -> Rect {
        Rect::whole(img.width(), img.height())
    }

    #[test]
    fn a_layout_is_its_picture_cells_mean_colours() {
        let flat = RgbImage::from_pixel(50, 70, image::Rgb([10, 200, 30]));
        let l = layout(&flat, whole(&flat)).unwrap();
        assert!(l.0.chunks(3).all(|c| c == [10, 200, 30]), "{:?}", &l.0[..6]);
        let img = RgbImage::from_fn(400, 300, |x, y| {
            image::Rgb([(x * 255 / 400) as u8, (y * 255 / 300) as u8, 0])
        });
        let l = layout(&img, whole(&img)).unwrap();
        // red grows left to right, green top to bottom
        assert!(l.0[0] < l.0[(GRID - 1) * 3], "{:?}", &l.0[..24]);
        assert!(l.0[1] < l.0[(GRID - 1) * GRID * 3 + 1]);
        assert_eq!(Layout::from_bytes(l.as_bytes()), Some(l));
        assert_eq!(Layout::from_bytes(&l.0[..10]), None);
    }

    #[test]
    fn stickers_mirroring_and_a_colour_cast_keep_the_agreement() {
        let img = picture();
        let stored = layout(&img, whole(&img)).unwrap();
        let same = QueryLayout::new(&img, &[whole(&img)]).unwrap();
        assert!(
            same.agreement(&stored) > 0.97,
            "{}",
            same.agreement(&stored)
        );

        // two stickers over a sixth of the picture, then mirrored and brightened
        let mut edited = img.clone();
        for (x, y, p) in edited.enumerate_pixels_mut() {
            if (x < 130 && y < 100) || ((250..360).contains(&x) && (180..280).contains(&y)) {
                *p = image::Rgb([255, 220, 0]);
            }
        }
        let edited = image::imageops::flip_horizontal(&edited);
        let edited = RgbImage::from_fn(400, 300, |x, y| {
            let p = edited.get_pixel(x, y);
            image::Rgb(p.0.map(|v| v.saturating_add(20)))
        });
        let q = QueryLayout::new(&edited, &[whole(&edited)]).unwrap();
        let a = q.agreement(&stored);
        assert!(a > 0.6, "edited copy: {a}");

        // another picture does not agree
        let other = RgbImage::from_fn(400, 300, |x, y| {
            image::Rgb([(y * 255 / 300) as u8, 255 - (x * 255 / 400) as u8, 40])
        });
        let other = layout(&other, whole(&other)).unwrap();
        let b = q.agreement(&other);
        assert!(b < a - 0.3, "other {b}, edited copy {a}");

        // the rescored order follows: equal cosines, the agreeing one first; no
        // layout = the cosine alone, scaled
        assert!(q.rescore(0.6, Some(&stored)) > q.rescore(0.6, Some(&other)));
        assert!((q.rescore(0.65, None) - 0.65 / (1.0 + LAYOUT_WEIGHT)).abs() < 1e-6);
        assert!(q.rescore(1.0, Some(&stored)) <= 1.0);
    }

    #[test]
    fn prepared_views_give_the_same_inputs_and_layouts_as_the_single_steps() {
        let img = picture();
        let views = [
            whole(&img),
            whole(&img).centre(0.6),
            Rect {
                x: 10,
                y: 20,
                w: 200,
                h: 90,
            },
        ];
        let p = crate::prepare(&img, &views).unwrap();
        assert_eq!(p.len(), 3);
        let mut resizer = Resizer::new();
        for (i, view) in views.iter().enumerate() {
            let mut input = vec![0f32; crate::INPUT_LEN];
            crate::input_into(&mut resizer, &img, *view, &mut input).unwrap();
            let chunk = &p.inputs[i * crate::INPUT_LEN..(i + 1) * crate::INPUT_LEN];
            assert_eq!(chunk, &input[..], "view {i}: input");
            assert_eq!(
                p.means[i].layout(),
                layout(&img, *view).unwrap(),
                "view {i}"
            );
        }
        // a query layout from the prepared means is the one made from the image
        let stored = layout(&img, views[2]).unwrap();
        let (a, b) = (
            QueryLayout::from_means(&p.means).agreement(&stored),
            QueryLayout::new(&img, &views).unwrap().agreement(&stored),
        );
        assert_eq!(a, b);
        assert!(
            a > 0.98,
            "the third view is the stored picture (bytes round): {a}"
        );
        // a view outside the picture is an error, not a panic
        let outside = Rect {
            x: 390,
            y: 0,
            w: 20,
            h: 10,
        };
        assert!(crate::prepare(&img, &[outside]).is_err());
    }

    #[test]
    fn the_quantile_ignores_the_worst_cells() {
        let a = [0f32; LAYOUT_LEN];
        let mut b = [0f32; LAYOUT_LEN];
        // 18 of 64 cells far off: the 0.7 quantile (rank 44.1 of 0..63) does not see them
        for v in b.iter_mut().take(18 * 3) {
            *v = 200.0;
        }
        assert_eq!(distance(&a, &b), 0.0);
        for v in b.iter_mut().take(20 * 3) {
            *v = 200.0;
        }
        assert!(distance(&a, &b) > 100.0);
    }
}
