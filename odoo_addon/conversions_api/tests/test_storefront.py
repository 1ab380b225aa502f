"""The storefront funnel over HTTP on a real Odoo: events, click ids, pixel ids, Purchase once."""

import re

import convapi
from odoo.tests import tagged

from .common import META_PIXEL, TIKTOK_PIXEL
from .storefront_common import (
    BROWSER_UA,
    FBCLID,
    FBP,
    TTCLID,
    TTP,
    StorefrontCase,
)


def hashed_email(email):
    return convapi.hash_value(convapi.normalize('email', email))


def one(value):
    """Meta keeps hashed keys as arrays; compare their single value."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


@tagged('post_install', '-at_install')
class TestStorefrontFunnel(StorefrontCase):

    def test_full_funnel(self):
        # -- product page, arriving from a Meta and a TikTok ad ---------------------------
        self.opener.cookies.set('_fbp', FBP)
        self.opener.cookies.set('_ttp', TTP)
        start = funnel_start = self.last_event_id()
        response = self.get(f'{self.product_url()}?fbclid={FBCLID}&ttclid={TTCLID}')
        self.assertEqual(response.status_code, 200)

        view = self.queued('ViewContent', start)
        page_view = self.queued('PageView', start)
        self.assertEqual(len(view), 2, 'one ViewContent per service')
        self.assertEqual(len(page_view), 2, 'one PageView per service')
        self.assertEqual(set(view.mapped('service_id').ids),
                         {self.meta_service.id, self.tiktok_service.id})
        payload = self.payload(view.filtered(lambda e: e.service_id == self.meta_service))
        self.assertRegex(payload['user']['fbc'], r'^fb\.1\.\d{13}\.' + re.escape(FBCLID) + '$')
        self.assertEqual(payload['user']['fbp'], FBP)
        tiktok_payload = self.payload(view.filtered(lambda e: e.service_id == self.tiktok_service))
        self.assertEqual(tiktok_payload['user']['ttclid'], TTCLID)
        self.assertEqual(tiktok_payload['user']['ttp'], TTP)
        self.assertEqual(payload['user']['client_user_agent'], BROWSER_UA)
        self.assertTrue(payload['user']['client_ip_address'])
        self.assertIn(self.product_url(), payload['event_source_url'])
        self.assertEqual(payload['custom']['content_ids'], [str(self.variant.id)])
        self.assertEqual(payload['custom']['contents'][0]['quantity'], 1)
        # the price and currency the page shows (its schema.org offer: markup in 17/18,
        # JSON-LD in 19), pricelist included
        price = payload['custom']['contents'][0]['item_price']
        shown = (re.search(r'itemprop="price"[^>]*>\s*([\d.]+)\s*<', response.text)
                 or re.search(r'"price":\s*"?([\d.]+)', response.text))
        shown_currency = (
            re.search(r'itemprop="priceCurrency"[^>]*>\s*([A-Z]{3})\s*<', response.text)
            or re.search(r'"priceCurrency":\s*"([A-Z]{3})"', response.text))
        self.assertTrue(shown and shown_currency, 'the product page shows its offer')
        self.assertGreater(price, 0)
        self.assertAlmostEqual(price, float(shown.group(1)))
        self.assertAlmostEqual(payload['custom']['value'], price)
        self.assertEqual(payload['custom']['currency'], shown_currency.group(1))

        # the _fbc / ttclid cookies are set for later pages, in the spec's format
        self.assertRegex(response.cookies.get('_fbc') or '',
                         r'^fb\.1\.\d{13}\.' + re.escape(FBCLID) + '$')
        self.assertEqual(response.cookies.get('ttclid'), TTCLID)
        fbc = response.cookies.get('_fbc')

        # the page's pixel fires both events with the server copies' ids
        pixel = self.pixel_event_ids(response.text)
        self.assertIsNotNone(pixel, 'pixel script rendered')
        self.assertIn(f'fbq("init","{META_PIXEL}")', pixel['text'])
        self.assertIn(f'ttq.load("{TIKTOK_PIXEL}")', pixel['text'])
        self.assertIn(('ViewContent', view[0].event_id), pixel['meta'])
        self.assertIn(('ViewContent', view[0].event_id), pixel['tiktok'])
        self.assertIn(('PageView', page_view[0].event_id), pixel['meta'])
        self.assertIn(('Pageview', page_view[0].event_id), pixel['tiktok'])
        self.assertEqual(len(set(view.mapped('event_id'))), 1, 'both platforms share the id')

        # a second page keeps the _fbc of the first visit (no new fbclid)
        start = self.last_event_id()
        self.get('/shop')
        shop_view = self.queued('PageView', start)
        self.assertEqual(len(shop_view), 2)
        self.assertEqual(self.meta(shop_view)['user']['fbc'], fbc)

        # -- add to cart (AJAX): server copy now, pixel copy through the pending endpoint --
        start = self.last_event_id()
        self.add_to_cart(2)
        add = self.queued('AddToCart', start)
        self.assertEqual(len(add), 2)
        add_payload = self.meta(add)
        self.assertEqual(add_payload['custom']['contents'][0]['quantity'], 2)
        self.assertIsInstance(add_payload['custom']['contents'][0]['quantity'], int,
                              'Meta requires an integer quantity')
        add_price = add_payload['custom']['contents'][0]['item_price']
        self.assertGreater(add_price, 0)
        self.assertAlmostEqual(add_payload['custom']['value'], 2 * add_price)
        self.assertEqual(add_payload['user']['fbc'], fbc)

        self.assertEqual(self.pending_pixel_events(origin='https://evil.example.com').status_code,
                         403)
        pending = self.pending_pixel_events()
        self.assertEqual(pending.status_code, 200)
        events = pending.json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events],
                         [('AddToCart', add[0].event_id)])
        self.assertEqual(events[0]['meta'], [META_PIXEL])
        self.assertEqual(events[0]['tiktok'], [TIKTOK_PIXEL])
        self.assertEqual(self.pending_pixel_events().json()['events'], [], 'drained once')

        # -- checkout: InitiateCheckout, and the context is kept on the order ------------
        start = self.last_event_id()
        self.get('/shop/checkout')
        initiate = self.queued('InitiateCheckout', start)
        self.assertEqual(len(initiate), 2)
        order = self.env['sale.order'].sudo().search(
            [('website_id', '=', self.website.id), ('order_line.product_id', '=', self.variant.id)],
            order='id desc', limit=1)
        self.assertTrue(order)
        self.assertEqual(self.meta(initiate)['custom']['num_items'], 2)
        self.assertEqual(order.convapi_fbc, fbc)
        self.assertEqual(order.convapi_fbp, FBP)
        self.assertEqual(order.convapi_ttclid, TTCLID)
        self.assertEqual(order.convapi_ttp, TTP)
        self.assertEqual(order.convapi_user_agent, BROWSER_UA)
        self.assertTrue(order.convapi_client_ip)
        self.assertEqual(order.convapi_consent, 'granted')

        # the guest fills in the address (done in Python, the form differs per version)
        guest = self.env['res.partner'].create({
            'name': 'Grace Hopper', 'email': 'Grace.Hopper@Example.COM',
            'phone': '+32 470 12 34 56',
            'city': 'Brussels', 'zip': '1000',
            'country_id': self.env.ref('base.be').id,
        })
        order.write({'partner_id': guest.id, 'partner_invoice_id': guest.id,
                     'partner_shipping_id': guest.id})

        self.get('/shop/payment')

        # -- payment confirmed later, by the post-processing cron / a webhook: no request -
        start = self.last_event_id()
        order.with_context(send_email=False).action_confirm()
        purchase = self.queued('Purchase', start)
        self.assertEqual(len(purchase), 2, 'one Purchase per service')
        self.assertEqual(set(purchase.mapped('event_id')), {f'purchase-{order.id}'})
        self.assertTrue(order.convapi_purchase_sent)
        purchase_payload = self.payload(
            purchase.filtered(lambda e: e.service_id == self.meta_service))
        self.assertEqual(one(purchase_payload['user']['em']),
                         hashed_email('Grace.Hopper@Example.COM'))
        self.assertEqual(purchase_payload['user']['fbc'], fbc)
        self.assertEqual(purchase_payload['user']['fbp'], FBP)
        self.assertEqual(purchase_payload['user']['client_user_agent'], BROWSER_UA)
        self.assertEqual(one(purchase_payload['user']['external_id']),
                         convapi.hash_value(convapi.normalize('external_id', str(guest.id))))
        self.assertEqual(one(purchase_payload['user']['ct']),
                         convapi.hash_value(convapi.normalize('city', 'Brussels')))
        self.assertAlmostEqual(purchase_payload['custom']['value'], order.amount_total)
        self.assertEqual(purchase_payload['custom']['currency'], order.currency_id.name)
        self.assertEqual(purchase_payload['custom']['order_id'], order.name)
        self.assertEqual(purchase_payload['action_source'], 'website')

        # -- the confirmation page fires the browser Purchase with the same id, once -------
        response = self.get('/shop/confirmation')
        self.assertEqual(response.status_code, 200)
        pixel = self.pixel_event_ids(response.text)
        self.assertIn(('Purchase', f'purchase-{order.id}'), pixel['meta'])
        self.assertIn(('Purchase', f'purchase-{order.id}'), pixel['tiktok'])
        self.assertTrue(order.convapi_purchase_pixel_done)

        reload = self.get('/shop/confirmation')
        self.assertEqual(reload.status_code, 200)
        self.assertNotIn(f'purchase-{order.id}', reload.text)
        self.assertEqual(len(self.queued('Purchase', start)), 2, 'reload sends nothing')

        # a later confirmation path (a second post-processing run) queues nothing more
        order._convapi_queue_purchase()
        self.assertEqual(len(self.queued('Purchase', start)), 2)

        # -- delivery: the fake platforms accept every event of the funnel ----------------
        self.Event.sudo()._flush_outbox()
        funnel = self.outbox().search([('id', '>', funnel_start)])
        self.assertEqual(set(funnel.mapped('state')), {'sent'}, funnel.mapped('error'))
        received = {(e['event_name'], e['event_id']) for e in self.fake.meta_events(META_PIXEL)}
        for name in ('PageView', 'ViewContent', 'AddToCart', 'InitiateCheckout', 'Purchase'):
            row = funnel.filtered(lambda e, n=name: e.event_name == n)[:1]
            self.assertIn((name, row.event_id), received)
        tiktok = {(e['event'], e['event_id']) for e in self.fake.tiktok_events(TIKTOK_PIXEL)}
        self.assertIn(('Purchase', f'purchase-{order.id}'), tiktok)

    def test_website_page_view(self):
        """A CMS page (served read-only by Odoo 18/19): PageView, server and pixel, same id."""
        start = self.last_event_id()
        response = self.get('/contactus')
        self.assertEqual(response.status_code, 200)
        page_view = self.queued('PageView', start)
        self.assertEqual(len(page_view), 2)
        self.assertEqual(self.meta(page_view)['event_source_url'], response.url)
        pixel = self.pixel_event_ids(response.text)
        self.assertEqual(pixel['meta'], [('PageView', page_view[0].event_id)])
        self.assertEqual(pixel['tiktok'], [('Pageview', page_view[0].event_id)])
        # not for assets, 404s or JSON
        start = self.last_event_id()
        self.get('/web/assets/does-not-exist.js')
        self.get('/this-page-does-not-exist')
        self.pending_pixel_events()
        self.assertFalse(self.queued('PageView', start))

    def test_cached_pages_get_fresh_event_ids(self):
        """17/18 cache the product page body (t-cache), 19 whole pages: ids must not freeze."""
        for url in (self.product_url(), '/contactus'):
            seen = []
            for _i in range(3):
                start = self.last_event_id()
                response = self.get(url)
                pixel = self.pixel_event_ids(response.text)
                page_view = self.queued('PageView', start)
                self.assertEqual(len(page_view), 2, url)
                self.assertIn(('PageView', page_view[0].event_id), pixel['meta'])
                seen.append(page_view[0].event_id)
            self.assertEqual(len(set(seen)), 3, url)

    def test_search(self):
        start = self.last_event_id()
        self.get('/shop?search=chair')
        search = self.queued('Search', start)
        self.assertEqual(len(search), 2)
        self.assertEqual(self.meta(search)['custom']['search_string'], 'chair')

    def test_bots_and_prefetch_get_nothing(self):
        start = self.last_event_id()
        response = self.get(self.product_url(), headers={
            'User-Agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'})
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self.outbox().search([('id', '>', start)]))
        self.assertIsNone(self.pixel_event_ids(response.text))

        response = self.get(f'{self.product_url()}?fbclid={FBCLID}',
                            headers={'Sec-Purpose': 'prefetch'})
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self.outbox().search([('id', '>', start)]))
        self.assertNotIn('_fbc', response.cookies)

        response = self.get(self.product_url(), headers={'Purpose': 'prefetch'})
        self.assertFalse(self.outbox().search([('id', '>', start)]))

        # the website editor and the backend's preview iframe
        self.get(f'{self.product_url()}?enable_editor=1')
        self.get(self.product_url(), headers={
            'Sec-Fetch-Dest': 'iframe',
            'Referer': self.origin() + '/odoo/action-website.website_preview'})
        self.assertFalse(self.outbox().search([('id', '>', start)]))

    def test_consent_refused(self):
        self.website.cookies_bar = True
        start = self.last_event_id()
        self.opener.cookies.set('website_cookies_bar', '{"required": true, "optional": false}')
        response = self.get(f'{self.product_url()}?fbclid={FBCLID}')
        self.assertEqual(response.status_code, 200)
        self.assertIsNone(self.pixel_event_ids(response.text), 'no pixel without consent')
        self.assertNotIn('_fbc', response.cookies)
        view = self.queued('ViewContent', start)
        # Meta: anonymous policy (no identifiers); TikTok: skip policy (nothing)
        self.assertEqual(view.mapped('service_id'), self.meta_service)
        user = self.payload(view)['user']
        self.assertNotIn('fbc', user, 'no click ids without consent')
        self.assertNotIn('fbp', user)

    def test_server_only_mode(self):
        (self.meta_service | self.tiktok_service).write({'browser_pixel': False})
        start = self.last_event_id()
        response = self.get(self.product_url())
        self.assertIsNone(self.pixel_event_ids(response.text), 'server-only: no pixel')
        self.assertEqual(len(self.queued('ViewContent', start)), 2)
        # with no Meta pixel in the browser, the server mints _fbp itself
        self.assertRegex(response.cookies.get('_fbp') or '', r'^fb\.1\.\d{13}\.\d+$')
        self.assertEqual(self.meta(self.queued('ViewContent', start))['user']['fbp'],
                         response.cookies.get('_fbp'))

    def test_pending_endpoint_limits(self):
        self.assertEqual(self.pending_pixel_events(origin='https://evil.example.com').status_code,
                         403)
        too_big = self.url_open('/convapi/pixel/pending', data='x' * 5000, headers={
            'Content-Type': 'application/json', 'Origin': self.origin()})
        self.assertEqual(too_big.status_code, 413)
        no_origin = self.url_open('/convapi/pixel/pending', data='{}', headers={
            'Content-Type': 'application/json'})
        self.assertEqual(no_origin.status_code, 403)

    def test_backend_confirmation_of_website_order_once(self):
        partner = self.env['res.partner'].create({'name': 'Ada', 'email': 'ada@example.com'})
        order = self.env['sale.order'].create({
            'partner_id': partner.id,
            'website_id': self.website.id,
            'order_line': [(0, 0, {'product_id': self.variant.id, 'product_uom_qty': 3})],
        })
        start = self.last_event_id()
        order.action_confirm()
        purchase = self.queued('Purchase', start)
        self.assertEqual(len(purchase), 2)
        self.assertEqual(self.meta(purchase)['custom']['num_items'], 3)
        # no browser behind a backend confirmation
        self.assertEqual(self.meta(purchase)['action_source'], 'system_generated')
        order.with_context(disable_cancel_warning=True).action_cancel()
        order.action_draft()
        order.action_confirm()
        self.assertEqual(len(self.queued('Purchase', start)), 2, 'exactly once per order')

        # orders without a website (backend sales) are not storefront purchases
        backend = self.env['sale.order'].create({
            'partner_id': partner.id,
            'order_line': [(0, 0, {'product_id': self.variant.id, 'product_uom_qty': 1})],
        })
        backend.action_confirm()
        self.assertEqual(len(self.queued('Purchase', start)), 2)


@tagged('post_install', '-at_install')
class TestStorefrontForms(StorefrontCase):

    def test_website_form_contact(self):
        """The generic form hook: any form model maps to an event (crm.lead -> Lead, ...)."""
        self.env['ir.model']._get('res.partner').website_form_access = True
        self.env['ir.model.fields'].with_user(self.env.ref('base.user_admin')).formbuilder_whitelist(
            'res.partner', ['name', 'email', 'phone'])
        start = self.last_event_id()
        response = self.url_open('/website/form/res.partner', data={
            'name': 'Katherine Johnson', 'email': 'Katherine@Example.com',
            'phone': '+1 757 555 0101',
        }, headers={'Origin': self.origin(), 'Referer': self.origin() + '/contactus'})
        self.assertEqual(response.status_code, 200)
        self.assertIn('"id"', response.text)
        contact = self.queued('Contact', start)
        self.assertEqual(len(contact), 2)
        meta = self.payload(contact.filtered(lambda e: e.service_id == self.meta_service))
        self.assertEqual(one(meta['user']['em']), hashed_email('Katherine@Example.com'))
        self.assertEqual(one(meta['user']['fn']), convapi.hash_value(
            convapi.normalize('first_name', 'Katherine')))
        self.assertEqual(meta['event_source_url'], self.origin() + '/contactus')
        # the form posts through AJAX: its pixel copy waits for the pixel script
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events],
                         [('Contact', contact[0].event_id)])


@tagged('post_install', '-at_install')
class TestStorefrontPayment(StorefrontCase):
    """The real payment path, with Odoo's demo provider when payment_demo is installed."""

    def _post_process(self, tx):
        if hasattr(tx, '_finalize_post_processing'):  # 17
            tx._finalize_post_processing()
        else:  # 18, 19
            tx._post_process()

    def test_payment_transaction_then_post_processing(self):
        provider = self.env['payment.provider'].search([('code', '=', 'demo')], limit=1)
        if not provider:
            self.skipTest('payment_demo is not installed')
        provider.write({'state': 'test', 'is_published': True})
        self.add_to_cart(1)
        self.get('/shop/checkout')
        order = self.env['sale.order'].sudo().search(
            [('website_id', '=', self.website.id), ('state', '=', 'draft'),
             ('order_line.product_id', '=', self.variant.id)], order='id desc', limit=1)
        guest = self.env['res.partner'].create({
            'name': 'Alan Turing', 'email': 'alan@example.com',
            'country_id': self.env.ref('base.uk').id})
        order.write({'partner_id': guest.id, 'partner_invoice_id': guest.id,
                     'partner_shipping_id': guest.id})

        # the shopper picks the demo provider and pays: AddPaymentInfo
        start = self.last_event_id()
        self.jsonrpc(f'/shop/payment/transaction/{order.id}', {
            'access_token': order._portal_ensure_token(),
            'provider_id': provider.id,
            'payment_method_id': provider.payment_method_ids[:1].id,
            'token_id': None,
            'amount': order.amount_total,
            'flow': 'direct',
            'tokenization_requested': False,
            'landing_route': '/shop/payment/validate',
        })
        payment_info = self.queued('AddPaymentInfo', start)
        self.assertEqual(len(payment_info), 2)
        self.assertAlmostEqual(self.meta(payment_info)['custom']['value'], order.amount_total)
        tx = order.transaction_ids[:1]
        self.assertTrue(tx)

        # the provider's webhook marks it done; post-processing (poll or cron) confirms
        tx._set_done()
        self._post_process(tx)
        self.assertEqual(order.state, 'sale')
        purchase = self.queued('Purchase', start)
        self.assertEqual(len(purchase), 2)
        self.assertEqual(set(purchase.mapped('event_id')), {f'purchase-{order.id}'})
        # the post-processing cron running again queues nothing more
        self._post_process(tx)
        self.assertEqual(len(self.queued('Purchase', start)), 2)

        # back on the shop: the confirmation page fires the browser copy with the same id
        response = self.get('/shop/payment/validate')
        self.assertIn('/shop/confirmation', response.url)
        pixel = self.pixel_event_ids(response.text)
        self.assertIn(('Purchase', f'purchase-{order.id}'), pixel['meta'])
        self.assertNotIn(f'purchase-{order.id}', self.get('/shop/confirmation').text)


@tagged('post_install', '-at_install')
class TestStorefrontOptionalModules(StorefrontCase):
    """Events of optional modules, recognised by their routes (no dependency on them)."""

    def _require(self, module):
        if not self.env['ir.module.module'].search(
                [('name', '=', module), ('state', '=', 'installed')]):
            self.skipTest(f'{module} is not installed')

    def test_add_to_wishlist(self):
        self._require('website_sale_wishlist')
        start = self.last_event_id()
        self.jsonrpc('/shop/wishlist/add', {'product_id': self.variant.id})
        wish = self.queued('AddToWishlist', start)
        self.assertEqual(len(wish), 2)
        self.assertEqual(self.meta(wish)['custom']['content_ids'], [str(self.variant.id)])
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events],
                         [('AddToWishlist', wish[0].event_id)])

    def test_newsletter_subscribe(self):
        self._require('website_mass_mailing')
        mailing_list = self.env['mailing.list'].create({'name': 'Tracked news'})
        start = self.last_event_id()
        self.jsonrpc('/website_mass_mailing/subscribe', {
            'list_id': mailing_list.id, 'value': 'Reader@Example.com',
            'subscription_type': 'email'})
        subscribe = self.queued('Subscribe', start)
        self.assertEqual(len(subscribe), 2)
        self.assertEqual(one(self.meta(subscribe)['user']['em']),
                         hashed_email('Reader@Example.com'))


@tagged('post_install', '-at_install')
class TestStorefrontSignup(StorefrontCase):

    def test_signup_complete_registration(self):
        self.env['ir.config_parameter'].sudo().set_param('auth_signup.invitation_scope', 'b2c')
        page = self.get('/web/signup')
        self.assertEqual(page.status_code, 200)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        self.assertTrue(csrf, 'sign-up form rendered')
        start = self.last_event_id()
        response = self.url_open('/web/signup', data={
            'csrf_token': csrf.group(1), 'login': 'New.Customer@Example.com',
            'name': 'New Customer', 'password': 'a-Long-passw0rd!', 'confirm_password':
            'a-Long-passw0rd!', 'redirect': '',
        }, headers={'Origin': self.origin(), 'Referer': self.origin() + '/web/signup'})
        self.assertLess(response.status_code, 400)
        registration = self.queued('CompleteRegistration', start)
        self.assertEqual(len(registration), 2)
        user = self.meta(registration)['user']
        self.assertEqual(one(user['em']), hashed_email('New.Customer@Example.com'))
        partner = self.env['res.users'].search([('login', '=', 'New.Customer@Example.com')])
        self.assertEqual(one(user['external_id']), convapi.hash_value(
            convapi.normalize('external_id', str(partner.partner_id.id))))
