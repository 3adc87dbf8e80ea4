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
/// and the face clicked on (unless "all" is chosen).
pub(crate) const MAX_FACE_LINES: usize = 4;

use egui::{Color32, RichText};
use egui_plot::{ItemId, Line, Plot, PlotPoint, PlotPoints, Text, VLine};

use super::FaceLines;
use super::theme::{self, EMOTION_COLORS, STATE_COLORS, face_color};
use crate::i18n::{Key, Lang};
use crate::session::Timeline;

/// Points per drawn series at most.
pub(crate) const MAX_POINTS: usize = 600;

/// The timeline as plot series (session seconds on x).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct PlotData {
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

    /// Whether the emotion plot has anything to show: no seconds yet, or a second with emotion
    /// probabilities (an attention-only session has none).
    pub(crate) fn has_emotions(&self) -> bool {
        self.class_engagement.is_empty() || self.emotion_shares.iter().flatten().any(|p| !p[1].is_nan())
    }

    /// The same data with every series averaged down to at most `max` points.
    pub(crate) fn decimated(&self, max: usize) -> Self {
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
pub(crate) fn decimate(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
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

/// The cached series and what they were built from.
#[derive(Default)]
pub(crate) struct TimelineView {
    data: PlotData,
    /// Changes whenever the timeline gained a second, a face or a marker.
    version: Option<u64>,
    /// A saved session opened for viewing.
    saved: Option<PlotData>,
    /// The saved session did not finish cleanly.
    saved_interrupted: bool,
    /// Right-hand plot: engagement states instead of emotions (remembered between runs).
    pub show_states: bool,
    /// Which faces get a line of their own (remembered between runs).
    pub face_lines: FaceLines,
    /// The face whose line the pointer was over in the last frame: drawn thicker, named in the legend.
    hovered_face: Option<u64>,
    /// The window runs without emotions (attention-only): no emotion plot or legend, whatever the data.
    pub attention_only: bool,
}

impl TimelineView {
    /// Forget the series (a new session starts).
    pub(crate) fn reset(&mut self) {
        self.data = PlotData::default();
        self.version = None;
    }

    /// Copies the live timeline (the session writer's latest snapshot) into plot series if it changed.
    pub(crate) fn refresh(&mut self, timeline: Option<&Timeline>) {
        let Some(t) = timeline else { return };
        if self.version == Some(t.revision()) {
            return;
        }
        self.version = Some(t.revision());
        self.data = plot_data(t).decimated(MAX_POINTS);
    }

    /// Loads a saved session folder for the read-only viewer.
    pub(crate) fn load_saved(&mut self, dir: &Path) -> Result<(), crate::session::SessionError> {
        let (data, interrupted) = load_saved(dir)?;
        self.saved = Some(data.decimated(MAX_POINTS));
        self.saved_interrupted = interrupted;
        Ok(())
    }

    /// The live timeline: engagement plot and emotion-share plot side by side. The class line always;
    /// a line per face only for a few people (a webcam, a small group), for the face clicked on, or
    /// for everyone when asked: with a whole class, 25 lines would hide the class line and cost the
    /// window most of its drawing time on a CPU renderer. The legend sits above the plots, never
    /// over the data. Returns the face whose line was clicked.
    pub fn ui(&mut self, ui: &mut egui::Ui, lang: Lang, visible: &[u64], selected_face: Option<u64>) -> Option<u64> {
        let emotions = !self.attention_only && self.data.has_emotions();
        ui.horizontal_wrapped(|ui| {
            self.mode_ui(ui, lang, emotions);
            ui.separator();
            ui.label(lang.t(Key::FaceLines)).on_hover_text(lang.fmt(Key::FaceLinesHover, &[("max", &MAX_FACE_LINES)]));
            ui.radio_value(&mut self.face_lines, FaceLines::Auto, lang.t(Key::FaceLinesAuto));
            ui.radio_value(&mut self.face_lines, FaceLines::All, lang.t(Key::FaceLinesAll));
            ui.radio_value(&mut self.face_lines, FaceLines::None, lang.t(Key::FaceLinesNone));
        });
        let shown = faces_shown(self.face_lines, visible, selected_face);
        let hidden = visible.iter().filter(|id| !shown.contains(id)).count();
        let lines = FaceLinesShown { shown: &shown, hidden, selected: selected_face, hovered: self.hovered_face };
        let states = self.show_states || !emotions;
        let (hovered, clicked) = timeline_ui(ui, lang, &self.data, &lines, states, "live");
        self.hovered_face = hovered;
        clicked
    }

    /// The saved session's timeline, filling the panel (every face's line: nothing is live).
    pub(crate) fn saved_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        if self.saved_interrupted {
            ui.label(lang.t(Key::Interrupted));
        }
        let emotions = self.saved.as_ref().is_some_and(PlotData::has_emotions);
        self.mode_ui(ui, lang, emotions);
        match &self.saved {
            Some(d) => {
                let all: Vec<u64> = d.faces.keys().copied().collect();
                let lines = FaceLinesShown { shown: &all, hidden: 0, selected: None, hovered: self.hovered_face };
                let states = self.show_states || !emotions;
                let (hovered, _) = timeline_ui(ui, lang, d, &lines, states, "saved");
                self.hovered_face = hovered;
            }
            None => {
                ui.label(lang.t(Key::NoSessionLoaded));
            }
        }
    }

    /// `emotions`: the data has emotion values; without them (attention-only) the right plot shows the
    /// states and the emotion choice is greyed out, the remembered choice left as it was.
    fn mode_ui(&mut self, ui: &mut egui::Ui, lang: Lang, emotions: bool) {
        ui.horizontal(|ui| {
            ui.label(lang.t(Key::RightPlot));
            let mut states = self.show_states || !emotions;
            ui.add_enabled_ui(emotions, |ui| ui.radio_value(&mut states, false, lang.t(Key::Emotions)));
            ui.radio_value(&mut states, true, lang.t(Key::EngagementStates));
            if emotions {
                self.show_states = states;
            }
        });
    }
}

/// The faces that get a line: see [`FaceLines`]. The selected face always does.
pub(crate) fn faces_shown(mode: FaceLines, visible: &[u64], selected: Option<u64>) -> Vec<u64> {
    let mut shown: Vec<u64> = match mode {
        FaceLines::All => visible.to_vec(),
        FaceLines::Auto if visible.len() <= MAX_FACE_LINES => visible.to_vec(),
        FaceLines::Auto | FaceLines::None => Vec::new(),
    };
    if let Some(id) = selected
        && !shown.contains(&id)
    {
        shown.push(id);
    }
    shown
}

/// Which face lines a plot draws, and how.
pub(crate) struct FaceLinesShown<'a> {
    pub shown: &'a [u64],
    /// Faces in view without a line (said under the legend).
    pub hidden: usize,
    pub selected: Option<u64>,
    pub hovered: Option<u64>,
}

fn face_item(id: u64) -> ItemId {
    ItemId::new(("face", id))
}

/// Draws `data`: a legend row above the plots, then left engagement (the class line on top, the face
/// lines in `lines`, the selected or hovered one emphasised), right the class's emotion or state
/// shares; markers as vertical lines on both. Returns (the face line under the pointer, the face
/// line clicked).
pub(crate) fn timeline_ui(
    ui: &mut egui::Ui,
    lang: Lang,
    data: &PlotData,
    lines: &FaceLinesShown<'_>,
    show_states: bool,
    id: &str,
) -> (Option<u64>, Option<u64>) {
    if data.is_empty() {
        ui.label(lang.t(Key::TimelineEmpty));
    }
    let width = ui.available_width();
    let half = ((width - 8.0) / 2.0).max(100.0);
    let emphasised = lines.hovered.or(lines.selected);
    // The legends sit above the plots, one per plot, never over the data.
    ui.horizontal(|ui| {
        let size = egui::vec2(half, 18.0);
        let row = egui::Layout::left_to_right(egui::Align::Center);
        ui.allocate_ui_with_layout(size, row, |ui| {
            ui.set_min_width(half);
            legend_ui(ui, lang, lines, emphasised);
        });
        ui.allocate_ui_with_layout(size, row, |ui| shares_legend_ui(ui, lang, show_states));
    });
    let height = ui.available_height().max(80.0);
    let link = ui.scope_id().with(("timeline-link", id));
    let x_fmt = |mark: egui_plot::GridMark, _range: &std::ops::RangeInclusive<f64>| clock(mark.value);
    let mut hovered = None;
    let mut clicked = None;
    ui.horizontal(|ui| {
        let response = Plot::new(("engagement", id))
            .width(half)
            .height(height)
            .include_y(0.0)
            .include_y(1.0)
            .include_x(0.0)
            .y_axis_label(lang.t(Key::EngagementAxis))
            .x_axis_formatter(x_fmt)
            .link_axis(link, [true, false])
            .allow_scroll(false)
            .show(ui, |plot| {
                for face in lines.shown.iter().filter(|f| data.faces.contains_key(f)) {
                    let series = &data.faces[face];
                    let strong = emphasised == Some(*face);
                    let color = face_color(*face);
                    let name = lang.fmt(Key::FaceLine, &[("id", face)]);
                    plot.line(
                        Line::new(name, points(series))
                            .id(face_item(*face))
                            .color(if strong || emphasised.is_none() { color } else { color.gamma_multiply(0.35) })
                            .width(if strong { 3.0 } else { 1.0 }),
                    );
                }
                // Last, so that it is drawn over the faces.
                plot.line(
                    Line::new(lang.t(Key::ClassLine), points(&data.class_engagement))
                        .color(theme::CLASS_LINE)
                        .width(2.5),
                );
                markers(plot, &data.markers, true);
            });
        hovered =
            response.hovered_plot_item.and_then(|item| lines.shown.iter().copied().find(|f| face_item(*f) == item));
        if response.response.clicked() {
            clicked = hovered;
        }
        Plot::new(("emotions", id))
            .width(half)
            .height(height)
            .include_y(0.0)
            .include_y(1.0)
            .include_x(0.0)
            .y_axis_label(lang.t(if show_states { Key::ShareOfFacesAxis } else { Key::MeanProbabilityAxis }))
            .x_axis_formatter(x_fmt)
            .link_axis(link, [true, false])
            .allow_scroll(false)
            .show(ui, |plot| {
                if show_states {
                    for (i, series) in data.state_shares.iter().enumerate() {
                        let name = lang.state(crate::engagement::State::ALL[i]);
                        plot.line(Line::new(name, points(series)).color(STATE_COLORS[i]).width(1.5));
                    }
                } else {
                    for (i, series) in data.emotion_shares.iter().enumerate() {
                        plot.line(Line::new(lang.emotion(i), points(series)).color(EMOTION_COLORS[i]).width(1.5));
                    }
                }
                markers(plot, &data.markers, false);
            });
    });
    (hovered, clicked)
}

/// The engagement plot's legend, above it: the class line, the emphasised face, and how many faces
/// have no line.
fn legend_ui(ui: &mut egui::Ui, lang: Lang, lines: &FaceLinesShown<'_>, emphasised: Option<u64>) {
    swatch_ui(ui, theme::CLASS_LINE, 2.5);
    ui.label(RichText::new(lang.t(Key::ClassLine)).strong());
    if let Some(face) = emphasised.filter(|f| lines.shown.contains(f)) {
        swatch_ui(ui, face_color(face), 3.0);
        ui.label(lang.fmt(Key::FaceLine, &[("id", &face)]));
    } else if !lines.shown.is_empty() {
        for face in lines.shown.iter().take(MAX_FACE_LINES) {
            swatch_ui(ui, face_color(*face), 1.5);
            ui.label(RichText::new(lang.fmt(Key::FaceLine, &[("id", face)])).small());
        }
        if lines.shown.len() > MAX_FACE_LINES {
            ui.label(RichText::new(format!("+{}", lines.shown.len() - MAX_FACE_LINES)).small());
        }
    }
    if lines.hidden > 0 {
        ui.label(RichText::new(lang.fmt(Key::HiddenFaces, &[("n", &lines.hidden)])).small().weak());
    }
}

/// The right plot's legend, above it: the emotions (or the engagement states) in their colours.
fn shares_legend_ui(ui: &mut egui::Ui, lang: Lang, show_states: bool) {
    if show_states {
        for (i, state) in crate::engagement::State::ALL.into_iter().enumerate() {
            swatch_ui(ui, STATE_COLORS[i], 2.0);
            ui.label(RichText::new(lang.state(state)).small());
        }
    } else {
        for (i, color) in EMOTION_COLORS.into_iter().enumerate() {
            swatch_ui(ui, color, 2.0);
            ui.label(RichText::new(lang.emotion(i)).small());
        }
    }
}

/// A short line in `color`, like the plot's.
fn swatch_ui(ui: &mut egui::Ui, color: Color32, width: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(18.0, 12.0), egui::Sense::hover());
    ui.painter().hline(rect.x_range(), rect.center().y, egui::Stroke::new(width, color));
}

fn points(series: &[[f64; 2]]) -> PlotPoints<'static> {
    PlotPoints::Owned(series.iter().map(|&[x, y]| PlotPoint::new(x, y)).collect())
}

/// Markers as vertical lines; `named`: with their names at the top of the plot ("퀴즈 시작").
fn markers(plot: &mut egui_plot::PlotUi<'_>, markers: &[(f64, String)], named: bool) {
    for (t, name) in markers {
        plot.vline(VLine::new(name.as_str(), *t).color(theme::MARKER).width(1.0));
        if named {
            let label = RichText::new(name.as_str()).small().color(theme::MARKER);
            plot.text(Text::new(name.as_str(), PlotPoint::new(*t, 1.0), label).anchor(egui::Align2::LEFT_TOP));
        }
    }
}

/// Session seconds as "m:ss" or "h:mm:ss".
pub fn clock(t: f64) -> String {
    if t < 0.0 {
        return String::new();
    }
    crate::session::clock_text(t, false)
}

/// The timeline as plot series: a point in the middle of each (possibly merged) second.
pub(crate) fn plot_data(t: &Timeline) -> PlotData {
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
pub(crate) fn load_saved(dir: &Path) -> Result<(PlotData, bool), crate::session::SessionError> {
    let loaded = crate::session::open_session(dir)?;
    Ok((plot_data(&loaded.timeline), loaded.interrupted))
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
    fn a_whole_class_gets_no_face_lines_but_the_selected_one() {
        let class: Vec<u64> = (1..=25).collect();
        assert_eq!(faces_shown(FaceLines::Auto, &class, None), Vec::<u64>::new());
        assert_eq!(faces_shown(FaceLines::Auto, &class, Some(7)), vec![7]);
        assert_eq!(faces_shown(FaceLines::Auto, &class[..3], None), vec![1, 2, 3]);
        assert_eq!(faces_shown(FaceLines::None, &class[..3], Some(2)), vec![2]);
        assert_eq!(faces_shown(FaceLines::All, &class, None).len(), 25);
        // A selected face that left the picture keeps its line.
        assert_eq!(faces_shown(FaceLines::Auto, &class, Some(99)), vec![99]);
    }

    #[test]
    fn clock_format() {
        assert_eq!(clock(65.0), "1:05");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
