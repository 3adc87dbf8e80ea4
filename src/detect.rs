//! BlazeFace face detection through ONNX Runtime (placeholder: being written).

use serde::{Deserialize, Serialize};

use crate::geometry::{BBox, Point};

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
