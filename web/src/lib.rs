//! VIP5 in the browser: a thin wasm-bindgen shell over [`vip5::recommend::Recommender`] and the
//! CLIP vision tower. The JS side (`www/vip5.js`, `www/vip5-worker.js`) fetches and caches the
//! bundles, keeps the visitor's history in IndexedDB and runs this module in a Web Worker; this
//! crate only turns bytes and item keys into answers. Every call is async and every error
//! reaches JS as an exception with a readable message.

#[cfg(target_arch = "wasm32")]
mod engine;

#[cfg(target_arch = "wasm32")]
pub use engine::*;

/// How the page asked to choose the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendRequest {
    /// WebGPU when the browser offers an adapter, else the CPU.
    Auto,
    WebGpu,
    Cpu,
}

impl BackendRequest {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "" | "auto" => Ok(Self::Auto),
            "webgpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!("unknown backend `{other}` (auto, webgpu or cpu)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names() {
        assert_eq!(BackendRequest::parse("auto"), Ok(BackendRequest::Auto));
        assert_eq!(BackendRequest::parse(""), Ok(BackendRequest::Auto));
        assert_eq!(BackendRequest::parse("cpu"), Ok(BackendRequest::Cpu));
        assert!(BackendRequest::parse("cuda").unwrap_err().contains("auto, webgpu or cpu"));
    }
}
