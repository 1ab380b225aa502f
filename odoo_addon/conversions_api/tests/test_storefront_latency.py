"""What the shopper's request does for tracking: write the outbox durably before the response,
with no thread and no network call; the flush cron delivers. A tracking failure never breaks
the page or the cart."""

import json
import threading
import time
from unittest.mock import patch

import convapi
from odoo import SUPERUSER_ID, api
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..models import conversions_api_event, conversions_api_inbox, ir_http, sale_order
from .common import META_PIXEL, TIKTOK_PIXEL
from .storefront_common import BROWSER_UA, ODOO_VERSION, StorefrontCase

try:  # 19
    from odoo.tests.test_cursor import TestCursor
except ImportError:  # 17, 18
    from odoo.sql_db import TestCursor

ADDON_MODULE = 'odoo.addons.conversions_api'


@tagged('post_install', '-at_install')
class TestStorefrontLatency(StorefrontCase):

    def setUp(self):
        super().setUp()
        # a real commit elsewhere in this process (TestOutboxTransactions) starts the throttle
        conversions_api_event._last_trigger.clear()
        self.flush_cron = self.env.ref(conversions_api_event.FLUSH_CRON)

    def cron_triggers(self):
        return self.env['ir.cron.trigger'].sudo().search([('cron_id', '=', self.flush_cron.id)])

    def run_flush_cron(self):
        """The flush cron's code, in a cursor of its own as the cron worker runs it."""
        self.assertEqual(self.flush_cron.code.strip(), 'model._cron_flush()')
        with self.registry.cursor() as cr:  # a test cursor: its commits are savepoints
            api.Environment(cr, SUPERUSER_ID, {})['conversions.api.event']._cron_flush()
        self.env.invalidate_all()

    def test_cart_rows_written_in_the_request_then_sent_by_the_cron(self):
        """Add to cart (a read/write route on every version): the rows exist as soon as the
        response is back (test cursors drop post-commit hooks, so nothing after the request
        could have written them), no thread was started, and the woken cron delivers."""
        self.get(self.product_url())  # the cart needs a session with a website
        triggers_before = self.cron_triggers()
        started = []
        start_thread = threading.Thread.start

        def record_start(thread):
            target = getattr(thread, '_target', None)
            started.append(getattr(target, '__module__', '') or '')
            return start_thread(thread)

        start = self.last_event_id()
        Inbox = self.env['conversions.api.inbox'].sudo()
        inbox_before = Inbox.search([])
        with patch.object(threading.Thread, 'start', record_start):
            self.add_to_cart(3)
        # one inbox row for the request, holding the event's facts for both services
        written = Inbox.search([]) - inbox_before
        self.assertEqual(len(written), 1, 'one row per request, written before the response')
        entries = json.loads(written.payload)
        self.assertEqual([entry['event'] for entry in entries], ['AddToCart'])
        self.assertEqual(set(entries[0]['services']),
                         {self.meta_service.id, self.tiktok_service.id})
        self.assertNotIn('user_data', {key for key, value in entries[0]['values'].items()
                                       if value})
        add = self.queued('AddToCart', start)
        self.assertFalse(written.exists(), 'the drain moves the row into the outbox')
        self.assertEqual(len(add), 2, 'one outbox row per service')
        self.assertEqual(set(add.mapped('state')), {'queued'})
        self.assertEqual(set(add.mapped('platform')), {'meta', 'tiktok'})
        self.assertEqual(add.mapped('website_id'), self.website)
        self.assertEqual(add.mapped('company_id'), self.website.company_id)
        self.assertFalse([module for module in started if module.startswith(ADDON_MODULE)],
                         'the addon started a thread in the web worker')
        self.assertFalse(self.fake.requests, 'no network call in the request')
        self.assertEqual(self.meta(add)['custom']['contents'][0]['quantity'], 3)

        # the flush cron is woken up once the request commits, and sends everything
        self.assertGreater(len(self.cron_triggers() - triggers_before), 0)
        self.run_flush_cron()
        self.assertEqual(set(add.mapped('state')), {'sent'}, add.mapped('error'))
        self.assertIn(add[0].event_id, [e['event_id'] for e in self.fake.meta_events(META_PIXEL)])
        self.assertIn(add[0].event_id,
                      [e['event_id'] for e in self.fake.tiktok_events(TIKTOK_PIXEL)])

    def test_logged_in_shopper_rows_hold_hashed_keys_only(self):
        """The partner's matching keys reach the outbox hashed: no plain PII in its rows (the
        request's inbox row holds the partner's id; the drain reads and hashes the keys)."""
        new_test_user(self.env, login='capi_shopper', password='capi-Shopper-2024!',
                      groups='base.group_portal', email='Shopper.One@Example.com',
                      name='Shopper One')
        self.authenticate('capi_shopper', 'capi-Shopper-2024!')
        self.opener.headers['User-Agent'] = BROWSER_UA
        start = self.last_event_id()
        self.add_to_cart(1)
        add = self.queued('AddToCart', start)
        self.assertEqual(len(add), 2)
        for row in add:
            self.assertNotIn('shopper', row.payload.lower())
        self.assertEqual(_one(self.meta(add)['user']['em']), convapi.hash_value(
            convapi.normalize('email', 'Shopper.One@Example.com')))
        self.assertEqual(_one(self.meta(add)['user']['fn']), convapi.hash_value(
            convapi.normalize('first_name', 'Shopper')))

    def test_read_only_route_queues_before_the_response(self):
        """18/19 serve website pages on a read-only cursor (a replica in production). When the
        response cannot write the row after it is sent (no close callback, see
        ``_queue_rows_after_response``, tested on real cursors in test_outbox_transactions),
        the post-commit hook queues on a fresh cursor before Odoo returns the response."""
        if ODOO_VERSION < 18:
            self.skipTest('Odoo 17 has no read-only routes')
        commit = TestCursor.commit

        def commit_running_postcommit(cr):
            # what a real cursor does: commit, then run the post-commit hooks
            hooks = list(cr.postcommit._funcs)
            commit(cr)
            for hook in hooks:
                hook()

        start = self.last_event_id()
        with patch.object(TestCursor, 'commit', commit_running_postcommit), \
                patch.object(ir_http, '_runs_postcommit', return_value=True), \
                patch.object(ir_http, '_queue_rows_after_response', return_value=False), \
                self.assertNoLogs('odoo.http', 'WARNING'):  # not re-run read/write
            response = self.get('/contactus')
            # right after the response: the rows are there
            page_view = self.queued('PageView', start)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(page_view), 2)
        pixel = self.pixel_event_ids(response.text)
        self.assertEqual(pixel['meta'], [('PageView', page_view[0].event_id)])
        self.assertTrue(self.cron_triggers())

    def test_cached_service_config_follows_the_company_country(self):
        """The phone region hint is cached with the service config: changing the website
        company's country (or the website's company) must not leave the old one in use."""
        company = self.website.company_id
        company.country_id = self.env.ref('base.fr')
        services = self.Service.sudo()._storefront_services(self.website.id)
        self.assertEqual({info.country_code for info in services}, {'FR'})
        company.country_id = self.env.ref('base.be')
        services = self.Service.sudo()._storefront_services(self.website.id)
        self.assertEqual({info.country_code for info in services}, {'BE'})
        # The test's services belong to the website's company: moved to another company, the
        # website must stop using them at once (a stale cache would keep sending with them).
        company_services = {info.id for info in services}
        other = self.env['res.company'].create({
            'name': 'Other shop company', 'country_id': self.env.ref('base.de').id})
        self.website.company_id = other
        services = self.Service.sudo()._storefront_services(self.website.id)
        self.assertFalse(company_services & {info.id for info in services})
        self.assertEqual({info.country_code for info in services} - {'DE'}, set())

    def test_read_only_rows_hook_on_a_fresh_cursor(self):
        """The post-commit hook itself: one INSERT on a new cursor, commits, wakes the cron."""
        services = self.Service.sudo()._storefront_services(self.website.id)
        rows = self.Event.sudo()._storefront_rows([('ViewContent', {
            'website_id': self.website.id,
            'custom_data': {'value': 10.0, 'currency': 'EUR'},
            'event_id': 'vc-fresh-cursor-1',
            'request_context': {
                'client_ip_address': '203.0.113.7', 'client_user_agent': BROWSER_UA,
                'event_source_url': 'https://shop.example.com/shop/chair', 'consent': 'granted',
            },
        }, services)])
        self.assertEqual(len(rows), 2)
        ir_http._queue_rows_in_new_cursor(self.registry, rows)
        queued = self.outbox().search([('event_id', '=', 'vc-fresh-cursor-1')])
        self.assertEqual(set(queued.mapped('service_id').ids),
                         {self.meta_service.id, self.tiktok_service.id})
        # queued once: the same event again is left alone
        ir_http._queue_rows_in_new_cursor(self.registry, rows)
        self.assertEqual(self.outbox().search_count(
            [('event_id', '=', 'vc-fresh-cursor-1')]), 2)
        self.assertTrue(self.cron_triggers())

    def test_convapi_failure_does_not_break_the_page(self):
        """convapi raising for one platform: the page renders, the other platform queues.
        The page's events are built by the drain, off the shopper's request: it is there that
        convapi fails, for one platform only."""
        start = self.last_event_id()
        with patch.object(convapi, 'build_meta_payload', side_effect=RuntimeError('boom')):
            response = self.get(self.product_url())
            self.assertEqual(response.status_code, 200)
            self.assertIn('Tracked Chair', response.text)
            with self.assertLogs(ADDON_MODULE, 'ERROR') as logs:
                view = self.queued('ViewContent', start)
        self.assertTrue(any('not queued' in line for line in logs.output), logs.output)
        self.assertEqual(view.mapped('service_id'), self.tiktok_service)
        # the pixel still fires with the id the TikTok row carries
        pixel = self.pixel_event_ids(response.text)
        self.assertIn(('ViewContent', view.event_id), pixel['meta'])

    def test_outbox_failure_does_not_break_the_cart(self):
        """The INSERT failing (here a division by zero in its place) rolls back its savepoint
        only: the request's own writes commit."""
        self.get(self.product_url())
        start = self.last_event_id()
        Inbox = self.env['conversions.api.inbox'].sudo()
        inbox_before = Inbox.search_count([])
        failing = 'SELECT 1 / 0 WHERE %s IS NOT NULL'
        with patch.object(conversions_api_inbox, '_APPEND_SQL', failing), \
                mute_logger('odoo.sql_db'), \
                self.assertLogs(ADDON_MODULE, 'ERROR'):
            result = self.add_to_cart(2)
        self.assertTrue(result)
        self.assertEqual(Inbox.search_count([]), inbox_before)
        self.assertFalse(self.queued('AddToCart', start))
        order = self.env['sale.order'].sudo().search(
            [('website_id', '=', self.website.id), ('order_line.product_id', '=', self.variant.id)],
            order='id desc', limit=1)
        self.assertEqual(order.order_line.filtered(
            lambda line: line.product_id == self.variant).product_uom_qty, 2,
            'the cart was updated and committed')

    def test_inbox_holds_facts_or_hashed_events_never_plain_personal_data(self):
        """The request writes an event without personal data as its facts, built by the
        drain exactly as the request would have built it; an event with a form's personal
        data is built and hashed before it is stored."""
        services = self.Service.sudo()._storefront_services(self.website.id)
        context = {'client_ip_address': '203.0.113.7', 'client_user_agent': BROWSER_UA,
                   'fbp': 'fb.1.1700000000000.42', 'consent': 'granted',
                   'event_source_url': 'https://shop.example.com/shop/chair'}
        now = int(time.time())
        view = ('ViewContent', {
            'website_id': self.website.id, 'event_id': 'vc-facts-1', 'event_time': now,
            'custom_data': {'value': 10.0, 'currency': 'EUR'}, 'request_context': context,
        }, services)
        lead = ('Lead', {
            'website_id': self.website.id, 'event_id': 'lead-facts-1',
            'event_time': now, 'request_context': context,
            'user_data': {'em': 'Grace.Hopper@Example.COM', 'ph': '+32 470 12 34 56'},
        }, services)
        Event = self.Event.sudo()
        entries = Event._storefront_entries([view, lead])
        self.assertEqual(entries[0], {'event': 'ViewContent', 'values': view[1],
                                      'services': [info.id for info in services]})
        stored = json.dumps(entries, default=str)
        for plain in ('grace', 'Grace', '470 12', '32470123456'):
            self.assertNotIn(plain, stored)
        self.assertEqual([entry[4] for entry in entries[1:]], ['Lead'] * len(services))
        # the drain builds the facts as the request would have: same outbox entries
        built = Event._build_inbox_entries(json.loads(json.dumps(entries, default=str)))
        self.assertEqual(built[:len(services)], Event._storefront_rows([view]))
        self.assertEqual(built[len(services):], json.loads(stored)[1:])
        # a service removed from the website meanwhile drops its copy; a partner gone, its keys
        partner = self.env['res.partner'].create({'name': 'Ada', 'email': 'ada@example.com'})
        fact = dict(entries[0], values=dict(view[1], partner_id=partner.id))
        built = Event._build_inbox_entries([fact])
        self.assertEqual(len(built), len(services))
        self.assertIn('em', built[0][7]['user'], "the partner's keys, read by the drain")
        self.tiktok_service.website_id = self.env['website'].create({'name': 'Other'})
        gone = self.env['res.partner'].search([], order='id desc', limit=1).id + 1000
        built = Event._build_inbox_entries([dict(fact, values=dict(view[1], partner_id=gone))])
        self.assertEqual([entry[0] for entry in built], [self.meta_service.id])
        self.assertNotIn('em', built[0][7]['user'])

    def test_cart_skips_a_context_already_committed_on_the_order(self):
        """A cart call whose tracking context this process saw committed on the order does not
        read or write the order's fields again; one it has not seen is written."""
        self.get(self.product_url())
        self.add_to_cart(1)
        order = self.env['sale.order'].sudo().search(
            [('website_id', '=', self.website.id), ('order_line.product_id', '=', self.variant.id)],
            order='id desc', limit=1)
        self.assertEqual(order.convapi_user_agent, BROWSER_UA)
        # what the next call's context will be (test cursors run no post-commit hook: the
        # remembering is done by hand here)
        signature = tuple(order[fname] or False for fname in sale_order.CONTEXT_FIELDS)
        remembered = (self.env.cr.dbname, order.id)
        order.convapi_user_agent = False
        self.addCleanup(sale_order._committed_contexts.pop, remembered, None)
        sale_order._committed_contexts[remembered] = signature
        self.add_to_cart(1)
        order.invalidate_recordset()
        self.assertFalse(order.convapi_user_agent, 'skipped: remembered as committed')
        sale_order._committed_contexts.pop(remembered)
        self.add_to_cart(1)
        order.invalidate_recordset()
        self.assertEqual(order.convapi_user_agent, BROWSER_UA)

    def test_inbox_drain(self):
        """The drain moves entries into the outbox once, drops those of a deleted service,
        unreadable rows and entries the outbox refuses, and empties the inbox."""
        services = self.Service.sudo()._storefront_services(self.website.id)
        rows = self.Event.sudo()._storefront_rows([('PageView', {
            'website_id': self.website.id, 'event_id': 'pv-drain-1',
            'request_context': {'client_ip_address': '203.0.113.7',
                                'client_user_agent': BROWSER_UA, 'consent': 'granted',
                                'event_source_url': 'https://shop.example.com/'},
        }, services)])
        doomed = self.Service.sudo().create({
            'name': 'doomed', 'platform': 'meta', 'pixel_id': '555', 'access_token': 'x',
            'website_id': self.website.id})
        Inbox = self.env['conversions.api.inbox'].sudo()
        Inbox._append(rows)
        Inbox._append(rows)  # the same events twice (a retried request): queued once
        Inbox._append([[doomed.id] + rows[0][1:5] + ['pv-drain-doomed'] + rows[0][6:]])
        # an entry the outbox refuses (no event name) is dropped, not left to block the others
        Inbox._append([rows[0][:4] + [None, 'pv-drain-bad'] + rows[0][6:]])
        self.env.cr.execute("INSERT INTO conversions_api_inbox (payload, queued_at) "
                            "VALUES ('not json', now())")
        doomed.unlink()
        with self.assertLogs(ADDON_MODULE, 'ERROR') as logs, mute_logger('odoo.sql_db'):
            moved = Inbox._drain()
        self.assertTrue(any('refused' in line for line in logs.output), logs.output)
        self.assertEqual(moved, 4)
        self.assertFalse(Inbox.search([]))
        queued = self.Event.sudo().search([('event_id', 'like', 'pv-drain-')])
        self.assertEqual(len(queued), 2)
        self.assertEqual(set(queued.mapped('event_id')), {'pv-drain-1'})
        self.assertEqual(set(queued.mapped('state')), {'queued'})
        self.assertEqual(queued.mapped('website_id'), self.website)
        meta = queued.filtered(lambda e: e.service_id == self.meta_service)
        self.assertEqual(json.loads(meta.payload)['event_name'], 'PageView')
        self.assertGreaterEqual(meta.event_time.year, 2024)


def _one(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value
