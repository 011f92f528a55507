//! Reading interaction text already in memory: `sequential_data.txt` ([`parse_sequential_data`])
//! and the raw layout of reviewer ids and ASINs ([`parse_raw_sequences`]), numbered the way the
//! P5 preprocessing numbers items.

use std::collections::HashMap;

use super::UserSequence;
use crate::error::{Result, Vip5Error};

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
    pub(super) user_ids: HashMap<String, u32>,
    pub(super) item_ids: HashMap<String, u32>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_data::*;

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
}
