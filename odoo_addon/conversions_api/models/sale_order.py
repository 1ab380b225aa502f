"""Website orders keep the shopper's tracking context; AddToCart and Purchase hook in here."""

import json
import logging
from functools import partial

from odoo import fields, models, release
from odoo.http import request

from .. import storefront

_logger = logging.getLogger(__name__)

ODOO_VERSION = release.version_info[0]

# sale.order field -> request_context key
CONTEXT_FIELDS = {
    'convapi_client_ip': 'client_ip_address',
    'convapi_user_agent': 'client_user_agent',
    'convapi_fbc': 'fbc',
    'convapi_fbp': 'fbp',
    'convapi_ttclid': 'ttclid',
    'convapi_ttp': 'ttp',
    'convapi_click_id': 'click_id',
    'convapi_client_id': 'client_id',
    'convapi_session_ids': 'session_ids',
    'convapi_event_source_url': 'event_source_url',
    'convapi_consent': 'consent',
}
# request_context keys holding a dict, stored as JSON
JSON_CONTEXT_KEYS = ('session_ids',)


# (dbname, order id) -> the tracking context this process last saw committed on the order: the
# next cart call of the same visit skips reading and comparing the order's fields. Filled after
# commit only (a rolled-back write is never remembered); bounded.
_committed_contexts = {}
MAX_REMEMBERED_CONTEXTS = 10000


def _remember_context(key, signature):
    if len(_committed_contexts) >= MAX_REMEMBERED_CONTEXTS:
        _committed_contexts.clear()
    _committed_contexts[key] = signature


def _context_value(context, key):
    """A request_context value as the order stores it (False when empty)."""
    value = context.get(key)
    if key in JSON_CONTEXT_KEYS:
        return json.dumps(value, sort_keys=True) if value else False
    return value or False


def _website_request():
    return bool(request and request.db and getattr(request, 'website', None))


class SaleOrder(models.Model):
    _inherit = 'sale.order'

    convapi_client_ip = fields.Char('Tracking: IP address', copy=False)
    convapi_user_agent = fields.Char('Tracking: user agent', copy=False)
    convapi_fbc = fields.Char('Tracking: Meta click id (_fbc)', copy=False)
    convapi_fbp = fields.Char('Tracking: Meta browser id (_fbp)', copy=False)
    convapi_ttclid = fields.Char('Tracking: TikTok click id', copy=False)
    convapi_ttp = fields.Char('Tracking: TikTok browser id (_ttp)', copy=False)
    # a Purchase confirmed later (webhook, cron, back office) has no shopper request: it gets
    # the Pinterest click id and the GA4 client and session ids seen at checkout
    convapi_click_id = fields.Char('Tracking: Pinterest click id (epik)', copy=False)
    convapi_client_id = fields.Char('Tracking: GA4 client id (_ga)', copy=False)
    convapi_session_ids = fields.Char(
        'Tracking: GA4 session ids (_ga_<stream>)', copy=False,
        help='JSON: the session cookie of each GA4 measurement ID, by its ID without G-.')
    convapi_event_source_url = fields.Char('Tracking: page URL', copy=False)
    convapi_consent = fields.Selection(
        [('granted', 'Granted'), ('denied', 'Denied')], string='Tracking: cookie consent',
        copy=False)
    convapi_purchase_sent = fields.Boolean(
        'Purchase event queued', copy=False, readonly=True,
        help='Set when the Purchase event of this website order was queued, so it is sent once.')
    convapi_purchase_pixel_done = fields.Boolean(
        'Purchase pixel rendered', copy=False, readonly=True,
        help='Set when the confirmation page fired the browser Purchase, so a reload does not.')

    # ------------------------------------------------------------------
    # Tracking context
    # ------------------------------------------------------------------

    def _convapi_store_request_context(self):
        """Copy the current request's tracking context onto the order (only what changed)."""
        if not _website_request():
            return
        try:
            IrHttp = self.env['ir.http']
            tracker = IrHttp._convapi_current_tracker()
            if tracker is None:
                return
            context = tracker.context
            if context is None:
                services = IrHttp._convapi_services(tracker, request.website)
                if not services:
                    return
                context = IrHttp._convapi_request_context(tracker, services)
            signature = tuple(_context_value(context, key) for key in CONTEXT_FIELDS.values())
            cr = self.env.cr
            for order in self.sudo():
                remembered = (cr.dbname, order.id)
                if _committed_contexts.get(remembered) == signature:
                    continue
                values = {}
                for fname, key in CONTEXT_FIELDS.items():
                    value = _context_value(context, key)
                    # a click id seen once stays on the order even if a later page lacks it
                    if value and order[fname] != value:
                        values[fname] = value
                if values:
                    order.write(values)
                cr.postcommit.add(partial(_remember_context, remembered, signature))
        except Exception:
            _logger.exception('conversions_api: could not store the tracking context on %s', self)

    def _convapi_request_context(self):
        self.ensure_one()
        context = {key: self[fname] or None for fname, key in CONTEXT_FIELDS.items()}
        for key in JSON_CONTEXT_KEYS:
            try:
                context[key] = json.loads(context[key]) if context[key] else None
            except ValueError:
                context[key] = None
        context['referrer_url'] = None
        return context

    # ------------------------------------------------------------------
    # AddToCart: model-level hooks catch every add path (pages, RPC, configurators, express)
    # ------------------------------------------------------------------

    def _convapi_line_quantities(self):
        return {line.id: line.product_uom_qty for line in self.order_line}

    def _convapi_track_cart_add(self, before, result):
        """AddToCart for the quantity a cart call added (nothing for removals).

        The quantity comes from the call's result: its ``added_qty`` (19), else the line's new
        quantity less ``before`` (the lines' quantities before the call; 17, 18). The rest
        (price, product, the order's tracking context) is read when the request's endpoint is
        done: the values are final and already in the ORM cache then, where reading them here
        would recompute the line's prices and fetch its product ahead of Odoo.
        """
        if not _website_request() or not isinstance(result, dict):
            return
        try:
            line_id = result.get('line_id')
            if not line_id:
                return
            if before is None:
                added = result.get('added_qty')
            else:
                quantity = result.get('quantity')
                added = None if quantity is None else float(quantity) - before.get(line_id, 0.0)
            added = None if added is None else float(added)
            if added is None or added <= 0:
                return
            IrHttp = self.env['ir.http']
            order = self

            def track_add_to_cart():
                # the cart's lines are in cache; exists() would be one more query
                line = order.order_line.filtered(lambda sol: sol.id == line_id)
                if not line:
                    return
                # The unit price the shop set on the line, after discount (what Odoo's own
                # GA4 tracking sends). The tax-included price_reduce_taxinc would compute the
                # line's taxes again in the shopper's request.
                price = line.price_unit * (1.0 - (line.discount or 0.0) / 100.0)
                content = storefront.product_content(line.product_id, added, price)
                custom = storefront.contents_custom_data([content], order.currency_id.name)
                order._convapi_store_request_context()
                IrHttp._convapi_track('AddToCart', custom_data=custom)

            IrHttp._convapi_track_later(track_add_to_cart)
        except Exception:
            _logger.exception('conversions_api: AddToCart hook failed')

    if ODOO_VERSION < 19:
        def _cart_update(self, *args, **kwargs):
            before = self._convapi_line_quantities() if _website_request() else {}
            result = super()._cart_update(*args, **kwargs)
            self._convapi_track_cart_add(before, result)
            return result
    else:
        # 19's cart calls return the quantity they added (``added_qty``): nothing to read
        # before the call. ``_cart_add`` of a product already in the cart calls
        # ``_cart_update_line_quantity``: the context marks the outer call, tracked alone.
        def _cart_add(self, *args, **kwargs):
            if self.env.context.get('convapi_in_cart_call'):
                return super()._cart_add(*args, **kwargs)
            result = super(SaleOrder, self.with_context(convapi_in_cart_call=True))._cart_add(
                *args, **kwargs)
            self._convapi_track_cart_add(None, result)
            return result

        def _cart_update_line_quantity(self, *args, **kwargs):
            if self.env.context.get('convapi_in_cart_call'):
                return super()._cart_update_line_quantity(*args, **kwargs)
            result = super(
                SaleOrder, self.with_context(convapi_in_cart_call=True)
            )._cart_update_line_quantity(*args, **kwargs)
            self._convapi_track_cart_add(None, result)
            return result

    # ------------------------------------------------------------------
    # Purchase: once per website order, however the confirmation arrives
    # ------------------------------------------------------------------

    def _action_confirm(self):
        result = super()._action_confirm()
        for order in self:
            if order.website_id and not order.convapi_purchase_sent:
                order._convapi_queue_purchase()
        return result

    def _convapi_queue_purchase(self):
        """Queue the server Purchase with the stored context; the flag makes it exactly once."""
        self.ensure_one()
        if self.convapi_purchase_sent:
            return
        try:
            with self.env.cr.savepoint():
                order = self.sudo()
                order.convapi_purchase_sent = True
                context = order._convapi_request_context()
                custom = storefront.order_custom_data(order, order_id=order.name)
                self.env['conversions.api.event'].sudo()._enqueue(
                    'Purchase',
                    website=order.website_id,
                    custom_data=custom,
                    event_id=storefront.purchase_event_id(order),
                    event_source_url=context.get('event_source_url'),
                    partner=order.partner_id,
                    source=order,
                    request_context=context,
                )
        except Exception:
            _logger.exception('conversions_api: could not queue the Purchase of %s', self.name)

    def _convapi_render_purchase_pixel(self):
        """Fire the browser Purchase on the confirmation page, once, with the server's id."""
        self.ensure_one()
        order = self.sudo()
        if not order.website_id or not order.convapi_purchase_sent:
            return False
        if order.convapi_purchase_pixel_done:
            return False
        custom = storefront.order_custom_data(order, order_id=order.name)
        rendered = self.env['ir.http']._convapi_add_browser_event(
            'Purchase', storefront.purchase_event_id(order), custom, website=order.website_id)
        if rendered:
            order.convapi_purchase_pixel_done = True
        return rendered
