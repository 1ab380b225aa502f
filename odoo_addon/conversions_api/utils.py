"""Pure helpers: turn Odoo facts into convapi user data, hashed before it is stored."""

import re

from . import const

_HEX64 = re.compile(r'^[0-9a-f]{64}$')
_EMPTY = (None, False, '', [], ())


def is_enabled(value):
    """Whether a system parameter string means "on" (res.config.settings stores 'True')."""
    return str(value or '').strip().lower() in ('1', 'true', 'yes', 'on')


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


def hash_user_data(convapi, user_data, country=None):
    """Normalise and hash the personal keys of ``user_data`` (Meta-native keys).

    Returns Meta-native keys: personal ones as SHA-256 hex (convapi passes them through
    unchanged when it builds the platform payload), the others as given. A value that
    cannot be normalised is dropped, as the convapi builders do.
    """
    result = {}
    for key, value in canonical_user_keys(user_data).items():
        if key in const.RAW_KEYS:
            result[key] = str(value)
            continue
        field = const.HASHED_KEYS[key]
        hashed = []
        for item in _as_list(value):
            item = str(item).strip()
            if not item:
                continue
            if is_hashed(item):
                digest = item.lower()
            else:
                try:
                    normalized = convapi.normalize(field, item, country=country)
                except (convapi.ValidationError, ValueError):
                    continue
                if not normalized:
                    continue
                digest = convapi.hash_value(normalized)
            if digest not in hashed:
                hashed.append(digest)
        if not hashed:
            continue
        if key in ('em', 'ph') and len(hashed) > 1:
            result[key] = hashed
        else:
            result[key] = hashed[0]
    return result


def _as_list(value):
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]
