//! The ONNX Runtime environment and the choice of execution provider, in one place.
//!
//! ONNX Runtime is loaded at run time (`load-dynamic`), so a missing library is an error we can
//! explain instead of a crash at start-up. `--device auto` tries CUDA and falls back to CPU, and
//! every session remembers which provider it got and why.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::ep;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

/// Which execution provider the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum Device {
    /// CUDA when it can be registered, otherwise CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Which provider a session actually runs on, and why (shown in the CLI and the window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: &'static str,
    /// Why CUDA was not used, when it was asked for (auto) but could not be registered.
    pub fallback_reason: Option<String>,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fallback_reason {
            Some(why) => write!(f, "{} (CUDA unavailable: {why})", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found or not loadable ({tried}): {reason}.\n\
         Run `bash scripts/setup.sh` (it fetches libonnxruntime.so from the PyPI onnxruntime wheel into third_party/onnxruntime), \
         or point ORT_DYLIB_PATH at an existing libonnxruntime.so (ONNX Runtime 1.30 or newer)."
    )]
    LibraryMissing { tried: String, reason: String },
    #[error("ONNX Runtime could not start: {0}")]
    Init(String),
    #[error(
        "--device cuda was requested but the CUDA execution provider could not be registered: {0}.\n\
             Install onnxruntime-gpu's libonnxruntime_providers_cuda.so with CUDA 13 + cuDNN 9, or use --device auto/cpu."
    )]
    CudaUnavailable(String),
    #[error("could not load model {path}: {reason}")]
    Model { path: PathBuf, reason: String },
}

/// The one environment of the process, or why it could not be made (kept, so every caller gets the same answer).
static ENV: OnceLock<Result<ort::environment::Environment, RuntimeError>> = OnceLock::new();

/// Where we look for libonnxruntime.so: $ORT_DYLIB_PATH alone when it is set; otherwise next to the
/// executable, then the repository's third_party folder.
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return vec![PathBuf::from(p)];
    }
    let mut c = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        c.push(dir.join("libonnxruntime.so"));
        // target/release/emotion-monitor (or target/release/deps/<test> for tests) → repo root
        let up = if dir.ends_with("deps") { 3 } else { 2 };
        if let Some(root) = dir.ancestors().nth(up) {
            c.push(root.join("third_party/onnxruntime/libonnxruntime.so"));
        }
    }
    c.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("third_party/onnxruntime/libonnxruntime.so"));
    c
}

/// Loads ONNX Runtime once per process. Later calls return the same environment (or the same error).
pub fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    ENV.get_or_init(|| {
        let candidates = library_candidates();
        let missing = |tried: String, reason: String| RuntimeError::LibraryMissing { tried, reason };
        let Some(lib) = candidates.iter().find(|p| p.is_file()).cloned() else {
            let tried = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(missing(tried, "no such file".into()));
        };
        let tried = lib.display().to_string();
        // ort's loader panics on some failures (e.g. a file that is not a shared library); keep that inside.
        let built = std::panic::catch_unwind(|| -> Result<ort::environment::Environment, RuntimeError> {
            let builder = ort::init_from(&lib).map_err(|e| missing(tried.clone(), e.to_string()))?;
            builder.with_name("emotion-monitor").build().map_err(|e| RuntimeError::Init(e.to_string()))
        });
        built.unwrap_or_else(|_| Err(missing(tried.clone(), "the file is not a usable ONNX Runtime library".into())))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Opens a model on the requested device. Returns the session and the provider it really runs on.
///
/// `threads` bounds ONNX Runtime's intra-op pool (the machine this was built on has 2 cores).
pub fn open_session(path: &Path, device: Device, threads: usize) -> Result<(Session, Provider), RuntimeError> {
    let env = environment()?;
    let model_err = |reason: String| RuntimeError::Model { path: path.to_path_buf(), reason };
    let builder = || -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
        Session::builder(env)
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
            .and_then(|b| b.with_intra_threads(threads.max(1)).map_err(Into::into))
            .map_err(|e| RuntimeError::Init(e.to_string()))
    };
    if !path.is_file() {
        return Err(model_err("file not found (run `bash scripts/setup.sh`, or pass the right --model path)".into()));
    }
    let mut fallback_reason = None;
    if device != Device::Cpu {
        let cuda = builder()?.with_execution_providers([ep::CUDA::default().build().error_on_failure()]);
        match cuda {
            Ok(mut b) => match b.commit_from_file(path) {
                Ok(s) => return Ok((s, Provider { name: "CUDA", fallback_reason: None })),
                Err(e) => fallback_reason = Some(first_line(&e.to_string())),
            },
            Err(e) => fallback_reason = Some(first_line(&e.to_string())),
        }
        if device == Device::Cuda {
            return Err(RuntimeError::CudaUnavailable(fallback_reason.unwrap_or_default()));
        }
    }
    let session = builder()?.commit_from_file(path).map_err(|e| model_err(e.to_string()))?;
    Ok((session, Provider { name: "CPU", fallback_reason }))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(200).collect()
}
