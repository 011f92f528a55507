#!/usr/bin/env python3
"""Regenerate shared/src/prompt/templates.rs from the spec's template table (VIP5-SPEC.md 2.2).

Usage: python3 tests/gen/gen_templates.py ../shared/reference/VIP5-SPEC.md > shared/src/prompt/templates.rs
The strings are copied byte for byte; `\\n` in the table is a newline character in the template.
"""
import re
import sys

HEADER = '''//! The 29 VIP5 prompt templates (docs/vip5.md §2.2), byte-exact. Generated from the spec's table
//! by `tests/gen/gen_templates.py`; `{slot}` marks a slot, `\\n` is a newline character as in
//! the original Python strings (note the double space in B-8).

use crate::adapter::Task;

/// What a template asks the decoder to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// An item number (`{item_id}`).
    ItemId,
    /// `yes` or `no`.
    YesNo,
    /// Free text (`{explanation}`).
    Explanation,
    /// `{star_rating} , {explanation}`.
    RatingExplanation,
}

/// One prompt template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// `A-1` .. `C-12`.
    pub id: &'static str,
    pub task: Task,
    /// Source text with `{slot}` placeholders.
    pub source: &'static str,
    pub target: TargetKind,
    /// Held out of training for zero-shot evaluation (A-9, B-8, C-12).
    pub unseen: bool,
}

/// All 29 templates in the spec's order.
pub const TEMPLATES: [Template; 29] = ['''

TARGETS = {
    "`{item_id}`": "ItemId",
    "`yes`/`no`": "YesNo",
    "`{explanation}`": "Explanation",
    "`{star_rating} , {explanation}`": "RatingExplanation",
}
FAMILIES = {"A": "Sequential", "B": "Direct", "C": "Explanation"}
HELD_OUT = {"A-9", "B-8", "C-12"}


def main(spec_path):
    spec = open(spec_path, encoding="utf-8").read()
    rows = re.findall(r"^\| ([ABC]-\d+) \| `(.*?)` \| (.*?) \|$", spec, re.M)
    assert len(rows) == 29, f"expected 29 templates, found {len(rows)}"
    print(HEADER)
    for tid, src, target in rows:
        src = src.replace('"', '\\"')  # `\n` stays a Rust escape for a newline
        unseen = "true" if tid in HELD_OUT else "false"
        print(
            f'    Template {{ id: "{tid}", task: Task::{FAMILIES[tid[0]]}, source: "{src}", '
            f"target: TargetKind::{TARGETS[target]}, unseen: {unseen} }},"
        )
    print("];")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/VIP5-SPEC.md")
