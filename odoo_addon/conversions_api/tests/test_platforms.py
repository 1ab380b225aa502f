"""The four platforms behind one table (const.PLATFORMS): Meta, TikTok, Pinterest and GA4 each
have their settings, service form, console filter, sender, test event and delivery; Pinterest's
partial failures fail only the refused rows; GA4 gets Purchase alone by default ("complement"
mode) and only for visitors with a client_id; its API secret is never logged or shown."""

import json
import logging
from datetime import timedelta, timezone

import convapi
from odoo import fields
from odoo.tests import Form, tagged

from .. import const
from .common import (
    EPIK,
    GA4_API_SECRET,
    GA4_MEASUREMENT_ID,
    GA_CLIENT_ID,
    GA_COOKIE,
    GA_SESSION_COOKIE,
    GA_SESSION_ID,
    PINTEREST_AD_ACCOUNT,
    PINTEREST_TAG,
    TOKEN,
    ConversionsApiCase,
    add_pinterest_and_ga4_services,
    sha256,
)

CONTENTS = [{'id': 'SKU-1', 'quantity': 2, 'item_price': 29.9, 'title': 'Mug'}]
PURCHASE = {'value': 59.8, 'currency': 'EUR', 'order_id': 'S00042', 'contents': CONTENTS}
GA_SESSIONS = {GA4_MEASUREMENT_ID[2:]: GA_SESSION_COOKIE}


def _as_list(value):
    return value if isinstance(value, list) else [value]


class FourPlatformsCase(ConversionsApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        add_pinterest_and_ga4_services(cls, cls.website)
        cls.services = (cls.meta_service | cls.tiktok_service | cls.pinterest_service
                        | cls.ga4_service)

    def visitor_context(self, **values):
        """A browser request's context with the Pinterest click id and the GA4 cookies."""
        return self.browser_context(**dict({
            'click_id': EPIK, 'client_id': GA_COOKIE, 'session_ids': GA_SESSIONS,
            'consent': 'granted'}, **values))

    def by_platform(self, rows):
        return {row.platform: row for row in rows}


@tagged('post_install', '-at_install')
class TestPlatformTable(FourPlatformsCase):

    def test_every_platform_is_wired_from_the_table(self):
        Service = self.env['conversions.api.service']
        self.assertEqual([value for value, _label in Service._fields['platform'].selection],
                         list(const.PLATFORMS))
        self.assertEqual(tuple(convapi.PLATFORMS), tuple(const.PLATFORMS),
                         'the addon knows the platforms convapi sends to')
        settings_fields = self.env['res.config.settings']._fields
        settings = self.env['res.config.settings'].get_views(
            [(False, 'form')])['views']['form']['arch']
        form = Service.get_views([(False, 'form')])['views']['form']['arch']
        service_search = Service.get_views([(False, 'search')])['views']['search']['arch']
        event_search = self.Event.get_views([(False, 'search')])['views']['search']['arch']
        for platform, spec in const.PLATFORMS.items():
            with self.subTest(platform=platform):
                self.assertTrue(callable(getattr(convapi, spec['sender'])))
                self.assertTrue(callable(getattr(convapi, spec['builder'])))
                self.assertIn(spec['model'], self.env)
                self.assertEqual(
                    self.env[spec['model']]._conversions_api_platform, platform)
                prefix = spec['parameter_prefix']
                self.assertEqual(settings_fields[f'capi_{platform}_enabled'].config_parameter,
                                 f'{prefix}.enabled')
                for fname, key in spec['parameters'].items():
                    self.assertEqual(
                        settings_fields[f'capi_{platform}_{fname}'].config_parameter,
                        f'{prefix}.{key}')
                self.assertEqual(settings_fields[f'capi_{platform}_base_url'].config_parameter,
                                 spec['base_url_parameter'])
                self.assertIn(f'conversions_api_{platform}_setting', settings)
                self.assertIn(f'name="capi_{platform}_base_url"', settings)
                self.assertIn(f'string="{spec["labels"]["pixel_id"]}" '
                              f'invisible="platform != \'{platform}\'"', form)
                self.assertIn(f'name="filter_{platform}"', service_search)
                self.assertIn(f'name="filter_{platform}"', event_search)
        self.assertNotIn('filter_platforms', service_search + event_search)
        # the secrets stay for administrators
        for platform in const.PLATFORMS:
            self.assertEqual(settings_fields[f'capi_{platform}_access_token'].groups,
                             'base.group_system')
        self.assertEqual(Service._fields['access_token'].groups, 'base.group_system')

    def test_platform_labels_and_notices(self):
        self.assertEqual(self.ga4_service.platform_test, 'flag')
        self.assertEqual(self.meta_service.platform_test, 'code')
        self.assertEqual(self.pinterest_service.platform_tag_field, 'tag_id')
        self.assertFalse(self.ga4_service.platform_tag_field, 'the addon loads no gtag')
        self.assertIn('complement', self.ga4_service.platform_notice)
        self.assertIn('transaction_id', self.ga4_service.platform_notice)
        self.assertFalse(self.meta_service.platform_notice)
        with self.assertRaisesRegex(Exception, 'Measurement ID or API secret'):
            self.ga4_service.copy({'access_token': False})._make_sender()

    def test_ga4_service_sends_purchase_only_by_default(self):
        purchase = self.env.ref('conversions_api.event_type_purchase')
        self.assertEqual(self.ga4_service.event_type_ids, purchase)
        self.assertEqual(self.pinterest_service.event_type_ids,
                         self.env['conversions.api.event.type'].search([]))
        # the service form: choosing GA4 picks its default events
        with Form(self.env['conversions.api.service']) as form:
            form.name = 'GA4 from the form'
            self.assertGreater(len(form.event_type_ids), 1)
            form.platform = 'ga4'
            self.assertEqual([record.id for record in form.event_type_ids], purchase.ids)
            form.pixel_id = 'G-FORM0001'
        # the system-parameter service too
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('ga4_mp.enabled', 'True')
        params.set_param('ga4_mp.measurement_id', 'G-FALLBACK1')
        params.set_param('ga4_mp.api_secret', GA4_API_SECRET)
        fallback = self.Service._system_fallback_service('ga4')
        self.assertEqual(fallback.event_type_ids, purchase)

    def test_complement_mode_queues_only_purchase_for_ga4(self):
        context = self.visitor_context()
        for name, custom in (('PageView', {}), ('ViewContent', {'content_ids': ['1']}),
                             ('AddToCart', {'value': 5.0, 'currency': 'EUR',
                                            'contents': CONTENTS}),
                             ('InitiateCheckout', {'value': 5.0, 'currency': 'EUR'})):
            rows = self.send(name, platforms=None, custom_data=custom, request_context=context)
            self.assertEqual(set(rows.mapped('platform')), {'meta', 'tiktok', 'pinterest'}, name)
        rows = self.send('Purchase', platforms=None, custom_data=PURCHASE, event_id='purchase-1',
                         request_context=context)
        self.assertEqual(set(rows.mapped('platform')), set(const.PLATFORMS))

    def test_ga4_needs_a_client_id(self):
        """A visitor without a _ga cookie (or a server event with no shopper behind it) has
        no client_id: nothing is queued for GA4, quietly; the other platforms get theirs."""
        with self.assertNoLogs('odoo.addons.conversions_api', level='WARNING'):
            rows = self.send('Purchase', platforms=None, custom_data=PURCHASE,
                             event_id='purchase-no-ga',
                             request_context=self.visitor_context(client_id=None))
        self.assertEqual(set(rows.mapped('platform')), {'meta', 'tiktok', 'pinterest'})

    def test_platform_only_keys_stay_with_their_platform(self):
        rows = self.by_platform(self.send('Purchase', platforms=None, custom_data=PURCHASE,
                                          event_id='purchase-keys',
                                          request_context=self.visitor_context()))
        meta = json.loads(rows['meta'].payload)['user']
        pinterest = json.loads(rows['pinterest'].payload)['user']
        ga4 = json.loads(rows['ga4'].payload)['user']
        for key in ('click_id', 'client_id', 'session_id'):
            self.assertNotIn(key, meta)
        self.assertEqual(pinterest['click_id'], EPIK)
        self.assertNotIn('client_id', pinterest)
        self.assertNotIn('click_id', ga4)
        self.assertIn('client_id', ga4)
        self.assertEqual(str(ga4['session_id']), GA_SESSION_ID)

    def test_match_key_switch_covers_the_new_ids(self):
        (self.pinterest_service | self.ga4_service).write({'match_click_ids': False})
        rows = self.by_platform(self.send('Purchase', platforms=None, custom_data=PURCHASE,
                                          event_id='purchase-no-ids',
                                          request_context=self.visitor_context()))
        self.assertNotIn('click_id', json.loads(rows['pinterest'].payload)['user'])
        self.assertNotIn('ga4', rows, 'GA4 cannot send without the client id it may not get')


@tagged('post_install', '-at_install')
class TestPinterestDelivery(FourPlatformsCase):

    def test_send_event_delivers_to_pinterest(self):
        rows = self.env['pinterest.conversions.api'].send_event(
            'Purchase', user_data={'email': ' Jane.Doe@Example.com '}, custom_data=PURCHASE,
            event_id='purchase-7', event_source_url='https://shop.example.com/shop/confirmation',
            website=self.website, request_context=self.visitor_context())
        self.assertEqual(rows.service_id, self.pinterest_service)
        stored = json.loads(rows.payload)
        self.assertNotIn('jane', rows.payload.lower(), 'no plain personal data is stored')
        self.assertEqual(stored['user']['click_id'], EPIK)
        self.assertEqual(self.Event._flush_outbox(), 1)
        self.assertEqual(rows.state, 'sent', rows.error)
        received = self.fake.pinterest_events(PINTEREST_AD_ACCOUNT)
        self.assertEqual(len(received), 1)
        event = received[0]
        self.assertEqual(event['event_name'], 'checkout')
        self.assertEqual(event['event_id'], 'purchase-7')
        self.assertEqual(event['action_source'], 'web')
        self.assertEqual(event['user_data']['click_id'], EPIK)
        self.assertEqual(_as_list(event['user_data']['em']), [sha256('jane.doe@example.com')])
        self.assertIsInstance(event['custom_data']['value'], str, 'Pinterest values are strings')
        self.assertAlmostEqual(float(event['custom_data']['value']), 59.8)
        self.assertEqual(event['custom_data']['order_id'], 'S00042')
        request = self.fake.requests_for('pinterest')[0]
        self.assertFalse(request.token_in_url)
        self.assertFalse(request.test_mode)

    def test_partial_failure_fails_only_the_refused_rows(self):
        rows = self.Event
        for index in range(4):
            rows |= self.send('ViewContent', platforms=('pinterest',),
                              event_id=f'pin-partial-{index}', custom_data={'content_ids': ['1']},
                              request_context=self.visitor_context())
        # Pinterest's clock a day ahead of ours: an event six and a half days old passes
        # convapi's 7-day rule and fails Pinterest's, alone (a 200 with its status "failed")
        clock = self.fake.clock
        self.fake.clock = lambda: clock() + 24 * 3600
        self.addCleanup(setattr, self.fake, 'clock', clock)
        bad = rows.sorted('id')[1]
        old = fields.Datetime.now() - timedelta(days=6, hours=12)
        payload = json.loads(bad.payload)
        payload['event_time'] = int(old.replace(tzinfo=timezone.utc).timestamp())
        bad.write({'payload': json.dumps(payload), 'event_time': old})
        self.assertEqual(self.Event._flush_outbox(), 4)
        self.assertEqual(len(self.fake.requests_for('pinterest')), 1, 'one request, not split')
        self.assertEqual(bad.state, 'failed')
        self.assertEqual(bad.attempts, 1)
        self.assertIn('more than 7 days in the past', bad.error, "the platform's message")
        self.assertEqual([(a.attempt, a.outcome) for a in bad.attempt_ids], [(1, 'failed')])
        good = rows - bad
        self.assertEqual(set(good.mapped('state')), {'sent'})
        self.assertEqual(sorted(e['event_id'] for e in self.fake.pinterest_events()),
                         sorted(good.mapped('event_id')))
        # processed rows are never sent again, the refused one neither
        for days in (0, 1):
            self.assertEqual(
                self.Event._flush_outbox(now=fields.Datetime.now() + timedelta(days=days)), 0)
        self.assertEqual(len(self.fake.requests_for('pinterest')), 1)

    def test_test_mode_and_send_test_event(self):
        # no test code needed: Pinterest's test mode is a flag (?test=true)
        action = self.pinterest_service.action_send_test_event()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        request = self.fake.requests_for('pinterest')[-1]
        self.assertTrue(request.test_mode)
        self.assertFalse(self.fake.pinterest_events(), 'a test request records nothing')
        self.assertFalse(self.Event.search([]), 'a test event does not go through the outbox')
        # a service in test mode sends every event so
        self.pinterest_service.test_mode = True
        row = self.send('AddToCart', platforms=('pinterest',), event_id='pin-test-mode',
                        custom_data={'value': 5.0, 'currency': 'EUR', 'contents': CONTENTS},
                        request_context=self.visitor_context())
        self.Event._flush_outbox()
        self.assertEqual(row.state, 'sent', row.error)
        self.assertTrue(self.fake.requests_for('pinterest')[-1].test_mode)
        self.assertFalse(self.fake.pinterest_events())
        # a refused token: the platform's answer, shown
        self.fake.inject('pinterest', 'pinterest_error', status=401, code=2,
                         message='Authentication failed.')
        action = self.pinterest_service.action_send_test_event()
        self.assertEqual(action['params']['type'], 'danger')
        self.assertIn('Authentication failed', action['params']['message'])
        self.assertNotIn(TOKEN, action['params']['message'])

    def test_transient_failure_is_retried(self):
        row = self.send('Purchase', platforms=('pinterest',), event_id='pin-503',
                        custom_data=PURCHASE, request_context=self.visitor_context())
        self.fake.inject('pinterest', 'http_503')
        now = fields.Datetime.now()
        self.Event._flush_outbox(now=now)
        self.assertEqual(row.state, 'retrying')
        self.Event._flush_outbox(now=row.next_attempt + timedelta(minutes=1))
        self.assertEqual(row.state, 'sent', row.error)
        self.assertEqual([e['event_id'] for e in self.fake.pinterest_events()], ['pin-503'])


@tagged('post_install', '-at_install')
class TestGA4Delivery(FourPlatformsCase):

    def test_purchase_with_transaction_id_client_id_and_session(self):
        partner = self.env['res.partner'].create({
            'name': 'Jane Doe', 'email': 'Jane.Doe@gmail.com', 'city': 'Paris',
            'country_id': self.env.ref('base.fr').id})
        rows = self.env['ga4.measurement.protocol'].send_event(
            'Purchase', partner=partner, custom_data=PURCHASE, event_id='purchase-9',
            event_source_url='https://shop.example.com/shop/confirmation',
            website=self.website, request_context=self.visitor_context())
        self.assertEqual(rows.service_id, self.ga4_service)
        stored = json.loads(rows.payload)
        self.assertNotIn('jane', rows.payload.lower())
        self.assertNotIn('paris', rows.payload.lower(), 'GA4 sends the city plain: not stored')
        self.assertEqual(stored['consent'], {'ad_user_data': True, 'ad_personalization': True})
        self.assertEqual(self.Event._flush_outbox(), 1)
        self.assertEqual(rows.state, 'sent', rows.error)
        received = self.fake.ga4_events(GA4_MEASUREMENT_ID)
        self.assertEqual(len(received), 1, self.fake.ga4_dropped())
        event = received[0]
        self.assertEqual(event['name'], 'purchase')
        self.assertEqual(event['params']['transaction_id'], 'S00042')
        self.assertEqual(event['client_id'], GA_CLIENT_ID)
        self.assertEqual(str(event['params']['session_id']), GA_SESSION_ID)
        self.assertEqual(event['user_id'], str(partner.id))
        # GA4's own email rule: a gmail address loses its dots before hashing
        self.assertEqual(_as_list(event['user_data']['sha256_email_address']),
                         [sha256('janedoe@gmail.com')])
        self.assertEqual(event['consent'], {'ad_user_data': 'GRANTED',
                                            'ad_personalization': 'GRANTED'})
        self.assertEqual(self.fake.ga4_transaction_counts()[(GA4_MEASUREMENT_ID, 'S00042')], 1)

    def test_one_request_per_visitor(self):
        other = self.visitor_context(client_id='GA1.1.999888777.1700000001', session_ids=None)
        for index, context in enumerate((self.visitor_context(), other, self.visitor_context())):
            self.send('Purchase', platforms=('ga4',), event_id=f'purchase-v{index}',
                      custom_data=dict(PURCHASE, order_id=f'S1000{index}'),
                      request_context=context)
        self.assertEqual(self.Event._flush_outbox(), 3)
        requests = self.fake.requests_for('ga4')
        self.assertEqual(len(requests), 2, 'the two visitors, one request each')
        self.assertEqual(sorted(e['client_id'] for e in self.fake.ga4_events()),
                         sorted([GA_CLIENT_ID, GA_CLIENT_ID, '999888777.1700000001']))

    def test_transient_failure_leaves_the_other_visitors_for_later(self):
        rows = self.Event
        for index in range(3):
            rows |= self.send('Purchase', platforms=('ga4',), event_id=f'purchase-t{index}',
                              custom_data=dict(PURCHASE, order_id=f'S2000{index}'),
                              request_context=self.visitor_context(
                                  client_id=f'GA1.1.{100000 + index}.1700000000'))
        self.fake.inject('ga4', 'http_503')
        self.Event._flush_outbox()
        self.assertEqual(len(self.fake.requests_for('ga4')), 1, 'no request after the failure')
        self.assertEqual(sorted(rows.mapped('state')), ['queued', 'queued', 'retrying'])
        self.assertTrue(self.ga4_service.pause_failures)

    def test_consent(self):
        denied = self.visitor_context(consent='denied')
        self.assertFalse(self.send('Purchase', platforms=('ga4',), custom_data=PURCHASE,
                                   request_context=denied), 'skip policy')
        self.ga4_service.consent_policy = 'ldu'
        row = self.send('Purchase', platforms=('ga4',), custom_data=PURCHASE,
                        event_id='purchase-ldu', request_context=denied)
        self.assertEqual(json.loads(row.payload)['consent'],
                         {'ad_user_data': False, 'ad_personalization': False})
        # the anonymous policy keeps no cookie: GA4 has no client id then, and gets nothing
        self.ga4_service.consent_policy = 'anonymous'
        self.assertFalse(self.send('Purchase', platforms=('ga4',), custom_data=PURCHASE,
                                   event_id='purchase-anon', request_context=denied))
        # Limited Data Use: no personalised ads
        self.ga4_service.write({'consent_policy': 'skip', 'limited_data_use': True})
        row = self.send('Purchase', platforms=('ga4',), custom_data=PURCHASE,
                        event_id='purchase-granted-ldu', request_context=self.visitor_context())
        self.assertEqual(json.loads(row.payload)['consent'],
                         {'ad_user_data': True, 'ad_personalization': False})

    def test_send_test_event_uses_the_validation_server(self):
        action = self.ga4_service.action_send_test_event()
        self.assertEqual(action['params']['type'], 'success', action['params']['message'])
        request = self.fake.requests_for('ga4')[-1]
        self.assertTrue(request.test_mode, 'sent to /debug/mp/collect')
        self.assertFalse(self.fake.ga4_events(), 'the validation server records nothing')
        self.assertNotIn(GA4_API_SECRET, json.dumps(action))

    def test_api_secret_is_never_logged_or_shown(self):
        row = self.send('Purchase', platforms=('ga4',), custom_data=PURCHASE,
                        event_id='purchase-secret', request_context=self.visitor_context())
        self.fake.inject('ga4', 'ga4_status', status=403, message='Forbidden')
        with self.assertLogs(level=logging.DEBUG) as logs:
            self.Event._flush_outbox()
            action = self.ga4_service.action_send_test_event()
        self.assertEqual(row.state, 'failed')
        text = '\n'.join(logs.output) + (row.error or '') + (row.response or '') + json.dumps(
            action)
        self.assertNotIn(GA4_API_SECRET, text)
        # the protocol puts it in the URL: the request had it there, and only there
        request = self.fake.requests_for('ga4')[0]
        self.assertNotIn(GA4_API_SECRET, repr(request))
        self.assertNotIn(GA4_API_SECRET, repr(self.ga4_service.sudo()._make_sender()))


@tagged('post_install', '-at_install')
class TestPlatformSettings(FourPlatformsCase):

    def test_settings_round_trip_for_pinterest_and_ga4(self):
        settings = self.env['res.config.settings'].create({
            'capi_pinterest_enabled': True,
            'capi_pinterest_pixel_id': '123456789',
            'capi_pinterest_access_token': TOKEN,
            'capi_pinterest_tag_id': PINTEREST_TAG,
            'capi_pinterest_test_mode': True,
            'capi_ga4_enabled': True,
            'capi_ga4_pixel_id': 'G-FALLBACK1',
            'capi_ga4_access_token': GA4_API_SECRET,
            'capi_ga4_base_url': 'http://127.0.0.1:1',
        })
        settings.execute()
        params = self.env['ir.config_parameter'].sudo()
        self.assertEqual(params.get_param('pinterest_capi.enabled'), 'True')
        self.assertEqual(params.get_param('pinterest_capi.ad_account_id'), '123456789')
        self.assertEqual(params.get_param('pinterest_capi.access_token'), TOKEN)
        self.assertEqual(params.get_param('pinterest_capi.tag_id'), PINTEREST_TAG)
        self.assertEqual(params.get_param('pinterest_capi.test_mode'), 'True')
        self.assertEqual(params.get_param('ga4_mp.measurement_id'), 'G-FALLBACK1')
        self.assertEqual(params.get_param('ga4_mp.api_secret'), GA4_API_SECRET)
        self.assertEqual(params.get_param('conversions_api.ga4_base_url'), 'http://127.0.0.1:1')
        Service = self.Service.with_context(active_test=False)
        pinterest = Service.search([('is_system_fallback', '=', True),
                                    ('platform', '=', 'pinterest')])
        self.assertEqual((pinterest.pixel_id, pinterest.tag_id, pinterest.test_mode),
                         ('123456789', PINTEREST_TAG, True))
        ga4 = Service.search([('is_system_fallback', '=', True), ('platform', '=', 'ga4')])
        self.assertTrue(ga4.active)
        self.assertEqual(ga4.event_type_ids.mapped('code'), ['Purchase'])
        # the website's own services win; without them, the system parameters fill in
        self.assertEqual(self.Service._services_for_website(self.website), self.services)
        (self.pinterest_service | self.ga4_service).active = False
        services = self.Service._services_for_website(self.website)
        self.assertEqual(services - self.meta_service - self.tiktok_service, pinterest | ga4)
        # switched off: the booleans' parameters are gone, the fallback archived
        self.env['res.config.settings'].create({
            'capi_pinterest_enabled': False, 'capi_pinterest_test_mode': False,
            'capi_ga4_enabled': True, 'capi_ga4_pixel_id': 'G-FALLBACK1',
            'capi_ga4_access_token': GA4_API_SECRET}).execute()
        self.assertFalse(params.get_param('pinterest_capi.enabled'))
        self.assertFalse(params.get_param('pinterest_capi.test_mode'))
        self.assertFalse(pinterest.active)
        reloaded = self.env['res.config.settings'].create({})
        self.assertTrue(reloaded.capi_ga4_enabled)
        self.assertEqual(reloaded.capi_ga4_pixel_id, 'G-FALLBACK1')


@tagged('post_install', '-at_install')
class TestPlatformConsole(FourPlatformsCase):

    def test_console_counts_and_retention_for_every_platform(self):
        rows = self.send('Purchase', platforms=None, custom_data=PURCHASE, event_id='purchase-c',
                         request_context=self.visitor_context())
        self.assertEqual(set(rows.mapped('platform')), set(const.PLATFORMS))
        self.Event._flush_outbox()
        self.assertEqual(set(rows.mapped('state')), {'sent'}, rows.mapped('error'))
        for service in self.services:
            self.assertEqual(service.sent_count_24h, 1, service.platform)
            action = service.action_view_events()
            self.assertEqual(self.Event.search(action['domain']), service_rows(rows, service))
        labels = dict(self.Event._fields['platform']._description_selection(self.env))
        self.assertEqual(labels['ga4'], const.PLATFORMS['ga4']['label'])
        for platform in const.PLATFORMS:
            self.assertEqual(self.Event.search_count(
                [('platform', '=', platform), ('event_id', '=', 'purchase-c')]), 1)
        # retention: every platform's rows sanitised alike
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('conversions_api.retention_days', '30')
        params.set_param('conversions_api.retention_strategy', 'sanitise')
        self.env.flush_all()
        self.env.cr.execute('UPDATE conversions_api_event SET create_date = %s WHERE id = ANY(%s)',
                            [fields.Datetime.now() - timedelta(days=40), rows.ids])
        rows.invalidate_recordset()
        self.assertEqual(self.Event._cron_retention(), 4)
        self.assertEqual(rows.mapped('sanitized'), [True] * 4)
        self.assertFalse(any(rows.mapped('payload')))

    def test_stale_ga4_rows_fail_after_72_hours(self):
        row = self.send('Purchase', platforms=('ga4',), custom_data=PURCHASE,
                        event_id='purchase-stale', request_context=self.visitor_context())
        row.event_time = fields.Datetime.now() - timedelta(hours=73)
        self.Event._flush_outbox()
        self.assertEqual(row.state, 'failed')
        self.assertIn('72 hours', row.error)
        self.assertFalse(self.fake.requests_for('ga4'))


def service_rows(rows, service):
    return rows.filtered(lambda row: row.service_id == service)
