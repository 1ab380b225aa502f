"""The storefront funnel over HTTP on a real Odoo, to the four platforms at once: Meta, TikTok,
Pinterest (its tag fires each event with the server copy's event_id; the epik click id is kept
from the landing page to the Purchase) and GA4 in "complement" mode (no server copy of what
gtag records; the Purchase once per order, with transaction_id = the order reference, which
Odoo's own gtag purchase then carries too, and the client and session ids captured at
checkout)."""

import html
import json
import re

from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from .. import const, storefront
from .common import (
    EPIK,
    GA4_MEASUREMENT_ID,
    GA_CLIENT_ID,
    GA_COOKIE,
    GA_SESSION_COOKIE,
    GA_SESSION_ID,
    PINTEREST_AD_ACCOUNT,
    PINTEREST_TAG,
    add_pinterest_and_ga4_services,
)
from .storefront_common import FBCLID, FBP, TTP, StorefrontCase
from .test_pixel_endpoint import PIXEL_EVENTS_JS, run_node

GA_SESSION_COOKIE_NAME = '_ga_' + GA4_MEASUREMENT_ID[len('G-'):]
TAG_PLATFORMS = {'meta', 'tiktok', 'pinterest'}  # the platforms whose tag the addon loads


def pintrk_calls(text):
    """(event name, event data) of each pintrk track call of an inline pixel script."""
    return [(name, json.loads(data)) for name, data in
            re.findall(r'^pintrk\("track","(\w+)",(\{.*\})\);$', text or '', re.M)]


@tagged('post_install', '-at_install')
class TestStorefrontFourPlatforms(StorefrontCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        add_pinterest_and_ga4_services(cls, cls.website)

    def set_visitor_cookies(self, ga=True):
        self.opener.cookies.set('_fbp', FBP)
        self.opener.cookies.set('_ttp', TTP)
        if ga:  # what gtag sets (Odoo's own Google Analytics integration)
            self.opener.cookies.set('_ga', GA_COOKIE)
            self.opener.cookies.set(GA_SESSION_COOKIE_NAME, GA_SESSION_COOKIE)

    def by_platform(self, rows):
        self.assertEqual(len(rows), len(set(rows.mapped('platform'))), 'one row per platform')
        return {row.platform: self.payload(row) for row in rows}

    def checkout_order(self):
        """Add the chair, start the checkout, give the guest an address, reach the payment
        page; returns the order."""
        self.add_to_cart(2)
        self.get('/shop/checkout')
        order = self.env['sale.order'].sudo().search(
            [('website_id', '=', self.website.id), ('order_line.product_id', '=', self.variant.id)],
            order='id desc', limit=1)
        self.assertTrue(order)
        guest = self.env['res.partner'].create({
            'name': 'Grace Hopper', 'email': 'Grace.Hopper@Example.COM',
            'phone': '+32 470 12 34 56', 'city': 'Brussels', 'zip': '1000',
            'country_id': self.env.ref('base.be').id,
        })
        order.write({'partner_id': guest.id, 'partner_invoice_id': guest.id,
                     'partner_shipping_id': guest.id})
        self.get('/shop/payment')
        return order

    def test_full_funnel_to_four_platforms(self):
        self.set_visitor_cookies()
        start = funnel_start = self.last_event_id()
        # -- landing on a product page from a promoted pin (and a Meta ad) ------------------
        response = self.get(f'{self.product_url()}?epik={EPIK}&fbclid={FBCLID}')
        self.assertEqual(response.status_code, 200)
        view = self.queued('ViewContent', start)
        page_view = self.queued('PageView', start)
        # GA4 in complement mode: gtag records page and product views, the server does not
        self.assertEqual(set(view.mapped('platform')), TAG_PLATFORMS)
        self.assertEqual(set(page_view.mapped('platform')), TAG_PLATFORMS)
        pinterest_view = self.by_platform(view)['pinterest']
        self.assertEqual(pinterest_view['user']['click_id'], EPIK)
        self.assertEqual(pinterest_view['custom']['content_ids'], [str(self.variant.id)])
        self.assertEqual(response.cookies.get('_epik'), EPIK, 'kept for the next pages')
        # the Pinterest tag loads with its tag id (not the ad account) and fires both events
        # with the event ids of their server copies
        pixel = self.pixel_event_ids(response.text)
        self.assertIsNotNone(pixel)
        self.assertIn(f'pintrk("load","{PINTEREST_TAG}");', pixel['text'])
        self.assertNotIn(PINTEREST_AD_ACCOUNT, pixel['text'])
        fired = [(name, data['event_id']) for name, data in pintrk_calls(pixel['text'])]
        self.assertIn(('PageVisit', page_view[0].event_id), fired)
        self.assertIn(('PageVisit', view[0].event_id), fired)
        self.assertEqual(len(set(view.mapped('event_id'))), 1, 'every platform shares the id')
        view_data = dict(pintrk_calls(pixel['text']))
        self.assertIn('line_items', view_data['PageVisit'])
        # the addon loads no gtag: GA4's browser side is Odoo's own Google Analytics setting
        self.assertNotIn('gtag(', pixel['text'])
        self.assertNotIn(GA4_MEASUREMENT_ID, pixel['text'])

        # -- another page: the click id comes from the _epik cookie now ------------------
        start = self.last_event_id()
        self.get('/shop')
        page_view = self.queued('PageView', start)
        self.assertEqual(self.by_platform(page_view)['pinterest']['user']['click_id'], EPIK)

        # -- add to cart (AJAX): the tag's copy through the pending endpoint ------------
        start = self.last_event_id()
        self.add_to_cart(2)
        add = self.queued('AddToCart', start)
        self.assertEqual(set(add.mapped('platform')), TAG_PLATFORMS, 'not sent to GA4')
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events],
                         [('AddToCart', add[0].event_id)])
        self.assertEqual(events[0]['pinterest'], [PINTEREST_TAG])
        pintrk = [call for call in events[0]['calls'] if call['f'] == 'pintrk']
        self.assertEqual(len(pintrk), 1)
        self.assertEqual(pintrk[0]['a'][:2], ['track', 'AddToCart'])
        self.assertEqual(pintrk[0]['a'][2]['event_id'], add[0].event_id)
        self.assertEqual({call['f'] for call in events[0]['calls']}, {'fbq', 'ttq', 'pintrk'})

        # -- checkout: the tracking context (click id, GA4 ids) is kept on the order -----
        start = self.last_event_id()
        self.get('/shop/checkout')
        initiate = self.queued('InitiateCheckout', start)
        self.assertEqual(set(initiate.mapped('platform')), TAG_PLATFORMS)
        order = self.env['sale.order'].sudo().search(
            [('website_id', '=', self.website.id), ('order_line.product_id', '=', self.variant.id)],
            order='id desc', limit=1)
        self.assertEqual(order.convapi_click_id, EPIK)
        self.assertEqual(order.convapi_client_id, GA_COOKIE)
        self.assertEqual(json.loads(order.convapi_session_ids),
                         {GA_SESSION_COOKIE_NAME[len('_ga_'):]: GA_SESSION_COOKIE})
        guest = self.env['res.partner'].create({
            'name': 'Grace Hopper', 'email': 'Grace.Hopper@Example.COM',
            'city': 'Brussels', 'zip': '1000', 'country_id': self.env.ref('base.be').id,
        })
        order.write({'partner_id': guest.id, 'partner_invoice_id': guest.id,
                     'partner_shipping_id': guest.id})
        self.get('/shop/payment')

        # -- the payment confirmed later (webhook, cron, back office): no shopper request -
        start = self.last_event_id()
        order.with_context(send_email=False).action_confirm()
        purchase = self.queued('Purchase', start)
        self.assertEqual(set(purchase.mapped('platform')), set(const.PLATFORMS))
        self.assertEqual(set(purchase.mapped('event_id')), {f'purchase-{order.id}'})
        payloads = self.by_platform(purchase)
        ga4 = payloads['ga4']
        self.assertEqual(ga4['custom']['order_id'], order.name)
        self.assertIn('client_id', ga4['user'], 'the client id captured at checkout')
        self.assertEqual(str(ga4['user']['session_id']), GA_SESSION_ID)
        self.assertEqual(ga4['consent'], {'ad_user_data': True, 'ad_personalization': True})
        self.assertEqual(payloads['pinterest']['user']['click_id'], EPIK)

        # -- the confirmation page: the Pinterest tag's Checkout with the same id, and the
        # shop's own gtag purchase carrying the order reference as transaction_id ----------
        response = self.get('/shop/confirmation')
        self.assertEqual(response.status_code, 200)
        pixel = self.pixel_event_ids(response.text)
        fired = [(name, data['event_id']) for name, data in pintrk_calls(pixel['text'])]
        self.assertIn(('Checkout', f'purchase-{order.id}'), fired)
        checkout_data = dict(pintrk_calls(pixel['text']))['Checkout']
        self.assertEqual(checkout_data['order_id'], order.name)
        tracking = re.search(r'data-order-tracking-info="([^"]*)"', response.text)
        self.assertTrue(tracking, "Odoo's confirmation page has its gtag purchase data")
        self.assertEqual(json.loads(html.unescape(tracking.group(1)))['transaction_id'],
                         order.name)

        # -- delivery: what each platform received ---------------------------------------
        self.Event.sudo()._flush_outbox()
        funnel = self.outbox().search([('id', '>', funnel_start)])
        self.assertEqual(set(funnel.mapped('state')), {'sent'}, funnel.mapped('error'))
        ga4_events = self.fake.ga4_events(GA4_MEASUREMENT_ID)
        self.assertEqual([e['name'] for e in ga4_events], ['purchase'], (
            'GA4 got the Purchase alone: no page_view, view_item, add_to_cart',
            self.fake.ga4_dropped()))
        self.assertEqual(ga4_events[0]['params']['transaction_id'], order.name)
        self.assertEqual(ga4_events[0]['client_id'], GA_CLIENT_ID)
        self.assertEqual(str(ga4_events[0]['params']['session_id']), GA_SESSION_ID)
        self.assertEqual(self.fake.ga4_transaction_counts(),
                         {(GA4_MEASUREMENT_ID, order.name): 1})
        pinterest_events = self.fake.pinterest_events(PINTEREST_AD_ACCOUNT)
        names = {e['event_name'] for e in pinterest_events}
        self.assertTrue({'page_visit', 'add_to_cart', 'initiate_checkout', 'checkout'} <= names,
                        names)
        checkout = [e for e in pinterest_events if e['event_name'] == 'checkout']
        self.assertEqual([e['event_id'] for e in checkout], [f'purchase-{order.id}'])
        self.assertEqual(checkout[0]['user_data']['click_id'], EPIK)
        self.assertEqual(checkout[0]['custom_data']['order_id'], order.name)

        # -- once: a later confirmation path and a reload send nothing more --------------
        order._convapi_queue_purchase()
        self.assertEqual(len(self.queued('Purchase', start)), len(const.PLATFORMS))
        self.assertNotIn(f'purchase-{order.id}', self.get('/shop/confirmation').text)

    def test_no_ga_cookie_no_ga4_event(self):
        """A visitor gtag never saw (no _ga cookie, so no client_id): no GA4 copy of their
        Purchase, the other platforms get theirs."""
        self.set_visitor_cookies(ga=False)
        order = self.checkout_order()
        self.assertFalse(order.convapi_client_id)
        start = self.last_event_id()
        order.with_context(send_email=False).action_confirm()
        purchase = self.queued('Purchase', start)
        self.assertEqual(set(purchase.mapped('platform')), TAG_PLATFORMS)

    def test_back_office_order_never_seen_by_gtag(self):
        partner = self.env['res.partner'].create({'name': 'Ada', 'email': 'ada@example.com'})
        order = self.env['sale.order'].create({
            'partner_id': partner.id, 'website_id': self.website.id,
            'order_line': [(0, 0, {'product_id': self.variant.id, 'product_uom_qty': 1})],
        })
        start = self.last_event_id()
        order.action_confirm()
        purchase = self.queued('Purchase', start)
        self.assertEqual(set(purchase.mapped('platform')), TAG_PLATFORMS,
                         'no client_id: nothing GA4 could attribute')

    def test_consent_refused(self):
        self.website.cookies_bar = True
        self.set_visitor_cookies()
        self.opener.cookies.set('website_cookies_bar', '{"required": true, "optional": false}')
        start = self.last_event_id()
        response = self.get(f'{self.product_url()}?epik={EPIK}')
        self.assertIsNone(self.pixel_event_ids(response.text), 'no tag without consent')
        self.assertNotIn('_epik', response.cookies)
        view = self.queued('ViewContent', start)
        # Meta: the anonymous policy; TikTok, Pinterest (and GA4): skip
        self.assertEqual(set(view.mapped('platform')), {'meta'})

    def test_pinterest_server_only(self):
        self.pinterest_service.browser_pixel = False
        start = self.last_event_id()
        response = self.get(f'{self.product_url()}?epik={EPIK}')
        pixel = self.pixel_event_ids(response.text)
        self.assertNotIn('pintrk', pixel['text'])
        # without the tag, the addon keeps the click id for the next pages itself
        self.assertEqual(response.cookies.get('_epik'), EPIK)
        view = self.queued('ViewContent', start)
        self.assertEqual(self.by_platform(view)['pinterest']['user']['click_id'], EPIK)

    def test_pinterest_limited_data_processing_in_the_tag(self):
        self.pinterest_service.limited_data_use = True
        response = self.get(self.product_url())
        pixel = self.pixel_event_ids(response.text)
        self.assertIn('pintrk("set",{"opt_out_type":"LDP"});', pixel['text'])
        load = pixel['text'].index('pintrk("load"')
        self.assertLess(load, pixel['text'].index('pintrk("set"'))
        self.assertLess(pixel['text'].index('pintrk("set"'), pixel['text'].index('pintrk("track"'))


@tagged('post_install', '-at_install')
class TestPinterestTagInJs(TransactionCase):
    """The Pinterest tag's inline script and pixel_events.js' generic tag calls, run by node
    with DOM stubs."""

    EVENT = {'name': 'Purchase', 'event_id': 'purchase-7', 'pinterest': ['TAG1'],
             'pinterest_name': 'Checkout',
             'pinterest_data': {'value': 59.8, 'currency': 'EUR', 'order_id': 'S00042'}}

    def test_inline_script_loads_the_tag_and_tracks_with_the_event_id(self):
        html_text = str(storefront.tags_script({'pinterest': ['TAG1']}, [self.EVENT],
                                               {'pinterest': ['TAG1']}))
        script = html_text[len('<script id="convapi_pixel">'):-len('</script>')]
        out = run_node(self, (
            'global.window = global;'
            'const el = {parentNode: {insertBefore() {}}};'
            'global.document = {createElement: () => ({}), getElementsByTagName: () => [el]};'
            + script +
            ';console.log(JSON.stringify({queue: window.pintrk.queue,'
            ' config: window.convapiPixel}));'
        ))
        self.assertEqual(out['queue'], [
            ['load', 'TAG1'],
            ['set', {'opt_out_type': 'LDP'}],
            ['page'],
            ['track', 'Checkout', {'value': 59.8, 'currency': 'EUR', 'order_id': 'S00042',
                                   'event_id': 'purchase-7'}],
        ])
        self.assertEqual(out['config'], {'pinterest': ['TAG1']})

    def test_pixel_events_runs_the_calls_the_server_gives(self):
        event = dict(self.EVENT, meta=['111'], meta_data={'value': 5},
                     tiktok=['TT1'], tiktok_name='CompletePayment', tiktok_data={})
        event['calls'] = storefront.event_calls(event, {'tiktok': ['TT1']})
        source = PIXEL_EVENTS_JS.read_text()
        out = run_node(self, (
            'global.window = global;'
            'window.location = {href: "https://shop.test/shop", origin: "https://shop.test"};'
            'global.document = {readyState: "complete", addEventListener() {}};'
            'window.convapiPixel = {meta: ["111"], tiktok: ["TT1"], pinterest: ["TAG1"]};'
            'const calls = [];'
            'window.fbq = (...args) => calls.push(["fbq", ...args]);'
            'window.ttq = {instance: (pixel) => ({track: (...args) =>'
            ' calls.push(["ttq", pixel, ...args])})};'
            'window.pintrk = (...args) => calls.push(["pintrk", ...args]);'
            'global.setTimeout = (fn) => { fn(); return 1; }; global.clearTimeout = () => {};'
            'global.fetch = () => Promise.resolve({ok: true, json: () => Promise.resolve('
            + json.dumps({'events': [event]}) + ')});'
            + source + ';window.convapiFetchPendingEvents();'
            'setImmediate(() => setImmediate(() => console.log(JSON.stringify(calls))));'
        ))
        self.assertEqual(out, [
            ['fbq', 'trackSingle', '111', 'Purchase', {'value': 5}, {'eventID': 'purchase-7'}],
            ['ttq', 'TT1', 'CompletePayment', {},
             {'event_id': 'purchase-7', 'limited_data_use': True}],
            ['pintrk', 'track', 'Checkout', {'value': 59.8, 'currency': 'EUR',
                                             'order_id': 'S00042', 'event_id': 'purchase-7'}],
        ])
