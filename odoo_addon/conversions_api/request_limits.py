"""Bounds on what one shopper's request may make the addon store: text longer than any browser
sends is not tracked (each request would store it in the inbox and the outbox, and a flood of
them would fill the database), and oversized click-id cookies are ignored."""

# A search string, the user agent, the page URL or the referrer beyond these: not tracked.
MAX_SEARCH_LENGTH = 500
MAX_USER_AGENT_LENGTH = 1024
MAX_URL_LENGTH = 8192
# A click-id cookie (_fbc, _fbp, ttclid, _ttp) beyond this is ignored, the request tracked.
MAX_COOKIE_LENGTH = 512


def is_oversized(user_agent, url, referrer):
    """Whether a request's user agent, URL or referrer is longer than a browser's."""
    return (len(user_agent or '') > MAX_USER_AGENT_LENGTH or len(url or '') > MAX_URL_LENGTH
            or len(referrer or '') > MAX_URL_LENGTH)


def cookie_value(cookies, name):
    """A click-id cookie's value, or None when missing or longer than a real one."""
    value = cookies.get(name)
    return value if value and len(value) <= MAX_COOKIE_LENGTH else None
