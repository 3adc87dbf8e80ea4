//! The central panel: the newest analysed frame as one texture, with each face's box, ID,
//! emotion and confidence drawn over it. Clicking a face selects it; clicking elsewhere clears.

use eframe::egui;
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, TextureHandle, TextureOptions, Vec2};

use super::live::LiveFrame;
/// Kept here for callers of the overlay's colours; the palette is [`super::theme`].
pub use super::theme::EMOTION_COLORS;
use crate::i18n::{Key, Lang};
use crate::pipeline::FrameResult;
use crate::track::TrackedFace;

/// The video texture and the result drawn over it.
#[derive(Default)]
pub(crate) struct VideoView {
    /// Updated in place for every new frame (one texture for the whole session).
    texture: Option<TextureHandle>,
    result: Option<FrameResult>,
    analysed: bool,
}

impl VideoView {
    /// Uploads the frame's picture and keeps its result for the overlay.
    pub(crate) fn set_frame(&mut self, ctx: &egui::Context, frame: LiveFrame) {
        let image = egui::ImageData::Color(frame.image);
        match &mut self.texture {
            Some(t) => t.set(image, TextureOptions::LINEAR),
            None => self.texture = Some(ctx.load_texture("video", image, TextureOptions::LINEAR)),
        }
        self.result = Some(frame.result);
        self.analysed = frame.analysed;
    }

    pub fn faces(&self) -> &[TrackedFace] {
        self.result.as_ref().map_or(&[], |r| r.faces.as_slice())
    }

    /// Forgets the picture (a new source was opened).
    pub fn clear(&mut self) {
        self.result = None;
    }

    /// Draws the frame scaled to fit, and the overlay. `selected` is the clicked face, if any.
    pub fn ui(&mut self, ui: &mut egui::Ui, lang: Lang, selected: &mut Option<u64>) {
        let (Some(texture), Some(result)) = (&self.texture, &self.result) else {
            ui.centered_and_justified(|ui| ui.spinner());
            return;
        };
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click());
        let image_rect = fit_rect(rect, texture.size_vec2());
        let painter = ui.painter_at(rect);
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        painter.image(texture.id(), image_rect, uv, Color32::WHITE);
        let (frame_width, _) = result.frame_size;
        let scale = image_rect.width() / frame_width.max(1) as f32;

        let screen_box = |f: &TrackedFace| {
            let b = f.bbox();
            Rect::from_min_size(image_rect.min + Vec2::new(b.x, b.y) * scale, Vec2::new(b.w, b.h) * scale)
        };
        for face in &result.faces {
            let r = screen_box(face);
            // Attention-only mode: one neutral colour, since there is no emotion to colour by.
            let color = face.emotion().map_or(Color32::LIGHT_GRAY, |e| EMOTION_COLORS[e]);
            let is_selected = *selected == Some(face.id);
            let width = if is_selected { 4.0 } else { 2.0 };
            painter.rect_stroke(r, 2.0, Stroke::new(width, color), StrokeKind::Outside);
            let label = face_label(lang, face);
            let font = FontId::proportional(14.0);
            let galley = painter.layout_no_wrap(label, font, Color32::BLACK);
            // Above the box, or inside its top edge when there is no room above.
            let above = r.min.y - galley.size().y - 2.0 >= image_rect.min.y;
            let pos =
                if above { Pos2::new(r.min.x, r.min.y - galley.size().y - 2.0) } else { r.min + Vec2::splat(2.0) };
            let bg = Rect::from_min_size(pos, galley.size()).expand(2.0);
            painter.rect_filled(bg, 2.0, color);
            painter.galley(pos, galley, Color32::BLACK);
        }
        if !self.analysed {
            painter.text(
                image_rect.left_top() + Vec2::splat(8.0),
                Align2::LEFT_TOP,
                lang.t(Key::NoAnalysisOverlay),
                FontId::proportional(16.0),
                super::theme::RED,
            );
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            *selected = result.faces.iter().find(|f| screen_box(f).contains(pos)).map(|f| f.id);
        }
    }
}

/// "#3 happy 87%" / "#3 기쁨 87%": ID, the smoothed top emotion, and its probability; only "#3" in
/// attention-only mode.
pub(crate) fn face_label(lang: Lang, face: &TrackedFace) -> String {
    match (face.emotion(), face.smoothed) {
        (Some(e), Some(p)) => format!("#{} {} {:.0}%", face.id, lang.emotion(e), p[e] * 100.0),
        _ => format!("#{}", face.id),
    }
}

/// The largest rect of `size`'s aspect ratio centred in `outer`.
pub(crate) fn fit_rect(outer: Rect, size: Vec2) -> Rect {
    if size.x <= 0.0 || size.y <= 0.0 {
        return outer;
    }
    let scale = (outer.width() / size.x).min(outer.height() / size.y);
    Rect::from_center_size(outer.center(), size * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_centres() {
        let outer = Rect::from_min_size(Pos2::ZERO, Vec2::new(800.0, 300.0));
        let r = fit_rect(outer, Vec2::new(640.0, 480.0));
        assert!((r.height() - 300.0).abs() < 1e-3);
        assert!((r.width() - 400.0).abs() < 1e-3);
        assert!((r.center().x - 400.0).abs() < 1e-3);
    }
}
