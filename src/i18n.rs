//! The words a user reads, in English and Korean: one typed catalogue for the window and the report.
//!
//! Every string is a [`Key`] with both languages written side by side in [`catalogue!`], so a key
//! without its Korean (or English) text does not compile. Texts with values use named placeholders
//! (`{name}`, `{time}`), filled by [`Lang::fmt`]: Korean puts them in another order than English.
//!
//! The language comes from `--lang`, else the one picked in the window (remembered), else the
//! locale (`LC_ALL`, `LC_MESSAGES`, `LANG` starting with `ko`).

use std::fmt::Display;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::{Deserialize, Serialize};

/// A language of the user interface and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Ko,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ko];

    /// The language of the process's locale: Korean when the first of `LC_ALL`, `LC_MESSAGES`,
    /// `LANG` that is set starts with `ko` (`ko_KR.UTF-8`), else English. On Windows, where these are
    /// normally unset, the user's display language decides.
    pub fn from_locale() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        let (lc_all, lc_messages, lang) = (var("LC_ALL"), var("LC_MESSAGES"), var("LANG"));
        #[cfg(windows)]
        if [&lc_all, &lc_messages, &lang].iter().all(|v| v.as_deref().is_none_or(str::is_empty)) {
            // SAFETY: no arguments, returns a LANGID; its low 10 bits are the primary language (0x12: Korean).
            let id = unsafe { windows_sys::Win32::Globalization::GetUserDefaultUILanguage() };
            return if id & 0x3ff == 0x12 { Lang::Ko } else { Lang::En };
        }
        Self::from_locale_vars(lc_all, lc_messages, lang)
    }

    /// [`Self::from_locale`] on given values (POSIX precedence: the first non-empty one decides).
    pub(crate) fn from_locale_vars(lc_all: Option<String>, lc_messages: Option<String>, lang: Option<String>) -> Self {
        let first = [lc_all, lc_messages, lang].into_iter().flatten().find(|v| !v.is_empty());
        match first {
            Some(v) if v.to_ascii_lowercase().starts_with("ko") => Lang::Ko,
            _ => Lang::En,
        }
    }

    /// The language's name in itself, for the language switch.
    pub(crate) fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ko => "한국어",
        }
    }

    /// The text of `key`.
    pub fn t(self, key: Key) -> &'static str {
        tr(self, key)
    }

    /// The text of `key` with its `{placeholders}` filled from `args`.
    pub fn fmt(self, key: Key, args: &[(&str, &dyn Display)]) -> String {
        fill(tr(self, key), args)
    }

    /// The name of emotion `i` (in [`crate::EMOTIONS`] order).
    pub fn emotion(self, i: usize) -> &'static str {
        let names = match self {
            Lang::En => &crate::EMOTIONS,
            Lang::Ko => &EMOTIONS_KO,
        };
        names.get(i).copied().unwrap_or("?")
    }

    /// The name of an engagement state.
    pub fn state(self, s: crate::engagement::State) -> &'static str {
        match self {
            Lang::En => s.as_str(),
            Lang::Ko => STATES_KO[s.index()],
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        })
    }
}

/// A message for the user in no language yet: a catalogue key, its values, and the technical detail (English,
/// for the log and the window's "details" hover). Errors become one where they are caught; the window renders
/// it in its language.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub key: Key,
    pub args: Vec<(&'static str, String)>,
    pub detail: String,
}

impl Message {
    pub fn new(key: Key, args: &[(&'static str, &dyn Display)], detail: impl Into<String>) -> Self {
        Self { key, args: args.iter().map(|(k, v)| (*k, v.to_string())).collect(), detail: detail.into() }
    }

    /// The message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let args: Vec<(&str, &dyn Display)> = self.args.iter().map(|(k, v)| (*k, v as &dyn Display)).collect();
        lang.fmt(self.key, &args)
    }
}

/// Text that was never an error value (a test's, a thread's own words): shown as it is, detail included.
impl From<String> for Message {
    fn from(detail: String) -> Self {
        Self { key: Key::AsIs, args: vec![("text", detail.clone())], detail }
    }
}

impl From<&str> for Message {
    fn from(detail: &str) -> Self {
        detail.to_string().into()
    }
}

/// angry, disgust, fear, happy, neutral, sad, surprise.
const EMOTIONS_KO: [&str; 7] = ["화남", "혐오", "두려움", "기쁨", "무표정", "슬픔", "놀람"];
/// engaged, neutral, bored, away.
const STATES_KO: [&str; 4] = ["집중", "보통", "지루함", "자리 비움"];

/// Replaces each `{name}` in `template` by its value in `args`; unknown placeholders stay as they are.
pub fn fill(template: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) if args.iter().any(|(k, _)| *k == name) => {
                if let Some((_, v)) = args.iter().find(|(k, _)| *k == name) {
                    out.push_str(&v.to_string());
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Names of the `{placeholders}` in a template, sorted (the catalogue's check that both languages fill the same).
#[cfg(test)]
fn placeholders(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    names.sort_unstable();
    names
}

/// Defines [`Key`] and [`tr`] from lines of `Key: "English", "한국어";`.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $key:ident : $en:literal, $ko:literal;)*) => {
        /// One text of the user interface or the report.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Key {
            $($(#[$doc])* $key,)*
        }

        impl Key {
            /// Every key, for the catalogue's own tests.
            pub const ALL: &[Key] = &[$(Key::$key,)*];
        }

        /// The text of `key` in `lang`.
        pub fn tr(lang: Lang, key: Key) -> &'static str {
            match (lang, key) {
                $((Lang::En, Key::$key) => $en, (Lang::Ko, Key::$key) => $ko,)*
            }
        }
    };
}

catalogue! {
    // Source panel.
    Source: "Source:", "입력:";
    NoCamera: "no camera", "카메라 없음";
    CameraN: "camera {index}", "카메라 {index}";
    ChooseCamera: "choose a camera", "카메라 선택";
    NoCameraFound: "No camera found.", "카메라를 찾지 못했습니다.";
    Watching: "watching {target}", "화면 보는 중: {target}";
    WatchingHover: "The screen is captured and analysed in memory; nothing is saved unless \"record video frames\" is ticked.",
        "화면은 메모리에서만 캡처·분석됩니다. \"영상 프레임 저장\"을 켜지 않으면 아무것도 저장되지 않습니다.";
    RefreshCameras: "Refresh cameras", "카메라 다시 찾기";
    RefreshCamerasHover: "List the cameras, screens and windows again", "카메라, 화면, 창 목록을 다시 읽습니다";
    Video: "Video:", "동영상:";
    NoScreenFound: "No screen found.", "화면을 찾지 못했습니다.";
    ScreenItem: "Screen {index}: {width}x{height}", "화면 {index}: {width}x{height}";
    ScreenItemHover: "Watch this whole screen (e.g. the video-call gallery); --region on the command line for a part",
        "이 화면 전체를 봅니다(예: 화상 수업 갤러리 보기). 일부만 보려면 명령줄에서 --region을 쓰세요";
    NoScreenToCapture: "No screen to capture.", "캡처할 화면이 없습니다.";
    WindowItem: "Window: {title}", "창: {title}";
    WindowsNotListed: "Windows: not listed", "창: 목록을 읽지 못함";
    VideoPathHint: "path/to/lecture.mp4", "path/to/lecture.mp4";
    OpenVideo: "Open video", "동영상 열기";
    ChooseVideo: "Choose video…", "동영상 선택…";
    ChooseVideoHover: "Pick a video file in a file dialog (or drop one on the window)",
        "파일 대화상자에서 동영상 파일을 고릅니다(창에 파일을 끌어다 놓아도 됩니다)";
    DialogTitleVideo: "Open a recorded lecture", "녹화된 수업 열기";
    DialogVideoFilter: "Videos", "동영상";
    DialogTitleExport: "Export the session to this folder", "세션을 내보낼 폴더";
    Detector: "Detector:", "얼굴 검출기:";
    DetectorAutoHint: "Everyone in a class scene or a video-call gallery, from ~32 px faces up (default)",
        "교실 장면이나 화상 수업 갤러리의 모든 사람을 찾습니다. 약 32픽셀 이상의 얼굴(기본값)";
    DetectorBlazefaceHint: "Fastest: one or two people close to the camera", "가장 빠름: 카메라 가까이에 있는 한두 사람";
    DetectorTiledHint: "BlazeFace on tiles: small faces, slow (for comparison)", "타일로 나눈 BlazeFace: 작은 얼굴, 느림(비교용)";
    DetectorCenterfaceHint: "CenterFace on every frame: most thorough, slowest", "모든 프레임에 CenterFace: 가장 꼼꼼하고 가장 느림";
    LoadingModels: "loading models…", "모델 불러오는 중…";
    Provider: "Provider: {provider}", "실행 장치: {provider}";
    ProviderHover: "Where the face detector and the emotion CNN run (ONNX Runtime execution provider)",
        "얼굴 검출기와 감정 CNN이 실행되는 곳(ONNX Runtime 실행 공급자)";
    ProviderNone: "Provider: none (models not loaded)", "실행 장치: 없음(모델을 불러오지 못함)";
    Language: "Language:", "언어:";
    AttentionOnly: "Attention only", "집중도만 (감정 분석 안 함)";
    AttentionOnlyHover: "Presence and head pose only: the emotion model is not run, and no emotion is shown or stored (for places where emotion recognition is not allowed)",
        "자리에 있는지와 고개 방향만 봅니다. 감정 모델을 실행하지 않으며 감정을 보여 주거나 저장하지 않습니다(감정 인식이 허용되지 않는 곳에서 쓰세요)";
    AttentionOnlyLocked: "Stop the session to switch: a session is wholly one mode", "바꾸려면 세션을 정지하세요. 한 세션은 한 가지 방식으로만 기록됩니다";

    // Session panel.
    Session: "Session:", "세션:";
    Start: "Start", "시작";
    StartHover: "Start recording a session (aggregates only, no pictures)", "세션 기록을 시작합니다(집계값만, 사진 없음)";
    Pause: "Pause", "일시정지";
    Resume: "Resume", "계속";
    Stop: "Stop", "정지";
    StopHover: "Stop and write the report", "정지하고 보고서를 씁니다";
    MarkerHint: "slide 12", "슬라이드 12";
    Mark: "Mark (M)", "마커 (M)";
    MarkHover: "Put a named marker on the timeline (hotkey M)", "타임라인에 이름 붙은 마커를 넣습니다(단축키 M)";
    ExportFolderHint: "export folder", "내보낼 폴더";
    ExportCsv: "Export CSV", "CSV 내보내기";
    ExportCsvHover: "Copy the session's CSV files and report into a new folder inside this one",
        "세션의 CSV 파일과 보고서를 이 폴더 안의 새 폴더에 복사합니다";
    ExportTo: "Export to…", "다른 폴더로 내보내기…";
    ExportToHover: "Choose a folder in a file dialog, then export into a new folder inside it",
        "파일 대화상자에서 폴더를 고른 뒤, 그 안의 새 폴더에 내보냅니다";
    Excel: "Excel (UTF-8 BOM)", "Excel용 (UTF-8 BOM)";
    ExcelHover: "Write the exported CSVs with a byte-order mark, so Excel (Korean Windows included) shows Hangul correctly. The session folder itself stays plain UTF-8.",
        "내보낸 CSV 파일 앞에 BOM을 붙여 Excel(한국어 Windows 포함)에서 한글이 깨지지 않게 합니다. 세션 폴더의 원본은 그대로 UTF-8입니다.";
    RecordFrames: "record video frames", "영상 프레임 저장";
    RecordFramesHover: "Off by default: nothing but aggregates is written. On: every analysed frame is saved as JPEG in the session folder.",
        "기본값은 꺼짐: 집계값만 저장됩니다. 켜면 분석한 모든 프레임을 세션 폴더에 JPEG로 저장합니다.";
    Paused: "paused", "일시정지됨";
    RecordingAnalysing: "recording · analysing {rate}", "기록 중 · 분석 {rate}";
    RecordingNoFrames: "recording · no frames", "기록 중 · 프레임 없음";
    VideoOnly: "video only (no analysis)", "영상만 표시(분석 없음)";
    Analysing: "analysing {rate}", "분석 중 {rate}";
    Idle: "idle", "대기";

    // Central panel and notices.
    NoCameraNoVideo: "No camera found on this machine, and no video file was given.",
        "이 컴퓨터에서 카메라를 찾지 못했고, 동영상 파일도 지정되지 않았습니다.";
    CamerasNotListed: "Cameras could not be listed ({error}), and no video file was given.",
        "카메라 목록을 읽지 못했고({error}), 동영상 파일도 지정되지 않았습니다.";
    OpenInstead: "Open a recorded lecture instead: choose a video file, drop one on the window, or type its path and press Open video.",
        "대신 녹화된 수업을 여세요: 동영상 파일을 고르거나, 창에 끌어다 놓거나, 경로를 입력하고 \"동영상 열기\"를 누르세요.";
    LookForCameras: "Look for cameras again", "카메라 다시 찾기";
    Opening: "Opening {source}…", "여는 중: {source}…";
    CameraLost: "Camera lost: {message}", "카메라 연결이 끊겼습니다: {message}";
    CameraLostHelp: "The session keeps its data. Reconnect the camera, then", "세션 데이터는 그대로 있습니다. 카메라를 다시 연결한 뒤";
    Retry: "Retry", "다시 시도";
    OrOpenAnother: "or open another source above.", "또는 위에서 다른 입력을 여세요.";
    VideoEnded: "{name}: end of the video. The session is kept — stop it to write the report, or open another source.",
        "{name}: 동영상이 끝났습니다. 세션은 유지됩니다. 정지하면 보고서를 쓰고, 다른 입력을 열 수도 있습니다.";
    AnalysisUnavailable: "Analysis unavailable: {error}", "분석할 수 없습니다: {error}";
    AnalysisUnavailableHelp: "The video is shown without faces. Fix the models and restart the window.",
        "얼굴 분석 없이 영상만 보입니다. 모델을 고친 뒤 창을 다시 여세요.";
    NoAnalysisOverlay: "no analysis (models not loaded)", "분석 없음(모델을 불러오지 못함)";
    StatusLine: "capture {captured} fps · analysed {analysed} fps · shown {shown} fps · dropped {dropped}/s · capture-to-overlay {mean} ms (p95 {p95}) · inference {infer} ms/frame",
        "캡처 {captured} fps · 분석 {analysed} fps · 표시 {shown} fps · 버림 {dropped}/s · 캡처→화면 {mean} ms (p95 {p95}) · 추론 {infer} ms/프레임";
    SessionPath: "session: {path}", "세션: {path}";
    SavedSessionTitle: "Saved session (read-only)", "저장된 세션(읽기 전용)";
    InferenceThreadFailed: "could not start the inference thread: {error}", "추론 스레드를 시작하지 못했습니다: {error}";
    FrameNotSaved: "frame not saved: {error}", "프레임을 저장하지 못했습니다: {error}";
    CamerasFound: "{n} camera(s) found", "카메라 {n}대를 찾았습니다";
    DefaultMarker: "marker {n}", "마커 {n}";
    MarkerSet: "Marker \"{name}\" at {time}", "마커 \"{name}\": {time}";
    MarkerNotSet: "Marker not set: {error}", "마커를 넣지 못했습니다: {error}";
    Exporting: "Exporting to {path} …", "내보내는 중: {path} …";
    Exported: "Exported {n} file(s) to {path}", "파일 {n}개를 내보냈습니다: {path}";
    ExportedExcel: "Exported {n} file(s) to {path} (CSVs for Excel, with a byte-order mark)",
        "파일 {n}개를 내보냈습니다: {path} (Excel용 CSV, BOM 포함)";
    ExportFailed: "Export failed: {error}", "내보내기 실패: {error}";
    DetectorSet: "Face detector: {name}", "얼굴 검출기: {name}";
    RecordingFramesOn: "Recording video frames: each analysed frame is saved as JPEG in the session folder.",
        "영상 프레임 저장 중: 분석한 프레임마다 세션 폴더에 JPEG로 저장됩니다.";
    SessionStarted: "Session started: {path}", "세션 시작: {path}";
    SessionNotStarted: "Could not start a session: {error}", "세션을 시작하지 못했습니다: {error}";
    WritingReport: "writing the report…", "보고서 쓰는 중…";
    SessionSaved: "Session saved in {path}", "세션을 저장했습니다: {path}";
    FinishFailed: "Session stopped, but finishing it failed: {error}", "세션은 멈췄지만 마무리하지 못했습니다: {error}";
    RecordingError: "Session recording: {error}", "세션 기록 오류: {error}";
    NoDialog: "No file dialog could be shown: {why}. Type the path instead, or drop the file on the window.",
        "파일 대화상자를 열 수 없습니다: {why}. 경로를 직접 입력하거나 파일을 창에 끌어다 놓으세요.";
    NoDialogWhy: "this desktop has neither an XDG desktop portal (xdg-desktop-portal with a GTK or KDE backend) nor zenity",
        "이 데스크톱에는 XDG 데스크톱 포털(xdg-desktop-portal과 GTK/KDE 백엔드)도 zenity도 없습니다";
    DialogBusy: "A file dialog is already open.", "파일 대화상자가 이미 열려 있습니다.";
    DroppedNotFile: "Only a file can be dropped here (a video or a folder of images).",
        "여기에는 파일(동영상이나 이미지 폴더)만 끌어다 놓을 수 있습니다.";
    DropHere: "Drop the video here to open it", "여기에 놓으면 동영상을 엽니다";
    LanguageSet: "Language: {name}", "언어: {name}";
    Details: "details", "자세히";
    ListingScreens: "listing screens and windows…", "화면과 창 목록을 읽는 중…";
    LookingForCameras: "Looking for cameras…", "카메라를 찾는 중…";
    CannotOpenSessionShort: "Cannot open the session: {error}", "세션을 열 수 없습니다: {error}";
    CamerasNotListedShort: "Cameras could not be listed: {error}", "카메라 목록을 읽지 못했습니다: {error}";
    SessionSummary: "{seconds} s recorded, {rows} face rows, {segments} segment(s); report {path}",
        "{seconds}초 기록, 얼굴 행 {rows}개, 구간 {segments}개; 보고서 {path}";
    AsIs: "{text}", "{text}";

    // Errors, by kind (the technical detail goes to the log and the "details" hover).
    ErrNotFound: "{path}: no such file or folder — check the path", "{path}: 파일이나 폴더가 없습니다. 경로를 확인하세요";
    ErrEmptyFile: "{path}: the file is empty — the recording or copy did not finish; use another copy",
        "{path}: 빈 파일입니다. 녹화나 복사가 끝나지 않았습니다. 다른 사본을 쓰세요";
    ErrCannotRead: "{path}: cannot read it — check the permissions", "{path}: 읽을 수 없습니다. 권한을 확인하세요";
    ErrNotAVideo: "{path}: not a video this app can read — check that it is a video file (mp4, mkv, avi, mov, webm…) and not damaged",
        "{path}: 읽을 수 있는 동영상이 아닙니다. 동영상 파일(mp4, mkv, avi, mov, webm…)인지, 손상되지 않았는지 확인하세요";
    ErrVideoTruncated: "{path}: the video ends early after {n} good frames — the file is probably cut short; results up to there are valid",
        "{path}: 동영상이 정상 프레임 {n}개 뒤에 끝납니다(파일이 잘린 듯합니다). 그때까지의 결과는 유효합니다";
    ErrDecodeFailed: "{path}: decoding failed after {n} frames — re-encode the video (see the README)",
        "{path}: 프레임 {n}개 뒤에 디코딩에 실패했습니다. 동영상을 다시 인코딩하세요(README 참고)";
    ErrNoImages: "{path}: the folder holds no images — choose a folder of frames or a video file",
        "{path}: 폴더에 이미지가 없습니다. 프레임 이미지 폴더나 동영상 파일을 고르세요";
    ErrBadImage: "{path}: the image is damaged or not really an image", "{path}: 손상되었거나 이미지가 아닌 파일입니다";
    ErrFfmpegMissing: "ffmpeg was not found: videos are decoded with ffmpeg — install it (see the README)",
        "ffmpeg를 찾지 못했습니다. 동영상은 ffmpeg로 읽으므로 설치하세요(README 참고)";
    ErrNoCamera: "no camera matches {wanted} — plug a webcam in, or choose one from the list",
        "{wanted}에 맞는 카메라가 없습니다. 웹캠을 연결하거나 목록에서 고르세요";
    ErrCameraFailed: "camera {camera} cannot start — close other apps that use it (video calls, browser tabs) and check the camera permission",
        "카메라 {camera}을(를) 시작할 수 없습니다. 카메라를 쓰는 다른 앱(화상 통화, 브라우저 탭)을 닫고 카메라 권한을 확인하세요";
    ErrCameraLost: "camera {camera}: frames stopped — it was unplugged or taken by another app",
        "카메라 {camera}: 프레임이 멈췄습니다. 연결이 끊겼거나 다른 앱이 가져갔습니다";
    ErrScreen: "{target}: the screen or window cannot be captured — check that it is visible, or capture the whole screen",
        "{target}: 화면이나 창을 캡처할 수 없습니다. 보이는 상태인지 확인하거나 화면 전체를 캡처하세요";
    ErrScreenLost: "{target}: captures stopped — the display went away or the window was closed",
        "{target}: 캡처가 멈췄습니다. 디스플레이가 없어졌거나 창이 닫혔습니다";
    ErrOrtMissing: "the ONNX Runtime library was not found — run the setup again (see the README)",
        "ONNX Runtime 라이브러리를 찾지 못했습니다. 설치를 다시 실행하세요(README 참고)";
    ErrGpuRequested: "{gpu} was requested but cannot be used here — choose the CPU or auto",
        "{gpu}을(를) 요청했지만 이 컴퓨터에서는 쓸 수 없습니다. CPU나 auto를 고르세요";
    ErrModelFile: "{path}: the model cannot be loaded — pass the right model file or run the setup again",
        "{path}: 모델을 불러올 수 없습니다. 올바른 모델 파일을 지정하거나 설치를 다시 실행하세요";
    ErrModelShape: "{path}: not a model this app can use — pass the right model file (see models/README.md)",
        "{path}: 이 앱에서 쓸 수 없는 모델입니다. 올바른 모델 파일을 지정하세요(models/README.md 참고)";
    ErrInference: "a frame could not be analysed; the next one is tried", "프레임 하나를 분석하지 못했습니다. 다음 프레임으로 넘어갑니다";
    ErrSessionFolder: "{path}: the session folder cannot be created — choose a writable folder or fix its permissions",
        "{path}: 세션 폴더를 만들 수 없습니다. 쓸 수 있는 폴더를 고르거나 권한을 고치세요";
    ErrSessionWrite: "{path}: cannot write — what was recorded before is kept; free disk space or fix permissions",
        "{path}: 쓸 수 없습니다. 그때까지 기록한 것은 남아 있습니다. 디스크 공간을 비우거나 권한을 고치세요";
    ErrSessionRead: "{path}: cannot read the session", "{path}: 세션을 읽을 수 없습니다";
    ErrNotASession: "{path} is not a session folder — choose a folder made by a session or by analyze",
        "{path}은(는) 세션 폴더가 아닙니다. 세션이나 analyze가 만든 폴더를 고르세요";
    ErrExportTo: "{path}: cannot export there — the session is untouched; choose another folder",
        "{path}: 그곳으로 내보낼 수 없습니다. 세션은 그대로이니 다른 폴더를 고르세요";
    ErrNoSession: "no session is running: start one first", "진행 중인 세션이 없습니다. 먼저 시작하세요";
    ErrDiskSlow: "the disk is not keeping up: that action was not recorded — try again", "디스크가 따라오지 못해 그 동작을 기록하지 못했습니다. 다시 시도하세요";
    ErrWriterGone: "recording has stopped: that action was not recorded", "기록이 멈춰서 그 동작을 기록하지 못했습니다";
    ErrFrameImage: "{path}: the video frame could not be saved", "{path}: 영상 프레임을 저장하지 못했습니다";
    ErrClassAddress: "not a class address — write mqtt://HOST/CLASSCODE", "수업 주소가 아닙니다. mqtt://HOST/CLASSCODE 형식으로 쓰세요";
    ErrClass: "the class connection failed", "수업 연결에 실패했습니다";
    ErrThread: "the program could not start a thread of its own — close other programs and try again",
        "프로그램이 작업 스레드를 시작하지 못했습니다. 다른 프로그램을 닫고 다시 시도하세요";
    GpuFallback: "{name} ({gpu} unavailable)", "{name} ({gpu} 사용 불가)";

    // Sharing with a class (the student's side).
    ShareOffer: "Class {class} at {host} asks for this session's per-second figures: presence, attention, engagement, state and mean emotions — never video, images or your name.",
        "{host}의 {class} 수업이 이 세션의 초 단위 수치(출석, 주의, 참여도, 상태, 평균 감정)를 요청합니다. 영상, 이미지, 이름은 절대 보내지 않습니다.";
    ShareAgree: "Share (under a random pseudonym)", "공유하기 (임의의 가명으로)";
    ShareDecline: "Don't share", "공유하지 않기";
    ShareDeclined: "Not sharing with class {class}.", "{class} 수업과 공유하지 않습니다.";
    ShareAfterAll: "Share after all", "그래도 공유하기";
    Sharing: "SHARING", "공유 중";
    SharingReconnecting: "SHARING (reconnecting…)", "공유 중 (다시 연결하는 중…)";
    ShareStatus: "with class {class} as {pseudonym} — {delivered} s delivered, {waiting} waiting",
        "{class} 수업에 가명 {pseudonym}(으)로 — {delivered}초 전달, {waiting}초 대기";
    SharePauseHover: "Seconds during the pause are never sent.", "일시정지한 동안의 수치는 보내지 않습니다.";
    StopSharing: "Stop sharing", "공유 중지";
    ShareFailed: "sharing could not start: {error}", "공유를 시작하지 못했습니다: {error}";

    // Faces panel.
    FaceN: "Face #{id}", "얼굴 #{id}";
    ShowAllFaces: "Show all faces", "모든 얼굴 보기";
    FaceOutOfView: "Face #{id} is out of view.", "얼굴 #{id}이(가) 화면 밖에 있습니다.";
    NoFaceInView: "No face in view", "보이는 얼굴 없음";
    OneFace: "1 face", "얼굴 1개";
    NFaces: "{n} faces", "얼굴 {n}개";
    FacesAppearHere: "Faces appear here with their emotion probabilities.", "얼굴이 보이면 여기에 감정 확률이 나옵니다.";
    ClickToFollow: "Click a face (here or in the video) to follow it.", "얼굴을 누르면(여기나 영상에서) 그 얼굴만 따라갑니다.";

    // Timeline.
    FaceLine: "face #{id}", "얼굴 #{id}";
    ClassLine: "class", "학급 전체";
    EngagementAxis: "engagement", "참여도";
    ShareOfFacesAxis: "share of faces", "얼굴 비율";
    MeanProbabilityAxis: "mean probability", "평균 확률";
    RightPlot: "Right plot:", "오른쪽 그래프:";
    Emotions: "emotions", "감정";
    EngagementStates: "engagement states", "참여 상태";
    FaceLines: "Face lines:", "얼굴별 선:";
    FaceLinesAuto: "few faces or the selected one", "얼굴이 적을 때나 선택한 얼굴만";
    FaceLinesAll: "all", "모두";
    FaceLinesNone: "none", "없음";
    FaceLinesHover: "The class line is always drawn. With more than {max} faces in view only the face you click gets its own line; hover over a line to see whose it is.",
        "학급 전체 선은 항상 그립니다. 보이는 얼굴이 {max}개보다 많으면 누른 얼굴만 선이 생깁니다. 선 위에 마우스를 올리면 누구인지 보입니다.";
    HiddenFaces: "{n} faces not drawn — click a face to add its line", "얼굴 {n}개는 그리지 않음 — 얼굴을 누르면 선이 생깁니다";
    Interrupted: "This session did not finish cleanly (crash or killed): shown up to its last recorded second.",
        "이 세션은 정상적으로 끝나지 않았습니다(비정상 종료). 마지막으로 기록된 순간까지 보여 줍니다.";
    NoSessionLoaded: "No session loaded.", "불러온 세션이 없습니다.";
    TimelineEmpty: "Timeline: start a session to chart engagement and emotions (one point per second).",
        "타임라인: 세션을 시작하면 참여도와 감정을 1초마다 그립니다.";

    // The class view (teacher) and sharing (student).
    ClassTitle: "Class {class}", "학급 {class}";
    ClassConnected: "connected to {address}", "{address}에 연결됨";
    ClassConnecting: "connecting", "연결 중";
    StudentsConnected: "{n} students connected", "학생 {n}명 연결됨";
    ClassGate: "Class figures appear when at least {k} students report (so that no one student's numbers can be read off the class). Students join with: emotion-monitor window --share {address}",
        "학생이 {k}명 이상 보낼 때만 학급 수치가 나옵니다(한 학생의 수치가 드러나지 않도록). 학생은 다음으로 참여합니다: emotion-monitor window --share {address}";
    PerStudentLines: "per-student lines", "학생별 선";
    PerStudentLinesHover: "Off by default: the class view is about the class, not about one student.",
        "기본은 꺼짐: 학급 보기는 학급 전체를 보는 곳이지 한 학생을 보는 곳이 아닙니다.";
    ClassSession: "session: {path}", "세션: {path}";
    ClassRecordingStopped: "recording the class session stopped: {error}", "학급 세션 기록이 멈췄습니다: {error}";
    StudentsHeading: "Students (pseudonyms)", "학생 (가명)";
    StudentRow: "#{n} {pseudonym} — {status}, {seconds} s", "#{n} {pseudonym} — {status}, {seconds}초";
    StudentOnline: "online", "접속 중";
    StudentPaused: "paused", "일시 정지";
    StudentLeft: "left", "나감";
    StudentGone: "gone", "연결 끊김";
    EmotionMix: "emotion mix", "감정 구성";
    SharingNeedsSession: "Start a session: only a recorded session's seconds are shared.",
        "세션을 시작하세요: 기록 중인 세션의 초 단위 수치만 공유됩니다.";

    // The report (report.png).
    ReportEngagement: "mean engagement of the faces present (0-1)", "자리에 있는 얼굴의 평균 참여도 (0-1)";
    ReportClassMean: "class mean", "학급 평균";
    ReportSegmentMean: "segment mean", "구간 평균";
    ReportMarker: "marker", "마커";
    ReportStates: "share of faces in each state", "상태별 얼굴 비율";
    ReportEmotions: "emotion mix (mean probabilities)", "감정 구성 (평균 확률)";
    ReportNoFrames: "no frames recorded", "기록된 프레임 없음";
    ReportMarkers: "{n} markers", "마커 {n}개";
    ReportPeople: "{n} people", "{n}명";
    ReportInterrupted: "(interrupted)", "(중단됨)";
    ReportAttentionOnly: "attention only, no emotions", "집중도만, 감정 없음";
}

/// The words of `report.png` in one language (see [`report_labels`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportLabels {
    pub engagement: String,
    pub class_mean: String,
    pub segment_mean: String,
    pub marker: String,
    pub states: String,
    pub emotions: String,
    pub no_frames: String,
    /// "{n} markers".
    pub markers: String,
    /// "{n} people" (after the title).
    pub people: String,
    /// After the title of a session that did not finish cleanly.
    pub interrupted: String,
    /// After the title of an attention-only session.
    pub attention_only: String,
    /// engaged, neutral, bored, away.
    pub state_names: [String; 4],
    /// In [`crate::EMOTIONS`] order.
    pub emotion_names: [String; 7],
}

impl ReportLabels {
    /// "3 markers" / "마커 3개".
    pub(crate) fn markers_count(&self, n: usize) -> String {
        fill(&self.markers, &[("n", &n)])
    }

    /// "25 people" / "25명".
    pub(crate) fn people_count(&self, n: usize) -> String {
        fill(&self.people, &[("n", &n)])
    }
}

impl Default for ReportLabels {
    fn default() -> Self {
        report_labels(Lang::En)
    }
}

/// The report's words in `lang`.
pub(crate) fn report_labels(lang: Lang) -> ReportLabels {
    let t = |k| lang.t(k).to_string();
    ReportLabels {
        engagement: t(Key::ReportEngagement),
        class_mean: t(Key::ReportClassMean),
        segment_mean: t(Key::ReportSegmentMean),
        marker: t(Key::ReportMarker),
        states: t(Key::ReportStates),
        emotions: t(Key::ReportEmotions),
        no_frames: t(Key::ReportNoFrames),
        markers: t(Key::ReportMarkers),
        people: t(Key::ReportPeople),
        interrupted: t(Key::ReportInterrupted),
        attention_only: t(Key::ReportAttentionOnly),
        state_names: crate::engagement::State::ALL.map(|s| lang.state(s).to_string()),
        emotion_names: std::array::from_fn(|i| lang.emotion(i).to_string()),
    }
}

/// The language reports are written in by this process (`--lang`, the locale, or the window's switch).
static REPORT_LANG: AtomicU8 = AtomicU8::new(0);

/// Sets the language of the reports this process writes from now on.
pub fn set_report_language(lang: Lang) {
    REPORT_LANG.store(if lang == Lang::Ko { 1 } else { 0 }, Ordering::Relaxed);
}

/// The language of the reports this process writes.
pub(crate) fn report_language() -> Lang {
    if REPORT_LANG.load(Ordering::Relaxed) == 1 { Lang::Ko } else { Lang::En }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages_with_the_same_placeholders() {
        for &key in Key::ALL {
            let (en, ko) = (tr(Lang::En, key), tr(Lang::Ko, key));
            assert!(!en.trim().is_empty() && !ko.trim().is_empty(), "{key:?} is empty");
            assert_eq!(placeholders(en), placeholders(ko), "{key:?}: {en:?} vs {ko:?}");
        }
    }

    #[test]
    fn korean_is_written_in_hangul() {
        // Texts that are not identical on purpose (a path hint) are all translated.
        let same: Vec<Key> = Key::ALL.iter().copied().filter(|&k| tr(Lang::En, k) == tr(Lang::Ko, k)).collect();
        assert_eq!(same, vec![Key::VideoPathHint, Key::AsIs], "untranslated keys");
        assert!(tr(Lang::Ko, Key::Start).chars().all(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)));
    }

    #[test]
    fn placeholders_are_filled_by_name_in_any_order() {
        assert_eq!(
            Lang::En.fmt(Key::MarkerSet, &[("time", &"00:01:02"), ("name", &"퀴즈 시작")]),
            "Marker \"퀴즈 시작\" at 00:01:02"
        );
        assert_eq!(Lang::Ko.fmt(Key::NFaces, &[("n", &25)]), "얼굴 25개");
        assert_eq!(fill("{a} {b} {", &[("a", &1)]), "1 {b} {");
    }

    #[test]
    fn the_locale_picks_korean_only_for_ko() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(Lang::from_locale_vars(None, None, s("ko_KR.UTF-8")), Lang::Ko);
        assert_eq!(Lang::from_locale_vars(s("C.UTF-8"), None, s("ko_KR.UTF-8")), Lang::En, "LC_ALL wins");
        assert_eq!(Lang::from_locale_vars(s(""), s("ko_KR"), s("en_US.UTF-8")), Lang::Ko, "empty is unset");
        assert_eq!(Lang::from_locale_vars(None, None, None), Lang::En);
    }

    #[test]
    fn report_labels_follow_the_language() {
        let ko = report_labels(Lang::Ko);
        assert_eq!(ko.emotion_names[3], "기쁨");
        assert_eq!(ko.markers_count(2), "마커 2개");
        assert_eq!(ReportLabels::default().class_mean, "class mean");
    }
}
