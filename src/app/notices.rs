//! The few lines under the window that say what just happened (export done, marker set) or went
//! wrong (in red, kept longer).

use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

use super::theme;

/// At most this many notices are shown; older ones make room.
const MAX_NOTICES: usize = 4;

#[derive(Debug, Clone)]
struct Notice {
    text: String,
    error: bool,
    at: Instant,
}

/// The latest notices, newest last.
#[derive(Debug, Default)]
pub struct Notices {
    items: Vec<Notice>,
}

impl Notices {
    /// Adds a notice (and logs it).
    pub fn push(&mut self, text: String, error: bool) {
        if error {
            tracing::warn!("{text}");
        } else {
            tracing::info!("{text}");
        }
        self.items.push(Notice { text, error, at: Instant::now() });
        if self.items.len() > MAX_NOTICES {
            self.items.remove(0);
        }
    }

    /// Shows the notices still current (`expire`: errors for 30 s, the rest for 8 s; else all).
    pub fn ui(&mut self, ui: &mut egui::Ui, expire: bool) {
        let now = Instant::now();
        self.items.retain(|n| {
            !expire || now.saturating_duration_since(n.at) < Duration::from_secs(if n.error { 30 } else { 8 })
        });
        for n in &self.items {
            let color = if n.error { theme::RED } else { ui.visuals().text_color() };
            ui.label(RichText::new(&n.text).color(color));
        }
    }
}
