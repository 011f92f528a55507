//! The threads the host kernels (matrix products, row-wise kernels) split their work over.
//!
//! Each call of a model's forward pass runs a few hundred short operations (tens to hundreds of
//! microseconds each) one after the other. A thread pool whose workers sleep between them (rayon,
//! gemm's own threading) pays a wake-up per operation, and on a virtual machine waking an idle
//! vCPU takes tens of microseconds or more: gemm's two-thread products measured no faster than one
//! thread for t5-small's shapes here, where MKL (PyTorch, OpenMP workers that spin between
//! operations) ran 1.7-1.9x faster on two. So this pool's workers spin for a short while after
//! each job before they sleep, like OpenMP's. A spinning worker yields the core often, so other
//! threads that want it still get it.
//!
//! Without the `rayon` feature (the page's wasm) there are no workers: the parts run in turn on
//! the calling thread.

/// How many threads share the work: the calling thread and the pool's workers. Natively this is
/// rayon's thread count (`RAYON_NUM_THREADS`, else the cores), so one setting governs burn's own
/// threaded operations and these.
pub fn threads() -> usize {
    #[cfg(feature = "rayon")]
    {
        pool::get().map_or(1, |p| p.workers.len() + 1)
    }
    #[cfg(not(feature = "rayon"))]
    {
        1
    }
}

std::thread_local! {
    /// Set by [`serial`]: this thread's host kernels keep to it.
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's host kernels on this thread alone. For work that already keeps
/// every core busy with threads of its own (the trainer's data-parallel shards): handing parts to
/// the pool's workers there only adds a third runnable thread to two cores (the demo recipe's
/// step: 0.45 -> 0.51 s with the pool, one shard per core).
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL.with(|s| s.replace(true)));
    f()
}

/// Runs `f(0)`, ..., `f(parts - 1)`, part 0 on the calling thread and the others on the pool's
/// workers at the same time, and returns once all have finished. With more parts than threads,
/// while another thread is using the pool (or from inside a part), or inside [`serial`], the
/// parts run in turn on the calling thread. A panic in any part is raised again here after every
/// part has finished.
pub fn run(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    #[cfg(feature = "rayon")]
    if parts > 1
        && !SERIAL.with(std::cell::Cell::get)
        && let Some(p) = pool::get()
        && parts <= p.workers.len() + 1
    {
        use std::sync::TryLockError;
        // A part that panicked earlier poisoned the lock: the workers are idle again all the same.
        let busy = match p.busy.try_lock() {
            Ok(lock) => Some(lock),
            Err(TryLockError::Poisoned(lock)) => Some(lock.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        if busy.is_some() {
            p.run(parts, f);
            return;
        }
    }
    (0..parts).for_each(f);
}

#[cfg(feature = "rayon")]
mod pool {
    use std::cell::UnsafeCell;
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    /// How long a worker spins for its next job before it sleeps.
    const SPIN: Duration = Duration::from_millis(2);

    /// A part of a job, its lifetime erased: [`Pool::run`] waits for every worker to finish
    /// before it returns, so the reference never outlives the caller's closure.
    type Part = &'static (dyn Fn(usize) + Sync);

    pub(super) struct Pool {
        pub(super) workers: Vec<Arc<Worker>>,
        /// Held by the one caller using the workers.
        pub(super) busy: Mutex<()>,
    }

    pub(super) struct Worker {
        /// Bumped for each job; the worker runs the job when it sees a new value.
        posted: AtomicU64,
        /// The last job this worker finished.
        finished: AtomicU64,
        job: UnsafeCell<Option<(Part, usize)>>,
        panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
        sleeping: AtomicBool,
        wake_lock: Mutex<()>,
        wake: Condvar,
    }

    // `job` is written by the one caller holding `Pool::busy` before it bumps `posted`, and read
    // by the worker after it sees the bump (release/acquire), never at the same time.
    unsafe impl Sync for Worker {}

    static POOL: OnceLock<Option<Pool>> = OnceLock::new();

    pub(super) fn get() -> Option<&'static Pool> {
        POOL.get_or_init(|| {
            let workers: Vec<Arc<Worker>> = (1..rayon::current_num_threads())
                .map(|_| {
                    Arc::new(Worker {
                        posted: AtomicU64::new(0),
                        finished: AtomicU64::new(0),
                        job: UnsafeCell::new(None),
                        panic: Mutex::new(None),
                        sleeping: AtomicBool::new(false),
                        wake_lock: Mutex::new(()),
                        wake: Condvar::new(),
                    })
                })
                .collect();
            for (i, w) in workers.iter().enumerate() {
                let w = Arc::clone(w);
                let spawned = std::thread::Builder::new()
                    .name(format!("vip5-host-{}", i + 1))
                    .spawn(move || w.serve());
                if spawned.is_err() {
                    // No threads to be had: everything runs on the calling thread.
                    return None;
                }
            }
            Some(Pool { workers, busy: Mutex::new(()) })
        })
        .as_ref()
    }

    impl Pool {
        pub(super) fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) {
            // SAFETY: see `Part`; `Finish` waits for the workers even if part 0 panics.
            let part: Part = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Part>(f) };
            let used = &self.workers[..parts - 1];
            for (i, w) in used.iter().enumerate() {
                w.post(part, i + 1);
            }
            struct Finish<'a>(&'a [Arc<Worker>]);
            impl Drop for Finish<'_> {
                fn drop(&mut self) {
                    for w in self.0 {
                        w.wait_finished();
                    }
                }
            }
            let finish = Finish(used);
            f(0);
            drop(finish);
            for w in used {
                let panic = w.panic.lock().ok().and_then(|mut p| p.take());
                if let Some(panic) = panic {
                    resume_unwind(panic);
                }
            }
        }
    }

    impl Worker {
        fn post(&self, part: Part, index: usize) {
            // SAFETY: the worker is idle (it finished the last job), see `Worker`.
            unsafe { *self.job.get() = Some((part, index)) };
            self.posted.fetch_add(1, Ordering::SeqCst);
            if self.sleeping.load(Ordering::SeqCst) {
                // Taking the lock orders this after the worker's check of `posted`.
                let _lock = self.wake_lock.lock();
                self.wake.notify_one();
            }
        }

        fn wait_finished(&self) {
            let target = self.posted.load(Ordering::Relaxed);
            let mut spins = 0u32;
            while self.finished.load(Ordering::Acquire) != target {
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }

        fn serve(&self) {
            let mut seen = 0u64;
            loop {
                seen = self.next_job(seen);
                // SAFETY: the caller wrote the job before bumping `posted` (acquired above).
                if let Some((part, index)) = unsafe { (*self.job.get()).take() }
                    && let Err(panic) = catch_unwind(AssertUnwindSafe(|| part(index)))
                    && let Ok(mut slot) = self.panic.lock()
                {
                    *slot = Some(panic);
                }
                self.finished.store(seen, Ordering::Release);
            }
        }

        /// Waits until `posted` moves past `seen`: spinning for [`SPIN`], then asleep.
        fn next_job(&self, seen: u64) -> u64 {
            let start = Instant::now();
            let mut spins = 0u32;
            loop {
                let posted = self.posted.load(Ordering::Acquire);
                if posted != seen {
                    return posted;
                }
                spins = spins.wrapping_add(1);
                if !spins.is_multiple_of(64) {
                    std::hint::spin_loop();
                } else if start.elapsed() < SPIN {
                    std::thread::yield_now();
                } else {
                    let Ok(mut lock) = self.wake_lock.lock() else { return seen };
                    self.sleeping.store(true, Ordering::SeqCst);
                    while self.posted.load(Ordering::SeqCst) == seen {
                        lock = match self.wake.wait(lock) {
                            Ok(lock) => lock,
                            Err(_) => break,
                        };
                    }
                    self.sleeping.store(false, Ordering::SeqCst);
                    return self.posted.load(Ordering::Acquire);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn every_part_runs_once_and_panics_come_back() {
        for parts in [1, 2, threads(), threads() + 3] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..200 {
                run(parts, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 200), "{parts} parts");
        }
        let last = threads().max(2) - 1;
        let caught = std::panic::catch_unwind(|| {
            run(last + 1, &|i| assert_ne!(i, last, "part {i} fails"));
        });
        assert!(caught.is_err(), "the failing part's panic reaches the caller");
        // the pool still works afterwards
        let sum = AtomicUsize::new(0);
        run(2, &|i| {
            sum.fetch_add(i + 1, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 3);
        // inside `serial` every part runs on this thread
        let here = std::thread::current().id();
        let elsewhere = AtomicUsize::new(0);
        serial(|| {
            run(threads(), &|_| {
                if std::thread::current().id() != here {
                    elsewhere.fetch_add(1, Ordering::Relaxed);
                }
            })
        });
        assert_eq!(elsewhere.load(Ordering::Relaxed), 0);
    }
}
