//! Pipeline speed on generated media made of real FER2013 test faces (`cargo bench --bench pipeline`).
//!
//! * `detect/640x480_1face`: BlazeFace short-range on one frame (pre-processing, model, decoding, NMS);
//! * `classify/batch{1,16}`: the emotion model per call (throughput = faces/s);
//! * `crop/fer_crop`: one FER-style 48x48 crop from a 640x480 grey frame;
//! * `analyze/640x480_{1,8}faces`: `analyze::analyze` on an H.264 video, decoding included, CSV only
//!   (throughput = analysed frames/s; each iteration also opens the models and starts ffmpeg);
//! * `process/640x480_1face`: `Pipeline::process` on one decoded frame (no decoding, no CSV);
//! * `analyze/decode_only_640x480`: decoding the 1-face video and nothing else.
//!
//! After criterion, one plain pass over each video prints where the time of a frame goes (decode, the
//! pipeline's `StageTimings`). Models come from `pipeline::models_dir()` (`EMOTION_MONITOR_MODELS`),
//! ONNX Runtime runs on the CPU with `EMOTION_MONITOR_BENCH_THREADS` intra-op threads (default 1, the
//! pipeline's default). Needs the FER2013 dataset and ffmpeg; without them it says so and measures nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use image::{GrayImage, RgbImage};

use emotion_monitor::analyze::{AnalyzeOptions, analyze};
use emotion_monitor::classify::Classifier;
use emotion_monitor::crop::fer_crop;
use emotion_monitor::detect::FaceDetector;
use emotion_monitor::detect::centerface::CenterFace;
use emotion_monitor::detect::scene::SceneConfig;
use emotion_monitor::pipeline::{Pipeline, PipelineConfig, models_dir};
use emotion_monitor::runtime::Device;
use emotion_monitor::source;
use emotion_monitor::synth::{self, LabelledFace, Pasted, Rng};

const W: u32 = 640;
const H: u32 = 480;
const VIDEO_FRAMES: u32 = 250;
const VIDEO_FPS: u32 = 25;

fn threads() -> usize {
    std::env::var("EMOTION_MONITOR_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

fn config() -> PipelineConfig {
    PipelineConfig { threads: threads(), ..PipelineConfig::with_default_models(Device::Cpu) }
}

/// The test faces the detector finds when pasted alone (FER2013 holds cartoons and blank images too),
/// at most `n`, spread over the classes.
fn detectable_faces(faces: &[LabelledFace], detector: &mut FaceDetector, n: usize) -> Vec<GrayImage> {
    let mut rng = Rng::new(5);
    let mut out = Vec::new();
    // Round-robin over the classes so that 8 faces show several emotions.
    let classes = emotion_monitor::EMOTIONS.len();
    let per_class = faces.len() / classes;
    for i in 0..per_class {
        for c in 0..classes {
            let face = &faces[c * per_class + i];
            let mut frame = synth::background(W, H, &mut rng);
            synth::paste(&mut frame, &face.image, Pasted { x: 230, y: 130, size: 180 });
            if out.len() < n && detector.detect(&frame).expect("detect").len() == 1 {
                out.push(face.image.clone());
            }
        }
    }
    out
}

fn frame_with_one_face(face: &GrayImage) -> RgbImage {
    let mut rng = Rng::new(11);
    let mut frame = synth::background(W, H, &mut rng);
    synth::paste(&mut frame, face, Pasted { x: 210, y: 120, size: 200 });
    frame
}

/// One plain pass over `video`: decode time and the pipeline's stage timings, per analysed frame.
fn profile(name: &str, video: &Path) {
    let mut src = source::open(video).expect("open video");
    let mut pipeline = Pipeline::open(&config()).expect("pipeline");
    let (mut decode, mut frames, mut faces) = (Duration::ZERO, 0u32, 0usize);
    let (mut det, mut crop, mut cls, mut trk) = (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let Some(frame) = src.next_frame().expect("decode") else { break };
        decode += t.elapsed();
        let r = pipeline.process(&frame).expect("process");
        frames += 1;
        faces += r.faces.len();
        det += r.timings.detect;
        crop += r.timings.crop;
        cls += r.timings.classify;
        trk += r.timings.track;
    }
    let total = started.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / frames.max(1) as f64;
    eprintln!(
        "profile {name}: {frames} frames, {:.2} faces/frame, {:.1} frames/s | per frame: decode (wait) {:.2} ms, \
         detect {:.2} ms, crop {:.2} ms, classify {:.2} ms, track {:.3} ms, total {:.2} ms",
        faces as f64 / frames.max(1) as f64,
        frames as f64 / total.as_secs_f64(),
        ms(decode),
        ms(det),
        ms(crop),
        ms(cls),
        ms(trk),
        ms(total),
    );
}

fn benches(c: &mut Criterion) {
    let Some(root) = synth::dataset_or_skip("bench pipeline") else { return };
    let dir = models_dir();
    eprintln!(
        "models: {} | ORT intra-op threads: {} | load average: {}",
        dir.display(),
        threads(),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    let mut detector =
        FaceDetector::open(&dir.join("blazeface_short.onnx"), Device::Cpu, threads()).expect("face detector");
    let mut classifier = Classifier::open(&dir.join("mycnn.onnx"), Device::Cpu, threads()).expect("emotion model");
    let all = synth::test_faces(&root, 10).expect("FER2013 test faces");
    let faces = detectable_faces(&all, &mut detector, 16);
    assert!(faces.len() >= 8, "only {} detectable faces", faces.len());

    // Detector: one face in a 640x480 frame.
    let frame = frame_with_one_face(&faces[0]);
    let dets = detector.detect(&frame).expect("detect");
    assert_eq!(dets.len(), 1, "the benchmark frame must hold one detectable face");
    let mut g = c.benchmark_group("detect");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(1));
    g.bench_function("640x480_1face", |b| b.iter(|| detector.detect(&frame).expect("detect")));
    g.finish();

    // Scene pass: CenterFace at the default scene size (640 px on the longer side) on frames of the
    // three sizes a class scene comes in; the cost follows the shrunk size, not the frame's.
    let mut centerface =
        CenterFace::open(&dir.join("centerface.onnx"), Device::Cpu, threads()).expect("scene detector");
    let mut g = c.benchmark_group("scene");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for (w, h) in [(640u32, 480u32), (1280, 720), (1920, 1080)] {
        let mut big = RgbImage::from_pixel(w, h, image::Rgb([110, 114, 104]));
        image::imageops::overlay(&mut big, &frame, (w as i64 - 640) / 2, (h as i64 - 480) / 2);
        g.bench_function(format!("centerface_{w}x{h}"), |b| {
            b.iter(|| centerface.detect(&big, SceneConfig::default().max_side, 0.5).expect("scene pass"))
        });
    }
    g.finish();

    // Region pass: BlazeFace around known faces' predicted boxes (what `auto` runs on every frame between
    // scene passes), for one face and for the 12 a frame's budget allows (a gallery: 60-px faces in 1080p).
    let mut gallery = RgbImage::from_pixel(1920, 1080, image::Rgb([110, 114, 104]));
    let mut boxes = Vec::new();
    for i in 0..12u32 {
        let small = image::imageops::resize(&frame, 320, 240, image::imageops::FilterType::Triangle);
        let (x, y) = (40 + 380 * (i % 5), 30 + 260 * (i / 5));
        image::imageops::overlay(&mut gallery, &small, x as i64, y as i64);
        let d = &dets[0].bbox;
        boxes.push(emotion_monitor::geometry::BBox {
            x: x as f32 + d.x / 2.0,
            y: y as f32 + d.y / 2.0,
            w: d.w / 2.0,
            h: d.h / 2.0,
        });
    }
    let context = emotion_monitor::detect::scene::REGION_CONTEXT;
    let found = detector.detect_around(&gallery, &boxes, context).expect("region pass");
    assert!(found.iter().all(Option::is_some), "the region pass must find every benchmark face");
    let mut g = c.benchmark_group("region");
    g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for n in [1usize, 12] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("faces", n), &boxes[..n], |b, bx| {
            b.iter(|| detector.detect_around(&gallery, bx, context).expect("region pass"))
        });
    }
    g.finish();

    // Crop: one face from the grey frame.
    let gray = image::imageops::grayscale(&frame);
    let mut g = c.benchmark_group("crop");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(1));
    g.bench_function("fer_crop", |b| b.iter(|| fer_crop(&gray, &dets[0])));
    g.bench_function("grayscale_640x480", |b| b.iter(|| image::imageops::grayscale(&frame)));
    g.finish();

    // Classifier: per call, throughput in faces.
    let crops: Vec<GrayImage> = faces.iter().take(16).cycle().take(16).cloned().collect();
    let mut g = c.benchmark_group("classify");
    g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for n in [1usize, 16] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("batch", n), &crops[..n], |b, batch| {
            b.iter(|| classifier.classify(batch).expect("classify"))
        });
    }
    g.finish();

    // The pipeline alone on one decoded frame: detect, crop, classify, track (no decoding, no CSV).
    let mut pipeline = Pipeline::open(&config()).expect("pipeline");
    let still = source::Frame {
        image: frame.clone(),
        index: 0,
        timestamp_s: 0.0,
        captured_at: Instant::now(),
        source: "bench".into(),
    };
    let mut g = c.benchmark_group("process");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(1));
    g.bench_function("640x480_1face", |b| b.iter(|| pipeline.process(&still).expect("process")));
    g.finish();
    let mut sum = [Duration::ZERO; 4];
    let runs = 200;
    for _ in 0..runs {
        let t = pipeline.process(&still).expect("process").timings;
        for (s, d) in sum.iter_mut().zip([t.detect, t.crop, t.classify, t.track]) {
            *s += d;
        }
    }
    let [d, cr, cl, tr] = sum.map(|s| s.as_secs_f64() * 1e3 / runs as f64);
    eprintln!(
        "profile process 640x480_1face (still frame): detect {d:.2} ms, crop {cr:.2} ms, classify {cl:.2} ms, track {tr:.3} ms"
    );

    // End to end: analyze on a generated H.264 video, decoding and CSV included.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("analyze");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(25));
    g.throughput(Throughput::Elements(VIDEO_FRAMES as u64));
    let mut videos = Vec::new();
    for n in [1usize, 8] {
        let video = tmp.path().join(format!("faces{n}.mp4"));
        let picked: Vec<&GrayImage> = faces.iter().take(n).collect();
        synth::write_face_video(&video, &picked, (W, H), VIDEO_FPS, VIDEO_FRAMES, 3).expect("write video (ffmpeg)");
        let opts = AnalyzeOptions {
            input: video.clone(),
            csv: Some(tmp.path().join(format!("faces{n}.csv"))),
            every: 1,
            session_root: None,
            progress: false,
        };
        let cfg = config();
        g.bench_function(format!("640x480_{n}faces"), |b| {
            b.iter(|| {
                let report = analyze(&cfg, &opts).expect("analyze");
                assert_eq!(report.frames_analysed, VIDEO_FRAMES as u64);
                report
            })
        });
        videos.push((n, video));
    }
    // Decoding alone (the ffmpeg subprocess and the pipe): the ceiling for any analysis.
    g.bench_function("decode_only_640x480", |b| {
        b.iter(|| {
            let mut src = source::open(&videos[0].1).expect("open video");
            let mut n = 0u32;
            while src.next_frame().expect("decode").is_some() {
                n += 1;
            }
            assert_eq!(n, VIDEO_FRAMES);
        })
    });
    g.finish();
    for (n, video) in &videos {
        profile(&format!("640x480_{n}faces"), video);
    }
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
