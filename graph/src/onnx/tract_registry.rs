//! tract's ONNX operator registry, built once per process: the model checks ask it which
//! operators tract implements, and the auditor parses every model with it.

/// The shared registry.
pub fn registry() -> &'static tract_onnx::Onnx {
    static REGISTRY: std::sync::OnceLock<tract_onnx::Onnx> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(tract_onnx::onnx)
}
