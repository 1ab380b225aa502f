//! Blocking senders for Meta and TikTok: batching, retries with backoff, one pooled client.
//!
//! * [`MetaSender`] posts to `{base_url}/{api_version}/{pixel_id}/events` with the access token
//!   in the JSON body (never in the URL).
//! * [`TikTokSender`] posts to `{base_url}/open_api/v1.3/event/track/` with the token in the
//!   `Access-Token` header.
//!
//! Both split more than 1,000 events into 1,000-event requests, retry transient failures with
//! exponential backoff and full jitter, honour `Retry-After` up to a cap, and report every HTTP
//! attempt to an optional [`SenderConfig::on_request`] hook (no token, no PII in it). The access
//! token is redacted (`***`) from every error message and from the returned response body.

use crate::error::{SendError, ValidationError};
use crate::event::{parse_inputs, BuildOptions, Event};
use crate::input::Input;
pub use crate::platform::Platform;
use crate::platform::{Answer, Auth, PlatformSpec, Request, Target};
use once_cell::sync::Lazy;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most events one request may carry (both platforms reject larger batches as a whole).
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;
/// Graph API version used when none is given.
pub const DEFAULT_META_API_VERSION: &str = "v25.0";
/// Default Meta base URL.
pub const DEFAULT_META_BASE_URL: &str = "https://graph.facebook.com";
/// Default TikTok base URL.
pub const DEFAULT_TIKTOK_BASE_URL: &str = "https://business-api.tiktok.com";
/// Path of the TikTok Events API 2.0 endpoint.
pub const TIKTOK_TRACK_PATH: &str = "/open_api/v1.3/event/track/";

/// Response bodies are read up to this size; anything beyond is ignored.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// Longest excerpt of a non-JSON error body kept in an error message.
const BODY_EXCERPT_CHARS: usize = 200;

// ---------------------------------------------------------------------------------------------
// Token, platform, config, log record, result
// ---------------------------------------------------------------------------------------------

/// An access token. `Debug` and `Display` print `***`; only [`AccessToken::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret itself. Used only when building the request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of the token replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() || !text.contains(self.0.as_str()) {
            text.to_string()
        } else {
            text.replace(self.0.as_str(), "***")
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for AccessToken {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for AccessToken {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// What became of one HTTP attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Accepted by the platform.
    Ok,
    /// Failed; the sender will try again.
    Retry,
    /// Failed; the sender gives up (permanent error, retries exhausted, or wait too long).
    Error,
}

impl Outcome {
    /// `"ok"`, `"retry"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Retry => "retry",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One HTTP attempt, as reported to [`SenderConfig::on_request`]. Holds no token and no PII.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLog {
    pub platform: Platform,
    /// Meta pixel (dataset) id or TikTok pixel code.
    pub pixel: String,
    /// Events in this request.
    pub events: usize,
    /// HTTP status, `None` when no response arrived.
    pub status: Option<u16>,
    /// 1 for the first attempt of this request, 2 for the first retry, ...
    pub attempt: u32,
    /// Time from sending the request to reading the whole response (or failing).
    pub duration: Duration,
    /// `fbtrace_id` (Meta) or `request_id` (TikTok), when the response had one.
    pub trace_id: Option<String>,
    pub outcome: Outcome,
    /// Platform error code (Meta `error.code`, TikTok `code`) when there was one; TikTok's
    /// success codes (0, 20001) are reported too.
    pub code: Option<i64>,
    /// Meta `error_subcode`, when there was one.
    pub subcode: Option<i64>,
    /// For transport failures: `"timeout"`, `"connect"`, `"request"`, `"body"` or `"response"`
    /// (a response without the platform's envelope).
    pub error_kind: Option<&'static str>,
    /// The wait before the next attempt, when `outcome` is `Retry`.
    pub retry_in: Option<Duration>,
}

/// Hook called once per HTTP attempt.
pub type RequestHook = Arc<dyn Fn(&RequestLog) + Send + Sync>;

/// Transport and retry settings shared by both senders.
#[derive(Clone)]
pub struct SenderConfig {
    /// Scheme and host (optionally a path prefix), e.g. `https://graph.facebook.com`.
    /// `None` = the platform's default.
    pub base_url: Option<String>,
    /// Total time for one HTTP attempt, connecting included. Default 10 s.
    pub timeout: Duration,
    /// Time to establish a connection. Default 3 s.
    pub connect_timeout: Duration,
    /// Retries after the first attempt, per request. Default 3.
    pub max_retries: u32,
    /// First backoff ceiling; doubles each retry (full jitter: sleep uniform in [0, ceiling]).
    /// Default 0.5 s.
    pub backoff_base: Duration,
    /// Largest backoff ceiling. Default 30 s.
    pub backoff_max: Duration,
    /// Longest `Retry-After` the sender will sleep for. A longer one ends the send with a
    /// retryable error whose `retry_after` is set. Default 60 s.
    pub max_retry_after: Duration,
    /// `User-Agent` header. Default `convapi/<crate version>`.
    pub user_agent: String,
    /// Called once per HTTP attempt.
    pub on_request: Option<RequestHook>,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            user_agent: default_user_agent(),
            on_request: None,
        }
    }
}

impl fmt::Debug for SenderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderConfig")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("max_retry_after", &self.max_retry_after)
            .field("user_agent", &self.user_agent)
            .field("on_request", &self.on_request.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

/// `convapi/<crate version>`.
pub fn default_user_agent() -> String {
    format!("convapi/{}", env!("CARGO_PKG_VERSION"))
}

/// The outcome of a successful send (all its requests succeeded).
#[derive(Debug, Clone, PartialEq)]
pub struct SendResult {
    pub platform: Platform,
    /// Meta: sum of `events_received`. TikTok: events in the accepted requests.
    pub events_received: u64,
    /// TikTok `code` of the last response (0 or 20001); `None` for Meta.
    pub code: Option<i64>,
    /// Meta `messages` of every response; TikTok `message` of every response.
    pub messages: Vec<String>,
    /// Trace id of the last response (`fbtrace_id` / `request_id`).
    pub trace_id: Option<String>,
    /// Trace ids of every request, in order.
    pub trace_ids: Vec<String>,
    /// HTTP status of the last response.
    pub http_status: u16,
    /// HTTP attempts over all requests (requests + retries).
    pub attempts: u32,
    /// Requests sent (one per 1,000 events).
    pub requests: u32,
    /// Wall time of the whole send, backoff included.
    pub duration: Duration,
    /// The last response body (token redacted).
    pub response: Value,
}

// ---------------------------------------------------------------------------------------------
// Senders
// ---------------------------------------------------------------------------------------------

/// Sends events to one destination of one platform (see [`crate::platform`]).
#[derive(Clone)]
pub struct Sender {
    spec: &'static PlatformSpec,
    target: Target,
    token: AccessToken,
    config: SenderConfig,
    base: String,
    url: String,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A platform whose credentials travel in the URL (GA4) shows neither of them.
        let id: &str = if matches!(self.spec.auth, Auth::Query(_)) {
            "***"
        } else {
            &self.target.id
        };
        f.debug_struct("Sender")
            .field("platform", &self.spec.name)
            .field(self.spec.id_name, &id)
            .field("url", &self.url)
            .field(self.spec.secret_name, &self.token)
            .field("config", &self.config)
            .finish()
    }
}

impl Sender {
    /// `id` is the platform's destination id (Meta pixel, TikTok pixel code, Pinterest ad
    /// account, GA4 measurement id); `api_version` only applies to Meta (default
    /// [`DEFAULT_META_API_VERSION`]); `config.base_url` defaults to the platform's.
    pub fn new(
        platform: Platform,
        id: &str,
        token: AccessToken,
        api_version: Option<&str>,
        config: SenderConfig,
    ) -> Result<Self, ValidationError> {
        let spec = platform.spec();
        (spec.check_target)(&Target {
            id: id.trim().to_string(),
            api_version: None,
        })?;
        let api_version = match platform {
            Platform::Meta => {
                let v = api_version.unwrap_or(DEFAULT_META_API_VERSION).trim();
                if !valid_api_version(v) {
                    return Err(ValidationError::new(
                        "api_version",
                        format!("must look like \"v25.0\", got {v:?}"),
                    ));
                }
                Some(v.to_string())
            }
            _ if api_version.is_some() => {
                return Err(ValidationError::new(
                    "api_version",
                    format!("applies to Meta only, not to {}", spec.label),
                ))
            }
            _ => None,
        };
        let target = Target {
            id: id.trim().to_string(),
            api_version,
        };
        validate_token(&token, spec.secret_name)?;
        validate_config(&config)?;
        let base = normalize_base_url(config.base_url.as_deref().unwrap_or(spec.default_base_url))?;
        let url = display_url(spec, &base, &target, &Request::default());
        Ok(Self {
            spec,
            target,
            token,
            config,
            base,
            url,
        })
    }

    pub fn platform(&self) -> Platform {
        self.spec.platform
    }

    /// The destination id (pixel, pixel code, ad account, measurement id).
    pub fn id(&self) -> &str {
        &self.target.id
    }

    pub fn api_version(&self) -> Option<&str> {
        self.target.api_version.as_deref()
    }

    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// The endpoint URL as it may be shown: never the token, and for a platform whose secret
    /// travels in the query (GA4), its query parameters masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Builds `events` with `opts` and sends them, as many requests as the platform needs.
    /// Nothing is sent when any event fails to build.
    pub fn send_inputs(
        &self,
        events: &[Input<'_>],
        request: &Request,
        opts: &BuildOptions,
    ) -> Result<SendResult, SendError> {
        let bodies = build_chunks(self.spec, events, opts, |chunk, buf| {
            self.spec.encode(chunk, &self.target, request, buf)
        })?;
        self.engine(request).send_bodies(bodies)
    }

    /// [`Sender::send_inputs`] for JSON events.
    pub fn send_with(
        &self,
        events: &[Value],
        request: &Request,
        opts: &BuildOptions,
    ) -> Result<SendResult, SendError> {
        let inputs: Vec<Input<'_>> = events.iter().map(Input::from).collect();
        self.send_inputs(&inputs, request, opts)
    }

    /// Sends an already built payload (`{"data": [...], ...}`, Meta, TikTok and Pinterest),
    /// split into requests of at most the platform's batch size. A payload's `access_token` is
    /// never sent: the sender's own token is.
    pub fn send_payload(
        &self,
        payload: &Value,
        request: &Request,
    ) -> Result<SendResult, SendError> {
        if self.spec.identity.is_some() {
            return Err(ValidationError::new(
                "payload",
                format!(
                    "{} payloads are sent from events (send), not prebuilt",
                    self.spec.label
                ),
            )
            .into());
        }
        self.engine(request)
            .send_bodies(split_payload(payload, self.spec.max_events)?)
    }

    fn engine<'s>(&'s self, request: &'s Request) -> Engine<'s> {
        Engine {
            spec: self.spec,
            // A platform whose credentials travel in the URL (GA4) has its id masked in the
            // request log too.
            pixel: if matches!(self.spec.auth, Auth::Query(_)) {
                "***"
            } else {
                &self.target.id
            },
            url: request_url(self.spec, &self.base, &self.target, request, &self.token),
            token: &self.token,
            config: &self.config,
            request,
        }
    }
}

/// The URL of a request, secret included where the platform puts it in the query. Never
/// logged, never put in an error (transport errors are stripped of their URL).
fn request_url(
    spec: &PlatformSpec,
    base: &str,
    target: &Target,
    request: &Request,
    token: &AccessToken,
) -> String {
    let mut url = format!("{base}{}", (spec.path)(target, request));
    if let Auth::Query(name) = spec.auth {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(name);
        url.push('=');
        url.push_str(&percent_encode(token.expose()));
    }
    url
}

/// [`request_url`] as it may be shown: query values masked for a platform with its secret in
/// the query.
fn display_url(spec: &PlatformSpec, base: &str, target: &Target, request: &Request) -> String {
    let url = format!("{base}{}", (spec.path)(target, request));
    let Auth::Query(name) = spec.auth else {
        return url;
    };
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut masked: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| format!("{}=***", p.split('=').next().unwrap_or(p)))
        .collect();
    masked.push(format!("{name}=***"));
    format!("{path}?{}", masked.join("&"))
}

/// RFC 3986 percent-encoding of a query value (unreserved characters kept).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends events to Meta's Conversions API (a [`Sender`] for [`Platform::Meta`]).
#[derive(Debug, Clone)]
pub struct MetaSender(Sender);

impl MetaSender {
    /// `api_version` defaults to [`DEFAULT_META_API_VERSION`]; `config.base_url` to
    /// [`DEFAULT_META_BASE_URL`].
    pub fn new(
        pixel_id: &str,
        token: AccessToken,
        api_version: Option<&str>,
        config: SenderConfig,
    ) -> Result<Self, ValidationError> {
        Sender::new(
            Platform::Meta,
            pixel_id,
            token,
            Some(api_version.unwrap_or(DEFAULT_META_API_VERSION)),
            config,
        )
        .map(MetaSender)
    }

    pub fn pixel_id(&self) -> &str {
        self.0.id()
    }

    pub fn api_version(&self) -> &str {
        self.0.api_version().unwrap_or(DEFAULT_META_API_VERSION)
    }

    pub fn config(&self) -> &SenderConfig {
        self.0.config()
    }

    /// The endpoint URL (it never contains the token).
    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// Builds (default [`BuildOptions`]) and sends `events`.
    pub fn send(
        &self,
        events: &[Value],
        test_event_code: Option<&str>,
    ) -> Result<SendResult, SendError> {
        self.send_with(events, test_event_code, &BuildOptions::default())
    }

    /// Builds `events` with `opts` and sends them, 1,000 per request. Nothing is sent when any
    /// event fails to build.
    pub fn send_with(
        &self,
        events: &[Value],
        test_event_code: Option<&str>,
        opts: &BuildOptions,
    ) -> Result<SendResult, SendError> {
        self.0
            .send_with(events, &test_request(test_event_code), opts)
    }

    /// [`MetaSender::send_with`] for events already in the [`Input`] shape.
    pub fn send_inputs(
        &self,
        events: &[Input<'_>],
        test_event_code: Option<&str>,
        opts: &BuildOptions,
    ) -> Result<SendResult, SendError> {
        self.0
            .send_inputs(events, &test_request(test_event_code), opts)
    }

    /// Sends an already built payload (`{"data": [...], ...}`, without `access_token`), split
    /// into requests of at most 1,000 events.
    pub fn send_payload(&self, payload: &Value) -> Result<SendResult, SendError> {
        self.0.send_payload(payload, &Request::default())
    }
}

/// Sends events to TikTok's Events API 2.0 (a [`Sender`] for [`Platform::TikTok`]).
#[derive(Debug, Clone)]
pub struct TikTokSender(Sender);

impl TikTokSender {
    /// `config.base_url` defaults to [`DEFAULT_TIKTOK_BASE_URL`].
    pub fn new(
        pixel_code: &str,
        token: AccessToken,
        config: SenderConfig,
    ) -> Result<Self, ValidationError> {
        Sender::new(Platform::TikTok, pixel_code, token, None, config).map(TikTokSender)
    }

    pub fn pixel_code(&self) -> &str {
        self.0.id()
    }

    pub fn config(&self) -> &SenderConfig {
        self.0.config()
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// Builds (default [`BuildOptions`]) and sends `events`.
    pub fn send(
        &self,
        events: &[Value],
        test_event_code: Option<&str>,
    ) -> Result<SendResult, SendError> {
        self.send_with(events, test_event_code, &BuildOptions::default())
    }

    /// Builds `events` with `opts` and sends them, 1,000 per request. Nothing is sent when any
    /// event fails to build.
    pub fn send_with(
        &self,
        events: &[Value],
        test_event_code: Option<&str>,
        opts: &BuildOptions,
    ) -> Result<SendResult, SendError> {
        self.0
            .send_with(events, &test_request(test_event_code), opts)
    }

    /// [`TikTokSender::send_with`] for events already in the [`Input`] shape.
    pub fn send_inputs(
        &self,
        events: &[Input<'_>],
        test_event_code: Option<&str>,
        opts: &BuildOptions,
    ) -> Result<SendResult, SendError> {
        self.0
            .send_inputs(events, &test_request(test_event_code), opts)
    }

    /// Sends an already built payload (`{"event_source": ..., "data": [...]}`), split into
    /// requests of at most 1,000 events.
    pub fn send_payload(&self, payload: &Value) -> Result<SendResult, SendError> {
        self.0.send_payload(payload, &Request::default())
    }
}

fn test_request(test_event_code: Option<&str>) -> Request {
    Request {
        test_event_code: test_event_code.map(str::to_string),
        test: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------

fn valid_api_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let major_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let minor_ok = parts.next().map_or(true, |p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
    });
    major_ok && minor_ok && parts.next().is_none()
}

fn validate_token(token: &AccessToken, name: &'static str) -> Result<(), ValidationError> {
    let t = token.expose();
    if t.trim().is_empty() {
        return Err(ValidationError::new(name, "must not be empty"));
    }
    // The token travels in a header, a JSON string or a query parameter; whitespace or control
    // characters mean a copy-paste accident. The message never repeats the token.
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            name,
            "must not contain whitespace or control characters",
        ));
    }
    if !t.is_ascii() {
        return Err(ValidationError::new(
            name,
            "must contain only ASCII characters",
        ));
    }
    Ok(())
}

fn validate_config(config: &SenderConfig) -> Result<(), ValidationError> {
    if config.timeout.is_zero() {
        return Err(ValidationError::new("timeout", "must be greater than 0"));
    }
    if config.connect_timeout.is_zero() {
        return Err(ValidationError::new(
            "connect_timeout",
            "must be greater than 0",
        ));
    }
    if reqwest::header::HeaderValue::from_str(&config.user_agent).is_err() {
        return Err(ValidationError::new(
            "user_agent",
            "must be a valid HTTP header value",
        ));
    }
    Ok(())
}

/// Checks `base_url` (http or https, a host, no query, fragment or credentials) and returns it
/// without a trailing slash.
fn normalize_base_url(raw: &str) -> Result<String, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ValidationError::new("base_url", "must not be empty"));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|e| ValidationError::new("base_url", format!("not a valid URL ({e}): {raw:?}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ValidationError::new(
            "base_url",
            format!("scheme must be http or https, got {:?}", url.scheme()),
        ));
    }
    if url.host_str().map_or(true, str::is_empty) {
        return Err(ValidationError::new("base_url", "must have a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ValidationError::new(
            "base_url",
            "must not have a query or fragment",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValidationError::new(
            "base_url",
            "must not contain credentials",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

// ---------------------------------------------------------------------------------------------
// Batching
// ---------------------------------------------------------------------------------------------

/// One request's JSON body (without Meta's `access_token`, added when sending), the number of
/// events in it and their positions in the send's events.
struct Body {
    json: Vec<u8>,
    events: usize,
    indexes: Vec<usize>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ValidationError> {
    serde_json::to_vec(value)
        .map_err(|e| ValidationError::new("payload", format!("could not serialise: {e}")))
}

/// Builds every request body before anything is sent: the events are parsed 1,000 at a time
/// (the neutral model's limit), grouped by user where the platform wants one user per request
/// (GA4, first appearance order kept), and cut to the platform's batch size. A validation
/// error's index (`events[3]...`) is mapped back to the event's position in the whole send.
fn build_chunks<F>(
    spec: &PlatformSpec,
    events: &[Input<'_>],
    opts: &BuildOptions,
    mut encode: F,
) -> Result<Vec<Body>, SendError>
where
    F: FnMut(&[Event<'_>], &mut Vec<u8>) -> Result<(), ValidationError>,
{
    if events.is_empty() {
        return Err(ValidationError::new("events", "must contain at least one event").into());
    }
    let per_request = spec.max_events.clamp(1, MAX_EVENTS_PER_REQUEST);
    let mut bodies = Vec::with_capacity(events.len().div_ceil(per_request));
    for (i, chunk) in events.chunks(MAX_EVENTS_PER_REQUEST).enumerate() {
        let offset = i * MAX_EVENTS_PER_REQUEST;
        let parsed = parse_inputs(chunk, opts).map_err(|e| remap_index(e, |k| k + offset))?;
        let groups: Vec<Vec<usize>> = match spec.identity {
            None => vec![(0..parsed.len()).collect()],
            Some(identity) => {
                let mut keys: Vec<String> = Vec::new();
                let mut groups: Vec<Vec<usize>> = Vec::new();
                for (j, event) in parsed.iter().enumerate() {
                    let key = identity(event);
                    match keys.iter().position(|k| *k == key) {
                        Some(g) => groups[g].push(j),
                        None => {
                            keys.push(key);
                            groups.push(vec![j]);
                        }
                    }
                }
                groups
            }
        };
        for group in groups {
            for idxs in group.chunks(per_request) {
                let contiguous = idxs.windows(2).all(|w| w[1] == w[0] + 1);
                let mut json = Vec::with_capacity(64 + idxs.len() * 1024);
                let absolute = |k: usize| idxs.get(k).map_or(k, |j| j + offset);
                let built = if contiguous {
                    let first = idxs.first().copied().unwrap_or(0);
                    encode(&parsed[first..first + idxs.len()], &mut json)
                } else {
                    let picked: Vec<Event<'_>> = idxs.iter().map(|&j| parsed[j].clone()).collect();
                    encode(&picked, &mut json)
                };
                built.map_err(|e| remap_index(e, absolute))?;
                bodies.push(Body {
                    json,
                    events: idxs.len(),
                    indexes: idxs.iter().map(|j| j + offset).collect(),
                });
            }
        }
    }
    Ok(bodies)
}

/// `events[3].user` → `events[1003].user` for `map` adding 1000.
fn remap_index(mut err: ValidationError, map: impl Fn(usize) -> usize) -> ValidationError {
    let field = &err.field;
    if let Some(open) = field.find('[') {
        if let Some(close_rel) = field[open + 1..].find(']') {
            let close = open + 1 + close_rel;
            let head = &field[..open];
            let simple_head = head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if simple_head {
                if let Ok(n) = field[open + 1..close].parse::<usize>() {
                    err.field = format!("{head}[{}]{}", map(n), &field[close + 1..]);
                }
            }
        }
    }
    err
}

/// [`remap_index`] by a fixed offset.
#[cfg(test)]
fn shift_index(err: ValidationError, offset: usize) -> ValidationError {
    remap_index(err, |n| n.saturating_add(offset))
}

/// Splits a built payload's `data` array into bodies of at most `per_request` events, copying
/// the other top-level keys into each.
fn split_payload(payload: &Value, per_request: usize) -> Result<Vec<Body>, SendError> {
    let obj = payload
        .as_object()
        .ok_or_else(|| ValidationError::new("payload", "must be a JSON object"))?;
    let data = obj
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ValidationError::new("data", "must be an array"))?;
    if data.is_empty() {
        return Err(ValidationError::new("data", "must contain at least one event").into());
    }
    let per_request = per_request.clamp(1, MAX_EVENTS_PER_REQUEST);
    let bodies = data
        .chunks(per_request)
        .enumerate()
        .map(|(i, chunk)| {
            let mut m = Map::with_capacity(obj.len());
            for (k, v) in obj {
                if k == "data" {
                    m.insert(k.clone(), Value::Array(chunk.to_vec()));
                } else if k == "access_token" {
                    // The sender's own token goes in when sending; a payload's copy never does.
                    continue;
                } else {
                    m.insert(k.clone(), v.clone());
                }
            }
            Ok(Body {
                json: to_json(&Value::Object(m))?,
                events: chunk.len(),
                indexes: (i * per_request..i * per_request + chunk.len()).collect(),
            })
        })
        .collect::<Result<Vec<Body>, ValidationError>>()?;
    Ok(bodies)
}

// ---------------------------------------------------------------------------------------------
// HTTP client (one per process)
// ---------------------------------------------------------------------------------------------

/// Pooled clients keyed by connect timeout (reqwest sets it per client, not per request). With
/// the default config this holds exactly one client for the whole process. The process id is
/// kept so that a forked child (Odoo's prefork workers) builds its own client instead of using
/// the parent's, whose I/O thread does not exist in the child.
struct ClientPool {
    pid: u32,
    clients: HashMap<Duration, reqwest::blocking::Client>,
}

static CLIENTS: Lazy<Mutex<ClientPool>> = Lazy::new(|| {
    Mutex::new(ClientPool {
        pid: std::process::id(),
        clients: HashMap::new(),
    })
});

fn client(connect_timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    let mut pool = CLIENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pid = std::process::id();
    if pool.pid != pid {
        // Inherited across fork: dropping these would wait for an I/O thread that is not
        // there, so leak them.
        std::mem::forget(std::mem::take(&mut pool.clients));
        pool.pid = pid;
    }
    if let Some(c) = pool.clients.get(&connect_timeout) {
        return Ok(c.clone());
    }
    let c = reqwest::blocking::Client::builder()
        .connect_timeout(connect_timeout)
        // The per-request timeout (SenderConfig::timeout) always overrides this.
        .timeout(None)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(16)
        .tcp_keepalive(Duration::from_secs(60))
        .tcp_nodelay(true)
        // Never follow redirects: a redirected POST could carry the token to another host.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("could not build the HTTP client: {}", error_chain(&e)))?;
    pool.clients.insert(connect_timeout, c.clone());
    Ok(c)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The engine: send bodies, classify answers, retry
// ---------------------------------------------------------------------------------------------

struct Engine<'a> {
    spec: &'static PlatformSpec,
    pixel: &'a str,
    /// The request URL (for GA4 holding the secret): never logged.
    url: String,
    token: &'a AccessToken,
    config: &'a SenderConfig,
    request: &'a Request,
}

/// A request that the platform accepted (maybe refusing some of its events).
#[derive(Debug)]
pub struct Accepted {
    pub events_received: u64,
    pub code: Option<i64>,
    pub messages: Vec<String>,
    pub trace_id: Option<String>,
    pub http_status: u16,
    pub body: Value,
    /// Events of the request the platform refused: `(position in the request, message)`.
    pub failed: Vec<(usize, String)>,
}

impl Accepted {
    /// An accepted request of `events` events with no per-event refusal.
    pub fn new(events: u64, http_status: u16, body: Value) -> Self {
        Accepted {
            events_received: events,
            code: None,
            messages: Vec::new(),
            trace_id: None,
            http_status,
            body,
            failed: Vec::new(),
        }
    }
}

/// A failed attempt, classified.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
    pub status: Option<u16>,
    pub trace_id: Option<String>,
}

#[derive(Debug)]
pub enum FailureKind {
    Api {
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
    Transport {
        kind: &'static str,
        message: String,
    },
}

impl Failure {
    /// No usable answer (or one without the platform's envelope).
    pub fn transport(kind: &'static str, message: String, retryable: bool) -> Self {
        Failure {
            kind: FailureKind::Transport { kind, message },
            retryable,
            retry_after: None,
            status: None,
            trace_id: None,
        }
    }

    /// The platform's own error.
    pub fn api(code: i64, message: String, status: u16, retryable: bool) -> Self {
        Failure {
            kind: FailureKind::Api {
                code,
                subcode: None,
                message,
            },
            retryable,
            retry_after: None,
            status: Some(status),
            trace_id: None,
        }
    }
}

/// What one HTTP attempt came to.
#[derive(Debug)]
pub enum Attempt {
    Accepted(Accepted),
    Failed(Failure),
}

impl Engine<'_> {
    fn send_bodies(&self, bodies: Vec<Body>) -> Result<SendResult, SendError> {
        let start = Instant::now();
        let mut result = SendResult {
            platform: self.spec.platform,
            events_received: 0,
            code: None,
            messages: Vec::new(),
            trace_id: None,
            trace_ids: Vec::new(),
            http_status: 0,
            attempts: 0,
            requests: 0,
            duration: Duration::ZERO,
            response: Value::Null,
        };
        let mut sent: Vec<usize> = Vec::new();
        for body in bodies {
            result.requests += 1;
            let indexes = body.indexes.clone();
            let accepted = self.send_one(body, &mut result.attempts, &sent)?;
            if !accepted.failed.is_empty() {
                let failed: Vec<(usize, String)> = accepted
                    .failed
                    .iter()
                    .map(|(k, m)| (indexes.get(*k).copied().unwrap_or(*k), self.token.redact(m)))
                    .collect();
                let refused: Vec<usize> = accepted.failed.iter().map(|(k, _)| *k).collect();
                sent.extend(
                    indexes
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| !refused.contains(k))
                        .map(|(_, j)| *j),
                );
                return Err(SendError::Partial {
                    platform: self.spec.name,
                    failed,
                    events_sent: sent.len(),
                    sent,
                    attempts: result.attempts,
                    trace_id: accepted.trace_id.map(|t| self.token.redact(&t)),
                    http_status: accepted.http_status,
                });
            }
            sent.extend(indexes);
            result.events_received += accepted.events_received;
            if accepted.code.is_some() {
                result.code = accepted.code;
            }
            result.messages.extend(accepted.messages);
            if let Some(t) = accepted.trace_id {
                result.trace_ids.push(t.clone());
                result.trace_id = Some(t);
            }
            result.http_status = accepted.http_status;
            result.response = accepted.body;
        }
        result.duration = start.elapsed();
        Ok(result)
    }

    /// Sends one body with retries. `attempts` counts over the whole send.
    fn send_one(
        &self,
        body: Body,
        attempts: &mut u32,
        sent: &[usize],
    ) -> Result<Accepted, SendError> {
        let bytes = self.encode(body.json)?;
        let client =
            client(self.config.connect_timeout).map_err(|message| SendError::Transport {
                platform: self.spec.name,
                message: self.token.redact(&message),
                retryable: false,
                attempts: *attempts,
                events_sent: sent.len(),
                sent: sent.to_vec(),
                retry_after: None,
            })?;
        let max_attempts = self
            .config
            .max_retries
            .saturating_add(1)
            .min(self.spec.max_attempts.max(1));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            *attempts += 1;
            let started = Instant::now();
            let outcome = self.attempt(&client, &bytes, body.events);
            let duration = started.elapsed();
            let failure = match outcome {
                Attempt::Accepted(acc) => {
                    self.log(RequestLog {
                        platform: self.spec.platform,
                        pixel: self.pixel.to_string(),
                        events: body.events,
                        status: Some(acc.http_status),
                        attempt,
                        duration,
                        trace_id: acc.trace_id.clone(),
                        outcome: Outcome::Ok,
                        code: acc.code,
                        subcode: None,
                        error_kind: None,
                        retry_in: None,
                    });
                    return Ok(acc);
                }
                Attempt::Failed(f) => f,
            };
            // Decide whether and how long to wait.
            let mut give_up_retry_after = None;
            let wait = if !failure.retryable || attempt >= max_attempts {
                None
            } else if let Some(ra) = failure.retry_after {
                if ra > self.config.max_retry_after {
                    give_up_retry_after = Some(ra);
                    None
                } else {
                    Some(ra)
                }
            } else {
                Some(backoff(
                    attempt,
                    self.config.backoff_base,
                    self.config.backoff_max,
                ))
            };
            let (code, subcode, error_kind) = match &failure.kind {
                FailureKind::Api { code, subcode, .. } => (Some(*code), *subcode, None),
                FailureKind::Transport { kind, .. } => (None, None, Some(*kind)),
            };
            self.log(RequestLog {
                platform: self.spec.platform,
                pixel: self.pixel.to_string(),
                events: body.events,
                status: failure.status,
                attempt,
                duration,
                trace_id: failure.trace_id.clone(),
                outcome: if wait.is_some() {
                    Outcome::Retry
                } else {
                    Outcome::Error
                },
                code,
                subcode,
                error_kind,
                retry_in: wait,
            });
            match wait {
                Some(d) => std::thread::sleep(d),
                None => {
                    let retry_after = give_up_retry_after.or(failure.retry_after);
                    return Err(self.to_error(failure, *attempts, sent, retry_after));
                }
            }
        }
    }

    fn to_error(
        &self,
        failure: Failure,
        attempts: u32,
        sent: &[usize],
        retry_after: Option<Duration>,
    ) -> SendError {
        let platform = self.spec.name;
        match failure.kind {
            FailureKind::Api {
                code,
                subcode,
                message,
            } => SendError::Api {
                platform,
                code,
                subcode,
                message: self.token.redact(&message),
                trace_id: failure.trace_id.map(|t| self.token.redact(&t)),
                http_status: failure.status.unwrap_or(0),
                retryable: failure.retryable,
                attempts,
                events_sent: sent.len(),
                sent: sent.to_vec(),
                retry_after,
            },
            FailureKind::Transport { message, .. } => SendError::Transport {
                platform,
                message: self.token.redact(&message),
                retryable: failure.retryable,
                attempts,
                events_sent: sent.len(),
                sent: sent.to_vec(),
                retry_after,
            },
        }
    }

    fn log(&self, entry: RequestLog) {
        if let Some(hook) = &self.config.on_request {
            // A panicking hook must not take the send down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&entry)));
        }
    }

    /// The request body bytes: a platform with its token in the body (Meta's `access_token`)
    /// gets it spliced in as the object's first key, so the rest is not serialised again.
    fn encode(&self, json: Vec<u8>) -> Result<Vec<u8>, SendError> {
        let Auth::BodyKey(key) = self.spec.auth else {
            return Ok(json);
        };
        let Some(rest) = json.strip_prefix(b"{") else {
            return Err(ValidationError::new("payload", "must be a JSON object").into());
        };
        let token = to_json(&self.token.expose())?;
        let mut out = Vec::with_capacity(json.len() + token.len() + key.len() + 8);
        out.push(b'{');
        out.extend_from_slice(&to_json(&key)?);
        out.push(b':');
        out.extend_from_slice(&token);
        if rest.first() != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(rest);
        Ok(out)
    }

    fn attempt(&self, client: &reqwest::blocking::Client, bytes: &[u8], events: usize) -> Attempt {
        let mut req = client
            .post(&self.url)
            .timeout(self.config.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::USER_AGENT, self.config.user_agent.as_str())
            .body(bytes.to_vec());
        match self.spec.auth {
            Auth::Header(name) => req = req.header(name, self.token.expose()),
            Auth::Bearer => {
                req = req.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", self.token.expose()),
                )
            }
            Auth::BodyKey(_) | Auth::Query(_) => {}
        }
        let resp = match req.send() {
            Ok(r) => r,
            Err(e) => return Attempt::Failed(self.transport_failure(e)),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let header_trace = resp
            .headers()
            .get("x-fb-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut raw = Vec::new();
        if let Err(e) = resp.take(MAX_RESPONSE_BYTES).read_to_end(&mut raw) {
            let kind = if is_timeout_io(&e) { "timeout" } else { "body" };
            let mut f = Failure::transport(
                kind,
                format!("reading the response (HTTP {status}) failed: {e}"),
                true,
            );
            f.status = Some(status);
            f.retry_after = retry_after;
            return Attempt::Failed(f);
        }
        let answer = Answer {
            status,
            body: serde_json::from_slice(&raw).ok(),
            raw: &raw,
            header_trace,
            events,
            request: self.request,
        };
        let mut outcome = (self.spec.classify)(&answer);
        match &mut outcome {
            Attempt::Accepted(acc) => {
                redact_value(&mut acc.body, self.token);
                for m in &mut acc.messages {
                    *m = self.token.redact(m);
                }
            }
            Attempt::Failed(f) => f.retry_after = retry_after,
        }
        outcome
    }

    fn transport_failure(&self, e: reqwest::Error) -> Failure {
        let kind = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect"
        } else if e.is_body() || e.is_decode() {
            "body"
        } else {
            "request"
        };
        // A builder error (bad header value, ...) will fail the same way every time.
        let retryable = !e.is_builder();
        let e = e.without_url();
        let message = self.token.redact(&error_chain(&e));
        Failure::transport(kind, message, retryable)
    }
}

fn is_timeout_io(e: &std::io::Error) -> bool {
    if matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) {
        return true;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(inner) = src {
        if let Some(re) = inner.downcast_ref::<reqwest::Error>() {
            if re.is_timeout() {
                return true;
            }
        }
        src = inner.source();
    }
    false
}

/// `Retry-After` in seconds (integer or decimal). HTTP-dates are not parsed (→ `None`, the
/// sender falls back to its own backoff).
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let f = v.parse::<f64>().ok()?;
    if (0.0..1e9).contains(&f) {
        Some(Duration::from_secs_f64(f))
    } else {
        None
    }
}

pub(crate) fn excerpt(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim();
    if s.is_empty() {
        return "(empty body)".to_string();
    }
    let mut out: String = s.chars().take(BODY_EXCERPT_CHARS).collect();
    if s.chars().count() > BODY_EXCERPT_CHARS {
        out.push('…');
    }
    out
}

pub(crate) fn status_retryable(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

pub(crate) fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
            .or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn as_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn messages_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn redact_value(v: &mut Value, token: &AccessToken) {
    match v {
        Value::String(s) if !token.is_empty() && s.contains(token.expose()) => {
            *s = token.redact(s);
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, token)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_value(i, token)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Backoff with full jitter
// ---------------------------------------------------------------------------------------------

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    // RandomState is randomly keyed per process; mix in the thread id and the clock.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(nanos);
    std::hash::Hash::hash(&std::thread::current().id(), &mut h);
    let s = h.finish();
    if s == 0 {
        0x2545_F491_4F6C_DD1D
    } else {
        s
    }
}

/// xorshift64*: uniform u64.
fn next_random() -> u64 {
    RNG.with(|cell| {
        let mut x = cell.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cell.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Full jitter: uniform in `[0, min(max, base * 2^(attempt-1))]`.
fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(32);
    let ceiling = base.saturating_mul(1u32 << exp.min(31)).min(max);
    let nanos = ceiling.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(next_random() % (nanos + 1))
}

#[cfg(test)]
mod tests;
