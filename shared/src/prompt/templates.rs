//! The 29 VIP5 prompt templates (docs/vip5.md §2.2), byte-exact. Generated from the spec's table
//! by `tests/gen/gen_templates.py`; `{slot}` marks a slot, `\n` is a newline character as in
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
pub const TEMPLATES: [Template; 29] = [
    Template {
        id: "A-1",
        task: Task::Sequential,
        source: "Given the following purchase history of user_{user_id} : \n {purchase_history} \n predict next possible item to be purchased by the user ?",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "A-2",
        task: Task::Sequential,
        source: "I find the purchase history list of user_{user_id} : \n {purchase_history} \n I wonder what is the next item to recommend to the user . Can you help me decide ?",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "A-3",
        task: Task::Sequential,
        source: "Here is the purchase history list of user_{user_id} : \n {purchase_history} \n try to recommend next item to the user",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "A-4",
        task: Task::Sequential,
        source: "Given the following purchase history of {user_desc} : \n {purchase_history} \n predict next possible item for the user",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "A-5",
        task: Task::Sequential,
        source: "Based on the purchase history of {user_desc} : \n {purchase_history} \n Can you decide the next item likely to be purchased by the user ?",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "A-6",
        task: Task::Sequential,
        source: "Here is the purchase history of {user_desc} : \n {purchase_history} \n What to recommend next for the user ?",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "A-7",
        task: Task::Sequential,
        source: "user_{user_id} has the following purchase history : \n {purchase_history} \n does the user likely to buy {item_id} {item_photo} next ?",
        target: TargetKind::YesNo,
        unseen: false,
    },
    Template {
        id: "A-8",
        task: Task::Sequential,
        source: "According to {user_desc} 's purchase history list : \n {purchase_history} \n Predict whether the user will purchase {item_id} {item_photo} next ?",
        target: TargetKind::YesNo,
        unseen: false,
    },
    Template {
        id: "A-9",
        task: Task::Sequential,
        source: "According to the purchase history of {user_desc} : \n {purchase_history} \n Can you recommend the next possible item to the user ?",
        target: TargetKind::ItemId,
        unseen: true,
    },
    Template {
        id: "B-1",
        task: Task::Direct,
        source: "Will user_{user_id} likely to interact with item_{item_id} {item_photo} ?",
        target: TargetKind::YesNo,
        unseen: false,
    },
    Template {
        id: "B-2",
        task: Task::Direct,
        source: "Shall we recommend item_{item_id} {item_photo} to {user_desc} ?",
        target: TargetKind::YesNo,
        unseen: false,
    },
    Template {
        id: "B-3",
        task: Task::Direct,
        source: "For {user_desc}, do you think it is good to recommend {item_title} {item_photo} ?",
        target: TargetKind::YesNo,
        unseen: false,
    },
    Template {
        id: "B-4",
        task: Task::Direct,
        source: "I would like to recommend some items for user_{user_id} . Is the following item a good choice ? \n {item_title} {item_photo}",
        target: TargetKind::YesNo,
        unseen: false,
    },
    Template {
        id: "B-5",
        task: Task::Direct,
        source: "Which item of the following to recommend for {user_desc} ? \n {candidates}",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "B-6",
        task: Task::Direct,
        source: "Choose the best item from the candidates to recommend for {user_desc} ? \n {candidates}",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "B-7",
        task: Task::Direct,
        source: "Pick the most suitable item from the following list and recommend to user_{user_id} : \n {candidates}",
        target: TargetKind::ItemId,
        unseen: false,
    },
    Template {
        id: "B-8",
        task: Task::Direct,
        source: "We want to make recommendation for user_{user_id} .  Select the best item from these candidates : \n {candidates}",
        target: TargetKind::ItemId,
        unseen: true,
    },
    Template {
        id: "C-1",
        task: Task::Explanation,
        source: "Generate an explanation for user_{user_id} about this product : {item_title} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-2",
        task: Task::Explanation,
        source: "Given the following review headline \n {review_headline} \n can you help generate an explanation of user_{user_id} for item_{item_id} {item_photo} ?",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-3",
        task: Task::Explanation,
        source: "Help user_{user_id} generate a {star_rating}-star explanation about this product : \n {item_title} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-4",
        task: Task::Explanation,
        source: "Generate an explanation for {user_desc} about this product : {item_title} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-5",
        task: Task::Explanation,
        source: "Based on the following review headline : \n {review_headline} \n Generate {user_desc} 's purchase explanation about {item_title} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-6",
        task: Task::Explanation,
        source: "Help {user_desc} generate a {star_rating}-star explanation for item_{item_id} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-7",
        task: Task::Explanation,
        source: "Predict the star rating , then use {feature} as feature word to generate user_{user_id} 's purchase explanation for item_{item_id} {item_photo}",
        target: TargetKind::RatingExplanation,
        unseen: false,
    },
    Template {
        id: "C-8",
        task: Task::Explanation,
        source: "What score will {user_desc} rate item_{item_id} {item_photo} ? Then give an explanation for the rating score . ( 1 being lowest and 5 being highest )",
        target: TargetKind::RatingExplanation,
        unseen: false,
    },
    Template {
        id: "C-9",
        task: Task::Explanation,
        source: "Based on the feature word {feature} , generate an explanation for user_{user_id} about this product : {item_title} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-10",
        task: Task::Explanation,
        source: "Given the word {feature} , can you help generate an explanation for {user_desc} about the product : \n {item_title} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-11",
        task: Task::Explanation,
        source: "Using the word {feature} , write a {star_rating}-star explanation for user_{user_id} about item_{item_id} {item_photo}",
        target: TargetKind::Explanation,
        unseen: false,
    },
    Template {
        id: "C-12",
        task: Task::Explanation,
        source: "According to the feature word {feature} , generate a {star_rating}-star explanation for {user_desc} about item_{item_id} {item_photo}",
        target: TargetKind::Explanation,
        unseen: true,
    },
];
