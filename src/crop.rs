//! FER-style alignment and the 48x48 grey crop the emotion model takes.
//!
//! FER2013 faces are tight crops (about eyebrows to chin, the face fills most of the image). The crop
//! here reproduces that framing relative to the BlazeFace box — the constants below were measured by
//! running our detector on upscaled FER2013 test images (see `framing_study` in tests/detect_real.rs) —
//! and levels the eyes only beyond the head roll FER2013 itself contains. One inverse-affine pass
//! samples the frame bilinearly; outside the frame the border pixels are replicated.

use image::{GrayImage, Luma, RgbImage};

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
    let step = g.side / out as f32; // frame pixels per output pixel
    // Supersampling for anti-aliasing: each bilinear tap already spans two source pixels, so one
    // tap per two source pixels per side covers the footprint (and is ~2x cheaper than one per pixel).
    let ss = (step / 2.0).ceil().clamp(1.0, 3.0) as usize;
    let (s, c) = g.angle.sin_cos();
    let half = out as f32 / 2.0;
    let (maxx, maxy) = ((w - 1) as f32, (h - 1) as f32);
    for j in 0..out {
        for i in 0..out {
            let mut acc = 0.0;
            for sj in 0..ss {
                for si in 0..ss {
                    // Crop coordinates relative to the centre, in frame pixels, then rotated into the frame.
                    let u = (i as f32 + (si as f32 + 0.5) / ss as f32 - half) * step;
                    let v = (j as f32 + (sj as f32 + 0.5) / ss as f32 - half) * step;
                    let fx = (g.centre.x + u * c - v * s - 0.5).clamp(0.0, maxx);
                    let fy = (g.centre.y + u * s + v * c - 0.5).clamp(0.0, maxy);
                    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
                    let (x1, y1) = ((x0 + 1).min(wu - 1), (y0 + 1).min(h as usize - 1));
                    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
                    let top = px(x0, y0) * (1.0 - ax) + px(x1, y0) * ax;
                    let bot = px(x0, y1) * (1.0 - ax) + px(x1, y1) * ax;
                    acc += top * (1.0 - ay) + bot * ay;
                }
            }
            img.put_pixel(i, j, Luma([(acc / (ss * ss) as f32).round().clamp(0.0, 255.0) as u8]));
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

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
