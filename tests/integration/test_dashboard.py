"""The dashboard (GET / on the admin listener), in a real browser: headless
Chromium loads the page while traffic runs through three servers, one
30 ms slow against a 20 ms p95 SLO; the page polls /stats, its charts fill,
and only the slow server's card shows the breach. A screenshot is kept as
build/dashboard.png. Skipped, and said so, where Chromium is missing
(.ci/run installs it: scripts/install-deps.sh --browser)."""
import os
import re
import shutil
import subprocess
import threading

from harness import ROOT, Backends, Ringlb, config, free_port, get

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browse(url, *args, budget_ms=8000):
    """The page after budget_ms of the browser's virtual time: its timers
    run ahead, each poll of /stats is a real request to ringlb."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=%d" % budget_ms, *args, url],
                          capture_output=True, text=True, timeout=90)


def test_dashboard_charts_live_traffic_in_a_browser():
    if CHROMIUM is None:
        print("SKIP test_dashboard: no chromium (scripts/install-deps.sh --browser)")
        return
    be = Backends(3)
    be.servers[2].delay_ms = 30
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d\nslo_p95 = 20ms" % aport))
    stop = threading.Event()

    def load():
        while not stop.is_set():
            get(lb.port)
    clients = [threading.Thread(target=load) for _ in range(2)]
    for t in clients:
        t.start()
    try:
        url = "http://127.0.0.1:%d/" % aport
        dom = browse(url, "--dump-dom").stdout
        polls = re.search(r'data-polls="(\d+)"', dom)
        assert polls and int(polls.group(1)) >= 4, dom[-2000:]
        cards = {"s%d" % (int(i) + 1): a for i, a in re.findall(r'<div class="card[^"]*" id="srv-0/(\d)"([^>]*)>', dom)}
        assert set(cards) == {"s1", "s2", "s3"}, cards
        attrs = {s: dict(re.findall(r'data-(\w+)="([^"]*)"', a)) for s, a in cards.items()}
        for s, a in attrs.items():
            assert int(a["points"]) >= 4 and float(a["peak"]) > 0, attrs  # the charts fill from live traffic
        assert attrs["s3"]["breach"] == "true" and float(attrs["s3"]["p99"]) >= 30, attrs
        assert attrs["s1"]["breach"] == "false" and attrs["s2"]["breach"] == "false", attrs
        shot = os.path.join(ROOT, "build", "dashboard.png")
        browse(url, "--window-size=1280,560", "--screenshot=" + shot, budget_ms=40000)
        assert os.path.getsize(shot) > 10000
    finally:
        stop.set()
        for t in clients:
            t.join()
        lb.close()
        be.stop()
