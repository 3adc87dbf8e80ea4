//! The ONNX Runtime environment and the choice of execution provider, in one place.
//!
//! ONNX Runtime is loaded at run time (`load-dynamic`), so a missing library is an error we can
//! explain instead of a crash at start-up. `--device auto` tries CUDA and falls back to CPU, and
//! every session remembers which provider it got and why. On Windows `auto` tries DirectML (any DirectX 12 GPU)
//! instead of CUDA.
//!
//! **Platform names live here, behind `cfg`:** the library's file name ([`ORT_LIBRARY`]), the driver's
//! ([`DRIVER_LIBRARY`]), and the advice that names them. Libraries are loaded with `libloading`, always by absolute
//! path: Windows has its own, older `System32\onnxruntime.dll`, which a bare name could pick up.
//!
//! **CUDA.** `bash scripts/setup.sh --gpu` puts ONNX Runtime's CUDA build and the CUDA 13 / cuDNN 9 libraries it
//! needs (all from PyPI wheels) into one folder, `third_party/onnxruntime-gpu`. `libonnxruntime_providers_cuda.so`
//! has no RUNPATH, so its libraries would only be found through `LD_LIBRARY_PATH`, which has to be set before the
//! process starts. Instead, before ONNX Runtime is loaded, we load the NVIDIA libraries from that folder by full
//! path in dependency order ([`GPU_PRELOAD`], `RTLD_GLOBAL`): the dynamic loader then satisfies the provider's
//! `NEEDED` entries and ONNX Runtime's own `dlopen("libcudnn.so.9")` with the libraries already loaded (they match
//! by soname), whatever way the program was started. Only the driver's `libcuda.so.1` comes from the system.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::ep;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

/// Which execution provider the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum Device {
    /// The GPU when it can be used (CUDA; on Windows DirectML), otherwise CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    /// DirectML: any DirectX 12 GPU (Windows only).
    Directml,
}

/// ONNX Runtime's library file name on this platform.
#[cfg(windows)]
pub(crate) const ORT_LIBRARY: &str = "onnxruntime.dll";
#[cfg(not(windows))]
pub(crate) const ORT_LIBRARY: &str = "libonnxruntime.so";

/// The NVIDIA driver's user-space library (it answers `cuDriverGetVersion`).
#[cfg(windows)]
pub(crate) const DRIVER_LIBRARY: &str = "nvcuda.dll";
#[cfg(not(windows))]
pub(crate) const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// What to do when ONNX Runtime cannot be loaded.
#[cfg(windows)]
const LIBRARY_ADVICE: &str = "Reinstall emotion-monitor: its onnxruntime.dll (ONNX Runtime 1.30 or newer) must sit next to \
     emotion-monitor.exe; or point ORT_DYLIB_PATH at one.";
#[cfg(not(windows))]
const LIBRARY_ADVICE: &str = "Run `bash scripts/setup.sh` (it fetches libonnxruntime.so from the PyPI onnxruntime wheel into \
     third_party/onnxruntime), or point ORT_DYLIB_PATH at an existing libonnxruntime.so (ONNX Runtime 1.30 or newer).";

/// The GPU `--device auto` tries on this platform.
const AUTO_GPU: Device = if cfg!(windows) { Device::Directml } else { Device::Cuda };

impl Device {
    /// The GPU execution provider this device asks for, if any.
    fn gpu(self) -> Option<Device> {
        match self {
            Device::Cpu => None,
            Device::Auto => Some(AUTO_GPU),
            gpu => Some(gpu),
        }
    }

    /// The provider's name as users read it.
    fn label(self) -> &'static str {
        match self {
            Device::Cuda => "CUDA",
            Device::Directml => "DirectML",
            Device::Auto | Device::Cpu => "CPU",
        }
    }
}

/// The GPU provider `auto` tries on this platform (CUDA; DirectML on Windows), as users read it.
pub(crate) fn auto_gpu_label() -> &'static str {
    AUTO_GPU.label()
}

/// Which provider a session actually runs on, and why (shown in the CLI and the window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: &'static str,
    /// Why the GPU (CUDA, or DirectML on Windows) was not used, when it was asked for (auto) but could not be
    /// registered.
    pub fallback_reason: Option<String>,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fallback_reason {
            Some(why) => write!(f, "{} ({} unavailable: {why})", self.name, AUTO_GPU.label()),
            None => write!(f, "{}", self.name),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime library not found or not loadable ({tried}): {reason}.\n{}", LIBRARY_ADVICE)]
    LibraryMissing { tried: String, reason: String },
    #[error("ONNX Runtime could not start: {0}")]
    Init(String),
    /// `--device cuda` and CUDA cannot be used: what is missing (first line) and what to do (second line).
    #[error("--device cuda was requested but CUDA cannot be used: {0}")]
    CudaUnavailable(String),
    /// `--device directml` and DirectML cannot be used: why (first line) and what to do (second line).
    #[error("--device directml was requested but DirectML cannot be used: {0}")]
    DirectmlUnavailable(String),
    #[error("could not load model {path}: {reason}")]
    Model { path: PathBuf, reason: String },
}

/// The one environment of the process and the library it came from, or why it could not be made (kept, so every
/// caller gets the same answer).
static ENV: OnceLock<(Result<ort::environment::Environment, RuntimeError>, PathBuf)> = OnceLock::new();
/// Whether CUDA can be used in this process: the GPU folder, its libraries loaded; or what is missing.
static CUDA: OnceLock<Result<PathBuf, CudaMissing>> = OnceLock::new();

/// The folder `bash scripts/setup.sh --gpu` fills, relative to the repository root.
pub(crate) const GPU_DIR: &str = "third_party/onnxruntime-gpu";
/// The NVIDIA libraries of the GPU folder, in dependency order: loaded by full path before ONNX Runtime starts.
/// libcudnn.so.9 finds its own sub-libraries (RUNPATH `$ORIGIN`).
pub(crate) const GPU_PRELOAD: &[&str] = &[
    "libcudart.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libcurand.so.10",
    "libnvJitLink.so.13",
    "libcufft.so.12",
    "libnvrtc.so.13",
    "libcudnn.so.9",
];
/// The cuDNN parts libcudnn.so.9 loads itself (from its own folder) when a model needs them.
const CUDNN_PARTS: &[&str] = &[
    "libcudnn_graph.so.9",
    "libcudnn_ops.so.9",
    "libcudnn_cnn.so.9",
    "libcudnn_adv.so.9",
    "libcudnn_heuristic.so.9",
    "libcudnn_engines_precompiled.so.9",
    "libcudnn_engines_runtime_compiled.so.9",
];

/// Every file the GPU folder must hold: ONNX Runtime's CUDA build, [`GPU_PRELOAD`], the cuDNN parts
/// (setup.sh's plan lists the wheel each comes from).
pub fn gpu_files() -> Vec<&'static str> {
    let ort = ["libonnxruntime.so", "libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"];
    ort.iter().chain(GPU_PRELOAD).chain(CUDNN_PARTS).copied().collect()
}

/// onnxruntime-gpu 1.31.1 is built for CUDA 13: the driver must support it (`cuDriverGetVersion` ≥ 13000).
pub(crate) const MIN_DRIVER_CUDA: i32 = 13000;
const SETUP_GPU: &str = "run `bash scripts/setup.sh --gpu`";

/// Folders that hold the repository root's `third_party`: the one above the executable (target/release/x, or
/// target/release/deps/<test> for tests), then the source tree this was built from.
fn repo_roots(exe: Option<&Path>, manifest: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = exe.and_then(Path::parent) {
        let up = if dir.ends_with("deps") { 3 } else { 2 };
        if let Some(root) = dir.ancestors().nth(up) {
            roots.push(root.to_path_buf());
        }
    }
    if !roots.iter().any(|r| r == manifest) {
        roots.push(manifest.to_path_buf());
    }
    roots
}

/// [`library_candidates`] from explicit inputs: `explicit` ($ORT_DYLIB_PATH) alone when set; otherwise next to the
/// executable, then `third_party/onnxruntime` of each repository root.
pub(crate) fn library_candidates_from(explicit: Option<PathBuf>, exe: Option<&Path>, manifest: &Path) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p];
    }
    let mut c: Vec<PathBuf> = exe.and_then(Path::parent).map(|d| d.join(ORT_LIBRARY)).into_iter().collect();
    c.extend(repo_roots(exe, manifest).iter().map(|r| r.join("third_party/onnxruntime").join(ORT_LIBRARY)));
    c
}

/// [`gpu_dir_candidates`] from explicit inputs: the folder of `explicit` ($ORT_DYLIB_PATH) alone when set (ONNX
/// Runtime loads its providers from its own folder); otherwise the executable's folder, then [`GPU_DIR`] of each
/// repository root.
pub(crate) fn gpu_dir_candidates_from(explicit: Option<PathBuf>, exe: Option<&Path>, manifest: &Path) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.parent().map(Path::to_path_buf).unwrap_or_default()];
    }
    let mut c: Vec<PathBuf> = exe.and_then(Path::parent).map(Path::to_path_buf).into_iter().collect();
    c.extend(repo_roots(exe, manifest).iter().map(|r| r.join(GPU_DIR)));
    c
}

fn explicit_library() -> Option<PathBuf> {
    std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from)
}

/// Where we look for the CPU [`ORT_LIBRARY`]: $ORT_DYLIB_PATH alone when it is set; otherwise next to the
/// executable, then the repository's third_party folder.
pub(crate) fn library_candidates() -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    library_candidates_from(explicit_library(), exe.as_deref(), Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// Where we look for the GPU stack (a folder with libonnxruntime_providers_cuda.so and [`gpu_files`]).
pub(crate) fn gpu_dir_candidates() -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    gpu_dir_candidates_from(explicit_library(), exe.as_deref(), Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// What the NVIDIA driver looks like from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// libcuda.so.1 could not be loaded (`error`); whether `nvidia-smi` is on PATH and /proc/driver/nvidia exists.
    Missing { error: String, nvidia_smi: bool, proc_nvidia: bool },
    /// libcuda.so.1 loaded; the CUDA version it supports, as `cuDriverGetVersion` gives it (13000 = 13.0).
    Present { cuda_version: i32 },
}

/// Why CUDA cannot be used, precisely enough to act on. `Display` is one line (the window and the `analyze`
/// summary show it); [`CudaMissing::advice`] says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CudaMissing {
    NoDriver {
        error: String,
        nvidia_smi: bool,
        proc_nvidia: bool,
    },
    DriverTooOld {
        cuda_version: i32,
    },
    NotFetched {
        looked: Vec<PathBuf>,
    },
    FilesMissing {
        dir: PathBuf,
        names: Vec<String>,
    },
    Unloadable {
        path: PathBuf,
        error: String,
    },
    /// ONNX Runtime was already loaded from a CPU build in this process (the first model was opened for the CPU).
    CpuBuildLoaded {
        library: PathBuf,
    },
    /// ONNX Runtime refused the CUDA execution provider (no usable GPU, GPU busy or out of memory, …).
    Register(String),
    /// The Windows build ships no CUDA libraries (DirectML is its GPU path).
    NotInThisBuild,
}

fn cuda_version_text(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

impl std::fmt::Display for CudaMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CudaMissing::NoDriver { nvidia_smi: false, proc_nvidia: false, .. } => write!(
                f,
                "no NVIDIA driver on this machine (libcuda.so.1 not found, nvidia-smi absent, no /proc/driver/nvidia)"
            ),
            CudaMissing::NoDriver { error, nvidia_smi, proc_nvidia } => {
                let seen = if *nvidia_smi { "nvidia-smi exists" } else { "/proc/driver/nvidia exists" };
                let _ = proc_nvidia;
                write!(f, "the NVIDIA driver's libcuda.so.1 cannot be loaded although {seen}: {error}")
            }
            CudaMissing::DriverTooOld { cuda_version } => write!(
                f,
                "NVIDIA driver too old: it supports CUDA {}, ONNX Runtime 1.31.1's CUDA build needs CUDA 13",
                cuda_version_text(*cuda_version)
            ),
            CudaMissing::NotFetched { looked } => {
                let dirs = looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
                write!(
                    f,
                    "the GPU libraries are not fetched (no libonnxruntime_providers_cuda.so in {dirs}); {SETUP_GPU}"
                )
            }
            CudaMissing::FilesMissing { dir, names } => {
                write!(f, "{} missing from {}", names.join(", "), dir.display())
            }
            CudaMissing::Unloadable { path, error } => write!(f, "{} cannot be loaded: {error}", path.display()),
            CudaMissing::CpuBuildLoaded { library } => {
                write!(f, "ONNX Runtime was already loaded from a CPU build ({}) in this process", library.display())
            }
            CudaMissing::Register(e) => write!(f, "the CUDA execution provider did not start: {e}"),
            CudaMissing::NotInThisBuild => write!(f, "the Windows build has no CUDA libraries"),
        }
    }
}

impl CudaMissing {
    /// What to do about it, one sentence.
    pub fn advice(&self) -> String {
        match self {
            CudaMissing::NoDriver { nvidia_smi: false, proc_nvidia: false, .. } => {
                "CUDA needs an NVIDIA GPU and its driver (580 or newer, for CUDA 13); on this machine use --device cpu \
                 (or auto, which falls back to the CPU)."
                    .into()
            }
            CudaMissing::NoDriver { .. } => "Reinstall the NVIDIA driver (580 or newer) with its user-space library \
                 libcuda.so.1 (Debian: libcuda1; in a container: the NVIDIA container toolkit, `--gpus all`), or use --device cpu."
                .into(),
            CudaMissing::DriverTooOld { .. } => {
                "Update the NVIDIA driver to 580 or newer (`nvidia-smi` shows the installed one), or use --device cpu.".into()
            }
            CudaMissing::NotFetched { .. } => format!(
                "{SETUP_GPU}: it fetches onnxruntime-gpu 1.31.1 with the CUDA 13 and cuDNN 9 libraries from PyPI \
                 (~1.6 GB) into {GPU_DIR}; no system CUDA is needed. Or use --device cpu."
            ),
            CudaMissing::FilesMissing { dir, .. } | CudaMissing::Unloadable { path: dir, .. } => format!(
                "Delete {} and {SETUP_GPU} again, or use --device cpu.",
                if dir.is_dir() { dir.display() } else { dir.parent().unwrap_or(dir).display() }
            ),
            CudaMissing::CpuBuildLoaded { .. } => format!(
                "Open every model with the same --device; {SETUP_GPU}, and unset ORT_DYLIB_PATH or point it at \
                 {GPU_DIR}/libonnxruntime.so."
            ),
            CudaMissing::Register(e) => {
                let e = e.to_lowercase();
                if e.contains("out of memory") {
                    "The GPU is out of memory: close what uses it (`nvidia-smi` lists it), or use --device cpu.".into()
                } else if e.contains("busy") || e.contains("unavailable") {
                    "The GPU is busy or reserved (exclusive compute mode?): free it (`nvidia-smi` lists what runs \
                     on it), or use --device cpu."
                        .into()
                } else if e.contains("driver version is insufficient") || e.contains("installed cuda driver") {
                    "The NVIDIA driver does not support CUDA 13: update it to 580 or newer, or use --device cpu.".into()
                } else if e.contains("no cuda-capable device") {
                    "The driver sees no GPU (check `nvidia-smi` and CUDA_VISIBLE_DEVICES), or use --device cpu.".into()
                } else {
                    "Use --device cpu; RUST_LOG=info shows ONNX Runtime's own log.".into()
                }
            }
            CudaMissing::NotInThisBuild => {
                "Use --device directml (any DirectX 12 GPU: NVIDIA, AMD, Intel) or --device cpu.".into()
            }
        }
    }
}

/// Decides whether the GPU stack can run CUDA here, from what the driver probe found and the candidate folders.
/// Checks in the order that tells the user the first thing to fix: driver, then the fetched libraries.
pub(crate) fn check_gpu_stack(driver: &Driver, candidates: &[PathBuf]) -> Result<PathBuf, CudaMissing> {
    match driver {
        Driver::Missing { error, nvidia_smi, proc_nvidia } => {
            return Err(CudaMissing::NoDriver {
                error: error.clone(),
                nvidia_smi: *nvidia_smi,
                proc_nvidia: *proc_nvidia,
            });
        }
        Driver::Present { cuda_version } if *cuda_version < MIN_DRIVER_CUDA => {
            return Err(CudaMissing::DriverTooOld { cuda_version: *cuda_version });
        }
        Driver::Present { .. } => {}
    }
    let Some(dir) = candidates.iter().find(|d| d.join("libonnxruntime_providers_cuda.so").is_file()) else {
        return Err(CudaMissing::NotFetched { looked: candidates.to_vec() });
    };
    let names: Vec<String> = gpu_files().into_iter().filter(|f| !dir.join(f).is_file()).map(String::from).collect();
    if !names.is_empty() {
        return Err(CudaMissing::FilesMissing { dir: dir.clone(), names });
    }
    Ok(dir.clone())
}

/// Loads a library for the life of the process (never unloaded). On Linux its symbols are visible to the
/// libraries loaded after it (`RTLD_GLOBAL`): that is how the preloaded CUDA libraries satisfy ONNX Runtime's
/// CUDA provider.
fn load_forever(path: &Path) -> Result<&'static libloading::Library, String> {
    #[cfg(unix)]
    let lib = {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        // SAFETY: loading runs the library's initialisers, which is what we ask for.
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }.map(libloading::Library::from)
    };
    #[cfg(windows)]
    let lib = {
        use libloading::os::windows::{LOAD_WITH_ALTERED_SEARCH_PATH, Library};
        // An absolute path, and its own folder searched first for the DLLs it imports (DirectML.dll next to
        // onnxruntime.dll), never System32's older copies.
        // (A bare name, such as the driver's, is searched for the usual way.)
        let flags = if path.is_absolute() { LOAD_WITH_ALTERED_SEARCH_PATH } else { 0 };
        // SAFETY: as above.
        unsafe { Library::load_with_flags(path, flags) }.map(libloading::Library::from)
    };
    lib.map(|l| &*Box::leak(Box::new(l))).map_err(|e| loader_message(&e))
}

/// The loader's own reason, without libloading's wrapper text.
fn loader_message(e: &libloading::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}

/// Looks for the NVIDIA driver: loads [`DRIVER_LIBRARY`] and asks it which CUDA version it supports.
pub fn probe_driver() -> Driver {
    match load_forever(Path::new(DRIVER_LIBRARY)) {
        Err(error) => Driver::Missing {
            error,
            nvidia_smi: std::env::var_os("PATH").is_some_and(|p| {
                let exe = format!("nvidia-smi{}", std::env::consts::EXE_SUFFIX);
                std::env::split_paths(&p).any(|d| d.join(&exe).is_file())
            }),
            proc_nvidia: cfg!(unix) && Path::new("/proc/driver/nvidia").exists(),
        },
        Ok(lib) => {
            type GetVersion = unsafe extern "C" fn(*mut std::ffi::c_int) -> std::ffi::c_int;
            let mut v: std::ffi::c_int = 0;
            // SAFETY: CUresult cuDriverGetVersion(int*), the driver API's documented signature; a valid pointer.
            if let Ok(f) = unsafe { lib.get::<GetVersion>(b"cuDriverGetVersion") }
                && unsafe { f(&mut v) } != 0
            {
                v = 0;
            }
            Driver::Present { cuda_version: v }
        }
    }
}

/// Loads the NVIDIA libraries of `dir` by full path in dependency order ([`GPU_PRELOAD`]).
pub(crate) fn preload_gpu_libraries(dir: &Path) -> Result<(), CudaMissing> {
    for name in GPU_PRELOAD {
        let path = dir.join(name);
        load_forever(&path).map_err(|error| CudaMissing::Unloadable { path: path.clone(), error })?;
    }
    Ok(())
}

/// Whether CUDA can be used in this process (worked out once): the GPU folder with its libraries loaded.
pub(crate) fn cuda_stack() -> Result<&'static Path, &'static CudaMissing> {
    CUDA.get_or_init(|| {
        if cfg!(windows) {
            return Err(CudaMissing::NotInThisBuild);
        }
        let dir = check_gpu_stack(&probe_driver(), &gpu_dir_candidates())?;
        preload_gpu_libraries(&dir)?;
        Ok(dir)
    })
    .as_ref()
    .map(PathBuf::as_path)
}

/// Loads ONNX Runtime once per process: for `--device auto|cuda`, the CUDA build when [`cuda_stack`] is usable,
/// otherwise the CPU build. Later calls return the same environment (or the same error), whatever their device.
pub fn environment(device: Device) -> Result<&'static ort::environment::Environment, RuntimeError> {
    environment_and_library(device).0.as_ref().map_err(Clone::clone)
}

fn environment_and_library(device: Device) -> &'static (Result<ort::environment::Environment, RuntimeError>, PathBuf) {
    ENV.get_or_init(|| {
        let explicit = explicit_library();
        let gpu_lib = match (device, cuda_stack()) {
            (Device::Cpu | Device::Directml, _) | (_, Err(_)) => None,
            (_, Ok(dir)) => Some(explicit.clone().unwrap_or_else(|| dir.join(ORT_LIBRARY))),
        };
        let candidates = gpu_lib.map_or_else(library_candidates, |l| vec![l]);
        let missing = |tried: String, reason: String| RuntimeError::LibraryMissing { tried, reason };
        let Some(lib) = candidates.iter().find(|p| p.is_file()).cloned() else {
            let tried = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            return (Err(missing(tried, "no such file".into())), PathBuf::new());
        };
        // Always by absolute path: a bare or relative name would let the system pick another copy.
        let lib = std::path::absolute(&lib).unwrap_or(lib);
        let tried = lib.display().to_string();
        // On Windows we load it first ourselves, so that the DLLs it imports come from its own folder; ort's
        // loader then gets the module already loaded.
        #[cfg(windows)]
        if let Err(reason) = load_forever(&lib) {
            return (Err(missing(tried, reason)), lib);
        }
        // ort's loader panics on some failures (e.g. a file that is not a shared library); keep that inside.
        let built = std::panic::catch_unwind(|| -> Result<ort::environment::Environment, RuntimeError> {
            let builder = ort::init_from(&lib).map_err(|e| missing(tried.clone(), e.to_string()))?;
            builder.with_name("emotion-monitor").build().map_err(|e| RuntimeError::Init(e.to_string()))
        });
        let env = built
            .unwrap_or_else(|_| Err(missing(tried.clone(), "the file is not a usable ONNX Runtime library".into())));
        (env, lib)
    })
}

/// Why CUDA cannot be used in this process, or `None` when it can (the CUDA build is loaded).
fn cuda_blocker(library: &Path) -> Option<CudaMissing> {
    match cuda_stack() {
        Err(e) => Some(e.clone()),
        Ok(dir) if library.parent() != Some(dir) => {
            Some(CudaMissing::CpuBuildLoaded { library: library.to_path_buf() })
        }
        Ok(_) => None,
    }
}

/// Why a GPU provider did not start (one line) and what to do (one sentence).
struct GpuRefusal {
    why: String,
    advice: String,
}

impl From<CudaMissing> for GpuRefusal {
    fn from(m: CudaMissing) -> Self {
        GpuRefusal { why: m.to_string(), advice: m.advice() }
    }
}

type Builder<'a> = &'a dyn Fn() -> Result<ort::session::builder::SessionBuilder, RuntimeError>;

/// Opens `path` on CUDA, or says why not.
fn open_on_cuda(path: &Path, library: &Path, builder: Builder) -> Result<Result<Session, GpuRefusal>, RuntimeError> {
    if let Some(blocker) = cuda_blocker(library) {
        return Ok(Err(blocker.into()));
    }
    let err = match builder()?.with_execution_providers([ep::CUDA::default().build().error_on_failure()]) {
        Ok(mut b) => match b.commit_from_file(path) {
            Ok(s) => return Ok(Ok(s)),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    Ok(Err(CudaMissing::Register(ort_message(&err)).into()))
}

/// Opens `path` on DirectML (Windows: any DirectX 12 GPU), or says why not.
#[cfg(windows)]
fn open_on_directml(path: &Path, builder: Builder) -> Result<Result<Session, GpuRefusal>, RuntimeError> {
    // DirectML wants neither memory patterns nor parallel execution (ONNX Runtime's DirectML documentation).
    let dml = builder()?
        .with_memory_pattern(false)
        .and_then(|b| b.with_parallel_execution(false))
        .and_then(|b| b.with_execution_providers([ep::DirectML::default().build().error_on_failure()]));
    let err = match dml {
        Ok(mut b) => match b.commit_from_file(path) {
            Ok(s) => return Ok(Ok(s)),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    Ok(Err(GpuRefusal {
        why: format!("the DirectML execution provider did not start: {}", ort_message(&err)),
        advice: "Update the graphics driver (DirectX 12 is needed), or use --device cpu.".into(),
    }))
}

#[cfg(not(windows))]
fn open_on_directml(_path: &Path, _builder: Builder) -> Result<Result<Session, GpuRefusal>, RuntimeError> {
    Ok(Err(GpuRefusal {
        why: "DirectML exists only on Windows".into(),
        advice: "Use --device cuda (NVIDIA) or --device cpu.".into(),
    }))
}

/// Opens a model on the requested device. Returns the session and the provider it really runs on.
///
/// `threads` bounds ONNX Runtime's intra-op pool (the machine this was built on has 2 cores).
pub fn open_session(path: &Path, device: Device, threads: usize) -> Result<(Session, Provider), RuntimeError> {
    let (env, library) = environment_and_library(device);
    let env = env.as_ref().map_err(Clone::clone)?;
    let model_err = |reason: String| RuntimeError::Model { path: path.to_path_buf(), reason };
    let builder = || -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
        Session::builder(env)
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
            .and_then(|b| b.with_intra_threads(threads.max(1)).map_err(Into::into))
            // Idle pool threads sleep instead of spinning: a spinning thread would take the core the capture,
            // the window and the session writer need between two inferences (measured: 2 spinning threads made
            // analyze of a 25-face gallery 40 % slower than 1 thread; 2 sleeping ones make it 24 % faster).
            .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
            .map_err(|e| RuntimeError::Init(e.to_string()))
    };
    if !path.is_file() {
        return Err(model_err("file not found (run `bash scripts/setup.sh`, or pass the right --model path)".into()));
    }
    let mut fallback_reason = None;
    if let Some(gpu) = device.gpu() {
        let opened = match gpu {
            Device::Directml => open_on_directml(path, &builder)?,
            _ => open_on_cuda(path, library, &builder)?,
        };
        let refusal = match opened {
            Ok(s) => return Ok((s, Provider { name: gpu.label(), fallback_reason: None })),
            Err(r) => r,
        };
        let GpuRefusal { why, advice } = refusal;
        match device {
            Device::Cuda => return Err(RuntimeError::CudaUnavailable(format!("{why}.\n{advice}"))),
            Device::Directml => {
                let why = why.trim_end_matches('.');
                return Err(RuntimeError::DirectmlUnavailable(format!("{why}.\n{advice}")));
            }
            _ => {}
        }
        tracing::info!("{} unavailable, running on the CPU: {why}. {advice}", gpu.label());
        fallback_reason = Some(why);
    }
    let session = builder()?.commit_from_file(path).map_err(|e| model_err(e.to_string()))?;
    Ok((session, Provider { name: "CPU", fallback_reason }))
}

/// ONNX Runtime's error without its source location and status prefix ("/onnxruntime_src/…cc:2043 …
/// [ONNXRuntimeError] : 1 : FAIL : "), first line, at most 300 characters.
/// A CUDA library's own failure ("CUDA failure 2: out of memory ; GPU=0 ; …") is what matters, when there is one.
fn ort_message(s: &str) -> String {
    for lib in ["CUDA failure", "CUDNN failure", "CUBLAS failure", "CURAND failure", "CUFFT failure"] {
        if let Some(i) = s.find(lib) {
            let rest = &s[i..];
            return rest[..rest.find(" ; ").unwrap_or(rest.len())].trim().chars().take(300).collect();
        }
    }
    let line = s.lines().next().unwrap_or(s);
    let msg = match line.find("[ONNXRuntimeError]") {
        Some(i) => line[i..].splitn(4, " : ").nth(3).unwrap_or(line),
        None => without_source_location(line),
    };
    msg.trim().chars().take(300).collect()
}

/// `s` without a leading "…/file.cc:326 onnxruntime::Class::Function " (the Windows builds' messages start so).
fn without_source_location(s: &str) -> &str {
    let Some((place, rest)) = s.split_once(' ') else { return s };
    if !place.contains(".cc:") {
        return s;
    }
    match rest.split_once(' ') {
        Some((function, after)) if function.starts_with("onnxruntime::") => after,
        _ => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_files(dir: &Path) {
        for f in gpu_files() {
            std::fs::write(dir.join(f), b"").unwrap();
        }
    }

    #[test]
    fn library_and_gpu_folder_candidates_tried_in_order() {
        let paths = |p: &[&str]| p.iter().map(PathBuf::from).collect::<Vec<_>>();
        let manifest = Path::new("/src/em");
        let exe = Path::new("/opt/em/target/release/emotion-monitor");
        // a test binary lives one folder deeper; the same root is not tried twice
        let test_exe = Path::new("/src/em/target/release/deps/gpu_setup-0123");
        let cases: [(Vec<PathBuf>, &[&str]); 4] = [
            (
                library_candidates_from(None, Some(exe), manifest),
                &[
                    "/opt/em/target/release/libonnxruntime.so",
                    "/opt/em/third_party/onnxruntime/libonnxruntime.so",
                    "/src/em/third_party/onnxruntime/libonnxruntime.so",
                ],
            ),
            (
                library_candidates_from(None, Some(test_exe), manifest),
                &["/src/em/target/release/deps/libonnxruntime.so", "/src/em/third_party/onnxruntime/libonnxruntime.so"],
            ),
            (
                gpu_dir_candidates_from(None, Some(exe), manifest),
                &[
                    "/opt/em/target/release",
                    "/opt/em/third_party/onnxruntime-gpu",
                    "/src/em/third_party/onnxruntime-gpu",
                ],
            ),
            // $ORT_DYLIB_PATH alone; for the GPU stack its folder (ONNX Runtime loads providers from there)
            (gpu_dir_candidates_from(Some("/x/gpu/libonnxruntime.so".into()), Some(exe), manifest), &["/x/gpu"]),
        ];
        for (got, want) in cases {
            assert_eq!(got, paths(want));
        }
        assert_eq!(library_candidates_from(Some("/x/lib.so".into()), Some(exe), manifest), paths(&["/x/lib.so"]));
        // the real candidates end with this repository's GPU folder
        assert!(
            gpu_dir_candidates().iter().any(|d| d.ends_with(GPU_DIR)) || std::env::var_os("ORT_DYLIB_PATH").is_some()
        );
    }

    #[test]
    fn driver_problems_come_first_and_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        all_files(dir.path());
        let dirs = [dir.path().to_path_buf()];
        let none = Driver::Missing {
            error: "libcuda.so.1: cannot open shared object file".into(),
            nvidia_smi: false,
            proc_nvidia: false,
        };
        let e = check_gpu_stack(&none, &dirs).unwrap_err();
        assert!(
            e.to_string().starts_with("no NVIDIA driver on this machine (libcuda.so.1 not found, nvidia-smi absent"),
            "{e}"
        );
        assert!(e.advice().contains("--device cpu") && e.advice().contains("580"), "{}", e.advice());

        let broken = Driver::Missing {
            error: "libcuda.so.1: cannot open shared object file".into(),
            nvidia_smi: true,
            proc_nvidia: true,
        };
        let e = check_gpu_stack(&broken, &dirs).unwrap_err();
        assert!(
            e.to_string()
                .contains("libcuda.so.1 cannot be loaded although nvidia-smi exists: libcuda.so.1: cannot open"),
            "{e}"
        );
        assert!(e.advice().contains("Reinstall the NVIDIA driver"), "{}", e.advice());

        let old = Driver::Present { cuda_version: 12040 };
        let e = check_gpu_stack(&old, &dirs).unwrap_err();
        assert_eq!(
            e.to_string(),
            "NVIDIA driver too old: it supports CUDA 12.4, ONNX Runtime 1.31.1's CUDA build needs CUDA 13"
        );
        assert!(e.advice().contains("580 or newer"), "{}", e.advice());
    }

    #[test]
    fn missing_gpu_libraries_are_named() {
        let ok = Driver::Present { cuda_version: 13000 };
        let empty = tempfile::tempdir().unwrap();
        let e = check_gpu_stack(&ok, &[empty.path().to_path_buf(), PathBuf::from("/nowhere")]).unwrap_err();
        assert!(matches!(e, CudaMissing::NotFetched { .. }));
        assert!(
            e.to_string().contains("the GPU libraries are not fetched (no libonnxruntime_providers_cuda.so in "),
            "{e}"
        );
        assert!(
            e.to_string().contains("/nowhere") && e.to_string().contains("run `bash scripts/setup.sh --gpu`"),
            "{e}"
        );
        assert!(e.advice().contains("no system CUDA is needed"), "{}", e.advice());

        let dir = tempfile::tempdir().unwrap();
        all_files(dir.path());
        std::fs::remove_file(dir.path().join("libcudnn.so.9")).unwrap();
        std::fs::remove_file(dir.path().join("libcublasLt.so.13")).unwrap();
        let e = check_gpu_stack(&ok, &[empty.path().to_path_buf(), dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(e.to_string(), format!("libcublasLt.so.13, libcudnn.so.9 missing from {}", dir.path().display()));
        assert!(
            e.advice()
                .starts_with(&format!("Delete {} and run `bash scripts/setup.sh --gpu` again", dir.path().display()))
        );

        all_files(dir.path());
        assert_eq!(check_gpu_stack(&ok, &[empty.path().to_path_buf(), dir.path().to_path_buf()]).unwrap(), dir.path());
    }

    #[test]
    fn an_unloadable_library_is_named_with_the_loaders_reason() {
        let dir = tempfile::tempdir().unwrap();
        all_files(dir.path()); // empty files: not ELF
        let e = preload_gpu_libraries(dir.path()).unwrap_err();
        let CudaMissing::Unloadable { path, error } = &e else { panic!("{e:?}") };
        assert_eq!(path, &dir.path().join("libcudart.so.13"));
        assert!(error.contains("libcudart.so.13"), "{error}");
        assert!(e.advice().starts_with(&format!("Delete {} and run", dir.path().display())), "{}", e.advice());
    }

    #[test]
    fn onnx_runtime_errors_are_cut_to_what_matters() {
        let real = "/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc:154 std::conditional_t<THRW, void, \
            onnxruntime::common::Status> onnxruntime::CudaCall(ERRTYPE, …) [with ERRTYPE = cudaError] CUDA failure 36: \
            API call is not supported in the installed CUDA driver ; GPU=-1 ; hostname=vm ; file=x.cc ; line=355 ; \
            expr=cudaSetDevice(info_.device_id); ";
        let m = ort_message(real);
        assert_eq!(m, "CUDA failure 36: API call is not supported in the installed CUDA driver");
        assert!(CudaMissing::Register(m).advice().contains("580 or newer"));
        let load = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& \
            onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library /g/libonnxruntime_providers_cuda.so \
            with error: libcublasLt.so.13: cannot open shared object file: No such file or directory";
        assert!(
            ort_message(load).starts_with(
                "Failed to load library /g/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13"
            )
        );
        let dml = "C:\\__w\\1\\s\\win-onnxruntime\\onnxruntime\\core\\providers\\dml\\dml_provider_factory.cc:326 \
            onnxruntime::DMLProviderFactoryCreator::CreateFromDeviceOptions Failed to load dxcore.dll. Expected on older \
            Windows version that do not support dxcore.";
        assert!(ort_message(dml).starts_with("Failed to load dxcore.dll. Expected"), "{}", ort_message(dml));
        for (err, advice) in [
            ("CUDA failure 2: out of memory", "out of memory"),
            ("CUDA failure 46: all CUDA-capable devices are busy or unavailable", "busy or reserved"),
            ("CUDA failure 100: no CUDA-capable device is detected", "sees no GPU"),
            ("CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version", "580 or newer"),
        ] {
            let e = CudaMissing::Register(err.into());
            assert!(e.advice().contains(advice), "{err}: {}", e.advice());
            assert_eq!(e.to_string(), format!("the CUDA execution provider did not start: {err}"));
        }
    }
}
