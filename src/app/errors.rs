//! Errors as the user reads them: each error kind a window can meet becomes a catalogue [`Message`] (so the
//! Korean window speaks Korean), with the technical text kept as its detail (the log, the "details" hover).

use crate::classify::ModelError;
use crate::i18n::{Key, Message};
use crate::runtime::RuntimeError;
use crate::session::{SessionError, WriterError};
use crate::share::ShareError;
use crate::source::SourceError;

/// An error that knows its catalogue message.
pub trait Explain: std::fmt::Display {
    fn message(&self) -> Message;
}

fn path(p: &std::path::Path) -> std::path::Display<'_> {
    p.display()
}

impl Explain for SourceError {
    fn message(&self) -> Message {
        let d = self.to_string();
        use SourceError as E;
        match self {
            E::NotFound(p) => Message::new(Key::ErrNotFound, &[("path", &path(p))], d),
            E::Empty(p) => Message::new(Key::ErrEmptyFile, &[("path", &path(p))], d),
            E::Io { path: p, .. } => Message::new(Key::ErrCannotRead, &[("path", &path(p))], d),
            E::NotAVideo { path: p, .. } => Message::new(Key::ErrNotAVideo, &[("path", &path(p))], d),
            E::Truncated { path: p, at_frame, .. } => {
                Message::new(Key::ErrVideoTruncated, &[("path", &path(p)), ("n", at_frame)], d)
            }
            E::DecodeFailed { path: p, at_frame, .. } => {
                Message::new(Key::ErrDecodeFailed, &[("path", &path(p)), ("n", at_frame)], d)
            }
            E::NoImages(p) | E::NothingDecoded { dir: p, .. } => {
                Message::new(Key::ErrNoImages, &[("path", &path(p))], d)
            }
            E::UnreadableImage { path: p, .. } => Message::new(Key::ErrBadImage, &[("path", &path(p))], d),
            E::FfmpegMissing { .. } => Message::new(Key::ErrFfmpegMissing, &[], d),
            E::NoCamera { wanted, .. } => Message::new(Key::ErrNoCamera, &[("wanted", wanted)], d),
            E::CameraFailed { camera, .. } => Message::new(Key::ErrCameraFailed, &[("camera", camera)], d),
            E::CameraLost { camera, .. } => Message::new(Key::ErrCameraLost, &[("camera", camera)], d),
            E::ScreenLost { target, .. } => Message::new(Key::ErrScreenLost, &[("target", target)], d),
            E::ScreenFailed { target, .. } => Message::new(Key::ErrScreen, &[("target", target)], d),
            E::NoWindow { wanted, .. } => Message::new(Key::ErrScreen, &[("target", wanted)], d),
            E::NoScreen { wanted, .. } => Message::new(Key::ErrScreen, &[("target", &format!("screen:{wanted}"))], d),
            E::BadScreenSpec(spec) => Message::new(Key::ErrScreen, &[("target", spec)], d),
            E::RegionOutside { target, .. } => Message::new(Key::ErrScreen, &[("target", target)], d),
            E::NoDisplay(_) | E::WindowListFailed(_) => Message::new(Key::ErrScreen, &[("target", &"screen")], d),
        }
    }
}

impl Explain for RuntimeError {
    fn message(&self) -> Message {
        let d = self.to_string();
        match self {
            RuntimeError::LibraryMissing { .. } | RuntimeError::Init(_) => Message::new(Key::ErrOrtMissing, &[], d),
            RuntimeError::CudaUnavailable(_) => Message::new(Key::ErrGpuRequested, &[("gpu", &"CUDA")], d),
            RuntimeError::DirectmlUnavailable(_) => Message::new(Key::ErrGpuRequested, &[("gpu", &"DirectML")], d),
            RuntimeError::Model { path: p, .. } => Message::new(Key::ErrModelFile, &[("path", &path(p))], d),
        }
    }
}

impl Explain for ModelError {
    fn message(&self) -> Message {
        match self {
            ModelError::Runtime(e) => e.message(),
            ModelError::Contract { path: p, .. } => {
                Message::new(Key::ErrModelShape, &[("path", &path(p))], self.to_string())
            }
            ModelError::Inference { .. } => Message::new(Key::ErrInference, &[], self.to_string()),
        }
    }
}

impl Explain for SessionError {
    fn message(&self) -> Message {
        let d = self.to_string();
        match self {
            SessionError::Create { path: p, .. } => Message::new(Key::ErrSessionFolder, &[("path", &path(p))], d),
            SessionError::Write { path: p, .. } => Message::new(Key::ErrSessionWrite, &[("path", &path(p))], d),
            SessionError::Read { path: p, .. } | SessionError::Format { path: p, .. } => {
                Message::new(Key::ErrSessionRead, &[("path", &path(p))], d)
            }
            SessionError::NotASession { path: p } => Message::new(Key::ErrNotASession, &[("path", &path(p))], d),
            SessionError::Export { path: p, .. } => Message::new(Key::ErrExportTo, &[("path", &path(p))], d),
            SessionError::NotRunning => Message::new(Key::ErrNoSession, &[], d),
        }
    }
}

impl Explain for WriterError {
    fn message(&self) -> Message {
        let d = self.to_string();
        match self {
            WriterError::Session(e) => e.message(),
            WriterError::FrameImage { path: p, .. } => Message::new(Key::ErrFrameImage, &[("path", &path(p))], d),
            WriterError::Busy { .. } => Message::new(Key::ErrDiskSlow, &[], d),
            WriterError::Gone { .. } => Message::new(Key::ErrWriterGone, &[], d),
        }
    }
}

impl Explain for ShareError {
    fn message(&self) -> Message {
        let d = self.to_string();
        match self {
            ShareError::Session(e) => e.message(),
            ShareError::Address(_) | ShareError::ClassCode(_) => Message::new(Key::ErrClassAddress, &[], d),
            ShareError::Thread(_) => Message::new(Key::ErrThread, &[], d),
            ShareError::Ca { path: p, .. } => Message::new(Key::ErrCannotRead, &[("path", &path(p))], d),
        }
    }
}

/// Where the models run, in the user's language: "CPU (CUDA 사용 불가)" with the reason as its detail.
pub fn provider_message(p: &crate::runtime::Provider) -> Message {
    match &p.fallback_reason {
        Some(_) => Message::new(
            Key::GpuFallback,
            &[("name", &p.name), ("gpu", &crate::runtime::auto_gpu_label())],
            p.to_string(),
        ),
        None => Message::new(Key::AsIs, &[("text", &p.name)], p.name),
    }
}
