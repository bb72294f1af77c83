//! Checkpoints of a network in training: its whole state after a completed epoch, the
//! epoch log so far, and the fingerprint of the job it belongs to.
//!
//! File layout: the magic `RACKPT01`, the header's length (u64 little-endian), the header
//! (TOML), the state tensors' values (f32 little-endian, header order), then the SHA-256 of
//! everything before it. A file that is truncated or altered fails the checksum.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use robustaudit::error::Error;

use crate::error::Result;
use crate::step::HostTensor;
use robustaudit::report::EpochRow;

const MAGIC: &[u8; 8] = b"RACKPT01";

/// The state of a job after `epochs_done` epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Identifies the job (architecture, data, loss, optimiser, seeds); a checkpoint of
    /// another job is never resumed.
    pub fingerprint: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// One record per completed epoch.
    pub log: Vec<EpochRow>,
    /// The step graph's state tensors.
    pub state: Vec<HostTensor>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    fingerprint: String,
    epochs_done: usize,
    tensors: Vec<TensorHeader>,
    #[serde(default)]
    epochs: Vec<EpochRow>,
}

#[derive(Serialize, Deserialize)]
struct TensorHeader {
    name: String,
    dims: Vec<usize>,
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let header = Header {
            fingerprint: self.fingerprint.clone(),
            epochs_done: self.epochs_done,
            tensors: self
                .state
                .iter()
                .map(|t| TensorHeader {
                    name: t.name.clone(),
                    dims: t.dims.clone(),
                })
                .collect(),
            epochs: self.log.clone(),
        };
        let header = toml::to_string(&header).map_err(|e| Error::Internal {
            message: format!("cannot encode the checkpoint header: {e}"),
        })?;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for tensor in &self.state {
            for v in &tensor.values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        robustaudit_graph::atomic_file::write(path, &bytes).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(())
    }

    /// Reads the checkpoint at `path`; `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(corrupt(path, &format!("cannot be read: {e}"))),
        };
        let body_len = bytes
            .len()
            .checked_sub(32)
            .filter(|&n| n >= 16 && &bytes[..8] == MAGIC)
            .ok_or_else(|| corrupt(path, "is not a robustaudit checkpoint"))?;
        let (body, digest) = bytes.split_at(body_len);
        if Sha256::digest(body).as_slice() != digest {
            return Err(corrupt(path, "fails its checksum (truncated or altered)"));
        }
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&body[8..16]);
        let header_len = usize::try_from(u64::from_le_bytes(len_bytes))
            .ok()
            .filter(|&n| n <= body.len() - 16)
            .ok_or_else(|| corrupt(path, "has a header longer than the file"))?;
        let header = std::str::from_utf8(&body[16..16 + header_len])
            .map_err(|_| corrupt(path, "has a header that is not utf-8"))?;
        let header: Header = toml::from_str(header)
            .map_err(|e| corrupt(path, &format!("has an unreadable header: {e}")))?;
        let mut values = body[16 + header_len..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut state = Vec::with_capacity(header.tensors.len());
        for tensor in header.tensors {
            let len = tensor.dims.iter().product::<usize>();
            let data: Vec<f32> = values.by_ref().take(len).collect();
            if data.len() != len {
                return Err(corrupt(
                    path,
                    &format!("ends inside tensor '{}'", tensor.name),
                ));
            }
            state.push(HostTensor {
                name: tensor.name,
                dims: tensor.dims,
                values: data,
            });
        }
        if values.next().is_some() {
            return Err(corrupt(path, "holds more values than its header lists"));
        }
        Ok(Some(Checkpoint {
            fingerprint: header.fingerprint,
            epochs_done: header.epochs_done,
            log: header.epochs,
            state,
        }))
    }
}

fn corrupt(path: &Path, what: &str) -> crate::error::TrainError {
    Error::Usage {
        message: format!("checkpoint {} {what}", path.display()),
        hint: Some(format!(
            "delete {} to train this network from the start",
            PathBuf::from(path).display()
        )),
    }
    .into()
}
