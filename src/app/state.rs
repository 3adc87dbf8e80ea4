//! What the window is in (source, models, session), what a user can ask of it ([`Action`]), and
//! what it remembers between runs ([`Settings`], saved by eframe's persistence).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::live::SourceSpec;
use crate::detect::scene::DetectorChoice;
use crate::i18n::Lang;
use crate::source::{CameraSelector, ScreenOptions, ScreenTarget};

/// Where frames come from right now, and how that is going.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceState {
    /// No camera and no file: the window says so and offers to open a file.
    NoSource {
        why: String,
    },
    Opening {
        spec: SourceSpec,
        generation: u64,
    },
    Running {
        spec: SourceSpec,
        generation: u64,
        name: String,
        live: bool,
    },
    /// A video file reached its end.
    Ended {
        spec: SourceSpec,
        generation: u64,
        name: String,
    },
    /// The camera vanished mid-session; Retry reopens it.
    Lost {
        spec: SourceSpec,
        generation: u64,
        message: crate::i18n::Message,
    },
    /// The source could not be opened or read.
    Failed {
        spec: SourceSpec,
        generation: u64,
        message: crate::i18n::Message,
    },
}

impl SourceState {
    pub fn spec(&self) -> Option<&SourceSpec> {
        match self {
            SourceState::NoSource { .. } => None,
            SourceState::Opening { spec, .. }
            | SourceState::Running { spec, .. }
            | SourceState::Ended { spec, .. }
            | SourceState::Lost { spec, .. }
            | SourceState::Failed { spec, .. } => Some(spec),
        }
    }

    pub(crate) fn generation(&self) -> Option<u64> {
        match self {
            SourceState::NoSource { .. } => None,
            SourceState::Opening { generation, .. }
            | SourceState::Running { generation, .. }
            | SourceState::Ended { generation, .. }
            | SourceState::Lost { generation, .. }
            | SourceState::Failed { generation, .. } => Some(*generation),
        }
    }
}

/// Whether the models are loaded and where they run.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatus {
    Loading,
    /// The execution provider, e.g. "CPU (CUDA unavailable: …)".
    Ready(crate::i18n::Message),
    Failed(crate::i18n::Message),
    /// A saved session is shown: no models needed.
    Viewing,
}

/// The session as the UI sees it (the data itself is written by [`crate::session::SessionWriter`]'s thread).
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    Idle,
    /// Asked the session writer for a new session; its folder is not known yet.
    Starting {
        since: Instant,
    },
    Recording {
        dir: PathBuf,
        started: Instant,
        paused_total: Duration,
        paused_since: Option<Instant>,
    },
    Finished {
        dir: PathBuf,
        elapsed: Duration,
        summary: String,
    },
}

impl SessionState {
    /// Wall-clock time recorded, pauses excluded.
    pub fn elapsed(&self) -> Duration {
        match self {
            SessionState::Idle | SessionState::Starting { .. } => Duration::ZERO,
            SessionState::Recording { started, paused_total, paused_since, .. } => {
                let now = paused_since.unwrap_or_else(Instant::now);
                now.saturating_duration_since(*started).saturating_sub(*paused_total)
            }
            SessionState::Finished { elapsed, .. } => *elapsed,
        }
    }
}

/// What the user asked for, from any panel; applied by [`super::EmotionApp::apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Open(SourceSpec),
    RefreshCameras,
    /// List the screens and windows for the source menu (on a worker).
    ListScreens,
    /// Reopen the current source (after a lost camera or a failed open).
    Retry,
    Start,
    Pause,
    Resume,
    Stop,
    /// A named marker at the current session time (empty name: "marker N").
    Mark(String),
    Export(PathBuf),
    RecordFrames(bool),
    /// Use another face detector from the next frame on.
    SetDetector(DetectorChoice),
    /// Presence and head pose only (true), or emotions too, from the next frame on.
    SetAttentionOnly(bool),
    /// Show the window (and write reports) in this language.
    SetLanguage(Lang),
    /// Pick a video in a file dialog (off the UI thread), then open it.
    ChooseVideo,
    /// Pick a folder in a file dialog (off the UI thread), then export into it.
    ChooseExportFolder,
}

/// What the window remembers between runs (eframe's persistence: `app.ron` in
/// `$XDG_DATA_HOME/emotion-monitor`, else `~/.local/share/emotion-monitor`). Panel sizes and the
/// window's size are remembered by egui and eframe themselves.
///
/// Recording video frames is never remembered: it stays off until ticked, every session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The language picked in the window (`None`: the locale's); `--lang` overrides it for one run.
    pub lang: Option<Lang>,
    /// The face detector picked in the window; `--detector` overrides it for one run.
    pub detector: Option<DetectorChoice>,
    /// The last source that opened; reopened when the command line names none.
    pub source: Option<RememberedSource>,
    /// Where the video dialog starts (the folder of the last video opened).
    pub video_folder: Option<PathBuf>,
    /// The export folder last used ("Export CSV" writes a new folder inside it).
    pub export_folder: Option<PathBuf>,
    /// Export CSVs with a byte-order mark for Excel.
    pub excel: bool,
    /// Timeline: the right plot shows engagement states instead of emotions.
    pub show_states: bool,
    /// Timeline: which faces get a line of their own.
    pub face_lines: FaceLines,
    /// "Attention only" was ticked: the next run starts without emotions too (where emotion recognition is
    /// not allowed, forgetting it at a restart would be the wrong default). Unticking it is remembered too.
    pub attention_only: bool,
}

/// Which faces get their own line in the live engagement plot (the class line is always drawn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceLines {
    /// Every face while a few are in view; with a whole class, only the selected one.
    #[default]
    Auto,
    /// Every face in view (and the selected one).
    All,
    /// Only the selected face.
    None,
}

/// A source as remembered between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RememberedSource {
    Camera { index: Option<u32>, name: Option<String> },
    Video { path: PathBuf },
    Screen { index: u32 },
    Window { title: String },
}

impl RememberedSource {
    /// What to remember of `spec` (a screen region is not: it belongs to one layout of the desktop).
    pub fn of(spec: &SourceSpec) -> Self {
        match spec {
            SourceSpec::Camera(CameraSelector::Index(i)) => Self::Camera { index: Some(*i), name: None },
            SourceSpec::Camera(CameraSelector::Name(n)) => Self::Camera { index: None, name: Some(n.clone()) },
            SourceSpec::Video(p) => Self::Video { path: p.clone() },
            SourceSpec::Screen(o) => match &o.target {
                ScreenTarget::Screen(n) => Self::Screen { index: *n },
                ScreenTarget::Window(t) => Self::Window { title: t.clone() },
            },
        }
    }

    /// The source to reopen, if it is still there: a video that exists, a camera that is listed
    /// (by index or name), a screen or a window (their capture says if they are gone).
    pub(crate) fn reopen(&self, cameras: &[crate::source::CameraInfo]) -> Option<SourceSpec> {
        match self {
            Self::Video { path } => path.exists().then(|| SourceSpec::Video(path.clone())),
            Self::Camera { index: Some(i), .. } => {
                cameras.iter().any(|c| c.index == *i).then_some(SourceSpec::Camera(CameraSelector::Index(*i)))
            }
            Self::Camera { name: Some(n), .. } => {
                let lower = n.to_lowercase();
                cameras
                    .iter()
                    .any(|c| c.name.to_lowercase().contains(&lower))
                    .then(|| SourceSpec::Camera(CameraSelector::Name(n.clone())))
            }
            Self::Camera { .. } => None,
            Self::Screen { index } => Some(SourceSpec::Screen(ScreenOptions::new(ScreenTarget::Screen(*index)))),
            Self::Window { title } => Some(SourceSpec::Screen(ScreenOptions::new(ScreenTarget::Window(title.clone())))),
        }
    }
}

impl Settings {
    /// The settings saved by the last run, or the defaults (nothing saved yet, or a file this
    /// version cannot read: it is replaced at the next save).
    pub fn load(storage: Option<&dyn eframe::Storage>) -> Self {
        storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default()
    }

    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, self);
    }
}

/// An [`eframe::Storage`] in memory: what eframe writes to `app.ron`, for tests and drivers.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage(pub std::collections::BTreeMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_back_and_tolerate_missing_fields() {
        let s = Settings {
            lang: Some(Lang::Ko),
            detector: Some(DetectorChoice::Centerface),
            source: Some(RememberedSource::Window { title: "Zoom".into() }),
            video_folder: Some("/data/lectures".into()),
            export_folder: Some("/home/t/내보내기".into()),
            excel: true,
            show_states: true,
            face_lines: FaceLines::None,
            attention_only: true,
        };
        let mut storage = MemoryStorage::default();
        s.save(&mut storage);
        assert_eq!(Settings::load(Some(&storage)), s);
        // An older (or hand-edited) file with fewer fields still loads; a broken one gives the defaults.
        eframe::Storage::set_string(&mut storage, eframe::APP_KEY, "(lang: Some(ko))".into());
        let old = Settings::load(Some(&storage));
        assert_eq!(old.lang, Some(Lang::Ko));
        assert!(!old.excel && !old.attention_only);
        eframe::Storage::set_string(&mut storage, eframe::APP_KEY, "(lang: Some(".into());
        assert_eq!(Settings::load(Some(&storage)), Settings::default());
        assert_eq!(Settings::load(None), Settings::default());
    }

    #[test]
    fn a_remembered_video_that_is_gone_is_not_reopened() {
        let gone = RememberedSource::Video { path: "/nonexistent/3주차.mp4".into() };
        assert_eq!(gone.reopen(&[]), None);
        let cam = RememberedSource::of(&SourceSpec::Camera(CameraSelector::Index(1)));
        assert_eq!(cam.reopen(&[]), None, "camera 1 is not listed");
    }
}
