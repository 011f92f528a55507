//! Batched matrix products over host memory, for the CPU backend: gemm's one-thread kernels
//! (the ones burn's CPU backend calls), with the work split across [`super::host_pool`]'s threads
//! here, by batch, by column block or by row block.
//!
//! burn's CPU backend hands t5-small's and CLIP's products to gemm's own threading (rayon), which
//! measured no faster than one thread on this project's machine: see `host_pool` for why. Split
//! here, two threads ran the same shapes 1.6-2x faster than one.

use super::host_pool;

/// One operand of a batched product: `data[starts[b] + i * row_stride + j * col_stride]` is
/// element `(i, j)` of matrix `b`. Transposed and permuted views are just other strides.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub starts: &'a [usize],
    pub row_stride: isize,
    pub col_stride: isize,
}

/// Below this many multiply-adds a product runs on one thread: the hand-off would cost more.
const PARALLEL_WORK: usize = 1 << 16;

/// Column blocks are multiples of this (one AVX-512 register of f32), row blocks of [`ROW_ALIGN`].
const COLUMN_ALIGN: usize = 16;
const ROW_ALIGN: usize = 8;

/// `a[b] @ b[b]` for each matrix `b` of the batch (`a` is `m x k`, `b` is `k x n`), as one
/// contiguous `[batch, m, n]` buffer. `None` when the operands' starts, strides and sizes reach
/// outside their buffers (the caller then computes it another way).
pub fn matmul(m: usize, k: usize, n: usize, a: Operand, b: Operand) -> Option<Vec<f32>> {
    let batch = a.starts.len();
    if b.starts.len() != batch || !a.fits(m, k) || !b.fits(k, n) {
        return None;
    }
    let len = batch * m * n;
    if k == 0 || len == 0 {
        return Some(vec![0.0; len]);
    }
    // Not zeroed first: gemm writes every element (read_dst = false), set_len below.
    let mut out = Vec::<f32>::with_capacity(len);
    let threads = host_pool::threads();
    let work = batch.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let out_ptr = SharedOut(out.as_mut_ptr());
    // Each part writes its own rows/columns/matrices of `out`; none reads it.
    let product = |batches: std::ops::Range<usize>,
                   rows: std::ops::Range<usize>,
                   cols: std::ops::Range<usize>| {
        for bi in batches {
            // SAFETY: `fits` checked every element the strides reach in `a` and `b`; the part's
            // block of `out` lies inside its capacity (`len` values) and no other part writes it.
            unsafe {
                let dst = out_ptr.at(bi * m * n + rows.start * n + cols.start);
                let lhs = a
                    .data
                    .as_ptr()
                    .offset(a.starts[bi] as isize + rows.start as isize * a.row_stride);
                let rhs = b
                    .data
                    .as_ptr()
                    .offset(b.starts[bi] as isize + cols.start as isize * b.col_stride);
                gemm::gemm(
                    rows.len(),
                    cols.len(),
                    k,
                    dst,
                    1,
                    n as isize,
                    false,
                    lhs,
                    a.col_stride,
                    a.row_stride,
                    rhs,
                    b.col_stride,
                    b.row_stride,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    };
    if threads == 1 || work < PARALLEL_WORK {
        product(0..batch, 0..m, 0..n);
    } else if batch >= threads {
        let per = batch.div_ceil(threads);
        host_pool::run(batch.div_ceil(per), &|p| {
            product(p * per..batch.min((p + 1) * per), 0..m, 0..n)
        });
    } else if n >= m && n >= 2 * COLUMN_ALIGN {
        let per = n.div_ceil(threads).next_multiple_of(COLUMN_ALIGN);
        host_pool::run(n.div_ceil(per), &|p| {
            product(0..batch, 0..m, p * per..n.min((p + 1) * per))
        });
    } else if m >= 2 * ROW_ALIGN {
        let per = m.div_ceil(threads).next_multiple_of(ROW_ALIGN);
        host_pool::run(m.div_ceil(per), &|p| {
            product(0..batch, p * per..m.min((p + 1) * per), 0..n)
        });
    } else {
        product(0..batch, 0..m, 0..n);
    }
    // SAFETY: the parts above wrote all `len` values (every batch, row and column once).
    unsafe { out.set_len(len) };
    Some(out)
}

impl Operand<'_> {
    /// Whether every element of every `rows x cols` matrix lies inside `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let reach = |len: usize, stride: isize| (len as isize - 1).checked_mul(stride);
        let (Some(r), Some(c)) = (reach(rows, self.row_stride), reach(cols, self.col_stride))
        else {
            return false;
        };
        let low = r.min(0) + c.min(0);
        let high = r.max(0) + c.max(0);
        self.starts.iter().all(|&s| {
            let s = s as isize;
            s + low >= 0 && s.checked_add(high).is_some_and(|h| (h as usize) < self.data.len())
        })
    }
}

/// The output buffer, written by several threads at disjoint places.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);

// SAFETY: every part writes a disjoint block (see `matmul`).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// # Safety
    /// `offset` must lie inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        unsafe { self.0.add(offset) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7 + seed * 13) % 23) as f32 - 11.0) * 0.125).collect()
    }

    /// The same product in f64, element by element.
    fn reference(m: usize, k: usize, n: usize, a: &Operand, b: &Operand) -> Vec<f32> {
        let at = |o: &Operand, bi: usize, i: usize, j: usize| {
            o.data[(o.starts[bi] as isize + i as isize * o.row_stride + j as isize * o.col_stride)
                as usize] as f64
        };
        let mut out = Vec::new();
        for bi in 0..a.starts.len() {
            for i in 0..m {
                for j in 0..n {
                    out.push((0..k).map(|p| at(a, bi, i, p) * at(b, bi, p, j)).sum::<f64>() as f32);
                }
            }
        }
        out
    }

    #[test]
    fn products_match_float64_for_every_split_and_layout() {
        // (batch, m, k, n): one thread, split by batch, by columns, by rows, too thin to split
        for (batch, m, k, n) in
            [(1, 3, 5, 4), (6, 40, 33, 37), (1, 70, 64, 300), (1, 301, 64, 20), (1, 9, 700, 9)]
        {
            let a_data = values(batch * m * k + 3, 1);
            let b_data = values(batch * k * n + 5, 2);
            let a_starts: Vec<usize> = (0..batch).map(|bi| 3 + bi * m * k).collect();
            // `a` row-major after an offset; `b` stored transposed (n x k) and read through strides
            let a =
                Operand { data: &a_data, starts: &a_starts, row_stride: k as isize, col_stride: 1 };
            let b_starts: Vec<usize> = (0..batch).map(|bi| bi * k * n).collect();
            let b =
                Operand { data: &b_data, starts: &b_starts, row_stride: 1, col_stride: k as isize };
            let got = matmul(m, k, n, a, b).expect("in bounds");
            let want = reference(m, k, n, &a, &b);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "{batch}x{m}x{k}x{n} [{i}]: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn operands_reaching_outside_their_buffers_are_refused() {
        let data = values(12, 0);
        // a: 3 x 4, b: 4 x 3, both in 12 values
        let a = Operand { data: &data, starts: &[0], row_stride: 4, col_stride: 1 };
        let b = Operand { row_stride: 3, ..a };
        assert!(matmul(3, 4, 3, a, b).is_some());
        // one element past the end
        assert!(matmul(3, 4, 3, Operand { starts: &[1], ..a }, b).is_none());
        assert!(matmul(3, 4, 3, a, Operand { starts: &[1], ..b }).is_none());
        // a negative stride below the start
        assert!(matmul(3, 4, 3, Operand { row_stride: -4, ..a }, b).is_none());
        // batch sizes that differ
        assert!(matmul(3, 4, 3, Operand { starts: &[0, 0], ..a }, b).is_none());
    }
}
