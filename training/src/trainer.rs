//! Training one network: seeded shuffling, steps on ONNX Runtime, evaluation on the test
//! split after each epoch, a checkpoint and log row per epoch, resumption from the last
//! completed epoch, and the export of the trained inference graph with its metadata.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use robustaudit::data::Dataset;
use robustaudit::error::Error;
use robustaudit_graph::arch::{forward_graph, ArchSpec};
use robustaudit_graph::grad::{training_graph, with_state, Loss, Optimizer};
use robustaudit_graph::hex::hex;
use robustaudit_graph::onnx::OnnxModel;

use crate::checkpoint::Checkpoint;
use crate::epoch_log;
use crate::error::Result;
use crate::inference::Inference;
use crate::runtime::Device;
use crate::step::{Batch, HostTensor, StepRunner};
use robustaudit::report::{f32_cell, EpochRow};

/// How every network of a run is trained.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSettings {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// The base learning rate.
    pub learning_rate: f32,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Seeds the shuffling, the dropout masks and (unless shared) the initial weights.
    pub seed: u64,
    /// Where the steps run.
    pub device: Device,
    /// Intra-op threads of the ONNX Runtime sessions.
    pub threads: usize,
}

/// Where a network's initial weights come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// The architecture's seeded Glorot-uniform weights and zero biases.
    Seeded(u64),
    /// The weights of a network of the same architecture trained earlier (the paper's
    /// shared pretraining); its optimiser state is not carried over.
    Pretrained(Parent),
}

impl Init {
    /// How the metadata and the fingerprint name it: `seed N` or `FILE sha256 HEX`.
    pub fn describe(&self) -> String {
        match self {
            Init::Seeded(seed) => format!("seed {seed}"),
            Init::Pretrained(from) => {
                let file = from.path.file_name().unwrap_or(from.path.as_os_str());
                format!("{} sha256 {}", file.to_string_lossy(), from.sha256)
            }
        }
    }
}

/// The network a child distils from, or that a network starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct Parent {
    /// Its exported inference graph.
    pub path: PathBuf,
    /// The SHA-256 of that file.
    pub sha256: String,
}

/// One network to train.
#[derive(Clone, Debug)]
pub struct Job<'a> {
    /// The exported graph's file stem, e.g. `teacher-assistant-T20`.
    pub name: String,
    /// `teacher`, `assistant`, `student`, `undistilled`, or a name of the user's.
    pub role: String,
    /// Position in its chain: 0 for a teacher.
    pub hop: usize,
    /// The roles from the teacher down to this network.
    pub lineage: Vec<String>,
    /// The architecture.
    pub spec: ArchSpec,
    /// The initial weights.
    pub init: Init,
    /// The training temperature.
    pub temperature: f32,
    /// The loss (hard labels for a teacher, soft labels or the mix for a child).
    pub loss: Loss,
    /// The parent, for a child.
    pub parent: Option<Parent>,
    /// The dataset's name as given (e.g. `mnist`).
    pub dataset: String,
    /// The training images and labels.
    pub train: &'a Dataset,
    /// The test images and labels.
    pub test: &'a Dataset,
    /// The run's settings.
    pub settings: &'a TrainingSettings,
    /// Where the export, log and checkpoint go.
    pub out_dir: PathBuf,
    /// The configuration text recorded in the export's metadata.
    pub config: String,
}

/// A trained, exported network.
#[derive(Clone, Debug, PartialEq)]
pub struct Trained {
    /// The exported inference graph.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// Its test accuracy after the last epoch.
    pub test_accuracy: f32,
    /// Epochs trained.
    pub epochs: usize,
    /// Total wall time of its epochs (including those before a resumption).
    pub seconds: f64,
}

impl Job<'_> {
    /// The exported inference graph's path.
    pub fn model_path(&self) -> PathBuf {
        self.out_dir.join(format!("{}.onnx", self.name))
    }

    /// The per-epoch CSV log's path.
    pub fn log_path(&self) -> PathBuf {
        self.out_dir.join(format!("{}.log.csv", self.name))
    }

    /// The checkpoint's path.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.out_dir
            .join("checkpoints")
            .join(format!("{}.ckpt", self.name))
    }

    /// Identifies what is trained: everything that changes the weights except the number
    /// of epochs, the device and the thread count.
    pub fn fingerprint(&self) -> String {
        let s = self.settings;
        let description = format!(
            "spec={:?}\ninit={}\ntemperature={}\nloss={:?}\nparent={:?}\ndataset={}:{}:{}\n\
             batch={}\nlearning_rate={}\noptimizer={}\nseed={}\nname={}",
            self.spec,
            match &self.init {
                Init::Seeded(seed) => format!("seed {seed}"),
                Init::Pretrained(from) => format!("sha256 {}", from.sha256),
            },
            self.temperature,
            self.loss,
            self.parent.as_ref().map(|p| &p.sha256),
            self.dataset,
            self.train.len(),
            self.test.len(),
            s.batch,
            s.learning_rate,
            s.optimizer.describe(),
            s.seed,
            self.name,
        );
        hex(&Sha256::digest(description.as_bytes()))
    }

    /// A seed for `purpose` derived from the run's seed and this network's name.
    fn derived_seed(&self, purpose: &str) -> u64 {
        let digest = Sha256::digest(format!("{}/{}/{purpose}", self.settings.seed, self.name));
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(bytes)
    }
}

/// Trains `job`'s network, resuming from its checkpoint, or returns the existing export
/// when it was already trained with the same fingerprint and number of epochs.
pub fn train(job: &Job) -> Result<Trained> {
    let fingerprint = job.fingerprint();
    let epochs = job.settings.epochs;
    if let Some(done) = finished(job, &fingerprint)? {
        eprintln!(
            "{}: already trained, {}",
            job.name,
            job.model_path().display()
        );
        return Ok(done);
    }
    let soft_labels = match &job.parent {
        Some(parent) => Some(parent_soft_labels(job, parent)?),
        None => None,
    };
    let init = initial_model(job)?;
    let graph =
        training_graph(&init, job.loss, &job.settings.optimizer, false).map_err(Error::from)?;
    let mut runner = StepRunner::new(
        graph,
        job.settings.device,
        job.settings.threads,
        job.derived_seed("dropout"),
    )?;
    let mut log = Vec::new();
    let checkpoint_path = job.checkpoint_path();
    match Checkpoint::load(&checkpoint_path)? {
        Some(saved) if saved.fingerprint == fingerprint && saved.epochs_done <= epochs => {
            runner.load_state(&saved.state)?;
            log = saved.log;
            eprintln!(
                "{}: resuming after epoch {} of {epochs} from {}",
                job.name,
                saved.epochs_done,
                checkpoint_path.display()
            );
        }
        Some(_) => eprintln!(
            "{}: {} belongs to another configuration; training from the start",
            job.name,
            checkpoint_path.display()
        ),
        None => {}
    }
    let labels = labels_of(job.train)?;
    let test_labels = labels_of(job.test)?;
    let shuffle_seed = job.derived_seed("shuffle");
    for epoch in log.len()..epochs {
        let started = Instant::now();
        let mut order: Vec<usize> = (0..job.train.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(shuffle_seed);
        rng.set_stream(epoch as u64);
        order.shuffle(&mut rng);
        let batches = order.len().div_ceil(job.settings.batch);
        let bar = progress(job, epoch, epochs, batches);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for rows in order.chunks(job.settings.batch) {
            let images = job.train.images.select(Axis(0), rows);
            let batch_labels: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
            let soft = soft_labels.as_ref().map(|p| p.select(Axis(0), rows));
            let batch = Batch {
                images: images.view(),
                labels: &batch_labels,
                soft_labels: soft.as_ref().map(|p| p.view()),
            };
            let result = runner.step(&batch, job.temperature, job.settings.learning_rate)?;
            if !result.loss.is_finite() {
                bar.abandon();
                return Err(Error::Check {
                    message: format!(
                        "{}: the loss became {} in epoch {}",
                        job.name,
                        result.loss,
                        epoch + 1
                    ),
                    hint: Some("lower the learning rate".into()),
                }
                .into());
            }
            loss_sum += result.loss as f64 * rows.len() as f64;
            correct += result.correct;
            seen += rows.len();
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.4}, accuracy {:.2}%",
                loss_sum / seen as f64,
                100.0 * correct as f64 / seen as f64
            ));
        }
        let step_seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let state = runner.state()?;
        let model = export_model(job, &init, &state)?;
        let test_accuracy = Inference::new(&model, job.settings.device, job.settings.threads)?
            .accuracy(job.test.images.view(), &test_labels)?;
        let n = job.train.len();
        let loss = (loss_sum / n as f64) as f32;
        let train_accuracy = correct as f32 / n as f32;
        let seconds = started.elapsed().as_secs_f64();
        let images_per_second = n as f64 / step_seconds;
        eprintln!(
            "{} epoch {}/{epochs}: loss {loss:.4}, train {:.2}%, test {:.2}%, {seconds:.1} s, {images_per_second:.0} images/s",
            job.name,
            epoch + 1,
            100.0 * train_accuracy,
            100.0 * test_accuracy,
        );
        // The log's columns show the f32s' digits, as they always did.
        let record = EpochRow {
            epoch: epoch as u32 + 1,
            loss: f32_cell(loss),
            train_accuracy: f32_cell(train_accuracy),
            test_accuracy: f32_cell(test_accuracy),
            seconds: Some(seconds),
            images_per_second: Some(images_per_second),
        };
        log.push(record);
        Checkpoint {
            fingerprint: fingerprint.clone(),
            epochs_done: epoch + 1,
            log: log.clone(),
            state,
        }
        .save(&checkpoint_path)?;
        epoch_log::write(&job.log_path(), &log)?;
    }
    let state = runner.state()?;
    let mut model = export_model(job, &init, &state)?;
    // The f32 the epoch measured (its f32_cell reads back as it).
    let test_accuracy = log.last().map_or(0.0, |r| r.test_accuracy as f32);
    // Shortest round-trip forms: a finished network run again reads back the same values.
    model.set_metadata("test_accuracy", &test_accuracy.to_string());
    model.set_metadata("fingerprint", &fingerprint);
    model.set_metadata("epochs", &log.len().to_string());
    let seconds: f64 = log.iter().filter_map(|r| r.seconds).sum();
    model.set_metadata("training_seconds", &seconds.to_string());
    let bytes = model.to_bytes();
    let path = job.model_path();
    robustaudit_graph::atomic_file::write(&path, &bytes).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    epoch_log::write(&job.log_path(), &log)?;
    Ok(Trained {
        path,
        sha256: hex(&Sha256::digest(&bytes)),
        test_accuracy,
        epochs: log.len(),
        seconds,
    })
}

/// The export of a job trained earlier with the same fingerprint and epochs, if any.
fn finished(job: &Job, fingerprint: &str) -> Result<Option<Trained>> {
    let path = job.model_path();
    if !path.is_file() {
        return Ok(None);
    }
    let Ok(model) = OnnxModel::open(&path) else {
        return Ok(None);
    };
    let epochs = job.settings.epochs.to_string();
    if model.metadata_value("fingerprint") != Some(fingerprint)
        || model.metadata_value("epochs") != Some(epochs.as_str())
    {
        return Ok(None);
    }
    let sha256 = file_sha256(&path)?;
    let number = |key: &str| {
        model
            .metadata_value(key)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(Some(Trained {
        sha256,
        test_accuracy: number("test_accuracy") as f32,
        epochs: job.settings.epochs,
        seconds: number("training_seconds"),
        path,
    }))
}

/// The job's untrained inference graph: the architecture with seeded weights, or with every
/// initializer taken from the pretrained network (which must have the same architecture).
fn initial_model(job: &Job) -> Result<OnnxModel> {
    let seed = match &job.init {
        Init::Seeded(seed) => *seed,
        Init::Pretrained(_) => 0,
    };
    let mut model = forward_graph(&job.spec, seed, job.model_path()).map_err(Error::from)?;
    let Init::Pretrained(from) = &job.init else {
        return Ok(model);
    };
    let source = OnnxModel::open(&from.path).map_err(Error::from)?;
    for name in model.initializer_names() {
        let mismatch = |what: String| Error::Usage {
            message: format!(
                "{} cannot start from {}: {what}",
                job.name,
                from.path.display()
            ),
            hint: Some(format!(
                "both must be built from the architecture '{}'",
                job.spec.name
            )),
        };
        let value = source
            .initializer(&name)
            .ok_or_else(|| mismatch(format!("it has no initializer '{name}'")))?;
        model
            .set_initializer(&name, &value)
            .map_err(|e| mismatch(e.to_string()))?;
    }
    Ok(model)
}

/// The parent's probabilities at the job's temperature on the training images.
fn parent_soft_labels(job: &Job, parent: &Parent) -> Result<Array2<f32>> {
    let model = OnnxModel::open(&parent.path).map_err(Error::from)?;
    eprintln!(
        "{}: soft labels of {} at T={}",
        job.name,
        parent.path.display(),
        job.temperature
    );
    Inference::new(&model, job.settings.device, job.settings.threads)?
        .soft_labels(job.train.images.view(), job.temperature)
}

/// The inference graph with the trained state and the job's metadata.
fn export_model(job: &Job, init: &OnnxModel, state: &[HostTensor]) -> Result<OnnxModel> {
    // Parameters and running statistics are the model's initializers; optimiser slots
    // and the step counter are not.
    let values: Vec<(String, Vec<usize>, Vec<f32>)> = state
        .iter()
        .filter(|t| init.initializer(&t.name).is_some())
        .map(|t| (t.name.clone(), t.dims.clone(), t.values.clone()))
        .collect();
    let mut model = with_state(init, &values).map_err(Error::from)?;
    let parent = job.parent.as_ref().map_or("", |p| p.sha256.as_str());
    let entries = [
        ("role", job.role.clone()),
        ("hop", job.hop.to_string()),
        ("lineage", job.lineage.join(" > ")),
        ("temperature", job.temperature.to_string()),
        ("parent_sha256", parent.to_string()),
        ("dataset", job.dataset.clone()),
        ("seed", job.settings.seed.to_string()),
        ("init", job.init.describe()),
        ("loss", format!("{:?}", job.loss)),
        ("optimizer", job.settings.optimizer.describe()),
        ("learning_rate", job.settings.learning_rate.to_string()),
        ("batch", job.settings.batch.to_string()),
        ("config", job.config.clone()),
    ];
    for (key, value) in entries {
        model.set_metadata(key, &value);
    }
    Ok(model)
}

fn labels_of(data: &Dataset) -> Result<Vec<usize>> {
    data.labels.clone().ok_or_else(|| {
        Error::Usage {
            message: format!("{} has no labels to train on", data.name),
            hint: Some("give a .npy file a <stem>.labels.npy beside it".into()),
        }
        .into()
    })
}

fn progress(job: &Job, epoch: usize, epochs: usize, batches: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64);
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} batches {msg} ({elapsed}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{} epoch {}/{epochs}", job.name, epoch + 1));
    bar
}

/// The SHA-256 of the file at `path`, in hexadecimal.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::Internal {
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(hex(&Sha256::digest(&bytes)))
}
