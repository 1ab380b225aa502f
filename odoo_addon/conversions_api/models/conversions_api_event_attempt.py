"""The delivery history of an outbox row, shown in its form: one line per failed attempt, and
the success that followed failures (a row sent at its first attempt, the usual case, has none),
the newest ``const.MAX_ATTEMPT_HISTORY`` of them."""

from lxml.builder import E
from odoo import api, fields, models

from .. import const

LIST_FIELDS = (
    ('date', {}),
    ('attempt', {}),
    ('outcome', {'widget': 'badge', 'decoration-success': "outcome == 'sent'",
                 'decoration-danger': "outcome == 'failed'",
                 'decoration-warning': "outcome == 'retrying'"}),
    ('error', {}),
    ('trace_id', {'optional': 'show'}),
)

_INSERT_SQL = """
    INSERT INTO conversions_api_event_attempt
        (conversion_event_id, attempt, date, outcome, error, trace_id,
         create_uid, write_uid, create_date, write_date)
    VALUES %s
"""
_INSERT_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
# The newest MAX_ATTEMPT_HISTORY lines of each row are kept (a row retried by hand again and
# again would grow without bound).
_CAP_SQL = """
    DELETE FROM conversions_api_event_attempt
     WHERE id IN (
        SELECT id FROM (
            SELECT id, row_number() OVER (PARTITION BY conversion_event_id ORDER BY id DESC) AS n
              FROM conversions_api_event_attempt
             WHERE conversion_event_id = ANY(%s)
        ) ranked
        WHERE n > %s)
"""


class ConversionsApiEventAttempt(models.Model):
    _name = 'conversions.api.event.attempt'
    _description = 'Conversion API delivery attempt'
    _order = 'id desc'
    _rec_name = 'date'

    conversion_event_id = fields.Many2one(
        'conversions.api.event', string='Conversion event', required=True, ondelete='cascade',
        index=True, readonly=True)
    attempt = fields.Integer(readonly=True, help='The attempt number of the row at the time.')
    date = fields.Datetime(readonly=True)
    outcome = fields.Selection(
        [('sent', 'Sent'), ('retrying', 'Will retry'), ('failed', 'Failed')], readonly=True)
    error = fields.Text(readonly=True, help="The platform's message, or why nothing was sent.")
    trace_id = fields.Char(string='Trace ID', readonly=True,
                           help='Meta fbtrace_id or TikTok request_id of the attempt.')

    # A list arch that works on 17 (<tree>) and 18/19 (<list>), as the outbox's own.
    @api.model
    def _get_default_tree_view(self):
        return self._conversions_api_list_arch(E.tree)

    @api.model
    def _get_default_list_view(self):
        return self._conversions_api_list_arch(E.list)

    @api.model
    def _conversions_api_list_arch(self, maker):
        children = [E.field(name=name, **attrs) for name, attrs in LIST_FIELDS]
        return maker(*children, string=self._description, create='0', edit='0', delete='0')

    @api.model
    def _log(self, entries):
        """Append ``(event row id, attempt, date, outcome, error, trace id)`` lines with one
        INSERT (the outbox records a failed batch of 1,000 rows at once), then drop the lines
        beyond the cap of each row."""
        if not entries:
            return
        cr = self.env.cr
        uid = self.env.uid
        params = []
        for entry in entries:
            params.extend(entry)
            params.extend((uid, uid))
        cr.execute(_INSERT_SQL % ', '.join([_INSERT_ROW] * len(entries)), params)
        row_ids = list({entry[0] for entry in entries})
        cr.execute(_CAP_SQL, [row_ids, const.MAX_ATTEMPT_HISTORY])
        self.invalidate_model()
        self.env['conversions.api.event'].browse(row_ids).invalidate_recordset(['attempt_ids'])
