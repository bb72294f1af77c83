//! The `--data` of `audit` and `gradcheck`: the spec, the image-folder flags, the first
//! samples, and the check that they fit a model's input before anything runs.

use std::path::Path;

use robustaudit::data::{load_first, Channels, Dataset, ImageOptions, Spec, Split};
use robustaudit::error::{Error, Result};

use crate::cli::ImageArgs;

/// A parsed `--data` with the image-folder flags resolved.
pub struct DataSource {
    spec: Spec,
    images: ImageOptions,
}

impl DataSource {
    /// Parses `data`; `model_channels` (the first model's) is the default of `--channels`.
    /// The image-folder flags are refused for other datasets.
    pub fn new(data: &str, args: &ImageArgs, model_channels: usize) -> Result<DataSource> {
        let spec = Spec::parse(data)?;
        let is_folder = matches!(spec, Spec::ImageFolder(_));
        if !is_folder && (args.image_size.is_some() || args.channels.is_some()) {
            return Err(Error::Usage {
                message: format!(
                    "--image-size and --channels apply to image folders, and `{data}` is not one"
                ),
                hint: Some("leave them out, or pass a folder of class folders as --data".into()),
            });
        }
        let count = args.channels.unwrap_or(model_channels);
        // A model with another channel count is refused by `check_fits` with its shapes.
        let channels = Channels::from_count(count).unwrap_or(Channels::Rgb);
        Ok(DataSource {
            spec,
            images: ImageOptions {
                size: args.image_size,
                channels,
            },
        })
    }

    /// The first `samples` samples of `split` (only those images of a folder are decoded).
    pub fn load(&self, split: Split, samples: usize) -> Result<Dataset> {
        Ok(load_first(&self.spec, split, samples, self.images)?)
    }

    /// Refuses `data` when its samples do not have the shape `chw` of `model`; `what` says
    /// what the model is being used for ("audit", "check").
    pub fn check_fits(
        &self,
        data: &Dataset,
        model: &Path,
        chw: [usize; 3],
        what: &str,
    ) -> Result<()> {
        let (dc, dh, dw) = data.sample_shape();
        let [c, h, w] = chw;
        if (dc, dh, dw) == (c, h, w) {
            return Ok(());
        }
        let hint = if matches!(self.spec, Spec::ImageFolder(_)) {
            format!("read the images as the model takes them: --image-size {h},{w} --channels {c}")
        } else {
            format!("{what} the model with the dataset it was made for")
        };
        Err(Error::Usage {
            message: format!(
                "{} holds images of {dc}x{dh}x{dw}, but {} takes {c}x{h}x{w}",
                data.name,
                model.display()
            ),
            hint: Some(hint),
        })
    }
}
