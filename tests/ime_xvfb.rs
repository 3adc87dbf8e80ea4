//! Korean typed through a real input method: on an Xvfb display with its own D-Bus session, ibus
//! (XIM) with the Hangul engine composes "퀴즈 시작" from the keys of the 2-set Korean keyboard that
//! xdotool presses in the window's marker field; the `M` hotkey then sets that marker, and the
//! session's markers.csv must hold it. This is what a teacher with ibus-hangul on X11 does.
//!
//! Skips loudly (fails under CI=true) when Xvfb, dbus-daemon, ibus with its Hangul engine, xdotool,
//! imagemagick, ffmpeg, the models or the dataset are missing (`bash scripts/setup.sh` installs them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{have, one_face_video, skip, window_models};

/// Processes this test started, ended by their own ids when it finishes (pass or fail); the ibus
/// daemon of our D-Bus session is asked to exit first.
struct Started(Vec<Child>, Vec<u32>, Option<(String, String)>);

impl Drop for Started {
    fn drop(&mut self) {
        if let Some((display, bus)) = &self.2 {
            let _ = Command::new("ibus")
                .arg("exit")
                .env("DISPLAY", display)
                .env("DBUS_SESSION_BUS_ADDRESS", bus)
                .stderr(Stdio::null())
                .status();
        }
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in &self.1 {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// The display's environment: X, the D-Bus session, the input method.
struct Desktop {
    display: String,
    bus: String,
}

impl Desktop {
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("XMODIFIERS", "@im=ibus")
            .env_remove("WAYLAND_DISPLAY");
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self.cmd(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn key(&self, key: &str) {
        self.run("xdotool", &["key", key]);
        std::thread::sleep(Duration::from_millis(120));
    }
}

/// The first text field of the second row of the top panel (the marker name) in a screenshot: text
/// fields are the long runs of the darkest background; row one holds the video path field.
fn marker_field(shot: &Path) -> Option<(u32, u32)> {
    let img = image::open(shot).ok()?.to_rgb8();
    let mut runs: Vec<(u32, u32, u32)> = Vec::new(); // (y, x0, x1)
    for y in 0..img.height().min(140) {
        let mut start = None;
        for x in 0..img.width().min(1280) {
            let p = img.get_pixel(x, y).0;
            let dark = p.iter().all(|&c| c <= 14);
            match (dark, start) {
                (true, None) => start = Some(x),
                (false, Some(s)) => {
                    if x - s >= 90 {
                        runs.push((y, s, x));
                    }
                    start = None;
                }
                _ => {}
            }
        }
    }
    // Group the runs into fields by row band (a field is ~20 px high), keep each band's leftmost.
    let mut bands: Vec<(u32, u32, u32)> = Vec::new();
    for (y, x0, x1) in runs {
        match bands.iter_mut().find(|b| y.abs_diff(b.0) <= 24) {
            Some(b) if x0 < b.1 => *b = (b.0, x0, x1),
            Some(_) => {}
            None => bands.push((y, x0, x1)),
        }
    }
    let (y, x0, x1) = *bands.get(1)?;
    Some(((x0 + x1) / 2, y + 6))
}

/// The session under `sessions` has per-frame rows (frames are being analysed).
fn analysed_rows(sessions: &Path) -> bool {
    let Ok(dirs) = std::fs::read_dir(sessions) else { return false };
    dirs.flatten().any(|d| std::fs::metadata(d.path().join("frames.csv")).is_ok_and(|m| m.len() > 400))
}

#[test]
fn hangul_typed_through_ibus_becomes_a_marker() {
    for p in ["Xvfb", "dbus-daemon", "ibus-daemon", "ibus", "xdotool", "import", "ffmpeg"] {
        if !have(p) {
            return skip(&format!(
                "{p} not installed (bash scripts/setup.sh: xvfb ibus ibus-hangul xdotool imagemagick)"
            ));
        }
    }
    let Some(models) = window_models() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("lecture.mp4");
    let Some(()) = one_face_video("ime_xvfb", &video, 40) else { return };

    // A display of our own and a D-Bus session of our own.
    let mut started = Started(Vec::new(), Vec::new(), None);
    let display = format!(":{}", 60 + std::process::id() % 300);
    started.0.push(
        Command::new("Xvfb")
            .args([display.as_str(), "-screen", "0", "1400x1000x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb"),
    );
    let bus = Command::new("dbus-daemon")
        .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
        .output()
        .expect("start dbus-daemon");
    let text = String::from_utf8_lossy(&bus.stdout).to_string();
    let mut lines = text.lines();
    let (Some(address), Some(pid)) = (lines.next(), lines.next().and_then(|p| p.trim().parse::<u32>().ok())) else {
        panic!("dbus-daemon printed no address: {text}");
    };
    started.1.push(pid);
    let desk = Desktop { display, bus: address.to_string() };
    started.2 = Some((desk.display.clone(), desk.bus.clone()));
    std::thread::sleep(Duration::from_millis(500));

    // ibus with XIM, Hangul engine (it starts in Latin mode; Shift+Space switches to Hangul).
    let status = desk
        .cmd("ibus-daemon")
        .args(["--xim", "--daemonize", "--replace", "--panel=disable"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ibus-daemon failed");
    let t0 = Instant::now();
    while desk.run("ibus", &["engine"]) != "hangul" {
        let _ = desk.cmd("ibus").args(["engine", "hangul"]).stderr(Stdio::null()).status();
        assert!(t0.elapsed() < Duration::from_secs(20), "ibus did not take the hangul engine");
        std::thread::sleep(Duration::from_millis(300));
    }

    let sessions = tmp.path().join("sessions");
    let exe = env!("CARGO_BIN_EXE_emotion-monitor");
    let app = desk
        .cmd(exe)
        .args(["--device", "cpu", "--lang", "ko", "--sessions"])
        .arg(&sessions)
        .args(["window", "--video"])
        .arg(&video)
        .args(["--start", "--exit-after", "30"])
        .env("EMOTION_MONITOR_MODELS", &models)
        .env("XDG_DATA_HOME", tmp.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the window");
    started.0.push(app);

    // The window, then its layout (models loaded, the session recording).
    let t0 = Instant::now();
    let window = loop {
        let w = desk.run("xdotool", &["search", "--name", "^emotion-monitor$"]);
        if let Some(id) = w.lines().next().filter(|l| !l.is_empty()) {
            break id.to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no window appeared");
        std::thread::sleep(Duration::from_millis(300));
    };
    // The layout is final once the models are loaded: wait for analysed rows in the session.
    let t0 = Instant::now();
    while !analysed_rows(&sessions) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no frame was analysed");
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(1));
    let shot = tmp.path().join("before.png");
    desk.run("import", &["-window", "root", shot.to_str().unwrap()]);
    let (x, y) = marker_field(&shot).unwrap_or_else(|| panic!("marker field not found in {}", shot.display()));

    desk.run("xdotool", &["windowfocus", "--sync", &window]);
    desk.run("xdotool", &["mousemove", &x.to_string(), &y.to_string(), "click", "1"]);
    std::thread::sleep(Duration::from_millis(400));
    desk.key("shift+space");
    // 퀴즈 시작 on the 2-set keyboard: ㅋㅜㅣ ㅈㅡ ␣ ㅅㅣ ㅈㅏㄱ.
    for k in ["z", "n", "l", "w", "m", "space", "t", "l", "w", "k", "r"] {
        desk.key(k);
    }
    desk.key("Return"); // commits the last syllable; the field lets go of the keyboard
    desk.key("Escape");
    std::thread::sleep(Duration::from_millis(300));
    desk.key("m"); // the marker hotkey, with the typed name

    let mut app = started.0.pop().unwrap();
    let t0 = Instant::now();
    while app.try_wait().ok().flatten().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(60), "the window did not close");
        std::thread::sleep(Duration::from_millis(200));
    }
    let markers: Vec<PathBuf> = std::fs::read_dir(&sessions)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("markers.csv"))
        .filter(|p| p.is_file())
        .collect();
    let text = markers.first().map(|p| std::fs::read_to_string(p).unwrap()).unwrap_or_default();
    assert!(text.contains("퀴즈 시작"), "markers.csv: {text:?} (screenshot before typing: {})", shot.display());
}
