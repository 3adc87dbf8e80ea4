//! The GPU path on machines without a GPU (CI): setup.sh's GPU decision and plan with a fake `nvidia-smi` (nothing
//! is downloaded), and every message `--device cuda` / `--device auto` give when CUDA cannot be used: no driver, a
//! driver too old (a stub libcuda.so.1 compiled here), GPU libraries not fetched, one missing, one unloadable.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emotion_monitor::runtime::{self, Driver, gpu_files};

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn script(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A folder of fake tools for PATH: `nvidia-smi` printing `smi` (or failing when None), and python3/pip/curl/apt-get
/// that leave a mark, so that a plan that fetched or installed anything is caught.
fn fake_bin(smi: Option<&str>) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    match smi {
        Some(line) => script(d.path(), "nvidia-smi", &format!("echo '{line}'")),
        None => script(
            d.path(),
            "nvidia-smi",
            "echo 'NVIDIA-SMI has failed because it couldn'\"'\"'t communicate with the NVIDIA driver.'; exit 9",
        ),
    }
    for tool in ["python3", "pip", "curl", "apt-get", "sudo", "unzip"] {
        script(d.path(), tool, &format!("touch '{}/FETCHED'; exit 1", d.path().display()));
    }
    d
}

/// `bash scripts/setup.sh <args>` with `bin` first on PATH and /proc/driver/nvidia replaced by `proc_nvidia`.
fn setup(args: &[&str], bin: &Path, proc_nvidia: &Path, env: &[(&str, &str)]) -> Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("bash");
    c.arg(common::root().join("scripts/setup.sh")).args(args).env("PATH", path).env("SETUP_NVIDIA_PROC", proc_nvidia);
    c.env_remove("SETUP_DRY_RUN");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run setup.sh");
    assert!(!bin.join("FETCHED").exists(), "the plan fetched or installed something: {}", text(&o));
    o
}

fn no_proc() -> PathBuf {
    PathBuf::from("/nonexistent/proc/driver/nvidia")
}

/// The library names of the plan's `gpu wheel` lines, as shell globs.
fn planned_libraries(plan: &str) -> Vec<String> {
    plan.lines()
        .filter_map(|l| l.strip_prefix("plan: gpu wheel "))
        .flat_map(|l| l.split_once(": ").map(|(_, libs)| libs.split_whitespace().map(String::from).collect::<Vec<_>>()))
        .flatten()
        .collect()
}

fn glob_match(glob: &str, name: &str) -> bool {
    match glob.split_once('*') {
        Some((pre, post)) => name.starts_with(pre) && name.ends_with(post) && name.len() >= pre.len() + post.len(),
        None => glob == name,
    }
}

#[test]
fn setup_plans_the_gpu_stack_when_nvidia_smi_works() {
    let bin = fake_bin(Some("NVIDIA H200, 580.95.05"));
    let o = setup(&["--print-plan"], bin.path(), &no_proc(), &[]);
    let plan = text(&o);
    assert!(o.status.success(), "{plan}");
    assert!(plan.contains("plan: cpu onnxruntime==1.31.1 -> third_party/onnxruntime/libonnxruntime.so"), "{plan}");
    assert!(
        plan.contains("plan: gpu yes (nvidia-smi: NVIDIA H200, 580.95.05) -> third_party/onnxruntime-gpu"),
        "{plan}"
    );
    for wheel in [
        "onnxruntime-gpu==1.31.1",
        "nvidia-cuda-runtime==13.",
        "nvidia-cublas==13.",
        "nvidia-curand==10.",
        "nvidia-cufft==12.",
        "nvidia-nvjitlink==13.",
        "nvidia-cuda-nvrtc==13.",
        "nvidia-cudnn-cu13==9.",
    ] {
        assert!(plan.contains(&format!("plan: gpu wheel {wheel}")), "{wheel} missing: {plan}");
    }
    assert!(!plan.contains("warning"), "{plan}");
    // every library the app requires is taken from some wheel (the script and the app agree)
    let libs = planned_libraries(&plan);
    for f in gpu_files() {
        let name = if f == "libonnxruntime.so" { "libonnxruntime.so.1.31.1" } else { f };
        assert!(libs.iter().any(|g| glob_match(g, name)), "{name} is in no wheel of the plan: {libs:?}");
    }
    // SETUP_DRY_RUN=1 is the same as --print-plan
    let o = setup(&[], bin.path(), &no_proc(), &[("SETUP_DRY_RUN", "1")]);
    assert_eq!(text(&o), plan);
}

#[test]
fn setup_plans_the_gpu_stack_from_proc_or_gpu_flag_and_warns_about_old_drivers() {
    let proc = tempfile::tempdir().unwrap();
    let none = tempfile::tempdir().unwrap(); // no nvidia-smi at all (unless the machine has one: then a failing fake)
    let bin = fake_bin(None);
    let o = setup(&["--print-plan"], bin.path(), proc.path(), &[]);
    assert!(text(&o).contains(&format!("plan: gpu yes ({} exists)", proc.path().display())), "{}", text(&o));
    let o = setup(&["--print-plan", "--gpu"], none.path(), &no_proc(), &[]);
    assert!(text(&o).contains("plan: gpu yes (--gpu)"), "{}", text(&o));
    let old = fake_bin(Some("535.104.05"));
    let o = setup(&["--gpu", "--print-plan"], old.path(), &no_proc(), &[]);
    assert!(
        text(&o).contains("warning: NVIDIA driver 535.104.05 is older than 580, the first to support CUDA 13"),
        "{}",
        text(&o)
    );
}

#[test]
fn setup_keeps_the_cpu_path_without_a_gpu() {
    // nvidia-smi present but failing (driver not loaded), no /proc/driver/nvidia: CPU only
    let bin = fake_bin(None);
    let o = setup(&["--print-plan", "--training"], bin.path(), &no_proc(), &[]);
    let plan = text(&o);
    assert!(o.status.success(), "{plan}");
    assert_eq!(
        plan,
        "plan: cpu onnxruntime==1.31.1 -> third_party/onnxruntime/libonnxruntime.so\n\
         plan: gpu no (no NVIDIA GPU found (nvidia-smi absent or failing, no /proc/driver/nvidia))\n"
    );
    // --no-gpu wins over a working nvidia-smi
    let gpu = fake_bin(Some("NVIDIA H200, 580.95.05"));
    let o = setup(&["--no-gpu", "--print-plan"], gpu.path(), &no_proc(), &[]);
    assert!(text(&o).contains("plan: gpu no (--no-gpu)"), "{}", text(&o));
    // a typo is an error, not a silent default
    let o = setup(&["--gpus"], bin.path(), &no_proc(), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown option --gpus"), "{}", text(&o));
}

// --- the app's messages ------------------------------------------------------------------------

/// The CPU library, or None (skipped) when setup.sh has not fetched it.
fn cpu_library() -> Option<PathBuf> {
    let lib = common::root().join("third_party/onnxruntime/libonnxruntime.so");
    if lib.is_file() {
        Some(lib)
    } else {
        common::skip("ONNX Runtime library missing (run bash scripts/setup.sh)");
        None
    }
}

/// True where a real NVIDIA driver is loadable: these tests are about machines without one.
fn has_driver() -> bool {
    let present = matches!(runtime::probe_driver(), Driver::Present { .. });
    if present {
        eprintln!("gpu_setup: an NVIDIA driver is present; the no-GPU message tests do not apply here");
    }
    present
}

/// A stub libcuda.so.1 reporting CUDA `version` (as cuDriverGetVersion gives it), compiled with `cc`.
fn stub_driver(dir: &Path, version: i32) -> Option<PathBuf> {
    let src = dir.join("stub.c");
    std::fs::write(
        &src,
        format!(
            "int cuDriverGetVersion(int *v) {{ *v = {version}; return 0; }}\n\
             int cuInit(unsigned f) {{ return 100; }}\n"
        ),
    )
    .unwrap();
    let lib = dir.join("libcuda.so.1");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        common::skip("no C compiler (cc) for the stub libcuda.so.1");
    }
    ok.then(|| dir.to_path_buf())
}

/// `emotion-monitor --device <device> analyze <a small image>`, with extra environment.
fn analyze(device: &str, env: &[(&str, &Path)]) -> (Output, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("empty_room.png");
    image::RgbImage::from_pixel(160, 120, image::Rgb([90, 110, 130])).save(&img).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_emotion-monitor"));
    c.args(["--device", device, "analyze"]).arg(&img).args(["--quiet", "--sessions", "s"]);
    c.current_dir(tmp.path()).env("RUST_LOG", "warn").env_remove("ORT_DYLIB_PATH").env_remove("LD_LIBRARY_PATH");
    for (k, v) in env {
        c.env(k, v);
    }
    (c.output().expect("run emotion-monitor"), tmp)
}

fn session_json(tmp: &Path) -> String {
    let dir = std::fs::read_dir(tmp.join("s")).unwrap().next().unwrap().unwrap().path();
    std::fs::read_to_string(dir.join("session.json")).unwrap()
}

#[test]
fn without_a_driver_cuda_fails_and_auto_falls_back_saying_why() {
    if cpu_library().is_none() || has_driver() {
        return;
    }
    let (o, _t) = analyze("cuda", &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(
        out.contains("--device cuda was requested but CUDA cannot be used: no NVIDIA driver on this machine (libcuda.so.1 not found"),
        "{out}"
    );
    assert!(out.contains("on this machine use --device cpu"), "{out}");

    let (o, t) = analyze("auto", &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("on CPU (CUDA unavailable: no NVIDIA driver on this machine"), "{out}");
    assert!(session_json(t.path()).contains("on CPU (CUDA unavailable: no NVIDIA driver"), "session.json");

    let (o, t) = analyze("cpu", &[]);
    let out = text(&o);
    assert!(o.status.success() && out.contains(" on CPU), "), "{out}");
    assert!(!session_json(t.path()).contains("CUDA"));
}

#[test]
fn an_old_driver_and_missing_gpu_libraries_are_named() {
    let Some(cpu) = cpu_library() else { return };
    if has_driver() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    let (Some(old), Some(new)) = (stub_driver(&old, 12040), stub_driver(&new, 13000)) else { return };

    let (o, _t) = analyze("cuda", &[("LD_LIBRARY_PATH", &old)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("NVIDIA driver too old: it supports CUDA 12.4, ONNX Runtime 1.31.1's CUDA build needs CUDA 13"),
        "{out}"
    );
    assert!(out.contains("Update the NVIDIA driver to 580 or newer"), "{out}");

    // A driver, but ONNX Runtime pinned to the CPU build's folder: no GPU libraries there.
    let (o, _t) = analyze("cuda", &[("LD_LIBRARY_PATH", &new), ("ORT_DYLIB_PATH", &cpu)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("the GPU libraries are not fetched (no libonnxruntime_providers_cuda.so in "), "{out}");
    assert!(out.contains("run `bash scripts/setup.sh --gpu`"), "{out}");
    let (o, _t) = analyze("auto", &[("LD_LIBRARY_PATH", &new), ("ORT_DYLIB_PATH", &cpu)]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("on CPU (CUDA unavailable: the GPU libraries are not fetched"), "{out}");

    // A GPU folder with one library missing, then with libraries that are not libraries.
    let gpu = tmp.path().join("gpu");
    std::fs::create_dir_all(&gpu).unwrap();
    std::os::unix::fs::symlink(&cpu, gpu.join("libonnxruntime.so")).unwrap();
    for f in gpu_files().into_iter().filter(|f| *f != "libonnxruntime.so" && *f != "libcudnn_ops.so.9") {
        std::fs::write(gpu.join(f), b"").unwrap();
    }
    let lib = gpu.join("libonnxruntime.so");
    let (o, _t) = analyze("cuda", &[("LD_LIBRARY_PATH", &new), ("ORT_DYLIB_PATH", &lib)]);
    let out = text(&o);
    assert!(out.contains(&format!("libcudnn_ops.so.9 missing from {}", gpu.display())), "{out}");
    assert!(out.contains(&format!("Delete {} and run `bash scripts/setup.sh --gpu` again", gpu.display())), "{out}");
    std::fs::write(gpu.join("libcudnn_ops.so.9"), b"").unwrap();
    let (o, _t) = analyze("auto", &[("LD_LIBRARY_PATH", &new), ("ORT_DYLIB_PATH", &lib)]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "on CPU (CUDA unavailable: {} cannot be loaded: ",
            gpu.join("libcudart.so.13").display()
        )),
        "{out}"
    );
}
