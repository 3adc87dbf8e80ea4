//! The session writer: one thread (`session-writer`) owns the session's [`Recorder`] and does all of its file I/O
//! (rows, fsync, markers, the report at the end, saved video frames). Everyone else sends it [`commands`]
//! through a bounded channel and reads what it publishes: a [`SessionView`] snapshot, replaced after every
//! change and taken with a lock held only long enough to clone an `Arc`. So a window never waits for a disk,
//! and a slow disk slows nothing but the writer (the inference thread feels it only when the queue is full).
//!
//! [`commands`]: SessionWriter::start

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::{Recorder, SecondRow, SessionError, SessionMeta, SessionSummary, Timeline};
use crate::engagement::EngagementConfig;
use crate::pipeline::{FrameResult, Mode};
use crate::provenance::ModelFile;

/// Commands waiting for the writer. At 30 frames/s this is about 17 s of frames: a disk that stalls for
/// longer makes the inference thread wait (nothing is dropped), never the window.
const QUEUE: usize = 512;

/// How long a window's command may wait for room in a full queue before it is refused with an error.
const UI_SEND_WAIT: Duration = Duration::from_millis(20);

/// Called on the writer thread with a command's outcome (e.g. it sends a message to the window).
pub(crate) type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// Maps source timestamps onto one session clock that never goes back: a reopened camera (or a
/// different video) continues where the previous source stopped.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SessionClock {
    generation: Option<u64>,
    source_t0: f64,
    base: f64,
    last: f64,
}

impl SessionClock {
    /// Session seconds of a frame at `timestamp_s` from source `generation`.
    pub fn map(&mut self, generation: u64, timestamp_s: f64) -> f64 {
        if self.generation != Some(generation) {
            // A new source starts just after the last recorded moment (0 for the first one).
            self.base = if self.generation.is_some() { self.last + 1e-3 } else { 0.0 };
            self.source_t0 = timestamp_s;
            self.generation = Some(generation);
        }
        let t = (self.base + (timestamp_s - self.source_t0)).max(self.last);
        self.last = t;
        t
    }

    /// The latest session time handed out.
    pub fn now(&self) -> f64 {
        self.last
    }
}

/// What the writer publishes: the state of the session as of the last command it handled.
#[derive(Debug, Clone, Default)]
pub struct SessionView {
    /// A session is being recorded.
    pub recording: bool,
    /// The session folder being written, or the last one written.
    pub dir: Option<PathBuf>,
    /// The live timeline, or the last one after the session stopped.
    pub timeline: Option<Arc<Timeline>>,
    /// Session seconds of the latest frame recorded.
    pub clock_s: f64,
    /// Video frames saved as JPEG (only when the user turned it on).
    pub frames_saved: u64,
}

/// A video frame to save beside the session (opt-in), with the frame it belongs to.
pub(crate) type FrameImage = Arc<image::RgbImage>;

enum Command {
    Start {
        root: PathBuf,
        name: String,
        model: String,
        reply: Reply<Result<PathBuf, SessionError>>,
    },
    /// A recorder created by the caller (`analyze`: its folder and CSV mirror set up on the caller's thread).
    Adopt(Box<Recorder>),
    Frame {
        result: FrameResult,
        generation: u64,
        image: Option<FrameImage>,
    },
    Mark {
        name: String,
        reply: Reply<Result<f64, SessionError>>,
    },
    Sync,
    /// Puts everything on disk and replies with the session folder (for an export).
    Flush {
        reply: Reply<Result<PathBuf, SessionError>>,
    },
    Stop {
        reply: Reply<Result<SessionSummary, SessionError>>,
    },
    ShareSink(Option<Sender<(i64, SecondRow)>>),
    Pipeline {
        mode: Mode,
        files: Vec<ModelFile>,
    },
    RecordFrames(bool),
    Shutdown,
}

/// An error the writer met on its own (a frame it could not write, a frame image it could not save).
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot save the video frame {path}: {message}")]
    FrameImage { path: PathBuf, message: String },
    #[error("the session writer is not keeping up (the disk is too slow or stalled): {what} was not recorded")]
    Busy { what: &'static str },
    #[error("the session writer has stopped: {what} was not recorded")]
    Gone { what: &'static str },
}

/// The handle everyone holds. Cheap to share (`Arc` it); dropping the last one ends the thread after it has
/// handled what was queued.
pub struct SessionWriter {
    tx: Sender<Command>,
    view: Arc<Mutex<Arc<SessionView>>>,
    errors: Arc<Mutex<Vec<WriterError>>>,
    /// Set while a session records frames as JPEG: the inference thread then hands over the frame image.
    record_frames: Arc<std::sync::atomic::AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SessionWriter {
    /// Starts the writer thread (no session yet). Should the OS refuse a thread, every command fails with
    /// [`WriterError::Gone`], which the window shows: nothing panics.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let view = Arc::new(Mutex::new(Arc::new(SessionView::default())));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let record_frames = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut owner = Owner {
            view: view.clone(),
            errors: errors.clone(),
            record_frames: record_frames.clone(),
            recorder: None,
            dir: None,
            clock: SessionClock::default(),
            source_time: false,
            frames_saved: 0,
            finished_timeline: None,
            published_revision: None,
            mode: Mode::default(),
            model_files: Vec::new(),
            share_sink: None,
        };
        let thread = std::thread::Builder::new().name("session-writer".into()).spawn(move || owner.run(&rx));
        let thread = thread.map_err(|e| tracing::error!("cannot start the session-writer thread: {e}")).ok();
        Self { tx, view, errors, record_frames, thread: Mutex::new(thread) }
    }

    /// The latest published state; never waits for the writer.
    pub fn view(&self) -> Arc<SessionView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Errors met since the last call (each said once).
    pub(crate) fn take_errors(&self) -> Vec<WriterError> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the next frames should carry their image (frame recording is on and a session runs).
    pub(crate) fn wants_images(&self) -> bool {
        self.record_frames.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A command from a window: waits at most [`UI_SEND_WAIT`] for room.
    fn send_ui(&self, cmd: Command, what: &'static str) -> Result<(), WriterError> {
        match self.tx.send_timeout(cmd, UI_SEND_WAIT) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => Err(WriterError::Busy { what }),
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => Err(WriterError::Gone { what }),
        }
    }

    /// Starts a session in a new folder under `root`; `reply` gets the folder (or why not). Frames sent
    /// after this call go into the new session.
    pub fn start(
        &self,
        root: &Path,
        name: &str,
        model: &str,
        reply: Reply<Result<PathBuf, SessionError>>,
    ) -> Result<(), WriterError> {
        let cmd = Command::Start { root: root.to_path_buf(), name: name.to_string(), model: model.to_string(), reply };
        self.send_ui(cmd, "the start of the session")
    }

    /// Records into a recorder the caller created (its folder and files already exist). Its frames keep their
    /// own timestamps (no session clock: `analyze` writes the source's time).
    pub(crate) fn adopt(&self, recorder: Recorder) -> Result<(), WriterError> {
        self.tx.send(Command::Adopt(Box::new(recorder))).map_err(|_| WriterError::Gone { what: "the session" })
    }

    /// Adds one analysed frame (from source `generation`) to the running session, if any; `image` is saved
    /// beside it when frame recording is on. Waits while the queue is full (the disk is behind): frames are
    /// never dropped.
    pub fn frame(&self, result: FrameResult, generation: u64, image: Option<FrameImage>) -> Result<(), WriterError> {
        self.tx.send(Command::Frame { result, generation, image }).map_err(|_| WriterError::Gone { what: "a frame" })
    }

    /// A named marker at the session's current time; `reply` gets that time.
    pub fn mark(&self, name: &str, reply: Reply<Result<f64, SessionError>>) -> Result<(), WriterError> {
        self.send_ui(Command::Mark { name: name.to_string(), reply }, "a marker")
    }

    /// Forces what was recorded to disk (done every second while frames come; call it when they stop).
    pub fn sync(&self) {
        let _ = self.tx.try_send(Command::Sync);
    }

    /// Puts the session on disk and replies with its folder (what an export copies).
    pub fn flush(&self, reply: Reply<Result<PathBuf, SessionError>>) -> Result<(), WriterError> {
        self.send_ui(Command::Flush { reply }, "the export")
    }

    /// Finishes the running session and waits for it (a command-line run's end, not a window's).
    pub(crate) fn finish_and_wait(&self) -> Result<SessionSummary, WriterError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let reply: Reply<Result<SessionSummary, SessionError>> = Box::new(move |r| {
            let _ = tx.send(r);
        });
        self.tx.send(Command::Stop { reply }).map_err(|_| WriterError::Gone { what: "the end of the session" })?;
        Ok(rx.recv().map_err(|_| WriterError::Gone { what: "the end of the session" })??)
    }

    /// Finishes the running session (last second, segments, report); `reply` gets the summary.
    pub fn stop(&self, reply: Reply<Result<SessionSummary, SessionError>>) -> Result<(), WriterError> {
        self.send_ui(Command::Stop { reply }, "the end of the session")
    }

    /// Starts (Some) or stops (None) handing each closed second to the class sharer, for this session and
    /// the next ones.
    pub(crate) fn set_share_sink(&self, sink: Option<Sender<(i64, SecondRow)>>) {
        let _ = self.send_ui(Command::ShareSink(sink), "the class-sharing switch");
    }

    /// What the inference thread runs now (at start, or after a detector or mode change), for the next
    /// session's `session.json`.
    pub(crate) fn set_pipeline(&self, mode: Mode, files: &[ModelFile]) {
        let _ = self.tx.send(Command::Pipeline { mode, files: files.to_vec() });
    }

    /// The mode the user just chose, for a session started before the inference thread has switched.
    pub fn set_mode(&self, mode: Mode) {
        let _ = self.send_ui(Command::Pipeline { mode, files: Vec::new() }, "the mode switch");
    }

    /// Turns saving video frames (JPEG, in the session folder) on or off.
    pub(crate) fn set_record_frames(&self, on: bool) {
        let _ = self.send_ui(Command::RecordFrames(on), "the frame-recording switch");
    }

    /// Ends the thread after everything queued was handled (a session still running is left as after a
    /// crash: on disk up to its last second, reopened as interrupted). Waits at most `limit`.
    pub(crate) fn shutdown(&self, limit: Duration) -> bool {
        let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() else { return true };
        let deadline = std::time::Instant::now() + limit;
        if self.tx.send_timeout(Command::Shutdown, limit).is_err() {
            tracing::warn!("the session writer did not take the shutdown within {limit:?}");
            return false;
        }
        while !thread.is_finished() {
            if std::time::Instant::now() >= deadline {
                tracing::warn!("the session writer did not finish within {limit:?}");
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = thread.join();
        true
    }
}

impl Default for SessionWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SessionWriter {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(10));
    }
}

/// The writer thread's state.
struct Owner {
    view: Arc<Mutex<Arc<SessionView>>>,
    errors: Arc<Mutex<Vec<WriterError>>>,
    record_frames: Arc<std::sync::atomic::AtomicBool>,
    recorder: Option<Recorder>,
    dir: Option<PathBuf>,
    clock: SessionClock,
    /// Frames keep their source timestamps (an adopted recorder).
    source_time: bool,
    frames_saved: u64,
    finished_timeline: Option<Arc<Timeline>>,
    /// Revision of the timeline last published (a copy is made only when it changed).
    published_revision: Option<u64>,
    mode: Mode,
    model_files: Vec<ModelFile>,
    share_sink: Option<Sender<(i64, SecondRow)>>,
}

impl Owner {
    fn run(&mut self, rx: &Receiver<Command>) {
        let mut user_wants_frames = false;
        while let Ok(cmd) = rx.recv() {
            // An answer is given after the snapshot shows the command's effect (whoever is answered reads it).
            let mut answer: Option<Box<dyn FnOnce()>> = None;
            match cmd {
                Command::Start { root, name, model, reply } => {
                    let r = self.start(&root, &name, &model);
                    answer = Some(Box::new(move || reply(r)));
                }
                Command::Adopt(recorder) => {
                    let mut recorder = *recorder;
                    if self.share_sink.is_some() {
                        recorder.send_seconds_to(self.share_sink.clone());
                    }
                    self.begin(recorder);
                    self.source_time = true;
                }
                Command::Frame { result, generation, image } => self.frame(result, generation, image),
                Command::Mark { name, reply } => {
                    let r = self.mark(&name);
                    answer = Some(Box::new(move || reply(r)));
                }
                Command::Sync => {
                    if let Some(r) = self.recorder.as_mut()
                        && let Err(e) = r.sync()
                    {
                        self.error(e.into());
                    }
                }
                Command::Flush { reply } => {
                    let r = self.flush();
                    answer = Some(Box::new(move || reply(r)));
                }
                Command::Stop { reply } => {
                    let r = match self.recorder.take() {
                        Some(r) => {
                            self.finished_timeline = Some(Arc::new(r.timeline().clone()));
                            r.finish()
                        }
                        None => Err(not_running()),
                    };
                    answer = Some(Box::new(move || reply(r)));
                }
                Command::ShareSink(sink) => {
                    if let Some(r) = self.recorder.as_mut() {
                        r.send_seconds_to(sink.clone());
                    }
                    self.share_sink = sink;
                }
                Command::Pipeline { mode, files } => {
                    self.mode = mode;
                    if !files.is_empty() {
                        self.model_files = files;
                    }
                }
                Command::RecordFrames(on) => user_wants_frames = on,
                Command::Shutdown => break,
            }
            let wants = user_wants_frames && self.recorder.is_some();
            self.record_frames.store(wants, std::sync::atomic::Ordering::Relaxed);
            self.publish();
            if let Some(answer) = answer {
                answer();
            }
        }
        // A session still open stays as after a crash (synced by the recorder's drop).
    }

    fn error(&self, e: WriterError) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        // The first of a burst is enough (a full disk fails every frame).
        if errors.len() < 8 {
            errors.push(e);
        }
    }

    fn start(&mut self, root: &Path, name: &str, model: &str) -> Result<PathBuf, SessionError> {
        if let Some(r) = &self.recorder {
            return Ok(r.dir().to_path_buf());
        }
        let meta = SessionMeta {
            source: name.to_string(),
            model: model.to_string(),
            engagement: EngagementConfig::default(),
            mode: self.mode,
            model_files: self.model_files.clone(),
        };
        let mut recorder = Recorder::create(root, name, meta)?;
        recorder.send_seconds_to(self.share_sink.clone());
        let dir = recorder.dir().to_path_buf();
        self.begin(recorder);
        Ok(dir)
    }

    fn begin(&mut self, recorder: Recorder) {
        self.dir = Some(recorder.dir().to_path_buf());
        self.recorder = Some(recorder);
        self.clock = SessionClock::default();
        self.source_time = false;
        self.frames_saved = 0;
        self.finished_timeline = None;
        self.published_revision = None;
    }

    fn frame(&mut self, mut result: FrameResult, generation: u64, image: Option<FrameImage>) {
        let Some(recorder) = self.recorder.as_mut() else { return };
        let t = if self.source_time { result.timestamp_s } else { self.clock.map(generation, result.timestamp_s) };
        result.timestamp_s = t;
        if let Err(e) = recorder.push(&result) {
            self.error(e.into());
        }
        let (Some(image), Some(dir)) = (image, self.dir.as_ref()) else { return };
        let path = dir.join("frames").join(format!("{:010.3}_{:06}.jpg", t, result.index));
        match save_jpeg(&image, &path) {
            Ok(()) => self.frames_saved += 1,
            Err(message) => self.error(WriterError::FrameImage { path, message }),
        }
    }

    fn mark(&mut self, name: &str) -> Result<f64, SessionError> {
        let Some(recorder) = self.recorder.as_mut() else { return Err(not_running()) };
        let t = self.clock.now();
        recorder.mark(name, t)?;
        Ok(t)
    }

    fn flush(&mut self) -> Result<PathBuf, SessionError> {
        let Some(dir) = self.dir.clone() else { return Err(not_running()) };
        if let Some(r) = self.recorder.as_mut() {
            r.sync()?;
        }
        Ok(dir)
    }

    /// Replaces the snapshot; the timeline is copied only when it changed (about once a second).
    fn publish(&mut self) {
        let timeline = match &self.recorder {
            Some(r) if self.published_revision == Some(r.timeline().revision()) => {
                self.view.lock().unwrap_or_else(|p| p.into_inner()).timeline.clone()
            }
            Some(r) => {
                self.published_revision = Some(r.timeline().revision());
                Some(Arc::new(r.timeline().clone()))
            }
            None => self.finished_timeline.clone(),
        };
        let view = SessionView {
            recording: self.recorder.is_some(),
            dir: self.dir.clone(),
            timeline,
            clock_s: self.clock.now(),
            frames_saved: self.frames_saved,
        };
        *self.view.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
    }
}

fn not_running() -> SessionError {
    SessionError::NotRunning
}

/// Saves one frame as JPEG (only when the user turned frame recording on).
fn save_jpeg(image: &image::RgbImage, path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut w, 85)
        .encode_image(image)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn result(index: u64, t: f64) -> FrameResult {
        FrameResult {
            source: Arc::from("test"),
            index,
            timestamp_s: t,
            captured_at: Instant::now(),
            frame_size: (64, 48),
            faces: Vec::new(),
            timings: Default::default(),
        }
    }

    /// Sends `f` a reply and waits for the answer (what a window gets through its job channel).
    fn ask<T: Send + 'static>(f: impl FnOnce(Reply<T>) -> Result<(), WriterError>) -> T {
        let (tx, rx) = crossbeam_channel::bounded(1);
        f(Box::new(move |r| tx.send(r).unwrap())).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn frames_are_saved_only_when_the_user_turns_recording_on() {
        let root = tempfile::tempdir().unwrap();
        let w = SessionWriter::new();
        let dir = ask(|r| w.start(root.path(), "test video", "dev.onnx on CPU", r)).unwrap();
        assert!(!w.wants_images(), "off by default");
        let image = Arc::new(image::RgbImage::from_pixel(64, 48, image::Rgb([120, 90, 60])));
        w.frame(result(0, 0.0), 1, None).unwrap();
        w.set_record_frames(true);
        ask(|r| w.flush(r)).unwrap();
        assert!(w.wants_images());
        w.frame(result(1, 0.5), 1, Some(image)).unwrap();
        let t = ask(|r| w.mark("quiz", r)).unwrap();
        assert!((t - 0.5).abs() < 1e-9, "{t}");
        let saved: Vec<_> = std::fs::read_dir(dir.join("frames")).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(saved.len(), 1, "{saved:?}");
        assert_eq!(image::open(&saved[0]).unwrap().width(), 64);
        assert_eq!(w.view().frames_saved, 1);
        let summary = ask(|r| w.stop(r)).unwrap();
        assert!(summary.report.is_file());
        let view = w.view();
        assert!(!view.recording && view.timeline.is_some(), "the timeline stays on screen after stop");
        assert!(!w.wants_images(), "no session, no images");
        assert!(matches!(ask(|r| w.mark("late", r)), Err(SessionError::NotRunning)));
    }

    #[test]
    fn a_session_left_running_at_shutdown_keeps_its_rows() {
        let root = tempfile::tempdir().unwrap();
        let w = SessionWriter::new();
        let dir = ask(|r| w.start(root.path(), "cut", "m", r)).unwrap();
        for i in 0..45 {
            w.frame(result(i, i as f64 / 15.0), 1, None).unwrap();
        }
        assert!(w.shutdown(Duration::from_secs(10)));
        let loaded = crate::session::open_session(&dir).unwrap();
        assert!(loaded.interrupted);
        assert_eq!(loaded.timeline.len(), 2, "seconds 0 and 1 closed; the open one stays as after a crash");
    }

    #[test]
    fn session_clock_never_goes_back() {
        let mut c = SessionClock::default();
        assert_eq!(c.map(1, 100.0), 0.0);
        assert_eq!(c.map(1, 101.5), 1.5);
        // The camera was reopened: its timestamps restart near 0, the session continues.
        let t = c.map(2, 0.2);
        assert!(t > 1.5 && t < 1.6, "{t}");
        assert!(c.map(2, 1.2) > 2.4);
    }
}
