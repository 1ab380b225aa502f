from odoo.tests import tagged

from .common import META_PIXEL, TOKEN, ConversionsApiCase


@tagged('post_install', '-at_install')
class TestSettings(ConversionsApiCase):

    def test_settings_round_trip(self):
        settings = self.env['res.config.settings'].create({
            'capi_meta_enabled': True,
            'capi_meta_pixel_id': META_PIXEL,
            'capi_meta_access_token': TOKEN,
            'capi_meta_test_event_code': 'TEST123',
            'capi_tiktok_enabled': False,
            'capi_retention_days': 12,
            'capi_retention_strategy': 'delete',
            'capi_meta_base_url': 'http://127.0.0.1:1',
        })
        settings.execute()
        params = self.env['ir.config_parameter'].sudo()
        self.assertEqual(params.get_param('meta_capi.pixel_id'), META_PIXEL)
        self.assertEqual(params.get_param('meta_capi.access_token'), TOKEN)
        self.assertEqual(params.get_param('meta_capi.test_event_code'), 'TEST123')
        self.assertEqual(params.get_param('conversions_api.retention_days'), '12')
        self.assertEqual(params.get_param('conversions_api.retention_strategy'), 'delete')
        self.assertEqual(params.get_param('conversions_api.meta_base_url'), 'http://127.0.0.1:1')

        reloaded = self.env['res.config.settings'].create({})
        self.assertTrue(reloaded.capi_meta_enabled)
        self.assertFalse(reloaded.capi_tiktok_enabled)
        self.assertEqual(reloaded.capi_meta_pixel_id, META_PIXEL)
        self.assertEqual(reloaded.capi_meta_access_token, TOKEN)
        self.assertEqual(reloaded.capi_retention_days, 12)
        self.assertEqual(reloaded.capi_retention_strategy, 'delete')

        # Saving the settings materialises the system-parameter service.
        fallback = self.Service.with_context(active_test=False).search(
            [('is_system_fallback', '=', True), ('platform', '=', 'meta')])
        self.assertEqual(len(fallback), 1)
        self.assertTrue(fallback.active)
        self.assertEqual(fallback.pixel_id, META_PIXEL)
        self.assertEqual(fallback.test_event_code, 'TEST123')

        settings = self.env['res.config.settings'].create({'capi_meta_enabled': False})
        settings.execute()
        self.assertFalse(fallback.active)

    def test_system_parameters_fill_in_for_a_website_without_service(self):
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('meta_capi.enabled', 'True')
        params.set_param('meta_capi.pixel_id', '555000')
        params.set_param('meta_capi.access_token', TOKEN)
        params.set_param('tiktok_eapi.enabled', '1')
        params.set_param('tiktok_eapi.pixel_id', 'CFALLBACK')
        params.set_param('tiktok_eapi.access_token', TOKEN)
        services = self.Service._services_for_website(self.website)
        # The website has its own Meta and TikTok services: no fallback.
        self.assertEqual(services, self.meta_service | self.tiktok_service)

        self.tiktok_service.active = False
        services = self.Service._services_for_website(self.website)
        self.assertEqual(services.filtered(lambda s: s.platform == 'meta'), self.meta_service)
        fallback = services.filtered(lambda s: s.platform == 'tiktok')
        self.assertTrue(fallback.is_system_fallback)
        self.assertEqual(fallback.pixel_id, 'CFALLBACK')
        # Asking again reuses the same record; a changed parameter updates it.
        params.set_param('tiktok_eapi.pixel_id', 'CFALLBACK2')
        again = self.Service._services_for_website(self.website)
        self.assertEqual(again.filtered(lambda s: s.platform == 'tiktok'), fallback)
        self.assertEqual(fallback.pixel_id, 'CFALLBACK2')
