//! Live cameras through `nokhwa` (V4L2 on Linux, Media Foundation on Windows, AVFoundation on macOS).
//!
//! The nokhwa `Camera` is not `Send`, so it lives on its own `capture` thread from opening to
//! closing. That thread sends frames through a channel that holds one frame: when the
//! consumer (detection + classification) is slower than the camera, the stale frame is
//! replaced, so the consumer always gets the newest picture and latency never builds up.
//! Frame `index` counts captured frames, so dropped ones show up as gaps.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, color_frame_formats,
};

use super::{Frame, FrameSource, SourceError};

/// A camera as the system lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// The number to pass as [`CameraSelector::Index`] (`/dev/videoN` on Linux).
    pub index: u32,
    pub name: String,
    pub description: String,
}

/// All cameras the native backend can see (none is not an error).
pub fn list_cameras() -> Result<Vec<CameraInfo>, SourceError> {
    let failed = |detail: String| SourceError::CameraFailed { camera: "(listing cameras)".into(), detail };
    let backend =
        nokhwa::native_api_backend().ok_or_else(|| failed("no camera backend for this operating system".into()))?;
    let found = nokhwa::query(backend).map_err(|e| failed(e.to_string()))?;
    Ok(found
        .iter()
        .enumerate()
        .map(|(position, c)| CameraInfo {
            // Backends that name devices by string (not V4L2) get their list position.
            index: c.index().as_index().unwrap_or(position as u32),
            name: c.human_name(),
            description: c.description().to_string(),
        })
        .collect())
}

/// Which camera to open. The default is `Index(0)`: the system's first camera
/// (`/dev/video0` on Linux, the built-in camera on most laptops).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSelector {
    Index(u32),
    /// The first camera whose name contains this text, ignoring case ("logitech", "facetime").
    Name(String),
}

impl Default for CameraSelector {
    fn default() -> Self {
        Self::Index(0)
    }
}

impl fmt::Display for CameraSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "index {i}"),
            Self::Name(n) => write!(f, "name \"{n}\""),
        }
    }
}

/// How long [`CameraSource::next_frame`] waits for a frame before declaring the camera lost.
const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening may take (some cameras need seconds to power up).
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Capture errors in a row tolerated (a corrupt MJPEG frame happens) before the camera counts as lost.
const MAX_CONSECUTIVE_ERRORS: u32 = 10;

/// A live camera. Frames are the newest available; `timestamp_s` is seconds since
/// [`CameraSource::open`] (monotonic clock), `captured_at` the moment nokhwa returned the frame.
///
/// When frames stop (unplugged, taken by another app) `next_frame` returns
/// [`SourceError::CameraLost`] once, then `Ok(None)`; open a new source to retry.
pub struct CameraSource {
    name: Arc<str>,
    fps: Option<f64>,
    format: CameraFormat,
    rx: Receiver<Result<Frame, SourceError>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    frame_timeout: Duration,
    ended: bool,
}

/// What the capture thread reports once the camera streams.
struct Opened {
    name: String,
    format: CameraFormat,
}

impl CameraSource {
    /// Opens a camera and starts streaming. `width`, `height` and `fps` are wishes: the
    /// closest mode the camera offers is used (see [`CameraSource::format`]).
    pub fn open(selector: CameraSelector, width: u32, height: u32, fps: u32) -> Result<Self, SourceError> {
        let (index, label) = resolve(&selector)?;
        let opened_at = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let (open_tx, open_rx) = crossbeam_channel::bounded::<Result<Opened, SourceError>>(1);
        let (frame_tx, frame_rx) = crate::latest::latest_channel::<Result<Frame, SourceError>>(1);

        let thread = {
            let stop = stop.clone();
            let thread_label = label.clone();
            std::thread::Builder::new()
                .name("capture".into())
                .spawn(move || {
                    capture_thread(index, thread_label, (width, height, fps), opened_at, &open_tx, &frame_tx, &stop);
                })
                .map_err(|e| SourceError::CameraFailed { camera: label.clone(), detail: e.to_string() })?
        };

        let opened = match open_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                // Stuck in the driver or gone: don't wait for it.
                stop.store(true, Ordering::Relaxed);
                return Err(SourceError::CameraFailed {
                    camera: label,
                    detail: format!("no answer within {} s", OPEN_TIMEOUT.as_secs()),
                });
            }
        };
        tracing::info!("camera {} opened: {}", opened.name, opened.format);
        Ok(Self {
            name: opened.name.into(),
            fps: Some(f64::from(opened.format.frame_rate())).filter(|&f| f > 0.0),
            format: opened.format,
            rx: frame_rx,
            stop,
            thread: Some(thread),
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            ended: false,
        })
    }

    /// The mode in use (resolution, pixel format, frame rate).
    pub fn format(&self) -> CameraFormat {
        self.format
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        let lost = |detail: String| SourceError::CameraLost { camera: self.name.to_string(), detail };
        let result = match self.rx.recv_timeout(self.frame_timeout) {
            Ok(Ok(frame)) => return Ok(Some(frame)),
            Ok(Err(e)) => e,
            Err(RecvTimeoutError::Timeout) => lost(format!("no frame for {:.1} s", self.frame_timeout.as_secs_f64())),
            Err(RecvTimeoutError::Disconnected) => lost("the capture thread stopped".into()),
        };
        self.ended = true;
        self.stop.store(true, Ordering::Relaxed);
        Err(result)
    }

    fn total_frames(&self) -> Option<u64> {
        None
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fps(&self) -> Option<f64> {
        self.fps
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread.take() else { return };
        super::join_or_detach(thread, &format!("camera {}", self.name));
    }
}

/// The device index to open and a label for messages. With a camera list at hand, a
/// selector that matches nothing is `NoCamera` with the list; when listing itself fails,
/// an index is tried anyway (the list can fail where opening works, e.g. odd permissions).
fn resolve(selector: &CameraSelector) -> Result<(CameraIndex, String), SourceError> {
    let cameras = list_cameras();
    let describe = |cams: &[CameraInfo]| {
        if cams.is_empty() {
            "none".to_string()
        } else {
            cams.iter().map(|c| format!("{}: {}", c.index, c.name)).collect::<Vec<_>>().join(", ")
        }
    };
    match (selector, cameras) {
        (CameraSelector::Index(i), Ok(cams)) => match cams.iter().find(|c| c.index == *i) {
            Some(c) => Ok((CameraIndex::Index(*i), c.name.clone())),
            None => Err(SourceError::NoCamera { wanted: selector.to_string(), available: describe(&cams) }),
        },
        (CameraSelector::Index(i), Err(e)) => {
            tracing::warn!("{e}; trying camera {i} anyway");
            Ok((CameraIndex::Index(*i), format!("index {i}")))
        }
        (CameraSelector::Name(wanted), cams) => {
            let cams = cams?;
            let needle = wanted.to_lowercase();
            match cams.iter().find(|c| c.name.to_lowercase().contains(&needle)) {
                Some(c) => Ok((CameraIndex::Index(c.index), c.name.clone())),
                None => Err(SourceError::NoCamera { wanted: selector.to_string(), available: describe(&cams) }),
            }
        }
    }
}

/// The mode closest to the wish: nearest resolution, then nearest frame rate, then the
/// pixel format cheapest to turn into RGB. `None` when no mode can be decoded to RGB.
fn choose_format(available: &[CameraFormat], width: u32, height: u32, fps: u32) -> Option<CameraFormat> {
    let decodable = color_frame_formats();
    let rank = |f: FrameFormat| match f {
        FrameFormat::RAWRGB => 0,
        FrameFormat::YUYV => 1,
        FrameFormat::NV12 => 2,
        FrameFormat::RAWBGR => 3,
        _ => 4, // MJPEG: a JPEG decode per frame
    };
    available.iter().filter(|f| decodable.contains(&f.format())).copied().min_by_key(|f| {
        let dw = i64::from(f.width()) - i64::from(width);
        let dh = i64::from(f.height()) - i64::from(height);
        let dfps = (i64::from(f.frame_rate()) - i64::from(fps)).abs();
        (dw * dw + dh * dh, dfps, rank(f.format()))
    })
}

/// Owns the camera from opening to closing. Reports the opening through `open_tx`, then
/// frames (or the final error) through `frame_tx`.
#[allow(clippy::too_many_arguments)]
fn capture_thread(
    index: CameraIndex,
    label: String,
    (width, height, fps): (u32, u32, u32),
    opened_at: Instant,
    open_tx: &Sender<Result<Opened, SourceError>>,
    frame_tx: &crate::latest::LatestSender<Result<Frame, SourceError>>,
    stop: &AtomicBool,
) {
    let failed = |detail: String| SourceError::CameraFailed { camera: label.clone(), detail };
    let mut camera = match open_camera(index, width, height, fps) {
        Ok(c) => c,
        Err(e) => {
            let _ = open_tx.send(Err(failed(e.to_string())));
            return;
        }
    };
    let info_name = camera.info().human_name();
    let name: Arc<str> = if info_name.is_empty() { label.as_str().into() } else { info_name.as_str().into() };
    let _ = open_tx.send(Ok(Opened { name: name.to_string(), format: camera.camera_format() }));

    // Newest wins: a stale frame the consumer has not taken is replaced.
    let send_newest = |item: Result<Frame, SourceError>| {
        frame_tx.send(item);
    };

    let mut index = 0u64;
    let mut errors_in_a_row = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let captured = camera.frame();
        let captured_at = Instant::now();
        let decoded = captured.and_then(|buffer| buffer.decode_image::<RgbFormat>());
        match decoded {
            Ok(image) => {
                errors_in_a_row = 0;
                send_newest(Ok(Frame {
                    image,
                    index,
                    timestamp_s: captured_at.duration_since(opened_at).as_secs_f64(),
                    captured_at,
                    source: name.clone(),
                }));
                index += 1;
            }
            Err(e) => {
                errors_in_a_row += 1;
                tracing::debug!("camera {name}: frame failed ({e})");
                if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS {
                    send_newest(Err(SourceError::CameraLost { camera: name.to_string(), detail: e.to_string() }));
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let _ = camera.stop_stream();
}

/// Opens the device, switches to the mode closest to the wish, starts the stream.
fn open_camera(index: CameraIndex, width: u32, height: u32, fps: u32) -> Result<Camera, nokhwa::NokhwaError> {
    // Any decodable mode to open the device; the choice is ours, because nokhwa's own
    // `Closest` gives up when the exact resolution is missing.
    let mut camera = Camera::new(index, RequestedFormat::new::<RgbFormat>(RequestedFormatType::None))?;
    match camera.compatible_camera_formats() {
        Ok(modes) => {
            if let Some(mode) = choose_format(&modes, width, height, fps)
                && mode != camera.camera_format()
                && let Err(e) = camera.set_camera_requset(RequestedFormat::with_formats(
                    RequestedFormatType::Exact(mode),
                    color_frame_formats(),
                ))
            {
                tracing::warn!("camera refused {mode} ({e}); keeping {}", camera.camera_format());
            }
        }
        Err(e) => tracing::warn!("camera modes unknown ({e}); keeping {}", camera.camera_format()),
    }
    camera.open_stream()?;
    Ok(camera)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(w: u32, h: u32, f: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new_from(w, h, f, fps)
    }

    #[test]
    fn chooses_nearest_resolution_then_rate_then_cheap_format() {
        let modes = [
            mode(1280, 720, FrameFormat::MJPEG, 30),
            mode(640, 480, FrameFormat::MJPEG, 30),
            mode(640, 480, FrameFormat::YUYV, 30),
            mode(640, 480, FrameFormat::YUYV, 15),
            mode(320, 240, FrameFormat::YUYV, 30),
            mode(640, 480, FrameFormat::GRAY, 30),
        ];
        assert_eq!(choose_format(&modes, 640, 480, 30), Some(mode(640, 480, FrameFormat::YUYV, 30)));
        assert_eq!(choose_format(&modes, 1920, 1080, 30), Some(mode(1280, 720, FrameFormat::MJPEG, 30)));
        assert_eq!(choose_format(&modes, 600, 400, 10), Some(mode(640, 480, FrameFormat::YUYV, 15)));
        assert_eq!(choose_format(&[mode(640, 480, FrameFormat::GRAY, 30)], 640, 480, 30), None);
    }

    #[test]
    fn selector_default_and_display() {
        assert_eq!(CameraSelector::default(), CameraSelector::Index(0));
        assert_eq!(CameraSelector::Name("Logi".into()).to_string(), "name \"Logi\"");
    }
}
