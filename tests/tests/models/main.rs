//! DTDL models generated from Rust types with the derives, checked against Microsoft's official
//! models (copies in `official/`) and, when it is installed, by Microsoft's DTDL parser
//! (`scripts/dtdl-validator`).
//!
//! * `dtdl_files`: every real DTDL v2 model in `../shared/models/` read and written back;
//! * `semantic`: the semantic comparator (and its own tests);
//! * `semantic_equality`: the example models (`iotc_examples::models`) vs the official JSON;
//! * `rich`: richer official models expressed in Rust in this crate, compared the same way,
//!   each with its documented exclusion list;
//! * `template_check`: hand-written devices checked against templates (`model::differences`);
//! * `typed_api`: the example models as device APIs (wire names, command parsing);
//! * `validator`: every generated model through the DTDL parser in strict mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dtdl_files;
mod official;
mod rich;
mod semantic;
mod semantic_equality;
mod template_check;
mod typed_api;
mod validator;
