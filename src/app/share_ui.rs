//! The student's side of the class view in the window: an explicit opt-in (nothing is sent before the
//! student agrees), then a visible "sharing" indicator with the pseudonym, pause and stop.

use std::sync::atomic::Ordering;

use eframe::egui;
use egui::RichText;

use super::live::Shared;
use super::theme;
use crate::i18n::{Key, Lang};
use crate::share::ClassAddress;
use crate::share::student::{STOP_WAIT, Sharer, Stopping};

/// Sharing with a class (`window --share URL`).
pub(crate) struct ShareView {
    offered: Option<ClassAddress>,
    sharer: Option<Sharer>,
    /// A stopped sharer still saying goodbye (the broker may be slow or unreachable).
    stopping: Option<Stopping>,
    declined: bool,
    /// What the last stop delivered (or why sharing could not start).
    last: Option<(String, bool)>,
}

impl ShareView {
    /// `offered`: the class from `--share`; `agree_now`: the student already agreed (`--share-now`).
    pub fn new(offered: Option<ClassAddress>, agree_now: bool, shared: &Shared, lang: Lang) -> Self {
        let mut v = Self { offered, sharer: None, stopping: None, declined: false, last: None };
        if agree_now {
            v.agree(shared, lang);
        }
        v
    }

    fn agree(&mut self, shared: &Shared, lang: Lang) {
        let Some(address) = self.offered.clone() else { return };
        match Sharer::start(address) {
            Ok(s) => {
                shared.session.set_share_sink(Some(s.seconds_sender()));
                self.sharer = Some(s);
                self.declined = false;
                self.last = None;
            }
            Err(e) => self.last = Some((lang.fmt(Key::ShareFailed, &[("error", &e)]), true)),
        }
    }

    /// Stops sharing (the student's choice) without waiting: the goodbye finishes in the background
    /// and [`ui`](Self::ui) shows what was delivered once it is over.
    pub fn stop(&mut self, shared: &Shared) {
        shared.session.set_share_sink(None);
        if let Some(s) = self.sharer.take() {
            let stopping = s.stop_in_background();
            self.show(&stopping.report());
            self.stopping = Some(stopping);
        }
    }

    /// The window closing: stops sharing and waits for the goodbye at most [`STOP_WAIT`].
    pub(crate) fn stop_at_exit(&mut self, shared: &Shared) {
        self.stop(shared);
        if let Some(stopping) = self.stopping.take() {
            self.show(&stopping.wait(STOP_WAIT));
        }
    }

    fn show(&mut self, report: &crate::share::student::ShareReport) {
        self.last = Some((report.to_string(), report.undelivered + report.dropped > 0));
    }

    /// One row in the top panel; nothing when no class was offered.
    pub fn ui(&mut self, ui: &mut egui::Ui, lang: Lang, shared: &Shared) {
        let Some(address) = self.offered.clone() else { return };
        if let Some(stopping) = self.stopping.take_if(|s| s.is_finished()) {
            self.show(&stopping.report());
        }
        ui.horizontal_wrapped(|ui| match &self.sharer {
            None if !self.declined => {
                let offer = lang.fmt(Key::ShareOffer, &[("class", &address.class), ("host", &address.host)]);
                ui.label(RichText::new(offer).strong());
                if ui.button(lang.t(Key::ShareAgree)).clicked() {
                    self.agree(shared, lang);
                }
                if ui.button(lang.t(Key::ShareDecline)).clicked() {
                    self.declined = true;
                }
            }
            None => {
                ui.label(lang.fmt(Key::ShareDeclined, &[("class", &address.class)]));
                if ui.button(lang.t(Key::ShareAfterAll)).clicked() {
                    self.agree(shared, lang);
                }
            }
            Some(s) => {
                let st = s.state();
                let paused = st.paused.load(Ordering::Relaxed);
                let connected = st.connected.load(Ordering::Relaxed);
                let (dot, what) = match (paused, connected) {
                    (true, _) => (theme::AMBER, lang.t(Key::Paused)),
                    (false, true) => (theme::RED, lang.t(Key::Sharing)),
                    (false, false) => (theme::RED, lang.t(Key::SharingReconnecting)),
                };
                let indicator = ui.label(RichText::new(format!("● {what}")).color(dot).strong());
                // Why it is reconnecting (broker unreachable, refused password, untrusted certificate).
                if !connected && let Some(why) = st.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                    indicator.on_hover_text(why);
                }
                ui.label(lang.fmt(
                    Key::ShareStatus,
                    &[
                        ("class", &address.class),
                        ("pseudonym", &s.pseudonym()),
                        ("delivered", &st.delivered.load(Ordering::Relaxed)),
                        ("waiting", &st.waiting.load(Ordering::Relaxed)),
                    ],
                ));
                if paused {
                    if ui.button(lang.t(Key::Resume)).clicked() {
                        s.resume();
                    }
                } else if ui.button(lang.t(Key::Pause)).on_hover_text(lang.t(Key::SharePauseHover)).clicked() {
                    s.pause();
                }
                if ui.button(lang.t(Key::StopSharing)).clicked() {
                    self.stop(shared);
                    self.declined = true;
                }
                if !shared.session.view().recording {
                    ui.label(RichText::new(lang.t(Key::SharingNeedsSession)).color(theme::AMBER));
                }
            }
        });
        if let Some((text, error)) = &self.last {
            let c = if *error { theme::RED } else { ui.visuals().weak_text_color() };
            ui.label(RichText::new(text).color(c));
        }
    }
}
