//! Device selection for the CLI.

use anyhow::Result;
use burn::tensor::Device;

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum DeviceArg {
    /// burn's flex CPU backend.
    Cpu,
    /// GPU through wgpu (Vulkan, Metal or DX12; Mesa's lavapipe on a machine without a GPU).
    Wgpu,
}

pub fn make_device(arg: DeviceArg) -> Result<Device> {
    Ok(match arg {
        DeviceArg::Cpu => Device::flex(),
        DeviceArg::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    })
}
