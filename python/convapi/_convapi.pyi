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

Platform = Literal["meta", "tiktok", "pinterest", "ga4"]
PLATFORMS: Final[tuple[Platform, ...]]
"""Every platform the engine sends to, in a stable order."""
PLATFORM_INFO: Final[dict[Platform, dict[str, Any]]]
"""Per platform: ``label``, ``id_name``, ``secret_name``, ``default_base_url``, ``max_events``
(per request), ``options`` (the request options it takes) and ``secret_in_url``."""

def event_name(platform: Platform, name: str) -> str:
    """The platform's name for a neutral event name."""

def build_payload(
    platform: Platform,
    events: Events,
    *,
    pixel_code: str | None = None,
    test_event_code: str | None = None,
    test: bool = False,
    strict: bool = False,
) -> dict[str, Any]:
    """The JSON body of one request to ``platform`` (no secret in it). ``pixel_code`` is
    TikTok's (and required there); ``test_event_code`` applies to Meta and TikTok, ``test`` to
    Pinterest and GA4; an option the platform does not take raises ``TypeError``."""

def encode_payload(
    platform: Platform,
    events: Events,
    *,
    pixel_code: str | None = None,
    test_event_code: str | None = None,
    test: bool = False,
    strict: bool = False,
) -> bytes:
    """The exact request body the platform's sender posts (less Meta's ``access_token``),
    compact JSON bytes, equal as JSON to ``build_payload``."""

class SendResult:
    """The outcome of a successful send."""

    @property
    def platform(self) -> Platform: ...
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

class Sender:
    """Sends to one destination of one platform; each platform's class (``MetaSender``, ...)
    gives it that platform's constructor and ``send`` signature."""

    def __new__(
        cls,
        platform: Platform,
        id: str,
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
    ) -> Sender: ...
    def send(
        self,
        events: Events,
        *,
        test_event_code: str | None = None,
        test: bool = False,
        strict: bool = False,
    ) -> SendResult: ...
    @property
    def platform(self) -> Platform: ...
    @property
    def id(self) -> str:
        """The destination id (pixel, pixel code, ad account, measurement id)."""
    @property
    def api_version(self) -> str | None: ...
    @property
    def url(self) -> str:
        """The endpoint URL as it may be shown: never a secret (GA4's query values masked)."""
