"""What the storefront needs to know about a website's services, cached per worker (and the
names of categories and currencies its events carry).

Every shop request asks "is tracking on here, which pixels, which events?"; answering from an
ormcache keeps that off the database. Any change to a service or an event type clears it, and so
does a system parameter change (Odoo clears the default cache on ir.config_parameter writes).
"""

from collections import namedtuple

from odoo import api, models, tools

from .. import const

ServiceInfo = namedtuple('ServiceInfo', [
    'id', 'platform', 'pixel_id', 'browser_pixel', 'limited_data_use', 'consent_policy',
    'event_codes', 'send_custom_events', 'known_codes',
    # what the outbox row needs, so that queueing reads nothing from the database
    'allowed_user_keys', 'company_id', 'country_code',
    # the id the browser tag loads with (the pixel id, or Pinterest's tag id: const.PLATFORMS)
    'tag_id',
])


def service_accepts(info, event_name):
    """ServiceInfo twin of conversions.api.service._accepts_event."""
    if event_name in info.event_codes:
        return True
    return event_name not in info.known_codes and info.send_custom_events


def _tag_id(service):
    """The id the service's browser tag loads with, '' when the platform has no tag."""
    tag = const.PLATFORMS[service.platform]['tag']
    return (service[tag['id_field']] or '').strip() if tag else ''


def allowed_user_keys(service):
    """The stored user keys the service's match-key switches allow (see _filter_user_data)."""
    keys = set()
    for switch, group in const.MATCH_KEY_GROUPS.items():
        if service[switch]:
            keys.update(group)
    return frozenset(keys)


class StorefrontCacheMixin(models.AbstractModel):
    """Any create, write or unlink of a record the storefront caches clears the caches."""
    _name = 'conversions.api.storefront.cache.mixin'
    _description = 'Clears the storefront caches on change'

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


class ConversionsApiService(models.Model):
    _name = 'conversions.api.service'
    _inherit = ['conversions.api.service', 'conversions.api.storefront.cache.mixin']

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
        website_company = website.company_id if website else self.env['res.company']
        return tuple(ServiceInfo(
            service.id, service.platform, service.pixel_id or '', bool(service.browser_pixel),
            bool(service.limited_data_use), service.consent_policy,
            frozenset(service.event_type_ids.mapped('code')), bool(service.send_custom_events),
            known,
            allowed_user_keys(service),
            website_company.id or service.company_id.id or False,
            website_company.country_id.code or None,
            _tag_id(service),
        ) for service in services)


class ConversionsApiEventType(models.Model):
    _name = 'conversions.api.event.type'
    _inherit = ['conversions.api.event.type', 'conversions.api.storefront.cache.mixin']


class ProductCategory(models.Model):
    _inherit = 'product.category'

    @api.model
    @tools.ormcache('category_id')
    def _convapi_category_name(self, category_id):
        """A category's name for event contents, cached: the shop page rarely reads it."""
        return self.sudo().browse(category_id).name or None if category_id else None

    def write(self, vals):
        if 'name' in vals:
            self.env.registry.clear_cache()
        return super().write(vals)


class ResCurrency(models.Model):
    _inherit = 'res.currency'

    @api.model
    @tools.ormcache('currency_id')
    def _convapi_currency_code(self, currency_id):
        """A currency's ISO code for event values, cached: product pages do not read it."""
        return self.sudo().browse(currency_id).name or None if currency_id else None

    def write(self, vals):
        if 'name' in vals:
            self.env.registry.clear_cache()
        return super().write(vals)


class Website(models.Model):
    _inherit = 'website'

    def write(self, vals):
        # The cached service config carries the website company and its country.
        if 'company_id' in vals:
            self.env.registry.clear_cache()
        return super().write(vals)


class ResCompany(models.Model):
    _inherit = 'res.company'

    def write(self, vals):
        # The company's country is the phone-number region hint of the cached service config.
        if 'country_id' in vals:
            self.env.registry.clear_cache()
        return super().write(vals)
