//! Frame-rate and latency bookkeeping for the status bar and `--stats` (pure, no threads, no egui).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters shared by the capture and inference threads (monotonic; the UI takes differences).
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames the source delivered (after real-time pacing for a video file).
    pub captured: AtomicU64,
    /// Frames replaced in the capture → inference slot before inference took them (stale, dropped).
    pub dropped: AtomicU64,
    /// Frames that went through the pipeline.
    pub analysed: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            captured: self.captured.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            analysed: self.analysed.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CounterSnapshot {
    pub captured: u64,
    pub dropped: u64,
    pub analysed: u64,
}

/// Events per second over a sliding window.
#[derive(Debug, Clone)]
pub(crate) struct RateMeter {
    window: Duration,
    times: VecDeque<Instant>,
}

impl Default for RateMeter {
    fn default() -> Self {
        Self::new(Duration::from_secs(2))
    }
}

impl RateMeter {
    pub fn new(window: Duration) -> Self {
        Self { window, times: VecDeque::new() }
    }

    pub(crate) fn tick(&mut self, now: Instant) {
        self.times.push_back(now);
        self.trim(now);
    }

    fn trim(&mut self, now: Instant) {
        while let Some(&t) = self.times.front() {
            if now.saturating_duration_since(t) > self.window {
                self.times.pop_front();
            } else {
                break;
            }
        }
    }

    /// Events per second; 0 until two events were seen.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.trim(now);
        if self.times.len() < 2 {
            return 0.0;
        }
        // n events in the window are n-1 intervals, measured up to now so that a stalled stream
        // reads lower at once instead of keeping its last rate until the window empties.
        let span = now.saturating_duration_since(self.times[0]).as_secs_f64().max(1e-3);
        (self.times.len() - 1) as f64 / span
    }
}

/// Latency samples of the last interval (reset by [`Self::take`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct LatencyWindow {
    samples_ms: Vec<f64>,
}

/// Summary of one interval's latencies, milliseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct LatencySummary {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl LatencyWindow {
    pub fn push(&mut self, latency: Duration) {
        self.samples_ms.push(latency.as_secs_f64() * 1e3);
    }

    /// This interval's latencies so far, milliseconds, in arrival order.
    pub fn samples(&self) -> &[f64] {
        &self.samples_ms
    }

    /// The summary, and a fresh window.
    pub fn take(&mut self) -> LatencySummary {
        let s = summarise(&self.samples_ms);
        self.samples_ms.clear();
        s
    }
}

/// Mean, median, 95th percentile (nearest rank) and maximum of `samples`.
pub(crate) fn summarise(samples: &[f64]) -> LatencySummary {
    if samples.is_empty() {
        return LatencySummary::default();
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    LatencySummary {
        count: v.len(),
        mean_ms: v.iter().sum::<f64>() / v.len() as f64,
        p50_ms: rank(0.5),
        p95_ms: rank(0.95),
        max_ms: v[v.len() - 1],
    }
}

/// Rates and latency for the status line and `--stats`.
pub(crate) struct UiStats {
    pub shown: RateMeter,
    /// Latencies since the last status-line refresh (about once a second).
    pub latency: LatencyWindow,
    pub last_summary: LatencySummary,
    pub last_tick: Instant,
    pub prev: CounterSnapshot,
    pub started: Instant,
    /// Per-second rates computed at the last tick: captured, analysed, shown, dropped.
    pub rates: (f64, f64, f64, u64),
    pub last_result_at: Option<Instant>,
    pub infer_ms: f64,
    /// Capture time of the frame this pass draws; its latency is taken once the overlay is laid out.
    pub drawing: Option<Instant>,
}

impl UiStats {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            shown: RateMeter::default(),
            latency: LatencyWindow::default(),
            last_summary: LatencySummary::default(),
            last_tick: now,
            prev: CounterSnapshot::default(),
            started: now,
            rates: (0.0, 0.0, 0.0, 0),
            last_result_at: None,
            infer_ms: 0.0,
            drawing: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarise(&v);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p95_ms, 95.0);
        assert_eq!(s.max_ms, 100.0);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(summarise(&[]), LatencySummary::default());
    }

    #[test]
    fn rate_of_a_steady_stream() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(Duration::from_secs(2));
        for i in 0..90 {
            m.tick(t0 + Duration::from_millis(i * 33));
        }
        let r = m.rate(t0 + Duration::from_millis(90 * 33));
        assert!((r - 30.0).abs() < 1.5, "{r}");
        // Nothing for a long time: the rate falls to zero.
        assert_eq!(m.rate(t0 + Duration::from_secs(60)), 0.0);
    }
}
