"""Exception classes raised by convapi; the native module raises these same classes."""

from __future__ import annotations


class ConvapiError(Exception):
    """Base class of every error convapi raises."""


class ValidationError(ConvapiError, ValueError):
    """Bad input. ``field`` names the field at fault (e.g. ``events[0].user.phone``)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class SendError(ConvapiError):
    """A send that did not succeed. ``retryable`` says whether trying later may work."""

    def __init__(
        self,
        text: str,
        *,
        platform: str,
        retryable: bool,
        message: str | None = None,
        attempts: int = 0,
        events_sent: int = 0,
        sent: list[int] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(text)
        #: The platform's own message (or the transport failure), without our prefix.
        self.message = text if message is None else message
        self.platform = platform
        self.retryable = retryable
        self.attempts = attempts
        #: How many events earlier requests of the same send delivered, and which ones
        #: (positions in the events given to ``send``): for GA4, which groups events per user,
        #: they need not be the first ones.
        self.events_sent = events_sent
        self.sent = list(range(events_sent)) if sent is None else list(sent)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple:
        # The default (cls(*args)) would miss the keyword-only arguments, so pickle, copy and
        # deepcopy failed; rebuild from args and the attribute dict instead.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type, args: tuple, state: dict) -> BaseException:
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class ApiError(SendError):
    """The platform answered with an error: Meta ``error.code``, TikTok ``code``."""

    def __init__(
        self,
        text: str,
        *,
        platform: str,
        code: int,
        message: str | None = None,
        subcode: int | None = None,
        trace_id: str | None = None,
        http_status: int = 0,
        retryable: bool = False,
        attempts: int = 0,
        events_sent: int = 0,
        sent: list[int] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            text,
            platform=platform,
            retryable=retryable,
            message=message,
            attempts=attempts,
            events_sent=events_sent,
            sent=sent,
            retry_after=retry_after,
        )
        self.code = code
        self.subcode = subcode
        self.trace_id = trace_id
        self.http_status = http_status


class TransportError(SendError):
    """No usable answer: connection refused or dropped, timeout, or a body that is not the API's."""


class PartialSendError(ApiError):
    """The platform took a request but refused some of its events (Pinterest's per-event status).

    ``failed`` lists ``(position, message)`` of the refused events, ``sent`` the positions of the
    accepted ones (positions in the events given to ``send``); the send stopped there, so any
    other event was not sent. Refused events never succeed as they are: not retryable.
    """

    def __init__(
        self,
        text: str,
        *,
        platform: str,
        failed: list[tuple[int, str]],
        sent: list[int],
        events_sent: int = 0,
        attempts: int = 0,
        trace_id: str | None = None,
        http_status: int = 0,
    ) -> None:
        first = failed[0][1] if failed else ""
        super().__init__(
            text,
            platform=platform,
            code=0,
            message=first,
            trace_id=trace_id,
            http_status=http_status,
            retryable=False,
            attempts=attempts,
            events_sent=events_sent,
            sent=sent,
        )
        self.failed = [(int(i), str(m)) for i, m in failed]
