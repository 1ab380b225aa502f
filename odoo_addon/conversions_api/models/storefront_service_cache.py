"""What the storefront needs to know about a website's services, cached per worker.

Every shop request asks "is tracking on here, which pixels, which events?"; answering from an
ormcache keeps that off the database. Any change to a service or an event type clears it, and so
does a system parameter change (Odoo clears the default cache on ir.config_parameter writes).
"""

from collections import namedtuple

from odoo import api, models, tools

ServiceInfo = namedtuple('ServiceInfo', [
    'id', 'platform', 'pixel_id', 'browser_pixel', 'limited_data_use', 'consent_policy',
    'event_codes', 'send_custom_events', 'known_codes',
])


def service_accepts(info, event_name):
    """ServiceInfo twin of conversions.api.service._accepts_event."""
    if event_name in info.event_codes:
        return True
    return event_name not in info.known_codes and info.send_custom_events


class ConversionsApiService(models.Model):
    _inherit = 'conversions.api.service'

    @api.model
    def _storefront_services(self, website_id):
        """Tuple of ServiceInfo for the website (cached; never writes when cached)."""
        return self._storefront_services_cached(website_id or 0)

    @api.model
    @tools.ormcache('website_id')
    def _storefront_services_cached(self, website_id):
        website = self.env['website'].browse(website_id) if website_id else self.env['website']
        services = self.sudo()._services_for_website(website)
        known = frozenset(self.env['conversions.api.event.type'].sudo().search([]).mapped('code'))
        return tuple(ServiceInfo(
            service.id, service.platform, service.pixel_id or '', bool(service.browser_pixel),
            bool(service.limited_data_use), service.consent_policy,
            frozenset(service.event_type_ids.mapped('code')), bool(service.send_custom_events),
            known,
        ) for service in services)

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()


class ConversionsApiEventType(models.Model):
    _inherit = 'conversions.api.event.type'

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()
