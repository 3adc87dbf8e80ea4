//! The top panel: source (camera picker, video file), session controls (start / pause / stop,
//! elapsed time, markers, CSV export, frame recording), and what is running where.

use eframe::egui;
use std::path::PathBuf;
use std::time::Duration;

use egui::{Color32, RichText};

use super::{Action, ModelStatus, SessionState, SourceState};
use crate::detect::scene::DetectorChoice;
use crate::source::{CameraInfo, CameraSelector, ScreenInfo, ScreenOptions, ScreenTarget};

/// What the user is typing in the top panel (kept between frames).
#[derive(Debug, Clone, Default)]
pub struct Controls {
    pub video_path: String,
    pub marker_name: String,
    pub export_path: String,
    /// Screens and windows for the source menu, listed when it is first opened (None: not yet;
    /// "Refresh cameras" lists them again).
    pub screens: Option<Result<Vec<ScreenInfo>, String>>,
    pub windows: Option<Result<Vec<String>, String>>,
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
    pub detector: DetectorChoice,
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
        let source_label = ui.label("Source:");
        let current_camera = match view.source.spec() {
            Some(super::SourceSpec::Camera(CameraSelector::Index(i))) => Some(*i),
            _ => None,
        };
        let current_screen = match view.source.spec() {
            Some(super::SourceSpec::Screen(o)) => Some(o),
            _ => None,
        };
        let selected_text = match (current_camera, view.cameras.is_empty()) {
            _ if current_screen.is_some() => current_screen.map(ToString::to_string).unwrap_or_default(),
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
                self.screen_menu_ui(ui, current_screen, actions);
            })
            .response
            .labelled_by(source_label.id);
        if let Some(o) = current_screen
            && matches!(view.source, SourceState::Opening { .. } | SourceState::Running { .. })
        {
            // Always visible while a screen is watched (pixels stay in memory unless recorded).
            let red = Color32::from_rgb(230, 50, 50);
            let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(12.0), egui::Sense::hover());
            ui.painter().circle_filled(rect.center(), 5.0, red);
            ui.label(RichText::new(format!("watching {o}")).color(red).strong()).on_hover_text(
                "The screen is captured and analysed in memory; nothing is saved unless \"record video frames\" is ticked.",
            );
        }
        if ui.button("Refresh cameras").on_hover_text("List the cameras, screens and windows again").clicked() {
            self.screens = None;
            self.windows = None;
            actions.push(Action::RefreshCameras);
        }
        ui.separator();
        // With no source at all, the central panel holds the file field instead.
        if !matches!(view.source, SourceState::NoSource { .. }) {
            ui.label("Video:");
            self.open_file_ui(ui, actions);
            ui.separator();
        }
        detector_ui(ui, view.detector, actions);
        model_ui(ui, view.model);
    }

    /// The screens and windows in the source menu (listed once, when the menu first opens).
    fn screen_menu_ui(&mut self, ui: &mut egui::Ui, current: Option<&ScreenOptions>, actions: &mut Vec<Action>) {
        ui.separator();
        let screens = self.screens.get_or_insert_with(|| crate::source::list_screens().map_err(|e| e.to_string()));
        match screens {
            Ok(list) if list.is_empty() => {
                ui.label("No screen found.");
            }
            Ok(list) => {
                for s in list.iter() {
                    let target = ScreenTarget::Screen(s.index);
                    let selected = current.is_some_and(|o| o.target == target && o.region.is_none());
                    let label = format!("Screen {}: {}x{}", s.index, s.width, s.height);
                    if ui
                        .selectable_label(selected, label)
                        .on_hover_text("Watch this whole screen (e.g. the video-call gallery); --region on the command line for a part")
                        .clicked()
                    {
                        actions.push(Action::Open(super::SourceSpec::Screen(ScreenOptions::new(target))));
                    }
                }
            }
            Err(e) => {
                ui.label("No screen to capture.").on_hover_text(e.as_str());
            }
        }
        let windows =
            self.windows.get_or_insert_with(|| crate::source::screen::list_windows().map_err(|e| e.to_string()));
        match windows {
            Ok(list) => {
                for title in list.iter() {
                    let target = ScreenTarget::Window(title.clone());
                    let selected = current.is_some_and(|o| o.target == target);
                    let short: String = title.chars().take(40).collect();
                    if ui.selectable_label(selected, format!("Window: {short}")).on_hover_text(title.as_str()).clicked()
                    {
                        actions.push(Action::Open(super::SourceSpec::Screen(ScreenOptions::new(target))));
                    }
                }
            }
            Err(e) => {
                ui.label("Windows: not listed").on_hover_text(e.as_str());
            }
        }
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

/// The same choice as `--detector`.
fn detector_ui(ui: &mut egui::Ui, current: DetectorChoice, actions: &mut Vec<Action>) {
    let label = ui.label("Detector:");
    egui::ComboBox::from_id_salt("detector")
        .selected_text(current.as_str())
        .show_ui(ui, |ui| {
            for choice in DetectorChoice::ALL {
                let hint = match choice {
                    DetectorChoice::Auto => {
                        "Everyone in a class scene or a video-call gallery, from ~32 px faces up (default)"
                    }
                    DetectorChoice::Blazeface => "Fastest: one or two people close to the camera",
                    DetectorChoice::Tiled => "BlazeFace on tiles: small faces, slow (for comparison)",
                    DetectorChoice::Centerface => "CenterFace on every frame: most thorough, slowest",
                };
                if ui.selectable_label(current == choice, choice.as_str()).on_hover_text(hint).clicked()
                    && current != choice
                {
                    actions.push(Action::SetDetector(choice));
                }
            }
        })
        .response
        .labelled_by(label.id);
    ui.separator();
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
