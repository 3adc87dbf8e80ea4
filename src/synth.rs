//! Generated test media: FER2013 faces pasted into larger frames, and videos made of such frames.
//!
//! Used by the integration tests, the benchmarks and the measurement scripts, so that every figure
//! comes from real faces in frames the pipeline has never seen, with known ground truth.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use image::{GrayImage, Rgb, RgbImage, imageops};

use crate::EMOTIONS;

/// The FER2013 root: `$FER2013_DIR`, `../shared/data/fer2013`, then `data/fer2013` (relative to the
/// working directory, then to the crate root).
pub(crate) fn dataset_root() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FER2013_DIR") {
        let p = PathBuf::from(p);
        return p.join("test").is_dir().then_some(p);
    }
    let crate_root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/data/fer2013", "data/fer2013"]
        .iter()
        .flat_map(|rel| [PathBuf::from(rel), crate_root.join(rel)])
        .find(|p| p.join("test").is_dir())
}

/// For tests: the dataset, or `None` after a loud skip message — and a panic when `CI=true`,
/// because in CI a missing dataset must fail, not pass silently.
pub fn dataset_or_skip(test: &str) -> Option<PathBuf> {
    match dataset_root() {
        Some(p) => Some(p),
        None => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: FER2013 not found (set FER2013_DIR or put it at ../shared/data/fer2013) — required in CI"
                );
            }
            eprintln!("\n*** SKIPPED {test}: FER2013 not found (set FER2013_DIR or ../shared/data/fer2013) ***\n");
            None
        }
    }
}

/// A labelled test face from the dataset.
pub struct LabelledFace {
    pub image: GrayImage,
    pub label: usize,
    pub path: PathBuf,
}

/// `per_class` test images of every class, taken at a fixed stride through the sorted file list
/// (deterministic, spread over both PublicTest_ and PrivateTest_).
pub fn test_faces(root: &Path, per_class: usize) -> std::io::Result<Vec<LabelledFace>> {
    split_faces(root, "test", per_class)
}

/// Like [`test_faces`] for any split (`train` for choices that must not be tuned on the test set).
pub fn split_faces(root: &Path, split: &str, per_class: usize) -> std::io::Result<Vec<LabelledFace>> {
    let mut out = Vec::new();
    for (label, name) in EMOTIONS.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(split).join(name))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
        files.sort();
        let stride = (files.len() / per_class.max(1)).max(1);
        for path in files.into_iter().step_by(stride).take(per_class) {
            let image = image::open(&path).map_err(std::io::Error::other)?.to_luma8();
            out.push(LabelledFace { image, label, path });
        }
    }
    Ok(out)
}

/// Deterministic xorshift generator (no `rand` dependency for test media).
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// Where a face was pasted: its box in the frame (the whole 48x48 crop, scaled).
#[derive(Debug, Clone, Copy)]
pub struct Pasted {
    pub x: u32,
    pub y: u32,
    pub size: u32,
}

/// A neutral, slightly textured background so the detector sees a plausible scene.
pub fn background(w: u32, h: u32, rng: &mut Rng) -> RgbImage {
    let base = rng.range(60.0, 180.0);
    RgbImage::from_fn(w, h, |x, y| {
        let v = base + 20.0 * ((x as f32 / 37.0).sin() * (y as f32 / 53.0).cos());
        let v = v.clamp(0.0, 255.0) as u8;
        Rgb([v, v.saturating_add(5), v.saturating_sub(5)])
    })
}

/// Pastes `face` (grey 48x48) scaled to `size` px at (x, y) into `frame`, as grey RGB.
pub fn paste(frame: &mut RgbImage, face: &GrayImage, at: Pasted) {
    let scaled = imageops::resize(face, at.size, at.size, imageops::FilterType::Triangle);
    for (dx, dy, p) in scaled.enumerate_pixels() {
        let (x, y) = (at.x + dx, at.y + dy);
        if x < frame.width() && y < frame.height() {
            frame.put_pixel(x, y, Rgb([p[0], p[0], p[0]]));
        }
    }
}

/// Non-overlapping random placements of `n` faces of `min..max` px in a `w`x`h` frame.
pub fn place(n: usize, w: u32, h: u32, min: u32, max: u32, rng: &mut Rng) -> Vec<Pasted> {
    let mut out: Vec<Pasted> = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < 10_000 {
        tries += 1;
        let size = rng.range(min as f32, max as f32 + 1.0) as u32;
        if size >= w || size >= h {
            continue;
        }
        let x = rng.range(0.0, (w - size) as f32) as u32;
        let y = rng.range(0.0, (h - size) as f32) as u32;
        let margin = size / 4;
        let clear = out.iter().all(|o| {
            x + size + margin <= o.x
                || o.x + o.size + margin <= x
                || y + size + margin <= o.y
                || o.y + o.size + margin <= y
        });
        if clear {
            out.push(Pasted { x, y, size });
        }
    }
    out
}

/// Writes an H.264 video of `frames` 640x480-style frames with the given faces drifting slowly,
/// through the ffmpeg CLI.
pub fn write_face_video(
    path: &Path,
    faces: &[&GrayImage],
    (w, h): (u32, u32),
    fps: u32,
    frames: u32,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = Rng::new(seed);
    // Webcam-like sizes: BlazeFace short-range wants faces of roughly a fifth of the frame or more.
    let (min, max) = match faces.len() {
        0..=1 => (180, 240),
        2..=4 => (170, 200),
        _ => (110, 130),
    };
    let places = place(faces.len(), w, h, min, max, &mut rng);
    let bg = background(w, h, &mut rng);
    let mut child = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{w}x{h}")])
        .args(["-r", &fps.to_string(), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"])
        // A keyframe every second, like a camera recording (and so a cut file still decodes).
        .args(["-g", &fps.to_string()])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| std::io::Error::other("ffmpeg stdin"))?;
    for f in 0..frames {
        let mut frame = bg.clone();
        for (i, (face, at)) in faces.iter().zip(&places).enumerate() {
            // A slow circular drift, different per face, so tracking has something to do.
            let phase = f as f32 / fps as f32 + i as f32;
            let dx = (phase.cos() * 6.0) as i32;
            let dy = (phase.sin() * 4.0) as i32;
            let x = (at.x as i32 + dx).clamp(0, (w - at.size) as i32) as u32;
            let y = (at.y as i32 + dy).clamp(0, (h - at.size) as i32) as u32;
            paste(&mut frame, face, Pasted { x, y, size: at.size });
        }
        stdin.write_all(frame.as_raw())?;
    }
    drop(stdin);
    let status = child.wait()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("ffmpeg failed writing {}", path.display())));
    }
    Ok(())
}
