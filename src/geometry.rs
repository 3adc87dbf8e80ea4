//! Pixel-space geometry shared by every stage: boxes and points in the frame's coordinates.

use serde::{Deserialize, Serialize};

/// A point in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned box in frame pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BBox {
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    pub fn center(&self) -> Point {
        Point { x: self.x + self.w / 2.0, y: self.y + self.h / 2.0 }
    }

    /// Area of the overlap of two boxes.
    pub(crate) fn intersection(&self, other: &BBox) -> f32 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        (x1 - x0).max(0.0) * (y1 - y0).max(0.0)
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The share of the smaller box that lies inside the other: 1 when one box contains the other,
    /// however different their sizes (where IoU stays small).
    pub(crate) fn containment(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let smaller = self.area().min(other.area());
        if smaller <= 0.0 { 0.0 } else { inter / smaller }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox { x: 0.0, y: 0.0, w: 10.0, h: 10.0 };
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox { x: 20.0, y: 0.0, w: 10.0, h: 10.0 }), 0.0);
        let half = BBox { x: 5.0, y: 0.0, w: 10.0, h: 10.0 };
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn containment_is_one_for_a_small_box_inside_a_large_one() {
        let big = BBox { x: 0.0, y: 0.0, w: 100.0, h: 100.0 };
        let small = BBox { x: 10.0, y: 10.0, w: 20.0, h: 20.0 };
        assert!(big.iou(&small) < 0.05);
        assert_eq!(big.containment(&small), 1.0);
        assert_eq!(small.containment(&big), 1.0);
        assert!((big.containment(&BBox { x: 90.0, y: 0.0, w: 20.0, h: 20.0 }) - 0.5).abs() < 1e-6);
        assert_eq!(big.containment(&BBox { x: 200.0, y: 0.0, w: 20.0, h: 20.0 }), 0.0);
    }
}
