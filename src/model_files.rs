// The shipped model files, by role: one list for the build script (hashes for `--version`), the pipeline's
// defaults, `--models DIR` and an installed copy's folder. Included by build.rs, so it holds constants only.

/// BlazeFace (the fast detector), in `models/`.
pub(crate) const DETECTOR_FILE: &str = "blazeface_short.onnx";
/// CenterFace (the scene detector).
pub(crate) const SCENE_FILE: &str = "centerface.onnx";
/// Our emotion CNN.
pub const EMOTION_FILE: &str = "mycnn.onnx";

/// Every shipped model, in the order `--version` lists them.
pub(crate) const MODEL_FILES: [&str; 3] = [DETECTOR_FILE, SCENE_FILE, EMOTION_FILE];
