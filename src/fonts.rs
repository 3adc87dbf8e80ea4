//! Fonts for Korean text: one Hangul-capable font, found once, used as egui's fallback for all text
//! in the window and as the font of `report.png`.
//!
//! The font is not shipped in the repository: `scripts/setup.sh` installs Debian's `fonts-nanum`
//! (NanumGothic, SIL Open Font License 1.1), and the program looks for it — or for another Hangul
//! font — when it first needs one. Without any, everything still works in Latin letters: the window
//! keeps egui's own fonts, the report falls back to egui's built-in Ubuntu Light, Hangul shows as
//! boxes, and one warning says what to install.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef};
use eframe::egui;

/// A font file to use instead of the ones searched for (a `.ttf`, `.otf` or `.ttc` with Hangul). When set,
/// it is the only candidate: a wrong path gives Latin-only text and the warning, not some other font.
pub(crate) const FONT_ENV: &str = "EMOTION_MONITOR_FONT";

/// The name the Hangul font is registered under in egui.
pub(crate) const EGUI_FONT_NAME: &str = "hangul";

/// A character every Hangul font has: the test that a file really covers Korean.
const HANGUL_PROBE: char = '한';

/// How to get a Hangul font on this platform.
#[cfg(windows)]
const INSTALL_FONT: &str = "Add Windows' Korean fonts (Settings → Apps → Optional features → Korean Supplemental Fonts), \
     or set EMOTION_MONITOR_FONT=C:\\path\\to\\font.ttf";
#[cfg(not(windows))]
const INSTALL_FONT: &str =
    "Install one with `bash scripts/setup.sh` (Debian's fonts-nanum), or set EMOTION_MONITOR_FONT=/path/to/font.ttf";

/// Where Hangul fonts live: `$EMOTION_MONITOR_FONT` alone when set; else Debian's `fonts-nanum` (what
/// setup.sh installs), Debian's `fonts-noto-cjk`, then the font macOS comes with (untested here). On Windows:
/// Malgun Gothic (every Windows since Vista), then Gulim, in the Windows folder's Fonts. The number is the face
/// within a collection (`.ttc`).
pub fn candidates() -> Vec<(PathBuf, u32)> {
    if let Some(p) = std::env::var_os(FONT_ENV) {
        return vec![(PathBuf::from(p), 0)];
    }
    #[cfg(windows)]
    let paths: Vec<PathBuf> = {
        let windows = std::env::var_os("WINDIR").map_or_else(|| PathBuf::from("C:\\Windows"), PathBuf::from);
        ["malgun.ttf", "gulim.ttc"].iter().map(|f| windows.join("Fonts").join(f)).collect()
    };
    #[cfg(not(windows))]
    let paths: Vec<PathBuf> = [
        "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/System/Library/Fonts/AppleSDGothicNeo.ttc",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    paths.into_iter().map(|p| (p, 0)).collect()
}

/// A font file that draws Hangul, read into memory.
#[derive(Debug)]
pub struct HangulFont {
    pub path: PathBuf,
    pub data: Vec<u8>,
    /// Face within the file (0 unless a collection).
    pub index: u32,
}

impl HangulFont {
    /// Reads `path` and checks that face `index` parses and has Hangul; says why not otherwise.
    pub fn load(path: &Path, index: u32) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        let font = FontRef::try_from_slice_and_index(&data, index).map_err(|e| format!("not a font: {e}"))?;
        if font.glyph_id(HANGUL_PROBE).0 == 0 {
            return Err("this font has no Hangul".to_string());
        }
        Ok(Self { path: path.to_path_buf(), data, index })
    }
}

/// The first of `candidates` that loads; unusable files that exist are logged with the reason.
pub(crate) fn load_first(candidates: &[(PathBuf, u32)]) -> Option<HangulFont> {
    candidates.iter().find_map(|(path, index)| match HangulFont::load(path, *index) {
        Ok(f) => Some(f),
        Err(why) => {
            if path.exists() {
                tracing::warn!("font {}: {why}; looking further", path.display());
            }
            None
        }
    })
}

/// The Hangul font of this process, searched for once ([`candidates`]); `None`, with one warning
/// saying what to do, when there is none.
pub fn hangul_font() -> Option<&'static HangulFont> {
    static FONT: OnceLock<Option<HangulFont>> = OnceLock::new();
    FONT.get_or_init(|| {
        let found = load_first(&candidates());
        match &found {
            Some(f) => tracing::info!("Hangul font: {}", f.path.display()),
            None => tracing::warn!(
                "no Hangul font found (looked for {}): Korean text (markers, file names) shows as boxes in the window \
                 and the report. {INSTALL_FONT}",
                candidates().iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
        found
    })
    .as_ref()
}

/// Adds the Hangul font to egui as the last fallback of both families, so every label, text field
/// and plot can show Korean; egui's own fonts stay first for Latin text. Returns whether a font was
/// installed (without one the window keeps working, with boxes for Hangul).
pub fn install_egui_fallback(ctx: &egui::Context) -> bool {
    let Some(font) = hangul_font() else { return false };
    let mut data = egui::FontData::from_static(&font.data);
    data.index = font.index;
    let families = [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
        .map(|family| egui::InsertFontFamily { family, priority: egui::FontPriority::Lowest });
    ctx.add_font(egui::FontInsert::new(EGUI_FONT_NAME, data, families.to_vec()));
    true
}

/// The font `report.png` is drawn with: the Hangul font (it has Latin letters too), else egui's
/// built-in Ubuntu Light, which has Latin letters only.
pub fn report_font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        hangul_font().and_then(|f| FontRef::try_from_slice_and_index(&f.data, f.index).ok()).unwrap_or_else(latin_font)
    })
}

/// egui's built-in Latin font (compiled into the program, so it is always there).
pub(crate) fn latin_font() -> FontRef<'static> {
    FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).expect("egui's built-in font parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_wrong_font_file_is_passed_over() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let not_a_font = dir.join("x.ttf");
        std::fs::write(&not_a_font, b"not a font").unwrap();
        let latin_only = dir.join("ubuntu.ttf");
        std::fs::write(&latin_only, epaint_default_fonts::UBUNTU_LIGHT).unwrap();
        let cands = [(dir.join("missing.ttf"), 0), (not_a_font, 0), (latin_only.clone(), 0)];
        assert!(load_first(&cands).is_none());
        assert!(HangulFont::load(&latin_only, 0).unwrap_err().contains("no Hangul"));
    }

    #[test]
    fn the_hangul_font_becomes_egui_s_fallback_for_all_text() {
        if hangul_font().is_none() {
            // Without fonts-nanum the window still works (boxes for Hangul); CI has the font.
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI=true but no Hangul font is installed");
            eprintln!("SKIPPED: no Hangul font installed (bash scripts/setup.sh installs fonts-nanum)");
            return;
        }
        let has = |ctx: &egui::Context, family: egui::FontFamily| {
            let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
            ctx.fonts_mut(|f| f.has_glyphs(&egui::FontId::new(14.0, family), "퀴즈 시작 3주차"))
        };
        let plain = egui::Context::default();
        assert!(!has(&plain, egui::FontFamily::Proportional), "egui's own fonts have no Hangul");
        let ctx = egui::Context::default();
        assert!(install_egui_fallback(&ctx));
        assert!(has(&ctx, egui::FontFamily::Proportional));
        assert!(has(&ctx, egui::FontFamily::Monospace));
        // A fallback: Latin text keeps egui's own font first.
        let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
        let families = ctx.fonts(|f| f.definitions().families.clone());
        let proportional = &families[&egui::FontFamily::Proportional];
        assert_eq!(proportional.last().map(String::as_str), Some(EGUI_FONT_NAME));
        assert_ne!(proportional.first().map(String::as_str), Some(EGUI_FONT_NAME));
    }

    #[test]
    fn the_latin_fallback_draws_latin_only() {
        let f = latin_font();
        assert_ne!(f.glyph_id('a').0, 0);
        assert_eq!(f.glyph_id('퀴').0, 0);
    }
}
