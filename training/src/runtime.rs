//! Finding and loading the ONNX Runtime library that `scripts/setup` installed, and opening
//! sessions on the CPU or on CUDA.
//!
//! `ort` panics when it finds no library, so the file is located and checked here first.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::SessionBuilder;
use ort::session::Session;

use crate::error::{OrtContext, Result, TrainError};
use robustaudit::error::Error;

/// The ONNX Runtime release the project pins.
pub const ORT_VERSION: &str = "1.31.1";

/// Where sessions run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    Cpu,
    /// ONNX Runtime's CUDA execution provider (never a silent fall-back to the CPU).
    Cuda,
}

impl Device {
    fn folder(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

/// The loaded library's path and the process-wide environment sessions are created in.
static LOADED: OnceLock<(PathBuf, Environment)> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// The library file for `device`: `$ORT_DYLIB_PATH` when set, else the one setup installed.
pub fn library_path(device: Device) -> Result<PathBuf> {
    let setup_flag = if device == Device::Cuda {
        " --cuda"
    } else {
        ""
    };
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(Error::Dependency {
                message: format!(
                    "onnx runtime library {} (from ORT_DYLIB_PATH) is not a file",
                    path.display()
                ),
                hint: Some(format!(
                    "unset ORT_DYLIB_PATH to use the library of scripts/setup{setup_flag}"
                )),
            }
            .into());
        }
        return Ok(path);
    }
    let deps = robustaudit::deps::deps_dir().ok_or_else(|| Error::Dependency {
        message: "no .deps folder found in this directory or its parents".into(),
        hint: Some(format!("run scripts/setup{setup_flag} from the repository")),
    })?;
    let path = deps
        .join("onnxruntime")
        .join(device.folder())
        .join(format!("libonnxruntime.so.{ORT_VERSION}"));
    if !path.is_file() {
        return Err(Error::Dependency {
            message: format!("onnx runtime library not found at {}", path.display()),
            hint: Some(format!("run scripts/setup{setup_flag}")),
        }
        .into());
    }
    Ok(path)
}

/// Loads ONNX Runtime for `device` once per process and returns its environment.
pub fn init(device: Device) -> Result<&'static Environment> {
    let path = library_path(device)?;
    // Held across the check and the creation: ONNX Runtime allows one environment per process.
    let _creating = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((loaded, environment)) = LOADED.get() {
        if *loaded != path {
            return Err(Error::Dependency {
                message: format!(
                    "onnx runtime was already loaded from {}, cannot switch to {}",
                    loaded.display(),
                    path.display()
                ),
                hint: None,
            }
            .into());
        }
        return Ok(environment);
    }
    if device == Device::Cuda {
        preload_cuda_libraries();
    }
    let builder = ort::init_from(&path).map_err(|e| TrainError::RuntimeLoad {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let environment = builder
        .with_name("robustaudit")
        .with_telemetry(false)
        .build()
        .during(|| "creating the environment".into())?;
    Ok(&LOADED.get_or_init(|| (path, environment)).1)
}

/// Loads the CUDA and cuDNN libraries that `scripts/setup --cuda` installed into
/// `.deps/cuda/lib`, globally, so that ONNX Runtime's CUDA provider finds them without
/// `LD_LIBRARY_PATH`. Libraries are retried until no more load (each needs others loaded
/// first); any left over are reported by the provider itself, by name, if it needs them.
/// Without that folder, the system's libraries (or `LD_LIBRARY_PATH`) are used.
fn preload_cuda_libraries() {
    let Some(dir) = robustaudit::deps::deps_dir().map(|d| d.join("cuda").join("lib")) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut pending: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().contains(".so"))
        .collect();
    pending.sort();
    loop {
        let before = pending.len();
        pending.retain(|library| {
            let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL;
            // SAFETY: these are the NVIDIA runtime libraries setup installed; their
            // initialisers only register the libraries. The handles are kept open for the
            // life of the process, which ONNX Runtime's provider relies on.
            match unsafe { libloading::os::unix::Library::open(Some(library), flags) } {
                Ok(handle) => {
                    let _ = handle.into_raw();
                    false
                }
                Err(_) => true,
            }
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
}

/// A session running the serialised model `bytes` on `device` with `threads` intra-op
/// threads; `name` identifies the model in messages.
pub fn session(bytes: &[u8], device: Device, threads: usize, name: &str) -> Result<Session> {
    let environment = init(device)?;
    let during = || format!("creating a session for {name}");
    let mut builder = Session::builder(environment)
        .during(during)?
        .with_intra_threads(threads)
        .during(during)?;
    if device == Device::Cuda {
        builder = with_cuda(builder, name)?;
    }
    builder.commit_from_memory(bytes).during(during)
}

#[cfg(feature = "cuda")]
fn with_cuda(builder: SessionBuilder, name: &str) -> Result<SessionBuilder> {
    builder
        .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
        .map_err(|e| {
            Error::Dependency {
                message: format!(
                    "cannot enable cuda for {name}: {}",
                    e.message().lines().next().unwrap_or("unknown failure")
                ),
                hint: Some(
                    "run scripts/setup --cuda (it installs the cuda 13 and cudnn 9 libraries); the gpu driver provides libcuda.so.1"
                        .into(),
                ),
            }
            .into()
        })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(_builder: SessionBuilder, _name: &str) -> Result<SessionBuilder> {
    Err(Error::Dependency {
        message: "this build of robustaudit-train has no cuda support".into(),
        hint: Some(
            "build it with `cargo build --release -p robustaudit-train --features cuda`".into(),
        ),
    }
    .into())
}
