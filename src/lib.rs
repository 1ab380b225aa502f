//! convapi: server-side conversion tracking for Meta's Conversions API and TikTok's Events API.
//!
//! The crate is plain Rust: normalisers ([`normalize`]), the neutral event model ([`event`]),
//! payload builders ([`meta`], [`tiktok`]) and blocking senders ([`sender`]). The PyO3 bindings
//! live in one module, `python`, compiled only with the `python` feature.

pub mod error;
pub mod event;
pub mod geo;
pub mod input;
pub mod meta;
pub mod normalize;
pub mod out;
pub mod phone;
pub mod sender;
pub mod tiktok;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
mod proptests;

pub use error::{SendError, ValidationError};
pub use event::BuildOptions;
pub use meta::build_meta_payload;
pub use normalize::{hash_value, is_sha256_hex, normalize};
pub use sender::{AccessToken, MetaSender, Platform, SendResult, SenderConfig, TikTokSender};
pub use tiktok::{build_tiktok_payload, tiktok_event_name};
