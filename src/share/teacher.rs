//! The teacher side: subscribes to a class, keeps each student's seconds (each second once), and
//! closes class seconds into one class row — with no class figure while fewer than `k` students report.
//!
//! [`ClassAggregator`] is the pure part (tested without a broker); [`ClassListener`] runs the MQTT
//! connection on its own thread (`class`) and hands [`ClassEvent`]s to the window or the headless
//! recorder ([`ClassRecorder`]), which saves the class session like a local one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rumqttc::{Client, Event, Packet, QoS};

use super::{ClassAddress, Net, NetThread, SecondMessage, ShareError, StudentStatus};
use crate::engagement::State;
use crate::session::csvio::{self, RowBuf};
use crate::session::recorder::Appender;
use crate::session::{FacePoint, Recorder, SecondRow, SessionMeta, SessionSummary};

/// Fewer students than this in a second: the class row carries the count but no figures (one
/// student's numbers cannot be read off a "class" of one or two).
pub const DEFAULT_MIN_STUDENTS: usize = 3;
/// A second closes at the latest this long after it ended (wall clock, while connected), even if a
/// student is still behind.
pub(crate) const LATE_S: i64 = 10;
/// ...and not before this long after it ended, even if every student known so far has passed it: students
/// who joined a moment ago (or whose messages are in flight) still count.
pub(crate) const GRACE_S: i64 = 2;
/// A student silent this long counts as gone.
pub(crate) const SILENT_S: f64 = 10.0;
/// How far behind a student's newest second its seconds are remembered to drop repeats: a student
/// sends again at most its ring ([`super::student::RING_SECONDS`]); a second further back than this
/// was taken already (or is too old to be anything but a repeat) and is dropped as one.
pub(crate) const DEDUP_WINDOW_S: i64 = super::student::RING_SECONDS as i64 + 60;
/// The class file beside the usual session files: students' rows and class rows.
pub(crate) const CLASS_FILE: &str = "class.csv";

/// One student's known state.
#[derive(Debug, Clone)]
pub(crate) struct Student {
    pub pseudonym: String,
    /// A small number for per-student lines (order of arrival, from 1).
    pub number: u64,
    pub status: StudentStatus,
    /// Latest second received.
    pub watermark: i64,
    /// Wall-clock Unix time of the last message.
    pub last_heard: f64,
    pub seconds: u64,
}

/// A closed class second.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClassSecond {
    pub t: i64,
    /// Students who sent this second.
    pub students: u32,
    /// The class aggregate; figures empty (None) when `students < k`.
    pub row: SecondRow,
    /// Each reporting student's number and point (for per-student lines).
    pub points: Vec<(u64, FacePoint)>,
}

/// Collects students' seconds and closes class seconds.
#[derive(Debug)]
pub(crate) struct ClassAggregator {
    k: usize,
    students: HashMap<String, Student>,
    /// Open seconds: t → (student → message).
    open: BTreeMap<i64, HashMap<String, SecondMessage>>,
    /// Each student's seconds taken within [`DEDUP_WINDOW_S`] of its newest: a repeat is dropped.
    seen: HashMap<String, BTreeSet<i64>>,
    /// Everything up to (excluding) this second is closed.
    closed_until: Option<i64>,
    /// Seconds that arrived after their class second had closed (kept in the student rows).
    pub late: u64,
    pub duplicates: u64,
}

impl ClassAggregator {
    pub fn new(k: usize) -> Self {
        Self {
            k: k.max(1),
            students: HashMap::new(),
            open: BTreeMap::new(),
            seen: HashMap::new(),
            closed_until: None,
            late: 0,
            duplicates: 0,
        }
    }

    pub fn min_students(&self) -> usize {
        self.k
    }

    pub fn students(&self) -> impl Iterator<Item = &Student> {
        self.students.values()
    }

    fn student(&mut self, pseudonym: &str, now: f64) -> &mut Student {
        let n = self.students.len() as u64 + 1;
        self.students.entry(pseudonym.to_string()).or_insert_with(|| Student {
            pseudonym: pseudonym.to_string(),
            number: n,
            status: StudentStatus::Online,
            watermark: i64::MIN,
            last_heard: now,
            seconds: 0,
        })
    }

    pub fn status(&mut self, pseudonym: &str, status: StudentStatus, now: f64) {
        let s = self.student(pseudonym, now);
        s.status = status;
        s.last_heard = now;
    }

    /// Takes one student's second; `false` for a repeat (already taken, or older than the window).
    pub(crate) fn add(&mut self, pseudonym: &str, m: SecondMessage, now: f64) -> bool {
        let newest = self.students.get(pseudonym).map_or(m.t, |s| s.watermark.max(m.t));
        let oldest_kept = newest.saturating_sub(DEDUP_WINDOW_S);
        let seen = self.seen.entry(pseudonym.to_string()).or_default();
        if m.t < oldest_kept || !seen.insert(m.t) {
            self.duplicates += 1;
            return false;
        }
        // Bounded: a student's set never holds more than the window.
        while seen.first().is_some_and(|&t| t < oldest_kept) {
            seen.pop_first();
        }
        let s = self.student(pseudonym, now);
        s.watermark = newest;
        s.last_heard = now;
        s.seconds += 1;
        if matches!(s.status, StudentStatus::Gone | StudentStatus::Left) {
            s.status = StudentStatus::Online;
        }
        if self.closed_until.is_some_and(|c| m.t < c) {
            self.late += 1;
        } else {
            self.open.entry(m.t).or_default().insert(pseudonym.to_string(), m);
        }
        true
    }

    /// Closes the seconds every live student has passed once they ended [`GRACE_S`] ago, and any second
    /// that ended more than [`LATE_S`] ago when `wall_clock_ok` (the teacher was connected all that time);
    /// `all` closes everything (the end). Times are Unix seconds (students' clocks, the teacher's `now`).
    pub(crate) fn close_due(&mut self, now: f64, wall_clock_ok: bool, all: bool) -> Vec<ClassSecond> {
        let live: Vec<i64> = self.students.values().filter(|s| is_live(s, now)).map(|s| s.watermark).collect();
        let mut out = Vec::new();
        while let Some((&t, _)) = self.open.first_key_value() {
            let passed = !live.is_empty() && live.iter().all(|&w| w > t) && (t + 1 + GRACE_S) as f64 <= now;
            let old = wall_clock_ok && (t + 1 + LATE_S) as f64 <= now;
            if !(all || passed || old) {
                break;
            }
            let Some((t, msgs)) = self.open.pop_first() else { break };
            out.push(self.class_second(t, &msgs));
            self.closed_until = Some(t + 1);
        }
        out
    }

    fn class_second(&self, t: i64, msgs: &HashMap<String, SecondMessage>) -> ClassSecond {
        let n = msgs.len() as u32;
        let mut points: Vec<(u64, FacePoint)> = msgs
            .iter()
            .filter_map(|(p, m)| {
                let number = self.students.get(p)?.number;
                let engagement = m.engagement?;
                let state = m.shares.map_or(State::Away, |s| {
                    let top = (0..4).fold(0, |best, i| if s[i] > s[best] { i } else { best });
                    State::ALL[top]
                });
                let emotion = m.p.as_ref().map_or(4, crate::classify::argmax);
                Some((number, FacePoint { second: t, engagement_smoothed: engagement, state, emotion }))
            })
            .collect();
        points.sort_by_key(|(n, _)| *n);
        let gated = (n as usize) < self.k;
        let row = aggregate(t, msgs.values(), gated);
        ClassSecond { t, students: n, row, points: if gated { Vec::new() } else { points } }
    }
}

fn is_live(s: &Student, now: f64) -> bool {
    !matches!(s.status, StudentStatus::Left | StudentStatus::Gone) && now - s.last_heard <= SILENT_S
}

/// The class row of second `t` (`second` is filled in by the session: seconds since it started).
/// Each student weighs the same: engagement, attention, valence and arousal are means over students
/// with a face; shares and emotion mix means over students who reported them. `gated`: counts only.
pub(crate) fn aggregate<'a>(t: i64, msgs: impl Iterator<Item = &'a SecondMessage>, gated: bool) -> SecondRow {
    let msgs: Vec<&SecondMessage> = msgs.collect();
    let mean = |f: &dyn Fn(&SecondMessage) -> Option<f32>| -> Option<f32> {
        let v: Vec<f32> = msgs.iter().filter_map(|m| f(m)).collect();
        (!v.is_empty() && !gated).then(|| v.iter().sum::<f32>() / v.len() as f32)
    };
    let mean_arr = |f: &dyn Fn(&SecondMessage) -> Option<Vec<f32>>, n: usize| -> Option<Vec<f32>> {
        let v: Vec<Vec<f32>> = msgs.iter().filter_map(|m| f(m)).collect();
        (!v.is_empty() && !gated)
            .then(|| (0..n).map(|i| v.iter().map(|a| a[i]).sum::<f32>() / v.len() as f32).collect())
    };
    let present = msgs.iter().filter(|m| m.faces > 0).count() as u32;
    SecondRow {
        second: t,
        frames: msgs.iter().map(|m| m.frames).sum(),
        faces_present: present,
        faces_lost: msgs.len() as u32 - present,
        mean_engagement: mean(&|m| m.engagement),
        mean_attention: mean(&|m| m.attention),
        mean_valence: mean(&|m| m.valence),
        mean_arousal: mean(&|m| m.arousal),
        shares: mean_arr(&|m| m.shares.map(|s| s.to_vec()), 4).map(|v| [v[0], v[1], v[2], v[3]]),
        mean_p: mean_arr(&|m| m.p.map(|p| p.to_vec()), 7).map(|v| std::array::from_fn(|i| v[i])),
    }
}

/// What the listener hands over.
#[derive(Debug, Clone)]
pub(crate) enum ClassEvent {
    Connected,
    Disconnected(String),
    Status {
        pseudonym: String,
        status: StudentStatus,
    },
    Second {
        pseudonym: String,
        message: SecondMessage,
    },
    /// A message that is not a valid second (ignored, counted).
    Rejected {
        topic: String,
    },
}

/// Runs the teacher's MQTT connection on its own thread.
pub(crate) struct ClassListener {
    events: Receiver<ClassEvent>,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl ClassListener {
    pub fn start(address: &ClassAddress) -> Result<Self, ShareError> {
        let id = format!("teacher-{}", &super::new_pseudonym()[2..]);
        let opts = address.mqtt_options(&id)?;
        let (client, connection) = Client::new(opts, 64);
        let mut net = NetThread::spawn(connection, "class-net", Duration::from_millis(250), Duration::from_secs(2))?;
        let (tx, rx) = crossbeam_channel::bounded::<ClassEvent>(100_000);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let address = address.clone();
        let thread = std::thread::Builder::new()
            .name("class".into())
            .spawn(move || {
                loop {
                    let ev = crossbeam_channel::select! {
                        recv(stop_rx) -> _ => break,
                        recv(net.events) -> ev => match ev {
                            Ok(ev) => ev,
                            Err(_) => break,
                        },
                    };
                    let out = match ev {
                        Net::Event(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = client.try_subscribe(address.students_filter(), QoS::AtLeastOnce);
                            ClassEvent::Connected
                        }
                        Net::Event(Event::Incoming(Packet::SubAck(_))) => {
                            // Subscribed: ask the students for what they hold (after a late start or
                            // a broker restart).
                            let _ = client.try_publish(address.hello_topic(), QoS::AtMostOnce, false, "hello");
                            continue;
                        }
                        Net::Event(Event::Incoming(Packet::Publish(p))) => {
                            match address.parse_student_topic(&p.topic) {
                                Some((who, "seconds")) => match SecondMessage::from_payload(&p.payload) {
                                    Some(message) => ClassEvent::Second { pseudonym: who.to_string(), message },
                                    None => ClassEvent::Rejected { topic: p.topic.clone() },
                                },
                                Some((who, "status")) => match StudentStatus::parse(&p.payload) {
                                    Some(status) => ClassEvent::Status { pseudonym: who.to_string(), status },
                                    None => ClassEvent::Rejected { topic: p.topic.clone() },
                                },
                                _ => ClassEvent::Rejected { topic: p.topic.clone() },
                            }
                        }
                        Net::Event(_) => continue,
                        Net::Lost(e) => ClassEvent::Disconnected(e),
                    };
                    if tx.send(out).is_err() {
                        break;
                    }
                }
                let _ = client.try_disconnect();
                net.stop(Duration::from_millis(300));
            })
            .map_err(ShareError::Thread)?;
        Ok(Self { events: rx, stop: stop_tx, thread: Some(thread) })
    }

    pub fn events(&self) -> &Receiver<ClassEvent> {
        &self.events
    }
}

impl Drop for ClassListener {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The class session: the usual session folder (seconds.csv holds class rows, so `view`, `export` and
/// the report work as for a local session) plus `class.csv` with every student's row and the class rows,
/// optionally mirrored to a user's CSV.
pub(crate) struct ClassRecorder {
    pub agg: ClassAggregator,
    recorder: Recorder,
    class_csv: Appender,
    mirror: Option<Appender>,
    row: RowBuf,
    /// Unix second of session second 0 (the first second received).
    t0: Option<i64>,
    connected_since: Option<f64>,
    /// Why the broker connection is down (None while connected or before the first attempt ends).
    pub last_error: Option<String>,
    pub rejected: u64,
}

impl ClassRecorder {
    pub fn create(root: &Path, address: &ClassAddress, k: usize, csv: Option<&Path>) -> Result<Self, ShareError> {
        let meta = SessionMeta {
            source: format!("class {address}"),
            model: "students' own (per-second aggregates over MQTT)".into(),
            ..Default::default()
        };
        let recorder = Recorder::create(root, &format!("class-{}", address.class), meta)?;
        let header = csvio::class_header();
        let class_csv = Appender::create(recorder.dir().join(CLASS_FILE), &header)?;
        let mirror = match csv {
            Some(p) => Some(Appender::open(p.to_path_buf(), &header, true)?),
            None => None,
        };
        Ok(Self {
            agg: ClassAggregator::new(k),
            recorder,
            class_csv,
            mirror,
            row: RowBuf::default(),
            t0: None,
            connected_since: None,
            last_error: None,
            rejected: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        self.recorder.dir()
    }

    pub fn connected(&self) -> bool {
        self.connected_since.is_some()
    }

    /// What the class window shows, as a copy (`timeline`: a copy of this recorder's timeline, made again only
    /// when it changed).
    pub fn view(&self, timeline: Arc<crate::session::Timeline>) -> ClassView {
        ClassView {
            dir: self.dir().to_path_buf(),
            connected: self.connected(),
            last_error: self.last_error.clone(),
            min_students: self.agg.min_students(),
            students: self.agg.students().cloned().collect(),
            timeline,
        }
    }

    pub fn mark_now(&mut self, name: &str) -> Result<(), ShareError> {
        Ok(self.recorder.mark_now(name)?)
    }

    /// Takes one listener event; closes what is due.
    pub(crate) fn on_event(&mut self, ev: ClassEvent, now: f64) -> Result<(), ShareError> {
        match ev {
            ClassEvent::Connected => {
                self.connected_since = Some(now);
                self.last_error = None;
            }
            ClassEvent::Disconnected(e) => {
                if self.connected_since.take().is_some() {
                    tracing::warn!("class broker connection lost: {e}; retrying");
                }
                self.last_error = Some(e);
            }
            ClassEvent::Status { pseudonym, status } => self.agg.status(&pseudonym, status, now),
            ClassEvent::Second { pseudonym, message } => {
                let t = message.t;
                if self.agg.add(&pseudonym, message.clone(), now) {
                    let t0 = *self.t0.get_or_insert(t);
                    self.write(t, &pseudonym, 1, &message.to_row(t - t0))?;
                }
            }
            ClassEvent::Rejected { topic } => {
                self.rejected += 1;
                tracing::debug!(topic, "ignored a message that is not a valid second");
            }
        }
        self.tick(now, false)
    }

    /// Closes due seconds (call about once a second even without events); `all` at the end.
    pub(crate) fn tick(&mut self, now: f64, all: bool) -> Result<(), ShareError> {
        let wall_ok = self.connected_since.is_some_and(|c| now - c >= LATE_S as f64);
        for s in self.agg.close_due(now, wall_ok, all) {
            let t0 = *self.t0.get_or_insert(s.t);
            let mut row = s.row.clone();
            row.second = s.t - t0;
            self.write(s.t, "class", s.students, &row)?;
            self.recorder.push_second_row(&row, &s.points)?;
        }
        Ok(())
    }

    fn write(&mut self, t: i64, who: &str, students: u32, row: &SecondRow) -> Result<(), ShareError> {
        csvio::class_record(&mut self.row, t, who, students, row);
        self.class_csv.write(&self.row.rec)?;
        self.class_csv.flush()?;
        if let Some(m) = &mut self.mirror {
            m.write(&self.row.rec)?;
            m.flush()?;
        }
        Ok(())
    }

    /// Closes every open second, syncs, writes the report.
    pub fn finish(mut self, now: f64) -> Result<SessionSummary, ShareError> {
        self.tick(now, true)?;
        self.class_csv.sync()?;
        if let Some(m) = &mut self.mirror {
            m.sync()?;
        }
        Ok(self.recorder.finish()?)
    }
}

/// `class --csv FILE --duration S` without a window.
#[derive(Debug, Clone)]
pub struct HeadlessClass {
    pub address: ClassAddress,
    pub session_root: PathBuf,
    pub csv: Option<PathBuf>,
    pub duration_s: Option<f64>,
    pub min_students: usize,
}

/// What a headless class run did.
#[derive(Debug, Clone)]
pub struct ClassSummary {
    pub session: SessionSummary,
    pub students: usize,
    pub duplicates: u64,
    pub late: u64,
    pub rejected: u64,
    pub interrupted: bool,
}

impl std::fmt::Display for ClassSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "class session {}: {} students, {} class seconds; {} repeated and {} unreadable messages ignored, \
             {} seconds arrived after their class second closed (kept in class.csv)",
            self.session.dir.display(),
            self.students,
            self.session.seconds,
            self.duplicates,
            self.rejected,
            self.late
        )
    }
}

/// What the class window draws, published by the `class-rec` thread after each change (at most every
/// [`VIEW_EVERY`]) — the window never takes a lock the recording holds across file I/O.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClassView {
    pub dir: PathBuf,
    pub connected: bool,
    /// Why the broker connection is down.
    pub last_error: Option<String>,
    /// `k`: fewer students than this in a second give no class figure.
    pub min_students: usize,
    pub students: Vec<Student>,
    pub timeline: Arc<crate::session::Timeline>,
}

impl ClassView {
    /// Students heard from recently (and not gone) at Unix time `now`.
    pub(crate) fn connected_students(&self, now: f64) -> usize {
        self.students.iter().filter(|s| is_live(s, now)).count()
    }
}

/// The class window's snapshot is refreshed at most this often (plus whenever the timeline changes).
const VIEW_EVERY: Duration = Duration::from_millis(200);

/// What the `class-rec` thread hands back when it ends: the recorder, and why it stopped early if it did.
type Ended = (ClassRecorder, Result<(), ShareError>);

/// A class being recorded: the listener's events are taken on a thread of their own (`class-rec`), stamped
/// with the time they arrive, so a busy window never delays or misdates them. That thread alone owns the
/// recorder; the window reads the [`ClassView`] it publishes and sends markers through [`mark`](Self::mark).
pub(crate) struct LiveClass {
    view: Arc<Mutex<Arc<ClassView>>>,
    marks: Sender<String>,
    mark_errors: Receiver<ShareError>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Ended>>,
    /// The recorder back from a thread that stopped on its own (a write error).
    ended: Option<ClassRecorder>,
}

impl LiveClass {
    pub fn start(opts: &HeadlessClass) -> Result<Self, ShareError> {
        let listener = ClassListener::start(&opts.address)?;
        let mut rec = ClassRecorder::create(&opts.session_root, &opts.address, opts.min_students, opts.csv.as_deref())?;
        let timeline = Arc::new(rec.recorder.timeline().clone());
        let view = Arc::new(Mutex::new(Arc::new(rec.view(timeline.clone()))));
        let stop = Arc::new(AtomicBool::new(false));
        let (marks, marks_rx) = crossbeam_channel::bounded::<String>(64);
        let (errors_tx, mark_errors) = crossbeam_channel::bounded(8);
        let (published, flag) = (view.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("class-rec".into())
            .spawn(move || {
                let (mut last_published, mut timeline) = (Instant::now(), timeline);
                let result = (|| {
                    while !flag.load(Ordering::Relaxed) {
                        crossbeam_channel::select! {
                            recv(listener.events()) -> ev => match ev {
                                Ok(ev) => rec.on_event(ev, super::unix_now_f64())?,
                                Err(_) => break,
                            },
                            recv(marks_rx) -> name => {
                                if let Ok(name) = name
                                    && let Err(e) = rec.mark_now(&name)
                                {
                                    let _ = errors_tx.try_send(e);
                                }
                            },
                            default(Duration::from_millis(200)) => rec.tick(super::unix_now_f64(), false)?,
                        }
                        let changed = rec.recorder.timeline().revision() != timeline.revision();
                        if changed {
                            timeline = Arc::new(rec.recorder.timeline().clone());
                        }
                        if changed || last_published.elapsed() >= VIEW_EVERY {
                            *published.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(rec.view(timeline.clone()));
                            last_published = Instant::now();
                        }
                    }
                    Ok(())
                })();
                (rec, result)
            })
            .map_err(ShareError::Thread)?;
        Ok(Self { view, marks, mark_errors, stop, thread: Some(thread), ended: None })
    }

    /// The latest snapshot (never waits for the recording).
    pub fn view(&self) -> Arc<ClassView> {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A named marker at the class's latest second (set by the recording thread).
    pub fn mark(&self, name: &str) -> Result<(), ShareError> {
        self.marks.try_send(name.to_string()).map_err(|_| {
            ShareError::Thread(std::io::Error::other("the class recording has stopped; the marker was not set"))
        })
    }

    /// A marker the recording could not write, if any since the last call.
    pub(crate) fn mark_error(&self) -> Option<ShareError> {
        self.mark_errors.try_recv().ok()
    }

    /// The recording thread stopped on its own: a write error (disk full), said once.
    pub fn failed(&mut self) -> Option<ShareError> {
        if !self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            return None;
        }
        let (rec, result) = self.thread.take()?.join().ok()?;
        self.ended = Some(rec);
        result.err()
    }

    /// Stops listening, closes every open second, writes the report.
    pub fn finish(mut self, interrupted: bool) -> Result<ClassSummary, ShareError> {
        self.stop.store(true, Ordering::Relaxed);
        let (rec, thread_error) = match self.thread.take().map(|t| t.join()) {
            Some(Ok((rec, result))) => (Some(rec), result.err()),
            Some(Err(_)) => (None, None),
            None => (self.ended.take(), None),
        };
        let Some(rec) = rec else {
            return Err(ShareError::Thread(std::io::Error::other("the class recording thread failed")));
        };
        let (students, duplicates, late, rejected) =
            (rec.agg.students().count(), rec.agg.duplicates, rec.agg.late, rec.rejected);
        let session = rec.finish(super::unix_now_f64())?;
        if let Some(e) = thread_error {
            return Err(e);
        }
        Ok(ClassSummary { session, students, duplicates, late, rejected, interrupted })
    }
}

impl Drop for LiveClass {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Listens to a class until `duration_s` (or Ctrl-C through `stop`), recording everything.
pub fn run_headless(opts: &HeadlessClass, stop: &AtomicBool) -> Result<ClassSummary, ShareError> {
    let mut live = LiveClass::start(opts)?;
    eprintln!("listening to {} (class session {})", opts.address, live.view().dir.display());
    let deadline = opts.duration_s.map(|d| Instant::now() + Duration::from_secs_f64(d));
    let mut interrupted = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(e) = live.failed() {
            let _ = live.finish(false);
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    live.finish(interrupted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(t: i64, engagement: f32) -> SecondMessage {
        SecondMessage {
            t,
            second: t - 100,
            frames: 10,
            faces: 1,
            lost: 0,
            engagement: Some(engagement),
            attention: Some(1.0),
            valence: Some(0.0),
            arousal: Some(0.0),
            shares: Some([1.0, 0.0, 0.0, 0.0]),
            p: Some([0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0]),
        }
    }

    #[test]
    fn repeats_are_dropped_and_seconds_close_when_every_student_passed_them() {
        let mut a = ClassAggregator::new(2);
        let now = 1000.0;
        assert!(a.add("S-A", msg(100, 0.2), now));
        assert!(!a.add("S-A", msg(100, 0.9), now), "a repeat is dropped");
        assert!(a.add("S-B", msg(100, 0.4), now));
        assert!(a.close_due(now, false, false).is_empty(), "nobody is past second 100 yet");
        a.add("S-A", msg(101, 0.2), now);
        assert!(a.close_due(now, false, false).is_empty(), "S-B is not past 100");
        a.add("S-B", msg(101, 0.4), now);
        a.add("S-B", msg(102, 0.4), now);
        a.add("S-A", msg(102, 0.4), now);
        let closed = a.close_due(now, false, false);
        assert_eq!(closed.iter().map(|c| c.t).collect::<Vec<_>>(), vec![100, 101]);
        assert_eq!(closed[0].students, 2);
        assert!((closed[0].row.mean_engagement.unwrap() - 0.3).abs() < 1e-6);
        assert_eq!(a.duplicates, 1);
        // A second for an already closed class second is late, not counted twice.
        assert!(a.add("S-C", msg(100, 1.0), now));
        assert_eq!(a.late, 1);
    }

    #[test]
    fn a_second_waits_for_students_who_join_a_moment_later() {
        let mut a = ClassAggregator::new(1);
        a.add("S-A", msg(100, 0.2), 100.5);
        a.add("S-A", msg(101, 0.2), 101.5);
        assert!(a.close_due(101.5, true, false).is_empty(), "second 100 ended 0.5 s ago");
        a.add("S-B", msg(100, 0.4), 102.0);
        a.add("S-B", msg(101, 0.4), 102.5);
        let c = a.close_due(103.0, true, false);
        assert_eq!((c[0].t, c[0].students), (100, 2));
    }

    #[test]
    fn fewer_than_k_students_give_counts_but_no_figures() {
        let mut a = ClassAggregator::new(3);
        a.add("S-A", msg(100, 0.2), 0.0);
        a.add("S-B", msg(100, 0.4), 0.0);
        let c = a.close_due(0.0, false, true);
        assert_eq!(c[0].students, 2);
        assert_eq!(c[0].row.faces_present, 2);
        assert_eq!(c[0].row.mean_engagement, None);
        assert_eq!(c[0].row.shares, None);
        assert_eq!(c[0].row.mean_p, None);
        assert!(c[0].points.is_empty(), "no per-student points under the gate either");
    }

    #[test]
    fn a_gone_student_does_not_hold_the_class_back_and_old_seconds_close_by_the_clock() {
        let mut a = ClassAggregator::new(1);
        a.add("S-A", msg(100, 0.2), 1000.0);
        a.add("S-B", msg(100, 0.2), 1000.0);
        a.add("S-A", msg(101, 0.2), 1000.0);
        a.status("S-B", StudentStatus::Gone, 1000.0);
        assert_eq!(a.close_due(1000.0, false, false).len(), 1);
        a.add("S-A", msg(150, 0.2), 1000.0);
        // S-A is past 101 too; nothing else open but 150, which waits for the clock.
        assert_eq!(a.close_due(1000.0, false, false).iter().map(|c| c.t).collect::<Vec<_>>(), vec![101]);
        assert!(a.close_due(150.0 + 1.0 + LATE_S as f64 - 1.0, true, false).is_empty());
        assert_eq!(a.close_due(150.0 + 1.0 + LATE_S as f64, true, false).len(), 1);
    }

    #[test]
    fn two_hundred_students_for_thirty_minutes_keep_the_memory_flat() {
        let mut a = ClassAggregator::new(DEFAULT_MIN_STUDENTS);
        let students: Vec<String> = (0..200).map(|i| format!("S-{i:05}")).collect();
        let t0 = 1_700_000_000i64;
        let mut remembered = Vec::new();
        let mut repeats = 0;
        for minute in 0..30 {
            for s in 0..60 {
                let t = t0 + minute * 60 + s;
                let now = t as f64 + 1.2;
                for who in &students {
                    assert!(a.add(who, msg(t, 0.5), now));
                }
                // Every five minutes the teacher says hello: every student sends its whole ring again.
                if s == 0 && minute % 5 == 4 {
                    for who in &students {
                        let ring = (t - super::super::student::RING_SECONDS as i64 + 1).max(t0)..=t;
                        for old in ring {
                            assert!(!a.add(who, msg(old, 0.9), now), "a resent second is a repeat");
                            repeats += 1;
                        }
                    }
                }
                // Nobody is past the newest second yet: it closes by the clock, LATE_S later.
                assert!(a.close_due(now, true, false).len() <= 1);
            }
            let kept: usize = a.seen.values().map(BTreeSet::len).sum();
            remembered.push((kept, a.seen.len(), a.open.len(), a.students.len()));
        }
        assert_eq!(a.duplicates, repeats);
        assert_eq!(a.late, 0);
        // Flat once the window is full (after 11 minutes): the same sizes at minute 12 and minute 30.
        let full = (DEDUP_WINDOW_S as usize / 60) + 1;
        assert!(remembered[full..].iter().all(|r| *r == remembered[full]), "{remembered:?}");
        assert!(remembered[full].0 <= 200 * (DEDUP_WINDOW_S as usize + 1), "{:?}", remembered[full]);
        assert!(remembered[full].2 <= LATE_S as usize + 1 && remembered[full].3 == 200, "{:?}", remembered[full]);
    }
}
