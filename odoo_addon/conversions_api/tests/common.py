"""Shared fixtures: a FakeAdServer per test class, services pointing at it."""

import hashlib

from convapi.testing import FakeAdServer
from odoo.tests.common import TransactionCase

from .. import const

META_PIXEL = '1234567890'
TIKTOK_PIXEL = 'CTESTPIXEL0001'
PINTEREST_AD_ACCOUNT = '549755885175'
PINTEREST_TAG = '2612345678901'  # the browser tag: not the ad account
GA4_MEASUREMENT_ID = 'G-CONVAPI01'
GA4_API_SECRET = 'ga4-test-api-secret-XyZ'
TOKEN = 'conversions-api-test-token'
USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) conversions_api tests'


def sha256(value):
    return hashlib.sha256(value.encode()).hexdigest()


def point_params_at(env, fake):
    """Route every platform to the fake and keep the sender from retrying on its own."""
    params = env['ir.config_parameter'].sudo()
    for spec in const.PLATFORMS.values():
        params.set_param(spec['base_url_parameter'], fake.base_url)
    params.set_param('conversions_api.sender_max_retries', '0')
    params.set_param('conversions_api.sender_timeout', '5')
    delete_params(env, [f'{prefix}.enabled' for prefix in const.SYSTEM_PARAMETER_PREFIX.values()])


# A visitor's GA4 cookies as gtag sets them, and the ids GA4 reads from them.
GA_COOKIE = 'GA1.1.1234567890.1700000000'
GA_CLIENT_ID = '1234567890.1700000000'
GA_SESSION_COOKIE = 'GS2.1.s1746825440$o3$g1$t1746825500$j0$l0$h0'
GA_SESSION_ID = '1746825440'
# Pinterest's click id (the epik parameter of a promoted pin's link).
EPIK = 'dj0yJnU9ZXBpa1Rlc3RDbGljayZuPWNvbnZhcGk'


def add_pinterest_and_ga4_services(cls, website, **values):
    """A Pinterest ad account (with its browser tag) and a GA4 web stream on ``website``, as
    ``cls.pinterest_service`` and ``cls.ga4_service``."""
    Service = cls.env['conversions.api.service']
    cls.pinterest_service = Service.create(dict({
        'name': 'Pinterest test account', 'platform': 'pinterest',
        'pixel_id': PINTEREST_AD_ACCOUNT, 'access_token': TOKEN, 'tag_id': PINTEREST_TAG,
        'website_id': website.id,
    }, **values))
    cls.ga4_service = Service.create(dict({
        'name': 'GA4 test stream', 'platform': 'ga4', 'pixel_id': GA4_MEASUREMENT_ID,
        'access_token': GA4_API_SECRET, 'website_id': website.id,
    }, **values))


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
