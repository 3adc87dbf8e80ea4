//! `emotion-monitor analyze` end to end on generated media, and every bad input the issue lists:
//! each must give a clear message and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emotion_monitor::synth;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_emotion-monitor"));
    c.env("RUST_LOG", "warn");
    c
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().expect("spawn emotion-monitor")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clear failure: non-zero exit, no panic, and the message mentions `needle`.
fn assert_clear_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(err.to_lowercase().contains(&needle.to_lowercase()), "stderr should mention {needle:?}: {err}");
}

/// Writes an H.264 test-pattern video (320x240, 25 fps, no face) of `seconds` to `path`.
fn testsrc_video(path: &Path, seconds: u32) {
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

/// The absolute path of a program on PATH.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file()))
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}

fn ffmpeg_or_skip(test: &str) -> bool {
    let ok = Command::new("ffmpeg").arg("-version").output().is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: ffmpeg missing (required in CI)");
        }
        eprintln!("*** SKIPPED {test}: ffmpeg not installed ***");
    }
    ok
}

fn models_dir() -> PathBuf {
    emotion_monitor::pipeline::models_dir()
}

#[test]
fn analyze_finds_tracks_and_classifies_pasted_faces_in_a_video() {
    let Some(root) = synth::dataset_or_skip("analyze e2e") else { return };
    if !ffmpeg_or_skip("analyze e2e") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Detection recall is measured elsewhere (tests/detect_real.rs, tests/pasted_faces.rs); this test
    // is about tracking and the CSV, so it uses three faces (happy, neutral, surprise) that the
    // detector finds when pasted alone.
    let faces = synth::test_faces(&root, 10).unwrap();
    let mut det = emotion_monitor::detect::FaceDetector::open(
        &models_dir().join("blazeface_short.onnx"),
        emotion_monitor::runtime::Device::Cpu,
        1,
    )
    .unwrap();
    let mut rng = synth::Rng::new(1);
    let mut picked = Vec::new();
    for label in [3, 4, 6] {
        let found = faces.iter().filter(|f| f.label == label).find(|f| {
            let mut frame = synth::background(640, 480, &mut rng);
            synth::paste(&mut frame, &f.image, synth::Pasted { x: 200, y: 120, size: 180 });
            det.detect(&frame).unwrap().len() == 1
        });
        picked.push(&found.expect("a detectable face").image);
    }
    let video = tmp.path().join("lecture.mp4");
    synth::write_face_video(&video, &picked, (640, 480), 25, 50, 7).unwrap();

    let csv = tmp.path().join("out.csv");
    let o = run(
        &["analyze", video.to_str().unwrap(), "--csv", csv.to_str().unwrap(), "--quiet", "--sessions", "s"],
        tmp.path(),
    );
    assert!(o.status.success(), "analyze failed: {}", stderr(&o));

    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let core = [
        "source",
        "frame",
        "timestamp_s",
        "face_id",
        "x",
        "y",
        "w",
        "h",
        "det_score",
        "emotion",
        "p_angry",
        "p_disgust",
        "p_fear",
        "p_happy",
        "p_neutral",
        "p_sad",
        "p_surprise",
        "raw_angry",
        "raw_disgust",
        "raw_fear",
        "raw_happy",
        "raw_neutral",
        "raw_sad",
        "raw_surprise",
    ];
    assert_eq!(&headers.iter().take(core.len()).collect::<Vec<_>>(), &core);
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let frames: std::collections::BTreeSet<u64> = rows.iter().map(|r| r[col("frame")].parse().unwrap()).collect();
    // A face is a person after three sightings: rows start at the third frame, then every frame has faces.
    assert_eq!(frames.len(), 48, "every frame from the third on has faces");
    assert_eq!(frames.first(), Some(&2));
    // Three faces in (nearly) every frame, and exactly three IDs through the clip.
    assert!(rows.len() >= 3 * 48, "rows: {}", rows.len());
    let ids: std::collections::BTreeSet<u64> = rows.iter().map(|r| r[col("face_id")].parse().unwrap()).collect();
    assert_eq!(ids.len(), 3, "IDs stay stable: {ids:?}");
    // Probabilities are distributions; timestamps follow the 25 fps clock.
    for r in &rows {
        let s: f32 = (0..7).map(|k| r[col("p_angry") + k].parse::<f32>().unwrap()).sum();
        assert!((s - 1.0).abs() < 1e-3);
        let f: f64 = r[col("frame")].parse().unwrap();
        let t: f64 = r[col("timestamp_s")].parse().unwrap();
        assert!((t - f / 25.0).abs() < 1e-3, "t {t} for frame {f}");
    }
    // A session folder with the three CSVs and the report was written too.
    let sessions: Vec<_> = std::fs::read_dir(tmp.path().join("s")).unwrap().collect();
    assert_eq!(sessions.len(), 1);
    let dir = sessions[0].as_ref().unwrap().path();
    for f in ["frames.csv", "seconds.csv", "segments.csv", "report.png", "session.json"] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
}

#[test]
fn nonexistent_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    assert_clear_failure(&run(&["analyze", "no/such/lecture.mp4"], tmp.path()), "no/such/lecture.mp4");
}

#[test]
fn empty_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("empty.mp4"), b"").unwrap();
    assert_clear_failure(&run(&["analyze", "empty.mp4"], tmp.path()), "empty");
}

#[test]
fn text_file_named_mp4_is_a_clear_error() {
    if !ffmpeg_or_skip("text .mp4") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.mp4"), "these are my lecture notes\n".repeat(100)).unwrap();
    assert_clear_failure(&run(&["analyze", "notes.mp4"], tmp.path()), "notes.mp4");
}

#[test]
fn truncated_video_keeps_the_rows_before_the_damage_and_exits_non_zero() {
    let Some(root) = synth::dataset_or_skip("truncated video") else { return };
    if !ffmpeg_or_skip("truncated video") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let faces = synth::test_faces(&root, 1).unwrap();
    // MKV keeps its index at the front, so a cut file still starts decoding.
    let video = tmp.path().join("cut.mkv");
    synth::write_face_video(&video, &[&faces[3].image], (640, 480), 25, 75, 3).unwrap();
    let bytes = std::fs::read(&video).unwrap();
    std::fs::write(&video, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(&["analyze", "cut.mkv", "--csv", "out.csv", "--quiet", "--no-session"], tmp.path());
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!o.status.success(), "a truncated input must not look like success: {err}");
    let rows = csv::Reader::from_path(tmp.path().join("out.csv")).unwrap().records().count();
    assert!(rows > 10, "the good part is analysed and kept: {rows} rows; {err}");
}

#[test]
fn folder_without_images_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("slides")).unwrap();
    std::fs::write(tmp.path().join("slides/readme.txt"), "hi").unwrap();
    assert_clear_failure(&run(&["analyze", "slides"], tmp.path()), "slides");
}

#[test]
fn exit_codes_for_folders_none_decodable_is_1_some_skipped_is_2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("bad")).unwrap();
    std::fs::write(tmp.path().join("bad/1.jpg"), b"\xff\xd8\xff\xe0 not really").unwrap();
    std::fs::write(tmp.path().join("bad/2.png"), b"not a png").unwrap();
    let o = run(&["analyze", "bad", "--no-session", "--csv", "o.csv", "--quiet"], tmp.path());
    assert_clear_failure(&o, "none of its 2 image files");
    assert_eq!(o.status.code(), Some(1));

    std::fs::create_dir(tmp.path().join("mixed")).unwrap();
    std::fs::copy(gray_png(tmp.path()), tmp.path().join("mixed/1.png")).unwrap();
    std::fs::write(tmp.path().join("mixed/2.jpg"), b"\xff\xd8\xff\xe0 not really").unwrap();
    let o = run(&["analyze", "mixed", "--no-session", "--csv", "m.csv", "--quiet"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "partial: {}", stderr(&o));
    assert!(stderr(&o).contains("1 image(s) could not be decoded"), "{}", stderr(&o));
    let o = run(&["analyze", "frame.png", "--no-session", "--csv", "ok.csv", "--quiet"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn unreadable_image_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("face.jpg"), b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    assert_clear_failure(&run(&["analyze", "face.jpg"], tmp.path()), "face.jpg");
}

fn with_emotion_model(tmp: &Path, model: &Path) -> PathBuf {
    let dir = tmp.join("models");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(models_dir().join("blazeface_short.onnx"), dir.join("blazeface_short.onnx")).unwrap();
    std::fs::copy(models_dir().join("centerface.onnx"), dir.join("centerface.onnx")).unwrap();
    std::fs::copy(model, dir.join("mycnn.onnx")).unwrap();
    dir
}

fn gray_png(tmp: &Path) -> PathBuf {
    let p = tmp.join("frame.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([128])).save(&p).unwrap();
    p
}

/// A face detector whose boxes come out NaN (a broken model, a decoder glitch) with confident scores: the
/// NaN boxes are dropped where they are decoded and `analyze` finishes the clip with no face, instead of
/// looping forever in the suppression of overlapping boxes (as it did before). A hang fails the test after
/// two minutes — a hang check, not a speed check.
#[test]
fn a_detector_that_outputs_nan_ends_analyze_with_no_face() {
    if !ffmpeg_or_skip("NaN detector") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("clip.mp4");
    testsrc_video(&video, 3);
    let models = with_emotion_model(tmp.path(), &models_dir().join("mycnn.onnx"));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::copy(fixtures.join("detector_nan.onnx"), models.join("blazeface_short.onnx")).unwrap();
    for detector in ["blazeface", "auto"] {
        let mut child = bin()
            .args(["analyze", "clip.mp4", "--quiet", "--no-session", "--csv", "o.csv", "--detector", detector])
            .arg("--models")
            .arg(&models)
            .current_dir(tmp.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("--detector {detector}: analyze with a NaN detector did not end");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "--detector {detector}: {err}");
        let rows = std::fs::read_to_string(tmp.path().join("o.csv")).unwrap().lines().count();
        assert_eq!(rows, 1, "--detector {detector}: only the header, no face from NaN boxes");
    }
}

#[test]
fn emotion_model_of_the_wrong_shape_is_refused_with_the_expected_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (file, needle) in [
        ("emotion_wrong_shape.onnx", "[N,1,48,48]"),
        ("emotion_no_labels.onnx", "labels"),
        ("emotion_wrong_labels.onnx", "labels"),
        ("emotion_batch4.onnx", "fixed batch of 4"),
    ] {
        let models = with_emotion_model(tmp.path(), &fixtures.join(file));
        let img = gray_png(tmp.path());
        let o = run(
            &["analyze", img.to_str().unwrap(), "--models", models.to_str().unwrap(), "--no-session", "--csv", "o.csv"],
            tmp.path(),
        );
        assert_clear_failure(&o, needle);
    }
    // The face detector is a real ONNX model, but not an emotion model.
    let models = with_emotion_model(tmp.path(), &models_dir().join("blazeface_short.onnx"));
    let img = gray_png(tmp.path());
    let o = run(
        &["analyze", img.to_str().unwrap(), "--models", models.to_str().unwrap(), "--no-session", "--csv", "o.csv"],
        tmp.path(),
    );
    assert_clear_failure(&o, "not a model this app can use");
}

#[test]
fn missing_model_file_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let img = gray_png(tmp.path());
    let o =
        run(&["analyze", img.to_str().unwrap(), "--models", "nowhere", "--no-session", "--csv", "o.csv"], tmp.path());
    assert_clear_failure(&o, "setup.sh");
}

#[test]
fn missing_onnx_runtime_library_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let img = gray_png(tmp.path());
    for lib in ["/nonexistent/libonnxruntime.so", img.to_str().unwrap()] {
        let o = bin()
            .args(["analyze", img.to_str().unwrap(), "--no-session", "--csv", "o.csv"])
            .env("ORT_DYLIB_PATH", lib)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_clear_failure(&o, "ONNX Runtime");
        assert!(stderr(&o).contains("setup.sh"), "{}", stderr(&o));
    }
}

#[test]
fn unwritable_csv_path_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let img = gray_png(tmp.path());
    let o = run(&["analyze", img.to_str().unwrap(), "--no-session", "--csv", "/proc/no/such/dir/out.csv"], tmp.path());
    assert_clear_failure(&o, "/proc/no/such/dir/out.csv");
}

#[test]
fn cameras_lists_none_here_without_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&["cameras"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // Either real cameras (one per line) or the plain "no camera" message.
    assert!(!out.trim().is_empty());
}

#[test]
fn a_csv_path_onto_the_input_is_refused_and_the_input_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gray_png(tmp.path());
    let before = std::fs::read(&input).unwrap();
    let o = run(&["analyze", "frame.png", "--csv", "frame.png", "--no-session", "--quiet"], tmp.path());
    assert_clear_failure(&o, "refusing to write the CSV over the input");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input is untouched");
    // The same file under another spelling.
    let o = run(&["analyze", "frame.png", "--csv", "./frame.png", "--no-session", "--quiet"], tmp.path());
    assert_clear_failure(&o, "refusing");
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn absurd_numbers_on_the_command_line_are_refused_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["window", "--exit-after", "1e20"][..],
        &["window", "--exit-after=-3"],
        &["window", "--exit-after", "NaN"],
        &["analyze", "x.mp4", "--duration", "inf"],
    ] {
        let o = run(args, tmp.path());
        assert_clear_failure(&o, "seconds");
    }
}

#[test]
fn no_session_leaves_nothing_in_the_temporary_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    gray_png(tmp.path());
    let o = bin()
        .args(["analyze", "frame.png", "--csv", "out.csv", "--no-session", "--quiet"])
        .current_dir(tmp.path())
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(tmp.path().join("out.csv").is_file());
    // Only what the app creates (this sandbox's tooling may drop its own files in TMPDIR).
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("emotion-monitor")))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_emotion_model_with_a_fixed_batch_of_one_runs_face_by_face() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut c = emotion_monitor::classify::Classifier::open(
        &fixtures.join("emotion_batch1.onnx"),
        emotion_monitor::runtime::Device::Cpu,
        1,
    )
    .expect("a batch-1 model is accepted");
    let crops = vec![image::GrayImage::from_pixel(48, 48, image::Luma([90])); 3];
    let probs = c.classify(&crops).expect("three faces in one frame");
    assert_eq!(probs.len(), 3);
    assert!(probs.iter().all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-4));
}

#[test]
fn ctrl_c_finishes_the_session_and_keeps_what_was_analysed() {
    if !ffmpeg_or_skip("ctrl-c") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("long.mp4");
    testsrc_video(&video, 120);
    // A live source: the real ffmpeg, reading at the video's own pace (`-re`, as a camera or a stream delivers
    // frames), put first on PATH. However fast the machine, the 120-s video cannot end before the Ctrl-C, which is
    // sent once the session has recorded a few seconds (observed progress, not a sleep).
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let real_ffmpeg = which("ffmpeg");
    let wrapper = bin_dir.join("ffmpeg");
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec '{}' -re \"$@\"\n", real_ffmpeg.display())).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = bin()
        .args(["analyze", "long.mp4", "--quiet", "--sessions", "s", "--detector", "blazeface"])
        .env("PATH", path)
        .current_dir(tmp.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(100);
    loop {
        let recorded = std::fs::read_dir(tmp.path().join("s"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|d| std::fs::read_to_string(d.path().join("seconds.csv")).ok())
            .map(|t| t.lines().count())
            .max()
            .unwrap_or(0);
        if recorded > 3 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "analyze ended before any Ctrl-C");
        assert!(std::time::Instant::now() < deadline, "no second recorded within 100 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "partial: {err}");
    assert!(err.contains("stopped by Ctrl-C"), "{err}");
    let session = std::fs::read_dir(tmp.path().join("s")).unwrap().flatten().next().unwrap().path();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(session.join("session.json")).unwrap()).unwrap();
    assert_eq!(info["status"], "finished");
    let seconds = std::fs::read_to_string(session.join("seconds.csv")).unwrap();
    assert!(seconds.lines().count() > 2, "seconds analysed before Ctrl-C are kept: {seconds}");
    assert!(session.join("report.png").is_file());
}

/// A full disk (here: a file-size limit, `ulimit -f`, with SIGXFSZ ignored so writes fail with EFBIG as on a
/// full disk) stops the recording at a record boundary: exit 1 with a message, and every file stays parseable
/// (no torn last line, no row glued to another, no duplicate).
#[test]
fn a_write_failure_stops_at_a_record_boundary_and_keeps_the_files_parseable() {
    let Some(root) = synth::dataset_or_skip("write failure") else { return };
    if !ffmpeg_or_skip("write failure") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let faces = synth::test_faces(&root, 10).unwrap();
    let picked: Vec<&image::GrayImage> = faces.iter().filter(|f| f.label == 3).take(2).map(|f| &f.image).collect();
    let video = tmp.path().join("lecture.mp4");
    synth::write_face_video(&video, &picked, (640, 480), 25, 300, 5).unwrap();
    let script = format!(
        "trap '' XFSZ; ulimit -f 48; exec '{}' analyze lecture.mp4 --quiet --detector blazeface --sessions s --csv out.csv",
        env!("CARGO_BIN_EXE_emotion-monitor")
    );
    let o = Command::new("bash").args(["-c", &script]).current_dir(tmp.path()).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write") && !err.contains("panicked"), "{err}");
    let session = std::fs::read_dir(tmp.path().join("s")).unwrap().flatten().next().unwrap().path();
    for file in [tmp.path().join("out.csv"), session.join("frames.csv")] {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.ends_with('\n'), "{}: torn last line", file.display());
        let mut rdr = csv::Reader::from_path(&file).unwrap();
        let width = rdr.headers().unwrap().len();
        let mut keys = std::collections::HashSet::new();
        let mut rows = 0;
        for r in rdr.records() {
            let r = r.unwrap_or_else(|e| panic!("{}: unparseable row: {e}", file.display()));
            assert_eq!(r.len(), width, "{}: a row glued to another", file.display());
            assert!(keys.insert((r[1].to_string(), r[3].to_string())), "{}: duplicated row", file.display());
            rows += 1;
        }
        assert!(rows > 20, "{}: the rows before the failure are kept ({rows})", file.display());
    }
}

/// Usage errors are bad input (1), never "partial" (2); help and version are not errors (0).
#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["analyze", "x.mp4", "--every", "0"][..],
        &["analyze", "x.mp4", "--no-such-flag"],
        &["analyze", "x.mp4", "--exit-after", "1e20"],
        &["window", "--exit-after", "-3"],
        &["class", "http://not-mqtt/c"],
        &["no-such-command"],
    ] {
        let o = run(args, tmp.path());
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
    for args in [&["--help"][..], &["--version"], &["analyze", "--help"]] {
        let o = run(args, tmp.path());
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(!o.stdout.is_empty());
    }
}
