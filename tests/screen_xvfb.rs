//! The teacher's view, end to end under Xvfb: a 2x2 video-call gallery (real webcam footage,
//! composed here with ffmpeg) plays full-screen in `ffplay`, and `emotion-monitor analyze screen:0`
//! finds its faces; the same for a region; capture rates are measured; wrong screens, regions and
//! a missing display get clear errors; the window shows that the screen is watched.
//!
//! Needs Xvfb, ffmpeg/ffplay, the models and the real clip (`$REAL_FACES_DIR`, else
//! `../shared/data/real_faces`): skips loudly without them, fails instead under CI=true.
//! Run alone: `cargo test --release --test screen_xvfb -- --nocapture`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use emotion_monitor::source::{FrameSource, Region, ScreenOptions, ScreenSource, ScreenTarget};

const SCREEN: (u32, u32) = (1920, 1080);
const CLIP: &str = "openface_2015-10-15-15-14.avi";

/// Kills and reaps a child process we started (Xvfb, ffplay) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

/// The real clip, from `$REAL_FACES_DIR` or `../shared/data/real_faces` next to the repository.
fn real_clip() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("REAL_FACES_DIR").map(PathBuf::from), Some(common::root().join("../shared/data/real_faces"))];
    let found = candidates.into_iter().flatten().map(|d| d.join(CLIP)).find(|p| p.is_file());
    if found.is_none() {
        common::skip(&format!(
            "screen_xvfb: {CLIP} not found (set REAL_FACES_DIR or put it in ../shared/data/real_faces)"
        ));
    }
    found
}

/// A 1280x720 gallery of 2x2 tiles of 640x360, each the clip from another start, 12 s at 15 fps.
fn compose_gallery(clip: &Path, out: &Path) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    for start in [0, 7, 14, 21] {
        cmd.args(["-ss", &start.to_string(), "-i"]).arg(clip);
    }
    let tile = "fps=15,scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1";
    let filter = format!(
        "[0:v]{tile}[a];[1:v]{tile}[b];[2:v]{tile}[c];[3:v]{tile}[d];[a][b][c][d]xstack=inputs=4:layout=0_0|640_0|0_360|640_360[out]"
    );
    let status = cmd
        .args(["-filter_complex", &filter, "-map", "[out]", "-t", "12", "-r", "15"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"])
        .arg(out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not compose the gallery");
}

/// Starts `Xvfb` on a free display; returns it and the display name (":N").
fn start_xvfb() -> (Reaped, String) {
    let base = 90 + std::process::id() % 200;
    for n in base..base + 40 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args(["-screen", "0", &format!("{}x{}x24", SCREEN.0, SCREEN.1), "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut xvfb = Reaped(child);
        let socket = format!("/tmp/.X11-unix/X{n}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if xvfb.0.try_wait().ok().flatten().is_some() {
                break; // taken by someone else meanwhile: try the next number
            }
            if Path::new(&socket).exists() {
                return (xvfb, format!(":{n}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("no free X display for Xvfb");
}

/// The app's binary with the models, the display and no Wayland (so xcap takes the X11 path).
fn app(display: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emotion-monitor"));
    cmd.env("EMOTION_MONITOR_MODELS", emotion_monitor::pipeline::models_dir())
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("XDG_SESSION_TYPE")
        .args(["--device", "cpu"]);
    match display {
        Some(d) => cmd.env("DISPLAY", d),
        None => cmd.env_remove("DISPLAY"),
    };
    cmd
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Rows of a frames CSV as (frame, x, y, w, h).
fn boxes(csv: &Path) -> Vec<(u64, f64, f64, f64, f64)> {
    let mut r = csv::Reader::from_path(csv).unwrap_or_else(|e| panic!("{}: {e}", csv.display()));
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
    let (f, x, y, w, hh) = (col("frame"), col("x"), col("y"), col("w"), col("h"));
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let num = |i: usize| rec[i].parse::<f64>().unwrap();
            (rec[f].parse().unwrap(), num(x), num(y), num(w), num(hh))
        })
        .collect()
}

/// Captures for `seconds` as fast as the display allows; returns (captures per second, size).
/// The process's DISPLAY must point at the display to measure.
fn capture_rate(region: Option<Region>, seconds: f64) -> (f64, (u32, u32)) {
    let target = ScreenTarget::Screen(0);
    let opts = ScreenOptions { region, duration_s: Some(seconds), max_fps: 1000.0, ..ScreenOptions::new(target) };
    rate_of(ScreenSource::open(opts).expect("open screen 0"))
}

/// Reads a source to its end; returns (captures per second, size).
fn rate_of(mut src: ScreenSource) -> (f64, (u32, u32)) {
    let size = src.size();
    let (mut first, mut last) = (None, None);
    while let Some(f) = src.next_frame().expect("capture") {
        first.get_or_insert((f.index, f.timestamp_s));
        last = Some((f.index, f.timestamp_s));
    }
    let ((i0, t0), (i1, t1)) = (first.unwrap(), last.unwrap());
    ((i1 - i0) as f64 / (t1 - t0).max(1e-9), size)
}

/// One test function: it sets DISPLAY for the library calls, which must not race with other tests.
#[test]
fn analyze_screen_finds_the_faces_of_a_gallery_playing_full_screen() {
    without_a_display_screen_capture_says_what_to_do();
    the_window_shows_that_a_screen_is_watched();
    for program in ["Xvfb", "ffmpeg", "ffplay"] {
        if !have(program) {
            return common::skip(&format!("screen_xvfb: {program} not installed (apt-get install xvfb ffmpeg)"));
        }
    }
    let models = emotion_monitor::pipeline::models_dir();
    if !models.join("mycnn.onnx").is_file() {
        return common::skip(&format!("screen_xvfb: models missing in {}", models.display()));
    }
    let Some(clip) = real_clip() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let gallery = tmp.path().join("gallery.mp4");
    compose_gallery(&clip, &gallery);

    let (_xvfb, display) = start_xvfb();
    let player = Command::new("ffplay")
        .args(["-fs", "-loop", "0", "-an", "-loglevel", "error"])
        .arg(&gallery)
        .env("DISPLAY", &display)
        .env("SDL_AUDIODRIVER", "dummy")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffplay");
    let player = Reaped(player);
    std::thread::sleep(Duration::from_secs(2)); // let it map its window and show frames

    // --- capture rates (the library, no analysis) ---
    // SAFETY: this binary has a single test, and no other thread of it reads the environment now.
    unsafe {
        std::env::set_var("DISPLAY", &display);
        std::env::remove_var("WAYLAND_DISPLAY");
        std::env::remove_var("XDG_SESSION_TYPE");
    }
    let (full_fps, full_size) = capture_rate(None, 3.0);
    let region = Region { x: 0, y: 0, width: 960, height: 540 };
    let (region_fps, region_size) = capture_rate(Some(region), 3.0);
    let small = Region { x: 0, y: 0, width: 640, height: 360 };
    let (small_fps, _) = capture_rate(Some(small), 3.0);
    eprintln!(
        "screen capture under Xvfb (ffplay playing): full {}x{} {full_fps:.1}/s, region 960x540 {region_fps:.1}/s, region 640x360 {small_fps:.1}/s",
        full_size.0, full_size.1
    );
    assert_eq!(full_size, SCREEN);
    assert_eq!(region_size, (960, 540));
    assert!(full_fps >= 3.0, "full-screen capture too slow: {full_fps:.1}/s");
    assert!(region_fps >= full_fps * 0.9, "a region should not be slower than the screen");

    // --- analyze screen:0 --duration 5: the session and the CSV, like a video ---
    let sessions = tmp.path().join("sessions");
    let csv = tmp.path().join("screen.csv");
    let started = Instant::now();
    let out = app(Some(&display))
        .arg("--sessions")
        .arg(&sessions)
        .args(["analyze", "screen:0", "--duration", "5", "--quiet", "--csv"])
        .arg(&csv)
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "analyze screen:0 failed:\n{log}");
    assert!(started.elapsed() < Duration::from_secs(60), "--duration 5 did not end the stream:\n{log}");
    eprintln!("{log}");
    let rows = boxes(&csv);
    let mut frames: Vec<u64> = rows.iter().map(|r| r.0).collect();
    frames.dedup();
    let per_frame = rows.len() as f64 / frames.len().max(1) as f64;
    eprintln!("analyze screen:0: {} frames with faces, {per_frame:.2} faces per such frame", frames.len());
    assert!(frames.len() >= 5, "faces found in only {} frames:\n{log}", frames.len());
    assert!(per_frame >= 3.0, "expected the 4 gallery faces, found {per_frame:.2} per frame:\n{log}");
    // A box in each quarter of the screen: every tile of the gallery is seen.
    for (qx, qy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let inside = |r: &&(u64, f64, f64, f64, f64)| {
            let (cx, cy) = (r.1 + r.3 / 2.0, r.2 + r.4 / 2.0);
            (cx >= f64::from(SCREEN.0 / 2)) == (qx == 1) && (cy >= f64::from(SCREEN.1 / 2)) == (qy == 1)
        };
        assert!(rows.iter().any(|r| inside(&r)), "no face in tile {qx},{qy}");
    }
    let session = std::fs::read_dir(&sessions).unwrap().flatten().map(|e| e.path()).find(|p| p.is_dir()).unwrap();
    let name = session.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("-screen-0"), "session folder {name}");
    let meta = std::fs::read_to_string(session.join("session.json")).unwrap();
    assert!(meta.contains("screen 0"), "session.json source: {meta}");
    assert!(session.join("frames.csv").is_file() && session.join("seconds.csv").is_file());
    // No pixels stored.
    let pictures = walk(&session).into_iter().filter(|p| p.extension().is_some_and(|e| e == "jpg")).count();
    assert_eq!(pictures, 0, "frames written without being asked");

    // --- a region: only the top-left tile (scaled to 960x540 on the 1920x1080 screen) ---
    let csv2 = tmp.path().join("region.csv");
    let out = app(Some(&display))
        .args(["analyze", "screen:0", "--duration", "3", "--region", "0,0,960,540", "--no-session", "--quiet", "--csv"])
        .arg(&csv2)
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "analyze with --region failed:\n{log}");
    let rows = boxes(&csv2);
    assert!(!rows.is_empty(), "no face in the region:\n{log}");
    assert!(rows.iter().all(|r| r.1 + r.3 <= 961.0 && r.2 + r.4 <= 541.0), "a box outside the 960x540 region");
    let mut frames: Vec<u64> = rows.iter().map(|r| r.0).collect();
    frames.dedup();
    let per_frame = rows.len() as f64 / frames.len() as f64;
    assert!(per_frame <= 1.5, "one tile holds one face, found {per_frame:.2} per frame");

    // --- --duration also cuts a video (at video time) ---
    let out = app(None)
        .args(["analyze", gallery.to_str().unwrap(), "--duration", "2", "--no-session", "--quiet", "--csv"])
        .arg(tmp.path().join("cut.csv"))
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success() && log.contains("analysed 30 of 30 frames"), "15 fps video, --duration 2:\n{log}");

    // --- mistakes get a message that says what to do, and exit code 1 (a malformed flag too) ---
    let expect_error = |args: &[&str], wanted: &[&str]| {
        let out = app(Some(&display)).args(args).output().unwrap();
        let log = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail:\n{log}");
        for w in wanted {
            assert!(log.contains(w), "{args:?}: expected \"{w}\" in:\n{log}");
        }
        assert!(!log.contains("panicked"), "{log}");
    };
    expect_error(
        &["analyze", "screen:7", "--no-session", "--csv", "/dev/null"],
        &["no screen 7", "screens found", "screen:0"],
    );
    expect_error(&["analyze", "screen:one", "--no-session", "--csv", "/dev/null"], &["screen:N"]);
    expect_error(
        &["analyze", "screen:0", "--region", "1800,0,200,100", "--no-session", "--csv", "/dev/null"],
        &["not inside screen 0", "1920x1080"],
    );
    expect_error(&["analyze", "screen:0", "--region", "0,0,0,10", "--no-session", "--csv", "/dev/null"], &["X,Y,W,H"]);
    // Xvfb alone has no window manager, so there is no window list.
    expect_error(&["analyze", "window:gallery", "--no-session", "--csv", "/dev/null"], &["window manager", "screen"]);
    expect_error(
        &["analyze", gallery.to_str().unwrap(), "--region", "0,0,10,10", "--no-session", "--csv", "/dev/null"],
        &["--region applies to a screen"],
    );

    // --- the window watches the screen, with the indicator, and records no pixels ---
    let shot = tmp.path().join("window.png");
    let win_sessions = tmp.path().join("win_sessions");
    let out = app(Some(&display))
        .arg("--sessions")
        .arg(&win_sessions)
        .args(["window", "--screen", "0", "--region", "960,540,960,540", "--start", "--stats", "--exit-after", "6"])
        .arg("--screenshot")
        .arg(&shot)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "window --screen 0 failed:\n{log}");
    let analysed = log
        .lines()
        .filter(|l| l.starts_with("stats "))
        .filter_map(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix("analysed_fps=")?.parse::<f64>().ok()))
        .fold(0.0, f64::max);
    assert!(analysed > 1.0, "the window analysed no screen frames:\n{log}");
    assert!(shot.is_file(), "no screenshot:\n{log}");
    let stored = walk(&win_sessions).into_iter().filter(|p| p.extension().is_some_and(|e| e == "jpg")).count();
    assert_eq!(stored, 0, "the window stored screen pixels without being asked");

    // --- one window, by title, under a small window manager (xcap lists windows through EWMH) ---
    if !have("evilwm") {
        return common::skip("screen_xvfb: evilwm not installed (apt-get install evilwm): window capture not tested");
    }
    drop(player);
    let wm_log = tmp.path().join("evilwm.log");
    let wm = Command::new("evilwm")
        .args(["-fn", "fixed"])
        .env("DISPLAY", &display)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&wm_log).unwrap())
        .spawn();
    let mut wm = Reaped(wm.expect("start evilwm"));
    std::thread::sleep(Duration::from_millis(500));
    let zoom = Command::new("ffplay")
        .args(["-x", "960", "-y", "540", "-window_title", "Zoom Meeting", "-loop", "0", "-an", "-loglevel", "error"])
        .arg(&gallery)
        .env("DISPLAY", &display)
        .env("SDL_AUDIODRIVER", "dummy")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let _zoom = Reaped(zoom.expect("start ffplay"));
    let opts = ScreenOptions {
        duration_s: Some(3.0),
        max_fps: 1000.0,
        ..ScreenOptions::new(ScreenTarget::Window("zoom".into()))
    };
    // A loaded machine may take a few seconds to map the player's window.
    let deadline = Instant::now() + Duration::from_secs(20);
    let window = loop {
        std::thread::sleep(Duration::from_secs(1));
        match ScreenSource::open(opts.clone()) {
            Ok(src) if src.size() == (960, 540) => break src,
            Ok(src) if Instant::now() > deadline => panic!("window size {:?}", src.size()),
            Err(e) if Instant::now() > deadline => panic!(
                "open the Zoom Meeting window: {e}\nevilwm exited: {:?}, said: {}",
                wm.0.try_wait(),
                std::fs::read_to_string(&wm_log).unwrap_or_default()
            ),
            _ => {}
        }
    };
    let (window_fps, window_size) = rate_of(window);
    eprintln!("window capture: {}x{} {window_fps:.1}/s", window_size.0, window_size.1);
    assert_eq!(window_size, (960, 540));
    let csv3 = tmp.path().join("window.csv");
    let out = app(Some(&display))
        .args(["analyze", "window:zoom", "--duration", "4", "--no-session", "--quiet", "--csv"])
        .arg(&csv3)
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "analyze window:zoom failed:\n{log}");
    eprintln!("{log}");
    let rows = boxes(&csv3);
    let mut frames: Vec<u64> = rows.iter().map(|r| r.0).collect();
    frames.dedup();
    let per_frame = rows.len() as f64 / frames.len().max(1) as f64;
    assert!(
        frames.len() >= 5 && per_frame >= 3.0,
        "window:zoom: {} frames, {per_frame:.2} faces per frame",
        frames.len()
    );
    assert!(rows.iter().all(|r| r.1 + r.3 <= 961.0 && r.2 + r.4 <= 541.0), "a box outside the 960x540 window");
    expect_error(
        &["analyze", "window:nothing", "--no-session", "--csv", "/dev/null"],
        &["no window title", "Zoom Meeting"],
    );
}

/// No DISPLAY: a message that says where to run it, exit code 1, no panic.
fn without_a_display_screen_capture_says_what_to_do() {
    let out = app(None).args(["analyze", "screen:0", "--no-session", "--csv", "/dev/null"]).output().unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("no display") && log.contains("DISPLAY") && log.contains("Xvfb"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    // A display that is set but not there: the same advice, for windows too.
    for spec in ["screen:0", "window:zoom"] {
        let out = app(Some(":249")).args(["analyze", spec, "--no-session", "--csv", "/dev/null"]).output().unwrap();
        let log = text(&out);
        assert_eq!(out.status.code(), Some(1), "{log}");
        assert!(log.contains("no display") && log.contains("DISPLAY=:249"), "{spec}: {log}");
    }
}

/// `window --screen 0`: the source is the screen and a red "watching screen 0" label is shown
/// while it opens and runs (headless, the app fed through its channels; no capture thread).
fn the_window_shows_that_a_screen_is_watched() {
    use eframe::egui;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use emotion_monitor::app::{EmotionApp, LiveEvent, SourceSpec, SourceState, WindowOptions};
    use emotion_monitor::pipeline::PipelineConfig;
    use emotion_monitor::runtime::Device;

    let dir = tempfile::tempdir().unwrap();
    let mut o = WindowOptions::new(PipelineConfig::with_default_models(Device::Cpu));
    o.session_root = dir.path().to_path_buf();
    o.screen = Some(ScreenOptions::new(ScreenTarget::Screen(0)));
    let (app, feed) = EmotionApp::with_feed(o);
    assert!(
        matches!(app.source_state(), SourceState::Opening { spec: SourceSpec::Screen(_), .. }),
        "{:?}",
        app.source_state()
    );
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut EmotionApp| app.ui_root(ui), app);
    h.run_ok();
    h.get_by_label("watching screen 0");
    feed.events
        .send(LiveEvent::SourceOpened {
            generation: 1,
            name: "screen 0".into(),
            live: true,
            fps: Some(15.0),
            total_frames: None,
        })
        .unwrap();
    h.run_ok();
    assert!(matches!(h.state().source_state(), SourceState::Running { .. }));
    h.get_by_label("watching screen 0");
    // Gone once the screen is no longer watched.
    feed.events.send(LiveEvent::SourceEnded { generation: 1 }).unwrap();
    h.run_ok();
    assert!(h.query_by_label("watching screen 0").is_none(), "indicator still shown after the end");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
