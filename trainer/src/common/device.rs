//! Device selection for the CLI.

use anyhow::Result;
use burn::tensor::Device;

/// Where the model runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum DeviceArg {
    /// burn's flex CPU backend.
    Cpu,
    /// GPU through wgpu (Vulkan, Metal or DX12; Mesa's lavapipe on a machine without a GPU).
    Wgpu,
    /// NVIDIA GPU through CUDA (only in a trainer built with `--features cuda`).
    #[cfg(feature = "cuda")]
    Cuda,
}

pub fn make_device(arg: DeviceArg) -> Result<Device> {
    Ok(match arg {
        DeviceArg::Cpu => Device::flex(),
        DeviceArg::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda => Device::cuda(0),
    })
}

/// `n` devices of one kind for data parallelism: wgpu device i is discrete GPU i (the default
/// adapter when n = 1); the CPU has one device, shared by all shards.
pub fn make_devices(arg: DeviceArg, n: usize) -> Result<Vec<Device>> {
    if n <= 1 {
        return Ok(vec![make_device(arg)?]);
    }
    Ok(match arg {
        DeviceArg::Cpu => vec![Device::flex(); n],
        DeviceArg::Wgpu => {
            (0..n).map(|i| Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i))).collect()
        }
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda => (0..n).map(Device::cuda).collect(),
    })
}
