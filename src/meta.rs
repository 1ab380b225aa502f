//! Meta Conversions API payload builder.
use crate::error::ValidationError;
use crate::event::BuildOptions;
use serde_json::Value;

/// The JSON body for `POST /{version}/{pixel_id}/events` (without the access token).
pub fn build_meta_payload(
    events: &[Value],
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Value, ValidationError> {
    let _ = (events, test_event_code, opts);
    Err(ValidationError::new("events", "not implemented yet"))
}
