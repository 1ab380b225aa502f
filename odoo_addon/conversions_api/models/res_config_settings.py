"""Website settings: the system-parameter configuration, retention and endpoints.

One set of fields per platform of const.PLATFORMS (``capi_<platform>_enabled``, one per
parameter, ``capi_<platform>_base_url``), and their part of the settings form, are generated
from that table: a new platform needs nothing here.
"""

from lxml.builder import E
from odoo import api, fields, models

from .. import const
from .conversions_api_service import label_source

# Service fields holding a secret: administrators only, typed as passwords.
SECRET_FIELDS = ('access_token',)
# Service fields that are booleans (the others are text).
BOOLEAN_FIELDS = ('test_mode',)
# Service fields a platform cannot be switched on without.
REQUIRED_FIELDS = ('pixel_id', 'access_token')


def _settings_field_name(platform, fname):
    return f'capi_{platform}_{fname}'


def platform_settings_fields():
    """The res.config.settings fields of every platform, by field name."""
    result = {}
    for platform, spec in const.PLATFORMS.items():
        prefix = spec['parameter_prefix']
        result[_settings_field_name(platform, 'enabled')] = fields.Boolean(
            string=spec['label'], config_parameter=f'{prefix}.enabled')
        for fname, key in spec['parameters'].items():
            string = '%s %s' % (spec['name'], label_source(spec['labels'][fname]))
            options = {'string': string, 'config_parameter': f'{prefix}.{key}'}
            if fname in SECRET_FIELDS:
                options['groups'] = 'base.group_system'
            field_type = fields.Boolean if fname in BOOLEAN_FIELDS else fields.Char
            result[_settings_field_name(platform, fname)] = field_type(**options)
        result[_settings_field_name(platform, 'base_url')] = fields.Char(
            string='%s API base URL' % spec['name'],
            config_parameter=spec['base_url_parameter'], groups='base.group_system',
            help='Default: %s' % spec['default_base_url'])
    return result


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    # capi_meta_enabled, capi_meta_pixel_id, capi_meta_access_token, ..., capi_ga4_base_url
    vars().update(platform_settings_fields())

    capi_retention_days = fields.Integer(
        string='Keep events (days)', config_parameter='conversions_api.retention_days',
        default=30)
    capi_retention_strategy = fields.Selection(
        [('sanitise', 'Remove payloads'), ('delete', 'Delete events')],
        string='After that', config_parameter='conversions_api.retention_strategy',
        default='sanitise')
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
                for name in self._capi_boolean_fields() if not self[name]]
        if keys:
            params = self.env['ir.config_parameter'].sudo()
            params.flush_model()
            self.env.cr.execute('DELETE FROM ir_config_parameter WHERE key = ANY(%s)', [keys])
            params.invalidate_model()
            self.env.registry.clear_cache()
        self.env['conversions.api.service'].sudo()._sync_system_fallbacks()

    @api.model
    def _capi_boolean_fields(self):
        names = []
        for platform, spec in const.PLATFORMS.items():
            names.append(_settings_field_name(platform, 'enabled'))
            names.extend(_settings_field_name(platform, fname)
                         for fname in spec['parameters'] if fname in BOOLEAN_FIELDS)
        return names

    @api.model
    def _get_view(self, view_id=None, view_type='form', **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        if view_type == 'form':
            # translated here, where the lazy labels find the environment's language
            texts = {}
            for platform, spec in const.PLATFORMS.items():
                texts[platform] = {'help': str(spec['help'])}
                for fname, label in spec['labels'].items():
                    texts[platform][fname] = str(label)
            for block in arch.xpath("//block[@id='conversions_api_settings']"):
                for index, platform in enumerate(const.PLATFORMS):
                    block.insert(index, _platform_setting(platform, texts[platform]))
            for setting in arch.xpath("//setting[@id='conversions_api_endpoint_setting']"):
                for platform, spec in const.PLATFORMS.items():
                    setting.append(_row(
                        E.label(**{'for': _settings_field_name(platform, 'base_url'),
                                   'string': spec['name'], 'class': 'col-lg-4 o_light_label'}),
                        E.field(name=_settings_field_name(platform, 'base_url'),
                                placeholder=spec['default_base_url'])))
        return arch, view


def _row(*children, first=False):
    return E.div(*children, **{'class': 'row mt16' if first else 'row'})


def _platform_setting(platform, texts):
    """The settings form's part of one platform: its switch, then its parameters (``texts``:
    its help and field labels, translated)."""
    spec = const.PLATFORMS[platform]
    enabled = _settings_field_name(platform, 'enabled')
    rows = []
    for fname in spec['parameters']:
        name = _settings_field_name(platform, fname)
        field = E.field(name=name)
        if fname in SECRET_FIELDS:
            field.set('password', 'True')
        if fname in REQUIRED_FIELDS:
            field.set('required', enabled)
        label = E.label(**{'for': name, 'string': texts[fname],
                           'class': 'col-lg-4 o_light_label'})
        rows.append(_row(label, field, first=not rows))
    return E.setting(
        E.field(name=enabled),
        E.div(*rows, **{'class': 'content-group', 'invisible': f'not {enabled}'}),
        id=f'conversions_api_{platform}_setting', string=spec['label'], help=texts['help'])
