"""The addon's public routes under abuse: /convapi/pixel/pending and the storefront routes it
hooks, hit with oversize bodies, malformed JSON, event names, floods from one address and from
many sessions. Each gets a 4xx with its reason (or the page Odoo itself serves), nothing is
stored, no shopper's events leak to or are drained by another caller, and a shopper browsing
during the flood is served with its own events. Bounded counts here; the 10,000-request flood
on a real server is scripts/abuse_endpoints.py."""

import json
import os
import time
import uuid
from unittest.mock import patch
from urllib.parse import urlencode

from odoo import http
from odoo.tests import tagged
from odoo.tools import config, mute_logger

from .. import request_limits, storefront
from ..controllers import main
from ..models.ir_http import SESSION_PENDING_KEY
from .storefront_common import BROWSER_UA, ODOO_VERSION, StorefrontCase

PENDING = '/convapi/pixel/pending'


class AbuseCase(StorefrontCase):

    def setUp(self):
        super().setUp()
        self.reset_limiters()
        self.addCleanup(self.reset_limiters)

    @staticmethod
    def reset_limiters():
        for limiter in main.PENDING_LIMITERS.values():
            limiter.reset()

    def session_files(self):
        store = http.root.session_store
        return sum(len(files) for _, _, files in os.walk(store.path))

    def stored(self):
        """Everything a request could leave behind: inbox and outbox rows, sessions, visitors."""
        self.outbox()  # the inbox drained into the outbox, as the flush cron does
        self.env.invalidate_all()
        return {
            'inbox': self.env['conversions.api.inbox'].sudo().search_count([]),
            'outbox': self.env['conversions.api.event'].sudo().search_count([]),
            'sessions': self.session_files(),
            'visitors': self.env['website.visitor'].sudo().search_count([]),
        }

    def post(self, body, content_type='application/json', headers=None, path=PENDING,
             cookies=None):
        all_headers = {'Origin': self.origin()}
        if content_type:
            all_headers['Content-Type'] = content_type
        all_headers.update(headers or {})

        def send():  # a POST even for an empty body (url_open would GET)
            return self.opener.post(self.base_url() + path, data=body, headers=all_headers,
                                    timeout=30)
        if cookies is None:
            return send()
        # another visitor: only the given cookies, none of the shopper's (the opener's)
        shopper = self.opener.cookies.copy()
        self.opener.cookies.clear()
        try:
            for name, value in cookies.items():
                self.opener.cookies.set(name, value)
            return send()
        finally:
            self.opener.cookies = shopper

    def queue_pending_add(self):
        """The shopper (the opener) adds to cart: its AddToCart pixel copy waits in its
        session. Returns the event id."""
        start = self.last_event_id()
        self.add_to_cart(1)
        add = self.queued('AddToCart', start)
        self.assertEqual(len(add), 2)
        stored = http.root.session_store.get(self.opener.cookies['session_id'])
        self.assertEqual(len(stored.get(SESSION_PENDING_KEY) or []), 1)
        return add[0].event_id

    def assert_still_pending(self, event_id):
        stored = http.root.session_store.get(self.opener.cookies['session_id'])
        self.assertEqual([json.loads(item)[1] for item in stored.get(SESSION_PENDING_KEY) or []],
                         [event_id], "the shopper's event is neither drained nor lost")

    def assert_refused(self, response, status, reason=None):
        self.assertEqual(response.status_code, status, response.text[:300])
        if reason is not None:
            self.assertEqual(response.json(), {'error': reason})


@tagged('post_install', '-at_install')
class TestPendingEndpointAbuse(AbuseCase):

    def test_oversize_bodies(self):
        event_id = self.queue_pending_add()
        before = self.stored()
        limit = main.MAX_PENDING_BODY
        # refused unread: werkzeug checks the length against the route's max_content_length
        # before it would parse a body (its own 413 page), the endpoint checks it again
        for body, content_type in (('{' + ' ' * limit + '}', 'application/json'),
                                   ('x' * 100_000, 'application/json'),
                                   (b'{' * 1_000_000, 'application/json'),
                                   ({'field': 'x' * 100_000}, 'application/x-www-form-urlencoded'),
                                   ('x' * 100_000, None)):
            with mute_logger('odoo.http'):
                response = self.post(body, content_type=content_type)
            self.assertEqual(response.status_code, 413)
            self.assertTrue('body too large' in response.text or 'Too Large' in response.text,
                            response.text[:300])
        # a chunked body has no length to check: refused unread
        chunked = self.post(iter([b'{', b' ' * 4096, b'}']))
        self.assertEqual(chunked.request.headers.get('Transfer-Encoding'), 'chunked')
        self.assert_refused(chunked, 411, 'a Content-Length is required')
        self.assertEqual(self.stored(), before, 'nothing stored')
        self.assert_still_pending(event_id)
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([e['event_id'] for e in events], [event_id])

    def test_malformed_json_and_event_names(self):
        event_id = self.queue_pending_add()
        before = self.stored()
        for body in ('{', '{"a":', '{}{}', b'\xff\xfe{}', "{'a': 1}", 'NaN'):
            self.assert_refused(self.post(body), 400, 'malformed JSON body')
        for body in ('null', '[]', '"{}"', '42', '[{"name": "Purchase"}]'):
            self.assert_refused(self.post(body), 400, 'the body must be a JSON object')
        self.assert_refused(self.post('{"events": [{"name": "Purchase", "event_id": "x"}]}'),
                            400, 'unexpected field(s): events')
        self.assert_refused(self.post('{"name": "NoSuchEvent", "event_id": "pv-1"}'), 400,
                            'unexpected field(s): event_id, name')
        self.assert_refused(self.post(json.dumps({f'k{i}': 1 for i in range(50)})), 400)
        self.assertLess(len(self.post(json.dumps({'x' * 1000: 1})).text), 200,
                        'a field name is never echoed whole')
        self.assert_refused(self.post('{}', path=f'{PENDING}?event_name=Purchase'), 400,
                            'unexpected parameter(s): event_name')
        self.assert_refused(self.post('{}', content_type='text/plain'), 415,
                            'expected a JSON body (Content-Type: application/json)')
        with mute_logger('odoo.http', 'werkzeug'):
            self.assertIn(self.url_open(PENDING).status_code, (404, 405), 'POST only')
        self.assertEqual(self.stored(), before, 'nothing stored')
        self.assert_still_pending(event_id)
        # an empty body is the same as {}
        self.assertEqual([e['event_id'] for e in self.post('').json()['events']], [event_id])

    def test_next_page_fires_the_waiting_events_once(self):
        """On 18/19 a product page runs on a read-only cursor and, under tests, again on a
        read/write one: the copies the first attempt took from the session are put back for
        the second (they were lost before), and fired once."""
        event_id = self.queue_pending_add()
        page = self.get(self.product_url())
        self.assertEqual(page.status_code, 200)
        fired = self.pixel_event_ids(page.text)
        self.assertEqual([e for e in fired['meta'] if e[0] == 'AddToCart'],
                         [('AddToCart', event_id)])
        stored = http.root.session_store.get(self.opener.cookies['session_id'])
        self.assertFalse(stored.get(SESSION_PENDING_KEY), 'fired, so no longer waiting')
        self.assertEqual(self.pending_pixel_events().json()['events'], [])

    def test_unknown_event_names_in_the_session_are_never_fired(self):
        self.get('/shop')
        session = http.root.session_store.get(self.opener.cookies['session_id'])
        session[SESSION_PENDING_KEY] = [
            '["NoSuchEvent","ev-1",{}]', '["<script>","ev-2",null]',
            json.dumps({'name': 'Fake', 'event_id': 'ev-3', 'meta': ['1']}),
            '["AddToCart","atc-1",{"value":1}]']
        http.root.session_store.save(session)
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events], [('AddToCart', 'atc-1')])
        self.assertEqual(self.pending_pixel_events().json()['events'], [], 'all drained')

    def test_flood_from_one_address(self):
        """Bounded by the per-address bucket whatever the callers do with their cookies: the
        rest get 429 with Retry-After, nothing is stored, and the shopper keeps its events."""
        event_id = self.queue_pending_add()
        before = self.stored()
        burst, rate = storefront.PENDING_RATE_IP
        statuses = []
        start = time.monotonic()
        for index in range(int(burst) + 80):
            cookies = {} if index % 2 else {'session_id': uuid.uuid4().hex * 2}  # forged
            response = self.post('{}', cookies=cookies)
            statuses.append(response.status_code)
            if response.status_code == 200:
                self.assertEqual(response.json(), {'events': []}, 'nothing for a stranger')
            else:
                self.assert_refused(response, 429, 'too many requests')
                self.assertGreaterEqual(int(response.headers['Retry-After']), 1)
        elapsed = time.monotonic() - start
        allowed = statuses.count(200)
        self.assertGreaterEqual(allowed, burst - 1)
        self.assertLessEqual(allowed, burst + rate * elapsed + 1)
        self.assertEqual(statuses.count(429), len(statuses) - allowed)
        self.assertEqual(self.stored(), before, 'nothing stored, not even a session')

        # the shopper (same address) is served its page, its waiting event fired by that page
        page = self.get(self.product_url())
        self.assertEqual(page.status_code, 200)
        fired = self.pixel_event_ids(page.text)
        self.assertIn(('AddToCart', event_id), fired['meta'])

    def test_flood_from_many_sessions_and_addresses(self):
        """Callers from many addresses (behind a proxy) with many sessions each get their own
        bucket, and nothing but their own (empty) session: no other shopper's event leaks or
        is drained, and the buckets' memory stays bounded."""
        event_id = self.queue_pending_add()
        before = self.stored()
        small = storefront.RateLimiter(3, 0.001, max_keys=50)
        with patch.dict(config.options, {'proxy_mode': True}), \
                patch.dict(main.PENDING_LIMITERS, {'ip': small}):
            statuses = []
            for index in range(300):
                response = self.post('{}', cookies={'session_id': uuid.uuid4().hex * 2},
                                     headers={'X-Forwarded-For': f'198.51.100.{index % 100}'})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    self.assertEqual(response.json(), {'events': []})
            self.assertEqual(statuses.count(200), 300, 'each address within its own bucket')
            self.assertLessEqual(len(small), 50, 'bounded memory')
            # one address past its bucket is limited, another is not
            limited = [self.post('{}', cookies={}, headers={'X-Forwarded-For': '203.0.113.9'})
                       for _ in range(4)]
            self.assertEqual([r.status_code for r in limited], [200, 200, 200, 429])
            self.assertEqual(self.stored(), before, 'nothing stored')
            self.assert_still_pending(event_id)
            mine = self.pending_pixel_events().json()['events']
        self.assertEqual([e['event_id'] for e in mine], [event_id], 'the shopper gets its own')

    def test_session_of_another_shopper_is_never_read_without_its_cookie(self):
        event_id = self.queue_pending_add()
        mine = self.opener.cookies['session_id']
        # the same id with another case or a suffix is another (new) session
        for forged in (mine.upper(), mine + 'x', mine[:-1], ''):
            response = self.post('{}', cookies={'session_id': forged})
            self.assertEqual(response.json(), {'events': []})
        self.assert_still_pending(event_id)


@tagged('post_install', '-at_install')
class TestStorefrontRoutesAbuse(AbuseCase):
    """The storefront routes the addon hooks: Odoo answers the abuse; the addon stores nothing
    for it."""

    def cart_path(self):
        return '/shop/cart/add' if ODOO_VERSION >= 19 else '/shop/cart/update_json'

    def test_malformed_json_rpc_on_the_cart_stores_nothing(self):
        self.get('/shop')
        before = self.stored()
        start = self.last_event_id()
        with mute_logger('odoo.http', 'odoo.sql_db', 'odoo.addons.website_sale.controllers.main'):
            for body in ('{', '[]', '{"jsonrpc": "2.0", "params": 7}', 'x' * 100_000):
                response = self.post(body, path=self.cart_path())
                self.assertTrue(response.status_code >= 400 or 'error' in response.json(),
                                response.text[:200])
            for params in ({'product_id': 99999999, 'add_qty': 1},
                           {'product_id': 'not-an-id', 'add_qty': 1}):
                if ODOO_VERSION >= 19:
                    params = {'product_template_id': self.product.id, 'quantity': 1, **params}
                response = self.post(json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1,
                                                 'params': params}), path=self.cart_path())
                self.assertTrue(response.status_code >= 400 or 'error' in response.json(),
                                response.text[:200])
        self.assertFalse(self.queued('AddToCart', start), 'no event for a refused call')
        after = self.stored()
        self.assertEqual((after['inbox'], after['outbox']), (before['inbox'], before['outbox']))

    def test_oversized_search_is_not_stored(self):
        start = self.last_event_id()
        huge = 'chair ' * 200
        self.assertGreater(len(huge), request_limits.MAX_SEARCH_LENGTH)
        response = self.get('/shop?' + urlencode({'search': huge}))
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self.queued('Search', start))
        self.get('/shop?search=chair')
        self.assertEqual(len(self.queued('Search', start)), 2, 'a real search still is')

    def test_oversized_headers_are_not_stored(self):
        start = self.last_event_id()
        for headers in ({'User-Agent': BROWSER_UA + ' ' + 'x' * 5000},
                        {'Referer': self.origin() + '/?' + 'r' * 9000}):
            response = self.get(self.product_url(), headers=headers)
            self.assertEqual(response.status_code, 200)
            self.assertIsNone(self.pixel_event_ids(response.text))
        response = self.get(self.product_url() + '?q=' + 'u' * 9000)
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self.outbox().search([('id', '>', start)]), 'nothing stored')
        # an oversized click-id cookie is ignored, the page still tracked
        self.opener.cookies.set('_fbc', 'fb.1.1700000000000.' + 'c' * 5000)
        self.get(self.product_url())
        self.opener.cookies.pop('_fbc')
        view = self.queued('ViewContent', start)
        self.assertEqual(len(view), 2)
        self.assertNotIn('fbc', self.meta(view)['user'])
        self.assertLess(max(len(row.payload) for row in view), 4000)

    def test_oversize_form_stores_only_digests(self):
        self.env['ir.model']._get('res.partner').website_form_access = True
        self.env['ir.model.fields'].with_user(self.env.ref('base.user_admin')).formbuilder_whitelist(
            'res.partner', ['name', 'email', 'phone'])
        start = self.last_event_id()
        response = self.url_open('/website/form/res.partner', data={
            'name': 'N' * 200_000, 'email': 'big@example.com', 'phone': '9' * 50_000,
        }, headers={'Origin': self.origin(), 'Referer': self.origin() + '/contactus'})
        self.assertEqual(response.status_code, 200)
        contact = self.queued('Contact', start)
        self.assertEqual(len(contact), 2)
        for row in contact:
            self.assertLess(len(row.payload), 4000, 'personal data stored hashed, never raw')
        with mute_logger('odoo.http', 'odoo.addons.website.controllers.form'):
            for path in ('/website/form/no.such.model', '/website/form/res.users'):
                response = self.url_open(path, data={'name': 'x'}, headers={
                    'Origin': self.origin()})
                self.assertTrue(response.status_code >= 400 or 'error' in response.text,
                                response.text[:200])
        self.assertEqual(len(self.queued('Contact', start)), 2, 'no event for a refused form')

    def test_payment_transaction_of_another_order_stores_nothing(self):
        start = self.last_event_id()
        with mute_logger('odoo.http', 'odoo.addons.payment.controllers.portal'):
            for order_id, token in ((99999999, 'x'), (1, 'forged-token')):
                response = self.post(json.dumps({
                    'jsonrpc': '2.0', 'method': 'call', 'id': 1,
                    'params': {'access_token': token, 'amount': 1, 'flow': 'direct'}}),
                    path=f'/shop/payment/transaction/{order_id}')
                self.assertTrue(response.status_code >= 400 or 'error' in response.json(),
                                response.text[:200])
        self.assertFalse(self.queued('AddPaymentInfo', start))
