//! Which detector looks at which frame: the choice a user makes (`--detector`), and the schedule that
//! makes the default both thorough on a class scene and fast on one person at a webcam.
//!
//! `auto` runs BlazeFace short-range on the whole frame (about 1.5 ms: it finds the large faces of
//! people near the camera) — on every frame while no face is followed, else every `fast_period_s`, since
//! the region pass (`Tracker::region_targets`) looks at the faces followed — and CenterFace on the whole
//! scene now and then (tens of ms: it finds everyone down to ~32 px faces — a video-call gallery, a room).
//! The interval adapts: right after a scene pass that found faces nobody follows yet, the next comes
//! soon; while scene passes find nothing new, the interval doubles up to `max_interval_s`. A face seen
//! once by a scene pass asks for another pass on the next frame, so a new person is confirmed within a
//! few frames.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::centerface::CenterFace;
use super::{DetectMode, Detection, FaceDetector, same_face, suppress_same_faces};
use crate::classify::ModelError;

/// The detector a user picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DetectorChoice {
    /// BlazeFace on the whole frame and around each face followed, plus CenterFace scene passes at adaptive
    /// intervals: everyone from ~32 px faces up, in 640x480 to 1920x1080 frames, at close to BlazeFace's
    /// speed for one person.
    #[default]
    Auto,
    /// BlazeFace short-range on the whole frame only: fastest; faces of about a fifth of the frame or more.
    Blazeface,
    /// BlazeFace short-range on overlapping tiles of several sizes (slow; kept for comparison).
    Tiled,
    /// CenterFace on every frame: the most thorough, the slowest.
    Centerface,
}

impl DetectorChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorChoice::Auto => "auto",
            DetectorChoice::Blazeface => "blazeface",
            DetectorChoice::Tiled => "tiled",
            DetectorChoice::Centerface => "centerface",
        }
    }

    pub const ALL: [DetectorChoice; 4] =
        [DetectorChoice::Auto, DetectorChoice::Blazeface, DetectorChoice::Tiled, DetectorChoice::Centerface];

    /// Whether this choice needs the CenterFace model.
    pub fn needs_centerface(self) -> bool {
        matches!(self, DetectorChoice::Auto | DetectorChoice::Centerface)
    }
}

/// In `auto`, the fast pass reports only faces at least this share of the frame's longer side.
pub(crate) const FAST_MIN_FACE_SHARE: f32 = 0.2;

/// Knobs of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SceneConfig {
    /// CenterFace looks at the frame shrunk to this many pixels on its longer side (faces of 32 px in a
    /// 1920x1080 frame stay above CenterFace's ~10 px floor at 640).
    pub max_side: u32,
    /// Interval between scene passes while they find faces BlazeFace misses (seconds of source time).
    pub min_interval_s: f64,
    /// Longest interval, reached while scene passes find nothing new.
    pub max_interval_s: f64,
    /// Scores from here up are faces; from `low_score` to here they only continue a known face.
    pub min_score: f32,
    pub low_score: f32,
    /// While every followed face is looked at by the region pass, the whole-frame BlazeFace pass runs only
    /// this often (seconds of source time): between its runs it could find only a large face that just
    /// arrived. 0 runs it on every frame.
    #[serde(default = "default_fast_period_s")]
    pub fast_period_s: f64,
}

fn default_fast_period_s() -> f64 {
    0.1
}

impl Default for SceneConfig {
    fn default() -> Self {
        Self {
            max_side: 640,
            min_interval_s: 0.5,
            max_interval_s: 4.0,
            min_score: 0.5,
            low_score: 0.3,
            fast_period_s: default_fast_period_s(),
        }
    }
}

/// What the detectors found in one frame.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    /// One box per face, every score from `low_score` up; `detections[..fast]` come from BlazeFace.
    pub detections: Vec<Detection>,
    pub fast: usize,
    /// Whether a scene-wide pass looked at this frame (a face it did not find is really missing).
    pub scene: bool,
    /// Tracks (their keys, [`crate::track::RegionTarget`]) the region pass looked for in this frame; what
    /// it found is at the end of `detections`.
    pub looked: Vec<u64>,
    /// Per fast box (`detections[..fast]`): the scene pass of this frame found the same face too.
    pub corroborated: Vec<bool>,
    /// The whole-frame BlazeFace pass rested on this frame (`fast_period_s`): a face it followed and that the
    /// region pass did not look at is not missing, only not looked at.
    pub fast_rested: bool,
}

/// The detectors behind a [`DetectorChoice`], and the schedule of scene passes.
pub struct SceneDetector {
    choice: DetectorChoice,
    blazeface: FaceDetector,
    centerface: Option<CenterFace>,
    /// CenterFace on its own thread ([`SceneDetector::start_scene_thread`]); `centerface` is then `None`.
    worker: Option<SceneWorker>,
    cfg: SceneConfig,
    next_scene_s: Option<f64>,
    interval_s: f64,
    scene_passes: u64,
    region_looks: u64,
    /// When the whole-frame BlazeFace pass last ran (source time).
    last_fast_s: Option<f64>,
    fast_passes: u64,
}

impl SceneDetector {
    /// `centerface` is required for `auto` and `centerface`.
    pub fn new(
        choice: DetectorChoice,
        mut blazeface: FaceDetector,
        centerface: Option<CenterFace>,
        cfg: SceneConfig,
    ) -> Self {
        let mode = if choice == DetectorChoice::Tiled { DetectMode::Tiled { tile: 256 } } else { DetectMode::Single };
        let low = if choice == DetectorChoice::Tiled { cfg.min_score } else { cfg.low_score };
        blazeface.set_config(super::DetectorConfig { mode, min_score: low, ..*blazeface.config() });
        Self {
            choice,
            blazeface,
            centerface,
            worker: None,
            cfg,
            next_scene_s: None,
            interval_s: cfg.min_interval_s,
            scene_passes: 0,
            region_looks: 0,
            last_fast_s: None,
            fast_passes: 0,
        }
    }

    pub fn choice(&self) -> DetectorChoice {
        self.choice
    }

    /// CenterFace passes run so far (what the scene schedule costs).
    pub(crate) fn scene_passes(&self) -> u64 {
        self.scene_passes
    }

    /// Faces looked for by the region pass so far (a BlazeFace run each).
    pub(crate) fn region_looks(&self) -> u64 {
        self.region_looks
    }

    /// Whole-frame BlazeFace passes run so far.
    pub fn fast_passes(&self) -> u64 {
        self.fast_passes
    }

    /// Whether the whole-frame pass may rest on the frame at `t_s` (`auto`): faces are followed (`known`, which
    /// the region pass looks at) and it ran less than `fast_period_s` ago. Its job between runs is only a large
    /// face that has just come into the picture; a new small face is the scene pass's anyway.
    fn fast_pass_rests(&self, t_s: f64, known: &[crate::geometry::BBox]) -> bool {
        !known.is_empty()
            && self.last_fast_s.is_some_and(|last| t_s + 1e-9 >= last && t_s - last < self.cfg.fast_period_s - 1e-9)
    }

    pub fn config(&self) -> &SceneConfig {
        &self.cfg
    }

    pub fn provider(&self) -> &crate::runtime::Provider {
        self.blazeface.provider()
    }

    /// Start over (a new source): the next frame gets a scene pass.
    pub(crate) fn reset(&mut self) {
        self.next_scene_s = None;
        self.interval_s = self.cfg.min_interval_s;
        self.last_fast_s = None;
        if let Some(w) = self.worker.as_mut() {
            // A pass begun on the old source must not add its faces to the new one.
            w.discard();
        }
    }

    /// Moves the scene pass (`auto`) to a thread of its own (without one it stays inline): `analyze` starts the
    /// pass of a frame it has read ahead ([`SceneDetector::prefetch`]) while the frames before it are analysed;
    /// that frame then waits for exactly its own pass, so every result is the same as inline.
    ///
    /// (Tried for the live window too, a pass whose faces join whichever frame is analysed when it ends: on
    /// a 5x5 1080p gallery the per-frame latency's p95 came out 4–19 ms worse (three paired runs) than with a
    /// light scene-pass frame, the pass's CPU shared out over every frame; so the window waits for its pass.)
    pub(crate) fn start_scene_thread(&mut self) {
        if self.choice != DetectorChoice::Auto || self.worker.is_some() {
            return;
        }
        if let Some(cf) = self.centerface.take() {
            match SceneWorker::spawn(cf, self.cfg) {
                Ok(w) => self.worker = Some(w),
                Err(cf) => {
                    tracing::warn!("could not start the scene detector's thread; scene passes run inline");
                    self.centerface = Some(*cf);
                }
            }
        }
    }

    /// Whether the schedule, as it stands, gives the frame at `t_s` a scene pass (a pass asked for in
    /// between — a face to confirm — may move it).
    fn scene_expected(&self, t_s: f64) -> bool {
        self.choice == DetectorChoice::Auto
            && self.next_scene_s.is_none_or(|next| t_s >= next || t_s + 1e-9 < next - self.cfg.max_interval_s)
    }

    /// Starts the scene pass of a frame read ahead (at `t_s`), when the schedule expects one there and the
    /// scene thread is free: it runs on the other core while the frames before it are analysed. Returns
    /// whether this frame is one the schedule expects a pass on (the caller then looks no further ahead).
    pub(crate) fn prefetch(&mut self, frame: &RgbImage, t_s: f64) -> Result<bool, ModelError> {
        // Before the first pass the schedule has no time yet: the first frame gets the pass.
        if self.next_scene_s.is_none() || !self.scene_expected(t_s) {
            return Ok(false);
        }
        if let Some(w) = self.worker.as_mut().filter(|w| w.idle()) {
            w.start(t_s, frame)?;
        }
        Ok(true)
    }

    /// Finds the faces of the frame at `t_s`. `want_scene` asks for a scene pass now (a face seen once
    /// awaits confirmation; a still image). `known`: where the faces already followed are (predicted
    /// boxes); a scene pass that finds only those lets the interval grow. A pass started ahead of time on
    /// this frame (`SceneDetector::prefetch`) gives its result.
    pub fn detect(
        &mut self,
        frame: &RgbImage,
        t_s: f64,
        want_scene: bool,
        known: &[crate::geometry::BBox],
    ) -> Result<Pass, ModelError> {
        let scene_due = match self.choice {
            DetectorChoice::Blazeface | DetectorChoice::Tiled => false,
            DetectorChoice::Centerface => true,
            DetectorChoice::Auto => want_scene || self.scene_expected(t_s),
        };
        let fast_rested = self.choice == DetectorChoice::Auto && !scene_due && self.fast_pass_rests(t_s, known);
        let mut fast = match self.choice {
            DetectorChoice::Centerface => Vec::new(),
            _ if fast_rested => Vec::new(),
            _ => {
                self.last_fast_s = Some(t_s);
                self.fast_passes += 1;
                self.blazeface.detect(frame)?
            }
        };
        if self.choice == DetectorChoice::Auto {
            // Short-range BlazeFace on the whole frame is reliable for faces of a fifth of the frame or
            // more; on smaller ones it gives boxes of the wrong size (or around several faces). Those faces
            // are the scene pass's.
            let floor = frame.width().max(frame.height()) as f32 * FAST_MIN_FACE_SHARE;
            fast.retain(|d| d.bbox.w.max(d.bbox.h) >= floor);
        }
        let found = match (self.centerface.as_mut(), self.worker.as_mut()) {
            (Some(cf), _) if scene_due => Some(cf.detect(frame, self.cfg.max_side, self.cfg.low_score)?),
            (_, Some(w)) if scene_due => Some(w.run(t_s, frame)?),
            (_, Some(w)) => {
                // A pass started ahead of time for this frame, or one before it, that the schedule no longer wants.
                if w.pending.is_some_and(|p| p <= t_s + 1e-9) {
                    w.discard();
                }
                None
            }
            _ => None,
        };
        let Some(found) = found else {
            let n = fast.len();
            return Ok(Pass {
                detections: fast,
                fast: n,
                scene: self.choice != DetectorChoice::Auto,
                looked: Vec::new(),
                corroborated: Vec::new(),
                fast_rested,
            });
        };
        self.scene_passes += 1;
        let scene_boxes = suppress_same_faces(found);
        let (fast, extra) = merge_passes(fast, scene_boxes.clone(), self.cfg.min_score);
        let corroborated = fast.iter().map(|f| scene_boxes.iter().any(|d| same_face(&f.bbox, &d.bbox))).collect();
        let fast_n = fast.len();
        if self.choice == DetectorChoice::Auto {
            let new_faces =
                extra.iter().any(|d| d.score >= self.cfg.min_score && !known.iter().any(|k| same_face(k, &d.bbox)));
            self.interval_s =
                if new_faces { self.cfg.min_interval_s } else { (self.interval_s * 2.0).min(self.cfg.max_interval_s) };
            self.next_scene_s = Some(t_s + self.interval_s);
        }
        let mut detections = fast;
        detections.extend(extra);
        Ok(Pass { detections, fast: fast_n, scene: true, looked: Vec::new(), corroborated, fast_rested: false })
    }
}

/// CenterFace on a thread of its own, one scene pass at a time, each for the frame at a given time.
struct SceneWorker {
    jobs: Option<crossbeam_channel::Sender<(f64, RgbImage)>>,
    results: crossbeam_channel::Receiver<Result<Vec<Detection>, ModelError>>,
    /// The time of the frame whose pass was started and whose result is not taken yet.
    pending: Option<f64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SceneWorker {
    /// Starts the thread; gives the model back when it cannot.
    fn spawn(cf: CenterFace, cfg: SceneConfig) -> Result<Self, Box<CenterFace>> {
        let (jobs, job_rx) = crossbeam_channel::bounded::<(f64, RgbImage)>(1);
        let (result_tx, results) = crossbeam_channel::bounded(1);
        // The model moves to the thread only once the thread exists.
        let (model_tx, model_rx) = crossbeam_channel::bounded::<CenterFace>(1);
        let spawned = std::thread::Builder::new().name("scene-pass".into()).spawn(move || {
            let Ok(mut cf) = model_rx.recv() else { return };
            for (_, frame) in job_rx {
                if result_tx.send(cf.detect(&frame, cfg.max_side, cfg.low_score)).is_err() {
                    return;
                }
            }
        });
        match spawned {
            Ok(thread) => {
                let _ = model_tx.send(cf);
                Ok(Self { jobs: Some(jobs), results, pending: None, thread: Some(thread) })
            }
            Err(_) => Err(Box::new(cf)),
        }
    }

    fn gone() -> ModelError {
        ModelError::Inference {
            path: std::path::PathBuf::from("the scene detector (CenterFace)"),
            reason: "its thread ended".into(),
        }
    }

    fn idle(&self) -> bool {
        self.pending.is_none()
    }

    /// Starts a pass on a copy of the frame at `t_s` (the caller checked that none is running).
    fn start(&mut self, t_s: f64, frame: &RgbImage) -> Result<(), ModelError> {
        let jobs = self.jobs.as_ref().ok_or_else(Self::gone)?;
        jobs.send((t_s, frame.clone())).map_err(|_| Self::gone())?;
        self.pending = Some(t_s);
        Ok(())
    }

    /// The faces of the frame at `t_s`: from the pass started on it ahead of time, or from one started now.
    fn run(&mut self, t_s: f64, frame: &RgbImage) -> Result<Vec<Detection>, ModelError> {
        if self.pending != Some(t_s) {
            self.discard();
            self.start(t_s, frame)?;
        }
        self.pending = None;
        self.results.recv().map_err(|_| Self::gone())?
    }

    /// Waits for a running pass and drops what it found.
    fn discard(&mut self) {
        if self.pending.take().is_some() {
            let _ = self.results.recv();
        }
    }
}

impl Drop for SceneWorker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread after the pass it is in.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The region pass looks at a square this many times a face's side around its predicted box: the face
/// fills about 40 % of BlazeFace's input, as a face near a webcam does.
pub const REGION_CONTEXT: f32 = 2.5;

impl SceneDetector {
    /// Whether this choice runs the region pass: `auto`, whose scene passes are seconds apart.
    pub(crate) fn uses_regions(&self) -> bool {
        self.choice == DetectorChoice::Auto
    }

    /// The region pass: BlazeFace on a region around each target (a track's predicted box), so every
    /// known face — the small ones only scene passes find included — is observed in every frame. The
    /// faces found are appended to `pass` (one box per face), the targets recorded in `pass.looked`.
    pub(crate) fn detect_regions(
        &mut self,
        frame: &RgbImage,
        targets: &[crate::track::RegionTarget],
        pass: &mut Pass,
    ) -> Result<(), ModelError> {
        if targets.is_empty() {
            return Ok(());
        }
        let boxes: Vec<crate::geometry::BBox> = targets.iter().map(|t| t.bbox).collect();
        self.region_looks += boxes.len() as u64;
        let found = self.blazeface.detect_around(frame, &boxes, REGION_CONTEXT)?;
        for d in suppress_same_faces(found.into_iter().flatten().collect()) {
            if !pass.detections.iter().any(|k| same_face(&k.bbox, &d.bbox)) {
                pass.detections.push(d);
            }
        }
        pass.looked.extend(targets.iter().map(|t| t.key));
        Ok(())
    }
}

/// One box per face from the fast pass and a scene pass. A face both found keeps the fast pass's box
/// (the one it has in the frames between scene passes) when that box is confident and of the same size;
/// otherwise the scene pass's box wins and the fast boxes on that face go (BlazeFace's low-score boxes
/// around a whole group of small faces, say). Returns (fast boxes kept, scene boxes added).
pub(crate) fn merge_passes(
    fast: Vec<Detection>,
    scene: Vec<Detection>,
    min_score: f32,
) -> (Vec<Detection>, Vec<Detection>) {
    let similar = |a: &Detection, b: &Detection| {
        let (wa, wb) = (a.bbox.w.max(1.0), b.bbox.w.max(1.0));
        wa.max(wb) / wa.min(wb) < 1.6
    };
    let mut drop_fast = vec![false; fast.len()];
    let mut extra = Vec::new();
    for d in scene {
        let covered = fast.iter().any(|f| f.score >= min_score && similar(f, &d) && same_face(&f.bbox, &d.bbox));
        if covered {
            continue;
        }
        for (i, f) in fast.iter().enumerate() {
            if same_face(&f.bbox, &d.bbox) {
                drop_fast[i] = true;
            }
        }
        extra.push(d);
    }
    let fast = fast.into_iter().zip(drop_fast).filter(|(_, drop)| !drop).map(|(f, _)| f).collect();
    (fast, extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{BBox, Point};

    fn det(x: f32, y: f32, w: f32, score: f32) -> Detection {
        Detection { bbox: BBox { x, y, w, h: w }, score, keypoints: [Point { x, y }; 6] }
    }

    #[test]
    fn merging_keeps_one_box_per_face_and_prefers_a_confident_fast_box() {
        // Fast pass: one confident face, and a large weak box around three small faces.
        let fast = vec![det(0.0, 0.0, 200.0, 0.9), det(300.0, 0.0, 300.0, 0.35)];
        // Scene pass: the same big face (slightly different box), and the three small faces.
        let scene = vec![
            det(5.0, 5.0, 190.0, 0.8),
            det(320.0, 20.0, 60.0, 0.9),
            det(420.0, 20.0, 60.0, 0.9),
            det(520.0, 20.0, 60.0, 0.9),
        ];
        let (f, e) = merge_passes(fast, scene, 0.5);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].bbox.x, 0.0, "the fast box of the big face stays");
        assert_eq!(e.iter().map(|d| d.bbox.x).collect::<Vec<_>>(), vec![320.0, 420.0, 520.0]);
    }

    #[test]
    fn choices_have_stable_names() {
        for c in DetectorChoice::ALL {
            let v = <DetectorChoice as clap::ValueEnum>::from_str(c.as_str(), false);
            assert_eq!(v, Ok(c));
        }
        assert!(DetectorChoice::Auto.needs_centerface() && !DetectorChoice::Blazeface.needs_centerface());
    }
}
