//! Running training-step graphs on ONNX Runtime: batches come from host memory, the state
//! (parameters, running statistics, optimiser slots, step counter) stays in the device's
//! memory between steps (the host on the CPU, GPU memory on CUDA) through I/O binding.
//!
//! Two sets of state tensors alternate: each step reads one and writes the other, so no
//! tensor is read and written by the same run and nothing is copied between steps.

use ndarray::{Array2, ArrayView2, ArrayView4};
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use robustaudit::error::Error;
use robustaudit_graph::grad::{
    next_name, StateRole, TrainingGraph, CORRECT, LABELS, LEARNING_RATE, LOSS, SOFT_LABELS,
    TEMPERATURE,
};

use crate::error::{OrtContext, Result};
use crate::runtime::{session, Device};

/// One batch: images in the model's layout, their labels, and soft labels when the loss
/// reads them.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// Images `(n, ...)` in the model's input layout.
    pub images: ArrayView4<'a, f32>,
    /// The class of each image.
    pub labels: &'a [usize],
    /// A parent's probabilities `(n, classes)` at the temperature, for distillation losses.
    pub soft_labels: Option<ArrayView2<'a, f32>>,
}

/// What one step measured, before its update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepResult {
    /// The batch's mean loss.
    pub loss: f32,
    /// How many predictions matched the labels.
    pub correct: usize,
}

/// A state tensor's value in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The state tensor's name.
    pub name: String,
    /// Its dims.
    pub dims: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// A training-step graph loaded in ONNX Runtime with its state.
pub struct StepRunner {
    graph: TrainingGraph,
    session: Session,
    /// Two sets of state tensors in the device's memory, in `graph.state` order; step `k`
    /// reads set `k % 2` and writes the other.
    sets: [Vec<Tensor<f32>>; 2],
    steps: u64,
    mask_seed: u64,
    // Kept alive as long as the tensors it allocated.
    _allocator: Allocator,
}

impl StepRunner {
    /// Opens `graph` on `device` with `threads` intra-op threads, its state set to the
    /// graph's initial values; dropout masks are drawn from `mask_seed` and the step number.
    pub fn new(
        graph: TrainingGraph,
        device: Device,
        threads: usize,
        mask_seed: u64,
    ) -> Result<Self> {
        let name = graph.model.path().display().to_string();
        let session = session(&graph.model.to_bytes(), device, threads, &name)?;
        let location = match device {
            Device::Cpu => AllocationDevice::CPU,
            Device::Cuda => AllocationDevice::CUDA,
        };
        let during = || format!("allocating the training state of {name}");
        let device_memory =
            MemoryInfo::new(location, 0, AllocatorType::Device, MemoryType::Default)
                .during(during)?;
        let allocator = Allocator::new(&session, device_memory).during(during)?;
        let mut sets: [Vec<Tensor<f32>>; 2] = [Vec::new(), Vec::new()];
        for set in &mut sets {
            for state in &graph.state {
                let tensor = Tensor::<f32>::new(&allocator, state.dims.clone()).during(during)?;
                set.push(tensor);
            }
        }
        let mut runner = StepRunner {
            graph,
            session,
            sets,
            steps: 0,
            mask_seed,
            _allocator: allocator,
        };
        let initial: Vec<HostTensor> = runner
            .graph
            .state
            .iter()
            .map(|s| HostTensor {
                name: s.name.clone(),
                dims: s.dims.clone(),
                values: s.initial.clone(),
            })
            .collect();
        runner.load_state(&initial)?;
        Ok(runner)
    }

    /// The graph this runner drives.
    pub fn graph(&self) -> &TrainingGraph {
        &self.graph
    }

    /// Steps taken since the initial state (including those of a loaded state).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Runs one step on `batch` at `temperature` with base learning rate `learning_rate`.
    pub fn step(
        &mut self,
        batch: &Batch,
        temperature: f32,
        learning_rate: f32,
    ) -> Result<StepResult> {
        let n = batch.images.shape()[0];
        let classes = self.graph.classes;
        self.check_batch(batch)?;
        let during = || format!("running training step {}", self.steps + 1);
        let host = |dims: Vec<usize>, values: Vec<f32>| {
            Tensor::from_array((dims, values.into_boxed_slice())).during(during)
        };
        let mut one_hot = Array2::<f32>::zeros((n, classes));
        for (row, &label) in batch.labels.iter().enumerate() {
            one_hot[(row, label)] = 1.0;
        }
        let images = host(
            batch.images.shape().to_vec(),
            batch.images.iter().copied().collect(),
        )?;
        let labels = host(vec![n, classes], one_hot.into_raw_vec_and_offset().0)?;
        let temperature = host(Vec::new(), vec![temperature])?;
        let learning_rate = host(Vec::new(), vec![learning_rate])?;
        let masks = self.dropout_masks(n);
        let mut binding = self.session.create_binding().during(during)?;
        binding
            .bind_input(&self.graph.image, &images)
            .during(during)?;
        binding.bind_input(LABELS, &labels).during(during)?;
        if let Some(soft) = batch.soft_labels {
            let soft = host(vec![n, classes], soft.iter().copied().collect())?;
            binding.bind_input(SOFT_LABELS, &soft).during(during)?;
        }
        binding
            .bind_input(TEMPERATURE, &temperature)
            .during(during)?;
        binding
            .bind_input(LEARNING_RATE, &learning_rate)
            .during(during)?;
        for (mask, values) in self.graph.masks.iter().zip(masks) {
            let mut dims = vec![n];
            dims.extend(&mask.sample_dims);
            binding
                .bind_input(&mask.name, &host(dims, values)?)
                .during(during)?;
        }
        let read = (self.steps % 2) as usize;
        let [first, second] = &mut self.sets;
        let (current, next) = if read == 0 {
            (&*first, second)
        } else {
            (&*second, first)
        };
        for (state, value) in self.graph.state.iter().zip(current) {
            binding.bind_input(&state.name, value).during(during)?;
        }
        for (state, value) in self.graph.state.iter().zip(next.iter_mut()) {
            binding
                .bind_output(next_name(&state.name), value)
                .during(during)?;
        }
        let host_memory = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .during(during)?;
        binding
            .bind_output_to_device(LOSS, &host_memory)
            .during(during)?;
        binding
            .bind_output_to_device(CORRECT, &host_memory)
            .during(during)?;
        let outputs = self.session.run_binding(&binding).during(during)?;
        let scalar = |name: &str| -> Result<f32> {
            let value = outputs.get(name).ok_or_else(|| Error::Internal {
                message: format!("the training step did not output {name}"),
            })?;
            let (_, data) = value.try_extract_tensor::<f32>().during(during)?;
            data.first().copied().ok_or_else(|| {
                Error::Internal {
                    message: format!("the training step's {name} is empty"),
                }
                .into()
            })
        };
        let result = StepResult {
            loss: scalar(LOSS)?,
            correct: scalar(CORRECT)?.round() as usize,
        };
        drop(outputs);
        self.steps += 1;
        Ok(result)
    }

    /// The current state, copied to host memory.
    pub fn state(&self) -> Result<Vec<HostTensor>> {
        let current = &self.sets[(self.steps % 2) as usize];
        self.graph
            .state
            .iter()
            .zip(current)
            .map(|(state, value)| {
                let during = || format!("reading {} from the device", state.name);
                let host = value.to(AllocationDevice::CPU, 0).during(during)?;
                let (_, data) = host.try_extract_tensor::<f32>().during(during)?;
                Ok(HostTensor {
                    name: state.name.clone(),
                    dims: state.dims.clone(),
                    values: data.to_vec(),
                })
            })
            .collect()
    }

    /// Replaces the state with `values` (one per state tensor, by name, e.g. from a
    /// checkpoint); the step count follows the step counter's value.
    pub fn load_state(&mut self, values: &[HostTensor]) -> Result<()> {
        let read = (self.steps % 2) as usize;
        for (state, slot) in self.graph.state.iter().zip(self.sets[read].iter_mut()) {
            let value = values
                .iter()
                .find(|v| v.name == state.name)
                .ok_or_else(|| Error::Usage {
                    message: format!("the saved training state has no '{}'", state.name),
                    hint: None,
                })?;
            if value.dims != state.dims || value.values.len() != state.initial.len() {
                return Err(Error::Usage {
                    message: format!(
                        "the saved '{}' has dims {:?}, the network needs {:?}",
                        state.name, value.dims, state.dims
                    ),
                    hint: Some("the checkpoint belongs to another architecture".into()),
                }
                .into());
            }
            if state.role == StateRole::Step {
                self.steps = value.values.first().map_or(0, |&s| s as u64);
            }
            let during = || format!("copying {} to the device", state.name);
            let host =
                Tensor::from_array((value.dims.clone(), value.values.clone().into_boxed_slice()))
                    .during(during)?;
            host.copy_into(slot).during(during)?;
        }
        // The step count decides which set is read; keep the loaded values there.
        if (self.steps % 2) as usize != read {
            self.sets.swap(0, 1);
        }
        Ok(())
    }

    fn check_batch(&self, batch: &Batch) -> Result<()> {
        let shape = batch.images.shape();
        let n = shape[0];
        let usage = |message: String| -> Result<()> {
            Err(Error::Usage {
                message,
                hint: None,
            }
            .into())
        };
        if n == 0 {
            return usage("a training batch is empty".into());
        }
        if shape[1..] != self.graph.image_dims[..] {
            return usage(format!(
                "images of shape {:?} do not fit the network's input {:?}",
                &shape[1..],
                self.graph.image_dims
            ));
        }
        if batch.labels.len() != n {
            return usage(format!("{} labels for {n} images", batch.labels.len()));
        }
        if let Some(&bad) = batch.labels.iter().find(|&&l| l >= self.graph.classes) {
            return usage(format!(
                "label {bad} is not one of the network's {} classes",
                self.graph.classes
            ));
        }
        match (self.graph.loss.uses_soft_labels(), batch.soft_labels) {
            (true, None) => usage("this loss needs soft labels".into()),
            (false, Some(_)) => usage("this loss takes no soft labels".into()),
            (true, Some(soft)) if soft.shape() != [n, self.graph.classes] => usage(format!(
                "soft labels of shape {:?} do not match [{n}, {}]",
                soft.shape(),
                self.graph.classes
            )),
            _ => Ok(()),
        }
    }

    /// The masks of the coming step, drawn from the mask seed and the step number: `0` with
    /// the dropout rate, else `1 / (1 - rate)`.
    fn dropout_masks(&self, n: usize) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.mask_seed);
        rng.set_stream(self.steps);
        self.graph
            .masks
            .iter()
            .map(|mask| {
                let keep = 1.0 - mask.rate;
                let scale = 1.0 / keep;
                let len = n * mask.sample_dims.iter().product::<usize>();
                (0..len)
                    .map(|_| if rng.gen::<f32>() < keep { scale } else { 0.0 })
                    .collect()
            })
            .collect()
    }
}
