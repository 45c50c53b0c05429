//! One module per contract section; each exposes `router()`.

pub mod chat;
pub mod image;
pub mod interaction;
pub mod objects;
pub mod social;
pub mod upload;
pub mod user;
pub mod video;
pub mod web;
