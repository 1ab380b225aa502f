"""Storefront tracking per request: visitor context, consent, bot filtering and the event queue.

One ``StorefrontTracker`` lives on ``request`` for the duration of a request. Every storefront
hook (controllers, sale.order, forms) calls ``ir.http._convapi_track``, which

- ignores bots, prefetches, the website editor and backend previews,
- builds the request context once (IP, UA, click ids, consent) and refreshes the click-id cookies,
- queues the server copy in the addon's outbox (never a network call in the request), and
- keeps the browser copy with the same event id for the pixel of this page (or of the next
  page / the next ``/convapi/pixel/pending`` call when the request is not a page).

The server copies are written durably and cheaply: one INSERT of one row per request into
the lean inbox table (``conversions.api.inbox``), which the flush cron moves into the outbox.
The row holds each event's facts, built into platform events (normalised, hashed) by that drain,
off the shopper's request; only an event carrying a form's personal data is hashed in the
request, so that none is ever stored plain.

- Served by a WSGI server (every real request): once the request's transaction commits, a
  post-commit hook gives the row to the response's close callback, which the server runs after
  writing the whole response: the INSERT, on a cursor of its own with a synchronous commit,
  costs the shopper nothing (``_queue_rows_after_response``). A rolled-back request queues
  nothing; a worker killed between the response and the INSERT loses that request's events.
- Otherwise (a response streamed as is, Odoo's test cursors, which drop post-commit hooks):
  - read/write transaction: the INSERT runs in the request's own transaction, in a savepoint,
    in a pre-commit hook (Odoo runs them when the endpoint is done, before the response). The
    rows commit with the request and a failing INSERT only rolls back its savepoint. When the
    INSERT is the transaction's only write (a product page), the commit does not wait for the
    WAL flush: the rows are still WAL-logged and replicated, and only a PostgreSQL crash in the
    following fraction of a second could lose them; Odoo's own writes are never committed so.
  - read-only transaction (18/19 ``readonly=True`` routes on a replica): a post-commit hook
    runs the INSERT on a fresh read/write cursor before Odoo returns the response. No thread.

Delivery is the flush cron's job, woken up once the rows commit (see
``conversions.api.event._trigger_flush``): no network call and no thread in the web worker.
Under tests, whose cursors drop post-commit hooks, a read-only request raises
``ReadOnlySqlTransaction`` and Odoo re-runs it read/write, as it does for any endpoint that
writes in a read-only transaction (``_runs_postcommit``).
"""

import json
import logging
import time
from contextlib import contextmanager
from functools import partial

import psycopg2
from odoo import SUPERUSER_ID, api, models
from odoo.http import request
from odoo.tools import config

from .. import const, request_limits, storefront, utils
from . import conversions_api_event
from .storefront_service_cache import service_accepts

_logger = logging.getLogger(__name__)


@contextmanager
def never_breaks_the_shop(what, *args):
    """Log a tracking failure (``'conversions_api: ' + what``) instead of raising it into the
    shop page. A read-only cursor's error still goes up: Odoo then re-runs the request on a
    read/write cursor."""
    try:
        yield
    except psycopg2.errors.ReadOnlySqlTransaction:
        raise
    except Exception:
        _logger.exception('conversions_api: ' + what, *args)


SESSION_PENDING_KEY = 'convapi_pixel_pending'


def _pop_session_pending(raw=False, rebuild=None):
    """Browser copies waiting in the session, removed from it.

    With ``raw``, their JSON strings as stored (one string per event: the session copies every
    value it is given through JSON, and strings need no decoding to be kept). Else pixel events
    (dicts): the session keeps only ``[name, event_id, custom data]`` of each (see
    ``_convapi_keep_pending``), rebuilt here by ``rebuild(name, event_id, custom)`` for the
    pixels configured now; whole dicts kept by an earlier version of the addon pass as they are.
    """
    stored = request.session.pop(SESSION_PENDING_KEY, None)
    if not isinstance(stored, list):
        return []
    events = []
    for item in stored:
        if raw:
            if isinstance(item, str):
                events.append(item)
            elif isinstance(item, dict):  # kept by an earlier version of the addon
                events.append(json.dumps(item, separators=(',', ':')))
            continue
        try:
            event = json.loads(item) if isinstance(item, str) else item
        except ValueError:
            continue
        if isinstance(event, list):
            if (rebuild is None or len(event) != 3 or not isinstance(event[0], str)
                    or not isinstance(event[1], str)
                    or not isinstance(event[2], (dict, type(None)))):
                continue
            event = rebuild(*event)
        if isinstance(event, dict):
            events.append(event)
    return events


_NOT_READ = object()


def _session_pending_as_found():
    """The session's waiting pixel copies as the request's first attempt found them.

    Odoo runs a request again after a serialization failure or a write in a read-only
    transaction (18/19 read-only routes), with the same session object: copies an earlier
    attempt took out of it (for a page whose response was dropped) would be lost, and copies it
    put in (for events rolled back with it) fired without their server copies. Called at the
    start of each attempt: the first one notes the list, the next ones put it back.
    """
    try:
        session = request.session
        found = getattr(request, '_convapi_session_found', _NOT_READ)
        if found is _NOT_READ:
            current = session.get(SESSION_PENDING_KEY)
            request._convapi_session_found = list(current) if isinstance(current, list) \
                else current
        elif session.get(SESSION_PENDING_KEY) != found:
            if found is None:
                session.pop(SESSION_PENDING_KEY, None)
            else:
                session[SESSION_PENDING_KEY] = list(found)
    except Exception:
        _logger.exception('conversions_api: could not restore the pixel events of the session')


# The pixel's static slot in website.layout: found with bytes.find (no regular expression
# scanning the whole page), empty but for whitespace.
PIXEL_SLOT_OPEN = b'<script type="text/plain" id="convapi_pixel_slot">'
PIXEL_SLOT_CLOSE = b'</script>'


def find_pixel_slot(body):
    """(start, end) of the empty pixel slot in the page's HTML (bytes), else None."""
    start = body.find(PIXEL_SLOT_OPEN)
    if start < 0:
        return None
    inner = start + len(PIXEL_SLOT_OPEN)
    close = body.find(PIXEL_SLOT_CLOSE, inner)
    if close < 0 or body[inner:close].strip():
        return None
    return start, close + len(PIXEL_SLOT_CLOSE)


class StorefrontTracker:
    """Per-request state; built lazily, reset whenever Odoo re-runs the request."""

    def __init__(self):
        self.blocked = None          # reason why this request tracks nothing, once known
        self.services = None         # ServiceInfo tuples of the website (cached config)
        self.context = None          # request_context passed to _enqueue
        self.browser_events = []     # pixel copies not yet rendered
        self.deferred = []           # server copies: (event name, values, services)
        self.page_view_done = False
        self.later = []              # tracking deferred to the page rendering (cheaper there)
        self.in_editor = False
        self.page_html = None        # the rendered page (bytes) while its pixel is being built
        self.partner = None          # (uid, the visitor's partner or None when public), once read


def _tracker():
    tracker = getattr(request, '_convapi_tracker', None)
    if tracker is None:
        tracker = StorefrontTracker()
        request._convapi_tracker = tracker
    return tracker


def _runs_postcommit(cr):
    """Whether the cursor runs its post-commit hooks (test cursors drop them)."""
    return type(cr).__name__ != 'TestCursor'


def _queue_rows(env, rows, savepoint=False, async_commit_if_alone=True):
    """One INSERT of a request's inbox entries, and the flush cron woken up after commit.

    With ``async_commit_if_alone``, when the INSERT is the transaction's only write, the
    commit does not wait for the WAL flush (see ``conversions.api.inbox._append``): for the
    paths where the shopper waits for it."""
    env['conversions.api.inbox'].sudo()._append(rows, savepoint=savepoint,
                                                 async_commit_if_alone=async_commit_if_alone)
    if not conversions_api_event.flush_recently_triggered(env.cr.dbname):
        env['conversions.api.event'].sudo()._trigger_flush()


def _queue_rows_at_commit(env, rows):
    """Pre-commit hook of a read/write request: the INSERT, once Odoo has flushed the
    request's own writes (so that ``_append`` knows whether they are the only ones)."""
    with never_breaks_the_shop('could not queue the events of this request'):
        # a failing INSERT rolls back its savepoint only
        _queue_rows(env, rows, savepoint=True)


def _queue_rows_in_new_cursor(registry, rows, async_commit_if_alone=True):
    """Queue with a read/write cursor of its own, now: in the post-commit hook of a read-only
    request, or (synchronous commit: nobody waits for it) after the response was sent."""
    try:
        with registry.cursor() as cr:  # commits (and wakes the cron) on exit
            _queue_rows(api.Environment(cr, SUPERUSER_ID, {}), rows,
                        async_commit_if_alone=async_commit_if_alone)
    except Exception:
        _logger.exception('conversions_api: could not queue the events of a request')


def _queue_rows_after_response(cr, response, registry, rows):
    """Have ``response`` write ``rows`` once it has been sent, if ``cr`` commits.

    The INSERT then costs the shopper nothing: the WSGI server writes the whole response
    (its length known), then closes it, which runs the callback (``call_on_close``) in the
    same worker, on a cursor of its own; the worker takes its next request a moment later.
    Registered from a post-commit hook: a request whose transaction rolls back (or is retried)
    queues nothing. What this gives up: a worker killed between the sending of the response
    and that INSERT (a millisecond) loses the request's browse events; a graceful stop
    finishes the request, callback included. The INSERT commits synchronously (as durable as
    Odoo's own writes): nobody waits for it.

    Returns False, and registers nothing, where the callback would not run: a test cursor
    (it drops post-commit hooks; the request's transaction is used instead), a response the
    server streams as is (``direct_passthrough``), an object that is no werkzeug response.
    """
    on_close = getattr(response, 'call_on_close', None)
    if (not callable(on_close) or getattr(response, 'direct_passthrough', False)
            or not _runs_postcommit(cr)):
        return False
    cr.postcommit.add(partial(on_close, partial(_queue_rows_in_new_cursor, registry, rows,
                                                async_commit_if_alone=False)))
    return True


class IrHttp(models.AbstractModel):
    _inherit = 'ir.http'

    # ------------------------------------------------------------------
    # Request lifecycle
    # ------------------------------------------------------------------

    @classmethod
    def _pre_dispatch(cls, rule, args):
        # A fresh tracker per attempt: Odoo re-runs the whole endpoint after a serialization
        # failure or a write in a read-only transaction.
        request._convapi_tracker = None
        request._convapi_rule = getattr(rule, 'rule', None)
        _session_pending_as_found()
        super()._pre_dispatch(rule, args)

    @classmethod
    def _serve_fallback(cls):
        request._convapi_tracker = None
        _session_pending_as_found()
        return super()._serve_fallback()

    @classmethod
    def _post_dispatch(cls, response):
        if request.db and getattr(request, 'is_frontend', False):
            cls._convapi_fill_pixel_slot(response)
            with never_breaks_the_shop('route event hook failed'):
                cls._convapi_route_events(response)
        tracker = getattr(request, '_convapi_tracker', None)
        if tracker is not None:
            cls._convapi_run_later(tracker)
            with never_breaks_the_shop('could not queue the events of this request'):
                cls._convapi_flush_deferred(tracker, response)
            try:
                cls._convapi_keep_pending(tracker)
            except Exception:
                _logger.exception('conversions_api: could not keep pixel events for later')
        super()._post_dispatch(response)

    @classmethod
    def _convapi_fill_pixel_slot(cls, response):
        """Put this visit's pixel script (PageView included) in the page's static slot.

        Done on the finished HTML so that cached page parts never freeze event ids.
        """
        with never_breaks_the_shop('could not fill the pixel slot'):
            if (getattr(response, 'status_code', 0) != 200
                    or getattr(response, 'direct_passthrough', False)
                    or 'text/html' not in (response.headers.get('Content-Type') or '')):
                return
            body = response.get_data()
            slot = find_pixel_slot(body)
            if not slot:
                return
            tracker = _tracker()
            tracker.page_html = body  # deferred tracking may read the page (ViewContent)
            try:
                markup = cls._convapi_pixel_markup(status_code=200)
            finally:
                tracker.page_html = None
            response.set_data(b''.join((body[:slot[0]], str(markup).encode(), body[slot[1]:])))

    @classmethod
    def _convapi_page_html(cls):
        """The rendered HTML (bytes) of this request's page while its pixel is being built,
        else None."""
        tracker = getattr(request, '_convapi_tracker', None) if request else None
        return tracker.page_html if tracker is not None else None

    @classmethod
    def _convapi_track_later(cls, callback):
        """Run ``callback`` (which tracks something) when the page renders, or at the latest
        after the endpoint: values a template reads anyway are then already in cache."""
        tracker = cls._convapi_current_tracker()  # None for bots, prefetches, previews
        if tracker is not None:
            tracker.later.append(callback)

    @classmethod
    def _convapi_run_later(cls, tracker):
        callbacks, tracker.later = tracker.later, []
        for callback in callbacks:
            with never_breaks_the_shop('deferred tracking failed'):
                callback()

    @classmethod
    def _convapi_flush_deferred(cls, tracker, response=None):
        """Write this request's server copies to the inbox: once ``response`` has been sent
        (see ``_queue_rows_after_response``), else in the request's transaction."""
        if not tracker.deferred:
            return
        items, tracker.deferred = tracker.deferred, []
        env = request.env
        rows = env['conversions.api.event'].sudo()._storefront_entries(items)
        if not rows:
            return
        cr = env.cr
        if _queue_rows_after_response(cr, response, env.registry, rows):
            return
        if not getattr(cr, 'readonly', False):
            # in the request's transaction, when it commits (Odoo flushes and runs the
            # pre-commit hooks right after the endpoint, before the response is returned)
            cr.precommit.add(partial(_queue_rows_at_commit, env, rows))
            return
        if not _runs_postcommit(cr):
            raise psycopg2.errors.ReadOnlySqlTransaction(
                'conversions_api: events queued in a read-only transaction')
        cr.postcommit.add(partial(_queue_rows_in_new_cursor, env.registry, rows))

    @classmethod
    def _convapi_keep_pending(cls, tracker):
        """Browser copies this response could not render wait in the session for the pixel."""
        pending = [event for event in tracker.browser_events if not event.get('rendered')]
        if not pending:
            return
        stored = _pop_session_pending(raw=True)
        # Only what the pixel copy is built from (its pixels and platform parameters are
        # derived again when it is fired): the session file is rewritten, whole, by every
        # request that changes it, and a visitor without the pixel script (a bot, a crawler
        # that keeps its cookies) has its pending events grow up to the limit.
        stored.extend(json.dumps([event['name'], event['event_id'], event.get('custom')],
                                 separators=(',', ':')) for event in pending)
        request.session[SESSION_PENDING_KEY] = stored[-storefront.MAX_PENDING_EVENTS:]
        tracker.browser_events = []

    @classmethod
    def _convapi_route_events(cls, response):
        """Events of optional modules' routes, recognised by their route (no hard dependency)."""
        rule = getattr(request, '_convapi_rule', None) or ''
        if getattr(response, 'status_code', 200) >= 400:
            return
        params = request.params if hasattr(request, 'params') else {}
        if rule == '/website_mass_mailing/subscribe':
            if not _json_result_ok(response):
                return
            value = params.get('value') or ''
            user_data = {'email': value} if '@' in value else {'phone': value}
            cls._convapi_track('Subscribe', user_data=user_data)
        elif rule == '/shop/wishlist/add':
            if not _json_result_ok(response):
                return
            product = request.env['product.product'].browse(int(params.get('product_id') or 0))
            if product.exists():
                content = storefront.product_content(product)
                website = getattr(request, 'website', None)
                currency = website.currency_id.name if website else None
                cls._convapi_track('AddToWishlist', custom_data=storefront.contents_custom_data(
                    [content], currency))
        elif rule.startswith('/event/') and rule.endswith('/registration/confirm'):
            # website_event redirects to .../registration/success once the attendees exist, and
            # back to the form when it refused them (no seats left, reCAPTCHA)
            headers = getattr(response, 'headers', None)
            location = (headers.get('Location') if headers is not None else None) or ''
            if request.httprequest.method != 'POST' or '/registration/success' not in location:
                return
            user_data = {}
            for key, value in params.items():
                if not isinstance(value, str):
                    continue
                # website_event names attendee inputs "<attendee>-<question type>-<question id>"
                parts = key.split('-')
                field = parts[1] if len(parts) == 3 else parts[-1]
                if field == 'email' and 'email' not in user_data:
                    user_data['email'] = value
                elif field == 'phone' and 'phone' not in user_data:
                    user_data['phone'] = value
                elif field == 'name' and 'first_name' not in user_data:
                    parts = value.split(None, 1)
                    user_data['first_name'] = parts[0] if parts else None
                    user_data['last_name'] = parts[1] if len(parts) > 1 else None
            cls._convapi_track('CompleteRegistration', user_data=user_data,
                               custom_data={'content_name': 'event registration',
                                            'status': 'registered'})

    # ------------------------------------------------------------------
    # Request facts
    # ------------------------------------------------------------------

    @classmethod
    def _convapi_blocked_reason(cls):
        httprequest = request.httprequest
        # the raw header: Odoo 17's user_agent object runs 22 regular expressions to parse it
        if storefront.is_bot(httprequest.headers.get('User-Agent')):
            return 'bot'
        if request_limits.is_oversized(httprequest.headers.get('User-Agent'), httprequest.url,
                                       httprequest.headers.get('Referer')):
            return 'oversized request'
        if storefront.is_prefetch(httprequest.headers):
            return 'prefetch'
        if httprequest.args.get('enable_editor') or httprequest.args.get('edit_translations'):
            return 'editor'
        headers = httprequest.headers
        if headers.get('Sec-Fetch-Dest') == 'iframe':
            # the backend's website preview and editor show the site in an iframe
            referrer = headers.get('Referer') or ''
            if any(part in referrer for part in ('/odoo', '/web', '/@/')):
                return 'backend preview'
            user = request.env.user
            if user and not user._is_public() and user._is_internal():
                return 'backend preview'
        return None

    @classmethod
    def _convapi_services(cls, tracker, website, event_name=None):
        """The website's services (cached ServiceInfo), those accepting ``event_name`` if given."""
        if tracker.services is None:
            Service = request.env['conversions.api.service'].sudo()
            tracker.services = Service._storefront_services(website.id)
        if event_name is None:
            return tracker.services
        return tuple(s for s in tracker.services if service_accepts(s, event_name))

    @classmethod
    def _convapi_consent(cls):
        return 'granted' if request.env['ir.http']._is_allowed_cookie('optional') else 'denied'

    @classmethod
    def _convapi_request_context(cls, tracker, services):
        if tracker.context is not None:
            return tracker.context
        httprequest = request.httprequest
        cookies = httprequest.cookies
        consent = cls._convapi_consent()
        ms = storefront.now_ms()
        secure = httprequest.scheme == 'https'

        # Values minted here survive Odoo's re-runs of the request (read-only retry,
        # serialization retry): one creation time, one Set-Cookie.
        minted = getattr(request, '_convapi_minted_cookies', None)
        if minted is None:
            minted = request._convapi_minted_cookies = {}

        def set_cookie(name, value, max_age):
            if minted.get(name) == value:
                return
            minted[name] = value
            # cookie_type='optional': Odoo itself drops the cookie without consent.
            request.future_response.set_cookie(
                name, value, max_age=max_age, path='/', samesite='Lax', secure=secure,
                cookie_type='optional')

        fbc = request_limits.cookie_value(cookies, storefront.FBC_COOKIE)
        fbclid = httprequest.args.get('fbclid')
        if storefront.fbc_needs_update(fbc, fbclid):
            fbc = minted.get(storefront.FBC_COOKIE) or storefront.make_fbc(fbclid, ms)
            if consent == 'granted':
                set_cookie(storefront.FBC_COOKIE, fbc, storefront.FBC_MAX_AGE)

        fbp = request_limits.cookie_value(cookies, storefront.FBP_COOKIE)
        meta_pixel_on = any(s.platform == 'meta' and s.browser_pixel for s in services)
        if not fbp and consent == 'granted' and not meta_pixel_on and any(
                s.platform == 'meta' for s in services):
            fbp = minted.get(storefront.FBP_COOKIE) or storefront.make_fbp(ms)
            set_cookie(storefront.FBP_COOKIE, fbp, storefront.FBP_MAX_AGE)

        ttclid = request_limits.cookie_value(cookies, storefront.TTCLID_COOKIE)
        ttclid_arg = httprequest.args.get('ttclid')
        if ttclid_arg and ttclid_arg != ttclid:
            ttclid = ttclid_arg
            if consent == 'granted':
                set_cookie(storefront.TTCLID_COOKIE, ttclid, storefront.TTCLID_MAX_AGE)

        # the other platforms' cookies (const.PLATFORMS ``cookies``, ``session_cookie``), for
        # every service of the website: the first event of a request is not every service's
        extra = cls._convapi_platform_cookies(
            cookies, httprequest.args, cls._convapi_services(tracker, request.website),
            set_cookie if consent == 'granted' else None)

        dispatcher = getattr(request, 'dispatcher', None)
        routing_type = getattr(dispatcher, 'routing_type', 'http')
        is_page = httprequest.method == 'GET' and routing_type == 'http'
        referrer = httprequest.headers.get('Referer') or None
        if is_page:
            source_url, referrer_url = httprequest.url, referrer
        else:  # an RPC or a form post: the page the shopper is on is the referrer
            source_url, referrer_url = referrer or httprequest.url, None
        tracker.context = {
            'client_ip_address': storefront.client_ip(
                httprequest.remote_addr, httprequest.headers.get('X-Forwarded-For'),
                config.get('proxy_mode')),
            'client_user_agent': httprequest.headers.get('User-Agent') or None,
            'fbc': fbc or None,
            'fbp': fbp or None,
            'ttclid': ttclid or None,
            'ttp': request_limits.cookie_value(cookies, storefront.TTP_COOKIE),
            'event_source_url': source_url,
            'referrer_url': referrer_url,
            'consent': consent,
        }
        tracker.context.update(extra)
        return tracker.context

    @classmethod
    def _convapi_platform_cookies(cls, cookies, args, services, set_cookie=None):
        """Request context values from the cookies of the services' platforms: Pinterest's
        click id (the landing page's ``epik`` parameter, which then sets the ``_epik`` cookie
        through ``set_cookie``, else that cookie), GA4's client id (``_ga``) and its session
        ids (``_ga_<measurement id without G->``, by that suffix: ``session_ids``). Cookies
        longer than a real one are ignored."""
        values = {}
        sessions = {}
        for platform in {service.platform for service in services}:
            spec = const.PLATFORMS.get(platform) or {}
            for cookie in spec.get('cookies') or ():
                value = request_limits.cookie_value(cookies, cookie['cookie'])
                arg = args.get(cookie['param']) if cookie['param'] else None
                if arg and len(arg) <= request_limits.MAX_COOKIE_LENGTH and arg != value:
                    value = arg
                    if set_cookie is not None and cookie['max_age']:
                        set_cookie(cookie['cookie'], value, cookie['max_age'])
                if value:
                    values[cookie['key']] = value
            session = spec.get('session_cookie')
            if session:
                for service in services:
                    if service.platform != platform or not service.pixel_id:
                        continue
                    suffix = utils.session_cookie_suffix(platform, service.pixel_id)
                    value = request_limits.cookie_value(cookies, session['prefix'] + suffix)
                    if value:
                        sessions[suffix] = value
        if sessions:
            values['session_ids'] = sessions
        return values

    @classmethod
    def _convapi_current_tracker(cls):
        """This request's tracker, or None when nothing may be tracked (no request, a bot)."""
        if not request or not request.db:
            return None
        tracker = _tracker()
        if tracker.blocked is None:
            tracker.blocked = cls._convapi_blocked_reason() or ''
        return None if tracker.blocked else tracker

    @classmethod
    def _convapi_visitor_partner(cls):
        user = request.env.user
        if not user or user._is_public():
            return None
        return user.partner_id

    # ------------------------------------------------------------------
    # The one entry point of every storefront hook
    # ------------------------------------------------------------------

    @classmethod
    def _convapi_track(cls, event_name, *, custom_data=None, user_data=None, partner=None,
                       event_id=None, website=None, server=True, browser=True):
        """Queue ``event_name`` (server copy) and keep its pixel copy; return its event id.

        Never raises: a tracking failure must not break the shop.
        """
        with never_breaks_the_shop('could not track %s', event_name):
            return cls._convapi_track_unsafe(
                event_name, custom_data=custom_data, user_data=user_data, partner=partner,
                event_id=event_id, website=website, server=server, browser=browser)
        return None

    @classmethod
    def _convapi_track_unsafe(cls, event_name, *, custom_data, user_data, partner, event_id,
                              website, server, browser):
        if not request or not request.db:
            return None
        tracker = _tracker()
        if tracker.blocked is None:
            tracker.blocked = cls._convapi_blocked_reason() or ''
        if tracker.blocked or tracker.in_editor:
            return None
        website = website or getattr(request, 'website', None)
        if not website:
            return None
        services = cls._convapi_services(tracker, website, event_name)
        if not services:
            return None
        context = cls._convapi_request_context(tracker, services)
        event_id = event_id or storefront.new_event_id(event_name)
        if partner is None:
            uid = request.env.uid  # a sign-up logs in during the request
            if tracker.partner is None or tracker.partner[0] != uid:
                tracker.partner = (uid, cls._convapi_visitor_partner())
            partner = tracker.partner[1]
        if server:
            values = {
                'website_id': website.id,
                'user_data': user_data or None,
                'custom_data': custom_data or None,
                'event_id': event_id,
                'event_source_url': context['event_source_url'],
                'referrer_url': context['referrer_url'],
                'request_context': context,
                'event_time': int(time.time()),
            }
            if partner:
                values['partner_id'] = partner.id
            tracker.deferred.append((event_name, values, services))
        if browser and context['consent'] == 'granted':
            pixel_event = cls._convapi_pixel_event(event_name, event_id, custom_data, services)
            if pixel_event:
                tracker.browser_events.append(pixel_event)
        return event_id

    @classmethod
    def _convapi_pixel_event(cls, event_name, event_id, custom_data, services):
        """The browser copy of an event for the tags of ``services``: per tag platform its tag
        ids (``meta``, ``tiktok``, ``pinterest``), its event name (``<platform>_name``) and
        parameters (``<platform>_data``), and the tag calls that fire it (``calls``)."""
        tags, limited = _browser_tags(services)
        if not any(tags.values()):
            return None
        event = {'name': event_name, 'event_id': event_id}
        for platform, ids in tags.items():
            event[platform] = ids
            if ids:
                name = storefront.tag_event_name(platform, event_name)
                if name is not None:
                    event[f'{platform}_name'] = name
                event[f'{platform}_data'] = storefront.browser_data(platform, custom_data)
        event['custom'] = custom_data or None  # kept in the session while it waits (not sent)
        event['calls'] = storefront.event_calls(event, limited)
        return event

    @classmethod
    def _convapi_add_browser_event(cls, event_name, event_id, custom_data=None, website=None):
        """A pixel-only copy of an event whose server copy is queued elsewhere (Purchase)."""
        try:
            tracker = _tracker()
            if tracker.blocked is None:
                tracker.blocked = cls._convapi_blocked_reason() or ''
            website = website or getattr(request, 'website', None)
            if tracker.blocked or tracker.in_editor or not website:
                return False
            services = cls._convapi_services(tracker, website, event_name)
            if not services or cls._convapi_consent() != 'granted':
                return False
            pixel_event = cls._convapi_pixel_event(event_name, event_id, custom_data, services)
            if not pixel_event:
                return False
            tracker.browser_events.append(pixel_event)
            return True
        except Exception:
            _logger.exception('conversions_api: could not render the %s pixel', event_name)
            return False

    # ------------------------------------------------------------------
    # Pixel rendering (called by the website.layout template)
    # ------------------------------------------------------------------

    @classmethod
    def _convapi_pixel_markup(cls, in_editor=False, status_code=None):
        """PageView for this page, then the pixel script with every event not yet fired."""
        with never_breaks_the_shop('could not render the pixel'):
            return cls._convapi_pixel_markup_unsafe(in_editor, status_code)
        return ''

    @classmethod
    def _convapi_pixel_markup_unsafe(cls, in_editor, status_code):
        if not request or not request.db or not getattr(request, 'website', None):
            return ''
        tracker = _tracker()
        if in_editor:
            tracker.in_editor = True
            return ''
        httprequest = request.httprequest
        if (not tracker.page_view_done and httprequest.method == 'GET'
                and (status_code or 200) == 200):
            tracker.page_view_done = True
            cls._convapi_track('PageView')
        cls._convapi_run_later(tracker)
        if tracker.blocked:
            return ''
        services = cls._convapi_services(tracker, request.website)
        tags, limited = _browser_tags(services)
        consent = tracker.context['consent'] if tracker.context else cls._convapi_consent()
        if not any(tags.values()) or consent != 'granted':
            return ''
        events = cls._convapi_unfired_events(tracker, services)
        return storefront.tags_script(tags, events, limited)

    @classmethod
    def _convapi_pop_pending(cls):
        """Browser copies waiting in the session (AJAX adds), for the pixel script to fire."""
        tracker = cls._convapi_current_tracker()  # None for a bot: it gets nothing
        if tracker is None:
            return []
        return cls._convapi_unfired_events(tracker, cls._convapi_services(tracker,
                                                                          request.website))

    @classmethod
    def _convapi_unfired_events(cls, tracker, services):
        """The pixel copies not fired yet: those waiting in the session (removed from it), then
        this request's, marked as rendered."""
        events = _pop_session_pending(rebuild=partial(cls._convapi_pending_pixel_event,
                                                      services))
        for event in tracker.browser_events:
            if not event.get('rendered'):
                event['rendered'] = True
                events.append(event)
        return events

    @classmethod
    def _convapi_pending_pixel_event(cls, services, event_name, event_id, custom_data):
        """The pixel copy of an event kept in the session, for the website's ``services`` now
        (those that accept it and have a pixel), else None."""
        services = [s for s in services if service_accepts(s, event_name)]
        return cls._convapi_pixel_event(event_name, event_id, custom_data, services)


def _browser_tags(services):
    """Per tag platform (const.TAG_PLATFORMS), the tag ids of the services whose browser
    pixel is on, and those of them with Limited Data Use on."""
    tags = {platform: set() for platform in const.TAG_PLATFORMS}
    limited = {platform: set() for platform in const.TAG_PLATFORMS}
    for service in services:
        if service.browser_pixel and service.tag_id and service.platform in tags:
            tags[service.platform].add(service.tag_id)
            if service.limited_data_use:
                limited[service.platform].add(service.tag_id)
    return ({platform: sorted(ids) for platform, ids in tags.items()},
            {platform: sorted(ids) for platform, ids in limited.items()})


def _json_result_ok(response):
    """A JSON-RPC answer without an error (and without an error toast)."""
    try:
        body = json.loads(response.get_data(as_text=True) or '{}')
    except Exception:
        return False
    if not isinstance(body, dict) or body.get('error'):
        return False
    result = body.get('result')
    return not (isinstance(result, dict) and result.get('toast_type') == 'danger')
