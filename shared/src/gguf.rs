//! A strict GGUF (version 3) reader and writer over byte slices: metadata key/values, tensor
//! infos and the aligned data section. The reader validates every count, length and offset
//! against the bytes it has before using them, so truncated or corrupt input is an error, never a
//! panic or a huge allocation (`fuzz/` runs it on mutated bundles).
//!
//! Shapes are given in PyTorch order (`[out, in]`); GGUF stores them reversed (`ne[0]` is the
//! fastest-varying dimension), as ggml does.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Result, Vip5Error};
use crate::quant::GgmlType;

/// `GGUF` as a little-endian u32.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The container version this module writes and reads.
pub const VERSION: u32 = 3;
/// Data alignment when the file does not set `general.alignment`.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: usize = 4;
/// Arrays of arrays deeper than this are refused (they would only be a way to blow the stack).
const MAX_NESTING: usize = 4;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    /// Elements all of one type (GGUF arrays are homogeneous).
    Array(Vec<MetaValue>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl MetaValue {
    fn type_code(&self) -> u32 {
        match self {
            Self::U8(_) => 0,
            Self::I8(_) => 1,
            Self::U16(_) => 2,
            Self::I16(_) => 3,
            Self::U32(_) => 4,
            Self::I32(_) => 5,
            Self::F32(_) => 6,
            Self::Bool(_) => 7,
            Self::String(_) => 8,
            Self::Array(_) => 9,
            Self::U64(_) => 10,
            Self::I64(_) => 11,
            Self::F64(_) => 12,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Any unsigned or non-negative integer value.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// An array of strings.
    pub fn as_strings(&self) -> Option<Vec<&str>> {
        match self {
            Self::Array(items) => items.iter().map(Self::as_str).collect(),
            _ => None,
        }
    }
}

/// Where one tensor lies in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// PyTorch order.
    pub shape: Vec<usize>,
    pub ty: GgmlType,
    /// Absolute byte range in the file.
    pub start: usize,
    pub len: usize,
}

impl TensorInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed GGUF file borrowing its bytes.
#[derive(Debug)]
pub struct Gguf<'a> {
    pub version: u32,
    pub metadata: BTreeMap<String, MetaValue>,
    /// In file order.
    pub tensors: Vec<TensorInfo>,
    bytes: &'a [u8],
}

fn err(msg: impl Into<String>) -> Vip5Error {
    Vip5Error::Bundle(msg.into())
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            err(format!(
                "the file ends inside {what} (needs {n} bytes at offset {}, the file has {}): \
                 truncated or corrupt",
                self.pos,
                self.bytes.len()
            ))
        })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn len(&mut self, what: &str) -> Result<usize> {
        let n = self.u64(what)?;
        usize::try_from(n)
            .map_err(|_| err(format!("{what} {n} does not fit this machine's address space")))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.len(what)?;
        let raw = self.take(n, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| err(format!("{what} is not UTF-8")))
    }

    fn value(&mut self, type_code: u32, key: &str, depth: usize) -> Result<MetaValue> {
        Ok(match type_code {
            0 => MetaValue::U8(self.array::<1>(key)?[0]),
            1 => MetaValue::I8(self.array::<1>(key)?[0] as i8),
            2 => MetaValue::U16(u16::from_le_bytes(self.array(key)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.array(key)?)),
            4 => MetaValue::U32(self.u32(key)?),
            5 => MetaValue::I32(i32::from_le_bytes(self.array(key)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)?[0] {
                0 => MetaValue::Bool(false),
                1 => MetaValue::Bool(true),
                b => return Err(err(format!("metadata `{key}`: {b} is not a boolean"))),
            },
            8 => MetaValue::String(self.string(key)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(err(format!(
                        "metadata `{key}`: arrays nested deeper than {MAX_NESTING}"
                    )));
                }
                let element_type = self.u32(key)?;
                let n = self.len(key)?;
                // No capacity from the untrusted count: every element takes at least one byte, so
                // the loop ends at the end of the file.
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.value(element_type, key, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::U64(self.u64(key)?),
            11 => MetaValue::I64(i64::from_le_bytes(self.array(key)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array(key)?)),
            other => return Err(err(format!("metadata `{key}` has unknown value type {other}"))),
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor infos, and checks that every tensor's bytes lie
    /// inside `bytes`. Tensor data is not copied.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        let magic = r
            .take(4, "the GGUF magic")
            .map_err(|_| err(format!("{} bytes are too short for a GGUF file", bytes.len())))?;
        if magic != MAGIC {
            return Err(err("not a GGUF file (the first 4 bytes are not `GGUF`)"));
        }
        let version = r.u32("the GGUF version")?;
        if version != VERSION {
            return Err(err(format!(
                "GGUF version {version}: this reader reads version {VERSION} only"
            )));
        }
        let n_tensors = r.len("the tensor count")?;
        let n_kv = r.len("the metadata count")?;

        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string("a metadata key")?;
            let type_code = r.u32(&key)?;
            let value = r.value(type_code, &key, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(err(format!("metadata key `{key}` appears twice")));
            }
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => v
                .as_u64()
                .and_then(|a| usize::try_from(a).ok())
                .filter(|a| a.is_power_of_two())
                .ok_or_else(|| err(format!("general.alignment {v:?} is not a power of two")))?,
        };

        // (name, shape, type, relative offset)
        let mut raw = Vec::new();
        let mut names = HashSet::new();
        for _ in 0..n_tensors {
            let name = r.string("a tensor name")?;
            let n_dims = r.u32(&name)? as usize;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(err(format!(
                    "tensor `{name}` has {n_dims} dimensions (1 to {MAX_DIMS} allowed)"
                )));
            }
            let mut shape = Vec::with_capacity(n_dims);
            for _ in 0..n_dims {
                shape.push(r.len(&name)?);
            }
            shape.reverse();
            let ty = GgmlType::from_code(r.u32(&name)?)
                .map_err(|e| err(format!("tensor `{name}`: {e}")))?;
            let offset = r.len(&name)?;
            if !names.insert(name.clone()) {
                return Err(err(format!("tensor `{name}` appears twice")));
            }
            raw.push((name, shape, ty, offset));
        }

        let data_start = r
            .pos
            .div_ceil(alignment)
            .checked_mul(alignment)
            .ok_or_else(|| err("data offset overflows"))?;
        let mut tensors = Vec::with_capacity(raw.len());
        for (name, shape, ty, offset) in raw {
            let numel = shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| err(format!("tensor `{name}`: shape {shape:?} overflows")))?;
            let len = ty.byte_len(numel).map_err(|e| err(format!("tensor `{name}`: {e}")))?;
            if offset % alignment != 0 {
                return Err(err(format!(
                    "tensor `{name}`: offset {offset} is not aligned to {alignment}"
                )));
            }
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(len));
            match (start, end) {
                (Some(start), Some(end)) if end <= bytes.len() => {
                    tensors.push(TensorInfo { name, shape, ty, start, len })
                }
                _ => {
                    return Err(err(format!(
                        "tensor `{name}` ({len} bytes at data offset {offset}) lies past the \
                         end of the file ({} bytes): truncated",
                        bytes.len()
                    )));
                }
            }
        }
        Ok(Self { version, metadata, tensors, bytes })
    }

    /// The raw encoded bytes of a tensor.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &'a [u8] {
        // Ranges were checked against `bytes` in `parse`; `get` keeps this panic-free anyway.
        self.bytes.get(info.start..info.start + info.len).unwrap_or(&[])
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// A required string value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.metadata.get(key) {
            None => Err(err(format!("metadata `{key}` is missing"))),
            Some(v) => v.as_str().ok_or_else(|| err(format!("metadata `{key}` is not a string"))),
        }
    }

    /// A required integer value.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        match self.metadata.get(key) {
            None => Err(err(format!("metadata `{key}` is missing"))),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| err(format!("metadata `{key}` is not a non-negative integer"))),
        }
    }
}

/// Builds a GGUF file in memory.
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<(String, Vec<usize>, GgmlType, Vec<u8>)>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn metadata(&mut self, key: impl Into<String>, value: MetaValue) -> &mut Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Adds an encoded tensor (`shape` in PyTorch order, `data` already in `ty`'s encoding).
    pub fn tensor(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Result<&mut Self> {
        let name = name.into();
        let numel: usize = shape.iter().product();
        let expected = ty.byte_len(numel)?;
        if data.len() != expected || shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(err(format!(
                "tensor `{name}`: {} bytes for shape {shape:?} as {} (expected {expected})",
                data.len(),
                ty.name()
            )));
        }
        self.tensors.push((name, shape.to_vec(), ty, data));
        Ok(self)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64 + 1).to_le_bytes());
        write_string(&mut out, "general.alignment");
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&(DEFAULT_ALIGNMENT as u32).to_le_bytes());
        for (key, value) in &self.metadata {
            write_string(&mut out, key);
            out.extend_from_slice(&value.type_code().to_le_bytes());
            write_value(&mut out, value);
        }
        let mut offset = 0usize;
        for (name, shape, ty, data) in &self.tensors {
            write_string(&mut out, name);
            out.extend_from_slice(&(shape.len() as u32).to_le_bytes());
            for d in shape.iter().rev() {
                out.extend_from_slice(&(*d as u64).to_le_bytes());
            }
            out.extend_from_slice(&ty.code().to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset = (offset + data.len()).next_multiple_of(DEFAULT_ALIGNMENT);
        }
        out.resize(out.len().next_multiple_of(DEFAULT_ALIGNMENT), 0);
        for (_, _, _, data) in &self.tensors {
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(DEFAULT_ALIGNMENT), 0);
        }
        out
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, value: &MetaValue) {
    match value {
        MetaValue::U8(v) => out.push(*v),
        MetaValue::I8(v) => out.push(*v as u8),
        MetaValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::Bool(v) => out.push(u8::from(*v)),
        MetaValue::String(s) => write_string(out, s),
        MetaValue::Array(items) => {
            // An empty array is written as an array of u8.
            let element_type = items.first().map_or(0, MetaValue::type_code);
            out.extend_from_slice(&element_type.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                write_value(out, item);
            }
        }
        MetaValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        MetaValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantize;

    fn sample() -> Vec<u8> {
        let mut w = GgufWriter::new();
        w.metadata("general.architecture", MetaValue::String("vip5".into()))
            .metadata("n", MetaValue::U32(7))
            .metadata(
                "keys",
                MetaValue::Array(vec![
                    MetaValue::String("a".into()),
                    MetaValue::String("bé".into()),
                ]),
            );
        let m: Vec<f32> = (0..64).map(|i| i as f32 / 10.0).collect();
        w.tensor("m", &[2, 32], GgmlType::Q8_0, quantize(&m, GgmlType::Q8_0).expect("q"))
            .expect("fits");
        w.tensor("v", &[3], GgmlType::F32, quantize(&[1.0, 2.0, 3.0], GgmlType::F32).expect("q"))
            .expect("fits");
        w.to_bytes()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).expect("parses");
        assert_eq!(g.get_str("general.architecture").expect("set"), "vip5");
        assert_eq!(g.get_u64("n").expect("set"), 7);
        assert_eq!(g.get("keys").and_then(MetaValue::as_strings), Some(vec!["a", "bé"]));
        assert_eq!(g.tensors.len(), 2);
        assert_eq!(g.tensors[0].shape, vec![2, 32]);
        assert_eq!(g.tensors[0].start % DEFAULT_ALIGNMENT, 0);
        assert_eq!(
            g.tensor_bytes(&g.tensors[1]),
            &quantize(&[1.0, 2.0, 3.0], GgmlType::F32).expect("q")[..]
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        for cut in 0..bytes.len() - 1 {
            // The last tensor ends before the final padding; cuts inside the padding still parse.
            let last = Gguf::parse(&bytes)
                .expect("parses")
                .tensors
                .last()
                .map(|t| t.start + t.len)
                .unwrap_or(0);
            if cut >= last {
                continue;
            }
            assert!(Gguf::parse(&bytes[..cut]).is_err(), "cut at {cut} parsed");
        }
    }

    #[test]
    fn wrong_magic_version_and_types() {
        let mut bytes = sample();
        bytes[0] = b'X';
        assert!(Gguf::parse(&bytes).unwrap_err().to_string().contains("not a GGUF file"));
        let mut bytes = sample();
        bytes[4] = 2;
        assert!(Gguf::parse(&bytes).unwrap_err().to_string().contains("version 2"));
        assert!(Gguf::parse(b"GG").unwrap_err().to_string().contains("too short"));
    }
}
