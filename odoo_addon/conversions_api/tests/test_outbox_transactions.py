"""Real transactions on their own connections: commit, rollback and concurrent flushes.

TransactionCase never commits, so these tests open cursors on the registry, commit
what they set up, and remove it again afterwards.
"""

import threading
from collections import Counter
from contextlib import contextmanager
from unittest.mock import patch

from convapi.testing import FakeAdServer
from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry
from odoo.tests import tagged
from odoo.tests.common import BaseCase, get_db_name
from werkzeug.test import create_environ
from werkzeug.wrappers import Response

from ..models import conversions_api_event, ir_http
from .common import TOKEN, USER_AGENT, delete_params, point_params_at

PIXEL = '9090909090'
PARAMS = (
    'conversions_api.meta_base_url', 'conversions_api.tiktok_base_url',
    'conversions_api.sender_max_retries', 'conversions_api.sender_timeout',
    'meta_capi.enabled', 'tiktok_eapi.enabled',
)


@tagged('post_install', '-at_install')
class TestOutboxTransactions(BaseCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.fake = FakeAdServer().start()
        cls.addClassCleanup(cls.fake.stop)
        with cls.committed_env() as env:
            params = env['ir.config_parameter']
            cls.saved_params = {key: params.get_param(key) for key in PARAMS}
            point_params_at(env, cls.fake)
            others = env['conversions.api.service'].search([])
            cls.other_service_ids = others.ids
            others.write({'active': False})
            cls.service_id = env['conversions.api.service'].create({
                'name': 'Committed test pixel', 'platform': 'meta', 'pixel_id': PIXEL,
                'access_token': TOKEN, 'website_id': False, 'company_id': False,
            }).id
        cls.addClassCleanup(cls.remove_committed_data)

    @classmethod
    def remove_committed_data(cls):
        with cls.committed_env() as env:
            service = env['conversions.api.service'].browse(cls.service_id)
            env['conversions.api.event'].search([('service_id', '=', service.id)]).unlink()
            service.unlink()
            env['conversions.api.service'].browse(cls.other_service_ids).write({'active': True})
            params = env['ir.config_parameter']
            delete_params(env, [key for key, value in cls.saved_params.items() if not value])
            for key, value in cls.saved_params.items():
                if value:
                    params.set_param(key, value)

    @classmethod
    @contextmanager
    def committed_env(cls):
        with cls.registry.cursor() as cr:  # commits on success, rolls back on error
            yield api.Environment(cr, SUPERUSER_ID, {})

    def setUp(self):
        super().setUp()
        self.fake.reset()
        self.addCleanup(self.delete_events)

    def delete_events(self):
        with self.committed_env() as env:
            env['conversions.api.event'].search([('service_id', '=', self.service_id)]).unlink()

    def send(self, env, event_id, event_name='ViewContent'):
        return env['meta.conversions.api'].send_event(
            event_name, user_data={'email': f'{event_id}@example.com'},
            custom_data={'content_ids': [event_id]}, event_id=event_id,
            request_context={'client_user_agent': USER_AGENT,
                             'event_source_url': 'https://shop.example.com/'},
        )

    def states(self, event_ids):
        with self.committed_env() as env:
            events = env['conversions.api.event'].search([('event_id', 'in', event_ids)])
            return {event.event_id: event.state for event in events}

    def test_inbox_row_alone_commits_without_waiting_for_the_wal_flush(self):
        """A transaction whose only write is the inbox row commits asynchronously; one that
        wrote before keeps Odoo's synchronous commit (its own writes are never made
        asynchronous). Real cursors: a test transaction has always written already."""
        def synchronous_commit(cr):
            cr.execute('SHOW synchronous_commit')
            return cr.fetchone()[0]

        entries = [{'event': 'PageView', 'values': {}, 'services': []}]
        for wrote_before, expected in ((False, 'off'), (True, 'on')):
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                default = synchronous_commit(cr)
                if wrote_before:
                    env['ir.config_parameter'].set_param('conversions_api.test_write', '1')
                    env.flush_all()
                env['conversions.api.inbox']._append(entries, savepoint=True,
                                                     async_commit_if_alone=True)
                self.assertEqual(synchronous_commit(cr), expected if default == 'on' else default)
                cr.rollback()
            with self.registry.cursor() as cr:  # transaction-local: the next one is back to on
                self.assertEqual(synchronous_commit(cr), default)

    def test_storefront_row_is_written_once_the_response_is_sent(self):
        """A shop request's inbox row is written by its response's close callback (a WSGI
        server closes a response once its body is sent), on a cursor of its own with a
        synchronous commit, and only when the request's transaction committed."""
        def inbox_rows(marker):
            with self.registry.cursor() as cr:
                cr.execute('SELECT count(*) FROM conversions_api_inbox WHERE payload LIKE %s',
                           [f'%{marker}%'])
                return cr.fetchone()[0]

        def remove_rows():
            with self.registry.cursor() as cr:
                cr.execute('DELETE FROM conversions_api_inbox WHERE payload LIKE %s',
                           ['%after-response-%'])

        self.addCleanup(remove_rows)

        def entries(marker):
            return [{'event': 'PageView', 'values': {'event_id': marker}, 'services': []}]

        def start_response(status, headers):
            return None

        queue_rows = ir_http._queue_rows
        with patch.object(conversions_api_event, 'flush_recently_triggered', return_value=True), \
                patch.object(ir_http, '_queue_rows', wraps=queue_rows) as queued:
            response = Response('<html>page</html>', mimetype='text/html')
            with self.registry.cursor() as cr:
                self.assertTrue(ir_http._queue_rows_after_response(
                    cr, response, self.registry, entries('after-response-sent')))
            self.assertEqual(inbox_rows('after-response-sent'), 0, 'committed, not yet sent')
            body = response(create_environ(), start_response)
            self.assertEqual(b''.join(body), b'<html>page</html>')
            self.assertEqual(inbox_rows('after-response-sent'), 0, 'the body goes out first')
            body.close()
            self.assertEqual(inbox_rows('after-response-sent'), 1)
            self.assertEqual(queued.call_count, 1)
            self.assertIs(queued.call_args.kwargs['async_commit_if_alone'], False)

            # the request's transaction rolled back: its events are never written
            response = Response('page')
            with self.registry.cursor() as cr:
                self.assertTrue(ir_http._queue_rows_after_response(
                    cr, response, self.registry, entries('after-response-rolled-back')))
                cr.rollback()
            body = response(create_environ(), start_response)
            b''.join(body)
            body.close()
            self.assertEqual(inbox_rows('after-response-rolled-back'), 0)

            # a response streamed as is has no close callbacks: the caller keeps the INSERT
            streamed = Response(iter([b'file']), direct_passthrough=True)
            with self.registry.cursor() as cr:
                self.assertFalse(ir_http._queue_rows_after_response(
                    cr, streamed, self.registry, entries('after-response-streamed')))
                self.assertFalse(ir_http._queue_rows_after_response(
                    cr, None, self.registry, entries('after-response-none')))
            self.assertEqual(queued.call_count, 1)

    def test_commit_wakes_the_flush_cron_which_sends(self):
        conversions_api_event._last_trigger.clear()
        with self.committed_env() as env:
            cron = env.ref(conversions_api_event.FLUSH_CRON)
            cron_id = cron.id
            before = env['ir.cron.trigger'].search([('cron_id', '=', cron_id)]).ids
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            events = self.send(env, 'committed-1')
            self.assertEqual(len(events), 1)
        # Committed: the caller made no network call, the cron has a trigger to run on.
        self.assertFalse(self.fake.requests)
        self.assertEqual(self.states(['committed-1']), {'committed-1': 'queued'})
        with self.committed_env() as env:
            triggers = env['ir.cron.trigger'].search(
                [('cron_id', '=', cron_id), ('id', 'not in', before)])
            self.assertEqual(len(triggers), 1)
            self.assertLessEqual(triggers.call_at, fields.Datetime.now())
            self.addCleanup(self.delete_triggers, triggers.ids)
        # The cron, run as its worker runs it (its own cursor and commits).
        with self.committed_env() as env:
            env['ir.cron'].browse(cron_id).method_direct_trigger()
        self.assertEqual([e['event_id'] for e in self.fake.meta_events(PIXEL)], ['committed-1'])
        self.assertEqual(self.states(['committed-1']), {'committed-1': 'sent'})

    def test_throttled_trigger_once_per_interval(self):
        """A second committed transaction within the interval adds no trigger (no new wake-up
        connection); the rows it queued go with the pending run or the every-minute run."""
        conversions_api_event._last_trigger.clear()
        with self.committed_env() as env:
            cron_id = env.ref(conversions_api_event.FLUSH_CRON).id
            before = env['ir.cron.trigger'].search([('cron_id', '=', cron_id)]).ids
        for event_id in ('throttled-1', 'throttled-2'):
            with self.registry.cursor() as cr:
                self.send(api.Environment(cr, SUPERUSER_ID, {}), event_id)
        with self.committed_env() as env:
            triggers = env['ir.cron.trigger'].search(
                [('cron_id', '=', cron_id), ('id', 'not in', before)])
            self.addCleanup(self.delete_triggers, triggers.ids)
            self.assertEqual(len(triggers), 1)
            self.assertEqual(env['conversions.api.event']._cron_flush(), None)
        self.assertEqual(self.states(['throttled-1', 'throttled-2']),
                         {'throttled-1': 'sent', 'throttled-2': 'sent'})

    def delete_triggers(self, trigger_ids):
        with self.committed_env() as env:
            env['ir.cron.trigger'].browse(trigger_ids).exists().unlink()

    def test_rollback_sends_nothing(self):
        cr = self.registry.cursor()
        try:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertEqual(len(self.send(env, 'rolled-back-1')), 1)
            cr.rollback()
        finally:
            cr.close()
        with self.committed_env() as env:
            env['conversions.api.event']._flush_outbox()
        self.assertFalse(self.fake.requests)
        self.assertEqual(self.states(['rolled-back-1']), {})

    def test_inbox_rows_another_drain_took_meanwhile(self):
        """Two drains at once: a row the other one removed (and committed) after this
        transaction's snapshot makes locking fail (REPEATABLE READ). The drain stops quietly,
        the next run moves the rest. Found by scripts/soak.py (drainers): each such overlap
        logged two ERRORs, a bad query and a failed drain, 20 in 40,000 rows drained by four
        processes."""
        def fact(event_id):
            context = {'client_user_agent': USER_AGENT, 'client_ip_address': '203.0.113.9',
                       'event_source_url': 'https://shop.example.com/'}
            return [{'event': 'ViewContent', 'services': [self.service_id], 'values': {
                'event_id': event_id, 'event_source_url': 'https://shop.example.com/',
                'custom_data': {'content_ids': [event_id]}, 'request_context': context}}]

        def remove_rows():
            with self.registry.cursor() as cr:
                cr.execute('DELETE FROM conversions_api_inbox WHERE payload LIKE %s',
                           ['%inbox-race-%'])

        self.addCleanup(remove_rows)
        with self.committed_env() as env:
            env['conversions.api.inbox']._append(fact('inbox-race-taken'))
            env['conversions.api.inbox']._append(fact('inbox-race-left'))
            env.cr.execute('SELECT id FROM conversions_api_inbox WHERE payload LIKE %s',
                           ['%inbox-race-taken%'])
            taken_id = env.cr.fetchone()[0]
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute('SELECT count(*) FROM conversions_api_inbox')  # the snapshot
            with self.registry.cursor() as other:  # another drain takes a row and commits
                other.execute('DELETE FROM conversions_api_inbox WHERE id = %s', [taken_id])
            with self.assertNoLogs('odoo', 'ERROR'):
                env['conversions.api.event']._flush_outbox(commit=True)
        self.assertFalse(self.fake.requests)
        with self.committed_env() as env:
            self.assertEqual(env['conversions.api.event']._flush_outbox(commit=True), 1)
        self.assertEqual([e['event_id'] for e in self.fake.meta_events(PIXEL)],
                         ['inbox-race-left'])

    def test_no_double_send_under_concurrent_flushes(self):
        event_ids = [f'concurrent-{index}' for index in range(120)]
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            for event_id in event_ids:
                self.send(env, event_id)
            cr.postcommit.clear()  # leave the rows to the two flushes below
        self.assertFalse(self.fake.requests)
        # Slow answers keep both workers busy at the same time.
        self.fake.inject('meta', 'delay', times=len(event_ids), seconds=0.05)

        start = threading.Barrier(2)
        processed, errors = [], []

        def worker(env):
            try:
                start.wait(timeout=10)
                processed.append(env['conversions.api.event']._flush_outbox(
                    commit=True, batch_size=10))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                env.cr.close()

        # Environments are built here: on Odoo 18 the loading thread holds the registry
        # lock while post-install tests run, and api.Environment() takes it.
        envs = [api.Environment(self.registry.cursor(), SUPERUSER_ID, {}) for _ in range(2)]
        threads = [threading.Thread(target=worker, args=(env,)) for env in envs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        self.assertFalse(errors)
        self.assertEqual(sum(processed), len(event_ids))
        sent = Counter(e['event_id'] for e in self.fake.meta_events(PIXEL))
        self.assertEqual(set(sent), set(event_ids))
        self.assertEqual(max(sent.values()), 1, 'an event was sent twice')
        self.assertEqual(set(self.states(event_ids).values()), {'sent'})
