//! Error types: one enum per concern, mapped once to Python exceptions in the bindings.

use std::time::Duration;
use thiserror::Error;

/// Bad input: names the field and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field at fault, e.g. `phone`, `data[3].custom.currency`.
    pub field: String,
    /// Which rule was broken.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, with its field placed under `prefix` (e.g. `data[2].user`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// A send that did not succeed.
#[derive(Debug, Clone, Error)]
pub enum SendError {
    /// The events could not be built into a valid payload; nothing was sent.
    #[error("invalid event: {0}")]
    Validation(#[from] ValidationError),
    /// The platform answered with an error.
    #[error("{platform} API error {code}{}: {message}{}", .subcode.map(|s| format!("/{s}")).unwrap_or_default(), .trace_id.as_ref().map(|t| format!(" (trace id {t})")).unwrap_or_default())]
    Api {
        platform: &'static str,
        code: i64,
        subcode: Option<i64>,
        message: String,
        trace_id: Option<String>,
        http_status: u16,
        retryable: bool,
        attempts: u32,
        /// Events accepted by earlier requests of the same send (batches before the failing one).
        events_sent: usize,
        /// Their positions in the events given to the send.
        sent: Vec<usize>,
        /// How long the platform asked us to wait (`Retry-After`), when it said so.
        retry_after: Option<Duration>,
    },
    /// The request never got a usable answer: connection refused or dropped, timeout, bad body.
    #[error("{platform} transport error: {message}")]
    Transport {
        platform: &'static str,
        message: String,
        retryable: bool,
        attempts: u32,
        events_sent: usize,
        /// Positions of the events accepted by earlier requests.
        sent: Vec<usize>,
        /// How long the server asked us to wait (`Retry-After`), when it said so.
        retry_after: Option<Duration>,
    },
    /// The platform took a request but refused some of its events (Pinterest's per-event
    /// status): those never succeed as sent. The send stops there: `sent` lists the events
    /// accepted (this request's and the earlier ones'), `failed` the refused ones; any other
    /// event of the send was not sent.
    #[error("{platform}: {} of the events were refused: {}", .failed.len(), .failed.first().map(|(i, m)| format!("events[{i}]: {m}")).unwrap_or_default())]
    Partial {
        platform: &'static str,
        /// `(position in the events given to the send, the platform's message)`.
        failed: Vec<(usize, String)>,
        /// Positions of the accepted events.
        sent: Vec<usize>,
        events_sent: usize,
        attempts: u32,
        trace_id: Option<String>,
        http_status: u16,
    },
}

impl SendError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            SendError::Validation(_) | SendError::Partial { .. } => false,
            SendError::Api { retryable, .. } | SendError::Transport { retryable, .. } => *retryable,
        }
    }

    /// The wait the server asked for (`Retry-After`), if any. Set when the wait exceeded
    /// `SenderConfig::max_retry_after` (the sender then gives up instead of sleeping) or when the
    /// last attempt carried the header.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Validation(_) | SendError::Partial { .. } => None,
            SendError::Api { retry_after, .. } | SendError::Transport { retry_after, .. } => {
                *retry_after
            }
        }
    }

    /// HTTP attempts made by the send that failed (0 for a validation error).
    pub fn attempts(&self) -> u32 {
        match self {
            SendError::Validation(_) => 0,
            SendError::Api { attempts, .. }
            | SendError::Transport { attempts, .. }
            | SendError::Partial { attempts, .. } => *attempts,
        }
    }

    /// Events accepted by earlier requests of the same send.
    pub fn events_sent(&self) -> usize {
        match self {
            SendError::Validation(_) => 0,
            SendError::Api { events_sent, .. }
            | SendError::Transport { events_sent, .. }
            | SendError::Partial { events_sent, .. } => *events_sent,
        }
    }

    /// Positions (in the events given to the send) of the events the platform accepted before
    /// the send failed.
    pub fn sent(&self) -> &[usize] {
        match self {
            SendError::Validation(_) => &[],
            SendError::Api { sent, .. }
            | SendError::Transport { sent, .. }
            | SendError::Partial { sent, .. } => sent,
        }
    }

    /// The platform's name (`"meta"`, ...); `None` for a validation error.
    pub fn platform(&self) -> Option<&'static str> {
        match self {
            SendError::Validation(_) => None,
            SendError::Api { platform, .. }
            | SendError::Transport { platform, .. }
            | SendError::Partial { platform, .. } => Some(platform),
        }
    }
}
