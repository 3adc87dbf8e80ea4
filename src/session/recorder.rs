//! The recorder: turns pipeline results into engagement rows, appends them to the session
//! folder as they come, and keeps the bounded live timeline.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::csvio::{self, RowBuf};
use super::timeline::{FacePoint, SecondAccumulator, SegmentBuilder, Timeline, TimelineLimits};
use super::{
    CSV_SCHEMA_VERSION, FRAMES_FILE, FrameRow, MARKERS_FILE, Marker, REPORT_FILE, SECONDS_FILE, SEGMENTS_FILE,
    SESSION_FILE, SESSION_SCHEMA_VERSION, SecondRow, SegmentRow, SessionError, SessionInfo, SessionMeta,
};
use crate::engagement::{self, EngagementConfig, FaceEngagementState};
use crate::pipeline::FrameResult;

/// The data is handed to the OS after every frame and forced to disk at least this often.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Extra time every fsync takes (a slow or network disk), for tests; 0 in normal use.
static SLOW_SYNC_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes every fsync of session files this much slower (tests of a slow disk: the window must not feel it).
#[doc(hidden)]
pub fn simulate_slow_disk(ms: u64) {
    SLOW_SYNC_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// An append-only CSV file that is synced to disk on demand.
pub(crate) struct Appender {
    path: PathBuf,
    file: File,
    /// Whole records not yet on disk (the csv writer only ever writes into this buffer).
    w: csv::Writer<Vec<u8>>,

    /// Bytes of the file that hold whole records.
    committed: u64,
    /// Set by a failed write: the file was cut back to `committed` and takes no more records.
    failed: Option<String>,
}

impl Appender {
    pub(crate) fn create(path: PathBuf, header: &[&str]) -> Result<Self, SessionError> {
        Self::open(path, header, false)
    }
    /// `replace`: overwrite an existing file (a user-chosen export path) instead of refusing.
    pub(crate) fn open(path: PathBuf, header: &[&str], replace: bool) -> Result<Self, SessionError> {
        let file = OpenOptions::new()
            .create_new(!replace)
            .create(replace)
            .truncate(replace)
            .write(true)
            .open(&path)
            .map_err(|source| SessionError::Write { path: path.clone(), source })?;
        let mut a = Self { path, file, w: record_buffer(Vec::with_capacity(64 * 1024)), committed: 0, failed: None };
        a.write(&{
            let mut r = csv::ByteRecord::new();
            header.iter().for_each(|h| r.push_field(h.as_bytes()));
            r
        })?;
        a.flush()?;
        Ok(a)
    }
    fn err(&self, e: impl Into<std::io::Error>) -> SessionError {
        SessionError::Write { path: self.path.clone(), source: e.into() }
    }
    pub(crate) fn write(&mut self, rec: &csv::ByteRecord) -> Result<(), SessionError> {
        if let Some(why) = &self.failed {
            return Err(self.err(std::io::Error::other(format!("recording stopped after an earlier error: {why}"))));
        }
        self.w.write_byte_record(rec).map_err(|e| self.err(e))
    }
    /// Writes the buffered records. A failure (disk full, file too large) cuts the file back to its last
    /// whole record, so it stays parseable, and stops this file: no torn, glued or duplicated rows.
    pub(crate) fn flush(&mut self) -> Result<(), SessionError> {
        use std::io::Write;
        if self.failed.is_some() {
            return self.write(&csv::ByteRecord::new());
        }
        let w = std::mem::replace(&mut self.w, record_buffer(Vec::new()));
        let mut pending = w.into_inner().map_err(|e| self.err(e.into_error()))?;
        let result = self.file.write_all(&pending);
        let written = pending.len() as u64;
        pending.clear();
        self.w = record_buffer(pending);
        match result {
            Ok(()) => {
                self.committed += written;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.committed);
                let _ = std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(self.committed));
                self.failed = Some(e.to_string());
                Err(self.err(e))
            }
        }
    }
    pub(crate) fn sync(&mut self) -> Result<(), SessionError> {
        self.flush()?;
        let delay = SLOW_SYNC_MS.load(std::sync::atomic::Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        self.file.sync_data().map_err(|e| self.err(e))
    }
}

/// A csv writer into `buf` (memory: it cannot fail half-way through a record).
fn record_buffer(buf: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().buffer_capacity(8 * 1024).from_writer(buf)
}

/// What [`Recorder::finish`] returns.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub dir: PathBuf,
    /// Seconds with frames.
    pub seconds: u64,
    /// Rows in `frames.csv`.
    pub frame_rows: u64,
    pub segments: Vec<SegmentRow>,
    pub report: PathBuf,
}

/// Records one session into its folder. Create it when the session starts, [`push`](Self::push)
/// every analysed frame, [`mark`](Self::mark) the teacher's markers, and [`finish`](Self::finish)
/// at the end. Dropped without `finish` (or killed), the folder still holds everything up to the
/// last second and reopens with [`super::open_session`].
pub struct Recorder {
    dir: PathBuf,
    info: SessionInfo,
    cfg: EngagementConfig,
    frames: Appender,
    /// A second copy of the frame rows at a user-chosen path (`analyze --csv`), streamed the same way.
    frames_mirror: Option<Appender>,
    seconds: Appender,
    markers: Appender,
    row: RowBuf,
    faces: HashMap<u64, FaceEngagementState>,
    current: Option<SecondAccumulator>,
    /// End (exclusive) of the last closed second; markers before it are moved to it.
    closed_until_s: f64,
    last_t_s: f64,
    segments: SegmentBuilder,
    timeline: Timeline,
    frame_rows: u64,
    seconds_written: u64,
    last_sync: Instant,
    finished: bool,
    /// Every person (face ID) seen in the session.
    persons: std::collections::HashSet<u64>,
    /// Receives every closed second with its Unix second (class sharing); a full or closed channel never
    /// stops recording.
    second_sink: Option<crossbeam_channel::Sender<(i64, SecondRow)>>,
    /// Unix second at which session second 0 began.
    started_unix: i64,
}

/// `name` as a folder-name fragment: letters, digits, `-` and `_`; anything else becomes `-`.
fn slug(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(60)
        .collect();
    if s.is_empty() { "session".to_string() } else { s }
}

pub(crate) fn write_info(dir: &Path, info: &SessionInfo) -> Result<(), SessionError> {
    let path = dir.join(SESSION_FILE);
    let tmp = dir.join("session.json.tmp");
    let werr = |source| SessionError::Write { path: path.clone(), source };
    let text = serde_json::to_string_pretty(info).map_err(|e| werr(e.into()))?;
    // Flushed through the handle that wrote it: Windows refuses to flush a read-only handle (os error 5).
    let write = |mut f: File| std::io::Write::write_all(&mut f, text.as_bytes()).and_then(|()| f.sync_all());
    File::create(&tmp).and_then(write).map_err(werr)?;
    // Replaces the old file on Windows too (std renames with MOVEFILE_REPLACE_EXISTING there).
    std::fs::rename(&tmp, &path).map_err(werr)
}

/// Makes a folder's new entries survive a power cut. Linux: fsync the folder itself. Windows cannot open a
/// folder as a file (os error 5) and needs nothing: NTFS journals its folders' entries.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    if cfg!(windows) { Ok(()) } else { File::open(dir).and_then(|d| d.sync_all()) }
}

impl Recorder {
    /// Starts a session in a new folder `<root>/<YYYYmmdd-HHMMSS>-<name>/` (root created if needed).
    pub fn create(root: &Path, name: &str, meta: SessionMeta) -> Result<Self, SessionError> {
        Self::create_with_limits(root, name, meta, TimelineLimits::default())
    }

    /// [`create`](Self::create) with other timeline memory limits.
    pub(crate) fn create_with_limits(
        root: &Path,
        name: &str,
        meta: SessionMeta,
        limits: TimelineLimits,
    ) -> Result<Self, SessionError> {
        std::fs::create_dir_all(root).map_err(|source| SessionError::Create { path: root.to_path_buf(), source })?;
        let now = chrono::Local::now();
        let base = format!("{}-{}", now.format("%Y%m%d-%H%M%S"), slug(name));
        let mut dir = root.join(&base);
        let mut n = 2;
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                    dir = root.join(format!("{base}-{n}"));
                    n += 1;
                }
                Err(source) => return Err(SessionError::Create { path: dir, source }),
            }
        }
        let cfg = meta.engagement;
        let info = SessionInfo {
            schema_version: SESSION_SCHEMA_VERSION,
            csv_schema_version: CSV_SCHEMA_VERSION,
            app_version: crate::provenance::APP_VERSION.to_string(),
            commit: Some(crate::provenance::COMMIT.to_string()),
            name: name.to_string(),
            started_at: now.to_rfc3339(),
            status: "recording".to_string(),
            finished_at: None,
            duration_s: None,
            persons: None,
            pid: Some(std::process::id()),
            meta,
        };
        write_info(&dir, &info)?;
        let frames = Appender::create(dir.join(FRAMES_FILE), csvio::FRAMES_HEADER)?;
        let seconds = Appender::create(dir.join(SECONDS_FILE), csvio::SECONDS_HEADER)?;
        let markers = Appender::create(dir.join(MARKERS_FILE), csvio::MARKERS_HEADER)?;
        // The folder's entries themselves must survive a power cut, not only the files' contents.
        if let Err(source) = sync_dir(&dir) {
            return Err(SessionError::Write { path: dir, source });
        }
        tracing::info!(dir = %dir.display(), "session started");
        Ok(Self {
            dir,
            info,
            cfg,
            frames,
            frames_mirror: None,
            seconds,
            markers,
            row: RowBuf::default(),
            faces: HashMap::new(),
            current: None,
            closed_until_s: f64::NEG_INFINITY,
            last_t_s: 0.0,
            segments: SegmentBuilder::default(),
            timeline: Timeline::new(limits),
            frame_rows: 0,
            persons: Default::default(),
            seconds_written: 0,
            last_sync: Instant::now(),
            finished: false,
            second_sink: None,
            started_unix: now.timestamp(),
        })
    }

    /// Also streams every frame row to `path` (created or replaced), e.g. `analyze --csv out.csv`.
    pub(crate) fn mirror_frames_to(&mut self, path: &Path) -> Result<(), SessionError> {
        self.frames_mirror = Some(Appender::open(path.to_path_buf(), csvio::FRAMES_HEADER, true)?);
        Ok(())
    }

    /// Hands every second's aggregates, with the Unix second it covers, to `sink` as soon as the second
    /// is written (class sharing); `None` stops it.
    pub(crate) fn send_seconds_to(&mut self, sink: Option<crossbeam_channel::Sender<(i64, SecondRow)>>) {
        self.second_sink = sink;
    }

    /// Records a second aggregated elsewhere (the class view: one row from many students' shared
    /// seconds), with `persons` (students' numbers) present in it and a point per person for the
    /// per-person lines. Seconds come in order; the files and the report read like a local session's.
    pub(crate) fn push_second_row(
        &mut self,
        row: &SecondRow,
        persons: &[(u64, FacePoint)],
    ) -> Result<(), SessionError> {
        self.close_second()?;
        csvio::second_record(&mut self.row, row);
        self.seconds.write(&self.row.rec)?;
        self.seconds.flush()?;
        self.seconds_written += 1;
        self.segments.push_second(row);
        self.timeline.push_second(row);
        let end = row.second as f64 + 1.0;
        for &(id, p) in persons {
            self.persons.insert(id);
            self.timeline.push_face_point(id, p, end);
        }
        self.timeline.forget_faces(end);
        self.closed_until_s = self.closed_until_s.max(end);
        self.last_t_s = self.last_t_s.max(end);
        self.sync_if_due()
    }

    /// The session folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// What the live UI draws.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Segments so far (the current one ends at the latest closed second).
    pub fn segments(&self) -> Vec<SegmentRow> {
        self.segments.segments()
    }

    /// Records one analysed frame: computes each face's engagement, appends its rows, closes
    /// the previous second when this frame starts a new one. Frames come in time order.
    pub fn push(&mut self, r: &FrameResult) -> Result<(), SessionError> {
        let t = r.timestamp_s;
        // Timestamps should not go backwards; if they do (a restarted source), the frame is
        // counted in the open second rather than reopening a second already written.
        let sec = (t.floor() as i64).max(self.current.as_ref().map_or(i64::MIN, |c| c.second));
        if self.current.as_ref().is_some_and(|c| c.second != sec) {
            self.close_second()?;
        }
        let acc = self.current.get_or_insert_with(|| SecondAccumulator::new(sec));
        acc.add_frame();
        // An attention-only session never stores an emotion value, whatever the pipeline produced.
        let emotions = self.info.meta.mode.emotions();
        for face in &r.faces {
            self.persons.insert(face.id);
            let (smoothed, raw) = if emotions { (face.smoothed, face.raw) } else { (None, None) };
            let c = engagement::components(&face.detection, smoothed.as_ref(), &self.cfg);
            let st = self
                .faces
                .entry(face.id)
                .and_modify(|s| s.update(t, &c, &self.cfg.state))
                .or_insert_with(|| FaceEngagementState::new(t, &c, &self.cfg.state));
            let b = &face.detection.bbox;
            let row = FrameRow {
                source: r.source.to_string(),
                frame: r.index,
                timestamp_s: t,
                face_id: face.id,
                bbox: [b.x, b.y, b.w, b.h],
                det_score: face.detection.score,
                emotion: smoothed.as_ref().map(crate::classify::argmax),
                p: smoothed,
                raw,
                yaw_deg: c.pose.map(|p| p.yaw_deg),
                pitch_deg: c.pose.map(|p| p.pitch_deg),
                attention: c.attention,
                valence: c.valence,
                arousal: c.arousal,
                engagement: c.engagement,
                engagement_smoothed: st.smoothed(),
                state: st.state(),
            };
            acc.add_face(&row);
            csvio::frame_record(&mut self.row, &row);
            self.frames.write(&self.row.rec)?;
            if let Some(m) = &mut self.frames_mirror {
                m.write(&self.row.rec)?;
            }
            self.frame_rows += 1;
        }
        self.last_t_s = t;
        self.frames.flush()?;
        if let Some(m) = &mut self.frames_mirror {
            m.flush()?;
        }
        self.sync_if_due()
    }

    fn sync_if_due(&mut self) -> Result<(), SessionError> {
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Forces everything written so far to disk (also done at least once a second while frames
    /// come in; call it from a timer if frames may stop for long, e.g. a stalled camera).
    pub fn sync(&mut self) -> Result<(), SessionError> {
        self.frames.sync()?;
        if let Some(m) = &mut self.frames_mirror {
            m.sync()?;
        }
        self.seconds.sync()?;
        self.markers.sync()?;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn close_second(&mut self) -> Result<(), SessionError> {
        let Some(acc) = self.current.take() else { return Ok(()) };
        let end = acc.second as f64 + 1.0;
        let forget = self.cfg.state.forget_after_s;
        // Faces not seen for longer than forget_after_s leave the class; the others that are
        // absent in this second count as away.
        self.faces.retain(|_, f| end - f.last_seen_s() <= forget);
        let present: Vec<u64> = acc.present().collect();
        let lost = self.faces.keys().filter(|id| !present.contains(id)).count() as u32;
        let row = acc.close(lost);
        csvio::second_record(&mut self.row, &row);
        self.seconds.write(&self.row.rec)?;
        self.seconds.flush()?;
        if let Some(sink) = &self.second_sink {
            let _ = sink.try_send((self.started_unix + row.second, row.clone()));
        }
        self.seconds_written += 1;
        self.segments.push_second(&row);
        self.timeline.push_second(&row);
        for (id, p, seen) in acc.face_summaries() {
            self.timeline.push_face_point(id, p, seen);
        }
        self.timeline.forget_faces(end);
        self.closed_until_s = self.closed_until_s.max(end);
        Ok(())
    }

    /// Drops a named marker at source time `t_s` (a marker in an already closed second is moved
    /// to the end of that second, so that segments stay recomputable from the files).
    pub fn mark(&mut self, name: &str, t_s: f64) -> Result<(), SessionError> {
        let t = if t_s < self.closed_until_s {
            tracing::warn!(t_s, moved_to = self.closed_until_s, "marker in an already recorded second");
            self.closed_until_s
        } else {
            t_s
        };
        let m = Marker { t_s: t, name: name.trim().to_string() };
        csvio::marker_record(&mut self.row, &m);
        self.markers.write(&self.row.rec)?;
        self.markers.sync()?;
        self.segments.add_marker(m.clone());
        self.timeline.push_marker(m);
        Ok(())
    }

    /// Drops a marker at the latest frame's time.
    pub fn mark_now(&mut self, name: &str) -> Result<(), SessionError> {
        self.mark(name, self.last_t_s)
    }

    /// Ends the session: closes the last second, writes `segments.csv` and `report.png`, and marks
    /// `session.json` finished. If the report cannot be written the error says so; the CSVs stay.
    pub fn finish(mut self) -> Result<SessionSummary, SessionError> {
        self.close_second()?;
        self.sync()?;
        self.finished = true;
        let segments = self.segments.segments();
        let seg_path = self.dir.join(SEGMENTS_FILE);
        csvio::write_segments_file(&seg_path, &segments)
            .map_err(|source| SessionError::Write { path: seg_path, source })?;
        self.info.status = "finished".to_string();
        self.info.finished_at = Some(chrono::Local::now().to_rfc3339());
        self.info.duration_s = self.timeline.span().map(|(_, end)| end);
        self.info.persons = Some(self.persons.len() as u64);
        write_info(&self.dir, &self.info)?;
        let report = self.dir.join(REPORT_FILE);
        super::report::export_report_png(&self.timeline, &segments, &super::report_title(&self.info), &report)?;
        tracing::info!(dir = %self.dir.display(), seconds = self.seconds_written, "session finished");
        Ok(SessionSummary {
            dir: self.dir.clone(),
            seconds: self.seconds_written,
            frame_rows: self.frame_rows,
            segments,
            report,
        })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.finished {
            // Interrupted (error or early return): keep what we have; the open second stays
            // unclosed on purpose so that the files look exactly like after a crash.
            if let Err(e) = self.sync() {
                tracing::error!("session {}: {e}", self.dir.display());
            }
        }
    }
}
