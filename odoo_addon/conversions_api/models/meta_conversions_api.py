"""``env["meta.conversions.api"].send_event(...)``: the call server actions use; the same call
for every other platform of const.PLATFORMS (``tiktok.events.api``, ``pinterest.conversions.api``,
``ga4.measurement.protocol``), generated below."""

import logging

from odoo import _, api, models
from odoo.exceptions import AccessError

from .. import const

_logger = logging.getLogger(__name__)

# Keyword arguments of send_event handed to the outbox as they are.
_ENQUEUE_KEYWORDS = ('referrer_url', 'source', 'event_time', 'request_context')


class MetaConversionsApi(models.AbstractModel):
    _name = 'meta.conversions.api'
    _description = 'Meta Conversions API'

    _conversions_api_platform = 'meta'

    @api.model
    def send_event(self, event_name, user_data=None, custom_data=None, event_id=None,
                   event_source_url=None, website=None, partner=None, **extra):
        """Queue ``event_name`` for this platform's services; returns the queued rows.

        ``user_data`` takes neutral keys (email, phone, first_name, ...) or Meta keys
        (em, ph, fn, ...), raw or already SHA-256 hashed; ``partner`` adds the partner's
        email, phone, name, address and ID. Also accepted: ``referrer_url``, ``source``
        (a record), ``event_time`` (datetime or Unix seconds), ``request_context``,
        ``action_source``, ``opt_out`` and ``limited_data_use``.
        Delivery happens after commit; a tracking problem is logged, never raised.
        """
        if not (self.env.su or self.env.user._is_internal()):
            raise AccessError(_('Only internal users can send conversion events.'))
        unknown = set(extra) - set(_ENQUEUE_KEYWORDS) - set(const.EVENT_EXTRA_KEYS)
        if unknown:
            _logger.warning('conversions_api: send_event ignores %s', ', '.join(sorted(unknown)))
        if isinstance(website, int):
            website = self.env['website'].browse(website)
        if isinstance(partner, int):
            partner = self.env['res.partner'].browse(partner)
        return self.env['conversions.api.event']._enqueue(
            event_name,
            website=website,
            user_data=user_data,
            custom_data=custom_data,
            event_id=event_id,
            event_source_url=event_source_url,
            partner=partner,
            platforms=[self._conversions_api_platform],
            event_extra={key: extra[key] for key in const.EVENT_EXTRA_KEYS if key in extra},
            **{key: extra[key] for key in _ENQUEUE_KEYWORDS if key in extra},
        )


def _platform_model(platform, spec):
    """The send_event model of one platform: Meta's, for that platform alone."""
    class_name = ''.join(part.capitalize() for part in spec['model'].split('.'))
    return type(class_name, (models.AbstractModel,), {
        '_name': spec['model'],
        '_inherit': MetaConversionsApi._name,
        '_description': spec['label'],
        '_conversions_api_platform': platform,
        '__module__': __name__,
    })


PLATFORM_MODELS = [
    _platform_model(platform, spec) for platform, spec in const.PLATFORMS.items()
    if spec['model'] != MetaConversionsApi._name
]
