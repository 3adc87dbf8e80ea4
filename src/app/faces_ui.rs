//! The side panel: probability bars of the selected face, or of every face in view.

use eframe::egui;
use egui::{ProgressBar, RichText};

use super::video_ui::{EMOTION_COLORS, face_label};
use crate::EMOTIONS;
use crate::track::TrackedFace;

/// Shows the selected face's seven probabilities large, or each face's compactly when none is
/// selected (or the selected one left the picture). Clicking a face's title selects it.
pub fn faces_ui(ui: &mut egui::Ui, faces: &[TrackedFace], selected: &mut Option<u64>) {
    let chosen = selected.and_then(|id| faces.iter().find(|f| f.id == id));
    match chosen {
        Some(face) => {
            ui.horizontal(|ui| {
                ui.heading(format!("Face #{}", face.id));
                if ui.button("Show all faces").clicked() {
                    *selected = None;
                }
            });
            ui.label(RichText::new(face_label(face)).strong());
            ui.add_space(4.0);
            probability_bars_ui(ui, face, 22.0);
        }
        None => {
            if let Some(id) = *selected {
                ui.label(RichText::new(format!("Face #{id} is out of view.")).italics());
            }
            ui.heading(match faces.len() {
                0 => "No face in view".to_string(),
                1 => "1 face".to_string(),
                n => format!("{n} faces"),
            });
            if faces.is_empty() {
                ui.label("Faces appear here with their emotion probabilities.");
            } else {
                ui.label(RichText::new("Click a face (here or in the video) to follow it.").weak());
            }
            egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                for face in faces {
                    ui.separator();
                    if ui.selectable_label(false, RichText::new(face_label(face)).strong()).clicked() {
                        *selected = Some(face.id);
                    }
                    probability_bars_ui(ui, face, 16.0);
                }
            });
        }
    }
}

/// Seven bars, one per emotion, in model order, of the smoothed probabilities.
fn probability_bars_ui(ui: &mut egui::Ui, face: &TrackedFace, height: f32) {
    let top = face.emotion();
    for (i, name) in EMOTIONS.iter().enumerate() {
        let p = face.smoothed[i].clamp(0.0, 1.0);
        let mut text = RichText::new(format!("{name} {:.0}%", p * 100.0));
        if height < 20.0 {
            text = text.small();
        }
        if i == top {
            text = text.strong();
        }
        let fill = if i == top { EMOTION_COLORS[i] } else { EMOTION_COLORS[i].gamma_multiply(0.7) };
        ui.add(ProgressBar::new(p).desired_height(height).fill(fill).text(text));
    }
}
