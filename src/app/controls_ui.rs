//! The top panel: source (camera picker, video file), session controls (start / pause / stop,
//! elapsed time, markers, CSV export, frame recording), and what is running where.

use eframe::egui;
use std::path::PathBuf;
use std::time::Duration;

use egui::{Color32, RichText};

use super::{Action, ModelStatus, SessionState, SourceState};
use crate::source::{CameraInfo, CameraSelector};

/// What the user is typing in the top panel (kept between frames).
#[derive(Debug, Clone, Default)]
pub struct Controls {
    pub video_path: String,
    pub marker_name: String,
    pub export_path: String,
}

/// Read-only facts the controls show.
pub struct ControlsView<'a> {
    pub cameras: &'a [CameraInfo],
    pub source: &'a SourceState,
    pub session: &'a SessionState,
    pub model: &'a ModelStatus,
    /// Frames are flowing (a result arrived in the last second).
    pub flowing: bool,
    pub record_frames: bool,
    /// "29.8 fps · 31 ms" or empty.
    pub rate_text: String,
}

impl Controls {
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &ControlsView<'_>) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.horizontal_wrapped(|ui| {
            self.source_ui(ui, view, &mut actions);
        });
        ui.horizontal_wrapped(|ui| {
            self.session_ui(ui, view, &mut actions);
        });
        actions
    }

    fn source_ui(&mut self, ui: &mut egui::Ui, view: &ControlsView<'_>, actions: &mut Vec<Action>) {
        let source_label = ui.label("Camera:");
        let current_camera = match view.source.spec() {
            Some(super::SourceSpec::Camera(CameraSelector::Index(i))) => Some(*i),
            _ => None,
        };
        let selected_text = match (current_camera, view.cameras.is_empty()) {
            (_, true) => "no camera".to_string(),
            (Some(i), _) => view
                .cameras
                .iter()
                .find(|c| c.index == i)
                .map_or_else(|| format!("camera {i}"), |c| format!("{}: {}", c.index, c.name)),
            (None, false) => "choose a camera".to_string(),
        };
        egui::ComboBox::from_id_salt("camera")
            .selected_text(selected_text)
            .width(180.0)
            .show_ui(ui, |ui| {
                for cam in view.cameras {
                    let label = format!("{}: {}", cam.index, cam.name);
                    if ui
                        .selectable_label(current_camera == Some(cam.index), label)
                        .on_hover_text(cam.description.as_str())
                        .clicked()
                    {
                        actions.push(Action::Open(super::SourceSpec::Camera(CameraSelector::Index(cam.index))));
                    }
                }
                if view.cameras.is_empty() {
                    ui.label("No camera found.");
                }
            })
            .response
            .labelled_by(source_label.id);
        if ui.button("Refresh cameras").on_hover_text("List the cameras again").clicked() {
            actions.push(Action::RefreshCameras);
        }
        ui.separator();
        // With no source at all, the central panel holds the file field instead.
        if !matches!(view.source, SourceState::NoSource { .. }) {
            ui.label("Video:");
            self.open_file_ui(ui, actions);
            ui.separator();
        }
        model_ui(ui, view.model);
    }

    /// The path field and Open button (no file-dialog crate: type or paste a path).
    pub fn open_file_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let field = ui.add(
            egui::TextEdit::singleline(&mut self.video_path).hint_text("path/to/lecture.mp4").desired_width(220.0),
        );
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let path = self.video_path.trim();
        if (ui.add_enabled(!path.is_empty(), egui::Button::new("Open video")).clicked() || (enter && !path.is_empty()))
            && !path.is_empty()
        {
            actions.push(Action::Open(super::SourceSpec::Video(PathBuf::from(path))));
        }
    }

    fn session_ui(&mut self, ui: &mut egui::Ui, view: &ControlsView<'_>, actions: &mut Vec<Action>) {
        ui.label("Session:");
        match view.session {
            SessionState::Idle | SessionState::Finished { .. } => {
                if ui
                    .button("Start")
                    .on_hover_text("Start recording a session (aggregates only, no pictures)")
                    .clicked()
                {
                    actions.push(Action::Start);
                }
            }
            SessionState::Recording { paused_since, .. } => {
                if paused_since.is_some() {
                    if ui.button("Resume").clicked() {
                        actions.push(Action::Resume);
                    }
                } else if ui.button("Pause").clicked() {
                    actions.push(Action::Pause);
                }
                if ui.button("Stop").on_hover_text("Stop and write the report").clicked() {
                    actions.push(Action::Stop);
                }
            }
        }
        ui.label(RichText::new(format_elapsed(view.session.elapsed())).monospace());
        indicator_ui(ui, view);
        ui.separator();

        let recording = matches!(view.session, SessionState::Recording { .. });
        ui.add(egui::TextEdit::singleline(&mut self.marker_name).hint_text("slide 12").desired_width(100.0));
        if ui
            .add_enabled(recording, egui::Button::new("Mark (M)"))
            .on_hover_text("Put a named marker on the timeline (hotkey M)")
            .clicked()
        {
            actions.push(Action::Mark(self.marker_name.trim().to_string()));
        }
        ui.separator();

        let has_session = !matches!(view.session, SessionState::Idle);
        ui.add(egui::TextEdit::singleline(&mut self.export_path).hint_text("export folder").desired_width(140.0));
        if ui
            .add_enabled(has_session && !self.export_path.trim().is_empty(), egui::Button::new("Export CSV"))
            .on_hover_text("Copy the session's CSV files into this folder")
            .clicked()
        {
            actions.push(Action::Export(PathBuf::from(self.export_path.trim())));
        }
        ui.separator();
        let mut record = view.record_frames;
        if ui
            .checkbox(&mut record, "record video frames")
            .on_hover_text("Off by default: nothing but aggregates is written. On: every analysed frame is saved as JPEG in the session folder.")
            .changed()
        {
            actions.push(Action::RecordFrames(record));
        }
    }
}

/// A coloured dot and a few words: is analysis running, is the session recording. (The dot is
/// painted: the default fonts have no "●".)
fn indicator_ui(ui: &mut egui::Ui, view: &ControlsView<'_>) {
    let red = Color32::from_rgb(230, 50, 50);
    let (color, text) = match (view.session, view.flowing) {
        (SessionState::Recording { paused_since: Some(_), .. }, _) => {
            (Color32::from_rgb(230, 170, 40), "paused".to_string())
        }
        (SessionState::Recording { .. }, true) => (red, format!("recording · analysing {}", view.rate_text)),
        (SessionState::Recording { .. }, false) => (red, "recording · no frames".to_string()),
        (_, true) if matches!(view.model, ModelStatus::Failed(_)) => {
            (Color32::GRAY, "video only (no analysis)".to_string())
        }
        (_, true) => (Color32::from_rgb(60, 190, 90), format!("analysing {}", view.rate_text)),
        (_, false) => (Color32::GRAY, "idle".to_string()),
    };
    let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(12.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 5.0, color);
    ui.label(RichText::new(text).color(color).strong());
}

fn model_ui(ui: &mut egui::Ui, model: &ModelStatus) {
    match model {
        ModelStatus::Loading => {
            ui.spinner();
            ui.label("loading models…");
        }
        ModelStatus::Ready(provider) => {
            ui.label(format!("Provider: {provider}"))
                .on_hover_text("Where the face detector and the emotion CNN run (ONNX Runtime execution provider)");
        }
        ModelStatus::Failed(_) => {
            ui.label(RichText::new("Provider: none (models not loaded)").color(Color32::from_rgb(230, 80, 80)));
        }
        ModelStatus::Viewing => {}
    }
}

/// "01:02:03".
pub fn format_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_is_hours_minutes_seconds() {
        assert_eq!(format_elapsed(Duration::from_secs(0)), "00:00:00");
        assert_eq!(format_elapsed(Duration::from_secs(2 * 3600 + 61)), "02:01:01");
    }
}
