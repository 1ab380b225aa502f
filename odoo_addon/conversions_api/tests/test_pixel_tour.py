"""A real browser (Chromium) on the product page: the shopper clicks "Add to cart", Odoo's own
JS adds it over AJAX, and pixel_events.js fires the browser copy of AddToCart with the event id
of the server copy queued in the outbox."""

import json
import logging
import re
from unittest.mock import patch

from odoo.tests import tagged

from .. import storefront
from .common import META_PIXEL
from .storefront_common import StorefrontCase

# Runs in <head>, before the pixel script: with window.fbq defined, Meta's loader does not fetch
# its SDK from the internet, and every fbq call is recorded.
FBQ_STUB = ('<script>window.__fbqCalls = []; window.fbq = function () {'
            ' window.__fbqCalls.push(Array.prototype.slice.call(arguments)); };</script>')

TOUR = """
(async function () {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const deadline = Date.now() + 60000;
    const adds = () => (window.__fbqCalls || []).filter(
        (call) => call[0] === "trackSingle" && call[2] === "AddToCart");
    let button = null;
    while (!(button = document.querySelector("#add_to_cart"))) {
        if (Date.now() > deadline) {
            console.error("convapi tour: no add to cart button");
            return;
        }
        await sleep(100);
    }
    // Odoo binds its widgets (17/18) or interactions (19) after the page load; a click before
    // that does nothing, so click again until an add happened.
    for (let attempt = 0; attempt < 6 && !adds().length; attempt++) {
        await sleep(attempt ? 5000 : 2000);
        if (adds().length) {
            break;
        }
        button.click();
        const until = Date.now() + 5000;
        while (!adds().length && Date.now() < until) {
            await sleep(100);
        }
    }
    if (!adds().length) {
        console.error("convapi tour: no AddToCart pixel call; fbq calls: " +
                      JSON.stringify(window.__fbqCalls));
        return;
    }
    await sleep(1000); // a duplicate browser copy would show up now
    console.log("convapi-tour " + JSON.stringify(window.__fbqCalls));
    console.log("test successful");
})();
"""


class _Collect(logging.Handler):

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@tagged('post_install', '-at_install')
class TestPixelInBrowser(StorefrontCase):

    def test_ajax_add_to_cart_fires_the_pixel_with_the_server_id(self):
        # The test browser says "HeadlessChrome", which the bot filter rightly refuses: let this
        # one through as a shopper.
        shopper = re.compile(storefront.BOT_USER_AGENT.pattern.replace('headless|', ''),
                             re.IGNORECASE)
        self.assertNotEqual(shopper.pattern, storefront.BOT_USER_AGENT.pattern)
        patcher = patch.object(storefront, 'BOT_USER_AGENT', shopper)
        patcher.start()
        self.addCleanup(patcher.stop)
        # The TikTok loader would fetch its SDK from the internet: Meta's pixel only here (the
        # TikTok copy goes through the same code, see test_pixel_endpoint).
        self.tiktok_service.browser_pixel = False
        self.website.custom_code_head = FBQ_STUB
        collect = _Collect()
        # the test's browser console goes to "<test module>.<test class>.browser"
        browser_logger = logging.getLogger(__name__)
        browser_logger.addHandler(collect)
        self.addCleanup(browser_logger.removeHandler, collect)
        if not browser_logger.isEnabledFor(logging.INFO):
            level = browser_logger.level
            browser_logger.setLevel(logging.INFO)
            self.addCleanup(browser_logger.setLevel, level)

        start = self.last_event_id()
        self.browser_js(self.product_url(), TOUR, timeout=120)

        lines = [m for m in collect.messages if 'convapi-tour ' in m]
        self.assertTrue(lines, 'the tour reported the fbq calls')
        calls = json.loads(lines[-1].split('convapi-tour ', 1)[1])
        tracked = [call for call in calls if call[0] == 'trackSingle']

        adds = [call for call in tracked if call[2] == 'AddToCart']
        rows = self.queued('AddToCart', start)
        self.assertTrue(rows, 'the click queued AddToCart on the server')
        self.assertEqual(len(adds), len(set(rows.mapped('event_id'))),
                         'one browser copy per server event')
        self.assertEqual({call[4]['eventID'] for call in adds}, set(rows.mapped('event_id')))
        self.assertEqual({call[1] for call in adds}, {META_PIXEL})
        payload = self.meta(rows[:2])
        self.assertEqual(adds[0][3]['content_ids'], payload['custom']['content_ids'])
        self.assertEqual(adds[0][3]['currency'], payload['custom']['currency'])

        # the page's own events, rendered with the page, carry the server ids too
        self.assertIn(['init', META_PIXEL], [call[:2] for call in calls])
        views = self.queued('ViewContent', start)
        self.assertTrue(views)
        self.assertEqual({call[4]['eventID'] for call in tracked if call[2] == 'ViewContent'},
                         set(views.mapped('event_id')))
