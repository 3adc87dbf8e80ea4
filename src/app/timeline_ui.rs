//! The bottom panel: engagement (whole class and per face) and emotion shares over session time,
//! from the session's per-second [`Timeline`](crate::session::Timeline), updated live.
//!
//! The timeline is copied into plot series only when it changed (about once a second), and long
//! series are averaged down to at most [`MAX_POINTS`] points, so drawing costs the same after two
//! hours as after two minutes.

use eframe::egui;
use std::collections::BTreeMap;
use std::path::Path;

/// Up to this many people in view, each gets a line in the live engagement plot; more: only the class line
/// and the face clicked on.
pub const MAX_FACE_LINES: usize = 4;

use egui::Color32;
use egui_plot::{Corner, Legend, Line, Plot, PlotPoint, PlotPoints, VLine};

use super::video_ui::EMOTION_COLORS;
use crate::EMOTIONS;

/// Points per drawn series at most.
pub const MAX_POINTS: usize = 600;

/// The timeline as plot series (session seconds on x).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PlotData {
    /// Mean engagement of the faces present, per second.
    pub class_engagement: Vec<[f64; 2]>,
    /// Mean probability of each emotion over the faces present, per second, in [`EMOTIONS`] order.
    pub emotion_shares: [Vec<[f64; 2]>; 7],
    /// Share of faces engaged, neutral, bored, away, per second.
    pub state_shares: [Vec<[f64; 2]>; 4],
    /// Engagement per face ID.
    pub faces: BTreeMap<u64, Vec<[f64; 2]>>,
    /// Named markers (session seconds, name).
    pub markers: Vec<(f64, String)>,
}

impl PlotData {
    pub fn is_empty(&self) -> bool {
        self.class_engagement.is_empty() && self.markers.is_empty()
    }

    /// The same data with every series averaged down to at most `max` points.
    pub fn decimated(&self, max: usize) -> Self {
        Self {
            class_engagement: decimate(&self.class_engagement, max),
            emotion_shares: std::array::from_fn(|i| decimate(&self.emotion_shares[i], max)),
            state_shares: std::array::from_fn(|i| decimate(&self.state_shares[i], max)),
            faces: self.faces.iter().map(|(id, s)| (*id, decimate(s, max))).collect(),
            markers: self.markers.clone(),
        }
    }
}

/// Averages consecutive points in equal buckets so that at most `max` remain (x and y both
/// averaged; gaps — NaN y — are kept as gaps).
pub fn decimate(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            let x = c.iter().map(|p| p[0]).sum::<f64>() / n;
            let ys: Vec<f64> = c.iter().map(|p| p[1]).filter(|y| y.is_finite()).collect();
            let y = if ys.is_empty() { f64::NAN } else { ys.iter().sum::<f64>() / ys.len() as f64 };
            [x, y]
        })
        .collect()
}

/// A stable, distinct colour per face ID.
pub fn face_color(id: u64) -> Color32 {
    // Golden-angle hue steps keep neighbouring IDs apart.
    let hue = (id as f32 * 0.618_034).fract();
    egui::ecolor::Hsva::new(hue, 0.65, 0.9, 1.0).into()
}

/// The cached series and what they were built from.
#[derive(Default)]
pub struct TimelineView {
    data: PlotData,
    /// Changes whenever the timeline gained a second, a face or a marker.
    version: Option<u64>,
    /// A saved session opened for viewing.
    saved: Option<PlotData>,
    /// The saved session did not finish cleanly.
    saved_interrupted: bool,
    /// Right-hand plot: engagement states instead of emotions.
    show_states: bool,
}

/// Colours of the engagement states (engaged, neutral, bored, away).
pub const STATE_COLORS: [Color32; 4] = [
    Color32::from_rgb(60, 190, 90),
    Color32::from_rgb(170, 170, 170),
    Color32::from_rgb(230, 150, 40),
    Color32::from_rgb(200, 60, 60),
];

impl TimelineView {
    /// Forget the series (a new session starts).
    pub fn reset(&mut self) {
        self.data = PlotData::default();
        self.version = None;
    }

    /// Copies the live timeline into plot series if it changed since the last call. Called with
    /// the session lock held, so it only copies.
    pub fn refresh(&mut self, timeline: Option<&super::recording::Timeline>) {
        let Some(t) = timeline else { return };
        let version = super::recording::timeline_version(t);
        if self.version == Some(version) {
            return;
        }
        self.version = Some(version);
        self.data = super::recording::plot_data(t).decimated(MAX_POINTS);
    }

    /// Loads a saved session folder for the read-only viewer.
    pub fn load_saved(&mut self, dir: &Path) -> Result<(), String> {
        let (data, interrupted) = super::recording::load_saved(dir)?;
        self.saved = Some(data.decimated(MAX_POINTS));
        self.saved_interrupted = interrupted;
        Ok(())
    }

    pub fn data(&self) -> &PlotData {
        &self.data
    }

    /// The live timeline: engagement plot and emotion-share plot side by side. The class line always;
    /// a line per face only for a few people (a webcam, a small group) or for the face clicked on: with a
    /// whole class, 25 lines would hide the class line, fill the legend, and cost the window most of its
    /// drawing time on a CPU renderer.
    pub fn ui(&mut self, ui: &mut egui::Ui, visible: &[u64], selected_face: Option<u64>) {
        let few = visible.len() <= MAX_FACE_LINES;
        let shown = |id: u64| selected_face == Some(id) || (few && visible.contains(&id));
        self.mode_ui(ui);
        timeline_ui(ui, &self.data, &shown, selected_face, self.show_states, "live");
    }

    /// The saved session's timeline, filling the panel.
    pub fn saved_ui(&mut self, ui: &mut egui::Ui) {
        if self.saved_interrupted {
            ui.label("This session did not finish cleanly (crash or killed): shown up to its last recorded second.");
        }
        self.mode_ui(ui);
        match &self.saved {
            Some(d) => timeline_ui(ui, d, &|_| true, None, self.show_states, "saved"),
            None => {
                ui.label("No session loaded.");
            }
        }
    }
}

impl TimelineView {
    fn mode_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Right plot:");
            ui.radio_value(&mut self.show_states, false, "emotions");
            ui.radio_value(&mut self.show_states, true, "engagement states");
        });
    }
}

/// Draws `data`: left engagement (class, every face, the selected one emphasised), right the
/// class's emotion shares; markers as vertical lines on both.
pub fn timeline_ui(
    ui: &mut egui::Ui,
    data: &PlotData,
    show_face: &dyn Fn(u64) -> bool,
    selected_face: Option<u64>,
    show_states: bool,
    id: &str,
) {
    if data.is_empty() {
        ui.label("Timeline: start a session to chart engagement and emotions (one point per second).");
    }
    let height = ui.available_height().max(80.0);
    let width = ui.available_width();
    let link = ui.scope_id().with(("timeline-link", id));
    let x_fmt = |mark: egui_plot::GridMark, _range: &std::ops::RangeInclusive<f64>| clock(mark.value);
    ui.horizontal(|ui| {
        let half = ((width - 8.0) / 2.0).max(100.0);
        Plot::new(("engagement", id))
            .width(half)
            .height(height)
            .legend(Legend::default().position(Corner::LeftTop))
            .include_y(0.0)
            .include_y(1.0)
            .include_x(0.0)
            .y_axis_label("engagement")
            .x_axis_formatter(x_fmt)
            .link_axis(link, [true, false])
            .allow_scroll(false)
            .show(ui, |plot| {
                for (face, series) in data.faces.iter().filter(|(id, _)| show_face(**id)) {
                    let chosen = selected_face == Some(*face);
                    let color = face_color(*face);
                    plot.line(
                        Line::new(format!("face #{face}"), points(series))
                            .color(if chosen || selected_face.is_none() { color } else { color.gamma_multiply(0.35) })
                            .width(if chosen { 3.0 } else { 1.0 }),
                    );
                }
                plot.line(Line::new("class", points(&data.class_engagement)).color(Color32::WHITE).width(2.5));
                markers(plot, &data.markers);
            });
        Plot::new(("emotions", id))
            .width(half)
            .height(height)
            .legend(Legend::default().position(Corner::LeftTop))
            .include_y(0.0)
            .include_y(1.0)
            .include_x(0.0)
            .y_axis_label(if show_states { "share of faces" } else { "mean probability" })
            .x_axis_formatter(x_fmt)
            .link_axis(link, [true, false])
            .allow_scroll(false)
            .show(ui, |plot| {
                if show_states {
                    for (i, series) in data.state_shares.iter().enumerate() {
                        let name = crate::engagement::State::ALL[i].as_str();
                        plot.line(Line::new(name, points(series)).color(STATE_COLORS[i]).width(1.5));
                    }
                } else {
                    for (i, series) in data.emotion_shares.iter().enumerate() {
                        plot.line(Line::new(EMOTIONS[i], points(series)).color(EMOTION_COLORS[i]).width(1.5));
                    }
                }
                markers(plot, &data.markers);
            });
    });
}

fn points(series: &[[f64; 2]]) -> PlotPoints<'static> {
    PlotPoints::Owned(series.iter().map(|&[x, y]| PlotPoint::new(x, y)).collect())
}

fn markers(plot: &mut egui_plot::PlotUi<'_>, markers: &[(f64, String)]) {
    for (t, name) in markers {
        plot.vline(VLine::new(name.as_str(), *t).color(Color32::from_rgb(200, 200, 90)).width(1.0));
    }
}

/// Session seconds as "m:ss" or "h:mm:ss".
pub fn clock(t: f64) -> String {
    if t < 0.0 {
        return String::new();
    }
    let s = t.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hours_of_seconds_decimate_to_the_limit() {
        let pts: Vec<[f64; 2]> = (0..7200).map(|i| [f64::from(i), 0.5]).collect();
        let d = decimate(&pts, MAX_POINTS);
        assert!(d.len() <= MAX_POINTS, "{}", d.len());
        assert!((d[0][1] - 0.5).abs() < 1e-12);
        assert!(d.last().is_some_and(|p| p[0] > 7000.0));
        // Short series pass through untouched.
        assert_eq!(decimate(&pts[..10], MAX_POINTS), pts[..10].to_vec());
    }

    #[test]
    fn gaps_stay_gaps() {
        let pts = vec![[0.0, f64::NAN], [1.0, f64::NAN], [2.0, 1.0], [3.0, 0.0]];
        let d = decimate(&pts, 2);
        assert!(d[0][1].is_nan());
        assert_eq!(d[1], [2.5, 0.5]);
    }

    #[test]
    fn clock_format() {
        assert_eq!(clock(65.0), "1:05");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
