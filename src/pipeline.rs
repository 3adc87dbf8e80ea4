//! The pipeline: one frame in, tracked faces with emotions out (detect → crop → classify → track).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::track::TrackedFace;

/// Time spent in each stage for one frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimings {
    pub detect: Duration,
    pub crop: Duration,
    pub classify: Duration,
    pub track: Duration,
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

use std::path::{Path, PathBuf};

use image::GrayImage;

use crate::classify::{Classifier, ModelError};
use crate::crop::fer_crop;
use crate::detect::FaceDetector;
use crate::runtime::{Device, Provider};
use crate::source::Frame;
use crate::track::{Tracker, TrackerConfig};

/// Where the models are, and how to run them.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub detector_model: PathBuf,
    pub emotion_model: PathBuf,
    pub device: Device,
    /// ONNX Runtime intra-op threads per model.
    pub threads: usize,
    pub tracker: TrackerConfig,
}

impl PipelineConfig {
    /// The shipped models in [`models_dir`], on `device`.
    pub fn with_default_models(device: Device) -> Self {
        let dir = models_dir();
        Self {
            detector_model: dir.join("blazeface_short.onnx"),
            emotion_model: dir.join("mycnn.onnx"),
            device,
            threads: 1,
            tracker: TrackerConfig::default(),
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
        .find(|p| p.join("mycnn.onnx").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// Detect → crop → classify (all faces of a frame in one batch) → track.
pub struct Pipeline {
    detector: FaceDetector,
    classifier: Classifier,
    tracker: Tracker,
    gray: GrayImage,
    crops: Vec<GrayImage>,
}

impl Pipeline {
    pub fn open(cfg: &PipelineConfig) -> Result<Self, ModelError> {
        let detector = FaceDetector::open(&cfg.detector_model, cfg.device, cfg.threads)?;
        let classifier = Classifier::open(&cfg.emotion_model, cfg.device, cfg.threads)?;
        Ok(Self {
            detector,
            classifier,
            tracker: Tracker::new(cfg.tracker),
            gray: GrayImage::new(1, 1),
            crops: Vec::new(),
        })
    }

    /// The execution providers in use, e.g. "CPU" or "CUDA", with any fallback reason.
    pub fn provider(&self) -> &Provider {
        self.classifier.provider()
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Forget all tracks (a new source or a new session starts).
    pub fn reset_tracks(&mut self) {
        self.tracker = Tracker::new(*self.tracker_config());
    }

    fn tracker_config(&self) -> &TrackerConfig {
        self.tracker.config()
    }

    pub fn process(&mut self, frame: &Frame) -> Result<FrameResult, ModelError> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let detections = self.detector.detect(&frame.image)?;
        timings.detect = t.elapsed();

        let t = Instant::now();
        self.crops.clear();
        if !detections.is_empty() {
            self.gray = image::imageops::grayscale(&frame.image);
            self.crops.extend(detections.iter().map(|d| fer_crop(&self.gray, d)));
        }
        timings.crop = t.elapsed();

        let t = Instant::now();
        let probs = self.classifier.classify(&self.crops)?;
        timings.classify = t.elapsed();

        let t = Instant::now();
        let faces = self.tracker.update(frame.timestamp_s, &detections, &probs);
        timings.track = t.elapsed();

        Ok(FrameResult {
            source: frame.source.clone(),
            index: frame.index,
            timestamp_s: frame.timestamp_s,
            captured_at: frame.captured_at,
            frame_size: frame.image.dimensions(),
            faces,
            timings,
        })
    }
}
