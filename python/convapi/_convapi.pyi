"""Type stubs for the native module (src/python.rs)."""

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

__version__: Final[str]
DEFAULT_META_API_VERSION: Final[str]

Field = Literal[
    "email",
    "phone",
    "first_name",
    "last_name",
    "gender",
    "date_of_birth",
    "city",
    "state",
    "zip",
    "country",
    "external_id",
    "em",
    "ph",
    "fn",
    "ln",
    "ge",
    "db",
    "ct",
    "st",
    "zp",
]
FIELDS: Final[tuple[Field, ...]]
"""Every ``field`` name ``normalize`` accepts: the neutral names, then the Meta keys."""
Event = Mapping[str, Any]
Events = Sequence[Event] | Event

def normalize(field: Field | str, value: object, country: str | None = None) -> str:
    """Normalise one match key; the phone comes back in E.164 with ``+``.

    Raises ``convapi.ValidationError`` (``.field`` names the field) on bad input.
    """

def hash_value(value: str) -> str:
    """SHA-256 hex of the UTF-8 value; a 64-hex digest passes through lowercased."""

def tiktok_event_name(name: str) -> str:
    """TikTok's current name for a Meta-style event name (``PageView`` -> ``Pageview``)."""

def build_meta_payload(
    events: Events, *, test_event_code: str | None = None, strict: bool = False
) -> dict[str, Any]:
    """The JSON body of Meta's ``POST /{version}/{pixel_id}/events`` (no access token)."""

def build_tiktok_payload(
    events: Events,
    *,
    pixel_code: str,
    test_event_code: str | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """The JSON body of TikTok's ``POST /open_api/v1.3/event/track/``."""

def encode_meta_payload(
    events: Events, *, test_event_code: str | None = None, strict: bool = False
) -> bytes:
    """The exact request body ``MetaSender`` posts, as compact JSON bytes, less the
    ``access_token`` it adds; equal as JSON to ``build_meta_payload``."""

def encode_tiktok_payload(
    events: Events,
    *,
    pixel_code: str,
    test_event_code: str | None = None,
    strict: bool = False,
) -> bytes:
    """The exact request body ``TikTokSender`` posts, as compact JSON bytes; equal as JSON to
    ``build_tiktok_payload``."""

class SendResult:
    """The outcome of a successful send."""

    @property
    def platform(self) -> Literal["meta", "tiktok"]: ...
    @property
    def events_received(self) -> int: ...
    @property
    def code(self) -> int | None:
        """TikTok's ``code`` (0 or 20001); ``None`` for Meta."""
    @property
    def messages(self) -> list[str]: ...
    @property
    def trace_id(self) -> str | None:
        """``fbtrace_id`` (Meta) or ``request_id`` (TikTok) of the last request."""
    @property
    def trace_ids(self) -> list[str]: ...
    @property
    def http_status(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def requests(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def response(self) -> dict[str, Any]: ...

class MetaSender:
    """Sends to Meta's Conversions API. The token goes in the body, never the URL."""

    def __init__(
        self,
        pixel_id: str,
        access_token: str,
        *,
        api_version: str | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        connect_timeout: float = 3.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
    ) -> None: ...
    def send(
        self, events: Events, *, test_event_code: str | None = None, strict: bool = False
    ) -> SendResult: ...
    @property
    def pixel_id(self) -> str: ...
    @property
    def api_version(self) -> str: ...
    @property
    def url(self) -> str: ...

class TikTokSender:
    """Sends to TikTok's Events API 2.0 (``Access-Token`` header)."""

    def __init__(
        self,
        pixel_code: str,
        access_token: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        connect_timeout: float = 3.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
    ) -> None: ...
    def send(
        self, events: Events, *, test_event_code: str | None = None, strict: bool = False
    ) -> SendResult: ...
    @property
    def pixel_code(self) -> str: ...
    @property
    def url(self) -> str: ...
