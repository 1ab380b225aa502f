"""Testing helpers shipped with convapi: a faithful local fake of the Meta, TikTok, Pinterest
and GA4 APIs (``PLATFORMS``).

Pure standard library (``_fake_server`` imports nothing from convapi). Binds loopback only.

    from convapi.testing import FakeAdServer
    with FakeAdServer() as fake:                       # http://127.0.0.1:<ephemeral port>
        sender = convapi.MetaSender("123", "token", base_url=fake.base_url)
        sender.send(events)
        assert fake.meta_events("123")[0]["user_data"]["em"]

Meta, ``POST /v{N}.0/{pixel_id}/events`` (N within ``meta_api_versions``, default 22..26):

* token: ``access_token`` in the JSON body, a form or multipart field, the query string, or
  ``Authorization: Bearer``; ``RecordedRequest.token_sources`` says where (``token_in_url``).
  None -> 400 code 104; not in ``meta_tokens`` (or two different tokens) -> 401 code 190.
* pixel id must be numeric (and in ``meta_pixels`` if given), else 400 code 100 subcode 33;
  an older version -> 400 code 2635; another method -> 405.
* body: JSON object, urlencoded or multipart; ``data`` is a list or a JSON string of one; its
  items may be objects or JSON strings. Missing/empty/not a list/over 1,000 -> 400 code 100.
* each event (any invalid event rejects the whole batch, 400 code 100 "Invalid parameter",
  ``error_user_msg`` names the field, ``error_data.blame_field_specs`` points at it):
  known top-level keys only; ``event_name`` string; ``event_time`` int seconds, older than
  7 days (62 for physical_store) -> subcode 2804003, more than ``future_skew`` (300 s) ahead
  -> rejected; ``action_source`` in Meta's list; ``event_id`` string; ``opt_out`` bool;
  URLs http(s); ``user_data`` object with known keys only; website events need
  ``event_source_url`` and ``user_data.client_user_agent``; em ph fn ln db ge ct st zp country
  external_id are 64-lowercase-hex strings or lists of them; ``fbc`` = fb.{0-2}.{13-digit
  ms}.{clickid}[.{appendix}] else subcode 2804001; ``fbp`` likewise with a numeric random;
  ``client_ip_address`` valid IPv4/IPv6; ``custom_data.value`` a number, ``currency`` 3
  letters, both required for Purchase; ``contents[]`` need ``id`` and integer ``quantity``;
  ``data_processing_options`` only ``[]``/``["LDU"]``, country 0/1, state 0/1000-1013;
  matching baseline: identifiers that are a subset of ct+country+st+zp+ge+UA, db+UA, fn+ge or
  ln+ge -> subcode 2804050.
* success: 200 ``{"events_received": n, "messages": [], "fbtrace_id": "A…"}``.

TikTok, ``POST /open_api/v1.3/event/track/`` (exact path, trailing slash):

* ``Access-Token`` header (missing, or not in ``tiktok_tokens``) -> HTTP 200 code 40105; a
  token in the query string is recorded but not accepted.
* body must be JSON (else HTTP 400 code 40002) sent as ``application/json`` (else 40002).
* ``event_source`` web|app|offline|crm, ``event_source_id`` string (in ``tiktok_pixels`` if
  given, else 40001), ``data`` 1..1,000 events (else the whole request is refused, 40002).
* each event: ``event`` string (case kept; unknown names are custom events), ``event_time``
  int seconds (not ms), ``event_id`` a string ("Invalid value for event_id: not a valid
  string."), ``page.url`` for web, ``user.email/phone/external_id`` 64-hex or lists,
  ``user.ip`` valid, ``properties.value`` a number, ``currency`` 3 letters, a string
  ``contents[].price`` -> 40000 "Invalid Price Field". Other errors: 40002 naming the field.
* answers are HTTP 200 ``{"code", "message", "request_id": "<14-digit UTC time><20 hex>",
  "data": {}}``; code 0 / "OK" on success.

Both: unknown paths -> 404; ``inject(platform, fault, times=1, **params)`` queues faults
FIFO per platform (``http_500``, ``http_503``, ``rate_limit``, ``meta_error``,
``tiktok_code``, ``delay``, ``drop``); ``rate_limit_per_minute`` limits per platform and token
(429 + Retry-After, Meta 80004 / TikTok 40100); everything is recorded in ``requests``
(headers, raw query, raw and parsed body, status, response, fault); ``meta_events()`` and
``tiktok_events()`` return accepted events only; ``reset()`` forgets records and faults.
Log lines (``log=`` or ``run_fake_server``) mask tokens.

Pinterest, ``POST /v5/ad_accounts/{ad_account_id}/events[?test=true]`` (``_pinterest``):

* ``Authorization: Bearer`` (missing or not in ``pinterest_tokens``: 401 code 2); the ad
  account numeric, at most 18 digits (400 code 4196), in ``pinterest_ad_accounts`` if given
  (404).
* OAS 5.23's schema, strictly (unknown keys at body, event, custom_data, contents level, 1..1,000
  events, required fields, types, em / hashed_maids / ip + user agent): 400 ``{"code": 4196,
  "message": "Invalid request: ..."}`` naming the key. Other rules fail one event: 200
  ``{"num_events_received", "num_events_processed", "events": [{"status": "failed",
  "error_message", "warning_message"}]}`` (unknown event_name or action_source, event_time
  older than 7 days or in the future, unhashed match keys, value / item_price not numbers).
* ``?test=true``: same answer, nothing accepted (``RecordedRequest.test_mode``).
* ``pinterest_events()``, ``pinterest_url(ad_account_id)``; failed events in ``dropped()``.

GA4 Measurement Protocol, ``POST /mp/collect?measurement_id=&api_secret=`` (``_ga4``):

* always 204 with an empty body; what GA would drop silently, and why, is in
  ``ga4_dropped()`` (unknown measurement_id / wrong api_secret per ``ga4_secrets``, malformed
  payloads, invalid events, ...); the events taken in ``ga4_events()``.
* ``POST /debug/mp/collect``: ``{"validationMessages": [{"fieldPath", "description",
  "validationCode"}]}`` for the same rules (``ENFORCE_RECOMMENDATIONS`` adds purchase
  transaction_id, value type and 72-hour timestamps); no credential check, nothing recorded.
* ``ga4_url()``, ``ga4_debug_url()`` (no query); ``ga4_transaction_counts()``; the
  ``api_secret`` never appears in log lines or reprs (``api_secret=***``).

Faults for all four: ``http_500``, ``http_503``, ``rate_limit``, ``delay``, ``drop``, ``hang``
and the schedule, answered with each platform's error body, plus ``pinterest_error`` and
``ga4_status``. ``event_counts()`` counts Pinterest events by event_id and GA4 purchases by
transaction_id (``dedup_key(platform)`` names the field).

Faults on a clock (``_schedule``): ``FakeAdServer(schedule=FaultSchedule(...))`` answers each
platform with the fault of the phase it is in once ``schedule.start()`` ran (``inject``ed faults
first), e.g. ``FaultSchedule.sequence([{"duration": 120, "fault": "http_503"}, {"duration":
120, "fault": "hang", "params": {"seconds": 15}}, {"duration": 120, "fault": "rate_limit",
"params": {"retry_after": 30}}])``; ``hang`` holds a request, then closes it unanswered
(nothing accepted: a client timeout); ``retry_after="phase_end"`` answers the seconds left in
the phase. Every ``Retry-After`` the fake gives is remembered per platform and pixel: a request
that comes back sooner has ``early_retry`` set. ``event_counts()`` counts accepted events by
(platform, pixel, event name, event_id); ``request_timeline(start)`` gives requests per minute;
``in_flight()`` lists the requests being handled (with the client's port).
"""

from ._fake_server import (
    AcceptedEvent,
    Dropped,
    FakeAdServer,
    Headers,
    RecordedRequest,
    mask_token,
    run_fake_server,
)
from ._platforms import PLATFORMS, dedup_key
from ._schedule import FaultSchedule, Phase, RetryAfterClock

__all__ = [
    "PLATFORMS",
    "AcceptedEvent",
    "Dropped",
    "FakeAdServer",
    "FaultSchedule",
    "Headers",
    "Phase",
    "RecordedRequest",
    "RetryAfterClock",
    "dedup_key",
    "mask_token",
    "run_fake_server",
]
