//! One module per contract section; each exposes `router()`.

pub mod objects;
pub mod user;
