/** @odoo-module **/
/**
 * Conversions API browser pixel: events queued by AJAX calls (add to cart, wishlist, forms...)
 * wait in the session; when such a call has returned, this fetches them from
 * /convapi/pixel/pending and fires the browser tags (fbq, ttq, pintrk) with the event ids of
 * their server copies, so the platforms deduplicate the pair. The server gives each event's tag
 * calls as data ({f, a} or {f, i, m, a}, see storefront.call_js): a new tag needs no code here.
 */
(function () {
    "use strict";
    if (typeof window === "undefined" || window.__convapiPixelEvents) {
        return;
    }
    window.__convapiPixelEvents = true;

    // One tag call given by the server: window[f](...a), or window[f].instance(i)[m](...a).
    function run(call) {
        var target = call && window[call.f];
        if (!target) {
            return; // the tag did not load (blocked, or refused by the visitor)
        }
        try {
            if (call.i !== undefined) {
                if (target.instance) {
                    var instance = target.instance(call.i);
                    instance[call.m].apply(instance, call.a || []);
                }
            } else {
                target.apply(window, call.a || []);
            }
        } catch (e) {
            // a tag failing must not stop the others
        }
    }

    function fire(event) {
        if (Array.isArray(event.calls)) {
            event.calls.forEach(run);
            return;
        }
        // an event without calls (kept by an earlier version of the addon)
        (event.meta || []).forEach(function (pixel) {
            if (window.fbq) {
                window.fbq("trackSingle", pixel, event.name, event.meta_data || {}, {
                    eventID: event.event_id,
                });
            }
        });
        // TikTok pixels whose service has Limited Data Use on (see storefront.pixel_script)
        var tiktokLdu = (window.convapiPixel && window.convapiPixel.tiktok_ldu) || [];
        (event.tiktok || []).forEach(function (pixel) {
            if (window.ttq && window.ttq.instance) {
                var options = { event_id: event.event_id };
                if (tiktokLdu.indexOf(pixel) !== -1) {
                    options.limited_data_use = true;
                }
                window.ttq.instance(pixel).track(event.tiktok_name, event.tiktok_data || {}, options);
            }
        });
    }

    // The original fetch, before the wrapper below.
    var nativeFetch = window.fetch;

    var timer = null;
    function fetchPending(delay) {
        if (!window.convapiPixel || !nativeFetch) {
            return; // no pixel on this page (server-only mode, or no consent)
        }
        clearTimeout(timer);
        timer = setTimeout(function () {
            nativeFetch.call(window, "/convapi/pixel/pending", {
                method: "POST",
                credentials: "same-origin",
                headers: { "Content-Type": "application/json" },
                body: "{}",
            })
                .then(function (response) {
                    // 429 (too many calls): the events stay in the session, and the next page's
                    // pixel script fires them
                    return response.ok ? response.json() : { events: [] };
                })
                .then(function (data) {
                    (data.events || []).forEach(fire);
                })
                .catch(function () {});
        }, typeof delay === "number" ? delay : 300);
    }
    window.convapiFetchPendingEvents = fetchPending;

    // The calls that queue events without loading a page: once their answer is in, the server
    // copy is queued and its pixel copy waits in the session. Watching the calls themselves works
    // on every version, whatever Odoo's own tracking events do (17/18 trigger add_to_cart_event
    // only when a Google Analytics key is set, and before the cart call returns).
    var TRACKED_CALLS = new RegExp(
        "^/(shop/cart/(update_json|update_option|update|add|quick_add)" +
            "|website_sale/(product|combo)_configurator/update_cart" +
            "|shop/wishlist/add|website_mass_mailing/subscribe|website/form/)"
    );
    function isTrackedCall(url) {
        try {
            var parsed = new URL(String(url), window.location.href);
            return parsed.origin === window.location.origin &&
                TRACKED_CALLS.test(parsed.pathname.replace(/^\/[a-z]{2}(_[A-Za-z]{2,4})?(?=\/)/, ""));
        } catch (e) {
            return false;
        }
    }
    var XHR = window.XMLHttpRequest;
    if (XHR && XHR.prototype) {
        var xhrOpen = XHR.prototype.open;
        var xhrSend = XHR.prototype.send;
        XHR.prototype.open = function (method, url) {
            this.__convapiTracked = isTrackedCall(url);
            return xhrOpen.apply(this, arguments);
        };
        XHR.prototype.send = function () {
            if (this.__convapiTracked) {
                this.addEventListener("loadend", function () {
                    fetchPending(0);
                });
            }
            return xhrSend.apply(this, arguments);
        };
    }
    if (nativeFetch) {
        window.fetch = function (input) {
            var result = nativeFetch.apply(this, arguments);
            var url = input && typeof input === "object" && "url" in input ? input.url : input;
            if (isTrackedCall(url)) {
                result.then(function () {
                    fetchPending(0);
                }, function () {});
            }
            return result;
        };
    }

    // Odoo's own add-to-cart events, as a second signal (a configurator may add without a call
    // matched above). 19 dispatches native CustomEvents on `.oe_website_sale` (they do not
    // bubble: capture); 17/18 trigger jQuery events, which native listeners do not see.
    function onAddToCartEvent() {
        fetchPending();
    }
    document.addEventListener("add_to_cart_event", onAddToCartEvent, true);
    function bindJquery() {
        var $ = window.jQuery || window.$;
        if ($ && $.fn && $(document).on) {
            $(document).on("add_to_cart_event", onAddToCartEvent);
        }
    }
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", bindJquery);
    } else {
        bindJquery();
    }
})();
