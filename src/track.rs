//! One ID per person across frames, and per-face temporal smoothing of the emotion probabilities.
//!
//! A detection starts a *tentative* track; it becomes a person (gets an ID, is reported) only after
//! `min_hits` sightings, so a one-frame false detection never becomes a phantom student. Each track
//! predicts its box with constant velocity. Association runs in three stages, greedy on score:
//! confident detections to tracks (IoU with the predicted box, or a centre-distance fallback for fast
//! head moves); then low-score detections to the persons still unmatched (ByteTrack's second pass:
//! a face that dims for a frame keeps its ID); then confident detections to persons lost within
//! `reid_within_s`, by position and size (a student who returns gets the old ID back). A person whose
//! face only the scene pass finds (a small face) is *coasted* on its prediction between scene passes,
//! since the fast pass never sees it. Smoothing is an exponential moving average whose weight depends on
//! the real time between frames, so it behaves the same at 5 fps and at 30 fps.

use serde::{Deserialize, Serialize};

use crate::Probs;
use crate::detect::scene::Pass;
use crate::detect::{Detection, same_face};
use crate::geometry::{BBox, Point};

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TrackerConfig {
    /// Minimum IoU for a detection to continue a track.
    pub min_iou: f32,
    /// A track whose centre is within this many of its box widths of a detection may also continue.
    pub max_center_dist: f32,
    /// Seconds a person may go unseen and still be matched by motion (after that, only by re-identification).
    pub grace_s: f64,
    /// Time constant of the probability smoothing, seconds (0 = no smoothing).
    pub smoothing_tau_s: f64,
    /// Sightings before a track is a person (1 = at once, for independent photos).
    pub min_hits: u32,
    /// Detections scoring at least this start tracks; lower ones only continue persons.
    pub high_score: f32,
    /// A person who comes back within this many seconds near where they were gets their old ID back.
    pub reid_within_s: f64,
    /// … "near": centre within this many box widths of the last position.
    pub reid_max_dist: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            min_iou: 0.3,
            max_center_dist: 0.5,
            grace_s: 1.0,
            smoothing_tau_s: 0.5,
            min_hits: 3,
            high_score: 0.5,
            reid_within_s: 60.0,
            reid_max_dist: 1.0,
        }
    }
}

/// One face in one frame, after tracking.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackedFace {
    /// One per person, stable across frames and across short absences.
    pub id: u64,
    pub detection: Detection,
    /// This frame's classifier output; `None` in attention-only mode (the emotion model is not run).
    pub raw: Option<Probs>,
    /// Time-smoothed probabilities (what labels and analytics use); `None` in attention-only mode.
    pub smoothed: Option<Probs>,
}

impl TrackedFace {
    pub fn bbox(&self) -> &BBox {
        &self.detection.bbox
    }
    /// Index into [`crate::EMOTIONS`] of the smoothed argmax; `None` in attention-only mode.
    pub fn emotion(&self) -> Option<usize> {
        self.smoothed.as_ref().map(crate::classify::argmax)
    }
}

/// A person to classify in this frame: seen now, or predicted between scene passes.
#[derive(Debug, Clone)]
pub struct Observation {
    pub id: u64,
    pub detection: Detection,
    /// True when the box is the track's prediction (no detector ran over this face in this frame).
    pub predicted: bool,
}

#[derive(Debug, Clone)]
struct Track {
    /// 0 while tentative.
    id: u64,
    det: Detection,
    /// Centre velocity, pixels per second.
    vel: Point,
    smoothed: Option<Probs>,
    last_seen_s: f64,
    last_smoothed_s: f64,
    hits: u32,
    /// Last found by the fast whole-frame pass (else only scene passes see it).
    fast: bool,
    /// Missed by the fast pass and not yet looked for by a scene pass.
    needs_scene: bool,
    /// A scene pass missed it since it was last seen (so it is not coasted).
    scene_missed: bool,
}

impl Track {
    fn confirmed(&self) -> bool {
        self.id != 0
    }

    /// The detection moved to where the face should be at `t_s` (at most a second of extrapolation).
    fn predicted(&self, t_s: f64) -> Detection {
        let dt = (t_s - self.last_seen_s).clamp(0.0, 1.0) as f32;
        let (dx, dy) = (self.vel.x * dt, self.vel.y * dt);
        let mut d = self.det.clone();
        d.bbox.x += dx;
        d.bbox.y += dy;
        for k in d.keypoints.iter_mut() {
            k.x += dx;
            k.y += dy;
        }
        d
    }
}

/// Assigns person IDs to detections frame after frame.
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

/// Score of continuing a track (predicted box `t`) with detection box `d`, if plausible: IoU above
/// `min_iou` scores 1 + IoU; a centre within `max_center_dist` box widths at a similar size scores less.
fn motion_score(t: &BBox, d: &BBox, cfg: &TrackerConfig, allow_distance: bool) -> Option<f32> {
    let iou = t.iou(d);
    if iou >= cfg.min_iou {
        return Some(1.0 + iou);
    }
    if !allow_distance {
        return None;
    }
    let (a, b) = (t.center(), d.center());
    let dist = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
    let scale = t.w.max(d.w).max(1.0);
    let size_ratio = t.w.max(d.w) / t.w.min(d.w).max(1.0);
    (dist <= cfg.max_center_dist * scale && size_ratio < 1.5).then(|| 1.0 - dist / scale)
}

/// Greedy assignment, best score first: each track and each detection at most once.
fn assign(mut pairs: Vec<(f32, usize, usize)>, track_of_det: &mut [Option<usize>], track_used: &mut [bool]) {
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, ti, di) in pairs {
        if !track_used[ti] && track_of_det[di].is_none() {
            track_used[ti] = true;
            track_of_det[di] = Some(ti);
        }
    }
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self { cfg, tracks: Vec::new(), next_id: 1 }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// Persons seen within the grace period (tentative tracks excluded).
    pub fn live(&self) -> usize {
        self.tracks.iter().filter(|t| t.confirmed() && t.last_seen_s + self.cfg.grace_s >= self.latest_s()).count()
    }

    /// Drops every track but keeps counting IDs (independent photos: no face continues another).
    pub fn forget_tracks(&mut self) {
        self.tracks.clear();
    }

    /// Persons known so far (IDs handed out).
    pub fn persons(&self) -> u64 {
        self.next_id - 1
    }

    fn latest_s(&self) -> f64 {
        self.tracks.iter().map(|t| t.last_seen_s).fold(f64::MIN, f64::max)
    }

    /// Whether the next frame should get a scene pass: a face seen once by a scene pass awaits
    /// confirmation, or the fast pass lost a person that a scene pass may still see.
    pub fn wants_scene(&self) -> bool {
        self.tracks.iter().any(|t| t.needs_scene || (!t.confirmed() && !t.fast))
    }

    /// Associates this frame's detections with tracks at time `t_s`. Returns the persons to classify
    /// in this frame, ordered by ID: those seen now and those coasted between scene passes.
    pub fn associate(&mut self, t_s: f64, pass: &Pass) -> Vec<Observation> {
        let cfg = self.cfg;
        // Forget what cannot come back; a clock going backwards (a new source) starts over.
        self.tracks.retain(|t| {
            let keep_s = if t.confirmed() { cfg.reid_within_s.max(cfg.grace_s) } else { cfg.grace_s };
            t_s - t.last_seen_s <= keep_s && t_s >= t.last_seen_s - 1e-9
        });
        let dets = &pass.detections;
        let predicted: Vec<Detection> = self.tracks.iter().map(|t| t.predicted(t_s)).collect();
        let recent: Vec<bool> = self.tracks.iter().map(|t| t_s - t.last_seen_s <= cfg.grace_s).collect();
        let high: Vec<bool> = dets.iter().map(|d| d.score >= cfg.high_score).collect();
        let mut track_of_det: Vec<Option<usize>> = vec![None; dets.len()];
        let mut track_used = vec![false; self.tracks.len()];

        // 1. Confident detections to recent tracks.
        let mut pairs = Vec::new();
        for (ti, p) in predicted.iter().enumerate().filter(|&(ti, _)| recent[ti]) {
            for (di, d) in dets.iter().enumerate().filter(|&(di, _)| high[di]) {
                if let Some(s) = motion_score(&p.bbox, &d.bbox, &cfg, true) {
                    pairs.push((s, ti, di));
                }
            }
        }
        assign(pairs, &mut track_of_det, &mut track_used);
        // 2. Low-score detections to recent persons still unmatched (IoU only: weak boxes must overlap).
        let mut pairs = Vec::new();
        for (ti, p) in predicted.iter().enumerate() {
            if track_used[ti] || !recent[ti] || !self.tracks[ti].confirmed() {
                continue;
            }
            for (di, d) in dets.iter().enumerate().filter(|&(di, _)| !high[di] && track_of_det[di].is_none()) {
                if let Some(s) = motion_score(&p.bbox, &d.bbox, &cfg, false) {
                    pairs.push((s, ti, di));
                }
            }
        }
        assign(pairs, &mut track_of_det, &mut track_used);
        // 3. Confident detections to persons lost a while ago, near where they were last seen.
        let mut pairs = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            if track_used[ti] || recent[ti] || !t.confirmed() {
                continue;
            }
            for (di, d) in dets.iter().enumerate().filter(|&(di, _)| high[di] && track_of_det[di].is_none()) {
                let (a, b) = (t.det.bbox.center(), d.bbox.center());
                let scale = t.det.bbox.w.max(d.bbox.w).max(1.0);
                let dist = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt() / scale;
                let size_ratio = t.det.bbox.w.max(d.bbox.w) / t.det.bbox.w.min(d.bbox.w).max(1.0);
                if dist <= cfg.reid_max_dist && size_ratio < 1.6 {
                    pairs.push((-dist, ti, di));
                }
            }
        }
        assign(pairs, &mut track_of_det, &mut track_used);

        // Update the matched tracks; start tentative tracks from the unmatched confident detections.
        for (di, d) in dets.iter().enumerate() {
            let is_fast = di < pass.fast;
            match track_of_det[di] {
                Some(ti) => {
                    let t = &mut self.tracks[ti];
                    let dt = (t_s - t.last_seen_s) as f32;
                    if dt > 1e-4 && dt <= cfg.grace_s as f32 {
                        let (a, b) = (t.det.bbox.center(), d.bbox.center());
                        let v = Point { x: (b.x - a.x) / dt, y: (b.y - a.y) / dt };
                        // Damped: detector jitter must not read as motion.
                        t.vel = Point { x: 0.5 * t.vel.x + 0.5 * v.x, y: 0.5 * t.vel.y + 0.5 * v.y };
                    } else {
                        t.vel = Point::default();
                    }
                    t.det = d.clone();
                    t.last_seen_s = t_s;
                    t.hits += 1;
                    t.fast = is_fast;
                    t.needs_scene = false;
                    t.scene_missed = false;
                }
                // A second box on a person already placed in this frame is not a new person.
                None if high[di]
                    && !self.tracks.iter().zip(&predicted).enumerate().any(|(ti, (t, p))| {
                        let b = if track_used[ti] { &t.det.bbox } else { &p.bbox };
                        t.confirmed() && (track_used[ti] || recent[ti]) && same_face(b, &d.bbox)
                    }) =>
                {
                    self.tracks.push(Track {
                        id: 0,
                        det: d.clone(),
                        vel: Point::default(),
                        smoothed: None,
                        last_seen_s: t_s,
                        last_smoothed_s: t_s,
                        hits: 1,
                        fast: is_fast,
                        needs_scene: false,
                        scene_missed: false,
                    })
                }
                None => {}
            }
        }
        let mut out = Vec::new();
        let mut dead = Vec::new();
        for (ti, t) in self.tracks.iter_mut().enumerate() {
            // Tracks appended in this frame are beyond `track_used`.
            let seen_now = ti >= track_used.len() || track_used[ti];
            if !t.confirmed() && t.hits >= cfg.min_hits.max(1) {
                t.id = self.next_id;
                self.next_id += 1;
            }
            if seen_now {
                if t.confirmed() {
                    out.push(Observation { id: t.id, detection: t.det.clone(), predicted: false });
                }
                continue;
            }
            // Not seen in this frame.
            if !t.confirmed() {
                // A tentative track must be seen again by the pass that found it.
                if pass.scene || t.fast {
                    dead.push(ti);
                }
                continue;
            }
            if pass.scene {
                // Looked for and not found: no more scene passes on this face's account.
                t.scene_missed = true;
                t.needs_scene = false;
            }
            if t.fast {
                // Lost by the fast pass: one scene pass looks for it (not one per frame while it is away).
                if !pass.scene && !t.scene_missed && t_s - t.last_seen_s <= cfg.grace_s {
                    t.needs_scene = true;
                }
            } else if !pass.scene && !t.scene_missed && t_s - t.last_seen_s <= cfg.grace_s.max(4.5) {
                // Only scene passes see this face: follow it on its prediction until the next one.
                out.push(Observation { id: t.id, detection: t.predicted(t_s), predicted: true });
            }
        }
        for ti in dead.into_iter().rev() {
            self.tracks.remove(ti);
        }
        out.sort_by_key(|o| o.id);
        out
    }

    /// Smooths this frame's probabilities into each observed person's (`probs` in the observations'
    /// order); `None`: no emotion model ran (attention-only mode), the faces carry no probabilities.
    pub fn smooth(&mut self, t_s: f64, observations: Vec<Observation>, probs: Option<&[Probs]>) -> Vec<TrackedFace> {
        let mut out = Vec::with_capacity(observations.len());
        for (i, o) in observations.into_iter().enumerate() {
            let Some(t) = self.tracks.iter_mut().find(|t| t.id == o.id) else { continue };
            let Some(probs) = probs else {
                out.push(TrackedFace { id: o.id, detection: o.detection, raw: None, smoothed: None });
                continue;
            };
            let Some(&raw) = probs.get(i) else { break };
            let smoothed = match t.smoothed {
                Some(mut s) => {
                    let a = smoothing_weight((t_s - t.last_smoothed_s).max(0.0), self.cfg.smoothing_tau_s);
                    for k in 0..raw.len() {
                        s[k] += a * (raw[k] - s[k]);
                    }
                    s
                }
                None => raw,
            };
            t.smoothed = Some(smoothed);
            t.last_smoothed_s = t_s;
            out.push(TrackedFace { id: o.id, detection: o.detection, raw: Some(raw), smoothed: Some(smoothed) });
        }
        out
    }

    /// Both steps at once, for callers whose detections all come from one whole-frame pass.
    pub fn update(
        &mut self,
        t_s: f64,
        detections: &[Detection],
        probs_of: impl Fn(&Detection) -> Probs,
    ) -> Vec<TrackedFace> {
        let pass = Pass { detections: detections.to_vec(), fast: detections.len(), scene: true };
        let obs = self.associate(t_s, &pass);
        let probs: Vec<Probs> = obs.iter().map(|o| probs_of(&o.detection)).collect();
        self.smooth(t_s, obs, Some(&probs))
    }
}

/// Weight of a new observation arriving `dt` seconds after the previous one, for time constant `tau`.
pub fn smoothing_weight(dt: f64, tau: f64) -> f32 {
    if tau <= 0.0 { 1.0 } else { (1.0 - (-dt / tau).exp()) as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, w: f32) -> Detection {
        scored(x, y, w, 0.9)
    }
    fn scored(x: f32, y: f32, w: f32, score: f32) -> Detection {
        Detection { bbox: BBox { x, y, w, h: w }, score, keypoints: [Point::default(); 6] }
    }
    const HAPPY: Probs = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    const SAD: Probs = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    /// Probabilities by position: faces left of x = 200 are happy, the others sad.
    fn by_side(d: &Detection) -> Probs {
        if d.bbox.x < 200.0 { HAPPY } else { SAD }
    }
    fn ids(faces: &[TrackedFace]) -> Vec<u64> {
        faces.iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_face_becomes_a_person_after_three_sightings_and_a_one_frame_blip_never_does() {
        let mut tr = Tracker::new(TrackerConfig::default());
        assert!(tr.update(0.0, &[det(10.0, 10.0, 50.0)], by_side).is_empty());
        assert!(tr.update(0.033, &[det(11.0, 10.0, 50.0), det(300.0, 300.0, 40.0)], by_side).is_empty());
        let f = tr.update(0.066, &[det(12.0, 10.0, 50.0)], by_side);
        assert_eq!(ids(&f), vec![1]);
        for k in 3..30 {
            assert_eq!(ids(&tr.update(k as f64 / 30.0, &[det(12.0, 10.0, 50.0)], by_side)), vec![1]);
        }
        assert_eq!(tr.persons(), 1, "the blip at (300, 300) was never a person");
        // Independent photos: one sighting is enough.
        let mut photos = Tracker::new(TrackerConfig { min_hits: 1, ..Default::default() });
        assert_eq!(ids(&photos.update(0.0, &[det(10.0, 10.0, 50.0)], by_side)), vec![1]);
    }

    #[test]
    fn ids_stay_stable_while_faces_move_and_swap_order() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for k in 0..3 {
            tr.update(k as f64 * 0.033, &[det(10.0, 10.0, 50.0), det(300.0, 10.0, 50.0)], by_side);
        }
        let a = tr.update(0.1, &[det(10.0, 10.0, 50.0), det(300.0, 10.0, 50.0)], by_side);
        // Next frame: both moved a little and come in the other order.
        let b = tr.update(0.133, &[det(305.0, 12.0, 50.0), det(14.0, 11.0, 50.0)], by_side);
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(a[0].id, a[1].id);
        assert_eq!(b.iter().find(|f| f.detection.bbox.x > 200.0).map(|f| f.id), Some(a[1].id));
    }

    #[test]
    fn constant_velocity_follows_a_face_moving_faster_than_its_box() {
        let mut tr = Tracker::new(TrackerConfig::default());
        // Speeding up to 60 px per frame with a 50 px box: from 30 px per frame on, a box is too far
        // from the previous one to match without the prediction.
        let mut last = Vec::new();
        let mut x = 10.0;
        for k in 0..12 {
            x += 5.0 * k as f32;
            last = tr.update(k as f64 / 30.0, &[det(x, 100.0, 50.0)], by_side);
            if k >= 2 {
                assert_eq!(ids(&last), vec![1], "frame {k}");
            }
        }
        assert_eq!(tr.persons(), 1);
        assert!(!last.is_empty());
    }

    #[test]
    fn a_low_score_detection_bridges_a_dim_frame_but_cannot_start_a_person() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for k in 0..5 {
            tr.update(k as f64 / 30.0, &[det(10.0, 10.0, 50.0)], by_side);
        }
        let f = tr.update(5.0 / 30.0, &[scored(11.0, 10.0, 50.0, 0.35), scored(300.0, 300.0, 50.0, 0.35)], by_side);
        assert_eq!(ids(&f), vec![1], "the weak box continues the person; the other weak box is ignored");
        for k in 6..12 {
            tr.update(k as f64 / 30.0, &[scored(300.0, 300.0, 50.0, 0.35)], by_side);
        }
        assert_eq!(tr.persons(), 1);
    }

    #[test]
    fn a_person_who_returns_gets_the_old_id_back_within_the_configured_time() {
        let mut tr = Tracker::new(TrackerConfig { reid_within_s: 20.0, ..Default::default() });
        let mut t = 0.0;
        let mut step = |tr: &mut Tracker, dets: &[Detection]| {
            t += 1.0 / 15.0;
            tr.update(t, dets, by_side)
        };
        for _ in 0..10 {
            step(&mut tr, &[det(10.0, 10.0, 50.0), det(300.0, 10.0, 50.0)]);
        }
        // The right person leaves for 10 s and comes back a little off their old place.
        for _ in 0..150 {
            assert_eq!(ids(&step(&mut tr, &[det(10.0, 10.0, 50.0)])), vec![1]);
        }
        let mut back = Vec::new();
        for _ in 0..5 {
            back = step(&mut tr, &[det(10.0, 10.0, 50.0), det(320.0, 14.0, 52.0)]);
        }
        assert_eq!(ids(&back), vec![1, 2]);
        assert_eq!(tr.persons(), 2);
        // Gone for longer than reid_within_s: a new person.
        for _ in 0..(25 * 15) {
            step(&mut tr, &[det(10.0, 10.0, 50.0)]);
        }
        for _ in 0..5 {
            back = step(&mut tr, &[det(10.0, 10.0, 50.0), det(300.0, 10.0, 50.0)]);
        }
        assert_eq!(ids(&back), vec![1, 3]);
    }

    #[test]
    fn faces_only_scene_passes_see_are_coasted_between_them_and_dropped_when_a_pass_misses_them() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let small = det(500.0, 300.0, 30.0);
        let scene = |t: &mut Tracker, ts: f64, dets: Vec<Detection>| {
            let obs = t.associate(ts, &Pass { detections: dets, fast: 0, scene: true });
            obs.iter().map(|o| (o.id, o.predicted)).collect::<Vec<_>>()
        };
        let fast = |t: &mut Tracker, ts: f64| {
            let obs = t.associate(ts, &Pass { detections: Vec::new(), fast: 0, scene: false });
            obs.iter().map(|o| (o.id, o.predicted)).collect::<Vec<_>>()
        };
        assert!(scene(&mut tr, 0.0, vec![small.clone()]).is_empty());
        assert!(tr.wants_scene(), "a face seen once asks for another scene pass");
        assert!(fast(&mut tr, 0.033).is_empty(), "a tentative face is not reported, nor dropped, by a fast pass");
        assert!(scene(&mut tr, 0.066, vec![small.clone()]).is_empty());
        assert_eq!(scene(&mut tr, 0.1, vec![small.clone()]), vec![(1, false)]);
        assert!(!tr.wants_scene());
        for k in 1..10 {
            assert_eq!(fast(&mut tr, 0.1 + k as f64 / 30.0), vec![(1, true)], "coasted between scene passes");
        }
        assert!(scene(&mut tr, 0.5, Vec::new()).is_empty(), "a scene pass that misses the face ends the coasting");
        assert!(fast(&mut tr, 0.533).is_empty());
    }

    #[test]
    fn a_face_the_fast_pass_loses_asks_for_a_scene_pass() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for k in 0..4 {
            let d = vec![det(10.0, 10.0, 50.0)];
            tr.associate(k as f64 / 30.0, &Pass { detections: d, fast: 1, scene: false });
        }
        assert!(!tr.wants_scene());
        assert!(tr.associate(4.0 / 30.0, &Pass { detections: Vec::new(), fast: 0, scene: false }).is_empty());
        assert!(tr.wants_scene());
        // The scene pass does not find it either (the student left): no scene pass on every later frame.
        tr.associate(5.0 / 30.0, &Pass { detections: Vec::new(), fast: 0, scene: true });
        assert!(!tr.wants_scene());
        tr.associate(6.0 / 30.0, &Pass { detections: Vec::new(), fast: 0, scene: false });
        assert!(!tr.wants_scene(), "one scene pass per loss, not one per frame");
    }

    #[test]
    fn smoothing_damps_a_one_frame_flicker_and_follows_a_lasting_change() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for i in 0..30 {
            tr.update(i as f64 / 30.0, &[det(10.0, 10.0, 50.0)], |_| HAPPY);
        }
        let flick = tr.update(1.0, &[det(10.0, 10.0, 50.0)], |_| SAD);
        assert_eq!(flick[0].emotion(), Some(3), "a single sad frame must not flip a happy face");
        assert_eq!(flick[0].raw.as_ref().map(crate::classify::argmax), Some(5), "raw keeps the frame's own output");
        let mut last = flick;
        for i in 1..30 {
            last = tr.update(1.0 + i as f64 / 30.0, &[det(10.0, 10.0, 50.0)], |_| SAD);
        }
        assert_eq!(last[0].emotion(), Some(5), "one second of sad frames must show as sad");
    }

    #[test]
    fn smoothing_weight_depends_on_elapsed_time_not_frame_count() {
        assert!((smoothing_weight(0.5, 0.5) - (1.0 - (-1.0f64).exp()) as f32).abs() < 1e-6);
        assert_eq!(smoothing_weight(0.1, 0.0), 1.0);
        assert!(smoothing_weight(0.033, 0.5) < smoothing_weight(0.2, 0.5));
    }
}
