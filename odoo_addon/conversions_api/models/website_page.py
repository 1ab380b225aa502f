"""Odoo 19 caches whole website pages for visitors; a page with a pixel carries per-visit event
ids and consent-dependent markup, so it must be rendered for each visit."""

from odoo import api, models, release
from odoo.http import request


class WebsitePage(models.Model):
    _inherit = 'website.page'

    if release.version_info[0] >= 19:  # no page cache before 19
        @api.model
        def _allow_to_use_cache(self, request_):
            allowed = super()._allow_to_use_cache(request_)
            if allowed and request and getattr(request, 'website', None):
                services = self.env['conversions.api.service'].sudo()._storefront_services(
                    request.website.id)
                if services:
                    return False
            return allowed
