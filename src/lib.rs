//! emotion-monitor: frames in, tracked faces with emotions and an engagement timeline out.
//!
//! One direction of data: `source` → `detect` → `crop` → `classify` → `track` → `pipeline`
//! → `engagement`/`session` → `app` (the window) or the CSV files. Lower stages never import higher ones.

pub mod analyze;
pub mod app;
pub mod classify;
pub mod crop;
pub mod detect;
pub mod engagement;
pub mod fonts;
pub mod geometry;
pub mod i18n;
pub mod latest;
pub mod model_files;
pub mod pipeline;
pub mod provenance;
pub mod runtime;
pub mod session;
pub mod share;
pub mod source;
pub mod synth;
pub mod track;

/// The seven FER2013 classes in the classifier's output order.
pub const EMOTIONS: [&str; 7] = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"];

/// One probability per emotion, in [`EMOTIONS`] order.
pub type Probs = [f32; 7];
