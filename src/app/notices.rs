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
    /// The technical detail (English), shown on hovering "details".
    detail: Option<String>,
    at: Instant,
}

/// The latest notices, newest last.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    items: Vec<Notice>,
}

impl Notices {
    /// Adds a notice (and logs it).
    pub fn push(&mut self, text: String, error: bool) {
        self.push_detailed(text, error, None);
    }

    /// Adds a notice with its technical detail (logged, and shown when "details" is hovered).
    pub(crate) fn push_detailed(&mut self, text: String, error: bool, detail: Option<String>) {
        let detail = detail.filter(|d| !d.is_empty() && *d != text);
        if error {
            tracing::warn!("{text}{}", detail.as_ref().map(|d| format!(" — {d}")).unwrap_or_default());
        } else {
            tracing::info!("{text}");
        }
        self.items.push(Notice { text, error, detail, at: Instant::now() });
        if self.items.len() > MAX_NOTICES {
            self.items.remove(0);
        }
    }

    /// Shows the notices still current (`expire`: errors for 30 s, the rest for 8 s; else all).
    pub fn ui(&mut self, ui: &mut egui::Ui, lang: crate::i18n::Lang, expire: bool) {
        let now = Instant::now();
        self.items.retain(|n| {
            !expire || now.saturating_duration_since(n.at) < Duration::from_secs(if n.error { 30 } else { 8 })
        });
        for n in &self.items {
            let color = if n.error { theme::RED } else { ui.visuals().text_color() };
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(&n.text).color(color));
                if let Some(d) = &n.detail {
                    details_ui(ui, lang, d);
                }
            });
        }
    }
}

/// A small "details" label whose hover shows the technical text (the catalogue text stays the visible one).
pub(crate) fn details_ui(ui: &mut egui::Ui, lang: crate::i18n::Lang, detail: &str) {
    ui.label(RichText::new(format!("({})", lang.t(crate::i18n::Key::Details))).small().weak()).on_hover_text(detail);
}
