//! Sessions: a crash-safe journal of frames, seconds and markers in a folder, its timeline and report.
//!
//! A session folder `<root>/<YYYYmmdd-HHMMSS>-<name>/` holds:
//! - `session.json` — what was recorded and how engagement was computed ([`SessionInfo`]);
//! - `frames.csv` — one row per face per analysed frame ([`FrameRow`]);
//! - `seconds.csv` — class aggregates per second of source time ([`SecondRow`]);
//! - `markers.csv` — the teacher's named markers ([`Marker`]);
//! - `segments.csv` — one summary per part of the lecture between markers ([`SegmentRow`]),
//!   written on finish and always recomputable from `seconds.csv` + `markers.csv`;
//! - `report.png` — the timeline as a picture.
//!
//! Rows are appended and handed to the OS as they are produced and `fsync`ed at least once per
//! second of wall time, so a crash or power loss loses at most about a second. Readers ignore a
//! torn last line. The column schemas are documented (and versioned) in `docs/CSV.md`.

pub(crate) mod csvio;
pub mod recorder;
pub mod report;
pub mod timeline;
pub mod writer;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Probs;
use crate::engagement::{EngagementConfig, State};

pub use csvio::{read_frames, read_segments};
pub use recorder::{Recorder, SessionSummary};
pub use report::export_report_png;
pub use timeline::{
    ClassPoint, FacePoint, FaceSeries, SecondAccumulator, SegmentBuilder, Timeline, TimelineLimits, segments_from,
};
pub use writer::{SessionView, SessionWriter, WriterError};

/// Session seconds as people read them: "m:ss", or "h:mm:ss" from an hour on; `fixed`: always "hh:mm:ss" (a
/// running timer whose width must not jump). The one clock format of the window, the report and the notices.
pub(crate) fn clock_text(t_s: f64, fixed: bool) -> String {
    let s = t_s.max(0.0).round() as u64;
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    match (fixed, h) {
        (true, _) => format!("{h:02}:{m:02}:{sec:02}"),
        (false, 0) => format!("{m}:{sec:02}"),
        (false, _) => format!("{h}:{m:02}:{sec:02}"),
    }
}

/// Version of every CSV schema in a session folder (see `docs/CSV.md`); bumped on any column change.
pub(crate) const CSV_SCHEMA_VERSION: u32 = 1;
/// Version of `session.json`.
pub(crate) const SESSION_SCHEMA_VERSION: u32 = 1;

pub(crate) const SESSION_FILE: &str = "session.json";
pub(crate) const FRAMES_FILE: &str = "frames.csv";
pub(crate) const SECONDS_FILE: &str = "seconds.csv";
pub(crate) const MARKERS_FILE: &str = "markers.csv";
pub(crate) const SEGMENTS_FILE: &str = "segments.csv";
pub(crate) const REPORT_FILE: &str = "report.png";

/// Errors a user can hit when recording, reopening or exporting a session. Each says which path
/// and what to do; none of them deletes what was already recorded.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "cannot create the session folder {path}: {source}. Choose a writable folder for sessions or fix its permissions."
    )]
    Create { path: PathBuf, source: std::io::Error },
    #[error(
        "cannot write {path}: {source}. What was recorded before is kept in that folder; free disk space or fix permissions."
    )]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "{path} is not a session folder (no session.json). Pass a folder created by a live session or by `analyze`."
    )]
    NotASession { path: PathBuf },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("cannot export to {path}: {message}. The recorded session is untouched; choose another destination.")]
    Export { path: PathBuf, message: String },
    #[error("no session is running: start one first")]
    NotRunning,
}

/// What the caller knows about a session when it starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionMeta {
    /// Camera name or video file.
    pub source: String,
    /// Which emotion model produced the probabilities (file name, version, metadata).
    pub model: String,
    /// How engagement is computed (weights, thresholds); stored so that the CSV can be recomputed.
    pub engagement: EngagementConfig,
    /// `emotions`, or `attention-only`: presence and head pose only, the emotion model not run, the
    /// emotion columns of the CSVs empty. Sessions from before this field read as `emotions`.
    #[serde(default)]
    pub mode: crate::pipeline::Mode,
    /// The model files that produced the numbers, each with its sha256 when the session started.
    #[serde(default)]
    pub model_files: Vec<crate::provenance::ModelFile>,
}

/// `session.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    pub schema_version: u32,
    pub csv_schema_version: u32,
    pub app_version: String,
    /// The git commit the program was built from, `-dirty` with uncommitted changes (as `--version` says).
    #[serde(default)]
    pub commit: Option<String>,
    pub name: String,
    /// Local wall-clock start, RFC 3339.
    pub started_at: String,
    /// `recording` while running (or after a crash), `finished` after a clean finish.
    pub status: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Source seconds covered (end of the last second with frames), set on finish.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Persons (face IDs) seen in the session, set on finish. A face becomes a person only after the
    /// tracker has seen it several times, so one-frame false detections are not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persons: Option<u64>,
    /// The process recording the session, so that a session left `recording` by a crash (or a kill)
    /// can be told from one still being recorded, and marked `interrupted` when opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(flatten)]
    pub meta: SessionMeta,
}

/// One face in one analysed frame: a row of `frames.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRow {
    pub source: String,
    pub frame: u64,
    pub timestamp_s: f64,
    pub face_id: u64,
    /// x, y, w, h in frame pixels.
    pub bbox: [f32; 4],
    pub det_score: f32,
    /// Index into [`crate::EMOTIONS`] of the smoothed argmax. This and the other emotion fields
    /// (`p`, `raw`, `valence`, `arousal`) are `None` in attention-only mode: empty cells in the CSV.
    pub emotion: Option<usize>,
    /// Smoothed probabilities.
    pub p: Option<Probs>,
    /// This frame's classifier output.
    pub raw: Option<Probs>,
    pub yaw_deg: Option<f32>,
    pub pitch_deg: Option<f32>,
    pub attention: f32,
    pub valence: Option<f32>,
    pub arousal: Option<f32>,
    /// This frame's score.
    pub engagement: f32,
    /// Time-smoothed score that the state follows.
    pub engagement_smoothed: f32,
    pub state: State,
}

/// Class aggregates over one second of source time `[second, second + 1)`: a row of `seconds.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondRow {
    pub second: i64,
    /// Analysed frames in this second.
    pub frames: u32,
    /// Distinct faces found in this second.
    pub faces_present: u32,
    /// Faces not found in this second but seen within `forget_after_s` (counted as away).
    pub faces_lost: u32,
    /// Mean over present faces of each face's mean smoothed engagement in this second.
    pub mean_engagement: Option<f32>,
    pub mean_attention: Option<f32>,
    pub mean_valence: Option<f32>,
    pub mean_arousal: Option<f32>,
    /// Shares of engaged, neutral, bored, away among present + lost faces (state at the end of
    /// the second; lost faces count as away).
    pub shares: Option<[f32; 4]>,
    /// Mean over present faces of each face's mean smoothed probabilities.
    pub mean_p: Option<Probs>,
}

impl SecondRow {
    /// Index into [`crate::EMOTIONS`] of the largest mean probability.
    pub fn dominant_emotion(&self) -> Option<usize> {
        self.mean_p.as_ref().map(crate::classify::argmax)
    }
}

/// A named marker the teacher dropped at `t_s` (source seconds): a row of `markers.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub t_s: f64,
    pub name: String,
}

/// A part of the lecture between two markers: a row of `segments.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRow {
    pub index: u32,
    /// The marker's name; `(start)` for the part before the first marker.
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Seconds with frames in this segment.
    pub seconds: u32,
    pub mean_faces_present: Option<f32>,
    /// Mean over the segment's seconds (that had faces) of `mean_engagement`.
    pub mean_engagement: Option<f32>,
    pub shares: Option<[f32; 4]>,
    pub mean_p: Option<Probs>,
}

impl SegmentRow {
    pub fn dominant_emotion(&self) -> Option<usize> {
        self.mean_p.as_ref().map(crate::classify::argmax)
    }
}

/// A session read back from its folder.
#[derive(Debug, Clone)]
pub struct LoadedSession {
    pub dir: PathBuf,
    pub info: SessionInfo,
    pub seconds: Vec<SecondRow>,
    pub markers: Vec<Marker>,
    /// Recomputed from `seconds` and `markers` (identical to `segments.csv` of a finished session).
    pub segments: Vec<SegmentRow>,
    /// The class timeline rebuilt from `seconds` (no per-face series: those are in `frames.csv`).
    pub timeline: Timeline,
    /// True when the session did not finish cleanly (crash, power loss, killed process).
    pub interrupted: bool,
}

impl LoadedSession {
    /// Writes the timeline report of this session to `path`.
    pub fn export_report_png(&self, path: &Path) -> Result<(), SessionError> {
        export_report_png(&self.timeline, &self.segments, &report_title(&self.info), path)
    }
}

/// The report's title, in the report language: the session's name, the people counted, and whether it was
/// interrupted or attention-only — the same wherever a report is drawn (finish, export, crash recovery).
pub(crate) fn report_title(info: &SessionInfo) -> String {
    let labels = crate::i18n::report_labels(crate::i18n::report_language());
    let mut title = info.name.clone();
    if let Some(n) = info.persons {
        title = format!("{title}   {}", labels.people_count(n as usize));
    }
    if info.meta.mode == crate::pipeline::Mode::AttentionOnly {
        title = format!("{title}   ({})", labels.attention_only);
    }
    if info.status == "interrupted" {
        title = format!("{title}   {}", labels.interrupted);
    }
    title
}

/// Reopens a session folder (finished or interrupted) to view or export it.
pub fn open_session(dir: &Path) -> Result<LoadedSession, SessionError> {
    let info_path = dir.join(SESSION_FILE);
    if !info_path.is_file() {
        return Err(SessionError::NotASession { path: dir.to_path_buf() });
    }
    let text =
        std::fs::read_to_string(&info_path).map_err(|source| SessionError::Read { path: info_path.clone(), source })?;
    let info: SessionInfo = serde_json::from_str(&text)
        .map_err(|e| SessionError::Format { path: info_path.clone(), message: e.to_string() })?;
    if info.csv_schema_version > CSV_SCHEMA_VERSION {
        return Err(SessionError::Format {
            path: info_path,
            message: format!(
                "CSV schema version {} is newer than this program understands ({CSV_SCHEMA_VERSION}); update emotion-monitor",
                info.csv_schema_version
            ),
        });
    }
    let seconds = csvio::read_seconds(&dir.join(SECONDS_FILE))?;
    let markers = csvio::read_markers(&dir.join(MARKERS_FILE))?;
    let segments = timeline::segments_from(&seconds, &markers);
    let mut tl = Timeline::new(TimelineLimits::default());
    for row in &seconds {
        tl.push_second(row);
    }
    for m in &markers {
        tl.push_marker(m.clone());
    }
    let mut info = info;
    if info.status == "recording" && !recorder_alive(info.pid) {
        // Left `recording` by a crash: say so in the folder itself (best effort: it may be read-only).
        info.status = "interrupted".to_string();
        info.duration_s = seconds.last().map(|r| (r.second + 1) as f64);
        if let Err(e) = recorder::write_info(dir, &info) {
            tracing::warn!("{}: could not mark the session interrupted: {e}", dir.display());
        }
        let report = dir.join(REPORT_FILE);
        let segments = timeline::segments_from(&seconds, &markers);
        if let Err(e) = report::export_report_png(&tl, &segments, &report_title(&info), &report) {
            tracing::warn!("{e}");
        }
    }
    let interrupted = info.status != "finished";
    Ok(LoadedSession { dir: dir.to_path_buf(), info, seconds, markers, segments, timeline: tl, interrupted })
}

/// Whether the process that started recording a session is still running (this process, or a live
/// PID: /proc on Linux, the process table on Windows). Without a PID (sessions from older versions) it is taken as gone.
fn recorder_alive(pid: Option<u32>) -> bool {
    match pid {
        Some(p) if p == std::process::id() => true,
        Some(p) => process_running(p),
        None => false,
    }
}

#[cfg(not(windows))]
fn process_running(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(windows)]
fn process_running(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};
    // SAFETY: plain Win32 calls; the handle is closed before returning.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if h.is_null() {
            return false;
        }
        let mut code = 0u32;
        let running = GetExitCodeProcess(h, &mut code) != 0 && code == STILL_ACTIVE as u32;
        CloseHandle(h);
        running
    }
}

/// Exports a session's per-frame, per-second and per-segment CSVs, its markers, its PNG report and
/// its `session.json` into `dest` (created if needed). Returns the files written. The session folder is only read.
pub fn export_session(dir: &Path, dest: &Path) -> Result<Vec<PathBuf>, SessionError> {
    export_session_with(dir, dest, false)
}

/// Why `dest` must not receive an export of the session `dir`, if it must not: it is the session itself,
/// inside it, a session folder (or inside one), or — unless `overwrite` — an existing folder that is not
/// empty, or a file.
pub(crate) fn export_refusal(dir: &Path, dest: &Path, overwrite: bool) -> Option<String> {
    // Compare real locations: `./s`, `s/` and a symlink to `s` are the same folder.
    let canon = |p: &Path| -> PathBuf {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                parent.canonicalize().map(|c| c.join(name)).unwrap_or_else(|_| p.to_path_buf())
            }
            _ => std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()),
        }
    };
    let (src, dst) = (canon(dir), canon(dest));
    if dst == src {
        return Some("that is the session itself".into());
    }
    if dst.starts_with(&src) {
        return Some("that folder is inside the session".into());
    }
    if let Some(session) = dst.ancestors().find(|a| a.join(SESSION_FILE).is_file()) {
        return Some(if session == dst {
            "that folder is another session; its files would be overwritten".into()
        } else {
            format!("that folder is inside the session {}", session.display())
        });
    }
    if dst.exists() && !dst.is_dir() {
        return Some("that is a file, not a folder".into());
    }
    let non_empty = std::fs::read_dir(&dst).is_ok_and(|mut d| d.next().is_some());
    (non_empty && !overwrite).then(|| "that folder is not empty (pass --overwrite to replace what is in it)".into())
}

/// [`export_session`], replacing a non-empty destination when `overwrite` is set: the export is written
/// beside it under a temporary name and renamed into place only once complete, so a failed export never
/// leaves the destination half old, half new.
pub fn export_session_with(dir: &Path, dest: &Path, overwrite: bool) -> Result<Vec<PathBuf>, SessionError> {
    if let Some(why) = export_refusal(dir, dest, overwrite) {
        return Err(SessionError::Export { path: dest.to_path_buf(), message: format!("refusing: {why}") });
    }
    let export_err = |path: &Path, e: &dyn std::fmt::Display| SessionError::Export {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let non_empty = std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some());
    if !non_empty {
        return export_into(dir, dest);
    }
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    let tmp = dest.with_file_name(format!(".{name}.export-{}", std::process::id()));
    let old = dest.with_file_name(format!(".{name}.replaced-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let files = export_into(dir, &tmp).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&tmp);
    })?;
    std::fs::rename(dest, &old).map_err(|e| export_err(dest, &e))?;
    if let Err(e) = std::fs::rename(&tmp, dest) {
        let _ = std::fs::rename(&old, dest);
        return Err(export_err(dest, &e));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(files.into_iter().map(|f| dest.join(f.file_name().unwrap_or_default())).collect())
}

/// Puts a UTF-8 byte-order mark in front of each CSV among `files` (Excel on Korean or Japanese Windows
/// reads a CSV without one in the local code page and garbles Hangul). The app and pandas read both.
pub fn add_excel_bom(files: &[PathBuf]) -> Result<(), SessionError> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "csv")) {
        let err = |e: std::io::Error| SessionError::Export { path: f.clone(), message: e.to_string() };
        let data = std::fs::read(f).map_err(err)?;
        if data.starts_with(BOM) {
            continue;
        }
        let tmp = f.with_extension("csv.tmp");
        std::fs::write(&tmp, [BOM, &data].concat()).map_err(err)?;
        std::fs::rename(&tmp, f).map_err(err)?;
    }
    Ok(())
}

fn export_into(dir: &Path, dest: &Path) -> Result<Vec<PathBuf>, SessionError> {
    let loaded = open_session(dir)?;
    let export_err = |path: &Path, e: &dyn std::fmt::Display| SessionError::Export {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dest).map_err(|e| export_err(dest, &e))?;
    let mut out = Vec::new();
    // frames.csv is copied up to its last complete line (a crash may have torn the last one).
    let frames_dst = dest.join(FRAMES_FILE);
    csvio::copy_complete_lines(&dir.join(FRAMES_FILE), &frames_dst).map_err(|e| export_err(&frames_dst, &e))?;
    out.push(frames_dst);
    let p = dest.join(SECONDS_FILE);
    csvio::write_seconds_file(&p, &loaded.seconds).map_err(|e| export_err(&p, &e))?;
    out.push(p);
    let p = dest.join(SEGMENTS_FILE);
    csvio::write_segments_file(&p, &loaded.segments).map_err(|e| export_err(&p, &e))?;
    out.push(p);
    let p = dest.join(MARKERS_FILE);
    csvio::write_markers_file(&p, &loaded.markers).map_err(|e| export_err(&p, &e))?;
    out.push(p);
    let p = dest.join(REPORT_FILE);
    loaded.export_report_png(&p)?;
    out.push(p);
    // With its session.json the exported folder is itself a session that `view` can open.
    let p = dest.join(SESSION_FILE);
    std::fs::copy(dir.join(SESSION_FILE), &p).map_err(|e| export_err(&p, &e))?;
    out.push(p);
    Ok(out)
}

/// Lists the session folders under `root`, newest first (for the UI's "open session" list).
pub fn list_sessions(root: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(root) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(SESSION_FILE).is_file()).collect();
    dirs.sort();
    dirs.reverse();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_title_says_people_attention_only_and_interrupted() {
        let mut info = SessionInfo {
            schema_version: SESSION_SCHEMA_VERSION,
            csv_schema_version: CSV_SCHEMA_VERSION,
            app_version: "0".into(),
            commit: None,
            name: "3주차".into(),
            started_at: String::new(),
            status: "finished".into(),
            finished_at: None,
            duration_s: None,
            persons: Some(25),
            pid: None,
            meta: SessionMeta::default(),
        };
        let labels = crate::i18n::report_labels(crate::i18n::report_language());
        let plain = report_title(&info);
        assert!(plain.starts_with("3주차") && plain.contains(&labels.people_count(25)), "{plain}");
        assert!(!plain.contains(&labels.attention_only) && !plain.contains(&labels.interrupted));
        info.meta.mode = crate::pipeline::Mode::AttentionOnly;
        info.status = "interrupted".into();
        let marked = report_title(&info);
        assert!(marked.contains(&labels.attention_only) && marked.contains(&labels.interrupted), "{marked}");
    }
}
