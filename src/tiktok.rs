//! TikTok Events API 2.0 payload builder.
use crate::error::ValidationError;
use crate::event::BuildOptions;
use serde_json::Value;

/// The JSON body for `POST /open_api/v1.3/event/track/`.
pub fn build_tiktok_payload(
    events: &[Value],
    pixel_code: &str,
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Value, ValidationError> {
    let _ = (events, pixel_code, test_event_code, opts);
    Err(ValidationError::new("events", "not implemented yet"))
}

/// TikTok's current name for a Meta-style event name.
pub fn tiktok_event_name(name: &str) -> &str {
    name
}
