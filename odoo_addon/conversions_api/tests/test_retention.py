from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import ConversionsApiCase


@tagged('post_install', '-at_install')
class TestRetention(ConversionsApiCase):

    def _age(self, events, days):
        self.env.flush_all()
        self.env.cr.execute(
            'UPDATE conversions_api_event SET create_date = %s WHERE id = ANY(%s)',
            [fields.Datetime.now() - timedelta(days=days), events.ids])
        events.invalidate_recordset()

    def _make_events(self):
        old_sent = self.send('ViewContent', event_id='old-sent')
        old_queued = self.send('ViewContent', event_id='old-queued')
        recent = self.send('ViewContent', event_id='recent')
        self.Event._flush_outbox(ids=(old_sent | recent).ids)
        self.assertEqual((old_sent | recent).mapped('state'), ['sent', 'sent'])
        self._age(old_sent | old_queued, 40)
        return old_sent, old_queued, recent

    def test_sanitise(self):
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('conversions_api.retention_days', '30')
        params.set_param('conversions_api.retention_strategy', 'sanitise')
        old_sent, old_queued, recent = self._make_events()
        self.assertEqual(self.Event._cron_retention(), 1)
        self.assertTrue(old_sent.sanitized)
        self.assertFalse(old_sent.payload)
        self.assertFalse(old_sent.response)
        self.assertEqual(old_sent.state, 'sent')
        self.assertTrue(old_queued.payload, 'undelivered events are kept whole')
        self.assertTrue(recent.payload)
        self.assertEqual(self.Event._cron_retention(), 0)

    def test_delete(self):
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('conversions_api.retention_days', '30')
        params.set_param('conversions_api.retention_strategy', 'delete')
        old_sent, old_queued, recent = self._make_events()
        self.Event._cron_retention()
        self.assertFalse(old_sent.exists())
        self.assertTrue(old_queued.exists())
        self.assertTrue(recent.exists())
