"""Poison rows: an event the platform (or convapi) refuses for good fails alone, with the
platform's message, and never blocks or drags the rows behind it; a row failing transiently
stops after ``conversions_api.max_attempts``; each attempt is kept in the row's history, which
the console shows."""

import json
from datetime import timedelta
from unittest.mock import patch

import convapi

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .. import const
from .common import META_PIXEL, TIKTOK_PIXEL, ConversionsApiCase, delete_params

ATTEMPT_MODEL = 'conversions.api.event.attempt'


def edit_payload(row, change):
    payload = json.loads(row.payload)
    change(payload)
    row.payload = json.dumps(payload)


def bad_fbc(payload):
    payload['user']['fbc'] = 'not-a-click-id'  # Meta refuses the whole request for this


def fractional_quantity(payload):
    payload['custom']['contents'] = [{'id': 'SKU-1', 'quantity': 1.5, 'item_price': 3.0}]


@tagged('post_install', '-at_install')
class TestPoisonRows(ConversionsApiCase):

    def queue(self, count, prefix, platforms=('meta',), **kwargs):
        rows = self.Event
        for index in range(count):
            rows |= self.send('ViewContent', platforms=platforms, event_id=f'{prefix}-{index}',
                              custom_data={'content_ids': [str(index)]}, **kwargs)
        return rows

    def history(self, row):
        return [(a.attempt, a.outcome) for a in row.attempt_ids.sorted('id')]

    def assert_never_claimed_again(self, *rows):
        requests = len(self.fake.requests)
        for days in (0, 1, 30):
            self.assertEqual(
                self.Event._flush_outbox(now=fields.Datetime.now() + timedelta(days=days)), 0)
        self.assertEqual(len(self.fake.requests), requests, 'no request for a failed row')
        for row in rows:
            self.assertEqual(row.state, 'failed')

    # -- permanent rejections ---------------------------------------------------------------

    def test_platform_rejection_fails_the_row_with_the_platform_message(self):
        rows = self.queue(8, 'meta-poison')
        bad = rows.sorted('id')[0]          # first in line: every other row is behind it
        edit_payload(bad, bad_fbc)
        self.assertEqual(self.Event._flush_outbox(batch_size=3), 8)
        self.assertEqual(bad.state, 'failed')
        self.assertEqual(bad.attempts, 1)
        self.assertIn('[100/2804001]', bad.error)
        self.assertIn('Click ID Incorrectly Formatted', bad.error)
        self.assertIn('user_data.fbc', bad.error)
        self.assertTrue(bad.trace_id, "the platform's trace id is kept")
        good = rows - bad
        self.assertEqual(set(good.mapped('state')), {'sent'})
        self.assertEqual(sorted(e['event_id'] for e in self.fake.meta_events(META_PIXEL)),
                         sorted(good.mapped('event_id')))
        self.assertEqual(self.history(bad), [(1, 'failed')])
        self.assertIn('Click ID Incorrectly Formatted', bad.attempt_ids.error)
        self.assertFalse(good.attempt_ids, 'rows sent at the first attempt log nothing')
        self.assert_never_claimed_again(bad)

    def test_tiktok_rejection_fails_only_the_bad_row(self):
        rows = self.queue(5, 'tt-poison', platforms=('tiktok',))
        bad = rows.sorted('id')[2]
        edit_payload(bad, fractional_quantity)  # TikTok: contents[].quantity must be an integer
        self.Event._flush_outbox()
        self.assertEqual(bad.state, 'failed')
        self.assertIn('[40002]', bad.error)
        self.assertIn('quantity: not a valid integer', bad.error)
        self.assertEqual(set((rows - bad).mapped('state')), {'sent'})
        self.assertEqual(sorted(e['event_id'] for e in self.fake.tiktok_events(TIKTOK_PIXEL)),
                         sorted((rows - bad).mapped('event_id')))
        self.assert_never_claimed_again(bad)

    def test_event_the_builder_refuses_fails_without_a_request(self):
        rows = self.queue(4, 'builder-poison')
        bad = rows.sorted('id')[0]
        edit_payload(bad, lambda p: p['custom'].update(currency='EURO'))
        self.Event._flush_outbox()
        self.assertEqual(bad.state, 'failed')
        self.assertIn('currency', bad.error)
        self.assertIn('ISO 4217', bad.error)
        self.assertEqual(self.history(bad), [(1, 'failed')])
        self.assertEqual(set((rows - bad).mapped('state')), {'sent'})
        sent = [e['event_id'] for e in self.fake.meta_events(META_PIXEL)]
        self.assertNotIn(bad.event_id, sent, 'convapi refused it before any request')
        self.assertEqual(len(sent), 3)
        self.assert_never_claimed_again(bad)

    def test_unreadable_payload_fails_alone(self):
        rows = self.queue(4, 'unreadable')
        broken, not_an_event = rows.sorted('id')[:2]
        broken.payload = '{"event_name": "ViewContent", '
        not_an_event.payload = '["ViewContent"]'
        self.Event._flush_outbox()
        for row in (broken, not_an_event):
            self.assertEqual(row.state, 'failed')
            self.assertIn('payload', row.error)
            self.assertEqual(self.history(row), [(1, 'failed')])
        self.assertEqual(set((rows - broken - not_an_event).mapped('state')), {'sent'})
        self.assertEqual(len(self.fake.meta_events(META_PIXEL)), 2)
        self.assert_never_claimed_again(broken, not_an_event)

    def test_lone_surrogate_fails_alone(self):
        """A string JSON can hold and UTF-8 cannot (a lone surrogate): convapi refuses the event
        (a ValidationError since 1da254c; a UnicodeEncodeError before, the unexpected path
        below): the others are sent now, not retried with it until they all fail."""
        rows = self.queue(6, 'surrogate')
        bad = rows.sorted('id')[1]
        bad.payload = bad.payload.replace('"custom": {', '"custom": {"content_name": "\\ud800", ')
        self.assertIn('\ud800', json.loads(bad.payload)['custom']['content_name'])
        with mute_logger('odoo.addons.conversions_api.models.conversions_api_event'):
            self.Event._flush_outbox()
        self.assertEqual(set((rows - bad).mapped('state')), {'sent'})
        self.assertEqual(len(self.fake.meta_events(META_PIXEL)), 5)
        self.assertEqual(bad.state, 'failed')
        self.assertTrue('surrogate' in bad.error or 'UnicodeEncodeError' in bad.error, bad.error)
        self.assert_never_claimed_again(bad)

    def test_unexpected_error_of_one_row_does_not_hold_its_batch(self):
        """An event convapi fails on with an unexpected error (not one of its own): the row is
        found by building each event alone, fails at once, and the others are sent now."""
        real_build = convapi.build_meta_payload

        def build(events, *args, **kwargs):
            if any((event.get('custom') or {}).get('content_name') == 'boom' for event in events):
                raise RuntimeError('convapi cannot read this event')
            return real_build(events, *args, **kwargs)

        class Sender:  # the real one, failing as the builder does first
            def __init__(self, real):
                self.real = real

            def send(self, events, **kwargs):
                build(events)
                return self.real.send(events, **kwargs)

        real_make = type(self.meta_service)._make_sender
        rows = self.queue(6, 'unexpected')
        bad = rows.sorted('id')[3]
        edit_payload(bad, lambda p: p['custom'].update(content_name='boom'))
        with patch.object(convapi, 'build_meta_payload', build), \
                patch.object(type(self.meta_service), '_make_sender',
                             lambda service, *a, **k: Sender(real_make(service, *a, **k))), \
                mute_logger('odoo.addons.conversions_api.models.conversions_api_event'):
            self.Event._flush_outbox()
            self.assertEqual(set((rows - bad).mapped('state')), {'sent'})
            self.assertEqual(len(self.fake.meta_events(META_PIXEL)), 5)
            self.assertEqual(bad.state, 'failed')
            self.assertEqual(bad.error, 'Unexpected error: RuntimeError')
            self.assertEqual(self.history(bad), [(1, 'failed')])
            self.assert_never_claimed_again(bad)

    def test_unexpected_error_of_every_row_is_retried(self):
        """When convapi fails on every event of a batch, nothing points at one event (convapi
        itself is broken): the batch is retried later, as a transient failure."""
        rows = self.queue(3, 'all-unexpected')

        def build(events, *args, **kwargs):
            raise RuntimeError('convapi is broken')

        class Sender:
            def send(self, events, **kwargs):
                raise RuntimeError('convapi is broken')

        with patch.object(convapi, 'build_meta_payload', build), \
                patch.object(type(self.meta_service), '_make_sender',
                             lambda service, *a, **k: Sender()), \
                mute_logger('odoo.addons.conversions_api.models.conversions_api_event'):
            self.Event._flush_outbox()
        self.assertEqual(set(rows.mapped('state')), {'retrying'})
        self.assertFalse(self.fake.requests)

    def test_poison_row_in_a_full_batch_costs_a_bounded_number_of_requests(self):
        rows = self.queue(const.BATCH_SIZE, 'full')
        bad = rows.sorted('id')[617]
        edit_payload(bad, bad_fbc)
        self.assertEqual(self.Event._flush_outbox(), const.BATCH_SIZE)
        self.assertEqual(bad.state, 'failed')
        self.assertEqual(self.Event.search_count([('id', 'in', rows.ids), ('state', '=', 'sent')]),
                         const.BATCH_SIZE - 1)
        self.assertEqual(len(self.fake.meta_events(META_PIXEL)), const.BATCH_SIZE - 1)
        # the batch, then two halves per level of the split (10 levels for 1,000 rows)
        self.assertLessEqual(len(self.fake.requests), 1 + 2 * 10)
        self.assert_never_claimed_again(bad)

    # -- transient failures -----------------------------------------------------------------

    def flush_while_due(self, row, rounds=20):
        """Flush at each of ``row``'s retry times until it is no longer retried."""
        now = fields.Datetime.now()
        for _ in range(rounds):
            self.Event._flush_outbox(now=now)
            if row.state != 'retrying':
                return
            now = row.next_attempt
        self.fail(f'still retrying after {rounds} flushes')

    def test_transient_failures_stop_after_max_attempts_with_their_history(self):
        self.env['ir.config_parameter'].sudo().set_param(const.PARAM_MAX_ATTEMPTS, '3')
        row = self.send('Purchase', event_id='order-down')
        other = self.send('Purchase', platforms=('tiktok',), event_id='order-fine')
        self.fake.inject('meta', 'http_503', times=50)
        self.flush_while_due(row)
        self.assertEqual(row.state, 'failed')
        self.assertEqual(row.attempts, 3)
        self.assertEqual(len(self.fake.requests_for('meta')), 3, 'exactly max_attempts requests')
        self.assertIn('[2]', row.error)
        self.assertEqual(other.state, 'sent', 'another service is not held up')
        self.assertEqual(self.history(row), [(1, 'retrying'), (2, 'retrying'), (3, 'failed')])
        dates = row.attempt_ids.sorted('id').mapped('date')
        self.assertEqual(dates, sorted(dates))
        self.assertGreaterEqual(dates[2] - dates[0], timedelta(
            seconds=const.BACKOFF_BASE_SECONDS * 3), 'the attempts are backed off')
        for attempt in row.attempt_ids:
            self.assertIn('unexpected error', attempt.error.lower())
        self.assert_never_claimed_again(row)

    def test_default_max_attempts(self):
        delete_params(self.env, [const.PARAM_MAX_ATTEMPTS])
        row = self.send('Purchase', event_id='order-default-attempts')
        self.fake.inject('meta', 'http_500', times=50)
        self.flush_while_due(row)
        self.assertEqual(row.attempts, const.DEFAULT_MAX_ATTEMPTS)
        self.assertEqual(len(self.fake.requests_for('meta')), const.DEFAULT_MAX_ATTEMPTS)
        self.assertEqual(len(row.attempt_ids), const.DEFAULT_MAX_ATTEMPTS)
        self.assertEqual(row.attempt_ids.sorted('id')[-1].outcome, 'failed')

    def test_history_records_the_success_after_failures(self):
        row = self.send('Purchase', event_id='order-flaky')
        self.fake.inject('meta', 'rate_limit', retry_after=1)
        self.fake.inject('meta', 'http_503')
        self.flush_while_due(row)
        self.assertEqual(row.state, 'sent')
        self.assertEqual(self.history(row), [(1, 'retrying'), (2, 'retrying'), (3, 'sent')])
        sent = row.attempt_ids.sorted('id')[-1]
        self.assertFalse(sent.error)
        self.assertEqual(sent.trace_id, row.trace_id)

    def test_history_is_capped(self):
        row = self.send('Purchase', event_id='order-retried-by-hand')
        cap = const.MAX_ATTEMPT_HISTORY
        self.fake.inject('meta', 'meta_error', times=cap + 5, code=190,
                         message='Invalid OAuth access token')
        for _ in range(cap + 5):
            row.action_retry()
            self.assertEqual(row.state, 'failed')
        self.assertEqual(len(row.attempt_ids), cap)
        self.assertEqual(self.env[ATTEMPT_MODEL].search_count(
            [('conversion_event_id', '=', row.id)]), cap)
        self.assertIn('Invalid OAuth access token', row.attempt_ids[0].error)

    def test_history_goes_with_its_row(self):
        row = self.send('Purchase', event_id='order-deleted')
        self.fake.inject('meta', 'http_503')
        self.Event._flush_outbox()
        attempts = row.attempt_ids
        self.assertEqual(len(attempts), 1)
        row.unlink()
        self.assertFalse(attempts.exists())

    # -- the console ------------------------------------------------------------------------

    def test_console_shows_the_history(self):
        self.assertIn(self.env.ref('conversions_api.menu_conversions_api_event').parent_id,
                      self.env.ref('website.menu_reporting'))
        form = self.Event.get_views([(False, 'form')])['views']['form']['arch']
        self.assertIn('attempt_ids', form)
        self.assertIn(ATTEMPT_MODEL, self.Event.get_views([(False, 'form')])['models'])
        arch = self.env[ATTEMPT_MODEL].get_views([(False, 'list')])['views']['list']['arch']
        for name in ('attempt', 'date', 'outcome', 'error', 'trace_id'):
            self.assertIn(f'name="{name}"', arch)

        row = self.send('Purchase', event_id='order-seen-by-designer')
        self.fake.inject('meta', 'http_503')
        self.Event._flush_outbox()
        designer = self.env['res.users'].create({
            'name': 'Website designer', 'login': 'poison-designer',
            'groups_id' if 'groups_id' in self.env['res.users']._fields else 'group_ids': [
                (6, 0, [self.env.ref('base.group_user').id,
                        self.env.ref('website.group_website_designer').id])],
        })
        seen = row.with_user(designer)
        self.assertEqual(seen.attempt_ids.mapped('outcome'), ['retrying'])
        self.assertTrue(seen.attempt_ids.error)
