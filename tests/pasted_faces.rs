//! Proves the framing: FER2013 test faces pasted into 640x480 frames, found by the detector, cropped
//! like FER2013 and classified, must be recognised about as well as the dataset's own 48x48 crops of
//! the same faces. Also measures whether levelling the eyes helps (FER2013's faces are not levelled).
//!
//! Needs the dataset (`synth::dataset_or_skip`) and the models in `pipeline::models_dir()` (set
//! `EMOTION_MONITOR_MODELS` to try another emotion model). Prints a table for the README; run with
//! `cargo test --release --test pasted_faces -- --nocapture`.

use std::path::Path;

use emotion_monitor::EMOTIONS;
use emotion_monitor::classify::{CROP, Classifier, ModelError, argmax};
use emotion_monitor::crop::{CropGeometry, crop_geometry, fer_crop, sample_square};
use emotion_monitor::detect::{Detection, FaceDetector};
use emotion_monitor::geometry::{BBox, Point};
use emotion_monitor::pipeline::models_dir;
use emotion_monitor::runtime::{Device, RuntimeError};
use emotion_monitor::synth::{self, Rng};
use image::GrayImage;

const PER_CLASS: usize = 100;
const FRAME: (u32, u32) = (640, 480);
/// Side of the pasted 48x48 image in the frame: webcam-like faces for the short-range detector.
const SIZES: (u32, u32) = (150, 260);

/// Minimum share of pasted faces the detector must find.
const MIN_RECALL: f64 = 0.85;
/// Largest allowed drop (accuracy points) from the dataset's crops to the pipeline's, same faces.
const MAX_GAP: f64 = 0.05;

fn skip_or_fail(why: &str) {
    assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI=true but {why}");
    eprintln!("\n*** SKIPPED pasted_faces: {why} ***\n");
}

/// Opens a model, or `None` after a loud skip when its file or ONNX Runtime is missing.
fn open<T>(path: &Path, open: impl FnOnce(&Path) -> Result<T, ModelError>) -> Option<T> {
    if !path.is_file() {
        skip_or_fail(&format!("no model at {} (set EMOTION_MONITOR_MODELS)", path.display()));
        return None;
    }
    match open(path) {
        Ok(m) => Some(m),
        Err(ModelError::Runtime(e @ RuntimeError::LibraryMissing { .. })) => {
            skip_or_fail(&e.to_string());
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The short-range detector and the emotion model from `models_dir()`, both on the CPU, one thread.
fn models() -> Option<(FaceDetector, Classifier)> {
    let dir = models_dir();
    let detector = open(&dir.join("blazeface_short.onnx"), |p| FaceDetector::open(p, Device::Cpu, 1))?;
    let classifier = open(&dir.join("mycnn.onnx"), |p| Classifier::open(p, Device::Cpu, 1))?;
    Some((detector, classifier))
}

/// The detection of the pasted face: centre within a quarter of the pasted square, plausible size.
fn matching<'a>(dets: &'a [Detection], truth: &BBox) -> Option<&'a Detection> {
    let t = truth.center();
    dets.iter().find(|d| {
        let c = d.bbox.center();
        (c.x - t.x).abs() < truth.w / 4.0
            && (c.y - t.y).abs() < truth.h / 4.0
            && d.bbox.w > truth.w * 0.3
            && d.bbox.w < truth.w * 1.5
    })
}

/// Share of `preds` equal to `labels`, over the faces where `preds` is `Some`; `None` counts as wrong
/// when `misses_wrong`.
fn accuracy(preds: &[Option<usize>], labels: &[usize], misses_wrong: bool) -> f64 {
    let (mut right, mut n) = (0, 0);
    for (p, &l) in preds.iter().zip(labels) {
        match p {
            Some(p) => {
                n += 1;
                right += usize::from(*p == l);
            }
            None if misses_wrong => n += 1,
            None => {}
        }
    }
    right as f64 / n.max(1) as f64
}

fn predict(classifier: &mut Classifier, crops: &[GrayImage]) -> Vec<usize> {
    // Raw probabilities, no tracking or smoothing; batches of 32 like a busy frame.
    crops.chunks(32).flat_map(|c| classifier.classify(c).expect("classify")).map(|p| argmax(&p)).collect()
}

#[test]
fn pasted_faces_are_classified_like_the_dataset_crops() {
    let Some(root) = synth::dataset_or_skip("pasted_faces") else { return };
    let Some((mut detector, mut classifier)) = models() else { return };
    let faces = synth::test_faces(&root, PER_CLASS).expect("FER2013 test faces");
    assert_eq!(faces.len(), PER_CLASS * EMOTIONS.len(), "too few test faces per class");
    let labels: Vec<usize> = faces.iter().map(|f| f.label).collect();

    // Each face alone in its own frame, at a random position and size.
    let mut rng = Rng::new(2024);
    let (mut levelled, mut upright, mut oracle) = (Vec::new(), Vec::new(), Vec::new());
    let mut detected = Vec::new();
    let (mut false_pos, mut angles) = (0usize, Vec::new());
    for face in &faces {
        assert_eq!(face.image.dimensions(), (CROP, CROP), "{}", face.path.display());
        let mut frame = synth::background(FRAME.0, FRAME.1, &mut rng);
        let at = synth::place(1, FRAME.0, FRAME.1, SIZES.0, SIZES.1, &mut rng)[0];
        synth::paste(&mut frame, &face.image, at);
        let truth = BBox { x: at.x as f32, y: at.y as f32, w: at.size as f32, h: at.size as f32 };
        let dets = detector.detect(&frame).expect("detect");
        let gray = image::imageops::grayscale(&frame);
        // What a perfect detector would give: the pasted square itself, resampled to 48x48.
        oracle.push(sample_square(&gray, CropGeometry { centre: truth.center(), side: truth.w, angle: 0.0 }, CROP));
        let hit = matching(&dets, &truth);
        false_pos += dets.len() - usize::from(hit.is_some());
        detected.push(hit.is_some());
        if let Some(d) = hit {
            let g = crop_geometry(d);
            angles.push(g.angle.to_degrees().abs());
            levelled.push(fer_crop(&gray, d));
            upright.push(sample_square(&gray, CropGeometry { angle: 0.0, ..g }, CROP));
        }
    }

    let dataset_crops: Vec<GrayImage> = faces.iter().map(|f| f.image.clone()).collect();
    let on_dataset: Vec<Option<usize>> = predict(&mut classifier, &dataset_crops).into_iter().map(Some).collect();
    let on_oracle: Vec<Option<usize>> = predict(&mut classifier, &oracle).into_iter().map(Some).collect();
    // Spread the detected faces' predictions back over all faces (None = missed).
    let spread = |preds: Vec<usize>| -> Vec<Option<usize>> {
        let mut it = preds.into_iter();
        detected.iter().map(|&hit| if hit { it.next() } else { None }).collect()
    };
    let on_levelled = spread(predict(&mut classifier, &levelled));
    let on_upright = spread(predict(&mut classifier, &upright));
    // The dataset's crops restricted to the detected faces: the fair comparison for the pipeline.
    let on_dataset_detected: Vec<Option<usize>> =
        on_dataset.iter().zip(&detected).map(|(p, &hit)| if hit { *p } else { None }).collect();

    let n = faces.len();
    let found = detected.iter().filter(|&&d| d).count();
    let recall = found as f64 / n as f64;
    let pct = |v: f64| format!("{:5.1} %", 100.0 * v);
    let acc_dataset_all = accuracy(&on_dataset, &labels, false);
    let acc_dataset_det = accuracy(&on_dataset_detected, &labels, false);
    let acc_level_det = accuracy(&on_levelled, &labels, false);
    let acc_level_all = accuracy(&on_levelled, &labels, true);
    let acc_upright_det = accuracy(&on_upright, &labels, false);
    let acc_upright_all = accuracy(&on_upright, &labels, true);
    let acc_oracle = accuracy(&on_oracle, &labels, false);
    angles.sort_by(f32::total_cmp);
    let median_angle = angles.get(angles.len() / 2).copied().unwrap_or(0.0);

    let mut per_class = String::new();
    for (c, name) in EMOTIONS.iter().enumerate() {
        let pick = |preds: &[Option<usize>]| {
            let (p, l): (Vec<_>, Vec<_>) =
                preds.iter().zip(&labels).filter(|(_, l)| **l == c).map(|(p, l)| (*p, *l)).unzip();
            accuracy(&p, &l, false)
        };
        let det = detected.iter().zip(&labels).filter(|(d, l)| **d && **l == c).count();
        per_class.push_str(&format!(
            "  {name:9} detected {det:2}/{PER_CLASS}  dataset {}  pipeline {}  no levelling {}\n",
            pct(pick(&on_dataset_detected)),
            pct(pick(&on_levelled)),
            pct(pick(&on_upright)),
        ));
    }
    eprintln!(
        "\npasted FER2013 test faces: {n} ({PER_CLASS} per class), one per {}x{} frame, {}–{} px, model {}\n\
         | measure                                         | value    |\n\
         |-------------------------------------------------|----------|\n\
         | detection recall                                | {} ({found}/{n}, {false_pos} false positives) |\n\
         | accuracy, dataset 48x48 crops (all faces)       | {}  |\n\
         | accuracy, dataset 48x48 crops (detected faces)  | {}  |\n\
         | accuracy, pipeline crop, levelled (detected)    | {}  |\n\
         | accuracy, pipeline crop, levelled (misses wrong)| {}  |\n\
         | accuracy, pipeline crop, upright (detected)     | {}  |\n\
         | accuracy, pipeline crop, upright (misses wrong) | {}  |\n\
         | accuracy, pasted square resampled (no detector) | {}  |\n\
         median |eye angle| of the detected faces: {median_angle:.1}°\n{per_class}",
        FRAME.0,
        FRAME.1,
        SIZES.0,
        SIZES.1,
        models_dir().join("mycnn.onnx").display(),
        pct(recall),
        pct(acc_dataset_all),
        pct(acc_dataset_det),
        pct(acc_level_det),
        pct(acc_level_all),
        pct(acc_upright_det),
        pct(acc_upright_all),
        pct(acc_oracle),
    );

    assert!(recall >= MIN_RECALL, "detection recall {found}/{n} below {MIN_RECALL}");
    assert!(
        acc_level_det >= acc_dataset_det - MAX_GAP,
        "pipeline accuracy {} is more than {} points below the dataset crops' {} on the same faces",
        pct(acc_level_det),
        100.0 * MAX_GAP,
        pct(acc_dataset_det),
    );
}

/// The numbers behind the crop's framing: pipeline accuracy on pasted faces for several crop sizes and
/// vertical shifts (in units of the detector's box, as `crop::FER_SIDE_PER_BOX` / `FER_SHIFT_PER_BOX`),
/// levelled and upright. Run with `cargo test --release --test pasted_faces -- --ignored --nocapture`.
#[test]
#[ignore]
fn framing_sweep() {
    let Some(root) = synth::dataset_or_skip("framing_sweep") else { return };
    let Some((mut detector, mut classifier)) = models() else { return };
    let per_class = PER_CLASS;
    let faces = synth::split_faces(&root, "train", per_class).expect("FER2013 train faces");
    let sides = [1.1f32, 1.15, 1.2, 1.25, 1.3, 1.4];
    let shifts = [-0.15f32, -0.12, -0.09, -0.05, 0.0];
    let configs: Vec<(f32, f32, bool)> =
        sides.iter().flat_map(|&s| shifts.iter().flat_map(move |&d| [(s, d, true), (s, d, false)])).collect();
    let mut crops: Vec<Vec<GrayImage>> = vec![Vec::new(); configs.len()];
    let (mut labels, mut dataset) = (Vec::new(), Vec::new());
    let mut rng = Rng::new(7);
    for face in &faces {
        let mut frame = synth::background(FRAME.0, FRAME.1, &mut rng);
        let at = synth::place(1, FRAME.0, FRAME.1, SIZES.0, SIZES.1, &mut rng)[0];
        synth::paste(&mut frame, &face.image, at);
        let truth = BBox { x: at.x as f32, y: at.y as f32, w: at.size as f32, h: at.size as f32 };
        let dets = detector.detect(&frame).expect("detect");
        let Some(d) = matching(&dets, &truth) else { continue };
        let gray = image::imageops::grayscale(&frame);
        let g = crop_geometry(d);
        let unit = (d.bbox.w + d.bbox.h) / 2.0;
        let bc = d.bbox.center();
        for (out, &(side, shift, level)) in crops.iter_mut().zip(&configs) {
            let angle = if level { g.angle } else { 0.0 };
            let (s, c) = angle.sin_cos();
            let dy = shift * unit;
            let centre = Point { x: bc.x - dy * s, y: bc.y + dy * c };
            out.push(sample_square(&gray, CropGeometry { centre, side: side * unit, angle }, CROP));
        }
        labels.push(face.label);
        dataset.push(face.image.clone());
    }
    let acc =
        |preds: Vec<usize>| preds.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64;
    eprintln!(
        "\nframing sweep: {} of {} faces detected; dataset crops {:.1} %",
        labels.len(),
        faces.len(),
        100.0 * acc(predict(&mut classifier, &dataset))
    );
    eprintln!("side/box  shift/box  levelled  upright");
    for (i, chunk) in configs.chunks(2).enumerate() {
        let (side, shift, _) = chunk[0];
        let a = acc(predict(&mut classifier, &crops[2 * i]));
        let b = acc(predict(&mut classifier, &crops[2 * i + 1]));
        eprintln!("{side:8.2}  {shift:9.2}  {:7.1} %  {:6.1} %", 100.0 * a, 100.0 * b);
    }
}
