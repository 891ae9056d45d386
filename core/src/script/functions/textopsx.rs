//! Module `textopsx`. It loads so configs that name it run; its functions
//! (`msg_apply_changes`, `remove_hf_value`, ...) are not provided yet and
//! are reported by `sipshard check` as migration items.

use crate::script::registry::FnSpec;

pub const FNS: &[FnSpec] = &[];
