//! Helpers shared by the integration tests: where the data is, and how a missing dataset is reported.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says loudly that a test did not run; with CI=true a missing prerequisite is a failure instead.
pub fn skip(why: &str) {
    assert!(!ci(), "CI=true but {why}");
    eprintln!("\n==================== SKIPPED: {why} ====================\n");
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared real footage and group photos: `$REAL_FACES_DIR`, `../shared/data/real_faces`, `data/real_faces`.
pub fn real_faces() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("REAL_FACES_DIR").map(PathBuf::from),
        Some(root().join("../shared/data/real_faces")),
        Some(root().join("data/real_faces")),
    ];
    let found = candidates.into_iter().flatten().find(|d| d.join("faceapi_bbt1_group4.jpg").is_file());
    if found.is_none() {
        skip("real faces not found (set REAL_FACES_DIR or put them in ../shared/data/real_faces)");
    }
    found
}

/// Whether `program` is installed (on PATH).
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The folder of the shipped models the window needs, or `None` after saying why not.
pub fn window_models() -> Option<PathBuf> {
    let models = emotion_monitor::pipeline::models_dir();
    if models.join("mycnn.onnx").is_file() && models.join("blazeface_short.onnx").is_file() {
        return Some(models);
    }
    skip(&format!("models missing in {} (set EMOTION_MONITOR_MODELS)", models.display()));
    None
}

/// Writes a 640x480, 30 fps video of one large FER2013 test face (a happy one: the short-range
/// detector's home ground, so a missing box means a broken window) to `path`; `None` after saying
/// why not (no dataset).
pub fn one_face_video(test: &str, path: &std::path::Path, seconds: u32) -> Option<()> {
    use emotion_monitor::synth;
    let root = synth::dataset_or_skip(test)?;
    let faces = synth::test_faces(&root, 1).unwrap();
    let picked: Vec<_> = faces.iter().filter(|f| f.label == 3).take(1).map(|f| &f.image).collect();
    synth::write_face_video(path, &picked, (640, 480), 30, 30 * seconds, 7).unwrap();
    Some(())
}
