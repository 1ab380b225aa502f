from . import conversions_api_event_type
from . import conversions_api_service
from . import conversions_api_event
from . import meta_conversions_api
from . import tiktok_events_api
from . import res_config_settings
