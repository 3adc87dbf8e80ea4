//! Slow work off the UI thread: finishing a session, exporting one, a file dialog. Each runs on
//! a named thread and reports back through one channel, waking the UI.

use std::path::PathBuf;

use eframe::egui;

use super::dialogs::{Picked, Purpose};

/// A finished background job.
pub(crate) enum JobDone {
    /// The session writer started (or could not start) the session.
    Started(Result<PathBuf, crate::session::SessionError>),
    /// The session writer set a marker at session time `Ok(t)`.
    Marked {
        name: String,
        result: Result<f64, crate::session::SessionError>,
    },
    /// The session writer finished the session (its report written).
    Finished {
        dir: PathBuf,
        result: Result<crate::session::SessionSummary, crate::session::SessionError>,
    },
    /// The session writer put the session on disk: the export of `dir` into `to` may start.
    ReadyToExport {
        to: PathBuf,
        result: Result<PathBuf, crate::session::SessionError>,
    },
    Exported {
        to: PathBuf,
        result: Result<usize, crate::session::SessionError>,
        excel: bool,
    },
    /// Cameras (and, when asked, screens and windows) listed on a worker: the OS can take a second or more.
    Devices {
        cameras: Result<Vec<crate::source::CameraInfo>, crate::source::SourceError>,
        screens: Option<ScreensAndWindows>,
    },
    /// A file dialog closed.
    Picked {
        purpose: Purpose,
        picked: Picked,
    },
}

/// What the source menu lists besides cameras.
pub(crate) type ScreensAndWindows = (
    Result<Vec<crate::source::ScreenInfo>, crate::source::SourceError>,
    Result<Vec<String>, crate::source::SourceError>,
);

pub(crate) struct Jobs {
    pub tx: crossbeam_channel::Sender<JobDone>,
    pub rx: crossbeam_channel::Receiver<JobDone>,
    running: Vec<std::thread::JoinHandle<()>>,
    /// A file dialog is open (one at a time).
    pub dialog_open: bool,
}

impl Jobs {
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self { tx, rx, running: Vec::new(), dialog_open: false }
    }

    /// A reply for the session writer: `wrap`s its answer into a message for the window, and wakes it.
    pub(crate) fn reply<T: 'static>(
        &self,
        ctx: Option<egui::Context>,
        wrap: impl FnOnce(T) -> JobDone + Send + 'static,
    ) -> crate::session::writer::Reply<T> {
        let tx = self.tx.clone();
        Box::new(move |answer| {
            let _ = tx.send(wrap(answer));
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        })
    }

    /// Runs `work` on a thread named `name`; its result comes back through `rx` (and wakes the UI).
    pub fn spawn(&mut self, ctx: Option<egui::Context>, name: &str, work: impl FnOnce() -> JobDone + Send + 'static) {
        self.running.retain(|h| !h.is_finished());
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
            let _ = tx.send(work());
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        match spawned {
            Ok(h) => self.running.push(h),
            Err(e) => tracing::error!("cannot start the {name} thread: {e}"),
        }
    }

    /// Shows a file dialog on its own thread. Not joined at exit: closing the window must not wait
    /// for a dialog the user left open.
    pub(crate) fn spawn_dialog(
        &mut self,
        ctx: Option<egui::Context>,
        purpose: Purpose,
        lang: crate::i18n::Lang,
        start: Option<PathBuf>,
    ) {
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new().name("file-dialog".into()).spawn(move || {
            let picked = super::dialogs::pick_blocking(purpose, lang, start);
            let _ = tx.send(JobDone::Picked { purpose, picked });
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        match spawned {
            Ok(_) => self.dialog_open = true,
            Err(e) => tracing::error!("cannot start the file-dialog thread: {e}"),
        }
    }

    /// Waits for every job (the window is closing: a session must be finished before the process ends).
    pub(crate) fn join_all(&mut self) {
        for h in self.running.drain(..) {
            let _ = h.join();
        }
    }
}
