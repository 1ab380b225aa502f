//! Match-key normalisers and hashing, per Meta's CIP table and TikTok's EAPI 2.0 text.
use crate::error::ValidationError;

pub fn normalize(field: &str, value: &str, country: Option<&str>) -> Result<String, ValidationError> {
    let _ = (field, value, country);
    Err(ValidationError::new(field, "not implemented yet"))
}

pub fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn hash_value(value: &str) -> String {
    use sha2::{Digest, Sha256};
    if is_sha256_hex(value) {
        return value.to_ascii_lowercase();
    }
    hex::encode(Sha256::digest(value.as_bytes()))
}
