//! Sequential interaction data of P5/VIP5 as pure functions over text already in memory
//! (docs/vip5.md §2.3 and §3.2).
//!
//! - [`parse_sequential_data`] reads `sequential_data.txt` (`user_id item_id item_id ...`, one
//!   line per user, items in time order); [`parse_raw_sequences`] numbers raw reviewer ids and
//!   ASINs the way the P5 preprocessing numbers items.
//! - Leave-one-out splits: per user the last item is the test target, the second-to-last the
//!   validation target, and the rest is for training ([`training_items`], [`split_example`]).
//! - [`reindex_items`] renumbers items with a seeded permutation. The published numbering gives
//!   items ids by first appearance user by user, so consecutive purchases often have consecutive
//!   ids and "max(history)+1" alone hits 4.41 % of Beauty's test targets; a random numbering
//!   removes that leak.
//! - Baselines to report beside every model number: [`PopularityBaseline`] and
//!   [`max_plus_one_guess`] here, the count baselines (last-item transitions, windowed
//!   co-occurrence) in [`counts`], all evaluated with [`crate::metrics`].
//! - [`shop`]: a shop's own orders and catalogue (CSV or TSV) into the same sequences.
//! - [`item_factors`]: item vectors from a factorisation of the training co-occurrence, to start
//!   a model's item embeddings from.

mod baselines;
pub mod counts;
pub mod item_factors;
mod parse;
mod reindex;
pub mod shop;
mod split;
pub mod temporal;
#[cfg(test)]
mod test_data;

pub use baselines::*;
pub use parse::*;
pub use reindex::*;
pub use split::*;

/// One user's items in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSequence {
    pub user: u32,
    pub items: Vec<u32>,
    /// `true`: the last two items are this user's validation and test targets (leave-one-out,
    /// and the evaluated users of a temporal split). `false`: every item trains and the user is
    /// never evaluated (a temporal split's user with no purchase after the cutoff).
    pub evaluated: bool,
}

impl UserSequence {
    /// An evaluated user (leave-one-out: the last two items are held out).
    pub fn new(user: u32, items: Vec<u32>) -> Self {
        Self { user, items, evaluated: true }
    }
}
