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

/// Decodes any supported image (JPEG, PNG, BMP, TIFF, WebP, the first frame of a GIF; grey, grey-alpha,
/// RGBA, palette, CMYK, 16-bit…) to 8-bit RGB, turned upright by its EXIF orientation. The format is
/// guessed from the content, not the extension, so a PNG named `.jpg` still works. Alpha is dropped.
fn read_rgb(path: &Path) -> Result<image::RgbImage, SourceError> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| io_error(path, e))?
        .with_guessed_format()
        .map_err(|e| io_error(path, e))?;
    let is_tiff = reader.format() == Some(image::ImageFormat::Tiff);
    let unreadable = |detail: String| SourceError::UnreadableImage { path: path.to_path_buf(), detail };
    let decoded = (|| {
        // Phones store portraits sideways with an EXIF orientation; faces must be upright for the detector.
        let mut decoder = reader.into_decoder()?;
        let orientation =
            image::ImageDecoder::orientation(&mut decoder).unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut image = image::DynamicImage::from_decoder(decoder)?;
        image.apply_orientation(orientation);
        Ok::<_, image::ImageError>(image.into_rgb8())
    })();
    match decoded {
        Ok(image) => Ok(image),
        // `image` refuses palette TIFFs (scanners, old datasets); anything else keeps its own error.
        Err(e) if is_tiff => match read_palette_tiff(path) {
            Ok(Some(image)) => Ok(image),
            Ok(None) => Err(unreadable(e.to_string())),
            Err(detail) => Err(unreadable(detail)),
        },
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// A 1-, 2-, 4- or 8-bit palette TIFF expanded through its colour map, turned upright by its
/// orientation tag; `Ok(None)` when the TIFF is not a palette image.
///
/// The `tiff` crate decodes no palette either, but it decodes the same samples as grey (with every
/// compression, strip and tile layout): the first image's photometric tag is turned from palette
/// into grey in memory, and the grey values are the colour indices.
fn read_palette_tiff(path: &Path) -> Result<Option<image::RgbImage>, String> {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::tags::Tag;
    let mut bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let Some(at) = photometric_value_at(&bytes) else { return Ok(None) };
    let big_endian = bytes[0] == b'M';
    let read_u16 = |b: [u8; 2]| if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
    if read_u16([bytes[at], bytes[at + 1]]) != PHOTOMETRIC_PALETTE {
        return Ok(None);
    }
    let grey = if big_endian { PHOTOMETRIC_GREY.to_be_bytes() } else { PHOTOMETRIC_GREY.to_le_bytes() };
    bytes[at..at + 2].copy_from_slice(&grey);
    let mut decoder = Decoder::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let bits = match decoder.colortype().map_err(|e| e.to_string())? {
        tiff::ColorType::Gray(bits @ (1 | 2 | 4 | 8)) => bits,
        other => return Err(format!("palette TIFF with {other:?} samples (1 sample of 1, 2, 4 or 8 bits expected)")),
    };
    let (width, height) = decoder.dimensions().map_err(|e| e.to_string())?;
    let map = decoder.get_tag_u16_vec(Tag::ColorMap).map_err(|e| format!("palette TIFF without a colour map: {e}"))?;
    let colours = 1usize << bits;
    if map.len() < 3 * colours {
        return Err(format!("colour map of {} values, {} needed for {bits}-bit indices", map.len(), 3 * colours));
    }
    // The map is 16-bit; some writers put 8-bit values in it (libtiff checks the same way).
    let shift = if map.iter().all(|&v| v < 256) { 0 } else { 8 };
    let channel = |c: usize, i: usize| (map[c * colours + i] >> shift) as u8;
    let orientation = decoder
        .find_tag_unsigned::<u8>(Tag::Orientation)
        .ok()
        .flatten()
        .and_then(image::metadata::Orientation::from_exif)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let DecodingResult::U8(indices) = decoder.read_image().map_err(|e| e.to_string())? else {
        return Err(format!("{bits}-bit palette indices did not decode as bytes"));
    };
    // Rows of sub-byte indices start on a byte boundary, the first index in the high bits.
    let (bits, w) = (bits as usize, width as usize);
    let stride = (w * bits).div_ceil(8);
    if stride == 0 || indices.len() < stride * height as usize {
        return Err(format!("{} bytes of pixel data, {} needed", indices.len(), stride * height as usize));
    }
    let mask = (colours - 1) as u8;
    let mut image = image::RgbImage::new(width, height);
    for (row, out) in indices.chunks_exact(stride).zip(image.rows_mut()) {
        for (x, px) in out.enumerate() {
            let bit = x * bits;
            let i = ((row[bit / 8] >> (8 - bits - bit % 8)) & mask) as usize;
            *px = image::Rgb([channel(0, i), channel(1, i), channel(2, i)]);
        }
    }
    let mut image = image::DynamicImage::ImageRgb8(image);
    image.apply_orientation(orientation);
    Ok(Some(image.into_rgb8()))
}

/// TIFF's PhotometricInterpretation tag and two of its values.
const PHOTOMETRIC_TAG: u16 = 262;
const PHOTOMETRIC_PALETTE: u16 = 3;
const PHOTOMETRIC_GREY: u16 = 1;

/// Where the first image's PhotometricInterpretation value lies in a TIFF or BigTIFF file (a SHORT,
/// stored inside its directory entry); `None` when the file is not laid out so.
fn photometric_value_at(bytes: &[u8]) -> Option<usize> {
    let big_endian = match bytes.get(..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let uint = |at: usize, len: usize| -> Option<u64> {
        let b = bytes.get(at..at.checked_add(len)?)?;
        Some(if big_endian {
            b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x))
        } else {
            b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x))
        })
    };
    // Classic TIFF: 2-byte entry count, 12-byte entries; BigTIFF: 8-byte count, 20-byte entries.
    let (ifd, count_len, entry_len, count_field) = match uint(2, 2)? {
        42 => (uint(4, 4)?, 2, 12, 4),
        43 => (uint(8, 8)?, 8, 20, 8),
        _ => return None,
    };
    let ifd = usize::try_from(ifd).ok()?;
    let entries = usize::try_from(uint(ifd, count_len)?).ok()?;
    (0..entries).map(|n| ifd + count_len + n * entry_len).find_map(|entry| {
        const SHORT: u64 = 3;
        let is_photometric = uint(entry, 2)? == u64::from(PHOTOMETRIC_TAG);
        let value = entry + 4 + count_field;
        (is_photometric
            && uint(entry + 2, 2)? == SHORT
            && uint(entry + 4, count_field)? == 1
            && value + 2 <= bytes.len())
        .then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, LumaA, Rgb};

    /// Four colours in 16x16 blocks (whole JPEG blocks, so JPEG keeps them nearly exact).
    const COLOURS: [[u8; 3]; 4] = [[200, 40, 40], [30, 90, 220], [250, 250, 250], [20, 160, 70]];

    fn expected(x: u32, y: u32) -> [u8; 3] {
        COLOURS[((x / 16) + 2 * (y / 16)) as usize % 4]
    }

    fn assert_pixels(image: &image::RgbImage, tolerance: u8, what: &str) {
        assert_eq!(image.dimensions(), (32, 32), "{what}");
        for (x, y, p) in image.enumerate_pixels() {
            let want = expected(x, y);
            let off = (0..3).map(|c| p.0[c].abs_diff(want[c])).max().unwrap_or(0);
            assert!(off <= tolerance, "{what}: pixel ({x},{y}) is {:?}, expected {want:?}", p.0);
        }
    }

    fn magick(args: &[&str]) {
        let ok = std::process::Command::new("convert").args(args).status().is_ok_and(|s| s.success());
        assert!(ok, "ImageMagick `convert {}` failed (bash scripts/setup.sh installs imagemagick)", args.join(" "));
    }

    /// An 8-bit palette image as scanners and old datasets write it: the `tiff` encoder has no
    /// palette colour type, so this one says what the tags are.
    struct Palette8;
    impl tiff::encoder::colortype::ColorType for Palette8 {
        type Inner = u8;
        const TIFF_VALUE: tiff::tags::PhotometricInterpretation = tiff::tags::PhotometricInterpretation::RGBPalette;
        const BITS_PER_SAMPLE: &'static [u16] = &[8];
        const SAMPLE_FORMAT: &'static [tiff::tags::SampleFormat] = &[tiff::tags::SampleFormat::Uint];
        fn horizontal_predict(row: &[u8], result: &mut Vec<u8>) {
            result.extend_from_slice(row);
        }
    }

    #[test]
    fn a_palette_tiff_reads_through_its_colour_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("palette.tif");
        // Colour i of the map at index 10 + 20 i, the rest of the 256 entries black.
        let mut map = vec![0u16; 3 * 256];
        for (i, c) in COLOURS.iter().enumerate() {
            for ch in 0..3 {
                map[ch * 256 + 10 + 20 * i] = u16::from(c[ch]) * 257;
            }
        }
        let indices: Vec<u8> = (0..32 * 32)
            .map(|i| {
                let (x, y) = (i % 32, i / 32);
                let k = COLOURS.iter().position(|c| *c == expected(x, y)).unwrap();
                (10 + 20 * k) as u8
            })
            .collect();
        let mut file = std::fs::File::create(&path).unwrap();
        let mut tiff = tiff::encoder::TiffEncoder::new(&mut file).unwrap();
        let mut img = tiff.new_image::<Palette8>(32, 32).unwrap();
        img.encoder().write_tag(tiff::tags::Tag::ColorMap, &map[..]).unwrap();
        img.write_data(&indices).unwrap();
        drop(file);
        assert_pixels(&read_rgb(&path).unwrap(), 0, "8-bit palette TIFF");

        // The same picture as ImageMagick writes a compressed palette TIFF; a folder of them skips nothing.
        let png = dir.path().join("colours.png");
        rgb_image().save(&png).unwrap();
        let magick_tif = dir.path().join("magick.tif");
        magick(&[png.to_str().unwrap(), "-type", "Palette", "-compress", "LZW", magick_tif.to_str().unwrap()]);
        assert_pixels(&read_rgb(&magick_tif).unwrap(), 0, "ImageMagick palette TIFF");
        std::fs::remove_file(&png).unwrap();
        let mut folder = ImageFolderSource::open(dir.path(), 1.0).unwrap();
        while folder.next_frame().unwrap().is_some() {}
        assert_eq!(folder.skipped(), 0, "no palette TIFF is taken for a damaged file");
    }

    fn rgb_image() -> image::RgbImage {
        ImageBuffer::from_fn(32, 32, |x, y| Rgb(expected(x, y)))
    }

    #[test]
    fn cmyk_jpeg_and_tiff_read_as_their_rgb_colours() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("colours.png");
        rgb_image().save(&png).unwrap();
        // ImageMagick's CMYK JPEG (Adobe marker, inverted values, as Photoshop writes them).
        let jpeg = dir.path().join("cmyk.jpg");
        magick(&[png.to_str().unwrap(), "-colorspace", "CMYK", "-quality", "100", jpeg.to_str().unwrap()]);
        assert_pixels(&read_rgb(&jpeg).unwrap(), 8, "CMYK JPEG");

        // A CMYK TIFF: k takes the darkness out, c/m/y the rest (the naive inverse of CMYK = 1 - RGB).
        let cmyk: Vec<u8> = rgb_image()
            .pixels()
            .flat_map(|p| {
                let k = 255 - *p.0.iter().max().unwrap();
                let ink =
                    |v: u8| if k == 255 { 0 } else { ((255 - v - k) as f32 * 255.0 / (255 - k) as f32).round() as u8 };
                [ink(p.0[0]), ink(p.0[1]), ink(p.0[2]), k]
            })
            .collect();
        let tif = dir.path().join("cmyk.tif");
        let mut file = std::fs::File::create(&tif).unwrap();
        tiff::encoder::TiffEncoder::new(&mut file)
            .unwrap()
            .write_image::<tiff::encoder::colortype::CMYK8>(32, 32, &cmyk)
            .unwrap();
        drop(file);
        assert_pixels(&read_rgb(&tif).unwrap(), 2, "CMYK TIFF");
    }

    #[test]
    fn sixteen_bit_png_and_tiff_read_as_8_bit() {
        let dir = tempfile::tempdir().unwrap();
        let wide: ImageBuffer<Rgb<u16>, Vec<u16>> =
            ImageBuffer::from_fn(32, 32, |x, y| Rgb(expected(x, y).map(|v| u16::from(v) * 257)));
        for name in ["wide.png", "wide.tif"] {
            let path = dir.path().join(name);
            wide.save(&path).unwrap();
            assert_pixels(&read_rgb(&path).unwrap(), 0, name);
        }
    }

    #[test]
    fn grey_alpha_png_reads_as_grey_whatever_its_alpha() {
        let dir = tempfile::tempdir().unwrap();
        let grey = |x: u32, y: u32| expected(x, y)[1];
        let la8: ImageBuffer<LumaA<u8>, Vec<u8>> =
            ImageBuffer::from_fn(32, 32, |x, y| LumaA([grey(x, y), (x * 8) as u8]));
        let la16: ImageBuffer<LumaA<u16>, Vec<u16>> =
            ImageBuffer::from_fn(32, 32, |x, y| LumaA([u16::from(grey(x, y)) * 257, (y * 2000) as u16]));
        let (p8, p16) = (dir.path().join("la8.png"), dir.path().join("la16.png"));
        la8.save(&p8).unwrap();
        la16.save(&p16).unwrap();
        for path in [p8, p16] {
            let image = read_rgb(&path).unwrap();
            for (x, y, p) in image.enumerate_pixels() {
                assert_eq!(p.0, [grey(x, y); 3], "{} at ({x},{y})", path.display());
            }
        }
    }
}
