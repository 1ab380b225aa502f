//! The table of ad platforms: everything that differs between them, one [`PlatformSpec`] each.
//!
//! Each platform is one module (`meta`, `tiktok`, `pinterest`, `ga4`) holding its builder, its
//! endpoint and auth, its answer classification (which errors are transient) and its event name
//! mapping, and exporting one `SPEC`. The sender, batching, backoff, token hygiene and the Python
//! bindings only ever go through this table; adding a platform adds a module and a row here.

use crate::error::ValidationError;
use crate::event::Event;
use crate::out::{JsonWriter, ObjList, Out};
use crate::sender::Attempt;
use serde_json::Value;
use std::fmt;

/// Which ad platform a sender talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Meta,
    TikTok,
    Pinterest,
    Ga4,
}

/// Every platform, in a stable order (the order of `convapi.PLATFORMS`).
pub const ALL: [Platform; 4] = [
    Platform::Meta,
    Platform::TikTok,
    Platform::Pinterest,
    Platform::Ga4,
];

impl Platform {
    /// The platform's row in the table.
    pub fn spec(self) -> &'static PlatformSpec {
        match self {
            Platform::Meta => &crate::meta::SPEC,
            Platform::TikTok => &crate::tiktok::SPEC,
            Platform::Pinterest => &crate::pinterest::SPEC,
            Platform::Ga4 => &crate::ga4::SPEC,
        }
    }

    /// `"meta"`, `"tiktok"`, `"pinterest"` or `"ga4"`.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// The platform called `name` (as [`Platform::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Platform> {
        ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a sender's events go: the platform's id for the destination (Meta pixel, TikTok pixel
/// code, Pinterest ad account, GA4 measurement id) and, for Meta, the Graph API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub api_version: Option<String>,
}

/// Options of one send (or one built payload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Meta and TikTok: the test event code of the Events Manager's test tab.
    pub test_event_code: Option<String>,
    /// Pinterest: `?test=true` (validated, not recorded). GA4: the validation server.
    pub test: bool,
}

/// How the secret travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A key of the JSON body (Meta's `access_token`), spliced in as its first key when sending.
    BodyKey(&'static str),
    /// A header holding the token as is (TikTok's `Access-Token`).
    Header(&'static str),
    /// `Authorization: Bearer <token>` (Pinterest).
    Bearer,
    /// A query parameter (GA4's `api_secret`): the URL is then never logged or shown.
    Query(&'static str),
}

/// One platform's rules. The functions are plain data so the table is `static`.
pub struct PlatformSpec {
    pub platform: Platform,
    pub name: &'static str,
    pub label: &'static str,
    /// What the destination id is called (in errors and reprs): `pixel_id`, `pixel_code`, ...
    pub id_name: &'static str,
    /// What the secret is called: `access_token` or `api_secret`.
    pub secret_name: &'static str,
    pub default_base_url: &'static str,
    /// Most events one request carries.
    pub max_events: usize,
    /// Most HTTP attempts per request the platform's rules allow (the sender's own setting
    /// may allow fewer).
    pub max_attempts: u32,
    pub auth: Auth,
    /// The request options this platform takes (`test_event_code`, `test`).
    pub options: &'static [&'static str],
    /// Checks the destination id.
    pub check_target: fn(&Target) -> Result<(), ValidationError>,
    /// The endpoint's path (and query, without the secret) after the base URL.
    pub path: fn(&Target, &Request) -> String,
    /// What the platform requires of one parsed event beyond the neutral model's rules.
    pub check_event: fn(&Event<'_>, &Target, &Request) -> Result<(), ValidationError>,
    /// Events of one request must share this key (GA4: one user per request); `None` = any mix.
    pub identity: Option<fn(&Event<'_>) -> String>,
    /// The request body, as bytes (appended to the buffer).
    pub write_body: fn(&mut Vec<u8>, &[Event<'_>], &Target, &Request),
    /// The request body written around a stream of events (the bytes path, which parses and
    /// writes each event while its input is hot): the body's own keys, and the events list
    /// filled by the callback through [`PlatformSpec::write_event`]. `None` for a platform
    /// whose body depends on its events as a whole (GA4's user fields).
    pub stream_body: Option<StreamBody>,
    /// One event object of the events list (for `stream_body`).
    pub write_event: fn(&mut JsonWriter<'_>, &Event<'_>),
    /// The request body, as a payload tree (for Python dicts and `serde_json::Value`).
    pub build_body: for<'a> fn(&'a [Event<'a>], &'a Target, &'a Request) -> Out<'a>,
    /// What an answer means: accepted (maybe with some events failed), or a failure, transient
    /// or not.
    pub classify: fn(&Answer<'_>) -> Attempt,
    /// The platform's name for a neutral event name.
    pub event_name: fn(&str) -> Result<std::borrow::Cow<'static, str>, ValidationError>,
}

/// See [`PlatformSpec::stream_body`]: returns false when the events callback stopped.
pub type StreamBody = for<'w, 'b> fn(
    &'w mut JsonWriter<'b>,
    &Target,
    &Request,
    &mut dyn FnMut(&mut ObjList<'_, 'b>) -> bool,
) -> bool;

/// One HTTP answer, as the classifiers see it.
#[derive(Debug)]
pub struct Answer<'a> {
    pub status: u16,
    pub body: Option<Value>,
    pub raw: &'a [u8],
    /// A trace id from the headers (Meta's `x-fb-trace-id`).
    pub header_trace: Option<String>,
    /// Events in the request.
    pub events: usize,
    pub request: &'a Request,
}

impl fmt::Debug for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformSpec")
            .field("name", &self.name)
            .finish()
    }
}

impl PlatformSpec {
    /// Checks every event and names the failing one (the destination id is checked when a
    /// sender is made: a payload built without one has none).
    pub fn check(
        &self,
        events: &[Event<'_>],
        target: &Target,
        request: &Request,
    ) -> Result<(), ValidationError> {
        for (i, event) in events.iter().enumerate() {
            (self.check_event)(event, target, request)
                .map_err(|e| e.within(&format!("events[{i}]")))?;
        }
        if let Some(identity) = self.identity {
            if let Some(first) = events.first() {
                let key = identity(first);
                if let Some(i) = events.iter().position(|e| identity(e) != key) {
                    return Err(ValidationError::new(
                        format!("events[{i}].user"),
                        format!(
                            "belongs to another user than events[0]: a {} request carries one \
                             user's events (same client_id, user_id, user data and consent); \
                             build one payload per user, or send them all with the sender, \
                             which groups them",
                            self.label
                        ),
                    ));
                }
            }
        }
        if events.len() > self.max_events {
            return Err(ValidationError::new(
                "events",
                format!(
                    "{} events: a {} request carries at most {} (the senders split larger sends)",
                    events.len(),
                    self.label,
                    self.max_events
                ),
            ));
        }
        Ok(())
    }

    /// The body of one request for checked events, as bytes.
    pub fn encode(
        &self,
        events: &[Event<'_>],
        target: &Target,
        request: &Request,
        buf: &mut Vec<u8>,
    ) -> Result<(), ValidationError> {
        self.check(events, target, request)?;
        (self.write_body)(buf, events, target, request);
        Ok(())
    }

    /// The body of one request for checked events, as a payload tree.
    pub fn build<'a>(
        &self,
        events: &'a [Event<'a>],
        target: &'a Target,
        request: &'a Request,
    ) -> Result<Out<'a>, ValidationError> {
        self.check(events, target, request)?;
        Ok((self.build_body)(events, target, request))
    }
}

/// The destination of a payload built without a sender (its body does not hold the id).
pub static NO_TARGET: Target = Target {
    id: String::new(),
    api_version: None,
};

/// Default request options.
pub static NO_REQUEST: Request = Request {
    test_event_code: None,
    test: false,
};

/// Checks an id made of ASCII letters, digits, `_` and `-` (Meta pixels, TikTok pixel codes).
pub(crate) fn check_plain_id(name: &str, id: &str) -> Result<(), ValidationError> {
    if id.trim().is_empty() {
        return Err(ValidationError::new(name, "must not be empty"));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ValidationError::new(
            name,
            "must contain only letters, digits, '_' or '-'",
        ));
    }
    Ok(())
}
