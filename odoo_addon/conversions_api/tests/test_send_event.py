import json

from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..models import conversions_api_event
from .common import META_PIXEL, TIKTOK_PIXEL, TOKEN, USER_AGENT, ConversionsApiCase, sha256

SEED_ACTION_CODE = """
meta_api = env["meta.conversions.api"]
meta_api.send_event(
    event_name="Purchase",
    user_data={"em": "Seed.Buyer@Example.com", "ph": "+1 (650) 555-1212"},
    custom_data={"value": 99.9, "currency": "USD"},
)
"""


@tagged('post_install', '-at_install')
class TestSendEvent(ConversionsApiCase):

    def test_send_event_queues_then_delivers_hashed(self):
        events = self.env['meta.conversions.api'].send_event(
            'Purchase',
            user_data={'email': ' John.Doe@Example.COM ', 'phone': '+33 6 12 34 56 78',
                       'first_name': 'John', 'client_user_agent': USER_AGENT},
            custom_data={'value': 120.0, 'currency': 'EUR', 'content_ids': ['SKU-1']},
            event_id='order-1',
            event_source_url='https://shop.example.com/shop/confirmation',
            website=self.website,
        )
        self.assertEqual(len(events), 1)
        self.assertEqual(events.service_id, self.meta_service)
        self.assertEqual(events.state, 'queued')
        self.assertEqual(events.event_id, 'order-1')
        self.assertFalse(self.fake.requests, 'nothing is sent before the flush')
        # The outbox never keeps raw personal data.
        self.assertNotIn('john', events.payload.lower())
        self.assertNotIn('612345678', events.payload)
        stored = json.loads(events.payload)
        self.assertEqual(_as_list(stored['user']['em']), [sha256('john.doe@example.com')])

        self.assertEqual(self.Event._flush_outbox(), 1)
        self.assertEqual(events.state, 'sent')
        self.assertEqual(events.attempts, 1)
        self.assertTrue(events.trace_id)
        self.assertTrue(events.sent_date)
        received = self.fake.meta_events(META_PIXEL)
        self.assertEqual(len(received), 1)
        event = received[0]
        self.assertEqual(event['event_name'], 'Purchase')
        self.assertEqual(event['event_id'], 'order-1')
        self.assertEqual(event['action_source'], 'website')
        self.assertIn(sha256('john.doe@example.com'), _as_list(event['user_data']['em']))
        self.assertIn(sha256('33612345678'), _as_list(event['user_data']['ph']))
        self.assertIn(sha256('john'), _as_list(event['user_data']['fn']))
        self.assertEqual(event['custom_data']['currency'], 'EUR')
        self.assertEqual(self.fake.requests[0].platform, 'meta')
        self.assertFalse(self.fake.requests[0].token_in_url)
        self.assertEqual(self.meta_service.sent_count_24h, 1)

    def test_seed_style_server_action_unchanged(self):
        """The call pasted from the seed works as is, here on the system parameters."""
        self.meta_service.active = False
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('meta_capi.enabled', 'True')
        params.set_param('meta_capi.pixel_id', '777000')
        params.set_param('meta_capi.access_token', TOKEN)
        action = self.env['ir.actions.server'].create({
            'name': 'Seed: send Purchase',
            'model_id': self.env.ref('base.model_res_partner').id,
            'state': 'code',
            'code': SEED_ACTION_CODE,
        })
        action.with_context(active_model='res.partner', active_id=self.env.user.partner_id.id,
                            active_ids=self.env.user.partner_id.ids).run()
        queued = self.Event.search([('event_name', '=', 'Purchase'),
                                    ('service_id.pixel_id', '=', '777000')])
        self.assertEqual(len(queued), 1)
        self.assertTrue(queued.service_id.is_system_fallback)
        self.Event._flush_outbox()
        self.assertEqual(queued.state, 'sent', queued.error)
        received = self.fake.meta_events('777000')
        self.assertEqual(len(received), 1)
        user = received[0]['user_data']
        self.assertIn(sha256('seed.buyer@example.com'), _as_list(user['em']))
        self.assertIn(sha256('16505551212'), _as_list(user['ph']))
        # No browser behind a server action: not a "website" event for Meta.
        self.assertEqual(received[0]['action_source'], 'system_generated')
        self.assertEqual(received[0]['custom_data']['value'], 99.9)

    def test_tiktok_send_event(self):
        events = self.env['tiktok.events.api'].send_event(
            'AddToCart', user_data={'email': 'tt@example.com', 'phone': '+33 6 12 34 56 78'},
            custom_data={'value': 5, 'currency': 'EUR', 'content_ids': ['A']},
            event_id='cart-1', request_context=self.browser_context(ttclid='E.C.P.abc'))
        self.assertEqual(events.service_id, self.tiktok_service)
        self.Event._flush_outbox()
        self.assertEqual(events.state, 'sent', events.error)
        received = self.fake.tiktok_events(TIKTOK_PIXEL)
        self.assertEqual(len(received), 1)
        self.assertEqual(received[0]['event_id'], 'cart-1')
        # TikTok hashes the E.164 form, '+' included (Meta: digits only).
        self.assertEqual(_as_list(received[0]['user']['phone']), [sha256('+33612345678')])
        self.assertEqual(received[0]['user']['ttclid'], 'E.C.P.abc')
        self.assertFalse(self.fake.meta_events())

    def test_one_row_per_service_and_no_duplicate(self):
        first = self.send('Purchase', platforms=None, event_id='order-7')
        self.assertEqual(first.service_id, self.meta_service | self.tiktok_service)
        again = self.send('Purchase', platforms=None, event_id='order-7')
        self.assertEqual(again, first)
        self.assertEqual(self.Event.search_count([('event_id', '=', 'order-7')]), 2)

    def test_partner_fills_advanced_matching(self):
        partner = self.env['res.partner'].create({
            'name': 'Marie Curie', 'email': 'Marie@Example.org', 'phone': '+33 1 23 45 67 89',
            'city': 'Paris', 'zip': '75005', 'country_id': self.env.ref('base.fr').id,
        })
        event = self.send('Lead', partner=partner, custom_data={})
        user = json.loads(event.payload)['user']
        self.assertEqual(_as_list(user['em']), [sha256('marie@example.org')])
        self.assertEqual(_as_list(user['ph']), [sha256('33123456789')])
        self.assertEqual(_as_list(user['fn']), [sha256('marie')])
        self.assertEqual(_as_list(user['ln']), [sha256('curie')])
        self.assertEqual(_as_list(user['ct']), [sha256('paris')])
        self.assertEqual(_as_list(user['country']), [sha256('fr')])
        self.assertEqual(_as_list(user['external_id']), [sha256(str(partner.id))])
        self.assertEqual(user['client_user_agent'], USER_AGENT)

    def test_service_switches_filter_match_keys_and_events(self):
        self.meta_service.write({'match_email': False, 'match_ip_user_agent': False})
        event = self.send('Purchase', user_data={'email': 'a@example.com', 'phone': '+14155550100'})
        user = json.loads(event.payload)['user']
        self.assertNotIn('em', user)
        self.assertNotIn('client_ip_address', user)
        self.assertIn('ph', user)
        self.meta_service.event_type_ids -= self.env.ref('conversions_api.event_type_search')
        self.assertFalse(self.send('Search', custom_data={'search_string': 'shoes'}))

    def test_consent_policies(self):
        denied = self.browser_context(consent='denied', fbp='fb.1.1596403881668.1116446470')
        user_data = {'email': 'c@example.com'}
        self.assertFalse(self.send('AddToCart', request_context=denied, user_data=user_data))
        self.meta_service.consent_policy = 'anonymous'
        event = self.send('AddToCart', request_context=denied, user_data=user_data,
                          event_id='anon')
        self.assertEqual(json.loads(event.payload)['user'],
                         {'client_ip_address': '203.0.113.0', 'client_user_agent': USER_AGENT})
        self.meta_service.consent_policy = 'ldu'
        event = self.send('AddToCart', request_context=denied, user_data=user_data,
                          event_id='ldu')
        payload = json.loads(event.payload)
        self.assertTrue(payload['limited_data_use'])
        self.assertIn('em', payload['user'])
        self.Event._flush_outbox()
        self.assertEqual(event.state, 'sent', event.error)
        sent = [e for e in self.fake.meta_events(META_PIXEL) if e['event_id'] == 'ldu']
        self.assertEqual(sent[0].get('data_processing_options'), ['LDU'])

    def test_invalid_event_is_logged_not_raised(self):
        with self.assertLogs('odoo.addons.conversions_api', level='WARNING'):
            events = self.send('Purchase', custom_data={'value': 10})  # no currency
        self.assertFalse(events)

    def test_flush_cron_is_triggered_once_per_transaction(self):
        conversions_api_event._last_trigger.clear()  # a real commit elsewhere starts the throttle
        cron = self.env.ref(conversions_api_event.FLUSH_CRON)
        Trigger = self.env['ir.cron.trigger'].sudo()
        before = Trigger.search([('cron_id', '=', cron.id)])
        self.send('ViewContent', custom_data={'content_ids': ['1']})
        self.send('ViewContent', custom_data={'content_ids': ['2']})
        self.assertEqual(len(Trigger.search([('cron_id', '=', cron.id)]) - before), 1)
        self.assertFalse(self.fake.requests, 'delivery is the job of the cron')

    def test_portal_user_cannot_call_send_event(self):
        portal = self.env['res.users'].create({
            'name': 'Portal', 'login': 'capi_portal', 'email': 'portal@example.com',
            'groups_id' if 'groups_id' in self.env['res.users']._fields else 'group_ids':
                [(6, 0, [self.env.ref('base.group_portal').id])],
        })
        with self.assertRaises(AccessError):
            self.env['meta.conversions.api'].with_user(portal).send_event('Purchase')


def _as_list(value):
    return value if isinstance(value, list) else [value]
