"""Probe (not a test): the wall display in portrait, with Chromium CPU-throttled by CDP
(Emulation.setCPUThrottlingRate, argv[1], e.g. 10), after 14 issues and a call; prints every change of
the card height, the layout problems of tests/test_display_browser.LAYOUT and the services wait texts.
Run from the project root: .venv/bin/python bench/display_layout_probe.py 10
"""
import sys, time, tempfile, pathlib, requests
sys.path.insert(0, ".")
from playwright.sync_api import sync_playwright
from tests.browser import launch, new_page
from tests.live_server import LiveServer
from tests.test_display_browser import LAYOUT, PORTRAIT, post
rate = float(sys.argv[1])
with LiveServer(pathlib.Path(tempfile.mkdtemp())) as srv, sync_playwright() as pw:
    srv.tokens = {"display": srv.add_device("display-x", "display", site="main"), "kiosk": srv.add_device("kiosk-x", "kiosk", site="main"),
                  "clerk2": srv.add_user("minh.tran", "clerk")}
    requests.post(srv.url + "/api/v1/counters/6/sign-in", json={}, headers=srv.bearer(srv.tokens["clerk2"]), timeout=10).raise_for_status()
    b = launch(pw); page = new_page(b, PORTRAIT)
    cdp = page.context.new_cdp_session(page); cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
    page.goto(f"{srv.url}/display?token={srv.tokens['display']}")
    page.wait_for_selector(".card[data-counter='5']", timeout=30000)
    print("before issue", page.evaluate(LAYOUT), page.evaluate("() => [...document.querySelectorAll('.svc .est .vi')].map(n => n.textContent).join('|')"))
    codes = [s["service"] for s in requests.get(srv.url + "/api/v1/snapshot", headers=srv.bearer(srv.tokens["display"]), timeout=10).json()["services"]]
    for c in codes:
        for _ in range(2): post(srv, "/tickets", "kiosk", {"service": c})
    post(srv, "/counters/6/call-next", "clerk2", {})
    t0 = time.monotonic(); last = None
    while time.monotonic() - t0 < 15:
        out = page.evaluate(LAYOUT)
        txt = page.evaluate("() => [...document.querySelectorAll('.svc .est .vi')].map(n => n.textContent).join('|')")
        h = page.evaluate("() => { const c = document.querySelector('.card'); return c ? Math.round(c.getBoundingClientRect().height) : 0 }")
        key = (tuple(out[:2]), txt, h)
        if key != last: print(f"{time.monotonic()-t0:5.2f}s card_h={h} problems={len(out)} {out[:1]} est={txt}"); last = key
        time.sleep(0.05)
