//! The emotion classifier: `models/mycnn.onnx`, checked against its contract, run on a batch of crops.
//!
//! Contract (training/README.md): input `float32 [N,1,48,48]` raw grey values 0..255 (normalisation is
//! inside the graph), output `float32 [N,7]` logits, metadata `labels` = the seven classes in output order.

use std::path::{Path, PathBuf};

use image::GrayImage;
use ort::session::Session;
use ort::value::{TensorRef, ValueType};

use crate::runtime::{self, Device, Provider, RuntimeError};
use crate::{EMOTIONS, Probs};

/// Side of the square grey crop the classifier takes.
pub const CROP: u32 = 48;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(
        "{path} is not a model this app can use: {problem}. Pass the right model file (see models/README.md), or run `bash scripts/setup.sh`."
    )]
    Contract { path: PathBuf, problem: String },
    #[error("inference failed on {path}: {reason}")]
    Inference { path: PathBuf, reason: String },
}

/// The emotion model, ready to classify 48x48 grey crops.
pub struct Classifier {
    session: Session,
    path: PathBuf,
    input: String,
    provider: Provider,
    /// Reused input buffer, grown to the largest batch seen.
    batch: Vec<f32>,
    /// The model takes one face per run (exported with a fixed batch of 1).
    face_by_face: bool,
}

fn tensor_shape(t: &ValueType) -> Option<Vec<i64>> {
    t.tensor_shape().map(|s| s.iter().copied().collect())
}

impl Classifier {
    pub fn open(path: &Path, device: Device, threads: usize) -> Result<Self, ModelError> {
        let (session, provider) = runtime::open_session(path, device, threads)?;
        let contract = |problem: String| ModelError::Contract {
            path: path.to_path_buf(),
            problem: format!(
                "{problem} (an emotion model needs input float32 [N,1,48,48], output float32 [N,7] and metadata labels={})",
                EMOTIONS.join(",")
            ),
        };
        if session.inputs().len() != 1 || session.outputs().len() != 1 {
            return Err(contract(format!(
                "it has {} inputs and {} outputs, not 1 and 1",
                session.inputs().len(),
                session.outputs().len()
            )));
        }
        let inp = &session.inputs()[0];
        let out = &session.outputs()[0];
        let ishape = tensor_shape(inp.dtype()).ok_or_else(|| contract("its input is not a tensor".into()))?;
        if ishape.len() != 4 || ishape[1..] != [1, 48, 48] {
            return Err(contract(format!("its input has shape {ishape:?}")));
        }
        // A model exported with a fixed batch of one is run face by face; any other fixed batch cannot
        // take the number of faces a frame happens to have.
        let face_by_face = match ishape[0] {
            1 => true,
            n if n > 1 => {
                return Err(contract(format!(
                    "its input has a fixed batch of {n} (shape {ishape:?}); export it with a dynamic batch dimension"
                )));
            }
            _ => false,
        };
        let oshape = tensor_shape(out.dtype()).ok_or_else(|| contract("its output is not a tensor".into()))?;
        if oshape.len() != 2 || oshape[1] != EMOTIONS.len() as i64 {
            return Err(contract(format!("its output has shape {oshape:?}")));
        }
        let labels = session
            .metadata()
            .ok()
            .and_then(|m| m.custom("labels"))
            .ok_or_else(|| contract("it has no `labels` metadata".into()))?;
        let labels: Vec<&str> = labels.split(',').map(str::trim).collect();
        if labels != EMOTIONS {
            return Err(contract(format!("its labels are {labels:?}")));
        }
        let input = inp.name().to_string();
        Ok(Self { session, path: path.to_path_buf(), input, provider, batch: Vec::new(), face_by_face })
    }

    /// The execution provider this model runs on.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// A metadata value of the model (e.g. `test_accuracy`), for the about box and the CSV header.
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.session.metadata().ok().and_then(|m| m.custom(key))
    }

    /// Logits for a batch of 48x48 crops, all in one run.
    pub(crate) fn logits(&mut self, crops: &[GrayImage]) -> Result<Vec<Probs>, ModelError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        if self.face_by_face && crops.len() > 1 {
            let mut out = Vec::with_capacity(crops.len());
            for c in crops.chunks(1) {
                out.extend(self.logits(c)?);
            }
            return Ok(out);
        }
        let n = crops.len();
        let px = (CROP * CROP) as usize;
        self.batch.clear();
        for c in crops {
            debug_assert_eq!(c.dimensions(), (CROP, CROP));
            self.batch.extend(c.as_raw().iter().map(|&v| v as f32));
        }
        let fail = |reason: String| ModelError::Inference { path: self.path.clone(), reason };
        let view = ndarray::ArrayView4::from_shape((n, 1, CROP as usize, CROP as usize), &self.batch[..n * px])
            .map_err(|e| fail(e.to_string()))?;
        let tensor = TensorRef::from_array_view(view).map_err(|e| fail(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| ModelError::Inference { path: self.path.clone(), reason: e.to_string() })?;
        let (shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| ModelError::Inference { path: self.path.clone(), reason: e.to_string() })?;
        if shape.len() != 2 || shape[0] as usize != n || shape[1] as usize != EMOTIONS.len() {
            return Err(ModelError::Inference { path: self.path.clone(), reason: format!("output shape {shape:?}") });
        }
        Ok(data.chunks_exact(EMOTIONS.len()).map(|c| c.try_into().expect("chunk of 7")).collect())
    }

    /// Probabilities (softmax of the logits) for a batch of 48x48 crops.
    pub fn classify(&mut self, crops: &[GrayImage]) -> Result<Vec<Probs>, ModelError> {
        Ok(self.logits(crops)?.into_iter().map(|l| softmax(&l)).collect())
    }
}

/// Numerically stable softmax. Logits that are not all finite (a broken model) give the uniform
/// distribution — "no information" — rather than NaN probabilities that would poison every average.
pub(crate) fn softmax(logits: &Probs) -> Probs {
    if !logits.iter().all(|l| l.is_finite()) {
        return [1.0 / logits.len() as f32; 7];
    }
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = logits.map(|l| (l - m).exp());
    let s: f32 = out.iter().sum();
    out.iter_mut().for_each(|v| *v /= s);
    out
}

/// Index of the largest probability.
pub fn argmax(p: &Probs) -> usize {
    p.iter().enumerate().fold(0, |best, (i, v)| if *v > p[best] { i } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 2.0, 3.0, 0.0, -1.0, 0.5, 100.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(argmax(&p), 6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }

    #[test]
    fn non_finite_logits_give_a_uniform_distribution_not_nan() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let p = softmax(&[0.0, 1.0, bad, 0.0, 0.0, 0.0, 0.0]);
            assert!(p.iter().all(|v| (v - 1.0 / 7.0).abs() < 1e-6), "{p:?}");
        }
    }
}
