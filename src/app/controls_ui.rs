//! The top panel: source (camera picker, video file), session controls (start / pause / stop,
//! elapsed time, markers, CSV export, frame recording), what is running where, and the language.

use eframe::egui;
use std::path::PathBuf;
use std::time::Duration;

use egui::RichText;

use super::theme;
use super::{Action, ModelStatus, SessionState, Settings, SourceState};
use crate::detect::scene::DetectorChoice;
use crate::i18n::{Key, Lang};
use crate::source::{CameraInfo, CameraSelector, ScreenInfo, ScreenOptions, ScreenTarget};

/// What the user is typing in the top panel (kept between frames).
#[derive(Debug, Clone, Default)]
pub(crate) struct Controls {
    pub video_path: String,
    pub marker_name: String,
    pub export_path: String,
    /// Screens and windows for the source menu, listed when it is first opened (None: not yet;
    /// "Refresh cameras" lists them again).
    pub screens: Option<Result<Vec<ScreenInfo>, String>>,
    pub windows: Option<Result<Vec<String>, String>>,
    /// The screens and windows are being listed on a worker.
    pub listing: bool,
}

/// Read-only facts the controls show.
pub(crate) struct ControlsView<'a> {
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
    /// Presence and head pose only: no emotion model, labels or bars.
    pub attention_only: bool,
    pub lang: Lang,
}

impl Controls {
    /// The two rows of the panel; `settings` holds the options remembered between runs (Excel).
    pub fn ui(&mut self, ui: &mut egui::Ui, view: &ControlsView<'_>, settings: &mut Settings) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.horizontal_wrapped(|ui| {
            self.source_ui(ui, view, &mut actions);
        });
        ui.horizontal_wrapped(|ui| {
            self.session_ui(ui, view, settings, &mut actions);
        });
        actions
    }

    fn source_ui(&mut self, ui: &mut egui::Ui, view: &ControlsView<'_>, actions: &mut Vec<Action>) {
        let lang = view.lang;
        let source_label = ui.label(lang.t(Key::Source));
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
            (_, true) => lang.t(Key::NoCamera).to_string(),
            (Some(i), _) => view
                .cameras
                .iter()
                .find(|c| c.index == i)
                .map_or_else(|| lang.fmt(Key::CameraN, &[("index", &i)]), |c| format!("{}: {}", c.index, c.name)),
            (None, false) => lang.t(Key::ChooseCamera).to_string(),
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
                    ui.label(lang.t(Key::NoCameraFound));
                }
                self.screen_menu_ui(ui, lang, current_screen, actions);
            })
            .response
            .labelled_by(source_label.id);
        if let Some(o) = current_screen
            && matches!(view.source, SourceState::Opening { .. } | SourceState::Running { .. })
        {
            // Always visible while a screen is watched (pixels stay in memory unless recorded).
            let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(12.0), egui::Sense::hover());
            ui.painter().circle_filled(rect.center(), 5.0, theme::RED);
            ui.label(RichText::new(lang.fmt(Key::Watching, &[("target", o)])).color(theme::RED).strong())
                .on_hover_text(lang.t(Key::WatchingHover));
        }
        if ui.button(lang.t(Key::RefreshCameras)).on_hover_text(lang.t(Key::RefreshCamerasHover)).clicked() {
            self.screens = None;
            self.windows = None;
            actions.push(Action::RefreshCameras);
        }
        ui.separator();
        // With no source at all, the central panel holds the file field instead.
        if !matches!(view.source, SourceState::NoSource { .. }) {
            ui.label(lang.t(Key::Video));
            self.open_file_ui(ui, lang, actions);
            ui.separator();
        }
        detector_ui(ui, lang, view.detector, actions);
        attention_only_ui(ui, view, actions);
        model_ui(ui, lang, view.model);
        ui.separator();
        if let Some(picked) = language_ui(ui, lang) {
            actions.push(Action::SetLanguage(picked));
        }
    }

    /// The screens and windows in the source menu (listed once, when the menu first opens).
    fn screen_menu_ui(
        &mut self,
        ui: &mut egui::Ui,
        lang: Lang,
        current: Option<&ScreenOptions>,
        actions: &mut Vec<Action>,
    ) {
        ui.separator();
        let (Some(screens), Some(windows)) = (&self.screens, &self.windows) else {
            if !self.listing {
                self.listing = true;
                actions.push(Action::ListScreens);
            }
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(lang.t(Key::ListingScreens));
            });
            return;
        };
        match screens {
            Ok(list) if list.is_empty() => {
                ui.label(lang.t(Key::NoScreenFound));
            }
            Ok(list) => {
                for s in list.iter() {
                    let target = ScreenTarget::Screen(s.index);
                    let selected = current.is_some_and(|o| o.target == target && o.region.is_none());
                    let label =
                        lang.fmt(Key::ScreenItem, &[("index", &s.index), ("width", &s.width), ("height", &s.height)]);
                    if ui.selectable_label(selected, label).on_hover_text(lang.t(Key::ScreenItemHover)).clicked() {
                        actions.push(Action::Open(super::SourceSpec::Screen(ScreenOptions::new(target))));
                    }
                }
            }
            Err(e) => {
                ui.label(lang.t(Key::NoScreenToCapture)).on_hover_text(e.as_str());
            }
        }
        match windows {
            Ok(list) => {
                for title in list.iter() {
                    let target = ScreenTarget::Window(title.clone());
                    let selected = current.is_some_and(|o| o.target == target);
                    let short: String = title.chars().take(40).collect();
                    let label = lang.fmt(Key::WindowItem, &[("title", &short)]);
                    if ui.selectable_label(selected, label).on_hover_text(title.as_str()).clicked() {
                        actions.push(Action::Open(super::SourceSpec::Screen(ScreenOptions::new(target))));
                    }
                }
            }
            Err(e) => {
                ui.label(lang.t(Key::WindowsNotListed)).on_hover_text(e.as_str());
            }
        }
    }

    /// The path field, its Open button, and the file dialog's button (the dialog runs on its own
    /// thread; a file can also be dropped on the window).
    pub(crate) fn open_file_ui(&mut self, ui: &mut egui::Ui, lang: Lang, actions: &mut Vec<Action>) {
        let field = ui.add(
            egui::TextEdit::singleline(&mut self.video_path).hint_text(lang.t(Key::VideoPathHint)).desired_width(220.0),
        );
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let path = self.video_path.trim();
        if (ui.add_enabled(!path.is_empty(), egui::Button::new(lang.t(Key::OpenVideo))).clicked()
            || (enter && !path.is_empty()))
            && !path.is_empty()
        {
            actions.push(Action::Open(super::SourceSpec::Video(PathBuf::from(path))));
        }
        if ui.button(lang.t(Key::ChooseVideo)).on_hover_text(lang.t(Key::ChooseVideoHover)).clicked() {
            actions.push(Action::ChooseVideo);
        }
    }

    fn session_ui(
        &mut self,
        ui: &mut egui::Ui,
        view: &ControlsView<'_>,
        settings: &mut Settings,
        actions: &mut Vec<Action>,
    ) {
        let lang = view.lang;
        ui.label(lang.t(Key::Session));
        match view.session {
            SessionState::Starting { .. } => {
                ui.add_enabled(false, egui::Button::new(lang.t(Key::Start)));
            }
            SessionState::Idle | SessionState::Finished { .. } => {
                if ui.button(lang.t(Key::Start)).on_hover_text(lang.t(Key::StartHover)).clicked() {
                    actions.push(Action::Start);
                }
            }
            SessionState::Recording { paused_since, .. } => {
                if paused_since.is_some() {
                    if ui.button(lang.t(Key::Resume)).clicked() {
                        actions.push(Action::Resume);
                    }
                } else if ui.button(lang.t(Key::Pause)).clicked() {
                    actions.push(Action::Pause);
                }
                if ui.button(lang.t(Key::Stop)).on_hover_text(lang.t(Key::StopHover)).clicked() {
                    actions.push(Action::Stop);
                }
            }
        }
        ui.label(RichText::new(format_elapsed(view.session.elapsed())).monospace());
        indicator_ui(ui, view);
        ui.separator();

        // Hangul (and any IME) input arrives through winit's IME events: egui 0.37 takes the
        // composed text and shows the syllable being composed (see README, "Korean input").
        let recording = matches!(view.session, SessionState::Recording { .. });
        ui.add(
            egui::TextEdit::singleline(&mut self.marker_name).hint_text(lang.t(Key::MarkerHint)).desired_width(120.0),
        );
        if ui
            .add_enabled(recording, egui::Button::new(lang.t(Key::Mark)))
            .on_hover_text(lang.t(Key::MarkHover))
            .clicked()
        {
            actions.push(Action::Mark(self.marker_name.trim().to_string()));
        }
        ui.separator();

        let has_session = matches!(view.session, SessionState::Recording { .. } | SessionState::Finished { .. });
        ui.add(
            egui::TextEdit::singleline(&mut self.export_path)
                .hint_text(lang.t(Key::ExportFolderHint))
                .desired_width(140.0),
        );
        if ui
            .add_enabled(has_session && !self.export_path.trim().is_empty(), egui::Button::new(lang.t(Key::ExportCsv)))
            .on_hover_text(lang.t(Key::ExportCsvHover))
            .clicked()
        {
            actions.push(Action::Export(PathBuf::from(self.export_path.trim())));
        }
        if ui
            .add_enabled(has_session, egui::Button::new(lang.t(Key::ExportTo)))
            .on_hover_text(lang.t(Key::ExportToHover))
            .clicked()
        {
            actions.push(Action::ChooseExportFolder);
        }
        ui.checkbox(&mut settings.excel, lang.t(Key::Excel)).on_hover_text(lang.t(Key::ExcelHover));
        ui.separator();
        let mut record = view.record_frames;
        if ui.checkbox(&mut record, lang.t(Key::RecordFrames)).on_hover_text(lang.t(Key::RecordFramesHover)).changed() {
            actions.push(Action::RecordFrames(record));
        }
    }
}

/// The language switch; returns the language picked, if it changed.
pub(crate) fn language_ui(ui: &mut egui::Ui, current: Lang) -> Option<Lang> {
    let label = ui.label(current.t(Key::Language));
    let mut picked = None;
    egui::ComboBox::from_id_salt("language")
        .selected_text(current.native_name())
        .show_ui(ui, |ui| {
            for lang in Lang::ALL {
                if ui.selectable_label(current == lang, lang.native_name()).clicked() && current != lang {
                    picked = Some(lang);
                }
            }
        })
        .response
        .labelled_by(label.id);
    picked
}

/// A coloured dot and a few words: is analysis running, is the session recording. (The dot is
/// painted: the default fonts have no "●".)
fn indicator_ui(ui: &mut egui::Ui, view: &ControlsView<'_>) {
    let lang = view.lang;
    let rate = &view.rate_text;
    let (color, text) = match (view.session, view.flowing) {
        (SessionState::Recording { paused_since: Some(_), .. }, _) => (theme::AMBER, lang.t(Key::Paused).to_string()),
        (SessionState::Recording { .. }, true) => (theme::RED, lang.fmt(Key::RecordingAnalysing, &[("rate", rate)])),
        (SessionState::Recording { .. }, false) => (theme::RED, lang.t(Key::RecordingNoFrames).to_string()),
        (_, true) if matches!(view.model, ModelStatus::Failed(_)) => (theme::GREY, lang.t(Key::VideoOnly).to_string()),
        (_, true) => (theme::GREEN, lang.fmt(Key::Analysing, &[("rate", rate)])),
        (_, false) => (theme::GREY, lang.t(Key::Idle).to_string()),
    };
    let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(12.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 5.0, color);
    ui.label(RichText::new(text).color(color).strong());
}

/// The same switch as `--attention-only`; fixed while a session records, so that a session is wholly
/// one mode (its session.json says which).
fn attention_only_ui(ui: &mut egui::Ui, view: &ControlsView<'_>, actions: &mut Vec<Action>) {
    let lang = view.lang;
    let mut on = view.attention_only;
    let recording = matches!(view.session, SessionState::Recording { .. } | SessionState::Starting { .. });
    let response = ui
        .add_enabled(!recording, egui::Checkbox::new(&mut on, lang.t(Key::AttentionOnly)))
        .on_hover_text(lang.t(Key::AttentionOnlyHover))
        .on_disabled_hover_text(lang.t(Key::AttentionOnlyLocked));
    if response.changed() {
        actions.push(Action::SetAttentionOnly(on));
    }
}

/// The same choice as `--detector`.
fn detector_ui(ui: &mut egui::Ui, lang: Lang, current: DetectorChoice, actions: &mut Vec<Action>) {
    let label = ui.label(lang.t(Key::Detector));
    egui::ComboBox::from_id_salt("detector")
        .selected_text(current.as_str())
        .show_ui(ui, |ui| {
            for choice in DetectorChoice::ALL {
                let hint = lang.t(match choice {
                    DetectorChoice::Auto => Key::DetectorAutoHint,
                    DetectorChoice::Blazeface => Key::DetectorBlazefaceHint,
                    DetectorChoice::Tiled => Key::DetectorTiledHint,
                    DetectorChoice::Centerface => Key::DetectorCenterfaceHint,
                });
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

fn model_ui(ui: &mut egui::Ui, lang: Lang, model: &ModelStatus) {
    match model {
        ModelStatus::Loading => {
            ui.spinner();
            ui.label(lang.t(Key::LoadingModels));
        }
        ModelStatus::Ready(provider) => {
            let hover = match provider.text(lang) == provider.detail {
                true => lang.t(Key::ProviderHover).to_string(),
                false => format!("{}\n\n{}", lang.t(Key::ProviderHover), provider.detail),
            };
            ui.label(lang.fmt(Key::Provider, &[("provider", &provider.text(lang))])).on_hover_text(hover);
        }
        ModelStatus::Failed(_) => {
            ui.label(RichText::new(lang.t(Key::ProviderNone)).color(theme::RED));
        }
        ModelStatus::Viewing => {}
    }
}

/// "01:02:03".
pub(crate) fn format_elapsed(d: Duration) -> String {
    crate::session::clock_text(d.as_secs() as f64, true)
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
