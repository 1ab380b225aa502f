"""The storefront inbox: what a shopper's request writes, one lean row per request.

A page view must stay cheap, so the request does not insert into the outbox itself: an outbox
row costs seven index entries and five foreign-key checks, each check locking a shared row
(the public user, the website, the company, the service) that every concurrent shopper locks
too. The request instead appends one row here, its events as JSON: the facts of an event that
carries no plain personal data (the drain builds it, normalising and hashing per platform off
the shopper's request), an event with a form's personal data already built and hashed per
platform (see ``conversions.api.event._storefront_entries``): no plain personal data is ever
stored. The table has no foreign key and no index but its primary key, so the INSERT is a
single heap append. It runs once the response has been sent, when the request's transaction
committed (``ir_http._queue_rows_after_response``), else in the request's transaction itself:
never for a request that rolled back.

The flush cron moves the rows into the outbox (``_drain``) before it sends, in its own
transaction: a row leaves the inbox only when its events are in the outbox.
"""

import json
import logging
import uuid

import psycopg2
import psycopg2.errors
from odoo import api, fields, models
from odoo.tools import mute_logger

_logger = logging.getLogger(__name__)

# Inbox rows moved per statement by the drain.
DRAIN_BATCH = 500

_APPEND_SQL = ("INSERT INTO conversions_api_inbox (payload, queued_at) "
               "VALUES (%s, now() AT TIME ZONE 'UTC')")
# Sent before the INSERT, in the same round trip: when the transaction has written nothing yet
# (no transaction id), its commit will not wait for the WAL flush (a transaction-local setting).
_ASYNC_COMMIT_IF_ALONE_SQL = ("SELECT set_config('synchronous_commit', 'off', true) "
                              "WHERE txid_current_if_assigned() IS NULL")
_TAKE_SQL = """
    DELETE FROM conversions_api_inbox
     WHERE id IN (SELECT id FROM conversions_api_inbox ORDER BY id LIMIT %s
                  FOR UPDATE SKIP LOCKED)
    RETURNING payload
"""


class ConversionsApiInbox(models.Model):
    _name = 'conversions.api.inbox'
    _description = 'Conversion API storefront inbox'
    _order = 'id'
    _log_access = False  # no create_uid/write_uid: no foreign key to check per request

    payload = fields.Text(
        required=True, readonly=True,
        help='Events of one request (JSON): their facts, or events hashed per platform; never '
             'plain personal data.')
    queued_at = fields.Datetime(required=True, readonly=True)

    @api.model
    def _append(self, entries, savepoint=False, async_commit_if_alone=False):
        """Append one request's inbox entries (see
        ``conversions.api.event._storefront_entries``) as one row.

        With ``savepoint``, the INSERT runs in a savepoint sent in the same round trip
        (``SAVEPOINT; INSERT; RELEASE``): when it fails, only the savepoint is rolled back and
        the error raised, the caller's transaction stays usable.

        With ``async_commit_if_alone``, a transaction that has written nothing before this
        INSERT commits without waiting for the WAL flush (``synchronous_commit = off`` for
        that transaction only). A page view's transaction is otherwise read-only: it would
        wait for a disk flush only for its tracking row (a fraction of a millisecond on a
        local disk, milliseconds on network storage). The row is still WAL-logged and
        replicated; a PostgreSQL crash within about three ``wal_writer_delay`` of the commit
        could lose it. For the last writes of a transaction only (a pre-commit hook, or a
        transaction of its own): whatever is written after it commits the same way.
        """
        if not entries:
            return 0
        params = [json.dumps(entries, default=str, separators=(',', ':'))]
        statement = (f'{_ASYNC_COMMIT_IF_ALONE_SQL}; {_APPEND_SQL}' if async_commit_if_alone
                     else _APPEND_SQL)
        cr = self.env.cr
        if not savepoint:
            cr.execute(statement, params)
            return len(entries)
        name = f'convapi_{uuid.uuid4().hex}'
        try:
            # One message, several statements: an error stops the rest, RELEASE included (and
            # rolling back to the savepoint undoes the setting too).
            cr.execute(f'SAVEPOINT {name}; {statement}; RELEASE SAVEPOINT {name}', params)
        except psycopg2.Error:
            cr.execute(f'ROLLBACK TO SAVEPOINT {name}')
            cr.execute(f'RELEASE SAVEPOINT {name}')
            raise
        return len(entries)

    @api.model
    def _drain(self, limit=None):
        """Move inbox rows into the outbox, in this transaction; returns the outbox entries
        moved. Rows another transaction is draining are skipped (``SKIP LOCKED``), and so are
        rows another drain removed after this transaction's snapshot was taken: locking them
        fails with a serialization error (REPEATABLE READ), which ends this drain quietly, what
        it moved so far kept; the rest waits for the next run. Facts are built into outbox
        entries first. Events of a service deleted meanwhile are dropped, as its outbox rows
        would be (cascade). An entry the outbox refuses is logged and dropped, never left to
        block the rows behind it."""
        moved = 0
        Event = self.env['conversions.api.event'].sudo()
        while limit is None or moved < limit:
            try:
                # odoo.sql_db would log the serialization error as a bad query
                with self.env.cr.savepoint(flush=False), mute_logger('odoo.sql_db'):
                    self.env.cr.execute(_TAKE_SQL, [DRAIN_BATCH])
                    payloads = [row[0] for row in self.env.cr.fetchall()]
            except psycopg2.errors.SerializationFailure:
                _logger.info('conversions_api: inbox rows taken by another worker meanwhile; '
                             'the rest is drained by the next run')
                break
            if not payloads:
                break
            entries = []
            for payload in payloads:
                try:
                    entries.extend(json.loads(payload))
                except ValueError:
                    _logger.error('conversions_api: dropped an unreadable inbox row')
            entries = Event._build_inbox_entries(entries)
            try:
                with self.env.cr.savepoint(flush=False):
                    moved += Event._insert_entries(entries)
            except psycopg2.Error:
                # one bad entry fails the whole INSERT: queue them one by one, drop the bad
                for entry in entries:
                    try:
                        with self.env.cr.savepoint(flush=False):
                            moved += Event._insert_entries([entry])
                    except psycopg2.Error:
                        _logger.exception('conversions_api: dropped an inbox entry the outbox '
                                          'refused (%s)', entry[4:6] if isinstance(
                                              entry, list) else 'unreadable')
        return moved
