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

pub(crate) mod appearance;

use serde::{Deserialize, Serialize};

use appearance::Appearance;

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
    /// A face unseen for up to this many seconds is looked for around its predicted box by the region
    /// pass ([`Tracker::region_targets`]), when one runs.
    pub region_window_s: f64,
    /// A person the region pass has missed for this long asks for a scene pass (left, or turned away?).
    pub region_miss_scene_s: f64,
    /// At most this many faces are looked for by the region pass in one frame (its cost: about a
    /// millisecond each). With more faces (a large gallery), those looked for longest ago go first and the
    /// others are predicted from their motion until their turn, a frame or two later.
    pub region_budget: usize,
    /// A face becomes a person only once one of its sightings scored at least this (a weak box seen a few
    /// times on a shelf or a poster is not a student; real faces score well above it at some point).
    pub confirm_score: f32,
    /// The centre-distance match of a face unseen for `dt` seconds may reach `max_center_dist` plus this
    /// many box widths per second of `dt` (up to a quarter second): a head that moved fast while the
    /// detectors missed it for a few frames.
    pub gap_widths_per_s: f32,
    /// With a region pass (the `auto` detector), a box of the fast whole-frame pass starts a track only from
    /// this score, or when the scene pass of that frame found the same face (lower, it only continues a
    /// track): the fast pass's weak large boxes are things like a mug with a printed face held at the chest.
    pub fast_start_score: f32,
    /// A person unseen for longer than `region_window_s` (and at most `reid_within_s`) is still looked for
    /// where they were last seen, this often (a student who steps away and comes back).
    pub region_lost_period_s: f64,
    /// A new person who looks like a person lost (unseen for more than `grace_s`, at most `reid_within_s` ago)
    /// at least this much ([`appearance::Appearance::similarity`], 0..1) gets that person's ID back…
    pub appearance_min: f32,
    /// … if no other lost person comes within this margin of the best match (when in doubt, a new ID: a swap
    /// is worse than a new ID).
    pub appearance_margin: f32,
    /// A known person whose box shows an appearance this far from theirs (below, 0..1) for three frames running is
    /// someone else (a call reordered its tiles): the identity leaves that box.
    pub appearance_change: f32,
    /// Persons whose box looks less like them than this (0..1) in a frame may have traded places with each other
    /// ([`Tracker::exchange_swapped`]). About the lowest a person's own look reaches on real footage (0.79 for a
    /// few frames while walking about a room, 0.86 in a gallery tile; a tile swap drops to ~0.74): a person whose
    /// look merely drifted is rarely a suspect, and a suspect only takes another suspect's identity that it
    /// matches clearly better than its own.
    pub swap_suspect: f32,
    /// A person whose box moved slower than `region_still_speed` box widths per second in the last seconds
    /// (`MOTION_MEMORY_S`) is looked for by the region pass at most every this many seconds (predicted in
    /// between: a still face stays where it was), so the looks go to the faces that move. In that time a head
    /// starting to move at a width per second moves well inside the region the next look searches (2.5 widths
    /// around the box).
    pub region_still_period_s: f64,
    /// Below this speed (box widths per second, `Track::motion`) a face counts as still.
    pub region_still_speed: f32,
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
            region_window_s: 2.0,
            region_miss_scene_s: 0.3,
            region_budget: 8,
            confirm_score: 0.65,
            fast_start_score: 0.8,
            gap_widths_per_s: 4.0,
            region_lost_period_s: 0.5,
            appearance_min: 0.8,
            appearance_margin: 0.08,
            appearance_change: 0.35,
            swap_suspect: 0.8,
            region_still_period_s: 0.3,
            region_still_speed: 0.3,
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
pub(crate) struct Observation {
    pub id: u64,
    pub detection: Detection,
    /// True when the box is the track's prediction (no detector ran over this face in this frame): what the
    /// tests read to tell an observed face from a coasted one.
    #[cfg_attr(not(test), allow(dead_code))]
    pub predicted: bool,
}

/// A face the region pass should look for in this frame: a track's predicted box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RegionTarget {
    /// The track's key, unique among tracks (tentative ones included), for [`Pass::looked`].
    pub key: u64,
    pub bbox: BBox,
}

#[derive(Debug, Clone)]
struct Track {
    /// Unique per track, tentative or not (IDs are only given to persons).
    key: u64,
    /// 0 while tentative.
    id: u64,
    det: Detection,
    /// Centre velocity, pixels per second.
    vel: Point,
    /// How much it moved lately: its speed in box widths per second at each sighting, the highest of the
    /// last seconds (decaying with [`MOTION_MEMORY_S`]); a face that turned or stopped for a moment still counts as
    /// moving.
    motion: f32,
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
    /// When the region pass first looked for it and missed it, since it was last seen.
    region_missed_since: Option<f64>,
    /// Best score of its sightings ([`TrackerConfig::confirm_score`]).
    peak_score: f32,
    /// When the region pass last looked for it (tracks start at different phases, so the looks of a
    /// gallery's faces spread over the frames).
    last_looked_s: f64,
    /// What the person looks like ([`Tracker::reidentify`]), and when that was last updated.
    appearance: Option<Appearance>,
    appearance_s: f64,
    /// When the track became a person (got its ID).
    confirmed_s: f64,
    /// Frames in a row whose appearance differed from the person's ([`TrackerConfig::appearance_change`]).
    low_appearance: u32,
}

/// An identity that left its box (someone else is there now), waiting to be recognised by its appearance.
#[derive(Debug, Clone)]
struct Retired {
    id: u64,
    appearance: Appearance,
    smoothed: Option<Probs>,
    last_smoothed_s: f64,
    at_s: f64,
}

/// A lost person a new one may be: a track unseen for a while, or a retired identity.
#[derive(Debug, Clone, Copy)]
enum Lost {
    Track(usize),
    Retired(usize),
}

impl Track {
    fn confirmed(&self) -> bool {
        self.id != 0
    }

    /// How fast the box moves, in box widths per second.
    fn speed_widths_per_s(&self) -> f32 {
        self.vel.x.hypot(self.vel.y) / self.det.bbox.w.max(1.0)
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

/// How long a track remembers that it moved ([`Track::motion`] decays by e in this many seconds).
const MOTION_MEMORY_S: f32 = 2.0;

/// Assigns person IDs to detections frame after frame.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    next_key: u64,
    /// A region pass looks for the known faces in every frame (so tentative faces need no scene pass).
    regions: bool,
    /// Identities that left their box, for [`Tracker::reidentify`].
    retired: Vec<Retired>,
}

/// Score of continuing a track (predicted box `t`, unseen for `unseen_s`) with detection box `d`, if
/// plausible: IoU above `min_iou` scores 1 + IoU; a centre within `max_center_dist` box widths (more after
/// a gap, [`TrackerConfig::gap_widths_per_s`]) scores less. Either way the size must stay similar.
fn motion_score(t: &BBox, d: &BBox, cfg: &TrackerConfig, allow_distance: bool, unseen_s: f64) -> Option<f32> {
    let size_ratio = t.w.max(d.w) / t.w.min(d.w).max(1.0);
    if size_ratio >= 1.5 {
        return None;
    }
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
    let reach = cfg.max_center_dist + cfg.gap_widths_per_s * unseen_s.clamp(0.0, 0.25) as f32;
    (dist <= reach * scale).then(|| 1.0 - dist / scale)
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
        Self { cfg, tracks: Vec::new(), next_id: 1, next_key: 1, regions: false, retired: Vec::new() }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// Drops every track but keeps counting IDs (independent photos: no face continues another).
    pub(crate) fn forget_tracks(&mut self) {
        self.tracks.clear();
        self.retired.clear();
    }

    /// Persons known so far (IDs handed out).
    pub fn persons(&self) -> u64 {
        self.next_id - 1
    }

    /// Tells the tracker that a region pass runs on every frame ([`Tracker::region_targets`]).
    pub(crate) fn set_regions(&mut self, on: bool) {
        self.regions = on;
    }

    /// Whether the next frame should get a scene pass: a face seen once by a scene pass awaits
    /// confirmation (unless a region pass confirms it), or a person was lost that a scene pass may still see.
    pub(crate) fn wants_scene(&self) -> bool {
        self.tracks.iter().any(|t| t.needs_scene || (!self.regions && !t.confirmed() && !t.fast))
    }

    /// Where the persons seen within the grace period should be at `t_s` (predicted boxes).
    pub(crate) fn known_boxes(&self, t_s: f64) -> Vec<BBox> {
        self.tracks
            .iter()
            .filter(|t| t.confirmed() && t_s - t.last_seen_s <= self.cfg.grace_s)
            .map(|t| t.predicted(t_s).bbox)
            .collect()
    }

    /// The faces a region pass should look for at `t_s`, where no detection of `pass` covers them yet, at
    /// most [`TrackerConfig::region_budget`]: tentative faces first (they need confirming), then persons the
    /// region pass is missing, then the other persons seen within [`TrackerConfig::region_window_s`] by how
    /// long ago they were looked for (at their predicted box; a still face at most every
    /// [`TrackerConfig::region_still_period_s`]), then persons lost for longer (up to `reid_within_s`, every
    /// `region_lost_period_s`, where they were last seen).
    pub(crate) fn region_targets(&self, t_s: f64, pass: &Pass) -> Vec<RegionTarget> {
        let cfg = &self.cfg;
        let mut ranked: Vec<(u8, f64, RegionTarget)> = self
            .tracks
            .iter()
            .filter(|t| t_s >= t.last_seen_s - 1e-9)
            .filter_map(|t| {
                let unseen = t_s - t.last_seen_s;
                let since_look = t_s - t.last_looked_s;
                let (rank, bbox) = if !t.confirmed() {
                    (unseen <= cfg.grace_s).then(|| (0, t.predicted(t_s).bbox))?
                } else if unseen <= cfg.region_window_s {
                    let missed = t.region_missed_since.is_some();
                    if !missed && since_look < cfg.region_still_period_s && t.motion < cfg.region_still_speed {
                        return None;
                    }
                    (if missed { 1 } else { 2 }, t.predicted(t_s).bbox)
                } else if unseen <= cfg.reid_within_s && since_look >= cfg.region_lost_period_s {
                    (3, t.det.bbox)
                } else {
                    return None;
                };
                Some((rank, since_look, RegionTarget { key: t.key, bbox }))
            })
            .filter(|(_, _, r)| !pass.detections.iter().any(|d| same_face(&d.bbox, &r.bbox)))
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        ranked.into_iter().take(cfg.region_budget.max(1)).map(|(_, _, r)| r).collect()
    }

    /// Associates this frame's detections with tracks at time `t_s`. Returns the persons to classify
    /// in this frame, ordered by ID: those seen now and those coasted between scene passes.
    pub(crate) fn associate(&mut self, t_s: f64, pass: &Pass) -> Vec<Observation> {
        let cfg = self.cfg;
        // Forget what cannot come back; a clock going backwards (a new source) starts over.
        self.tracks.retain(|t| {
            let keep_s = if t.confirmed() { cfg.reid_within_s.max(cfg.grace_s) } else { cfg.grace_s };
            t_s - t.last_seen_s <= keep_s && t_s >= t.last_seen_s - 1e-9
        });
        self.retired.retain(|r| t_s - r.at_s <= cfg.reid_within_s && t_s >= r.at_s - 1e-9);
        let dets = &pass.detections;
        let predicted: Vec<Detection> = self.tracks.iter().map(|t| t.predicted(t_s)).collect();
        let recent: Vec<bool> = self.tracks.iter().map(|t| t_s - t.last_seen_s <= cfg.grace_s).collect();
        let high: Vec<bool> = dets.iter().map(|d| d.score >= cfg.high_score).collect();
        // Which confident boxes may start a track: with a region pass, a fast box needs a high score or the
        // scene pass's agreement.
        let regions = self.regions;
        let can_start = |di: usize| {
            high[di]
                && (!regions
                    || di >= pass.fast
                    || dets[di].score >= cfg.fast_start_score
                    || pass.corroborated.get(di).copied().unwrap_or(false))
        };
        let mut track_of_det: Vec<Option<usize>> = vec![None; dets.len()];
        let mut track_used = vec![false; self.tracks.len()];

        // 1. Confident detections to recent tracks.
        let mut pairs = Vec::new();
        for (ti, p) in predicted.iter().enumerate().filter(|&(ti, _)| recent[ti]) {
            for (di, d) in dets.iter().enumerate().filter(|&(di, _)| high[di]) {
                if let Some(s) = motion_score(&p.bbox, &d.bbox, &cfg, true, t_s - self.tracks[ti].last_seen_s) {
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
                if let Some(s) = motion_score(&p.bbox, &d.bbox, &cfg, false, 0.0) {
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
                        let speed = t.speed_widths_per_s();
                        t.motion = speed.max(t.motion * (-dt / MOTION_MEMORY_S).exp());
                    } else {
                        t.vel = Point::default();
                    }
                    t.det = d.clone();
                    t.peak_score = t.peak_score.max(d.score);
                    t.last_seen_s = t_s;
                    t.hits += 1;
                    t.fast = is_fast;
                    t.needs_scene = false;
                    t.scene_missed = false;
                    t.region_missed_since = None;
                }
                // A second box on a person already placed in this frame is not a new person.
                None if can_start(di)
                    && !self.tracks.iter().zip(&predicted).enumerate().any(|(ti, (t, p))| {
                        let b = if track_used[ti] { &t.det.bbox } else { &p.bbox };
                        t.confirmed() && (track_used[ti] || recent[ti]) && same_face(b, &d.bbox)
                    }) =>
                {
                    self.next_key += 1;
                    self.tracks.push(Track {
                        key: self.next_key - 1,
                        id: 0,
                        det: d.clone(),
                        vel: Point::default(),
                        motion: 0.0,
                        smoothed: None,
                        last_seen_s: t_s,
                        last_smoothed_s: t_s,
                        hits: 1,
                        fast: is_fast,
                        needs_scene: false,
                        scene_missed: false,
                        region_missed_since: None,
                        last_looked_s: t_s,
                        peak_score: d.score,
                        appearance: None,
                        appearance_s: f64::NEG_INFINITY,
                        confirmed_s: f64::NAN,
                        low_appearance: 0,
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
            if !t.confirmed() && t.hits >= cfg.min_hits.max(1) && t.peak_score >= cfg.confirm_score {
                t.id = self.next_id;
                self.next_id += 1;
                t.confirmed_s = t_s;
            }
            let looked = pass.looked.contains(&t.key);
            if looked {
                t.last_looked_s = t_s;
            }
            if seen_now {
                if t.confirmed() {
                    out.push(Observation { id: t.id, detection: t.det.clone(), predicted: false });
                }
                continue;
            }
            // Not seen in this frame.
            if !t.confirmed() {
                // A tentative track must be seen again by the pass that found it, or by the region pass
                // (a second detector: a scene pass's false box on a poster rarely fools both).
                if pass.scene || t.fast || looked {
                    dead.push(ti);
                }
                continue;
            }
            if looked {
                let since = *t.region_missed_since.get_or_insert(t_s);
                if t_s - since >= cfg.region_miss_scene_s && !t.scene_missed {
                    // Missed by the region pass for a while: a scene pass decides whether the person is gone.
                    t.needs_scene = true;
                }
            }
            if pass.scene {
                // Looked for and not found: no more scene passes on this face's account.
                t.scene_missed = true;
                t.needs_scene = false;
            }
            if t.fast && (looked || !pass.fast_rested) {
                // Lost by the fast pass (or, while it rests, by the region pass that looked): one scene pass looks for
                // it (not one per frame while it is away).
                if !pass.scene && !t.scene_missed && t_s - t.last_seen_s <= cfg.grace_s {
                    t.needs_scene = true;
                }
            } else if !pass.scene && !t.scene_missed && t_s - t.last_seen_s <= cfg.grace_s.max(4.5) {
                // Only scene passes see this face, or the whole-frame pass that sees it rested and the region
                // pass did not look (a still face): follow it on its prediction until the next look.
                out.push(Observation { id: t.id, detection: t.predicted(t_s), predicted: true });
            }
        }
        for ti in dead.into_iter().rev() {
            self.tracks.remove(ti);
        }
        out.sort_by_key(|o| o.id);
        out
    }

    /// The persons detected in this frame, whose appearance the tracker wants: every frame (a new person is
    /// compared with those lost; a known one is checked to still be themselves). `(id, face box)`.
    pub(crate) fn appearance_wanted(&self, t_s: f64) -> Vec<(u64, BBox)> {
        self.tracks.iter().filter(|t| t.confirmed() && t.last_seen_s == t_s).map(|t| (t.id, t.det.bbox)).collect()
    }

    /// Takes person `id`'s appearance at `t_s`; returns the ID to use from now on, or `None` when the face is no
    /// longer that person (it starts over as a new, tentative face and is not reported in this frame).
    ///
    /// A person who became one in this frame and looks clearly like one lost person — better than
    /// `appearance_min`, and better by `appearance_margin` than any other lost person — is that person: they get
    /// the old ID back (a student who walked out of view, turned away for long, or came back in another tile of
    /// the call). A known person whose box now shows someone else for a few frames running (below
    /// `appearance_change`: a call reordered its tiles, two people crossed) leaves; their identity waits to be
    /// recognised, and the face in the box becomes a new person, who may be recognised in turn.
    pub(crate) fn reidentify(&mut self, t_s: f64, id: u64, seen: Appearance) -> Option<u64> {
        let cfg = self.cfg;
        let Some(ti) = self.tracks.iter().position(|t| t.id == id) else { return Some(id) };
        let is_new = self.tracks[ti].confirmed_s == t_s && self.tracks[ti].appearance.is_none();
        if is_new {
            return Some(self.recognise(t_s, ti, seen));
        }
        let t = &mut self.tracks[ti];
        let Some(a) = &mut t.appearance else {
            t.appearance = Some(seen);
            t.appearance_s = t_s;
            return Some(id);
        };
        let similarity = a.similarity(&seen);
        tracing::trace!(id, similarity, t_s, "appearance");
        if similarity >= cfg.appearance_change {
            t.low_appearance = 0;
            a.blend(&seen, 0.05);
            t.appearance_s = t_s;
            return Some(id);
        }
        t.low_appearance += 1;
        tracing::trace!(id, similarity, n = t.low_appearance, "appearance differs");
        if t.low_appearance < 3 {
            return Some(id);
        }
        tracing::debug!(id, similarity, "someone else in this person's box: the identity leaves, the face starts over");
        self.retired.push(Retired {
            id: t.id,
            appearance: a.clone(),
            smoothed: t.smoothed,
            last_smoothed_s: t.last_smoothed_s,
            at_s: t_s,
        });
        t.id = 0;
        t.hits = 1;
        t.peak_score = t.det.score;
        t.appearance = None;
        t.appearance_s = f64::NEG_INFINITY;
        t.low_appearance = 0;
        t.smoothed = None;
        t.confirmed_s = f64::NAN;
        None
    }

    /// Persons who traded places (a call reordered its tiles, two people crossed): among the persons seen in this
    /// frame whose box looks less like them than [`TrackerConfig::swap_suspect`], a box whose look matches another
    /// of them (at least `appearance_min`, and by `appearance_margin` better than its own person) takes that
    /// person's identity — only when every identity that moves leaves a box another one moves into, so no ID is
    /// ever in two boxes. `looks`: this frame's appearance per person. Returns (ID before, ID now) per moved box.
    pub(crate) fn exchange_swapped(&mut self, looks: &[(u64, Appearance)]) -> Vec<(u64, u64)> {
        let cfg = self.cfg;
        // (track index, this frame's look) of the suspects.
        let suspects: Vec<(usize, &Appearance)> = looks
            .iter()
            .filter_map(|(id, seen)| {
                let ti = self.tracks.iter().position(|t| t.id == *id && *id != 0)?;
                let own = self.tracks[ti].appearance.as_ref()?.similarity(seen);
                (own < cfg.swap_suspect).then_some((ti, seen))
            })
            .collect();
        if suspects.len() < 2 {
            return Vec::new();
        }
        let look = |i: usize| self.tracks[suspects[i].0].appearance.as_ref().expect("suspects have a look");
        // sim[b][p]: how much box b's look is like person p (both indices into `suspects`).
        let sim: Vec<Vec<f32>> =
            suspects.iter().map(|(_, seen)| (0..suspects.len()).map(|p| look(p).similarity(seen)).collect()).collect();
        tracing::trace!(ids = ?suspects.iter().map(|(ti, _)| self.tracks[*ti].id).collect::<Vec<_>>(), ?sim, "swap suspects");
        // Best matches first, one person per box.
        let mut pairs: Vec<(f32, usize, usize)> =
            sim.iter().enumerate().flat_map(|(b, row)| row.iter().enumerate().map(move |(p, &v)| (v, b, p))).collect();
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut person_of: Vec<Option<usize>> = vec![None; suspects.len()];
        let mut taken = vec![false; suspects.len()];
        for (v, b, p) in pairs {
            if v >= cfg.appearance_min && person_of[b].is_none() && !taken[p] {
                person_of[b] = Some(p);
                taken[p] = true;
            }
        }
        // A box moves to another person only when clearly theirs; keep only moves whose person's own box moves
        // too (what remains is a set of cycles: swaps, rotations).
        let mut moves: Vec<Option<usize>> = person_of
            .iter()
            .enumerate()
            .map(|(b, p)| p.filter(|&p| p != b && sim[b][p] >= sim[b][b] + cfg.appearance_margin))
            .collect();
        loop {
            let orphan = (0..moves.len()).find(|&b| moves[b].is_some_and(|p| moves[p].is_none()));
            match orphan {
                Some(b) => moves[b] = None,
                None => break,
            }
        }
        // Identities move with the looks; the motion (the box, its velocity) stays with the track.
        let identity =
            |t: &Track| (t.id, t.appearance.clone(), t.appearance_s, t.smoothed, t.last_smoothed_s, t.confirmed_s);
        let before: Vec<_> = suspects.iter().map(|&(ti, _)| identity(&self.tracks[ti])).collect();
        let mut moved = Vec::new();
        for (b, p) in moves.iter().enumerate().filter_map(|(b, p)| p.map(|p| (b, p))) {
            let t = &mut self.tracks[suspects[b].0];
            let (old, new) = (t.id, before[p].0);
            (t.id, t.appearance, t.appearance_s, t.smoothed, t.last_smoothed_s, t.confirmed_s) = before[p].clone();
            t.low_appearance = 0;
            tracing::debug!(old, new, similarity = sim[b][p], own = sim[b][b], "persons traded places");
            moved.push((old, new));
        }
        moved
    }

    /// A new person (track `ti`) who looks clearly like one lost person takes that person's ID; returns the ID.
    fn recognise(&mut self, t_s: f64, ti: usize, seen: Appearance) -> u64 {
        let cfg = self.cfg;
        let id = self.tracks[ti].id;
        // Lost: persons unseen for longer than the grace period, and identities that left a box.
        let mut scored: Vec<(f32, Lost)> = self
            .tracks
            .iter()
            .enumerate()
            .filter(|&(oi, o)| oi != ti && o.confirmed() && t_s - o.last_seen_s > cfg.grace_s)
            .filter_map(|(oi, o)| o.appearance.as_ref().map(|a| (a.similarity(&seen), Lost::Track(oi))))
            .chain(self.retired.iter().enumerate().map(|(ri, r)| (r.appearance.similarity(&seen), Lost::Retired(ri))))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let clear = match scored.as_slice() {
            [(best, _), (second, _), ..] => *best >= cfg.appearance_min && best - second >= cfg.appearance_margin,
            [(best, _)] => *best >= cfg.appearance_min,
            [] => false,
        };
        let Some(&(similarity, lost)) = scored.first().filter(|_| clear) else {
            let t = &mut self.tracks[ti];
            t.appearance = Some(seen);
            t.appearance_s = t_s;
            return id;
        };
        let (old_id, old_appearance, smoothed, last_smoothed_s, ti) = match lost {
            Lost::Track(oi) => {
                let o = self.tracks.remove(oi);
                (o.id, o.appearance, o.smoothed, o.last_smoothed_s, if oi < ti { ti - 1 } else { ti })
            }
            Lost::Retired(ri) => {
                let r = self.retired.remove(ri);
                (r.id, Some(r.appearance), r.smoothed, r.last_smoothed_s, ti)
            }
        };
        tracing::debug!(new = id, old = old_id, similarity, "re-identified by appearance");
        let t = &mut self.tracks[ti];
        t.id = old_id;
        let mut a = old_appearance.unwrap_or_else(|| seen.clone());
        a.blend(&seen, 0.5);
        t.appearance = Some(a);
        t.appearance_s = t_s;
        (t.smoothed, t.last_smoothed_s) = (smoothed, last_smoothed_s);
        // The new ID was never used (this is its first frame): the next person gets it.
        if id + 1 == self.next_id {
            self.next_id = id;
        }
        old_id
    }

    /// Which of `observations` the emotion model looks at in this frame when it may look at no more than
    /// `budget` faces (the live window in a large gallery): persons it never looked at first, then those it
    /// looked at longest ago, so each face's turn comes round every few frames. `None`: every face.
    pub(crate) fn to_classify(&self, observations: &[Observation], budget: Option<usize>) -> Vec<bool> {
        let Some(budget) = budget.filter(|&b| b < observations.len()) else {
            return vec![true; observations.len()];
        };
        // (never classified, when last classified, position) — never-classified first, then the oldest.
        let mut order: Vec<(bool, f64, usize)> = observations
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let t = self.tracks.iter().find(|t| t.id == o.id);
                let last = t.filter(|t| t.smoothed.is_some()).map(|t| t.last_smoothed_s);
                (last.is_some(), last.unwrap_or(f64::NEG_INFINITY), i)
            })
            .collect();
        order.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut chosen = vec![false; observations.len()];
        for &(_, _, i) in order.iter().take(budget.max(1)) {
            chosen[i] = true;
        }
        chosen
    }

    /// Smooths this frame's probabilities into each observed person's (`probs` in the observations'
    /// order; `None` for a face the emotion model did not look at in this frame, which keeps its smoothed
    /// probabilities and has no `raw`). `probs` `None`: no emotion model ran (attention-only mode), the
    /// faces carry no probabilities.
    pub(crate) fn smooth(
        &mut self,
        t_s: f64,
        observations: Vec<Observation>,
        probs: Option<&[Option<Probs>]>,
    ) -> Vec<TrackedFace> {
        let mut out = Vec::with_capacity(observations.len());
        for (i, o) in observations.into_iter().enumerate() {
            let Some(t) = self.tracks.iter_mut().find(|t| t.id == o.id) else { continue };
            let Some(probs) = probs else {
                out.push(TrackedFace { id: o.id, detection: o.detection, raw: None, smoothed: None });
                continue;
            };
            let Some(&raw) = probs.get(i) else { break };
            let Some(raw) = raw else {
                out.push(TrackedFace { id: o.id, detection: o.detection, raw: None, smoothed: t.smoothed });
                continue;
            };
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

    /// Both steps at once, for callers whose detections all come from one whole-frame pass (the unit tests).
    #[cfg(test)]
    pub(crate) fn update(
        &mut self,
        t_s: f64,
        detections: &[Detection],
        probs_of: impl Fn(&Detection) -> Probs,
    ) -> Vec<TrackedFace> {
        let pass = Pass { detections: detections.to_vec(), fast: detections.len(), scene: true, ..Default::default() };
        let obs = self.associate(t_s, &pass);
        let probs: Vec<Option<Probs>> = obs.iter().map(|o| Some(probs_of(&o.detection))).collect();
        self.smooth(t_s, obs, Some(&probs))
    }
}

/// Weight of a new observation arriving `dt` seconds after the previous one, for time constant `tau`.
pub(crate) fn smoothing_weight(dt: f64, tau: f64) -> f32 {
    if tau <= 0.0 { 1.0 } else { (1.0 - (-dt / tau).exp()) as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
            let obs = t.associate(ts, &Pass { detections: dets, fast: 0, scene: true, ..Default::default() });
            obs.iter().map(|o| (o.id, o.predicted)).collect::<Vec<_>>()
        };
        let fast = |t: &mut Tracker, ts: f64| {
            let obs = t.associate(ts, &Pass { detections: Vec::new(), fast: 0, scene: false, ..Default::default() });
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

    /// One frame with a region pass: `scene` detections (a scene pass when `Some`), then the region pass
    /// finds `found` around whatever the tracker asks it to look at. Returns (id, predicted) per person.
    fn with_regions(tr: &mut Tracker, ts: f64, scene: Option<Vec<Detection>>, found: &[Detection]) -> Vec<(u64, bool)> {
        tr.set_regions(true);
        let mut pass = Pass { scene: scene.is_some(), detections: scene.unwrap_or_default(), ..Default::default() };
        let targets = tr.region_targets(ts, &pass);
        for t in &targets {
            if let Some(d) = found.iter().find(|d| same_face(&d.bbox, &t.bbox)) {
                pass.detections.push(d.clone());
            }
        }
        pass.looked = targets.iter().map(|t| t.key).collect();
        tr.associate(ts, &pass).iter().map(|o| (o.id, o.predicted)).collect()
    }

    #[test]
    fn a_region_pass_observes_a_moving_small_face_in_every_frame_under_one_id() {
        let mut tr = Tracker::new(TrackerConfig::default());
        // A 30-px face a scene pass finds once, then only the region pass sees, moving 3 px per frame
        // (90 px/s, a head turning and a body swaying in a gallery tile) for 5 s without another scene pass.
        let at = |k: u32| det(500.0 + 3.0 * k as f32, 300.0, 30.0);
        assert!(with_regions(&mut tr, 0.0, Some(vec![at(0)]), &[]).is_empty());
        assert!(!tr.wants_scene(), "the region pass confirms a new face: no scene pass on every frame");
        assert!(with_regions(&mut tr, 1.0 / 15.0, None, &[at(1)]).is_empty());
        let mut observed = 0;
        for k in 2..75 {
            let ts = k as f64 / 15.0;
            let out = with_regions(&mut tr, ts, None, &[at(k)]);
            assert_eq!(out.len(), 1, "frame {k}: the person has a box");
            assert_eq!(out[0].0, 1);
            observed += usize::from(!out[0].1);
            // Between looks the box is predicted from the motion: a pixel or two off at most.
            let b = tr.tracks[0].predicted(ts).bbox;
            assert!((b.x - at(k).bbox.x).abs() < 3.0, "frame {k}: predicted x {} vs {}", b.x, at(k).bbox.x);
        }
        assert_eq!(observed, 73, "one face is within the region budget: observed in every frame");
        assert_eq!(tr.persons(), 1);
    }

    #[test]
    fn over_the_region_budget_every_face_is_looked_for_in_turn() {
        let mut tr = Tracker::new(TrackerConfig::default());
        // A 5x5 gallery: 25 faces, a budget of 8 looks per frame.
        let faces: Vec<Detection> =
            (0..25).map(|i| det(40.0 + 380.0 * (i % 5) as f32, 30.0 + 210.0 * (i / 5) as f32, 50.0)).collect();
        with_regions(&mut tr, 0.0, Some(faces.clone()), &[]);
        let mut last_seen: HashMap<u64, usize> = HashMap::new();
        for k in 1..60 {
            let ts = k as f64 / 15.0;
            let pass = Pass::default();
            let targets = tr.region_targets(ts, &pass);
            assert!(targets.len() <= 8, "frame {k}: {} looks", targets.len());
            let out = with_regions(&mut tr, ts, None, &faces);
            // 25 new faces take a few frames to confirm at 8 looks per frame.
            if k >= 12 {
                assert_eq!(out.len(), 25, "frame {k}: every face has a box");
                for (id, predicted) in out {
                    if !predicted {
                        last_seen.insert(id, k);
                    }
                    assert!(k - last_seen.get(&id).copied().unwrap_or(k) <= 4, "frame {k}: face {id} unobserved");
                }
            }
        }
        assert_eq!(tr.persons(), 25);
    }

    #[test]
    fn still_faces_are_looked_for_less_often_and_a_moving_one_in_every_frame() {
        let mut tr = Tracker::new(TrackerConfig::default());
        // A 3x3 gallery at 15 fps: eight still faces, and one (the centre tile) whose head sways 3 px a frame, to
        // and fro.
        let sway = |k: usize| 3.0 * (if k % 60 < 30 { k % 60 } else { 60 - k % 60 }) as f32;
        let at = |i: usize, k: usize| {
            let x = 40.0 + 420.0 * (i % 3) as f32 + if i == 4 { sway(k) } else { 0.0 };
            det(x, 30.0 + 240.0 * (i / 3) as f32, 60.0)
        };
        let frame = |k: usize| (0..9).map(|i| at(i, k)).collect::<Vec<_>>();
        with_regions(&mut tr, 0.0, Some(frame(0)), &[]);
        let (mut looks, mut last_seen, mut moving_seen) = (0, HashMap::new(), 0);
        for k in 1..90 {
            let ts = k as f64 / 15.0;
            if k >= 10 {
                looks += tr.region_targets(ts, &Pass::default()).len();
            }
            let out = with_regions(&mut tr, ts, None, &frame(k));
            if k < 10 {
                continue;
            }
            assert_eq!(out.len(), 9, "frame {k}: every face has a box");
            for (id, predicted) in out {
                if !predicted {
                    last_seen.insert(id, k);
                }
                let unseen = k - last_seen.get(&id).copied().unwrap_or(k);
                assert!(unseen <= 5, "frame {k}: face {id} unobserved for {unseen} frames");
            }
            // The swaying face is observed in (nearly) every frame: where it turns back, its box is still for a moment.
            let centre = tr.tracks.iter().find(|t| (t.det.bbox.y - 270.0).abs() < 1.0 && t.det.bbox.x > 400.0);
            let centre = centre.filter(|t| t.det.bbox.x < 900.0).expect("the centre face");
            moving_seen += usize::from((centre.last_seen_s - ts).abs() < 1e-9);
        }
        let per_frame = looks as f64 / 80.0;
        // Looking at every face in every frame would be 9 looks: the still ones need one every 0.3 s.
        assert!(per_frame < 4.0, "{per_frame:.1} looks per frame");
        assert!(moving_seen >= 72, "the moving face observed in {moving_seen} of 80 frames");
        assert_eq!(tr.persons(), 9);
    }

    #[test]
    fn a_weak_fast_box_the_scene_pass_does_not_see_never_becomes_a_person() {
        // A mug with a printed face at someone's chest: the fast pass scores it 0.5–0.77, CenterFace never.
        let mug = scored(20.0, 136.0, 140.0, 0.7);
        let fast_only = |corroborated: bool, scene: bool| Pass {
            detections: vec![mug.clone()],
            fast: 1,
            scene,
            corroborated: vec![corroborated],
            ..Default::default()
        };
        let mut tr = Tracker::new(TrackerConfig::default());
        tr.set_regions(true);
        tr.associate(0.0, &fast_only(false, true));
        for k in 1..30 {
            assert!(tr.associate(k as f64 / 30.0, &fast_only(false, false)).is_empty());
        }
        assert_eq!(tr.persons(), 0);
        // A real face the fast pass scores as weakly, which the scene pass also finds: a person.
        let mut tr = Tracker::new(TrackerConfig::default());
        tr.set_regions(true);
        tr.associate(0.0, &fast_only(true, true));
        let mut out = Vec::new();
        for k in 1..5 {
            out = tr.associate(k as f64 / 30.0, &fast_only(false, false));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(tr.persons(), 1);
    }

    #[test]
    fn a_scene_box_the_region_pass_does_not_confirm_never_becomes_a_person() {
        let mut tr = Tracker::new(TrackerConfig::default());
        // A false box on a poster: the scene pass sees it on each of its passes, BlazeFace around it never.
        let poster = det(100.0, 100.0, 80.0);
        for pass_no in 0..10 {
            let t0 = pass_no as f64 * 0.5;
            with_regions(&mut tr, t0, Some(vec![poster.clone()]), &[]);
            for k in 1..7 {
                assert!(with_regions(&mut tr, t0 + k as f64 / 15.0, None, &[]).is_empty());
            }
        }
        assert_eq!(tr.persons(), 0);
    }

    #[test]
    fn a_person_the_region_pass_loses_asks_for_a_scene_pass_that_ends_the_coasting() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let face = det(500.0, 300.0, 30.0);
        with_regions(&mut tr, 0.0, Some(vec![face.clone()]), &[]);
        for k in 1..15 {
            with_regions(&mut tr, k as f64 / 15.0, None, std::slice::from_ref(&face));
        }
        // The tile goes black: coasted for a moment (a still face is looked for every 0.3 s, then missed for
        // 0.3 s), then a scene pass is asked for and settles it.
        let mut k = 15;
        while !tr.wants_scene() {
            assert_eq!(with_regions(&mut tr, k as f64 / 15.0, None, &[]), vec![(1, true)]);
            k += 1;
            assert!(k < 15 + 13, "no scene pass asked for after {} frames", k - 15);
        }
        assert!(with_regions(&mut tr, k as f64 / 15.0, Some(Vec::new()), &[]).is_empty());
        assert!(with_regions(&mut tr, (k + 1) as f64 / 15.0, None, &[]).is_empty(), "not coasted after the miss");
        // Back after 10 s at the same place: the old ID.
        let t = 11.0;
        with_regions(&mut tr, t, Some(vec![face.clone()]), &[]);
        let mut out = Vec::new();
        for j in 1..4 {
            out = with_regions(&mut tr, t + j as f64 / 15.0, None, std::slice::from_ref(&face));
        }
        // (Observed or, a still face between two looks, predicted.)
        assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(tr.persons(), 1);
    }

    #[test]
    fn a_face_the_fast_pass_loses_asks_for_a_scene_pass() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for k in 0..4 {
            let d = vec![det(10.0, 10.0, 50.0)];
            tr.associate(k as f64 / 30.0, &Pass { detections: d, fast: 1, scene: false, ..Default::default() });
        }
        assert!(!tr.wants_scene());
        assert!(
            tr.associate(4.0 / 30.0, &Pass { detections: Vec::new(), fast: 0, scene: false, ..Default::default() })
                .is_empty()
        );
        assert!(tr.wants_scene());
        // The scene pass does not find it either (the student left): no scene pass on every later frame.
        tr.associate(5.0 / 30.0, &Pass { detections: Vec::new(), fast: 0, scene: true, ..Default::default() });
        assert!(!tr.wants_scene());
        tr.associate(6.0 / 30.0, &Pass { detections: Vec::new(), fast: 0, scene: false, ..Default::default() });
        assert!(!tr.wants_scene(), "one scene pass per loss, not one per frame");
    }

    #[test]
    fn a_face_of_the_fast_pass_is_predicted_not_lost_while_that_pass_rests() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for k in 0..4 {
            let d = vec![det(10.0, 10.0, 50.0)];
            tr.associate(k as f64 / 30.0, &Pass { detections: d, fast: 1, scene: false, ..Default::default() });
        }
        // The whole-frame pass rests and the region pass does not look (a still face): a predicted box, no scene.
        let rested = Pass { fast_rested: true, ..Default::default() };
        let out = tr.associate(4.0 / 30.0, &rested);
        assert_eq!(out.iter().map(|o| (o.id, o.predicted)).collect::<Vec<_>>(), vec![(1, true)]);
        assert!(!tr.wants_scene());
        // The whole-frame pass runs again and misses it: one scene pass looks.
        assert!(tr.associate(5.0 / 30.0, &Pass::default()).is_empty());
        assert!(tr.wants_scene());
    }

    #[test]
    fn with_a_budget_every_face_is_classified_in_turn_and_keeps_its_emotion_between_turns() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let row: Vec<Detection> = (0..5).map(|i| det(10.0 + 100.0 * i as f32, 10.0, 50.0)).collect();
        let mut last_classified: HashMap<u64, usize> = HashMap::new();
        for k in 0..40 {
            let t_s = k as f64 / 15.0;
            let pass = Pass { detections: row.clone(), fast: row.len(), scene: true, ..Default::default() };
            let obs = tr.associate(t_s, &pass);
            let chosen = tr.to_classify(&obs, Some(2));
            assert_eq!(chosen.iter().filter(|c| **c).count(), 2.min(obs.len()), "frame {k}: the budget is used");
            // The faces left of x = 200 are happy, the others sad; the unchosen carry no raw output.
            let probs: Vec<Option<Probs>> =
                obs.iter().zip(&chosen).map(|(o, &c)| c.then(|| by_side(&o.detection))).collect();
            let faces = tr.smooth(t_s, obs, Some(&probs));
            for (f, &c) in faces.iter().zip(&chosen) {
                assert_eq!(f.raw.is_some(), c);
                if c {
                    last_classified.insert(f.id, k);
                }
                if last_classified.contains_key(&f.id) {
                    let want = if f.detection.bbox.x < 200.0 { 3 } else { 5 };
                    assert_eq!(f.emotion(), Some(want), "frame {k}: person {} keeps its emotion", f.id);
                }
            }
            if k >= 10 {
                for f in &faces {
                    let since = k - last_classified.get(&f.id).copied().unwrap_or(0);
                    assert!(
                        since < 3,
                        "frame {k}: person {} last classified {since} frames ago (5 faces, 2 a frame)",
                        f.id
                    );
                }
            }
        }
        assert_eq!(tr.to_classify(&[], Some(2)), Vec::<bool>::new());
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

    /// A frame 600x200 with a person (skin-coloured face box, `shirt` below it) in each of `people`.
    fn frame_with(people: &[(BBox, [u8; 3])]) -> image::RgbImage {
        let mut img = image::RgbImage::from_pixel(600, 200, image::Rgb([200, 200, 200]));
        for (b, shirt) in people {
            for y in 0..200u32 {
                for x in 0..600u32 {
                    let (fx, fy) = (x as f32, y as f32);
                    let face = fx >= b.x && fx < b.x + b.w && fy >= b.y && fy < b.y + b.h;
                    let body = fx >= b.x - 0.5 * b.w && fx < b.x + 1.5 * b.w && fy >= b.y + 1.1 * b.h;
                    if face {
                        img.put_pixel(x, y, image::Rgb([210, 160, 130]));
                    } else if body {
                        img.put_pixel(x, y, image::Rgb(*shirt));
                    }
                }
            }
        }
        img
    }

    /// Runs frames `from..from+n` (10 fps) with `dets`, then gives each detected person's appearance in `img`.
    fn seen(tr: &mut Tracker, from: u32, n: u32, dets: &[Detection], img: &image::RgbImage) -> Vec<u64> {
        let mut ids = Vec::new();
        for k in from..from + n {
            let ts = f64::from(k) / 10.0;
            let faces = tr.update(ts, dets, |_| HAPPY);
            ids = faces.iter().map(|f| f.id).collect();
            for (id, b) in tr.appearance_wanted(ts) {
                let now = tr.reidentify(ts, id, super::appearance::describe(img, &b).unwrap()).unwrap();
                ids.iter_mut().filter(|i| **i == id).for_each(|i| *i = now);
            }
        }
        ids
    }

    /// Like [`seen`], with persons trading places first (as the pipeline does): (box x, ID) per face, left to right.
    fn seen_trading(tr: &mut Tracker, from: u32, n: u32, dets: &[Detection], img: &image::RgbImage) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for k in from..from + n {
            let ts = f64::from(k) / 10.0;
            let faces = tr.update(ts, dets, |_| HAPPY);
            let looks: Vec<_> = tr
                .appearance_wanted(ts)
                .into_iter()
                .map(|(id, b)| (id, super::appearance::describe(img, &b).unwrap()))
                .collect();
            let moved = tr.exchange_swapped(&looks);
            let now_of = |id: u64| moved.iter().find(|(before, _)| *before == id).map_or(id, |(_, now)| *now);
            for (id, look) in looks {
                assert_eq!(tr.reidentify(ts, now_of(id), look), Some(now_of(id)));
            }
            out = faces.iter().map(|f| (f.detection.bbox.x as u32, now_of(f.id))).collect();
            out.sort();
        }
        out
    }

    #[test]
    fn persons_who_trade_places_keep_their_ids_and_nobody_takes_an_id_that_stays() {
        let (l, m, r) = (det(60.0, 30.0, 40.0), det(280.0, 30.0, 40.0), det(480.0, 30.0, 40.0));
        let (red, blue, green, yellow) = ([200, 30, 30], [30, 40, 200], [30, 180, 40], [220, 210, 30]);
        let boxes = [l.clone(), m.clone(), r.clone()];
        let calm = frame_with(&[(l.bbox, red), (m.bbox, blue), (r.bbox, green)]);
        let mut tr = Tracker::new(TrackerConfig::default());
        assert_eq!(seen_trading(&mut tr, 0, 10, &boxes, &calm), vec![(60, 1), (280, 2), (480, 3)]);
        // Red and green trade places (the boxes stay where they were): the IDs go with them; blue stays.
        let traded = frame_with(&[(l.bbox, green), (m.bbox, blue), (r.bbox, red)]);
        assert_eq!(seen_trading(&mut tr, 10, 5, &boxes, &traded), vec![(60, 3), (280, 2), (480, 1)]);
        // Green (now left) becomes yellow, whom nobody looked like: no one takes another's ID.
        let strange = frame_with(&[(l.bbox, yellow), (m.bbox, blue), (r.bbox, red)]);
        assert_eq!(seen_trading(&mut tr, 15, 2, &boxes, &strange), vec![(60, 3), (280, 2), (480, 1)]);
        // Blue's box shows red too while red stays on the right: red's ID must not be in two boxes, and blue's look
        // belongs to no one else here — nothing moves.
        let mut tr = Tracker::new(TrackerConfig::default());
        seen_trading(&mut tr, 0, 10, &boxes, &calm);
        let twice = frame_with(&[(l.bbox, red), (m.bbox, red), (r.bbox, green)]);
        assert_eq!(seen_trading(&mut tr, 10, 2, &boxes, &twice), vec![(60, 1), (280, 2), (480, 3)]);
        // Two suspects: red's box now shows blue, blue's box someone new (yellow). Blue's look is in red's box, but
        // blue's own box gives the identity to no one: moving it would put blue's ID in two boxes — nothing moves.
        let mut tr = Tracker::new(TrackerConfig::default());
        seen_trading(&mut tr, 0, 10, &boxes, &calm);
        let half_swap = frame_with(&[(l.bbox, blue), (m.bbox, yellow), (r.bbox, green)]);
        assert_eq!(seen_trading(&mut tr, 10, 2, &boxes, &half_swap), vec![(60, 1), (280, 2), (480, 3)]);
    }

    #[test]
    fn a_person_who_returns_elsewhere_is_recognised_by_appearance_only_when_clearly_themselves() {
        let (left, right) = (det(60.0, 30.0, 40.0), det(480.0, 30.0, 40.0));
        let red = frame_with(&[(left.bbox, [200, 30, 30])]);
        let red_right = frame_with(&[(right.bbox, [200, 30, 30])]);
        let blue_right = frame_with(&[(right.bbox, [30, 40, 200])]);
        // Red leaves the left of the picture and comes back on the right 3 s later: the old ID.
        let mut tr = Tracker::new(TrackerConfig::default());
        assert_eq!(seen(&mut tr, 0, 5, std::slice::from_ref(&left), &red), vec![1]);
        assert_eq!(seen(&mut tr, 35, 5, std::slice::from_ref(&right), &red_right), vec![1]);
        assert_eq!(tr.persons(), 1, "no ID was spent on the return");
        // Someone else (a blue shirt) coming in there is a new person.
        let mut tr = Tracker::new(TrackerConfig::default());
        seen(&mut tr, 0, 5, std::slice::from_ref(&left), &red);
        assert_eq!(seen(&mut tr, 35, 5, std::slice::from_ref(&right), &blue_right), vec![2]);
        // Two lost persons who look the same: no guess, a new ID (a swap is worse than a new ID).
        let mut tr = Tracker::new(TrackerConfig::default());
        let (a, b) = (det(60.0, 30.0, 40.0), det(260.0, 30.0, 40.0));
        let twins = frame_with(&[(a.bbox, [200, 30, 30]), (b.bbox, [200, 30, 30])]);
        assert_eq!(seen(&mut tr, 0, 5, &[a, b], &twins), vec![1, 2]);
        assert_eq!(seen(&mut tr, 35, 5, std::slice::from_ref(&right), &red_right), vec![3]);
    }
}
