"""Fixtures of the storefront tests: a published product, two services, an HTTP shopper."""

import json
import re
from urllib.parse import urlsplit

from convapi.testing import FakeAdServer
from odoo import release
from odoo.tests.common import HttpCase

from .common import META_PIXEL, TIKTOK_PIXEL, TOKEN, point_params_at

ODOO_VERSION = release.version_info[0]
BROWSER_UA = ('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
              'Chrome/126.0 Safari/537.36')
FBP = 'fb.1.1700000000000.1234567890'
FBCLID = 'IwAR2Fake_CLick-Id'
TTCLID = 'E.C.P.fakeTikTokClickId'
TTP = 'ttp-cookie-value'


class StorefrontCase(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeAdServer().start()
        cls.addClassCleanup(cls.fake.stop)
        point_params_at(cls.env, cls.fake)
        cls.Service = cls.env['conversions.api.service']
        cls.Event = cls.env['conversions.api.event']
        cls.Service.search([]).write({'active': False})
        cls.website = cls.env['website'].search([], limit=1)
        cls.website.write({'cookies_bar': False})
        cls.meta_service = cls.Service.create({
            'name': 'Meta storefront', 'platform': 'meta', 'pixel_id': META_PIXEL,
            'access_token': TOKEN, 'website_id': cls.website.id,
            'consent_policy': 'anonymous',
        })
        cls.tiktok_service = cls.Service.create({
            'name': 'TikTok storefront', 'platform': 'tiktok', 'pixel_id': TIKTOK_PIXEL,
            'access_token': TOKEN, 'website_id': cls.website.id,
            'consent_policy': 'skip',
        })
        cls.product = cls.env['product.template'].create({
            'name': 'Tracked Chair',
            'list_price': 100.0,
            'sale_ok': True,
            'website_published': True,
            'taxes_id': [(5, 0, 0)],
            # a service: no delivery step between the cart and the payment
            ('detailed_type' if ODOO_VERSION < 18 else 'type'): 'service',
        })
        cls.variant = cls.product.product_variant_id

    def setUp(self):
        super().setUp()
        self.fake.reset()
        self.opener.headers['User-Agent'] = BROWSER_UA

    # -- HTTP helpers -----------------------------------------------------------------------

    def origin(self):
        parts = urlsplit(self.base_url())
        return f'{parts.scheme}://{parts.netloc}'

    def get(self, path, headers=None, **kwargs):
        response = self.url_open(path, headers=headers, **kwargs)
        return response

    def jsonrpc(self, path, params, headers=None):
        all_headers = {'Content-Type': 'application/json', 'Origin': self.origin()}
        all_headers.update(headers or {})
        response = self.url_open(path, data=json.dumps({
            'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': params,
        }), headers=all_headers)
        response.raise_for_status()
        body = response.json()
        self.assertNotIn('error', body, body.get('error'))
        return body.get('result')

    def add_to_cart(self, quantity=1):
        if ODOO_VERSION >= 19:
            return self.jsonrpc('/shop/cart/add', {
                'product_template_id': self.product.id,
                'product_id': self.variant.id,
                'quantity': quantity,
            })
        return self.jsonrpc('/shop/cart/update_json', {
            'product_id': self.variant.id, 'add_qty': quantity,
        })

    def require_module(self, module):
        """Skip the test (with the reason) when an optional Odoo module is not installed."""
        if not self.env['ir.module.module'].search(
                [('name', '=', module), ('state', '=', 'installed')]):
            self.skipTest(f'{module} is not installed')

    def csrf_token(self, path='/shop'):
        """The CSRF token of the opener's session, read from a page (forms posting over http)."""
        page = self.get(path)
        match = re.search(r'\b([0-9a-f]{40}o\d*)\b', page.text)
        self.assertTrue(match, f'no CSRF token in {path}')
        return match.group(1)

    def cart(self):
        """The shopper's current website cart (the last draft order of the product's website)."""
        return self.env['sale.order'].sudo().search(
            [('website_id', '=', self.website.id), ('state', '=', 'draft')],
            order='id desc', limit=1)

    def pending_pixel_events(self, origin=None):
        return self.url_open('/convapi/pixel/pending', data='{}', headers={
            'Content-Type': 'application/json', 'Origin': origin or self.origin(),
        })

    def product_url(self):
        return self.product.website_url

    # -- Outbox helpers ---------------------------------------------------------------------

    def outbox(self):
        """The outbox, once the storefront's inbox rows are moved into it (as the flush cron
        does before sending)."""
        self.env['conversions.api.inbox'].sudo()._drain()
        return self.Event.sudo()

    def queued(self, event_name, since_id=0):
        return self.outbox().search(
            [('event_name', '=', event_name), ('id', '>', since_id)], order='id')

    def last_event_id(self):
        return self.outbox().search([], order='id desc', limit=1).id or 0

    @staticmethod
    def payload(event):
        return json.loads(event.payload)

    def meta(self, events):
        """The payload of the Meta copy among one event's rows."""
        return self.payload(events.filtered(lambda e: e.service_id == self.meta_service))

    @staticmethod
    def pixel_event_ids(html):
        """Event ids the page's inline pixel script fires, per platform call."""
        script = re.search(r'<script id="convapi_pixel">(.*?)</script>', html, re.S)
        if not script:
            return None
        text = script.group(1)
        return {
            'meta': re.findall(r'fbq\("trackSingle","[^"]+","(\w+)",.*?\{"eventID":"([^"]+)"\}',
                               text),
            'tiktok': re.findall(
                r'ttq\.instance\("[^"]+"\)\.track\("(\w+)",.*?\{"event_id":"([^"]+)"\}', text),
            'text': text,
        }
