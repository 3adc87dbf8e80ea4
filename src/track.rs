//! Stable face IDs across frames and per-face temporal smoothing of the emotion probabilities.
//!
//! Association is greedy on IoU (best pairs first), with a centre-distance fallback for fast head
//! moves; a face that is not seen keeps its ID for `grace_s` seconds. Smoothing is an exponential
//! moving average whose weight depends on the real time between frames, so it behaves the same at
//! 5 fps and at 30 fps.

use serde::{Deserialize, Serialize};

use crate::Probs;
use crate::detect::Detection;
use crate::geometry::BBox;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TrackerConfig {
    /// Minimum IoU for a detection to continue a track.
    pub min_iou: f32,
    /// A track whose centre is within this many of its box widths of a detection may also continue.
    pub max_center_dist: f32,
    /// Seconds a face may go unseen and keep its ID.
    pub grace_s: f64,
    /// Time constant of the probability smoothing, seconds (0 = no smoothing).
    pub smoothing_tau_s: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { min_iou: 0.3, max_center_dist: 0.5, grace_s: 1.0, smoothing_tau_s: 0.5 }
    }
}

/// One face in one frame, after tracking.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackedFace {
    /// Stable across frames while the face stays in view (and for `grace_s` after).
    pub id: u64,
    pub detection: Detection,
    /// This frame's classifier output.
    pub raw: Probs,
    /// Time-smoothed probabilities (what labels and analytics use).
    pub smoothed: Probs,
}

impl TrackedFace {
    pub fn bbox(&self) -> &BBox {
        &self.detection.bbox
    }
    /// Index into [`crate::EMOTIONS`] of the smoothed argmax.
    pub fn emotion(&self) -> usize {
        crate::classify::argmax(&self.smoothed)
    }
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    bbox: BBox,
    smoothed: Probs,
    last_seen_s: f64,
}

/// Assigns IDs to detections frame after frame.
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self { cfg, tracks: Vec::new(), next_id: 1 }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// Number of live tracks (seen within the grace period).
    pub fn live(&self) -> usize {
        self.tracks.len()
    }

    /// Associates this frame's detections (with their probabilities) to tracks at time `t_s`.
    /// Returns one [`TrackedFace`] per detection, in the detections' order.
    pub fn update(&mut self, t_s: f64, detections: &[Detection], probs: &[Probs]) -> Vec<TrackedFace> {
        assert_eq!(detections.len(), probs.len(), "one probability vector per detection");
        self.tracks.retain(|t| t_s - t.last_seen_s <= self.cfg.grace_s && t_s >= t.last_seen_s - 1e-9);

        // Candidate pairs scored by IoU, or by a smaller score for centre-distance matches.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                let iou = t.bbox.iou(&d.bbox);
                if iou >= self.cfg.min_iou {
                    pairs.push((1.0 + iou, ti, di));
                } else {
                    let (a, b) = (t.bbox.center(), d.bbox.center());
                    let dist = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
                    let scale = t.bbox.w.max(d.bbox.w).max(1.0);
                    let size_ratio = t.bbox.w.max(d.bbox.w) / t.bbox.w.min(d.bbox.w).max(1.0);
                    if dist <= self.cfg.max_center_dist * scale && size_ratio < 1.5 {
                        pairs.push((1.0 - dist / scale, ti, di));
                    }
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of_det: Vec<Option<usize>> = vec![None; detections.len()];
        let mut track_used = vec![false; self.tracks.len()];
        for (_, ti, di) in pairs {
            if !track_used[ti] && track_of_det[di].is_none() {
                track_used[ti] = true;
                track_of_det[di] = Some(ti);
            }
        }

        let mut out = Vec::with_capacity(detections.len());
        for (di, d) in detections.iter().enumerate() {
            let raw = probs[di];
            let ti = match track_of_det[di] {
                Some(ti) => {
                    let t = &mut self.tracks[ti];
                    let dt = (t_s - t.last_seen_s).max(0.0);
                    let a = smoothing_weight(dt, self.cfg.smoothing_tau_s);
                    for k in 0..raw.len() {
                        t.smoothed[k] += a * (raw[k] - t.smoothed[k]);
                    }
                    t.bbox = d.bbox;
                    t.last_seen_s = t_s;
                    ti
                }
                None => {
                    self.tracks.push(Track { id: self.next_id, bbox: d.bbox, smoothed: raw, last_seen_s: t_s });
                    self.next_id += 1;
                    self.tracks.len() - 1
                }
            };
            let t = &self.tracks[ti];
            out.push(TrackedFace { id: t.id, detection: d.clone(), raw, smoothed: t.smoothed });
        }
        out
    }
}

/// Weight of a new observation arriving `dt` seconds after the previous one, for time constant `tau`.
pub fn smoothing_weight(dt: f64, tau: f64) -> f32 {
    if tau <= 0.0 { 1.0 } else { (1.0 - (-dt / tau).exp()) as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Point;

    fn det(x: f32, y: f32, w: f32) -> Detection {
        Detection { bbox: BBox { x, y, w, h: w }, score: 0.9, keypoints: [Point::default(); 6] }
    }
    const HAPPY: Probs = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    const SAD: Probs = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    #[test]
    fn ids_stay_stable_while_faces_move_and_swap_order() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let a = tr.update(0.0, &[det(10.0, 10.0, 50.0), det(300.0, 10.0, 50.0)], &[HAPPY, SAD]);
        // Next frame: both moved a little and come in the other order.
        let b = tr.update(0.033, &[det(305.0, 12.0, 50.0), det(14.0, 11.0, 50.0)], &[SAD, HAPPY]);
        assert_eq!(b[0].id, a[1].id);
        assert_eq!(b[1].id, a[0].id);
        assert_ne!(a[0].id, a[1].id);
    }

    #[test]
    fn a_face_missing_for_less_than_the_grace_period_keeps_its_id_but_not_longer() {
        let mut tr = Tracker::new(TrackerConfig { grace_s: 0.5, ..Default::default() });
        let id = tr.update(0.0, &[det(10.0, 10.0, 50.0)], &[HAPPY])[0].id;
        tr.update(0.2, &[], &[]);
        assert_eq!(tr.update(0.4, &[det(12.0, 10.0, 50.0)], &[HAPPY])[0].id, id);
        tr.update(0.5, &[], &[]);
        assert_ne!(tr.update(1.2, &[det(12.0, 10.0, 50.0)], &[HAPPY])[0].id, id);
    }

    #[test]
    fn smoothing_damps_a_one_frame_flicker_and_follows_a_lasting_change() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for i in 0..30 {
            tr.update(i as f64 / 30.0, &[det(10.0, 10.0, 50.0)], &[HAPPY]);
        }
        let flick = tr.update(1.0, &[det(10.0, 10.0, 50.0)], &[SAD]);
        assert_eq!(flick[0].emotion(), 3, "a single sad frame must not flip a happy face");
        assert_eq!(crate::classify::argmax(&flick[0].raw), 5, "raw keeps the frame's own output");
        let mut last = flick;
        for i in 1..30 {
            last = tr.update(1.0 + i as f64 / 30.0, &[det(10.0, 10.0, 50.0)], &[SAD]);
        }
        assert_eq!(last[0].emotion(), 5, "one second of sad frames must show as sad");
    }

    #[test]
    fn smoothing_weight_depends_on_elapsed_time_not_frame_count() {
        assert!((smoothing_weight(0.5, 0.5) - (1.0 - (-1.0f64).exp()) as f32).abs() < 1e-6);
        assert_eq!(smoothing_weight(0.1, 0.0), 1.0);
        assert!(smoothing_weight(0.033, 0.5) < smoothing_weight(0.2, 0.5));
    }
}
