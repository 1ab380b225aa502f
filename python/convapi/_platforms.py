"""One typed front per ad platform over the engine's platform table.

The native module is generic: ``build_payload(platform, ...)``, ``encode_payload(platform, ...)``
and ``Sender(platform, ...)`` take any platform of ``PLATFORMS``. What this module adds is each
platform's own names and signatures (a Meta pixel id and test event code, a Pinterest ad account
and test flag, ...), so that callers and type checkers see exactly the options a platform takes.
"""

from __future__ import annotations

from typing import Any

from convapi._convapi import Sender, SendResult, build_payload, encode_payload, event_name

Events = Any  # a list of event dicts, or one event dict (see _convapi.pyi)

# ---- Meta -------------------------------------------------------------------------------------


def build_meta_payload(
    events: Events, *, test_event_code: str | None = None, strict: bool = False
) -> dict[str, Any]:
    """The JSON body of Meta's ``POST /{version}/{pixel_id}/events`` (no access token)."""
    return build_payload("meta", events, test_event_code=test_event_code, strict=strict)


def encode_meta_payload(
    events: Events, *, test_event_code: str | None = None, strict: bool = False
) -> bytes:
    """The exact request body ``MetaSender`` posts, less the ``access_token`` it adds."""
    return encode_payload("meta", events, test_event_code=test_event_code, strict=strict)


class MetaSender(Sender):
    """Sends to Meta's Conversions API. The token goes in the body, never the URL."""

    def __new__(
        cls,
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
    ) -> MetaSender:
        return super().__new__(
            cls, "meta", pixel_id, access_token, api_version=api_version, base_url=base_url,
            timeout=timeout, max_retries=max_retries, connect_timeout=connect_timeout,
            backoff_base=backoff_base, backoff_max=backoff_max, max_retry_after=max_retry_after,
        )

    def send(  # type: ignore[override]
        self, events: Events, *, test_event_code: str | None = None, strict: bool = False
    ) -> SendResult:
        """Sends the events, 1,000 per request, retrying transient failures."""
        return super().send(events, test_event_code=test_event_code, strict=strict)

    @property
    def pixel_id(self) -> str:
        return self.id

    @property
    def api_version(self) -> str:  # type: ignore[override]
        return super().api_version or ""


# ---- TikTok -----------------------------------------------------------------------------------


def build_tiktok_payload(
    events: Events,
    *,
    pixel_code: str,
    test_event_code: str | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """The JSON body of TikTok's ``POST /open_api/v1.3/event/track/``."""
    return build_payload(
        "tiktok", events, pixel_code=pixel_code, test_event_code=test_event_code, strict=strict
    )


def encode_tiktok_payload(
    events: Events,
    *,
    pixel_code: str,
    test_event_code: str | None = None,
    strict: bool = False,
) -> bytes:
    """The exact request body ``TikTokSender`` posts (the token travels in a header)."""
    return encode_payload(
        "tiktok", events, pixel_code=pixel_code, test_event_code=test_event_code, strict=strict
    )


class TikTokSender(Sender):
    """Sends to TikTok's Events API 2.0 (``Access-Token`` header)."""

    def __new__(
        cls,
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
    ) -> TikTokSender:
        return super().__new__(
            cls, "tiktok", pixel_code, access_token, base_url=base_url, timeout=timeout,
            max_retries=max_retries, connect_timeout=connect_timeout, backoff_base=backoff_base,
            backoff_max=backoff_max, max_retry_after=max_retry_after,
        )

    def send(  # type: ignore[override]
        self, events: Events, *, test_event_code: str | None = None, strict: bool = False
    ) -> SendResult:
        """Sends the events, 1,000 per request, retrying transient failures."""
        return super().send(events, test_event_code=test_event_code, strict=strict)

    @property
    def pixel_code(self) -> str:
        return self.id


# ---- Pinterest --------------------------------------------------------------------------------


def build_pinterest_payload(events: Events, *, strict: bool = False) -> dict[str, Any]:
    """The JSON body of Pinterest's ``POST /v5/ad_accounts/{id}/events`` (the ad account and
    the test flag are in the URL)."""
    return build_payload("pinterest", events, strict=strict)


def encode_pinterest_payload(events: Events, *, strict: bool = False) -> bytes:
    """The exact request body ``PinterestSender`` posts (the token travels in a header)."""
    return encode_payload("pinterest", events, strict=strict)


def pinterest_event_name(name: str) -> str:
    """Pinterest's ``event_name`` for a neutral name (``Purchase`` -> ``checkout``)."""
    return event_name("pinterest", name)


class PinterestSender(Sender):
    """Sends to Pinterest's Conversions API (``Authorization: Bearer``).

    A batch Pinterest took but whose per-event status refused some events raises
    ``PartialSendError``: ``.failed`` names them, ``.sent`` the accepted ones.
    """

    def __new__(
        cls,
        ad_account_id: str,
        access_token: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        connect_timeout: float = 3.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
    ) -> PinterestSender:
        return super().__new__(
            cls, "pinterest", ad_account_id, access_token, base_url=base_url, timeout=timeout,
            max_retries=max_retries, connect_timeout=connect_timeout, backoff_base=backoff_base,
            backoff_max=backoff_max, max_retry_after=max_retry_after,
        )

    def send(  # type: ignore[override]
        self, events: Events, *, test: bool = False, strict: bool = False
    ) -> SendResult:
        """Sends the events, 1,000 per request; ``test=True`` adds ``?test=true`` (validated,
        not recorded)."""
        return super().send(events, test=test, strict=strict)

    @property
    def ad_account_id(self) -> str:
        return self.id


# ---- GA4 --------------------------------------------------------------------------------------


def build_ga4_payload(
    events: Events, *, test: bool = False, strict: bool = False
) -> dict[str, Any]:
    """The JSON body of one GA4 Measurement Protocol request: the events of one user (same
    ``client_id``, user id, user data and consent), at most 25. ``test`` adds the validation
    server's ``validation_behavior``."""
    return build_payload("ga4", events, test=test, strict=strict)


def encode_ga4_payload(events: Events, *, test: bool = False, strict: bool = False) -> bytes:
    """The exact request body ``GA4Sender`` posts for the events of one user."""
    return encode_payload("ga4", events, test=test, strict=strict)


def ga4_event_name(name: str) -> str:
    """GA4's event name for a neutral name (``Purchase`` -> ``purchase``, ``Lead`` ->
    ``generate_lead``); a custom name GA4 would refuse raises ``ValidationError``."""
    return event_name("ga4", name)


class GA4Sender(Sender):
    """Sends to the GA4 Measurement Protocol.

    By the protocol's design the ``measurement_id`` and ``api_secret`` travel in the request's
    URL. This sender never shows either: its ``repr``, ``url``, log lines and errors mask them.
    Events are grouped per user (one user per request) and sent 25 per request; ``test=True``
    sends to the validation server (``/debug/mp/collect``), whose messages raise ``ApiError``.
    """

    def __new__(
        cls,
        measurement_id: str,
        api_secret: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        connect_timeout: float = 3.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
    ) -> GA4Sender:
        return super().__new__(
            cls, "ga4", measurement_id, api_secret, base_url=base_url, timeout=timeout,
            max_retries=max_retries, connect_timeout=connect_timeout, backoff_base=backoff_base,
            backoff_max=backoff_max, max_retry_after=max_retry_after,
        )

    def send(  # type: ignore[override]
        self, events: Events, *, test: bool = False, strict: bool = False
    ) -> SendResult:
        """Sends the events, one user and at most 25 events per request."""
        return super().send(events, test=test, strict=strict)

    @property
    def measurement_id(self) -> str:
        return self.id


#: The sender class of each platform of ``PLATFORMS``.
SENDERS: dict[str, type[Sender]] = {
    "meta": MetaSender,
    "tiktok": TikTokSender,
    "pinterest": PinterestSender,
    "ga4": GA4Sender,
}
