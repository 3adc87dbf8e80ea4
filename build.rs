//! Provenance baked into the binary: the git commit it was built from (and whether the tree had
//! uncommitted changes), and the sha256 of the shipped models, so that `--version` and every
//! `session.json` can say which code and which weights produced a number.
//!
//! Light on purpose: `git` is asked through the command line (no git library), and a build outside a
//! git checkout (a source tarball, `cargo install` from crates.io) says `unknown` instead of failing.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[allow(dead_code)]
mod model_files {
    include!("src/model_files.rs");
}

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = match git_state(&root) {
        Some((sha, true)) => format!("{sha}-dirty"),
        Some((sha, false)) => sha,
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=EMOTION_MONITOR_COMMIT={commit}");
    // `(file, sha256)` of each shipped model for src/provenance.rs, and `--version`'s text (sha256sum's format).
    let mut built = String::from("[");
    let mut version = format!("{}\ncommit {commit}", std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    for file in model_files::MODEL_FILES {
        let path = root.join("models").join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let hash = sha256(&path).unwrap_or_else(|| "missing".to_string());
        built.push_str(&format!("({file:?}, {hash:?}),"));
        version.push_str(&format!("\n{hash}  models/{file}"));
    }
    built.push(']');
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let write = |name: &str, text: &str| {
        if let Err(e) = std::fs::write(out.join(name), text) {
            println!("cargo:warning=cannot write {name} into OUT_DIR: {e}");
        }
    };
    write("built_models.rs", &built);
    write("long_version.txt", &version);
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/model_files.rs");
}

/// `(commit, dirty)` from `git` (and the files whose change means it must be asked again); `None` when
/// this is not a git checkout or git is not installed.
fn git_state(root: &Path) -> Option<(String, bool)> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let git_dir = PathBuf::from(git(&["rev-parse", "--absolute-git-dir"])?);
    let common = git(&["rev-parse", "--git-common-dir"]).map(|c| root.join(c)).unwrap_or_else(|| git_dir.clone());
    // HEAD moves on checkout, refs on commit, the index on add/commit (and on `git status` refreshes);
    // the source files themselves are watched by cargo, and their edits rerun this script too.
    for p in [git_dir.join("HEAD"), git_dir.join("index"), common.join("refs"), common.join("packed-refs")] {
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    for dir in ["src", "Cargo.toml", "Cargo.lock", "models"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let commit = git(&["rev-parse", "HEAD"])?;
    // Changes to tracked files only: untracked scratch files (data, sessions) do not make a build dirty.
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some((commit, dirty))
}

/// Lower-case hex sha256 of a file, or `None` when it cannot be read.
fn sha256(path: &Path) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    let digest = Sha256::digest(&data);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}
