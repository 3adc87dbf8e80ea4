//! The window's one palette. Emotions and engagement states have the colours of `report.png`
//! ([`crate::session::report`]), so the window and the report read the same; the rest are the
//! window's signal colours.

use eframe::egui::{self, Color32};
use image::Rgb;

use crate::session::report;

const fn color(c: Rgb<u8>) -> Color32 {
    Color32::from_rgb(c.0[0], c.0[1], c.0[2])
}

/// One colour per emotion, in [`crate::EMOTIONS`] order: the overlay, the bars, the plots and the report.
pub const EMOTION_COLORS: [Color32; 7] = {
    let c = report::EMOTION_COLORS;
    [color(c[0]), color(c[1]), color(c[2]), color(c[3]), color(c[4]), color(c[5]), color(c[6])]
};

/// Engaged, neutral, bored, away: the timeline and the report.
pub const STATE_COLORS: [Color32; 4] = {
    let c = report::STATE_COLORS;
    [color(c[0]), color(c[1]), color(c[2]), color(c[3])]
};

/// Errors, "recording", "watching screen N".
pub(crate) const RED: Color32 = Color32::from_rgb(230, 60, 60);
/// Paused.
pub(crate) const AMBER: Color32 = Color32::from_rgb(230, 170, 40);
/// Analysing.
pub(crate) const GREEN: Color32 = Color32::from_rgb(60, 190, 90);
/// Idle, no analysis.
pub(crate) const GREY: Color32 = Color32::GRAY;
/// The class line of the timeline: the brightest thing in the plot.
pub(crate) const CLASS_LINE: Color32 = Color32::WHITE;
/// Markers on the timeline (the report draws them red on white).
pub(crate) const MARKER: Color32 = Color32::from_rgb(220, 200, 90);

/// A stable, distinct colour per face ID.
pub(crate) fn face_color(id: u64) -> Color32 {
    // Golden-angle hue steps keep neighbouring IDs apart.
    let hue = (id as f32 * 0.618_034).fract();
    egui::ecolor::Hsva::new(hue, 0.65, 0.9, 1.0).into()
}
