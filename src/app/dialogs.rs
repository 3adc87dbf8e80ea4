//! Native file dialogs (`rfd` through the XDG desktop portal, zenity as rfd's fallback), always on
//! a thread of their own: the window keeps drawing and the analysis keeps running while a dialog
//! is open. A desktop without any file chooser gets a notice saying so, never a frozen window or
//! a panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::i18n::{Key, Lang};

/// What a dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Open a video (or an image folder's file) as the source.
    Video,
    /// A folder to export the session into.
    ExportFolder,
}

/// What came back from a dialog.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Picked {
    Path(PathBuf),
    /// The user closed the dialog without choosing.
    Cancelled,
    /// No dialog could be shown; the text says why.
    Unavailable(String),
}

/// Video file extensions offered by the dialog's filter (anything ffmpeg reads is accepted when
/// dropped or typed).
pub(crate) const VIDEO_EXTENSIONS: &[&str] =
    &["mp4", "mkv", "avi", "mov", "webm", "wmv", "m4v", "mpg", "mpeg", "ts", "flv"];

/// A dialog that answers "nothing chosen" faster than this never showed up (a person takes longer
/// to close one).
const TOO_QUICK: Duration = Duration::from_millis(400);

/// Whether this desktop can show a file dialog at all: rfd needs a D-Bus session bus (for the
/// portal) or the `zenity` program. `env` reads an environment variable; `on_path` says whether a
/// program is installed.
pub(crate) fn availability(env: impl Fn(&str) -> Option<String>, on_path: impl Fn(&str) -> bool) -> Result<(), ()> {
    let bus_address = env("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
    let bus_socket = env("XDG_RUNTIME_DIR").is_some_and(|d| !d.is_empty() && Path::new(&d).join("bus").exists());
    if bus_address || bus_socket || on_path("zenity") { Ok(()) } else { Err(()) }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Shows the dialog and waits for it: call this on a worker thread, never on the UI thread.
pub(crate) fn pick_blocking(purpose: Purpose, lang: Lang, start: Option<PathBuf>) -> Picked {
    let unavailable = || Picked::Unavailable(lang.fmt(Key::NoDialog, &[("why", &lang.t(Key::NoDialogWhy))]));
    if availability(|k| std::env::var(k).ok(), on_path).is_err() {
        return unavailable();
    }
    let mut dialog = rfd::FileDialog::new();
    if let Some(dir) = start.filter(|d| d.is_dir()) {
        dialog = dialog.set_directory(dir);
    }
    let began = Instant::now();
    // rfd reports a missing portal (and a missing zenity) only in its log and by returning None;
    // a panic deep in its D-Bus glue must not take the window down either.
    let chosen = std::panic::catch_unwind(move || match purpose {
        Purpose::Video => dialog
            .set_title(lang.t(Key::DialogTitleVideo))
            .add_filter(lang.t(Key::DialogVideoFilter), VIDEO_EXTENSIONS)
            .pick_file(),
        Purpose::ExportFolder => dialog.set_title(lang.t(Key::DialogTitleExport)).pick_folder(),
    });
    match chosen {
        Ok(Some(path)) => Picked::Path(path),
        Ok(None) if began.elapsed() < TOO_QUICK => unavailable(),
        Ok(None) => Picked::Cancelled,
        Err(_) => unavailable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bus_and_no_zenity_means_no_dialog() {
        let none = |_: &str| None;
        assert!(availability(none, |_| false).is_err());
        assert!(availability(none, |p| p == "zenity").is_ok());
        let bus = |k: &str| (k == "DBUS_SESSION_BUS_ADDRESS").then(|| "unix:path=/run/user/1000/bus".to_string());
        assert!(availability(bus, |_| false).is_ok());
        let empty = |_: &str| Some(String::new());
        assert!(availability(empty, |_| false).is_err());
    }
}
