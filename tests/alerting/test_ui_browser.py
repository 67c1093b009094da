"""The console in a real headless browser (Debian's chromium through its chromedriver, driven by Selenium): log in,
open an alert, acknowledge it and see its state change, create a silence from the alert and expire it.

Screenshots go to ``$INFERWATCH_UI_SCREENSHOTS`` when set (``docs/images`` refreshes the ones in docs/console.md),
else to the test's tmp dir. Skipped, with the reason, only when chromium or chromedriver is missing or cannot start.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from inferwatch.alerting.ui.auth import Access
from inferwatch.alerting.ui.server import make_server

from tests.alerting.conftest import anomaly

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "browser-test-token-42"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,1100"):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    except WebDriverException as exc:
        pytest.skip(f"chromium cannot start here: {exc.msg}")
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def click_and_load(browser, element) -> None:
    """Click a link or submit button and wait until the next page replaced this one (a click does not wait)."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 15).until(lambda _: replaced(page))
    WebDriverWait(browser, 15).until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def replaced(page) -> bool:
    """True once ``page`` left the document. Chromium reports a node of a page being torn down either as stale or,
    in a narrow window, as "does not belong to the document"; both mean the old page is gone."""
    try:
        page.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in (exc.msg or ""):
            return True
        raise
    return False


@pytest.fixture
def console_url(make_service):
    service = make_service()
    latency = [2.4, 2.9, 3.1, 3.9, 4.6, 4.2]  # seconds, one record a minute, against a baseline of ~1.2 s
    for i, value in enumerate(latency):
        expected = 1.2 + 0.02 * i
        service.ingest(anomaly(i * 60, value=value, expected=expected, band_lower=expected - 0.35,
                               band_upper=expected + 0.45, score=0.999 + i * 0.0001, unit="s"))
    service.ingest(anomaly(1, fingerprint="fp-tokens-search", signal="gen_ai.client.token.usage", kind="rate",
                           labels={"service.name": "search", "gen_ai.request.model": "<b>bold-model</b>"},
                           value=5200, expected=1800, severity="critical"))
    service.tick()
    server = make_server(service, Access(TOKEN, "", 3600), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield service, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_log_in_acknowledge_and_silence_in_a_real_browser(browser, console_url, tmp_path):
    service, url = console_url
    shots = Path(os.environ.get("INFERWATCH_UI_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    browser.get(url + "/")
    assert "Log in" in browser.title  # the 401 page is the login form
    browser.find_element(By.NAME, "user").send_keys("alice")
    browser.find_element(By.NAME, "token").send_keys(TOKEN)
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button"))
    assert "Active alerts" in browser.find_element(By.TAG_NAME, "h1").text
    assert "<b>bold-model</b>" in browser.find_element(By.TAG_NAME, "main").text  # shown as text, not markup
    browser.save_screenshot(str(shots / "console-alerts.png"))

    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "tr[data-fingerprint='fp-latency-checkout'] a"))
    assert browser.find_element(By.CSS_SELECTOR, ".state").text == "firing"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg circle.anomaly")) == 6
    click_and_load(browser, browser.find_element(By.ID, "ack"))
    assert browser.find_element(By.CSS_SELECTOR, ".state").text == "acknowledged"
    assert service.store.load("fp-latency-checkout").acked_by == "ui:alice"
    assert "ui:alice" in browser.find_element(By.XPATH, "//h2[text()='History']/following-sibling::table").text
    browser.save_screenshot(str(shots / "console-alert.png"))

    click_and_load(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "Silence alerts like this"))
    assert 'service.name="checkout"' in browser.find_element(By.NAME, "matchers").get_attribute("value")
    browser.find_element(By.NAME, "comment").send_keys("deploy of checkout 2.3")
    click_and_load(browser, browser.find_element(By.ID, "create-silence"))
    [silence] = service.silences.all()
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-silence='{silence.id}']")
    assert row.get_attribute("data-status") == "active" and "deploy of checkout 2.3" in row.text
    browser.save_screenshot(str(shots / "console-silences.png"))
    click_and_load(browser, row.find_element(By.CSS_SELECTOR, "button.expire"))
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-silence='{silence.id}']")
    assert row.get_attribute("data-status") == "expired"
    assert not service.silences.active(service.clock())
