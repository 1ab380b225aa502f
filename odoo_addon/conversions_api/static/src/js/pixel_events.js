/** @odoo-module **/
/**
 * Conversions API browser pixel: events queued by AJAX calls (add to cart, wishlist...) wait
 * in the session; after such a call this fetches them and fires fbq/ttq with the event ids of
 * their server copies, so the platforms deduplicate the pair.
 */
(function () {
    "use strict";
    if (typeof window === "undefined" || window.__convapiPixelEvents) {
        return;
    }
    window.__convapiPixelEvents = true;

    function fire(event) {
        (event.meta || []).forEach(function (pixel) {
            if (window.fbq) {
                window.fbq("trackSingle", pixel, event.name, event.meta_data || {}, {
                    eventID: event.event_id,
                });
            }
        });
        (event.tiktok || []).forEach(function (pixel) {
            if (window.ttq && window.ttq.instance) {
                window.ttq.instance(pixel).track(event.tiktok_name, event.tiktok_data || {}, {
                    event_id: event.event_id,
                });
            }
        });
    }

    var timer = null;
    function fetchPending() {
        if (!window.convapiPixel) {
            return; // no pixel on this page (server-only mode, or no consent)
        }
        clearTimeout(timer);
        // let the cart call that triggered us finish first
        timer = setTimeout(function () {
            fetch("/convapi/pixel/pending", {
                method: "POST",
                credentials: "same-origin",
                headers: { "Content-Type": "application/json" },
                body: "{}",
            })
                .then(function (response) {
                    return response.ok ? response.json() : { events: [] };
                })
                .then(function (data) {
                    (data.events || []).forEach(fire);
                })
                .catch(function () {});
        }, 300);
    }
    window.convapiFetchPendingEvents = fetchPending;

    // Odoo 19 dispatches native CustomEvents on `.oe_website_sale` (they do not bubble: capture).
    ["add_to_cart_event", "view_item_event"].forEach(function (name) {
        document.addEventListener(name, function (ev) {
            if (name === "add_to_cart_event") {
                fetchPending();
            }
        }, true);
    });
    // Odoo 17/18 trigger jQuery events, which native listeners do not see.
    function bindJquery() {
        var $ = window.jQuery || window.$;
        if ($ && $.fn && $(document).on) {
            $(document).on("add_to_cart_event", fetchPending);
        }
    }
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", bindJquery);
    } else {
        bindJquery();
    }
    // Forms and newsletter blocks post through fetch/XHR and stay on the page.
    document.addEventListener("submit", function () {
        setTimeout(fetchPending, 1500);
    }, true);
    document.addEventListener("click", function (ev) {
        var target = ev.target && ev.target.closest && ev.target.closest(
            ".o_add_wishlist, .o_add_wishlist_dyn, .js_subscribe_btn, .s_newsletter_subscribe_form .btn"
        );
        if (target) {
            setTimeout(fetchPending, 1500);
        }
    }, true);
})();
