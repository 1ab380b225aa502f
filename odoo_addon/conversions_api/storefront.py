"""Pure helpers of the storefront tracking: bots, click ids, event payloads, the pixel script
(one renderer per browser tag, ``TAGS``: Meta's fbq, TikTok's ttq, the Pinterest tag)."""

import json
import math
import random
import re
import threading
import time
import uuid
from collections import OrderedDict

from markupsafe import Markup

from . import const

# Crawlers, link previews, monitors and headless browsers: none of them is a shopper.
# Matched on the lowercased user agent: a case-insensitive pattern costs 13 times more (40 us
# against 3 us per request).
BOT_USER_AGENT = re.compile(
    r'bot|crawl|spider|slurp|facebookexternalhit|facebookcatalog|meta-externalagent|'
    r'preview|headless|lighthouse|pingdom|uptime|monitor|scrapy|curl/|wget/|'
    r'python-requests|python-urllib|httpclient|go-http-client|java/|okhttp|phantomjs'
)

FBC_COOKIE = '_fbc'
FBP_COOKIE = '_fbp'
TTCLID_COOKIE = 'ttclid'
TTP_COOKIE = '_ttp'
FBC_MAX_AGE = 90 * 24 * 3600
FBP_MAX_AGE = 90 * 24 * 3600
TTCLID_MAX_AGE = 30 * 24 * 3600
# (The cookies of the other platforms: const.PLATFORMS[...]['cookies'].)

# Events a browser may see fired by this addon; anything else is refused.
KNOWN_EVENTS = (
    'PageView', 'ViewContent', 'AddToCart', 'InitiateCheckout', 'AddPaymentInfo', 'Purchase',
    'Search', 'AddToWishlist', 'Lead', 'Contact', 'Subscribe', 'CompleteRegistration',
    'SubmitApplication',
)

# Short prefixes keep the event ids readable in the platforms' test tools.
EVENT_ID_PREFIX = {
    'PageView': 'pv', 'ViewContent': 'vc', 'AddToCart': 'atc', 'InitiateCheckout': 'ic',
    'AddPaymentInfo': 'api', 'Purchase': 'purchase', 'Search': 'search',
    'AddToWishlist': 'atw', 'Lead': 'lead', 'Contact': 'contact', 'Subscribe': 'sub',
    'CompleteRegistration': 'reg', 'SubmitApplication': 'app',
}

# Pending browser events kept in the session between a request and the next page. The pixel
# script fetches them 300 ms after each call that queues one: more than a few waiting means
# that the visitor runs no pixel, and every one of them makes each session write longer.
MAX_PENDING_EVENTS = 10

# Odoo models behind the website forms, and the event each form means.
FORM_MODEL_EVENTS = {
    'crm.lead': 'Lead',
    'hr.applicant': 'SubmitApplication',
    'mail.mail': 'Contact',
    'helpdesk.ticket': 'Contact',
    'project.task': 'Contact',
    'res.partner': 'Contact',
}
# Forms that are steps of another flow, not a lead.
FORM_MODELS_IGNORED = ('sale.order', 'shop.sale.order')


# Rate of POST /convapi/pixel/pending: a page asks after each AJAX add, form or wishlist click.
PENDING_RATE_SESSION = (20, 0.5)    # per visitor session: a burst of 20, then one every 2 s
PENDING_RATE_IP = (120, 2.0)        # per client IP (several shoppers may share one): 120, 2/s
RATE_LIMIT_MAX_KEYS = 10000


class RateLimiter:
    """Token buckets keyed by visitor, in a bounded LRU local to the process.

    ``hit(key)`` takes one token from the key's bucket (``capacity`` tokens, refilled at
    ``per_second``) and answers 0 when allowed, else the seconds until a token is back. The least
    recently seen keys are forgotten beyond ``max_keys`` (a forgotten visitor starts full again,
    so memory stays bounded whatever the traffic). Thread-safe (threaded Odoo serves requests
    from several threads of one process).
    """

    def __init__(self, capacity, per_second, max_keys=RATE_LIMIT_MAX_KEYS, clock=time.monotonic):
        self.capacity = float(capacity)
        self.per_second = float(per_second)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets = OrderedDict()   # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def hit(self, key):
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.per_second if self.per_second > 0 else math.inf
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait

    def reset(self):
        with self._lock:
            self._buckets.clear()

    def __len__(self):
        return len(self._buckets)


def retry_after(wait):
    """The Retry-After header value (whole seconds, at least 1) of a wait in seconds."""
    if not math.isfinite(wait):
        return 3600
    return max(1, int(math.ceil(wait)))


def is_bot(user_agent):
    return not user_agent or bool(BOT_USER_AGENT.search(user_agent.lower()))


def is_prefetch(headers):
    """Speculative loads (link prefetch, prerender, previews) are not page views."""
    for name in ('Purpose', 'Sec-Purpose', 'X-Purpose', 'X-Moz'):
        value = (headers.get(name) or '').lower()
        if 'prefetch' in value or 'prerender' in value or 'preview' in value:
            return True
    return False


def now_ms():
    return int(time.time() * 1000)


def make_fbc(fbclid, creation_ms=None):
    """``fb.1.{creationTime}.{fbclid}``; the fbclid keeps its case."""
    return 'fb.1.%d.%s' % (creation_ms or now_ms(), fbclid)


def make_fbp(creation_ms=None):
    return 'fb.1.%d.%d' % (creation_ms or now_ms(), random.randint(1000000000, 2147483647))


def fbc_needs_update(cookie_value, fbclid):
    """Only a missing cookie, or a new fbclid, replaces ``_fbc`` (its creation time is kept)."""
    if not fbclid:
        return False
    if not cookie_value:
        return True
    return cookie_value.rsplit('.', 1)[-1] != fbclid


def client_ip(remote_addr, forwarded_for, proxy_mode):
    """The shopper's IP: X-Forwarded-For is trusted only behind a proxy (its last hop)."""
    if proxy_mode and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(',') if hop.strip()]
        if hops:
            return hops[-1]
    return remote_addr or None


def new_event_id(event_name):
    return '%s-%s' % (EVENT_ID_PREFIX.get(event_name, 'ev'), uuid.uuid4().hex)


def purchase_event_id(order):
    """Stable per order: the server copy, a retry and the confirmation page share it."""
    return 'purchase-%d' % order.id


def _amount(value):
    return round(float(value or 0.0), 2)


def item_quantity(quantity):
    """Meta refuses a non-integer ``contents[].quantity`` (Odoo quantities are floats)."""
    quantity = float(quantity or 0)
    return int(quantity) if quantity.is_integer() else max(1, round(quantity))


def product_content(product, quantity=1.0, price=None, content_id=None):
    """One ``contents`` item (neutral keys) for a product.product, or for a product.template
    with ``content_id`` the id of the variant meant (name and category are the template's)."""
    product = product.sudo()
    # name and category are the template's: a variant's are related fields, computed again
    # on each read in the shopper's request
    template = product.product_tmpl_id if product._name == 'product.product' else product
    # the internal category's own name: display names walk the parents, and the eCommerce
    # categories are a many2many; both cost queries in the shopper's request. Cached by id
    # (conversions_api's storefront_service_cache): shop pages do not read the category.
    category = product.env['product.category']._convapi_category_name(template.categ_id.id)
    return {
        'id': str(content_id or product.id),
        'quantity': item_quantity(quantity),
        'item_price': _amount(product.lst_price if price is None else price),
        'title': template.name,
        'category': category or None,
    }


def contents_custom_data(contents, currency, value=None, **extra):
    """Neutral ``custom`` dict for events carrying products."""
    if value is None:
        value = sum((item.get('item_price') or 0.0) * (item.get('quantity') or 0)
                    for item in contents)
    data = {
        'value': _amount(value),
        'currency': currency,
        'content_ids': [item['id'] for item in contents],
        'contents': contents,
        'content_type': 'product',
    }
    if len(contents) == 1 and contents[0].get('title'):
        data['content_name'] = contents[0]['title']
        if contents[0].get('category'):
            data['content_category'] = contents[0]['category']
    data.update({key: val for key, val in extra.items() if val not in (None, '', [])})
    return data


def order_lines_contents(order):
    """Contents of a sale.order, without delivery, down-payment or section lines."""
    contents = []
    for line in order.sudo().order_line:
        if line.display_type or not line.product_id:
            continue
        if getattr(line, 'is_delivery', False) or getattr(line, 'is_downpayment', False):
            continue
        price = getattr(line, 'price_reduce_taxinc', None)
        if price is None:
            price = line.price_unit
        contents.append(product_content(line.product_id, line.product_uom_qty, price))
    return contents


def order_custom_data(order, **extra):
    contents = order_lines_contents(order)
    num_items = sum(item['quantity'] for item in contents)
    return contents_custom_data(
        contents, order.currency_id.name, value=order.amount_total,
        num_items=int(num_items) if num_items == int(num_items) else num_items, **extra)


def browser_data(platform, custom):
    """The browser tag's event parameters from the neutral custom data."""
    return TAGS[const.PLATFORMS[platform]['tag']['script']].data(custom or {})


def _value_and_currency(custom):
    data = {}
    if 'value' in custom:
        data['value'] = custom['value']
    if custom.get('currency'):
        data['currency'] = custom['currency']
    return data


def _meta_data(custom):
    data = _value_and_currency(custom)
    contents = custom.get('contents') or []
    if custom.get('content_ids'):
        data['content_ids'] = custom['content_ids']
    if contents:
        data['contents'] = [
            {'id': c['id'], 'quantity': c.get('quantity'), 'item_price': c.get('item_price')}
            for c in contents
        ]
    for key in ('content_type', 'content_name', 'content_category', 'num_items',
                'search_string', 'order_id', 'status'):
        if custom.get(key) not in (None, ''):
            data[key] = custom[key]
    return data


def _tiktok_data(custom):
    data = _value_and_currency(custom)
    contents = custom.get('contents') or []
    if contents:
        data['contents'] = [{key: value for key, value in {
            'content_id': c['id'], 'quantity': c.get('quantity'), 'price': c.get('item_price'),
            'content_name': c.get('title'), 'content_category': c.get('category'),
        }.items() if value is not None} for c in contents]
    for key in ('content_type', 'num_items', 'order_id', 'search_string'):
        if custom.get(key) not in (None, ''):
            data[key] = custom[key]
    if custom.get('search_string'):
        data['query'] = custom['search_string']
    return data


def _pinterest_data(custom):
    """The Pinterest tag's event data: value, currency, order_id, order_quantity,
    search_query and line_items (the tag's own names)."""
    data = _value_and_currency(custom)
    contents = custom.get('contents') or []
    if contents:
        data['line_items'] = [{key: value for key, value in {
            'product_id': c['id'], 'product_name': c.get('title'),
            'product_price': c.get('item_price'), 'product_quantity': c.get('quantity'),
            'product_category': c.get('category'),
        }.items() if value is not None} for c in contents]
    if custom.get('order_id'):
        data['order_id'] = custom['order_id']
    if custom.get('num_items') not in (None, ''):
        data['order_quantity'] = custom['num_items']
    if custom.get('search_string'):
        data['search_query'] = custom['search_string']
    return data


def _js(value):
    """JSON that is safe inside an inline <script> (no </script>, no HTML entities)."""
    return (json.dumps(value, separators=(',', ':'), sort_keys=True)
            .replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')
            .replace('\u2028', '\\u2028').replace('\u2029', '\\u2029'))


META_LOADER = (
    "!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?"
    "n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;"
    "n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;"
    "t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,"
    "document,'script','https://connect.facebook.net/en_US/fbevents.js');"
)
TIKTOK_LOADER = (
    "!function(w,d,t){w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];ttq.methods=['page',"
    "'track','identify','instances','debug','on','off','once','ready','alias','group',"
    "'enableCookie','disableCookie','holdConsent','revokeConsent','grantConsent'];"
    "ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat("
    "Array.prototype.slice.call(arguments,0)))}};for(var i=0;i<ttq.methods.length;i++)"
    "ttq.setAndDefer(ttq,ttq.methods[i]);ttq.instance=function(t){for(var e=ttq._i[t]||[],"
    "n=0;n<ttq.methods.length;n++)ttq.setAndDefer(e,ttq.methods[n]);return e};"
    "ttq.load=function(e,n){var r='https://analytics.tiktok.com/i18n/pixel/events.js';"
    "ttq._i=ttq._i||{},ttq._i[e]=[],ttq._i[e]._u=r,ttq._t=ttq._t||{},ttq._t[e]=+new Date,"
    "ttq._o=ttq._o||{},ttq._o[e]=n||{};var o=d.createElement('script');o.type="
    "'text/javascript',o.async=!0,o.src=r+'?sdkid='+e+'&lib='+t;var a="
    "d.getElementsByTagName('script')[0];a.parentNode.insertBefore(o,a)};"
    "}(window,document,'ttq');"
)


# TikTok's Limited Data Use in the browser pixel. The Events API has a documented per-event
# ``limited_data_use`` boolean; our spec (shared/specs/tiktok_eapi.md) says nothing about the
# pixel. Best known: ttq takes the same ``limited_data_use: true`` in the options object of a
# track call (the object that carries ``event_id``), and in the settings of ``ttq.load``. We set
# both; unknown keys are ignored by the pixel, so at worst the flag has no effect there and the
# server copy (which has the documented flag) is the one that limits the data.
TIKTOK_LDU_OPTION = 'limited_data_use'


PINTEREST_LOADER = (
    "!function(e){if(!window.pintrk){window.pintrk=function(){window.pintrk.queue.push("
    "Array.prototype.slice.call(arguments))};var n=window.pintrk;n.queue=[],n.version=\"3.0\";"
    "var t=document.createElement(\"script\");t.async=!0,t.src=e;var r="
    "document.getElementsByTagName(\"script\")[0];r.parentNode.insertBefore(t,r)}}"
    "(\"https://s.pinimg.com/ct/core.js\");"
)


# A call of a browser tag, as data: {'f': global function, 'a': arguments}, or, for a method of
# one pixel's instance, {'f': global object, 'i': pixel id, 'm': method, 'a': arguments}. The
# inline script writes it as JavaScript (call_js); the pending endpoint hands it to
# pixel_events.js, which runs it as is: a new tag needs no new JavaScript.
def call_js(call):
    args = ','.join(_js(arg) for arg in call['a'])
    if 'i' in call:
        return f"{call['f']}.instance({_js(call['i'])}).{call['m']}({args});"
    return f"{call['f']}({args});"


class MetaTag:
    """fbq: one trackSingle per pixel; Limited Data Use is global to the page."""
    loader = META_LOADER
    data = staticmethod(_meta_data)
    per_pixel_ldu = False

    @staticmethod
    def init(pixels, limited):
        lines = ['fbq("dataProcessingOptions",["LDU"],0,0);'] if limited else []
        return lines + ['fbq("init",%s);' % _js(pixel) for pixel in pixels]

    @staticmethod
    def calls(event, platform, limited):
        return [{'f': 'fbq', 'a': ['trackSingle', pixel, event['name'],
                                   event.get(f'{platform}_data') or {},
                                   {'eventID': event['event_id']}]}
                for pixel in event.get(platform) or []]


class TikTokTag:
    """ttq: one track per pixel instance; Limited Data Use per pixel."""
    loader = TIKTOK_LOADER
    data = staticmethod(_tiktok_data)
    per_pixel_ldu = True

    @staticmethod
    def init(pixels, limited):
        return [f'ttq.load({_js(pixel)},{_js({TIKTOK_LDU_OPTION: True})});' if pixel in limited
                else 'ttq.load(%s);' % _js(pixel) for pixel in pixels]

    @staticmethod
    def calls(event, platform, limited):
        result = []
        for pixel in event.get(platform) or []:
            options = {'event_id': event['event_id']}
            if pixel in limited:
                options[TIKTOK_LDU_OPTION] = True
            result.append({'f': 'ttq', 'i': pixel, 'm': 'track', 'a': [
                event.get(f'{platform}_name') or event['name'],
                event.get(f'{platform}_data') or {}, options]})
        return result


class PinterestTag:
    """pintrk: every loaded tag gets each track call (one call per event, not per tag); the
    event_id in the event data, which Pinterest deduplicates against the API's; Limited Data
    Processing set for the page, before any event (Pinterest's documented way)."""
    loader = PINTEREST_LOADER
    data = staticmethod(_pinterest_data)
    per_pixel_ldu = False
    default_name = 'Custom'

    @staticmethod
    def init(tags, limited):
        lines = ['pintrk("load",%s);' % _js(tag) for tag in tags]
        if limited:
            lines.append('pintrk("set",%s);' % _js({'opt_out_type': 'LDP'}))
        return lines + ['pintrk("page");']

    @staticmethod
    def calls(event, platform, limited):
        if not event.get(platform):
            return []
        data = dict(event.get(f'{platform}_data') or {}, event_id=event['event_id'])
        return [{'f': 'pintrk', 'a': ['track', event.get(f'{platform}_name') or 'Custom', data]}]


# Browser tag renderers, by const.PLATFORMS[...]['tag']['script'].
TAGS = {'fbq': MetaTag, 'ttq': TikTokTag, 'pintrk': PinterestTag}


def tag_of(platform):
    return TAGS[const.PLATFORMS[platform]['tag']['script']]


def tag_event_name(platform, event_name):
    """The browser tag's name of a neutral event (None: the tag uses the neutral name)."""
    names = const.PLATFORMS[platform]['tag']['event_names']
    if names is None:
        return None
    if isinstance(names, str):  # a convapi function, the name table of the server copy too
        import convapi
        return getattr(convapi, names)(event_name)
    return names.get(event_name) or tag_of(platform).default_name


def event_calls(event, limited=None):
    """The tag calls that fire one browser event (a dict from ``_convapi_pixel_event``), as
    data (see call_js). ``limited``: per platform, the tag ids whose service has Limited Data
    Use on."""
    limited = limited or {}
    calls = []
    for platform in const.TAG_PLATFORMS:
        calls.extend(tag_of(platform).calls(event, platform, set(limited.get(platform) or ())))
    return calls


def pixel_calls(event, tiktok_limited_data_use=(), limited=None):
    """The fbq/ttq/pintrk calls that fire one browser event, as JavaScript.

    ``tiktok_limited_data_use``: the TikTok pixel codes whose service has Limited Data Use on.
    """
    limited = dict(limited or {})
    if tiktok_limited_data_use:
        limited['tiktok'] = set(limited.get('tiktok') or ()) | set(tiktok_limited_data_use)
    return [call_js(call) for call in event_calls(event, limited)]


def tags_script(tags, events, limited=None):
    """The inline <script> that loads the browser tags and fires this page's events.

    ``tags``: per platform (const.TAG_PLATFORMS), the tag ids to load; ``limited``: per
    platform, those whose service has Limited Data Use on.
    """
    limited = {platform: sorted(set(limited.get(platform) or ()) & set(ids))
               for platform, ids in tags.items()} if limited else {}
    lines = []
    config = {}
    for platform in const.TAG_PLATFORMS:
        if platform not in tags:
            continue
        ids = list(tags[platform])
        config[platform] = ids
        if not ids:
            continue
        tag = tag_of(platform)
        lines.append(tag.loader)
        lines.extend(tag.init(ids, limited.get(platform) or []))
        if tag.per_pixel_ldu and limited.get(platform):
            # pixel_events.js flags the AJAX events' copies too
            config[f'{platform}_ldu'] = limited[platform]
    lines.append('window.convapiPixel=%s;' % _js(config))
    for event in events:
        lines.extend(call_js(call) for call in event_calls(event, limited))
    return Markup('<script id="convapi_pixel">%s</script>') % Markup('\n'.join(lines))


def pixel_script(meta_pixels, tiktok_pixels, events, limited_data_use=False,
                 tiktok_limited_data_use=()):
    """``tags_script`` for Meta pixels and TikTok pixels.

    ``limited_data_use``: a Meta service has LDU on (Meta's option is global to the page).
    ``tiktok_limited_data_use``: the TikTok pixel codes whose service has LDU on.
    """
    return tags_script({'meta': meta_pixels, 'tiktok': tiktok_pixels}, events, {
        'meta': meta_pixels if limited_data_use else (),
        'tiktok': tiktok_limited_data_use,
    })
