"""Funnel paths beyond the basic add to cart: event registration, job application, the product
configurator's optional products, express checkout ("Buy now") and the cart page's quantity
buttons, on each version's own routes."""

import json
from datetime import timedelta

import convapi
from odoo import fields
from odoo.tests import tagged

from .storefront_common import ODOO_VERSION, StorefrontCase


def hashed(field, value):
    return convapi.hash_value(convapi.normalize(field, value))


def one(value):
    """Meta keeps hashed keys as arrays; compare their single value."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


class PathCase(StorefrontCase):

    def meta_rows(self, rows):
        return rows.filtered(lambda e: e.service_id == self.meta_service)

    def assert_add_to_cart(self, rows, variant, quantity):
        """One AddToCart per service for ``quantity`` of ``variant``; returns the Meta payload."""
        self.assertEqual(len(rows), 2, 'one AddToCart per service')
        self.assertEqual(set(rows.mapped('service_id').ids),
                         {self.meta_service.id, self.tiktok_service.id})
        self.assertEqual(len(set(rows.mapped('event_id'))), 1, 'both services share the id')
        payload = self.payload(self.meta_rows(rows))
        custom = payload['custom']
        self.assertEqual(custom['content_ids'], [str(variant.id)])
        self.assertEqual(custom['contents'][0]['quantity'], quantity)
        self.assertIsInstance(custom['contents'][0]['quantity'], int)
        price = custom['contents'][0]['item_price']
        self.assertGreater(price, 0)
        self.assertAlmostEqual(custom['value'], quantity * price)
        self.assertEqual(custom['currency'], self.website.currency_id.name)
        return payload


@tagged('post_install', '-at_install')
class TestStorefrontEventRegistration(PathCase):
    """website_event: CompleteRegistration with the attendee's hashed email, once accepted."""

    def setUp(self):
        super().setUp()
        self.require_module('website_event')
        now = fields.Datetime.now()
        self.event = self.env['event.event'].create({
            'name': 'Tracked Meetup',
            'date_begin': now + timedelta(days=7),
            'date_end': now + timedelta(days=8),
            'is_published': True,
            'website_id': self.website.id,
        })
        self.ticket = self.env['event.event.ticket'].create({
            'name': 'Free seat', 'event_id': self.event.id, 'seats_max': 1,
        })
        Question = self.env['event.question']
        self.questions = {}
        for kind in ('name', 'email', 'phone'):
            question = self.event.question_ids.filtered(lambda q, k=kind: q.question_type == k)[:1]
            if not question:
                link = ({'event_id': self.event.id} if 'event_id' in Question._fields
                        else {'event_ids': [(4, self.event.id)]})  # 19: shared questions
                question = Question.create({'title': kind.title(), 'question_type': kind, **link})
            self.questions[kind] = question

    def registration_url(self):
        url = self.event.website_url.split('?')[0].rstrip('/')
        if url.endswith('/register'):
            url = url[:-len('/register')]
        return url + '/registration/confirm'

    def attendee(self, index, name, email, phone):
        return {
            f'{index}-name-{self.questions["name"].id}': name,
            f'{index}-email-{self.questions["email"].id}': email,
            f'{index}-phone-{self.questions["phone"].id}': phone,
            f'{index}-event_ticket_id': str(self.ticket.id),
        }

    def test_registration_complete(self):
        token = self.csrf_token(self.event.website_url)
        start = self.last_event_id()
        data = {'csrf_token': token}
        data.update(self.attendee(1, 'Ada Lovelace', 'Ada.Lovelace@Example.com',
                                  '+32 470 12 34 56'))
        response = self.url_open(self.registration_url(), data=data, allow_redirects=False,
                                 headers={'Origin': self.origin(),
                                          'Referer': self.origin() + self.event.website_url})
        self.assertIn(response.status_code, (301, 302, 303))
        self.assertIn('/registration/success', response.headers.get('Location', ''))
        self.assertEqual(self.event.registration_ids.mapped('email'), ['Ada.Lovelace@Example.com'])

        rows = self.queued('CompleteRegistration', start)
        self.assertEqual(len(rows), 2, 'one CompleteRegistration per service')
        payload = self.payload(self.meta_rows(rows))
        self.assertEqual(one(payload['user']['em']), hashed('email', 'Ada.Lovelace@Example.com'))
        # Meta hashes the E.164 digits without the '+'
        self.assertEqual(one(payload['user']['ph']), convapi.hash_value('32470123456'))
        self.assertEqual(one(payload['user']['fn']), hashed('first_name', 'Ada'))
        self.assertEqual(one(payload['user']['ln']), hashed('last_name', 'Lovelace'))
        self.assertEqual(payload['custom']['content_name'], 'event registration')
        self.assertEqual(payload['custom']['status'], 'registered')
        # the TikTok copy, hashed TikTok's way (stored under Meta-native keys): E.164 with '+'
        tiktok = self.payload(rows.filtered(lambda e: e.service_id == self.tiktok_service))
        self.assertEqual(one(tiktok['user']['em']), hashed('email', 'Ada.Lovelace@Example.com'))
        self.assertEqual(one(tiktok['user']['ph']), convapi.hash_value('+32470123456'))
        # the confirmation redirects: its pixel copy waits in the session for the pixel
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events],
                         [('CompleteRegistration', rows[0].event_id)])

    def test_refused_registration_tracks_nothing(self):
        """Two attendees for the last seat: website_event sends the visitor back to the form."""
        token = self.csrf_token(self.event.website_url)
        start = self.last_event_id()
        data = {'csrf_token': token}
        data.update(self.attendee(1, 'Ada Lovelace', 'ada@example.com', ''))
        data.update(self.attendee(2, 'Charles Babbage', 'charles@example.com', ''))
        response = self.url_open(self.registration_url(), data=data, allow_redirects=False,
                                 headers={'Origin': self.origin()})
        self.assertIn(response.status_code, (301, 302, 303))
        self.assertIn('registration_error_code', response.headers.get('Location', ''))
        self.assertFalse(self.event.registration_ids)
        self.assertFalse(self.queued('CompleteRegistration', start))


@tagged('post_install', '-at_install')
class TestStorefrontJobApplication(PathCase):
    """website_hr_recruitment: the job form gives SubmitApplication with the applicant's keys."""

    def test_job_application(self):
        self.require_module('website_hr_recruitment')
        job = self.env['hr.job'].create({
            'name': 'Tracked Engineer', 'is_published': True, 'website_id': self.website.id})
        start = self.last_event_id()
        response = self.url_open('/website/form/hr.applicant', data={
            'partner_name': 'Grace Hopper',
            'email_from': 'Grace.Hopper@Example.com',
            'partner_phone': '+1 202 555 0143',
            'job_id': str(job.id),
            'description': 'I wrote the first compiler.',
        }, headers={'Origin': self.origin(), 'Referer': self.origin() + job.website_url})
        self.assertEqual(response.status_code, 200, response.text[:500])
        applicant_id = json.loads(response.text).get('id')
        self.assertTrue(applicant_id, response.text[:500])
        applicant = self.env['hr.applicant'].sudo().browse(applicant_id)
        self.assertEqual(applicant.job_id, job)

        rows = self.queued('SubmitApplication', start)
        self.assertEqual(len(rows), 2, 'one SubmitApplication per service')
        payload = self.payload(self.meta_rows(rows))
        self.assertEqual(one(payload['user']['em']), hashed('email', 'Grace.Hopper@Example.com'))
        self.assertEqual(one(payload['user']['ph']), convapi.hash_value('12025550143'))
        self.assertEqual(one(payload['user']['fn']), hashed('first_name', 'Grace'))
        self.assertEqual(one(payload['user']['ln']), hashed('last_name', 'Hopper'))
        self.assertEqual(payload['custom']['content_category'], 'hr.applicant')
        self.assertEqual(payload['event_source_url'], self.origin() + job.website_url)
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['tiktok_name'], e['event_id']) for e in events],
                         [('SubmitApplication', 'SubmitApplication', rows[0].event_id)])


@tagged('post_install', '-at_install')
class TestStorefrontCartPaths(PathCase):
    """AddToCart from the configurator, express checkout and the cart page, per version."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.option = cls.env['product.template'].create({
            'name': 'Tracked Cushion',
            'list_price': 20.0,
            'sale_ok': True,
            'website_published': True,
            'taxes_id': [(5, 0, 0)],
            ('detailed_type' if ODOO_VERSION < 18 else 'type'): 'service',
        })
        cls.option_variant = cls.option.product_variant_id
        cls.product.optional_product_ids = [(6, 0, cls.option.ids)]

    def _line(self, variant):
        self.env.invalidate_all()  # the requests changed the cart behind this env's cache
        return self.cart().order_line.filtered(lambda line: line.product_id == variant)

    def test_configurator_with_optional_product(self):
        start = self.last_event_id()
        if ODOO_VERSION == 17:
            self.require_module('website_sale_product_configurator')
            self.jsonrpc('/shop/cart/update_option', {'product_and_options': json.dumps([
                {'product_id': self.variant.id, 'product_template_id': self.product.id,
                 'quantity': 2, 'unique_id': 'main', 'parent_unique_id': None,
                 'product_custom_attribute_values': [], 'no_variant_attribute_values': []},
                {'product_id': self.option_variant.id, 'product_template_id': self.option.id,
                 'quantity': 1, 'unique_id': 'opt', 'parent_unique_id': 'main',
                 'product_custom_attribute_values': [], 'no_variant_attribute_values': []},
            ])})
        else:
            main = {'product_id': self.variant.id, 'product_template_id': self.product.id,
                    'quantity': 2, 'product_custom_attribute_values': [],
                    'no_variant_attribute_value_ids': []}
            option = {'product_id': self.option_variant.id,
                      'product_template_id': self.option.id,
                      'parent_product_template_id': self.product.id, 'quantity': 1,
                      'product_custom_attribute_values': [],
                      'no_variant_attribute_value_ids': []}
            if ODOO_VERSION == 18:
                self.jsonrpc('/website_sale/product_configurator/update_cart', {
                    'main_product': main, 'optional_products': [option]})
            else:
                main['linked_products'] = [option]
                self.jsonrpc('/shop/cart/add', main)
        self._assert_main_and_option(start)

    def _assert_main_and_option(self, start):
        rows = self.queued('AddToCart', start)
        self.assertEqual(self._line(self.variant).product_uom_qty, 2)
        self.assertEqual(self._line(self.option_variant).product_uom_qty, 1)
        main_rows = rows.filtered(lambda e: self.payload(e)['custom']['content_ids'] == [
            str(self.variant.id)])
        option_rows = rows.filtered(lambda e: self.payload(e)['custom']['content_ids'] == [
            str(self.option_variant.id)])
        self.assertEqual(len(rows), 4, 'one AddToCart per product and service')
        self.assert_add_to_cart(main_rows, self.variant, 2)
        self.assert_add_to_cart(option_rows, self.option_variant, 1)
        self.assertNotEqual(main_rows[0].event_id, option_rows[0].event_id)
        # both pixel copies wait for the pixel script, with the server copies' ids
        events = self.pending_pixel_events().json()['events']
        self.assertEqual(sorted((e['name'], e['event_id']) for e in events), sorted([
            ('AddToCart', main_rows[0].event_id), ('AddToCart', option_rows[0].event_id)]))

    def test_express_checkout(self):
        """"Buy now": the add, then straight to the checkout; the next page fires the pixel."""
        if ODOO_VERSION < 19:
            # the product page posts the form to /shop/cart/update with express=1
            token = self.csrf_token(self.product_url())
            start = self.last_event_id()
            response = self.url_open('/shop/cart/update', data={
                'csrf_token': token, 'product_id': str(self.variant.id), 'add_qty': '1',
                'express': '1'}, headers={'Origin': self.origin(),
                                          'Referer': self.origin() + self.product_url()})
        else:
            # the cart service adds through /shop/cart/add, then opens the checkout
            start = self.last_event_id()
            self.jsonrpc('/shop/cart/add', {
                'product_template_id': self.product.id, 'product_id': self.variant.id,
                'quantity': 1}, headers={'Referer': self.origin() + self.product_url()})
            response = self.get('/shop/checkout?try_skip_step=true')
        self.assertEqual(response.status_code, 200)
        rows = self.queued('AddToCart', start)
        payload = self.assert_add_to_cart(rows, self.variant, 1)
        self.assertIn(self.product_url(), payload['event_source_url'])
        self.assertEqual(self._line(self.variant).product_uom_qty, 1)
        # the page the shopper lands on fires the browser copy with the server's id
        pixel = self.pixel_event_ids(response.text)
        self.assertIsNotNone(pixel, f'pixel script on {response.url}')
        self.assertIn(('AddToCart', rows[0].event_id), pixel['meta'])
        self.assertIn(('AddToCart', rows[0].event_id), pixel['tiktok'])
        self.assertEqual(self.pending_pixel_events().json()['events'], [], 'fired once')

    def test_adding_a_product_already_in_the_cart(self):
        """The product page's add again (19: ``_cart_add`` updating the line it finds, 17/18:
        ``_cart_update``): AddToCart for the quantity added, not the line's new total."""
        self.add_to_cart(2)
        line = self._line(self.variant)
        start = self.last_event_id()
        self.add_to_cart(3)
        self.env.invalidate_all()
        self.assertEqual(self._line(self.variant), line, 'the same line, updated')
        self.assertEqual(line.product_uom_qty, 5)
        rows = self.queued('AddToCart', start)
        self.assert_add_to_cart(rows, self.variant, 3)

    def test_cart_page_quantity_buttons(self):
        """+ on the cart page: AddToCart for the added quantity only; - : nothing."""
        self.add_to_cart(1)
        line = self._line(self.variant)
        self.assertEqual(line.product_uom_qty, 1)
        self.pending_pixel_events()

        def set_quantity(quantity):
            if ODOO_VERSION >= 19:
                # 19: the cart page's own route, sale.order._cart_update_line_quantity
                return self.jsonrpc('/shop/cart/update', {
                    'line_id': line.id, 'quantity': quantity, 'product_id': self.variant.id})
            return self.jsonrpc('/shop/cart/update_json', {
                'line_id': line.id, 'product_id': self.variant.id, 'set_qty': quantity})

        start = self.last_event_id()
        set_quantity(3)
        self.env.invalidate_all()
        self.assertEqual(line.product_uom_qty, 3)
        rows = self.queued('AddToCart', start)
        self.assert_add_to_cart(rows, self.variant, 2)
        events = self.pending_pixel_events().json()['events']
        self.assertEqual([(e['name'], e['event_id']) for e in events],
                         [('AddToCart', rows[0].event_id)])

        start = self.last_event_id()
        set_quantity(2)
        self.env.invalidate_all()
        self.assertEqual(line.product_uom_qty, 2)
        set_quantity(1)
        self.env.invalidate_all()
        self.assertEqual(line.product_uom_qty, 1)
        self.assertFalse(self.queued('AddToCart', start), 'no AddToCart for a decrease')
        self.assertEqual(self.pending_pixel_events().json()['events'], [])
