//! emotion-monitor: watch faces in a lecture (live or recorded), recognise emotions, chart engagement.
//!
//! On Windows this is built as a window program (no console window opens behind it); the console twin
//! `emotion-monitor-cli.exe` is the same executable with its subsystem set to console
//! (`scripts/package-windows.sh`).
#![cfg_attr(windows, windows_subsystem = "windows")]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use emotion_monitor::detect::scene::DetectorChoice;
use emotion_monitor::i18n::Lang;
use emotion_monitor::pipeline::DEFAULT_THREADS;
use emotion_monitor::runtime::Device;

/// Watches faces through a webcam or in recorded lectures, recognises each face's emotion with our
/// own CNN, and turns it into an engagement timeline. With no subcommand, opens the live window.
#[derive(Parser, Debug)]
#[command(version, long_version = emotion_monitor::provenance::LONG_VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Execution provider: auto tries the GPU (CUDA; on Windows DirectML) and falls back to CPU.
    /// directml: any DirectX 12 GPU, Windows only.
    #[arg(long, value_enum, default_value_t = Device::Auto, global = true)]
    device: Device,

    /// Folder with blazeface_short.onnx, centerface.onnx and mycnn.onnx (default: the shipped models/).
    #[arg(long, global = true, env = "EMOTION_MONITOR_MODELS")]
    models: Option<PathBuf>,

    /// Face detector (default: auto). auto: BlazeFace on the whole frame and around each face followed, plus
    /// CenterFace scene passes at adaptive intervals — everyone from ~32 px faces up (a class, a video-call
    /// gallery) at close to BlazeFace's speed for one person. blazeface: whole frame only (fastest; faces of
    /// a fifth of the frame or more).
    /// tiled: BlazeFace on tiles (slow). centerface: CenterFace on every frame (thorough, slowest).
    /// In the window the default is the detector picked there last time.
    #[arg(long, value_enum, global = true)]
    detector: Option<DetectorChoice>,

    /// auto/centerface: CenterFace looks at the frame shrunk to this many pixels on its longer side.
    /// 640 finds real faces from ~40 px in a 1920x1080 gallery; 960 or 1280 reach smaller faces at
    /// ~2.5x / ~5x the cost of a scene pass.
    #[arg(long, global = true, default_value_t = 640, value_parser = clap::value_parser!(u32).range(128..=4096))]
    scene_size: u32,

    /// Same as `--detector tiled` (kept for older scripts).
    #[arg(long, global = true, hide = true)]
    small_faces: bool,

    /// Presence and head pose only, no emotion classes: the emotion model is not even loaded, the
    /// emotion, probability, valence and arousal cells stay empty, engagement comes from presence and
    /// attention, and session.json says "mode": "attention-only". For places where emotion recognition
    /// is not allowed (EU classrooms: AI Act Article 5(1)(f)). The window also has a switch.
    #[arg(long, global = true)]
    attention_only: bool,

    /// ONNX Runtime threads per model (default: 1 — analyze runs the emotion model and the detectors side by side
    /// on two threads, the window shares the cores with capture and drawing; measured faster than 2 in both).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,

    /// Where session folders are written.
    #[arg(long, global = true, default_value = "sessions")]
    sessions: PathBuf,

    /// Language of the window and of report.png. Default: the one picked in the window last time,
    /// else the locale's (LC_ALL, LC_MESSAGES, LANG starting with "ko": Korean).
    #[arg(long, value_enum, global = true)]
    lang: Option<Lang>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse a video file, an image, or a folder of images; write a session folder and optionally a CSV.
    Analyze {
        /// Video file (anything ffmpeg decodes), image file, folder of images, or a live screen:
        /// `screen:N` (N = 0 for the first screen) or `window:TITLE` (a window whose title contains
        /// TITLE; needs a window manager). A file named like that: write `./screen:0`.
        input: PathBuf,
        /// Also write the per-frame rows (one per face per analysed frame) to this CSV file.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Analyse one frame in N.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        every: u64,
        /// Do not write a session folder (only --csv).
        #[arg(long)]
        no_session: bool,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        /// Stop after S seconds (video time; for a screen, wall-clock time — without it a screen
        /// is watched until Ctrl-C).
        #[arg(long, value_name = "S", value_parser = seconds)]
        duration: Option<f64>,
        /// A folder only: its images are the frames of one video at FPS frames per second (sorted by
        /// name; faces are tracked and smoothed across them). Without it a folder's images are
        /// independent photos.
        #[arg(long, value_name = "FPS", value_parser = fps)]
        sequence: Option<f64>,
        /// Screen or window only: analyse just this rectangle X,Y,W,H (pixels from its top-left corner).
        #[arg(long, value_name = "X,Y,W,H")]
        region: Option<emotion_monitor::source::Region>,
        /// Share each second's aggregates (presence, attention, engagement, state, mean emotion
        /// probabilities — never frames, faces or names) with a class view under a random pseudonym:
        /// mqtt[s]://[USER@]HOST[:PORT]/CLASSCODE. Password: EMOTION_MONITOR_MQTT_PASSWORD; CA for
        /// mqtts: EMOTION_MONITOR_MQTT_CA.
        #[arg(long, value_name = "URL")]
        share: Option<emotion_monitor::share::ClassAddress>,
    },
    /// List the cameras this machine has.
    Cameras,
    /// The live window (the default when no subcommand is given): camera or replayed video →
    /// overlay → engagement timeline.
    Window(WindowArgs),
    /// The teacher's class view: students who run `--share mqtt://HOST/CLASSCODE` send their
    /// per-second aggregates (no video leaves their machines); this shows the class timeline, or with
    /// --csv/--headless records it without a window. Saved as a class session folder either way.
    Class(ClassArgs),
    /// Open a saved session folder's timeline in the window, read-only.
    View {
        /// The session folder (under --sessions).
        session: PathBuf,
    },
    /// Copy a session's CSVs, session.json and report.png to another folder (re-rendering the report).
    Export {
        /// The session folder.
        session: PathBuf,
        /// Destination folder (created if needed). Refused if it is a session folder, inside one, or
        /// a folder that is not empty.
        dest: PathBuf,
        /// Replace what is in a non-empty destination folder (the new export is written aside and
        /// moved into place only when complete).
        #[arg(long)]
        overwrite: bool,
        /// Write the CSVs with a UTF-8 byte-order mark, so Excel (Korean Windows included) shows Hangul
        /// markers and file names correctly. Session folders themselves stay plain UTF-8 for pandas.
        #[arg(long)]
        excel: bool,
    },
}

#[derive(clap::Args, Debug)]
struct ClassArgs {
    /// The class: mqtt[s]://[USER@]HOST[:PORT]/CLASSCODE (password: EMOTION_MONITOR_MQTT_PASSWORD;
    /// CA for mqtts: EMOTION_MONITOR_MQTT_CA).
    #[arg(value_name = "URL")]
    address: emotion_monitor::share::ClassAddress,
    /// No class figure for a second that fewer than K students reported (their count is still shown).
    #[arg(long, value_name = "K", default_value_t = emotion_monitor::share::teacher::DEFAULT_MIN_STUDENTS as u32,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    min_students: u32,
    /// Without a window: write one row per student per second, plus class rows, to this CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Listen this long, then finish the class session (default: until Ctrl-C or the window closes).
    #[arg(long, value_name = "S", value_parser = seconds)]
    duration: Option<f64>,
    /// No window even without --csv (the class session folder is still written).
    #[arg(long)]
    headless: bool,
    /// Save a screenshot of the class window to this PNG at --duration (default 5 s), then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Default)]
struct WindowArgs {
    /// Camera to open: its index (see `cameras`) or part of its name. Default: the first camera.
    #[arg(long, conflicts_with = "video")]
    camera: Option<String>,
    /// Replay this video file in real time instead of a camera (a recorded lecture).
    #[arg(long, conflicts_with = "screen")]
    video: Option<PathBuf>,
    /// Watch screen N instead of a camera (the teacher's view of a video call); 0 = the first screen.
    #[arg(long, value_name = "N", conflicts_with_all = ["camera", "window_title"])]
    screen: Option<u32>,
    /// Watch the window whose title contains this text (e.g. "Zoom"); needs a window manager.
    #[arg(long, value_name = "TITLE", conflicts_with_all = ["camera", "video"])]
    window_title: Option<String>,
    /// With --screen or --window-title: only this rectangle X,Y,W,H (pixels from its top-left corner).
    #[arg(long, value_name = "X,Y,W,H")]
    region: Option<emotion_monitor::source::Region>,
    /// With --screen or --window-title: stop watching after S seconds.
    #[arg(long, value_name = "S", value_parser = seconds)]
    duration: Option<f64>,
    /// Start recording a session as soon as frames arrive.
    #[arg(long)]
    start: bool,
    /// Save a screenshot of the window to this PNG at --exit-after (default 5 s), then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Close the window after this many seconds (the session is finished first).
    #[arg(long, value_parser = seconds)]
    exit_after: Option<f64>,
    /// Print one line of fps / capture→overlay latency statistics per second to stderr.
    #[arg(long)]
    stats: bool,
    /// Set a marker named TEXT when the session reaches SECONDS (repeatable; with --start, for a
    /// scripted lecture or a screenshot), e.g. --marker "퀴즈 시작@20".
    #[arg(long, value_name = "TEXT@SECONDS", value_parser = marker)]
    marker: Vec<(String, f64)>,
    /// Offer to share each second's aggregates with this class (mqtt[s]://HOST[:PORT]/CLASSCODE);
    /// nothing is sent until the student agrees in the window.
    #[arg(long, value_name = "URL")]
    share: Option<emotion_monitor::share::ClassAddress>,
    /// With --share: agree to share at once (the student agreed outside the app, e.g. in a script).
    #[arg(long, requires = "share")]
    share_now: bool,
}

/// `TEXT@SECONDS`: a marker's name and its session time (the last `@` separates them).
fn marker(s: &str) -> Result<(String, f64), String> {
    let Some((name, at)) = s.rsplit_once('@') else {
        return Err(format!("{s:?} is not TEXT@SECONDS (e.g. \"quiz@20\")"));
    };
    if name.trim().is_empty() {
        return Err(format!("{s:?}: the marker has no name"));
    }
    Ok((name.trim().to_string(), seconds(at)?))
}

/// A frame rate from the command line: finite, above 0, at most 1000.
fn fps(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("{s:?} is not a frame rate between 0 and 1000")),
    }
}

/// A number of seconds from the command line: finite, not negative, at most a year.
fn seconds(s: &str) -> Result<f64, String> {
    const YEAR_S: f64 = 365.0 * 24.0 * 3600.0;
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=YEAR_S).contains(&v) => Ok(v),
        Ok(_) => Err(format!("{s} is not a number of seconds between 0 and {YEAR_S}")),
        Err(_) => Err(format!("{s:?} is not a number of seconds")),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    // A usage error (unknown flag, value out of range) is bad input: exit 1, as the README promises; exit 2
    // means "partial" (clap's own default would be 2). --help and --version exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            show_error_without_console(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// emotion-monitor.exe on Windows has no console, so an error that ends it (no window could be opened) would
/// vanish: when stderr leads nowhere (started from the Start menu or Explorer), it is shown in a message box.
/// A console (emotion-monitor-cli.exe) or a redirected stderr gets the text only.
#[cfg(windows)]
fn show_error_without_console(message: &str) {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::UI::WindowsAndMessaging::{MB_ICONERROR, MB_OK, MessageBoxW};
    if !std::io::stderr().as_raw_handle().is_null() {
        return;
    }
    let wide = |s: &str| s.encode_utf16().chain([0]).collect::<Vec<u16>>();
    let (text, caption) = (wide(message), wide("emotion-monitor"));
    // SAFETY: a plain Win32 call; the NUL-terminated UTF-16 strings outlive it.
    unsafe { MessageBoxW(std::ptr::null_mut(), text.as_ptr(), caption.as_ptr(), MB_OK | MB_ICONERROR) };
}

#[cfg(not(windows))]
fn show_error_without_console(_message: &str) {}

/// `models/` next to the executable, when it holds the emotion model (an installed or unzipped copy).
fn models_beside_executable() -> Option<PathBuf> {
    let dir = std::env::current_exe().ok()?.parent()?.join("models");
    dir.join(emotion_monitor::model_files::EMOTION_FILE).is_file().then_some(dir)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let mut cfg = emotion_monitor::pipeline::PipelineConfig::with_default_models(cli.device);
    let detector = if cli.small_faces { Some(DetectorChoice::Tiled) } else { cli.detector };
    cfg.detector = detector.unwrap_or_default();
    let locale_lang = Lang::from_locale();
    // Reports written by analyze, export and view follow --lang or the locale (the window may switch it).
    emotion_monitor::i18n::set_report_language(cli.lang.unwrap_or(locale_lang));
    let ui = UiChoices { lang: cli.lang, locale_lang, detector_given: detector.is_some() };
    cfg.scene.max_side = cli.scene_size;
    let analyzing = matches!(cli.command, Some(Command::Analyze { .. }));
    cfg.threads = cli.threads.map_or(if analyzing { DEFAULT_THREADS } else { 1 }, usize::from);
    // The window keeps up with the camera: in a large gallery the emotion model takes the faces in turns.
    cfg.classify_budget = (!analyzing).then_some(emotion_monitor::pipeline::LIVE_CLASSIFY_BUDGET);
    cfg.light_scene_frames = !analyzing;
    if cli.attention_only {
        cfg.mode = emotion_monitor::pipeline::Mode::AttentionOnly;
    }
    // An installed copy (the Windows folder, a zip) carries its models next to the executable.
    if let Some(dir) = cli.models.clone().or_else(models_beside_executable) {
        cfg.use_models_in(&dir);
    }
    match cli.command {
        Some(Command::Analyze { input, csv, every, no_session, quiet, duration, region, sequence, share }) => {
            let opts = emotion_monitor::analyze::AnalyzeOptions {
                input,
                csv,
                every,
                session_root: (!no_session).then_some(cli.sessions),
                progress: !quiet,
            };
            let limits =
                emotion_monitor::analyze::InputOptions { duration_s: duration, region, sequence_fps: sequence, share };
            let report = emotion_monitor::analyze::analyze_with(&cfg, &opts, &limits)?;
            eprintln!("{report}");
            // 2: partial — a damaged video analysed up to the damage, some images skipped, or Ctrl-C.
            let partial = report.source_error.is_some() || report.skipped_inputs > 0 || report.interrupted;
            Ok(if partial { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Some(Command::Cameras) => {
            let cams = emotion_monitor::source::camera::list_cameras().context("listing cameras")?;
            if cams.is_empty() {
                println!("no camera found (analyse a recorded lecture with `emotion-monitor analyze <video>`)");
            }
            for c in cams {
                println!("{}\t{}\t{}", c.index, c.name, c.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        None => run_window(cfg, cli.sessions, WindowArgs::default(), None, ui),
        Some(Command::Window(args)) => run_window(cfg, cli.sessions, args, None, ui),
        Some(Command::Class(args)) => run_class(cli.sessions, args, ui.lang.unwrap_or(ui.locale_lang)),
        Some(Command::View { session }) => run_window(cfg, cli.sessions, WindowArgs::default(), Some(session), ui),
        Some(Command::Export { session, dest, overwrite, excel }) => {
            let files = emotion_monitor::session::export_session_with(&session, &dest, overwrite)?;
            if excel {
                emotion_monitor::session::add_excel_bom(&files)?;
            }
            for f in files {
                println!("{}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_class(sessions: PathBuf, args: ClassArgs, lang: emotion_monitor::i18n::Lang) -> Result<ExitCode> {
    use emotion_monitor::share::teacher::{HeadlessClass, run_headless};
    let opts = HeadlessClass {
        address: args.address,
        session_root: sessions,
        csv: args.csv,
        duration_s: args.duration,
        min_students: args.min_students as usize,
    };
    if args.headless || opts.csv.is_some() {
        static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let _ = ctrlc::set_handler(|| STOP.store(true, std::sync::atomic::Ordering::SeqCst));
        let summary = run_headless(&opts, &STOP)?;
        eprintln!("{summary}");
        return Ok(if summary.interrupted { ExitCode::from(2) } else { ExitCode::SUCCESS });
    }
    emotion_monitor::app::class::run_class_window(opts, lang, args.screenshot)?;
    Ok(ExitCode::SUCCESS)
}

/// The window's share of the global flags: what the command line chose, and what it left to the
/// settings remembered from the last run.
struct UiChoices {
    lang: Option<Lang>,
    locale_lang: Lang,
    detector_given: bool,
}

fn run_window(
    cfg: emotion_monitor::pipeline::PipelineConfig,
    sessions: PathBuf,
    args: WindowArgs,
    view: Option<PathBuf>,
    ui: UiChoices,
) -> Result<ExitCode> {
    use emotion_monitor::app::{WindowOptions, run_window};
    use emotion_monitor::source::CameraSelector;
    let mut o = WindowOptions::new(cfg);
    o.camera = args.camera.map(|c| c.parse().map(CameraSelector::Index).unwrap_or(CameraSelector::Name(c)));
    o.video = args.video;
    use emotion_monitor::source::{ScreenOptions, ScreenTarget};
    let target = match (args.screen, args.window_title) {
        (Some(n), _) => Some(ScreenTarget::Screen(n)),
        (None, Some(title)) => Some(ScreenTarget::Window(title)),
        (None, None) if args.region.is_some() || args.duration.is_some() => {
            anyhow::bail!("--region and --duration need --screen N or --window-title TITLE")
        }
        (None, None) => None,
    };
    o.screen =
        target.map(|t| ScreenOptions { region: args.region, duration_s: args.duration, ..ScreenOptions::new(t) });
    o.session_root = sessions;
    o.autostart = args.start;
    o.screenshot = args.screenshot;
    o.exit_after_s = args.exit_after;
    o.stats = args.stats;
    o.view_session = view;
    o.lang = ui.lang;
    o.locale_lang = ui.locale_lang;
    o.detector_given = ui.detector_given;
    o.markers = args.marker;
    o.share = args.share;
    o.share_now = args.share_now;
    run_window(o)?;
    Ok(ExitCode::SUCCESS)
}
