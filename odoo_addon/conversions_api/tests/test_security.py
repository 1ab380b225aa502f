from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import TOKEN, ConversionsApiCase


@tagged('post_install', '-at_install')
class TestSecurity(ConversionsApiCase):

    def _user(self, login, *group_xmlids):
        groups_field = 'groups_id' if 'groups_id' in self.env['res.users']._fields \
            else 'group_ids'
        return self.env['res.users'].create({
            'name': login, 'login': login, 'email': f'{login}@example.com',
            groups_field: [(6, 0, [self.env.ref(xmlid).id for xmlid in group_xmlids])],
        })

    def test_token_hidden_from_non_system_user(self):
        designer = self._user('capi_designer', 'base.group_user',
                              'website.group_website_designer')
        service = self.meta_service.with_user(designer)
        self.assertEqual(service.pixel_id, self.meta_service.pixel_id)
        with self.assertRaises(AccessError):
            service.read(['access_token'])
        self.assertNotIn('access_token', service.fields_get())
        form = service.get_views([(False, 'form')])['views']['form']['arch']
        self.assertNotIn('access_token', form)
        # Settings keep the token for administrators only as well.
        self.assertNotIn('capi_meta_access_token',
                         self.env['res.config.settings'].with_user(designer).fields_get())
        # The administrator sees it.
        self.assertEqual(self.meta_service.access_token, TOKEN)

    def test_designer_reads_log_but_cannot_change_it(self):
        event = self.send('Purchase', event_id='order-sec')
        designer = self._user('capi_designer2', 'base.group_user',
                              'website.group_website_designer')
        self.assertEqual(event.with_user(designer).event_name, 'Purchase')
        with self.assertRaises(AccessError):
            event.with_user(designer).write({'state': 'sent'})
        with self.assertRaises(AccessError):
            event.with_user(designer).action_retry()
        with self.assertRaises(AccessError):
            self.meta_service.with_user(designer).write({'pixel_id': '1'})

    def test_internal_user_without_rights_sees_nothing(self):
        user = self._user('capi_employee', 'base.group_user')
        with self.assertRaises(AccessError):
            self.meta_service.with_user(user).read(['name'])

    def test_token_never_logged(self):
        with self.assertLogs('odoo.addons.conversions_api', level='DEBUG') as logs:
            self.send('Purchase', event_id='order-log')
            self.fake.inject('meta', 'meta_error', code=190, message='Invalid OAuth access token')
            self.Event._flush_outbox()
        self.assertNotIn(TOKEN, '\n'.join(logs.output))
        self.assertNotIn(TOKEN, self.Event.search([('event_id', '=', 'order-log')]).error)
