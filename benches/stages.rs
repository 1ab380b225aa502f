//! Where the engine's time goes, stage by stage, for fully matched Purchases on the real CPU.
//!
//! `cargo bench --bench stages [-- --events 1000 --rounds 31]` builds a batch of distinct
//! shoppers (see `shopper`), then times each stage of the bytes path over the whole batch,
//! rounds interleaved, and prints the median nanoseconds per event of each:
//!
//! * `input`: JSON values → the borrowed input tree (the Python path converts dicts instead;
//!   `benches/bench_bytes.py` measures that from Python);
//! * each normaliser alone over the batch's raw values (email, phone, names, ...);
//! * `sha256`: the 11 digests of one event (SHA-NI where the CPU has it);
//! * `parse`: the whole event model (validation and every normaliser);
//! * `build meta`: the payload tree from parsed events (hashing included);
//! * `write json`: the tree to bytes;
//! * `encode meta`: all of it, end to end, as `encode_meta_payload` runs it.
//!
//! With `--stage NAME --iterations N` it runs one stage N times and prints nothing else:
//! `benches/count_instructions.py --stages` runs that under callgrind.

use convapi::event::{parse_inputs, BuildOptions, MatchKey};
use convapi::input::Input;
use convapi::meta::{encode_meta_body, meta_body};
use convapi::normalize::{normalize_field, sha256_hex, Field};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Deterministic pseudo-random numbers (xorshift64*), so every run measures the same batch.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

const FIRST: [&str; 12] = [
    "Jane", "John", "Émilie", "Lukas", "María", "Oliver", "Chloé", "Noah", "Sofia", "Liam",
    "Hannah", "Mateo",
];
const LAST: [&str; 12] = [
    "Doe", "Smith", "Müller", "García", "Martin", "Brown", "Dubois", "Rossi", "O'Neil", "Nowak",
    "Jensen", "Silva",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
];

/// One fully matched Purchase of shopper `i`: every match key, a phone in one of the usual
/// national or international spellings of four countries, two contents.
fn shopper(i: usize, now: i64, rng: &mut Rng) -> Value {
    let first = rng.pick(&FIRST);
    let last = rng.pick(&LAST);
    let (country, phone, city, state, zip) = match i % 4 {
        0 => (
            "FR",
            format!(
                "06 {} {} {} {}",
                rng.digits(2),
                rng.digits(2),
                rng.digits(2),
                rng.digits(2)
            ),
            "Paris",
            "Île-de-France",
            format!("750{:02}", i % 20 + 1),
        ),
        1 => (
            "US",
            format!("(650) 555-{}", rng.digits(4)),
            "San Francisco",
            "California",
            format!("941{:02}-{}", i % 60 + 2, rng.digits(4)),
        ),
        2 => (
            "DE",
            format!("+49 151 {}", rng.digits(8)),
            "Berlin",
            "BE",
            format!("10{}", rng.digits(3)),
        ),
        _ => (
            "GB",
            format!("07400 {}", rng.digits(6)),
            "London",
            "England",
            format!("SW1A {}AA", i % 9 + 1),
        ),
    };
    json!({
        "event_name": "Purchase",
        "event_id": format!("order-S{i:06}"),
        "event_time": now - (i as i64 % 3600),
        "event_source_url": "https://shop.example.com/shop/confirmation",
        "user": {
            "email": format!(" {first}.{last}{i}@Example.com "),
            "phone": phone,
            "first_name": first,
            "last_name": last,
            "gender": if i % 2 == 0 { "f" } else { "m" },
            "date_of_birth": format!("19{}-0{}-1{}", 50 + i % 50, 1 + i % 9, i % 10),
            "city": city,
            "state": state,
            "zip": zip,
            "country": country,
            "external_id": format!("{}", 1000 + i),
            "client_ip_address": format!("203.0.113.{}", i % 250 + 1),
            "client_user_agent": AGENTS[i % AGENTS.len()],
            "fbc": format!("fb.1.1732000000000.IwAR{}", rng.digits(12)),
            "fbp": format!("fb.1.1732000000000.{}", rng.digits(10)),
        },
        "custom": {
            "value": 59.8,
            "currency": "EUR",
            "contents": [
                {"id": format!("SKU-{}", i % 50), "quantity": 2, "item_price": 19.9, "title": "Mug"},
                {"id": "SKU-TEE", "quantity": 1, "item_price": 20.0, "title": "T-shirt"},
            ],
            "content_type": "product",
            "order_id": format!("S{i:06}"),
            "num_items": 3,
        },
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

// The Python extension's allocator, so the allocation costs here are the ones it pays.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Stage<'a> = (&'static str, Box<dyn FnMut() + 'a>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = arg(&args, "--events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rounds: usize = arg(&args, "--rounds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(31);
    let now = now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let batch: Vec<Value> = (0..events).map(|i| shopper(i, now, &mut rng)).collect();
    let opts = BuildOptions {
        strict: false,
        now: Some(now),
    };
    let inputs: Vec<Input<'_>> = batch.iter().map(Input::from).collect();
    let parsed = match parse_inputs(&inputs, &opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("the benchmark's batch does not build: {e}");
            std::process::exit(2);
        }
    };
    // Every raw value of one field across the batch, with its event's country.
    let raw = |field: &str| -> Vec<(String, String)> {
        batch
            .iter()
            .map(|e| {
                let u = &e["user"];
                (
                    u[field].as_str().unwrap_or_default().to_string(),
                    u["country"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                )
            })
            .collect()
    };
    let normaliser = |field: Field, name: &str| {
        let values = raw(name);
        move || {
            for (v, c) in &values {
                let _ = black_box(normalize_field(field, v, Some(c)));
            }
        }
    };
    let digests: Vec<String> = parsed
        .iter()
        .flat_map(|e| e.keys.iter().flat_map(|(_, k)| k.iter()))
        .map(|k| match k {
            MatchKey::Plain(v) | MatchKey::Hashed(v) => v.clone(),
        })
        .collect();
    let per_event_digests = digests.len() as f64 / events as f64;
    let body = match meta_body(&parsed, None) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("the benchmark's batch does not build: {e}");
            std::process::exit(2);
        }
    };
    let mut stages: Vec<Stage<'_>> = vec![
        (
            "input",
            Box::new(|| {
                let v: Vec<Input<'_>> = batch.iter().map(Input::from).collect();
                black_box(v);
            }),
        ),
        ("email", Box::new(normaliser(Field::Email, "email"))),
        ("phone", Box::new(normaliser(Field::Phone, "phone"))),
        (
            "first_name",
            Box::new(normaliser(Field::FirstName, "first_name")),
        ),
        (
            "last_name",
            Box::new(normaliser(Field::LastName, "last_name")),
        ),
        ("gender", Box::new(normaliser(Field::Gender, "gender"))),
        (
            "date_of_birth",
            Box::new(normaliser(Field::DateOfBirth, "date_of_birth")),
        ),
        ("city", Box::new(normaliser(Field::City, "city"))),
        ("state", Box::new(normaliser(Field::State, "state"))),
        ("zip", Box::new(normaliser(Field::Zip, "zip"))),
        ("country", Box::new(normaliser(Field::Country, "country"))),
        (
            "external_id",
            Box::new(normaliser(Field::ExternalId, "external_id")),
        ),
        (
            "sha256",
            Box::new(|| {
                for d in &digests {
                    black_box(sha256_hex(d));
                }
            }),
        ),
        (
            "parse",
            Box::new(|| {
                let _ = black_box(parse_inputs(&inputs, &opts));
            }),
        ),
        (
            "build meta",
            Box::new(|| {
                let _ = black_box(meta_body(&parsed, None));
            }),
        ),
        (
            "write json",
            Box::new(|| {
                black_box(body.to_json_bytes());
            }),
        ),
        (
            "encode meta",
            Box::new(|| {
                let inputs: Vec<Input<'_>> = batch.iter().map(Input::from).collect();
                let _ = black_box(
                    parse_inputs(&inputs, &opts).and_then(|p| encode_meta_body(&p, None)),
                );
            }),
        ),
    ];
    if let Some(stage) = arg(&args, "--stage") {
        let iterations: usize = arg(&args, "--iterations")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        let Some((_, f)) = stages.iter_mut().find(|(n, _)| *n == stage) else {
            eprintln!("unknown stage {stage}");
            std::process::exit(2);
        };
        // Warm-up (lazy tables, each region's phone patterns): callers subtract a run with
        // --iterations 0, which warms up the same way.
        f();
        for _ in 0..iterations {
            f();
        }
        return;
    }
    for (_, f) in stages.iter_mut() {
        f(); // warm-up: lazy tables, allocator pages
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); stages.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in stages.iter_mut().enumerate() {
            let start = Instant::now();
            f();
            samples[i].push(start.elapsed().as_nanos() as f64 / events as f64);
        }
    }
    println!(
        "{events} distinct fully matched Purchases, median of {rounds} interleaved rounds \
         ({per_event_digests:.1} digests per event)"
    );
    println!("{:<14} {:>12}", "stage", "ns/event");
    for ((name, _), s) in stages.iter().zip(samples.iter_mut()) {
        s.sort_by(f64::total_cmp);
        let median = s[s.len() / 2];
        let note = if *name == "sha256" {
            format!("   ({:.0} ns/digest)", median / per_event_digests)
        } else if *name == "encode meta" {
            format!("   ({:.0} events/s)", 1e9 / median)
        } else {
            String::new()
        };
        println!("{name:<14} {median:>12.0}{note}");
    }
}
