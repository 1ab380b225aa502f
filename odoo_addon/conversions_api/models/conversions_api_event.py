"""The outbox: one row per event and service, queued in the caller's transaction,
sent in batches by the flush cron (woken up after commit, and every minute), retried with
backoff, kept for the log. No thread and no network call in the caller's process."""

import json
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg2
import psycopg2.errors
from lxml.builder import E
from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import mute_logger

from .. import const, utils
from .conversions_api_service import _platform_filters, error_message

_logger = logging.getLogger(__name__)

try:
    import convapi
except ImportError:  # declared in external_dependencies; keep the registry loadable
    convapi = None

FLUSH_CRON = 'conversions_api.ir_cron_conversions_api_flush'
TRIGGER_KEY = 'conversions_api.flush_triggered'
# Seconds between two wake-ups of the flush cron by one process (see _trigger_flush).
FLUSH_TRIGGER_INTERVAL = 5.0
# dbname -> time.monotonic() of this process's last committed cron trigger
_last_trigger = {}


def flush_recently_triggered(dbname):
    """Whether this process woke the flush cron of ``dbname`` less than
    ``FLUSH_TRIGGER_INTERVAL`` seconds ago (then ``_trigger_flush`` would do nothing)."""
    last = _last_trigger.get(dbname)
    return last is not None and time.monotonic() - last < FLUSH_TRIGGER_INTERVAL


_INSERT_SQL = """
    INSERT INTO conversions_api_event
        (service_id, platform, website_id, company_id, event_name, event_id, event_time,
         payload, source_model, source_res_id, create_uid, write_uid,
         state, attempts, sanitized, create_date, write_date)
    VALUES %s
    ON CONFLICT (service_id, event_name, event_id) DO NOTHING
"""
_INSERT_ROW = ("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'queued', 0, false, "
               "now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')")
LIST_FIELDS = (
    ('create_date', {'string': 'Queued on'}),
    ('event_name', {}),
    ('event_id', {'optional': 'show'}),
    ('platform', {}),
    ('service_id', {}),
    ('website_id', {'optional': 'show'}),
    ('attempts', {'optional': 'show'}),
    ('next_attempt', {'optional': 'hide'}),
    ('trace_id', {'optional': 'hide'}),
    ('error', {'optional': 'show'}),
    ('state', {'widget': 'badge', 'decoration-success': "state == 'sent'",
               'decoration-danger': "state == 'failed'",
               'decoration-warning': "state == 'retrying'",
               'decoration-info': "state == 'queued'"}),
)


class ConversionsApiEvent(models.Model):
    _name = 'conversions.api.event'
    _description = 'Conversion API event'
    _order = 'id desc'
    _rec_name = 'event_name'

    service_id = fields.Many2one(
        'conversions.api.service', required=True, ondelete='cascade', index=True,
        readonly=True)
    platform = fields.Selection(related='service_id.platform', store=True)
    website_id = fields.Many2one('website', ondelete='set null', index=True, readonly=True)
    company_id = fields.Many2one('res.company', index=True, readonly=True)
    event_name = fields.Char(required=True, index=True, readonly=True)
    event_id = fields.Char(string='Event ID', required=True, readonly=True)
    event_time = fields.Datetime(required=True, readonly=True)
    state = fields.Selection(
        [('queued', 'Queued'), ('retrying', 'Retrying'), ('sent', 'Sent'), ('failed', 'Failed')],
        required=True, default='queued', index=True, readonly=True)
    attempts = fields.Integer(readonly=True)
    next_attempt = fields.Datetime(readonly=True)
    sent_date = fields.Datetime(readonly=True)
    payload = fields.Text(
        readonly=True,
        help='The event as handed to convapi, personal data already hashed (JSON).')
    response = fields.Text(readonly=True, help="The platform's last answer (JSON).")
    trace_id = fields.Char(string='Trace ID', readonly=True,
                           help='Meta fbtrace_id or TikTok request_id of the last attempt.')
    error = fields.Text(readonly=True)
    source_model = fields.Char(readonly=True)
    source_res_id = fields.Many2oneReference(model_field='source_model', readonly=True)
    sanitized = fields.Boolean(readonly=True, help='Payload and response removed (retention).')
    attempt_ids = fields.One2many(
        'conversions.api.event.attempt', 'conversion_event_id', string='History', readonly=True,
        help='Each failed attempt, and the success after failures (newest first).')

    if hasattr(models, 'Constraint'):  # Odoo 19 ignores _sql_constraints
        _event_unique = models.Constraint(
            'UNIQUE(service_id, event_name, event_id)',
            'This event is already queued for this service.')
    else:
        _sql_constraints = [
            ('event_unique', 'UNIQUE(service_id, event_name, event_id)',
             'This event is already queued for this service.'),
        ]

    # A list arch that works on 17 (<tree>) and 18/19 (<list>): generated, not XML.
    @api.model
    def _get_default_tree_view(self):
        return self._conversions_api_list_arch(E.tree)

    @api.model
    def _get_default_list_view(self):
        return self._conversions_api_list_arch(E.list)

    @api.model
    def _conversions_api_list_arch(self, maker):
        children = [E.field(name=name, **attrs) for name, attrs in LIST_FIELDS]
        return maker(*children, string=self._description, create='0', edit='0')

    @api.model
    def _get_view(self, view_id=None, view_type='form', **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        if view_type == 'search':
            _platform_filters(arch)  # one filter per platform of const.PLATFORMS
        return arch, view

    # ------------------------------------------------------------------
    # Queueing
    # ------------------------------------------------------------------

    @api.model
    def _enqueue(self, event_name, *, website=None, user_data=None, custom_data=None,
                 event_id=None, event_source_url=None, referrer_url=None, partner=None,
                 source=None, event_time=None, platforms=None, request_context=None,
                 event_extra=None):
        """Queue ``event_name`` for every service of ``website`` that accepts it.

        Returns the queued rows (one per service; an event already queued under the same
        service, name and event ID is returned, not queued twice), browsed in the caller's
        environment (use ``.sudo()`` to read them as a portal or public user). Never raises
        for tracking problems: they are logged and an empty recordset is returned.
        Delivery: the flush cron, woken up once the caller's transaction commits (see
        ``_trigger_flush``), and its every-minute run.
        """
        if convapi is None:
            _logger.warning('conversions_api: convapi is not installed; %s not queued',
                            event_name)
            return self.browse()
        # Let the caller's own pending writes fail (or not) outside our error handling.
        self.env.flush_all()
        try:
            with self.env.cr.savepoint():
                events = self.sudo()._enqueue_for_services(
                    event_name, website=website, user_data=user_data,
                    custom_data=custom_data, event_id=event_id,
                    event_source_url=event_source_url, referrer_url=referrer_url,
                    partner=partner, source=source, event_time=event_time,
                    platforms=platforms, request_context=request_context,
                    event_extra=event_extra)
        except psycopg2.errors.ReadOnlySqlTransaction:
            raise  # Odoo 18 re-runs read-only routes on a read/write cursor
        except convapi.ValidationError as error:
            _logger.warning('conversions_api: %s event not queued: invalid %s',
                            event_name, getattr(error, 'field', None) or 'event')
            return self.browse()
        except Exception:
            _logger.exception('conversions_api: %s event not queued', event_name)
            return self.browse()
        if events:
            self._trigger_flush()
        return self.browse(events.ids)

    @api.model
    def _enqueue_for_services(self, event_name, *, website, user_data, custom_data, event_id,
                              event_source_url, referrer_url, partner, source, event_time,
                              platforms, request_context, event_extra):
        if not event_name or not isinstance(event_name, str):
            raise ValueError('event_name must be a non-empty string')
        website = self._resolve_website(website, partner)
        services = self.env['conversions.api.service']._services_for_website(website)
        if platforms:
            services = services.filtered(lambda service: service.platform in platforms)
        services = services.filtered(lambda service: service._accepts_event(event_name))
        if not services:
            return self.browse()

        context = dict(request_context or {})
        event_id = str(event_id) if event_id not in (None, False, '') else uuid.uuid4().hex
        source_model, source_res_id = _source_reference(source)
        if partner and isinstance(partner, int):
            partner = self.env['res.partner'].browse(partner)
        user, base_event = _neutral_event(
            event_name, event_id, event_time, user_data, custom_data, context,
            event_source_url or context.get('event_source_url') or _website_url(website),
            referrer_url,
            partner=partner, country=website.company_id.country_id.code if website else None)

        events = self.browse()
        for service in services:
            try:
                service_user = service._filter_user_data(
                    utils.with_session_id(user, context, service.platform, service.pixel_id))
                event = service_event(
                    base_event, service_user, context.get('consent'),
                    platform=service.platform, pixel_id=service.pixel_id,
                    consent_policy=service.consent_policy,
                    limited_data_use=service.limited_data_use, event_extra=event_extra)
            except convapi.ValidationError as error:
                _logger.warning('conversions_api: %s event not queued for service %s: '
                                'invalid %s', event_name, service.id,
                                getattr(error, 'field', None) or 'event')
                continue
            if event is not None:
                events |= self._create_once(service, website, event, source_model,
                                            source_res_id)
        return events

    @api.model
    def _storefront_entries(self, items):
        """What a shopper's request writes to the inbox for ``items`` (see
        ``_storefront_rows``), doing as little as it can there.

        An event without plain personal data (no ``user_data``; a logged-in partner is only
        its id) is written as its facts, ``{'event', 'values', 'services'}`` (service ids):
        the drain builds its outbox entries off the shopper's request, normalising and hashing
        per platform then. An event with ``user_data`` (a form's email, say) is built now, as
        ``_storefront_rows`` entries, so that plain personal data is never stored.
        """
        entries = []
        for event_name, values, services in items:
            if values.get('user_data'):
                entries.extend(self._storefront_rows([(event_name, values, services)]))
            elif services:
                entries.append({'event': event_name, 'values': values,
                                'services': [info.id for info in services]})
        return entries

    @api.model
    def _build_inbox_entries(self, entries):
        """Outbox entries (see ``_insert_entries``) from inbox entries: facts written by
        ``_storefront_entries`` are built with the services' current configuration (a service
        gone or no longer on the website drops its copy; a partner gone, its match keys), and
        built entries are kept as they are. A fact that cannot be built is logged and dropped.
        """
        facts = [entry for entry in entries if isinstance(entry, dict)]
        if not facts:
            return entries
        partner_ids = set()
        for fact in facts:
            values = fact.get('values')
            partner_id = values.get('partner_id') if isinstance(values, dict) else None
            if isinstance(partner_id, int):
                partner_ids.add(partner_id)
        existing = set(self.env['res.partner'].sudo().browse(partner_ids).exists().ids)
        Service = self.env['conversions.api.service'].sudo()
        built = []
        for entry in entries:
            if not isinstance(entry, dict):
                built.append(entry)
                continue
            try:
                values = dict(entry['values'])
                wanted = set(entry['services'])
                services = tuple(info for info in Service._storefront_services(
                    values.get('website_id')) if info.id in wanted)
                if values.get('partner_id') not in existing:
                    values.pop('partner_id', None)
                built.extend(self._storefront_rows([(entry['event'], values, services)]))
            except Exception:
                _logger.exception('conversions_api: dropped an inbox entry that could not be '
                                  'built')
        return built

    @api.model
    def _storefront_rows(self, items):
        """Outbox entries of events tracked in a shopper's request, for the inbox.

        ``items`` are ``(event_name, values, services)``: ``values`` as ``_enqueue`` takes
        them (``website_id``, ``partner_id``, ``user_data``, ``custom_data``, ``event_id``,
        ``event_time``, ``event_source_url``, ``referrer_url``, ``request_context``) and
        ``services`` the cached ServiceInfo of the services accepting the event. Match keys
        are normalised and hashed here, per platform, exactly as ``_enqueue`` stores them:
        an entry never holds plain personal data. Each entry is a JSON-ready list
        ``[service_id, platform, website_id, company_id, event_name, event_id, event_time
        (Unix seconds), event]`` (see ``_insert_entries``). Reads nothing from the database
        unless a logged-in partner's matching keys are needed. A failing event or service is
        logged and skipped.
        """
        entries = []
        for event_name, values, services in items:
            try:
                context = values.get('request_context') or {}
                partner_id = values.get('partner_id')
                partner = self.env['res.partner'].browse(partner_id) if partner_id else None
                user, base_event = _neutral_event(
                    event_name, values['event_id'], values.get('event_time'),
                    values.get('user_data'), values.get('custom_data'), context,
                    values.get('event_source_url') or context.get('event_source_url'),
                    values.get('referrer_url'),
                    partner=partner, country=services[0].country_code if services else None)
            except Exception:
                _logger.exception('conversions_api: %s event not queued', event_name)
                continue
            for info in services:
                try:
                    service_user = {key: value for key, value in utils.with_session_id(
                        user, context, info.platform, info.pixel_id).items()
                        if key in info.allowed_user_keys}
                    event = service_event(
                        base_event, service_user, context.get('consent'),
                        platform=info.platform, pixel_id=info.pixel_id,
                        consent_policy=info.consent_policy,
                        limited_data_use=info.limited_data_use)
                except Exception as error:
                    if convapi is not None and isinstance(error, convapi.ValidationError):
                        _logger.warning('conversions_api: %s event not queued for service %s: '
                                        'invalid %s', event_name, info.id,
                                        getattr(error, 'field', None) or 'event')
                    else:
                        _logger.exception('conversions_api: %s event not queued for service %s',
                                          event_name, info.id)
                    continue
                if event is None:
                    continue
                entries.append([
                    info.id, info.platform, values.get('website_id') or None,
                    info.company_id or None, event_name, base_event['event_id'],
                    base_event['event_time'], event,
                ])
        return entries

    @api.model
    def _insert_entries(self, entries):
        """Queue inbox entries (see ``_storefront_rows``) with one INSERT; returns how many
        were kept for it (an event already queued is left alone by the INSERT). An entry whose
        service is gone is dropped; a website or company gone is left empty, as their
        ``ondelete`` would have done."""
        if not entries:
            return 0
        cr = self.env.cr
        found = {}
        for table, index in (('conversions_api_service', 0), ('website', 2),
                             ('res_company', 3)):
            ids = list({entry[index] for entry in entries if entry[index]})
            cr.execute(f'SELECT id FROM {table} WHERE id = ANY(%s)', [ids])
            found[index] = {row[0] for row in cr.fetchall()}
        rows = []
        for entry in entries:
            try:
                service_id, platform, website_id, company_id, name, event_id, when, event = entry
                if service_id not in found[0]:
                    continue
                rows.append((
                    service_id, platform, website_id if website_id in found[2] else None,
                    company_id if company_id in found[3] else None, name, event_id,
                    _utc_datetime(int(when)),
                    json.dumps(event, default=str, sort_keys=True), None, None))
            except (TypeError, ValueError, OverflowError):
                _logger.error('conversions_api: dropped an unreadable inbox entry')
        self._insert_rows(rows)
        return len(rows)

    @api.model
    def _insert_rows(self, rows):
        """One multi-row INSERT of prepared rows (see ``_insert_entries``), state queued.

        An event already queued under the same service, name and event ID is left alone.
        Raw SQL: the ORM's create costs a dozen queries per row. Returns the number of rows
        inserted.
        """
        if not rows:
            return 0
        cr = self.env.cr
        query = _INSERT_SQL % ', '.join([_INSERT_ROW] * len(rows))
        params = []
        uid = self.env.uid
        for row in rows:
            params.extend(row)
            params.extend((uid, uid))
        cr.execute(query, params)
        return cr.rowcount

    @api.model
    def _trigger_flush(self):
        """Wake the flush cron up once this transaction commits (an ``ir.cron.trigger`` row,
        rolled back with the transaction). At most once per transaction, and once per
        ``FLUSH_TRIGGER_INTERVAL`` seconds per process: Odoo wakes the cron workers through a
        new connection to the ``postgres`` database, a few milliseconds. A run sends every
        due row, so events the throttle leaves behind go with the next trigger, or at the
        latest with the every-minute run."""
        cr = self.env.cr
        if cr.postcommit.data.get(TRIGGER_KEY):
            return
        dbname = cr.dbname
        if flush_recently_triggered(dbname):
            return
        cron = self.env.ref(FLUSH_CRON, raise_if_not_found=False)
        if not cron:
            return
        try:
            with cr.savepoint(flush=False):
                cron.sudo()._trigger()
        except psycopg2.errors.ReadOnlySqlTransaction:
            raise
        except Exception:  # noqa: BLE001 - the every-minute run still sends the rows
            _logger.exception('conversions_api: could not wake the flush cron up')
            return
        cr.postcommit.data[TRIGGER_KEY] = True

        def remember():
            _last_trigger[dbname] = time.monotonic()

        cr.postcommit.add(remember)

    @api.model
    def _resolve_website(self, website, partner=None):
        Website = self.env['website']
        if isinstance(website, int):
            return Website.browse(website)
        if website:
            return website
        try:
            from odoo.http import request
            if request and getattr(request, 'website', None):
                return request.website
        except RuntimeError:
            pass
        if partner and not isinstance(partner, int) and 'website_id' in partner._fields \
                and partner.website_id:
            return partner.website_id
        return Website.search([('company_id', '=', self.env.company.id)], limit=1) \
            or Website.search([], limit=1)

    @api.model
    def _create_once(self, service, website, event, source_model, source_res_id):
        key = [('service_id', '=', service.id), ('event_name', '=', event['event_name']),
               ('event_id', '=', event['event_id'])]
        existing = self.search(key, limit=1)
        if existing:
            return existing
        values = {
            'service_id': service.id,
            'website_id': website.id if website else False,
            'company_id': (website.company_id.id if website else False)
            or service.company_id.id or False,
            'event_name': event['event_name'],
            'event_id': event['event_id'],
            'event_time': _utc_datetime(event['event_time']),
            'payload': json.dumps(event, default=str, sort_keys=True),
            'source_model': source_model,
            'source_res_id': source_res_id,
        }
        try:
            with self.env.cr.savepoint():
                return self.create(values)
        except psycopg2.IntegrityError:
            # Queued by a concurrent transaction in between: that row wins.
            return self.search(key, limit=1)

    # ------------------------------------------------------------------
    # Delivery
    # ------------------------------------------------------------------

    @api.model
    def _cron_flush(self):
        self._flush_outbox(commit=True)

    @api.model
    def _flush_outbox(self, limit=None, ids=None, commit=False, now=None, batch_size=None):
        """Send the due rows (queued, or retrying and due), in batches per service.

        Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so concurrent flushes never send
        the same row. With ``commit`` (cron, post-commit), each batch is committed as soon
        as it is sent. Returns the number of rows processed.

        A service whose last request failed transiently is paused (see
        ``conversions.api.service._delivery_pause``): its rows are left alone until the pause
        is over, then one of them probes it (``_probe_paused_services``), and its success
        resumes the delivery. Rows given by ``ids`` (a manual retry) are sent regardless.

        ``now`` (tests) fixes the time; without it, each request is timed when it starts (a
        run may last several request timeouts, and a pause counts from the failure).
        """
        fixed_now = now
        now = now or fields.Datetime.now()
        batch_size = min(batch_size or const.BATCH_SIZE, const.BATCH_SIZE)
        # the storefront's events first reach the outbox here (see conversions.api.inbox); a
        # failing drain must not stop the delivery of what is already queued
        try:
            with self.env.cr.savepoint(flush=False):
                drained = self.env['conversions.api.inbox'].sudo()._drain()
        except Exception:  # noqa: BLE001 - logged; the next run drains again
            _logger.exception('conversions_api: could not move the inbox into the outbox')
            drained = 0
        if drained and commit:
            self.env.cr.commit()
        processed = self._probe_paused_services(fixed_now, commit) if ids is None else 0
        while limit is None or processed < limit:
            now = fixed_now or fields.Datetime.now()
            batch_limit = batch_size if limit is None else min(batch_size, limit - processed)
            try:
                rows = self._claim_due(batch_limit, ids=ids, now=now)
            except psycopg2.errors.SerializationFailure:
                if not commit:
                    raise
                # Another worker sent a row our snapshot still saw as due: leave it.
                self.env.cr.rollback()
                _logger.info('conversions_api: flush skipped rows taken by another worker')
                continue
            if not rows:
                break
            for service in rows.service_id:
                rows.filtered(lambda row, s=service: row.service_id == s)._deliver(
                    fixed_now or fields.Datetime.now())
            processed += len(rows)
            if commit:
                self.env.cr.commit()
        return processed

    @api.model
    def _claim_due(self, limit, ids=None, now=None):
        self.flush_model()
        query = """
            SELECT id FROM conversions_api_event
             WHERE state IN ('queued', 'retrying')
               AND (next_attempt IS NULL OR next_attempt <= %s)
        """
        params = [now or fields.Datetime.now()]
        if ids is not None:
            query += ' AND id = ANY(%s)'
            params.append(list(ids))
        else:  # a paused service is probed with one row (_probe_paused_services), not claimed
            query += (' AND service_id NOT IN (SELECT id FROM conversions_api_service'
                      ' WHERE pause_failures > 0)')
        # Rows of one service are contiguous, so a claim fills whole batches.
        query += ' ORDER BY service_id, id LIMIT %s FOR UPDATE SKIP LOCKED'
        params.append(limit)
        # A row another worker updated after our snapshot raises SerializationFailure, which
        # the caller handles; keep odoo.sql_db from logging it as a bad query (as ir.cron's
        # own lock attempts do).
        with mute_logger('odoo.sql_db'):
            self.env.cr.execute(query, params)
        return self.sudo().browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _probe_paused_services(self, now, commit):
        """Send one row of each service whose pause is over, alone and without the sender's
        own retry (context ``convapi_probe``): its success resumes the service, a transient
        failure pauses it again. The probe is the least tried row that is due (a failed row
        waits its own backoff), so that a long outage spreads its attempts over the waiting
        rows instead of spending one row's. One worker probes a service at a time: it holds
        the service's row lock meanwhile, and the others skip the service. Returns the rows
        probed. ``now`` None: the time each probe starts."""
        cr = self.env.cr
        cr.execute("""
            SELECT id FROM conversions_api_service
             WHERE pause_failures > 0 AND (paused_until IS NULL OR paused_until <= %s)
             ORDER BY id
        """, [now or fields.Datetime.now()])
        probed = 0
        fixed_now = now
        for (service_id,) in cr.fetchall():
            now = fixed_now or fields.Datetime.now()
            row = None
            try:
                # a row another worker updated after our snapshot raises SerializationFailure:
                # that worker probed it; keep odoo.sql_db from logging it as a bad query
                with cr.savepoint(flush=False), mute_logger('odoo.sql_db'):
                    cr.execute("""
                        SELECT id FROM conversions_api_service
                         WHERE id = %s AND pause_failures > 0
                           FOR NO KEY UPDATE SKIP LOCKED
                    """, [service_id])
                    if cr.fetchone():
                        cr.execute("""
                            SELECT id FROM conversions_api_event
                             WHERE service_id = %s AND state IN ('queued', 'retrying')
                               AND (next_attempt IS NULL OR next_attempt <= %s)
                             ORDER BY attempts, id LIMIT 1 FOR UPDATE SKIP LOCKED
                        """, [service_id, now])
                        row = cr.fetchone()
            except psycopg2.errors.SerializationFailure:
                continue
            if not row:
                continue
            self.sudo().browse(row[0]).with_context(convapi_probe=True)._deliver(now)
            probed += 1
            if commit:
                cr.commit()
        return probed

    def _deliver(self, now):
        """Send rows of one service in one request (one per visitor where the platform takes
        one visitor per request) and record the outcome on each."""
        service = self.service_id
        service.ensure_one()
        spec = const.PLATFORMS[service.platform]
        max_age = spec['max_event_age']
        too_old = self.filtered(lambda row: row.event_time < now - timedelta(seconds=max_age))
        if too_old:
            too_old._write_grouped({'state': 'failed', 'error': _(
                'Not sent: the event is older than %(hours)s hours, which %(platform)s refuses.',
                hours=max_age // 3600, platform=spec['label'])})
        rows = self - too_old
        if not rows:
            return
        if not service.active:
            rows._write_grouped({'state': 'failed', 'error': _('The service is archived.')})
            return
        try:
            # a probe (see _probe_paused_services) is one request: the outbox retries
            sender = service._make_sender(
                max_retries=0 if self.env.context.get('convapi_probe') else None)
        except Exception as error:  # noqa: BLE001 - recorded on the rows
            rows._record_failure(error, now)
            return
        if spec['request_size']:
            rows._send_per_visitor(sender, now, spec['request_size'])
        else:
            rows._send_with(sender, now)

    def _send_per_visitor(self, sender, now, size):
        """For a platform whose request holds one visitor (GA4: one client_id, user_id, user
        data and consent per request, at most 25 events): one request per visitor and ``size``
        events, each outcome recorded on its own rows. A request failing transiently pauses the
        service (``conversions.api.service._delivery_pause``): the rows not tried yet stay as
        they are, for the probe that ends the pause."""
        service = self.service_id
        events, unreadable = self._read_payloads()
        if unreadable:
            unreadable._record_failure(None, now, message=_(
                'Not sent: the stored payload is not a readable event.'))
        rows = self - unreadable
        groups = {}
        for row, event in zip(rows, events):
            identity = json.dumps([event.get('user'), event.get('consent')], sort_keys=True,
                                  default=str)
            groups.setdefault(identity, []).append((row.id, event))
        for members in groups.values():
            for start in range(0, len(members), size):
                chunk = members[start:start + size]
                self.browse([row_id for row_id, _event in chunk])._send_with(
                    sender, now, [event for _row_id, event in chunk])
                if service.pause_failures:
                    return

    def _send_with(self, sender, now, events=None):
        """One request for these rows; a batch refused for one bad event is split in halves
        until the bad event is isolated, so it does not take the others down with it. A stored
        payload that is no event, and an event convapi fails on unexpectedly (not a
        ValidationError: it cannot read it at all), fail at once and alone. A batch the
        platform processed in part (convapi.PartialSendError: Pinterest's per-event status)
        fails the refused rows with the platform's message; the others are sent, never sent
        again."""
        service = self.service_id
        if events is None:
            events, unreadable = self._read_payloads()
            if unreadable:
                unreadable._record_failure(None, now, message=_(
                    'Not sent: the stored payload is not a readable event.'))
                rows = self - unreadable
                if rows:
                    rows._send_with(sender, now, events)
                return
        try:
            result = sender.send(events, **service._send_options())
        except Exception as error:  # noqa: BLE001 - every failure is recorded on the rows
            if _is_partial_send_error(error):
                self._record_partial_success(error, now)
                return
            if len(self) > 1 and _is_event_level_error(service.platform, error):
                half = len(self) // 2
                self[:half]._send_with(sender, now, events[:half])
                self[half:]._send_with(sender, now, events[half:])
                return
            if not _is_convapi_error(error):
                unbuildable = self._unbuildable(events)
                if unbuildable and (len(unbuildable) < len(self) or len(self) == 1):
                    unbuildable._record_failure(error, now, permanent=True)
                    rows = self - unbuildable
                    if rows:
                        rows._send_with(sender, now, [
                            event for row, event in zip(self, events) if row in rows])
                    return
            self._record_failure(error, now)
            return
        self._record_success(result, now)

    def _read_payloads(self):
        """The stored events of these rows, and the rows whose payload is not one."""
        events, unreadable = [], []
        for row in self:
            try:
                event = json.loads(row.payload)
            except (TypeError, ValueError):
                event = None
            if isinstance(event, dict):
                events.append(event)
            else:
                unreadable.append(row.id)
        return events, self.browse(unreadable)

    def _unbuildable(self, events):
        """The rows whose event convapi's builder fails on with an unexpected error, each built
        alone and offline: why a send failed unexpectedly, when the failure was an event's. A
        ValidationError is not one (the send names those itself)."""
        service = self.service_id
        bad = []
        for row, event in zip(self, events):
            try:
                utils.build_payload(convapi, service.platform, [event], service.pixel_id)
            except Exception as error:  # noqa: BLE001 - what the probe is for
                if not _is_convapi_error(error):
                    bad.append(row.id)
        return self.browse(bad)

    def _record_success(self, result, now):
        retried = self.filtered('attempts')
        response = json.dumps(getattr(result, 'response', None) or {}, default=str)
        self._write_grouped({
            'state': 'sent',
            'sent_date': now,
            'next_attempt': False,
            'response': response,
            'trace_id': result.trace_id or False,
            'error': False,
        }, count_attempt=True)
        retried._log_attempts('sent', now, trace_id=result.trace_id)
        _logger.info('conversions_api: %s %s event(s) sent (service %s)',
                     len(self), self.service_id.platform, self.service_id.id)
        self.service_id._delivery_resume(now)

    def _record_partial_success(self, error, now):
        """The platform processed some events of the request and refused the others
        (``error.failed``: ``(index in the request, message)`` pairs, the rows in request
        order): each refused row fails for good with the platform's message, the others are
        sent (and so never sent again)."""
        failed = {}
        for index, message in getattr(error, 'failed', None) or ():
            if isinstance(index, int) and 0 <= index < len(self):
                failed.setdefault(index, str(message or '') or _('Refused by the platform.'))
        processed = self.browse([row.id for index, row in enumerate(self) if index not in failed])
        trace_id = getattr(error, 'trace_id', None) or False
        response = getattr(error, 'response', None)
        if processed:
            retried = processed.filtered('attempts')
            values = {'state': 'sent', 'sent_date': now, 'next_attempt': False,
                      'trace_id': trace_id, 'error': False}
            if response:
                values['response'] = json.dumps(response, default=str)
            processed._write_grouped(values, count_attempt=True)
            retried._log_attempts('sent', now, trace_id=trace_id)
        by_message = {}
        for index, row in enumerate(self):
            if index in failed:
                by_message.setdefault(failed[index], []).append(row.id)
        for message, row_ids in by_message.items():
            self.browse(row_ids)._record_failure(None, now, message=message)
        _logger.info('conversions_api: %s %s event(s) sent, %s refused (service %s)',
                     len(processed), self.service_id.platform, len(self) - len(processed),
                     self.service_id.id)
        self.service_id._delivery_resume(now)

    def _record_failure(self, error, now, permanent=False, message=None):
        """Record a failed attempt on these rows: retried later with backoff when ``error`` is
        transient and attempts remain (``conversions_api.max_attempts``), else failed; with
        ``message`` (and no error) a permanent failure with that reason."""
        is_convapi_error = _is_convapi_error(error)
        if message is None and is_convapi_error:
            message = error_message(error)
        elif message is None:
            _logger.exception('conversions_api: unexpected error while sending')
            message = _('Unexpected error: %s', type(error).__name__)
        retryable = error is not None and not permanent and bool(
            getattr(error, 'retryable', not is_convapi_error))
        if convapi is not None and isinstance(error, convapi.ValidationError):
            retryable = False
        # what earlier requests of the same send delivered: their positions where convapi
        # names them (``sent``), else the first ``events_sent``
        sent_count = getattr(error, 'events_sent', 0) or 0
        positions = getattr(error, 'sent', None)
        if positions is None:
            positions = range(sent_count)
        positions = {index for index in positions if isinstance(index, int)}
        sent_rows = self.browse([row.id for index, row in enumerate(self) if index in positions])
        if len(sent_rows) >= len(self):
            sent_rows = self.browse()
        if sent_rows:
            retried = sent_rows.filtered('attempts')
            sent_rows._write_grouped({'state': 'sent', 'sent_date': now, 'next_attempt': False,
                                      'error': False}, count_attempt=True)
            retried._log_attempts('sent', now)
        rows = self - sent_rows
        max_attempts = _to_int(
            self.env['ir.config_parameter'].sudo().get_param(const.PARAM_MAX_ATTEMPTS),
            const.DEFAULT_MAX_ATTEMPTS)
        # the platform failed the request, not these rows: pause the whole service
        paused_until = False
        if rows and retryable and convapi is not None and isinstance(error, convapi.SendError):
            paused_until = self.service_id._delivery_pause(error, now)
        retry_after = getattr(error, 'retry_after', None) or 0
        trace_id = getattr(error, 'trace_id', None) or False
        response = getattr(error, 'response', None)
        for attempts in set(rows.mapped('attempts')):
            same = rows.filtered(lambda row, a=attempts: row.attempts == a)
            attempt = attempts + 1
            values = {'attempts': attempt, 'error': message, 'trace_id': trace_id}
            if response:
                values['response'] = json.dumps(response, default=str)
            if retryable and attempt < max_attempts:
                delay = min(const.BACKOFF_BASE_SECONDS * 2 ** (attempt - 1),
                            const.BACKOFF_MAX_SECONDS)
                delay = max(delay, float(retry_after))
                # never before the service's pause is over (a Retry-After): its success
                # makes the rows due again at once (_delivery_resume)
                next_attempt = max(now + timedelta(seconds=delay), paused_until or now)
                values.update(state='retrying', next_attempt=next_attempt)
            else:
                values.update(state='failed', next_attempt=False)
            same.write(values)
            same._log_attempts(values['state'], now, message, trace_id)
        _logger.warning('conversions_api: %s %s event(s) not sent (service %s, %s): %s',
                        len(rows), self.service_id.platform, self.service_id.id,
                        'will retry' if retryable else 'permanent', message)

    def _write_grouped(self, values, count_attempt=False):
        if not count_attempt:
            self.write(values)
            return
        for attempts in set(self.mapped('attempts')):
            self.filtered(lambda row, a=attempts: row.attempts == a).write(
                dict(values, attempts=attempts + 1))

    def _log_attempts(self, outcome, now, error=None, trace_id=None):
        """One line of history per row for the attempt just recorded (see
        conversions.api.event.attempt)."""
        self.env['conversions.api.event.attempt']._log([
            (row.id, row.attempts, now, outcome, error or None, trace_id or None)
            for row in self])

    # ------------------------------------------------------------------
    # Retention
    # ------------------------------------------------------------------

    @api.model
    def _cron_retention(self):
        """Sanitise (drop payload and response) or delete rows past the retention age."""
        params = self.env['ir.config_parameter'].sudo()
        days = _to_int(params.get_param(const.PARAM_RETENTION_DAYS),
                       const.DEFAULT_RETENTION_DAYS)
        if days <= 0:
            return 0
        strategy = params.get_param(const.PARAM_RETENTION_STRATEGY) \
            or const.DEFAULT_RETENTION_STRATEGY
        cutoff = fields.Datetime.now() - timedelta(days=days)
        domain = [('create_date', '<', cutoff), ('state', 'in', ('sent', 'failed'))]
        if strategy == 'delete':
            rows = self.sudo().search(domain)
            rows.unlink()
        else:
            rows = self.sudo().search(domain + [('sanitized', '=', False)])
            rows.write({'payload': False, 'response': False, 'sanitized': True})
        _logger.info('conversions_api: retention (%s, %s days): %s row(s)',
                     strategy, days, len(rows))
        return len(rows)

    @api.model
    def _cron_make_repeating(self, cron_xmlids):
        """Odoo 17 crons run once unless numbercall is -1; the field is gone in 18."""
        Cron = self.env['ir.cron'].sudo()
        if 'numbercall' not in Cron._fields:
            return
        for xmlid in cron_xmlids:
            cron = self.env.ref(xmlid, raise_if_not_found=False)
            if cron:
                cron.sudo().write({'numbercall': -1})

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_retry(self):
        """Queue the selected rows again and send them now."""
        if not self.env.is_system():
            raise AccessError(_('Only administrators can resend events.'))
        rows = self.sudo().filtered(lambda row: row.state != 'sent' and not row.sanitized)
        rows.write({'state': 'queued', 'attempts': 0, 'next_attempt': False, 'error': False})
        self._flush_outbox(ids=rows.ids)
        sent = rows.filtered(lambda row: row.state == 'sent')
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'title': _('Events resent'),
                'message': _('%(sent)s of %(total)s event(s) sent.', sent=len(sent),
                             total=len(rows)),
                'type': 'success' if len(sent) == len(rows) else 'warning',
                'next': {'type': 'ir.actions.client', 'tag': 'soft_reload'},
            },
        }


def _neutral_event(event_name, event_id, event_time, user_data, custom_data, context,
                   event_source_url, referrer_url, partner=None, country=None):
    """The raw user data (Meta-native keys, phones in E.164, not hashed yet) and the event
    without its user part, shared by every service the event goes to."""
    raw_user = {}
    if partner:
        raw_user.update(utils.partner_user_data(partner))
    raw_user.update(utils.canonical_user_keys(user_data))
    for key in const.REQUEST_CONTEXT_USER_KEYS:
        if context.get(key) and key not in raw_user:
            raw_user[key] = context[key]
    country = utils.country_hint(
        raw_user, partner.country_id.code if partner else None, country)
    user = utils.prepare_user_data(convapi, raw_user, country=country)
    event = {
        'event_name': event_name,
        'event_id': event_id,
        'event_time': _timestamp(event_time),
        'action_source': 'website',
        'event_source_url': event_source_url,
        'referrer_url': referrer_url or context.get('referrer_url'),
        'custom': dict(custom_data or {}),
    }
    return user, event


def service_event(base_event, service_user, consent, *, platform, pixel_id, consent_policy,
                  limited_data_use, event_extra=None):
    """The event as one service stores it, from the user data its match-key switches allow:
    consent policy applied, user data normalised and hashed for its platform. None when the
    policy skips the event, or when it lacks a key the platform cannot do without (GA4: a
    visitor without a _ga cookie has no client_id); convapi.ValidationError when the platform
    would refuse it."""
    spec = const.PLATFORMS[platform]
    # keys another platform reads alone (GA4's client_id is no business of Meta's)
    service_user = {key: value for key, value in service_user.items()
                    if key not in const.PLATFORM_USER_KEYS or key in spec['user_keys']}
    limited = limited_data_use
    if consent == 'denied':
        if consent_policy == 'skip':
            return None
        if consent_policy == 'anonymous':
            service_user = {key: value for key, value in service_user.items()
                            if key in const.ANONYMOUS_KEYS}
            if service_user.get('client_ip_address'):
                service_user['client_ip_address'] = utils.anonymize_ip(
                    service_user['client_ip_address'])
        else:
            limited = True
    required = spec['required_user_key']
    if required and not service_user.get(required):
        return None
    event = dict(base_event, user=service_user)
    if spec['consent'] and consent in ('granted', 'denied'):
        # GA4's consent object: what the visitor allowed, LDU meaning no personalised ads
        event['consent'] = {'ad_user_data': consent == 'granted',
                            'ad_personalization': consent == 'granted' and not limited}
    if not (event.get('event_source_url') and service_user.get('client_user_agent')):
        # Meta requires both for website events; a server-side fact without a
        # browser behind it (back-office confirmation, server action) is not one.
        event['action_source'] = 'system_generated'
    for key in const.EVENT_EXTRA_KEYS:
        if (event_extra or {}).get(key) not in (None, ''):
            event[key] = event_extra[key]
    if limited:
        event['limited_data_use'] = True
    event = {key: value for key, value in event.items() if value not in (None, '', {})}
    # Stored hashed as the platform receives it: the outbox keeps no raw contact data.
    event['user'] = utils.hashed_user_data(convapi, platform, event, pixel_id=pixel_id)
    return event


def _utc_datetime(timestamp):
    """Unix seconds as the naive UTC datetime Odoo stores."""
    return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)


def _timestamp(event_time):
    """Unix seconds; naive datetimes are UTC, as everywhere in Odoo."""
    if event_time in (None, False):
        return int(time.time())
    if isinstance(event_time, datetime):
        if event_time.tzinfo is None:
            event_time = event_time.replace(tzinfo=timezone.utc)
        return int(event_time.timestamp())
    return int(event_time)


def _is_convapi_error(error):
    """Whether ``error`` is one convapi raises on purpose (validation, API, transport)."""
    return convapi is not None and isinstance(error, convapi.ConvapiError)


def _is_partial_send_error(error):
    """Whether the platform processed part of the request (convapi.PartialSendError)."""
    partial = getattr(convapi, 'PartialSendError', None) if convapi is not None else None
    return partial is not None and isinstance(error, partial)


def _is_event_level_error(platform, error):
    """Whether the platform refused the request because of one event's content."""
    if convapi is None:
        return False
    if isinstance(error, convapi.ValidationError):
        return True
    if not isinstance(error, convapi.ApiError) or error.retryable:
        return False
    return error.code in const.EVENT_LEVEL_ERROR_CODES.get(platform, ())


def _website_url(website):
    """A page URL for events without one (TikTok requires page.url for web events)."""
    try:
        return website.get_base_url() if website else None
    except Exception:  # noqa: BLE001 - a missing URL only drops the field
        return None


def _source_reference(source):
    if not source:
        return False, False
    if isinstance(source, models.BaseModel):
        source = source[:1]
        return source._name, source.id
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return source[0], int(source[1])
    return False, False


def _to_int(value, default):
    if value is None or value is False or value == '':  # get_param(): False when unset
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
