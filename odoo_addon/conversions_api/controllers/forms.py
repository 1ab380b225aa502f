"""Website forms (Lead, Contact, SubmitApplication) and sign-up (CompleteRegistration).

The form controller sees the target model's name, so crm, website_hr_recruitment and the
others need no dependency: the model name picks the event.
"""

import logging

from odoo.addons.auth_signup.controllers.main import AuthSignupHome
from odoo.addons.website.controllers.form import WebsiteForm
from odoo.http import request

from .. import storefront

_logger = logging.getLogger(__name__)

EMAIL_KEYS = ('email_from', 'email', 'partner_email')
PHONE_KEYS = ('phone', 'partner_phone', 'mobile')
NAME_KEYS = ('contact_name', 'partner_name', 'name')


def _first(values, keys):
    for key in keys:
        value = values.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def form_user_data(model_name, values):
    """Advanced matching from what the visitor typed into the form."""
    user_data = {}
    email = _first(values, EMAIL_KEYS)
    if email and '@' in email:
        user_data['email'] = email
    phone = _first(values, PHONE_KEYS)
    if phone:
        user_data['phone'] = phone
    name_keys = NAME_KEYS if model_name in ('crm.lead', 'hr.applicant', 'res.partner') \
        else NAME_KEYS[:2]
    name = _first(values, name_keys)
    if name:
        parts = name.split(None, 1)
        user_data['first_name'] = parts[0]
        if len(parts) > 1:
            user_data['last_name'] = parts[1]
    return user_data


def record_values(record):
    """The contact fields of the record a form created, as the form would have posted them."""
    values = {}
    for key in EMAIL_KEYS + PHONE_KEYS + NAME_KEYS:
        field = record._fields.get(key)
        if field is not None and field.type == 'char':
            values[key] = record[key]
    return values


class ConversionsApiWebsiteForm(WebsiteForm):

    def insert_record(self, request_, model, values, custom, meta=None):
        record_id = super().insert_record(request_, model, values, custom, meta=meta)
        try:
            model_name = model.model
            if record_id and model_name not in storefront.FORM_MODELS_IGNORED:
                event_name = storefront.FORM_MODEL_EVENTS.get(model_name, 'Contact')
                custom_data = {'content_name': model.name, 'content_category': model_name}
                user_data = form_user_data(model_name, values)
                if not user_data.get('email'):
                    # Some modules move the contact fields elsewhere before the record is
                    # created (18's website_hr_recruitment puts them on an hr.candidate): read
                    # them back from the record.
                    record = request.env[model_name].sudo().browse(record_id)
                    for key, value in form_user_data(model_name, record_values(record)).items():
                        user_data.setdefault(key, value)
                request.env['ir.http']._convapi_track(
                    event_name, user_data=user_data, custom_data=custom_data)
        except Exception:
            _logger.exception('conversions_api: website form hook failed')
        return record_id


class ConversionsApiAuthSignup(AuthSignupHome):

    def _signup_with_values(self, token, values, *args, **kwargs):
        result = super()._signup_with_values(token, values, *args, **kwargs)
        try:
            if getattr(request, 'website', None):
                user_data = {}
                login = values.get('email') or values.get('login')
                if login and '@' in login:
                    user_data['email'] = login
                if values.get('name'):
                    parts = values['name'].split(None, 1)
                    user_data['first_name'] = parts[0]
                    if len(parts) > 1:
                        user_data['last_name'] = parts[1]
                user = request.env['res.users'].sudo().search(
                    [('login', '=', values.get('login'))], limit=1) if values.get('login') else None
                request.env['ir.http']._convapi_track(
                    'CompleteRegistration', user_data=user_data,
                    partner=user.partner_id if user else None,
                    custom_data={'content_name': 'signup', 'status': 'registered'})
        except Exception:
            _logger.exception('conversions_api: sign-up hook failed')
        return result
