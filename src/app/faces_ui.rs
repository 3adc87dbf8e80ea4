//! The side panel: probability bars of the selected face, or of every face in view.

use eframe::egui;
use egui::{ProgressBar, RichText};

use super::theme::EMOTION_COLORS;
use super::video_ui::face_label;
use crate::i18n::{Key, Lang};
use crate::track::TrackedFace;

/// Shows the selected face's seven probabilities large, or each face's compactly when none is
/// selected (or the selected one left the picture). Clicking a face's title selects it.
pub(crate) fn faces_ui(ui: &mut egui::Ui, lang: Lang, faces: &[TrackedFace], selected: &mut Option<u64>) {
    let chosen = selected.and_then(|id| faces.iter().find(|f| f.id == id));
    match chosen {
        Some(face) => {
            ui.horizontal(|ui| {
                ui.heading(lang.fmt(Key::FaceN, &[("id", &face.id)]));
                if ui.button(lang.t(Key::ShowAllFaces)).clicked() {
                    *selected = None;
                }
            });
            ui.label(RichText::new(face_label(lang, face)).strong());
            ui.add_space(4.0);
            probability_bars_ui(ui, lang, face, 22.0);
        }
        None => {
            if let Some(id) = *selected {
                ui.label(RichText::new(lang.fmt(Key::FaceOutOfView, &[("id", &id)])).italics());
            }
            ui.heading(match faces.len() {
                0 => lang.t(Key::NoFaceInView).to_string(),
                1 => lang.t(Key::OneFace).to_string(),
                n => lang.fmt(Key::NFaces, &[("n", &n)]),
            });
            if faces.is_empty() {
                ui.label(lang.t(Key::FacesAppearHere));
            } else {
                ui.label(RichText::new(lang.t(Key::ClickToFollow)).weak());
            }
            egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                for face in faces {
                    ui.separator();
                    if ui.selectable_label(false, RichText::new(face_label(lang, face)).strong()).clicked() {
                        *selected = Some(face.id);
                    }
                    probability_bars_ui(ui, lang, face, 16.0);
                }
            });
        }
    }
}

/// Seven bars, one per emotion, in model order, of the smoothed probabilities.
/// Nothing in attention-only mode (no probabilities exist).
fn probability_bars_ui(ui: &mut egui::Ui, lang: Lang, face: &TrackedFace, height: f32) {
    let (Some(top), Some(probs)) = (face.emotion(), face.smoothed) else { return };
    for i in 0..crate::EMOTIONS.len() {
        let p = probs[i].clamp(0.0, 1.0);
        let mut text = RichText::new(format!("{} {:.0}%", lang.emotion(i), p * 100.0));
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
