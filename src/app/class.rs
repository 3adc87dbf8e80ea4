//! The teacher's class window (`emotion-monitor class mqtt://HOST/CLASSCODE`): the class timeline fed by
//! students' shared seconds — mean engagement, state shares, emotion mix — students connected, markers.
//! Per-student lines are off by default, and no class figure is shown for a second that fewer than
//! `k` students reported. The class session is recorded like a local one while the window is open.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;
use egui::RichText;

use super::errors::Explain;
use super::theme;
use super::timeline_ui::{FaceLinesShown, MAX_POINTS, PlotData, timeline_ui};
use crate::i18n::{Key, Lang};
use crate::share::teacher::{HeadlessClass, LiveClass};
use crate::share::{StudentStatus, unix_now_f64};

/// Opens the class window; returns when it is closed (the class session is finished first).
pub fn run_class_window(opts: HeadlessClass, lang: Lang, screenshot: Option<PathBuf>) -> anyhow::Result<()> {
    let live = LiveClass::start(&opts)?;
    let title = format!("emotion-monitor — class {}", opts.address.class);
    super::run_native("emotion-monitor-class", &title, [1280.0, 760.0], [640.0, 420.0], move |_| {
        ClassApp::new(opts, live, lang, screenshot)
    })
}

pub(crate) struct ClassApp {
    opts: HeadlessClass,
    /// `None` once finished.
    live: Option<LiveClass>,
    data: PlotData,
    version: Option<u64>,
    show_students: bool,
    show_states: bool,
    hovered: Option<u64>,
    lang: Lang,
    marker: String,
    notice: Option<(String, bool)>,
    /// `--duration` (and `--screenshot`): when to save the picture, finish and close, as the main window does.
    exit: Option<super::ExitPlan>,
}

impl ClassApp {
    pub fn new(opts: HeadlessClass, live: LiveClass, lang: Lang, screenshot: Option<PathBuf>) -> Self {
        let opts_duration = opts.duration_s;
        Self {
            opts,
            live: Some(live),
            data: PlotData::default(),
            version: None,
            show_students: false,
            show_states: false,
            hovered: None,
            lang,
            marker: String::new(),
            notice: None,
            // Without --duration the window stays open: no screenshot is taken on a timer.
            exit: super::ExitPlan::new(opts_duration, opts_duration.and(screenshot)),
        }
    }

    /// Copies the class timeline into plot series when it changed (the recording runs on its own thread).
    fn poll(&mut self) {
        let Some(live) = self.live.as_mut() else { return };
        if let Some(e) = live.failed() {
            self.notice =
                Some((self.lang.fmt(Key::ClassRecordingStopped, &[("error", &e.message().text(self.lang))]), true));
        }
        if let Some(e) = live.mark_error() {
            self.notice = Some((self.lang.fmt(Key::MarkerNotSet, &[("error", &e.message().text(self.lang))]), true));
        }
        let view = live.view();
        let t = &view.timeline;
        let version = t.revision();
        if self.version != Some(version) {
            self.version = Some(version);
            self.data = super::timeline_ui::plot_data(t).decimated(MAX_POINTS);
        }
    }

    fn finish(&mut self) {
        if let Some(live) = self.live.take() {
            match live.finish(false) {
                Ok(s) => eprintln!("class session saved: {}", s.session.dir.display()),
                Err(e) => eprintln!("error: finishing the class session: {e}"),
            }
        }
    }

    pub fn ui_root(&mut self, ui: &mut egui::Ui) {
        let now = unix_now_f64();
        let Some(class) = self.live.as_ref() else { return };
        let rec = class.view();
        let lang = self.lang;
        let k = rec.min_students;
        let live = rec.connected_students(now);
        egui::Panel::top("class_top").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.heading(lang.fmt(Key::ClassTitle, &[("class", &self.opts.address.class)]));
                let (dot, text) = if rec.connected {
                    (theme::GREEN, lang.fmt(Key::ClassConnected, &[("address", &self.opts.address)]))
                } else {
                    let what = if rec.last_error.is_some() { Key::ErrClass } else { Key::ClassConnecting };
                    (theme::RED, format!("{}: {}", self.opts.address, lang.t(what)))
                };
                ui.label(RichText::new("●").color(dot));
                ui.label(text);
                // The broker's own words (unreachable, refused password, untrusted certificate), on hover.
                if !rec.connected
                    && let Some(why) = &rec.last_error
                {
                    super::notices::details_ui(ui, lang, why);
                }
                ui.separator();
                ui.label(RichText::new(lang.fmt(Key::StudentsConnected, &[("n", &live)])).strong());
            });
            if live < k {
                ui.label(
                    RichText::new(lang.fmt(Key::ClassGate, &[("k", &k), ("address", &self.opts.address)]))
                        .color(theme::AMBER),
                );
            }
            ui.horizontal(|ui| {
                let hint = lang.t(Key::MarkerHint);
                let r = ui.add(egui::TextEdit::singleline(&mut self.marker).hint_text(hint).desired_width(200.0));
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button(lang.t(Key::Mark)).clicked() || enter) && !self.marker.trim().is_empty() {
                    let name = std::mem::take(&mut self.marker);
                    if let Err(e) = class.mark(&name) {
                        self.notice = Some((lang.fmt(Key::MarkerNotSet, &[("error", &e.message().text(lang))]), true));
                    }
                }
                ui.separator();
                ui.checkbox(&mut self.show_students, lang.t(Key::PerStudentLines))
                    .on_hover_text(lang.t(Key::PerStudentLinesHover));
                ui.separator();
                ui.label(lang.fmt(Key::ClassSession, &[("path", &rec.dir.display())]));
            });
            if let Some((text, error)) = &self.notice {
                let c = if *error { theme::RED } else { ui.visuals().text_color() };
                ui.label(RichText::new(text).color(c));
            }
        });
        egui::Panel::right("class_students").resizable(true).default_size(200.0).show(ui, |ui| {
            ui.label(RichText::new(lang.t(Key::StudentsHeading)).strong());
            egui::ScrollArea::vertical().show(ui, |ui| {
                let mut students: Vec<_> = rec.students.iter().collect();
                students.sort_by_key(|s| s.number);
                for s in students {
                    let silent = now - s.last_heard > crate::share::teacher::SILENT_S;
                    let (c, what) = match s.status {
                        StudentStatus::Online if !silent => (theme::GREEN, Key::StudentOnline),
                        StudentStatus::Paused => (theme::AMBER, Key::StudentPaused),
                        StudentStatus::Left => (theme::GREY, Key::StudentLeft),
                        _ => (theme::RED, Key::StudentGone),
                    };
                    ui.horizontal(|ui| {
                        ui.label(RichText::new("●").color(c));
                        let status = lang.t(what);
                        let args: [(&str, &dyn std::fmt::Display); 4] = [
                            ("n", &s.number),
                            ("pseudonym", &s.pseudonym),
                            ("status", &status),
                            ("seconds", &s.seconds),
                        ];
                        ui.label(lang.fmt(Key::StudentRow, &args));
                    });
                }
            });
        });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(lang.t(Key::RightPlot));
                ui.radio_value(&mut self.show_states, false, lang.t(Key::EmotionMix));
                ui.radio_value(&mut self.show_states, true, lang.t(Key::EngagementStates));
            });
            let all: Vec<u64> = if self.show_students { self.data.faces.keys().copied().collect() } else { Vec::new() };
            // Students' lines are a switch here, not a click on a face: no "click a face" hint.
            let lines = FaceLinesShown { shown: &all, hidden: 0, selected: None, hovered: self.hovered };
            let (hovered, _) = timeline_ui(ui, self.lang, &self.data, &lines, self.show_states, "class");
            self.hovered = hovered;
        });
    }

    fn exit_step(&mut self, ctx: &egui::Context) {
        if self.exit.as_mut().is_some_and(|plan| plan.step(ctx, Instant::now())) {
            self.finish();
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

impl eframe::App for ClassApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll();
        self.ui_root(ui);
        let ctx = ui.ctx().clone();
        ctx.request_repaint_after(Duration::from_millis(500));
        self.exit_step(&ctx);
    }
}

impl Drop for ClassApp {
    fn drop(&mut self) {
        self.finish();
    }
}
