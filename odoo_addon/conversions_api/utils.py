"""Pure helpers: turn Odoo facts into convapi user data, hashed before it is stored."""

import ipaddress
import re

from . import const

_HEX64 = re.compile(r'^[0-9a-f]{64}$')
_EMPTY = (None, False, '', [], ())


def is_enabled(value):
    """Whether a system parameter string means "on" (res.config.settings stores 'True')."""
    return str(value or '').strip().lower() in ('1', 'true', 'yes', 'on')


def anonymize_ip(value):
    """The network part only: IPv4 /24, IPv6 /48 (as analytics tools anonymise IPs)."""
    try:
        address = ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f'{address}/{prefix}', strict=False).network_address)


def is_hashed(value):
    return isinstance(value, str) and bool(_HEX64.match(value.strip().lower()))


def canonical_user_keys(user_data):
    """Map neutral keys (email, phone, ...) to the Meta-native ones (em, ph, ...).

    Unknown keys are dropped: they could carry personal data the outbox must not keep.
    """
    result = {}
    for key, value in (user_data or {}).items():
        if value in _EMPTY:
            continue
        if key in const.HASHED_KEYS or key in const.RAW_KEYS:
            canonical = key
        elif key in const.NEUTRAL_TO_META_KEY:
            canonical = const.NEUTRAL_TO_META_KEY[key]
        else:
            continue
        if canonical in result and canonical in ('em', 'ph'):
            result[canonical] = _as_list(result[canonical]) + _as_list(value)
        else:
            result[canonical] = value
    return result


def partner_user_data(partner):
    """Advanced-matching facts of a res.partner, with Meta-native keys (unhashed)."""
    partner = partner.sudo()
    data = {}
    email = partner.email_normalized if 'email_normalized' in partner._fields else None
    email = email or partner.email
    if email:
        data['em'] = email
    phones = [partner.phone]
    if 'mobile' in partner._fields:  # res.partner.mobile is gone in Odoo 19
        phones.append(partner.mobile)
    phones = [phone for phone in phones if phone]
    if phones:
        data['ph'] = phones
    if partner.name and not partner.is_company:
        parts = partner.name.split(None, 1)
        data['fn'] = parts[0]
        if len(parts) > 1:
            data['ln'] = parts[1]
    if partner.city:
        data['ct'] = partner.city
    if partner.state_id:
        data['st'] = partner.state_id.code
    if partner.zip:
        data['zp'] = partner.zip
    if partner.country_id:
        data['country'] = partner.country_id.code
    data['external_id'] = str(partner.id)
    return data


def country_hint(user_data, *fallbacks):
    """A 2-letter country code to normalise local phone numbers and states with."""
    country = user_data.get('country')
    if isinstance(country, (list, tuple)):
        country = country[0] if country else None
    if isinstance(country, str) and len(country.strip()) == 2:
        return country.strip().upper()
    for fallback in fallbacks:
        if fallback:
            return fallback.upper()
    return None


def prepare_user_data(convapi, user_data, country=None):
    """Canonical keys; phone numbers put in E.164 with the country hint (still raw).

    The country hint (the partner's or the shop's) only helps read national phone
    numbers; it is not added as a match key.
    """
    result = canonical_user_keys(user_data)
    if 'ph' in result and country:
        phones = []
        for phone in _as_list(result['ph']):
            phone = str(phone).strip()
            if phone and not is_hashed(phone):
                try:
                    phone = convapi.normalize('phone', phone, country=country) or phone
                except (convapi.ValidationError, ValueError):
                    pass  # the builder drops what it cannot read
            phones.append(phone)
        result['ph'] = phones
    return result


# Keys of the platform payloads' user objects -> Meta-native keys of the stored event.
_TIKTOK_USER_KEYS = {
    'email': 'em',
    'phone': 'ph',
    'external_id': 'external_id',
    'ip': 'client_ip_address',
    'user_agent': 'client_user_agent',
    'ttclid': 'ttclid',
    'ttp': 'ttp',
    'locale': 'locale',
}


def build_payload(convapi, platform, events, pixel_id=None):
    """The platform's payload of ``events``, built by its convapi builder (const.PLATFORMS)."""
    spec = const.PLATFORMS[platform]
    builder = getattr(convapi, spec['builder'])
    kwargs = {}
    if spec['builder_id_argument']:
        kwargs[spec['builder_id_argument']] = pixel_id or 'pixel'
    return builder(events, **kwargs)


def _read_meta_user(payload):
    """Meta's and Pinterest's ``data[0].user_data``: Meta-native keys already."""
    return dict(payload['data'][0].get('user_data') or {})


def _read_tiktok_user(payload):
    return {
        _TIKTOK_USER_KEYS[key]: value
        for key, value in (payload['data'][0].get('user') or {}).items()
        if key in _TIKTOK_USER_KEYS
    }


# GA4's hashed user_data keys -> the stored keys (the address' city, region, postal code and
# country are sent plain by GA4's rules: not stored, so the outbox keeps no plain address).
_GA4_USER_DATA_KEYS = {'sha256_email_address': 'em', 'sha256_phone_number': 'ph'}
_GA4_ADDRESS_KEYS = {'sha256_first_name': 'fn', 'sha256_last_name': 'ln'}


def _read_ga4_user(payload):
    """GA4's request: client_id, user_id (plain: the customer ID), user_data (hashed),
    the event's session_id parameter."""
    request = payload[0] if isinstance(payload, list) else payload
    if isinstance(request, dict) and isinstance(request.get('requests'), list):
        request = request['requests'][0]
    user = {}
    if request.get('client_id'):
        user['client_id'] = request['client_id']
    if request.get('user_id'):
        user['external_id'] = request['user_id']
    user_data = request.get('user_data') or {}
    for key, stored in _GA4_USER_DATA_KEYS.items():
        if user_data.get(key):
            user[stored] = user_data[key]
    addresses = user_data.get('address') or []
    if isinstance(addresses, dict):
        addresses = [addresses]
    for key, stored in _GA4_ADDRESS_KEYS.items():
        if addresses and addresses[0].get(key):
            user[stored] = addresses[0][key]
    events = request.get('events') or [{}]
    session_id = (events[0].get('params') or {}).get('session_id')
    if session_id not in (None, ''):
        user['session_id'] = str(session_id)
    return user


# How to read a built payload's user data back, per const.PLATFORMS ``payload_user``.
USER_READERS = {
    'meta': _read_meta_user,
    'tiktok': _read_tiktok_user,
    'ga4': _read_ga4_user,
}


def hashed_user_data(convapi, platform, event, pixel_id=None):
    """The event's user data as the platform will receive it: normalised and hashed.

    convapi builds the platform payload (raising convapi.ValidationError for an event the
    platform would refuse); its user object is mapped back to Meta-native keys, which every
    builder accepts and, being 64-hex digests already, passes through unchanged. Each
    platform hashes some keys its own way (Meta: phone digits; TikTok and GA4: E.164 with
    '+'; GA4: gmail addresses without their dots), hence one result per platform.
    """
    reader = USER_READERS[const.PLATFORMS[platform]['payload_user']]
    user = reader(build_payload(convapi, platform, [event], pixel_id))
    # One value reads better as a plain string; the builders take either form.
    return {
        key: value[0] if isinstance(value, list) and len(value) == 1 else value
        for key, value in user.items()
    }


def with_session_id(user, context, platform, pixel_id):
    """``user`` with the platform's session id of this pixel (GA4: the ``_ga_<id>`` cookie's
    value, kept in the request context by cookie suffix, see const ``session_cookie``)."""
    cookie = const.PLATFORMS[platform]['session_cookie']
    sessions = (context or {}).get('session_ids')
    if not cookie or not isinstance(sessions, dict) or not pixel_id:
        return user
    value = sessions.get(session_cookie_suffix(platform, pixel_id))
    if not value or user.get('session_id'):
        return user
    return dict(user, session_id=value)


def session_cookie_suffix(platform, pixel_id):
    """The part of the session cookie's name after its prefix: the pixel id without its
    prefix (GA4: measurement ID G-ABC123 -> _ga_ABC123)."""
    cookie = const.PLATFORMS[platform]['session_cookie']
    pixel_id = (pixel_id or '').strip()
    if cookie['strip'] and pixel_id.upper().startswith(cookie['strip'].upper()):
        pixel_id = pixel_id[len(cookie['strip']):]
    return pixel_id


def _as_list(value):
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]
