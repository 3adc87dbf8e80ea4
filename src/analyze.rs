//! Headless analysis of a recorded lecture (video, image, folder of images) into a session folder.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::classify::ModelError;
use crate::pipeline::{FrameResult, Pipeline, PipelineConfig};
use crate::session::{Recorder, SessionError, SessionMeta, SessionWriter, WriterError};
use crate::source::{self, Frame, FrameSource, Region, ScreenOptions, ScreenSource, SourceError};

#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub input: PathBuf,
    /// Also stream the per-frame rows to this CSV.
    pub csv: Option<PathBuf>,
    /// Analyse one frame in `every`.
    pub every: u64,
    /// Root folder for the session folder; `None` writes only `csv`.
    pub session_root: Option<PathBuf>,
    pub progress: bool,
}

/// Input settings beyond the path (kept apart from [`AnalyzeOptions`] so its users need no change).
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    /// Stop after this many seconds of the source: video time for a file, wall-clock time for a
    /// screen (`screen:N`, `window:TITLE`), which otherwise runs until interrupted.
    pub duration_s: Option<f64>,
    /// Screen sources only: capture this part of the screen (or window).
    pub region: Option<Region>,
    /// Folders only: the images are the frames of one video at this rate (tracked and smoothed across
    /// frames) instead of independent photos.
    pub sequence_fps: Option<f64>,
    /// Publish each second's aggregates (nothing else) to this class (`--share`).
    pub share: Option<crate::share::ClassAddress>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Writer(#[from] WriterError),
    #[error("nothing to write: pass --csv <file> when using --no-session")]
    NoOutput,
    #[error("refusing to write the CSV over the input {0}: pass another --csv path")]
    CsvOverInput(PathBuf),
    #[error("--region applies to a screen (screen:N) or a window (window:TITLE), not to {0}")]
    RegionWithoutScreen(PathBuf),
    #[error(transparent)]
    Share(#[from] crate::share::ShareError),
}

/// What an analysis did, for the user.
#[derive(Debug, Clone)]
pub struct AnalyzeReport {
    pub input: PathBuf,
    pub frames_decoded: u64,
    pub frames_analysed: u64,
    pub face_rows: u64,
    pub distinct_faces: u64,
    pub seconds: f64,
    pub provider: String,
    pub session_dir: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    /// A source problem met after some frames were analysed (e.g. a truncated video): the rows
    /// before it are kept and valid.
    pub source_error: Option<String>,
    /// Images of a folder that could not be decoded and were skipped.
    pub skipped_inputs: u64,
    /// Stopped by Ctrl-C (SIGINT) before the end of the input; what was analysed is saved.
    pub interrupted: bool,
    /// CenterFace scene passes run (the rest of the frames had BlazeFace only).
    pub scene_passes: u64,
    /// Faces looked for by the region pass (a BlazeFace run each).
    pub region_looks: u64,
    /// Frames the whole-frame BlazeFace pass looked at.
    pub fast_passes: u64,
    /// Emotions, or attention only (no emotion model loaded or run).
    pub mode: crate::pipeline::Mode,
    /// What `--share` delivered to the class.
    pub shared: Option<crate::share::student::ShareReport>,
    /// Time spent in each stage over all analysed frames, and waiting for the source's frames.
    pub stages: crate::pipeline::StageTimings,
    pub waiting: Duration,
}

/// Set by the Ctrl-C handler.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

impl fmt::Display for AnalyzeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fps = self.frames_analysed as f64 / self.seconds.max(1e-9);
        writeln!(
            f,
            "{}: analysed {} of {} frames in {:.1} s ({fps:.1} frames/s on {}), {} face rows, {} persons",
            self.input.display(),
            self.frames_analysed,
            self.frames_decoded,
            self.seconds,
            self.provider,
            self.face_rows,
            self.distinct_faces
        )?;
        writeln!(
            f,
            "{} scene passes (CenterFace), the whole-frame pass on {} frames, {:.1} region looks per frame (BlazeFace)",
            self.scene_passes,
            self.fast_passes,
            self.region_looks as f64 / self.frames_analysed.max(1) as f64
        )?;
        if self.frames_analysed > 0 {
            let per = |d: Duration| d.as_secs_f64() * 1e3 / self.frames_analysed as f64;
            let s = &self.stages;
            writeln!(
                f,
                "ms per analysed frame: detect {:.2}, crop {:.2}, emotion {:.2}, track {:.2}; waiting for frames {:.2}",
                per(s.detect),
                per(s.crop),
                per(s.classify),
                per(s.track),
                per(self.waiting)
            )?;
        }
        if !self.mode.emotions() {
            writeln!(f, "attention only: presence and head pose; no emotion model was loaded or run")?;
        }
        if let Some(d) = &self.session_dir {
            writeln!(f, "session: {}", d.display())?;
        }
        if let Some(c) = &self.csv {
            writeln!(f, "csv: {}", c.display())?;
        }
        if self.interrupted {
            writeln!(f, "stopped by Ctrl-C: everything analysed until then is saved")?;
        }
        if self.skipped_inputs > 0 {
            writeln!(
                f,
                "warning: {} image(s) could not be decoded and were skipped (see the log above)",
                self.skipped_inputs
            )?;
        }
        if let Some(e) = &self.source_error {
            writeln!(f, "warning: the input ended with an error; rows up to it are kept:\n  {e}")?;
        }
        if let Some(s) = &self.shared {
            writeln!(f, "class: {s}")?;
        }
        Ok(())
    }
}

/// Runs the whole pipeline over `opts.input`, writing rows as it goes.
pub fn analyze(cfg: &PipelineConfig, opts: &AnalyzeOptions) -> Result<AnalyzeReport, AnalyzeError> {
    analyze_with(cfg, opts, &InputOptions::default())
}

/// [`analyze`] with a time limit and, for a screen, a region.
pub fn analyze_with(
    cfg: &PipelineConfig,
    opts: &AnalyzeOptions,
    input: &InputOptions,
) -> Result<AnalyzeReport, AnalyzeError> {
    if opts.session_root.is_none() && opts.csv.is_none() {
        return Err(AnalyzeError::NoOutput);
    }
    if let Some(csv) = &opts.csv {
        let same = |a: &std::path::Path, b: &std::path::Path| {
            a == b || a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(x, y)| x == y || x.starts_with(&y))
        };
        // Onto the video itself, or into the folder of images being analysed.
        if same(csv, &opts.input) {
            return Err(AnalyzeError::CsvOverInput(opts.input.clone()));
        }
    }
    let screen = opts.input.to_str().and_then(source::screen::parse_spec).transpose()?;
    let is_screen = screen.is_some();
    let (mut src, mut pipeline): (Box<dyn FrameSource>, Pipeline) = match screen {
        // A screen is live: load the models first so that the capture (and --duration) starts
        // when frames can be analysed; a wrong screen or region still fails before that.
        Some(target) => {
            let so = ScreenOptions { region: input.region, duration_s: input.duration_s, ..ScreenOptions::new(target) };
            source::screen::check(&so)?;
            let pipeline = Pipeline::open(cfg)?;
            (Box::new(ScreenSource::open(so)?), pipeline)
        }
        None if input.region.is_some() => return Err(AnalyzeError::RegionWithoutScreen(opts.input.clone())),
        // Open the input first: a wrong path is the most common mistake and needs no model.
        None => {
            let src: Box<dyn FrameSource> = match input.sequence_fps {
                Some(fps) if opts.input.is_dir() => Box::new(source::ImageFolderSource::open(&opts.input, fps)?),
                _ => source::open(&opts.input)?,
            };
            (src, Pipeline::open(cfg)?)
        }
    };
    // Photos are independent of each other; a video's frames (or a folder of frames) are not.
    let sequence = input.sequence_fps.is_some();
    pipeline.set_stills(!sequence && (opts.input.is_dir() || source::is_image_path(&opts.input)));
    let meta = SessionMeta {
        source: if is_screen { src.name().to_string() } else { opts.input.display().to_string() },
        model: model_description(&pipeline, cfg),
        engagement: Default::default(),
        mode: cfg.mode,
        model_files: pipeline.model_files().to_vec(),
    };
    let name = if is_screen {
        // "screen 0 region 0,0,640,360" → "screen-0-region-0-0-640-360": a portable folder name.
        let clean: String = src.name().chars().map(|c| if c.is_alphanumeric() { c } else { '-' }).collect();
        clean.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
    } else {
        opts.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "analysis".into())
    };
    let mut recorder = match &opts.session_root {
        Some(root) => Recorder::create(root, &name, meta)?,
        // The recorder computes the engagement columns; without a session its folder is scratch.
        None => Recorder::create(&scratch_root(), &name, meta)?,
    };
    if let Some(csv) = &opts.csv {
        recorder.mirror_frames_to(csv)?;
    }

    let bar = if opts.progress { progress_bar(src.total_frames()) } else { ProgressBar::hidden() };
    let started = Instant::now();
    let mut report = AnalyzeReport {
        input: opts.input.clone(),
        frames_decoded: 0,
        frames_analysed: 0,
        face_rows: 0,
        distinct_faces: 0,
        seconds: 0.0,
        provider: pipeline.provider().to_string(),
        session_dir: None,
        csv: opts.csv.clone(),
        source_error: None,
        skipped_inputs: 0,
        interrupted: false,
        scene_passes: 0,
        region_looks: 0,
        fast_passes: 0,
        mode: cfg.mode,
        shared: None,
        stages: Default::default(),
        waiting: Duration::ZERO,
    };
    let sharer = match &input.share {
        Some(address) => {
            let s = crate::share::student::Sharer::start(address.clone())?;
            eprintln!(
                "sharing each second's aggregates (no video, no images) with class {} as {}",
                address,
                s.pseudonym()
            );
            recorder.send_seconds_to(Some(s.seconds_sender()));
            Some(s)
        }
        None => None,
    };
    let writer = SessionWriter::new();
    writer.adopt(recorder)?;
    // Ctrl-C ends the analysis like the end of the input: the session is finished and the rows kept
    // (the usual way to stop watching a screen without --duration).
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    let mut staged = None;
    // A video (not a live screen, not photos) is read a few frames ahead, so that a scene pass due on one of
    // them starts on the other core while the frames before it are analysed.
    let read_ahead = !is_screen && !pipeline.stills();
    let mut ahead: VecDeque<Frame> = VecDeque::new();
    let mut depth = 1;
    // What ended the reading (the end of the input, or an error), once the frames before it are analysed.
    let mut ended: Option<Result<Option<Frame>, SourceError>> = None;
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            report.interrupted = true;
            break;
        }
        let asked = Instant::now();
        while ended.is_none() && ahead.len() < depth {
            match src.next_frame() {
                Ok(Some(f)) => {
                    if read_ahead && depth == 1 {
                        depth = frames_read_ahead(&f);
                    }
                    ahead.push_back(f);
                }
                other => ended = Some(other),
            }
        }
        let next = match ahead.pop_front() {
            Some(f) => Ok(Some(f)),
            None => ended.take().unwrap_or(Ok(None)),
        };
        report.waiting += asked.elapsed();
        let frame = match next {
            Ok(Some(f)) => f,
            Ok(None) => break,
            // A Ctrl-C from a terminal also stops ffmpeg: that is not a damaged input.
            Err(_) if INTERRUPTED.load(Ordering::SeqCst) => {
                report.interrupted = true;
                break;
            }
            Err(e) if report.frames_decoded > 0 => {
                report.source_error = Some(e.to_string());
                break;
            }
            Err(e) => return Err(e.into()),
        };
        if input.duration_s.is_some_and(|d| frame.timestamp_s >= d) {
            break;
        }
        report.frames_decoded += 1;
        bar.inc(1);
        if frame.index % opts.every != 0 {
            continue;
        }
        let analysed_ahead =
            |f: &&Frame| f.index.is_multiple_of(opts.every) && input.duration_s.is_none_or(|d| f.timestamp_s < d);
        pipeline.prefetch_scene(ahead.iter().filter(analysed_ahead))?;
        // The emotion model reads the previous frame while the detectors read this one.
        let (done, next) = pipeline.process_overlapped(frame, staged.take())?;
        staged = Some(next);
        if let Some(result) = done {
            emit(&mut report, &writer, result)?;
        }
    }
    if let Some(last) = staged.take() {
        let result = pipeline.finish_staged(last)?;
        emit(&mut report, &writer, result)?;
    }
    bar.finish_and_clear();
    report.skipped_inputs = src.skipped();
    report.seconds = started.elapsed().as_secs_f64();
    report.distinct_faces = pipeline.persons();
    report.scene_passes = pipeline.scene_passes();
    report.region_looks = pipeline.region_looks();
    report.fast_passes = pipeline.fast_passes();
    let summary = writer.finish_and_wait()?;
    report.shared = sharer.map(|s| s.stop());
    if opts.session_root.is_some() {
        report.session_dir = Some(summary.dir);
    } else {
        // The whole scratch folder, not only the session inside it: --no-session leaves nothing behind.
        let _ = std::fs::remove_dir_all(scratch_root());
    }
    Ok(report)
}

/// How many frames of a video `analyze` holds read ahead: about 24 MB of them (27 frames of 640x480, 3 of
/// 1920x1080 — a scene pass's time of frames), at least 2, at most 32.
fn frames_read_ahead(frame: &Frame) -> usize {
    let bytes = (frame.image.width() as usize * frame.image.height() as usize * 3).max(1);
    ((24 << 20) / bytes).clamp(2, 32)
}

/// One analysed frame to the session: the session's own thread writes it (rows, fsync) while the next frame
/// is analysed.
fn emit(report: &mut AnalyzeReport, writer: &SessionWriter, result: FrameResult) -> Result<(), AnalyzeError> {
    report.stages.add(&result.timings);
    report.frames_analysed += 1;
    report.face_rows += result.faces.len() as u64;
    writer.frame(result, 0, None)?;
    if let Some(e) = writer.take_errors().into_iter().next() {
        let _ = writer.finish_and_wait();
        return Err(e.into());
    }
    Ok(())
}

fn scratch_root() -> PathBuf {
    std::env::temp_dir().join(format!("emotion-monitor-{}", std::process::id()))
}

fn model_description(pipeline: &Pipeline, cfg: &PipelineConfig) -> String {
    // The accuracy against the labels the model was trained on: FER+ plurality (PublicTest_) for a FER+
    // model, FER2013's own labels for the older one.
    let Some(c) = pipeline.classifier() else {
        return format!(
            "attention-only: no emotion model; detector {}; on {}",
            cfg.detector.as_str(),
            pipeline.provider()
        );
    };
    let acc = match c.metadata("label_source").as_deref() {
        Some("ferplus") => {
            format!(
                "FER+ plurality accuracy {}",
                c.metadata("ferplus_public_test_accuracy").unwrap_or_else(|| "?".into())
            )
        }
        _ => format!("test accuracy {}", c.metadata("test_accuracy").unwrap_or_else(|| "?".into())),
    };
    // The execution provider too, with why CUDA was not used (the window's sessions say the same).
    format!("{} ({acc}); detector {}; on {}", cfg.emotion_model.display(), cfg.detector.as_str(), pipeline.provider())
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    }
}
