"""Storefront helpers without HTTP: click-id formats, bots, the pixel script."""

import json
import shutil
import subprocess

from odoo.tests import tagged

from .. import storefront
from .common import ConversionsApiCase


@tagged('post_install', '-at_install')
class TestStorefrontHelpers(ConversionsApiCase):

    def test_fbc_format_and_refresh_rule(self):
        fbc = storefront.make_fbc('AbC_123', 1700000000123)
        self.assertEqual(fbc, 'fb.1.1700000000123.AbC_123')  # case kept
        self.assertTrue(storefront.fbc_needs_update(None, 'AbC_123'))
        self.assertFalse(storefront.fbc_needs_update(fbc, 'AbC_123'), 'same click: keep time')
        self.assertTrue(storefront.fbc_needs_update(fbc, 'abc_123'), 'new click id')
        self.assertFalse(storefront.fbc_needs_update(fbc, None))
        self.assertRegex(storefront.make_fbp(), r'^fb\.1\.\d{13}\.\d{10}$')

    def test_item_quantity_is_an_integer(self):
        self.assertEqual(storefront.item_quantity(2.0), 2)
        self.assertIsInstance(storefront.item_quantity(2.0), int)
        self.assertEqual(storefront.item_quantity(0.4), 1)
        self.assertEqual(storefront.item_quantity(2.6), 3)

    def test_variant_in_page(self):
        """17/18 product pages: the displayed variant is read from the add-to-cart form."""
        from ..controllers.main import variant_in_page
        page = (b'<form action="/shop/cart/update"><input name="product_id" value="7" '
                b'type="hidden"/><input name="product_template_id" value="3" type="hidden"/>'
                b'</form><div class="js_product">\n<input type="hidden" class="product_id" '
                b'name="product_id" value="42" />\n    <input type="hidden" '
                b'class="product_template_id" name="product_template_id" value="12" /></div>')
        self.assertEqual(variant_in_page(page, 12), 42)
        self.assertEqual(variant_in_page(page, 3), 7)  # 18's shop-grid form shape
        self.assertIsNone(variant_in_page(page, 4))
        self.assertIsNone(variant_in_page(b'<input name="product_template_id" value="12"/>', 12))
        self.assertIsNone(variant_in_page(None, 12))

    def test_offer_in_page(self):
        """17/18 product pages: price and currency from the schema.org offer before the form."""
        from ..controllers.main import offer_in_page
        offer = (b'<div itemprop="offers" itemscope="itemscope" itemtype="http://schema.org/Offer">'
                 b'<span class="oe_price">$ <span class="oe_currency_value">1,234.50</span></span>'
                 b'<span itemprop="price" style="display:none;">%s</span>'
                 b'<span itemprop="priceCurrency" style="display:none;">%s</span></div>')
        form = b'<input type="hidden" name="product_template_id" value="12"/>'
        self.assertEqual(offer_in_page(offer % (b'1234.5', b'EUR') + form, 12), (1234.5, 'EUR'))
        self.assertEqual(offer_in_page(offer % (b'0.0', b'USD') + form, 12), (0.0, 'USD'))
        # another product's form, no offer before the form, unreadable values: nothing
        self.assertEqual(offer_in_page(offer % (b'10.0', b'EUR') + form, 13), (None, None))
        self.assertEqual(offer_in_page(form + offer % (b'10.0', b'EUR'), 12), (None, None))
        for price, currency in ((b'abc', b'EUR'), (b'nan', b'EUR'), (b'-1', b'EUR'),
                                (b'10.0', b'euro'), (b'10.0', b'')):
            self.assertEqual(offer_in_page(offer % (price, currency) + form, 12), (None, None),
                             (price, currency))
        self.assertEqual(offer_in_page(None, 12), (None, None))

    def test_bots_and_prefetch(self):
        for agent in ('Googlebot/2.1', 'facebookexternalhit/1.1', 'Mozilla/5.0 HeadlessChrome/120',
                      'Slackbot-LinkExpanding 1.0', 'curl/8.0', '', None):
            self.assertTrue(storefront.is_bot(agent), agent)
        self.assertFalse(storefront.is_bot(
            'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0'))
        self.assertTrue(storefront.is_prefetch({'Sec-Purpose': 'prefetch;prerender'}))
        self.assertTrue(storefront.is_prefetch({'Purpose': 'prefetch'}))
        self.assertFalse(storefront.is_prefetch({}))

    def test_client_ip_trusts_forwarded_for_only_in_proxy_mode(self):
        self.assertEqual(storefront.client_ip('10.0.0.1', '1.2.3.4, 5.6.7.8', False), '10.0.0.1')
        self.assertEqual(storefront.client_ip('10.0.0.1', '1.2.3.4, 5.6.7.8', True), '5.6.7.8')
        self.assertEqual(storefront.client_ip('10.0.0.1', None, True), '10.0.0.1')

    def test_pixel_script_is_inert_html(self):
        event = {'name': 'ViewContent', 'tiktok_name': 'ViewContent', 'event_id': 'vc-1',
                 'meta': ['123'], 'tiktok': ['TT'],
                 'meta_data': {'content_name': '</script><script>alert(1)</script>'},
                 'tiktok_data': {}}
        script = str(storefront.pixel_script(['123'], ['TT'], [event]))
        self.assertEqual(script.count('</script>'), 1)
        self.assertIn('fbq("trackSingle","123","ViewContent"', script)
        self.assertIn('{"eventID":"vc-1"}', script)
        self.assertIn('ttq.instance("TT").track("ViewContent",{},{"event_id":"vc-1"})', script)


    def test_pixel_script_runs_in_a_js_engine(self):
        """The inline script, run by node with the usual DOM stubs, queues the right calls."""
        node = shutil.which('node')
        if not node:
            self.skipTest('node is not installed')
        event = {'name': 'AddToCart', 'tiktok_name': 'AddToCart', 'event_id': 'atc-42',
                 'meta': ['111'], 'tiktok': ['TT1'],
                 'meta_data': {'value': 10.0, 'currency': 'EUR'},
                 'tiktok_data': {'value': 10.0, 'currency': 'EUR'}}
        html = str(storefront.pixel_script(['111'], ['TT1'], [event], limited_data_use=True))
        script = html[len('<script id="convapi_pixel">'):-len('</script>')]
        harness = (
            'global.window = global;'
            'const el = {parentNode: {insertBefore() {}}};'
            'global.document = {createElement: () => ({}), getElementsByTagName: () => [el]};'
            + script +
            ';console.log(JSON.stringify({fbq: window.fbq.queue.map(a => Array.from(a)),'
            ' ttq: window.ttq._i.TT1}));'
        )
        out = subprocess.run([node, '-e', harness], capture_output=True, text=True, check=True,
                             timeout=30)
        calls = json.loads(out.stdout)
        self.assertEqual(calls['fbq'], [
            ['dataProcessingOptions', ['LDU'], 0, 0],
            ['init', '111'],
            ['trackSingle', '111', 'AddToCart', {'currency': 'EUR', 'value': 10},
             {'eventID': 'atc-42'}],
        ])
        self.assertEqual(calls['ttq'], [
            ['track', 'AddToCart', {'currency': 'EUR', 'value': 10}, {'event_id': 'atc-42'}]])
