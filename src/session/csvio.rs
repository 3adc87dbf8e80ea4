//! The CSV files of a session: headers, how each row is written and read back.
//!
//! Rows are written field by field into a reused record (no allocation per row). Readers only look
//! at the file up to its last newline, so a row torn by a crash is ignored, never half-read.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use csv::ByteRecord;

use super::{FrameRow, Marker, SecondRow, SegmentRow, SessionError};
use crate::EMOTIONS;
use crate::engagement::State;

pub(crate) const FRAMES_HEADER: &[&str] = &[
    "source",
    "frame",
    "timestamp_s",
    "face_id",
    "x",
    "y",
    "w",
    "h",
    "det_score",
    "emotion",
    "p_angry",
    "p_disgust",
    "p_fear",
    "p_happy",
    "p_neutral",
    "p_sad",
    "p_surprise",
    "raw_angry",
    "raw_disgust",
    "raw_fear",
    "raw_happy",
    "raw_neutral",
    "raw_sad",
    "raw_surprise",
    "yaw",
    "pitch",
    "attention",
    "valence",
    "arousal",
    "engagement",
    "engagement_smoothed",
    "state",
];

pub(crate) const SECONDS_HEADER: &[&str] = &[
    "second",
    "frames",
    "faces_present",
    "faces_lost",
    "mean_engagement",
    "mean_attention",
    "mean_valence",
    "mean_arousal",
    "share_engaged",
    "share_neutral",
    "share_bored",
    "share_away",
    "dominant_emotion",
    "mean_p_angry",
    "mean_p_disgust",
    "mean_p_fear",
    "mean_p_happy",
    "mean_p_neutral",
    "mean_p_sad",
    "mean_p_surprise",
];

pub(crate) const MARKERS_HEADER: &[&str] = &["t_s", "name"];

pub(crate) const SEGMENTS_HEADER: &[&str] = &[
    "index",
    "name",
    "start_s",
    "end_s",
    "seconds",
    "mean_faces_present",
    "mean_engagement",
    "share_engaged",
    "share_neutral",
    "share_bored",
    "share_away",
    "dominant_emotion",
    "mean_p_angry",
    "mean_p_disgust",
    "mean_p_fear",
    "mean_p_happy",
    "mean_p_neutral",
    "mean_p_sad",
    "mean_p_surprise",
];

/// Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell that a spreadsheet would execute (`=HYPERLINK(…)`, a file named `=1+1.jpg`) gets a leading
/// `'`, which spreadsheets show as text; `None` when the text is safe as it is. Numbers are written by
/// other paths and never changed. [`restore`] undoes it when the app reads its own files back.
pub(crate) fn neutralise(s: &str) -> Option<String> {
    s.starts_with(FORMULA_STARTS).then(|| format!("'{s}"))
}

/// The text written by [`neutralise`], as the user typed it.
pub(crate) fn restore(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => s,
    }
}

/// Builds one record at a time into reused buffers.
#[derive(Default)]
pub(crate) struct RowBuf {
    pub rec: ByteRecord,
    tmp: String,
}

impl RowBuf {
    pub fn clear(&mut self) {
        self.rec.clear();
    }
    /// A text cell, made safe for spreadsheets ([`neutralise`]).
    pub fn str(&mut self, s: &str) {
        match neutralise(s) {
            Some(safe) => self.rec.push_field(safe.as_bytes()),
            None => self.rec.push_field(s.as_bytes()),
        }
    }
    pub(crate) fn disp(&mut self, v: impl std::fmt::Display) {
        self.tmp.clear();
        let _ = write!(self.tmp, "{v}");
        self.rec.push_field(self.tmp.as_bytes());
    }
    /// Fixed decimals (frames.csv: probabilities and components to 4 decimals, time to ms).
    pub fn fixed(&mut self, v: f64, decimals: usize) {
        self.tmp.clear();
        let _ = write!(self.tmp, "{v:.decimals$}");
        self.rec.push_field(self.tmp.as_bytes());
    }
    pub(crate) fn opt(&mut self, v: Option<f32>) {
        match v {
            Some(v) => self.disp(v),
            None => self.rec.push_field(b""),
        }
    }
    pub(crate) fn opt_fixed(&mut self, v: Option<f32>, decimals: usize) {
        match v {
            Some(v) => self.fixed(v as f64, decimals),
            None => self.rec.push_field(b""),
        }
    }
}

pub(crate) fn frame_record(b: &mut RowBuf, r: &FrameRow) {
    b.clear();
    b.str(&r.source);
    b.disp(r.frame);
    b.fixed(r.timestamp_s, 3);
    b.disp(r.face_id);
    for v in r.bbox {
        b.fixed(v as f64, 1);
    }
    b.fixed(r.det_score as f64, 4);
    emotion_name(b, r.emotion);
    for probs in [&r.p, &r.raw] {
        for k in 0..7 {
            b.opt_fixed(probs.map(|p| p[k]), 4);
        }
    }
    b.opt_fixed(r.yaw_deg, 2);
    b.opt_fixed(r.pitch_deg, 2);
    b.fixed(r.attention as f64, 4);
    b.opt_fixed(r.valence, 4);
    b.opt_fixed(r.arousal, 4);
    b.fixed(r.engagement as f64, 4);
    b.fixed(r.engagement_smoothed as f64, 4);
    b.str(r.state.as_str());
}

fn opt_probs(b: &mut RowBuf, p: &Option<crate::Probs>) {
    for k in 0..7 {
        b.opt(p.map(|p| p[k]));
    }
}

fn shares(b: &mut RowBuf, s: &Option<[f32; 4]>) {
    for k in 0..4 {
        b.opt(s.map(|s| s[k]));
    }
}

fn emotion_name(b: &mut RowBuf, e: Option<usize>) {
    b.str(e.map(|e| EMOTIONS[e]).unwrap_or(""));
}

pub(crate) fn second_record(b: &mut RowBuf, r: &SecondRow) {
    b.clear();
    second_fields(b, r);
}

/// The class view's `class.csv` (see docs/CSV.md): who (a student's pseudonym, or `class`), when (Unix
/// second), how many students the row stands for, then the columns of seconds.csv.
pub(crate) const CLASS_PREFIX: &[&str] = &["t_unix", "student", "students"];

pub(crate) fn class_header() -> Vec<&'static str> {
    CLASS_PREFIX.iter().chain(SECONDS_HEADER).copied().collect()
}

pub(crate) fn class_record(b: &mut RowBuf, t_unix: i64, student: &str, students: u32, r: &SecondRow) {
    b.clear();
    b.disp(t_unix);
    b.str(student);
    b.disp(students);
    second_fields(b, r);
}

fn second_fields(b: &mut RowBuf, r: &SecondRow) {
    b.disp(r.second);
    b.disp(r.frames);
    b.disp(r.faces_present);
    b.disp(r.faces_lost);
    for v in [r.mean_engagement, r.mean_attention, r.mean_valence, r.mean_arousal] {
        b.opt(v);
    }
    shares(b, &r.shares);
    emotion_name(b, r.dominant_emotion());
    opt_probs(b, &r.mean_p);
}

pub(crate) fn marker_record(b: &mut RowBuf, m: &Marker) {
    b.clear();
    b.disp(m.t_s);
    b.str(&m.name);
}

pub(crate) fn segment_record(b: &mut RowBuf, r: &SegmentRow) {
    b.clear();
    b.disp(r.index);
    b.str(&r.name);
    b.disp(r.start_s);
    b.disp(r.end_s);
    b.disp(r.seconds);
    b.opt(r.mean_faces_present);
    b.opt(r.mean_engagement);
    shares(b, &r.shares);
    emotion_name(b, r.dominant_emotion());
    opt_probs(b, &r.mean_p);
}

/// Writes a whole small CSV file (header + rows) atomically: to a temporary file, then renamed.
fn write_whole<T>(path: &Path, header: &[&str], rows: &[T], rec: fn(&mut RowBuf, &T)) -> std::io::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    {
        let mut w = csv::Writer::from_writer(File::create(&tmp)?);
        w.write_record(header)?;
        let mut b = RowBuf::default();
        for r in rows {
            rec(&mut b, r);
            w.write_byte_record(&b.rec)?;
        }
        w.flush()?;
        w.get_ref().sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

pub(crate) fn write_seconds_file(path: &Path, rows: &[SecondRow]) -> std::io::Result<()> {
    write_whole(path, SECONDS_HEADER, rows, second_record)
}
pub(crate) fn write_segments_file(path: &Path, rows: &[SegmentRow]) -> std::io::Result<()> {
    write_whole(path, SEGMENTS_HEADER, rows, segment_record)
}
pub(crate) fn write_markers_file(path: &Path, rows: &[Marker]) -> std::io::Result<()> {
    write_whole(path, MARKERS_HEADER, rows, marker_record)
}

/// Length of the file up to and including its last newline (what a crash cannot have torn).
fn complete_len(f: &mut File) -> std::io::Result<u64> {
    let len = f.seek(SeekFrom::End(0))?;
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        f.seek(SeekFrom::Start(start))?;
        let chunk = &mut buf[..(end - start) as usize];
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&c| c == b'\n') {
            f.seek(SeekFrom::Start(0))?;
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(0)
}

pub(crate) fn copy_complete_lines(src: &Path, dst: &Path) -> std::io::Result<u64> {
    let mut f = File::open(src)?;
    let n = complete_len(&mut f)?;
    let mut out = File::create(dst)?;
    std::io::copy(&mut BufReader::new(f).take(n), &mut out)
}

/// Reads the complete rows of a session CSV, checking its header; `parse` gets each record and
/// its line number. A missing file reads as no rows (a session may stop before writing any).
fn read_rows<T>(
    path: &Path,
    header: &[&str],
    mut parse: impl FnMut(&csv::StringRecord) -> Result<T, String>,
    mut each: impl FnMut(T),
) -> Result<(), SessionError> {
    let read_err = |source| SessionError::Read { path: path.to_path_buf(), source };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(read_err(e)),
    };
    let n = complete_len(&mut f).map_err(read_err)?;
    if n == 0 {
        return Ok(());
    }
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(BufReader::new(f).take(n));
    let fmt = |message: String| SessionError::Format { path: path.to_path_buf(), message };
    let got = rdr.headers().map_err(|e| fmt(e.to_string()))?;
    if got.len() < header.len() || got.iter().zip(header).any(|(a, b)| a != *b) {
        return Err(fmt(format!(
            "unexpected columns (CSV schema v{} expects: {}); was it written by another version?",
            super::CSV_SCHEMA_VERSION,
            header.join(",")
        )));
    }
    // A bad row (edited by hand, damaged) is reported and skipped: one row must not cost the whole session.
    let mut rec = csv::StringRecord::new();
    let mut skipped = 0u64;
    let mut report = |what: String| {
        skipped += 1;
        if skipped <= 5 {
            tracing::warn!("{}: {what}; row skipped", path.display());
        }
    };
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => match parse(&rec) {
                Ok(row) => each(row),
                Err(m) => report(format!("line {}: {m}", rec.position().map(|p| p.line()).unwrap_or(0))),
            },
            Err(e) if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }) => {
                report(e.to_string())
            }
            Err(e) => return Err(fmt(e.to_string())),
        }
    }
    if skipped > 5 {
        tracing::warn!("{}: {skipped} bad rows skipped in all", path.display());
    }
    Ok(())
}

fn field<'a>(r: &'a csv::StringRecord, i: usize, name: &str) -> Result<&'a str, String> {
    r.get(i).ok_or_else(|| format!("missing column {name}"))
}
fn num<T: std::str::FromStr>(r: &csv::StringRecord, i: usize, name: &str) -> Result<T, String> {
    let s = field(r, i, name)?;
    s.parse().map_err(|_| format!("{name}: not a number: {s:?}"))
}
fn opt_num(r: &csv::StringRecord, i: usize, name: &str) -> Result<Option<f32>, String> {
    let s = field(r, i, name)?;
    if s.is_empty() { Ok(None) } else { s.parse().map(Some).map_err(|_| format!("{name}: not a number: {s:?}")) }
}
fn emotion_index(s: &str) -> Result<usize, String> {
    EMOTIONS.iter().position(|e| *e == s).ok_or_else(|| format!("unknown emotion {s:?}"))
}
fn opt_array<const N: usize>(r: &csv::StringRecord, start: usize, name: &str) -> Result<Option<[f32; N]>, String> {
    let mut out = [0.0; N];
    let mut some = 0;
    for (k, v) in out.iter_mut().enumerate() {
        if let Some(x) = opt_num(r, start + k, name)? {
            *v = x;
            some += 1;
        }
    }
    match some {
        0 => Ok(None),
        n if n == N => Ok(Some(out)),
        _ => Err(format!("{name}: some columns empty, some not")),
    }
}

fn parse_frame(r: &csv::StringRecord) -> Result<FrameRow, String> {
    let emotion = match field(r, 9, "emotion")? {
        "" => None,
        name => Some(emotion_index(name)?),
    };
    Ok(FrameRow {
        source: restore(field(r, 0, "source")?).to_string(),
        frame: num(r, 1, "frame")?,
        timestamp_s: num(r, 2, "timestamp_s")?,
        face_id: num(r, 3, "face_id")?,
        bbox: [num(r, 4, "x")?, num(r, 5, "y")?, num(r, 6, "w")?, num(r, 7, "h")?],
        det_score: num(r, 8, "det_score")?,
        emotion,
        p: opt_array::<7>(r, 10, "p_*")?,
        raw: opt_array::<7>(r, 17, "raw_*")?,
        yaw_deg: opt_num(r, 24, "yaw")?,
        pitch_deg: opt_num(r, 25, "pitch")?,
        attention: num(r, 26, "attention")?,
        valence: opt_num(r, 27, "valence")?,
        arousal: opt_num(r, 28, "arousal")?,
        engagement: num(r, 29, "engagement")?,
        engagement_smoothed: num(r, 30, "engagement_smoothed")?,
        state: {
            let s = field(r, 31, "state")?;
            State::parse(s).ok_or_else(|| format!("unknown state {s:?}"))?
        },
    })
}

fn parse_second(r: &csv::StringRecord) -> Result<SecondRow, String> {
    Ok(SecondRow {
        second: num(r, 0, "second")?,
        frames: num(r, 1, "frames")?,
        faces_present: num(r, 2, "faces_present")?,
        faces_lost: num(r, 3, "faces_lost")?,
        mean_engagement: opt_num(r, 4, "mean_engagement")?,
        mean_attention: opt_num(r, 5, "mean_attention")?,
        mean_valence: opt_num(r, 6, "mean_valence")?,
        mean_arousal: opt_num(r, 7, "mean_arousal")?,
        shares: opt_array::<4>(r, 8, "share_*")?,
        mean_p: opt_array::<7>(r, 13, "mean_p_*")?,
    })
}

fn parse_marker(r: &csv::StringRecord) -> Result<Marker, String> {
    Ok(Marker { t_s: num(r, 0, "t_s")?, name: restore(field(r, 1, "name")?).to_string() })
}

/// Streams the complete rows of a session's `frames.csv` (it can be large: it is never loaded whole).
pub fn read_frames(dir: &Path, each: impl FnMut(FrameRow)) -> Result<(), SessionError> {
    read_rows(&dir.join(super::FRAMES_FILE), FRAMES_HEADER, parse_frame, each)
}

pub(crate) fn read_seconds(path: &Path) -> Result<Vec<SecondRow>, SessionError> {
    let mut v = Vec::new();
    read_rows(path, SECONDS_HEADER, parse_second, |r| v.push(r))?;
    Ok(v)
}

pub(crate) fn read_markers(path: &Path) -> Result<Vec<Marker>, SessionError> {
    let mut v = Vec::new();
    read_rows(path, MARKERS_HEADER, parse_marker, |r| v.push(r))?;
    Ok(v)
}

/// The rows of a `segments.csv` file (for checks and external tools).
pub fn read_segments(path: &Path) -> Result<Vec<SegmentRow>, SessionError> {
    let mut v = Vec::new();
    read_rows(
        path,
        SEGMENTS_HEADER,
        |r| {
            Ok(SegmentRow {
                index: num(r, 0, "index")?,
                name: restore(field(r, 1, "name")?).to_string(),
                start_s: num(r, 2, "start_s")?,
                end_s: num(r, 3, "end_s")?,
                seconds: num(r, 4, "seconds")?,
                mean_faces_present: opt_num(r, 5, "mean_faces_present")?,
                mean_engagement: opt_num(r, 6, "mean_engagement")?,
                shares: opt_array::<4>(r, 7, "share_*")?,
                mean_p: opt_array::<7>(r, 12, "mean_p_*")?,
            })
        },
        |r| v.push(r),
    )?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_on_write_and_restored_on_read() {
        for text in ["=1+1.jpg", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"] {
            let mut b = RowBuf::default();
            b.str(text);
            let cell = std::str::from_utf8(&b.rec[0]).unwrap().to_string();
            assert_eq!(cell, format!("'{text}"), "{text:?} must not reach a spreadsheet as a formula");
            assert_eq!(restore(&cell), text);
        }
        for text in ["lecture.mp4", "퀴즈 시작", "'quoted", "", "neutral"] {
            let mut b = RowBuf::default();
            b.str(text);
            assert_eq!(&b.rec[0], text.as_bytes(), "{text:?} is safe and written as it is");
            assert_eq!(restore(text), text);
        }
        // Numbers are not text cells: a negative valence stays a number.
        let mut b = RowBuf::default();
        b.fixed(-0.25, 2);
        assert_eq!(&b.rec[0], b"-0.25");
    }
}
