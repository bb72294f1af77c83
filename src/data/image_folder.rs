//! Folders of PNG and JPEG images, one subfolder per class (torchvision's `ImageFolder`
//! layout).
//!
//! `DIR/<class>/<file>.png|.jpg|.jpeg`: the class folders sorted by name give the labels
//! `0..n`; a `DIR/classes.txt` (one class folder name per line, blank lines ignored) sets the
//! classes and their order instead. Inside a class folder the image files (by extension,
//! ASCII case-insensitive) are taken in sorted name order; other files and nested folders are
//! ignored. Samples run class by class, so the order, and with it the first `n` samples, is
//! the same on every machine.
//!
//! Files come from untrusted places: only regular files are opened (no FIFOs or devices), a
//! symbolic link is followed only when it resolves inside `DIR`, the decoder's limits (side
//! length and memory) are set before it reads a pixel, and only the first `limit` images of
//! the order are decoded, so a folder of a million images costs a directory listing.
//!
//! Each image is converted to RGB (alpha dropped) or to grey with the ITU-R 601-2 luma
//! weights in 8 bits (`L = (19595 R + 38470 G + 7471 B + 32768) >> 16`, as PIL's
//! `convert("L")` behind torchvision's `Grayscale`), then, when a size is asked for, resized
//! with a triangle (bilinear) filter whose support widens with the downscaling factor, which
//! approximates torchvision's default antialiased bilinear `Resize`. Pixels `p` become
//! `p / 255 - 0.5`, like every dataset's.

use std::ffi::OsString;
use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageReader, Limits, RgbImage};
use ndarray::Array4;

use super::{io_error, pixel_to_input, DataError, Dataset};
use robustaudit_graph::regular_file;

/// The file naming the classes and their order, when present in the folder.
pub const CLASS_LIST: &str = "classes.txt";

/// Largest width or height the decoder accepts (a 16k-pixel side covers any photograph).
pub const MAX_SIDE: u32 = 16_384;

/// Most bytes the decoder may allocate for one image (an RGBA 8k x 8k image fits).
const MAX_ALLOC: u64 = 256 << 20;

/// Largest `classes.txt` read, in bytes (a million bytes lists tens of thousands of classes).
const MAX_CLASS_LIST_BYTES: u64 = 1 << 20;

/// The channels images are converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// One grey channel (ITU-R 601-2 luma).
    Gray,
    /// Red, green and blue.
    Rgb,
}

impl Channels {
    /// 1 for [`Channels::Gray`], 3 for [`Channels::Rgb`].
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Rgb => 3,
        }
    }

    /// The conversion to `count` channels, if it is 1 or 3.
    pub fn from_count(count: usize) -> Option<Channels> {
        match count {
            1 => Some(Channels::Gray),
            3 => Some(Channels::Rgb),
            _ => None,
        }
    }
}

/// How image files become input tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageOptions {
    /// Resize every image to `(height, width)`; `None`: every image must have the size of
    /// the first.
    pub size: Option<(u32, u32)>,
    /// The channels every image is converted to.
    pub channels: Channels,
}

impl Default for ImageOptions {
    /// RGB at the images' own size.
    fn default() -> Self {
        ImageOptions {
            size: None,
            channels: Channels::Rgb,
        }
    }
}

/// Loads the first `limit` images of the folder `dir` (all of them for `usize::MAX`), with
/// the class index of each as its label.
pub fn load(dir: &Path, options: ImageOptions, limit: usize) -> Result<Dataset, DataError> {
    let root = fs::canonicalize(dir).map_err(|e| io_error(dir, e))?;
    let classes = class_folders(dir, &root)?;
    let mut files: Vec<(PathBuf, usize)> = Vec::new();
    for (label, class_dir) in classes.iter().enumerate() {
        let names = image_names(class_dir)?;
        if names.is_empty() {
            return Err(DataError::EmptyClass {
                dir: class_dir.clone(),
            });
        }
        let room = limit.saturating_sub(files.len());
        files.extend(
            names
                .into_iter()
                .take(room)
                .map(|name| (class_dir.join(name), label)),
        );
    }
    let mut images: Option<Array4<f32>> = None;
    let mut labels = Vec::with_capacity(files.len());
    for (index, (path, label)) in files.iter().enumerate() {
        let pixels = decode(&root, path, options)?;
        let (c, h, w) = pixels.shape();
        let batch = images.get_or_insert_with(|| Array4::zeros((files.len(), c, h, w)));
        let (_, _, bh, bw) = batch.dim();
        if (h, w) != (bh, bw) {
            return Err(DataError::ImageSize {
                path: path.clone(),
                found: (h, w),
                expected: (bh, bw),
            });
        }
        pixels.write_into(batch, index);
        labels.push(*label);
    }
    let images = images.ok_or_else(|| DataError::NoClassFolders {
        dir: dir.to_path_buf(),
    })?;
    Ok(Dataset {
        name: dir.display().to_string(),
        images,
        labels: Some(labels),
        classes: classes.len(),
    })
}

/// The class folders in label order: from `classes.txt` when present, else every subfolder
/// sorted by name.
fn class_folders(dir: &Path, root: &Path) -> Result<Vec<PathBuf>, DataError> {
    let list = dir.join(CLASS_LIST);
    // A class list in any form (even a dangling link or a FIFO) is read, so it fails loudly.
    let folders = if fs::symlink_metadata(&list).is_ok() {
        listed_classes(dir, &list)?
    } else {
        let mut names: Vec<OsString> = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
            let entry = entry.map_err(|e| io_error(dir, e))?;
            // `metadata` follows links: a link to a folder is a class folder (checked below).
            let is_dir = fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            if is_dir {
                names.push(entry.file_name());
            }
        }
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        names.into_iter().map(|name| dir.join(name)).collect()
    };
    if folders.is_empty() {
        return Err(DataError::NoClassFolders {
            dir: dir.to_path_buf(),
        });
    }
    for folder in &folders {
        inside(root, folder)?;
    }
    Ok(folders)
}

/// The folders named by `classes.txt`, one per non-blank line, each a direct subfolder.
fn listed_classes(dir: &Path, list: &Path) -> Result<Vec<PathBuf>, DataError> {
    let bytes = robustaudit_graph::regular_file::read(list, MAX_CLASS_LIST_BYTES)
        .map_err(|e| io_error(list, e))?;
    let text = String::from_utf8(bytes).map_err(|_| DataError::ClassList {
        path: list.to_path_buf(),
        line: 1,
        reason: "the file is not utf-8 text".to_owned(),
    })?;
    let mut seen: Vec<&str> = Vec::new();
    let mut folders = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() {
            continue;
        }
        let bad = |reason: String| DataError::ClassList {
            path: list.to_path_buf(),
            line: number + 1,
            reason,
        };
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(bad(format!(
                "`{name}` is not the name of a folder in {}",
                dir.display()
            )));
        }
        if seen.contains(&name) {
            return Err(bad(format!("class `{name}` is listed twice")));
        }
        let folder = dir.join(name);
        if !folder.is_dir() {
            return Err(bad(format!("no folder {}", folder.display())));
        }
        seen.push(name);
        folders.push(folder);
    }
    Ok(folders)
}

/// The names of the PNG and JPEG files directly in `dir`, sorted.
fn image_names(dir: &Path) -> Result<Vec<OsString>, DataError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        let is_image = Path::new(&name).extension().is_some_and(|ext| {
            ["png", "jpg", "jpeg"]
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        });
        // Nested folders are not walked; anything else with an image name is checked when
        // (and only if) it is opened.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_image && !is_dir {
            names.push(name);
        }
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    Ok(names)
}

/// Where `path` really is, provided that lies inside `root` (the canonical image folder).
fn inside(root: &Path, path: &Path) -> Result<PathBuf, DataError> {
    let real = fs::canonicalize(path).map_err(|e| io_error(path, e))?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(DataError::OutsideFolder {
            path: path.to_path_buf(),
            dir: root.to_path_buf(),
        })
    }
}

/// One decoded image, converted.
enum Pixels {
    Gray(GrayImage),
    Rgb(RgbImage),
}

impl Pixels {
    /// `(channels, height, width)`.
    fn shape(&self) -> (usize, usize, usize) {
        let (c, (w, h)) = match self {
            Pixels::Gray(img) => (1, img.dimensions()),
            Pixels::Rgb(img) => (3, img.dimensions()),
        };
        (c, h as usize, w as usize)
    }

    /// Writes the image as sample `index` of `batch`, whose shape it has.
    fn write_into(&self, batch: &mut Array4<f32>, index: usize) {
        match self {
            Pixels::Gray(img) => {
                for (x, y, p) in img.enumerate_pixels() {
                    batch[[index, 0, y as usize, x as usize]] = pixel_to_input(p.0[0]);
                }
            }
            Pixels::Rgb(img) => {
                for (x, y, p) in img.enumerate_pixels() {
                    for (c, &v) in p.0.iter().enumerate() {
                        batch[[index, c, y as usize, x as usize]] = pixel_to_input(v);
                    }
                }
            }
        }
    }
}

/// Opens, decodes, converts and resizes one image file.
fn decode(root: &Path, path: &Path, options: ImageOptions) -> Result<Pixels, DataError> {
    let real = inside(root, path)?;
    let file = regular_file::open(&real).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => DataError::NotRegularFile {
            path: path.to_path_buf(),
        },
        _ => io_error(path, e),
    })?;
    let bad = |reason: String| DataError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| io_error(path, e))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| bad(e.to_string()))?;
    let pixels = match options.channels {
        Channels::Rgb => Pixels::Rgb(decoded.to_rgb8()),
        Channels::Gray => Pixels::Gray(luma_601(&decoded)),
    };
    Ok(match options.size {
        None => pixels,
        Some((h, w)) => match pixels {
            Pixels::Gray(img) if img.dimensions() != (w, h) => {
                Pixels::Gray(image::imageops::resize(&img, w, h, FilterType::Triangle))
            }
            Pixels::Rgb(img) if img.dimensions() != (w, h) => {
                Pixels::Rgb(image::imageops::resize(&img, w, h, FilterType::Triangle))
            }
            same => same,
        },
    })
}

/// Grey levels: the image's own for grey images, else ITU-R 601-2 luma of its RGB in 8-bit
/// fixed point, rounded to nearest.
fn luma_601(image: &DynamicImage) -> GrayImage {
    if !image.color().has_color() {
        return image.to_luma8();
    }
    let rgb = image.to_rgb8();
    GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        let l =
            (19_595 * u32::from(r) + 38_470 * u32::from(g) + 7_471 * u32::from(b) + 32_768) >> 16;
        // The weights sum to 65536, so `l` is at most 255.
        image::Luma([l.min(255) as u8])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::TempDir;
    use image::{Luma, Rgb};

    /// Writes a `w`x`h` RGB image filled with `rgb` at `dir/rel` (PNG or JPEG by extension).
    fn rgb(dir: &Path, rel: &str, w: u32, h: u32, rgb: [u8; 3]) -> PathBuf {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbImage::from_pixel(w, h, Rgb(rgb)).save(&path).unwrap();
        path
    }

    fn options(size: Option<(u32, u32)>, channels: Channels) -> ImageOptions {
        ImageOptions { size, channels }
    }

    /// The first pixel of every sample and channel.
    fn corners(data: &Dataset) -> Vec<Vec<f32>> {
        let (c, _, _) = data.sample_shape();
        (0..data.len())
            .map(|i| (0..c).map(|k| data.images[[i, k, 0, 0]]).collect())
            .collect()
    }

    fn input(p: u8) -> f32 {
        f32::from(p) / 255.0 - 0.5
    }

    #[test]
    fn classes_sorted_by_name_give_labels_and_files_come_in_name_order() {
        let tmp = TempDir::new("imgfolder-order");
        let dir = tmp.path();
        rgb(dir, "zebra/b.png", 2, 2, [30, 0, 0]);
        rgb(dir, "zebra/a.png", 2, 2, [20, 0, 0]);
        rgb(dir, "ant/2.png", 2, 2, [2, 0, 0]);
        rgb(dir, "ant/10.png", 2, 2, [10, 0, 0]);
        fs::write(dir.join("ant/notes.txt"), "not an image").unwrap();
        fs::write(dir.join("README"), "ignored").unwrap();
        let data = load(dir, ImageOptions::default(), usize::MAX).unwrap();
        assert_eq!(data.classes, 2);
        assert_eq!(data.labels, Some(vec![0, 0, 1, 1]));
        // Byte order of names: "10.png" < "2.png".
        let reds: Vec<f32> = corners(&data).iter().map(|c| c[0]).collect();
        assert_eq!(reds, vec![input(10), input(2), input(20), input(30)]);
        assert_eq!(data.sample_shape(), (3, 2, 2));
        // The same folder reads the same twice.
        assert_eq!(
            load(dir, ImageOptions::default(), usize::MAX).unwrap(),
            data
        );
    }

    #[test]
    fn classes_txt_sets_the_classes_and_their_order() {
        let tmp = TempDir::new("imgfolder-list");
        let dir = tmp.path();
        rgb(dir, "cat/0.png", 2, 2, [1, 0, 0]);
        rgb(dir, "dog/0.png", 2, 2, [2, 0, 0]);
        rgb(dir, "unused/0.png", 2, 2, [3, 0, 0]);
        fs::write(dir.join(CLASS_LIST), "dog\n\ncat\n").unwrap();
        let data = load(dir, ImageOptions::default(), usize::MAX).unwrap();
        assert_eq!(data.classes, 2);
        assert_eq!(data.labels, Some(vec![0, 1]));
        assert_eq!(
            corners(&data),
            vec![vec![input(2), -0.5, -0.5], vec![input(1), -0.5, -0.5]]
        );

        fs::write(dir.join(CLASS_LIST), "dog\nbird\n").unwrap();
        let err = load(dir, ImageOptions::default(), usize::MAX).unwrap_err();
        assert!(matches!(err, DataError::ClassList { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("bird"), "{err}");
        fs::write(dir.join(CLASS_LIST), "dog\ndog\n").unwrap();
        let err = load(dir, ImageOptions::default(), usize::MAX).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        fs::write(dir.join(CLASS_LIST), "../cat\n").unwrap();
        let err = load(dir, ImageOptions::default(), usize::MAX).unwrap_err();
        assert!(matches!(err, DataError::ClassList { line: 1, .. }), "{err}");
    }

    #[test]
    fn pixels_map_to_the_datasets_scale_exactly() {
        let tmp = TempDir::new("imgfolder-value");
        let dir = tmp.path();
        rgb(dir, "a/x.png", 3, 2, [0, 51, 255]);
        let data = load(dir, ImageOptions::default(), usize::MAX).unwrap();
        assert_eq!(data.images.shape(), &[1, 3, 2, 3]);
        assert_eq!(data.images[[0, 0, 1, 2]], -0.5);
        assert_eq!(data.images[[0, 1, 1, 2]], 51.0 / 255.0 - 0.5);
        assert_eq!(data.images[[0, 2, 1, 2]], 0.5);
    }

    #[test]
    fn channels_convert_rgb_to_601_luma_and_grey_to_rgb() {
        let tmp = TempDir::new("imgfolder-channels");
        let dir = tmp.path();
        rgb(dir, "a/red.png", 2, 2, [255, 0, 0]);
        let path = dir.join("b/grey.png");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        GrayImage::from_pixel(2, 2, Luma([77])).save(&path).unwrap();

        let grey = load(dir, options(None, Channels::Gray), usize::MAX).unwrap();
        assert_eq!(grey.sample_shape(), (1, 2, 2));
        // (19595 * 255 + 32768) >> 16 = 76: pure red is 29.9% grey.
        assert_eq!(corners(&grey), vec![vec![input(76)], vec![input(77)]]);

        let colour = load(dir, options(None, Channels::Rgb), usize::MAX).unwrap();
        assert_eq!(colour.sample_shape(), (3, 2, 2));
        assert_eq!(
            corners(&colour),
            vec![
                vec![input(255), input(0), input(0)],
                vec![input(77), input(77), input(77)]
            ]
        );
    }

    #[test]
    fn resize_brings_every_image_to_the_asked_size() {
        let tmp = TempDir::new("imgfolder-resize");
        let dir = tmp.path();
        rgb(dir, "a/big.png", 40, 30, [200, 100, 50]);
        rgb(dir, "a/small.jpg", 5, 7, [128, 128, 128]);
        // A left-to-right ramp keeps its order when shrunk.
        let ramp = RgbImage::from_fn(64, 8, |x, _| Rgb([(x * 4) as u8, 0, 0]));
        fs::create_dir(dir.join("b")).unwrap();
        ramp.save(dir.join("b/ramp.png")).unwrap();

        let err = load(dir, ImageOptions::default(), usize::MAX).unwrap_err();
        assert!(matches!(err, DataError::ImageSize { .. }), "{err}");
        assert!(err.to_string().contains("small.jpg"), "{err}");
        assert!(err.hint().unwrap().contains("--image-size"));

        let data = load(dir, options(Some((6, 4)), Channels::Rgb), usize::MAX).unwrap();
        assert_eq!(data.images.shape(), &[3, 3, 6, 4]);
        // A flat PNG stays exactly flat; JPEG rounding may move a flat grey by a level.
        assert!(data
            .images
            .slice(ndarray::s![0, 0, .., ..])
            .iter()
            .all(|&v| v == input(200)));
        assert!(data
            .images
            .slice(ndarray::s![1, .., .., ..])
            .iter()
            .all(|&v| (v - input(128)).abs() <= 1.5 / 255.0));
        let row: Vec<f32> = (0..4).map(|x| data.images[[2, 0, 3, x]]).collect();
        assert!(row.windows(2).all(|p| p[0] < p[1]), "{row:?}");
    }

    #[test]
    fn only_the_first_images_are_decoded_and_a_bad_one_is_named() {
        let tmp = TempDir::new("imgfolder-limit");
        let dir = tmp.path();
        rgb(dir, "a/0.png", 2, 2, [1, 2, 3]);
        rgb(dir, "a/1.png", 2, 2, [4, 5, 6]);
        fs::create_dir(dir.join("b")).unwrap();
        fs::write(dir.join("b/broken.png"), b"not a png").unwrap();
        let data = load(dir, ImageOptions::default(), 2).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data.classes, 2);
        let err = load(dir, ImageOptions::default(), 3).unwrap_err();
        assert!(matches!(err, DataError::Image { .. }), "{err}");
        assert!(err.to_string().contains("broken.png"), "{err}");
    }

    #[test]
    fn folders_without_classes_or_images_are_refused_with_a_hint() {
        let tmp = TempDir::new("imgfolder-empty");
        let dir = tmp.path();
        rgb(dir, "loose.png", 2, 2, [0, 0, 0]);
        let err = load(dir, ImageOptions::default(), usize::MAX).unwrap_err();
        assert!(matches!(err, DataError::NoClassFolders { .. }), "{err}");
        assert!(err.hint().unwrap().contains("subfolder"));

        rgb(dir, "a/0.png", 2, 2, [0, 0, 0]);
        fs::create_dir(dir.join("b")).unwrap();
        let err = load(dir, ImageOptions::default(), 1).unwrap_err();
        assert!(matches!(err, DataError::EmptyClass { .. }), "{err}");
        assert!(err
            .to_string()
            .contains(&dir.join("b").display().to_string()));
        assert!(err.hint().is_some());
    }

    #[test]
    fn links_outside_the_folder_and_fifos_are_refused() {
        let outside = TempDir::new("imgfolder-outside");
        let target = rgb(outside.path(), "secret.png", 2, 2, [9, 9, 9]);
        let tmp = TempDir::new("imgfolder-links");
        let dir = tmp.path();
        let inner = rgb(dir, "a/0.png", 2, 2, [1, 1, 1]);
        std::os::unix::fs::symlink(&inner, dir.join("a/1.png")).unwrap();
        let data = load(dir, ImageOptions::default(), usize::MAX).unwrap();
        assert_eq!(data.len(), 2, "a link inside the folder is followed");

        std::os::unix::fs::symlink(&target, dir.join("a/2.png")).unwrap();
        let err = load(dir, ImageOptions::default(), usize::MAX).unwrap_err();
        assert!(matches!(err, DataError::OutsideFolder { .. }), "{err}");
        assert!(err.to_string().contains("2.png"), "{err}");
        fs::remove_file(dir.join("a/2.png")).unwrap();

        let fifo = dir.join("a/3.png");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = load(dir, ImageOptions::default(), usize::MAX).unwrap_err();
        assert!(matches!(err, DataError::NotRegularFile { .. }), "{err}");
        assert!(err.to_string().contains("3.png"), "{err}");
    }
}
