"""Use an explorer in the browser the way a student does, and time how fast its picture follows.

An explorer is an output holding ipywidgets controls and one ``img.widget-image`` (the figure the
explorer re-renders in place). ``drive_explorer`` finds its controls in the page and uses each one:
arrow keys on every slider handle, a mouse drag of every handle, a click on every checkbox, another
choice in every dropdown, a new text plus Enter in every text box, a click on every button
("back" and "reset" buttons last, so that they have something to undo). After each input it checks
that what the explorer shows changed (the figure's pixels, or its text outputs) and, when the
figure changed, how long after the input the new picture had loaded in the page.

Latency is measured inside the page: a capturing listener takes the input event's timestamp
(``keydown``, ``pointerdown``, ``change``), and the image's ``load`` event after its ``src`` changed
gives the time the new picture was there. Both are ``performance.now()`` clock values.
"""
from __future__ import annotations

import math
import re
import statistics
import time
from dataclasses import dataclass, field

#: Controls whose change is not meant to move the picture (by their label): the number of tokens
#: a "generate" button will produce, and that button (it writes text below the figure).
NO_PICTURE_CHANGE = {"new tokens", "generate"}
#: Controls that change nothing but their own readout (they set what a button will do).
ONLY_THEIR_READOUT = {"new tokens"}
#: Buttons that undo something: pressed after the others.
UNDO_BUTTON = re.compile(r"◀|back|reset|undo|clear", re.I)
#: Slider key presses measured per slider.
KEY_PRESSES = 3
#: A picture counts as settled when no new one has loaded for this long.
SETTLE_S = 0.25

# Installed in every page before JupyterLab loads.
INIT_SCRIPT = r"""
(() => {
  // how many times each widget image received a picture (1 = only the first render)
  window.__imgLoads = new WeakMap();
  document.addEventListener('load', (e) => {
    const t = e.target;
    if (t && t.tagName === 'IMG' && t.classList.contains('widget-image')) {
      window.__imgLoads.set(t, (window.__imgLoads.get(t) || 0) + 1);
    }
  }, true);
  window.__arm = (img) => {
    if (window.__meas) window.__meas.disarm();
    const m = {t0: null, kind: null, loads: [], old: img.src};
    const onInput = (e) => { if (m.t0 === null) { m.t0 = e.timeStamp; m.kind = e.type; } };
    const onLoad = () => { if (img.src !== m.old) m.loads.push(performance.now()); };
    const kinds = ['keydown', 'pointerdown', 'change'];
    kinds.forEach(k => document.addEventListener(k, onInput, true));
    img.addEventListener('load', onLoad);
    m.disarm = () => { kinds.forEach(k => document.removeEventListener(k, onInput, true)); img.removeEventListener('load', onLoad); };
    window.__meas = m;
  };
  window.__pixels = (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4) h = (Math.imul(h, 31) + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) | 0;
    return c.width + 'x' + c.height + ':' + h;
  };
})();
"""


_JS_POLL = """(root) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const texts = Array.from(root.querySelectorAll('.widget-html')).map(e => e.innerText).join('\\n');
  return [window.__meas.loads.length, texts, k ? k.status : 'none'];
}"""


@dataclass
class Action:
    control: str
    how: str
    picture_changed: bool
    text_changed: bool
    first_ms: float | None = None
    settled_ms: float | None = None
    renders: int = 0


@dataclass
class ExplorerRun:
    name: str
    actions: list[Action] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def latencies(self) -> list[float]:
        return [a.first_ms for a in self.actions if a.first_ms is not None]

    def summary(self) -> dict:
        lat = self.latencies()
        settled = [a.settled_ms for a in self.actions if a.settled_ms is not None]
        return {
            "explorer": self.name,
            "inputs": len(self.actions),
            "timed": len(lat),
            "median_ms": round(statistics.median(lat), 1) if lat else None,
            "p90_ms": round(sorted(lat)[max(0, math.ceil(0.9 * len(lat)) - 1)], 1) if lat else None,
            "max_ms": round(max(lat), 1) if lat else None,
            "median_settled_ms": round(statistics.median(settled), 1) if settled else None,
            "median_ms_by_control": {
                c: round(statistics.median(v), 1)
                for c in dict.fromkeys(a.control for a in self.actions)
                if (v := [a.first_ms for a in self.actions if a.control == c and a.first_ms is not None])
            },
            "actions": [a.__dict__ for a in self.actions],
        }


class ExplorerDriver:
    def __init__(self, page, root, name: str):
        self.page, self.root, self.run = page, root, ExplorerRun(name)
        self.img = root.locator("img.widget-image").first

    # -- what the explorer shows
    def texts(self) -> str:
        return "\n".join(self.root.locator(".widget-html").all_inner_texts())

    def pixels(self) -> str:
        return self.img.evaluate("img => window.__pixels(img)")

    def snapshot(self):
        return self.pixels(), self.texts()

    # -- one input, measured
    def act(self, control: str, how: str, do, expect_picture: bool = True, timeout: float = 20.0) -> Action:
        before_pixels, before_text = self.snapshot()
        self.img.evaluate("img => window.__arm(img)")
        do()
        # wait until the kernel has handled the input and the picture and texts have settled (a change
        # may render twice); an input that changes nothing is over once the kernel is idle again
        start = last_change = time.monotonic()
        last = None
        while time.monotonic() < start + timeout:
            time.sleep(0.05)
            now = self.root.evaluate(_JS_POLL)
            if now != last:
                last, last_change = now, time.monotonic()
            elif (now[2] == "idle" and time.monotonic() - last_change >= SETTLE_S
                  and (now[0] > 0 or time.monotonic() - start >= 0.5)):
                break
        m = self.page.evaluate("() => { const m = window.__meas; m.disarm(); return {t0: m.t0, kind: m.kind, loads: m.loads}; }")
        after_pixels, after_text = self.snapshot()
        action = Action(control, how, picture_changed=after_pixels != before_pixels, text_changed=after_text != before_text,
                        renders=len(m["loads"]))
        if m["loads"] and m["t0"] is not None:
            action.first_ms = round(m["loads"][0] - m["t0"], 1)
            action.settled_ms = round(m["loads"][-1] - m["t0"], 1)
        self.run.actions.append(action)
        if expect_picture and not action.picture_changed:
            self.run.problems.append(f"{control} ({how}): the picture did not change")
        if not (action.picture_changed or action.text_changed) and control not in ONLY_THEIR_READOUT:
            self.run.problems.append(f"{control} ({how}): nothing the explorer shows changed")
        return action

    # -- the controls
    def sliders(self):
        return self.root.locator(".widget-slider")

    def drive(self, drag: bool = True, key_presses: int = KEY_PRESSES) -> ExplorerRun:
        self.key_presses = key_presses
        self._checkboxes()
        self._dropdowns()
        self._texts()
        self._sliders(drag)
        self._buttons()
        return self.run

    def _label(self, widget, fallback: str) -> str:
        label = widget.locator(".widget-label")
        text = label.first.inner_text().strip() if label.count() else ""
        return text or fallback

    def _sliders(self, drag: bool):
        sliders = self.sliders()
        for i in range(sliders.count()):
            slider = sliders.nth(i)
            name = self._label(slider, f"slider {i}")
            expect = name not in NO_PICTURE_CHANGE
            handle = slider.locator(".noUi-handle").first
            readout = slider.locator(".widget-readout").first
            key = "ArrowRight"
            for _ in range(self.key_presses):
                before = readout.inner_text()
                handle.focus()
                if self._at_end(handle, key):
                    key = "ArrowLeft" if key == "ArrowRight" else "ArrowRight"
                self.act(name, f"key {key}", lambda: self.page.keyboard.press(key), expect, timeout=20 if expect else 1.0)
                if readout.inner_text() == before:
                    self.run.problems.append(f"{name}: {key} did not move the slider (readout {before})")
            if drag:
                before = readout.inner_text()
                self.act(name, "mouse drag", lambda: self._drag(handle), expect, timeout=20 if expect else 1.0)
                if readout.inner_text() == before:
                    self.run.problems.append(f"{name}: dragging the handle did not move the slider")

    def _at_end(self, handle, key) -> bool:
        now, lo, hi = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
        return now >= hi if key == "ArrowRight" else now <= lo

    def _drag(self, handle):
        box = handle.bounding_box()
        track = handle.locator("xpath=ancestor::div[contains(@class,'noUi-base')]").first.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        # to the far side of the track: a value at least a third of the range away, even with 3 values
        target = track["x"] + track["width"] * (0.15 if x > track["x"] + track["width"] / 2 + 1 else 0.85)
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(target, y, steps=8)
        self.page.mouse.up()

    def _checkboxes(self):
        boxes = self.root.locator(".widget-checkbox input[type=checkbox]")
        for i in range(boxes.count()):
            box = boxes.nth(i)
            name = self.root.locator(".widget-checkbox").nth(i).inner_text().strip() or f"checkbox {i}"
            self.act(name, "click", lambda: box.click())
            self.act(name, "click again", lambda: box.click())

    def _dropdowns(self):
        selects = self.root.locator(".widget-dropdown select")
        for i in range(selects.count()):
            select = selects.nth(i)
            name = self._label(self.root.locator(".widget-dropdown").nth(i), f"dropdown {i}")
            options = select.locator("option").all_inner_texts()
            current = select.evaluate("s => s.selectedIndex")
            for j in [k for k in range(len(options)) if k != current] + [current]:
                self.act(name, f"choose {options[j][:30]!r}", lambda j=j: select.select_option(index=j))

    def _texts(self):
        boxes = self.root.locator(".widget-text input[type=text], .widget-textarea textarea")
        for i in range(boxes.count()):
            box = boxes.nth(i)
            name = f"text box {i}"
            old = box.input_value()

            def type_and_enter(box=box, old=old):
                box.click()
                box.fill("")
                box.type(("Once upon a time" if old != "Once upon a time" else "The weather today is"), delay=10)
                box.press("Enter")

            self.act(name, "type + Enter", type_and_enter, timeout=60)

    def _buttons(self):
        buttons = self.root.locator("button.jupyter-button")
        names = [buttons.nth(i).inner_text().strip() for i in range(buttons.count())]
        order = sorted(range(len(names)), key=lambda i: bool(UNDO_BUTTON.search(names[i])))
        retry = []
        for i in order + [None]:
            if i is None:  # a button that had nothing to do (▶ at the last step) gets a second chance
                order, retry = retry, []
                for j in order:
                    self._click(buttons.nth(j), names[j] or f"button {j}")
                break
            if not self._click(buttons.nth(i), names[i] or f"button {i}", quiet=True):
                retry.append(i)

    def _click(self, button, name: str, quiet: bool = False) -> bool:
        problems = len(self.run.problems)
        action = self.act(name, "click", lambda: button.click(), expect_picture=name not in NO_PICTURE_CHANGE, timeout=90)
        if quiet and not (action.picture_changed or action.text_changed):
            del self.run.problems[problems:]
            self.run.actions.pop()
            return False
        return True


def image_renders(page, img) -> int:
    """How many pictures this widget image has loaded since the page opened."""
    return img.evaluate("img => window.__imgLoads.get(img) || 0")
