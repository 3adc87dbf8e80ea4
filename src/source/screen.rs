//! The teacher's view: a screen, a region of it, or one window (the video-call gallery), captured
//! with `xcap` as a live source.
//!
//! Like [`super::CameraSource`], the capture runs on its own thread from opening to closing and
//! hands frames over through a slot of one: when the pipeline is slower than the capture, the stale
//! frame is replaced, so the consumer always gets the newest picture and no queue builds up. Frame
//! `index` counts captured frames, so dropped ones show up as gaps. The capture is paced to at most
//! [`ScreenOptions::max_fps`] (default [`DEFAULT_SCREEN_FPS`]) so that it does not take a whole core
//! from the analysis for frames nobody will look at.
//!
//! Pixels stay in memory: nothing is written unless the user asks for frames to be recorded.
//!
//! Backends: on X11 xcap reads the root window (or the chosen window) with `GetImage`. On Wayland
//! xcap asks GNOME Shell or the desktop portal for one screenshot per frame (a PNG file each time),
//! which is slow and may ask the user for permission; see the README.
//!
//! Specs: `screen:N` is screen N as xcap lists it (0 = the first), `window:TITLE` the first window
//! whose title contains TITLE (ignoring case). [`super::open`] recognises both before it looks for
//! a file, so a *file* literally named `screen:0` must be written `./screen:0`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use image::{RgbImage, RgbaImage};

use super::{Frame, FrameSource, SourceError};

/// Captures per second at most, by default. A full 1920x1080 X11 capture takes tens of
/// milliseconds, so the full screen runs near its own limit; a region reaches this cap.
pub(crate) const DEFAULT_SCREEN_FPS: f64 = 15.0;
/// How long [`ScreenSource::next_frame`] waits for a frame before declaring the capture lost.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening may take (listing screens, the first capture).
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Capture errors in a row tolerated (a window being resized) before the capture counts as lost.
const MAX_CONSECUTIVE_ERRORS: u32 = 10;

/// A rectangle in pixels, relative to the top-left corner of the screen (or window) captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl FromStr for Region {
    type Err = String;

    /// `X,Y,W,H` in pixels, e.g. `0,0,1280,720`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let bad = || format!("region \"{s}\": write X,Y,W,H in pixels (e.g. 0,0,1280,720), W and H greater than 0");
        let [x, y, w, h] = parts.as_slice() else { return Err(bad()) };
        let num = |t: &str| t.parse::<u32>().map_err(|_| bad());
        let region = Region { x: num(x)?, y: num(y)?, width: num(w)?, height: num(h)? };
        if region.width == 0 || region.height == 0 {
            return Err(bad());
        }
        Ok(region)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.width, self.height)
    }
}

impl Region {
    /// Whether the region lies inside a `width` x `height` picture.
    pub(crate) fn fits(&self, width: u32, height: u32) -> bool {
        u64::from(self.x) + u64::from(self.width) <= u64::from(width)
            && u64::from(self.y) + u64::from(self.height) <= u64::from(height)
    }
}

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenTarget {
    /// Screen N in xcap's list (0 = the first).
    Screen(u32),
    /// The first window whose title contains this text, ignoring case ("zoom", "meet").
    Window(String),
}

impl fmt::Display for ScreenTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScreenTarget::Screen(n) => write!(f, "screen {n}"),
            ScreenTarget::Window(t) => write!(f, "window \"{t}\""),
        }
    }
}

/// A screen source's settings (the CLI's `screen:N`, `--region`, `--duration`, `--window-title`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenOptions {
    pub target: ScreenTarget,
    /// Only this part of the screen (or window).
    pub region: Option<Region>,
    /// End the stream after this many seconds; `None`: until closed.
    pub duration_s: Option<f64>,
    /// Captures per second at most.
    pub max_fps: f64,
}

impl ScreenOptions {
    pub fn new(target: ScreenTarget) -> Self {
        Self { target, region: None, duration_s: None, max_fps: DEFAULT_SCREEN_FPS }
    }
}

impl fmt::Display for ScreenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target)?;
        if let Some(r) = self.region {
            write!(f, " region {r}")?;
        }
        Ok(())
    }
}

/// Reads a `screen:N` or `window:TITLE` spec. `None`: not a screen spec (a path); `Some(Err)`:
/// `screen:` followed by something that is not a number.
pub(crate) fn parse_spec(spec: &str) -> Option<Result<ScreenTarget, SourceError>> {
    if let Some(n) = spec.strip_prefix("screen:") {
        return Some(
            n.trim().parse::<u32>().map(ScreenTarget::Screen).map_err(|_| SourceError::BadScreenSpec(spec.to_string())),
        );
    }
    let title = spec.strip_prefix("window:")?;
    Some(if title.trim().is_empty() {
        Err(SourceError::BadScreenSpec(spec.to_string()))
    } else {
        Ok(ScreenTarget::Window(title.trim().to_string()))
    })
}

/// A screen as xcap lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenInfo {
    /// The N of `screen:N`.
    pub index: u32,
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

impl fmt::Display for ScreenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}x{} at {},{}", self.index, self.name, self.width, self.height, self.x, self.y)?;
        if self.primary {
            write!(f, " (primary)")?;
        }
        Ok(())
    }
}

/// Fails with [`SourceError::NoDisplay`] when no display server can be reached.
fn check_display() -> Result<(), SourceError> {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if cfg!(target_os = "linux") && !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Err(SourceError::NoDisplay("neither DISPLAY nor WAYLAND_DISPLAY is set".into()));
    }
    Ok(())
}

/// [`SourceError::NoDisplay`] naming the display that could not be reached.
fn no_display(e: impl fmt::Display) -> SourceError {
    match std::env::var("DISPLAY") {
        Ok(d) if !d.is_empty() => SourceError::NoDisplay(format!("DISPLAY={d}: {e}")),
        _ => SourceError::NoDisplay(e.to_string()),
    }
}

/// True where xcap takes its Wayland path (its own test: a Wayland session or display).
fn wayland_session() -> bool {
    std::env::var("XDG_SESSION_TYPE").is_ok_and(|t| t == "wayland")
        || std::env::var("WAYLAND_DISPLAY").is_ok_and(|d| d.to_lowercase().contains("wayland"))
}

/// All screens, in the order `screen:N` counts them.
pub fn list_screens() -> Result<Vec<ScreenInfo>, SourceError> {
    check_display()?;
    let monitors = xcap::Monitor::all().map_err(no_display)?;
    monitors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let info = || -> xcap::XCapResult<ScreenInfo> {
                Ok(ScreenInfo {
                    index: i as u32,
                    name: m.name().unwrap_or_default(),
                    x: m.x()?,
                    y: m.y()?,
                    width: m.width()?,
                    height: m.height()?,
                    primary: m.is_primary().unwrap_or(false),
                })
            };
            info().map_err(|e| no_display(format!("screen {i}: {e}")))
        })
        .collect()
}

/// The titles of the windows that can be captured (not minimised, with a title).
pub(crate) fn list_windows() -> Result<Vec<String>, SourceError> {
    Ok(windows()?.into_iter().map(|(_, t)| t).collect())
}

fn windows() -> Result<Vec<(xcap::Window, String)>, SourceError> {
    check_display()?;
    let all = xcap::Window::all().map_err(|e| match xcap::Monitor::all() {
        // No display at all, rather than a display without a window manager.
        Err(d) => no_display(d),
        Ok(_) => SourceError::WindowListFailed(e.to_string()),
    })?;
    Ok(all
        .into_iter()
        .filter(|w| !w.is_minimized().unwrap_or(false))
        .filter_map(|w| {
            let title = w.title().ok()?;
            (!title.trim().is_empty()).then_some((w, title))
        })
        .collect())
}

/// Turns xcap's RGBA picture into the RGB frames the pipeline takes.
pub(crate) fn rgba_to_rgb(rgba: &RgbaImage) -> RgbImage {
    let (w, h) = rgba.dimensions();
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for px in rgba.as_raw().chunks_exact(4) {
        rgb.extend_from_slice(&px[..3]);
    }
    RgbImage::from_raw(w, h, rgb).expect("3 bytes per pixel")
}

/// What the capture thread owns: the screen or window, and which part of it to grab.
enum Grabber {
    Screen { monitor: xcap::Monitor, region: Option<Region> },
    Window { window: xcap::Window, region: Option<Region> },
}

impl Grabber {
    /// Finds the target and checks the region against its size.
    fn open(opts: &ScreenOptions) -> Result<(Self, String), SourceError> {
        match &opts.target {
            ScreenTarget::Screen(n) => {
                let screens = list_screens()?;
                let Some(info) = screens.iter().find(|s| s.index == *n) else {
                    let available = if screens.is_empty() {
                        "none".to_string()
                    } else {
                        screens.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    };
                    return Err(SourceError::NoScreen { wanted: *n, available });
                };
                if let Some(r) = opts.region
                    && !r.fits(info.width, info.height)
                {
                    return Err(SourceError::RegionOutside {
                        region: r.to_string(),
                        target: format!("screen {n}"),
                        width: info.width,
                        height: info.height,
                    });
                }
                let monitor = xcap::Monitor::all()
                    .ok()
                    .and_then(|m| m.into_iter().nth(*n as usize))
                    .ok_or_else(|| no_display(format!("screen {n} vanished while opening")))?;
                Ok((Grabber::Screen { monitor, region: opts.region }, opts.to_string()))
            }
            ScreenTarget::Window(wanted) => {
                let needle = wanted.to_lowercase();
                let mut found = windows()?;
                let Some(pos) = found.iter().position(|(_, t)| t.to_lowercase().contains(&needle)) else {
                    let titles: Vec<String> = found.iter().map(|(_, t)| format!("\"{t}\"")).collect();
                    let available = if titles.is_empty() { "none".to_string() } else { titles.join(", ") };
                    return Err(SourceError::NoWindow { wanted: wanted.clone(), available });
                };
                let (window, title) = found.swap_remove(pos);
                if let Some(r) = opts.region {
                    let (w, h) = (window.width().unwrap_or(0), window.height().unwrap_or(0));
                    if !r.fits(w, h) {
                        return Err(SourceError::RegionOutside {
                            region: r.to_string(),
                            target: format!("window \"{title}\""),
                            width: w,
                            height: h,
                        });
                    }
                }
                let mut name = format!("window \"{title}\"");
                if let Some(r) = opts.region {
                    name.push_str(&format!(" region {r}"));
                }
                Ok((Grabber::Window { window, region: opts.region }, name))
            }
        }
    }

    /// One picture, RGB.
    fn grab(&self) -> Result<RgbImage, String> {
        let rgba = match self {
            Grabber::Screen { monitor, region: None } => monitor.capture_image(),
            Grabber::Screen { monitor, region: Some(r) } => monitor.capture_region(r.x, r.y, r.width, r.height),
            Grabber::Window { window, region } => window.capture_image().map(|img| match region {
                // xcap grabs the whole window; the region is cut out here.
                Some(r) if r.fits(img.width(), img.height()) => {
                    image::imageops::crop_imm(&img, r.x, r.y, r.width, r.height).to_image()
                }
                _ => img,
            }),
        }
        .map_err(|e| e.to_string())?;
        Ok(rgba_to_rgb(&rgba))
    }
}

/// Checks that the screen or window exists and the region fits, without capturing: for callers
/// that want to fail fast before slow work (loading models) and open the source afterwards.
pub fn check(opts: &ScreenOptions) -> Result<(), SourceError> {
    check_display()?;
    Grabber::open(opts).map(|_| ())
}

/// A live screen, region or window. `timestamp_s` is seconds since [`ScreenSource::open`] at the
/// moment the capture was requested; `captured_at` when the picture arrived.
///
/// With a duration the stream ends (`Ok(None)`) once it has passed. When captures keep failing
/// (display gone, window closed) `next_frame` returns [`SourceError::ScreenLost`] once, then
/// `Ok(None)`.
pub struct ScreenSource {
    name: Arc<str>,
    max_fps: f64,
    size: (u32, u32),
    rx: Receiver<Result<Frame, SourceError>>,
    stop: Arc<AtomicBool>,
    /// Set by the capture thread when it ends because the duration has passed.
    finished: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    ended: bool,
}

/// What the capture thread reports once the first picture is in.
struct Opened {
    name: String,
    size: (u32, u32),
}

impl ScreenSource {
    /// Finds the screen or window, checks the region, takes a first picture (so a capture that
    /// cannot work fails here, not later) and starts capturing.
    pub fn open(opts: ScreenOptions) -> Result<Self, SourceError> {
        check_display()?;
        if wayland_session() {
            tracing::warn!(
                "Wayland session: xcap takes every frame as a desktop-portal screenshot (slow, the desktop may ask for \
                 permission); for 10+ frames/s log into an X11 session"
            );
        }
        let opened_at = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let (open_tx, open_rx) = crossbeam_channel::bounded::<Result<Opened, SourceError>>(1);
        let (frame_tx, frame_rx) = crate::latest::latest_channel::<Result<Frame, SourceError>>(1);
        let label = opts.to_string();
        let max_fps = if opts.max_fps > 0.0 { opts.max_fps } else { DEFAULT_SCREEN_FPS };
        let thread = {
            let (stop, finished) = (stop.clone(), finished.clone());
            let opts = opts.clone();
            std::thread::Builder::new()
                .name("screen-capture".into())
                .spawn(move || {
                    capture_thread(&opts, max_fps, opened_at, &open_tx, &frame_tx, &stop, &finished);
                })
                .map_err(|e| SourceError::ScreenFailed { target: label.clone(), detail: e.to_string() })?
        };
        let opened = match open_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                let detail = match e {
                    RecvTimeoutError::Timeout => format!("no picture within {} s", OPEN_TIMEOUT.as_secs()),
                    RecvTimeoutError::Disconnected => "the capture thread stopped before the first picture".into(),
                };
                return Err(SourceError::ScreenFailed { target: label, detail });
            }
        };
        tracing::info!("{} opened: {}x{}, at most {max_fps} captures/s", opened.name, opened.size.0, opened.size.1);
        Ok(Self {
            name: opened.name.into(),
            max_fps,
            size: opened.size,
            rx: frame_rx,
            stop,
            finished,
            thread: Some(thread),
            ended: false,
        })
    }

    /// Width and height of the captured pictures.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }
}

impl FrameSource for ScreenSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        let lost = |detail: String| SourceError::ScreenLost { target: self.name.to_string(), detail };
        let result = match self.rx.recv_timeout(FRAME_TIMEOUT) {
            Ok(Ok(frame)) => return Ok(Some(frame)),
            Ok(Err(e)) => Err(e),
            Err(RecvTimeoutError::Disconnected) if self.finished.load(Ordering::SeqCst) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(lost(format!("no picture for {} s", FRAME_TIMEOUT.as_secs()))),
            Err(RecvTimeoutError::Disconnected) => Err(lost("the capture thread stopped".into())),
        };
        self.ended = true;
        self.stop.store(true, Ordering::Relaxed);
        result
    }

    fn total_frames(&self) -> Option<u64> {
        None
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fps(&self) -> Option<f64> {
        Some(self.max_fps)
    }
}

impl Drop for ScreenSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread.take() else { return };
        super::join_or_detach(thread, &self.name);
    }
}

/// Owns the screen or window from opening to closing. Reports the opening through `open_tx`, then
/// frames (or the final error) through `frame_tx`, newest wins.
#[allow(clippy::too_many_arguments)]
fn capture_thread(
    opts: &ScreenOptions,
    max_fps: f64,
    opened_at: Instant,
    open_tx: &Sender<Result<Opened, SourceError>>,
    frame_tx: &crate::latest::LatestSender<Result<Frame, SourceError>>,
    stop: &AtomicBool,
    finished: &AtomicBool,
) {
    let (grabber, name) = match Grabber::open(opts) {
        Ok(g) => g,
        Err(e) => {
            let _ = open_tx.send(Err(e));
            return;
        }
    };
    let name: Arc<str> = name.into();
    let interval = Duration::from_secs_f64(1.0 / max_fps);
    let duration = opts.duration_s.map(|s| Duration::from_secs_f64(s.max(0.0)));
    // Newest wins: a stale frame the consumer has not taken is replaced.
    let send_newest = |item: Result<Frame, SourceError>| {
        frame_tx.send(item);
    };

    let mut index = 0u64;
    let mut errors_in_a_row = 0u32;
    let mut announced = false;
    while !stop.load(Ordering::Relaxed) {
        let requested = Instant::now();
        // The first picture is always taken: it is what tells the opener that capturing works.
        if announced && duration.is_some_and(|d| requested.duration_since(opened_at) >= d) {
            finished.store(true, Ordering::SeqCst);
            break;
        }
        match grabber.grab() {
            Ok(image) => {
                let captured_at = Instant::now();
                errors_in_a_row = 0;
                if !announced {
                    let _ = open_tx.send(Ok(Opened { name: name.to_string(), size: image.dimensions() }));
                    announced = true;
                }
                send_newest(Ok(Frame {
                    image,
                    index,
                    timestamp_s: requested.duration_since(opened_at).as_secs_f64(),
                    captured_at,
                    source: name.clone(),
                }));
                index += 1;
            }
            Err(e) => {
                tracing::debug!("{name}: capture failed ({e})");
                if !announced {
                    // The very first picture failed: opening fails, with the reason.
                    let _ = open_tx.send(Err(SourceError::ScreenFailed { target: name.to_string(), detail: e }));
                    return;
                }
                errors_in_a_row += 1;
                if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS {
                    send_newest(Err(SourceError::ScreenLost { target: name.to_string(), detail: e }));
                    return;
                }
            }
        }
        // Pace to `max_fps`, checking `stop` often.
        let due = requested + interval;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(20)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_parses_and_checks_bounds() {
        let r: Region = "10, 20,640,360".parse().unwrap();
        assert_eq!(r, Region { x: 10, y: 20, width: 640, height: 360 });
        assert_eq!(r.to_string(), "10,20,640,360");
        assert!(r.fits(650, 380));
        assert!(!r.fits(649, 380));
        assert!(!r.fits(650, 379));
        for bad in ["", "1,2,3", "1,2,3,4,5", "a,0,10,10", "0,0,0,10", "0,0,10,0", "-1,0,10,10"] {
            let e = bad.parse::<Region>().unwrap_err();
            assert!(e.contains("X,Y,W,H"), "{bad}: {e}");
        }
        // No overflow near u32::MAX.
        assert!(!Region { x: u32::MAX, y: 0, width: 10, height: 10 }.fits(100, 100));
    }

    #[test]
    fn specs_are_recognised() {
        assert_eq!(parse_spec("screen:0").unwrap().unwrap(), ScreenTarget::Screen(0));
        assert_eq!(parse_spec("screen:12").unwrap().unwrap(), ScreenTarget::Screen(12));
        assert_eq!(parse_spec("window:Zoom Meeting").unwrap().unwrap(), ScreenTarget::Window("Zoom Meeting".into()));
        assert!(matches!(parse_spec("screen:x"), Some(Err(SourceError::BadScreenSpec(_)))));
        assert!(matches!(parse_spec("window:  "), Some(Err(SourceError::BadScreenSpec(_)))));
        assert!(parse_spec("lecture.mp4").is_none());
        assert!(parse_spec("./screen:0").is_none());
        let mut o = ScreenOptions::new(ScreenTarget::Screen(1));
        o.region = Some(Region { x: 0, y: 0, width: 100, height: 50 });
        assert_eq!(o.to_string(), "screen 1 region 0,0,100,50");
    }

    #[test]
    fn rgba_becomes_rgb() {
        let rgba = RgbaImage::from_raw(2, 1, vec![1, 2, 3, 255, 4, 5, 6, 128]).unwrap();
        assert_eq!(rgba_to_rgb(&rgba).into_raw(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn no_display_is_a_clear_error() {
        // Only meaningful where no display is set (CI without Xvfb); elsewhere it checks nothing.
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            let e = ScreenSource::open(ScreenOptions::new(ScreenTarget::Screen(0))).err().expect("must fail");
            assert!(matches!(e, SourceError::NoDisplay(_)), "{e}");
            assert!(e.to_string().contains("DISPLAY"), "{e}");
        }
    }
}
