//! The real Beauty data the tests read, and small sequences built by hand.

use super::{UserSequence, parse_sequential_data};
use crate::error::Result;

pub const BEAUTY_SEQUENTIAL: &str = include_str!("../../../data/amazon/beauty/sequential_data.txt");
pub const BEAUTY_DATAMAPS: &str = include_str!("../../../data/amazon/beauty/datamaps.json");
pub const BEAUTY_TITLES: &str = include_str!("../../../data/amazon/beauty/item_short_titles.txt");
pub const BEAUTY_USERS: usize = 22_363;

pub fn beauty() -> Vec<UserSequence> {
    parse_sequential_data(BEAUTY_SEQUENTIAL).expect("the Beauty data parses")
}

pub fn sequence(user: u32, items: &[u32]) -> UserSequence {
    UserSequence::new(user, items.to_vec())
}

pub fn error_text<T: std::fmt::Debug>(result: Result<T>) -> String {
    result.expect_err("an error").to_string()
}
