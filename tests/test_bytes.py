"""encode_*_payload: the request bodies as bytes, as the senders post them.

They must equal the dict builders' output as JSON for every platform and batch size (the bytes
path streams events in chunks, the dict path does not), name the failing event the same way,
and be what the fakes accept.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import convapi
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benches"))
import shoppers  # noqa: E402

NOW = int(time.time())


def meta_events(n: int) -> list[dict[str, Any]]:
    return [shoppers.convapi_event(s, NOW) for s in shoppers.shoppers(n)]


def pinterest_events(n: int) -> list[dict[str, Any]]:
    return meta_events(n)


def ga4_events(n: int) -> list[dict[str, Any]]:
    # One user per request: the same browser, ids and user data for every event.
    events = []
    for i, e in enumerate(meta_events(n)):
        e["user"] = {"email": "jane.doe@gmail.com", "client_id": "GA1.1.1234567890.1700000000",
                     "external_id": "cust-1", "country": "FR"}
        e["custom"]["order_id"] = f"S{i}"
        events.append(e)
    return events


CASES = {
    "meta": (meta_events, convapi.build_meta_payload, convapi.encode_meta_payload, {}),
    "tiktok": (meta_events, convapi.build_tiktok_payload, convapi.encode_tiktok_payload,
               {"pixel_code": "CPIXEL1"}),
    "pinterest": (pinterest_events, convapi.build_pinterest_payload,
                  convapi.encode_pinterest_payload, {}),
    "ga4": (ga4_events, convapi.build_ga4_payload, convapi.encode_ga4_payload, {}),
}


@pytest.mark.parametrize("platform", CASES)
@pytest.mark.parametrize("n", [1, 31, 32, 33, 100, 1000])
def test_bytes_equal_the_dict_payload(platform: str, n: int) -> None:
    make, build, encode, kw = CASES[platform]
    if platform == "ga4":
        n = min(n, 25)
    events = make(n)
    body = encode(events, **kw)
    assert isinstance(body, bytes)
    assert json.loads(body) == build(events, **kw)
    assert body == convapi.encode_payload(platform, events, **kw)


def test_one_event_dict_and_tuples_are_accepted() -> None:
    event = meta_events(1)[0]
    assert json.loads(convapi.encode_meta_payload(event)) == convapi.build_meta_payload([event])
    assert convapi.encode_meta_payload((event,)) == convapi.encode_meta_payload([event])


@pytest.mark.parametrize("bad_at", [0, 31, 32, 70, 999])
def test_errors_name_the_event_in_every_chunk(bad_at: int) -> None:
    events = meta_events(1000)
    events[bad_at]["custom"]["currency"] = "EURO"
    for call in (convapi.encode_meta_payload, convapi.build_meta_payload):
        with pytest.raises(convapi.ValidationError) as info:
            call(events)
        assert info.value.field == f"events[{bad_at}].custom.currency"
    events = meta_events(100)
    events[bad_at % 100]["user"]["email"] = {"not": "text"}
    with pytest.raises(convapi.ValidationError) as info:
        convapi.encode_meta_payload(events)
    assert info.value.field.startswith(f"events[{bad_at % 100}].")


def test_values_needing_python_code_and_keys_not_interned_give_the_same_bytes() -> None:
    # Chunks of exact built-in values are read borrowing (no reference per string, the GIL
    # held); a chunk holding a value only Python code can read (a datetime, a Decimal) is read
    # again keeping references. Keys from json.loads are not the interned literals the walk
    # finds by address, so they are read by their text.
    events = meta_events(100)
    plain = convapi.encode_meta_payload(events)
    mixed = json.loads(json.dumps(events))
    for i in (0, 40, 99):
        mixed[i]["event_time"] = datetime.fromtimestamp(events[i]["event_time"], tz=timezone.utc)
        mixed[i]["custom"]["value"] = Decimal(str(events[i]["custom"]["value"]))
    assert convapi.encode_meta_payload(mixed) == plain
    assert convapi.encode_meta_payload(json.loads(json.dumps(events))) == plain
    mixed[40]["custom"]["value"] = object()
    with pytest.raises(TypeError, match="custom.value"):
        convapi.encode_meta_payload(mixed)


def test_batch_limits_and_wrong_types() -> None:
    with pytest.raises(convapi.ValidationError) as info:
        convapi.encode_meta_payload([])
    assert info.value.field == "events"
    with pytest.raises(convapi.ValidationError) as info:
        convapi.encode_meta_payload(meta_events(1) * 1001)
    assert info.value.field == "events"
    with pytest.raises(TypeError):
        convapi.encode_meta_payload("not events")  # type: ignore[arg-type]
    with pytest.raises(convapi.ValidationError) as info:
        convapi.encode_meta_payload([meta_events(1)[0], 42])  # type: ignore[list-item]
    assert info.value.field == "events[1]"


def test_the_buffer_reuse_never_leaks_an_earlier_body() -> None:
    big = convapi.encode_meta_payload(meta_events(500))
    small = convapi.encode_meta_payload(meta_events(1))
    assert len(small) < len(big) // 100
    assert json.loads(small) == convapi.build_meta_payload(meta_events(1))


class _Str(str):
    pass


class _Int(int):
    pass


class _Dict(dict):
    pass


def _subclassed(value: Any) -> Any:
    """The same value built from subclasses of the built-in types (tuples for lists)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return _Int(value)
    if isinstance(value, str):
        return _Str(value)
    if isinstance(value, dict):
        return _Dict({_Str(k): _subclassed(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_subclassed(v) for v in value)
    raise AssertionError(type(value))


@pytest.mark.parametrize("platform", ["meta", "tiktok"])
def test_subclasses_and_exact_types_give_the_same_bytes(platform: str) -> None:
    # The bindings read exact str/dict/list/int/float/bool/None by their type pointer and
    # everything else through the general path: both must read an event the same way,
    # custom keys the model does not know (passed through) and numbers beyond i64 included.
    events = meta_events(40)
    for i, event in enumerate(events):
        event["custom"]["shop_note"] = {"gift": i % 2 == 0, "ids": [2**70, -1, 0.5, None]}
        event["opt_out"] = False
    extra = {"pixel_code": "CBYTESPIXEL"} if platform == "tiktok" else {}
    exact = convapi.encode_payload(platform, events, **extra)
    assert b'"shop_note"' in exact and b"1180591620717411303424" in exact
    assert convapi.encode_payload(platform, _subclassed(events), **extra) == exact
    assert convapi.encode_payload(platform, tuple(events), **extra) == exact


def test_a_key_that_is_not_text_is_named_with_its_place() -> None:
    event = meta_events(1)[0]
    event["custom"][3] = "x"
    with pytest.raises(convapi.ValidationError) as info:
        convapi.encode_meta_payload([event])
    assert info.value.field == "events[0].custom"
    assert "not a string: 3" in str(info.value)
    event["custom"].pop(3)
    event["user"]["\ud800"] = "x"
    with pytest.raises(convapi.ValidationError) as info:
        convapi.encode_meta_payload([event])
    assert info.value.field == "events[0].user"
    assert "lone surrogate" in str(info.value)


def test_a_value_that_is_not_text_is_named_in_a_later_chunk() -> None:
    # The chunk is first read borrowing; the failure makes it be read again keeping references,
    # which names the field.
    events = meta_events(100)
    events[40]["user"]["email"] = "jane\udfff@example.com"
    with pytest.raises(convapi.ValidationError) as info:
        convapi.encode_meta_payload(events)
    assert info.value.field == "events[40].user.email"
    assert "lone surrogate" in str(info.value)
    events[40]["user"]["email"] = 2**80
    # A number beyond 64 bits is text to the model: an invalid email, dropped (not strict).
    assert json.loads(convapi.encode_meta_payload(events)) == convapi.build_meta_payload(events)


EMPTIES_ITS_DICT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import convapi, shoppers


class EmptiesItsDict:
    # its attribute lookups empty the dict holding it, which drops the dict's reference to it
    def __init__(self, holder):
        self.holder = holder

    def __getattr__(self, name):
        holder = self.__dict__.pop("holder", None)
        if holder is not None:
            holder.clear()
        raise AttributeError(name)


for _ in range(200):
    event = shoppers.convapi_event(shoppers.shoppers(1)[0], int(time.time()))
    event["custom"]["x"] = EmptiesItsDict(event["custom"])
    try:
        convapi.encode_meta_payload([event])
    except TypeError as error:
        assert "custom.x: cannot send a value of type" in str(error), error
    else:
        raise AssertionError("accepted")
print("refused")
"""


def test_a_value_that_empties_its_own_dict_is_refused_without_a_crash() -> None:
    # A value read out of a dict as a borrowed reference, whose own Python code (here
    # __getattr__, called by the bindings' hasattr) drops the dict's reference to it: the
    # bindings must hold one of their own meanwhile. Python's development mode poisons freed
    # memory, so reading the object after it was freed crashes the child instead of passing.
    import subprocess

    benches = str(Path(__file__).resolve().parent.parent / "benches")
    child = subprocess.run([sys.executable, "-X", "dev", "-c", EMPTIES_ITS_DICT, benches],
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip() == "refused"
