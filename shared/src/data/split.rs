//! Leave-one-out splits (docs/vip5.md §3.2): per user the last item is the test target, the
//! second-to-last the validation target, and the rest is for training; and a data set's counts.

use std::collections::HashSet;

use super::UserSequence;
use crate::error::{Result, Vip5Error};

/// Counts over a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetStats {
    pub users: usize,
    /// Distinct items.
    pub items: usize,
    /// Sum of the sequence lengths.
    pub interactions: usize,
    /// The largest item id (0 when there are no items).
    pub max_item_id: u32,
}

pub fn dataset_stats(sequences: &[UserSequence]) -> DatasetStats {
    let distinct: HashSet<u32> = sequences.iter().flat_map(|s| s.items.iter().copied()).collect();
    DatasetStats {
        users: sequences.len(),
        items: distinct.len(),
        interactions: sequences.iter().map(|s| s.items.len()).sum(),
        max_item_id: distinct.iter().copied().max().unwrap_or(0),
    }
}

/// Which part of a user's sequence a sample comes from (leave-one-out, docs/vip5.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Everything before the validation item; training windows are drawn from it
    /// ([`crate::prompt::sampling::sequential_window`]).
    Train,
    /// Target = the second-to-last item, history = the items before it.
    Validation,
    /// Target = the last item, history = all items before it (the validation item included).
    Test,
}

/// One (history, target) pair of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitExample<'a> {
    pub user: u32,
    pub history: &'a [u32],
    pub target: u32,
}

/// The items a user trains on: all but the validation and test items (the last two) of an
/// evaluated user, all of a training-only one.
pub fn training_items(sequence: &UserSequence) -> &[u32] {
    training_part(&sequence.items, sequence.evaluated)
}

/// [`training_items`] of a user's `items` given [`UserSequence::evaluated`]: the one rule for
/// what is held out, shared with the sampler's user records.
pub fn training_part(items: &[u32], evaluated: bool) -> &[u32] {
    let held_out = if evaluated { 2 } else { 0 };
    &items[..items.len().saturating_sub(held_out)]
}

/// The user's validation or test example. The history must not be empty, so a validation example
/// needs at least 3 items and a test example at least 2.
pub fn split_example(sequence: &UserSequence, split: Split) -> Result<SplitExample<'_>> {
    let held_out = match split {
        Split::Train => {
            return Err(Vip5Error::Input(
                "training samples are drawn as windows (sequential_window), not as one example"
                    .into(),
            ));
        }
        Split::Validation => 2,
        Split::Test => 1,
    };
    if !sequence.evaluated {
        return Err(Vip5Error::Input(format!(
            "user {} is not evaluated (temporal split: no purchase after the cutoff)",
            sequence.user
        )));
    }
    let length = sequence.items.len();
    if length < held_out + 1 {
        return Err(Vip5Error::Input(format!(
            "user {} has {length} items; a {split:?} example needs at least {}",
            sequence.user,
            held_out + 1
        )));
    }
    let target_index = length - held_out;
    Ok(SplitExample {
        user: sequence.user,
        history: &sequence.items[..target_index],
        target: sequence.items[target_index],
    })
}

/// [`split_example`] for every evaluated user, in order (training-only users have none).
pub fn split_examples(sequences: &[UserSequence], split: Split) -> Result<Vec<SplitExample<'_>>> {
    sequences.iter().filter(|s| s.evaluated).map(|s| split_example(s, split)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_data::*;

    #[test]
    fn beauty_statistics() {
        let sequences = beauty();
        let stats = dataset_stats(&sequences);
        assert_eq!(
            stats,
            DatasetStats {
                users: BEAUTY_USERS,
                items: 12_101,
                interactions: 198_502,
                max_item_id: 12_101
            }
        );
        // Users are 1..=U in order and every sequence has at least 5 items (5-core).
        assert!(sequences.iter().zip(1u32..).all(|(s, id)| s.user == id));
        assert_eq!(sequences.iter().map(|s| s.items.len()).min(), Some(5));
    }

    #[test]
    fn leave_one_out_by_hand() {
        let user = sequence(7, &[10, 11, 12, 13, 14]);
        assert_eq!(training_items(&user), &[10, 11, 12]);
        let validation = split_example(&user, Split::Validation).unwrap();
        assert_eq!(validation, SplitExample { user: 7, history: &[10, 11, 12], target: 13 });
        let test = split_example(&user, Split::Test).unwrap();
        assert_eq!(test, SplitExample { user: 7, history: &[10, 11, 12, 13], target: 14 });
        // Too short for a validation example, long enough for a test one.
        let short = sequence(8, &[1, 2]);
        assert!(error_text(split_example(&short, Split::Validation)).contains("user 8"));
        assert_eq!(split_example(&short, Split::Test).unwrap().target, 2);
        assert_eq!(training_items(&short), &[] as &[u32]);
        assert!(split_examples(&[user, short], Split::Validation).is_err());
    }
}
