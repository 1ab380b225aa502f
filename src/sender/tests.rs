//! Sender tests against a scripted HTTP/1.1 server on 127.0.0.1.

use super::*;
use crate::meta::meta_code_retryable;
use crate::tiktok::tiktok_code_retryable;
use serde_json::json;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

const TOKEN: &str = "EAAB-secret-token-XYZ123";

// ------------------------------------------------------------------------------------------
// Scripted server
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone)]
enum Reply {
    /// Status, extra headers, body.
    Fixed(u16, Vec<(String, String)>, String),
    /// Sleep, then answer.
    Delay(Duration, Box<Reply>),
    /// Close the connection without answering.
    Drop,
    /// Meta-style error whose message repeats the raw request (URL + body).
    EchoMetaError(u16),
    /// TikTok-style error whose message repeats the request headers and body.
    EchoTikTokError,
}

fn json_reply(status: u16, body: Value) -> Reply {
    Reply::Fixed(status, Vec::new(), body.to_string())
}

fn meta_ok(n: u64, trace: &str) -> Reply {
    json_reply(
        200,
        json!({"events_received": n, "messages": [], "fbtrace_id": trace}),
    )
}

fn meta_err(status: u16, code: i64, subcode: Option<i64>, transient: bool) -> Reply {
    let mut e = json!({
        "message": "Invalid parameter",
        "type": "OAuthException",
        "code": code,
        "is_transient": transient,
        "error_user_title": "Something",
        "error_user_msg": "Explained",
        "fbtrace_id": format!("trace-{code}"),
    });
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    json_reply(status, json!({ "error": e }))
}

fn tiktok_reply(code: i64, message: &str, request_id: &str) -> Reply {
    json_reply(
        200,
        json!({"code": code, "message": message, "request_id": request_id, "data": {}}),
    )
}

struct Server {
    base_url: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (script.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || serve_connection(stream, s, r));
            }
        });
        Server {
            base_url: format!("http://{addr}"),
            script,
            requests,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn remaining(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn serve_connection(
    stream: TcpStream,
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        requests.lock().unwrap().push(req.clone());
        let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Fixed(
            599,
            Vec::new(),
            "script exhausted".into(),
        ));
        if !answer(&mut writer, reply, &req) {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Writes the reply; false = the connection must be closed.
fn answer(w: &mut TcpStream, reply: Reply, req: &Recorded) -> bool {
    let (status, headers, body) = match reply {
        Reply::Drop => return false,
        Reply::Delay(d, inner) => {
            std::thread::sleep(d);
            return answer(w, *inner, req);
        }
        Reply::Fixed(s, h, b) => (s, h, b),
        Reply::EchoMetaError(s) => {
            let echoed = format!(
                "{} {} {}",
                req.method,
                req.path,
                String::from_utf8_lossy(&req.body)
            );
            let body = json!({"error": {
                "message": format!("Malformed request: {echoed}"),
                "code": 100,
                "error_user_msg": echoed,
                "fbtrace_id": "echo-trace",
            }});
            (s, Vec::new(), body.to_string())
        }
        Reply::EchoTikTokError => {
            let echoed = format!("{:?} {}", req.headers, String::from_utf8_lossy(&req.body));
            let body = json!({"code": 40105, "message": format!("bad token: {echoed}"),
                              "request_id": "echo-req"});
            (200, Vec::new(), body.to_string())
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).is_ok() && w.write_all(body.as_bytes()).is_ok()
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn config(base_url: &str) -> SenderConfig {
    SenderConfig {
        base_url: Some(base_url.to_string()),
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        ..SenderConfig::default()
    }
}

fn meta(server: &Server) -> MetaSender {
    MetaSender::new("1234567890", TOKEN.into(), None, config(&server.base_url)).unwrap()
}

fn tiktok(server: &Server) -> TikTokSender {
    TikTokSender::new("CPIXEL123", TOKEN.into(), config(&server.base_url)).unwrap()
}

fn meta_payload(n: usize) -> Value {
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"event_name": "Purchase", "event_time": 1_700_000_000, "event_id": format!("e{i}"),
                        "action_source": "website", "user_data": {"em": ["a".repeat(64)]}}))
        .collect();
    json!({"data": data, "test_event_code": "TEST123"})
}

fn tiktok_payload(n: usize) -> Value {
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"event": "CompletePayment", "event_time": 1_700_000_000, "event_id": format!("e{i}")}))
        .collect();
    json!({"event_source": "web", "event_source_id": "CPIXEL123", "data": data})
}

fn assert_no_token(s: &str) {
    assert!(!s.contains(TOKEN), "token leaked into: {s}");
}

// ------------------------------------------------------------------------------------------
// Unit tests
// ------------------------------------------------------------------------------------------

#[test]
fn token_is_hidden_in_debug_and_display() {
    let t = AccessToken::new(TOKEN);
    assert_eq!(format!("{t}"), "***");
    assert_eq!(format!("{t:?}"), "***");
    assert_eq!(t.expose(), TOKEN);
    assert_eq!(t.redact(&format!("x{TOKEN}y{TOKEN}")), "x***y***");
    let s = MetaSender::new("1", t.clone(), None, SenderConfig::default()).unwrap();
    assert_no_token(&format!("{s:?}"));
    let s = TikTokSender::new("P", t, SenderConfig::default()).unwrap();
    assert_no_token(&format!("{s:?}"));
}

#[test]
fn defaults() {
    let c = SenderConfig::default();
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert_eq!(c.connect_timeout, Duration::from_secs(3));
    assert_eq!(c.max_retries, 3);
    assert_eq!(c.backoff_base, Duration::from_millis(500));
    assert_eq!(c.backoff_max, Duration::from_secs(30));
    assert_eq!(c.max_retry_after, Duration::from_secs(60));
    assert_eq!(
        c.user_agent,
        format!("convapi/{}", env!("CARGO_PKG_VERSION"))
    );
    let m = MetaSender::new("42", TOKEN.into(), None, c.clone()).unwrap();
    assert_eq!(m.url(), "https://graph.facebook.com/v25.0/42/events");
    assert_eq!(m.api_version(), "v25.0");
    let t = TikTokSender::new("P", TOKEN.into(), c).unwrap();
    assert_eq!(
        t.url(),
        "https://business-api.tiktok.com/open_api/v1.3/event/track/"
    );
    assert_eq!(Platform::Meta.as_str(), "meta");
    assert_eq!(Platform::TikTok.as_str(), "tiktok");
}

#[test]
fn validation_of_constructor_arguments() {
    let bad = |url: &str| {
        MetaSender::new(
            "1",
            TOKEN.into(),
            None,
            SenderConfig {
                base_url: Some(url.into()),
                ..SenderConfig::default()
            },
        )
        .unwrap_err()
    };
    for url in [
        "ftp://example.com",
        "not a url",
        "",
        "http://h/?q=1",
        "file:///tmp/x",
    ] {
        let e = bad(url);
        assert_eq!(e.field, "base_url", "{url}: {e}");
    }
    // Trailing slash and a path prefix are fine.
    let m = MetaSender::new(
        "1",
        TOKEN.into(),
        Some("v24.0"),
        SenderConfig {
            base_url: Some("http://127.0.0.1:9/proxy/".into()),
            ..SenderConfig::default()
        },
    )
    .unwrap();
    assert_eq!(m.url(), "http://127.0.0.1:9/proxy/v24.0/1/events");

    let e = MetaSender::new("1/../2", TOKEN.into(), None, SenderConfig::default()).unwrap_err();
    assert_eq!(e.field, "pixel_id");
    let e = MetaSender::new("", TOKEN.into(), None, SenderConfig::default()).unwrap_err();
    assert_eq!(e.field, "pixel_id");
    let e = MetaSender::new("1", TOKEN.into(), Some("25"), SenderConfig::default()).unwrap_err();
    assert_eq!(e.field, "api_version");
    let e = MetaSender::new("1", "".into(), None, SenderConfig::default()).unwrap_err();
    assert_eq!(e.field, "access_token");
    let e = TikTokSender::new("P", "abc\ndef".into(), SenderConfig::default()).unwrap_err();
    assert_eq!(e.field, "access_token");
    assert!(!e.to_string().contains("abc"));
    let e = TikTokSender::new(" ", TOKEN.into(), SenderConfig::default()).unwrap_err();
    assert_eq!(e.field, "pixel_code");
    let e = TikTokSender::new(
        "P",
        TOKEN.into(),
        SenderConfig {
            timeout: Duration::ZERO,
            ..SenderConfig::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.field, "timeout");
}

#[test]
fn retry_after_parsing() {
    assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
    assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    assert_eq!(parse_retry_after("-3"), None);
    assert_eq!(parse_retry_after("NaN"), None);
    assert_eq!(parse_retry_after(""), None);
}

#[test]
fn backoff_is_full_jitter_and_capped() {
    let base = Duration::from_millis(500);
    let max = Duration::from_secs(30);
    for attempt in 1..=40 {
        let ceiling = base.saturating_mul(1u32 << (attempt - 1).min(31)).min(max);
        for _ in 0..50 {
            assert!(backoff(attempt, base, max) <= ceiling);
        }
    }
    // Not constant: jitter actually varies.
    let samples: std::collections::HashSet<_> = (0..50).map(|_| backoff(5, base, max)).collect();
    assert!(samples.len() > 10);
    assert_eq!(backoff(3, Duration::ZERO, max), Duration::ZERO);
}

#[test]
fn meta_classification_table() {
    for code in [1, 2, 4, 17, 32, 341, 368, 613, 80000, 80004, 80099] {
        assert_eq!(meta_code_retryable(code), Some(true), "{code}");
    }
    for code in [100, 190, 102, 3, 10, 200, 250, 299] {
        assert_eq!(meta_code_retryable(code), Some(false), "{code}");
    }
    assert_eq!(meta_code_retryable(12345), None);
    for code in [40100, 40700, 50000, 51234, 59999] {
        assert_eq!(tiktok_code_retryable(code), Some(true), "{code}");
    }
    for code in [40000, 40001, 40002, 40099, 40105, 41000] {
        assert_eq!(tiktok_code_retryable(code), Some(false), "{code}");
    }
}

#[test]
fn split_keeps_top_level_keys_and_index_shift() {
    let bodies = split_payload(&meta_payload(2500), 1000).unwrap();
    assert_eq!(
        bodies.iter().map(|b| b.events).collect::<Vec<_>>(),
        vec![1000, 1000, 500]
    );
    let json = |b: &Body| serde_json::from_slice::<Value>(&b.json).unwrap();
    for b in &bodies {
        assert_eq!(json(b)["test_event_code"], "TEST123");
    }
    assert_eq!(json(&bodies[2])["data"][0]["event_id"], "e2000");
    let e = shift_index(ValidationError::new("data[3].user.email", "bad"), 2000);
    assert_eq!(e.field, "data[2003].user.email");
    let e = shift_index(ValidationError::new("events", "bad"), 1000);
    assert_eq!(e.field, "events");
    assert!(matches!(
        split_payload(&json!({"data": []}), 1000),
        Err(SendError::Validation(_))
    ));
    assert!(matches!(
        split_payload(&json!([1, 2]), 1000),
        Err(SendError::Validation(_))
    ));
}

// ------------------------------------------------------------------------------------------
// Meta over HTTP
// ------------------------------------------------------------------------------------------

#[test]
fn meta_success_token_in_body_not_url() {
    let server = Server::start(vec![json_reply(
        200,
        json!({"events_received": 2, "messages": ["note"], "fbtrace_id": "AbC"}),
    )]);
    let r = meta(&server).send_payload(&meta_payload(2)).unwrap();
    assert_eq!(r.platform, Platform::Meta);
    assert_eq!(r.events_received, 2);
    assert_eq!(r.messages, vec!["note".to_string()]);
    assert_eq!(r.trace_id.as_deref(), Some("AbC"));
    assert_eq!(r.trace_ids, vec!["AbC".to_string()]);
    assert_eq!((r.http_status, r.attempts, r.requests), (200, 1, 1));
    assert_eq!(r.code, None);
    assert_eq!(r.response["fbtrace_id"], "AbC");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v25.0/1234567890/events");
    assert_no_token(&req.path);
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.header("user-agent").map(str::to_string),
        Some(default_user_agent())
    );
    assert_eq!(req.header("access-token"), None);
    let body = req.json();
    assert_eq!(body["access_token"], TOKEN);
    assert_eq!(body["test_event_code"], "TEST123");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
}

#[test]
fn meta_token_is_spliced_once_into_the_body_even_over_a_payload_copy() {
    let server = Server::start(vec![meta_ok(1, "t1")]);
    let mut payload = meta_payload(1);
    payload["access_token"] = json!("someone-elses-token");
    meta(&server).send_payload(&payload).unwrap();
    let raw = server.requests()[0].body.clone();
    let text = String::from_utf8(raw).unwrap();
    assert_eq!(text.matches("\"access_token\"").count(), 1, "{text}");
    assert!(!text.contains("someone-elses-token"));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["access_token"], TOKEN);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);

    let encoded = MetaSender::new(
        "1",
        AccessToken::new("tok\"en"),
        None,
        SenderConfig::default(),
    )
    .unwrap()
    .0
    .engine(&Request::default())
    .encode(b"{}".to_vec())
    .unwrap();
    assert_eq!(encoded, br#"{"access_token":"tok\"en"}"#);
}

#[test]
fn meta_2500_events_make_three_requests() {
    let server = Server::start(vec![
        meta_ok(1000, "t1"),
        meta_ok(1000, "t2"),
        meta_ok(500, "t3"),
    ]);
    let r = meta(&server).send_payload(&meta_payload(2500)).unwrap();
    assert_eq!(r.events_received, 2500);
    assert_eq!(r.requests, 3);
    assert_eq!(r.attempts, 3);
    assert_eq!(r.trace_ids, vec!["t1", "t2", "t3"]);
    assert_eq!(r.trace_id.as_deref(), Some("t3"));
    let sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|q| q.json()["data"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
    assert!(server
        .requests()
        .iter()
        .all(|q| q.json()["access_token"] == TOKEN));
}

#[test]
fn meta_5xx_retried_then_ok() {
    let server = Server::start(vec![
        Reply::Fixed(503, Vec::new(), "<html>unavailable</html>".into()),
        meta_err(500, 12345, None, false),
        meta_ok(1, "ok"),
    ]);
    let r = meta(&server).send_payload(&meta_payload(1)).unwrap();
    assert_eq!(r.attempts, 3);
    assert_eq!(r.requests, 1);
    assert_eq!(r.events_received, 1);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn meta_code_2_and_transient_retried() {
    let server = Server::start(vec![
        meta_err(400, 2, None, false),
        meta_err(400, 99999, None, true),
        meta_err(400, 80004, Some(2446079), false),
        meta_ok(1, "ok"),
    ]);
    let r = meta(&server).send_payload(&meta_payload(1)).unwrap();
    assert_eq!(r.attempts, 4);
}

#[test]
fn meta_429_retry_after_is_honoured() {
    let server = Server::start(vec![
        Reply::Fixed(
            429,
            vec![("Retry-After".into(), "1".into())],
            json!({"error": {"message": "slow down", "code": 4}}).to_string(),
        ),
        meta_ok(1, "ok"),
    ]);
    let started = Instant::now();
    let r = meta(&server).send_payload(&meta_payload(1)).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.attempts, 2);
}

#[test]
fn retry_after_longer_than_cap_returns_at_once() {
    let server = Server::start(vec![Reply::Fixed(
        429,
        vec![("Retry-After".into(), "120".into())],
        json!({"error": {"message": "slow down", "code": 17}}).to_string(),
    )]);
    let started = Instant::now();
    let e = meta(&server).send_payload(&meta_payload(1)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(e.attempts(), 1);
    assert!(matches!(
        e,
        SendError::Api {
            code: 17,
            http_status: 429,
            ..
        }
    ));
}

#[test]
fn retry_after_http_date_falls_back_to_backoff() {
    let server = Server::start(vec![
        Reply::Fixed(
            503,
            vec![("Retry-After".into(), "Wed, 21 Oct 2015 07:28:00 GMT".into())],
            "busy".into(),
        ),
        meta_ok(1, "ok"),
    ]);
    let started = Instant::now();
    let r = meta(&server).send_payload(&meta_payload(1)).unwrap();
    assert_eq!(r.attempts, 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn meta_permanent_errors_not_retried() {
    for (code, subcode) in [
        (100, Some(2804003)),
        (190, Some(463)),
        (200, None),
        (3, None),
    ] {
        // is_transient=true must not override a permanent code.
        let server = Server::start(vec![meta_err(400, code, subcode, true), meta_ok(1, "x")]);
        let e = meta(&server).send_payload(&meta_payload(1)).unwrap_err();
        assert!(!e.retryable(), "{code}");
        assert_eq!(server.requests().len(), 1, "{code}");
        match e {
            SendError::Api {
                platform,
                code: c,
                subcode: s,
                trace_id,
                http_status,
                attempts,
                events_sent,
                ref message,
                ..
            } => {
                assert_eq!(platform, "meta");
                assert_eq!((c, s), (code, subcode));
                assert_eq!(trace_id, Some(format!("trace-{code}")));
                assert_eq!((http_status, attempts, events_sent), (400, 1, 0));
                assert!(message.contains("Invalid parameter"), "{message}");
                assert!(message.contains("Explained"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn meta_unknown_code_below_500_is_permanent() {
    let server = Server::start(vec![meta_err(400, 12345, None, false)]);
    let e = meta(&server).send_payload(&meta_payload(1)).unwrap_err();
    assert!(!e.retryable());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn meta_retries_exhausted() {
    let server = Server::start(vec![
        meta_err(500, 1, None, true),
        meta_err(500, 1, None, true),
        meta_err(500, 1, None, true),
    ]);
    let sender = MetaSender::new(
        "1",
        TOKEN.into(),
        None,
        SenderConfig {
            max_retries: 2,
            ..config(&server.base_url)
        },
    )
    .unwrap();
    let e = sender.send_payload(&meta_payload(1)).unwrap_err();
    assert!(e.retryable());
    assert_eq!(e.attempts(), 3);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.remaining(), 0);
}

#[test]
fn meta_non_json_and_partial_error_bodies_do_not_crash() {
    // Non-JSON 4xx: transport error, permanent.
    let server = Server::start(vec![Reply::Fixed(400, Vec::new(), "Bad Request".into())]);
    let e = meta(&server).send_payload(&meta_payload(1)).unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Transport {
                retryable: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("Bad Request"), "{e}");

    // JSON with an empty error object or odd field types.
    let server = Server::start(vec![
        json_reply(400, json!({"error": {}})),
        json_reply(
            400,
            json!({"error": {"code": "190", "message": 7, "error_subcode": null}}),
        ),
        json_reply(400, json!({"error": "just a string"})),
        json_reply(200, json!({"ok": true})),
    ]);
    let s = meta(&server);
    let e = s.send_payload(&meta_payload(1)).unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Api {
                code: 0,
                retryable: false,
                ..
            }
        ),
        "{e:?}"
    );
    let e = s.send_payload(&meta_payload(1)).unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Api {
                code: 190,
                retryable: false,
                ..
            }
        ),
        "{e:?}"
    );
    let e = s.send_payload(&meta_payload(1)).unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Transport {
                retryable: false,
                ..
            }
        ),
        "{e:?}"
    );
    // A 2xx without events_received is not a success; it is retried.
    let e = SenderConfig {
        max_retries: 0,
        ..config(&server.base_url)
    };
    let s = MetaSender::new("1", TOKEN.into(), None, e).unwrap();
    let e = s.send_payload(&meta_payload(1)).unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Transport {
                retryable: true,
                ..
            }
        ),
        "{e:?}"
    );

    // Empty body with 502.
    let server = Server::start(vec![
        Reply::Fixed(502, Vec::new(), String::new()),
        meta_ok(1, "x"),
    ]);
    assert_eq!(
        meta(&server)
            .send_payload(&meta_payload(1))
            .unwrap()
            .attempts,
        2
    );
}

#[test]
fn token_echoed_by_server_is_redacted() {
    let server = Server::start(vec![Reply::EchoMetaError(400)]);
    let e = meta(&server).send_payload(&meta_payload(1)).unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("***"), "{shown}");
    assert!(shown.contains("Malformed request"), "{shown}");
    assert_no_token(&shown);
    assert_no_token(&format!("{e:?}"));

    let server = Server::start(vec![Reply::EchoTikTokError]);
    let e = tiktok(&server)
        .send_payload(&tiktok_payload(1))
        .unwrap_err();
    assert!(matches!(
        e,
        SendError::Api {
            code: 40105,
            retryable: false,
            ..
        }
    ));
    assert!(e.to_string().contains("***"));
    assert_no_token(&e.to_string());
    assert_no_token(&format!("{e:?}"));

    // A success body that echoes the token is redacted as well.
    let server = Server::start(vec![json_reply(
        200,
        json!({"events_received": 1, "messages": [format!("got {TOKEN}")], "fbtrace_id": "t"}),
    )]);
    let r = meta(&server).send_payload(&meta_payload(1)).unwrap();
    assert_no_token(&format!("{r:?}"));
    assert_eq!(r.messages, vec!["got ***".to_string()]);
}

#[test]
fn timeout_is_a_retryable_transport_error() {
    let server = Server::start(vec![Reply::Delay(
        Duration::from_millis(1500),
        Box::new(meta_ok(1, "late")),
    )]);
    let sender = MetaSender::new(
        "1",
        TOKEN.into(),
        None,
        SenderConfig {
            timeout: Duration::from_millis(200),
            max_retries: 0,
            ..config(&server.base_url)
        },
    )
    .unwrap();
    let started = Instant::now();
    let e = sender.send_payload(&meta_payload(1)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            e,
            SendError::Transport {
                retryable: true,
                attempts: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert_no_token(&e.to_string());
}

#[test]
fn timeout_then_success_on_retry() {
    let server = Server::start(vec![
        Reply::Delay(Duration::from_millis(800), Box::new(meta_ok(1, "late"))),
        meta_ok(1, "ok"),
    ]);
    let sender = MetaSender::new(
        "1",
        TOKEN.into(),
        None,
        SenderConfig {
            timeout: Duration::from_millis(200),
            ..config(&server.base_url)
        },
    )
    .unwrap();
    let r = sender.send_payload(&meta_payload(1)).unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(r.trace_id.as_deref(), Some("ok"));
}

#[test]
fn dropped_connection_is_retried() {
    let server = Server::start(vec![Reply::Drop, meta_ok(1, "ok")]);
    let r = meta(&server).send_payload(&meta_payload(1)).unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn connection_refused_is_retryable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sender = TikTokSender::new(
        "P",
        TOKEN.into(),
        SenderConfig {
            max_retries: 1,
            ..config(&format!("http://127.0.0.1:{port}"))
        },
    )
    .unwrap();
    let e = sender.send_payload(&tiktok_payload(1)).unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Transport {
                retryable: true,
                attempts: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert_no_token(&format!("{e} {e:?}"));
}

#[test]
fn partial_failure_reports_events_sent() {
    let server = Server::start(vec![meta_ok(1000, "t1"), meta_err(400, 100, None, false)]);
    let e = meta(&server).send_payload(&meta_payload(1500)).unwrap_err();
    assert_eq!(e.events_sent(), 1000);
    assert_eq!(e.attempts(), 2);
    assert!(!e.retryable());
}

#[test]
fn request_hook_sees_every_attempt_without_secrets() {
    let logs: Arc<Mutex<Vec<RequestLog>>> = Arc::default();
    let sink = logs.clone();
    let server = Server::start(vec![meta_err(503, 2, None, true), meta_ok(3, "fine")]);
    let sender = MetaSender::new(
        "777",
        TOKEN.into(),
        None,
        SenderConfig {
            on_request: Some(Arc::new(move |l: &RequestLog| {
                sink.lock().unwrap().push(l.clone())
            })),
            ..config(&server.base_url)
        },
    )
    .unwrap();
    sender.send_payload(&meta_payload(3)).unwrap();
    let logs = logs.lock().unwrap().clone();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].outcome, Outcome::Retry);
    assert_eq!(logs[0].status, Some(503));
    assert_eq!(logs[0].code, Some(2));
    assert_eq!(logs[0].attempt, 1);
    assert!(logs[0].retry_in.is_some());
    assert_eq!(logs[1].outcome, Outcome::Ok);
    assert_eq!(logs[1].attempt, 2);
    assert_eq!(logs[1].trace_id.as_deref(), Some("fine"));
    assert_eq!(logs[1].events, 3);
    assert_eq!(logs[1].pixel, "777");
    assert_eq!(logs[1].platform, Platform::Meta);
    for l in &logs {
        assert_no_token(&format!("{l:?}"));
    }
}

#[test]
fn panicking_hook_does_not_break_send() {
    let server = Server::start(vec![meta_ok(1, "x")]);
    let sender = MetaSender::new(
        "1",
        TOKEN.into(),
        None,
        SenderConfig {
            on_request: Some(Arc::new(|_: &RequestLog| panic!("hook bug"))),
            ..config(&server.base_url)
        },
    )
    .unwrap();
    assert_eq!(
        sender
            .send_payload(&meta_payload(1))
            .unwrap()
            .events_received,
        1
    );
}

// ------------------------------------------------------------------------------------------
// TikTok over HTTP
// ------------------------------------------------------------------------------------------

#[test]
fn tiktok_success_headers_and_body() {
    let server = Server::start(vec![tiktok_reply(0, "OK", "req-1")]);
    let r = tiktok(&server).send_payload(&tiktok_payload(3)).unwrap();
    assert_eq!(r.platform, Platform::TikTok);
    assert_eq!(r.events_received, 3);
    assert_eq!(r.code, Some(0));
    assert_eq!(r.messages, vec!["OK".to_string()]);
    assert_eq!(r.trace_id.as_deref(), Some("req-1"));
    assert_eq!(r.http_status, 200);
    let req = &server.requests()[0];
    assert_eq!(req.path, "/open_api/v1.3/event/track/");
    assert_eq!(req.header("Access-Token"), Some(TOKEN));
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    assert_no_token(&req.path);
    assert_no_token(&String::from_utf8_lossy(&req.body));
    assert_eq!(req.json()["event_source_id"], "CPIXEL123");
}

#[test]
fn tiktok_20001_is_success_and_batches_split() {
    let server = Server::start(vec![
        tiktok_reply(0, "OK", "r1"),
        tiktok_reply(20001, "partial", "r2"),
        tiktok_reply(0, "OK", "r3"),
    ]);
    let r = tiktok(&server).send_payload(&tiktok_payload(2500)).unwrap();
    assert_eq!(r.requests, 3);
    assert_eq!(r.events_received, 2500);
    assert_eq!(r.trace_ids, vec!["r1", "r2", "r3"]);
    let reqs = server.requests();
    assert!(reqs.iter().all(|q| q.json()["event_source"] == "web"));
    assert_eq!(reqs[2].json()["data"].as_array().unwrap().len(), 500);
}

#[test]
fn tiktok_retryable_codes() {
    let server = Server::start(vec![
        tiktok_reply(40100, "rate limited", "a"),
        tiktok_reply(50002, "internal", "b"),
        tiktok_reply(40700, "busy", "c"),
        json_reply(503, json!({"code": 51000, "message": "down"})),
        Reply::Fixed(
            429,
            vec![("Retry-After".into(), "0".into())],
            "too many".into(),
        ),
        tiktok_reply(0, "OK", "d"),
    ]);
    let sender = TikTokSender::new(
        "P",
        TOKEN.into(),
        SenderConfig {
            max_retries: 5,
            ..config(&server.base_url)
        },
    )
    .unwrap();
    let r = sender.send_payload(&tiktok_payload(1)).unwrap();
    assert_eq!(r.attempts, 6);
    assert_eq!(r.trace_id.as_deref(), Some("d"));
}

#[test]
fn tiktok_permanent_codes_not_retried() {
    for code in [40002, 40105, 40001, 40000] {
        let server = Server::start(vec![
            tiktok_reply(code, "Invalid value for event_id", "rq"),
            tiktok_reply(0, "OK", "x"),
        ]);
        let e = tiktok(&server)
            .send_payload(&tiktok_payload(1))
            .unwrap_err();
        assert_eq!(server.requests().len(), 1, "{code}");
        match e {
            SendError::Api {
                platform,
                code: c,
                retryable,
                http_status,
                ref trace_id,
                ref message,
                ..
            } => {
                assert_eq!(
                    (platform, c, retryable, http_status),
                    ("tiktok", code, false, 200)
                );
                assert_eq!(trace_id.as_deref(), Some("rq"));
                assert!(message.contains("event_id"));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn tiktok_non_json_bodies() {
    let server = Server::start(vec![
        Reply::Fixed(200, Vec::new(), "<html>proxy</html>".into()),
        Reply::Fixed(502, Vec::new(), "bad gateway".into()),
        tiktok_reply(0, "OK", "fine"),
    ]);
    let r = tiktok(&server).send_payload(&tiktok_payload(1)).unwrap();
    assert_eq!(r.attempts, 3);
    let server = Server::start(vec![Reply::Fixed(404, Vec::new(), "nope".into())]);
    let e = tiktok(&server)
        .send_payload(&tiktok_payload(1))
        .unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Transport {
                retryable: false,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn clients_are_shared() {
    let a = client(Duration::from_secs(3)).unwrap();
    let _b = client(Duration::from_secs(3)).unwrap();
    drop(a);
    let pool = CLIENTS.lock().unwrap();
    assert_eq!(pool.pid, std::process::id());
    assert!(pool.clients.contains_key(&Duration::from_secs(3)));
}

#[test]
fn senders_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<MetaSender>();
    check::<TikTokSender>();
    check::<SenderConfig>();
    check::<SendResult>();
    check::<SendError>();
}

// ------------------------------------------------------------------------------------------
// send(): the builders plus the engine
// ------------------------------------------------------------------------------------------

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn neutral_events(n: usize) -> Vec<Value> {
    let now = now_secs();
    (0..n)
        .map(|i| {
            json!({
                "event_name": "Purchase",
                "event_id": format!("order-{i}"),
                "event_time": now - 60,
                "event_source_url": "https://shop.example.com/checkout",
                "action_source": "website",
                "user": {
                    "email": format!(" Buyer{i}@Example.COM "),
                    "client_ip_address": "203.0.113.7",
                    "client_user_agent": "Mozilla/5.0",
                },
                "custom": {"value": 12.5, "currency": "EUR"},
            })
        })
        .collect()
}

fn sha256_hex(s: &str) -> String {
    crate::normalize::hash_value(s)
}

#[test]
fn meta_send_builds_hashes_and_splits() {
    let server = Server::start(vec![
        meta_ok(1000, "t1"),
        meta_ok(1000, "t2"),
        meta_ok(500, "t3"),
    ]);
    let r = meta(&server)
        .send(&neutral_events(2500), Some("TEST42"))
        .unwrap();
    assert_eq!((r.events_received, r.requests, r.attempts), (2500, 3, 3));
    assert_eq!(r.trace_ids, vec!["t1", "t2", "t3"]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let sizes: Vec<usize> = reqs
        .iter()
        .map(|q| q.json()["data"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
    let last = reqs[2].json();
    assert_eq!(last["access_token"], TOKEN);
    assert_eq!(last["test_event_code"], "TEST42");
    let ev = &last["data"][0];
    assert_eq!(ev["event_id"], "order-2000");
    assert_eq!(ev["event_name"], "Purchase");
    // The email is normalised and hashed by the builder, never sent in clear.
    assert_eq!(
        ev["user_data"]["em"][0],
        sha256_hex("buyer2000@example.com")
    );
    assert!(!String::from_utf8_lossy(&reqs[2].body).contains("Example.COM"));
    for q in &reqs {
        assert_eq!(q.path, "/v25.0/1234567890/events");
    }
}

#[test]
fn tiktok_send_builds_and_splits() {
    let server = Server::start(vec![
        tiktok_reply(0, "OK", "r1"),
        tiktok_reply(0, "OK", "r2"),
        tiktok_reply(0, "OK", "r3"),
    ]);
    let r = tiktok(&server).send(&neutral_events(2001), None).unwrap();
    assert_eq!((r.events_received, r.requests), (2001, 3));
    assert_eq!(r.code, Some(0));
    let reqs = server.requests();
    let sizes: Vec<usize> = reqs
        .iter()
        .map(|q| q.json()["data"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 1]);
    for q in &reqs {
        let b = q.json();
        assert_eq!(b["event_source_id"], "CPIXEL123");
        assert_eq!(q.header("Access-Token"), Some(TOKEN));
        assert!(b.get("access_token").is_none());
    }
    assert_eq!(reqs[2].json()["data"][0]["event_id"], "order-2000");
}

#[test]
fn invalid_event_sends_nothing_and_names_its_index() {
    let server = Server::start(vec![meta_ok(1000, "t1"), meta_ok(1000, "t2")]);
    let mut events = neutral_events(1500);
    events[1234]["event_source_url"] = Value::Null;
    events[1234]["event_time"] = json!("not a time");
    let e = meta(&server).send(&events, None).unwrap_err();
    match &e {
        SendError::Validation(v) => assert!(v.field.starts_with("events[1234]"), "{v}"),
        other => panic!("{other:?}"),
    }
    assert!(!e.retryable());
    assert_eq!(server.requests().len(), 0);
    let e = tiktok(&server).send(&[], None).unwrap_err();
    assert!(matches!(e, SendError::Validation(_)));
}

#[test]
fn send_with_pinned_clock() {
    let server = Server::start(vec![tiktok_reply(0, "OK", "r1")]);
    let mut events = neutral_events(1);
    events[0]["event_time"] = json!(1_700_000_000);
    let opts = BuildOptions {
        now: Some(1_700_000_100),
        ..BuildOptions::default()
    };
    let r = tiktok(&server)
        .send_with(&events, Some("T1"), &opts)
        .unwrap();
    assert_eq!(r.events_received, 1);
    let body = server.requests()[0].json();
    assert_eq!(body["data"][0]["event_time"], 1_700_000_000);
    assert_eq!(body["test_event_code"], "T1");
}

// ------------------------------------------------------------------------------------------
// Pinterest and GA4 through the shared engine
// ------------------------------------------------------------------------------------------

fn pinterest(server: &Server) -> Sender {
    Sender::new(
        Platform::Pinterest,
        "549755885175",
        TOKEN.into(),
        None,
        config(&server.base_url),
    )
    .unwrap()
}

fn ga4(server: &Server) -> Sender {
    Sender::new(
        Platform::Ga4,
        "G-TEST123",
        TOKEN.into(),
        None,
        config(&server.base_url),
    )
    .unwrap()
}

fn inputs(events: &[Value]) -> Vec<Input<'_>> {
    events.iter().map(Input::from).collect()
}

#[test]
fn pinterest_bearer_test_flag_and_partial_failure() {
    let statuses = json!({"num_events_received": 3, "num_events_processed": 2, "events": [
        {"status": "processed"}, {"status": "failed", "error_message": "event_time too old"},
        {"status": "processed"}]});
    let server = Server::start(vec![json_reply(200, statuses)]);
    let events = neutral_events(3);
    let err = pinterest(&server)
        .send_inputs(
            &inputs(&events),
            &Request {
                test_event_code: None,
                test: true,
            },
            &BuildOptions::default(),
        )
        .err()
        .unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.path, "/v5/ad_accounts/549755885175/events?test=true");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(!String::from_utf8_lossy(&req.body).contains(TOKEN));
    assert_eq!(req.json()["data"][0]["event_name"], "checkout");
    match err {
        SendError::Partial {
            failed,
            sent,
            events_sent,
            ..
        } => {
            assert_eq!(failed, vec![(1, "event_time too old".to_string())]);
            assert_eq!(sent, vec![0, 2]);
            assert_eq!(events_sent, 2);
        }
        other => panic!("expected a partial failure, got {other:?}"),
    }
}

#[test]
fn pinterest_rate_limit_is_retried_and_auth_is_not() {
    let ok = json!({"num_events_received": 1, "num_events_processed": 1, "events": [{"status": "processed"}]});
    let server = Server::start(vec![
        Reply::Fixed(
            429,
            vec![("Retry-After".into(), "0".into())],
            json!({"code": 8, "message": "rate"}).to_string(),
        ),
        json_reply(200, ok),
        json_reply(401, json!({"code": 2, "message": "Authentication failed."})),
    ]);
    let sender = pinterest(&server);
    let events = neutral_events(1);
    let r = sender
        .send_inputs(
            &inputs(&events),
            &Request::default(),
            &BuildOptions::default(),
        )
        .unwrap();
    assert_eq!((r.attempts, r.events_received), (2, 1));
    let err = sender
        .send_inputs(
            &inputs(&events),
            &Request::default(),
            &BuildOptions::default(),
        )
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            SendError::Api {
                code: 2,
                retryable: false,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn ga4_secret_only_in_the_query_and_never_shown() {
    let no_content = || Reply::Fixed(204, vec![], String::new());
    let server = Server::start(vec![
        no_content(),
        no_content(),
        Reply::Drop,
        Reply::Drop,
        Reply::Drop,
    ]);
    let sender = ga4(&server);
    assert_eq!(
        sender.url(),
        format!(
            "{}/mp/collect?measurement_id=***&api_secret=***",
            server.base_url
        )
    );
    assert!(!format!("{sender:?}").contains(TOKEN) && !format!("{sender:?}").contains("G-TEST123"));
    let mut events = neutral_events(2);
    for (i, e) in events.iter_mut().enumerate() {
        e["user"]["client_id"] = json!(format!("GA1.1.{}.1700000000", 100 + i));
        e["custom"]["order_id"] = json!(format!("S{i}"));
    }
    let r = sender
        .send_inputs(
            &inputs(&events[..1]),
            &Request::default(),
            &BuildOptions::default(),
        )
        .unwrap();
    assert_eq!(r.requests, 1);
    let req = &server.requests()[0];
    assert_eq!(
        req.path,
        format!("/mp/collect?measurement_id=G-TEST123&api_secret={TOKEN}")
    );
    assert_eq!(req.json()["client_id"], "100.1700000000");
    assert!(!String::from_utf8_lossy(&req.body).contains(TOKEN));
    // The second user's request: the connection drops every time (3 attempts at most).
    let err = sender
        .send_inputs(
            &inputs(&events),
            &Request::default(),
            &BuildOptions::default(),
        )
        .err()
        .unwrap();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(TOKEN) && !text.contains("api_secret="),
        "{text}"
    );
    assert_eq!(
        err.attempts(),
        1 + 3,
        "one accepted request, then GA4's 3 attempts"
    );
    assert_eq!(err.sent(), &[0]);
}

#[test]
fn ga4_groups_users_and_cuts_at_25() {
    let replies = (0..4)
        .map(|_| Reply::Fixed(204, vec![], String::new()))
        .collect();
    let server = Server::start(replies);
    let mut events = neutral_events(60);
    for (i, e) in events.iter_mut().enumerate() {
        // Two users, interleaved (one request carries one user: same ids, same user data).
        e["user"]["client_id"] = json!(format!("{}.1700000000", i % 2));
        e["user"]["email"] = json!(format!("user{}@example.com", i % 2));
        e["custom"]["order_id"] = json!(format!("S{i}"));
    }
    let r = ga4(&server)
        .send_inputs(
            &inputs(&events),
            &Request::default(),
            &BuildOptions::default(),
        )
        .unwrap();
    let sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|q| q.json()["events"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![25, 5, 25, 5]);
    assert_eq!(r.events_received, 60);
    let clients: Vec<Value> = server
        .requests()
        .iter()
        .map(|q| q.json()["client_id"].clone())
        .collect();
    assert_eq!(
        clients,
        vec![
            json!("0.1700000000"),
            json!("0.1700000000"),
            json!("1.1700000000"),
            json!("1.1700000000")
        ]
    );
    let bad = ga4(&server).send_inputs(
        &inputs(&neutral_events(1)),
        &Request::default(),
        &BuildOptions::default(),
    );
    assert!(matches!(bad, Err(SendError::Validation(v)) if v.field == "events[0].user.client_id"));
}

#[test]
fn ga4_validation_server_messages_fail_a_test_send() {
    let msgs = json!({"validationMessages": [{"fieldPath": "events.params.items", "description": "Item requires item_id", "validationCode": "VALUE_REQUIRED"}]});
    let server = Server::start(vec![json_reply(200, msgs)]);
    let mut events = neutral_events(1);
    events[0]["user"]["client_id"] = json!("1.2");
    events[0]["custom"]["order_id"] = json!("S1");
    let err = ga4(&server)
        .send_inputs(
            &inputs(&events),
            &Request {
                test_event_code: None,
                test: true,
            },
            &BuildOptions::default(),
        )
        .err()
        .unwrap();
    assert!(server.requests()[0].path.starts_with("/debug/mp/collect?"));
    assert_eq!(
        server.requests()[0].json()["validation_behavior"],
        "ENFORCE_RECOMMENDATIONS"
    );
    match err {
        SendError::Api {
            message,
            retryable: false,
            ..
        } => assert!(message.contains("VALUE_REQUIRED"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn platform_ids_are_checked() {
    let cfg = SenderConfig::default();
    for (platform, id) in [
        (Platform::Pinterest, "act_1"),
        (Platform::Pinterest, "1234567890123456789"),
        (Platform::Ga4, "UA-1"),
        (Platform::Ga4, "G-"),
    ] {
        assert!(
            Sender::new(platform, id, TOKEN.into(), None, cfg.clone()).is_err(),
            "{platform} {id}"
        );
    }
    let e = Sender::new(Platform::Ga4, "G-1", "".into(), None, cfg.clone())
        .err()
        .unwrap();
    assert_eq!(e.field, "api_secret");
    assert!(Sender::new(Platform::TikTok, "C1", TOKEN.into(), Some("v1.0"), cfg).is_err());
}
