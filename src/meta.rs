//! Meta Conversions API payload builder: the body of `POST /{version}/{pixel_id}/events`.

use crate::error::ValidationError;
use crate::event::{parse_events, strip_empty, BuildOptions, Event};
use crate::normalize::Field;
use serde_json::{json, Map, Value};

/// The JSON body for `POST /{version}/{pixel_id}/events`, without the access token (the sender
/// adds it to the body, never to the URL).
pub fn build_meta_payload(
    events: &[Value],
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Value, ValidationError> {
    let parsed = parse_events(events, opts)?;
    let mut data = Vec::with_capacity(parsed.len());
    for (i, event) in parsed.iter().enumerate() {
        data.push(meta_event(event).map_err(|e| e.within(&format!("events[{i}]")))?);
    }
    let mut body = Map::new();
    body.insert("data".into(), Value::Array(data));
    if let Some(code) = test_event_code.map(str::trim).filter(|c| !c.is_empty()) {
        body.insert("test_event_code".into(), Value::String(code.to_string()));
    }
    Ok(Value::Object(body))
}

/// One event of Meta's `data[]`.
pub fn meta_event(event: &Event) -> Result<Value, ValidationError> {
    if event.action_source == "website" {
        if event.event_source_url.is_none() {
            return Err(ValidationError::new(
                "event_source_url",
                "is required by Meta for website events",
            ));
        }
        if event.client_user_agent.is_none() {
            return Err(ValidationError::new(
                "user.client_user_agent",
                "is required by Meta for website events (or use action_source system_generated)",
            ));
        }
    }
    let mut user = Map::new();
    for (field, keys) in &event.keys {
        let hashes: Vec<Value> = keys
            .iter()
            .map(|k| Value::String(k.meta_hash(*field)))
            .collect();
        user.insert(field.meta_key().to_string(), Value::Array(hashes));
    }
    for (key, value) in [
        ("client_ip_address", &event.client_ip_address),
        ("client_user_agent", &event.client_user_agent),
        ("fbc", &event.fbc),
        ("fbp", &event.fbp),
    ] {
        if let Some(v) = value {
            user.insert(key.into(), Value::String(v.clone()));
        }
    }
    let contents: Vec<Value> = event
        .contents
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "quantity": c.quantity,
                "item_price": c.item_price,
                "title": c.title,
                "category": c.category,
                "brand": c.brand,
            })
        })
        .collect();
    let mut custom = json!({
        "value": event.value,
        "currency": event.currency,
        "content_ids": event.content_ids,
        "contents": contents,
        "content_type": event.content_type,
        "content_name": event.content_name,
        "content_category": event.content_category,
        "num_items": event.num_items,
        "order_id": event.order_id,
        "search_string": event.search_string,
        "status": event.status,
    });
    if let Value::Object(map) = &mut custom {
        for (k, v) in &event.extra_custom {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut out = json!({
        "event_name": event.event_name,
        "event_time": event.event_time,
        "event_id": event.event_id,
        "event_source_url": event.event_source_url,
        "referrer_url": event.referrer_url,
        "action_source": event.action_source,
        "opt_out": event.opt_out,
        "user_data": Value::Object(user),
        "custom_data": custom,
    });
    if event.limited_data_use {
        if let Value::Object(map) = &mut out {
            // LDU with country and state 0: Meta geolocates the event from its IP.
            map.insert("data_processing_options".into(), json!(["LDU"]));
            map.insert("data_processing_options_country".into(), json!(0));
            map.insert("data_processing_options_state".into(), json!(0));
        }
    }
    strip_empty(&mut out);
    // user_data is required even when it ended up empty.
    if let Value::Object(map) = &mut out {
        map.entry("user_data").or_insert_with(|| json!({}));
    }
    Ok(out)
}

/// Meta's key for a neutral match-key name, for callers that map keys themselves.
pub fn meta_key(field: &str) -> Option<&'static str> {
    Field::parse(field).map(Field::meta_key)
}
