//! The process itself: its allocator settings, its matrix-multiply tuning and its peak memory.
//!
//! [`keep_freed_memory`] keeps freed tensor buffers in the process instead of returning them to
//! the kernel. glibc serves blocks above its mmap threshold (128 KiB, rising to at most 32 MiB)
//! with a fresh `mmap` and unmaps them on free, so every step's large activations and gradients
//! (a 44,201 x 128 embedding gradient is 22 MiB) are page-faulted and zeroed by the kernel
//! again: in `perf record` of the demo recipe, page faults, page clearing and memset were
//! about 10 % of the cycles. Serving them from the heap and never trimming it reuses the
//! pages; the peak RSS grows by the allocator's retained free memory (656 -> 844 MB measured).

/// Call once, first thing in `main`, before any thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters; called before other threads exist.
    unsafe {
        // 32 MiB is the largest threshold glibc accepts on 64-bit (half its heap size)
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`); lavapipe's buffers live there
/// too.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// gemm (burn flex's matrix multiplies) packs the weight of `x @ W` into its kernel's layout only
/// when `x` has more than 16 x 6 rows on several threads; below that it reads the weight where it
/// lies, strided. CLIP on one image (50 rows) then ran at half of its per-image speed in a batch:
/// packing from 8 x 6 rows up made `bench-clip --batch 1` 41 % faster (8.4 -> 11.8 images/s, 2
/// threads) and changed no training step beyond the noise (README, "Speed log").
pub fn tune_matrix_multiplies() {
    gemm::set_lhs_packing_threshold_multi_thread(8);
}
