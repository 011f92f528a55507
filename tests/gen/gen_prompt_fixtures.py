#!/usr/bin/env python3
"""Reference prompts for tests/tests/prompts.rs, built the way the original VIP5 code formats them
(Python str.format on its positional templates, `' {}, '.format('<extra_id_0> ' * k).join(items)`),
tokenized with the Hugging Face fast tokenizer (the `tokenizers` package), whole-word ids by
docs/vip5.md §1.2's rule over the pieces.

Run from the repository root: python3 tests/gen/gen_prompt_fixtures.py
"""
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
tok = Tokenizer.from_file(os.path.join(ROOT, "..", "data", "tokenizers", "t5-small", "tokenizer.json"))
PH = "<extra_id_0>"


def history(items, k, sep):
    return (" {}" + sep + " ").format((PH + " ") * k).join(str(i) for i in items) + (" " + PH) * k


def photo(k):
    return (PH + " ") * (k - 1) + PH


def encode(text):
    enc = tok.encode(text, add_special_tokens=False)
    ww, word = [], 0
    for tid, piece in zip(enc.ids, enc.tokens):
        if piece.startswith("\u2581") or piece == PH:
            word += 1
        ww.append(word)
    return enc.ids + [1], ww + [0]


# Original positional templates (VIP5 src/all_templates.py order of `{}` slots).
A1 = "Given the following purchase history of user_{} : \n {} \n predict next possible item to be purchased by the user ?"
A6 = "Here is the purchase history of {} : \n {} \n What to recommend next for the user ?"
A7 = "user_{} has the following purchase history : \n {} \n does the user likely to buy {} {} next ?"
B3 = "For {}, do you think it is good to recommend {} {} ?"
B8 = "We want to make recommendation for user_{} .  Select the best item from these candidates : \n {}"
C12 = "According to the feature word {} , generate a {}-star explanation for {} about item_{} {}"

cases = []


def add(template_id, slots, text):
    ids, ww = encode(text)
    cases.append(dict(template=template_id, slots=slots, text=text, input_ids=ids, whole_word_ids=ww))


add("A-1", dict(user_id="251", history=[1024, 1025, 7], k=2, sep=","), A1.format("251", history([1024, 1025, 7], 2, ",")))
add("A-6", dict(user_desc="a visitor", history=[12101, 3, 40], k=2, sep="->"), A6.format("a visitor", history([12101, 3, 40], 2, "->")))
add("A-7", dict(user_id="9", history=[5, 6], item=77, k=3, sep=","), A7.format("9", history([5, 6], 3, ","), "77", photo(3)))
add("B-3", dict(user_desc="Jane D.", item=31, item_title="nail lacquer simmer and shimmer", k=2), B3.format("Jane D.", "nail lacquer simmer and shimmer", photo(2)))
add("B-8", dict(user_id="18", candidates=[300, 2, 11], k=1), B8.format("18", history([300, 2, 11], 1, ",")))
add("C-12", dict(feature="color", star_rating="4", user_desc="Amazon Customer", item=88, k=2), C12.format("color", "4", "Amazon Customer", "88", photo(2)))

with open(os.path.join(ROOT, "fixtures", "prompt_cases.json"), "w") as f:
    json.dump(cases, f, indent=1, ensure_ascii=False)
    f.write("\n")
print("wrote", len(cases), "cases; A-1 ids:", cases[0]["input_ids"])
