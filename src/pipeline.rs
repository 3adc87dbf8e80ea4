//! The pipeline: one frame in, tracked faces with emotions out (detect → crop → classify → track).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::{GrayImage, RgbImage};

use crate::Probs;
use crate::classify::{CROP, Classifier, ModelError};
use crate::crop::{crop_geometry, gray_region, sample_square};
use crate::detect::centerface::CenterFace;
use crate::detect::scene::{DetectorChoice, Pass, SceneConfig, SceneDetector};
use crate::detect::{Detection, FaceDetector};
use crate::model_files::{DETECTOR_FILE, EMOTION_FILE, SCENE_FILE};
use crate::provenance::ModelFile;
use crate::runtime::{Device, Provider};
use crate::source::Frame;
use crate::track::{Observation, TrackedFace, Tracker, TrackerConfig};

/// Time spent in each stage for one frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimings {
    pub detect: Duration,
    pub crop: Duration,
    pub classify: Duration,
    pub track: Duration,
}

impl StageTimings {
    /// Adds another frame's times (totals over a run).
    pub fn add(&mut self, other: &StageTimings) {
        self.detect += other.detect;
        self.crop += other.crop;
        self.classify += other.classify;
        self.track += other.track;
    }
}

/// Everything the pipeline learned about one frame.
#[derive(Debug, Clone)]
pub struct FrameResult {
    /// File name or camera name the frame came from.
    pub source: Arc<str>,
    /// Frame index in the source (counting every decoded frame, analysed or not).
    pub index: u64,
    /// Seconds since the start of the source (video timestamp, or capture time for a camera).
    pub timestamp_s: f64,
    /// When the frame was captured or decoded (for latency measurement).
    pub captured_at: Instant,
    /// Frame width and height in pixels.
    pub frame_size: (u32, u32),
    pub faces: Vec<TrackedFace>,
    pub timings: StageTimings,
}

/// What the pipeline computes for each face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Presence, head pose and the emotion classes (the emotion model runs on every face).
    #[default]
    Emotions,
    /// Presence and head pose only: the emotion model is not loaded or run, and no emotion,
    /// probability, valence or arousal is produced (for places where emotion inference is not allowed).
    AttentionOnly,
}

impl Mode {
    pub fn emotions(self) -> bool {
        self == Mode::Emotions
    }
}

/// Where the models are, and how to run them.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// BlazeFace short-range (the fast whole-frame pass).
    pub detector_model: PathBuf,
    /// CenterFace (the scene pass), needed by `auto` and `centerface`.
    pub scene_model: PathBuf,
    pub emotion_model: PathBuf,
    pub device: Device,
    /// ONNX Runtime intra-op threads per model.
    pub threads: usize,
    pub tracker: TrackerConfig,
    /// Which detector runs on which frame.
    pub detector: DetectorChoice,
    pub scene: SceneConfig,
    /// Emotions, or attention only (`--attention-only`).
    pub mode: Mode,
    /// At most this many faces go through the emotion model in one frame, in turns ([`Tracker::to_classify`]);
    /// the others keep their smoothed emotion until their turn. `None` (`analyze`): every face, every frame.
    pub classify_budget: Option<usize>,
    /// On a frame with a scene pass, skip the region pass and let the emotion model look at one face only: the
    /// scene pass (tens of ms) is that frame's work, which keeps the window's capture→overlay latency down (the
    /// scene pass sees every face the region pass would look for; the others keep their smoothed emotion for a
    /// frame). `analyze`: off.
    pub light_scene_frames: bool,
}

impl PipelineConfig {
    /// The model files this configuration loads, hashed now.
    fn model_files(&self) -> Vec<ModelFile> {
        let mut files = vec![ModelFile::of("detector", &self.detector_model)];
        if self.detector.needs_centerface() {
            files.push(ModelFile::of("scene detector", &self.scene_model));
        }
        if self.mode.emotions() {
            files.push(ModelFile::of("emotion", &self.emotion_model));
        }
        files
    }

    /// Takes the three models from `dir` (`--models`, an installed copy's folder).
    pub fn use_models_in(&mut self, dir: &Path) {
        self.detector_model = dir.join(DETECTOR_FILE);
        self.scene_model = dir.join(SCENE_FILE);
        self.emotion_model = dir.join(EMOTION_FILE);
    }

    /// The shipped models in [`models_dir`], on `device`.
    pub fn with_default_models(device: Device) -> Self {
        let dir = models_dir();
        Self {
            detector_model: dir.join(DETECTOR_FILE),
            scene_model: dir.join(SCENE_FILE),
            emotion_model: dir.join(EMOTION_FILE),
            device,
            threads: 1,
            tracker: TrackerConfig::default(),
            detector: DetectorChoice::Auto,
            scene: SceneConfig::default(),
            mode: Mode::Emotions,
            classify_budget: None,
            light_scene_frames: false,
        }
    }
}

/// The folder holding the shipped models: `$EMOTION_MONITOR_MODELS`, `./models`, the repository the
/// executable was built in, then the source tree.
pub fn models_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("EMOTION_MONITOR_MODELS") {
        return PathBuf::from(p);
    }
    let mut candidates = vec![PathBuf::from("models")];
    if let Ok(exe) = std::env::current_exe()
        && let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent)
    {
        candidates.push(root.join("models"));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    candidates
        .into_iter()
        .find(|p| p.join(EMOTION_FILE).is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// Detect → crop → classify (all faces of a frame in one batch) → track; in attention-only mode
/// detect → track, the emotion model neither loaded nor run.
pub struct Pipeline {
    detector: SceneDetector,
    /// Loaded when emotions are first wanted; kept (not run) after a switch to attention-only.
    classifier: Option<Classifier>,
    tracker: Tracker,
    stills: bool,
    cfg: PipelineConfig,
    /// The model files loaded, with their sha256 (what `session.json` records).
    files: Vec<ModelFile>,
}

impl Pipeline {
    pub fn open(cfg: &PipelineConfig) -> Result<Self, ModelError> {
        let classifier = match cfg.mode {
            Mode::Emotions => Some(Classifier::open(&cfg.emotion_model, cfg.device, cfg.threads)?),
            Mode::AttentionOnly => None,
        };
        let detector = open_detector(cfg)?;
        let tracker = Tracker::new(cfg.tracker);
        let files = cfg.model_files();
        Ok(Self { detector, classifier, tracker, stills: false, cfg: cfg.clone(), files })
    }

    /// The model files in use and their sha256, hashed when they were loaded.
    pub fn model_files(&self) -> &[ModelFile] {
        &self.files
    }

    /// Switches the detector (the window's detector menu); the tracks start over.
    pub(crate) fn set_detector(&mut self, choice: DetectorChoice) -> Result<(), ModelError> {
        let cfg = PipelineConfig { detector: choice, ..self.cfg.clone() };
        self.detector = open_detector(&cfg)?;
        self.files = cfg.model_files();
        self.cfg = cfg;
        self.reset_tracks();
        Ok(())
    }

    /// Switches between emotions and attention only (the window's switch); the emotion model is
    /// loaded on the first switch to emotions, and a failure leaves the mode as it was.
    pub fn set_mode(&mut self, mode: Mode) -> Result<(), ModelError> {
        if mode.emotions() && self.classifier.is_none() {
            self.classifier = Some(Classifier::open(&self.cfg.emotion_model, self.cfg.device, self.cfg.threads)?);
        }
        self.cfg.mode = mode;
        self.files = self.cfg.model_files();
        Ok(())
    }

    pub fn mode(&self) -> Mode {
        self.cfg.mode
    }

    /// Whether the frames are photos, each its own scene.
    pub(crate) fn stills(&self) -> bool {
        self.stills
    }

    /// Independent photos instead of a video: every frame gets a scene pass, every face is a person at
    /// once, and nothing is tracked or smoothed from one frame to the next.
    pub(crate) fn set_stills(&mut self, stills: bool) {
        self.stills = stills;
        // A photo's face is seen once: every confident box is a person.
        let d = TrackerConfig::default();
        let (min_hits, confirm_score) = if stills { (1, d.high_score) } else { (d.min_hits, d.confirm_score) };
        self.tracker = Tracker::new(TrackerConfig { min_hits, confirm_score, ..*self.tracker.config() });
    }

    pub(crate) fn detector_choice(&self) -> DetectorChoice {
        self.detector.choice()
    }

    /// CenterFace scene passes run so far.
    pub(crate) fn scene_passes(&self) -> u64 {
        self.detector.scene_passes()
    }

    /// Region-pass looks run so far.
    pub(crate) fn region_looks(&self) -> u64 {
        self.detector.region_looks()
    }

    /// Whole-frame BlazeFace passes run so far.
    pub(crate) fn fast_passes(&self) -> u64 {
        self.detector.fast_passes()
    }

    /// Persons the tracker has given an ID so far.
    pub fn persons(&self) -> u64 {
        self.tracker.persons()
    }

    /// The execution providers in use, e.g. "CPU" or "CUDA", with any fallback reason.
    pub fn provider(&self) -> &Provider {
        self.classifier.as_ref().map_or_else(|| self.detector.provider(), Classifier::provider)
    }

    /// The emotion model, when it is loaded.
    pub fn classifier(&self) -> Option<&Classifier> {
        self.classifier.as_ref()
    }

    /// Forget all tracks (a new source or a new session starts).
    pub(crate) fn reset_tracks(&mut self) {
        self.tracker = Tracker::new(*self.tracker.config());
        self.detector.reset();
    }

    /// One frame through every stage: detect → track → crop → classify → smooth.
    pub fn process(&mut self, frame: &Frame) -> Result<FrameResult, ModelError> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let pass = detect_pass(&mut self.detector, &mut self.tracker, self.stills, self.cfg.light_scene_frames, frame)?;
        timings.detect = t.elapsed();
        let mut staged = self.stage(frame, pass, timings);
        let probs = match self.classifier.as_mut().filter(|_| staged.emotions) {
            Some(classifier) => Some(crop_and_classify(classifier, &mut staged, Some(&frame.image))?),
            None => None,
        };
        Ok(self.finish(staged, probs))
    }

    /// [`Pipeline::process`] with the crops and the emotion model of the previous frame on a second thread
    /// while this frame's detectors run (what `analyze` does: neither needs the other's result). Returns the
    /// previous frame's result (when there was one) and this frame, detected and tracked;
    /// [`Pipeline::finish_staged`] ends the last one. Every result is what `process` gives.
    pub fn process_overlapped(
        &mut self,
        frame: Frame,
        previous: Option<Staged>,
    ) -> Result<(Option<FrameResult>, Staged), ModelError> {
        let light = self.cfg.light_scene_frames;
        let mut timings = StageTimings::default();
        let (pass, previous) = if self.stills {
            // Photos forget every face before the next is detected: nothing to overlap.
            let previous = previous.map(|p| self.finish_staged(p)).transpose()?;
            let t = Instant::now();
            let pass = detect_pass(&mut self.detector, &mut self.tracker, true, light, &frame);
            timings.detect = t.elapsed();
            (pass, previous)
        } else {
            let Self { detector, classifier, tracker, .. } = self;
            let (pass, previous) = std::thread::scope(|s| {
                // The previous frame's crops and emotions on a second thread, when it has faces to classify.
                let job = match (previous, classifier.as_mut()) {
                    (Some(mut p), Some(c)) if p.emotions && !p.to_crop.is_empty() => Ok(s.spawn(move || {
                        let image = p.image.take();
                        crop_and_classify(c, &mut p, image.as_ref()).map(|probs| (p, Some(probs)))
                    })),
                    (p, _) => Err(p),
                };
                let t = Instant::now();
                let pass = detect_pass(detector, tracker, false, light, &frame);
                timings.detect = t.elapsed();
                let previous = match job {
                    Ok(thread) => Some(thread.join().unwrap_or_else(|_| Err(classifier_panicked()))),
                    Err(p) => p.map(|p| Ok((p, None))),
                };
                (pass, previous)
            });
            let previous = previous.transpose()?.map(|(p, probs)| {
                // A frame without faces (or in attention-only mode) had nothing to classify.
                let probs = probs.or_else(|| p.emotions.then(Vec::new));
                self.finish(p, probs)
            });
            (pass, previous)
        };
        let mut staged = self.stage(&frame, pass?, timings);
        staged.image = Some(frame.image);
        Ok((previous, staged))
    }

    /// Frames read ahead of the next one to analyse (in order, only those to be analysed): the first that
    /// the scene schedule expects a pass on gets it started now on the scene thread, beside the frames
    /// before it (`analyze` of a video; that frame's result is the same as without). Photos: nothing.
    pub fn prefetch_scene<'a>(&mut self, ahead: impl IntoIterator<Item = &'a Frame>) -> Result<(), ModelError> {
        if self.stills {
            return Ok(());
        }
        for frame in ahead {
            if self.detector.prefetch(&frame.image, frame.timestamp_s)? {
                break;
            }
        }
        Ok(())
    }

    /// Classifies and smooths the last frame [`Pipeline::process_overlapped`] staged.
    pub fn finish_staged(&mut self, mut staged: Staged) -> Result<FrameResult, ModelError> {
        let image = staged.image.take();
        let probs = match self.classifier.as_mut().filter(|_| staged.emotions) {
            Some(classifier) => Some(crop_and_classify(classifier, &mut staged, image.as_ref())?),
            None => None,
        };
        Ok(self.finish(staged, probs))
    }

    /// Track → pick the faces to classify.
    fn stage(&mut self, frame: &Frame, pass: Pass, mut timings: StageTimings) -> Staged {
        let t = Instant::now();
        let light = self.cfg.light_scene_frames && pass.scene && !self.stills;
        let budget = if light { Some(1) } else { self.cfg.classify_budget };
        let mut observations = self.tracker.associate(frame.timestamp_s, &pass);
        if !self.stills {
            self.reidentify(frame, &mut observations);
        }
        timings.track = t.elapsed();
        let emotions = self.cfg.mode.emotions() && self.classifier.is_some();
        let (chosen, to_crop) = if emotions {
            let chosen = self.tracker.to_classify(&observations, budget);
            let picked = observations.iter().zip(&chosen).filter(|(_, c)| **c);
            let to_crop = picked.map(|(o, _)| o.detection.clone()).collect();
            (chosen, to_crop)
        } else {
            (Vec::new(), Vec::new())
        };
        Staged {
            source: frame.source.clone(),
            index: frame.index,
            timestamp_s: frame.timestamp_s,
            captured_at: frame.captured_at,
            frame_size: frame.image.dimensions(),
            observations,
            emotions,
            chosen,
            to_crop,
            image: None,
            timings,
        }
    }

    /// Smooths a staged frame's emotions (`probs`: one per crop; `None` when no emotion model ran).
    fn finish(&mut self, staged: Staged, probs: Option<Vec<Probs>>) -> FrameResult {
        let t = Instant::now();
        let Staged { source, index, timestamp_s, captured_at, frame_size, observations, chosen, mut timings, .. } =
            staged;
        let per_face: Option<Vec<Option<Probs>>> = probs.map(|found| {
            let mut found = found.into_iter();
            chosen.iter().map(|&c| if c { found.next() } else { None }).collect()
        });
        let faces = self.tracker.smooth(timestamp_s, observations, per_face.as_deref());
        timings.track += t.elapsed();
        FrameResult { source, index, timestamp_s, captured_at, frame_size, faces, timings }
    }
}

/// A frame detected and tracked, its faces not yet cropped and classified.
pub struct Staged {
    source: Arc<str>,
    index: u64,
    timestamp_s: f64,
    captured_at: Instant,
    frame_size: (u32, u32),
    observations: Vec<Observation>,
    /// Whether the emotion model is to look at this frame.
    emotions: bool,
    /// Per observation: whether it is among `to_crop` (in the same order).
    chosen: Vec<bool>,
    to_crop: Vec<Detection>,
    /// The frame, when the crops are taken on another thread.
    image: Option<RgbImage>,
    timings: StageTimings,
}

/// What a panic on the emotion model's thread becomes (it never panics by design; an error, not a second panic).
fn classifier_panicked() -> ModelError {
    ModelError::Inference { path: PathBuf::from("the emotion model"), reason: "its thread panicked".into() }
}

/// The whole-frame pass, and the region pass around each face the tracker follows.
fn detect_pass(
    detector: &mut SceneDetector,
    tracker: &mut Tracker,
    stills: bool,
    light_scene_frames: bool,
    frame: &Frame,
) -> Result<Pass, ModelError> {
    if stills {
        tracker.forget_tracks();
    }
    // Photos too: their tracks are forgotten every frame (no region to look at), but the tracker's rule for
    // weak fast-pass boxes (the scene pass must agree) holds for them as well.
    let regions = detector.uses_regions();
    tracker.set_regions(regions);
    let want_scene = stills || tracker.wants_scene();
    let known = if regions { tracker.known_boxes(frame.timestamp_s) } else { Vec::new() };
    let mut pass = detector.detect(&frame.image, frame.timestamp_s, want_scene, &known)?;
    if regions && !(light_scene_frames && pass.scene) {
        let targets = tracker.region_targets(frame.timestamp_s, &pass);
        detector.detect_regions(&frame.image, &targets, &mut pass)?;
    }
    Ok(pass)
}

/// The crops of a staged frame's chosen faces in `image`, through the emotion model (timed as its `crop` and
/// `classify` stages). Without the frame (never: every staged frame keeps it), no face is classified.
fn crop_and_classify(
    classifier: &mut Classifier,
    staged: &mut Staged,
    image: Option<&RgbImage>,
) -> Result<Vec<Probs>, ModelError> {
    let t = Instant::now();
    let Some(image) = image else { return Ok(Vec::new()) };
    let crops: Vec<GrayImage> = staged.to_crop.iter().map(|d| face_crop(image, d)).collect();
    staged.timings.crop = t.elapsed();
    let t = Instant::now();
    let probs = classifier.classify(&crops)?;
    staged.timings.classify = t.elapsed();
    Ok(probs)
}

impl Pipeline {
    /// Gives each new person's and (once a second) each seen person's appearance to the tracker, which may
    /// recognise a new person as one it lost: their observations then carry the old ID.
    fn reidentify(&mut self, frame: &Frame, observations: &mut Vec<Observation>) {
        let t_s = frame.timestamp_s;
        let looks: Vec<(u64, crate::track::appearance::Appearance)> = self
            .tracker
            .appearance_wanted(t_s)
            .into_iter()
            .filter_map(|(id, bbox)| Some((id, crate::track::appearance::describe(&frame.image, &bbox)?)))
            .collect();
        // Persons who traded places first: their observations carry the identities they now show.
        let moved = self.tracker.exchange_swapped(&looks);
        let now_of = |id: u64| moved.iter().find(|(before, _)| *before == id).map_or(id, |(_, now)| *now);
        let mut renamed = !moved.is_empty();
        observations.iter_mut().for_each(|o| o.id = now_of(o.id));
        let mut gone = Vec::new();
        for (id, seen) in looks {
            let id = now_of(id);
            match self.tracker.reidentify(t_s, id, seen) {
                Some(now) if now != id => {
                    observations.iter_mut().filter(|o| o.id == id).for_each(|o| o.id = now);
                    renamed = true;
                }
                Some(_) => {}
                None => gone.push(id),
            }
        }
        if !gone.is_empty() {
            // Someone else is in that box now: not reported until they are a person of their own.
            let kept: Vec<Observation> = observations.drain(..).filter(|o| !gone.contains(&o.id)).collect();
            *observations = kept;
        }
        if renamed {
            observations.sort_by_key(|o| o.id);
        }
    }
}

/// ONNX Runtime threads per model for `analyze`: one. `analyze` runs the emotion model on its own thread beside
/// the detectors ([`Pipeline::process_overlapped`]), which keeps both cores of a 2-core machine busy; a second
/// intra-op thread per model then only competed with it (measured 2026-12-07 on the 2-core machine, same
/// minutes: one face 177–195 frames/s with 1 thread vs 148–171 with 2; 5x5 1080p gallery 20.5–21.0 vs 17.0–19.0).
pub const DEFAULT_THREADS: usize = 1;

/// Faces the live window's emotion model looks at per frame: up to 8 every frame (a webcam, a small call); in a
/// 5x5 gallery each face every third frame (5 times a second at 15 fps, inside the 0.5 s smoothing), which keeps
/// the window at the camera's rate (the model costs ~1 ms per face). `analyze` classifies every face.
pub const LIVE_CLASSIFY_BUDGET: usize = 8;

/// ONNX Runtime threads for CenterFace (at least).
pub(crate) const SCENE_THREADS: usize = 2;

fn open_detector(cfg: &PipelineConfig) -> Result<SceneDetector, ModelError> {
    let blazeface = FaceDetector::open(&cfg.detector_model, cfg.device, cfg.threads)?;
    let centerface = match cfg.detector.needs_centerface() {
        // Two threads for the one large model: a scene pass is a spike in an otherwise light frame, and
        // halving it keeps the live window's latency down (the small models stay on one thread).
        true => Some(CenterFace::open(&cfg.scene_model, cfg.device, cfg.threads.max(SCENE_THREADS))?),
        false => None,
    };
    let mut detector = SceneDetector::new(cfg.detector, blazeface, centerface, cfg.scene);
    detector.start_scene_thread();
    Ok(detector)
}

/// The FER crop of one face ([`crate::crop::fer_crop`]), converting to grey only the pixels the crop can
/// sample: greying a whole 640x480 frame costs about as much as the detector's pre-processing.
fn face_crop(frame: &RgbImage, d: &Detection) -> GrayImage {
    let mut g = crop_geometry(d);
    // Samples lie within half a side of the centre (an upright crop) or half a diagonal (a rotated one), plus
    // one pixel for the bilinear neighbour and half a pixel of centre offset; outside the frame the crop
    // replicates the frame's border, which clamping to a region that reaches that border reproduces.
    let half = if g.angle == 0.0 { 0.5 } else { std::f32::consts::FRAC_1_SQRT_2 };
    let reach = g.side * half + 2.0;
    let (w, h) = frame.dimensions();
    let lo = |c: f32, len: u32| ((c - reach).floor().max(0.0) as u32).min(len.saturating_sub(1));
    let hi = |c: f32, len: u32| ((c + reach).ceil().max(0.0) as u32).min(len);
    let (x0, y0) = (lo(g.centre.x, w), lo(g.centre.y, h));
    let (x1, y1) = (hi(g.centre.x, w).max(x0 + 1), hi(g.centre.y, h).max(y0 + 1));
    let gray = gray_region(frame, (x0, y0), (x1, y1));
    g.centre.x -= x0 as f32;
    g.centre.y -= y0 as f32;
    sample_square(&gray, g, CROP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crop::fer_crop;
    use crate::geometry::{BBox, Point};

    #[test]
    fn cropping_a_grey_region_matches_cropping_the_grey_frame() {
        let frame = RgbImage::from_fn(320, 240, |x, y| {
            image::Rgb([(x * 7 + y * 3) as u8, (x * x / 5 + y) as u8, (y * y / 3 + x) as u8])
        });
        let gray = image::imageops::grayscale(&frame);
        // Inside, tilted, across each edge, and wholly outside the frame.
        for (x, y, side, tilt) in [
            (100.0, 60.0, 80.0, 0.0),
            (120.0, 80.0, 90.0, 25.0),
            (-30.0, 100.0, 70.0, -10.0),
            (270.0, -20.0, 90.0, 5.0),
            (250.0, 190.0, 100.0, 40.0),
            (400.0, 300.0, 50.0, 0.0),
        ] {
            let b = BBox { x, y, w: side, h: side };
            let c = b.center();
            let (s, co) = (tilt as f32).to_radians().sin_cos();
            let re = Point { x: c.x - 20.0 * co, y: c.y - 20.0 * s };
            let le = Point { x: c.x + 20.0 * co, y: c.y + 20.0 * s };
            let d = Detection { bbox: b, score: 0.9, keypoints: [re, le, c, c, c, c] };
            let (a, b) = (face_crop(&frame, &d), fer_crop(&gray, &d));
            let worst = a.pixels().zip(b.pixels()).map(|(p, q)| p[0].abs_diff(q[0])).max();
            assert!(worst <= Some(1), "box at ({x}, {y}): grey values differ by {worst:?}");
        }
    }
}
