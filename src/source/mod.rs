//! Frame sources: where pictures come from, behind one interface.
//!
//! * a video file, decoded by an `ffmpeg` subprocess ([`VideoSource`]),
//! * a folder of images or a single image ([`ImageFolderSource`], [`SingleImageSource`]),
//! * a live camera, captured on its own thread ([`CameraSource`]),
//! * a screen, a region of it or one window, captured on its own thread ([`ScreenSource`]).
//!
//! [`open`] picks the right one for a path, or for a `screen:N` / `window:TITLE` spec. Every source hands out [`Frame`]s that carry
//! their position in the stream (`index`, `timestamp_s`) and when they were produced
//! (`captured_at`), so later stages can measure latency and place results on a timeline.
//!
//! Frame skipping (`--every N`) is the caller's job: decoding a video cannot skip frames
//! cheaply anyway, and the caller knows whether it wants frame indices or seconds.

pub mod camera;
pub mod images;
pub mod screen;
pub mod video;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use camera::{CameraInfo, CameraSelector, CameraSource, list_cameras};
pub use images::{DEFAULT_IMAGE_FPS, IMAGE_EXTENSIONS, ImageFolderSource, SingleImageSource, is_image_path};
pub use screen::{Region, ScreenInfo, ScreenOptions, ScreenSource, ScreenTarget, list_screens};
pub use video::{VideoInfo, VideoSource, probe};

/// One picture from a source.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: image::RgbImage,
    /// Position in the stream, from 0. Videos and cameras count delivered frames; an image
    /// folder uses the position of the file in the sorted listing, so a skipped unreadable
    /// image leaves a gap rather than shifting the time of every later image.
    pub index: u64,
    /// Seconds from the start of the stream: the presentation time for a video (correct for
    /// variable frame rate), `index / fps` for an image folder, time since opening for a camera.
    pub timestamp_s: f64,
    /// When this process got the frame (read from the pipe, decoded from disk, or captured).
    pub captured_at: Instant,
    /// File name or camera name, for messages and exports.
    pub source: Arc<str>,
}

/// Anything that yields frames in order. `Ok(None)` is the normal end of the stream; after an
/// error or the end, further calls return `Ok(None)`; a lost camera needs a new source.
pub trait FrameSource: Send {
    /// The next frame, blocking until it is available.
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;
    /// How many frames the stream holds, when known (a live camera: `None`). For some video
    /// containers this is an estimate from duration × frame rate; use it for progress only.
    fn total_frames(&self) -> Option<u64>;
    /// File name or camera name.
    fn name(&self) -> &str;
    /// Nominal frame rate (average for variable-frame-rate video), when known.
    fn fps(&self) -> Option<f64>;
    /// Inputs skipped so far because they could not be read (images of a folder); 0 for a stream.
    fn skipped(&self) -> u64 {
        0
    }
}

/// Stops waiting for a capture thread (camera, screen) after a second: it checks its stop flag after each
/// frame, but a driver or display stuck in a read must not hang the caller, so it is then left to finish
/// on its own.
pub(crate) fn join_or_detach(thread: std::thread::JoinHandle<()>, what: &str) {
    let deadline = Instant::now() + std::time::Duration::from_secs(1);
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if thread.is_finished() {
        let _ = thread.join();
    } else {
        tracing::debug!("{what}: capture thread still busy at close; detached");
    }
}

/// Where ffmpeg comes from on this platform.
#[cfg(windows)]
const INSTALL_FFMPEG: &str =
    "ffmpeg.exe and ffprobe.exe belong next to emotion-monitor.exe (reinstall emotion-monitor)";
#[cfg(not(windows))]
const INSTALL_FFMPEG: &str = "install it (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg)";
/// Where a camera's permission is granted on this platform.
#[cfg(windows)]
const CAMERA_PERMISSION: &str = "allow camera access for desktop apps (Settings → Privacy & security → Camera)";
#[cfg(not(windows))]
const CAMERA_PERMISSION: &str = "check permissions (user in group `video`)";

/// Everything a user can hit while opening or reading a source. Each message names the file
/// or device and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}: no such file or folder — check the path")]
    NotFound(PathBuf),

    #[error("{0}: the file is empty (0 bytes) — the recording or copy did not finish; use another copy")]
    Empty(PathBuf),

    #[error("{path}: cannot read it ({source}) — check the permissions")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{path}: not a video ffmpeg can read ({detail}) — check that it is a video file (mp4, mkv, avi, mov, webm…) and not damaged"
    )]
    NotAVideo { path: PathBuf, detail: String },

    #[error(
        "{path}: the video ends early after {at_frame} good frames ({detail}) — the file is probably truncated (interrupted recording or copy); results up to that point are valid"
    )]
    Truncated { path: PathBuf, at_frame: u64, detail: String },

    #[error(
        "{path}: decoding failed after {at_frame} frames ({detail}) — try re-encoding it: ffmpeg -i INPUT -c:v libx264 OUTPUT.mp4"
    )]
    DecodeFailed { path: PathBuf, at_frame: u64, detail: String },

    #[error("{0}: the folder holds no images ({exts}) — point to a folder of frames or to a video file", exts = IMAGE_EXTENSIONS.join(", "))]
    NoImages(PathBuf),

    #[error("{path}: cannot decode the image ({detail}) — the file is damaged or not really an image")]
    UnreadableImage { path: PathBuf, detail: String },

    #[error(
        "{dir}: none of its {count} image files could be decoded (damaged, or not really images) — nothing was analysed"
    )]
    NothingDecoded { dir: PathBuf, count: u64 },

    #[error("`{program}` was not found ({detail}) — videos are decoded with ffmpeg: {}", INSTALL_FFMPEG)]
    FfmpegMissing { program: String, detail: String },

    #[error(
        "no camera matches {wanted} (cameras found: {available}) — plug a webcam in, or pick one listed by the `cameras` command"
    )]
    NoCamera { wanted: String, available: String },

    #[error(
        "camera {camera}: cannot start it ({detail}) — close other apps that use it (video calls, browser tabs), {}, or try another resolution",
        CAMERA_PERMISSION
    )]
    CameraFailed { camera: String, detail: String },

    #[error(
        "camera {camera}: frames stopped ({detail}) — it was unplugged or taken by another app; reconnect it and start again"
    )]
    CameraLost { camera: String, detail: String },

    #[error(
        "screen capture: no display to capture ({0}) — run it inside the desktop session (DISPLAY set, e.g. DISPLAY=:0), or under Xvfb (xvfb-run -a) on a headless machine"
    )]
    NoDisplay(String),

    #[error("\"{0}\": not a screen or window — write screen:N (N = 0 for the first screen) or window:TITLE")]
    BadScreenSpec(String),

    #[error("no screen {wanted} (screens found: {available}) — pass one of those numbers, e.g. screen:0")]
    NoScreen { wanted: u32, available: String },

    #[error(
        "region {region} is not inside {target} ({width}x{height}) — give X,Y,W,H in pixels of it, with X+W ≤ {width} and Y+H ≤ {height}"
    )]
    RegionOutside { region: String, target: String, width: u32, height: u32 },

    #[error(
        "no window title contains \"{wanted}\" (windows: {available}) — check the title (case does not matter), or capture the screen with a region around the window"
    )]
    NoWindow { wanted: String, available: String },

    #[error(
        "cannot list the windows ({0}) — window capture needs a window manager that publishes the window list (EWMH); capture the screen instead (screen:N with a region around the window)"
    )]
    WindowListFailed(String),

    #[error(
        "{target}: cannot capture it ({detail}) — check that the window is visible (not minimised) and the display still there, or capture the whole screen"
    )]
    ScreenFailed { target: String, detail: String },

    #[error(
        "{target}: captures stopped ({detail}) — the display went away or the window was closed or minimised; start again"
    )]
    ScreenLost { target: String, detail: String },
}

/// Opens whatever `path` points to: a folder → [`ImageFolderSource`] (1 image per second,
/// see [`DEFAULT_IMAGE_FPS`]); a file with an image extension → [`SingleImageSource`];
/// anything else → [`VideoSource`] (probed with `ffprobe` first, so a bad file fails here
/// rather than at the first frame). `screen:N` and `window:TITLE` open a [`ScreenSource`] with
/// default settings (whole screen or window, no time limit) — checked first, so a file literally
/// named `screen:0` must be written `./screen:0`.
pub fn open(path: &Path) -> Result<Box<dyn FrameSource>, SourceError> {
    if let Some(target) = path.to_str().and_then(screen::parse_spec) {
        return Ok(Box::new(ScreenSource::open(ScreenOptions::new(target?))?));
    }
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    if meta.is_dir() {
        return Ok(Box::new(ImageFolderSource::open(path, DEFAULT_IMAGE_FPS)?));
    }
    if meta.len() == 0 {
        return Err(SourceError::Empty(path.to_path_buf()));
    }
    if is_image_path(path) {
        return Ok(Box::new(SingleImageSource::open(path)?));
    }
    Ok(Box::new(VideoSource::open(path)?))
}

/// `NotFound` for a missing path, `Io` for anything else (permissions, …).
fn io_error(path: &Path, e: std::io::Error) -> SourceError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SourceError::NotFound(path.to_path_buf())
    } else {
        SourceError::Io { path: path.to_path_buf(), source: e }
    }
}

/// The name shown for a file source: its file name, or the whole path when it has none.
fn display_name(path: &Path) -> Arc<str> {
    path.file_name().map(|n| n.to_string_lossy()).unwrap_or_else(|| path.to_string_lossy()).into()
}
