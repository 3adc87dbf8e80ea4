//! The window's worker threads: *capture* (owns the camera or the video decoder) and *inference*
//! (detect, classify, track, feed the session). The UI thread only uploads a texture and draws.
//!
//! ```text
//!  capture ──[slot of 1: newest frame wins]──▶ inference ──[slot of 2]──▶ UI (repaint on arrival)
//!     │                                            │
//!     └──────────── status events (bounded) ───────┴──────────────────────▶ UI
//! ```
//!
//! Both frame channels drop the *oldest* message when full, so a slow stage never builds a queue:
//! latency stays at one frame of each stage whatever the camera rate. Every frame carries its
//! capture `Instant`, so the UI measures capture → overlay latency end to end.

use eframe::egui;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

pub use crate::latest::{LatestSender, latest_channel};

use super::errors::Explain;
use super::stats::Counters;
use crate::detect::scene::DetectorChoice;
use crate::i18n::{Key, Message};
use crate::pipeline::{FrameResult, Mode, Pipeline, PipelineConfig, StageTimings};
use crate::session::SessionWriter;
use crate::source::{self, CameraSelector, CameraSource, Frame, FrameSource, ScreenOptions, ScreenSource, SourceError};

/// Camera resolution and rate asked for (the camera may pick the nearest it supports).
pub(crate) const CAMERA_SIZE: (u32, u32) = (640, 480);
pub(crate) const CAMERA_FPS: u32 = 30;

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    Camera(CameraSelector),
    /// A video file (or image folder), replayed in real time like a camera.
    Video(PathBuf),
    /// A screen, a region of it, or a window (the teacher's view of a video call); live like a camera.
    Screen(ScreenOptions),
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Camera(CameraSelector::Index(i)) => write!(f, "camera {i}"),
            SourceSpec::Camera(CameraSelector::Name(n)) => write!(f, "camera \"{n}\""),
            SourceSpec::Video(p) => write!(f, "{}", p.display()),
            SourceSpec::Screen(o) => write!(f, "{o}"),
        }
    }
}

/// One analysed frame for the UI: the pipeline's result and the picture it was computed on.
#[derive(Clone)]
pub struct LiveFrame {
    pub result: FrameResult,
    /// The frame as an egui image, converted off the UI thread.
    pub image: Arc<egui::ColorImage>,
    /// False when the models could not be loaded: the video is shown without analysis.
    pub analysed: bool,
}

/// Something the UI must be told about (never dropped for a newer one, unlike frames).
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// The models are loaded; `provider` says where they run ("CPU", "CUDA", "CPU (CUDA unavailable: …)").
    ModelReady {
        provider: Message,
    },
    /// The models could not be loaded: frames are shown without analysis.
    ModelFailed(Message),
    SourceOpened {
        generation: u64,
        name: String,
        live: bool,
        fps: Option<f64>,
        total_frames: Option<u64>,
    },
    /// Opening or reading the source failed (not a camera that vanished: see `CameraLost`).
    SourceFailed {
        generation: u64,
        message: Message,
    },
    /// The camera stopped delivering frames mid-session.
    CameraLost {
        generation: u64,
        message: Message,
    },
    /// A video file reached its end.
    SourceEnded {
        generation: u64,
    },
    /// A frame could not be analysed (the next one will be tried).
    InferenceFailed(Message),
    /// A frame could not be saved although "record video frames" is on (the reason).
    FrameNotSaved(Message),
}

/// Status events: bounded too; they are rare, and if the UI ever fell 256 behind, losing one is
/// better than blocking a worker.
fn send_event(events: &Sender<LiveEvent>, ctx: &egui::Context, ev: LiveEvent) {
    if let Err(e) = events.try_send(ev) {
        tracing::warn!("window event dropped: {:?}", e.into_inner());
    }
    ctx.request_repaint();
}

/// A frame on its way to inference, tagged with the source it came from.
struct Captured {
    frame: Frame,
    generation: u64,
    /// The picture the window shows, shrunk by the capture thread (off the inference thread's path).
    display: egui::ColorImage,
}

/// State shared by the UI and the worker threads.
#[derive(Default)]
pub struct Shared {
    pub counters: Counters,
    /// While set, a video file waits (a camera keeps streaming, but nothing is recorded).
    pub paused: AtomicBool,
    /// The session being recorded, if any: its own thread writes it; inference and the window send to it
    /// and the window draws from the snapshot it publishes.
    pub session: SessionWriter,
    /// The detector the user picked: an index into [`DetectorChoice::ALL`].
    pub detector: AtomicU8,
    /// The user switched emotions off (attention-only mode).
    pub attention_only: AtomicBool,
}

impl Shared {
    pub fn detector(&self) -> DetectorChoice {
        DetectorChoice::ALL.get(self.detector.load(Ordering::Relaxed) as usize).copied().unwrap_or_default()
    }

    pub(crate) fn set_detector(&self, choice: DetectorChoice) {
        let i = DetectorChoice::ALL.iter().position(|c| *c == choice).unwrap_or(0);
        self.detector.store(i as u8, Ordering::Relaxed);
    }

    pub fn mode(&self) -> Mode {
        if self.attention_only.load(Ordering::Relaxed) { Mode::AttentionOnly } else { Mode::Emotions }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.attention_only.store(!mode.emotions(), Ordering::Relaxed);
    }
}

struct CaptureHandle {
    stop: Arc<AtomicBool>,
    /// Detached on replacement: a camera blocked in `next_frame` must not freeze the UI.
    _thread: JoinHandle<()>,
}

/// The worker threads of one window. Dropping it stops them.
pub struct Live {
    pub shared: Arc<Shared>,
    frames_tx: LatestSender<Captured>,
    events_tx: Sender<LiveEvent>,
    ctx: egui::Context,
    capture: Option<CaptureHandle>,
    generation: Arc<AtomicU64>,
    stop_inference: Arc<AtomicBool>,
    inference: Option<JoinHandle<()>>,
}

/// The UI's ends of the worker channels.
pub struct Feed {
    pub results: Receiver<LiveFrame>,
    pub events: Receiver<LiveEvent>,
}

/// The workers' ends, for tests that play the part of the worker threads.
pub struct FeedSenders {
    pub results: LatestSender<LiveFrame>,
    pub events: Sender<LiveEvent>,
}

/// Channels between the workers and the UI, with no thread attached.
pub fn feed_channels() -> (FeedSenders, Feed) {
    let (results_tx, results_rx) = latest_channel(2);
    let (events_tx, events_rx) = crossbeam_channel::bounded(256);
    (FeedSenders { results: results_tx, events: events_tx }, Feed { results: results_rx, events: events_rx })
}

impl Live {
    /// Starts the inference thread (it loads the models, then waits for frames). No source yet.
    pub fn start(
        ctx: &egui::Context,
        cfg: PipelineConfig,
        shared: Arc<Shared>,
        senders: FeedSenders,
    ) -> std::io::Result<Self> {
        let (frames_tx, frames_rx) = latest_channel::<Captured>(1);
        let stop_inference = Arc::new(AtomicBool::new(false));
        let inference = {
            let (ctx, shared, stop) = (ctx.clone(), shared.clone(), stop_inference.clone());
            let events = senders.events.clone();
            let results = senders.results;
            std::thread::Builder::new()
                .name("inference".into())
                .spawn(move || inference_loop(&cfg, &shared, &stop, &frames_rx, &results, &events, &ctx))?
        };
        Ok(Self {
            shared,
            frames_tx,
            events_tx: senders.events,
            ctx: ctx.clone(),
            capture: None,
            generation: Arc::new(AtomicU64::new(0)),
            stop_inference,
            inference: Some(inference),
        })
    }

    /// Switches to `spec`: stops the current capture thread and starts one for the new source.
    /// Returns the new source generation (events carry it, so late news of an old source is ignored).
    pub fn open(&mut self, spec: SourceSpec) -> u64 {
        self.close_source();
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let stop = Arc::new(AtomicBool::new(false));
        let (ctx, shared, frames, events) =
            (self.ctx.clone(), self.shared.clone(), self.frames_tx.clone(), self.events_tx.clone());
        let stop2 = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture_loop(&spec, generation, &shared, &stop2, &frames, &events, &ctx));
        match spawned {
            Ok(thread) => self.capture = Some(CaptureHandle { stop, _thread: thread }),
            Err(e) => send_event(
                &self.events_tx,
                &self.ctx,
                LiveEvent::SourceFailed {
                    generation,
                    message: Message::new(Key::ErrThread, &[], format!("could not start the capture thread: {e}")),
                },
            ),
        }
        generation
    }

    /// Stops the capture thread (the camera is released when its thread notices).
    pub(crate) fn close_source(&mut self) {
        if let Some(c) = self.capture.take() {
            c.stop.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.close_source();
        self.stop_inference.store(true, Ordering::SeqCst);
        if let Some(t) = self.inference.take() {
            // Inference checks its flag at least every 100 ms; a frame in flight takes milliseconds.
            let _ = t.join();
        }
    }
}

/// Real-time pacing of a recorded video: a frame is released when its timestamp is due on the
/// wall clock, so a video behaves like a camera (and frames are dropped downstream, not slowed).
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// Wall-clock instant that corresponds to video time 0 (moved forward by pauses).
    origin: Option<Instant>,
}

impl Pacer {
    /// When the frame at `timestamp_s` is due.
    pub(crate) fn due(&mut self, timestamp_s: f64, now: Instant) -> Instant {
        let origin = *self.origin.get_or_insert_with(|| now - Duration::from_secs_f64(timestamp_s.max(0.0)));
        origin + Duration::from_secs_f64(timestamp_s.max(0.0))
    }

    /// A pause of `d` shifts every later frame by `d`.
    pub fn shift(&mut self, d: Duration) {
        if let Some(o) = self.origin.as_mut() {
            *o += d;
        }
    }
}

fn open_source(spec: &SourceSpec) -> Result<Box<dyn FrameSource>, SourceError> {
    match spec {
        SourceSpec::Camera(sel) => {
            let cam = CameraSource::open(sel.clone(), CAMERA_SIZE.0, CAMERA_SIZE.1, CAMERA_FPS)?;
            Ok(Box::new(cam))
        }
        SourceSpec::Video(path) => source::open(path),
        SourceSpec::Screen(opts) => Ok(Box::new(ScreenSource::open(opts.clone())?)),
    }
}

fn capture_loop(
    spec: &SourceSpec,
    generation: u64,
    shared: &Shared,
    stop: &AtomicBool,
    frames: &LatestSender<Captured>,
    events: &Sender<LiveEvent>,
    ctx: &egui::Context,
) {
    let live = matches!(spec, SourceSpec::Camera(_) | SourceSpec::Screen(_));
    let mut source = match open_source(spec) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("{e}");
            let message = e.message();
            return send_event(events, ctx, LiveEvent::SourceFailed { generation, message });
        }
    };
    send_event(
        events,
        ctx,
        LiveEvent::SourceOpened {
            generation,
            name: source.name().to_string(),
            live,
            fps: source.fps(),
            total_frames: source.total_frames(),
        },
    );
    let mut pacer = Pacer::default();
    while !stop.load(Ordering::Relaxed) {
        let mut frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return send_event(events, ctx, LiveEvent::SourceEnded { generation }),
            Err(e) => {
                tracing::warn!("{e}");
                let message = e.message();
                let ev = if matches!(e, SourceError::CameraLost { .. } | SourceError::ScreenLost { .. }) {
                    LiveEvent::CameraLost { generation, message }
                } else {
                    LiveEvent::SourceFailed { generation, message }
                };
                return send_event(events, ctx, ev);
            }
        };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // Shrunk for display here, where the thread would otherwise wait for the next frame: the inference
        // thread, which decides how fast results reach the screen, only analyses.
        let display = display_image(&frame.image, DISPLAY_MAX_SIDE);
        if !live {
            // Wait until the frame is due (and while paused), checking `stop` often.
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if shared.paused.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    std::thread::sleep(Duration::from_millis(20));
                    pacer.shift(t.elapsed());
                    continue;
                }
                let now = Instant::now();
                let due = pacer.due(frame.timestamp_s, now);
                if now >= due {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(20)));
            }
            // Latency is measured from when a camera would have delivered this frame.
            frame.captured_at = Instant::now();
        }
        shared.counters.captured.fetch_add(1, Ordering::Relaxed);
        let dropped = frames.send(Captured { frame, generation, display });
        shared.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
    }
}

/// A result with no faces, for frames shown without analysis (models missing or a failed frame).
fn unanalysed(frame: &Frame) -> FrameResult {
    FrameResult {
        source: frame.source.clone(),
        index: frame.index,
        timestamp_s: frame.timestamp_s,
        captured_at: frame.captured_at,
        frame_size: frame.image.dimensions(),
        faces: Vec::new(),
        timings: StageTimings::default(),
    }
}

fn inference_loop(
    cfg: &PipelineConfig,
    shared: &Shared,
    stop: &AtomicBool,
    frames: &Receiver<Captured>,
    results: &LatestSender<LiveFrame>,
    events: &Sender<LiveEvent>,
    ctx: &egui::Context,
) {
    let mut pipeline = open_pipeline(cfg, shared, events, ctx);
    // The mode the models were last loaded for: without the emotion model, switching to attention-only
    // (which does not need it) loads the detectors alone.
    let mut opened_for = cfg.mode;
    let mut generation = 0;
    let mut last_error: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let captured = match frames.recv_timeout(Duration::from_millis(100)) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let frame = &captured.frame;
        if pipeline.is_none() && shared.mode() != opened_for {
            opened_for = shared.mode();
            let cfg = PipelineConfig { mode: opened_for, detector: shared.detector(), ..cfg.clone() };
            pipeline = open_pipeline(&cfg, shared, events, ctx);
        }
        if let Some(p) = pipeline.as_mut() {
            follow_choices(p, shared, events, ctx);
        }
        if captured.generation != generation {
            generation = captured.generation;
            if let Some(p) = pipeline.as_mut() {
                p.reset_tracks();
            }
        }
        let result = match pipeline.as_mut().map(|p| p.process(frame)) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                // One message per few seconds, not one per frame.
                if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    tracing::warn!("{e}");
                    send_event(events, ctx, LiveEvent::InferenceFailed(e.message()));
                    last_error = Some(Instant::now());
                }
                unanalysed(frame)
            }
            None => unanalysed(frame),
        };
        shared.counters.analysed.fetch_add(1, Ordering::Relaxed);
        let shown =
            LiveFrame { result: result.clone(), image: Arc::new(captured.display), analysed: pipeline.is_some() };
        if pipeline.is_some() && !shared.paused.load(Ordering::Relaxed) {
            // The frame itself only when the user ticked "record video frames" (the writer encodes it).
            let keep = shared.session.wants_images().then(|| Arc::new(captured.frame.image));
            if let Err(e) = shared.session.frame(result, captured.generation, keep)
                && last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(5))
            {
                send_event(events, ctx, LiveEvent::FrameNotSaved(e.message()));
                last_error = Some(Instant::now());
            }
        }
        results.send(shown);
        ctx.request_repaint();
    }
}

/// Loads the models, telling the window which provider runs them or why they could not be loaded.
fn open_pipeline(
    cfg: &PipelineConfig,
    shared: &Shared,
    events: &Sender<LiveEvent>,
    ctx: &egui::Context,
) -> Option<Pipeline> {
    match Pipeline::open(cfg) {
        Ok(p) => {
            shared.session.set_pipeline(p.mode(), p.model_files());
            send_event(events, ctx, LiveEvent::ModelReady { provider: super::errors::provider_message(p.provider()) });
            Some(p)
        }
        Err(e) => {
            tracing::error!("{e}");
            send_event(events, ctx, LiveEvent::ModelFailed(e.message()));
            None
        }
    }
}

/// Switches the pipeline to the detector and mode the user picked (the window's menus); when that fails
/// the user is told and the choices return to what runs.
fn follow_choices(p: &mut Pipeline, shared: &Shared, events: &Sender<LiveEvent>, ctx: &egui::Context) {
    let (detector, mode) = (shared.detector(), shared.mode());
    if p.detector_choice() == detector && p.mode() == mode {
        return;
    }
    let switched = match p.detector_choice() == detector {
        true => Ok(()),
        false => p.set_detector(detector),
    };
    if let Err(e) = switched.and_then(|()| p.set_mode(mode)) {
        tracing::warn!("{e}");
        send_event(events, ctx, LiveEvent::InferenceFailed(e.message()));
        shared.set_detector(p.detector_choice());
        shared.set_mode(p.mode());
    }
    shared.session.set_pipeline(p.mode(), p.model_files());
}

/// Longest side of the picture the window shows. Larger frames (a 1920x1080 screen, a 4K camera) are
/// shrunk for display only — analysis always sees the full frame — which keeps the texture upload and
/// software rendering cheap and stays under every GPU's texture limit.
pub(crate) const DISPLAY_MAX_SIDE: u32 = 1280;

/// The frame as an egui image no larger than `max_side`: the mean of k x k blocks for the smallest whole
/// k that fits (cheap, and no aliasing of small faces).
pub(crate) fn display_image(frame: &image::RgbImage, max_side: u32) -> egui::ColorImage {
    let (w, h) = frame.dimensions();
    let k = w.max(h).div_ceil(max_side.max(1)).max(1) as usize;
    if k == 1 {
        return egui::ColorImage::from_rgb([w as usize, h as usize], frame.as_raw());
    }
    let (ow, oh) = ((w as usize / k).max(1), (h as usize / k).max(1));
    let raw = frame.as_raw();
    let stride = w as usize * 3;
    let mut out = Vec::with_capacity(ow * oh * 3);
    for oy in 0..oh {
        for ox in 0..ow {
            let mut acc = [0u32; 3];
            let (ys, xs) = ((oy * k).min(h as usize - 1), (ox * k).min(w as usize - 1));
            let (ye, xe) = ((ys + k).min(h as usize), (xs + k).min(w as usize));
            for y in ys..ye {
                for px in raw[y * stride + xs * 3..y * stride + xe * 3].chunks_exact(3) {
                    acc[0] += px[0] as u32;
                    acc[1] += px[1] as u32;
                    acc[2] += px[2] as u32;
                }
            }
            let n = ((ye - ys) * (xe - xs)).max(1) as u32;
            out.extend(acc.map(|c| (c / n) as u8));
        }
    }
    egui::ColorImage::from_rgb([ow, oh], &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_frames_are_shrunk_for_display_and_small_ones_kept() {
        let small = image::RgbImage::from_pixel(640, 480, image::Rgb([10, 20, 30]));
        assert_eq!(display_image(&small, 1280).size, [640, 480]);
        let hd = image::RgbImage::from_fn(1920, 1080, |x, _| image::Rgb([if x % 2 == 0 { 0 } else { 200 }, 50, 60]));
        let shown = display_image(&hd, 1280);
        assert_eq!(shown.size, [960, 540]);
        assert_eq!(shown.pixels[0], egui::Color32::from_rgb(100, 50, 60), "2x2 blocks are averaged");
        // A panorama far beyond any GPU texture limit.
        let wide = image::RgbImage::new(40000, 64);
        let shown = display_image(&wide, 1280);
        assert!(shown.size[0] <= 1280 && shown.size[1] >= 1, "{:?}", shown.size);
    }

    #[test]
    fn pacer_releases_frames_on_the_video_clock() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert_eq!(p.due(0.0, t0), t0);
        assert_eq!(p.due(1.0, t0), t0 + Duration::from_secs(1));
        p.shift(Duration::from_millis(500));
        assert_eq!(p.due(1.0, t0), t0 + Duration::from_millis(1500));
    }
}
