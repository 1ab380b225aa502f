"""A pixel, ad account or data stream that receives server-side events, per website (the
platforms and all that differs between them: const.PLATFORMS)."""

import logging
import time
import uuid
from datetime import timedelta

import psycopg2.errors
from lxml.builder import E
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import mute_logger

from .. import const, utils

_logger = logging.getLogger(__name__)

try:
    import convapi
except ImportError:  # declared in external_dependencies; keep the registry loadable
    convapi = None


def label_source(label):
    """The untranslated text of a lazy label of const.PLATFORMS (field strings and helps are
    plain text, translated through ir.model.fields)."""
    return getattr(label, '_source', label)


def platforms_help(intro, field, kinds=None):
    """A field's help: ``intro``, then what the field means per platform (const.PLATFORMS),
    for the platforms whose ``test`` kind is in ``kinds`` if given."""
    parts = [
        '%s: %s' % (spec['name'], label_source(spec['labels'][field]))
        for spec in const.PLATFORMS.values()
        if field in spec['labels'] and (kinds is None or spec['test'] in kinds)
    ]
    return '%s %s.' % (intro, '; '.join(parts))


class ConversionsApiService(models.Model):
    _name = 'conversions.api.service'
    _description = 'Conversion API service'
    _order = 'sequence, id'

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    platform = fields.Selection(
        [(platform, spec['label']) for platform, spec in const.PLATFORMS.items()],
        required=True, default='meta')
    pixel_id = fields.Char(
        string='Pixel ID', required=True,
        help=platforms_help('The pixel, account or stream receiving the events.', 'pixel_id'))
    access_token = fields.Char(
        groups='base.group_system', copy=False,
        help=platforms_help('The secret the platform gave for its server API.', 'access_token'))
    tag_id = fields.Char(
        string='Tag ID',
        help=platforms_help('The ID of the browser tag, where it is not the pixel ID above.',
                            'tag_id'))
    test_event_code = fields.Char(
        help=platforms_help(
            'While set, every event is sent as a test event (shown in the platform\'s test '
            'events tool). Events sent with a test code still count: clear it in production.',
            'test_event_code', kinds=('code',)))
    test_mode = fields.Boolean(
        help=platforms_help(
            'While on, every event is sent in the platform\'s test mode, which checks the '
            'events and records none (for a staging shop).', 'test_mode', kinds=('flag',)))
    # what the form shows, from const.PLATFORMS
    platform_test = fields.Char(compute='_compute_platform_info')
    platform_tag_field = fields.Char(compute='_compute_platform_info')
    platform_notice = fields.Text(compute='_compute_platform_info')
    website_id = fields.Many2one(
        'website', ondelete='cascade', index=True,
        help='Leave empty to send the events of every website of the company.')
    company_id = fields.Many2one(
        'res.company', index=True,
        compute='_compute_company_id', store=True, readonly=False, precompute=True)
    browser_pixel = fields.Boolean(
        string='Browser pixel', default=True,
        help='Also load the platform pixel (tag) in the browser, sharing the event IDs so the '
             'platform deduplicates. Off: server-only tracking.')
    limited_data_use = fields.Boolean(
        string='Limited Data Use',
        help='Flag every event for restricted processing (Meta LDU, TikTok limited_data_use, '
             'Pinterest LDP; GA4: consent to personalised ads denied).')
    consent_policy = fields.Selection(
        [('skip', 'Do not send'),
         ('anonymous', 'Send without contact data or cookies'),
         ('ldu', 'Send with Limited Data Use')],
        string='Without consent', required=True, default='skip',
        help='What to do with an event when the visitor declined optional cookies.')
    event_type_ids = fields.Many2many(
        'conversions.api.event.type', string='Events',
        default=lambda self: self._default_event_types(),
        help='Standard events this service sends (GA4: Purchase only by default, see the '
             'notice above).')
    send_custom_events = fields.Boolean(
        default=True, help='Also send events whose name is not a standard event type.')
    match_email = fields.Boolean(string='Email', default=True)
    match_phone = fields.Boolean(string='Phone', default=True)
    match_name = fields.Boolean(string='First and last name', default=True)
    match_address = fields.Boolean(string='City, state, zip, country', default=True)
    match_demographics = fields.Boolean(string='Gender and date of birth', default=True)
    match_external_id = fields.Boolean(string='External ID (customer ID)', default=True)
    match_ip_user_agent = fields.Boolean(string='IP address and user agent', default=True)
    match_click_ids = fields.Boolean(
        string='Browser and click IDs (fbp, fbc, ttp, ttclid, epik, GA4 client ID)',
        default=True)
    is_system_fallback = fields.Boolean(
        string='From system parameters', readonly=True, copy=False,
        help='Managed from Website settings (%s system parameters); used for websites '
             'without a service of this platform.' % ' / '.join(
                 f'{prefix}.*' for prefix in const.SYSTEM_PARAMETER_PREFIX.values()))
    # Written with SQL by the flush (see _delivery_pause): an ORM write would clear the
    # storefront's caches in every worker.
    paused_until = fields.Datetime(
        string='Delivery paused until', readonly=True, copy=False,
        help='The platform failed transiently (server error, timeout, rate limit): no request '
             'goes to it until then, then one event probes it; its success resumes delivery.')
    pause_failures = fields.Integer(
        string='Failed requests in a row', readonly=True, copy=False)
    sent_count_24h = fields.Integer(string='Sent (24 h)', compute='_compute_event_counts')
    failed_count_24h = fields.Integer(string='Failed (24 h)', compute='_compute_event_counts')
    pending_count = fields.Integer(string='Pending', compute='_compute_event_counts')

    # A list arch that works on 17 (<tree>) and 18/19 (<list>): generated, not XML.
    @api.model
    def _get_default_tree_view(self):
        return self._conversions_api_list_arch(E.tree)

    @api.model
    def _get_default_list_view(self):
        return self._conversions_api_list_arch(E.list)

    @api.model
    def _conversions_api_list_arch(self, maker):
        return maker(
            E.field(name='sequence', widget='handle'),
            E.field(name='name'),
            E.field(name='platform'),
            E.field(name='pixel_id'),
            E.field(name='website_id'),
            E.field(name='company_id', groups='base.group_multi_company', optional='show'),
            E.field(name='browser_pixel', optional='show'),
            E.field(name='consent_policy', optional='show'),
            E.field(name='test_event_code', optional='show'),
            E.field(name='active', widget='boolean_toggle'),
            string=self._description,
        )

    @api.depends('website_id')
    def _compute_company_id(self):
        for service in self:
            if service.website_id:
                service.company_id = service.website_id.company_id
            elif not service.company_id and not service.is_system_fallback:
                service.company_id = self.env.company

    @api.depends('platform')
    def _compute_platform_info(self):
        for service in self:
            spec = const.PLATFORMS.get(service.platform) or {}
            tag = spec.get('tag') or {}
            service.platform_test = spec.get('test') or False
            service.platform_tag_field = tag.get('id_field') or False
            service.platform_notice = str(spec['notice']) if spec.get('notice') else False

    @api.model
    def _default_event_types(self, platform=None):
        """The event types a new service of ``platform`` sends (const ``default_events``)."""
        EventType = self.env['conversions.api.event.type']
        codes = (const.PLATFORMS.get(platform) or {}).get('default_events')
        if codes is None:
            return EventType.search([])
        return EventType.search([('code', 'in', list(codes))])

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if 'event_type_ids' not in vals and vals.get('platform'):
                vals['event_type_ids'] = [(6, 0, self._default_event_types(vals['platform']).ids)]
        return super().create(vals_list)

    @api.onchange('platform')
    def _onchange_platform(self):
        # a new service takes the platform's default events (GA4: Purchase only)
        if not self._origin:
            self.event_type_ids = self._default_event_types(self.platform)

    @api.model
    def _get_view(self, view_id=None, view_type='form', **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        if view_type == 'form':
            # translated here, where the lazy labels find the environment's language
            labels = {}
            for platform, spec in const.PLATFORMS.items():
                for fname, label in spec['labels'].items():
                    labels.setdefault(fname, []).append((platform, str(label)))
            _platform_labels(arch, labels)
        elif view_type == 'search':
            _platform_filters(arch)
        return arch, view

    def _compute_event_counts(self):
        counts = {service.id: {} for service in self}
        if self.ids:
            since = fields.Datetime.now() - timedelta(hours=24)
            Event = self.env['conversions.api.event'].sudo()
            for state, count_domain in (
                ('sent', [('state', '=', 'sent'), ('sent_date', '>=', since)]),
                # Retention rewrites old rows; they must not count as fresh failures.
                ('failed', [('state', '=', 'failed'), ('write_date', '>=', since),
                            ('sanitized', '=', False)]),
                ('pending', [('state', 'in', ('queued', 'retrying'))]),
            ):
                groups = Event._read_group(
                    [('service_id', 'in', self.ids)] + count_domain, ['service_id'], ['__count'])
                for service, count in groups:
                    counts[service.id][state] = count
        for service in self:
            service_counts = counts.get(service.id, {})
            service.sent_count_24h = service_counts.get('sent', 0)
            service.failed_count_24h = service_counts.get('failed', 0)
            service.pending_count = service_counts.get('pending', 0)

    # ------------------------------------------------------------------
    # Internal hub used by the storefront tracking and send_event
    # ------------------------------------------------------------------

    def _accepts_event(self, event_name):
        """Whether this service sends events named ``event_name``."""
        self.ensure_one()
        if event_name in self.event_type_ids.mapped('code'):
            return True
        known = self.env['conversions.api.event.type'].sudo().search([('code', '=', event_name)])
        return not known and self.send_custom_events

    @api.model
    def _services_for_website(self, website):
        """Active services sending the events of ``website`` (sudo recordset).

        Services without a website apply to every website of their company. A platform
        without any such service falls back to its system parameters (``meta_capi.*``,
        ``tiktok_eapi.*``, ``pinterest_capi.*``, ``ga4_mp.*``: const.PLATFORMS),
        materialised as one service flagged ``is_system_fallback``.
        """
        Service = self.sudo()
        domain = [('is_system_fallback', '=', False)]
        if website:
            domain += [
                '|', ('website_id', '=', False), ('website_id', '=', website.id),
                '|', ('company_id', '=', False), ('company_id', '=', website.company_id.id),
            ]
        else:
            domain += [('website_id', '=', False)]
        services = Service.search(domain)
        for platform in const.PLATFORMS:
            if not services.filtered(lambda service, p=platform: service.platform == p):
                services |= Service._system_fallback_service(platform)
        return services

    @api.model
    def _system_fallback_service(self, platform):
        """The service mirroring the platform's system parameters, created or updated on use.

        Returns an empty recordset when the parameters do not enable the platform.
        """
        params = self.env['ir.config_parameter'].sudo()
        spec = const.PLATFORMS[platform]
        prefix = spec['parameter_prefix']
        enabled = utils.is_enabled(params.get_param(f'{prefix}.enabled'))
        values = {}
        for fname, key in spec['parameters'].items():
            value = params.get_param(f'{prefix}.{key}')
            if self._fields[fname].type == 'boolean':
                values[fname] = utils.is_enabled(value)
            else:
                values[fname] = (value or '').strip() or False
        Service = self.sudo().with_context(active_test=False)
        service = Service.search(
            [('is_system_fallback', '=', True), ('platform', '=', platform)], limit=1)
        usable = enabled and values['pixel_id'] and values['access_token']
        if not usable:
            if service.active:
                service.active = False
            return self.sudo().browse()
        values['active'] = True
        if service:
            changed = {key: value for key, value in values.items() if service[key] != value}
            if changed:
                service.write(changed)
        else:
            label = dict(self._fields['platform'].selection)[platform]
            service = Service.create(dict(
                values,
                name=_('%(platform)s (system parameters)', platform=label),
                platform=platform,
                is_system_fallback=True,
                company_id=False,
                sequence=100,
            ))
        return service.with_context(active_test=True)

    @api.model
    def _sync_system_fallbacks(self):
        for platform in const.SYSTEM_PARAMETER_PREFIX:
            self._system_fallback_service(platform)

    def _filter_user_data(self, user):
        """Keep the match keys this service allows (user holds Meta-native keys)."""
        self.ensure_one()
        allowed = set()
        for switch, keys in const.MATCH_KEY_GROUPS.items():
            if self[switch]:
                allowed.update(keys)
        return {key: value for key, value in user.items() if key in allowed}

    def _make_sender(self, max_retries=None):
        """A convapi sender for this service; the token never leaves this call."""
        self.ensure_one()
        if convapi is None:
            raise UserError(_('The convapi Python package is not installed.'))
        service = self.sudo()
        spec = const.PLATFORMS[service.platform]
        params = self.env['ir.config_parameter'].sudo()
        base_url = (params.get_param(spec['base_url_parameter']) or '').strip().rstrip('/')
        base_url = base_url or spec['default_base_url']
        timeout = _to_float(params.get_param(const.PARAM_SENDER_TIMEOUT),
                            const.DEFAULT_SENDER_TIMEOUT)
        if max_retries is None:
            max_retries = _to_int(params.get_param(const.PARAM_SENDER_MAX_RETRIES),
                                  const.DEFAULT_SENDER_MAX_RETRIES)
        if not service.pixel_id or not service.access_token:
            pixel, secret = str(spec['labels']['pixel_id']), str(spec['labels']['access_token'])
            raise UserError(_('Service %(service)s has no %(pixel)s or %(secret)s.',
                              service=service.name, pixel=pixel, secret=secret))
        sender_class = getattr(convapi, spec['sender'], None)
        if sender_class is None:
            raise UserError(_('This version of the convapi package cannot send to %s: '
                              'upgrade it.', spec['label']))
        return sender_class(
            service.pixel_id.strip(), service.access_token.strip(),
            base_url=base_url, timeout=timeout, max_retries=max_retries,
            max_retry_after=const.SENDER_MAX_RETRY_AFTER)

    # ------------------------------------------------------------------
    # Delivery pause (see conversions.api.event._flush_outbox)
    # ------------------------------------------------------------------

    def _delivery_pause(self, error, now):
        """A request of this service failed transiently: no request to it for a while
        (doubling with each failure in a row, ``const.SERVICE_PAUSE_MAX_SECONDS`` at most, or
        as long as the platform's Retry-After asks), then one probe. Returns the end of the
        pause, when the flush cron is also woken up.

        During an outage the platform then sees one request per pause, not one per batch,
        and a flush run never spends more than one request's timeout on a dead service.
        """
        self.ensure_one()
        cr = self.env.cr
        cr.execute('SELECT pause_failures FROM conversions_api_service WHERE id = %s', [self.id])
        failures = ((cr.fetchone() or [0])[0] or 0) + 1
        delay = min(const.SERVICE_PAUSE_BASE_SECONDS * 2 ** min(failures - 1, 16),
                    const.SERVICE_PAUSE_MAX_SECONDS)
        retry_after = _to_float(getattr(error, 'retry_after', None), 0.0)
        if retry_after > 0:  # plus the second Odoo's timestamps lose
            delay = max(delay, min(retry_after + 1, const.BACKOFF_MAX_SECONDS))
        until = now + timedelta(seconds=delay)
        try:
            # odoo.sql_db would log a serialization error as a bad query
            with cr.savepoint(flush=False), mute_logger('odoo.sql_db'):
                cr.execute('UPDATE conversions_api_service SET pause_failures = %s, '
                           'paused_until = %s WHERE id = %s', [failures, until, self.id])
        except psycopg2.errors.SerializationFailure:
            # another worker recorded a failure of this service since this transaction began
            return until
        self.invalidate_recordset(['paused_until', 'pause_failures'])
        cron = self.env.ref('conversions_api.ir_cron_conversions_api_flush',
                            raise_if_not_found=False)
        if cron:
            try:
                with cr.savepoint(flush=False):
                    cron.sudo()._trigger(at=until)
            except Exception:  # noqa: BLE001 - the every-minute run probes it too
                _logger.exception('conversions_api: could not schedule the flush cron')
        _logger.info('conversions_api: %s service %s paused for %.0f s (%s failed request(s) '
                     'in a row)', self.platform, self.id, delay, failures)
        return until

    def _delivery_resume(self, now):
        """A request of this paused service went through: it is delivered again, and its rows
        waiting for their own backoff go at once."""
        self.ensure_one()
        if not self.pause_failures:
            return
        cr = self.env.cr
        try:
            with cr.savepoint(flush=False), mute_logger('odoo.sql_db'):
                cr.execute('UPDATE conversions_api_service SET pause_failures = 0, '
                           'paused_until = NULL WHERE id = %s', [self.id])
                cr.execute("""
                    UPDATE conversions_api_event SET next_attempt = NULL
                     WHERE service_id = %s AND state = 'retrying' AND next_attempt > %s
                """, [self.id, now])
        except psycopg2.errors.SerializationFailure:
            return  # another worker changed them meanwhile; the next success resumes
        self.invalidate_recordset(['paused_until', 'pause_failures'])
        self.env['conversions.api.event'].invalidate_model(['next_attempt'])
        _logger.info('conversions_api: %s service %s delivers again', self.platform, self.id)

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def _send_options(self, test=False):
        """The keyword arguments of the sender's ``send`` for this service: its test event
        code, or its test mode (const.PLATFORMS ``test``). ``test``: a test send (the *Send
        test event* button), always in test mode."""
        self.ensure_one()
        if const.PLATFORMS[self.platform]['test'] == 'flag':
            return {'test': bool(test or self.test_mode)}
        return {'test_event_code': self.test_event_code or None}

    def action_send_test_event(self):
        """Send one PageView in test mode (with the test event code, where the platform has
        one), now, and show the platform's answer."""
        self.ensure_one()
        if not self.env.is_system():
            raise AccessError(_('Only administrators can send test events.'))
        spec = const.PLATFORMS[self.platform]
        if spec['test'] == 'code' and not self.test_event_code:
            raise UserError(_(
                'Set a test event code first: an event sent without one counts as a real '
                'event.'))
        event = self._test_event()
        platform = spec['label']
        try:
            result = self._make_sender(max_retries=0).send(
                [event], **self._send_options(test=True))
        except convapi.ConvapiError as error:
            _logger.info('conversions_api: test event refused by %s (service %s)',
                         self.platform, self.id)
            return _notification(
                _('Test event refused'),
                _('%(platform)s answered: %(message)s', platform=platform,
                  message=error_message(error)),
                'danger')
        details = [_('%(platform)s accepted the test event.', platform=platform)]
        if result.events_received is not None:
            details.append(_('Events received: %s.', result.events_received))
        if result.trace_id:
            details.append(_('Trace ID: %s.', result.trace_id))
        details.extend(result.messages or [])
        return _notification(_('Test event sent'), ' '.join(details), 'success')

    def _test_event(self):
        from odoo.http import request

        website = self.website_id or self.env['website'].get_current_website()
        base_url = website.get_base_url() if website else self.get_base_url()
        user = {
            'external_id': 'conversions_api_test_event',
            'client_user_agent': 'Odoo conversions_api test event',
        }
        try:
            if request and request.httprequest:
                user['client_ip_address'] = request.httprequest.remote_addr
                user['client_user_agent'] = request.httprequest.user_agent.string or \
                    user['client_user_agent']
        except RuntimeError:  # no request bound
            pass
        if self.env.user.email:
            user['email'] = self.env.user.email
        if const.PLATFORMS[self.platform]['required_user_key'] == 'client_id':
            # GA4 refuses an event without a browser's client_id; a test one (test mode
            # records nothing, so it creates no phantom user)
            user['client_id'] = '%d.%d' % (10 ** 9 + uuid.uuid4().int % 10 ** 9, time.time())
        event = {
            'event_name': 'PageView',
            'event_id': f'test-{self.id}-{uuid.uuid4().hex[:12]}',
            'event_source_url': base_url,
            'action_source': 'website',
            'user': user,
        }
        return event

    def action_view_events(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id(
            'conversions_api.action_conversions_api_event')
        action['domain'] = [('service_id', '=', self.id)]
        action['context'] = {'default_service_id': self.id}
        return action

    def action_view_failed_events(self):
        action = self.action_view_events()
        action['context'] = dict(action['context'], search_default_filter_failed=1)
        return action


# Service fields whose meaning differs per platform (const.PLATFORMS[...]['labels']).
PLATFORM_LABELLED_FIELDS = ('pixel_id', 'access_token', 'tag_id', 'test_event_code', 'test_mode')


def _platform_labels(arch, labels):
    """Give each platform-dependent field of a service form the label of the selected
    platform: one ``<label>`` per platform, shown for that platform only, then the field.
    ``labels``: field name -> [(platform, its label)]."""
    for fname in PLATFORM_LABELLED_FIELDS:
        for node in arch.xpath(f"//field[@name='{fname}'][not(@nolabel)]"):
            parent = node.getparent()
            if parent is None or parent.tag != 'group':
                continue
            shown_if = node.get('invisible')
            index = parent.index(node)
            for platform, label in labels.get(fname, ()):
                invisible = f"platform != '{platform}'"
                if shown_if:
                    invisible = f'{invisible} or ({shown_if})'
                attrs = {'for': fname, 'string': label, 'invisible': invisible}
                if node.get('groups'):
                    attrs['groups'] = node.get('groups')
                parent.insert(index, E.label(**attrs))
                index += 1
            node.set('nolabel', '1')


def _platform_filters(arch):
    """One search filter per platform, where the view asks for them (the filter named
    ``filter_platforms`` is their placeholder)."""
    for node in arch.xpath("//filter[@name='filter_platforms']"):
        parent = node.getparent()
        index = parent.index(node)
        parent.remove(node)
        for platform, spec in const.PLATFORMS.items():
            parent.insert(index, E.filter(string=spec['name'], name=f'filter_{platform}',
                                          domain=repr([('platform', '=', platform)])))
            index += 1


def error_message(error):
    """A log- and UI-safe description of a convapi error (never the token)."""
    code = getattr(error, 'code', None)
    message = getattr(error, 'message', None) or str(error)
    if code is not None:
        subcode = getattr(error, 'subcode', None)
        code_text = f'{code}/{subcode}' if subcode else str(code)
        return f'[{code_text}] {message}'
    return message


def _notification(title, message, kind):
    return {
        'type': 'ir.actions.client',
        'tag': 'display_notification',
        'params': {'title': title, 'message': message, 'type': kind, 'sticky': kind != 'success'},
    }


def _to_float(value, default):
    if value is None or value is False or value == '':
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _to_int(value, default):
    if value is None or value is False or value == '':  # get_param(): False when unset
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
