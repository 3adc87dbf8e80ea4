//! Detection and tracking on real class scenes: the shared group photos (hand-counted faces, boxes
//! checked by eye), and the real webcam clip. Data from `$REAL_FACES_DIR`, else `../shared/data/real_faces`,
//! else `data/real_faces`; skipped loudly without it, a failure with CI=true.
//!
//! `cargo test --release --test class_scenes -- --nocapture` prints what each detector finds.

use emotion_monitor::classify::ModelError;
use emotion_monitor::detect::centerface::CenterFace;
use emotion_monitor::detect::scene::{DetectorChoice, SceneConfig, SceneDetector};
use emotion_monitor::detect::{Detection, FaceDetector, same_face};
use emotion_monitor::runtime::{Device, RuntimeError};

mod common;
use common::{real_faces, root, skip};

fn open<T>(r: Result<T, ModelError>) -> Option<T> {
    match r {
        Ok(d) => Some(d),
        Err(e @ ModelError::Runtime(RuntimeError::LibraryMissing { .. })) => {
            skip(&format!("ONNX Runtime library missing: {e}"));
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn blazeface() -> Option<FaceDetector> {
    open(FaceDetector::open(&root().join("models/blazeface_short.onnx"), Device::Cpu, 1))
}

fn centerface() -> Option<CenterFace> {
    open(CenterFace::open(&root().join("models/centerface.onnx"), Device::Cpu, 1))
}

fn scene_detector(choice: DetectorChoice) -> Option<SceneDetector> {
    let cf = if choice.needs_centerface() { Some(centerface()?) } else { None };
    Some(SceneDetector::new(choice, blazeface()?, cf, SceneConfig::default()))
}

/// Faces a photo's default detector reports (a still: scene pass, confident faces only).
fn photo_faces(det: &mut SceneDetector, img: &image::RgbImage) -> Vec<Detection> {
    let pass = det.detect(img, 0.0, true).expect("detect");
    pass.detections.into_iter().filter(|d| d.score >= det.config().min_score).collect()
}

/// The group photos with the number of visible faces in each (counted by hand; SOURCE.md agrees).
const PHOTOS: [(&str, usize); 3] =
    [("openface_sample2_group3.jpg", 3), ("faceapi_bbt1_group4.jpg", 4), ("facenet_pytorch_multiface_group6.jpg", 6)];

#[test]
fn every_face_in_the_group_photos_is_found_once_by_default() {
    let Some(dir) = real_faces() else { return };
    let Some(mut det) = scene_detector(DetectorChoice::Auto) else { return };
    for (name, truth) in PHOTOS {
        let img = image::open(dir.join(name)).expect("photo").into_rgb8();
        let faces = photo_faces(&mut det, &img);
        eprintln!("{name}: {} faces (truth {truth})", faces.len());
        for d in &faces {
            eprintln!("   {:?} score {:.2}", d.bbox, d.score);
        }
        assert_eq!(faces.len(), truth, "{name}");
        for (i, a) in faces.iter().enumerate() {
            for b in &faces[i + 1..] {
                assert!(!same_face(&a.bbox, &b.bbox), "{name}: two boxes on one face");
            }
            // Eyes inside the box, the image-left eye first, as the crop and head pose expect.
            let (re, le) = (a.keypoints[0], a.keypoints[1]);
            assert!(re.x < le.x, "{name}: eye order");
            assert!(a.bbox.x < re.x && le.x < a.bbox.x + a.bbox.w, "{name}: eyes outside the box");
        }
    }
}

/// CenterFace boxes, once mapped (`centerface::TO_BLAZEFACE`), sit where BlazeFace puts its box on the
/// same face, so the crop framing tuned on BlazeFace boxes holds for both. Real webcam frames.
#[test]
fn centerface_boxes_match_blazeface_boxes() {
    let Some(dir) = real_faces() else { return };
    let (Some(mut bf), Some(mut cf)) = (blazeface(), centerface()) else { return };
    let mut src = emotion_monitor::source::open(&dir.join("openface_2015-10-15-15-14.avi")).expect("clip");
    let (mut dx, mut dy, mut rw, mut rh) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(frame) = src.next_frame().expect("decode") {
        if frame.index % 10 != 0 {
            continue;
        }
        let (Some(b), Some(c)) = (
            bf.detect(&frame.image).expect("bf").into_iter().next(),
            cf.detect(&frame.image, 640, 0.5).expect("cf").into_iter().next(),
        ) else {
            continue;
        };
        let (bc, cc) = (b.bbox.center(), c.bbox.center());
        dx.push((bc.x - cc.x) / c.bbox.w);
        dy.push((bc.y - cc.y) / c.bbox.h);
        rw.push(b.bbox.w / c.bbox.w);
        rh.push(b.bbox.h / c.bbox.h);
    }
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let n = dx.len();
    let (mx, my, mw, mh) = (median(&mut dx), median(&mut dy), median(&mut rw), median(&mut rh));
    eprintln!("{n} frames: BlazeFace box vs mapped CenterFace box: centre shift {mx:.3}, {my:.3}; size ratio {mw:.3} x {mh:.3}");
    assert!(n >= 50, "both detectors found the face in only {n} frames");
    assert!(mx.abs() < 0.05 && my.abs() < 0.05, "centres differ by ({mx}, {my}) box sizes");
    assert!((mw - 1.0).abs() < 0.06 && (mh - 1.0).abs() < 0.06, "sizes differ by {mw} x {mh}");
}

#[test]
fn the_wrong_model_is_refused_as_centerface() {
    match CenterFace::open(&root().join("models/blazeface_short.onnx"), Device::Cpu, 1) {
        Err(ModelError::Contract { problem, .. }) => assert!(problem.contains("CenterFace"), "{problem}"),
        Err(ModelError::Runtime(RuntimeError::LibraryMissing { .. })) => skip("ONNX Runtime library missing"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("BlazeFace was accepted as CenterFace"),
    }
}
