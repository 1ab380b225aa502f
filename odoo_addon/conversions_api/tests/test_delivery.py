import json
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import META_PIXEL, ConversionsApiCase


@tagged('post_install', '-at_install')
class TestDelivery(ConversionsApiCase):

    def test_batches_of_one_thousand(self):
        for index in range(1500):
            self.send('ViewContent', event_id=f'view-{index}',
                      custom_data={'content_ids': [str(index)]})
        self.assertEqual(self.Event.search_count([('state', '=', 'queued')]), 1500)
        self.assertEqual(self.Event._flush_outbox(), 1500)
        requests = self.fake.requests_for('meta')
        self.assertEqual(len(requests), 2)
        self.assertEqual(sorted(r.events_accepted for r in requests), [500, 1000])
        self.assertEqual(len(self.fake.meta_events(META_PIXEL)), 1500)
        self.assertEqual(self.Event.search_count([('state', '=', 'sent')]), 1500)

    def test_flush_limit(self):
        for index in range(5):
            self.send('ViewContent', event_id=f'limited-{index}')
        self.assertEqual(self.Event._flush_outbox(limit=3), 3)
        self.assertEqual(self.Event.search_count([('state', '=', 'queued')]), 2)

    def test_transient_failure_then_success(self):
        event = self.send('Purchase', event_id='order-503')
        self.fake.inject('meta', 'http_503')
        now = fields.Datetime.now()
        self.Event._flush_outbox(now=now)
        self.assertEqual(event.state, 'retrying')
        self.assertEqual(event.attempts, 1)
        self.assertTrue(event.error)
        self.assertGreater(event.next_attempt, now)
        # Not due yet: the next flush leaves it alone.
        self.assertEqual(self.Event._flush_outbox(now=now), 0)
        self.assertEqual(len(self.fake.requests), 1)
        # Due: sent on the next flush.
        self.assertEqual(self.Event._flush_outbox(now=event.next_attempt), 1)
        self.assertEqual(event.state, 'sent')
        self.assertEqual(event.attempts, 2)
        self.assertFalse(event.error)
        self.assertEqual([e['event_id'] for e in self.fake.meta_events(META_PIXEL)],
                         ['order-503'])

    def test_retry_after_is_honoured(self):
        event = self.send('Purchase', event_id='order-429')
        self.fake.inject('meta', 'rate_limit', retry_after=7200)
        now = fields.Datetime.now()
        self.Event._flush_outbox(now=now)
        self.assertEqual(event.state, 'retrying')
        self.assertGreaterEqual(event.next_attempt, now + timedelta(seconds=7199))

    def test_permanent_failure(self):
        event = self.send('Purchase', event_id='order-bad')
        self.fake.inject('meta', 'meta_error', code=100, subcode=2804001,
                         message='Invalid parameter')
        self.Event._flush_outbox()
        self.assertEqual(event.state, 'failed')
        self.assertEqual(event.attempts, 1)
        self.assertIn('Invalid parameter', event.error)
        self.assertIn('100', event.error)
        self.assertEqual(self.meta_service.failed_count_24h, 1)
        # Failed rows are not picked up again.
        self.assertEqual(self.Event._flush_outbox(), 0)

    def test_transient_failures_give_up_after_max_attempts(self):
        self.env['ir.config_parameter'].sudo().set_param('conversions_api.max_attempts', '2')
        event = self.send('Purchase', event_id='order-down')
        self.fake.inject('meta', 'http_500', times=2)
        self.Event._flush_outbox()
        self.assertEqual(event.state, 'retrying')
        self.Event._flush_outbox(now=event.next_attempt)
        self.assertEqual(event.state, 'failed')
        self.assertEqual(event.attempts, 2)

    def test_manual_retry_of_a_failed_event(self):
        event = self.send('Purchase', event_id='order-retry')
        self.fake.inject('meta', 'meta_error', code=190, message='Invalid OAuth access token')
        self.Event._flush_outbox()
        self.assertEqual(event.state, 'failed')
        action = event.action_retry()
        self.assertEqual(event.state, 'sent')
        self.assertEqual(action['params']['type'], 'success')

    def test_one_bad_event_does_not_sink_its_batch(self):
        events = self.Event
        for index in range(5):
            events |= self.send('ViewContent', event_id=f'batch-{index}')
        bad = events[2]
        payload = json.loads(bad.payload)
        payload['user']['fbc'] = 'not-a-click-id'  # Meta refuses the whole request for this
        bad.payload = json.dumps(payload)
        self.Event._flush_outbox()
        self.assertEqual(bad.state, 'failed')
        self.assertIn('100', bad.error)
        self.assertEqual(set((events - bad).mapped('state')), {'sent'})
        self.assertEqual(sorted(e['event_id'] for e in self.fake.meta_events(META_PIXEL)),
                         sorted((events - bad).mapped('event_id')))

    def test_tiktok_error_code(self):
        event = self.send('AddToCart', platforms=('tiktok',), event_id='tt-bad')
        self.fake.inject('tiktok', 'tiktok_code', code=40001, message='No permission')
        self.Event._flush_outbox()
        self.assertIn(event.state, ('failed', 'retrying'))
        self.assertIn('No permission', event.error)

    def test_archived_service_and_stale_events_fail_without_request(self):
        stale = self.send('Purchase', event_id='order-stale')
        stale.event_time = fields.Datetime.now() - timedelta(days=8)
        archived = self.send('Purchase', platforms=('tiktok',), event_id='order-archived')
        self.tiktok_service.active = False
        self.Event._flush_outbox()
        self.assertEqual(stale.state, 'failed')
        self.assertEqual(archived.state, 'failed')
        self.assertFalse(self.fake.requests)

    def test_send_test_event_button(self):
        self.meta_service.test_event_code = 'TEST4242'
        action = self.meta_service.action_send_test_event()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        received = self.fake.meta_events(META_PIXEL, test_event_code='TEST4242')
        self.assertEqual(len(received), 1)
        self.assertFalse(self.Event.search([]), 'a test event does not go through the outbox')
        self.fake.inject('meta', 'meta_error', code=190, message='Invalid OAuth access token')
        action = self.meta_service.action_send_test_event()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('Invalid OAuth access token', action['params']['message'])
