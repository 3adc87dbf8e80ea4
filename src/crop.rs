//! FER-style alignment and the 48x48 grey crop the emotion model takes.
//!
//! FER2013 faces are tight crops (about eyebrows to chin, the face fills most of the image). The crop
//! here reproduces that framing relative to the BlazeFace box — the constants below were measured by
//! running our detector on upscaled FER2013 test images (see `framing_study` in tests/detect_real.rs) —
//! and levels the eyes only beyond the head roll FER2013 itself contains. One inverse-affine pass
//! samples the frame bilinearly; outside the frame the border pixels are replicated.

use image::{GrayImage, RgbImage};

use crate::classify::CROP;
use crate::detect::Detection;
use crate::geometry::Point;

/// Crop side / mean side of the detector's box. Geometry: on 392 of 400 FER2013 test faces upscaled to
/// 192 px the FER image is 1.20 box sides (quartiles 1.09–1.32). Chosen by classifier accuracy on 700
/// FER2013 *train* faces pasted into frames (`framing_sweep` in tests/pasted_faces.rs): 1.10 is best,
/// 1.20 costs ~1.5 points, 1.30 ~6.
pub const FER_SIDE_PER_BOX: f32 = 1.1;
/// Crop centre minus box centre, along the face's "right" and "down" axes, in units of the box side.
/// FER2013 keeps more forehead than BlazeFace's box does: geometry says down −0.09 (quartiles −0.13 –
/// −0.04), the same train-face sweep prefers −0.12 (0 costs ~6 points).
pub const FER_SHIFT_PER_BOX: (f32, f32) = (0.0, -0.12);
/// Head roll FER2013 faces keep (they are not levelled; median |eye angle| 5.4°): the crop only
/// removes roll beyond this, so that a strongly tilted head looks like the tilted faces the model was
/// trained on. Levelling completely cost 1–3 points in the train-face sweep.
pub(crate) const FER_ROLL_KEPT_RAD: f32 = 10.0 * std::f32::consts::PI / 180.0;

/// Where the crop lies in the frame: a square of `side` pixels centred on `centre`, whose x axis points
/// along `angle` (radians, from the image's x axis towards its y axis: the direction right eye → left eye).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropGeometry {
    pub centre: Point,
    pub side: f32,
    pub angle: f32,
}

/// Grey frame for the crop (`image`'s Rec. 601 luma, as FER2013's images are grey photos).
pub fn to_gray(frame: &RgbImage) -> GrayImage {
    image::imageops::grayscale(frame)
}

/// The FER2013-like square for a detection: size and offset from the box, rotation from the eyes
/// (only the roll beyond [`FER_ROLL_KEPT_RAD`]).
pub fn crop_geometry(det: &Detection) -> CropGeometry {
    let (re, le) = (det.keypoints[0], det.keypoints[1]);
    let (ex, ey) = (le.x - re.x, le.y - re.y);
    // Eyes on top of each other (or missing) say nothing about roll: keep the crop upright.
    let roll = if ex.hypot(ey) > 1e-3 && ex > 0.0 { ey.atan2(ex) } else { 0.0 };
    let angle = roll - roll.clamp(-FER_ROLL_KEPT_RAD, FER_ROLL_KEPT_RAD);
    let unit = (det.bbox.w + det.bbox.h) / 2.0;
    let (s, c) = angle.sin_cos();
    let (dx, dy) = (FER_SHIFT_PER_BOX.0 * unit, FER_SHIFT_PER_BOX.1 * unit);
    let bc = det.bbox.center();
    CropGeometry {
        centre: Point { x: bc.x + dx * c - dy * s, y: bc.y + dx * s + dy * c },
        side: (unit * FER_SIDE_PER_BOX).max(1.0),
        angle,
    }
}

/// The 48x48 grey crop of a face, framed like FER2013, strong head roll removed.
pub fn fer_crop(gray: &GrayImage, det: &Detection) -> GrayImage {
    sample_square(gray, crop_geometry(det), CROP)
}

/// Samples the rotated square `g` of `src` into an `out`x`out` image: bilinear, border replicated, and
/// averaged over a small grid per output pixel when shrinking by 2x or more (to avoid aliasing).
pub fn sample_square(src: &GrayImage, g: CropGeometry, out: u32) -> GrayImage {
    let (w, h) = src.dimensions();
    let mut img = GrayImage::new(out, out);
    if w == 0 || h == 0 {
        return img;
    }
    let raw = src.as_raw();
    let wu = w as usize;
    let px = |x: usize, y: usize| raw[y * wu + x] as f32;
    // One bilinear tap: the columns (x0, x1) weighted by ax, the rows (y0, y1) by ay.
    let bilinear = |(x0, x1, ax): (usize, usize, f32), (y0, y1, ay): (usize, usize, f32)| {
        let top = px(x0, y0) * (1.0 - ax) + px(x1, y0) * ax;
        let bot = px(x0, y1) * (1.0 - ax) + px(x1, y1) * ax;
        top * (1.0 - ay) + bot * ay
    };
    let step = g.side / out as f32; // frame pixels per output pixel
    // Supersampling for anti-aliasing: each bilinear tap already spans two source pixels, so one
    // tap per two source pixels per side covers the footprint (and is ~2x cheaper than one per pixel).
    let ss = (step / 2.0).ceil().clamp(1.0, 3.0) as usize;
    let (s, c) = g.angle.sin_cos();
    let half = out as f32 / 2.0;
    let (maxx, maxy) = ((w - 1) as f32, (h - 1) as f32);
    // Crop coordinate of tap `k` of output pixel `i`, relative to the centre, in frame pixels.
    let offset = |i: u32, k: usize| (i as f32 + (k as f32 + 0.5) / ss as f32 - half) * step;
    let pixels: &mut [u8] = &mut img;
    if g.angle == 0.0 {
        // Upright (most faces: only strong roll is levelled): a tap's column depends on the output column
        // alone and its row on the output row alone, so both are computed once — the same arithmetic as
        // the rotated path below with sin 0 and cos 1, several times cheaper.
        let taps = |centre: f32, max: f32, len: usize| -> Vec<(usize, usize, f32)> {
            (0..out)
                .flat_map(|i| (0..ss).map(move |k| (i, k)))
                .map(|(i, k)| {
                    let f = (centre + offset(i, k) - 0.5).clamp(0.0, max);
                    let i0 = f.floor() as usize;
                    (i0, (i0 + 1).min(len - 1), f - i0 as f32)
                })
                .collect()
        };
        let (xs, ys) = (taps(g.centre.x, maxx, wu), taps(g.centre.y, maxy, h as usize));
        for (row, ys) in pixels.chunks_exact_mut(out as usize).zip(ys.chunks_exact(ss)) {
            for (p, xs) in row.iter_mut().zip(xs.chunks_exact(ss)) {
                let mut acc = 0.0;
                for &y in ys {
                    for &x in xs {
                        acc += bilinear(x, y);
                    }
                }
                *p = (acc / (ss * ss) as f32).round().clamp(0.0, 255.0) as u8;
            }
        }
        return img;
    }
    for (j, row) in (0..out).zip(pixels.chunks_exact_mut(out as usize)) {
        for (i, p) in (0..out).zip(row.iter_mut()) {
            let mut acc = 0.0;
            for sj in 0..ss {
                for si in 0..ss {
                    // Crop coordinates relative to the centre, in frame pixels, then rotated into the frame.
                    let (u, v) = (offset(i, si), offset(j, sj));
                    let fx = (g.centre.x + u * c - v * s - 0.5).clamp(0.0, maxx);
                    let fy = (g.centre.y + u * s + v * c - 0.5).clamp(0.0, maxy);
                    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
                    let (x1, y1) = ((x0 + 1).min(wu - 1), (y0 + 1).min(h as usize - 1));
                    acc += bilinear((x0, x1, fx - x0 as f32), (y0, y1, fy - y0 as f32));
                }
            }
            *p = (acc / (ss * ss) as f32).round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

/// The grey version of the `x0..x1` x `y0..y1` part of `frame`, exactly as [`to_gray`] computes it
/// (`image`'s integer luma: (2126 R + 7152 G + 722 B) / 10000), without copying the colour pixels first.
pub(crate) fn gray_region(frame: &RgbImage, (x0, y0): (u32, u32), (x1, y1): (u32, u32)) -> GrayImage {
    let (fw, fh) = frame.dimensions();
    let (x1, y1) = (x1.min(fw), y1.min(fh));
    let (x0, y0) = (x0.min(x1), y0.min(y1));
    let (w, stride) = ((x1 - x0) as usize, fw as usize * 3);
    let raw = frame.as_raw();
    let mut out = Vec::with_capacity(w * (y1 - y0) as usize);
    for y in y0 as usize..y1 as usize {
        let row = &raw[y * stride + x0 as usize * 3..y * stride + x1 as usize * 3];
        out.extend(
            row.chunks_exact(3).map(|p| ((2126 * p[0] as u32 + 7152 * p[1] as u32 + 722 * p[2] as u32) / 10000) as u8),
        );
    }
    GrayImage::from_raw(w as u32, y1 - y0, out).expect("the buffer holds one byte per pixel of the region")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;
    use image::Luma;

    /// The sampler written plainly (per tap: rotate, clamp, bilinear), the reference for the upright path.
    fn plain_sample(src: &GrayImage, g: CropGeometry, out: u32) -> GrayImage {
        let (w, h) = src.dimensions();
        let step = g.side / out as f32;
        let ss = (step / 2.0).ceil().clamp(1.0, 3.0) as usize;
        let (s, c) = g.angle.sin_cos();
        let half = out as f32 / 2.0;
        let px = |x: u32, y: u32| src.get_pixel(x, y)[0] as f32;
        GrayImage::from_fn(out, out, |i, j| {
            let mut acc = 0.0;
            for sj in 0..ss {
                for si in 0..ss {
                    let u = (i as f32 + (si as f32 + 0.5) / ss as f32 - half) * step;
                    let v = (j as f32 + (sj as f32 + 0.5) / ss as f32 - half) * step;
                    let fx = (g.centre.x + u * c - v * s - 0.5).clamp(0.0, (w - 1) as f32);
                    let fy = (g.centre.y + u * s + v * c - 0.5).clamp(0.0, (h - 1) as f32);
                    let (x0, y0) = (fx.floor() as u32, fy.floor() as u32);
                    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
                    let top = px(x0, y0) * (1.0 - ax) + px(x1, y0) * ax;
                    let bot = px(x0, y1) * (1.0 - ax) + px(x1, y1) * ax;
                    acc += top * (1.0 - ay) + bot * ay;
                }
            }
            Luma([(acc / (ss * ss) as f32).round().clamp(0.0, 255.0) as u8])
        })
    }

    #[test]
    fn the_fast_sampler_and_grey_region_match_the_plain_ones_exactly() {
        let frame = RgbImage::from_fn(320, 240, |x, y| {
            image::Rgb([(x * 7 + y * 3) as u8, (x * x / 5 + y) as u8, (y * y / 3 + x) as u8])
        });
        let gray = to_gray(&frame);
        assert_eq!(gray_region(&frame, (0, 0), (320, 240)), gray);
        let part = image::imageops::crop_imm(&gray, 37, 11, 100, 90).to_image();
        assert_eq!(gray_region(&frame, (37, 11), (137, 101)), part);
        assert_eq!(gray_region(&frame, (300, 230), (400, 400)).dimensions(), (20, 10), "clipped to the frame");
        // Upright (the fast path) and rotated; small to large faces (1 to 3 taps per side); across the edges.
        for (x, y, side, angle) in [
            (100.0, 60.0, 40.0, 0.0),
            (160.0, 120.0, 150.0, 0.0),
            (10.0, 230.0, 90.0, 0.0),
            (300.0, -20.0, 300.0, 0.0),
            (150.0, 100.0, 120.0, 0.4),
        ] {
            let g = CropGeometry { centre: Point { x, y }, side, angle };
            assert_eq!(sample_square(&gray, g, CROP), plain_sample(&gray, g, CROP), "{g:?}");
        }
    }

    fn detection(bbox: BBox, right_eye: Point, left_eye: Point) -> Detection {
        let c = bbox.center();
        Detection { bbox, score: 0.9, keypoints: [right_eye, left_eye, c, c, c, c] }
    }

    /// Centroid of the pixels darker than 128.
    fn dark_centroid(img: &GrayImage) -> (f32, f32, usize) {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0);
        for (x, y, p) in img.enumerate_pixels() {
            if p[0] < 128 {
                sx += x as f32 + 0.5;
                sy += y as f32 + 0.5;
                n += 1;
            }
        }
        (sx / n.max(1) as f32, sy / n.max(1) as f32, n)
    }

    #[test]
    fn crop_of_a_centred_box_is_centred() {
        // A dark disc centred at (200, 150) on white; the box is centred on it.
        let img = GrayImage::from_fn(400, 300, |x, y| {
            let d = ((x as f32 + 0.5 - 200.0).powi(2) + (y as f32 + 0.5 - 150.0).powi(2)).sqrt();
            Luma([if d < 20.0 { 0 } else { 255 }])
        });
        let b = BBox { x: 150.0, y: 100.0, w: 100.0, h: 100.0 };
        let det = detection(b, Point { x: 180.0, y: 130.0 }, Point { x: 220.0, y: 130.0 });
        let g = crop_geometry(&det);
        let (cx, cy, n) = dark_centroid(&sample_square(&img, CropGeometry { centre: b.center(), ..g }, CROP));
        assert!(n > 0);
        assert!((cx - 24.0).abs() < 0.5 && (cy - 24.0).abs() < 0.5, "centroid {cx},{cy}");
        assert_eq!(fer_crop(&img, &det).dimensions(), (CROP, CROP));
    }

    #[test]
    fn rotation_levels_tilted_eyes() {
        // Two dark "eyes" on a line tilted by 30 degrees around (150, 150).
        let a = 30f32.to_radians();
        let (c, s) = (a.cos(), a.sin());
        let re = Point { x: 150.0 - 30.0 * c, y: 150.0 - 30.0 * s };
        let le = Point { x: 150.0 + 30.0 * c, y: 150.0 + 30.0 * s };
        let img = GrayImage::from_fn(300, 300, |x, y| {
            let (x, y) = (x as f32 + 0.5, y as f32 + 0.5);
            let near = |p: Point| (x - p.x).hypot(y - p.y) < 8.0;
            Luma([if near(re) || near(le) { 0 } else { 255 }])
        });
        let det = detection(BBox { x: 90.0, y: 90.0, w: 120.0, h: 120.0 }, re, le);
        let g = crop_geometry(&det);
        // Only the roll beyond what FER2013 faces keep is removed.
        assert!((g.angle - (a - FER_ROLL_KEPT_RAD)).abs() < 1e-4);
        // A small roll, as in FER2013 itself, is left alone.
        let small = 5f32.to_radians();
        let tilted = |r: f32| Point { x: 150.0 + 30.0 * r.cos(), y: 150.0 + 30.0 * r.sin() };
        let small_det = detection(det.bbox, Point { x: 150.0, y: 150.0 }, tilted(small));
        assert_eq!(crop_geometry(&small_det).angle, 0.0);
        // The sampler levels whatever angle it is given.
        let crop = sample_square(&img, CropGeometry { centre: Point { x: 150.0, y: 150.0 }, angle: a, ..g }, CROP);
        // Left and right halves: each eye's centroid must be at the same height.
        let half = |from: u32| {
            let sub = image::imageops::crop_imm(&crop, from, 0, 24, 48).to_image();
            dark_centroid(&sub)
        };
        let (lx, ly, ln) = half(0);
        let (rx, ry, rn) = half(24);
        assert!(ln > 3 && rn > 3);
        assert!((ly - ry).abs() < 0.5, "eye heights {ly} vs {ry}");
        assert!((ly - 24.0).abs() < 0.75, "eyes at {ly}, expected the middle row");
        assert!(((lx + 24.0 + rx) / 2.0 - 24.0).abs() < 0.75, "eyes not centred: {lx}, {}", rx + 24.0);
    }

    #[test]
    fn output_is_48x48_even_outside_the_frame() {
        let img = GrayImage::from_fn(64, 48, |x, _| Luma([(x * 4) as u8]));
        for b in [
            BBox { x: -80.0, y: -60.0, w: 100.0, h: 100.0 },
            BBox { x: 500.0, y: 500.0, w: 30.0, h: 30.0 },
            BBox { x: 10.0, y: 10.0, w: 0.0, h: 0.0 },
        ] {
            let c = b.center();
            let crop = fer_crop(&img, &detection(b, c, c));
            assert_eq!(crop.dimensions(), (CROP, CROP));
        }
        // Far right of the frame: every pixel replicates the right border column.
        let far = fer_crop(
            &img,
            &detection(BBox { x: 500.0, y: 10.0, w: 30.0, h: 30.0 }, Point::default(), Point::default()),
        );
        assert!(far.pixels().all(|p| p[0] == 252));
        assert_eq!(to_gray(&RgbImage::new(3, 2)).dimensions(), (3, 2));
    }
}
