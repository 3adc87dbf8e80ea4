//! Slow work off the UI thread: finishing a session, exporting one, a file dialog. Each runs on
//! a named thread and reports back through one channel, waking the UI.

use std::path::PathBuf;

use eframe::egui;

use super::dialogs::{Picked, Purpose};

/// A finished background job.
pub enum JobDone {
    Finished {
        dir: PathBuf,
        result: Result<String, String>,
    },
    Exported {
        to: PathBuf,
        result: Result<usize, String>,
        excel: bool,
    },
    /// A file dialog closed.
    Picked {
        purpose: Purpose,
        picked: Picked,
    },
}

pub struct Jobs {
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
    pub fn spawn_dialog(
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
    pub fn join_all(&mut self) {
        for h in self.running.drain(..) {
            let _ = h.join();
        }
    }
}
