//! The window's link to the session recorder: start / push / mark / stop / export, the session
//! clock, and the opt-in saving of video frames. Owned by [`super::live::Shared`] behind a mutex:
//! the inference thread pushes every analysed frame (even while the window is hidden), the UI
//! reads the timeline.

use std::path::{Path, PathBuf};

use super::timeline_ui::PlotData;
use crate::pipeline::FrameResult;
use crate::source::Frame;

use crate::engagement::EngagementConfig;
use crate::session::{self, SessionMeta, SessionSummary};

pub use crate::session::{Recorder, Timeline};

/// Maps source timestamps onto one session clock that never goes back: a reopened camera (or a
/// different video) continues where the previous source stopped.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionClock {
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

/// The session being recorded (if any) and the frame-recording switch.
#[derive(Default)]
pub struct SessionSlot {
    recorder: Option<Recorder>,
    dir: Option<PathBuf>,
    clock: SessionClock,
    /// Off unless the user ticks "record video frames".
    record_frames: bool,
    frames_written: u64,
    /// The last timeline, kept after the session stopped so the plot stays on screen.
    finished_timeline: Option<Timeline>,
    /// A recording error not yet shown to the user (the first of a burst).
    error: Option<String>,
    /// What the inference thread runs (mode, model files), for the next session's `session.json`.
    mode: crate::pipeline::Mode,
    model_files: Vec<crate::provenance::ModelFile>,
    /// Where each closed second also goes while the student shares with a class.
    share_sink: Option<crossbeam_channel::Sender<(i64, crate::session::SecondRow)>>,
}

impl SessionSlot {
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn record_frames(&self) -> bool {
        self.record_frames
    }

    pub fn set_record_frames(&mut self, on: bool) {
        self.record_frames = on;
    }

    pub fn frames_written(&self) -> u64 {
        self.frames_written
    }

    /// Starts (Some) or stops (None) handing each closed second to the class sharer, for this session
    /// and the next ones.
    pub fn set_share_sink(&mut self, sink: Option<crossbeam_channel::Sender<(i64, crate::session::SecondRow)>>) {
        if let Some(r) = self.recorder.as_mut() {
            r.send_seconds_to(sink.clone());
        }
        self.share_sink = sink;
    }

    /// What the inference thread runs now (at start, or after a detector or mode change).
    pub fn set_pipeline(&mut self, mode: crate::pipeline::Mode, files: &[crate::provenance::ModelFile]) {
        self.mode = mode;
        self.model_files = files.to_vec();
    }

    /// The mode the user just chose, for a session started before the inference thread has switched.
    pub fn set_mode(&mut self, mode: crate::pipeline::Mode) {
        self.mode = mode;
    }

    /// Creates a session folder under `root` (named after the time and the source) and starts
    /// recording into it. `model` says which emotion model runs where, for `session.json`.
    pub fn start(&mut self, root: &Path, source_name: &str, model: &str) -> Result<PathBuf, String> {
        if self.recorder.is_some() {
            return Err("a session is already running".into());
        }
        let meta = SessionMeta {
            source: source_name.to_string(),
            model: model.to_string(),
            engagement: EngagementConfig::default(),
            mode: self.mode,
            model_files: self.model_files.clone(),
        };
        let mut recorder = Recorder::create(root, source_name, meta).map_err(|e| e.to_string())?;
        recorder.send_seconds_to(self.share_sink.clone());
        let dir = recorder.dir().to_path_buf();
        self.recorder = Some(recorder);
        self.dir = Some(dir.clone());
        self.clock = SessionClock::default();
        self.frames_written = 0;
        self.finished_timeline = None;
        self.error = None;
        Ok(dir)
    }

    /// Adds one analysed frame (unless paused). Returns where to save the frame's JPEG when
    /// frame recording is on: the caller writes it outside the lock.
    pub fn record(&mut self, result: &FrameResult, generation: u64, paused: bool) -> Option<PathBuf> {
        if paused {
            return None;
        }
        let recorder = self.recorder.as_mut()?;
        let t = self.clock.map(generation, result.timestamp_s);
        let mut at_session_time = result.clone();
        at_session_time.timestamp_s = t;
        if let Err(e) = recorder.push(&at_session_time) {
            self.error.get_or_insert_with(|| e.to_string());
        }
        if !self.record_frames {
            return None;
        }
        let dir = self.dir.as_ref()?.join("frames");
        self.frames_written += 1;
        Some(dir.join(format!("{:010.3}_{:06}.jpg", t, result.index)))
    }

    /// A named marker at the current session time; returns that time.
    pub fn mark(&mut self, name: &str) -> Result<f64, String> {
        let Some(recorder) = self.recorder.as_mut() else { return Err("no session is running".into()) };
        let t = self.clock.now();
        recorder.mark(name, t).map_err(|e| e.to_string())?;
        Ok(t)
    }

    /// Finishes the session (writes its CSVs and report); returns a one-line summary.
    pub fn stop(&mut self) -> Result<String, String> {
        let Some(recorder) = self.take_recorder() else { return Err("no session is running".into()) };
        finish(recorder)
    }

    /// The first recording error since the last call, if any.
    pub fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    /// Forces what was recorded to disk (the recorder does it every second while frames come
    /// in; the UI calls this when they stop, e.g. a lost camera).
    pub fn sync(&mut self) {
        if let Some(r) = self.recorder.as_mut()
            && let Err(e) = r.sync()
        {
            self.error.get_or_insert_with(|| e.to_string());
        }
    }

    /// The live timeline, or the last one after the session stopped.
    pub fn timeline(&self) -> Option<&Timeline> {
        self.recorder.as_ref().map(Recorder::timeline).or(self.finished_timeline.as_ref())
    }

    /// Exports the session (CSVs, markers, report, session.json) into a new folder under `to`.
    pub fn export_csv(&mut self, to: &Path) -> Result<Vec<PathBuf>, String> {
        let (dir, dest) = self.export_plan(to)?;
        session::export_session(&dir, &dest).map_err(|e| e.to_string())
    }

    /// Takes the running session's recorder out, for finishing it off this lock (and off the UI
    /// thread): the timeline stays readable here meanwhile.
    pub fn take_recorder(&mut self) -> Option<Recorder> {
        let recorder = self.recorder.take()?;
        self.finished_timeline = Some(recorder.timeline().clone());
        Some(recorder)
    }

    /// Where an export to `to` goes: (the session folder, a new folder under `to`), after putting what
    /// was recorded on disk. The copying itself needs no lock.
    pub fn export_plan(&mut self, to: &Path) -> Result<(PathBuf, PathBuf), String> {
        let Some(dir) = self.dir.clone() else { return Err("no session yet: start one first".into()) };
        if let Some(r) = self.recorder.as_mut() {
            r.sync().map_err(|e| e.to_string())?;
        }
        // A new folder per export under the chosen one: two exports never mix, and the chosen folder
        // may already hold earlier exports.
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "session".into());
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let mut dest = to.join(format!("{name}-export-{stamp}"));
        let mut n = 2;
        while dest.exists() {
            dest = to.join(format!("{name}-export-{stamp}-{n}"));
            n += 1;
        }
        Ok((dir, dest))
    }
}

/// Saves one frame as JPEG (only called when the user turned frame recording on).
pub fn save_jpeg(frame: &Frame, path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut w, 85)
        .encode_image(&frame.image)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Finishes a recorder taken out with [`SessionSlot::take_recorder`]; returns a one-line summary.
pub fn finish(recorder: Recorder) -> Result<String, String> {
    recorder.finish().map(|s| summary_text(&s)).map_err(|e| e.to_string())
}

fn summary_text(s: &SessionSummary) -> String {
    format!(
        "{} s recorded, {} face rows, {} segment(s); report {}",
        s.seconds,
        s.frame_rows,
        s.segments.len(),
        s.report.display()
    )
}

/// Changes whenever the timeline gained a second, a face or a marker.
pub fn timeline_version(t: &Timeline) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.len().hash(&mut h);
    t.span().map(|(a, b)| (a.to_bits(), b.to_bits())).hash(&mut h);
    t.markers().len().hash(&mut h);
    t.faces().map(|f| (f.id, f.points.len(), f.points.back().map(|p| p.second))).collect::<Vec<_>>().hash(&mut h);
    h.finish()
}

/// The timeline as plot series: a point in the middle of each (possibly merged) second.
pub fn plot_data(t: &Timeline) -> PlotData {
    let mut d = PlotData::default();
    for p in t.points() {
        let x = p.t_s + p.span_s / 2.0;
        d.class_engagement.push([x, p.mean_engagement.map_or(f64::NAN, f64::from)]);
        for i in 0..7 {
            d.emotion_shares[i].push([x, p.mean_p.map_or(f64::NAN, |m| f64::from(m[i]))]);
        }
        for i in 0..4 {
            d.state_shares[i].push([x, p.shares.map_or(f64::NAN, |s| f64::from(s[i]))]);
        }
    }
    for f in t.faces() {
        let series = f.points.iter().map(|p| [p.second as f64 + 0.5, f64::from(p.engagement_smoothed)]).collect();
        d.faces.insert(f.id, series);
    }
    d.markers = t.markers().iter().map(|m| (m.t_s, m.name.clone())).collect();
    d
}

/// A saved session folder's timeline (and whether it was interrupted).
pub fn load_saved(dir: &Path) -> Result<(PlotData, bool), String> {
    let loaded = session::open_session(dir).map_err(|e| e.to_string())?;
    Ok((plot_data(&loaded.timeline), loaded.interrupted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn frame_and_result(index: u64, t: f64) -> (Frame, FrameResult) {
        let image = image::RgbImage::from_pixel(64, 48, image::Rgb([120, 90, 60]));
        let frame = Frame { image, index, timestamp_s: t, captured_at: Instant::now(), source: Arc::from("test") };
        let result = FrameResult {
            source: frame.source.clone(),
            index,
            timestamp_s: t,
            captured_at: frame.captured_at,
            frame_size: (64, 48),
            faces: Vec::new(),
            timings: Default::default(),
        };
        (frame, result)
    }

    #[test]
    fn frames_are_saved_only_when_the_user_turns_recording_on() {
        let root = tempfile::tempdir().unwrap();
        let mut slot = SessionSlot::default();
        let dir = slot.start(root.path(), "test video", "dev.onnx on CPU").unwrap();
        assert!(!slot.record_frames(), "off by default");
        let (frame, result) = frame_and_result(0, 0.0);
        assert_eq!(slot.record(&result, 1, false), None);
        slot.set_record_frames(true);
        let (frame1, result1) = frame_and_result(1, 0.5);
        assert_eq!(slot.record(&result1, 1, true), None, "nothing while paused");
        let path = slot.record(&result1, 1, false).expect("a frame path");
        assert!(path.starts_with(dir.join("frames")));
        save_jpeg(&frame1, &path).unwrap();
        assert_eq!(image::open(&path).unwrap().width(), 64);
        let _ = frame;
        let m = slot.mark("quiz").unwrap();
        assert!((m - 0.5).abs() < 1e-9);
        let summary = slot.stop().unwrap();
        assert!(summary.contains("report"), "{summary}");
        assert!(slot.timeline().is_some(), "the timeline stays on screen after stop");
        let exported = slot.export_csv(&root.path().join("export")).unwrap();
        assert!(exported.iter().any(|p| p.ends_with("seconds.csv")), "{exported:?}");
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
