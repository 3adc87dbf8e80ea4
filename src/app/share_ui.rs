//! The student's side of the class view in the window: an explicit opt-in (nothing is sent before the
//! student agrees), then a visible "sharing" indicator with the pseudonym, pause and stop.

use std::sync::atomic::Ordering;

use eframe::egui;
use egui::{Color32, RichText};

use super::live::Shared;
use crate::share::ClassAddress;
use crate::share::student::Sharer;

/// Sharing with a class (`window --share URL`).
pub struct ShareView {
    offered: Option<ClassAddress>,
    sharer: Option<Sharer>,
    declined: bool,
    /// What the last stop delivered (or why sharing could not start).
    last: Option<(String, bool)>,
}

impl ShareView {
    /// `offered`: the class from `--share`; `agree_now`: the student already agreed (`--share-now`).
    pub fn new(offered: Option<ClassAddress>, agree_now: bool, shared: &Shared) -> Self {
        let mut v = Self { offered, sharer: None, declined: false, last: None };
        if agree_now {
            v.agree(shared);
        }
        v
    }

    pub fn is_sharing(&self) -> bool {
        self.sharer.is_some()
    }

    pub fn pseudonym(&self) -> Option<&str> {
        self.sharer.as_ref().map(|s| s.pseudonym())
    }

    fn agree(&mut self, shared: &Shared) {
        let Some(address) = self.offered.clone() else { return };
        match Sharer::start(address) {
            Ok(s) => {
                shared.lock_session().set_share_sink(Some(s.seconds_sender()));
                self.sharer = Some(s);
                self.declined = false;
                self.last = None;
            }
            Err(e) => self.last = Some((format!("sharing could not start: {e}"), true)),
        }
    }

    /// Stops sharing (the window closing or the student's choice); waits briefly for the broker.
    pub fn stop(&mut self, shared: &Shared) {
        shared.lock_session().set_share_sink(None);
        if let Some(s) = self.sharer.take() {
            let report = s.stop();
            self.last = Some((report.to_string(), report.undelivered + report.dropped > 0));
        }
    }

    /// One row in the top panel; nothing when no class was offered.
    pub fn ui(&mut self, ui: &mut egui::Ui, shared: &Shared) {
        let Some(address) = self.offered.clone() else { return };
        ui.horizontal_wrapped(|ui| match &self.sharer {
            None if !self.declined => {
                ui.label(
                    RichText::new(format!(
                        "Class {} at {} asks for this session's per-second figures: presence, attention, \
                         engagement, state and mean emotions — never video, images or your name.",
                        address.class, address.host
                    ))
                    .strong(),
                );
                if ui.button("Share (under a random pseudonym)").clicked() {
                    self.agree(shared);
                }
                if ui.button("Don't share").clicked() {
                    self.declined = true;
                }
            }
            None => {
                ui.label(format!("Not sharing with class {}.", address.class));
                if ui.button("Share after all").clicked() {
                    self.agree(shared);
                }
            }
            Some(s) => {
                let st = s.state();
                let paused = st.paused.load(Ordering::Relaxed);
                let connected = st.connected.load(Ordering::Relaxed);
                let (dot, what) = match (paused, connected) {
                    (true, _) => (Color32::from_rgb(200, 140, 40), "paused"),
                    (false, true) => (Color32::from_rgb(220, 50, 50), "SHARING"),
                    (false, false) => (Color32::from_rgb(220, 50, 50), "SHARING (reconnecting…)"),
                };
                ui.label(RichText::new(format!("● {what}")).color(dot).strong());
                ui.label(format!(
                    "with class {} as {} — {} s delivered, {} waiting",
                    address.class,
                    s.pseudonym(),
                    st.delivered.load(Ordering::Relaxed),
                    st.waiting.load(Ordering::Relaxed)
                ));
                if paused {
                    if ui.button("Resume").clicked() {
                        s.resume();
                    }
                } else if ui.button("Pause").on_hover_text("Seconds during the pause are never sent.").clicked() {
                    s.pause();
                }
                if ui.button("Stop sharing").clicked() {
                    self.stop(shared);
                    self.declined = true;
                }
            }
        });
        if let Some((text, error)) = &self.last {
            let c = if *error { Color32::from_rgb(220, 80, 60) } else { ui.visuals().weak_text_color() };
            ui.label(RichText::new(text).color(c));
        }
    }
}
