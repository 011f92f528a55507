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

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{Result, Vip5Error};
use crate::metrics::{RankingMetrics, ScoredList, scores_from_ranking};

pub mod counts;
pub mod item_factors;
pub mod shop;
pub mod temporal;

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

/// Parses `sequential_data.txt`: one line per user, `user_id item_id item_id ...` in time order,
/// ids positive decimal integers separated by whitespace.
///
/// Users keep the order of the lines. A line without items, a token that is not a positive `u32`,
/// an empty line or a user given twice is an error naming the (1-based) line number. A final
/// newline, `\r\n` line endings and a leading byte-order mark are accepted.
pub fn parse_sequential_data(text: &str) -> Result<Vec<UserSequence>> {
    let text = without_bom(text);
    let mut sequences = Vec::new();
    let mut line_of_user: HashMap<u32, usize> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let mut tokens = line.split_whitespace();
        let user_token =
            tokens.next().ok_or_else(|| line_error(line_number, "the line is empty".into()))?;
        let user = parse_id(user_token, line_number, "user")?;
        let items = tokens
            .map(|token| parse_id(token, line_number, "item"))
            .collect::<Result<Vec<u32>>>()?;
        if items.is_empty() {
            return Err(line_error(line_number, format!("user {user} has no items")));
        }
        if let Some(first_line) = line_of_user.insert(user, line_number) {
            return Err(line_error(
                line_number,
                format!("user {user} was already given on line {first_line}"),
            ));
        }
        sequences.push(UserSequence::new(user, items));
    }
    Ok(sequences)
}

/// The text after a UTF-8 byte-order mark, as editors and spreadsheet exports write one.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn parse_id(token: &str, line_number: usize, what: &str) -> Result<u32> {
    match token.parse::<u32>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(line_error(
            line_number,
            format!("`{token}` is not a valid {what} id (a positive integer below 2^32)"),
        )),
    }
}

fn line_error(line_number: usize, message: String) -> Vip5Error {
    Vip5Error::Input(format!("sequential data, line {line_number}: {message}"))
}

/// Sequences numbered from raw ids, with the maps both ways.
#[derive(Debug, Clone)]
pub struct RemappedSequences {
    pub sequences: Vec<UserSequence>,
    /// The raw reviewer id of user `id` is at index `id - 1`.
    pub user_names: Vec<String>,
    /// The raw item id (ASIN) of item `id` is at index `id - 1`.
    pub item_names: Vec<String>,
    user_ids: HashMap<String, u32>,
    item_ids: HashMap<String, u32>,
}

impl RemappedSequences {
    /// The number given to a raw reviewer id.
    pub fn user_id(&self, raw: &str) -> Option<u32> {
        self.user_ids.get(raw).copied()
    }

    /// The number given to a raw item id.
    pub fn item_id(&self, raw: &str) -> Option<u32> {
        self.item_ids.get(raw).copied()
    }

    /// The raw reviewer id of user `id`.
    pub fn user_name(&self, id: u32) -> Option<&str> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.user_names.get(index).map(String::as_str)
    }

    /// The raw item id of item `id`.
    pub fn item_name(&self, id: u32) -> Option<&str> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.item_names.get(index).map(String::as_str)
    }
}

/// Parses the raw layout, one line per user: the reviewer id, then that user's item ids (ASINs)
/// in time order, all separated by whitespace, and numbers them as P5's preprocessing does
/// (docs/vip5.md §3.2 step 4) for items: items get 1..=I in order of first appearance while walking
/// the users' sequences.
///
/// Users get 1..=U in the order of the lines. (P5 first shuffled the user list with its seeded
/// Python RNG; to reproduce its numbering, pass the lines in that shuffled order — for the
/// published data, in the order of its user ids.) Empty lines, users without items and repeated
/// reviewer ids are errors naming the line number; a leading byte-order mark is skipped.
pub fn parse_raw_sequences(text: &str) -> Result<RemappedSequences> {
    let text = without_bom(text);
    let mut remapped = RemappedSequences {
        sequences: Vec::new(),
        user_names: Vec::new(),
        item_names: Vec::new(),
        user_ids: HashMap::new(),
        item_ids: HashMap::new(),
    };
    let mut line_of_user: HashMap<&str, usize> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let mut tokens = line.split_whitespace();
        let reviewer =
            tokens.next().ok_or_else(|| line_error(line_number, "the line is empty".into()))?;
        if let Some(first_line) = line_of_user.insert(reviewer, line_number) {
            return Err(line_error(
                line_number,
                format!("reviewer `{reviewer}` was already given on line {first_line}"),
            ));
        }
        let mut items = Vec::new();
        for raw_item in tokens {
            let id = match remapped.item_ids.get(raw_item) {
                Some(&id) => id,
                None => {
                    let id = next_id(remapped.item_names.len(), line_number)?;
                    remapped.item_ids.insert(raw_item.to_owned(), id);
                    remapped.item_names.push(raw_item.to_owned());
                    id
                }
            };
            items.push(id);
        }
        if items.is_empty() {
            return Err(line_error(line_number, format!("reviewer `{reviewer}` has no items")));
        }
        let user = next_id(remapped.user_names.len(), line_number)?;
        remapped.user_ids.insert(reviewer.to_owned(), user);
        remapped.user_names.push(reviewer.to_owned());
        remapped.sequences.push(UserSequence::new(user, items));
    }
    Ok(remapped)
}

/// The next 1-based id after `assigned` ids.
fn next_id(assigned: usize, line_number: usize) -> Result<u32> {
    u32::try_from(assigned + 1)
        .map_err(|_| line_error(line_number, "more than u32::MAX distinct ids".into()))
}

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

// ---------------------------------------------------------------------------------------------
// Leave-one-out splits

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

// ---------------------------------------------------------------------------------------------
// Item re-indexing

/// A permutation of the item ids 1..=I.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPermutation {
    /// `new_of_old[old]` is the new id; index 0 is unused (0).
    new_of_old: Vec<u32>,
    /// `old_of_new[new]` is the old id; index 0 is unused (0).
    old_of_new: Vec<u32>,
}

impl ItemPermutation {
    /// A uniformly random permutation of 1..=`num_items` fixed by `seed`.
    ///
    /// The stream is that of `rand` 0.9's `StdRng`; another `rand` version may give another
    /// permutation for the same seed.
    pub fn random(num_items: u32, seed: u64) -> Self {
        let mut new_ids: Vec<u32> = (1..=num_items).collect();
        new_ids.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut new_of_old = vec![0u32; new_ids.len() + 1];
        let mut old_of_new = vec![0u32; new_ids.len() + 1];
        for (old, &new) in (1u32..).zip(&new_ids) {
            new_of_old[old as usize] = new;
            old_of_new[new as usize] = old;
        }
        Self { new_of_old, old_of_new }
    }

    /// A numbering learned from the training parts of the sequences only (no validation or test
    /// item position is looked at): items are laid out along greedy chains of the successor graph,
    /// so an item's most frequent next purchase tends to get the next id. Each chain starts at the
    /// most bought item not yet placed and follows the most frequent unplaced successor (ties by
    /// the smaller old id); items never bought in a training part come last, by old id.
    ///
    /// This is a collaborative item tokenization in the sense of Hua et al. 2023 ("How to index
    /// item IDs"): ids that share T5 word pieces are items that follow one another in training
    /// purchases. Unlike P5's first-appearance numbering over whole sequences, it cannot encode a
    /// held-out target, because held-out positions never enter the graph.
    pub fn successor_chains(sequences: &[UserSequence]) -> Self {
        let num_items = sequences.iter().flat_map(|s| s.items.iter().copied()).max().unwrap_or(0);
        let n = num_items as usize;
        let mut bought = vec![0u32; n + 1];
        let mut successors: Vec<HashMap<u32, u32>> = vec![HashMap::new(); n + 1];
        for sequence in sequences {
            let items = training_items(sequence);
            for &item in items {
                bought[item as usize] += 1;
            }
            for pair in items.windows(2) {
                if pair[0] != pair[1] {
                    *successors[pair[0] as usize].entry(pair[1]).or_insert(0) += 1;
                }
            }
        }
        // Successors sorted once: most frequent first, then smaller id.
        let successors: Vec<Vec<u32>> = successors
            .into_iter()
            .map(|m| {
                let mut v: Vec<(u32, u32)> = m.into_iter().collect();
                v.sort_unstable_by_key(|&(item, count)| (std::cmp::Reverse(count), item));
                v.into_iter().map(|(item, _)| item).collect()
            })
            .collect();
        let mut by_popularity: Vec<u32> =
            (1..=num_items).filter(|&i| bought[i as usize] > 0).collect();
        by_popularity.sort_unstable_by_key(|&i| (std::cmp::Reverse(bought[i as usize]), i));
        let mut placed = vec![false; n + 1];
        let mut order: Vec<u32> = Vec::with_capacity(n);
        let mut next_start = 0;
        loop {
            while next_start < by_popularity.len() && placed[by_popularity[next_start] as usize] {
                next_start += 1;
            }
            let Some(&start) = by_popularity.get(next_start) else { break };
            let mut current = start;
            loop {
                placed[current as usize] = true;
                order.push(current);
                match successors[current as usize].iter().find(|&&s| !placed[s as usize]) {
                    Some(&next) => current = next,
                    None => break,
                }
            }
        }
        order.extend((1..=num_items).filter(|&i| !placed[i as usize]));
        let mut new_of_old = vec![0u32; n + 1];
        let mut old_of_new = vec![0u32; n + 1];
        for (new, &old) in (1u32..).zip(&order) {
            new_of_old[old as usize] = new;
            old_of_new[new as usize] = old;
        }
        Self { new_of_old, old_of_new }
    }

    /// I, the largest id the permutation maps.
    pub fn num_items(&self) -> u32 {
        // The table holds I + 1 entries and I fits a u32 by construction.
        (self.new_of_old.len() - 1) as u32
    }

    /// The new id of an old one (`None` outside 1..=I).
    pub fn new_id(&self, old: u32) -> Option<u32> {
        self.new_of_old.get(old as usize).copied().filter(|&id| id != 0)
    }

    /// The old id of a new one (`None` outside 1..=I).
    pub fn old_id(&self, new: u32) -> Option<u32> {
        self.old_of_new.get(new as usize).copied().filter(|&id| id != 0)
    }

    /// The sequences with every item renumbered; users keep their ids and order.
    pub fn apply(&self, sequences: &[UserSequence]) -> Result<Vec<UserSequence>> {
        sequences
            .iter()
            .map(|sequence| {
                let items = sequence
                    .items
                    .iter()
                    .map(|&old| {
                        self.new_id(old).ok_or_else(|| {
                            Vip5Error::Input(format!(
                                "item {old} of user {} is outside the permutation's 1..={}",
                                sequence.user,
                                self.num_items()
                            ))
                        })
                    })
                    .collect::<Result<Vec<u32>>>()?;
                Ok(UserSequence { items, ..sequence.clone() })
            })
            .collect()
    }
}

/// Renumbers the items of all sequences with a random permutation of 1..=I fixed by `seed`,
/// where I is the largest item id, and returns the new sequences with the permutation.
///
/// The numbering then carries no information about purchase order, which removes the
/// "max(history)+1" leak. Items must have ids of at least 1.
pub fn reindex_items(
    sequences: &[UserSequence],
    seed: u64,
) -> Result<(Vec<UserSequence>, ItemPermutation)> {
    let max_item_id = sequences.iter().flat_map(|s| s.items.iter().copied()).max().unwrap_or(0);
    let permutation = ItemPermutation::random(max_item_id, seed);
    let reindexed = permutation.apply(sequences)?;
    Ok((reindexed, permutation))
}

// ---------------------------------------------------------------------------------------------
// Baselines

/// Recommends the items bought most often in the training parts of all sequences.
#[derive(Debug, Clone)]
pub struct PopularityBaseline {
    /// Every item of the data set, most bought first, ties by ascending id.
    ranked_items: Vec<u32>,
    /// Training purchases per item.
    counts: HashMap<u32, usize>,
}

impl PopularityBaseline {
    /// Counts purchases over [`training_items`] of every sequence, so that no validation or test
    /// target is counted. Items seen only as targets stay in the ranking with a count of 0.
    pub fn fit(sequences: &[UserSequence]) -> Self {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for sequence in sequences {
            for &item in &sequence.items {
                counts.entry(item).or_insert(0);
            }
            for &item in training_items(sequence) {
                *counts.entry(item).or_insert(0) += 1;
            }
        }
        let mut ranked_items: Vec<u32> = counts.keys().copied().collect();
        ranked_items.sort_unstable_by_key(|item| (std::cmp::Reverse(counts[item]), *item));
        Self { ranked_items, counts }
    }

    /// Recent popularity: counts only each user's newest training purchase (the item just before
    /// the validation item), a non-personal prior of what people buy next, which is stronger
    /// than all-time popularity on Beauty. Same ranking rules as [`Self::fit`].
    pub fn fit_recent(sequences: &[UserSequence]) -> Self {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for sequence in sequences {
            for &item in &sequence.items {
                counts.entry(item).or_insert(0);
            }
            if let Some(&item) = training_items(sequence).last() {
                *counts.entry(item).or_insert(0) += 1;
            }
        }
        let mut ranked_items: Vec<u32> = counts.keys().copied().collect();
        ranked_items.sort_unstable_by_key(|item| (std::cmp::Reverse(counts[item]), *item));
        Self { ranked_items, counts }
    }

    /// The `k` most popular items that are not in `history`, most popular first.
    pub fn recommend(&self, history: &[u32], k: usize) -> Vec<u32> {
        let seen: HashSet<u32> = history.iter().copied().collect();
        self.ranked_items.iter().copied().filter(|item| !seen.contains(item)).take(k).collect()
    }

    /// How often `item` was bought in the training parts.
    pub fn count(&self, item: u32) -> usize {
        self.counts.get(&item).copied().unwrap_or(0)
    }

    /// All items, most popular first (ties by ascending id).
    pub fn ranked_items(&self) -> &[u32] {
        &self.ranked_items
    }
}

/// The leak baseline: guess the item numbered right after the largest id in the history
/// (`None` for an empty history or a maximum of `u32::MAX`).
pub fn max_plus_one_guess(history: &[u32]) -> Option<u32> {
    history.iter().copied().max()?.checked_add(1)
}

/// Evaluates ranked recommendation lists (best first) against each example's target: the item at
/// rank j gets score -(j+1) and [`RankingMetrics::evaluate`] averages over the examples. `seed`
/// drives the tie-breaking shuffle, which never changes the result here since the scores are
/// distinct.
pub fn evaluate_recommendations<F>(
    examples: &[SplitExample<'_>],
    mut recommend: F,
    seed: u64,
) -> Result<RankingMetrics>
where
    F: FnMut(&SplitExample<'_>) -> Vec<u32>,
{
    let scored: Vec<(ScoredList, [u32; 1])> = examples
        .iter()
        .map(|example| (scores_from_ranking(&recommend(example)), [example.target]))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    RankingMetrics::evaluate(scored.iter().map(|(s, t)| (s.as_slice(), t.as_slice())), &mut rng)
}

/// The popularity baseline (fitted on the training parts of `sequences`) on one split: the 10
/// most popular items outside each user's history.
pub fn evaluate_popularity(sequences: &[UserSequence], split: Split) -> Result<RankingMetrics> {
    let baseline = PopularityBaseline::fit(sequences);
    let examples = split_examples(sequences, split)?;
    evaluate_recommendations(&examples, |example| baseline.recommend(example.history, 10), 0)
}

/// The "max(history)+1" baseline on one split: a single guess per user, so HR@k = NDCG@k for
/// every k.
pub fn evaluate_max_plus_one(sequences: &[UserSequence], split: Split) -> Result<RankingMetrics> {
    let examples = split_examples(sequences, split)?;
    evaluate_recommendations(
        &examples,
        |example| max_plus_one_guess(example.history).into_iter().collect(),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAUTY_SEQUENTIAL: &str = include_str!("../../../data/amazon/beauty/sequential_data.txt");
    const BEAUTY_DATAMAPS: &str = include_str!("../../../data/amazon/beauty/datamaps.json");
    const BEAUTY_TITLES: &str = include_str!("../../../data/amazon/beauty/item_short_titles.txt");
    const BEAUTY_USERS: usize = 22_363;

    fn beauty() -> Vec<UserSequence> {
        parse_sequential_data(BEAUTY_SEQUENTIAL).expect("the Beauty data parses")
    }

    fn sequence(user: u32, items: &[u32]) -> UserSequence {
        UserSequence::new(user, items.to_vec())
    }

    #[test]
    fn successor_chains_follow_training_successors_only() {
        // Training parts: [1,2,3], [2,3,4], [5,3,4]; the held-out 9,8 / 7,6 / 1,2 never count.
        // Bought: 3 x3, 2 x2, 4 x2, 1 x1, 5 x1. Chains: 3->4 (3's only successor), then 2 (its
        // successor 3 is placed), 1, 5; then 6..9, never bought in a training part.
        let data = [
            sequence(1, &[1, 2, 3, 9, 8]),
            sequence(2, &[2, 3, 4, 7, 6]),
            sequence(3, &[5, 3, 4, 1, 2]),
        ];
        let p = ItemPermutation::successor_chains(&data);
        let order: Vec<u32> = (1..=9).map(|new| p.old_id(new).expect("a bijection")).collect();
        assert_eq!(order, vec![3, 4, 2, 1, 5, 6, 7, 8, 9]);
        // Changing held-out items changes nothing but where they land among the unbought.
        let changed = [
            sequence(1, &[1, 2, 3, 4, 5]),
            sequence(2, &[2, 3, 4, 1, 9]),
            sequence(3, &[5, 3, 4, 2, 1]),
        ];
        let q = ItemPermutation::successor_chains(&changed);
        assert_eq!(
            (1..=5).map(|n| q.old_id(n).expect("mapped")).collect::<Vec<_>>(),
            vec![3, 4, 2, 1, 5]
        );
        assert_eq!(q.num_items(), 9);
    }

    fn error_text<T: std::fmt::Debug>(result: Result<T>) -> String {
        result.expect_err("an error").to_string()
    }

    // --- parsing -------------------------------------------------------------------------------

    #[test]
    fn parses_sequential_text() {
        let parsed = parse_sequential_data("1 5 3 9\r\n2 7 7\n3 4\n").unwrap();
        assert_eq!(parsed, vec![sequence(1, &[5, 3, 9]), sequence(2, &[7, 7]), sequence(3, &[4])]);
        assert!(parse_sequential_data("").unwrap().is_empty());
    }

    #[test]
    fn parse_errors_name_the_line() {
        let duplicate = error_text(parse_sequential_data("1 2 3\n2 4\n1 5\n"));
        assert!(duplicate.contains("line 3") && duplicate.contains("line 1"), "{duplicate}");
        let no_items = error_text(parse_sequential_data("1 2\n2\n"));
        assert!(no_items.contains("line 2") && no_items.contains("no items"), "{no_items}");
        let bad_token = error_text(parse_sequential_data("1 2\n2 3\n3 x7\n"));
        assert!(bad_token.contains("line 3") && bad_token.contains("`x7`"), "{bad_token}");
        let empty_line = error_text(parse_sequential_data("1 2\n\n3 4\n"));
        assert!(empty_line.contains("line 2"), "{empty_line}");
        assert!(error_text(parse_sequential_data("1 0\n")).contains("line 1"));
        assert!(error_text(parse_sequential_data("1 -3\n")).contains("line 1"));
        assert!(error_text(parse_sequential_data("1 4294967296\n")).contains("line 1"));
    }

    #[test]
    fn raw_layout_numbers_items_by_first_appearance() {
        let remapped = parse_raw_sequences("carol B9 A1 B9\nalice A1 C3\nbob D4 B9\n").unwrap();
        // Users in line order; items B9=1, A1=2 (line 1), C3=3 (line 2), D4=4 (line 3).
        assert_eq!(
            remapped.sequences,
            vec![sequence(1, &[1, 2, 1]), sequence(2, &[2, 3]), sequence(3, &[4, 1])]
        );
        assert_eq!(remapped.user_names, vec!["carol", "alice", "bob"]);
        assert_eq!(remapped.item_names, vec!["B9", "A1", "C3", "D4"]);
        assert_eq!(remapped.user_id("bob"), Some(3));
        assert_eq!(remapped.item_id("C3"), Some(3));
        assert_eq!(remapped.item_id("Z0"), None);
        assert_eq!(remapped.item_name(4), Some("D4"));
        assert_eq!(remapped.item_name(0), None);
        assert_eq!(remapped.user_name(1), Some("carol"));
        let duplicate = error_text(parse_raw_sequences("a X\nb Y\na Z\n"));
        assert!(duplicate.contains("line 3") && duplicate.contains("line 1"), "{duplicate}");
        assert!(error_text(parse_raw_sequences("a X\nb\n")).contains("line 2"));
    }

    /// Walking Beauty's users in id order and numbering ASINs by first appearance gives back the
    /// published item ids exactly: the numbering of docs/vip5.md §3.2 step 4, and the reason for
    /// the leak.
    #[test]
    fn raw_layout_reproduces_beauty_item_ids() {
        let sequences = beauty();
        let maps: serde_json::Value = serde_json::from_str(BEAUTY_DATAMAPS).unwrap();
        let name = |map: &str, id: u32| -> String {
            maps[map][id.to_string()].as_str().expect("every id has a raw name").to_owned()
        };
        let raw_text: String = sequences
            .iter()
            .map(|s| {
                let items: Vec<String> = s.items.iter().map(|&i| name("id2item", i)).collect();
                format!("{} {}\n", name("id2user", s.user), items.join(" "))
            })
            .collect();
        let remapped = parse_raw_sequences(&raw_text).unwrap();
        assert_eq!(remapped.sequences, sequences);
        assert_eq!(remapped.item_names.len(), 12_101);
        assert_eq!(remapped.item_id("B004756YJA"), Some(1));
        // Every ASIN of the title list is an item of the data.
        let titled = BEAUTY_TITLES.lines().filter_map(|line| line.split(' ').next());
        assert_eq!(titled.filter(|asin| remapped.item_id(asin).is_some()).count(), 12_101);
    }

    // --- statistics and splits -----------------------------------------------------------------

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

    // --- re-indexing ---------------------------------------------------------------------------

    #[test]
    fn permutation_is_a_seeded_bijection() {
        let permutation = ItemPermutation::random(1000, 2022);
        assert_eq!(permutation.num_items(), 1000);
        let images: HashSet<u32> = (1..=1000).filter_map(|old| permutation.new_id(old)).collect();
        assert_eq!(images, (1..=1000).collect::<HashSet<u32>>());
        assert!(
            (1..=1000).all(|old| permutation.old_id(permutation.new_id(old).unwrap()) == Some(old))
        );
        assert_eq!(permutation.new_id(0), None);
        assert_eq!(permutation.new_id(1001), None);
        assert_eq!(ItemPermutation::random(1000, 2022), permutation);
        assert_ne!(ItemPermutation::random(1000, 2023), permutation);
        // Not the identity: almost no fixed points in a random permutation of 1000.
        let fixed = (1..=1000).filter(|&old| permutation.new_id(old) == Some(old)).count();
        assert!(fixed < 10, "{fixed} fixed points");
    }

    #[test]
    fn reindexing_renames_items_consistently() {
        let sequences = vec![sequence(1, &[1, 2, 3]), sequence(2, &[3, 4, 4])];
        let (reindexed, permutation) = reindex_items(&sequences, 5).unwrap();
        assert_eq!(permutation.num_items(), 4);
        for (old, new) in sequences.iter().zip(&reindexed) {
            assert_eq!(new.user, old.user);
            let mapped: Vec<u32> =
                old.items.iter().map(|&i| permutation.new_id(i).unwrap()).collect();
            assert_eq!(new.items, mapped);
        }
        // The repeated item 4 stays one item; item 3 is shared by both users.
        assert_eq!(reindexed[1].items[1], reindexed[1].items[2]);
        assert_eq!(reindexed[0].items[2], reindexed[1].items[0]);
        assert!(error_text(permutation.apply(&[sequence(3, &[5])])).contains("item 5"));
    }

    // --- baselines -----------------------------------------------------------------------------

    #[test]
    fn baselines_by_hand() {
        // Training parts (all but the last two items): [1, 2, 3], [3, 2], [3], []:
        // counts 3 -> 3, 2 -> 2, 1 -> 1; items 4, 5, 6, 7, 8 only as targets, count 0.
        let sequences = vec![
            sequence(1, &[1, 2, 3, 4, 5]),
            sequence(2, &[3, 2, 6, 4]),
            sequence(3, &[3, 7, 8]),
            sequence(4, &[5, 6]),
        ];
        let baseline = PopularityBaseline::fit(&sequences);
        assert_eq!(baseline.ranked_items(), &[3, 2, 1, 4, 5, 6, 7, 8]);
        assert_eq!((baseline.count(3), baseline.count(5), baseline.count(99)), (3, 0, 0));
        assert_eq!(baseline.recommend(&[3, 1], 3), vec![2, 4, 5]);
        // Recent popularity counts only each user's newest training item: 3 (user 1), 2
        // (user 2), 3 (user 3); user 4 has none. 3 x2, 2 x1, then the zeros by id.
        let recent = PopularityBaseline::fit_recent(&sequences);
        assert_eq!(recent.ranked_items(), &[3, 2, 1, 4, 5, 6, 7, 8]);
        assert_eq!((recent.count(3), recent.count(2), recent.count(1)), (2, 1, 0));
        let recent = PopularityBaseline::fit_recent(&[
            sequence(1, &[1, 2, 9, 9]),
            sequence(2, &[4, 2, 8, 8]),
        ]);
        assert_eq!(
            recent.ranked_items()[..2],
            [2, 1],
            "2 is both users' newest training item, 1 and 4 count 0"
        );
        assert_eq!(max_plus_one_guess(&[4, 9, 2]), Some(10));
        assert_eq!(max_plus_one_guess(&[]), None);
        assert_eq!(max_plus_one_guess(&[u32::MAX]), None);

        // Test split: user 1 history [1,2,3,4] -> [5,6,7,8], target 5 at rank 1;
        // user 2 history [3,2,6] -> [1,4,5,7,8], target 4 at rank 2; user 3 history [3,7] ->
        // [2,1,4,5,6,8], target 8 at rank 6; user 4 history [5] -> [3,2,1,4,6,...], target 6 at
        // rank 5. HR@1 = 1/4, HR@5 = 3/4, HR@10 = 4/4;
        // NDCG@5 = (1 + 1/log2 3 + 1/log2 6) / 4, NDCG@10 = NDCG@5 + (1/log2 7) / 4.
        let metrics = evaluate_popularity(&sequences, Split::Test).unwrap();
        assert_eq!((metrics.hr1, metrics.hr5, metrics.hr10, metrics.users), (0.25, 0.75, 1.0, 4));
        let ndcg5 = (1.0 + 1.0 / 3f64.log2() + 1.0 / 6f64.log2()) / 4.0;
        assert!((metrics.ndcg5 - ndcg5).abs() < 1e-12, "{metrics:?}");
        assert!((metrics.ndcg10 - (ndcg5 + 1.0 / 7f64.log2() / 4.0)).abs() < 1e-12, "{metrics:?}");

        // max+1 on the test split: guesses 5 (hit), 7, 8 (hit), 6 (hit): 3/4 at every k.
        let leak = evaluate_max_plus_one(&sequences, Split::Test).unwrap();
        assert_eq!(
            (leak.hr1, leak.hr5, leak.ndcg5, leak.hr10, leak.ndcg10),
            (0.75, 0.75, 0.75, 0.75, 0.75)
        );
    }

    fn rounded_4(value: f64) -> f64 {
        (value * 1e4).round() / 1e4
    }

    /// The leak of docs/vip5.md §3.2: 986 of 22,363 test targets (4.41 %) and 755 validation
    /// targets (3.38 %) are max(history)+1 (counted by a separate Python pass over the file).
    #[test]
    fn beauty_max_plus_one_leak() {
        let sequences = beauty();
        let test = evaluate_max_plus_one(&sequences, Split::Test).unwrap();
        let expected = 986.0 / BEAUTY_USERS as f64;
        for value in [test.hr1, test.hr5, test.ndcg5, test.hr10, test.ndcg10] {
            assert!((value - expected).abs() < 1e-12, "{value}");
            assert_eq!(rounded_4(value), 0.0441);
        }
        let validation = evaluate_max_plus_one(&sequences, Split::Validation).unwrap();
        assert!((validation.hr1 - 755.0 / BEAUTY_USERS as f64).abs() < 1e-12);

        // After a random re-indexing the guess is right about as often as any other item.
        let (reindexed, _) = reindex_items(&sequences, 2022).unwrap();
        let shuffled = evaluate_max_plus_one(&reindexed, Split::Test).unwrap();
        assert!(shuffled.hr1 < 0.002, "HR@1 = {} after re-indexing", shuffled.hr1);
        assert_eq!(dataset_stats(&reindexed), dataset_stats(&sequences));
    }

    /// Popularity on Beauty's test targets. Expected values from a separate Python pass: counts
    /// over each sequence minus its last two items, ranking by (count desc, id asc), top 10 outside
    /// the test history; hits at 1/5/10 = 18/167/258 users.
    #[test]
    fn beauty_popularity_baseline() {
        let sequences = beauty();
        let baseline = PopularityBaseline::fit(&sequences);
        assert_eq!(&baseline.ranked_items()[..4], &[301, 775, 790, 279]);
        assert_eq!((baseline.count(301), baseline.count(279)), (369, 298));
        let test = evaluate_popularity(&sequences, Split::Test).unwrap();
        let users = BEAUTY_USERS as f64;
        assert!((test.hr1 - 18.0 / users).abs() < 1e-12, "{test:?}");
        assert!((test.hr5 - 167.0 / users).abs() < 1e-12, "{test:?}");
        assert!((test.hr10 - 258.0 / users).abs() < 1e-12, "{test:?}");
        assert!((test.ndcg5 - 0.004144133945376372).abs() < 1e-9, "{test:?}");
        assert!((test.ndcg10 - 0.005456137287095746).abs() < 1e-9, "{test:?}");
        let validation = evaluate_popularity(&sequences, Split::Validation).unwrap();
        assert!((validation.hr1 - 44.0 / users).abs() < 1e-12, "{validation:?}");
        assert!((validation.hr5 - 204.0 / users).abs() < 1e-12, "{validation:?}");
        assert!((validation.hr10 - 366.0 / users).abs() < 1e-12, "{validation:?}");
        assert!((validation.ndcg5 - 0.005613538628016899).abs() < 1e-9, "{validation:?}");
        assert!((validation.ndcg10 - 0.007961707848286252).abs() < 1e-9, "{validation:?}");

        // Re-indexed copy (seed 2022): item names change, counts do not, so only ties between
        // equally popular items can reorder; the figures stay within a few users of the above.
        let (reindexed, permutation) = reindex_items(&sequences, 2022).unwrap();
        let reindexed_baseline = PopularityBaseline::fit(&reindexed);
        assert_eq!(reindexed_baseline.count(permutation.new_id(301).unwrap()), 369);
        let shuffled = evaluate_popularity(&reindexed, Split::Test).unwrap();
        println!("Beauty popularity, test, original ids: {test:?}");
        println!("Beauty popularity, test, re-indexed (seed 2022): {shuffled:?}");
        for (original, reindexed) in [
            (test.hr5, shuffled.hr5),
            (test.ndcg5, shuffled.ndcg5),
            (test.hr10, shuffled.hr10),
            (test.ndcg10, shuffled.ndcg10),
        ] {
            assert!((original - reindexed).abs() < 10.0 / users, "{original} vs {reindexed}");
        }
    }
}
