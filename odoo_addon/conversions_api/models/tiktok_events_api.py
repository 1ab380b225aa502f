"""``env["tiktok.events.api"].send_event(...)``: same call as Meta's, for TikTok."""

from odoo import models


class TikTokEventsApi(models.AbstractModel):
    _name = 'tiktok.events.api'
    _inherit = 'meta.conversions.api'
    _description = 'TikTok Events API'

    _conversions_api_platform = 'tiktok'
