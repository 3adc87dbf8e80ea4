//! What a person looks like, cheaply: colour histograms of the head (hair, skin, what is right around it) and of
//! the shoulders below it (clothes, the room behind). A video call's tiles and a room's people differ in exactly
//! these; they change little over a lecture. Used to give a returning person their old ID when position cannot
//! ([`super::Tracker::reidentify`]) — and only when one lost person matches clearly better than every other.

use image::RgbImage;

use crate::geometry::BBox;

/// Hue bins for coloured pixels, and value bins for grey ones (white walls, black hair, grey shirts).
const HUES: usize = 12;
const SATS: usize = 3;
const GREYS: usize = 4;
const BINS: usize = HUES * SATS + GREYS;

/// Two regions (head, shoulders) of normalised histograms.
#[derive(Debug, Clone, PartialEq)]
pub struct Appearance {
    parts: [[f32; BINS]; 2],
}

impl Appearance {
    /// Bhattacharyya coefficient averaged over the parts: 1 for identical colour distributions, 0 for disjoint.
    pub fn similarity(&self, other: &Appearance) -> f32 {
        let bc = |a: &[f32; BINS], b: &[f32; BINS]| a.iter().zip(b).map(|(x, y)| (x * y).sqrt()).sum::<f32>();
        (bc(&self.parts[0], &other.parts[0]) + bc(&self.parts[1], &other.parts[1])) / 2.0
    }

    /// Moves this towards `newer` (lighting drifts during a lecture).
    pub fn blend(&mut self, newer: &Appearance, weight: f32) {
        for (a, b) in self.parts.iter_mut().flatten().zip(newer.parts.iter().flatten()) {
            *a = (1.0 - weight) * *a + weight * *b;
        }
    }
}

/// Histogram bin of one RGB pixel.
fn bin(r: u8, g: u8, b: u8) -> usize {
    let (r, g, b) = (f32::from(r) / 255.0, f32::from(g) / 255.0, f32::from(b) / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    let sat = if max > 0.0 { chroma / max } else { 0.0 };
    if sat < 0.2 || max < 0.15 {
        return HUES * SATS + ((max * GREYS as f32) as usize).min(GREYS - 1);
    }
    let hue = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    } / 6.0;
    let h = ((hue * HUES as f32) as usize).min(HUES - 1);
    let s = (((sat - 0.2) / 0.8 * SATS as f32) as usize).min(SATS - 1);
    h * SATS + s
}

/// Histogram of `frame` over the rectangle (clipped to the frame), sampling at most ~40x40 points.
fn histogram(frame: &RgbImage, x0: f32, y0: f32, x1: f32, y1: f32) -> Option<[f32; BINS]> {
    let (w, h) = frame.dimensions();
    let (x0, x1) = (x0.max(0.0) as u32, (x1.min(w as f32) as u32).min(w));
    let (y0, y1) = (y0.max(0.0) as u32, (y1.min(h as f32) as u32).min(h));
    if x1 <= x0 + 1 || y1 <= y0 + 1 {
        return None;
    }
    let step = ((x1 - x0).max(y1 - y0) / 40).max(1);
    let mut hist = [0f32; BINS];
    let mut n = 0f32;
    for y in (y0..y1).step_by(step as usize) {
        for x in (x0..x1).step_by(step as usize) {
            let p = frame.get_pixel(x, y).0;
            hist[bin(p[0], p[1], p[2])] += 1.0;
            n += 1.0;
        }
    }
    (n > 0.0).then(|| hist.map(|c| c / n))
}

/// The appearance of the person whose face is `face` in `frame`: the head (the face box widened by half on each
/// side, from half a face above it) and the shoulders (the face's height below it, twice its width). `None` when
/// too little of either lies inside the frame.
pub fn describe(frame: &RgbImage, face: &BBox) -> Option<Appearance> {
    let (x, y, w, h) = (face.x, face.y, face.w, face.h);
    if ![x, y, w, h].iter().all(|v| v.is_finite()) || w < 4.0 || h < 4.0 {
        return None;
    }
    let head = histogram(frame, x - 0.25 * w, y - 0.5 * h, x + 1.25 * w, y + h)?;
    let shoulders = histogram(frame, x - 0.5 * w, y + 1.2 * h, x + 1.5 * w, y + 2.2 * h).unwrap_or(head);
    Some(Appearance { parts: [head, shoulders] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(skin: [u8; 3], shirt: [u8; 3], wall: [u8; 3]) -> (RgbImage, BBox) {
        let mut img = RgbImage::from_pixel(200, 200, image::Rgb(wall));
        for y in 40..80 {
            for x in 80..120 {
                img.put_pixel(x, y, image::Rgb(skin));
            }
        }
        for y in 110..200 {
            for x in 60..140 {
                img.put_pixel(x, y, image::Rgb(shirt));
            }
        }
        (img, BBox { x: 80.0, y: 40.0, w: 40.0, h: 40.0 })
    }

    #[test]
    fn the_same_person_matches_and_another_shirt_and_room_do_not() {
        let (a, fa) = person([200, 150, 120], [30, 60, 200], [230, 230, 230]);
        let (b, fb) = person([200, 150, 120], [200, 40, 40], [90, 120, 60]);
        let (da, db) = (describe(&a, &fa).unwrap(), describe(&b, &fb).unwrap());
        assert!((da.similarity(&da) - 1.0).abs() < 1e-5);
        // The same person a few pixels further: still themselves.
        let mut moved = fa;
        moved.x += 4.0;
        assert!(da.similarity(&describe(&a, &moved).unwrap()) > 0.95);
        assert!(da.similarity(&db) < 0.6, "{}", da.similarity(&db));
    }

    #[test]
    fn a_face_outside_the_frame_has_no_appearance() {
        let img = RgbImage::new(100, 100);
        assert!(describe(&img, &BBox { x: 150.0, y: 10.0, w: 20.0, h: 20.0 }).is_none());
        assert!(describe(&img, &BBox { x: f32::NAN, y: 10.0, w: 20.0, h: 20.0 }).is_none());
    }
}
