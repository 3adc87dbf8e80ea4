//! The PNG report of a session: class engagement over time, the share of faces in each state,
//! the emotion mix, and the teacher's markers with each segment's mean engagement.

use std::path::Path;

use ab_glyph::PxScale;
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_line_segment_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;

use super::timeline::{ClassPoint, Timeline};
use super::{SegmentRow, SessionError};
pub use crate::i18n::ReportLabels;

const W: u32 = 1600;
const H: u32 = 900;
const LEFT: i64 = 70;
const RIGHT: i64 = 30;

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([40, 40, 40]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const LINE: Rgb<u8> = Rgb([31, 90, 180]);
const MARKER: Rgb<u8> = Rgb([200, 30, 30]);
const SEGMENT: Rgb<u8> = Rgb([240, 150, 40]);

/// Height in pixels of labels, and of the title line.
const SMALL: f32 = 15.0;
const LARGE: f32 = 26.0;

/// Colours of engaged, neutral, bored, away (also the window's: `app::theme`; "away" is a slate
/// that reads on white paper and on the window's dark plot).
pub const STATE_COLORS: [Rgb<u8>; 4] =
    [Rgb([60, 170, 90]), Rgb([185, 185, 185]), Rgb([235, 140, 50]), Rgb([110, 110, 160])];
/// Colours of the seven emotions in [`crate::EMOTIONS`] order (also the window's: `app::theme`).
pub const EMOTION_COLORS: [Rgb<u8>; 7] = [
    Rgb([214, 39, 40]),   // angry
    Rgb([140, 86, 75]),   // disgust
    Rgb([148, 103, 189]), // fear
    Rgb([255, 200, 40]),  // happy
    Rgb([190, 190, 190]), // neutral
    Rgb([31, 119, 180]),  // sad
    Rgb([23, 190, 207]),  // surprise
];

/// A horizontal band of the picture.
struct Panel {
    top: i64,
    height: i64,
}

impl Panel {
    fn y(&self, v: f32) -> i64 {
        self.top + ((1.0 - v.clamp(0.0, 1.0)) * self.height as f32).round() as i64
    }
}

/// Times of the axis ticks between `t0` and `t1`: a round step giving at most about 12 ticks, and never
/// more than [`MAX_TICKS`], however absurd the span (a broken clock, 10^20 s): the loop always ends.
fn time_ticks(t0: f64, t1: f64) -> Vec<f64> {
    const MAX_TICKS: usize = 16;
    let dur = (t1 - t0).max(1.0);
    if !(t0.is_finite() && t1.is_finite()) {
        return Vec::new();
    }
    let step = [1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0]
        .into_iter()
        .find(|s| dur / s <= 12.0)
        .unwrap_or_else(|| ((dur / 12.0 / 3600.0).ceil() * 3600.0).max(7200.0));
    let mut ticks = Vec::new();
    let mut t = (t0 / step).ceil() * step;
    while t <= t1 + 1e-9 && ticks.len() < MAX_TICKS {
        ticks.push(t);
        t += step;
    }
    ticks
}

fn fmt_time(t: f64) -> String {
    super::clock_text(t, false)
}

/// Draws `text` with its top-left corner at (x, y) in the report font ([`crate::fonts::report_font`]:
/// Hangul when a Hangul font is installed), `size` pixels high; what falls outside the image is skipped.
fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb<u8>, size: f32) {
    let clamp = |v: i64| v.clamp(-(1 << 20), 1 << 20) as i32;
    draw_text_mut(img, color, clamp(x), clamp(y), PxScale::from(size), crate::fonts::report_font(), text);
}

/// Width in pixels of `text` drawn at `size`.
fn text_width(text: &str, size: f32) -> i64 {
    i64::from(text_size(PxScale::from(size), crate::fonts::report_font(), text).0)
}

fn rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: Rgb<u8>) {
    if w > 0 && h > 0 {
        draw_filled_rect_mut(img, Rect::at(x as i32, y as i32).of_size(w as u32, h as u32), c);
    }
}

fn legend(img: &mut RgbImage, mut x: i64, y: i64, items: &[(&str, Rgb<u8>)]) {
    for (name, c) in items {
        rect(img, x, y + 2, 10, 10, *c);
        draw_text(img, x + 14, y - 1, name, INK, SMALL);
        x += 14 + text_width(name, SMALL) + 16;
    }
}

/// Draws the report into an image (exposed for tests and for the UI's "save picture"), in the
/// language of [`crate::i18n::report_language`].
pub fn render_report(timeline: &Timeline, segments: &[SegmentRow], title: &str) -> RgbImage {
    render_report_with(timeline, segments, title, &crate::i18n::report_labels(crate::i18n::report_language()))
}

/// [`render_report`] with the given words.
pub(crate) fn render_report_with(
    timeline: &Timeline,
    segments: &[SegmentRow],
    title: &str,
    labels: &ReportLabels,
) -> RgbImage {
    let mut img = RgbImage::from_pixel(W, H, WHITE);
    let points: Vec<&ClassPoint> = timeline.points().collect();
    let (t0, t1) = timeline.span().unwrap_or((0.0, 1.0));
    let dur = (t1 - t0).max(1.0);
    let plot_w = W as i64 - LEFT - RIGHT;
    let x_of = |t: f64| LEFT + (((t - t0) / dur) * plot_w as f64).round() as i64;
    let t_of = |x: i64| t0 + (x - LEFT) as f64 / plot_w as f64 * dur;
    let at = |t: f64| -> Option<&ClassPoint> {
        let i = points.partition_point(|p| p.t_s + p.span_s <= t);
        points.get(i).copied().filter(|p| p.t_s <= t)
    };

    let head = format!("{title}   {}   {}", fmt_time(dur), labels.markers_count(timeline.markers().len()));
    draw_text(&mut img, LEFT, 10, &head, INK, LARGE);

    // No emotion mix for a session without emotion values (attention-only mode, or no face at all): the
    // states take its place.
    let show_emotions = points.iter().any(|p| p.mean_p.is_some());
    let eng = Panel { top: 80, height: 300 };
    let states = Panel { top: 430, height: if show_emotions { 170 } else { 390 } };
    let emotions = Panel { top: 650, height: 170 };
    let panels: &[&Panel] = if show_emotions { &[&eng, &states, &emotions] } else { &[&eng, &states] };

    // Engagement: grid, per-segment means, the class mean line.
    draw_text(&mut img, LEFT, eng.top - 21, &labels.engagement, INK, SMALL);
    // Each legend starts after its panel's title, however long the title is in the chosen language.
    legend(
        &mut img,
        LEFT + text_width(&labels.engagement, SMALL) + 30,
        eng.top - 20,
        &[
            (labels.class_mean.as_str(), LINE),
            (labels.segment_mean.as_str(), SEGMENT),
            (labels.marker.as_str(), MARKER),
        ],
    );
    for k in 0..=4 {
        let v = k as f32 / 4.0;
        let y = eng.y(v);
        draw_line_segment_mut(&mut img, (LEFT as f32, y as f32), ((LEFT + plot_w) as f32, y as f32), GRID);
        draw_text(&mut img, 20, y - SMALL as i64 / 2, &format!("{v:.2}"), INK, SMALL);
    }
    for s in segments {
        if let Some(m) = s.mean_engagement {
            let y = eng.y(m) as f32;
            draw_line_segment_mut(&mut img, (x_of(s.start_s) as f32, y), (x_of(s.end_s) as f32, y), SEGMENT);
            draw_line_segment_mut(
                &mut img,
                (x_of(s.start_s) as f32, y + 1.0),
                (x_of(s.end_s) as f32, y + 1.0),
                SEGMENT,
            );
        }
    }
    let mut prev: Option<(i64, i64)> = None;
    for x in LEFT..LEFT + plot_w {
        let v = at(t_of(x)).and_then(|p| p.mean_engagement);
        match v {
            Some(v) => {
                let y = eng.y(v);
                if let Some((px, py)) = prev {
                    for d in [0.0, 1.0] {
                        draw_line_segment_mut(&mut img, (px as f32, py as f32 + d), (x as f32, y as f32 + d), LINE);
                    }
                }
                prev = Some((x, y));
            }
            None => prev = None,
        }
    }

    // Stacked shares: states, then emotions.
    draw_text(&mut img, LEFT, states.top - 21, &labels.states, INK, SMALL);
    let names: Vec<(&str, Rgb<u8>)> = labels.state_names.iter().map(String::as_str).zip(STATE_COLORS).collect();
    legend(&mut img, LEFT + text_width(&labels.states, SMALL) + 30, states.top - 20, &names);
    if show_emotions {
        draw_text(&mut img, LEFT, emotions.top - 21, &labels.emotions, INK, SMALL);
        let names: Vec<(&str, Rgb<u8>)> = labels.emotion_names.iter().map(String::as_str).zip(EMOTION_COLORS).collect();
        legend(&mut img, LEFT + text_width(&labels.emotions, SMALL) + 30, emotions.top - 20, &names);
    }
    for x in LEFT..LEFT + plot_w {
        let Some(p) = at(t_of(x)) else { continue };
        for (panel, values, colors) in [
            (&states, p.shares.map(|s| s.to_vec()), &STATE_COLORS[..]),
            (&emotions, p.mean_p.map(|s| s.to_vec()), &EMOTION_COLORS[..]),
        ] {
            let Some(values) = values else { continue };
            let total: f32 = values.iter().sum::<f32>().max(1e-6);
            let mut acc = 0.0;
            for (v, c) in values.iter().zip(colors) {
                let (a, b) = (panel.y(1.0 - acc), panel.y(1.0 - (acc + v / total)));
                rect(&mut img, x, a, 1, b - a, *c);
                acc += v / total;
            }
        }
    }
    for panel in panels {
        for (a, b) in [
            ((LEFT, panel.top), (LEFT, panel.top + panel.height)),
            ((LEFT, panel.top + panel.height), (LEFT + plot_w, panel.top + panel.height)),
        ] {
            draw_line_segment_mut(&mut img, (a.0 as f32, a.1 as f32), (b.0 as f32, b.1 as f32), INK);
        }
    }

    // Time axis, under the last panel.
    let axis_y = panels.last().map_or(H as i64, |p| p.top + p.height);
    for t in time_ticks(t0, t1) {
        let x = x_of(t);
        draw_line_segment_mut(&mut img, (x as f32, axis_y as f32), (x as f32, axis_y as f32 + 5.0), INK);
        let label = fmt_time(t);
        draw_text(&mut img, x - text_width(&label, SMALL) / 2, axis_y + 7, &label, INK, SMALL);
    }

    // Markers across all panels, names staggered so that close ones stay readable.
    for (i, m) in timeline.markers().iter().enumerate() {
        let x = x_of(m.t_s);
        if x < LEFT || x > LEFT + plot_w {
            continue;
        }
        for panel in panels {
            draw_line_segment_mut(
                &mut img,
                (x as f32, panel.top as f32),
                (x as f32, (panel.top + panel.height) as f32),
                MARKER,
            );
        }
        let label: String = m.name.chars().take(24).collect();
        let lx = (x + 3).min(LEFT + plot_w - text_width(&label, SMALL));
        draw_text(&mut img, lx, eng.top + 2 + (i % 4) as i64 * (SMALL as i64 + 2), &label, MARKER, SMALL);
    }
    if points.is_empty() {
        draw_text(&mut img, LEFT + 20, eng.top + 40, &labels.no_frames, INK, LARGE);
    }
    img
}

/// Writes the PNG report to `path`. Nothing recorded is touched if this fails.
pub fn export_report_png(
    timeline: &Timeline,
    segments: &[SegmentRow],
    title: &str,
    path: &Path,
) -> Result<(), SessionError> {
    let img = render_report(timeline, segments, title);
    let err = |message: String| SessionError::Export { path: path.to_path_buf(), message };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(err(format!("the folder {} does not exist", parent.display())));
    }
    img.save_with_format(path, image::ImageFormat::Png).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_axis_stays_small_for_absurd_spans() {
        assert_eq!(time_ticks(0.0, 60.0).len(), 13, "every 5 s");
        for (a, b) in [(0.0, 1e20), (1e20, 1e20 + 1.0), (0.0, 7.0 * 24.0 * 3600.0), (5.0, f64::INFINITY)] {
            assert!(time_ticks(a, b).len() <= 16, "{a}..{b}");
        }
        assert!(!time_ticks(0.0, 1e20).is_empty());
    }
}
