"""An operator in headless Chromium moves a zone's corner with the mouse and a line's end
with a finger on a running camera's monitor page, previews and saves (issue 26): the file
on disk changes accordingly and keeps its comments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from support import require_program, running, wait_for
from support.places import TOKEN, clip, places, site  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.system]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def centre(locator: Any) -> tuple[float, float]:
    locator.wait_for(timeout=5000)
    box = locator.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def at_fraction(page: Any, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#pe-svg").bounding_box()
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def open_editor(page: Any, url: str) -> None:
    page.goto(f"{url}/?token={TOKEN}")
    page.get_by_role("button", name="Edit zones and lines").click()
    page.locator("circle[data-place='lane'][data-corner='0']").wait_for(timeout=15000)
    wait_for(lambda: page.evaluate("document.getElementById('pe-frame').naturalWidth") == 640, 15,
             "the camera's picture in the editor")


def test_drag_a_corner_with_the_mouse_and_an_end_with_a_finger_then_save(tmp_path: Path, clip: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_program("chromium", "chromium")
    config = site(tmp_path, clip)
    original = config.read_text(encoding="utf-8")
    with running(config, watch_config=config) as (_, url), sync_playwright() as playwright:
        places(url)
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            # Desktop, mouse: move the lane's first corner (0.5, 0.0) to (0.3, 0.2).
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_editor(page, url)
            page.mouse.move(*centre(page.locator("circle[data-place='lane'][data-corner='0']")))
            page.mouse.down()
            page.mouse.move(*at_fraction(page, 0.3, 0.2), steps=8)
            page.mouse.up()
            assert "(changed)" in page.locator("#pe-place").inner_text()
            # Add a corner on the lane's last edge by dragging its +, then delete it again.
            page.mouse.move(*centre(page.locator("circle[data-place='lane'][data-insert='3']")))
            page.mouse.down()
            page.mouse.move(*at_fraction(page, 0.35, 0.6), steps=5)
            page.mouse.up()
            assert page.locator("circle[data-place='lane'][data-corner]").count() == 5
            page.get_by_role("button", name="Delete corner").click()
            assert page.locator("circle[data-place='lane'][data-corner]").count() == 4

            page.get_by_role("button", name="What would it have fired?").click()
            lists = page.locator("#pe-preview-lists")
            lists.wait_for(timeout=15000)
            assert re.search(r"Would have fired with this change \(\d+\)", lists.inner_text())
            assert re.search(r"Actually fired \([1-9]\d*\)", lists.inner_text())
            assert config.read_text(encoding="utf-8") == original  # a preview writes nothing

            page.get_by_role("button", name="Save").click()
            wait_for(lambda: "saved lane" in page.locator("#pe-note").inner_text(), 15, "the save on the page")
            assert "the camera uses it now" in page.locator("#pe-note").inner_text()
            text = config.read_text(encoding="utf-8")
            line = next(row for row in text.splitlines() if "right half for now" in row)
            corners = [[float(v) for v in pair.split(",")]
                       for pair in re.findall(r"\[([-\d.]+, [-\d.]+)\]", line)]
            assert len(corners) == 4
            assert abs(corners[0][0] - 0.3) < 0.01 and abs(corners[0][1] - 0.2) < 0.01, corners
            assert corners[1:] == [[1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
            page.screenshot(path=str(tmp_path / "places-desktop.png"))
            page.close()

            # A phone, touch: a new line, its end dragged with a finger, saved.
            context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
            phone = context.new_page()
            open_editor(phone, url)
            phone.fill("#pe-new-id", "gate")
            phone.get_by_role("button", name="New line").click()
            end = phone.locator("circle[data-place='gate'][data-corner='1']")
            end.wait_for(timeout=5000)
            touch_drag(phone, centre(end), at_fraction(phone, 0.7, 0.9))
            phone.get_by_role("button", name="Save").click()
            wait_for(lambda: "saved gate" in phone.locator("#pe-note").inner_text(), 15, "the line's save")
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            phone.screenshot(path=str(tmp_path / "places-phone.png"), full_page=True)
            context.close()
        finally:
            browser.close()
    text = config.read_text(encoding="utf-8")
    gate = re.search(r"- id: gate\n    start: \[0\.3, 0\.5\]\n    end: \[([\d.]+), ([\d.]+)\]\n", text)
    assert gate is not None, text
    assert abs(float(gate.group(1)) - 0.7) < 0.01 and abs(float(gate.group(2)) - 0.9) < 0.01
    assert [row for row in text.splitlines() if "#" in row][:3] == [row for row in original.splitlines() if "#" in row][:3]
    assert len(list(tmp_path.glob("site.yaml.*.bak"))) == 2


def touch_drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """A one-finger drag through Chromium's touch input (what a phone sends)."""
    cdp = page.context.new_cdp_session(page)
    x0, y0 = start
    x1, y1 = end
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for step in range(1, steps + 1):
        x, y = x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
