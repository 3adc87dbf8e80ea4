//! Still images as a stream: a folder of frames, or one picture.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::{Frame, FrameSource, SourceError, display_name, io_error};

/// File extensions read as images (case-insensitive); the formats the `image` crate is built with.
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "gif"];

/// Rate assumed for an image folder when the caller gives none: one image per second, so
/// that `timestamp_s` equals the image's position in the folder. Frames extracted from a
/// video at another rate (`ffmpeg -vf fps=5`) should be opened with that rate instead.
pub const DEFAULT_IMAGE_FPS: f64 = 1.0;

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`].
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The images of one folder, in file-name order (byte-wise, so zero-pad numbers: `0009.jpg`
/// before `0010.jpg`). Sub-folders are ignored; other files are skipped with one warning.
///
/// An image that cannot be decoded is skipped with a warning and reading continues: one bad
/// file in a thousand frames should not stop an analysis. Its `index` is then missing from
/// the stream, and the frames after it keep their own `index` and `timestamp_s`
/// (`index / fps`), so times stay true to the folder's layout.
pub struct ImageFolderSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    next: usize,
    fps: f64,
    name: Arc<str>,
    skipped_unreadable: u64,
    decoded: u64,
}

impl ImageFolderSource {
    /// Lists `dir`; fails with `NoImages` when it holds no image file. `fps` sets the
    /// timestamps (`index / fps`); a non-positive or non-finite value means [`DEFAULT_IMAGE_FPS`].
    pub fn open(dir: &Path, fps: f64) -> Result<Self, SourceError> {
        let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
        let mut files = Vec::new();
        let mut others = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(dir, e))?;
            let path = entry.path();
            // Follows symlinks, so a linked image counts and a linked folder does not.
            if path.is_dir() {
                continue;
            }
            if is_image_path(&path) {
                files.push(path);
            } else {
                others.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        if files.is_empty() {
            return Err(SourceError::NoImages(dir.to_path_buf()));
        }
        if !others.is_empty() {
            others.sort();
            let shown = others.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            tracing::warn!(
                "{}: skipping {} file(s) that are not images ({}{})",
                dir.display(),
                others.len(),
                shown,
                if others.len() > 5 { ", …" } else { "" }
            );
        }
        files.sort();
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { DEFAULT_IMAGE_FPS };
        Ok(Self {
            name: display_name(dir),
            dir: dir.to_path_buf(),
            files,
            next: 0,
            fps,
            skipped_unreadable: 0,
            decoded: 0,
        })
    }

    /// The image files found, in the order they are read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// How many images were skipped so far because they could not be decoded.
    pub fn skipped_unreadable(&self) -> u64 {
        self.skipped_unreadable
    }
}

impl FrameSource for ImageFolderSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        while let Some(path) = self.files.get(self.next) {
            let index = self.next as u64;
            self.next += 1;
            match read_rgb(path) {
                Ok(image) => {
                    self.decoded += 1;
                    // Each row names its photo, relative to the folder.
                    let name = path.strip_prefix(&self.dir).unwrap_or(path).to_string_lossy();
                    return Ok(Some(Frame {
                        image,
                        index,
                        timestamp_s: index as f64 / self.fps,
                        captured_at: Instant::now(),
                        source: Arc::from(name.as_ref()),
                    }));
                }
                Err(e) => {
                    // Logged here and not passed on: the stream goes on without this image.
                    self.skipped_unreadable += 1;
                    tracing::warn!("{e}; skipping it (folder {})", self.dir.display());
                }
            }
        }
        if self.decoded == 0 && self.skipped_unreadable > 0 {
            return Err(SourceError::NothingDecoded { dir: self.dir.clone(), count: self.skipped_unreadable });
        }
        Ok(None)
    }

    fn skipped(&self) -> u64 {
        self.skipped_unreadable
    }

    /// The number of image files, including any that turn out unreadable.
    fn total_frames(&self) -> Option<u64> {
        Some(self.files.len() as u64)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fps(&self) -> Option<f64> {
        Some(self.fps)
    }
}

/// One picture as a one-frame stream (index 0, t = 0 s). Unlike a folder, an unreadable
/// image is an error here: there is nothing else to analyse.
pub struct SingleImageSource {
    path: PathBuf,
    image: Option<image::RgbImage>,
    name: Arc<str>,
}

impl SingleImageSource {
    /// Decodes the image now, so a bad file fails at opening.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if meta.len() == 0 {
            return Err(SourceError::Empty(path.to_path_buf()));
        }
        let image = read_rgb(path)?;
        Ok(Self { path: path.to_path_buf(), image: Some(image), name: display_name(path) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FrameSource for SingleImageSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        Ok(self.image.take().map(|image| Frame {
            image,
            index: 0,
            timestamp_s: 0.0,
            captured_at: Instant::now(),
            source: self.name.clone(),
        }))
    }

    fn total_frames(&self) -> Option<u64> {
        Some(1)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn fps(&self) -> Option<f64> {
        None
    }
}

/// Decodes any supported image (JPEG, PNG, BMP, TIFF, WebP, the first frame of a GIF; grey, RGBA,
/// 16-bit…) to 8-bit RGB, turned upright by its EXIF orientation. The format is guessed from the content,
/// not the extension, so a PNG named `.jpg` still works.
fn read_rgb(path: &Path) -> Result<image::RgbImage, SourceError> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| io_error(path, e))?
        .with_guessed_format()
        .map_err(|e| io_error(path, e))?;
    let unreadable =
        |e: image::ImageError| SourceError::UnreadableImage { path: path.to_path_buf(), detail: e.to_string() };
    // Phones store portraits sideways with an EXIF orientation; faces must be upright for the detector.
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation =
        image::ImageDecoder::orientation(&mut decoder).unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}
