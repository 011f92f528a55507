//! Constrained generation of item ids: a prefix trie over the token sequences of the catalogue's
//! item numbers, so every generated sequence is a real item, optionally one not yet seen, in stock
//! or on a candidate list. (The original decodes unconstrained and can emit non-items.)

use std::collections::HashMap;

use crate::decode::TokenConstraint;
use crate::error::{Result, Vip5Error};
use crate::prompt::PromptTokenizer;

#[derive(Debug, Clone, Default)]
struct Node {
    /// (token, child node), sorted by token.
    children: Vec<(u32, u32)>,
    /// The item whose sequence ends here (after its `</s>`).
    item: Option<u32>,
}

/// A prefix trie over item token sequences (each ending in `</s>`).
#[derive(Debug, Clone)]
pub struct ItemTrie {
    nodes: Vec<Node>,
    /// Node path (root excluded) of every item, for fast masking.
    paths: HashMap<u32, Vec<u32>>,
}

/// Which items are allowed, as a count of allowed items below each trie node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrieMask {
    counts: Vec<u32>,
}

impl ItemTrie {
    /// From `(item, token ids)` pairs; token sequences must be distinct and end in the same
    /// end-of-sequence token, so no item is a prefix of another.
    pub fn new(items: impl IntoIterator<Item = (u32, Vec<u32>)>) -> Result<Self> {
        let mut trie = Self { nodes: vec![Node::default()], paths: HashMap::new() };
        for (item, tokens) in items {
            if tokens.is_empty() {
                return Err(Vip5Error::Input(format!("item {item} has an empty token sequence")));
            }
            let mut node = 0usize;
            let mut path = Vec::with_capacity(tokens.len());
            for &t in &tokens {
                node = match trie.nodes[node].children.binary_search_by_key(&t, |c| c.0) {
                    Ok(i) => trie.nodes[node].children[i].1 as usize,
                    Err(i) => {
                        let child = trie.nodes.len();
                        trie.nodes.push(Node::default());
                        trie.nodes[node].children.insert(i, (t, child as u32));
                        child
                    }
                };
                path.push(node as u32);
            }
            if let Some(other) = trie.nodes[node].item {
                return Err(Vip5Error::Input(format!(
                    "items {other} and {item} have the same token sequence"
                )));
            }
            if !trie.nodes[node].children.is_empty() {
                return Err(Vip5Error::Input(format!(
                    "item {item}'s tokens are a prefix of another item's"
                )));
            }
            trie.nodes[node].item = Some(item);
            if trie.paths.insert(item, path).is_some() {
                return Err(Vip5Error::Input(format!("item {item} appears twice")));
            }
        }
        Ok(trie)
    }

    /// The trie of item numbers `items` as the model writes them (`"1024"` -> ids + `</s>`, or
    /// one item token + `</s>`: the tokenizer's [`crate::prompt::ItemNaming`]).
    pub fn from_item_numbers(
        tokenizer: &PromptTokenizer,
        items: impl IntoIterator<Item = u32>,
    ) -> Result<Self> {
        let naming = tokenizer.item_naming();
        let pairs = items
            .into_iter()
            .map(|i| Ok((i, tokenizer.encode_target(&naming.text(i)?, usize::MAX)?)))
            .collect::<Result<Vec<_>>>()?;
        Self::new(pairs)
    }

    pub fn num_items(&self) -> usize {
        self.paths.len()
    }

    /// Every item allowed.
    pub fn allow_all(&self) -> TrieMask {
        let mut counts = vec![0u32; self.nodes.len()];
        counts[0] = self.paths.len() as u32;
        for path in self.paths.values() {
            for &n in path {
                counts[n as usize] += 1;
            }
        }
        TrieMask { counts }
    }

    /// Every item except `excluded` (items already in the history, out of stock...). Unknown
    /// items are ignored.
    pub fn allow_all_except(&self, excluded: impl IntoIterator<Item = u32>) -> TrieMask {
        let mut mask = self.allow_all();
        let mut seen = std::collections::HashSet::new();
        for item in excluded {
            if let (true, Some(path)) = (seen.insert(item), self.paths.get(&item)) {
                mask.counts[0] -= 1;
                for &n in path {
                    mask.counts[n as usize] -= 1;
                }
            }
        }
        mask
    }

    /// Only `items` (a candidate list, a category). Unknown items are ignored.
    pub fn allow_only(&self, items: impl IntoIterator<Item = u32>) -> TrieMask {
        let mut counts = vec![0u32; self.nodes.len()];
        let mut seen = std::collections::HashSet::new();
        for item in items {
            if let (true, Some(path)) = (seen.insert(item), self.paths.get(&item)) {
                counts[0] += 1;
                for &n in path {
                    counts[n as usize] += 1;
                }
            }
        }
        TrieMask { counts }
    }

    /// Tokens that may follow `prefix` under `mask`; empty when the prefix leaves the trie or no
    /// allowed item continues it.
    pub fn allowed_next(&self, prefix: &[u32], mask: &TrieMask) -> Vec<u32> {
        let mut node = 0usize;
        for &t in prefix {
            match self.nodes[node].children.binary_search_by_key(&t, |c| c.0) {
                Ok(i) => node = self.nodes[node].children[i].1 as usize,
                Err(_) => return vec![],
            }
        }
        self.nodes[node]
            .children
            .iter()
            .filter(|(_, child)| mask.counts[*child as usize] > 0)
            .map(|(t, _)| *t)
            .collect()
    }

    /// The item a full token sequence spells, if any.
    pub fn item_of(&self, tokens: &[u32]) -> Option<u32> {
        let mut node = 0usize;
        for &t in tokens {
            let i = self.nodes[node].children.binary_search_by_key(&t, |c| c.0).ok()?;
            node = self.nodes[node].children[i].1 as usize;
        }
        self.nodes[node].item
    }
}

impl TrieMask {
    /// Number of allowed items.
    pub fn allowed_items(&self) -> usize {
        self.counts.first().copied().unwrap_or(0) as usize
    }
}

/// A [`TokenConstraint`] with one mask per batch row.
#[derive(Debug, Clone)]
pub struct ItemConstraint<'a> {
    pub trie: &'a ItemTrie,
    pub masks: Vec<TrieMask>,
}

impl TokenConstraint for ItemConstraint<'_> {
    fn allowed(&self, row: usize, prefix: &[u32]) -> Option<Vec<u32>> {
        let mask = self.masks.get(row).or_else(|| self.masks.first())?;
        Some(self.trie.allowed_next(prefix, mask))
    }
}
