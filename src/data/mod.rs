//! Dataset readers: turn image files into `f32` NCHW tensors in `[-0.5, 0.5]` plus labels.
//!
//! A dataset is named by a *spec* string (see [`Spec::parse`]):
//!
//! | spec             | source                                                                  |
//! |------------------|-------------------------------------------------------------------------|
//! | `mnist`          | IDX files under `<deps>/datasets/mnist/`                                |
//! | `fashion-mnist`  | IDX files under `<deps>/datasets/fashion-mnist/`                        |
//! | `digits`         | `<deps>/datasets/digits/digits.csv.gz` (scikit-learn's 8x8 digits)      |
//! | `cifar10:<dir>`  | CIFAR-10 binary batches in `<dir>`                                      |
//! | `<path>.npy`     | a batch of inputs saved with NumPy, labels from `<stem>.labels.npy`     |
//! | `<dir>`          | PNG/JPEG files in one subfolder per class ([`image_folder`])            |
//!
//! `<deps>` is [`crate::deps::deps_dir`], where `scripts/setup` installs the built-in sets.
//!
//! Every reader validates what it reads: magic numbers, declared sizes against the bytes
//! actually present (without trusting the header for allocations), label ranges, and that
//! floating-point values are finite. Bad input yields a [`DataError`], never a panic.

pub mod cifar;
pub mod digits;
pub mod idx;
pub mod image_folder;
pub mod npy;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray::{s, Array4};

pub use image_folder::{Channels, ImageOptions};

/// Number of classes of every built-in dataset (MNIST, Fashion-MNIST, digits, CIFAR-10).
pub const DEFAULT_CLASSES: usize = 10;

/// Dataset specs accepted by [`load`], as listed in error messages.
pub const KNOWN_SPECS: &[&str] = &[
    "mnist",
    "fashion-mnist",
    "digits",
    "cifar10:<dir>",
    "<file>.npy",
    "<dir of class folders>",
];

/// The hint attached to errors about built-in datasets that are missing or damaged.
const SETUP_HINT: &str = "run scripts/setup";

/// A set of images with optional labels, ready to be fed to a classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Human-readable name, such as `mnist/test`, `cifar10/train` or the path of a `.npy` file.
    pub name: String,
    /// Images as an `(N, C, H, W)` tensor in standard (row-major) layout. Pixel values are
    /// finite and lie in `[-0.5, 0.5]`: 8-bit pixels `p` are stored as `p / 255 - 0.5`.
    pub images: Array4<f32>,
    /// One label per image, each in `0..classes`; `None` for an unlabelled `.npy` batch.
    pub labels: Option<Vec<usize>>,
    /// Number of classes of the task: 10 for all built-in sets (see [`npy::load`] for `.npy`).
    pub classes: usize,
}

impl Dataset {
    /// Number of samples (`N`).
    pub fn len(&self) -> usize {
        self.images.shape()[0]
    }

    /// Whether the dataset holds no samples. Readers never return an empty dataset, but
    /// [`Dataset::subset`] with `n = 0` does.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one sample, `(C, H, W)`.
    pub fn sample_shape(&self) -> (usize, usize, usize) {
        let shape = self.images.shape();
        (shape[1], shape[2], shape[3])
    }

    /// The first `n` samples (all of them when `n >= len()`), with their labels.
    /// Name and class count are kept.
    pub fn subset(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            name: self.name.clone(),
            images: self.images.slice(s![..n, .., .., ..]).to_owned(),
            labels: self
                .labels
                .as_ref()
                .map(|labels| labels.iter().take(n).copied().collect()),
            classes: self.classes,
        }
    }
}

/// Which part of a dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training part.
    Train,
    /// The held-out test part.
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = DataError;

    /// Parses `train` or `test` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("train") {
            Ok(Split::Train)
        } else if s.eq_ignore_ascii_case("test") {
            Ok(Split::Test)
        } else {
            Err(DataError::BadSpec {
                spec: s.to_owned(),
                reason: "a split is either `train` or `test`".to_owned(),
            })
        }
    }
}

/// A parsed dataset spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// MNIST handwritten digits, 28x28 grey, 60000 train / 10000 test.
    Mnist,
    /// Fashion-MNIST clothing images, 28x28 grey, 60000 train / 10000 test.
    FashionMnist,
    /// scikit-learn's 8x8 digits, 1797 samples split 1437 train / 360 test.
    Digits,
    /// CIFAR-10 binary batches in the given folder, 32x32 colour, 50000 train / 10000 test.
    Cifar10(PathBuf),
    /// A `.npy` batch of inputs; the split is ignored.
    Npy(PathBuf),
    /// A folder of PNG and JPEG images, one subfolder per class; the split is ignored.
    ImageFolder(PathBuf),
}

impl Spec {
    /// Parses a spec: `mnist`, `fashion-mnist`, `digits` (names are ASCII case-insensitive),
    /// `cifar10:<dir>`, a path to a `.npy` file (any spec ending in `.npy`, or naming an
    /// existing file), or an existing folder of class folders of images.
    pub fn parse(spec: &str) -> Result<Spec, DataError> {
        if spec.eq_ignore_ascii_case("mnist") {
            return Ok(Spec::Mnist);
        }
        if spec.eq_ignore_ascii_case("fashion-mnist") || spec.eq_ignore_ascii_case("fashion_mnist")
        {
            return Ok(Spec::FashionMnist);
        }
        if spec.eq_ignore_ascii_case("digits") {
            return Ok(Spec::Digits);
        }
        if let Some(dir) = strip_prefix_ignore_case(spec, "cifar10:") {
            if dir.is_empty() {
                return Err(DataError::BadSpec {
                    spec: spec.to_owned(),
                    reason: "cifar10 needs the folder holding the binary batches".to_owned(),
                });
            }
            return Ok(Spec::Cifar10(PathBuf::from(dir)));
        }
        if spec.eq_ignore_ascii_case("cifar10") || spec.eq_ignore_ascii_case("cifar-10") {
            return Err(DataError::BadSpec {
                spec: spec.to_owned(),
                reason: "cifar10 needs the folder holding the binary batches".to_owned(),
            });
        }
        let path = Path::new(spec);
        let is_npy = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("npy"));
        if is_npy || path.is_file() {
            return Ok(Spec::Npy(path.to_path_buf()));
        }
        if path.is_dir() {
            return Ok(Spec::ImageFolder(path.to_path_buf()));
        }
        Err(DataError::UnknownDataset {
            spec: spec.to_owned(),
        })
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Loads the `split` part of the dataset named by `spec` (see [`Spec::parse`]), looking for
/// built-in sets under [`crate::deps::deps_dir`].
pub fn load(spec: &str, split: Split) -> Result<Dataset, DataError> {
    let deps = crate::deps::deps_dir();
    load_from(&Spec::parse(spec)?, split, deps.as_deref())
}

/// Loads the `split` part of a parsed dataset, looking for built-in sets under
/// `deps/datasets/` (`deps = None` means no dependency folder exists: built-in sets then
/// fail with [`DataError::NoDepsDir`]).
pub fn load_from(spec: &Spec, split: Split, deps: Option<&Path>) -> Result<Dataset, DataError> {
    match spec {
        Spec::Mnist => idx::load_mnist_dir("mnist", &builtin_dir("mnist", deps)?, split),
        Spec::FashionMnist => {
            idx::load_mnist_dir("fashion-mnist", &builtin_dir("fashion-mnist", deps)?, split)
        }
        Spec::Digits => {
            let dir = builtin_dir("digits", deps)?;
            let path = ["digits.csv.gz", "digits.csv"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| DataError::NotInstalled {
                    dataset: "digits".to_owned(),
                    dir: dir.clone(),
                    missing: "digits.csv.gz".to_owned(),
                })?;
            digits::load(&path, split)
        }
        Spec::Cifar10(dir) => cifar::load_dir(dir, split),
        Spec::Npy(path) => npy::load(path),
        Spec::ImageFolder(dir) => image_folder::load(dir, ImageOptions::default(), usize::MAX),
    }
}

/// The first `n` samples of the `split` part of `spec` (see [`Spec::parse`]); an image folder
/// is read with `images` and only its first `n` images are decoded.
pub fn load_first(
    spec: &Spec,
    split: Split,
    n: usize,
    images: ImageOptions,
) -> Result<Dataset, DataError> {
    match spec {
        Spec::ImageFolder(dir) => image_folder::load(dir, images, n),
        other => {
            let deps = crate::deps::deps_dir();
            Ok(load_from(other, split, deps.as_deref())?.subset(n))
        }
    }
}

/// `deps/datasets/<name>`, or the error saying the dependency folder is missing.
fn builtin_dir(name: &str, deps: Option<&Path>) -> Result<PathBuf, DataError> {
    match deps {
        Some(deps) => Ok(deps.join("datasets").join(name)),
        None => Err(DataError::NoDepsDir {
            dataset: name.to_owned(),
        }),
    }
}

/// Everything that can go wrong while loading a dataset.
///
/// Messages are lowercase and name the file involved; [`DataError::hint`] suggests a fix
/// where one is obvious.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The spec names no known dataset and is not a `.npy` path.
    #[error("unknown dataset `{spec}`: known names are {}", KNOWN_SPECS.join(", "))]
    UnknownDataset {
        /// The spec as given.
        spec: String,
    },
    /// The spec (or split name) is malformed.
    #[error("invalid dataset spec `{spec}`: {reason}")]
    BadSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A built-in dataset was requested but no dependency folder (`.deps/`) exists.
    #[error(
        "dataset {dataset} is not installed: no .deps folder was found above the current \
         directory or the executable, and ROBUSTAUDIT_DEPS is not set"
    )]
    NoDepsDir {
        /// The dataset requested.
        dataset: String,
    },
    /// A file the dataset needs is not in the folder where it was looked for.
    #[error("dataset {dataset} is not installed: no {missing} in {}", .dir.display())]
    NotInstalled {
        /// The dataset requested.
        dataset: String,
        /// The folder searched.
        dir: PathBuf,
        /// The file (or file pattern) that was not found.
        missing: String,
    },
    /// Reading or decompressing a file failed.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file does not start with the magic number of its format.
    #[error("not an {format} file {}: starts with {found}, expected {expected}", .path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The format expected (`idx`, `npy`).
        format: &'static str,
        /// The leading bytes found, in hex.
        found: String,
        /// The leading bytes expected, in hex.
        expected: String,
    },
    /// The file stores an element type this reader does not support.
    #[error("unsupported element type {found} in {format} file {}: expected {supported}", .path.display())]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// The element type declared by the file.
        found: String,
        /// The element types accepted here.
        supported: &'static str,
    },
    /// An IDX header declares a different number of dimensions than expected.
    #[error(
        "{format} file {} has {found} dimensions, expected {expected} ({what})",
        .path.display()
    )]
    BadRank {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// Dimensions declared.
        found: usize,
        /// Dimensions expected.
        expected: usize,
        /// What the file should contain, e.g. `images`.
        what: &'static str,
    },
    /// An array has a shape the reader cannot use.
    #[error("{format} file {} has shape {shape:?}, expected {expected}", .path.display())]
    BadShape {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// The shape found.
        shape: Vec<usize>,
        /// The shapes accepted, in words.
        expected: &'static str,
    },
    /// The file ends before its fixed-size header does.
    #[error(
        "truncated {format} file {}: its header needs {needed} bytes but the file has {found}",
        .path.display()
    )]
    TooShort {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// Bytes the header needs.
        needed: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file holds fewer data bytes than its header declares.
    #[error(
        "truncated {format} file {}: header declares {declared} ({expected} bytes) but {found} \
         bytes follow",
        .path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// What the header declares, in words (e.g. `60000 images of 28x28`).
        declared: String,
        /// Data bytes the header implies.
        expected: u64,
        /// Data bytes present after the header (decompressed, for gzip files).
        found: u64,
    },
    /// The file holds more data bytes than its header declares.
    #[error(
        "{format} file {} is longer than its header says: header declares {declared} \
         ({expected} bytes) but {found} bytes follow",
        .path.display()
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// What the header declares, in words.
        declared: String,
        /// Data bytes the header implies.
        expected: u64,
        /// Data bytes present after the header (decompressed, for gzip files).
        found: u64,
    },
    /// The sizes declared by a header overflow or are too large to address.
    #[error("{format} file {}: header declares {declared}, which is too large to load", .path.display())]
    SizeOverflow {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// What the header declares, in words.
        declared: String,
    },
    /// The file holds no samples.
    #[error("{} holds no samples", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The header or structure of the file is invalid in a way not covered above.
    #[error("malformed {format} file {}: {reason}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The file format.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The images and labels files disagree on the number of samples.
    #[error(
        "{} holds {labels_count} labels but {} holds {images_count} images",
        .labels.display(),
        .images.display()
    )]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Number of images.
        images_count: usize,
        /// Number of labels.
        labels_count: usize,
    },
    /// A label is negative or not below the number of classes.
    #[error("label {label} at index {index} in {} is outside 0..{classes}", .path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Index of the sample (0-based).
        index: usize,
        /// The label found.
        label: i128,
        /// Number of classes.
        classes: usize,
    },
    /// A CIFAR-10 batch is not a whole number of records.
    #[error(
        "cifar-10 batch {} is {len} bytes long, not a multiple of the {record}-byte record size",
        .path.display()
    )]
    RecordLength {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// Size of one record in bytes.
        record: u64,
    },
    /// A row of a CSV file is malformed.
    #[error("malformed row at {}:{line}: {reason}", .path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the row.
        reason: String,
    },
    /// A floating-point input is NaN or infinite.
    #[error("non-finite value {value} at flat index {index} in {}", .path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Row-major index of the value in the stored array (0-based).
        index: usize,
        /// The value.
        value: f64,
    },
    /// An image file cannot be decoded (not PNG or JPEG, damaged, or over the decoder's
    /// limits).
    #[error("cannot decode image {}: {reason}", .path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// An image has another size than the images before it.
    #[error(
        "image {} is {}x{} (height x width), but the images before it are {}x{}",
        .path.display(), .found.0, .found.1, .expected.0, .expected.1
    )]
    ImageSize {
        /// The file.
        path: PathBuf,
        /// Its `(height, width)`.
        found: (usize, usize),
        /// The `(height, width)` of the first image.
        expected: (usize, usize),
    },
    /// A path in an image folder is not a regular file (a FIFO, a device, ...).
    #[error("{} is not a regular file", .path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// A path in an image folder is a link that resolves outside the folder.
    #[error("{} resolves outside the image folder {}", .path.display(), .dir.display())]
    OutsideFolder {
        /// The path.
        path: PathBuf,
        /// The image folder.
        dir: PathBuf,
    },
    /// An image folder has no class folders (or an empty `classes.txt`).
    #[error("image folder {} has no class folders", .dir.display())]
    NoClassFolders {
        /// The image folder.
        dir: PathBuf,
    },
    /// A class folder holds no PNG or JPEG file.
    #[error("class folder {} holds no .png, .jpg or .jpeg file", .dir.display())]
    EmptyClass {
        /// The class folder.
        dir: PathBuf,
    },
    /// A line of an image folder's `classes.txt` is wrong.
    #[error("bad class list {}:{line}: {reason}", .path.display())]
    ClassList {
        /// The `classes.txt` file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A floating-point input lies outside `[-0.5, 0.5]`.
    #[error("value {value} at flat index {index} in {} is outside [-0.5, 0.5]", .path.display())]
    OutOfRange {
        /// The file.
        path: PathBuf,
        /// Row-major index of the value in the stored array (0-based).
        index: usize,
        /// The value.
        value: f64,
    },
}

impl DataError {
    /// A one-line suggestion for fixing the error, when there is an obvious one.
    pub fn hint(&self) -> Option<String> {
        match self {
            DataError::UnknownDataset { .. } => Some(
                "to audit your own inputs, pass a folder with one subfolder of images per class, \
                 or a .npy file of shape (N, C, H, W)"
                    .to_owned(),
            ),
            DataError::BadSpec { spec, .. } if spec.to_ascii_lowercase().starts_with("cifar") => {
                Some(
                    "use cifar10:<dir>, where <dir> holds data_batch_1.bin .. data_batch_5.bin \
                     and test_batch.bin"
                        .to_owned(),
                )
            }
            DataError::NoDepsDir { .. } => Some(format!(
                "{SETUP_HINT}, or set {} to the folder it installed",
                crate::deps::DEPS_ENV
            )),
            DataError::NotInstalled { dataset, .. } if dataset == "cifar10" => Some(
                "extract the CIFAR-10 binary version (cifar-10-binary.tar.gz) and pass the \
                 folder holding data_batch_1.bin .. test_batch.bin"
                    .to_owned(),
            ),
            DataError::NotInstalled { .. } => Some(SETUP_HINT.to_owned()),
            DataError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                Some("check the path".to_owned())
            }
            DataError::Truncated { .. } | DataError::TooShort { .. } => Some(
                "the file is incomplete: download or write it again (for built-in datasets, \
                 run scripts/setup)"
                    .to_owned(),
            ),
            DataError::UnsupportedType { format: "npy", .. } => Some(
                "save images as float32 scaled to [-0.5, 0.5] or as uint8 pixels, and labels \
                 as integers"
                    .to_owned(),
            ),
            DataError::BadShape {
                format: "npy",
                shape,
                ..
            } if shape.len() == 4 && matches!(shape[3], 1 | 3) && !matches!(shape[1], 1 | 3) => {
                Some(
                    "the batch looks channels-last (N, H, W, C): transpose it to (N, C, H, W), \
                     e.g. x.transpose(0, 3, 1, 2)"
                        .to_owned(),
                )
            }
            DataError::ImageSize { .. } => Some(
                "pass --image-size H,W to resize every image to the model's input size".to_owned(),
            ),
            DataError::NoClassFolders { dir } => Some(format!(
                "put each class's images in a subfolder, e.g. {}/cat/0001.png (torchvision's \
                 ImageFolder layout)",
                dir.display()
            )),
            DataError::EmptyClass { .. } => Some(
                "add its images, remove the folder, or list the classes to use in classes.txt"
                    .to_owned(),
            ),
            DataError::OutsideFolder { .. } => {
                Some("copy the file into the image folder instead of linking it".to_owned())
            }
            DataError::CountMismatch { .. } => {
                Some("images and labels must come from the same set, in the same order".to_owned())
            }
            DataError::NonFinite { .. } => Some(
                "inputs must be finite; check the preprocessing that wrote the file".to_owned(),
            ),
            DataError::OutOfRange { value, .. } => Some(if *value > 1.0 && *value <= 255.0 {
                "this looks like 0..255 pixels: save them as uint8, or divide by 255 and \
                 subtract 0.5"
                    .to_owned()
            } else if *value > 0.5 && *value <= 1.0 {
                "this looks like pixels in [0, 1]: subtract 0.5 before saving".to_owned()
            } else {
                "scale inputs to [-0.5, 0.5] (pixel / 255 - 0.5) before saving".to_owned()
            }),
            _ => None,
        }
    }
}

/// Wraps an I/O error with the file it concerns.
pub(crate) fn io_error(path: &Path, source: io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens `path` for reading, transparently decompressing it when it starts with the gzip
/// magic bytes `1f 8b` (whatever its extension).
pub(crate) fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let file = robustaudit_graph::regular_file::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|e| io_error(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads into `buf` until it is full or the input ends; returns the number of bytes read.
/// A gzip stream cut short counts as an end of input.
pub(crate) fn read_full(
    reader: &mut dyn Read,
    buf: &mut [u8],
    path: &Path,
) -> Result<usize, DataError> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io_error(path, e)),
        }
    }
    Ok(filled)
}

/// Reads the data section of a file whose header declared `expected` bytes.
///
/// Returns the bytes read (at most `expected`, never allocating more than what is actually
/// present) and the total number of bytes that followed the header, so that callers can
/// report truncation or trailing bytes.
pub(crate) fn read_body(
    reader: &mut dyn Read,
    expected: u64,
    path: &Path,
) -> Result<(Vec<u8>, u64), DataError> {
    // Grow with the data actually read rather than trusting the declared size.
    const INITIAL: u64 = 1 << 24;
    let mut data = Vec::with_capacity(usize::try_from(expected.min(INITIAL)).unwrap_or(0));
    match reader.take(expected).read_to_end(&mut data) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(io_error(path, e)),
    }
    let got = data.len() as u64;
    if got < expected {
        return Ok((data, got));
    }
    let extra = match io::copy(reader, &mut io::sink()) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
        Err(e) => return Err(io_error(path, e)),
    };
    Ok((data, got.saturating_add(extra)))
}

/// Converts an 8-bit pixel to the `[-0.5, 0.5]` input range: `p / 255 - 0.5`.
pub(crate) fn pixel_to_input(p: u8) -> f32 {
    f32::from(p) / 255.0 - 0.5
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Scratch folders for the readers' unit tests.

    use std::path::{Path, PathBuf};

    /// A fresh folder under the system temp dir, removed on drop.
    pub struct TempDir(tempfile::TempDir);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            let dir = tempfile::Builder::new()
                .prefix(&format!("robustaudit-data-{tag}-"))
                .tempdir()
                .unwrap();
            TempDir(dir)
        }

        pub fn path(&self) -> &Path {
            self.0.path()
        }

        pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        }
    }

    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    fn sample(n: usize) -> Dataset {
        let images = Array4::from_shape_fn((n, 1, 2, 2), |(i, _, y, x)| {
            (i * 4 + y * 2 + x) as f32 / 100.0
        });
        Dataset {
            name: "t".to_owned(),
            images,
            labels: Some((0..n).map(|i| i % 10).collect()),
            classes: 10,
        }
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(Spec::parse("mnist").unwrap(), Spec::Mnist);
        assert_eq!(Spec::parse("MNIST").unwrap(), Spec::Mnist);
        assert_eq!(Spec::parse("fashion-mnist").unwrap(), Spec::FashionMnist);
        assert_eq!(Spec::parse("digits").unwrap(), Spec::Digits);
        assert_eq!(
            Spec::parse("cifar10:/data/c10").unwrap(),
            Spec::Cifar10(PathBuf::from("/data/c10"))
        );
        assert_eq!(
            Spec::parse("x/batch.npy").unwrap(),
            Spec::Npy(PathBuf::from("x/batch.npy"))
        );
        assert!(matches!(
            Spec::parse("cifar10:"),
            Err(DataError::BadSpec { .. })
        ));
        let err = Spec::parse("cifar10").unwrap_err();
        assert!(err.hint().unwrap().contains("cifar10:<dir>"));
        let err = Spec::parse("imagenet").unwrap_err();
        assert!(matches!(&err, DataError::UnknownDataset { spec } if spec == "imagenet"));
        let msg = err.to_string();
        for name in ["mnist", "fashion-mnist", "digits", "cifar10:<dir>"] {
            assert!(msg.contains(name), "{msg}");
        }
    }

    #[test]
    fn an_existing_folder_is_an_image_folder() {
        let tmp = testutil::TempDir::new("spec-folder");
        let spec = tmp.path().to_str().unwrap();
        assert_eq!(
            Spec::parse(spec).unwrap(),
            Spec::ImageFolder(tmp.path().to_path_buf())
        );
        let missing = tmp.path().join("missing");
        assert!(matches!(
            Spec::parse(missing.to_str().unwrap()),
            Err(DataError::UnknownDataset { .. })
        ));
    }

    #[test]
    fn split_parsing() {
        assert_eq!("train".parse::<Split>().unwrap(), Split::Train);
        assert_eq!("Test".parse::<Split>().unwrap(), Split::Test);
        assert!("val".parse::<Split>().is_err());
        assert_eq!(Split::Test.to_string(), "test");
    }

    #[test]
    fn missing_builtin_names_folder_and_hints_setup() {
        let tmp = testutil::TempDir::new("missing");
        let err = load_from(&Spec::Mnist, Split::Test, Some(tmp.path())).unwrap_err();
        match &err {
            DataError::NotInstalled { dataset, dir, .. } => {
                assert_eq!(dataset, "mnist");
                assert_eq!(dir, &tmp.path().join("datasets").join("mnist"));
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().contains(&tmp.path().display().to_string()));
        assert_eq!(err.hint().as_deref(), Some("run scripts/setup"));

        let err = load_from(&Spec::Digits, Split::Test, Some(tmp.path())).unwrap_err();
        assert!(matches!(err, DataError::NotInstalled { ref dataset, .. } if dataset == "digits"));

        let err = load_from(&Spec::FashionMnist, Split::Train, None).unwrap_err();
        assert!(matches!(err, DataError::NoDepsDir { ref dataset } if dataset == "fashion-mnist"));
        assert!(err.hint().unwrap().contains("run scripts/setup"));
    }

    #[test]
    fn subset_takes_first_samples() {
        let d = sample(5);
        let s = d.subset(2);
        assert_eq!(s.images.shape(), &[2, 1, 2, 2]);
        assert_eq!(s.images[[1, 0, 1, 1]], 0.07);
        assert_eq!(s.labels, Some(vec![0, 1]));
        assert_eq!(s.classes, 10);
        assert_eq!(d.subset(99).len(), 5);
        assert!(d.subset(0).is_empty());
        assert_eq!(d.sample_shape(), (1, 2, 2));
    }

    #[test]
    fn out_of_range_hint_depends_on_value() {
        let err = |value| DataError::OutOfRange {
            path: PathBuf::from("x.npy"),
            index: 0,
            value,
        };
        assert!(err(200.0).hint().unwrap().contains("uint8"));
        assert!(err(0.9).hint().unwrap().contains("subtract 0.5"));
    }
}
