//! The command-line interface of `robustaudit`: clap structures only; their doc comments
//! are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use robustaudit::attacks::{by_signal, radius_attacks, Norm};
use robustaudit::data::Split;
use robustaudit::exit_code;
use robustaudit::gradcheck::Coords;
use robustaudit::model::{parse_input_range, GradientMethod};

/// Audit the adversarial robustness of ONNX image classifiers on the CPU.
#[derive(Debug, Parser)]
#[command(name = "robustaudit", version, after_help = exit_code::help())]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a model's inputs, outputs, op counts, parameters, FLOPs, metadata and logits.
    Inspect(InspectArgs),
    /// Check a model's analytic input gradients against finite differences of its forward
    /// passes.
    ///
    /// For each sample and three losses on its logits z (cross-entropy against the label, the
    /// logit difference z_label - z_other against the strongest other class, and the sum of
    /// the logits), compares the input gradient from the model's VJP graph with central
    /// finite differences (L(x + h e_j) - L(x - h e_j)) / 2h of the loss, computed in f64 from
    /// forward passes of the unmodified model. Per sample and loss it checks K coordinates:
    /// half with the largest analytic gradient, half drawn at random (seeded).
    ///
    /// Relative error per coordinate: |g_a - g_fd| / max(|g_a|, |g_fd|, floor), the floor being
    /// the larger of 1e-3 times the sample's largest analytic component and 200 times the
    /// sample's finite-difference noise nu (the median of |L(x+h) - 2 L(x) + L(x-h)| / 2h,
    /// which for a ReLU network is f32 rounding alone; "fd noise" in the report is nu over
    /// the largest component). A loss passes when the median error is at most 1e-2 and at
    /// most 1% of the errors (none below 100 coordinates) exceed 5e-2.
    ///
    /// ReLU and max-pool kinks lie a few 1e-4 apart along a pixel of a convolutional
    /// network. A failing coordinate is probed again at h/3 and h/10 and left out as a kink
    /// when the finite differences themselves show that the loss bends within the step
    /// (one-sided differences that disagree, or a central difference that changes with the
    /// step, beyond 4 times their noise); a loss fails if more than 25% of its coordinates
    /// are kinks. The images are first moved by a seeded dither, since flat regions give
    /// max-pool ties where the loss has no gradient.
    ///
    /// Exit code 7 when a loss fails.
    Gradcheck(GradcheckArgs),
    /// Attack models on a dataset and write per-sample and summary CSV reports.
    ///
    /// Every model is attacked by every attack at every budget on the first --samples images
    /// of the split. Only correctly classified images are attacked; targeted attacks run
    /// once per class other than the label. Every returned image is checked against its
    /// budget and the value range [-0.5, 0.5] and re-classified by a fresh forward pass of
    /// the unmodified model; only that verdict is reported.
    ///
    /// Writes OUT/samples.csv (one row per model, attack, budget, sample and target),
    /// OUT/summary.csv (one row per model, attack and budget: accuracies, success rate,
    /// minimal distortions, sensitivity, queries, the model's gradient-masking verdict),
    /// OUT/diagnosis.csv (the masking checks with their evidence), OUT/timings.csv,
    /// OUT/sensitivity.csv (per model and image) and OUT/shard.csv (the settings and their
    /// fingerprint). Columns are
    /// documented in docs/report-schema.md (`robustaudit schema`). The same command and seed
    /// give byte-identical samples.csv, summary.csv and diagnosis.csv, whatever the thread
    /// count.
    ///
    /// Models whose gradient graph cannot be built are attacked through finite
    /// differences, and summary.csv says so in its `gradients` column.
    ///
    /// With --shard K/N only shard K of N runs (a contiguous part of the samples, the same
    /// for the same --samples and N); `robustaudit merge` joins the N folders into the
    /// reports of the unsharded audit (docs/distributed.md).
    Audit(AuditArgs),
    /// Join the --out folders of an audit run as --shard 0/N ... --shard N-1/N.
    ///
    /// Checks that the folders are every shard of one audit once (same settings
    /// fingerprint in shard.csv, same schema version, complete files), then writes into
    /// --out the samples.csv, summary.csv, sensitivity.csv and shard.csv that the unsharded
    /// audit writes, byte for byte; timings.csv holds the shards' run times and, per
    /// summary row, the sum of their totals; saved examples are joined in record order.
    Merge(MergeArgs),
    /// Measure how fast a model runs here: load and optimise time, and forward and
    /// forward+VJP images per second at each batch size, to size an audit before starting it.
    ///
    /// The inputs are seeded uniform random images in the datasets' range [-0.5, 0.5] (and a
    /// seeded random seed row d loss / d logits in [-1, 1] for the VJP), not a dataset's
    /// images: tract's speed does not depend on the values. Each figure is the median of 5
    /// timed repetitions of about 200 ms after at least 200 ms of warm-up (a pass slower than
    /// 1 s is timed once). Batches run as the audit runs them: in chunks of 16 images spread
    /// over the threads. The load time covers reading and checking the model, optimising its
    /// forward plan, building and optimising its VJP graph and checking it against the forward
    /// pass, as `audit` does for every model.
    ///
    /// A model without an exact VJP graph reports the forward+VJP rate of its
    /// finite-difference fallback (2*c*h*w+1 forward passes per image), and says so on
    /// stderr.
    ///
    /// With --profile, prints after the rates tract's time per op kind (ops as tract names
    /// them after optimisation), for the forward and the VJP plan at each batch size: the
    /// whole batch in one plan run on one thread.
    Bench(BenchArgs),
    /// List the attacks with their parameters and defaults.
    Attacks,
    /// Print the report schema (docs/report-schema.md) as markdown.
    Schema,
    /// Render an audit folder's figures and pages from its CSV files alone.
    ///
    /// Reads DIR/summary.csv (required), DIR/diagnosis.csv, DIR/models/manifest.csv and
    /// DIR/models/*.log.csv (each when present), by column name, and writes
    /// DIR/report.html (self-contained: inline CSS and SVG, no scripts or external
    /// references), DIR/report.md (figures linked as plots/*.png) and DIR/plots/*.svg and
    /// *.png. Needs no model file and no dataset, so folders merged from several machines
    /// render alike.
    ///
    /// The page leads with the headline table: at each distillation temperature, the
    /// undistilled baseline, defensive distillation (teacher -> student), the
    /// teacher-assistant chain and the longer chain, each by its last network, with clean
    /// accuracy, sensitivity, C&W L2 robustness and the gradient-masking verdict. Kinds of
    /// training come from models/manifest.csv joined by sha-256, else from the models' role,
    /// hop and temperature metadata.
    ///
    /// Exit code 3 when DIR or its summary.csv is missing or a CSV row is malformed (the file
    /// and line are named), 2 for a schema version this build does not read, 5 when the font
    /// cannot be loaded or this build has no renderer (the edge build, without the `report`
    /// feature).
    Report(ReportArgs),
}

/// Arguments of `robustaudit inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model file.
    pub model: PathBuf,
}

/// Arguments of `robustaudit gradcheck`.
#[derive(Debug, Args)]
#[command(after_help = exit_code::help())]
pub struct GradcheckArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// The dataset: mnist, fashion-mnist, digits, cifar10:<dir>, a .npy batch (without a
    /// <stem>.labels.npy beside it, the model's own predictions serve as labels), or a folder
    /// of PNG/JPEG images with one subfolder per class.
    #[arg(long)]
    pub data: String,
    /// Which part of the dataset (ignored for .npy and image folders): train or test.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// How an image folder is read.
    #[command(flatten)]
    pub images: ImageArgs,
    /// How many samples to check, from the start of the split.
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    pub samples: usize,
    /// Seed of the dither and of the random coordinates; the same seed gives the same
    /// report.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Coordinates checked per sample and loss, or `all` (two forward passes each).
    #[arg(long, default_value = "32")]
    pub coords: Coords,
    /// Finite-difference step h, in the [-0.5, 0.5] input scale. f32 rounding noise falls
    /// as 1/h while steps across ReLU and max-pool kinks grow with h; 3e-4 balances the two
    /// on convolutional networks (failing coordinates are probed again at h/3 and h/10).
    #[arg(long, default_value_t = robustaudit::gradcheck::DEFAULT_STEP, value_parser = positive_f32)]
    pub step: f32,
    /// Largest seeded dither added to each pixel before checking (0: none), in the input
    /// scale; it should stay well above --step.
    #[arg(long, default_value_t = robustaudit::gradcheck::DEFAULT_DITHER, value_parser = non_negative_f32)]
    pub dither: f32,
}

/// Arguments of `robustaudit audit`.
#[derive(Debug, Args)]
#[command(after_help = exit_code::help())]
pub struct AuditArgs {
    /// An ONNX model to audit; repeat for several.
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// The dataset: mnist, fashion-mnist, digits, cifar10:<dir>, a .npy batch (without
    /// labels beside it, each model's own predictions serve as labels), or a folder of
    /// PNG/JPEG images with one subfolder per class (torchvision's ImageFolder layout:
    /// classes sorted by name, or as listed in its classes.txt, give the labels 0, 1, ...).
    #[arg(long)]
    pub data: String,
    /// Which part of the dataset (ignored for .npy and image folders): train or test.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// How an image folder is read.
    #[command(flatten)]
    pub images: ImageArgs,
    /// How many images to audit, from the start of the split.
    #[arg(long, default_value_t = 100, value_parser = positive_usize)]
    pub samples: usize,
    // Attacks to run; the help lists them from the registry.
    #[arg(long, value_delimiter = ',', default_value = "fgsm,pgd", help = attacks_help())]
    pub attacks: Vec<String>,
    // Radii of the L-infinity attacks; the help lists them from the registry.
    #[arg(long, value_delimiter = ',', default_value = "0.3", value_parser = positive_f64, help = radii_help(Norm::Linf))]
    pub eps: Vec<f64>,
    // Radii of the L2 attacks; the help lists them from the registry.
    #[arg(long = "eps-l2", value_delimiter = ',', default_value = "2", value_parser = positive_f64, help = radii_help(Norm::L2))]
    pub eps_l2: Vec<f64>,
    /// Overrides one attack parameter, as ATTACK.PARAM=VALUE (e.g. pgd.steps=100,
    /// cw-l2.targets=none); repeat for several. ATTACK.eps=R1,R2 runs a radius attack at
    /// radii of its own in place of --eps or --eps-l2 (e.g. autoattack.eps=0.3).
    #[arg(long = "attack-param", value_name = "ATTACK.PARAM=VALUE")]
    pub attack_params: Vec<String>,
    /// Seed of every random choice; the same seed gives the same samples.csv and
    /// summary.csv.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The folder the reports go to (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write every returned image as
    /// OUT/examples/<model index>-<model stem>/<attack>[-<norm>-<budget>].npy, rows in
    /// samples.csv order, in the input scale.
    #[arg(long)]
    pub save_examples: bool,
    /// The value range LO,HI the models take pixel intensities in (read from a model's
    /// `input_range` metadata when not given; required for models without it).
    #[arg(long, value_name = "LO,HI", allow_hyphen_values = true, value_parser = range)]
    pub input_range: Option<(f32, f32)>,
    /// Per-channel mean subtracted after mapping to --input-range (one value, or one per
    /// channel, comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "0"
    )]
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by after subtracting --mean.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub std: Vec<f32>,
    /// How gradient attacks get input gradients: `auto` (the model's exact VJP graph when
    /// every op has a backward rule, else finite differences) or `finite-differences` (always
    /// central differences of forward passes, 2*c*h*w+1 per gradient: to compare with the
    /// exact gradients or time them).
    #[arg(long, value_enum, default_value_t = GradientMethod::Auto)]
    pub gradients: GradientMethod,
    /// Audit only shard K of N (K from 0 to N-1, as $SLURM_ARRAY_TASK_ID or
    /// $JOB_COMPLETION_INDEX): a contiguous part of the samples, in whole blocks of 16.
    /// Join the N folders with `robustaudit merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

/// How a `--data` image folder becomes model inputs: pixels p become p / 255 - 0.5 like
/// every dataset's, then --input-range, --mean and --std apply.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Resize every image of an image folder to H,W (height, width) with a triangle
    /// (bilinear) filter widened when shrinking, close to torchvision's default antialiased
    /// Resize; without it every image must already have the model's size.
    #[arg(long, value_name = "H,W", value_parser = image_size)]
    pub image_size: Option<(u32, u32)>,
    /// Convert the images of an image folder to 1 channel (grey, ITU-R 601-2 luma, as
    /// torchvision's Grayscale) or 3 (RGB; grey images are repeated); default: the model's
    /// input channel count.
    #[arg(long, value_parser = channel_count)]
    pub channels: Option<usize>,
}

/// Arguments of `robustaudit bench`.
#[derive(Debug, Args)]
#[command(after_help = exit_code::help())]
pub struct BenchArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// Batch sizes to measure, comma-separated, each from 1 to 4096.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64", value_parser = bench_batch)]
    pub batch: Vec<usize>,
    /// Worker threads (a rayon pool of this size); default: one per core.
    #[arg(long, value_parser = thread_count)]
    pub threads: Option<usize>,
    /// `table` (aligned columns, with the setting) or `csv` (columns
    /// batch,threads,load_ms,forward_images_per_s,vjp_images_per_s).
    #[arg(long, value_enum, default_value_t = BenchFormat::Table)]
    pub format: BenchFormat,
    /// Seed of the random input images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also print tract's time per op kind for the forward and the VJP plan at each batch
    /// size (tables only).
    #[arg(long)]
    pub profile: bool,
}

/// The output formats of `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    /// Aligned columns under a header naming the model and the setting.
    Table,
    /// Comma-separated values with a header row.
    Csv,
}

/// Arguments of `robustaudit merge`.
#[derive(Debug, Args)]
#[command(after_help = exit_code::help())]
pub struct MergeArgs {
    /// The --out folders of the shards, in any order.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The folder the merged reports go to (created if missing; not one of the shards').
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `robustaudit report`.
#[derive(Debug, Args)]
#[command(after_help = exit_code::help())]
pub struct ReportArgs {
    /// The audit folder (`robustaudit audit --out DIR`).
    pub dir: PathBuf,
    /// The TrueType or OpenType font the figures are laid out and drawn with (default: DejaVu
    /// Sans as scripts/setup installs it in .deps/fonts/, else
    /// /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf).
    #[arg(long)]
    pub font: Option<PathBuf>,
}

/// A whole number of at least 1.
fn positive_usize(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

/// The largest batch `bench` measures.
const MAX_BENCH_BATCH: usize = 4096;

/// A batch size from 1 to [`MAX_BENCH_BATCH`].
fn bench_batch(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_BENCH_BATCH).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a batch size from 1 to {MAX_BENCH_BATCH}"
        )),
    }
}

/// The largest worker pool `bench` starts.
const MAX_THREADS: usize = 1024;

/// A thread count from 1 to [`MAX_THREADS`].
fn thread_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a thread count from 1 to {MAX_THREADS}"
        )),
    }
}

/// `--attacks`' help: every registered attack, those that learn from gradients first.
fn attacks_help() -> String {
    let (gradient, forward) = by_signal();
    format!(
        "Attacks to run, comma-separated: {}; and from forward passes only {}. jsma-probabilities \
         and jsma-logits name jsma's two variants (both can run in one audit), aa-standard \
         names autoattack; `robustaudit attacks` lists their parameters",
        gradient.join(", "),
        forward.join(", ")
    )
}

/// `--eps`' or `--eps-l2`'s help: the attacks that run once per radius of that norm.
fn radii_help(norm: Norm) -> String {
    let (name, example) = match norm {
        Norm::Linf => (
            "L-infinity",
            "; images span [-0.5, 0.5], so 0.3 is 30% of the range",
        ),
        _ => ("L2", ""),
    };
    format!(
        "Radii of the {name} attacks ({}), comma-separated, in the input scale{example}; \
         `--attack-param ATTACK.eps=...` gives one attack radii of its own",
        radius_attacks(norm).join(", ")
    )
}

/// A finite number above 0.
fn positive_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// A finite number above 0, in f64.
fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// `LO,HI` with finite `LO < HI`.
fn range(s: &str) -> Result<(f32, f32), String> {
    parse_input_range(s)
        .ok_or_else(|| format!("`{s}` is not a range LO,HI with LO < HI (e.g. 0,1 or -0.5,0.5)"))
}

/// A finite number of at least 0.
fn non_negative_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of at least 0")),
    }
}

/// `H,W`: a height and a width from 1 to the decoder's largest side.
fn image_size(s: &str) -> Result<(u32, u32), String> {
    let max = robustaudit::data::image_folder::MAX_SIDE;
    let parsed = s
        .split_once(',')
        .and_then(|(h, w)| Some((h.trim().parse::<u32>().ok()?, w.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((h, w)) if (1..=max).contains(&h) && (1..=max).contains(&w) => Ok((h, w)),
        _ => Err(format!(
            "`{s}` is not a size H,W of two whole numbers from 1 to {max} (e.g. 224,224)"
        )),
    }
}

/// 1 or 3.
fn channel_count(s: &str) -> Result<usize, String> {
    match s.trim() {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err(format!("`{s}` is not a channel count: 1 (grey) or 3 (RGB)")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_reference_is_the_help_the_binary_prints() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
        robustaudit::generated_docs::check_cli_reference(super::Cli::command(), &path)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
