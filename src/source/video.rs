//! Video files, decoded by an `ffmpeg` subprocess.
//!
//! How it works, and why:
//! * `ffprobe` first (JSON): picture size, rotation, frame rate, frame count, duration. A bad
//!   file (empty, text, audio only, unfinished MP4) fails at opening with a clear error.
//! * `ffmpeg` then decodes the first real video stream (cover art is ignored) to raw `rgb24`
//!   on its stdout; we read one whole frame at a time (`width × height × 3` bytes).
//! * Timestamps come from the same process: the `showinfo` filter logs every frame's
//!   presentation time (`pts_time`) on stderr before the frame reaches the pipe, and
//!   `-fps_mode passthrough` (`-vsync` before ffmpeg 5.1) makes ffmpeg emit each decoded frame exactly once, never
//!   duplicating or dropping to fit a constant rate. Frame *n* on stdout therefore pairs
//!   with the *n*-th `showinfo` line, and timestamps are right for variable-frame-rate
//!   video (phones, screen recordings) with a single decode. They are shifted so that the
//!   file's start time is 0 s, as players show it.
//! * stderr is parsed on a helper thread and never reaches the terminal; its last error line
//!   goes into [`SourceError`]s.
//! * A truncated file yields every frame ffmpeg can decode, then one `Truncated` error.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde::Deserialize;

use super::{Frame, FrameSource, SourceError, display_name, io_error};

/// What `ffprobe` says about the video stream that will be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Size of the decoded frames, after applying the rotation stored by phones.
    pub width: u32,
    pub height: u32,
    /// Average frame rate (nominal rate when the container gives no average).
    pub fps: Option<f64>,
    /// Frame count stored in the container (MP4/MOV have it; MKV/WebM usually not).
    pub frame_count: Option<u64>,
    /// Duration of the video stream, or of the whole file when the stream has none.
    pub duration_s: Option<f64>,
    /// Presentation time of the file's start; subtracted from every timestamp.
    pub start_s: f64,
    pub codec: String,
    /// Index of the decoded stream in the file (for `-map 0:N`).
    pub stream_index: u32,
    /// Display rotation in degrees (0, 90, 180, 270), already applied to `width`/`height`.
    pub rotation: u32,
}

/// Probes `path` with the `ffprobe` found on `PATH`.
pub fn probe(path: &Path) -> Result<VideoInfo, SourceError> {
    probe_with(Path::new("ffprobe"), path)
}

/// A video file as a stream of RGB frames. See the module docs for how timestamps are found.
pub struct VideoSource {
    path: PathBuf,
    name: Arc<str>,
    info: VideoInfo,
    child: Child,
    /// Whole frames read from ffmpeg's stdout by the `decode` thread, a few frames ahead, so
    /// that ffmpeg decodes the next frame while the caller analyses this one (the pipe itself
    /// holds less than one frame).
    frames_rx: Receiver<std::io::Result<(Vec<u8>, usize)>>,
    stderr_thread: Option<JoinHandle<StderrLog>>,
    pts_rx: Receiver<Option<f64>>,
    frame_bytes: usize,
    next_index: u64,
    last_timestamp_s: Option<f64>,
    finished: bool,
    warned_missing_pts: bool,
}

impl VideoSource {
    /// Opens `path` with the `ffmpeg` and `ffprobe` found on `PATH`.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        Self::open_with_tools(path, Path::new("ffmpeg"), Path::new("ffprobe"))
    }

    /// Opens `path` with the given `ffmpeg` and `ffprobe` programs (a name looked up on
    /// `PATH`, or a path).
    pub fn open_with_tools(path: &Path, ffmpeg: &Path, ffprobe: &Path) -> Result<Self, SourceError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if meta.len() == 0 {
            return Err(SourceError::Empty(path.to_path_buf()));
        }
        let info = probe_with(ffprobe, path)?;

        let mut child = tool(ffmpeg)
            .args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"])
            // Local files only: a playlist disguised as a video must not make ffmpeg reach the network.
            .args(["-protocol_whitelist", LOCAL_PROTOCOLS, "-i"])
            .arg(file_url(path))
            .args(["-map", &format!("0:{}", info.stream_index)])
            // `scale` keeps every frame at the probed size even if the stream changes
            // resolution midway; when sizes already match it only converts the pixel format.
            .args(["-vf", &format!("showinfo=checksum=0,scale={}:{}", info.width, info.height)])
            .args([passthrough_flag(ffmpeg), "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(ffmpeg, path, e))?;

        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SourceError::DecodeFailed {
                path: path.to_path_buf(),
                at_frame: 0,
                detail: "could not connect to ffmpeg's output".into(),
            });
        };
        let (pts_tx, pts_rx) = crossbeam_channel::unbounded();
        let stderr_thread = std::thread::Builder::new()
            .name("ffmpeg-stderr".into())
            .spawn(move || read_stderr(stderr, &pts_tx))
            .map_err(|e| {
                let _ = child.kill();
                let _ = child.wait();
                SourceError::DecodeFailed { path: path.to_path_buf(), at_frame: 0, detail: e.to_string() }
            })?;

        let frame_bytes = info.width as usize * info.height as usize * 3;
        Ok(Self {
            path: path.to_path_buf(),
            name: display_name(path),
            frame_bytes,
            info,
            child,
            frames_rx: spawn_reader(stdout, frame_bytes),
            stderr_thread: Some(stderr_thread),
            pts_rx,
            next_index: 0,
            last_timestamp_s: None,
            finished: false,
            warned_missing_pts: false,
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The timestamp of the frame just read, from its `showinfo` line.
    fn frame_timestamp(&mut self) -> f64 {
        let fallback = |last: Option<f64>, index: u64, fps: Option<f64>| {
            let fps = fps.unwrap_or(25.0);
            last.map_or(index as f64 / fps, |t| t + 1.0 / fps)
        };
        // The line was written before the frame entered the pipe, so it is there already;
        // the timeout only guards against a format change of ffmpeg's log.
        match self.pts_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Some(pts)) => pts - self.info.start_s,
            Ok(None) => fallback(self.last_timestamp_s, self.next_index, self.info.fps),
            Err(_) => {
                if !self.warned_missing_pts {
                    self.warned_missing_pts = true;
                    tracing::warn!(
                        "{}: ffmpeg reported no timestamp for frame {}; using frame rate instead",
                        self.path.display(),
                        self.next_index
                    );
                }
                fallback(self.last_timestamp_s, self.next_index, self.info.fps)
            }
        }
    }

    /// Called once the pipe is exhausted: waits for ffmpeg and decides whether the stream
    /// ended normally.
    fn finish(&mut self, short_read: bool) -> Result<Option<Frame>, SourceError> {
        self.finished = true;
        let status = self.child.wait();
        let log = self.stderr_thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        let decoded = self.next_index;
        let path = self.path.clone();
        let last_error = log.errors.last().cloned();

        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                let detail = last_error.unwrap_or_else(|| format!("ffmpeg exited with {s}"));
                return Err(SourceError::DecodeFailed { path, at_frame: decoded, detail });
            }
            Err(e) => return Err(SourceError::DecodeFailed { path, at_frame: decoded, detail: e.to_string() }),
        }
        if decoded == 0 {
            let detail = last_error.unwrap_or_else(|| "ffmpeg produced no frame".into());
            return Err(SourceError::DecodeFailed { path, at_frame: 0, detail });
        }
        let verdict = truncation(&self.info, decoded, self.last_timestamp_s, log.errors.len(), short_read);
        if let Some(reason) = verdict {
            let detail = match last_error {
                Some(e) => format!("{e}; {reason}"),
                None => reason,
            };
            return Err(SourceError::Truncated { path, at_frame: decoded, detail });
        }
        if let Some(e) = last_error {
            // All expected frames arrived: damage was local. Logged here, not passed on.
            tracing::warn!(
                "{}: ffmpeg reported {} decoding error(s), last: {e}; all {decoded} frames were read",
                self.path.display(),
                log.error_count
            );
        }
        Ok(None)
    }
}

impl FrameSource for VideoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        let (buf, filled) = match self.frames_rx.recv() {
            Ok(Ok(read)) => read,
            // The reader ended: it sent a short read (end of stream) before, so this is only
            // reached after a reader failure that was already reported.
            Err(_) => return self.finish(false),
            Ok(Err(e)) => {
                self.finished = true;
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(SourceError::DecodeFailed {
                    path: self.path.clone(),
                    at_frame: self.next_index,
                    detail: format!("reading from ffmpeg failed: {e}"),
                });
            }
        };
        if filled < self.frame_bytes {
            return self.finish(filled > 0);
        }
        let captured_at = Instant::now();
        let timestamp_s = self.frame_timestamp();
        let Some(image) = image::RgbImage::from_raw(self.info.width, self.info.height, buf) else {
            // Unreachable by construction (the buffer has exactly w*h*3 bytes); no panic anyway.
            self.finished = true;
            return Err(SourceError::DecodeFailed {
                path: self.path.clone(),
                at_frame: self.next_index,
                detail: "frame buffer size mismatch".into(),
            });
        };
        let index = self.next_index;
        self.next_index += 1;
        self.last_timestamp_s = Some(timestamp_s);
        Ok(Some(Frame { image, index, timestamp_s, captured_at, source: self.name.clone() }))
    }

    /// The container's frame count, or duration × frame rate when it stores none (an estimate).
    fn total_frames(&self) -> Option<u64> {
        self.info.frame_count.or_else(|| {
            let n = self.info.duration_s? * self.info.fps?;
            (n.is_finite() && n >= 0.0).then(|| n.round() as u64)
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fps(&self) -> Option<f64> {
        self.info.fps
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        if !self.finished {
            // Stopped early (user quit, `--max-frames`): don't leave ffmpeg decoding.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

/// Frames the `decode` thread holds ahead. Few: a frame read long before its turn is out of the CPU's caches
/// (measured: 48 MB of frames ahead made `analyze` of a 640x480 clip slower, with more time in the kernel). `analyze`
/// reads its own few frames ahead, for the scene pass ([`crate::pipeline::Pipeline::prefetch_scene`]).
const DECODED_AHEAD: usize = 3;

/// Reads whole frames from ffmpeg on a `decode` thread into a channel of `DECODED_AHEAD` frames. A short
/// read (end of stream) or an error is sent last; the thread also ends when the receiver is dropped.
fn spawn_reader(mut stdout: ChildStdout, frame_bytes: usize) -> Receiver<std::io::Result<(Vec<u8>, usize)>> {
    let (tx, rx) = crossbeam_channel::bounded(DECODED_AHEAD);
    let spawned = std::thread::Builder::new().name("decode".into()).spawn(move || {
        loop {
            // A fresh buffer per frame: the frame owns its pixels. Read straight into its spare
            // capacity (`read_to_end` on a reader limited to one frame): no zero-fill, no copy.
            let mut buf = Vec::with_capacity(frame_bytes);
            let read = read_full(&mut stdout, frame_bytes, &mut buf).map(|n| (buf, n));
            let last = !matches!(read, Ok((_, n)) if n == frame_bytes);
            if tx.send(read).is_err() || last {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let _ = tx.send(Err(e));
        return rx;
    }
    rx
}

/// Why a stream that ended without an ffmpeg failure is incomplete, if it is.
///
/// * fewer frames than the container's count: always (with a small tolerance unless ffmpeg
///   also reported errors, since edit lists can legitimately hide a frame or two);
/// * ffmpeg reported errors and the last frame is well before the stored duration (MKV,
///   WebM: no frame count, but the header keeps the duration of the full recording);
/// * the pipe ended in the middle of a frame.
fn truncation(
    info: &VideoInfo,
    decoded: u64,
    last_timestamp_s: Option<f64>,
    error_lines: usize,
    short_read: bool,
) -> Option<String> {
    if let Some(expected) = info.frame_count {
        let tolerance = if error_lines > 0 { 0 } else { 2.max(expected / 100) };
        if decoded + tolerance < expected {
            return Some(format!("{decoded} of {expected} frames decoded"));
        }
    }
    if error_lines > 0
        && let (Some(duration), Some(last)) = (info.duration_s, last_timestamp_s)
    {
        let frame_s = 1.0 / info.fps.unwrap_or(25.0);
        if last + 0.5_f64.max(3.0 * frame_s) < duration {
            return Some(format!("last frame at {last:.2} s of {duration:.2} s"));
        }
    }
    short_read.then(|| "the last frame is incomplete".to_string())
}

/// Appends `len` bytes to `buf` unless the stream ends first; returns the number of bytes read.
fn read_full(r: &mut impl Read, len: usize, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    // `read_to_end` retries on `Interrupted` and stops at the limit or at the end of the stream.
    r.take(len as u64).read_to_end(buf)
}

/// `file:` in front so that a name with a colon is not taken for a protocol (`rtmp:…`).
fn file_url(path: &Path) -> OsString {
    let mut s = OsString::from("file:");
    s.push(path.as_os_str());
    s
}

fn spawn_error(program: &Path, path: &Path, e: std::io::Error) -> SourceError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SourceError::FfmpegMissing { program: program.display().to_string(), detail: e.to_string() }
    } else {
        SourceError::DecodeFailed {
            path: path.to_path_buf(),
            at_frame: 0,
            detail: format!("cannot start {}: {e}", program.display()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// ffprobe

#[derive(Deserialize, Default)]
struct ProbeOutput {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize, Default)]
struct ProbeStream {
    index: u32,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    nb_frames: Option<String>,
    duration: Option<String>,
    disposition: Option<ProbeDisposition>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct ProbeDisposition {
    #[serde(default)]
    attached_pic: i64,
}

#[derive(Deserialize, Default)]
struct ProbeFormat {
    duration: Option<String>,
    start_time: Option<String>,
}

/// The only protocols ffmpeg and ffprobe may open: local files (and the output pipe).
const LOCAL_PROTOCOLS: &str = "file,pipe";

/// `-fps_mode` (ffmpeg 5.1 and later; `-vsync` is gone from 7.x) or `-vsync` (4.x, 5.0) for this ffmpeg,
/// asked once per program.
fn passthrough_flag(ffmpeg: &Path) -> &'static str {
    static CACHE: std::sync::Mutex<Vec<(PathBuf, &'static str)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, flag)) = cache.iter().find(|(p, _)| p == ffmpeg) {
        return flag;
    }
    let version = tool(ffmpeg)
        .args(["-hide_banner", "-version"])
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let flag = passthrough_flag_for(&version);
    cache.push((ffmpeg.to_path_buf(), flag));
    flag
}

/// The flag for an `ffmpeg -version` first line ("ffmpeg version 5.1.9-0+deb12u1 …", "ffmpeg version n7.1",
/// "ffmpeg version N-118000-g…" for git builds, which are new).
fn passthrough_flag_for(version_line: &str) -> &'static str {
    let v = version_line.split_whitespace().nth(2).unwrap_or_default();
    let v = v.trim_start_matches('n');
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), minor) if major < 5 || (major == 5 && minor.unwrap_or(0) < 1) => "-vsync",
        _ => "-fps_mode",
    }
}

/// A command for one of the ffmpeg programs. On Windows it opens no console window of its own: the window
/// program (emotion-monitor.exe) has no console, so each ffmpeg.exe/ffprobe.exe it starts would flash one open.
fn tool(program: &Path) -> Command {
    #[allow(unused_mut)]
    let mut c = Command::new(program);
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        c.creation_flags(CREATE_NO_WINDOW);
    }
    c
}

fn probe_with(ffprobe: &Path, path: &Path) -> Result<VideoInfo, SourceError> {
    let output = tool(ffprobe)
        .args(["-v", "error", "-protocol_whitelist", LOCAL_PROTOCOLS, "-of", "json", "-show_entries"])
        .arg(
            "stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,duration\
             :stream_disposition=attached_pic:stream_tags:stream_side_data=rotation:format=duration,start_time",
        )
        .arg(file_url(path))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(ffprobe, path, e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let url_prefix = format!("{}: ", file_url(path).to_string_lossy());
        let mut detail = stderr
            .lines()
            .rev()
            .map(|l| {
                let l = clean_message(l);
                l.strip_prefix(&url_prefix).map(str::to_string).unwrap_or(l)
            })
            .find(|l| !l.is_empty())
            .unwrap_or_else(|| format!("ffprobe exited with {}", output.status));
        // Only a file that starts like an MP4 lost its index; a text file renamed `.mp4`
        // gets the same message from ffprobe.
        if stderr.contains("moov atom not found") && starts_like_mp4(path) {
            detail.push_str(
                "; the MP4 index (moov) is missing: the recording was interrupted before it was finalised, \
                 and no frame can be located without it",
            );
        }
        return Err(SourceError::NotAVideo { path: path.to_path_buf(), detail });
    }
    let parsed: ProbeOutput = serde_json::from_slice(&output.stdout).map_err(|e| SourceError::NotAVideo {
        path: path.to_path_buf(),
        detail: format!("unexpected ffprobe output: {e}"),
    })?;
    video_info(parsed).map_err(|detail| SourceError::NotAVideo { path: path.to_path_buf(), detail })
}

/// An MP4/MOV file begins with an `ftyp` box: 4 bytes of size, then the type.
fn starts_like_mp4(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head[4..8] == b"ftyp"
}

/// Picks the first video stream that is not cover art and turns its fields into numbers.
fn video_info(p: ProbeOutput) -> Result<VideoInfo, String> {
    let kinds: Vec<String> =
        p.streams.iter().map(|s| s.codec_type.clone().unwrap_or_else(|| "unknown".into())).collect();
    let Some(s) = p.streams.into_iter().find(|s| {
        s.codec_type.as_deref() == Some("video") && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0)
    }) else {
        return Err(if kinds.is_empty() {
            "no streams at all".into()
        } else {
            format!("no video stream; it has: {}", kinds.join(", "))
        });
    };
    let (Some(w), Some(h)) = (s.width.filter(|&w| w > 0), s.height.filter(|&h| h > 0)) else {
        return Err("the video stream has no picture size".into());
    };
    let rotation = rotation_degrees(&s);
    let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
    let fps =
        s.avg_frame_rate.as_deref().and_then(parse_rate).or_else(|| s.r_frame_rate.as_deref().and_then(parse_rate));
    let format = p.format.unwrap_or_default();
    let duration_s = s
        .duration
        .as_deref()
        .and_then(parse_seconds)
        .or_else(|| tag(&s.tags, "duration").and_then(parse_clock))
        .or_else(|| format.duration.as_deref().and_then(parse_seconds));
    Ok(VideoInfo {
        width,
        height,
        fps,
        frame_count: s.nb_frames.as_deref().and_then(|n| n.parse().ok()).filter(|&n| n > 0),
        duration_s,
        start_s: format.start_time.as_deref().and_then(parse_seconds).unwrap_or(0.0),
        codec: s.codec_name.unwrap_or_default(),
        stream_index: s.index,
        rotation,
    })
}

fn tag<'a>(tags: &'a std::collections::HashMap<String, String>, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

/// Rotation from the display matrix (ffmpeg ≥ 5) or the older `rotate` tag, as 0/90/180/270.
fn rotation_degrees(s: &ProbeStream) -> u32 {
    let from_side_data = s.side_data_list.iter().find_map(|v| v.get("rotation").and_then(|r| r.as_f64()));
    let from_tag = tag(&s.tags, "rotate").and_then(|r| r.trim().parse::<f64>().ok());
    let degrees = from_side_data.or(from_tag).unwrap_or(0.0);
    let quarter = (degrees / 90.0).round() as i64;
    (quarter.rem_euclid(4) * 90) as u32
}

/// "30000/1001" → 29.97; "0/0" → None.
fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/')?;
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    let r = n / d;
    (r.is_finite() && r > 0.0).then_some(r)
}

fn parse_seconds(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Matroska's "00:01:02.500000000" → 62.5.
fn parse_clock(s: &str) -> Option<f64> {
    let mut total = 0.0;
    for part in s.trim().split(':') {
        total = total * 60.0 + part.parse::<f64>().ok()?;
    }
    total.is_finite().then_some(total)
}

// ---------------------------------------------------------------------------------------
// ffmpeg's stderr

/// What is kept of ffmpeg's log once the process ends.
#[derive(Debug, Default)]
struct StderrLog {
    /// The last few error lines, cleaned.
    errors: Vec<String>,
    error_count: u64,
}

/// One line of `-loglevel level+info` output, e.g.
/// `[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55…] [error] stream 0, offset 0x19ed: partial file`.
#[derive(Debug, PartialEq)]
enum LogLine {
    /// A `showinfo` frame line; `None` when the frame has no timestamp (`NOPTS`).
    Frame(Option<f64>),
    Error(String),
    Other,
}

fn parse_log_line(line: &str) -> LogLine {
    let (context, rest) = split_context(line);
    let (level, text) = split_level(rest);
    if context.is_some_and(|c| c.starts_with("Parsed_showinfo")) && text.trim_start().starts_with("n:") {
        let pts = text
            .split_whitespace()
            .find_map(|field| field.strip_prefix("pts_time:"))
            .and_then(|v| v.parse::<f64>().ok());
        return LogLine::Frame(pts);
    }
    match level {
        Some("error" | "fatal" | "panic") => LogLine::Error(text.trim().to_string()),
        _ => LogLine::Other,
    }
}

/// `[ctx @ 0x…] rest` → (Some("ctx"), "rest").
fn split_context(line: &str) -> (Option<&str>, &str) {
    if let Some(inner) = line.strip_prefix('[')
        && let Some((ctx, rest)) = inner.split_once("] ")
        && let Some((name, _addr)) = ctx.split_once(" @ ")
    {
        return (Some(name), rest);
    }
    (None, line)
}

/// `[error] text` → (Some("error"), "text").
fn split_level(s: &str) -> (Option<&str>, &str) {
    if let Some(inner) = s.strip_prefix('[')
        && let Some((level, rest)) = inner.split_once("] ")
        && !level.contains(' ')
    {
        return (Some(level), rest);
    }
    (None, s)
}

/// A log line as a user should read it: without the context address and level tags.
fn clean_message(line: &str) -> String {
    let (_, rest) = split_context(line.trim());
    split_level(rest).1.trim().to_string()
}

fn read_stderr(stderr: impl Read, pts_tx: &Sender<Option<f64>>) -> StderrLog {
    const KEEP: usize = 5;
    let mut log = StderrLog::default();
    let mut reader = BufReader::new(stderr);
    let mut raw = Vec::with_capacity(512);
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw);
        match parse_log_line(line.trim_end()) {
            // The receiver is gone only when the source was dropped; keep draining anyway
            // so that ffmpeg never blocks on a full stderr pipe.
            LogLine::Frame(pts) => {
                let _ = pts_tx.send(pts);
            }
            LogLine::Error(text) => {
                log.error_count += 1;
                if log.errors.len() == KEEP {
                    log.errors.remove(0);
                }
                log.errors.push(text);
            }
            LogLine::Other => {}
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_showinfo_and_error_lines() {
        let frame = "[Parsed_showinfo_0 @ 0x560e41350d00] [info] n:   1 pts:    512 pts_time:0.04    pos:     4618 fmt:yuv420p s:320x240";
        assert_eq!(parse_log_line(frame), LogLine::Frame(Some(0.04)));
        let nopts = "[Parsed_showinfo_0 @ 0x1] [info] n:   3 pts:NOPTS pts_time:NOPTS pos: -1";
        assert_eq!(parse_log_line(nopts), LogLine::Frame(None));
        let side = "[Parsed_showinfo_0 @ 0x1] [info]   side data - User Data Unregistered:";
        assert_eq!(parse_log_line(side), LogLine::Other);
        let err = "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55aec3a70940] [error] stream 0, offset 0x19ed: partial file";
        assert_eq!(parse_log_line(err), LogLine::Error("stream 0, offset 0x19ed: partial file".into()));
        assert_eq!(
            parse_log_line("[error] Error while decoding stream #0:0"),
            LogLine::Error("Error while decoding stream #0:0".into())
        );
        assert_eq!(parse_log_line("[warning] -vsync is deprecated. Use -fps_mode"), LogLine::Other);
    }

    #[test]
    fn the_passthrough_flag_follows_the_ffmpeg_version() {
        assert_eq!(passthrough_flag_for("ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c)"), "-vsync");
        assert_eq!(passthrough_flag_for("ffmpeg version 5.0.1 Copyright"), "-vsync");
        assert_eq!(passthrough_flag_for("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026"), "-fps_mode");
        assert_eq!(passthrough_flag_for("ffmpeg version n7.1 Copyright"), "-fps_mode");
        assert_eq!(passthrough_flag_for("ffmpeg version N-118000-gabcdef Copyright"), "-fps_mode");
        assert_eq!(passthrough_flag_for(""), "-fps_mode");
        assert_eq!(clean_message("[mov,mp4 @ 0x5] moov atom not found"), "moov atom not found");
    }

    #[test]
    fn parses_rates_durations_and_rotation() {
        assert!((parse_rate("30000/1001").unwrap() - 29.97).abs() < 0.01);
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_clock("00:01:02.500000000"), Some(62.5));
        let mut s = ProbeStream { side_data_list: vec![serde_json::json!({"rotation": -90})], ..Default::default() };
        assert_eq!(rotation_degrees(&s), 270);
        s.side_data_list.clear();
        s.tags.insert("rotate".into(), "180".into());
        assert_eq!(rotation_degrees(&s), 180);
    }

    #[test]
    fn picks_first_real_video_stream_and_swaps_size_when_rotated() {
        let json = r#"{"streams":[
            {"index":0,"codec_type":"audio"},
            {"index":1,"codec_type":"video","width":600,"height":600,"disposition":{"attached_pic":1}},
            {"index":2,"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"avg_frame_rate":"30/1",
             "nb_frames":"300","side_data_list":[{"rotation":90}]}],
            "format":{"duration":"10.0","start_time":"1.4"}}"#;
        let info = video_info(serde_json::from_str(json).unwrap()).unwrap();
        assert_eq!((info.stream_index, info.width, info.height, info.rotation), (2, 1080, 1920, 90));
        assert_eq!((info.fps, info.frame_count, info.start_s), (Some(30.0), Some(300), 1.4));
        let audio_only = r#"{"streams":[{"index":0,"codec_type":"audio"}],"format":{}}"#;
        assert!(video_info(serde_json::from_str(audio_only).unwrap()).unwrap_err().contains("no video stream"));
    }

    #[test]
    fn truncation_rules() {
        let info = VideoInfo {
            width: 2,
            height: 2,
            fps: Some(25.0),
            frame_count: Some(50),
            duration_s: Some(2.0),
            start_s: 0.0,
            codec: "h264".into(),
            stream_index: 0,
            rotation: 0,
        };
        assert_eq!(truncation(&info, 50, Some(1.96), 0, false), None);
        assert_eq!(truncation(&info, 49, Some(1.92), 0, false), None, "an edit list may hide a frame");
        assert!(truncation(&info, 49, Some(1.92), 1, false).is_some());
        assert!(truncation(&info, 5, Some(0.16), 0, false).is_some());
        let mkv = VideoInfo { frame_count: None, duration_s: Some(4.0), ..info };
        assert!(truncation(&mkv, 35, Some(1.36), 1, false).is_some());
        assert_eq!(truncation(&mkv, 35, Some(1.36), 0, false), None, "audio may outlast the video");
        assert!(truncation(&mkv, 100, Some(3.96), 0, true).is_some());
    }
}
