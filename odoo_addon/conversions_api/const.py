"""Constants of the conversions_api addon: the platforms, parameter keys, match keys, limits."""

from odoo.tools.translate import _lt

# The Pinterest tag's event for each neutral event (the tag's counterparts of the API names
# convapi maps to, which Pinterest pairs to deduplicate: Tag Checkout <-> API checkout; see
# docs/specs/pinterest_capi.md §5 and §9). Any other event is the tag's Custom.
PINTEREST_TAG_EVENTS = {
    'PageView': 'PageVisit',
    'ViewContent': 'PageVisit',
    'AddToCart': 'AddToCart',
    'AddToWishlist': 'AddToWishList',
    'InitiateCheckout': 'InitiateCheckout',
    'AddPaymentInfo': 'AddPaymentInfo',
    'Purchase': 'Checkout',
    'Search': 'Search',
    'Lead': 'Lead',
    'Contact': 'Contact',
    'CompleteRegistration': 'Signup',
    'Subscribe': 'Subscribe',
}

# Every platform a service can send to, and all the addon knows of each: the code reads these
# entries, never the platform's name. Adding a platform (once convapi has its sender) is one
# entry here; its browser tag, if any, is a renderer in storefront.TAGS.
#
# label, name         the platform selection's label; the short name in settings and filters
# model               the AbstractModel whose send_event queues for this platform alone (server
#                     actions: env["tiktok.events.api"].send_event(...))
# parameter_prefix    system parameters of the fallback service (a website without a service of
#                     the platform): '<prefix>.enabled', and '<prefix>.<key>' per service field
# parameters          service field -> <key> ('access_token' and the like are secrets)
# base_url_parameter  system parameter overriding default_base_url (a proxy, the fake server)
# sender, builder     convapi's sender class and payload builder; builder_id_argument: the
#                     builder's keyword for the pixel id, if it takes one
# payload_user        how to read the match keys back from the built payload (utils.USER_READERS)
# test                'code': a test sends test_event_code=<the service's code>; 'flag': test=True
# labels              what the service fields mean for this platform (forms and settings)
# help, notice        the settings line; a notice on the service form
# event_level_error_codes  API codes meaning "one event of this request is refused": the batch
#                     is split to isolate it
# dedup               'event_id': the platform deduplicates the browser copy by event id, so the
#                     tag fires every event with the server copy's id; 'transaction_id': no
#                     browser/server dedup but for purchases by transaction id
# tag                 the browser tag: its renderer (storefront.TAGS), the service field holding
#                     its id, its event names (a dict, or the name of a convapi function); None:
#                     the addon loads no tag for this platform
# default_events      the event types a new service sends (None: all)
# user_keys           user keys only this platform reads (the others never get them)
# required_user_key   an event without it is not queued for this platform
# session_cookie      the platform's session cookie: name prefix, and the prefix of the pixel id
#                     the cookie name leaves out; per service (user.session_id)
# cookies             the visitor's cookies feeding a user key: {'key', 'cookie', 'param': the
#                     URL parameter that sets it on a landing page, 'max_age' of the cookie the
#                     addon then sets}; Meta's and TikTok's own are read by ir_http itself
# consent             whether the event carries the visitor's consent as {ad_user_data,
#                     ad_personalization}
# request_size        events per request when each request holds one visitor (None: a batch is
#                     one request)
# max_event_age       seconds after which the platform refuses an event
PLATFORMS = {
    'meta': {
        'label': 'Meta Conversions API',
        'name': 'Meta',
        'model': 'meta.conversions.api',
        'parameter_prefix': 'meta_capi',
        'parameters': {'pixel_id': 'pixel_id', 'access_token': 'access_token',
                       'test_event_code': 'test_event_code'},
        'base_url_parameter': 'conversions_api.meta_base_url',
        'default_base_url': 'https://graph.facebook.com',
        'sender': 'MetaSender',
        'builder': 'build_meta_payload',
        'builder_id_argument': None,
        'payload_user': 'meta',
        'test': 'code',
        'labels': {
            'pixel_id': _lt('Pixel ID'),
            'access_token': _lt('Access token'),
            'test_event_code': _lt('Test event code'),
        },
        'help': _lt('Send events from the server to a Meta pixel; used by websites without a '
                    'Meta service of their own.'),
        'notice': None,
        'event_level_error_codes': (100,),
        'dedup': 'event_id',
        'tag': {'script': 'fbq', 'id_field': 'pixel_id', 'event_names': None},
        'cookies': (),
        'default_events': None,
        'user_keys': (),
        'required_user_key': None,
        'session_cookie': None,
        'consent': False,
        'request_size': None,
        'max_event_age': 7 * 24 * 3600,
    },
    'tiktok': {
        'label': 'TikTok Events API',
        'name': 'TikTok',
        'model': 'tiktok.events.api',
        'parameter_prefix': 'tiktok_eapi',
        'parameters': {'pixel_id': 'pixel_id', 'access_token': 'access_token',
                       'test_event_code': 'test_event_code'},
        'base_url_parameter': 'conversions_api.tiktok_base_url',
        'default_base_url': 'https://business-api.tiktok.com',
        'sender': 'TikTokSender',
        'builder': 'build_tiktok_payload',
        'builder_id_argument': 'pixel_code',
        'payload_user': 'tiktok',
        'test': 'code',
        'labels': {
            'pixel_id': _lt('Pixel code'),
            'access_token': _lt('Access token'),
            'test_event_code': _lt('Test event code'),
        },
        'help': _lt('Send events from the server to a TikTok pixel; used by websites without a '
                    'TikTok service of their own.'),
        'notice': None,
        'event_level_error_codes': (40000, 40002),
        'dedup': 'event_id',
        'tag': {'script': 'ttq', 'id_field': 'pixel_id', 'event_names': 'tiktok_event_name'},
        'cookies': (),
        'default_events': None,
        'user_keys': (),
        'required_user_key': None,
        'session_cookie': None,
        'consent': False,
        'request_size': None,
        'max_event_age': 7 * 24 * 3600,
    },
    'pinterest': {
        'label': 'Pinterest Conversions API',
        'name': 'Pinterest',
        'model': 'pinterest.conversions.api',
        'parameter_prefix': 'pinterest_capi',
        'parameters': {'pixel_id': 'ad_account_id', 'access_token': 'access_token',
                       'tag_id': 'tag_id', 'test_mode': 'test_mode'},
        'base_url_parameter': 'conversions_api.pinterest_base_url',
        'default_base_url': 'https://api.pinterest.com',
        'sender': 'PinterestSender',
        'builder': 'build_pinterest_payload',
        'builder_id_argument': None,
        'payload_user': 'meta',  # user_data with Meta's key names, plus click_id, partner_id
        'test': 'flag',
        'labels': {
            'pixel_id': _lt('Ad account ID'),
            'access_token': _lt('Conversion access token'),
            'tag_id': _lt('Pinterest tag ID'),
            'test_mode': _lt('Test mode'),
        },
        'help': _lt('Send events from the server to a Pinterest ad account; used by websites '
                    'without a Pinterest service of their own.'),
        'notice': _lt('The Pinterest tag ID (the browser tag) is not the ad account ID (the '
                      'API). The tag fires each event with the event_id of its server copy, '
                      'which Pinterest deduplicates. In test mode Pinterest checks every '
                      'request (test=true) and records nothing.'),
        # 4196: "The request was invalid" (a field Pinterest refuses)
        'event_level_error_codes': (4196,),
        'dedup': 'event_id',
        'tag': {'script': 'pintrk', 'id_field': 'tag_id', 'event_names': PINTEREST_TAG_EVENTS},
        'cookies': (
            # the epik parameter of the landing page, else the _epik cookie the Pinterest tag
            # sets (the addon sets it too, for server-only shops: a year, as the tag does)
            {'key': 'click_id', 'cookie': '_epik', 'param': 'epik', 'max_age': 365 * 24 * 3600},
        ),
        'default_events': None,
        'user_keys': ('click_id', 'partner_id'),
        'required_user_key': None,
        'session_cookie': None,
        'consent': False,
        'request_size': None,
        'max_event_age': 7 * 24 * 3600,
    },
    'ga4': {
        'label': 'Google Analytics 4 (Measurement Protocol)',
        'name': 'GA4',
        'model': 'ga4.measurement.protocol',
        'parameter_prefix': 'ga4_mp',
        'parameters': {'pixel_id': 'measurement_id', 'access_token': 'api_secret',
                       'test_mode': 'test_mode'},
        'base_url_parameter': 'conversions_api.ga4_base_url',
        'default_base_url': 'https://www.google-analytics.com',
        'sender': 'GA4Sender',
        'builder': 'build_ga4_payload',
        'builder_id_argument': None,
        'payload_user': 'ga4',
        'test': 'flag',
        'labels': {
            'pixel_id': _lt('Measurement ID'),
            'access_token': _lt('API secret'),
            'test_mode': _lt('Validation mode'),
        },
        'help': _lt('Send the purchases of your shop from the server to a GA4 web stream, next '
                    'to gtag; used by websites without a GA4 service of their own.'),
        'notice': _lt(
            'GA4 does not deduplicate a browser event against a server event, except purchases '
            'with the same transaction ID. This service therefore sends only Purchase by '
            'default ("complement" mode), with transaction_id = the order reference, which the '
            "shop's own gtag purchase then carries too: GA4 counts the order once, and still "
            'gets it when the confirmation page never loads. Page views, product views, carts '
            'and checkouts are left to gtag (Website > Settings > Google Analytics, same '
            'measurement ID). Tick other events only if no browser tag records them. Events '
            'go only for visitors with a _ga cookie (GA4 requires its client_id). The API '
            "secret travels in the request URL, by the protocol's design: it is never logged "
            'or displayed. Validation mode sends to the validation server: nothing is '
            'recorded.'),
        'event_level_error_codes': (),
        'dedup': 'transaction_id',
        'tag': None,  # gtag is Odoo's own (Website settings > Google Analytics)
        'cookies': (
            # gtag's client id cookie, read as is (GA1.1.<random>.<creation time>)
            {'key': 'client_id', 'cookie': '_ga', 'param': None, 'max_age': None},
        ),
        'default_events': ('Purchase',),
        'user_keys': ('client_id', 'session_id'),
        'required_user_key': 'client_id',
        'session_cookie': {'prefix': '_ga_', 'strip': 'G-'},
        'consent': True,
        'request_size': 25,
        'max_event_age': 72 * 3600,
    },
}

# Platforms with a browser tag the addon loads, and with a session cookie to read.
TAG_PLATFORMS = tuple(p for p, spec in PLATFORMS.items() if spec['tag'])
# User keys some platform reads alone (see PLATFORMS[...]['user_keys']).
PLATFORM_USER_KEYS = frozenset(key for spec in PLATFORMS.values() for key in spec['user_keys'])

# System parameters that configure a platform when a website has no service of its own.
# ``enabled`` is a boolean switch; the others mirror the service fields.
SYSTEM_PARAMETER_PREFIX = {p: spec['parameter_prefix'] for p, spec in PLATFORMS.items()}

# Addon-wide system parameters.
PARAM_META_BASE_URL = PLATFORMS['meta']['base_url_parameter']
PARAM_TIKTOK_BASE_URL = PLATFORMS['tiktok']['base_url_parameter']
PARAM_RETENTION_DAYS = 'conversions_api.retention_days'
PARAM_RETENTION_STRATEGY = 'conversions_api.retention_strategy'
PARAM_SENDER_TIMEOUT = 'conversions_api.sender_timeout'
PARAM_SENDER_MAX_RETRIES = 'conversions_api.sender_max_retries'
PARAM_MAX_ATTEMPTS = 'conversions_api.max_attempts'

DEFAULT_BASE_URL = {p: spec['default_base_url'] for p, spec in PLATFORMS.items()}
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

# Meta, TikTok and Pinterest accept at most 1,000 events per request (GA4 25 per visitor: see
# PLATFORMS['ga4']['request_size']).
BATCH_SIZE = 1000
# Meta refuses a whole request when one event is older than 7 days; TikTok documents the
# same window. Older queued rows are failed without being sent (per platform: max_event_age).
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

# Match keys sent as they are (platforms require them unhashed): Pinterest's click_id (epik)
# and third-party partner_id, GA4's client_id (_ga) and session_id (_ga_<id>) among them.
RAW_KEYS = (
    'client_ip_address', 'client_user_agent', 'fbc', 'fbp', 'ttclid', 'ttp', 'locale',
    'click_id', 'partner_id', 'client_id', 'session_id',
)

# Which service switch allows which stored key.
MATCH_KEY_GROUPS = {
    'match_email': ('em',),
    'match_phone': ('ph',),
    'match_name': ('fn', 'ln'),
    'match_address': ('ct', 'st', 'zp', 'country'),
    'match_demographics': ('ge', 'db'),
    'match_external_id': ('external_id', 'partner_id'),
    'match_ip_user_agent': ('client_ip_address', 'client_user_agent', 'locale'),
    'match_click_ids': ('fbc', 'fbp', 'ttclid', 'ttp', 'click_id', 'client_id', 'session_id'),
}

# What an ``anonymous`` consent policy keeps of the user data when consent is denied: no
# contact data, cookies, click IDs or customer ID; the user agent and the IP address with
# its host part zeroed (see utils.anonymize_ip). Meta refuses a website event with less.
ANONYMOUS_KEYS = ('client_ip_address', 'client_user_agent')

# Error codes meaning "this request holds an event the platform refuses" (as opposed to
# token, permission or throttling problems): the batch is split to isolate the event.
EVENT_LEVEL_ERROR_CODES = {p: spec['event_level_error_codes'] for p, spec in PLATFORMS.items()}

# Keys of a request context that feed the user data. (The per-pixel session ids, context key
# 'session_ids', go to each service by its pixel id: see PLATFORMS[...]['session_cookie'].)
REQUEST_CONTEXT_USER_KEYS = (
    'client_ip_address', 'client_user_agent', 'fbc', 'fbp', 'ttclid', 'ttp', 'locale',
    'click_id', 'client_id',
)

# Top-level neutral event keys a caller may pass through ``**extra``.
EVENT_EXTRA_KEYS = ('action_source', 'opt_out', 'limited_data_use')
