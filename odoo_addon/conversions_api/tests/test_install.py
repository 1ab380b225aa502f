from odoo.tests import tagged
from odoo.tests.common import TransactionCase


@tagged('post_install', '-at_install')
class TestInstall(TransactionCase):

    def test_models_data_and_crons(self):
        for model in ('conversions.api.service', 'conversions.api.event',
                      'conversions.api.event.type', 'meta.conversions.api',
                      'tiktok.events.api'):
            self.assertIn(model, self.env)
        codes = self.env['conversions.api.event.type'].search([]).mapped('code')
        for code in ('PageView', 'ViewContent', 'AddToCart', 'InitiateCheckout',
                     'AddPaymentInfo', 'Purchase', 'Search', 'Lead'):
            self.assertIn(code, codes)
        for xmlid in ('conversions_api.ir_cron_conversions_api_flush',
                      'conversions_api.ir_cron_conversions_api_retention'):
            cron = self.env.ref(xmlid)
            self.assertTrue(cron.active)
            if 'numbercall' in cron._fields:  # Odoo 17: -1 = run forever
                self.assertEqual(cron.numbercall, -1)
        flush = self.env.ref('conversions_api.ir_cron_conversions_api_flush')
        self.assertEqual((flush.interval_number, flush.interval_type), (1, 'minutes'))

    def test_menus_actions_and_views(self):
        services_menu = self.env.ref('conversions_api.menu_conversions_api_service')
        self.assertEqual(services_menu.parent_id,
                         self.env.ref('website.menu_website_global_configuration'))
        events_menu = self.env.ref('conversions_api.menu_conversions_api_event')
        self.assertEqual(events_menu.parent_id, self.env.ref('website.menu_reporting'))
        for model in ('conversions.api.service', 'conversions.api.event'):
            views = self.env[model].get_views([(False, 'list'), (False, 'form'),
                                               (False, 'search')])['views']
            self.assertIn('state' if model == 'conversions.api.event' else 'pixel_id',
                          views['list']['arch'])
            self.assertIn('<form', views['form']['arch'])
        settings = self.env['res.config.settings'].get_views([(False, 'form')])['views']
        self.assertIn('capi_meta_enabled', settings['form']['arch'])

    def test_new_service_sends_every_standard_event(self):
        service = self.env['conversions.api.service'].create({
            'name': 'Defaults', 'platform': 'meta', 'pixel_id': '42', 'access_token': 'x',
        })
        self.assertTrue(service.browser_pixel)
        self.assertEqual(service.consent_policy, 'skip')
        self.assertEqual(service.event_type_ids,
                         self.env['conversions.api.event.type'].search([]))
        self.assertTrue(service._accepts_event('Purchase'))
        self.assertTrue(service._accepts_event('MyCustomEvent'))
        service.event_type_ids -= self.env.ref('conversions_api.event_type_purchase')
        self.assertFalse(service._accepts_event('Purchase'))
        service.send_custom_events = False
        self.assertFalse(service._accepts_event('MyCustomEvent'))
        self.assertEqual(service.company_id, self.env.company)
