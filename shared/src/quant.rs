//! ggml's tensor encodings as GGUF stores them: f32, f16, and the block quantizations q8_0 and
//! q4_0 (32 values per block, one f16 scale each). Bit-exact with ggml's reference quantizers
//! (`quantize_row_q8_0_ref` / `quantize_row_q4_0_ref`), which `tests/gen/gen_bundle_fixtures.py`
//! checks through llama.cpp's `gguf` Python package.

use half::f16;

use crate::error::{Result, Vip5Error};

/// Values per quantization block.
pub const BLOCK: usize = 32;

/// The ggml types a bundle may hold (their GGUF type codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q8_0,
}

impl GgmlType {
    pub fn code(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q8_0 => 8,
        }
    }

    pub fn from_code(code: u32) -> Result<Self> {
        match code {
            0 => Ok(Self::F32),
            1 => Ok(Self::F16),
            2 => Ok(Self::Q4_0),
            8 => Ok(Self::Q8_0),
            other => Err(Vip5Error::Bundle(format!(
                "tensor type {other} is not one a VIP5 bundle uses (f32 = 0, f16 = 1, q4_0 = 2, \
                 q8_0 = 8)"
            ))),
        }
    }

    /// `f32`, `f16`, `q8_0`, `q4_0`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q4_0 => "q4_0",
            Self::Q8_0 => "q8_0",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "q8_0" => Ok(Self::Q8_0),
            "q4_0" => Ok(Self::Q4_0),
            other => Err(Vip5Error::Input(format!(
                "unknown quantization `{other}` (expected f32, f16, q8_0 or q4_0)"
            ))),
        }
    }

    /// Values per block (1 for the float types).
    pub fn block_len(self) -> usize {
        match self {
            Self::F32 | Self::F16 => 1,
            Self::Q4_0 | Self::Q8_0 => BLOCK,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
            Self::Q4_0 => 2 + BLOCK / 2,
            Self::Q8_0 => 2 + BLOCK,
        }
    }

    /// Bytes `n` values take, or an error when `n` does not fill whole blocks or overflows.
    pub fn byte_len(self, n: usize) -> Result<usize> {
        if !n.is_multiple_of(self.block_len()) {
            return Err(Vip5Error::Bundle(format!(
                "{} values do not fill whole {} blocks of {}",
                n,
                self.name(),
                self.block_len()
            )));
        }
        (n / self.block_len()).checked_mul(self.block_bytes()).ok_or_else(|| {
            Vip5Error::Bundle(format!("{n} values of {} overflow the address space", self.name()))
        })
    }
}

/// Encodes `values` (a multiple of the block length) as `ty`.
pub fn quantize(values: &[f32], ty: GgmlType) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(ty.byte_len(values.len())?);
    match ty {
        GgmlType::F32 => values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        GgmlType::F16 => {
            values.iter().for_each(|v| out.extend_from_slice(&f16::from_f32(*v).to_le_bytes()))
        }
        GgmlType::Q8_0 => {
            for block in values.chunks_exact(BLOCK) {
                let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if d == 0.0 { 0.0 } else { 1.0 / d };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                // `as i8` saturates; |v * id| <= 127 anyway. f32::round is C's roundf.
                out.extend(block.iter().map(|v| (v * id).round() as i8 as u8));
            }
        }
        GgmlType::Q4_0 => {
            for block in values.chunks_exact(BLOCK) {
                // The value of largest magnitude (the first one on ties, as numpy's argmax in
                // gguf-py; so an all-zero block keeps the sign of its first zero in the scale)
                // maps to -8.
                let max =
                    block.iter().fold(block[0], |m, &v| if v.abs() > m.abs() { v } else { m });
                let d = max / -8.0;
                let id = if d == 0.0 { 0.0 } else { 1.0 / d };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                let q = |v: f32| ((v * id + 8.5).trunc() as u8).min(15);
                for j in 0..BLOCK / 2 {
                    out.push(q(block[j]) | (q(block[j + BLOCK / 2]) << 4));
                }
            }
        }
    }
    Ok(out)
}

/// Decodes `n` values of type `ty` from `bytes` (which must be exactly their length).
pub fn dequantize(bytes: &[u8], ty: GgmlType, n: usize) -> Result<Vec<f32>> {
    let expected = ty.byte_len(n)?;
    if bytes.len() != expected {
        return Err(Vip5Error::Bundle(format!(
            "{n} {} values need {expected} bytes, found {}",
            ty.name(),
            bytes.len()
        )));
    }
    let mut out = Vec::with_capacity(n);
    match ty {
        GgmlType::F32 => {
            out.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        }
        GgmlType::F16 => {
            out.extend(bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()))
        }
        GgmlType::Q8_0 => {
            for block in bytes.chunks_exact(ty.block_bytes()) {
                let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
                out.extend(block[2..].iter().map(|&q| q as i8 as f32 * d));
            }
        }
        GgmlType::Q4_0 => {
            for block in bytes.chunks_exact(ty.block_bytes()) {
                let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
                let packed = &block[2..];
                out.extend(packed.iter().map(|&b| ((b & 0x0F) as i32 - 8) as f32 * d));
                out.extend(packed.iter().map(|&b| ((b >> 4) as i32 - 8) as f32 * d));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_block_by_hand() {
        // amax 127 -> d = 1: the block is stored exactly, rounding half away from zero.
        let mut block = [0f32; 32];
        block[0] = 127.0;
        block[1] = -2.5;
        block[2] = 2.5;
        block[3] = 0.49;
        let bytes = quantize(&block, GgmlType::Q8_0).expect("whole block");
        assert_eq!(bytes.len(), 34);
        assert_eq!(f16::from_le_bytes([bytes[0], bytes[1]]).to_f32(), 1.0);
        assert_eq!(&bytes[2..6], &[127u8, (-3i8) as u8, 3, 0]);
        let back = dequantize(&bytes, GgmlType::Q8_0, 32).expect("decodes");
        assert_eq!(&back[..4], &[127.0, -3.0, 3.0, 0.0]);
    }

    #[test]
    fn q4_0_block_by_hand() {
        // max magnitude -16 -> d = 2, id = 0.5: x -> trunc(x/2 + 8.5) clamped to 15.
        let mut block = [0f32; 32];
        block[0] = -16.0; // 0
        block[1] = 14.0; // 15 (trunc(15.5)); 16 would clamp
        block[16] = 3.0; // trunc(10) = 10
        block[17] = 16.0; // trunc(16.5) = 16 -> 15
        let bytes = quantize(&block, GgmlType::Q4_0).expect("whole block");
        assert_eq!(bytes.len(), 18);
        assert_eq!(f16::from_le_bytes([bytes[0], bytes[1]]).to_f32(), 2.0);
        assert_eq!(bytes[2], 10 << 4);
        assert_eq!(bytes[3], 15 | (15 << 4));
        assert_eq!(bytes[4], 8 | (8 << 4)); // zeros
        let back = dequantize(&bytes, GgmlType::Q4_0, 32).expect("decodes");
        assert_eq!((back[0], back[1], back[16], back[17], back[5]), (-16.0, 14.0, 4.0, 14.0, 0.0));
    }

    #[test]
    fn lengths_are_checked() {
        assert!(quantize(&[1.0; 31], GgmlType::Q8_0).is_err());
        assert!(dequantize(&[0; 33], GgmlType::Q8_0, 32).is_err());
        assert!(dequantize(&[0; 4], GgmlType::F32, 2).is_err());
        assert!(GgmlType::from_code(3).is_err());
        assert_eq!(GgmlType::Q8_0.byte_len(64).expect("fits"), 68);
    }

    #[test]
    fn error_stays_within_a_quantization_step() {
        let values: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        // q4_0 maps the signed maximum to -8, so the opposite extreme clamps at +7: a whole step.
        for (ty, steps, bound) in [(GgmlType::Q8_0, 127.0, 0.5), (GgmlType::Q4_0, 8.0, 1.0)] {
            let back =
                dequantize(&quantize(&values, ty).expect("q"), ty, values.len()).expect("dq");
            for (block, got) in values.chunks(32).zip(back.chunks(32)) {
                let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
                let step = amax / steps;
                for (a, b) in block.iter().zip(got) {
                    // plus the f16 rounding of the scale
                    assert!((a - b).abs() <= step * bound + amax * 1e-3, "{ty:?}: {a} vs {b}");
                }
            }
        }
    }
}
