"""Shop routes that mark funnel steps, and the endpoint the pixel script drains AJAX events from."""

import hashlib
import json
import logging
import math
import re
from urllib.parse import urlsplit

from odoo import http, release
from odoo.addons.website_sale.controllers.main import WebsiteSale
from odoo.http import request
from odoo.tools import config

from .. import const, request_limits, storefront
from ..models.storefront_service_cache import service_accepts

try:  # 18+: the payment controller has its own file
    from odoo.addons.website_sale.controllers.payment import PaymentPortal
except ImportError:  # 17
    from odoo.addons.website_sale.controllers.main import PaymentPortal

_logger = logging.getLogger(__name__)

ODOO_VERSION = release.version_info[0]
MAX_PENDING_BODY = 2048
# What the pending endpoint gives the pixel script of each event: its name and id, and per
# browser tag (const.TAG_PLATFORMS) the tag ids, the tag's event name and parameters, and the
# tag calls that fire it (pixel_events.js runs them as they are).
PENDING_EVENT_KEYS = ('name', 'event_id', 'calls') + tuple(
    key for platform in const.TAG_PLATFORMS
    for key in (platform, f'{platform}_name', f'{platform}_data'))


def _current_cart():
    if ODOO_VERSION >= 19:
        return request.cart
    return request.website.sale_get_order()


def _track(event_name, **kwargs):
    return request.env['ir.http']._convapi_track(event_name, **kwargs)


# The product page's add-to-cart form (17, 18): the displayed variant's hidden input, then the
# template's. Searched backwards from the template input, within a few hundred bytes.
PAGE_VARIANT_INPUT = re.compile(rb'name="product_id" value="(\d+)"[^<>]*>\s*<input[^<>]*$')
# The schema.org offer (price, currency) precedes the form by a few hundred bytes.
PAGE_OFFER_REACH = 4000
PAGE_CURRENCY = re.compile(r'[A-Z]{3}')


def _form_marker(template_id):
    """The template input of the product page's add-to-cart form for ``template_id``."""
    return b'name="product_template_id" value="%d"' % template_id


def variant_in_page(html, template_id):
    """The variant id of the product page's add-to-cart form, read from the rendered HTML
    (None without a page, or when a theme changed the form)."""
    if not html:
        return None
    marker = _form_marker(template_id)
    at = html.find(marker)
    while at != -1:
        match = PAGE_VARIANT_INPUT.search(html, max(0, at - 400), at)
        if match:
            return int(match.group(1))
        at = html.find(marker, at + len(marker))
    return None


def _itemprop_text(html, name, start, end):
    """The text of the first ``itemprop="name"`` element between ``start`` and ``end``."""
    at = html.find(b'itemprop="%s"' % name, start, end)
    if at == -1:
        return None
    opened = html.find(b'>', at, end)
    closed = html.find(b'<', opened, end) if opened != -1 else -1
    if closed == -1:
        return None
    return html[opened + 1:closed].strip().decode('utf-8', 'replace')


def offer_in_page(html, template_id):
    """The price and currency code the product page shows for ``template_id`` (17, 18), read
    from the schema.org offer Odoo renders just before the add-to-cart form: the displayed
    variant's price for this visitor's pricelist. ``(None, None)`` when the page has none
    (a theme changed it) or it does not parse."""
    form = html.find(_form_marker(template_id)) if html else -1
    if form == -1:
        return None, None
    offer = html.rfind(b'itemprop="offers"', max(0, form - PAGE_OFFER_REACH), form)
    if offer == -1:
        return None, None
    price = _itemprop_text(html, b'price', offer, form)
    currency = _itemprop_text(html, b'priceCurrency', offer, form)
    if not currency or not PAGE_CURRENCY.fullmatch(currency):
        return None, None
    try:
        price = float(price)
    except (TypeError, ValueError):
        return None, None
    if not math.isfinite(price) or price < 0:
        return None, None
    return price, currency


def _cached_first_variant(template):
    """The id of ``template.product_variant_id`` when the ORM cache holds the template's
    variants (the product page's combination code reads them), else None: no query."""
    field = template._fields.get('product_variant_ids')
    variant_ids = template.env.cache.get(template, field, None) if field else None
    return variant_ids[0] if variant_ids else None


def _transaction_id_dedup(order):
    """Whether a service of the order's website that sends Purchase deduplicates it by
    transaction ID (const.PLATFORMS ``dedup``: GA4)."""
    services = request.env['conversions.api.service'].sudo()._storefront_services(
        order.website_id.id)
    return any(const.PLATFORMS[info.platform]['dedup'] == 'transaction_id'
               and service_accepts(info, 'Purchase') for info in services)


def _track_order_step(event_name, order):
    """Checkout steps: keep the context on the order and send the cart's contents."""
    try:
        if not order:
            return
        order._convapi_store_request_context()
        custom = storefront.order_custom_data(order)
        partner = order.partner_id
        if partner == request.website.user_id.partner_id:  # a guest before the address step
            partner = None
        _track(event_name, custom_data=custom, partner=partner)
    except Exception:
        _logger.exception('conversions_api: %s hook failed', event_name)


class ConversionsApiWebsiteSale(WebsiteSale):

    @http.route()
    def shop(self, page=0, category=None, search='', **post):
        response = super().shop(page=page, category=category, search=search, **post)
        # a search longer than any shopper types is a crawler or an attack: not stored
        if search and not page and len(search) <= request_limits.MAX_SEARCH_LENGTH:
            _track('Search', custom_data={'search_string': search})
        return response

    @http.route()
    def product(self, product, *args, **kwargs):
        response = super().product(product, *args, **kwargs)
        try:
            self._convapi_view_content(response, product)
        except Exception:
            _logger.exception('conversions_api: ViewContent hook failed')
        return response

    def _convapi_view_content(self, response, product):
        qcontext = getattr(response, 'qcontext', None) or {}
        if not qcontext.get('product'):
            return  # a redirect or an error page
        info = qcontext.get('combination_info') or {}

        def track_view_content():
            # Run when the page is rendered: the template's fields are cached by then. 19 puts the
            # displayed variant and price in the qcontext; 17/18 compute them inside the template
            # only (a cached part), and computing them again costs more than the whole tracking.
            # There the variant is the one the rendered add-to-cart form holds and the price and
            # currency those of the page's schema.org offer (no query, no compute), else the
            # template's first variant (from the ORM cache, else one indexed query: the ORM's
            # product_variant_id costs a millisecond more here) with the list price and the
            # website's currency.
            html = None if info else request.env['ir.http']._convapi_page_html()
            page_price, page_currency = offer_in_page(html, product.id)
            variant_id = (info.get('product_id')
                          or variant_in_page(html, product.id)
                          or _cached_first_variant(product))
            if not variant_id:
                request.env.cr.execute(
                    'SELECT id FROM product_product WHERE product_tmpl_id = %s AND active'
                    ' ORDER BY id LIMIT 1', [product.id])
                row = request.env.cr.fetchone()
                variant_id = row and row[0]
            if not variant_id:
                return
            price = info.get('price')
            if price is None:
                price = page_price if page_currency else product.list_price
            content = storefront.product_content(product, 1, price, content_id=variant_id)
            if info.get('currency'):
                code = request.env['res.currency']._convapi_currency_code(info['currency'].id)
            elif page_currency:
                code = page_currency
            else:
                # the ISO code from a cache: 17/18 product pages never read the currency record
                code = request.env['res.currency']._convapi_currency_code(
                    request.website.currency_id.id)
            _track('ViewContent', custom_data=storefront.contents_custom_data([content], code))

        request.env['ir.http']._convapi_track_later(track_view_content)

    if ODOO_VERSION < 18:
        @http.route()
        def checkout(self, **post):
            _track_order_step('InitiateCheckout', _current_cart())
            return super().checkout(**post)
    else:
        @http.route()
        def shop_checkout(self, *args, **kwargs):
            _track_order_step('InitiateCheckout', _current_cart())
            return super().shop_checkout(*args, **kwargs)

    @http.route()
    def shop_payment(self, **post):
        try:
            order = _current_cart()
            if order:
                order._convapi_store_request_context()
        except Exception:
            _logger.exception('conversions_api: could not store the context at payment')
        return super().shop_payment(**post)

    def order_2_return_dict(self, order):
        """Odoo's own gtag purchase (the confirmation page's tracking info): where a GA4
        service takes the website's events, its transaction_id is the order reference, as
        the server copy's (GA4 deduplicates purchases by transaction ID, and by nothing else:
        Odoo's default, the order's database id, would count each order twice)."""
        tracking = super().order_2_return_dict(order)
        try:
            if isinstance(tracking, dict) and order.website_id and _transaction_id_dedup(order):
                tracking['transaction_id'] = order.name
        except Exception:
            _logger.exception('conversions_api: could not align the gtag purchase of %s', order)
        return tracking

    @http.route()
    def shop_payment_confirmation(self, **post):
        response = super().shop_payment_confirmation(**post)
        try:
            order_id = request.session.get('sale_last_order_id')
            if order_id:
                order = request.env['sale.order'].sudo().browse(order_id).exists()
                if order:
                    order._convapi_render_purchase_pixel()
        except Exception:
            _logger.exception('conversions_api: Purchase pixel hook failed')
        return response


class ConversionsApiPaymentPortal(PaymentPortal):

    @http.route()
    def shop_payment_transaction(self, order_id, access_token, **kwargs):
        response = super().shop_payment_transaction(order_id, access_token, **kwargs)
        try:
            order = request.env['sale.order'].sudo().browse(order_id).exists()
            if order and order.website_id:
                _track_order_step('AddPaymentInfo', order)
        except Exception:
            _logger.exception('conversions_api: AddPaymentInfo hook failed')
        return response


def _same_origin():
    """The caller is a page of this host (Origin, else Referer)."""
    httprequest = request.httprequest
    source = httprequest.headers.get('Origin') or httprequest.headers.get('Referer')
    if not source:
        return False
    return urlsplit(source).netloc == httprequest.host


# Bounded rate of the pending endpoint per visitor: its session, and its IP (a visitor that drops
# its session cookie on every call still shares one IP bucket). The buckets live in the memory of
# the worker process, on purpose:
# - Odoo's prefork workers share only PostgreSQL and the session store. A counter in the database
#   is a write per call on an endpoint that must store nothing (and a hot row under a flood). A
#   counter in the session is a session-file write per call, and two calls of one visitor served
#   by two workers at once both read the old count and the last write wins: a burst, exactly what
#   must be limited, is under-counted. Callers without a cookie would also leave a file each.
# - In memory, a call costs no I/O. Each worker limits on its own, so with N workers a visitor
#   gets at most N times the rate: still a bound, proportional to the deployment. A recycled
#   worker forgets its buckets, which only ever shortens a limit. The LRU bounds the memory.
PENDING_LIMITERS = {
    'session': storefront.RateLimiter(*storefront.PENDING_RATE_SESSION),
    'ip': storefront.RateLimiter(*storefront.PENDING_RATE_IP),
}


def _rate_limit_wait():
    """Seconds the caller must wait (0: allowed); takes a token from its IP and session buckets."""
    httprequest = request.httprequest
    ip = storefront.client_ip(httprequest.remote_addr, httprequest.headers.get('X-Forwarded-For'),
                              config.get('proxy_mode')) or ''
    wait = PENDING_LIMITERS['ip'].hit(ip)
    if wait:
        return wait
    session = request.session
    if getattr(session, 'is_new', False) or not getattr(session, 'sid', None):
        return 0.0  # no session cookie: the IP bucket is the bound
    # keyed by a digest: the worker's memory never holds session ids
    key = hashlib.blake2b(session.sid.encode(), digest_size=16).digest()
    return PENDING_LIMITERS['session'].hit(key)


def _names(names):
    """Parameter or field names for an error message: a few, each cut short (never echoed
    whole: they come from the caller)."""
    names = sorted(str(name)[:40] for name in names)
    return ', '.join(names[:5]) + (', ...' if len(names) > 5 else '')


def _not_json(constant):
    raise ValueError(f'{constant} is not JSON')


def _pending_refusal(params):
    """Why a call of the pending endpoint is refused, as ``(status, reason)``, else None.

    The page script posts ``{}`` as JSON: the endpoint takes no input at all, so anything
    else (a parameter, a field, an event name, a body that is no JSON object) is refused
    before the session is read.
    """
    if params:
        return 400, 'unexpected parameter(s): ' + _names(params)
    httprequest = request.httprequest
    if httprequest.headers.get('Transfer-Encoding'):
        # a chunked body has no length to check first, and werkzeug would read it whole
        return 411, 'a Content-Length is required'
    # at most MAX_PENDING_BODY bytes: the length was checked, and the stream stops there
    raw = httprequest.get_data(cache=False)
    if not raw.strip():
        return None  # an empty body means the same as {}
    if httprequest.mimetype != 'application/json':
        return 415, 'expected a JSON body (Content-Type: application/json)'
    try:
        body = json.loads(raw, parse_constant=_not_json)
    except ValueError:  # UnicodeDecodeError included
        return 400, 'malformed JSON body'
    if not isinstance(body, dict):
        return 400, 'the body must be a JSON object'
    if body:
        return 400, 'unexpected field(s): ' + _names(body)
    return None


class ConversionsApiPixel(http.Controller):

    @http.route('/convapi/pixel/pending', type='http', auth='public', website=True,
                methods=['POST'], csrf=False, sitemap=False, multilang=False,
                max_content_length=MAX_PENDING_BODY)
    def pixel_pending(self, **kwargs):
        """Browser copies of events queued by AJAX calls (add to cart...), for the pixel.

        Reads and clears the visitor's own session and stores nothing. A bounded rate per
        visitor (else 429 with Retry-After, the events staying for the next page), same-origin
        only and an empty JSON object as body (else 4xx with the reason, the session left
        alone).
        """
        wait = _rate_limit_wait()
        if wait:
            return request.make_json_response(
                {'error': 'too many requests'}, status=429,
                headers=[('Retry-After', str(storefront.retry_after(wait)))])
        if (request.httprequest.content_length or 0) > MAX_PENDING_BODY:
            return request.make_json_response({'error': 'body too large'}, status=413)
        if not _same_origin():
            return request.make_json_response({'error': 'cross-origin'}, status=403)
        refusal = _pending_refusal(kwargs)
        if refusal:
            return request.make_json_response({'error': refusal[1]}, status=refusal[0])
        events = []
        if request.env['ir.http']._convapi_consent() == 'granted':
            events = [
                {key: event.get(key) for key in PENDING_EVENT_KEYS}
                for event in request.env['ir.http']._convapi_pop_pending()
                if event.get('name') in storefront.KNOWN_EVENTS
            ]
        return request.make_json_response({'events': events})
