//! The live window: camera (or a replayed video) → overlay → engagement timeline.
//!
//! Three threads, named by what they own (see [`live`]): *capture* (the camera or decoder),
//! *inference* (detect, classify, track, and feed the session recorder), and the UI thread that
//! only uploads one texture per new result and draws. The UI repaints when a result arrives,
//! not continuously. Panels, top to bottom: [`controls_ui`] (source and session), the timeline
//! ([`timeline_ui`]), the faces' probability bars ([`faces_ui`]) and the video with its overlay
//! ([`video_ui`]).
//!
//! Around them: [`state`] (what the window is in, what a user can ask, what it remembers between
//! runs), [`jobs`] (slow work off the UI thread), [`dialogs`] (native file dialogs), [`notices`]
//! and [`theme`] (one palette). Every word shown comes from [`crate::i18n`].
//!
//! Privacy: nothing but aggregates is written unless "record video frames" is switched on.

use eframe::egui;
pub mod class;
pub mod controls_ui;
mod dialogs;
pub mod errors;
mod exit_plan;
pub mod faces_ui;
mod jobs;
pub mod live;
mod notices;
pub mod share_ui;
pub mod state;
pub mod stats;
pub mod theme;
pub mod timeline_ui;
pub mod video_ui;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::RichText;

pub use live::{Feed, FeedSenders, LiveEvent, LiveFrame, SourceSpec, feed_channels};
pub use state::{Action, FaceLines, MemoryStorage, ModelStatus, RememberedSource, SessionState, Settings, SourceState};

use crate::i18n::{Key, Lang, Message};
use crate::pipeline::PipelineConfig;
use crate::source::{CameraInfo, CameraSelector, SourceError};
use controls_ui::{Controls, ControlsView};
use dialogs::{Picked, Purpose};
use errors::Explain;
use exit_plan::ExitPlan;
use jobs::{JobDone, Jobs};
use live::{Live, Shared};
use notices::Notices;
use stats::UiStats;
use timeline_ui::TimelineView;
use video_ui::VideoView;

/// How the window starts (the CLI's flags).
#[derive(Debug, Clone)]
pub struct WindowOptions {
    /// Models and execution provider (`--device`, `--models`).
    pub pipeline: PipelineConfig,
    /// Open this camera (default: the first one found).
    pub camera: Option<CameraSelector>,
    /// Replay this video file (or image folder) in real time instead of a camera.
    pub video: Option<PathBuf>,
    /// Watch a screen, region or window instead of a camera (`--screen`, `--window-title`).
    pub screen: Option<crate::source::ScreenOptions>,
    /// Where session folders are created.
    pub session_root: PathBuf,
    /// Start recording a session as soon as the source delivers frames.
    pub autostart: bool,
    /// Save a screenshot of the window to this PNG (at `exit_after_s`, default 5 s), then exit.
    pub screenshot: Option<PathBuf>,
    /// Close the window after this many seconds (the session is finished first).
    pub exit_after_s: Option<f64>,
    /// Print one line of fps/latency statistics per second to stderr.
    pub stats: bool,
    /// Open a saved session's timeline read-only instead of a source.
    pub view_session: Option<PathBuf>,
    /// `--lang`: this language for this run, whatever was picked in the window before.
    pub lang: Option<Lang>,
    /// The locale's language, used when neither `--lang` nor the window picked one.
    pub locale_lang: Lang,
    /// `--detector` was given: it wins over the detector remembered from the window.
    pub detector_given: bool,
    /// `--marker "TEXT@SECONDS"`: markers set at these session times (a scripted lecture, the screenshots).
    pub markers: Vec<(String, f64)>,
    /// `--share`: offer to share each second's aggregates with this class (after the student agrees).
    pub share: Option<crate::share::ClassAddress>,
    /// `--share-now`: the student already agreed.
    pub share_now: bool,
}

impl WindowOptions {
    /// Defaults: first camera, sessions under `./sessions`, nothing automatic.
    pub fn new(pipeline: PipelineConfig) -> Self {
        Self {
            pipeline,
            camera: None,
            video: None,
            screen: None,
            session_root: PathBuf::from("sessions"),
            autostart: false,
            screenshot: None,
            exit_after_s: None,
            stats: false,
            view_session: None,
            lang: None,
            locale_lang: Lang::En,
            detector_given: false,
            markers: Vec::new(),
            share: None,
            share_now: false,
        }
    }
}

/// What to check when no window can be opened.
#[cfg(windows)]
pub(crate) const NO_WINDOW_HINT: &str = "the graphics driver must offer OpenGL 2.0 or newer: update it";
#[cfg(not(windows))]
pub(crate) const NO_WINDOW_HINT: &str = "is there a display? try `xvfb-run -a` on a headless machine";

/// Opens the window and runs until it is closed. Errors only when no window can be created
/// (no display); missing models, cameras or files are shown inside the window.
pub fn run_window(opts: WindowOptions) -> anyhow::Result<()> {
    let title = match &opts.view_session {
        Some(dir) => format!("emotion-monitor — {}", dir.display()),
        None => "emotion-monitor".to_string(),
    };
    run_native("emotion-monitor", &title, [1280.0, 860.0], [640.0, 480.0], move |cc| EmotionApp::new(cc, opts))
}

/// Opens a native window (the main one or the class one) with the Hangul fallback fonts, and runs `make`'s
/// app until it is closed; the error says what to check when no window can be created.
pub(crate) fn run_native<A: eframe::App + 'static>(
    app_id: &str,
    title: &str,
    size: [f32; 2],
    min_size: [f32; 2],
    make: impl FnOnce(&eframe::CreationContext<'_>) -> A + 'static,
) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size(size)
            .with_min_inner_size(min_size),
        ..Default::default()
    };
    eframe::run_native(
        app_id,
        native,
        Box::new(move |cc| {
            crate::fonts::install_egui_fallback(&cc.egui_ctx);
            Ok(Box::new(make(cc)) as Box<dyn eframe::App>)
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e} ({NO_WINDOW_HINT})"))
}

/// The first source to open: the video if given, else the screen or camera asked for, else the source
/// remembered from the last run if it is still there, else the first camera found; `Err` says why
/// there is none.
pub(crate) fn initial_source(
    opts: &WindowOptions,
    cameras: &Result<Vec<CameraInfo>, Message>,
    remembered: Option<&RememberedSource>,
    lang: Lang,
) -> Result<SourceSpec, String> {
    if let Some(v) = &opts.video {
        return Ok(SourceSpec::Video(v.clone()));
    }
    if let Some(s) = &opts.screen {
        return Ok(SourceSpec::Screen(s.clone()));
    }
    if let Some(c) = &opts.camera {
        return Ok(SourceSpec::Camera(c.clone()));
    }
    let listed = cameras.as_deref().unwrap_or_default();
    if let Some(spec) = remembered.and_then(|r| r.reopen(listed)) {
        return Ok(spec);
    }
    match cameras {
        Ok(list) => match list.first() {
            Some(cam) => Ok(SourceSpec::Camera(CameraSelector::Index(cam.index))),
            None => Err(lang.t(Key::NoCameraNoVideo).to_string()),
        },
        Err(e) => Err(lang.fmt(Key::CamerasNotListed, &[("error", &e.text(lang))])),
    }
}

/// The whole window's state.
pub struct EmotionApp {
    opts: WindowOptions,
    live: Option<Live>,
    shared: Arc<Shared>,
    feed: Feed,
    /// In a window without threads (tests), the source generation is counted here.
    detached_generation: u64,
    cameras: Vec<CameraInfo>,
    source: SourceState,
    model: ModelStatus,
    session: SessionState,
    controls: Controls,
    video: VideoView,
    timeline: TimelineView,
    selected_face: Option<u64>,
    /// The latest thing worth telling the user (export done, marker set, errors), newest last.
    notices: Notices,
    /// What is remembered between runs (saved by [`eframe::App::save`]).
    settings: Settings,
    /// The language shown now (`--lang`, else the one picked, else the locale's).
    lang: Lang,
    /// `--marker` entries not yet set (session seconds, name), earliest first.
    scripted_markers: Vec<(f64, String)>,
    stats: UiStats,
    exit: Option<ExitPlan>,
    marker_count: u32,
    /// The user ticked "record video frames" (the session writer saves them).
    record_frames: bool,
    /// The first source waits for the camera list (listed on a worker at start).
    awaiting_cameras: bool,
    /// Slow work (finishing a session, exporting one, a file dialog) runs on its own threads and reports here.
    jobs: Jobs,
    /// To wake the UI when a job is done (known from the first frame on).
    ctx: Option<egui::Context>,
    /// Sharing per-second aggregates with a class (`--share`), after the student agreed.
    share: share_ui::ShareView,
}

impl EmotionApp {
    /// The window with its worker threads, opening the first source (or a saved session to view),
    /// with the settings eframe saved last time.
    pub fn new(cc: &eframe::CreationContext<'_>, mut opts: WindowOptions) -> Self {
        let ctx = &cc.egui_ctx;
        let settings = Settings::load(cc.storage);
        apply_remembered(&mut opts, &settings);
        let (senders, feed) = feed_channels();
        let shared = Arc::new(Shared::default());
        shared.set_detector(opts.pipeline.detector);
        shared.set_mode(opts.pipeline.mode);
        let viewing = opts.view_session.is_some();
        let mut live = None;
        let mut startup_error = None;
        if !viewing {
            match Live::start(ctx, opts.pipeline.clone(), shared.clone(), senders) {
                Ok(l) => live = Some(l),
                Err(e) => startup_error = Some((Key::InferenceThreadFailed, e.to_string())),
            }
        }
        let mut app = Self::build(opts, settings, live, shared, feed, Ok(Vec::new()));
        app.ctx = Some(ctx.clone());
        if !viewing {
            // Listing cameras can take the OS a second or more: a worker does it, the window shows at once.
            let needs_list = matches!(app.source, SourceState::NoSource { .. });
            if needs_list {
                app.source = SourceState::NoSource { why: app.lang.t(Key::LookingForCameras).to_string() };
                app.awaiting_cameras = true;
            }
            app.list_devices(false);
        }
        if let Some((key, e)) = startup_error {
            app.notify_message(Some(key), Message::new(Key::ErrThread, &[], e));
        }
        app
    }

    /// The window without threads: the returned senders play the worker threads' part (tests,
    /// or a driver of your own). No camera is listed. Nothing remembered.
    pub fn with_feed(opts: WindowOptions) -> (Self, FeedSenders) {
        Self::with_feed_restored(opts, None)
    }

    /// [`Self::with_feed`] with the settings saved in `storage` (as eframe restores them at start).
    pub fn with_feed_restored(mut opts: WindowOptions, storage: Option<&dyn eframe::Storage>) -> (Self, FeedSenders) {
        let settings = Settings::load(storage);
        apply_remembered(&mut opts, &settings);
        let (senders, feed) = feed_channels();
        let shared = Arc::new(Shared::default());
        shared.set_detector(opts.pipeline.detector);
        shared.set_mode(opts.pipeline.mode);
        let app = Self::build(opts, settings, None, shared, feed, Ok(Vec::new()));
        (app, senders)
    }

    fn build(
        opts: WindowOptions,
        settings: Settings,
        live: Option<Live>,
        shared: Arc<Shared>,
        feed: Feed,
        cameras: Result<Vec<CameraInfo>, Message>,
    ) -> Self {
        let exit = ExitPlan::new(opts.exit_after_s, opts.screenshot.clone());
        let mut controls = Controls::default();
        let export_folder = settings.export_folder.clone().unwrap_or_else(|| opts.session_root.join("export"));
        controls.export_path = export_folder.display().to_string();
        if let Some(RememberedSource::Video { path }) = &settings.source {
            controls.video_path = path.display().to_string();
        }
        let lang = opts.lang.or(settings.lang).unwrap_or(opts.locale_lang);
        crate::i18n::set_report_language(lang);
        let mut timeline = TimelineView::default();
        timeline.show_states = settings.show_states;
        timeline.face_lines = settings.face_lines;
        let mut scripted_markers: Vec<(f64, String)> = opts.markers.iter().map(|(n, t)| (*t, n.clone())).collect();
        scripted_markers.sort_by(|a, b| a.0.total_cmp(&b.0));
        let share = share_ui::ShareView::new(opts.share.clone(), opts.share_now, &shared, lang);
        let mut app = Self {
            share,
            live,
            shared,
            feed,
            detached_generation: 0,
            cameras: cameras.as_ref().cloned().unwrap_or_default(),
            source: SourceState::NoSource { why: String::new() },
            model: ModelStatus::Loading,
            session: SessionState::Idle,
            controls,
            video: VideoView::default(),
            timeline,
            selected_face: None,
            notices: Notices::default(),
            settings,
            lang,
            scripted_markers,
            stats: UiStats::new(),
            exit,
            marker_count: 0,
            record_frames: false,
            awaiting_cameras: false,
            jobs: Jobs::new(),
            ctx: None,
            opts,
        };
        if let Some(dir) = app.opts.view_session.clone() {
            app.model = ModelStatus::Viewing;
            match app.timeline.load_saved(&dir) {
                Ok(()) => app.source = SourceState::NoSource { why: String::new() },
                Err(e) => app.notify_error(Key::CannotOpenSessionShort, &e),
            }
            return app;
        }
        match initial_source(&app.opts, &cameras, app.settings.source.as_ref(), app.lang) {
            Ok(spec) => app.open(spec),
            Err(why) => app.source = SourceState::NoSource { why },
        }
        app
    }

    pub fn source_state(&self) -> &SourceState {
        &self.source
    }

    /// What the inference thread and the window share (the session slot): tests play the inference thread.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub fn session_state(&self) -> &SessionState {
        &self.session
    }

    pub fn model_status(&self) -> &ModelStatus {
        &self.model
    }

    pub fn selected_face(&self) -> Option<u64> {
        self.selected_face
    }

    /// The session folder being written (or last written).
    pub fn session_dir(&self) -> Option<&Path> {
        match &self.session {
            SessionState::Recording { dir, .. } | SessionState::Finished { dir, .. } => Some(dir),
            SessionState::Idle | SessionState::Starting { .. } => None,
        }
    }

    /// The language the window shows now.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The face detector in use from the next frame on.
    pub fn detector(&self) -> crate::detect::scene::DetectorChoice {
        self.shared.detector()
    }

    /// What would be saved for the next run now.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notices.push(text.into(), error);
    }

    /// An error notice: `wrapper`'s text ("Export failed: {error}") around the error's catalogue text, in the
    /// window's language; the technical detail goes to the log and the "details" hover.
    fn notify_error(&mut self, wrapper: Key, e: &dyn Explain) {
        let m = e.message();
        let text = self.lang.fmt(wrapper, &[("error", &m.text(self.lang))]);
        self.notices.push_detailed(text, true, Some(m.detail));
    }

    /// A message that came over a channel already made (a worker's event).
    fn notify_message(&mut self, wrapper: Option<Key>, m: Message) {
        let inner = m.text(self.lang);
        let text = match wrapper {
            Some(k) => self.lang.fmt(k, &[("error", &inner)]),
            None => inner,
        };
        self.notices.push_detailed(text, true, Some(m.detail));
    }

    fn open(&mut self, spec: SourceSpec) {
        let generation = match self.live.as_mut() {
            Some(l) => l.open(spec.clone()),
            None => {
                self.detached_generation += 1;
                self.detached_generation
            }
        };
        self.selected_face = None;
        self.source = SourceState::Opening { spec, generation };
    }

    /// Applies one user action.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Open(spec) => {
                self.video.clear();
                self.open(spec);
            }
            Action::RefreshCameras => {
                self.controls.listing = true;
                self.list_devices(true);
            }
            Action::ListScreens => self.list_devices(true),
            Action::Retry => {
                if let Some(spec) = self.source.spec().cloned() {
                    self.open(spec);
                }
            }
            Action::Start => self.start_session(),
            Action::Pause => {
                if let SessionState::Recording { paused_since, .. } = &mut self.session
                    && paused_since.is_none()
                {
                    *paused_since = Some(Instant::now());
                    self.shared.paused.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            Action::Resume => {
                if let SessionState::Recording { paused_since, paused_total, .. } = &mut self.session
                    && let Some(since) = paused_since.take()
                {
                    *paused_total += since.elapsed();
                    self.shared.paused.store(false, std::sync::atomic::Ordering::SeqCst);
                }
            }
            Action::Stop => self.stop_session(),
            Action::Mark(name) => self.mark(name),
            Action::Export(to) => {
                // The session writer puts the session on disk first (in order with the frames); the copying
                // then runs on a worker, so neither the window nor the recording waits for it.
                let reply = self.jobs.reply(self.ctx.clone(), move |result| JobDone::ReadyToExport { to, result });
                if let Err(e) = self.shared.session.flush(reply) {
                    self.notify_error(Key::ExportFailed, &e);
                }
            }
            Action::SetDetector(choice) => {
                self.shared.set_detector(choice);
                self.settings.detector = Some(choice);
                self.notify(self.lang.fmt(Key::DetectorSet, &[("name", &choice.as_str())]), false);
            }
            Action::SetAttentionOnly(on) => {
                let mode = if on { crate::pipeline::Mode::AttentionOnly } else { crate::pipeline::Mode::Emotions };
                self.shared.set_mode(mode);
                self.shared.session.set_mode(mode);
                self.settings.attention_only = on;
            }
            Action::RecordFrames(on) => {
                self.record_frames = on;
                self.shared.session.set_record_frames(on);
                if on {
                    self.notify(self.lang.t(Key::RecordingFramesOn), false);
                }
            }
            Action::SetLanguage(lang) => {
                self.lang = lang;
                self.settings.lang = Some(lang);
                crate::i18n::set_report_language(lang);
            }
            Action::ChooseVideo => self.choose(Purpose::Video),
            Action::ChooseExportFolder => self.choose(Purpose::ExportFolder),
        }
    }

    /// Lists the cameras (and the screens and windows) on a worker; [`Self::on_devices`] takes the answer.
    fn list_devices(&mut self, screens: bool) {
        self.jobs.spawn(self.ctx.clone(), "list-devices", move || JobDone::Devices {
            cameras: crate::source::list_cameras(),
            screens: screens.then(|| (crate::source::list_screens(), crate::source::screen::list_windows())),
        });
    }

    fn on_devices(&mut self, cameras: Result<Vec<CameraInfo>, SourceError>, screens: Option<jobs::ScreensAndWindows>) {
        if let Some((s, w)) = screens {
            self.controls.screens = Some(s.map_err(|e| e.to_string()));
            self.controls.windows = Some(w.map_err(|e| e.to_string()));
            self.controls.listing = false;
        }
        let starting = std::mem::take(&mut self.awaiting_cameras);
        match cameras {
            Ok(c) => {
                let n = c.len();
                let first = c.first().map(|cam| cam.index);
                self.cameras = c;
                if starting {
                    // The first source, now that the cameras are known (nothing else was asked for).
                    if matches!(self.source, SourceState::NoSource { .. }) {
                        let listed = Ok(self.cameras.clone());
                        match initial_source(&self.opts, &listed, self.settings.source.as_ref(), self.lang) {
                            Ok(spec) => self.open(spec),
                            Err(why) => self.source = SourceState::NoSource { why },
                        }
                    }
                    return;
                }
                self.notify(self.lang.fmt(Key::CamerasFound, &[("n", &n)]), false);
                // Nothing was open: a camera that just appeared is what the user wants.
                if let (SourceState::NoSource { .. }, Some(index)) = (&self.source, first) {
                    self.open(SourceSpec::Camera(CameraSelector::Index(index)));
                }
            }
            Err(e) if starting && matches!(self.source, SourceState::NoSource { .. }) => {
                let why = self.lang.fmt(Key::CamerasNotListed, &[("error", &e.message().text(self.lang))]);
                self.source = SourceState::NoSource { why };
            }
            Err(e) => self.notify_error(Key::CamerasNotListedShort, &e),
        }
    }

    /// A named marker at the current session time (empty name: "marker N").
    fn mark(&mut self, name: String) {
        self.marker_count += 1;
        let name = if name.is_empty() { self.lang.fmt(Key::DefaultMarker, &[("n", &self.marker_count)]) } else { name };
        let for_reply = name.clone();
        let reply = self.jobs.reply(self.ctx.clone(), move |result| JobDone::Marked { name: for_reply, result });
        if let Err(e) = self.shared.session.mark(&name, reply) {
            self.notify_error(Key::MarkerNotSet, &e);
        }
    }

    /// Starts recording into the export's destination once the session writer has put the session on disk.
    fn export(&mut self, dir: PathBuf, to: &Path) {
        // A new folder per export under the chosen one: two exports never mix, and the chosen folder
        // may already hold earlier exports.
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "session".into());
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let mut dest = to.join(format!("{name}-export-{stamp}"));
        let mut n = 2;
        while dest.exists() {
            dest = to.join(format!("{name}-export-{stamp}-{n}"));
            n += 1;
        }
        self.notify(self.lang.fmt(Key::Exporting, &[("path", &dest.display())]), false);
        let excel = self.settings.excel;
        self.jobs.spawn(self.ctx.clone(), "export", move || JobDone::Exported {
            result: crate::session::export_session(&dir, &dest).and_then(|files| {
                if excel {
                    crate::session::add_excel_bom(&files)?;
                }
                Ok(files.len())
            }),
            to: dest,
            excel,
        });
    }

    /// `--marker` entries whose time the session has reached.
    fn scripted_markers_step(&mut self) {
        if self.scripted_markers.is_empty() || !matches!(self.session, SessionState::Recording { .. }) {
            return;
        }
        let view = self.shared.session.view();
        let now = view.timeline.as_ref().and_then(|t| t.span()).map(|(_, end)| end);
        let Some(now) = now else { return };
        while self.scripted_markers.first().is_some_and(|(t, _)| *t <= now) {
            let (_, name) = self.scripted_markers.remove(0);
            self.mark(name);
        }
    }

    /// Opens a file dialog on its own thread; its answer comes back through [`Jobs`].
    fn choose(&mut self, purpose: Purpose) {
        if self.jobs.dialog_open {
            self.notify(self.lang.t(Key::DialogBusy), false);
            return;
        }
        let start = match purpose {
            Purpose::Video => self.settings.video_folder.clone(),
            Purpose::ExportFolder => {
                let typed = PathBuf::from(self.controls.export_path.trim());
                Some(typed).filter(|p| p.is_dir()).or_else(|| self.settings.export_folder.clone())
            }
        };
        self.jobs.spawn_dialog(self.ctx.clone(), purpose, self.lang, start);
    }

    fn on_picked(&mut self, purpose: Purpose, picked: Picked) {
        self.jobs.dialog_open = false;
        match (purpose, picked) {
            (Purpose::Video, Picked::Path(p)) => self.open_video(p),
            (Purpose::ExportFolder, Picked::Path(p)) => {
                self.controls.export_path = p.display().to_string();
                self.settings.export_folder = Some(p.clone());
                self.apply(Action::Export(p));
            }
            (_, Picked::Cancelled) => {}
            (_, Picked::Unavailable(why)) => self.notify(why, true),
        }
    }

    /// Opens a video chosen in a dialog or dropped on the window.
    fn open_video(&mut self, path: PathBuf) {
        self.controls.video_path = path.display().to_string();
        self.apply(Action::Open(SourceSpec::Video(path)));
    }

    /// A file dropped on the window is opened as the video; while one is dragged over, says so.
    fn dropped_files_ui(&mut self, ctx: &egui::Context) {
        let (dropped, hovering) = ctx.input(|i| (i.raw.dropped_files.clone(), !i.raw.hovered_files.is_empty()));
        if hovering {
            let painter =
                ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop-overlay")));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(170));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                self.lang.t(Key::DropHere),
                egui::FontId::proportional(28.0),
                egui::Color32::WHITE,
            );
        }
        let Some(file) = dropped.into_iter().next() else { return };
        let path = file.path().to_path_buf();
        if path.as_os_str().is_empty() {
            self.notify(self.lang.t(Key::DroppedNotFile), true);
        } else {
            self.open_video(path);
        }
    }

    fn start_session(&mut self) {
        if matches!(self.session, SessionState::Recording { .. } | SessionState::Starting { .. }) {
            return;
        }
        let source_name = match &self.source {
            SourceState::Running { name, .. } | SourceState::Ended { name, .. } => name.clone(),
            other => other.spec().map_or_else(|| "no source".to_string(), |s| s.to_string()),
        };
        let provider = match &self.model {
            // session.json is data, not the window: the provider as the log and the CLI write it.
            ModelStatus::Ready(p) => p.detail.clone(),
            _ => "not loaded".to_string(),
        };
        let model_file =
            self.opts.pipeline.emotion_model.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let model = format!("{model_file} on {provider}");
        let root = self.opts.session_root.clone();
        self.shared.paused.store(false, std::sync::atomic::Ordering::SeqCst);
        let reply = self.jobs.reply(self.ctx.clone(), JobDone::Started);
        match self.shared.session.start(&root, &source_name, &model, reply) {
            Ok(()) => {
                self.timeline.reset();
                self.marker_count = 0;
                self.session = SessionState::Starting { since: Instant::now() };
            }
            Err(e) => self.notify_error(Key::SessionNotStarted, &e),
        }
    }

    /// The session writer answered the start.
    fn on_started(&mut self, result: Result<PathBuf, crate::session::SessionError>) {
        let SessionState::Starting { since } = self.session else { return };
        match result {
            Ok(dir) => {
                self.notify(self.lang.fmt(Key::SessionStarted, &[("path", &dir.display())]), false);
                self.session =
                    SessionState::Recording { dir, started: since, paused_total: Duration::ZERO, paused_since: None };
            }
            Err(e) => {
                self.session = SessionState::Idle;
                self.notify_error(Key::SessionNotStarted, &e);
            }
        }
    }

    /// Stops the session at once; its last second, segments and report are written by the session writer.
    fn stop_session(&mut self) {
        let dir = match &self.session {
            SessionState::Recording { dir, .. } => dir.clone(),
            // Stopped before the writer answered: the stop follows the start in its queue.
            SessionState::Starting { .. } => PathBuf::new(),
            _ => return,
        };
        let elapsed = self.session.elapsed();
        self.shared.paused.store(false, std::sync::atomic::Ordering::SeqCst);
        let for_reply = dir.clone();
        let reply = self.jobs.reply(self.ctx.clone(), move |result| JobDone::Finished { dir: for_reply, result });
        if let Err(e) = self.shared.session.stop(reply) {
            self.notify_error(Key::FinishFailed, &e);
            return;
        }
        self.session = if dir.as_os_str().is_empty() {
            SessionState::Idle
        } else {
            SessionState::Finished { dir, elapsed, summary: self.lang.t(Key::WritingReport).into() }
        };
    }

    fn on_job_done(&mut self, done: JobDone) {
        match done {
            JobDone::Started(result) => self.on_started(result),
            JobDone::Marked { name, result: Ok(t) } => {
                let time = controls_ui::format_elapsed(Duration::from_secs_f64(t.max(0.0)));
                self.notify(self.lang.fmt(Key::MarkerSet, &[("name", &name), ("time", &time)]), false);
            }
            JobDone::Marked { result: Err(e), .. } => self.notify_error(Key::MarkerNotSet, &e),
            JobDone::ReadyToExport { to, result: Ok(dir) } => self.export(dir, &to),
            JobDone::ReadyToExport { result: Err(e), .. } => self.notify_error(Key::ExportFailed, &e),
            JobDone::Finished { dir, result } => {
                let summary = match result {
                    Ok(s) => {
                        self.notify(self.lang.fmt(Key::SessionSaved, &[("path", &s.dir.display())]), false);
                        summary_text(self.lang, &s)
                    }
                    Err(e) => {
                        self.notify_error(Key::FinishFailed, &e);
                        String::new()
                    }
                };
                if let SessionState::Finished { dir: d, summary: s, .. } = &mut self.session
                    && *d == dir
                {
                    *s = summary;
                }
            }
            JobDone::Exported { to, result: Ok(n), excel } => {
                let key = if excel { Key::ExportedExcel } else { Key::Exported };
                self.notify(self.lang.fmt(key, &[("n", &n), ("path", &to.display())]), false)
            }
            JobDone::Exported { result: Err(e), .. } => self.notify_error(Key::ExportFailed, &e),
            JobDone::Picked { purpose, picked } => self.on_picked(purpose, picked),
            JobDone::Devices { cameras, screens } => self.on_devices(cameras, screens),
        }
    }

    /// Takes status events and the newest frame from the workers.
    fn poll(&mut self, ctx: &egui::Context) {
        if self.ctx.is_none() {
            self.ctx = Some(ctx.clone());
        }
        while let Ok(ev) = self.feed.events.try_recv() {
            self.on_event(ev);
        }
        while let Ok(done) = self.jobs.rx.try_recv() {
            self.on_job_done(done);
        }
        if let Some(e) = self.shared.session.take_errors().into_iter().next() {
            self.notify_error(Key::RecordingError, &e);
        }
        let mut newest = None;
        while let Ok(f) = self.feed.results.try_recv() {
            newest = Some(f);
        }
        if let Some(frame) = newest {
            let now = Instant::now();
            self.stats.drawing = Some(frame.result.captured_at);
            self.stats.shown.tick(now);
            self.stats.last_result_at = Some(now);
            let t = &frame.result.timings;
            self.stats.infer_ms = (t.detect + t.crop + t.classify + t.track).as_secs_f64() * 1e3;
            self.video.set_frame(ctx, frame);
        }
    }

    fn on_event(&mut self, ev: LiveEvent) {
        let current = self.source.generation();
        match ev {
            LiveEvent::ModelReady { provider } => self.model = ModelStatus::Ready(provider),
            LiveEvent::ModelFailed(e) => self.model = ModelStatus::Failed(e),
            LiveEvent::InferenceFailed(e) => self.notify_message(None, e),
            LiveEvent::FrameNotSaved(e) => self.notify_message(Some(Key::FrameNotSaved), e),
            LiveEvent::SourceOpened { generation, name, live, .. } if Some(generation) == current => {
                let spec = self.source.spec().cloned().unwrap_or(SourceSpec::Video(PathBuf::from(&name)));
                if let SourceSpec::Video(p) = &spec {
                    // The field shows what plays (not a path remembered from an earlier run).
                    self.controls.video_path = p.display().to_string();
                    self.settings.video_folder =
                        p.parent().filter(|d| !d.as_os_str().is_empty()).map(Path::to_path_buf);
                }
                self.settings.source = Some(RememberedSource::of(&spec));
                self.source = SourceState::Running { spec, generation, name, live };
                if self.opts.autostart && matches!(self.session, SessionState::Idle) {
                    self.start_session();
                }
            }
            LiveEvent::SourceFailed { generation, message } if Some(generation) == current => {
                let spec = self.source.spec().cloned().unwrap_or(SourceSpec::Video(PathBuf::new()));
                self.source = SourceState::Failed { spec, generation, message };
            }
            LiveEvent::CameraLost { generation, message } if Some(generation) == current => {
                let spec = self.source.spec().cloned().unwrap_or(SourceSpec::Camera(CameraSelector::default()));
                self.source = SourceState::Lost { spec, generation, message };
            }
            LiveEvent::SourceEnded { generation } if Some(generation) == current => {
                if let SourceState::Running { spec, name, .. } = &self.source {
                    self.source = SourceState::Ended { spec: spec.clone(), generation, name: name.clone() };
                }
            }
            // News about a source that was replaced since.
            _ => {}
        }
    }

    fn hotkeys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::M))
            && matches!(self.session, SessionState::Recording { .. })
        {
            let name = self.controls.marker_name.trim().to_string();
            self.apply(Action::Mark(name));
        }
    }

    /// The whole window, in panel order: top (controls), bottom (status, timeline), right
    /// (faces), centre (video). Called by eframe, and directly by the UI tests.
    pub fn ui_root(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        self.hotkeys(&ctx);
        let mut actions = Vec::new();

        if self.opts.view_session.is_some() {
            self.viewer_ui(ui);
            self.after_frame(&ctx);
            return;
        }
        self.scripted_markers_step();
        self.dropped_files_ui(&ctx);

        let flowing = self.stats.last_result_at.is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        let record_frames = self.record_frames;
        let rate_text = self.rate_text();
        egui::Panel::top("controls").show(ui, |ui| {
            ui.add_space(2.0);
            let view = ControlsView {
                cameras: &self.cameras,
                source: &self.source,
                session: &self.session,
                model: &self.model,
                flowing,
                record_frames,
                rate_text,
                detector: self.shared.detector(),
                attention_only: !self.shared.mode().emotions(),
                lang: self.lang,
            };
            actions.extend(self.controls.ui(ui, &view, &mut self.settings));
            self.share.ui(ui, self.lang, &self.shared);
            ui.add_space(2.0);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            self.status_ui(ui);
        });
        egui::Panel::bottom("timeline").resizable(true).default_size(240.0).min_size(120.0).show(ui, |ui| {
            self.timeline.refresh(self.shared.session.view().timeline.as_deref());
            let visible: Vec<u64> = self.video.faces().iter().map(|f| f.id).collect();
            self.timeline.attention_only = !self.shared.mode().emotions();
            if let Some(face) = self.timeline.ui(ui, self.lang, &visible, self.selected_face) {
                self.selected_face = Some(face);
            }
            self.settings.show_states = self.timeline.show_states;
            self.settings.face_lines = self.timeline.face_lines;
        });
        egui::Panel::right("faces").resizable(true).default_size(260.0).show(ui, |ui| {
            faces_ui::faces_ui(ui, self.lang, self.video.faces(), &mut self.selected_face);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            self.source_banner_ui(ui, &mut actions);
            self.video.ui(ui, self.lang, &mut self.selected_face);
        });

        for a in actions {
            self.apply(a);
        }
        self.after_frame(&ctx);
    }

    fn rate_text(&self) -> String {
        let (_, analysed, _, _) = self.stats.rates;
        if self.stats.last_summary.count == 0 {
            return String::new();
        }
        format!("{analysed:.1} fps · {:.0} ms", self.stats.last_summary.mean_ms)
    }

    /// Above the video: what is wrong with the source (and what to do), or the model error.
    fn source_banner_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let lang = self.lang;
        if let ModelStatus::Failed(e) = &self.model {
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new(lang.fmt(Key::AnalysisUnavailable, &[("error", &e.text(lang))])).color(theme::RED),
                );
                notices::details_ui(ui, lang, &e.detail);
            });
            ui.label(lang.t(Key::AnalysisUnavailableHelp));
            ui.separator();
        }
        match &self.source {
            SourceState::NoSource { why } => {
                ui.add_space(40.0);
                ui.vertical_centered(|ui| {
                    ui.heading(why.as_str());
                    ui.label(lang.t(Key::OpenInstead));
                    ui.add_space(8.0);
                    ui.horizontal(|ui| {
                        self.controls.open_file_ui(ui, lang, actions);
                        if ui.button(lang.t(Key::LookForCameras)).clicked() {
                            actions.push(Action::RefreshCameras);
                        }
                    });
                });
            }
            SourceState::Opening { spec, .. } => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(lang.fmt(Key::Opening, &[("source", spec)]));
                });
            }
            SourceState::Lost { message, .. } => {
                ui.horizontal_wrapped(|ui| {
                    let text = lang.fmt(Key::CameraLost, &[("message", &message.text(lang))]);
                    ui.label(RichText::new(text).color(theme::RED).strong());
                    notices::details_ui(ui, lang, &message.detail);
                });
                ui.horizontal(|ui| {
                    ui.label(lang.t(Key::CameraLostHelp));
                    if ui.button(lang.t(Key::Retry)).clicked() {
                        actions.push(Action::Retry);
                    }
                });
            }
            SourceState::Failed { message, .. } => {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(message.text(lang)).color(theme::RED).strong());
                    notices::details_ui(ui, lang, &message.detail);
                });
                ui.horizontal(|ui| {
                    if ui.button(lang.t(Key::Retry)).clicked() {
                        actions.push(Action::Retry);
                    }
                    ui.label(lang.t(Key::OrOpenAnother));
                });
            }
            SourceState::Ended { name, .. } => {
                ui.label(lang.fmt(Key::VideoEnded, &[("name", name)]));
            }
            SourceState::Running { .. } => {}
        }
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        ui.horizontal_wrapped(|ui| {
            let (captured, analysed, shown, dropped) = self.stats.rates;
            let l = self.stats.last_summary;
            let one = |v: f64| format!("{v:.1}");
            let zero = |v: f64| format!("{v:.0}");
            let line = lang.fmt(
                Key::StatusLine,
                &[
                    ("captured", &one(captured)),
                    ("analysed", &one(analysed)),
                    ("shown", &one(shown)),
                    ("dropped", &dropped),
                    ("mean", &zero(l.mean_ms)),
                    ("p95", &zero(l.p95_ms)),
                    ("infer", &one(self.stats.infer_ms)),
                ],
            );
            ui.label(RichText::new(line).monospace().small());
            if let Some(dir) = self.session_dir() {
                ui.separator();
                ui.label(RichText::new(lang.fmt(Key::SessionPath, &[("path", &dir.display())])).small());
            }
        });
        self.notices.ui(ui, self.lang, true);
    }

    fn viewer_ui(&mut self, ui: &mut egui::Ui) {
        let dir = self.opts.view_session.clone().unwrap_or_default();
        let lang = self.lang;
        egui::Panel::top("viewer").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading(lang.t(Key::SavedSessionTitle));
                ui.label(dir.display().to_string());
                ui.separator();
                if let Some(picked) = controls_ui::language_ui(ui, lang) {
                    self.apply(Action::SetLanguage(picked));
                }
            });
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            self.notices.ui(ui, self.lang, false);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            self.timeline.saved_ui(ui, lang);
            self.settings.show_states = self.timeline.show_states;
        });
    }

    /// Latency of the frame just drawn; once a second: rates, the `--stats` line; then the
    /// screenshot and exit plan.
    fn after_frame(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        // Capture → overlay: up to the end of this pass, whose shapes (frame + boxes) are final.
        // Rasterising them (GPU, or llvmpipe under Xvfb) comes after and is not included.
        if let Some(captured_at) = self.stats.drawing.take() {
            self.stats.latency.push(now.saturating_duration_since(captured_at));
        }
        let since = now.saturating_duration_since(self.stats.last_tick);
        if since >= Duration::from_secs(1) {
            let snap = self.shared.counters.snapshot();
            let secs = since.as_secs_f64();
            let prev = self.stats.prev;
            let shown = self.stats.shown.rate(now);
            self.stats.rates = (
                (snap.captured - prev.captured) as f64 / secs,
                (snap.analysed - prev.analysed) as f64 / secs,
                shown,
                ((snap.dropped - prev.dropped) as f64 / secs).round() as u64,
            );
            let print = self.opts.stats && self.opts.view_session.is_none();
            // Every frame's latency too, so that a run's percentiles can be taken over all its frames.
            let each: Vec<String> = match print {
                true => self.stats.latency.samples().iter().map(|ms| format!("{ms:.1}")).collect(),
                false => Vec::new(),
            };
            self.stats.last_summary = self.stats.latency.take();
            if print {
                let l = self.stats.last_summary;
                let (c, a, s, d) = self.stats.rates;
                eprintln!(
                    "stats t={:.1} capture_fps={c:.1} analysed_fps={a:.1} shown_fps={s:.1} dropped_per_s={d} \
                     latency_ms_mean={:.1} latency_ms_p50={:.1} latency_ms_p95={:.1} latency_ms_max={:.1} \
                     infer_ms={:.1} faces={} latencies_ms={}",
                    now.saturating_duration_since(self.stats.started).as_secs_f64(),
                    l.mean_ms,
                    l.p50_ms,
                    l.p95_ms,
                    l.max_ms,
                    self.stats.infer_ms,
                    self.video.faces().len(),
                    each.join(","),
                );
            }
            self.stats.prev = snap;
            self.stats.last_tick = now;
            // Frames stopped (lost camera, end of video, pause): make what was recorded durable.
            if snap.analysed == prev.analysed && matches!(self.session, SessionState::Recording { .. }) {
                self.shared.session.sync();
            }
        }
        // Keep the clock and the rates moving when no frame arrives (camera lost, paused).
        ctx.request_repaint_after(Duration::from_secs(1));
        self.exit_step(ctx, now);
    }

    /// `--screenshot` / `--exit-after`: at the plan's moment, finish the session and close.
    fn exit_step(&mut self, ctx: &egui::Context, now: Instant) {
        if self.exit.as_mut().is_some_and(|plan| plan.step(ctx, now)) {
            self.stop_session();
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

/// The one-line summary of a finished session shown under the controls.
fn summary_text(lang: Lang, s: &crate::session::SessionSummary) -> String {
    let args: [(&str, &dyn std::fmt::Display); 4] = [
        ("seconds", &s.seconds),
        ("rows", &s.frame_rows),
        ("segments", &s.segments.len()),
        ("path", &s.report.display()),
    ];
    lang.fmt(Key::SessionSummary, &args)
}

/// Settings remembered from the last run that the command line did not override.
fn apply_remembered(opts: &mut WindowOptions, settings: &Settings) {
    if settings.attention_only {
        opts.pipeline.mode = crate::pipeline::Mode::AttentionOnly;
    }
    if !opts.detector_given
        && let Some(d) = settings.detector
    {
        opts.pipeline.detector = d;
    }
}

impl eframe::App for EmotionApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.ui_root(ui);
    }

    /// What the user chose (language, detector, source, folders, timeline options) for the next run.
    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.save(storage);
    }
}

impl Drop for EmotionApp {
    /// Closing the window finishes the session, so its report is written.
    fn drop(&mut self) {
        self.stop_session();
        // The writer finishes the session (last second, report) before it ends.
        self.shared.session.shutdown(Duration::from_secs(60));
        self.jobs.join_all();
        // After the session's last second reached the sharer.
        self.share.stop_at_exit(&self.shared);
    }
}
