"""Website settings: the system-parameter configuration, retention and endpoints."""

from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    capi_meta_enabled = fields.Boolean(
        string='Meta Conversions API', config_parameter='meta_capi.enabled')
    capi_meta_pixel_id = fields.Char(
        string='Meta pixel ID', config_parameter='meta_capi.pixel_id')
    capi_meta_access_token = fields.Char(
        string='Meta access token', config_parameter='meta_capi.access_token',
        groups='base.group_system')
    capi_meta_test_event_code = fields.Char(
        string='Meta test event code', config_parameter='meta_capi.test_event_code')
    capi_tiktok_enabled = fields.Boolean(
        string='TikTok Events API', config_parameter='tiktok_eapi.enabled')
    capi_tiktok_pixel_id = fields.Char(
        string='TikTok pixel code', config_parameter='tiktok_eapi.pixel_id')
    capi_tiktok_access_token = fields.Char(
        string='TikTok access token', config_parameter='tiktok_eapi.access_token',
        groups='base.group_system')
    capi_tiktok_test_event_code = fields.Char(
        string='TikTok test event code', config_parameter='tiktok_eapi.test_event_code')
    capi_retention_days = fields.Integer(
        string='Keep events (days)', config_parameter='conversions_api.retention_days',
        default=30)
    capi_retention_strategy = fields.Selection(
        [('sanitise', 'Remove payloads'), ('delete', 'Delete events')],
        string='After that', config_parameter='conversions_api.retention_strategy',
        default='sanitise')
    capi_meta_base_url = fields.Char(
        string='Meta API base URL', config_parameter='conversions_api.meta_base_url',
        groups='base.group_system', help='Default: https://graph.facebook.com')
    capi_tiktok_base_url = fields.Char(
        string='TikTok API base URL', config_parameter='conversions_api.tiktok_base_url',
        groups='base.group_system', help='Default: https://business-api.tiktok.com')
    capi_service_count = fields.Integer(compute='_compute_capi_service_count')

    @api.depends('website_id')
    def _compute_capi_service_count(self):
        count = self.env['conversions.api.service'].sudo().search_count(
            [('is_system_fallback', '=', False)])
        for settings in self:
            settings.capi_service_count = count

    def set_values(self):
        super().set_values()
        # A switched-off boolean must not stay 'True': some Odoo 17 trees never delete the
        # parameter (``param.unlink`` without the call), so remove it in SQL.
        keys = [self._fields[name].config_parameter
                for name in ('capi_meta_enabled', 'capi_tiktok_enabled') if not self[name]]
        if keys:
            params = self.env['ir.config_parameter'].sudo()
            params.flush_model()
            self.env.cr.execute('DELETE FROM ir_config_parameter WHERE key = ANY(%s)', [keys])
            params.invalidate_model()
            self.env.registry.clear_cache()
        self.env['conversions.api.service'].sudo()._sync_system_fallbacks()
