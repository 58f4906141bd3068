"""page_cdp.py: loads memprobed's live page in headless Chromium at a phone's width and prints its DOM.

Headless Chromium will not make a window narrower than 500 px, so the
width is set by the DevTools protocol (Emulation.setDeviceMetricsOverride)
over --remote-debugging-pipe. Arguments: CHROMIUM URL WIDTH HEIGHT
PROFILE_DIR [CLICK_ID DONE_EXPR]. Prints the DOM once the selected
process's detail is drawn and the page has marked its width; with
CLICK_ID, then clicks that element, waits until the JavaScript expression
DONE_EXPR is true and prints the DOM again after the line
"<!-- clicked -->". Every wait is a bounded poll (DEADLINE_S in all).
Exits 1 with a reason on stderr.
"""

import json
import os
import signal
import subprocess
import sys
import time

DEADLINE_S = 100
# The detail is drawn, then the page marks its widths (app.js markWidth).
READY = ("document.querySelector('#more h3') !== null && "
         "document.documentElement.dataset.scrollWidth !== undefined")


class Pipe:
    """The DevTools protocol over fds 3 (to Chromium) and 4 (from it)."""

    def __init__(self, argv):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()

        def child_fds():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(argv, preexec_fn=child_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.last = 0

    def call(self, method, params=None, session=None):
        self.last += 1
        msg = {"id": self.last, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") != self.last:
                    continue
                if "error" in reply:
                    sys.exit("page_cdp: %s: %s" % (method, reply["error"]))
                return reply["result"]
            chunk = os.read(self.from_r, 65536)
            if not chunk:
                sys.exit("page_cdp: chromium closed the pipe during %s" % method)
            self.buf += chunk


def evaluate(cdp, session, expr):
    res = cdp.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
    return res["result"].get("value")


def wait_for(cdp, session, expr):
    while not evaluate(cdp, session, expr):
        time.sleep(0.05)


def main():
    if len(sys.argv) not in (6, 8):
        sys.exit("usage: page_cdp.py CHROMIUM URL WIDTH HEIGHT PROFILE_DIR [CLICK_ID DONE_EXPR]")
    chromium, url, width, height, profile = sys.argv[1:6]
    signal.alarm(DEADLINE_S)
    cdp = Pipe([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-proxy-server", "--hide-scrollbars", "--mute-audio", "--enable-logging=stderr",
                "--v=0", "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank"])
    target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    cdp.call("Emulation.setDeviceMetricsOverride", {"width": int(width), "height": int(height),
             "deviceScaleFactor": 1, "mobile": True}, session)
    cdp.call("Page.navigate", {"url": url}, session)
    wait_for(cdp, session, READY)
    print(evaluate(cdp, session, "document.documentElement.outerHTML"))
    if len(sys.argv) == 8:
        evaluate(cdp, session, "document.getElementById(%s).click()" % json.dumps(sys.argv[6]))
        wait_for(cdp, session, sys.argv[7])
        print("<!-- clicked -->")
        print(evaluate(cdp, session, "document.documentElement.outerHTML"))
    sys.stdout.flush()
    # No reply to wait for: Chromium may close the pipe first.
    os.write(cdp.to_w, json.dumps({"id": cdp.last + 1, "method": "Browser.close"}).encode() + b"\0")
    cdp.proc.wait(timeout=30)


main()
