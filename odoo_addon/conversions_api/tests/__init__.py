# ruff: noqa: F401
from . import (
    test_delivery,
    test_install,
    test_outbox_transactions,
    test_pixel_endpoint,
    test_pixel_tour,
    test_poison_rows,
    test_public_endpoints,
    test_retention,
    test_security,
    test_send_event,
    test_settings,
    test_storefront,
    test_storefront_helpers,
    test_storefront_latency,
    test_storefront_paths,
)
