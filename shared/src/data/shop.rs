//! A shop's own exports, read into the numbered sequences the rest of the crate uses: an orders
//! (interactions) table and a product catalogue, each CSV or TSV with a header row.
//!
//! - Interactions: one row per purchase (or view), with a user, an item and a timestamp column
//!   (names chosen by the caller). Each user's rows are put in time order; rows with the same
//!   timestamp keep their order in the file (a stable sort: the stated tie-break). Repeat
//!   purchases of an item are kept or collapsed to the first one; then an iterative k-core filter
//!   drops users and items with too few interactions. Users are numbered in order of their first
//!   row, items in order of first appearance walking the users' sequences (as P5's preprocessing).
//! - Catalogue: `item_id,title[,category][,image]`.
//!
//! Malformed input is an error naming the file, the line and the column; rows that are valid but
//! not used are counted by reason in the summary.

use std::collections::{BTreeMap, HashMap};

use crate::data::{RemappedSequences, UserSequence};
use crate::error::{Result, Vip5Error};

/// CSV or TSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    Comma,
    Tab,
}

impl Delimiter {
    /// Tab for `.tsv` / `.tab` files, comma otherwise.
    pub fn for_file_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".tsv") || lower.ends_with(".tab") { Self::Tab } else { Self::Comma }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Comma => b',',
            Self::Tab => b'\t',
        }
    }
}

/// What to do with a user's second and later purchase of the same item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeats {
    /// Every purchase is a step of the sequence.
    Keep,
    /// Only the first purchase of each item counts (P5's data has no repeats).
    Collapse,
}

/// How to read an interactions table.
#[derive(Debug, Clone)]
pub struct InteractionOptions {
    pub delimiter: Delimiter,
    pub user_column: String,
    pub item_column: String,
    pub time_column: String,
    pub repeats: Repeats,
    /// k-core: users need at least this many interactions (after collapsing repeats).
    pub min_user_interactions: usize,
    /// k-core: items need at least this many interactions.
    pub min_item_interactions: usize,
}

impl Default for InteractionOptions {
    /// `user_id,item_id,timestamp`, repeats collapsed, the 5-core of the P5 Amazon data.
    fn default() -> Self {
        Self {
            delimiter: Delimiter::Comma,
            user_column: "user_id".into(),
            item_column: "item_id".into(),
            time_column: "timestamp".into(),
            repeats: Repeats::Collapse,
            min_user_interactions: 5,
            min_item_interactions: 5,
        }
    }
}

/// What reading an interactions table kept and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InteractionSummary {
    /// Data rows in the file (not counting the header and empty lines).
    pub rows: usize,
    /// Interactions in the final sequences.
    pub kept: usize,
    /// Rows or interactions left out, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Rounds the k-core filter needed to settle.
    pub k_core_rounds: usize,
}

impl InteractionSummary {
    fn skip(&mut self, reason: &str, n: usize) {
        if n > 0 {
            *self.skipped.entry(reason.to_string()).or_default() += n;
        }
    }
}

/// Sequences read from a shop's interactions, with each step's timestamp (Unix seconds).
#[derive(Debug, Clone)]
pub struct ShopInteractions {
    pub remapped: RemappedSequences,
    /// `timestamps[u][j]` is the time of `remapped.sequences[u].items[j]`.
    pub timestamps: Vec<Vec<i64>>,
    pub summary: InteractionSummary,
}

/// One row of a product catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    pub key: String,
    pub title: String,
    pub category: Option<String>,
    /// As written in the file (a path relative to the catalogue or to an images folder).
    pub image: Option<String>,
}

/// How to read a catalogue.
#[derive(Debug, Clone)]
pub struct CatalogOptions {
    pub delimiter: Delimiter,
    pub item_column: String,
    pub title_column: String,
    pub category_column: String,
    pub image_column: String,
}

impl Default for CatalogOptions {
    /// `item_id,title[,category][,image]`.
    fn default() -> Self {
        Self {
            delimiter: Delimiter::Comma,
            item_column: "item_id".into(),
            title_column: "title".into(),
            category_column: "category".into(),
            image_column: "image".into(),
        }
    }
}

fn input_error(message: String) -> Vip5Error {
    Vip5Error::Input(message)
}

/// The records of a table with a header, each with its 1-based line number. A leading BOM is
/// dropped; CRLF line ends, quoting (`"a, b"`, `""`) and empty lines are handled by the csv
/// reader; a row with the wrong number of fields is an error naming its line.
struct Table {
    header: Vec<String>,
    rows: Vec<(usize, csv::StringRecord)>,
}

fn read_table(text: &str, file: &str, delimiter: Delimiter) -> Result<Table> {
    let text = super::without_bom(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter.byte())
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            input_error(format!("{file}: cannot read the header row: {}", csv_message(&e)))
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(input_error(format!("{file}: the file is empty or has no header row")));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| input_error(format!("{file}: {}", csv_message(&e))))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        rows.push((line, record));
    }
    Ok(Table { header, rows })
}

/// The csv crate's error with the line in our words.
fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            format!("line {line}: {len} fields, but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            format!("line {line}: not valid UTF-8")
        }
        _ => e.to_string(),
    }
}

impl Table {
    fn column(&self, file: &str, name: &str, flag: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            input_error(format!(
                "{file}: no column `{name}` in the header (it has: {}); name it with {flag}",
                self.header.join(", ")
            ))
        })
    }

    fn optional_column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Reads an interactions table (see the module docs). `file` names the file in errors.
pub fn parse_interactions(
    text: &str,
    file: &str,
    options: &InteractionOptions,
) -> Result<ShopInteractions> {
    let table = read_table(text, file, options.delimiter)?;
    let user_col = table.column(file, &options.user_column, "--user-column")?;
    let item_col = table.column(file, &options.item_column, "--item-column")?;
    let time_col = table.column(file, &options.time_column, "--time-column")?;
    let mut summary = InteractionSummary { rows: table.rows.len(), ..Default::default() };

    // Rows per user, users in order of their first row.
    let mut user_index: HashMap<String, usize> = HashMap::new();
    let mut users: Vec<(String, Vec<(i64, String)>)> = Vec::new();
    let (mut empty_user, mut empty_item) = (0, 0);
    for (line, record) in &table.rows {
        let field = |col: usize| record.get(col).unwrap_or("").trim();
        let (user, item, time) = (field(user_col), field(item_col), field(time_col));
        if user.is_empty() {
            empty_user += 1;
            continue;
        }
        if item.is_empty() {
            empty_item += 1;
            continue;
        }
        let seconds = parse_timestamp(time).ok_or_else(|| {
            input_error(format!(
                "{file} line {line}, column `{}`: `{time}` is not a timestamp (Unix seconds, \
                 or an ISO 8601 date or date-time such as 2024-03-01 or 2024-03-01T12:30:00Z)",
                options.time_column
            ))
        })?;
        let index = *user_index.entry(user.to_string()).or_insert_with(|| {
            users.push((user.to_string(), Vec::new()));
            users.len() - 1
        });
        users[index].1.push((seconds, item.to_string()));
    }
    summary.skip("rows with an empty user id", empty_user);
    summary.skip("rows with an empty item id", empty_item);

    // Time order; equal timestamps keep the file's order (stable sort).
    let mut repeats = 0;
    for (_, rows) in &mut users {
        rows.sort_by_key(|(t, _)| *t);
        if options.repeats == Repeats::Collapse {
            let mut seen = std::collections::HashSet::new();
            let before = rows.len();
            rows.retain(|(_, item)| seen.insert(item.clone()));
            repeats += before - rows.len();
        }
    }
    summary.skip("repeat purchases (collapsed to the first)", repeats);

    // Iterative k-core: dropping a user can push an item below its minimum and back.
    let (min_user, min_item) = (options.min_user_interactions, options.min_item_interactions);
    loop {
        let mut item_counts: HashMap<&str, usize> = HashMap::new();
        for (_, rows) in &users {
            for (_, item) in rows {
                *item_counts.entry(item.as_str()).or_default() += 1;
            }
        }
        let rare: std::collections::HashSet<String> = item_counts
            .into_iter()
            .filter(|&(_, n)| n < min_item)
            .map(|(item, _)| item.to_string())
            .collect();
        let mut dropped_items = 0;
        for (_, rows) in &mut users {
            let before = rows.len();
            rows.retain(|(_, item)| !rare.contains(item));
            dropped_items += before - rows.len();
        }
        let before_users = users.len();
        let mut dropped_user_rows = 0;
        users.retain(|(_, rows)| {
            let keep = rows.len() >= min_user;
            if !keep {
                dropped_user_rows += rows.len();
            }
            keep
        });
        let changed = dropped_items > 0 || users.len() != before_users;
        summary.skip(
            &format!("interactions with an item bought fewer than {min_item} times (k-core)"),
            dropped_items,
        );
        summary.skip(
            &format!("interactions of a user with fewer than {min_user} (k-core)"),
            dropped_user_rows,
        );
        if !changed {
            break;
        }
        summary.k_core_rounds += 1;
    }
    if users.is_empty() {
        return Err(input_error(format!(
            "{file}: no user is left after the k-core filter (at least {min_user} interactions \
             per user and {min_item} per item); lower --min-user-interactions / \
             --min-item-interactions"
        )));
    }

    let mut remapped = RemappedSequences {
        sequences: Vec::with_capacity(users.len()),
        user_names: Vec::with_capacity(users.len()),
        item_names: Vec::new(),
        user_ids: HashMap::new(),
        item_ids: HashMap::new(),
    };
    let mut timestamps = Vec::with_capacity(users.len());
    for (user, rows) in users {
        let id = next_id(remapped.user_names.len(), file)?;
        let mut items = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        for (t, item) in rows {
            let item_id = match remapped.item_ids.get(&item) {
                Some(&i) => i,
                None => {
                    let i = next_id(remapped.item_names.len(), file)?;
                    remapped.item_ids.insert(item.clone(), i);
                    remapped.item_names.push(item);
                    i
                }
            };
            items.push(item_id);
            times.push(t);
        }
        summary.kept += items.len();
        remapped.user_ids.insert(user.clone(), id);
        remapped.user_names.push(user);
        remapped.sequences.push(UserSequence::new(id, items));
        timestamps.push(times);
    }
    Ok(ShopInteractions { remapped, timestamps, summary })
}

fn next_id(assigned: usize, file: &str) -> Result<u32> {
    u32::try_from(assigned + 1)
        .map_err(|_| input_error(format!("{file}: more than u32::MAX distinct ids")))
}

/// Reads a catalogue (see the module docs). An item listed twice is an error naming both lines;
/// `category` and `image` are optional columns, empty cells mean none.
pub fn parse_catalog(text: &str, file: &str, options: &CatalogOptions) -> Result<Vec<CatalogRow>> {
    let table = read_table(text, file, options.delimiter)?;
    let item_col = table.column(file, &options.item_column, "--catalog-item-column")?;
    let title_col = table.column(file, &options.title_column, "--title-column")?;
    let category_col = table.optional_column(&options.category_column);
    let image_col = table.optional_column(&options.image_column);
    let mut line_of: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(table.rows.len());
    for (line, record) in &table.rows {
        let field = |col: usize| record.get(col).unwrap_or("").trim().to_string();
        let key = field(item_col);
        if key.is_empty() {
            return Err(input_error(format!(
                "{file} line {line}, column `{}`: the item id is empty",
                options.item_column
            )));
        }
        if let Some(first) = line_of.insert(key.clone(), *line) {
            return Err(input_error(format!(
                "{file} line {line}: item `{key}` is already listed on line {first}"
            )));
        }
        let optional = |col: Option<usize>| col.map(field).filter(|v| !v.is_empty());
        out.push(CatalogRow {
            key,
            title: field(title_col),
            category: optional(category_col),
            image: optional(image_col),
        });
    }
    Ok(out)
}

/// Unix seconds from an integer or decimal number of seconds, or from an ISO 8601 date
/// (`2024-03-01`, midnight UTC) or date-time (`2024-03-01T12:30[:00[.123]]`, `T` or a space,
/// optionally `Z` or a `+02:00` offset; none means UTC).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') && text.contains('.') {
        return text.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v.floor() as i64);
    }
    let (date, time) = match text.find(['T', ' ']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let mut seconds = days_from_civil(y, m, d) * 86_400;
    if let Some(time) = time {
        let (clock, offset) = split_offset(time)?;
        let mut hms = clock.split(':');
        let h: i64 = hms.next()?.parse().ok()?;
        let min: i64 = hms.next()?.parse().ok()?;
        let s: i64 = match hms.next() {
            Some(s) => s.split('.').next()?.parse().ok()?,
            None => 0,
        };
        if hms.next().is_some() || h > 23 || min > 59 || s > 60 {
            return None;
        }
        seconds += h * 3600 + min * 60 + s - offset;
    }
    Some(seconds)
}

/// `12:30:00+02:00` -> (`12:30:00`, 7200 s); `Z` or nothing is UTC.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, 0));
    }
    match time.rfind(['+', '-']) {
        Some(i) => {
            let (clock, offset) = (&time[..i], &time[i + 1..]);
            let (h, m) = offset
                .split_once(':')
                .unwrap_or((offset.get(..2)?, offset.get(2..).unwrap_or("0")));
            let (h, m): (i64, i64) =
                (h.parse().ok()?, if m.is_empty() { 0 } else { m.parse().ok()? });
            let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
            Some((clock, sign * (h * 3600 + m * 60)))
        }
        None => Some((time, 0)),
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(min: usize) -> InteractionOptions {
        InteractionOptions {
            min_user_interactions: min,
            min_item_interactions: 1,
            ..Default::default()
        }
    }

    #[test]
    fn timestamps_in_the_usual_shapes() {
        // independent reference: `date -u -d 2024-03-01T12:30:00Z +%s` = 1709296200
        assert_eq!(parse_timestamp("1709296200"), Some(1_709_296_200));
        assert_eq!(parse_timestamp("1709296200.75"), Some(1_709_296_200));
        assert_eq!(parse_timestamp("2024-03-01T12:30:00Z"), Some(1_709_296_200));
        assert_eq!(parse_timestamp("2024-03-01 12:30:00"), Some(1_709_296_200));
        assert_eq!(parse_timestamp("2024-03-01T14:30:00+02:00"), Some(1_709_296_200));
        assert_eq!(parse_timestamp("2024-03-01T07:30:00.125-05:00"), Some(1_709_296_200));
        assert_eq!(parse_timestamp("2024-03-01T12:30"), Some(1_709_296_200));
        assert_eq!(parse_timestamp("2024-03-01"), Some(1_709_251_200));
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp("2000-02-29"), Some(951_782_400));
        for bad in [
            "",
            "yesterday",
            "2023-02-29",
            "2024-13-01",
            "2024-3-1",
            "2024-03-01T25:00",
            "12/03/2024",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn rows_become_time_ordered_sequences_with_a_stable_tie_break() {
        let csv = "\u{feff}order,user_id,item_id,timestamp\r\n\
                   1,u1,\"b, the second\",2024-01-02\r\n\
                   2,u2,a,100\r\n\
                   3,u1,a,2024-01-01\r\n\
                   \r\n\
                   4,u1,c,2024-01-02\r\n\
                   5,u2,c,50\r\n\
                   6,u1,a,2024-01-03\r\n";
        let got = parse_interactions(csv, "orders.csv", &options(1)).unwrap();
        let r = &got.remapped;
        assert_eq!(r.user_names, ["u1", "u2"]);
        // u1: a (01-01), then b and c share 01-02 and keep the file order, the repeat of a goes
        assert_eq!(r.item_names, ["a", "b, the second", "c"]);
        assert_eq!(r.sequences[0].items, [1, 2, 3]);
        assert_eq!(r.sequences[1].items, [3, 1]);
        assert_eq!(got.timestamps[1], [50, 100]);
        assert_eq!(got.summary.rows, 6);
        assert_eq!(got.summary.kept, 5);
        assert_eq!(got.summary.skipped["repeat purchases (collapsed to the first)"], 1);

        let keep = parse_interactions(
            csv,
            "orders.csv",
            &InteractionOptions { repeats: Repeats::Keep, ..options(1) },
        )
        .unwrap();
        assert_eq!(keep.remapped.sequences[0].items, [1, 2, 3, 1]);
    }

    #[test]
    fn the_k_core_filter_iterates_until_it_settles() {
        // item z is bought only by u3; dropping it leaves u3 with 2 < 3 items, and then item y
        // (u3's and u1's) falls below 2 buyers.
        let rows = [
            ("u1", "x"),
            ("u1", "w"),
            ("u1", "y"),
            ("u2", "x"),
            ("u2", "w"),
            ("u2", "v"),
            ("u4", "x"),
            ("u4", "w"),
            ("u4", "v"),
            ("u3", "y"),
            ("u3", "z"),
            ("u3", "x"),
        ];
        let mut csv = String::from("user_id,item_id,timestamp\n");
        for (t, (u, i)) in rows.iter().enumerate() {
            csv.push_str(&format!("{u},{i},{t}\n"));
        }
        let got = parse_interactions(
            &csv,
            "o.csv",
            &InteractionOptions {
                min_user_interactions: 3,
                min_item_interactions: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(got.remapped.user_names, ["u2", "u4"]);
        assert_eq!(got.remapped.item_names, ["x", "w", "v"]);
        assert!(got.summary.k_core_rounds >= 2, "{:?}", got.summary);
        let skipped: usize = got.summary.skipped.values().sum();
        assert_eq!(skipped + got.summary.kept, 12, "{:?}", got.summary);

        let err = parse_interactions(
            &csv,
            "o.csv",
            &InteractionOptions { min_user_interactions: 9, ..Default::default() },
        )
        .unwrap_err();
        assert!(err.to_string().contains("no user is left after the k-core filter"), "{err}");
    }

    #[test]
    fn malformed_input_names_the_file_line_and_column() {
        let err = |text: &str| {
            parse_interactions(text, "orders.csv", &options(1)).unwrap_err().to_string()
        };
        let e = err("user_id,item_id,when\nu,a,1\n");
        assert!(
            e.contains(
                "orders.csv: no column `timestamp` in the header (it has: user_id, item_id, \
                 when); name it with --time-column"
            ),
            "{e}"
        );
        let e = err("user_id,item_id,timestamp\nu,a,1\nu,b,last tuesday\n");
        assert!(
            e.contains("orders.csv line 3, column `timestamp`: `last tuesday` is not a timestamp"),
            "{e}"
        );
        let e = err("user_id,item_id,timestamp\nu,a,1\nu,b\n");
        assert!(e.contains("orders.csv: line 3: 2 fields, but the header has 3"), "{e}");
        let e = err("");
        assert!(e.contains("orders.csv: the file is empty"), "{e}");
        // empty ids are skipped and counted, not errors
        let got = parse_interactions(
            "user_id\titem_id\ttimestamp\n\ta\t1\nu\t\t2\nu\tb\t3\n",
            "o.tsv",
            &InteractionOptions { delimiter: Delimiter::for_file_name("o.tsv"), ..options(1) },
        )
        .unwrap();
        assert_eq!(got.summary.skipped["rows with an empty user id"], 1);
        assert_eq!(got.summary.skipped["rows with an empty item id"], 1);
        assert_eq!(got.remapped.item_names, ["b"]);
    }

    #[test]
    fn a_catalogue_with_optional_columns_and_quoting() {
        let csv = "item_id,title,image\nA1,\"Lip balm, 2 pack\",photos/a1.jpg\n\
                   B2,\"A \"\"quoted\"\" name\",\n";
        let rows = parse_catalog(csv, "products.csv", &CatalogOptions::default()).unwrap();
        assert_eq!(
            rows[0],
            CatalogRow {
                key: "A1".into(),
                title: "Lip balm, 2 pack".into(),
                category: None,
                image: Some("photos/a1.jpg".into())
            }
        );
        assert_eq!(rows[1].title, "A \"quoted\" name");
        assert_eq!(rows[1].image, None);
        let e = parse_catalog(
            "item_id,title\nA1,x\nA1,y\n",
            "products.csv",
            &CatalogOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("products.csv line 3: item `A1` is already listed on line 2"), "{e}");
        let e = parse_catalog("sku,name\nA1,x\n", "products.csv", &CatalogOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `item_id`"), "{e}");
    }
}
