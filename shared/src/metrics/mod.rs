//! Evaluation metrics of VIP5 (docs/vip5.md §5.1 and §5.3), as pure functions, one module per
//! kind:
//!
//! - [`ranking`]: HR@k and NDCG@k per user (ties broken by a seeded shuffle, as the notebooks'
//!   `evaluate_all`), generated beams into scores, and [`RankingMetrics`], the average over users.
//! - [`comparison`]: two models' ranked lists on the same users: top-k agreement and a paired
//!   bootstrap of the difference.
//! - [`text`]: the explanation task's BLEU and ROUGE (no caller outside the tests yet).

pub mod comparison;
#[cfg(test)]
mod fixture;
pub mod ranking;
pub mod text;

pub use comparison::*;
pub use ranking::*;
pub use text::*;
