//! TikTok Events API 2.0 payload builder: the body of `POST /open_api/v1.3/event/track/`.

use crate::error::ValidationError;
use crate::event::{canonical_event_name, parse_events, strip_empty, BuildOptions, Event};
use crate::normalize::Field;
use serde_json::{json, Map, Value};

/// Meta-style (and legacy TikTok) names whose current TikTok name differs. Every other standard
/// name is the same on both platforms; custom names pass through unchanged.
const TIKTOK_NAMES: [(&str, &str); 3] = [
    // The Pixel's `ttq.page()` and TikTok's own integrations send "Pageview".
    ("PageView", "Pageview"),
    // Renamed on 1 May 2025; the old names are still converted by TikTok, the new ones are current.
    ("CompletePayment", "Purchase"),
    ("SubmitForm", "Lead"),
];

/// TikTok's current name for a Meta-style event name (`PageView` → `Pageview`,
/// `CompletePayment` → `Purchase`); other names come back in their canonical spelling.
pub fn tiktok_event_name(name: &str) -> &str {
    let canonical = canonical_event_name(name);
    TIKTOK_NAMES
        .iter()
        .find(|(from, _)| from.eq_ignore_ascii_case(canonical))
        .map(|(_, to)| *to)
        .unwrap_or(canonical)
}

/// The JSON body for `POST /open_api/v1.3/event/track/` (web events of one pixel).
pub fn build_tiktok_payload(
    events: &[Value],
    pixel_code: &str,
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Value, ValidationError> {
    let pixel_code = pixel_code.trim();
    if pixel_code.is_empty() {
        return Err(ValidationError::new("pixel_code", "is required"));
    }
    let parsed = parse_events(events, opts)?;
    let mut data = Vec::with_capacity(parsed.len());
    for (i, event) in parsed.iter().enumerate() {
        data.push(tiktok_event(event).map_err(|e| e.within(&format!("events[{i}]")))?);
    }
    let mut body = Map::new();
    body.insert("event_source".into(), json!("web"));
    body.insert("event_source_id".into(), json!(pixel_code));
    if let Some(code) = test_event_code.map(str::trim).filter(|c| !c.is_empty()) {
        body.insert("test_event_code".into(), json!(code));
    }
    body.insert("data".into(), Value::Array(data));
    Ok(Value::Object(body))
}

/// One event of TikTok's `data[]`.
pub fn tiktok_event(event: &Event) -> Result<Value, ValidationError> {
    if event.event_source_url.is_none() {
        return Err(ValidationError::new(
            "event_source_url",
            "is required by TikTok for web events (page.url)",
        ));
    }
    let hashes = |field: Field| -> Vec<String> {
        event
            .key(field)
            .map(|keys| keys.iter().map(|k| k.tiktok_hash()).collect())
            .unwrap_or_default()
    };
    let user = json!({
        "email": hashes(Field::Email),
        "phone": hashes(Field::Phone),
        "external_id": hashes(Field::ExternalId),
        "ip": event.client_ip_address,
        "user_agent": event.client_user_agent,
        "ttclid": event.ttclid,
        "ttp": event.ttp,
        "locale": event.locale,
    });
    let contents: Vec<Value> = event
        .contents
        .iter()
        .map(|c| {
            json!({
                "content_id": c.id,
                "content_name": c.title,
                "content_category": c.category,
                "price": c.item_price,
                "quantity": c.quantity,
                "brand": c.brand,
            })
        })
        .collect();
    let mut properties = json!({
        "contents": contents,
        "content_ids": event.content_ids,
        // TikTok warns when content_type comes without contents.
        "content_type": if event.contents.is_empty() && event.content_ids.is_empty() { None } else { Some(event.content_type.clone().unwrap_or_else(|| "product".into())) },
        "content_name": event.content_name,
        "content_category": event.content_category,
        "currency": event.currency,
        "value": event.value,
        "num_items": event.num_items,
        "order_id": event.order_id,
        "search_string": event.search_string,
    });
    if let Value::Object(map) = &mut properties {
        for (k, v) in &event.extra_custom {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut out = json!({
        "event": tiktok_event_name(&event.event_name),
        "event_time": event.event_time,
        // TikTok rejects a numeric event_id (40002): always a string.
        "event_id": event.event_id,
        "user": user,
        "properties": properties,
        "page": {"url": event.event_source_url, "referrer": event.referrer_url},
    });
    strip_empty(&mut out);
    if event.limited_data_use {
        if let Value::Object(map) = &mut out {
            map.insert("limited_data_use".into(), json!(true));
        }
    }
    Ok(out)
}
