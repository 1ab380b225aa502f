//! convapi: server-side conversion tracking for Meta's Conversions API and TikTok's Events API.
//!
//! The crate is plain Rust: normalisers ([`normalize`]), the neutral event model ([`event`]),
//! payload builders ([`meta`], [`tiktok`]) and blocking senders ([`sender`]). The PyO3 bindings
//! live in one module, `python`, compiled only with the `python` feature.

// A send's error carries what the caller needs to record (codes, messages, which events went
// through); it is returned once per network round trip, so its size is of no concern.
#![allow(clippy::result_large_err)]

pub mod error;
pub mod event;
pub mod ga4;
pub mod geo;
pub mod input;
pub mod meta;
pub mod normalize;
pub mod out;
pub mod phone;
pub mod pinterest;
pub mod platform;
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
pub use platform::{Platform, PlatformSpec, Request, Target};
pub use sender::{AccessToken, MetaSender, SendResult, Sender, SenderConfig, TikTokSender};
pub use tiktok::{build_tiktok_payload, tiktok_event_name};
