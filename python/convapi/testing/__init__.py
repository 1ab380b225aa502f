"""Testing helpers shipped with convapi: a faithful local fake of the Meta and TikTok APIs.

Pure standard library; importing it does not need the native module's features.
"""

from ._fake_server import (
    AcceptedEvent,
    FakeAdServer,
    Headers,
    RecordedRequest,
    mask_token,
    run_fake_server,
)

__all__ = [
    "AcceptedEvent",
    "FakeAdServer",
    "Headers",
    "RecordedRequest",
    "mask_token",
    "run_fake_server",
]
