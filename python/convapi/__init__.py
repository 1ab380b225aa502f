"""convapi: server-side conversion tracking for Meta, TikTok, Pinterest and GA4.

One Rust engine normalises and hashes match keys exactly as each platform specifies, builds the
payloads, and sends them with batching, retries and timeouts. See README.md for the full API.
"""

from __future__ import annotations

from convapi._convapi import (
    DEFAULT_META_API_VERSION,
    FIELDS,
    PLATFORM_INFO,
    PLATFORMS,
    Sender,
    SendResult,
    __version__,
    build_payload,
    encode_payload,
    event_name,
    hash_value,
    normalize,
    tiktok_event_name,
)
from convapi._exceptions import (
    ApiError,
    ConvapiError,
    PartialSendError,
    SendError,
    TransportError,
    ValidationError,
)
from convapi._platforms import (
    SENDERS,
    GA4Sender,
    MetaSender,
    PinterestSender,
    TikTokSender,
    build_ga4_payload,
    build_meta_payload,
    build_pinterest_payload,
    build_tiktok_payload,
    encode_ga4_payload,
    encode_meta_payload,
    encode_pinterest_payload,
    encode_tiktok_payload,
    ga4_event_name,
    pinterest_event_name,
)

__all__ = [
    "DEFAULT_META_API_VERSION",
    "FIELDS",
    "PLATFORMS",
    "PLATFORM_INFO",
    "SENDERS",
    "ApiError",
    "ConvapiError",
    "GA4Sender",
    "MetaSender",
    "PartialSendError",
    "PinterestSender",
    "SendError",
    "SendResult",
    "Sender",
    "TikTokSender",
    "TransportError",
    "ValidationError",
    "__version__",
    "build_ga4_payload",
    "build_meta_payload",
    "build_payload",
    "build_pinterest_payload",
    "build_tiktok_payload",
    "encode_ga4_payload",
    "encode_meta_payload",
    "encode_payload",
    "encode_pinterest_payload",
    "encode_tiktok_payload",
    "event_name",
    "ga4_event_name",
    "hash_value",
    "normalize",
    "pinterest_event_name",
    "tiktok_event_name",
]
