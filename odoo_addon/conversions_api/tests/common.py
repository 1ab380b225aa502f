"""Shared fixtures: a FakeAdServer per test class, services pointing at it."""

import hashlib

from convapi.testing import FakeAdServer
from odoo.tests.common import TransactionCase

META_PIXEL = '1234567890'
TIKTOK_PIXEL = 'CTESTPIXEL0001'
TOKEN = 'conversions-api-test-token'
USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) conversions_api tests'


def sha256(value):
    return hashlib.sha256(value.encode()).hexdigest()


def point_params_at(env, fake):
    """Route both platforms to the fake and keep the sender from retrying on its own."""
    params = env['ir.config_parameter'].sudo()
    params.set_param('conversions_api.meta_base_url', fake.base_url)
    params.set_param('conversions_api.tiktok_base_url', fake.base_url)
    params.set_param('conversions_api.sender_max_retries', '0')
    params.set_param('conversions_api.sender_timeout', '5')
    delete_params(env, ['meta_capi.enabled', 'tiktok_eapi.enabled'])


def delete_params(env, keys):
    """Remove system parameters (set_param(key, False) does not, in some 17 trees)."""
    env['ir.config_parameter'].flush_model()
    env.cr.execute('DELETE FROM ir_config_parameter WHERE key = ANY(%s)', [list(keys)])
    env['ir.config_parameter'].invalidate_model()
    env.registry.clear_cache()


class ConversionsApiCase(TransactionCase):
    """A website with one Meta and one TikTok service, both sending to a local fake."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeAdServer().start()
        cls.addClassCleanup(cls.fake.stop)
        point_params_at(cls.env, cls.fake)
        cls.Service = cls.env['conversions.api.service']
        cls.Event = cls.env['conversions.api.event']
        # Services of the database under test must not receive our events.
        cls.Service.search([]).write({'active': False})
        cls.website = cls.env['website'].search([], limit=1)
        cls.meta_service = cls.Service.create({
            'name': 'Meta test pixel',
            'platform': 'meta',
            'pixel_id': META_PIXEL,
            'access_token': TOKEN,
            'website_id': cls.website.id,
        })
        cls.tiktok_service = cls.Service.create({
            'name': 'TikTok test pixel',
            'platform': 'tiktok',
            'pixel_id': TIKTOK_PIXEL,
            'access_token': TOKEN,
            'website_id': cls.website.id,
        })

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def browser_context(self, **values):
        context = {
            'client_ip_address': '203.0.113.7',
            'client_user_agent': USER_AGENT,
            'event_source_url': 'https://shop.example.com/shop/cart',
        }
        context.update(values)
        return context

    def send(self, event_name='Purchase', platforms=('meta',), **kwargs):
        kwargs.setdefault('website', self.website)
        kwargs.setdefault('custom_data', {'value': 42.5, 'currency': 'EUR'})
        kwargs.setdefault('request_context', self.browser_context())
        return self.Event._enqueue(
            event_name, platforms=list(platforms) if platforms else None, **kwargs)
