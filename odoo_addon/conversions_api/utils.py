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


def hashed_user_data(convapi, platform, event, pixel_id=None):
    """The event's user data as the platform will receive it: normalised and hashed.

    convapi builds the platform payload (raising convapi.ValidationError for an event the
    platform would refuse); its user object is mapped back to Meta-native keys, which both
    builders accept and, being 64-hex digests already, pass through unchanged. Each
    platform hashes some keys its own way (Meta: phone digits; TikTok: E.164 with '+'),
    hence one result per platform.
    """
    if platform == 'meta':
        built = convapi.build_meta_payload([event])['data'][0]
        user = dict(built.get('user_data') or {})
    else:
        built = convapi.build_tiktok_payload([event], pixel_code=pixel_id or 'pixel')['data'][0]
        user = {
            _TIKTOK_USER_KEYS[key]: value
            for key, value in (built.get('user') or {}).items()
            if key in _TIKTOK_USER_KEYS
        }
    # One value reads better as a plain string; both builders take either form.
    return {
        key: value[0] if isinstance(value, list) and len(value) == 1 else value
        for key, value in user.items()
    }


def _as_list(value):
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]
