//! A slow disk (every fsync of the session files 200 ms, as on a busy network drive or a dying USB stick)
//! must not reach the window: the session writer's thread owns the files, the window draws from its
//! snapshots. Its own test binary: the slowdown is process-wide.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use emotion_monitor::app::{Action, EmotionApp, LiveEvent, LiveFrame, SessionState, WindowOptions};
use emotion_monitor::detect::Detection;
use emotion_monitor::geometry::{BBox, Point};
use emotion_monitor::pipeline::{FrameResult, PipelineConfig, StageTimings};
use emotion_monitor::runtime::Device;
use emotion_monitor::track::TrackedFace;

fn result(index: u64, t_s: f64) -> FrameResult {
    let faces = (0..3u64)
        .map(|i| {
            let mut p = [0.05f32; 7];
            p[(index as usize + i as usize) % 7] = 0.7;
            TrackedFace {
                id: i + 1,
                detection: Detection {
                    bbox: BBox { x: 20.0 + 200.0 * i as f32, y: 120.0, w: 110.0, h: 110.0 },
                    score: 0.9,
                    keypoints: [Point::default(); 6],
                },
                raw: Some(p),
                smoothed: Some(p),
            }
        })
        .collect();
    FrameResult {
        source: Arc::from("lecture.mp4"),
        index,
        timestamp_s: t_s,
        captured_at: Instant::now(),
        frame_size: (640, 480),
        faces,
        timings: StageTimings::default(),
    }
}

#[test]
fn a_slow_disk_never_slows_the_window_and_every_second_is_recorded() {
    emotion_monitor::session::recorder::simulate_slow_disk(200);
    let dir = tempfile::tempdir().unwrap();
    let mut o = WindowOptions::new(PipelineConfig::with_default_models(Device::Cpu));
    o.video = Some(PathBuf::from("lecture.mp4"));
    o.session_root = dir.path().to_path_buf();
    let (app, feed) = EmotionApp::with_feed(o);
    feed.events.send(LiveEvent::ModelReady { provider: "CPU".into() }).unwrap();
    feed.events
        .send(LiveEvent::SourceOpened {
            generation: 1,
            name: "lecture.mp4".into(),
            live: false,
            fps: Some(15.0),
            total_frames: None,
        })
        .unwrap();
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut EmotionApp| app.ui_root(ui), app);
    h.run_ok();
    h.state_mut().apply(Action::Start);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(h.state().session_state(), SessionState::Recording { .. }) {
        assert!(Instant::now() < deadline, "the session did not start");
        h.run_ok();
        std::thread::sleep(Duration::from_millis(10));
    }
    let session_dir = h.state().session_dir().unwrap().to_path_buf();

    // The inference thread: 15 frames/s stamped with the wall clock, recorded and shown.
    const LIVE: Duration = Duration::from_secs(6);
    let shared = h.state().shared();
    let results = feed.results.clone();
    let inference = std::thread::spawn(move || {
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < LIVE {
            let r = result(i, start.elapsed().as_secs_f64());
            shared.session.frame(r.clone(), 1, None).unwrap();
            let (w, h) = (640, 480);
            let image = egui::ColorImage::new([w, h], vec![egui::Color32::from_gray(90); w * h]);
            results.send(LiveFrame { result: r, image: Arc::new(image), analysed: true });
            i += 1;
            std::thread::sleep(Duration::from_millis(1000 / 15));
        }
        i
    });

    // The window at ~60 frames/s meanwhile, with a marker every second and an export half-way.
    let start = Instant::now();
    let (mut worst, mut frames, mut marks) = (Duration::ZERO, 0u32, 0u32);
    while start.elapsed() < LIVE {
        let elapsed = start.elapsed();
        if elapsed.as_secs() as u32 > marks {
            marks += 1;
            h.state_mut().apply(Action::Mark(format!("slide {marks}")));
        }
        if frames == 180 {
            h.state_mut().apply(Action::Export(dir.path().join("exports")));
        }
        let t = Instant::now();
        h.step();
        worst = worst.max(t.elapsed());
        frames += 1;
        std::thread::sleep(Duration::from_millis(16));
    }
    let sent = inference.join().unwrap();
    eprintln!("{frames} window frames, the slowest {worst:?}; {sent} analysed frames sent; {marks} markers");
    assert!(worst < Duration::from_millis(50), "a window frame took {worst:?} while the disk was slow");

    h.state_mut().apply(Action::Stop);
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.query_by_label_contains("Session saved in").is_none() {
        assert!(Instant::now() < deadline, "the session was not finished");
        h.run_ok();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut r = csv::Reader::from_path(session_dir.join("seconds.csv")).unwrap();
    let seconds: Vec<(i64, u64)> =
        r.records().map(|rec| rec.unwrap()).map(|rec| (rec[0].parse().unwrap(), rec[1].parse().unwrap())).collect();
    let numbers: Vec<i64> = seconds.iter().map(|s| s.0).collect();
    assert_eq!(numbers, (0..numbers.len() as i64).collect::<Vec<_>>(), "no gap");
    assert!(numbers.len() as u64 >= LIVE.as_secs(), "every second recorded: {numbers:?}");
    assert!(seconds.iter().take(LIVE.as_secs() as usize).all(|s| s.1 >= 10), "15 frames in each second: {seconds:?}");
    let frames_csv = std::fs::read_to_string(session_dir.join("frames.csv")).unwrap();
    assert_eq!(frames_csv.lines().count() as u64 - 1, sent * 3, "every face row of every frame");
    let markers = std::fs::read_to_string(session_dir.join("markers.csv")).unwrap();
    assert_eq!(markers.lines().count() as u32 - 1, marks, "{markers}");
}
