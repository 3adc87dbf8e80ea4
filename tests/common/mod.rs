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
