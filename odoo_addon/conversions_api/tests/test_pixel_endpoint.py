"""The browser side: the pending endpoint's rate per visitor, TikTok's Limited Data Use in the
pixel, and pixel_events.js (which drains the endpoint) run by a JS engine."""

import json
import shutil
import subprocess
from pathlib import Path
from unittest.mock import patch

from odoo import http
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from .. import storefront
from ..controllers import main
from ..models.ir_http import SESSION_PENDING_KEY
from .common import META_PIXEL, TIKTOK_PIXEL
from .storefront_common import StorefrontCase

PIXEL_EVENTS_JS = Path(__file__).resolve().parent.parent / 'static/src/js/pixel_events.js'


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@tagged('post_install', '-at_install')
class TestRateLimiter(TransactionCase):

    def test_burst_then_refill(self):
        clock = FakeClock()
        limiter = storefront.RateLimiter(3, 0.5, clock=clock)
        self.assertEqual([limiter.hit('v') for _ in range(3)], [0.0, 0.0, 0.0])
        self.assertAlmostEqual(limiter.hit('v'), 2.0)    # one token back in 2 s
        self.assertEqual(limiter.hit('other'), 0.0, 'per visitor, not global')
        clock.now += 1.0
        self.assertAlmostEqual(limiter.hit('v'), 1.0)    # half a token so far
        clock.now += 1.0
        self.assertEqual(limiter.hit('v'), 0.0)
        clock.now += 3600
        self.assertEqual([limiter.hit('v') for _ in range(3)], [0.0, 0.0, 0.0],
                         'refilled up to the burst, not beyond')
        self.assertGreater(limiter.hit('v'), 0)

    def test_memory_is_bounded(self):
        clock = FakeClock()
        limiter = storefront.RateLimiter(1, 0.001, max_keys=2, clock=clock)
        self.assertEqual(limiter.hit('a'), 0.0)
        self.assertGreater(limiter.hit('a'), 0)
        limiter.hit('b')
        limiter.hit('c')             # 'a' is the least recently seen: forgotten
        self.assertEqual(len(limiter), 2)
        self.assertEqual(limiter.hit('a'), 0.0)

    def test_retry_after_header_value(self):
        self.assertEqual(storefront.retry_after(0.2), 1)
        self.assertEqual(storefront.retry_after(2.0), 2)
        self.assertEqual(storefront.retry_after(2.01), 3)
        self.assertEqual(storefront.retry_after(float('inf')), 3600)
        self.assertEqual(storefront.retry_after(storefront.RateLimiter(0, 0).hit('x')), 3600)


@tagged('post_install', '-at_install')
class TestPendingRateLimit(StorefrontCase):
    """POST /convapi/pixel/pending: a bounded rate per visitor, 429 beyond it, nothing lost."""

    def setUp(self):
        super().setUp()
        self._reset_limiters()
        self.addCleanup(self._reset_limiters)

    @staticmethod
    def _reset_limiters():
        for limiter in main.PENDING_LIMITERS.values():
            limiter.reset()

    def test_session_rate_limit(self):
        burst, rate = storefront.PENDING_RATE_SESSION
        self.assertEqual(main.PENDING_LIMITERS['session'].capacity, burst)
        self.assertEqual(main.PENDING_LIMITERS['session'].per_second, rate)
        # the configured burst, refilled slowly here so that a slow machine cannot refill it
        # between two requests of the test
        slow = storefront.RateLimiter(burst, 0.01)
        patcher = patch.dict(main.PENDING_LIMITERS, {'session': slow})
        patcher.start()
        self.addCleanup(patcher.stop)
        self.get('/shop')  # the visitor's session cookie
        for _ in range(int(burst)):
            self.assertEqual(self.pending_pixel_events().status_code, 200)

        # an AJAX add now: its pixel copy waits in the session
        self.add_to_cart(1)
        add = self.queued('AddToCart')
        self.assertEqual(len(add), 2)
        rows_before = self.Event.sudo().search_count([])
        inbox_before = self.env['conversions.api.inbox'].sudo().search_count([])
        limited = self.pending_pixel_events()
        self.assertEqual(limited.status_code, 429)
        self.assertGreater(int(limited.headers['Retry-After']), 1)
        self.assertEqual(limited.json(), {'error': 'too many requests'})
        self.assertEqual(self.Event.sudo().search_count([]), rows_before, 'stores nothing')
        self.assertEqual(self.env['conversions.api.inbox'].sudo().search_count([]), inbox_before)

        # another visitor (a new session) from the same address is not limited
        cookies = self.opener.cookies.copy()
        self.opener.cookies.clear()
        self.assertEqual(self.pending_pixel_events().status_code, 200)
        self.opener.cookies = cookies

        # once the bucket refills, the visitor gets the event the limited call left in place
        slow.reset()
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events],
                         [('AddToCart', add[0].event_id)])

    def test_ip_rate_limit_covers_visitors_without_a_session(self):
        """Dropping the session cookie on every call does not escape the per-address bound."""
        small = storefront.RateLimiter(3, 0.001)
        with patch.dict(main.PENDING_LIMITERS, {'ip': small}):
            for _ in range(3):
                self.opener.cookies.clear()
                self.assertEqual(self.pending_pixel_events().status_code, 200)
            self.opener.cookies.clear()
            limited = self.pending_pixel_events()
            self.assertEqual(limited.status_code, 429)
            self.assertGreaterEqual(int(limited.headers['Retry-After']), 1)
            # cross-origin calls count too: they cannot be used to probe beyond the bound
            self.assertEqual(
                self.pending_pixel_events(origin='https://evil.example.com').status_code, 429)


@tagged('post_install', '-at_install')
class TestPendingEventsInTheSession(StorefrontCase):
    """Pixel copies of AJAX calls wait in the session as [name, event id, custom data], at most
    MAX_PENDING_EVENTS of them; the endpoint rebuilds the whole pixel event."""

    def setUp(self):
        super().setUp()
        for limiter in main.PENDING_LIMITERS.values():
            limiter.reset()

    def session(self):
        return http.root.session_store.get(self.opener.cookies['session_id'])

    def test_compact_and_bounded(self):
        limit = storefront.MAX_PENDING_EVENTS
        start = self.last_event_id()
        for _ in range(limit + 2):
            self.add_to_cart(1)
        stored = self.session().get(SESSION_PENDING_KEY)
        self.assertEqual(len(stored), limit, 'the oldest are dropped beyond the limit')
        name, event_id, custom = json.loads(stored[-1])
        self.assertEqual(name, 'AddToCart')
        self.assertEqual(custom['content_ids'], [str(self.variant.id)])
        self.assertLess(len(stored[-1]), 400, 'no per-platform copies, no pixel ids')
        server_rows = self.queued('AddToCart', start).filtered(
            lambda e: e.service_id == self.meta_service)
        server_ids = server_rows.mapped('event_id')
        self.assertEqual(len(server_ids), limit + 2)

        events = self.pending_pixel_events().json()['events']
        self.assertEqual([e['event_id'] for e in events], server_ids[2:])
        event = events[-1]
        self.assertEqual((event['name'], event['tiktok_name']), ('AddToCart', 'AddToCart'))
        self.assertEqual((event['meta'], event['tiktok']), ([META_PIXEL], [TIKTOK_PIXEL]))
        self.assertEqual(event['meta_data'], storefront.browser_data('meta', custom))
        self.assertEqual(event['tiktok_data'], storefront.browser_data('tiktok', custom))
        # the price of the line (19's demo pricelist may discount it), as the server copy has it
        server_price = self.payload(server_rows[-1])['custom']['contents'][0]['item_price']
        self.assertEqual(event['meta_data']['contents'],
                         [{'id': str(self.variant.id), 'quantity': 1, 'item_price': server_price}])
        self.assertNotIn('custom', event)
        self.assertNotIn(SESSION_PENDING_KEY, self.session(), 'drained')
        self.assertEqual(self.pending_pixel_events().json()['events'], [])

    def test_pixels_are_those_configured_when_fired(self):
        self.add_to_cart(1)
        self.tiktok_service.browser_pixel = False
        events = self.pending_pixel_events().json()['events']
        self.assertEqual(len(events), 1)
        self.assertEqual((events[0]['meta'], events[0]['tiktok']), ([META_PIXEL], []))

    def test_entries_kept_by_an_earlier_version(self):
        """Whole pixel events (the format before this one) still fire; junk is skipped."""
        self.get('/shop')
        session = self.session()
        old = {'name': 'AddToCart', 'tiktok_name': 'AddToCart', 'event_id': 'atc-old',
               'meta': [META_PIXEL], 'tiktok': [], 'meta_data': {'value': 1.0},
               'tiktok_data': {}}
        session[SESSION_PENDING_KEY] = [json.dumps(old), '["AddToCart", 7, {}]', '{broken',
                                        '["AddToCart","atc-new",null]']
        http.root.session_store.save(session)
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([e['event_id'] for e in events], ['atc-old', 'atc-new'])
        self.assertEqual(events[0]['meta_data'], {'value': 1.0})
        self.assertEqual(events[1]['meta'], [META_PIXEL])


@tagged('post_install', '-at_install')
class TestTikTokPixelLimitedDataUse(StorefrontCase):
    """A TikTok service with Limited Data Use flags its pixel, as Meta's gets LDU."""

    def pixel_text(self):
        response = self.get(self.product_url())
        self.assertEqual(response.status_code, 200)
        pixel = self.pixel_event_ids(response.text)
        self.assertIsNotNone(pixel)
        return pixel['text']

    def test_tiktok_ldu_in_the_pixel(self):
        text = self.pixel_text()
        self.assertNotIn('limited_data_use', text)
        self.assertNotIn('dataProcessingOptions', text)

        self.tiktok_service.limited_data_use = True
        text = self.pixel_text()
        self.assertIn(f'ttq.load("{TIKTOK_PIXEL}",{{"limited_data_use":true}});', text)
        self.assertRegex(text, r'ttq\.instance\("%s"\)\.track\("ViewContent",\{.*?\},'
                               r'\{"event_id":"vc-\w+","limited_data_use":true\}\);' % TIKTOK_PIXEL)
        self.assertIn(f'"tiktok_ldu":["{TIKTOK_PIXEL}"]', text)
        self.assertNotIn('dataProcessingOptions', text, "Meta's LDU is its own setting")
        self.assertIn(f'fbq("init","{META_PIXEL}")', text)

        self.meta_service.limited_data_use = True
        self.tiktok_service.limited_data_use = False
        text = self.pixel_text()
        self.assertIn('fbq("dataProcessingOptions",["LDU"],0,0);', text)
        self.assertNotIn('limited_data_use', text)


def run_node(test, script):
    node = shutil.which('node')
    if not node:
        test.skipTest('node is not installed')
    out = subprocess.run([node, '-e', script], capture_output=True, text=True, timeout=30)
    test.assertEqual(out.returncode, 0, out.stderr)
    return json.loads(out.stdout)


@tagged('post_install', '-at_install')
class TestPixelScriptsInJs(TransactionCase):
    """The inline script and pixel_events.js, run by node with DOM stubs."""

    EVENT = {'name': 'AddToCart', 'tiktok_name': 'AddToCart', 'event_id': 'atc-7',
             'meta': ['111'], 'tiktok': ['TT1', 'TT2'],
             'meta_data': {'value': 5}, 'tiktok_data': {'value': 5}}

    def test_inline_script_tiktok_ldu(self):
        html = str(storefront.pixel_script(['111'], ['TT1', 'TT2'], [self.EVENT],
                                           tiktok_limited_data_use=['TT2']))
        script = html[len('<script id="convapi_pixel">'):-len('</script>')]
        calls = run_node(self, (
            'global.window = global;'
            'const el = {parentNode: {insertBefore() {}}};'
            'global.document = {createElement: () => ({}), getElementsByTagName: () => [el]};'
            + script +
            ';console.log(JSON.stringify({options: window.ttq._o, tt1: window.ttq._i.TT1,'
            ' tt2: window.ttq._i.TT2, config: window.convapiPixel}));'
        ))
        self.assertEqual(calls['options'], {'TT1': {}, 'TT2': {'limited_data_use': True}})
        self.assertEqual(calls['tt1'], [['track', 'AddToCart', {'value': 5},
                                         {'event_id': 'atc-7'}]])
        self.assertEqual(calls['tt2'], [['track', 'AddToCart', {'value': 5},
                                         {'event_id': 'atc-7', 'limited_data_use': True}]])
        self.assertEqual(calls['config']['tiktok_ldu'], ['TT2'])

    def _run_pixel_events(self, response, then='window.convapiFetchPendingEvents();'):
        source = PIXEL_EVENTS_JS.read_text()
        return run_node(self, (
            'global.window = global;'
            'window.location = {href: "https://shop.test/shop/chair", origin: "https://shop.test"};'
            'global.document = {readyState: "complete", addEventListener() {}};'
            'class FakeXHR { constructor() { this.listeners = {}; }'
            ' open(method, url) { this.url = url; } send() {}'
            ' addEventListener(name, fn) { (this.listeners[name] ||= []).push(fn); }'
            ' answer() { (this.listeners.loadend || []).forEach(fn => fn()); } }'
            'window.XMLHttpRequest = FakeXHR;'
            'window.convapiPixel = {meta: ["111"], tiktok: ["TT1", "TT2"], tiktok_ldu: ["TT2"]};'
            'const calls = []; let requests = [];'
            'window.fbq = (...args) => calls.push(["fbq", ...args]);'
            'window.ttq = {instance: (pixel) => ({track: (...args) =>'
            ' calls.push(["ttq", pixel, ...args])})};'
            'global.setTimeout = (fn) => { fn(); return 1; }; global.clearTimeout = () => {};'
            'global.fetch = (url, options) => { requests.push([url, options.method,'
            ' options.credentials]); return Promise.resolve(' + json.dumps(response) + ')'
            '.then(r => ({ok: r.ok, json: () => Promise.resolve(r.body)})); };'
            + source + ';' + then +
            'setImmediate(() => setImmediate(() => console.log(JSON.stringify('
            '{calls, requests, before: window.beforeAnswers}))));'
        ))

    def test_pixel_events_fires_pending_events_with_server_ids(self):
        out = self._run_pixel_events({'ok': True, 'body': {'events': [self.EVENT]}})
        self.assertEqual(out['requests'], [['/convapi/pixel/pending', 'POST', 'same-origin']])
        self.assertEqual(out['calls'], [
            ['fbq', 'trackSingle', '111', 'AddToCart', {'value': 5}, {'eventID': 'atc-7'}],
            ['ttq', 'TT1', 'AddToCart', {'value': 5}, {'event_id': 'atc-7'}],
            ['ttq', 'TT2', 'AddToCart', {'value': 5},
             {'event_id': 'atc-7', 'limited_data_use': True}],
        ])

    def test_pixel_events_rate_limited_fires_nothing(self):
        out = self._run_pixel_events({'ok': False, 'body': {'error': 'too many requests'}})
        self.assertEqual(len(out['requests']), 1)
        self.assertEqual(out['calls'], [])

    def test_pixel_events_watches_the_calls_that_queue_events(self):
        """After an AJAX cart/form/wishlist call returns (XHR or fetch), the pending events are
        fetched at once; other calls, other origins and unanswered calls fetch nothing."""
        out = self._run_pixel_events({'ok': True, 'body': {'events': [self.EVENT]}}, then=(
            'const add = new XMLHttpRequest(); add.open("POST", "/shop/cart/update_json");'
            'add.send();'
            'const other = new XMLHttpRequest(); other.open("POST", "/web/dataset/call_kw");'
            'other.send();'
            'const foreign = new XMLHttpRequest();'
            'foreign.open("POST", "https://evil.example/shop/cart/add"); foreign.send();'
            'const before = requests.length;'
            'add.answer(); other.answer(); foreign.answer();'
            'window.fetch("/fr/website/form/res.partner", {method: "POST"});'
            'window.fetch("/shop", {});'
            'window.beforeAnswers = before;'
        ))
        self.assertEqual([request[0] for request in out['requests']], [
            '/convapi/pixel/pending',          # the cart call answered
            '/fr/website/form/res.partner',    # the page's own calls go through untouched
            '/shop',
            '/convapi/pixel/pending',          # the form post answered
        ])
        self.assertEqual(out['before'], 0, 'nothing fetched before the answer')
        self.assertEqual(len(out['calls']), 2 * 3, 'each drain fired fbq + 2 ttq')
