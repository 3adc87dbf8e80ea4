//! Which code and which weights produced a number: the app version, the git commit the binary was
//! built from (baked in by `build.rs`), and the sha256 of model files — those shipped at build time
//! (`--version`) and those a session actually loaded (`session.json`).

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version in Cargo.toml.
pub(crate) const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (40 hex digits), with `-dirty` appended when tracked files
/// differed from it at build time; `unknown` for a build outside a git checkout.
pub const COMMIT: &str = env!("EMOTION_MONITOR_COMMIT");

/// sha256 of the shipped models in `models/` when the binary was built (`missing` if a file was absent).
pub const BUILT_MODELS: [(&str, &str); crate::model_files::MODEL_FILES.len()] =
    include!(concat!(env!("OUT_DIR"), "/built_models.rs"));

/// What `emotion-monitor --version` prints after the program name: version, commit, and the shipped
/// models' hashes in `sha256sum`'s format (so `sha256sum -c` can check a models folder against them).
pub const LONG_VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/long_version.txt"));

/// One model file a session loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// What it does in the pipeline: `detector` (BlazeFace), `scene detector` (CenterFace), `emotion`.
    pub role: String,
    pub path: String,
    /// Lower-case hex sha256 of the file as it was when the session started.
    pub sha256: String,
}

impl ModelFile {
    /// Hashes `path` now (the file the pipeline loads). An unreadable file is recorded as such rather
    /// than failing the session: the pipeline itself reports a model it cannot load.
    pub fn of(role: &str, path: &Path) -> Self {
        let sha256 = sha256_file(path).unwrap_or_else(|e| format!("unreadable: {e}"));
        Self { role: role.to_string(), path: path.display().to_string(), sha256 }
    }
}

/// Lower-case hex sha256 of a file, read in blocks (a model can be tens of megabytes).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_text() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("abc.txt");
        std::fs::write(&p, b"abc").unwrap();
        // FIPS 180-2, appendix B.1.
        assert_eq!(sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_shipped_models_hash_as_at_build_time() {
        let dir = crate::pipeline::models_dir();
        for (file, built) in BUILT_MODELS {
            assert_eq!(sha256_file(&dir.join(file)).unwrap(), built, "{file} changed since the build");
        }
    }
}
