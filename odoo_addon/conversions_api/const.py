"""Constants of the conversions_api addon: parameter keys, match keys, delivery limits."""

# System parameters that configure a platform when a website has no service of its own.
# ``enabled`` is a boolean switch; the others mirror the service fields.
SYSTEM_PARAMETER_PREFIX = {
    'meta': 'meta_capi',
    'tiktok': 'tiktok_eapi',
}

# Addon-wide system parameters.
PARAM_META_BASE_URL = 'conversions_api.meta_base_url'
PARAM_TIKTOK_BASE_URL = 'conversions_api.tiktok_base_url'
PARAM_RETENTION_DAYS = 'conversions_api.retention_days'
PARAM_RETENTION_STRATEGY = 'conversions_api.retention_strategy'
PARAM_SENDER_TIMEOUT = 'conversions_api.sender_timeout'
PARAM_SENDER_MAX_RETRIES = 'conversions_api.sender_max_retries'
PARAM_MAX_ATTEMPTS = 'conversions_api.max_attempts'

DEFAULT_BASE_URL = {
    'meta': 'https://graph.facebook.com',
    'tiktok': 'https://business-api.tiktok.com',
}
DEFAULT_RETENTION_DAYS = 30
DEFAULT_RETENTION_STRATEGY = 'sanitise'
DEFAULT_SENDER_TIMEOUT = 10.0
# The outbox retries across flushes; the sender itself only retries once within a flush.
DEFAULT_SENDER_MAX_RETRIES = 1
# Attempts (flushes) before a transient failure becomes final.
DEFAULT_MAX_ATTEMPTS = 6
# Lines of delivery history kept per outbox row (conversions.api.event.attempt), the newest.
MAX_ATTEMPT_HISTORY = 20
# Backoff between attempts: BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), capped.
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 6 * 3600
# A request failing transiently (server error, timeout, 429, throttling code) pauses its whole
# service: no request for SERVICE_PAUSE_BASE_SECONDS * 2 ** (failures in a row - 1), at most
# SERVICE_PAUSE_MAX_SECONDS (or as long as the platform's Retry-After asks, up to
# BACKOFF_MAX_SECONDS); then one event probes it, and its success resumes the delivery.
SERVICE_PAUSE_BASE_SECONDS = 5
SERVICE_PAUSE_MAX_SECONDS = 30
# The sender waits out a Retry-After this long at most; a longer one pauses the service.
SENDER_MAX_RETRY_AFTER = 5.0

# Both platforms accept at most 1,000 events per request.
BATCH_SIZE = 1000
# Meta refuses a whole request when one event is older than 7 days; TikTok documents the
# same window. Older queued rows are failed without being sent.
MAX_EVENT_AGE_SECONDS = 7 * 24 * 3600

# Hashed match keys: Meta-native key -> convapi.normalize field.
HASHED_KEYS = {
    'em': 'email',
    'ph': 'phone',
    'fn': 'first_name',
    'ln': 'last_name',
    'ge': 'gender',
    'db': 'date_of_birth',
    'ct': 'city',
    'st': 'state',
    'zp': 'zip',
    'country': 'country',
    'external_id': 'external_id',
}
NEUTRAL_TO_META_KEY = {neutral: meta for meta, neutral in HASHED_KEYS.items()}

# Match keys sent as they are (platforms require them unhashed).
RAW_KEYS = (
    'client_ip_address', 'client_user_agent', 'fbc', 'fbp', 'ttclid', 'ttp', 'locale',
)

# Which service switch allows which stored key.
MATCH_KEY_GROUPS = {
    'match_email': ('em',),
    'match_phone': ('ph',),
    'match_name': ('fn', 'ln'),
    'match_address': ('ct', 'st', 'zp', 'country'),
    'match_demographics': ('ge', 'db'),
    'match_external_id': ('external_id',),
    'match_ip_user_agent': ('client_ip_address', 'client_user_agent', 'locale'),
    'match_click_ids': ('fbc', 'fbp', 'ttclid', 'ttp'),
}

# What an ``anonymous`` consent policy keeps of the user data when consent is denied: no
# contact data, cookies, click IDs or customer ID; the user agent and the IP address with
# its host part zeroed (see utils.anonymize_ip). Meta refuses a website event with less.
ANONYMOUS_KEYS = ('client_ip_address', 'client_user_agent')

# Error codes meaning "this request holds an event the platform refuses" (as opposed to
# token, permission or throttling problems): the batch is split to isolate the event.
EVENT_LEVEL_ERROR_CODES = {
    'meta': (100,),
    'tiktok': (40000, 40002),
}

# Keys of a request context that feed the user data.
REQUEST_CONTEXT_USER_KEYS = (
    'client_ip_address', 'client_user_agent', 'fbc', 'fbp', 'ttclid', 'ttp', 'locale',
)

# Top-level neutral event keys a caller may pass through ``**extra``.
EVENT_EXTRA_KEYS = ('action_source', 'opt_out', 'limited_data_use')
