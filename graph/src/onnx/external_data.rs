//! Inlines tensors stored in external data files, refusing any reference that leaves the
//! model's folder (absolute paths, `..`, symbolic links pointing elsewhere).
//!
//! After this pass no tensor refers to a file, so nothing downstream (tract included) reads
//! anything but the bytes already in memory.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use tract_onnx::pb::{tensor_proto::DataLocation, GraphProto, TensorProto};

use super::ir::element_size;
use super::OnnxError;

/// The most bytes a model may take, its file and its external data together (4 GiB): a
/// model that claims more is refused before anything is read (docs/models.md, "Loading models
/// safely").
pub const MAX_MODEL_BYTES: u64 = 4 << 30;

/// Replaces every external reference in `graph` (and its subgraphs) by the referenced bytes,
/// taking them from `budget` (bytes still allowed) and refusing a tensor that would
/// overdraw it before reading any of its bytes.
pub(super) fn inline_external_data(
    graph: &mut GraphProto,
    model_path: &Path,
    budget: &mut u64,
) -> Result<(), OnnxError> {
    for tensor in graph.initializer.iter_mut() {
        inline_tensor(tensor, model_path, budget)?;
    }
    for node in graph.node.iter_mut() {
        for attr in node.attribute.iter_mut() {
            if let Some(t) = attr.t.as_mut() {
                inline_tensor(t, model_path, budget)?;
            }
            for t in attr.tensors.iter_mut() {
                inline_tensor(t, model_path, budget)?;
            }
            if let Some(g) = attr.g.as_mut() {
                inline_external_data(g, model_path, budget)?;
            }
            for g in attr.graphs.iter_mut() {
                inline_external_data(g, model_path, budget)?;
            }
        }
    }
    Ok(())
}

fn inline_tensor(
    tensor: &mut TensorProto,
    model_path: &Path,
    budget: &mut u64,
) -> Result<(), OnnxError> {
    if tensor.data_location != Some(DataLocation::External as i32) {
        return Ok(());
    }
    let fail = |reason: String| OnnxError::ExternalData {
        path: model_path.to_path_buf(),
        tensor: tensor.name.clone(),
        reason,
    };
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for entry in &tensor.external_data {
        match entry.key.as_str() {
            "location" => location = Some(entry.value.clone()),
            "offset" => {
                offset = entry
                    .value
                    .parse()
                    .map_err(|_| fail(format!("offset '{}' is not a number", entry.value)))?
            }
            "length" => {
                length = Some(
                    entry
                        .value
                        .parse::<u64>()
                        .map_err(|_| fail(format!("length '{}' is not a number", entry.value)))?,
                )
            }
            _ => {}
        }
    }
    let location = location.ok_or_else(|| fail("no 'location' entry".into()))?;
    let file_path = resolve_inside_model_dir(&location, model_path).map_err(&fail)?;
    let expected = expected_bytes(tensor).map_err(&fail)?;
    if let Some(length) = length {
        if length != expected {
            return Err(fail(format!(
                "length {length} does not match the tensor's {expected} bytes"
            )));
        }
    }
    if expected > *budget {
        return Err(fail(format!(
            "its {expected} bytes would take the model past the limit of {MAX_MODEL_BYTES} bytes"
        )));
    }
    *budget -= expected;
    let mut file = crate::regular_file::open(&file_path)
        .map_err(|e| fail(format!("cannot open {location}: {e}")))?;
    let size = file
        .metadata()
        .map_err(|e| fail(format!("cannot stat {location}: {e}")))?
        .len();
    let end = offset
        .checked_add(expected)
        .filter(|end| *end <= size)
        .ok_or_else(|| {
            fail(format!(
                "{location} holds {size} bytes, but {expected} bytes are needed from offset {offset}"
            ))
        })?;
    let mut bytes = vec![0u8; (end - offset) as usize];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| fail(format!("cannot read {location}: {e}")))?;
    tensor.raw_data = bytes;
    tensor.data_location = None;
    tensor.external_data.clear();
    Ok(())
}

/// The number of bytes a tensor's dims and data type call for.
fn expected_bytes(tensor: &TensorProto) -> Result<u64, String> {
    let size = element_size(tensor.data_type)
        .ok_or_else(|| format!("data type {} cannot be stored externally", tensor.data_type))?;
    tensor
        .dims
        .iter()
        .try_fold(size as u64, |acc, &d| {
            u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        })
        .ok_or_else(|| format!("dims {:?} are negative or too large", tensor.dims))
}

/// Resolves `location` against the model's folder and proves the result stays inside it.
fn resolve_inside_model_dir(location: &str, model_path: &Path) -> Result<PathBuf, String> {
    let relative = Path::new(location);
    let escapes = location.is_empty()
        || location.contains('\0')
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(format!(
            "location '{location}' must be a relative path inside the model's folder"
        ));
    }
    let dir = model_path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the model's folder: {e}"))?;
    let target = dir
        .join(relative)
        .canonicalize()
        .map_err(|e| format!("cannot open {location}: {e}"))?;
    if !target.starts_with(&dir) {
        return Err(format!(
            "location '{location}' resolves outside the model's folder (to {})",
            target.display()
        ));
    }
    if !target.is_file() {
        return Err(format!("location '{location}' is not a regular file"));
    }
    Ok(target)
}
