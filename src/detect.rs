//! BlazeFace face detection through ONNX Runtime: pre-processing, SSD anchors, decoding, weighted NMS.
//!
//! The models are MediaPipe's short-range (128x128, 896 anchors) and full-range (192x192, 2304 anchors)
//! BlazeFace, converted to ONNX by `scripts/fetch_models.sh` (see `models/THIRD_PARTY.md`). Both take one
//! float32 NCHW RGB image scaled to [-1, 1] and return `regressors [1,N,16]` (box centre, size and six
//! keypoints, in input pixels relative to an anchor) and `scores [1,N,1]` (logits).
//!
//! The frame (or a tile of it) is letterboxed: resized keeping its aspect ratio and padded to the square
//! input. Every detection is mapped back to pixels of the original frame before NMS.

pub mod centerface;
pub mod scene;

use std::path::{Path, PathBuf};

use image::RgbImage;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};
use serde::{Deserialize, Serialize};

use crate::classify::ModelError;
use crate::geometry::{BBox, Point};
use crate::runtime::{self, Device, Provider};

/// A face found in a frame: box and six keypoints in frame pixels.
///
/// Keypoint order (MediaPipe): right eye, left eye, nose tip, mouth centre, right ear tragion,
/// left ear tragion — "right" is the subject's right, i.e. the left side of the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    pub keypoints: [Point; 6],
}

/// Raw scores are clipped to ±this before the sigmoid, as MediaPipe's tensors-to-detections calculator does.
pub(crate) const SCORE_CLIP: f32 = 100.0;

impl Detection {
    /// Every number finite and the box non-empty. A broken model or a decoder glitch can emit NaN or
    /// infinite values; such a detection is dropped where it is decoded (a NaN box overlaps nothing, not
    /// even itself, and would loop suppression forever).
    pub fn is_finite(&self) -> bool {
        let b = &self.bbox;
        [b.x, b.y, b.w, b.h, self.score].iter().all(|v| v.is_finite())
            && b.w > 0.0
            && b.h > 0.0
            && self.keypoints.iter().all(|p| p.x.is_finite() && p.y.is_finite())
    }
}

/// Options of MediaPipe's `SsdAnchorsCalculator` that matter for BlazeFace (fixed anchor size, offset 0.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AnchorConfig {
    /// Side of the square model input in pixels.
    pub input_size: u32,
    /// One stride per layer; consecutive layers with the same stride share one feature map.
    pub strides: &'static [u32],
    /// `interpolated_scale_aspect_ratio == 1.0`: two anchors per layer and cell instead of one.
    pub interpolated_scale: bool,
}

/// `face_detection_short_range.pbtxt`: 128 px, strides 8,16,16,16 → 16x16x2 + 8x8x6 = 896 anchors.
pub(crate) const SHORT_RANGE: AnchorConfig =
    AnchorConfig { input_size: 128, strides: &[8, 16, 16, 16], interpolated_scale: true };
/// `face_detection_full_range.pbtxt`: 192 px, one layer of stride 4, interpolated scale 0 → 48x48x1 = 2304 anchors.
pub(crate) const FULL_RANGE: AnchorConfig = AnchorConfig { input_size: 192, strides: &[4], interpolated_scale: false };

/// An anchor centre, normalised to [0, 1] of the model input. BlazeFace anchors all have size 1x1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub x: f32,
    pub y: f32,
}

/// SSD anchor centres in the order of the model's outputs (port of MediaPipe's `SsdAnchorsCalculator`
/// for fixed-size anchors).
pub(crate) fn anchors(config: &AnchorConfig) -> Vec<Anchor> {
    let mut out = Vec::new();
    let strides = config.strides;
    let mut layer = 0;
    while layer < strides.len() {
        let mut last = layer;
        let mut repeats = 0;
        while last < strides.len() && strides[last] == strides[layer] {
            repeats += if config.interpolated_scale { 2 } else { 1 };
            last += 1;
        }
        let fm = config.input_size.div_ceil(strides[layer]);
        for y in 0..fm {
            for x in 0..fm {
                let a = Anchor { x: (x as f32 + 0.5) / fm as f32, y: (y as f32 + 0.5) / fm as f32 };
                out.extend(std::iter::repeat_n(a, repeats));
            }
        }
        layer = last;
    }
    out
}

/// Sigmoid of a raw score, clipped to ±[`SCORE_CLIP`] first.
pub(crate) fn sigmoid_score(raw: f32) -> f32 {
    1.0 / (1.0 + (-raw.clamp(-SCORE_CLIP, SCORE_CLIP)).exp())
}

/// Decodes the raw model outputs into detections in model-input pixels (0..`input_size`).
///
/// `raw_boxes` holds 16 values per anchor: centre x, centre y, width, height, then six (x, y) keypoints,
/// all in input pixels, centres relative to the anchor. Anchors scoring below `min_score` and empty boxes
/// are dropped. The order of the result follows the anchors.
pub fn decode(
    raw_boxes: &[f32],
    raw_scores: &[f32],
    anchors: &[Anchor],
    input_size: f32,
    min_score: f32,
) -> Vec<Detection> {
    let mut out = Vec::new();
    for ((r, &s), a) in raw_boxes.chunks_exact(16).zip(raw_scores).zip(anchors) {
        let score = sigmoid_score(s);
        if !(score >= min_score) {
            continue; // also NaN
        }
        let (ax, ay) = (a.x * input_size, a.y * input_size);
        let (cx, cy, w, h) = (r[0] + ax, r[1] + ay, r[2], r[3]);
        if !(w > 0.0 && h > 0.0) {
            continue;
        }
        let keypoints = std::array::from_fn(|k| Point { x: r[4 + 2 * k] + ax, y: r[5 + 2 * k] + ay });
        let d = Detection { bbox: BBox { x: cx - w / 2.0, y: cy - h / 2.0, w, h }, score, keypoints };
        if d.is_finite() {
            out.push(d);
        }
    }
    out
}

/// MediaPipe's weighted non-maximum suppression: take the best remaining detection, blend every remaining
/// detection that overlaps it by more than `iou_threshold` (itself included) into one, weighted by score,
/// keep the best score. Returns the blended detections, best first.
pub(crate) fn weighted_nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.retain(Detection::is_finite);
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !dets.is_empty() {
        // `best` leaves the list whatever its overlaps, so every round shortens it.
        let best = dets.remove(0);
        let (mut cluster, rest): (Vec<Detection>, Vec<Detection>) =
            dets.into_iter().partition(|d| d.bbox.iou(&best.bbox) > iou_threshold);
        dets = rest;
        cluster.push(best.clone());
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        if total <= 0.0 {
            out.push(best);
            continue;
        }
        let mut bbox = BBox::default();
        let mut keypoints = [Point::default(); 6];
        for d in &cluster {
            let w = d.score / total;
            bbox.x += d.bbox.x * w;
            bbox.y += d.bbox.y * w;
            bbox.w += d.bbox.w * w;
            bbox.h += d.bbox.h * w;
            for (k, p) in keypoints.iter_mut().zip(&d.keypoints) {
                k.x += p.x * w;
                k.y += p.y * w;
            }
        }
        out.push(Detection { bbox, score: best.score, keypoints });
    }
    out
}

/// Two boxes of one face: IoU above this …
pub(crate) const SAME_FACE_IOU: f32 = 0.3;
/// … or this share of the smaller box inside the larger (a whole-frame box around a face a tile found).
pub(crate) const SAME_FACE_CONTAINMENT: f32 = 0.6;

/// Whether two boxes are the same face by [`SAME_FACE_IOU`] or [`SAME_FACE_CONTAINMENT`].
pub fn same_face(a: &BBox, b: &BBox) -> bool {
    a.iou(b) > SAME_FACE_IOU || a.containment(b) > SAME_FACE_CONTAINMENT
}

/// One box per face across tiles, scales and detectors: best score first, a detection is dropped when it
/// is [`same_face`] as one already kept. Unlike [`weighted_nms`] nothing is blended, so boxes from
/// different passes never average into a box that fits neither.
pub(crate) fn suppress_same_faces(mut dets: Vec<Detection>) -> Vec<Detection> {
    dets.retain(Detection::is_finite);
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        if !kept.iter().any(|k| same_face(&k.bbox, &d.bbox)) {
            kept.push(d);
        }
    }
    kept
}

/// A rectangle of the frame in whole pixels (a tile, or the whole frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// How a region of the frame maps onto the square model input: resized by `scale` keeping its aspect
/// ratio, centred, padded. `frame = input / scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub offset_x: f32,
    pub offset_y: f32,
}

impl Letterbox {
    pub fn new(region: Region, input_size: u32) -> Self {
        let s = input_size as f32;
        let scale = s / region.w.max(region.h).max(1) as f32;
        let pad_x = (s - region.w as f32 * scale) / 2.0;
        let pad_y = (s - region.h as f32 * scale) / 2.0;
        Self { scale, offset_x: region.x as f32 - pad_x / scale, offset_y: region.y as f32 - pad_y / scale }
    }

    pub(crate) fn frame_from_input(&self, p: Point) -> Point {
        Point { x: p.x / self.scale + self.offset_x, y: p.y / self.scale + self.offset_y }
    }

    #[cfg(test)]
    fn input_from_frame(&self, p: Point) -> Point {
        Point { x: (p.x - self.offset_x) * self.scale, y: (p.y - self.offset_y) * self.scale }
    }

    /// A detection in model-input pixels → the same detection in frame pixels.
    pub(crate) fn frame_from_input_detection(&self, d: &Detection) -> Detection {
        let tl = self.frame_from_input(Point { x: d.bbox.x, y: d.bbox.y });
        Detection {
            bbox: BBox { x: tl.x, y: tl.y, w: d.bbox.w / self.scale, h: d.bbox.h / self.scale },
            score: d.score,
            keypoints: d.keypoints.map(|p| self.frame_from_input(p)),
        }
    }
}

/// Fills `out` (NCHW, 3 x size x size, RGB in [-1, 1]) with `region` of `frame`, letterboxed.
///
/// Samples straight into the tensor (no intermediate image): bilinear when the region is shrunk by less
/// than 2x; otherwise the mean of a grid of point samples per input pixel (a box filter), so that small
/// faces do not alias away and a 640x480 frame costs well under a millisecond. The padding is black (-1),
/// as in MediaPipe's image-to-tensor conversion. Sampling never reads outside `region`.
pub fn letterbox_into(frame: &RgbImage, region: Region, input_size: u32, out: &mut Vec<f32>) -> Letterbox {
    let lb = Letterbox::new(region, input_size);
    let n = input_size as usize;
    out.clear();
    out.resize(3 * n * n, -1.0);
    let (fw, fh) = (frame.width() as usize, frame.height() as usize);
    let region = Region {
        x: region.x.min(fw as u32),
        y: region.y.min(fh as u32),
        w: region.w.min((fw as u32).saturating_sub(region.x)),
        h: region.h.min((fh as u32).saturating_sub(region.y)),
    };
    if region.w == 0 || region.h == 0 {
        return lb;
    }
    let raw = frame.as_raw();
    let step = 1.0 / lb.scale; // frame pixels per input pixel
    let plane = n * n;
    // Input pixels [lo, hi) along one axis that hold frame content.
    let span = |offset: f32, start: u32, len: u32| -> (usize, usize) {
        let lo = ((start as f32 - offset) * lb.scale).round().max(0.0) as usize;
        let hi = (((start + len) as f32 - offset) * lb.scale).round().min(n as f32) as usize;
        (lo, hi.max(lo))
    };
    let (u0, u1) = span(lb.offset_x, region.x, region.w);
    let (v0, v1) = span(lb.offset_y, region.y, region.h);
    if step >= 2.0 {
        let ss = (step / 2.0).ceil().min(4.0) as usize;
        // Point samples on an ss x ss grid inside each input pixel's footprint, as byte offsets.
        let taps = |p: usize, offset: f32, start: u32, len: u32, stride: usize, dst: &mut Vec<usize>| {
            for k in 0..ss {
                let c = (p as f32 + (k as f32 + 0.5) / ss as f32) * step + offset;
                dst.push((c.floor() as i64).clamp(start as i64, (start + len) as i64 - 1) as usize * stride);
            }
        };
        let mut xs = Vec::with_capacity((u1 - u0) * ss);
        for u in u0..u1 {
            taps(u, lb.offset_x, region.x, region.w, 3, &mut xs);
        }
        let norm = 1.0 / (127.5 * (ss * ss) as f32);
        let mut ys = Vec::with_capacity(ss);
        for v in v0..v1 {
            ys.clear();
            taps(v, lb.offset_y, region.y, region.h, fw * 3, &mut ys);
            for (u, cols) in (u0..u1).zip(xs.chunks_exact(ss)) {
                let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
                for &row in &ys {
                    for &col in cols {
                        let px = &raw[row + col..row + col + 3];
                        r += px[0] as u32;
                        g += px[1] as u32;
                        b += px[2] as u32;
                    }
                }
                let i = v * n + u;
                out[i] = r as f32 * norm - 1.0;
                out[plane + i] = g as f32 * norm - 1.0;
                out[2 * plane + i] = b as f32 * norm - 1.0;
            }
        }
    } else {
        // Bilinear, clamped to the region (its border pixels are replicated).
        let sample = |p: usize, offset: f32, start: u32, len: u32| -> (usize, usize, f32) {
            let c = ((p as f32 + 0.5) * step + offset - 0.5).clamp(start as f32, (start + len - 1) as f32);
            let i0 = c.floor() as usize;
            (i0, (i0 + 1).min((start + len - 1) as usize), c - i0 as f32)
        };
        let xs: Vec<(usize, usize, f32)> = (u0..u1).map(|u| sample(u, lb.offset_x, region.x, region.w)).collect();
        for v in v0..v1 {
            let (y0, y1, wy) = sample(v, lb.offset_y, region.y, region.h);
            let (row0, row1) = (y0 * fw * 3, y1 * fw * 3);
            for (u, &(x0, x1, wx)) in (u0..u1).zip(&xs) {
                let i = v * n + u;
                for ch in 0..3 {
                    let at = |row: usize, x: usize| raw[row + x * 3 + ch] as f32;
                    let top = at(row0, x0) * (1.0 - wx) + at(row0, x1) * wx;
                    let bot = at(row1, x0) * (1.0 - wx) + at(row1, x1) * wx;
                    out[ch * plane + i] = (top * (1.0 - wy) + bot * wy) / 127.5 - 1.0;
                }
            }
        }
    }
    lb
}

/// Square tiles of side `tile` covering a `w`x`h` frame with at least `overlap` pixels shared between
/// neighbours (tiles are clipped to the frame).
pub fn tiles(w: u32, h: u32, tile: u32, overlap: u32) -> Vec<Region> {
    let axis = |len: u32| -> Vec<(u32, u32)> {
        if len <= tile {
            return vec![(0, len)];
        }
        let stride = tile.saturating_sub(overlap).max(1);
        let count = (len - tile).div_ceil(stride) + 1;
        // Spread the tiles evenly so the overlap is the same everywhere.
        (0..count).map(|i| ((len - tile) as u64 * i as u64 / (count - 1) as u64) as u32).map(|s| (s, tile)).collect()
    };
    let (xs, ys) = (axis(w), axis(h));
    ys.iter().flat_map(|&(y, th)| xs.iter().map(move |&(x, tw)| Region { x, y, w: tw, h: th })).collect()
}

/// How the frame is fed to the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DetectMode {
    /// The whole frame, letterboxed once: fastest; right for one or a few people near the camera.
    #[default]
    Single,
    /// The whole frame plus overlapping square tiles of `tile`, 2x`tile`, 4x`tile`… pixels (a pyramid, up
    /// to the frame size): finds small faces (a video-call grid, a classroom) at one model run per tile —
    /// about 25 runs for a 1280x720 frame with 256 px tiles. With the short-range model, 256 px tiles find
    /// faces from about 50 px up.
    Tiled { tile: u32 },
}

/// Detector knobs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Minimum sigmoid score of a face.
    pub min_score: f32,
    /// IoU above which detections are blended into one.
    pub nms_iou: f32,
    pub mode: DetectMode,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { min_score: 0.5, nms_iou: 0.3, mode: DetectMode::Single }
    }
}

/// Which BlazeFace a model file is, told by its input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    ShortRange,
    FullRange,
}

impl ModelKind {
    pub(crate) fn anchor_config(self) -> AnchorConfig {
        match self {
            ModelKind::ShortRange => SHORT_RANGE,
            ModelKind::FullRange => FULL_RANGE,
        }
    }
}

/// A BlazeFace model, ready to find faces in RGB frames.
pub struct FaceDetector {
    session: Session,
    path: PathBuf,
    kind: ModelKind,
    input: String,
    regressors: String,
    scores: String,
    anchors: Vec<Anchor>,
    provider: Provider,
    config: DetectorConfig,
    /// Reused input tensor.
    buffer: Vec<f32>,
}

impl FaceDetector {
    /// Opens a BlazeFace ONNX model (short- or full-range) and checks that it is one.
    pub fn open(path: &Path, device: Device, threads: usize) -> Result<Self, ModelError> {
        let (session, provider) = runtime::open_session(path, device, threads)?;
        let contract = |problem: String| ModelError::Contract {
            path: path.to_path_buf(),
            problem: format!(
                "{problem} — this is not a BlazeFace face detector (expected input float32 [1,3,128,128] or \
                 [1,3,192,192] and outputs [1,N,16] + [1,N,1]; run `bash scripts/fetch_models.sh`)"
            ),
        };
        let shape = |t: &ort::value::ValueType| -> Option<Vec<i64>> {
            if t.tensor_type() != Some(TensorElementType::Float32) {
                return None;
            }
            t.tensor_shape().map(|s| s.iter().copied().collect())
        };
        if session.inputs().len() != 1 || session.outputs().len() != 2 {
            return Err(contract(format!(
                "it has {} inputs and {} outputs, not 1 and 2",
                session.inputs().len(),
                session.outputs().len()
            )));
        }
        let inp = &session.inputs()[0];
        let ishape = shape(inp.dtype()).ok_or_else(|| contract("its input is not a float32 tensor".into()))?;
        let kind = match ishape.as_slice() {
            [_, 3, 128, 128] => ModelKind::ShortRange,
            [_, 3, 192, 192] => ModelKind::FullRange,
            _ => return Err(contract(format!("its input has shape {ishape:?}"))),
        };
        let anchors = anchors(&kind.anchor_config());
        let n = anchors.len() as i64;
        let (mut regressors, mut scores) = (None, None);
        for o in session.outputs() {
            match shape(o.dtype()).as_deref() {
                Some([_, m, 16]) if *m == n => regressors = Some(o.name().to_string()),
                Some([_, m, 1]) if *m == n => scores = Some(o.name().to_string()),
                other => {
                    return Err(contract(format!(
                        "output `{}` has shape {other:?}, expected [1,{n},16] or [1,{n},1]",
                        o.name()
                    )));
                }
            }
        }
        let (Some(regressors), Some(scores)) = (regressors, scores) else {
            return Err(contract("it lacks a regressor or a score output".into()));
        };
        Ok(Self {
            input: inp.name().to_string(),
            session,
            path: path.to_path_buf(),
            kind,
            regressors,
            scores,
            anchors,
            provider,
            config: DetectorConfig::default(),
            buffer: Vec::new(),
        })
    }

    /// The execution provider this model runs on.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: DetectorConfig) {
        self.config = config;
    }

    /// Faces in `frame`, in frame pixels, best score first.
    pub fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Detection>, ModelError> {
        let (w, h) = frame.dimensions();
        let whole = Region { x: 0, y: 0, w, h };
        let mut found = self.detect_region(frame, whole)?;
        if let DetectMode::Tiled { tile } = self.config.mode {
            // Faces up to a quarter of a tile fit whole inside the overlap of some tile of that level; larger
            // faces are the next level's job, and partial faces cut by a tile's inner edges are dropped.
            let mut tile = tile.max(32);
            while tile < w.max(h) {
                for region in tiles(w, h, tile, tile / 4) {
                    let dets = self.detect_region(frame, region)?;
                    found.extend(dets.into_iter().filter(|d| keep_in_tile(d, region, w, h, tile as f32 / 4.0)));
                }
                tile *= 2;
            }
        }
        Ok(suppress_same_faces(weighted_nms(found, self.config.nms_iou)))
    }

    /// Looks for one face around each of `boxes` (a track's predicted box): the detector runs on a square
    /// region `context` times the box's longer side, centred on it, so a small face of a gallery tile or a
    /// room fills the model's input as a face near a webcam does. Per box, the best detection whose centre
    /// is within half the box's side of the box's centre and whose size is within 1.6x, else `None`.
    pub fn detect_around(
        &mut self,
        frame: &RgbImage,
        boxes: &[BBox],
        context: f32,
    ) -> Result<Vec<Option<Detection>>, ModelError> {
        let mut out = Vec::with_capacity(boxes.len());
        for b in boxes {
            let Some(region) = region_around(b, context, frame.dimensions()) else {
                out.push(None);
                continue;
            };
            let found = weighted_nms(self.detect_region(frame, region)?, self.config.nms_iou);
            out.push(best_near(found, b));
        }
        Ok(out)
    }

    fn detect_region(&mut self, frame: &RgbImage, region: Region) -> Result<Vec<Detection>, ModelError> {
        let size = self.kind.anchor_config().input_size;
        let lb = letterbox_into(frame, region, size, &mut self.buffer);
        let fail = |reason: String| ModelError::Inference { path: self.path.clone(), reason };
        let n = size as usize;
        let view = ndarray::ArrayView4::from_shape((1, 3, n, n), &self.buffer[..]).map_err(|e| fail(e.to_string()))?;
        let tensor = TensorRef::from_array_view(view).map_err(|e| fail(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| ModelError::Inference { path: self.path.clone(), reason: e.to_string() })?;
        let extract = |name: &str| {
            outputs[name]
                .try_extract_tensor::<f32>()
                .map(|(_, data)| data)
                .map_err(|e| ModelError::Inference { path: self.path.clone(), reason: e.to_string() })
        };
        let boxes = extract(&self.regressors)?;
        let scores = extract(&self.scores)?;
        if boxes.len() != self.anchors.len() * 16 || scores.len() != self.anchors.len() {
            return Err(ModelError::Inference {
                path: self.path.clone(),
                reason: format!(
                    "outputs hold {} and {} values for {} anchors",
                    boxes.len(),
                    scores.len(),
                    self.anchors.len()
                ),
            });
        }
        let dets = decode(boxes, scores, &self.anchors, size as f32, self.config.min_score);
        Ok(dets.iter().map(|d| lb.frame_from_input_detection(d)).collect())
    }
}

/// The square region `context` times `b`'s longer side around `b`'s centre, clipped to a `w`x`h` frame;
/// `None` when the box is not finite or lies outside the frame.
pub(crate) fn region_around(b: &BBox, context: f32, (w, h): (u32, u32)) -> Option<Region> {
    let c = b.center();
    let side = b.w.max(b.h) * context;
    if !(side.is_finite() && c.x.is_finite() && c.y.is_finite()) || side < 8.0 {
        return None;
    }
    let x0 = (c.x - side / 2.0).max(0.0);
    let y0 = (c.y - side / 2.0).max(0.0);
    let x1 = (c.x + side / 2.0).min(w as f32);
    let y1 = (c.y + side / 2.0).min(h as f32);
    if x1 - x0 < 8.0 || y1 - y0 < 8.0 {
        return None;
    }
    Some(Region { x: x0 as u32, y: y0 as u32, w: (x1 - x0) as u32, h: (y1 - y0) as u32 })
}

/// The detection most likely to be the face expected at `expected`: centre within half its side, size
/// within 1.6x; best score first, nearest centre on a tie.
pub(crate) fn best_near(found: Vec<Detection>, expected: &BBox) -> Option<Detection> {
    let c = expected.center();
    let side = expected.w.max(expected.h).max(1.0);
    found
        .into_iter()
        .filter(|d| {
            let dc = d.bbox.center();
            let dist = ((dc.x - c.x).powi(2) + (dc.y - c.y).powi(2)).sqrt();
            let ds = d.bbox.w.max(d.bbox.h).max(1.0);
            dist <= 0.5 * side && ds.max(side) / ds.min(side) < 1.6
        })
        .max_by(|a, b| {
            a.score.total_cmp(&b.score).then_with(|| {
                let da = (a.bbox.center().x - c.x).powi(2) + (a.bbox.center().y - c.y).powi(2);
                let db = (b.bbox.center().x - c.x).powi(2) + (b.bbox.center().y - c.y).powi(2);
                db.total_cmp(&da)
            })
        })
}

/// Whether a detection from a tile is whole and small enough to trust: not larger than `max_side`, and not
/// touching an edge of the tile that lies inside the frame (a neighbouring tile sees that face whole).
fn keep_in_tile(d: &Detection, t: Region, frame_w: u32, frame_h: u32, max_side: f32) -> bool {
    let b = &d.bbox;
    let margin = 2.0;
    let inner_left = t.x > 0 && b.x < t.x as f32 + margin;
    let inner_top = t.y > 0 && b.y < t.y as f32 + margin;
    let inner_right = t.x + t.w < frame_w && b.x + b.w > (t.x + t.w) as f32 - margin;
    let inner_bottom = t.y + t.h < frame_h && b.y + b.h > (t.y + t.h) as f32 - margin;
    b.w.max(b.h) <= max_side && !(inner_left || inner_top || inner_right || inner_bottom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, w: f32, score: f32) -> Detection {
        let kp = Point { x: x + w / 2.0, y: y + w / 2.0 };
        Detection { bbox: BBox { x, y, w, h: w }, score, keypoints: [kp; 6] }
    }

    #[test]
    fn anchor_counts_and_positions_match_mediapipe() {
        let short = anchors(&SHORT_RANGE);
        assert_eq!(short.len(), 896);
        // First layer: 16x16 cells, two anchors each, at cell centres.
        assert_eq!(short[0], Anchor { x: 0.5 / 16.0, y: 0.5 / 16.0 });
        assert_eq!(short[1], short[0]);
        assert_eq!(short[2], Anchor { x: 1.5 / 16.0, y: 0.5 / 16.0 });
        // Second group: 8x8 cells, six anchors each (three stride-16 layers x 2).
        assert_eq!(short[512], Anchor { x: 0.5 / 8.0, y: 0.5 / 8.0 });
        assert_eq!(short[517], short[512]);
        assert_eq!(short[518], Anchor { x: 1.5 / 8.0, y: 0.5 / 8.0 });
        assert_eq!(short[895], Anchor { x: 7.5 / 8.0, y: 7.5 / 8.0 });
        let full = anchors(&FULL_RANGE);
        assert_eq!(full.len(), 2304);
        assert_eq!(full[1], Anchor { x: 1.5 / 48.0, y: 0.5 / 48.0 });
        assert_eq!(full[2303], Anchor { x: 47.5 / 48.0, y: 47.5 / 48.0 });
    }

    #[test]
    fn sigmoid_is_clipped_and_centred() {
        assert_eq!(sigmoid_score(0.0), 0.5);
        assert!(sigmoid_score(1e9).is_finite() && sigmoid_score(1e9) > 0.999);
        assert!(sigmoid_score(-1e9) >= 0.0 && sigmoid_score(-1e9) < 1e-30);
        assert!((sigmoid_score(2.0) - 0.880_797).abs() < 1e-5);
    }

    #[test]
    fn decode_places_box_and_keypoints_relative_to_the_anchor() {
        let anchors = [Anchor { x: 0.25, y: 0.5 }, Anchor { x: 0.75, y: 0.75 }];
        let mut raw = [0.0f32; 32];
        // Anchor 0: centre moved by (+4, -2) px, 20x30 box, right eye at (-5, -6) from the anchor.
        raw[..6].copy_from_slice(&[4.0, -2.0, 20.0, 30.0, -5.0, -6.0]);
        let scores = [3.0, -3.0]; // the second anchor is below 0.5
        let d = decode(&raw, &scores, &anchors, 128.0, 0.5);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert!((d.score - sigmoid_score(3.0)).abs() < 1e-6);
        assert_eq!(d.bbox, BBox { x: 32.0 + 4.0 - 10.0, y: 64.0 - 2.0 - 15.0, w: 20.0, h: 30.0 });
        assert_eq!(d.keypoints[0], Point { x: 27.0, y: 58.0 });
        assert_eq!(d.keypoints[1], Point { x: 32.0, y: 64.0 });
        // Boxes of zero size are not faces.
        let d = decode(&[0.0; 16], &[5.0], &anchors[..1], 128.0, 0.5);
        assert!(d.is_empty());
    }

    #[test]
    fn weighted_nms_blends_overlaps_and_keeps_separate_faces() {
        let dets = vec![det(0.0, 0.0, 10.0, 0.9), det(2.0, 0.0, 10.0, 0.3), det(50.0, 50.0, 10.0, 0.8)];
        let out = weighted_nms(dets, 0.3);
        assert_eq!(out.len(), 2);
        // Blended: x = (0*0.9 + 2*0.3) / 1.2 = 0.5, score of the best.
        assert!((out[0].bbox.x - 0.5).abs() < 1e-5, "{:?}", out[0].bbox);
        assert_eq!(out[0].score, 0.9);
        assert!((out[0].keypoints[0].x - 5.5).abs() < 1e-5);
        assert_eq!(out[1].bbox, BBox { x: 50.0, y: 50.0, w: 10.0, h: 10.0 });
        assert!(weighted_nms(Vec::new(), 0.3).is_empty());
        // Below the IoU threshold nothing is blended.
        assert_eq!(weighted_nms(vec![det(0.0, 0.0, 10.0, 0.9), det(6.0, 0.0, 10.0, 0.8)], 0.3).len(), 2);
    }

    #[test]
    fn the_region_around_a_box_is_square_centred_and_clipped() {
        let r = region_around(&BBox { x: 100.0, y: 100.0, w: 40.0, h: 50.0 }, 2.0, (640, 480)).unwrap();
        assert_eq!(r, Region { x: 70, y: 75, w: 100, h: 100 });
        // Near the corner: clipped to the frame.
        let r = region_around(&BBox { x: 0.0, y: 0.0, w: 40.0, h: 40.0 }, 3.0, (640, 480)).unwrap();
        assert_eq!(r, Region { x: 0, y: 0, w: 80, h: 80 });
        assert!(region_around(&BBox { x: 700.0, y: 10.0, w: 40.0, h: 40.0 }, 2.0, (640, 480)).is_none());
        assert!(region_around(&BBox { x: f32::NAN, y: 10.0, w: 40.0, h: 40.0 }, 2.0, (640, 480)).is_none());
    }

    #[test]
    fn best_near_takes_the_expected_face_not_a_neighbour() {
        let expected = BBox { x: 100.0, y: 100.0, w: 40.0, h: 40.0 };
        // A neighbour scoring higher but a box away, one of the wrong size, and the face itself.
        let found = vec![det(150.0, 100.0, 40.0, 0.95), det(100.0, 100.0, 90.0, 0.9), det(106.0, 98.0, 38.0, 0.7)];
        assert_eq!(best_near(found, &expected).unwrap().bbox.x, 106.0);
        assert!(best_near(vec![det(150.0, 100.0, 40.0, 0.95)], &expected).is_none());
    }

    #[test]
    fn non_finite_detections_are_dropped_and_never_loop_suppression() {
        let nan = det(f32::NAN, 0.0, 10.0, 0.9);
        let inf = det(0.0, 0.0, f32::INFINITY, 0.8);
        let mut nan_kp = det(50.0, 50.0, 10.0, 0.7);
        nan_kp.keypoints[3].y = f32::NAN;
        let good = det(100.0, 100.0, 10.0, 0.6);
        let all = vec![nan.clone(), inf.clone(), nan_kp.clone(), good.clone(), det(0.0, 0.0, 10.0, f32::NAN)];
        // Before the fix a NaN box never left the list: these calls did not return.
        assert_eq!(weighted_nms(all.clone(), 0.3), vec![good.clone()]);
        assert_eq!(suppress_same_faces(all), vec![good]);
        // The decoder drops non-finite raw values: a NaN score, a NaN centre, an infinite width, a NaN keypoint.
        let anchors = anchors(&SHORT_RANGE);
        let mut boxes = vec![0.0f32; 16 * anchors.len()];
        let mut scores = vec![-50.0f32; anchors.len()];
        for (i, (r, v)) in
            [(0usize, f32::NAN), (1, f32::NAN), (2, f32::INFINITY), (7, f32::NAN)].into_iter().enumerate()
        {
            let a = &mut boxes[16 * i..16 * i + 16];
            a[2] = 10.0;
            a[3] = 10.0;
            a[r] = v;
            scores[i] = 5.0;
        }
        scores[4] = f32::NAN;
        boxes[16 * 4 + 2] = 10.0;
        boxes[16 * 4 + 3] = 10.0;
        assert!(decode(&boxes, &scores, &anchors, 128.0, 0.5).is_empty());
    }

    #[test]
    fn one_box_per_face_across_scales_and_detectors() {
        // A large low-score box from the whole-frame pass around a face a tile found, a shifted duplicate,
        // and two neighbours in a gallery that touch but are different faces.
        let dets = vec![
            det(100.0, 100.0, 40.0, 0.9),
            det(80.0, 80.0, 160.0, 0.55),
            det(104.0, 102.0, 40.0, 0.7),
            det(141.0, 100.0, 40.0, 0.8),
            det(300.0, 100.0, 40.0, 0.6),
        ];
        let kept = suppress_same_faces(dets);
        let xs: Vec<f32> = kept.iter().map(|d| d.bbox.x).collect();
        assert_eq!(xs, vec![100.0, 141.0, 300.0], "{kept:?}");
        assert!(suppress_same_faces(Vec::new()).is_empty());
        // A small box inside a large box is the same face, whichever scores higher.
        let kept = suppress_same_faces(vec![det(80.0, 80.0, 160.0, 0.95), det(100.0, 100.0, 40.0, 0.6)]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].bbox.w, 160.0);
    }

    #[test]
    fn letterbox_maps_input_pixels_back_to_the_frame() {
        // 640x480 into 128: scale 0.2, content 128x96, 16 px of padding above and below.
        let lb = Letterbox::new(Region { x: 0, y: 0, w: 640, h: 480 }, 128);
        assert!((lb.scale - 0.2).abs() < 1e-6);
        let p = lb.frame_from_input(Point { x: 64.0, y: 16.0 });
        assert!((p.x - 320.0).abs() < 1e-3 && p.y.abs() < 1e-3, "{p:?}");
        let p = lb.frame_from_input(Point { x: 128.0, y: 112.0 });
        assert!((p.x - 640.0).abs() < 1e-3 && (p.y - 480.0).abs() < 1e-3, "{p:?}");
        // A portrait tile at (100, 200): padding on the left and right instead.
        let lb = Letterbox::new(Region { x: 100, y: 200, w: 100, h: 200 }, 128);
        let p = lb.frame_from_input(Point { x: 32.0, y: 0.0 });
        assert!((p.x - 100.0).abs() < 1e-3 && (p.y - 200.0).abs() < 1e-3, "{p:?}");
        let q = lb.input_from_frame(lb.frame_from_input(Point { x: 7.0, y: 99.0 }));
        assert!((q.x - 7.0).abs() < 1e-3 && (q.y - 99.0).abs() < 1e-3);
        let d = lb.frame_from_input_detection(&det(32.0, 64.0, 64.0, 0.7));
        assert!((d.bbox.w - 100.0).abs() < 1e-3 && (d.bbox.x - 100.0).abs() < 1e-3 && (d.bbox.y - 300.0).abs() < 1e-3);
        assert!((d.keypoints[3].x - 150.0).abs() < 1e-3 && (d.keypoints[3].y - 350.0).abs() < 1e-3);
    }

    #[test]
    fn letterbox_tensor_holds_the_frame_centred_and_black_padding() {
        // A 64x32 frame, left half red, right half blue, into a 16x16 input: rows 0..4 and 12..16 are padding.
        let frame =
            RgbImage::from_fn(64, 32, |x, _| if x < 32 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) });
        let mut buf = Vec::new();
        letterbox_into(&frame, Region { x: 0, y: 0, w: 64, h: 32 }, 16, &mut buf);
        assert_eq!(buf.len(), 3 * 256);
        let px = |c: usize, x: usize, y: usize| buf[c * 256 + y * 16 + x];
        assert_eq!(px(0, 3, 1), -1.0);
        assert_eq!(px(2, 12, 14), -1.0);
        assert!((px(0, 3, 8) - 1.0).abs() < 1e-5 && (px(2, 3, 8) + 1.0).abs() < 1e-5);
        assert!((px(2, 12, 8) - 1.0).abs() < 1e-5 && (px(0, 12, 8) + 1.0).abs() < 1e-5);
        // Sampling never reads outside a tile: a tile of the red half stays red everywhere.
        letterbox_into(&frame, Region { x: 0, y: 0, w: 32, h: 32 }, 16, &mut buf);
        assert!((0..256).all(|i| (buf[i] - 1.0).abs() < 1e-5 && (buf[512 + i] + 1.0).abs() < 1e-5));
    }

    #[test]
    fn tiles_cover_the_frame_with_overlap() {
        let t = tiles(1280, 720, 320, 80);
        assert!(t.iter().all(|r| r.x + r.w <= 1280 && r.y + r.h <= 720 && r.w == 320 && r.h == 320));
        let xs: Vec<u32> = t.iter().filter(|r| r.y == 0).map(|r| r.x).collect();
        assert_eq!(*xs.first().unwrap(), 0);
        assert_eq!(*xs.last().unwrap(), 960);
        assert!(xs.windows(2).all(|w| w[1] - w[0] <= 240));
        assert_eq!(tiles(100, 50, 320, 80), vec![Region { x: 0, y: 0, w: 100, h: 50 }]);
    }

    #[test]
    fn tile_detections_on_inner_edges_are_dropped() {
        let tile = Region { x: 240, y: 0, w: 320, h: 320 };
        assert!(keep_in_tile(&det(300.0, 100.0, 50.0, 0.9), tile, 1280, 720, 80.0));
        assert!(!keep_in_tile(&det(241.0, 100.0, 50.0, 0.9), tile, 1280, 720, 80.0));
        assert!(!keep_in_tile(&det(300.0, 100.0, 90.0, 0.9), tile, 1280, 720, 80.0));
        // The top edge is the frame's edge: a face there is kept.
        assert!(keep_in_tile(&det(300.0, 0.0, 50.0, 0.9), tile, 1280, 720, 80.0));
    }
}
