//! `--screenshot` and `--exit-after`: when the window saves its own screenshot and closes (the
//! README's pictures, the Xvfb tests).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;

/// Without `--exit-after`, a screenshot is taken after this many seconds.
const SCREENSHOT_AFTER_S: f64 = 5.0;

/// What the screenshot callback reports: `Ok(path)` or the error.
type Saved = Arc<Mutex<Option<Result<PathBuf, String>>>>;

/// When to take the screenshot and close.
pub(crate) struct ExitPlan {
    deadline: Instant,
    screenshot: Option<PathBuf>,
    saved: Option<Saved>,
    closing: bool,
}

impl ExitPlan {
    /// A plan when either flag is given.
    pub fn new(exit_after_s: Option<f64>, screenshot: Option<PathBuf>) -> Option<Self> {
        let after = exit_after_s.or(screenshot.as_ref().map(|_| SCREENSHOT_AFTER_S))?;
        Some(Self {
            deadline: Instant::now() + Duration::from_secs_f64(after.max(0.0)),
            screenshot,
            saved: None,
            closing: false,
        })
    }

    /// Advances the plan by one frame: asks for the screenshot at the deadline, waits for the
    /// renderer to deliver it, saves it. True once, when the window should finish its session and close.
    pub fn step(&mut self, ctx: &egui::Context, now: Instant) -> bool {
        if self.closing {
            return false;
        }
        if now < self.deadline {
            ctx.request_repaint_after(self.deadline - now);
            return false;
        }
        match (self.screenshot.clone(), self.saved.clone()) {
            (Some(path), None) => {
                let slot: Saved = Arc::new(Mutex::new(None));
                self.saved = Some(slot.clone());
                let ctx2 = ctx.clone();
                ctx.request_screenshot(move |image| {
                    let result = save_png(&image, &path).map(|()| path.clone());
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                    ctx2.request_repaint();
                });
                return false;
            }
            (Some(_), Some(slot)) => {
                let done = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                match done {
                    Some(Ok(p)) => eprintln!("screenshot saved to {}", p.display()),
                    Some(Err(e)) => eprintln!("screenshot failed: {e}"),
                    None => {
                        // Still waiting for the renderer.
                        ctx.request_repaint_after(Duration::from_millis(50));
                        return false;
                    }
                }
            }
            (None, _) => {}
        }
        self.closing = true;
        true
    }
}

/// Writes an egui screenshot as PNG (also the class window's).
pub(crate) fn save_png(image: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_srgba_unmultiplied()).collect();
    let img = image::RgbaImage::from_raw(w as u32, h as u32, bytes).ok_or("screenshot has the wrong size")?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    img.save(path).map_err(|e| format!("{}: {e}", path.display()))
}
