//! The temporal split: "how would it have done last month". Everything before a cutoff time
//! trains; each user's first purchase at or after it is that user's test target.
//!
//! The split is expressed in the leave-one-out shape the rest of the project reads (the last two
//! items of an evaluated user are its validation and test targets), so training, evaluation and
//! the baselines need no second code path:
//! - a user with at least two purchases before the cutoff and one after it keeps the purchases
//!   before the cutoff plus the first one after it: test = that first purchase after the cutoff
//!   (history: everything before the cutoff), validation = the last purchase before the cutoff
//!   (leave-one-out inside the training period, so choosing on it never reads the test period);
//! - a user with purchases before the cutoff but none after it (or only one before it) trains on
//!   all of them and is not evaluated ([`UserSequence::evaluated`] is `false`);
//! - a user whose purchases all come after the cutoff is dropped (nothing to condition on);
//! - purchases after a user's test target are dropped (the test asks for the next purchase only).

use serde::{Deserialize, Serialize};

use crate::data::UserSequence;
use crate::error::{Result, Vip5Error};

/// Seconds in a day, for `--test-days`.
pub const DAY_SECONDS: i64 = 86_400;

/// What a temporal split kept, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporalSummary {
    /// The cutoff (Unix seconds): purchases at or after it are the test period.
    pub cutoff: i64,
    /// Users with a validation and a test target.
    pub evaluated_users: usize,
    /// Users who only train: no purchase after the cutoff.
    pub training_only_users: usize,
    /// Users with a purchase after the cutoff but fewer than two before it: they train on the one
    /// they have and are not evaluated.
    pub too_little_history: usize,
    /// Users whose every purchase is after the cutoff (dropped).
    pub only_after_cutoff: usize,
    /// Purchases after a user's test target (dropped).
    pub later_purchases_dropped: usize,
}

/// The cutoff that holds out the last `days` days: the newest timestamp minus `days` days.
pub fn cutoff_for_last_days(timestamps: &[Vec<i64>], days: u32) -> Result<i64> {
    let newest = timestamps
        .iter()
        .flatten()
        .copied()
        .max()
        .ok_or_else(|| Vip5Error::Input("no timestamps to hold the last days out of".into()))?;
    Ok(newest - i64::from(days) * DAY_SECONDS)
}

/// Splits `sequences` at `cutoff`; `timestamps[u][j]` is the time of `sequences[u].items[j]`
/// (each user's items in time order, as [`crate::data::shop::parse_interactions`] gives them).
pub fn temporal_split(
    sequences: &[UserSequence],
    timestamps: &[Vec<i64>],
    cutoff: i64,
) -> Result<(Vec<UserSequence>, TemporalSummary)> {
    if sequences.len() != timestamps.len() {
        return Err(Vip5Error::Input(format!(
            "{} users but {} timestamp lists",
            sequences.len(),
            timestamps.len()
        )));
    }
    let mut summary = TemporalSummary { cutoff, ..TemporalSummary::default() };
    let mut out = Vec::with_capacity(sequences.len());
    for (sequence, times) in sequences.iter().zip(timestamps) {
        if sequence.items.len() != times.len() {
            return Err(Vip5Error::Input(format!(
                "user {}: {} items but {} timestamps",
                sequence.user,
                sequence.items.len(),
                times.len()
            )));
        }
        if times.windows(2).any(|w| w[0] > w[1]) {
            return Err(Vip5Error::Input(format!(
                "user {}: the purchases are not in time order",
                sequence.user
            )));
        }
        let before = times.partition_point(|&t| t < cutoff);
        let after = sequence.items.len() - before;
        let items = &sequence.items;
        match (before, after) {
            (0, _) => summary.only_after_cutoff += 1,
            (b, 0) => {
                summary.training_only_users += 1;
                out.push(UserSequence {
                    user: sequence.user,
                    items: items[..b].to_vec(),
                    evaluated: false,
                });
            }
            (1, _) => {
                summary.too_little_history += 1;
                out.push(UserSequence {
                    user: sequence.user,
                    items: items[..1].to_vec(),
                    evaluated: false,
                });
            }
            (b, a) => {
                summary.evaluated_users += 1;
                summary.later_purchases_dropped += a - 1;
                out.push(UserSequence::new(sequence.user, items[..=b].to_vec()));
            }
        }
    }
    if summary.evaluated_users == 0 {
        return Err(Vip5Error::Input(format!(
            "no user has two purchases before the cutoff ({cutoff}) and one after it: nothing \
             to test"
        )));
    }
    Ok((out, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Split, split_example, training_items};

    #[test]
    fn each_kind_of_user_lands_where_the_module_says() {
        let seqs = vec![
            UserSequence::new(1, vec![10, 11, 12, 13, 14]),
            UserSequence::new(2, vec![20, 21]),
            UserSequence::new(3, vec![30, 31]),
            UserSequence::new(4, vec![40]),
        ];
        let times = vec![vec![1, 2, 3, 10, 11], vec![1, 2], vec![1, 10], vec![12]];
        let (out, summary) = temporal_split(&seqs, &times, 10).unwrap();
        assert_eq!(
            summary,
            TemporalSummary {
                cutoff: 10,
                evaluated_users: 1,
                training_only_users: 1,
                too_little_history: 1,
                only_after_cutoff: 1,
                later_purchases_dropped: 1,
            }
        );
        // User 1: trains on 10, 11; validation 12 (last before the cutoff); test 13 (first after).
        assert_eq!(out[0].items, [10, 11, 12, 13]);
        assert!(out[0].evaluated);
        assert_eq!(training_items(&out[0]), [10, 11]);
        let val = split_example(&out[0], Split::Validation).unwrap();
        assert_eq!((val.history, val.target), (&[10, 11][..], 12));
        let test = split_example(&out[0], Split::Test).unwrap();
        assert_eq!((test.history, test.target), (&[10, 11, 12][..], 13));
        // User 2: no purchase after the cutoff: all of it trains, never evaluated.
        assert_eq!(training_items(&out[1]), [20, 21]);
        assert!(split_example(&out[1], Split::Test).is_err());
        // User 3: one purchase before: it trains, no evaluation. User 4: dropped.
        assert_eq!(training_items(&out[2]), [30]);
        assert_eq!(out.len(), 3);
        // Nothing at or after the cutoff trains.
        for (s, t) in out.iter().zip([&times[0], &times[1], &times[2]]) {
            assert!(t[..training_items(s).len()].iter().all(|&x| x < 10));
        }
    }

    #[test]
    fn last_days_and_bad_input() {
        let times = vec![vec![0, 5 * DAY_SECONDS], vec![40 * DAY_SECONDS]];
        assert_eq!(cutoff_for_last_days(&times, 30).unwrap(), 10 * DAY_SECONDS);
        assert!(cutoff_for_last_days(&[], 30).is_err());
        let seqs = vec![UserSequence::new(1, vec![1, 2, 3])];
        assert!(temporal_split(&seqs, &[vec![1, 2]], 2).is_err(), "lengths differ");
        assert!(temporal_split(&seqs, &[vec![3, 2, 1]], 2).is_err(), "not in time order");
        let err = temporal_split(&seqs, &[vec![1, 2, 3]], 100).unwrap_err().to_string();
        assert!(err.contains("nothing to test"), "{err}");
    }
}
