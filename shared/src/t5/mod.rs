//! The T5 backbone (v1.0 as t5-small uses it; v1.1/FLAN-T5 through config switches).

pub mod attention;
pub mod dropout;
pub mod layers;
pub mod stack;
