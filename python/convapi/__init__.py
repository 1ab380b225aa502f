"""convapi: server-side conversion tracking for Meta's Conversions API and TikTok's Events API.

One Rust engine normalises and hashes match keys exactly as each platform specifies, builds the
payloads, and sends them with batching, retries and timeouts. See README.md for the full API.
"""

from __future__ import annotations

from convapi._convapi import (
    DEFAULT_META_API_VERSION,
    FIELDS,
    MetaSender,
    SendResult,
    TikTokSender,
    __version__,
    build_meta_payload,
    build_tiktok_payload,
    encode_meta_payload,
    encode_tiktok_payload,
    hash_value,
    normalize,
    tiktok_event_name,
)
from convapi._exceptions import (
    ApiError,
    ConvapiError,
    SendError,
    TransportError,
    ValidationError,
)

__all__ = [
    "DEFAULT_META_API_VERSION",
    "FIELDS",
    "ApiError",
    "ConvapiError",
    "MetaSender",
    "SendError",
    "SendResult",
    "TikTokSender",
    "TransportError",
    "ValidationError",
    "__version__",
    "build_meta_payload",
    "build_tiktok_payload",
    "encode_meta_payload",
    "encode_tiktok_payload",
    "hash_value",
    "normalize",
    "tiktok_event_name",
]
