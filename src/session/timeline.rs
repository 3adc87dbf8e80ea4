//! What the live timeline draws, in bounded memory: per-second class points (older ones merged
//! into coarser buckets), markers, short per-face series — and the pure aggregations that turn
//! face-frames into seconds and seconds into lecture segments.

use std::collections::{BTreeMap, VecDeque};

use super::{Marker, SecondRow, SegmentRow};
use crate::Probs;
use crate::engagement::State;

/// How much the timeline keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineLimits {
    /// The most recent seconds kept at one-second resolution.
    pub recent_s: usize,
    /// At most this many older points; when exceeded, their bucket width doubles.
    pub older_points: usize,
    /// Seconds of history per face.
    pub face_history_s: usize,
    /// Faces not seen for this long are dropped from the per-face series.
    pub face_forget_s: f64,
}

impl Default for TimelineLimits {
    fn default() -> Self {
        Self { recent_s: 600, older_points: 1024, face_history_s: 120, face_forget_s: 60.0 }
    }
}

/// Class aggregates over `[t_s, t_s + span_s)`: one second, or several merged ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassPoint {
    pub t_s: f64,
    pub span_s: f64,
    /// Seconds with frames merged into this point.
    pub seconds: u32,
    /// Mean number of faces present per second.
    pub faces_present: f32,
    pub mean_engagement: Option<f32>,
    /// Engaged, neutral, bored, away.
    pub shares: Option<[f32; 4]>,
    pub mean_p: Option<Probs>,
    /// Weights of the means above (seconds that had a value), for merging.
    n_engagement: u32,
    n_shares: u32,
}

impl ClassPoint {
    fn from_second(r: &SecondRow) -> Self {
        ClassPoint {
            t_s: r.second as f64,
            span_s: 1.0,
            seconds: 1,
            faces_present: r.faces_present as f32,
            mean_engagement: r.mean_engagement,
            shares: r.shares,
            mean_p: r.mean_p,
            n_engagement: r.mean_engagement.is_some() as u32,
            n_shares: r.shares.is_some() as u32,
        }
    }

    pub fn dominant_emotion(&self) -> Option<usize> {
        self.mean_p.as_ref().map(crate::classify::argmax)
    }

    fn merge(&mut self, o: &ClassPoint) {
        fn wmean<const N: usize>(a: Option<[f32; N]>, na: u32, b: Option<[f32; N]>, nb: u32) -> Option<[f32; N]> {
            match (a, b) {
                (Some(a), Some(b)) => {
                    let mut out = [0.0; N];
                    for k in 0..N {
                        out[k] = (a[k] * na as f32 + b[k] * nb as f32) / (na + nb) as f32;
                    }
                    Some(out)
                }
                (a, b) => a.or(b),
            }
        }
        let end = (o.t_s + o.span_s).max(self.t_s + self.span_s);
        self.t_s = self.t_s.min(o.t_s);
        self.span_s = end - self.t_s;
        let total = (self.seconds + o.seconds).max(1) as f32;
        self.faces_present = (self.faces_present * self.seconds as f32 + o.faces_present * o.seconds as f32) / total;
        self.mean_engagement =
            wmean(self.mean_engagement.map(|v| [v]), self.n_engagement, o.mean_engagement.map(|v| [v]), o.n_engagement)
                .map(|[v]| v);
        self.mean_p = wmean(self.mean_p, self.n_engagement, o.mean_p, o.n_engagement);
        self.shares = wmean(self.shares, self.n_shares, o.shares, o.n_shares);
        self.seconds += o.seconds;
        self.n_engagement += o.n_engagement;
        self.n_shares += o.n_shares;
    }
}

/// One face's value in one second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacePoint {
    pub second: i64,
    pub engagement_smoothed: f32,
    pub state: State,
    /// Index into [`crate::EMOTIONS`].
    pub emotion: usize,
}

/// The recent history of one face.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceSeries {
    pub id: u64,
    pub points: VecDeque<FacePoint>,
    pub last_seen_s: f64,
}

/// The class timeline and recent per-face series. Memory is bounded whatever the duration:
/// `recent_s + older_points` class points, `face_history_s` points per face seen recently.
#[derive(Debug, Clone)]
pub struct Timeline {
    limits: TimelineLimits,
    older: Vec<ClassPoint>,
    older_bucket_s: f64,
    recent: VecDeque<ClassPoint>,
    markers: Vec<Marker>,
    faces: BTreeMap<u64, FaceSeries>,
    /// Bumped by every change: a reader that copies the timeline (the window's plot) compares it.
    revision: u64,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new(TimelineLimits::default())
    }
}

impl Timeline {
    pub fn new(limits: TimelineLimits) -> Self {
        Self {
            limits,
            older: Vec::new(),
            older_bucket_s: 2.0,
            recent: VecDeque::new(),
            markers: Vec::new(),
            faces: BTreeMap::new(),
            revision: 0,
        }
    }

    /// Class points in time order: older merged ones first, then the recent per-second ones.
    pub fn points(&self) -> impl Iterator<Item = &ClassPoint> + '_ {
        self.older.iter().chain(self.recent.iter())
    }

    /// Number of class points held (bounded by `recent_s + older_points`).
    pub fn len(&self) -> usize {
        self.older.len() + self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Start and end (source seconds) of the data.
    pub(crate) fn span(&self) -> Option<(f64, f64)> {
        let first = self.points().next()?;
        let last = self.recent.back().or(self.older.last())?;
        Some((first.t_s, last.t_s + last.span_s))
    }

    pub fn markers(&self) -> &[Marker] {
        &self.markers
    }

    /// Recent per-face series, by face ID.
    pub fn faces(&self) -> impl Iterator<Item = &FaceSeries> + '_ {
        self.faces.values()
    }

    /// The latest class point (what a live "now" readout shows).
    pub fn latest(&self) -> Option<&ClassPoint> {
        self.recent.back().or(self.older.last())
    }

    /// Changes whenever a second, a face point or a marker was added (or a face forgotten).
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    pub fn push_marker(&mut self, m: Marker) {
        self.revision += 1;
        let i = self.markers.partition_point(|x| x.t_s <= m.t_s);
        self.markers.insert(i, m);
    }

    /// Appends a closed second.
    pub fn push_second(&mut self, r: &SecondRow) {
        self.revision += 1;
        self.recent.push_back(ClassPoint::from_second(r));
        while self.recent.len() > self.limits.recent_s {
            let Some(p) = self.recent.pop_front() else { break };
            self.push_older(p);
        }
    }

    fn push_older(&mut self, p: ClassPoint) {
        let bucket = |t: f64, w: f64| (t / w).floor();
        match self.older.last_mut() {
            Some(last) if bucket(last.t_s, self.older_bucket_s) == bucket(p.t_s, self.older_bucket_s) => last.merge(&p),
            _ => self.older.push(p),
        }
        if self.older.len() > self.limits.older_points {
            self.older_bucket_s *= 2.0;
            let w = self.older_bucket_s;
            let mut merged: Vec<ClassPoint> = Vec::with_capacity(self.older.len() / 2 + 1);
            for p in self.older.drain(..) {
                match merged.last_mut() {
                    Some(last) if bucket(last.t_s, w) == bucket(p.t_s, w) => last.merge(&p),
                    _ => merged.push(p),
                }
            }
            self.older = merged;
        }
    }

    /// Appends one second of a face and forgets faces unseen for `face_forget_s`.
    pub(crate) fn push_face_point(&mut self, id: u64, p: FacePoint, seen_s: f64) {
        self.revision += 1;
        let s = self.faces.entry(id).or_insert_with(|| FaceSeries { id, points: VecDeque::new(), last_seen_s: seen_s });
        s.last_seen_s = s.last_seen_s.max(seen_s);
        s.points.push_back(p);
        while s.points.len() > self.limits.face_history_s {
            s.points.pop_front();
        }
    }

    pub(crate) fn forget_faces(&mut self, now_s: f64) {
        let forget = self.limits.face_forget_s;
        let before = self.faces.len();
        self.faces.retain(|_, s| now_s - s.last_seen_s <= forget);
        if self.faces.len() != before {
            self.revision += 1;
        }
    }
}

/// Per-face sums within one second.
#[derive(Debug, Clone, Default)]
struct FaceSecond {
    n: u32,
    engagement: f64,
    attention: f64,
    /// Rows with emotion values (valence, arousal, probabilities); 0 in attention-only mode.
    n_emotion: u32,
    valence: f64,
    arousal: f64,
    p: [f64; 7],
    last_state: Option<State>,
    last_t: f64,
}

/// Collects the face-frames of one second and closes it into a [`SecondRow`]. The same code
/// serves the recorder and anyone recomputing `seconds.csv` from `frames.csv`.
#[derive(Debug, Clone)]
pub struct SecondAccumulator {
    pub second: i64,
    frames: u32,
    faces: BTreeMap<u64, FaceSecond>,
}

impl SecondAccumulator {
    pub fn new(second: i64) -> Self {
        Self { second, frames: 0, faces: BTreeMap::new() }
    }

    /// Counts an analysed frame (with or without faces).
    pub(crate) fn add_frame(&mut self) {
        self.frames += 1;
    }

    /// Adds one face-frame row (in time order).
    pub fn add_face(&mut self, r: &super::FrameRow) {
        let f = self.faces.entry(r.face_id).or_default();
        f.n += 1;
        f.engagement += r.engagement_smoothed as f64;
        f.attention += r.attention as f64;
        if let (Some(v), Some(a), Some(p)) = (r.valence, r.arousal, r.p) {
            f.n_emotion += 1;
            f.valence += v as f64;
            f.arousal += a as f64;
            for k in 0..7 {
                f.p[k] += p[k] as f64;
            }
        }
        f.last_state = Some(r.state);
        f.last_t = r.timestamp_s;
    }

    /// Face IDs present in this second.
    pub fn present(&self) -> impl Iterator<Item = u64> + '_ {
        self.faces.keys().copied()
    }

    /// Per present face: (id, mean smoothed engagement, last state, dominant emotion, last time).
    pub(crate) fn face_summaries(&self) -> impl Iterator<Item = (u64, FacePoint, f64)> + '_ {
        self.faces.iter().map(|(&id, f)| {
            let n = f.n.max(1) as f64;
            let p = f.p.map(|x| (x / f64::from(f.n_emotion.max(1))) as f32);
            let fp = FacePoint {
                second: self.second,
                engagement_smoothed: (f.engagement / n) as f32,
                state: f.last_state.unwrap_or(State::Neutral),
                emotion: crate::classify::argmax(&p),
            };
            (id, fp, f.last_t)
        })
    }

    /// Closes the second; `faces_lost` faces (seen within `forget_after_s`, absent now) count as away.
    pub fn close(&self, faces_lost: u32) -> SecondRow {
        let present = self.faces.len() as u32;
        let (mut e, mut a, mut v, mut r) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut p = [0.0f64; 7];
        let mut counts = [0u32; 4];
        // Faces with emotion values: the affect means are over these (none in attention-only mode).
        let mut with_emotion = 0u32;
        for f in self.faces.values() {
            let n = f.n.max(1) as f64;
            e += f.engagement / n;
            a += f.attention / n;
            if f.n_emotion > 0 {
                let ne = f64::from(f.n_emotion);
                with_emotion += 1;
                v += f.valence / ne;
                r += f.arousal / ne;
                for (acc, x) in p.iter_mut().zip(f.p) {
                    *acc += x / ne;
                }
            }
            counts[f.last_state.unwrap_or(State::Neutral).index()] += 1;
        }
        counts[State::Away.index()] += faces_lost;
        let known = present + faces_lost;
        let mean = |x: f64| (present > 0).then(|| (x / present as f64) as f32);
        let affect = |x: f64| (with_emotion > 0).then(|| (x / f64::from(with_emotion)) as f32);
        SecondRow {
            second: self.second,
            frames: self.frames,
            faces_present: present,
            faces_lost,
            mean_engagement: mean(e),
            mean_attention: mean(a),
            mean_valence: affect(v),
            mean_arousal: affect(r),
            shares: (known > 0).then(|| counts.map(|c| c as f32 / known as f32)),
            mean_p: (with_emotion > 0).then(|| p.map(|x| (x / f64::from(with_emotion)) as f32)),
        }
    }
}

/// Running sums of one segment.
#[derive(Debug, Clone)]
struct SegmentAcc {
    name: String,
    start_s: f64,
    seconds: u32,
    faces: f64,
    n_eng: u32,
    engagement: f64,
    n_shares: u32,
    shares: [f64; 4],
    /// Seconds with emotion probabilities (none in attention-only mode).
    n_p: u32,
    p: [f64; 7],
    last_end_s: f64,
}

impl SegmentAcc {
    fn new(name: String, start_s: f64) -> Self {
        Self {
            name,
            start_s,
            seconds: 0,
            faces: 0.0,
            n_eng: 0,
            engagement: 0.0,
            n_shares: 0,
            shares: [0.0; 4],
            n_p: 0,
            p: [0.0; 7],
            last_end_s: start_s,
        }
    }
    fn add(&mut self, r: &SecondRow) {
        self.seconds += 1;
        self.faces += r.faces_present as f64;
        if let Some(e) = r.mean_engagement {
            self.n_eng += 1;
            self.engagement += e as f64;
        }
        if let Some(p) = r.mean_p {
            self.n_p += 1;
            for (acc, x) in self.p.iter_mut().zip(p) {
                *acc += x as f64;
            }
        }
        if let Some(s) = r.shares {
            self.n_shares += 1;
            for (acc, x) in self.shares.iter_mut().zip(s) {
                *acc += x as f64;
            }
        }
        self.last_end_s = self.last_end_s.max(r.second as f64 + 1.0);
    }
    fn row(&self, index: u32, end_s: f64) -> SegmentRow {
        let ne = self.n_eng.max(1) as f64;
        let ns = self.n_shares.max(1) as f64;
        let np = f64::from(self.n_p.max(1));
        SegmentRow {
            index,
            name: self.name.clone(),
            start_s: self.start_s,
            end_s,
            seconds: self.seconds,
            mean_faces_present: (self.seconds > 0).then(|| (self.faces / self.seconds as f64) as f32),
            mean_engagement: (self.n_eng > 0).then(|| (self.engagement / ne) as f32),
            shares: (self.n_shares > 0).then(|| self.shares.map(|x| (x / ns) as f32)),
            mean_p: (self.n_p > 0).then(|| self.p.map(|x| (x / np) as f32)),
        }
    }
}

/// Name of the part before the first marker.
pub(crate) const START_SEGMENT: &str = "(start)";

/// Splits the seconds into segments at the markers, incrementally. Second `k` belongs to the
/// segment of the last marker at or before its middle, `k + 0.5`.
#[derive(Debug, Clone)]
pub struct SegmentBuilder {
    pending: VecDeque<Marker>,
    done: Vec<SegmentRow>,
    cur: SegmentAcc,
}

impl Default for SegmentBuilder {
    fn default() -> Self {
        Self { pending: VecDeque::new(), done: Vec::new(), cur: SegmentAcc::new(START_SEGMENT.to_string(), 0.0) }
    }
}

impl SegmentBuilder {
    pub(crate) fn add_marker(&mut self, m: Marker) {
        let i = self.pending.partition_point(|x| x.t_s <= m.t_s);
        self.pending.insert(i, m);
    }

    fn start_segment(&mut self, m: Marker) {
        let next = SegmentAcc::new(m.name, m.t_s);
        let prev = std::mem::replace(&mut self.cur, next);
        // The empty part before a marker at the very start is not a segment.
        if prev.seconds > 0 || m.t_s > prev.start_s {
            let index = self.done.len() as u32;
            self.done.push(prev.row(index, m.t_s));
        }
    }

    pub fn push_second(&mut self, r: &SecondRow) {
        let mid = r.second as f64 + 0.5;
        while self.pending.front().is_some_and(|m| m.t_s <= mid) {
            let Some(m) = self.pending.pop_front() else { break };
            self.start_segment(m);
        }
        self.cur.add(r);
    }

    /// All segments so far, the current one ending at the end of the data.
    pub fn segments(&self) -> Vec<SegmentRow> {
        let mut out = self.done.clone();
        let end = self.cur.last_end_s.max(self.cur.start_s);
        if self.cur.seconds > 0 || out.is_empty() {
            out.push(self.cur.row(out.len() as u32, end));
        }
        out
    }
}

/// Segments of a whole session from its seconds and markers (what `segments.csv` holds).
pub fn segments_from(seconds: &[SecondRow], markers: &[Marker]) -> Vec<SegmentRow> {
    let mut b = SegmentBuilder::default();
    for m in markers {
        b.add_marker(m.clone());
    }
    for r in seconds {
        b.push_second(r);
    }
    b.segments()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(k: i64, e: f32) -> SecondRow {
        SecondRow {
            second: k,
            frames: 30,
            faces_present: 2,
            faces_lost: 0,
            mean_engagement: Some(e),
            mean_attention: Some(1.0),
            mean_valence: Some(0.0),
            mean_arousal: Some(0.0),
            shares: Some([1.0, 0.0, 0.0, 0.0]),
            mean_p: Some([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
        }
    }

    #[test]
    fn two_hours_of_seconds_stay_within_the_point_budget_and_keep_the_mean() {
        let mut tl = Timeline::default();
        for k in 0..7200 {
            tl.push_second(&second(k, if k < 3600 { 0.2 } else { 0.8 }));
        }
        assert!(tl.len() <= 600 + 1024, "{}", tl.len());
        let (a, b) = tl.span().unwrap();
        assert_eq!((a, b), (0.0, 7200.0));
        let total: u32 = tl.points().map(|p| p.seconds).sum();
        assert_eq!(total, 7200);
        let mean: f64 = tl.points().map(|p| p.mean_engagement.unwrap() as f64 * p.seconds as f64).sum::<f64>() / 7200.0;
        assert!((mean - 0.5).abs() < 1e-4, "{mean}");
        // Points stay in time order and do not overlap.
        let pts: Vec<_> = tl.points().collect();
        assert!(pts.windows(2).all(|w| w[0].t_s + w[0].span_s <= w[1].t_s + 1e-9));
    }

    #[test]
    fn segments_split_at_markers_by_the_middle_of_each_second() {
        let seconds: Vec<_> = (0..10).map(|k| second(k, if k < 4 { 0.2 } else { 0.8 })).collect();
        let markers = vec![Marker { t_s: 3.6, name: "quiz".into() }];
        let segs = segments_from(&seconds, &markers);
        assert_eq!(segs.len(), 2);
        assert_eq!((segs[0].name.as_str(), segs[0].seconds, segs[0].end_s), (START_SEGMENT, 4, 3.6));
        assert_eq!((segs[1].name.as_str(), segs[1].seconds, segs[1].start_s, segs[1].end_s), ("quiz", 6, 3.6, 10.0));
        assert!((segs[0].mean_engagement.unwrap() - 0.2).abs() < 1e-6);
        assert!((segs[1].mean_engagement.unwrap() - 0.8).abs() < 1e-6);
        // A marker at 0 leaves no empty "(start)" segment.
        let segs = segments_from(&seconds, &[Marker { t_s: 0.0, name: "intro".into() }]);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].name, "intro");
    }
}
