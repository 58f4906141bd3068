"""page_cdp.py: drives memprobed's live page in headless Chromium over the DevTools protocol and prints what the steps ask.

Headless Chromium will not make a window narrower than 500 px, so the
width is set by the DevTools protocol (Emulation.setDeviceMetricsOverride)
over --remote-debugging-pipe.

Usage: page_cdp.py CHROMIUM URL WIDTH HEIGHT PROFILE_DIR [STEP...]

Once the selected process's detail is drawn and the page has marked its
width (READY), the steps run in order:

  wait:EXPR            until the JavaScript expression EXPR is true
  print:EXPR           prints EXPR's value as one line of JSON
  click:SELECTOR       a mouse click at the centre of the first element
                       matching SELECTOR (scrolled into view first)
  hover:SELECTOR       the mouse moved to that centre
  key:KEY:SELECTOR     focuses the element and presses KEY ("Enter")
  shot:PATH            a PNG of the whole page into PATH

and, whatever their place, before the page loads:

  serve:GLOB=STATUS:FILE  requests whose URL matches GLOB (* any run of
                       characters) get FILE's bytes as JSON with STATUS
                       from here instead of the daemon (the DevTools
                       protocol's Fetch domain): canned API answers

Every wait is a bounded poll (DEADLINE_S in all). Exits 1 with a reason
on stderr.
"""

import base64
import fnmatch
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
        self.paused = []        # Fetch.requestPaused events not yet answered
        self.canned = []        # (glob, status, body) of the serve steps

    def send(self, method, params=None, session=None):
        self.last += 1
        msg = {"id": self.last, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        return self.last

    def call(self, method, params=None, session=None):
        want = self.send(method, params, session)
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("method") == "Fetch.requestPaused":
                    self.paused.append(reply)
                if reply.get("id") != want:
                    continue
                if "error" in reply:
                    sys.exit("page_cdp: %s: %s" % (method, reply["error"]))
                result = reply["result"]
                self.answer_paused()
                return result
            chunk = os.read(self.from_r, 65536)
            if not chunk:
                sys.exit("page_cdp: chromium closed the pipe during %s" % method)
            self.buf += chunk

    def answer_paused(self):
        """Answers the intercepted requests with their canned bodies."""
        while self.paused:
            ev = self.paused.pop(0)
            url = ev["params"]["request"]["url"]
            session = ev.get("sessionId")
            rid = ev["params"]["requestId"]
            for glob, status, body in self.canned:
                if fnmatch.fnmatchcase(url, glob):
                    self.call("Fetch.fulfillRequest", {
                        "requestId": rid, "responseCode": status,
                        "responseHeaders": [{"name": "Content-Type", "value": "application/json"},
                                            {"name": "Cache-Control", "value": "no-store"}],
                        "body": base64.b64encode(body).decode()}, session)
                    break
            else:
                self.call("Fetch.continueRequest", {"requestId": rid}, session)


def evaluate(cdp, session, expr):
    res = cdp.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
    if "exceptionDetails" in res:
        sys.exit("page_cdp: %s: %s" % (expr, res["exceptionDetails"].get("text")))
    return res["result"].get("value")


def wait_for(cdp, session, expr):
    while not evaluate(cdp, session, expr):
        time.sleep(0.05)


def centre(cdp, session, selector):
    """The viewport coordinates of the centre of SELECTOR's first element."""
    sel = json.dumps(selector)
    wait_for(cdp, session, "document.querySelector(%s) !== null" % sel)
    box = evaluate(cdp, session, "(() => { const e = document.querySelector(%s); "
                   "e.scrollIntoView({block: 'center', inline: 'nearest'}); "
                   "const r = e.getBoundingClientRect(); "
                   "return [r.left + r.width / 2, r.top + r.height / 2]; })()" % sel)
    return box[0], box[1]


def mouse(cdp, session, kind, x, y, clicks=0):
    params = {"type": kind, "x": x, "y": y}
    if kind != "mouseMoved":
        params.update({"button": "left", "clickCount": clicks})
    cdp.call("Input.dispatchMouseEvent", params, session)


def press(cdp, session, key):
    codes = {"Enter": 13, "Escape": 27, "Tab": 9}
    for kind in ("rawKeyDown", "keyUp"):
        params = {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": codes.get(key, 0)}
        cdp.call("Input.dispatchKeyEvent", params, session)


def run_step(cdp, session, step):
    verb, _, arg = step.partition(":")
    if verb == "wait":
        wait_for(cdp, session, arg)
    elif verb == "print":
        print(json.dumps(evaluate(cdp, session, arg)))
    elif verb in ("click", "hover"):
        x, y = centre(cdp, session, arg)
        mouse(cdp, session, "mouseMoved", x, y)
        if verb == "click":
            mouse(cdp, session, "mousePressed", x, y, 1)
            mouse(cdp, session, "mouseReleased", x, y, 1)
    elif verb == "key":
        key, _, selector = arg.partition(":")
        evaluate(cdp, session, "document.querySelector(%s).focus()" % json.dumps(selector))
        press(cdp, session, key)
    elif verb == "shot":
        png = cdp.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        with open(arg, "wb") as f:
            f.write(base64.b64decode(png["data"]))
    elif verb != "serve":
        sys.exit("page_cdp: unknown step %r" % step)


def canned(steps):
    """The serve steps as (glob, status, body)."""
    out = []
    for step in steps:
        if step.startswith("serve:"):
            glob, _, rest = step[6:].rpartition("=")
            status, _, path = rest.partition(":")
            with open(path, "rb") as f:
                out.append((glob, int(status), f.read()))
    return out


def main():
    if len(sys.argv) < 6:
        sys.exit("usage: page_cdp.py CHROMIUM URL WIDTH HEIGHT PROFILE_DIR [STEP...]")
    chromium, url, width, height, profile = sys.argv[1:6]
    steps = sys.argv[6:]
    signal.alarm(DEADLINE_S)
    cdp = Pipe([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-proxy-server", "--hide-scrollbars", "--mute-audio", "--enable-logging=stderr",
                "--v=0", "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank"])
    cdp.canned = canned(steps)
    target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    cdp.call("Emulation.setDeviceMetricsOverride", {"width": int(width), "height": int(height),
             "deviceScaleFactor": 1, "mobile": True}, session)
    if cdp.canned:
        cdp.call("Fetch.enable", {"patterns": [{"urlPattern": g} for g, _, _ in cdp.canned]}, session)
    cdp.call("Page.navigate", {"url": url}, session)
    wait_for(cdp, session, READY)
    for step in steps:
        run_step(cdp, session, step)
    sys.stdout.flush()
    # No reply to wait for: Chromium may close the pipe first.
    os.write(cdp.to_w, json.dumps({"id": cdp.last + 1, "method": "Browser.close"}).encode() + b"\0")
    cdp.proc.wait(timeout=30)


main()
