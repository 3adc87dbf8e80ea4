//! End to end under Xvfb: the real window replays a generated lecture video (FER2013 faces pasted
//! into 640x480 frames), records a session, prints per-second stats, saves its own screenshot and
//! exits. Skips loudly (fails under CI=true) when Xvfb, ffmpeg, the models or the dataset are missing.
//!
//! Command under test (see `src/app/mod.rs`, `WindowOptions`):
//! `emotion-monitor --device cpu --sessions DIR window --video V --start --stats --exit-after S --screenshot PNG`

use std::path::Path;
use std::process::Command;

mod common;
use common::{have, one_face_video, skip, window_models};

#[test]
fn window_replays_a_video_records_a_session_and_saves_a_screenshot() {
    if !have("xvfb-run") || !have("ffmpeg") {
        return skip("xvfb-run or ffmpeg not installed (apt-get install xvfb xauth ffmpeg)");
    }
    let Some(models) = window_models() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("lecture.mp4");
    let Some(()) = one_face_video("window_xvfb", &video, 12) else { return };

    let shot = tmp.path().join("shot.png");
    let sessions = tmp.path().join("sessions");
    let exe = env!("CARGO_BIN_EXE_emotion-monitor");
    let out = Command::new("timeout")
        .args(["120", "xvfb-run", "-a", "-s", "-screen 0 1400x1000x24", exe])
        .args(["--device", "cpu", "--sessions"])
        .arg(&sessions)
        .args(["window", "--video"])
        .arg(&video)
        .args(["--start", "--stats", "--exit-after", "8", "--screenshot"])
        .arg(&shot)
        .env("EMOTION_MONITOR_MODELS", &models)
        // Its own settings folder: what this machine's window remembers must not change the run.
        .env("XDG_DATA_HOME", tmp.path().join("data"))
        .output()
        .expect("run xvfb-run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "window exited with {:?}\n{stderr}", out.status);

    // The window's own screenshot: a real picture, not an empty buffer.
    let img = image::open(&shot).unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", shot.display())).to_rgb8();
    assert!(img.width() >= 640 && img.height() >= 480, "{}x{}", img.width(), img.height());
    let mut colors: Vec<[u8; 3]> = img.pixels().step_by(97).map(|p| p.0).collect();
    colors.sort_unstable();
    colors.dedup();
    assert!(colors.len() > 50, "screenshot looks blank ({} colours)", colors.len());

    // Per-second stats: frames were analysed, close to real time.
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("stats ")).collect();
    assert!(lines.len() >= 4, "expected stats lines:\n{stderr}");
    let analysed: Vec<f64> = lines.iter().filter_map(|l| field(l, "analysed_fps")).collect();
    let best = analysed.iter().copied().fold(0.0, f64::max);
    assert!(best > 5.0, "analysed fps {analysed:?}\n{stderr}");
    let faces_seen = lines.iter().filter_map(|l| field(l, "faces")).fold(0.0, f64::max);
    assert!(faces_seen >= 1.0, "no face found in any second:\n{stderr}");

    // The session was recorded (aggregates only: no frames without the checkbox).
    let session =
        std::fs::read_dir(&sessions).unwrap().flatten().map(|e| e.path()).find(|p| p.is_dir()).expect("session folder");
    assert!(has_csv(&session), "no CSV in {}", session.display());
    assert!(!session.join("frames").exists(), "frames written without consent");

    if let Ok(to) = std::env::var("EMOTION_MONITOR_SCREENSHOT_TO") {
        std::fs::copy(&shot, &to).unwrap();
    }
}

/// Remembered settings (eframe persistence) across a real restart: the first run opens a video
/// given on the command line; the second, given none, reopens it from what the first one saved.
#[test]
fn a_restarted_window_reopens_the_video_it_had() {
    if !have("xvfb-run") || !have("ffmpeg") {
        return skip("xvfb-run or ffmpeg not installed (apt-get install xvfb xauth ffmpeg)");
    }
    let Some(models) = window_models() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("3주차 수업.mp4");
    let Some(()) = one_face_video("window_xvfb", &video, 12) else { return };
    let data = tmp.path().join("data");
    let exe = env!("CARGO_BIN_EXE_emotion-monitor");
    let run = |sessions: &Path, video: Option<&Path>| {
        let mut cmd = Command::new("timeout");
        cmd.args(["120", "xvfb-run", "-a", "-s", "-screen 0 1400x1000x24", exe])
            .args(["--device", "cpu", "--sessions"])
            .arg(sessions)
            .arg("window");
        if let Some(v) = video {
            cmd.arg("--video").arg(v);
        }
        let out = cmd
            .args(["--start", "--exit-after", "5"])
            .env("EMOTION_MONITOR_MODELS", &models)
            .env("XDG_DATA_HOME", &data)
            .output()
            .expect("run xvfb-run");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "window exited with {:?}\n{stderr}", out.status);
        stderr
    };

    let first = tmp.path().join("first");
    run(&first, Some(&video));
    let saved = std::fs::read_to_string(data.join("emotion-monitor").join("app.ron"))
        .unwrap_or_else(|e| panic!("no settings saved in {}: {e}", data.display()));
    assert!(saved.contains("3주차 수업.mp4"), "the video is not remembered:\n{saved}");

    // Nothing on the command line: without the remembered video this machine (no camera) has no source,
    // and no session would be recorded.
    let second = tmp.path().join("second");
    let stderr = run(&second, None);
    let session = std::fs::read_dir(&second)
        .ok()
        .and_then(|d| d.flatten().map(|e| e.path()).find(|p| p.is_dir()))
        .unwrap_or_else(|| panic!("the second run recorded no session: the video was not reopened\n{stderr}"));
    let json = std::fs::read_to_string(session.join("session.json")).unwrap();
    assert!(json.contains("3주차 수업.mp4"), "the second session is not from the remembered video:\n{json}");
}

fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn has_csv(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| d.flatten().any(|e| e.path().extension().is_some_and(|x| x == "csv")))
}
