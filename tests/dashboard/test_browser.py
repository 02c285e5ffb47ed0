"""The page in real headless Chromium: no console errors, every trial shown, user strings shown as
text, and a trial written while the page is open appears without a reload."""

from __future__ import annotations

import time

import pytest

from ._browser import chrome, missing
from .conftest import XSS, Server, add_trial, write_study

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def driver():
    why = missing()
    if why:
        pytest.skip(why)
    d = chrome()
    yield d
    d.quit()


def wait_for(fn, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _click(element):
    """Click ``element``; False when it went stale meanwhile (the page redrew it)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        element.click()
    except (StaleElementReferenceException, AttributeError):
        return False
    return True


def severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def trial_rows(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#trials tbody tr")


def test_page_shows_every_trial_as_text_and_new_trials_live_without_reload(driver, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    st, sid = write_study(tmp_path / "runs")
    server = Server(tmp_path / "runs")
    try:
        driver.get(server.url + "/")
        wait_for(lambda: len(trial_rows(driver)) == 5, what="5 trial rows")
        assert severe(driver) == []

        # user strings are text: the payload is visible as characters, no element was made of it
        assert driver.find_element(By.ID, "study-title").text == "Study <b>demo</b>"
        cells = [r.find_elements(By.TAG_NAME, "td") for r in trial_rows(driver)]
        assert XSS in [c.text for c in cells[1]]
        assert XSS in cells[4][-1].text  # the failed trial's error
        assert driver.find_elements(By.TAG_NAME, "img") == []
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018
        assert XSS[:21] + "…" in driver.find_element(By.ID, "chart-parallel").text  # the Choice axis label
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-curves path.curve")) == 5
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-best circle.dot")) == 5
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-pbt circle.exploit")) == 2
        assert len(driver.find_elements(By.CSS_SELECTOR, "#lineage tbody tr")) == 2
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#chart-importance rect.bar")) == 3,
                 what="an importance bar per hyperparameter")

        # a new trial, written while the page is open, appears without a reload
        driver.execute_script("window.__still_the_same_page = 42;")
        add_trial(st, sid, {"lr": 0.2, "width": 64, "act": "relu"}, acc=0.95, epochs=4)
        wait_for(lambda: len(trial_rows(driver)) == 6, timeout=20, what="the new trial's row")
        assert driver.execute_script("return window.__still_the_same_page;") == 42
        assert trial_rows(driver)[5].find_elements(By.TAG_NAME, "td")[0].text == "5"
        wait_for(lambda: "0.95" in driver.find_element(By.ID, "summary").text, what="the new best in the summary")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-curves path.curve")) == 6

        # sorting by a column and opening a trial's details
        header = next(h for h in driver.find_elements(By.CSS_SELECTOR, "#trials thead th")
                      if h.text.startswith("best accuracy"))
        header.click()
        header = next(h for h in driver.find_elements(By.CSS_SELECTOR, "#trials thead th")
                      if h.text.startswith("best accuracy"))
        header.click()  # descending: the best trial first
        assert trial_rows(driver)[0].find_elements(By.TAG_NAME, "td")[0].text == "5"
        trial_rows(driver)[-1].click()
        detail = driver.find_element(By.ID, "detail")
        wait_for(lambda: detail.is_displayed() and "Trial 4" in detail.text, what="the trial details")
        assert "loss is NaN " + XSS in detail.text and "Traceback" in detail.text
        assert driver.find_elements(By.TAG_NAME, "img") == []

        # a note written while the page is open: counted in the table, shown as text in the details
        st.add_note(sid, 0, "why not: " + XSS)
        def note_counted():  # (the table is redrawn every refresh: a row found may go stale)
            try:
                row = next(r for r in trial_rows(driver) if r.find_elements(By.TAG_NAME, "td")[0].text == "0")
                return row if "1 note" in row.text else None
            except StaleElementReferenceException:
                return None
        wait_for(note_counted, what="the note count in trial 0's row")
        wait_for(lambda: _click(note_counted()), what="a click on trial 0's row")
        wait_for(lambda: "Trial 0" in detail.text and "why not: " + XSS in detail.text, what="the note in the details")
        assert "Notes" in detail.text
        assert driver.find_elements(By.TAG_NAME, "img") == []
        assert severe(driver) == []
    finally:
        server.close()
        st.close()


def test_studies_list_switches_study_and_metric_selector_redraws_the_curves(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    first, _ = write_study(tmp_path / "runs", name="first", n=2)
    st, _ = write_study(tmp_path / "runs", name="second")
    server = Server(tmp_path / "runs")
    try:
        driver.get(server.url + "/")
        wait_for(lambda: len(trial_rows(driver)) == 5, what="the latest study's 5 trial rows")
        assert driver.find_element(By.ID, "study-title").text == "Study second"
        rows = driver.find_elements(By.CSS_SELECTOR, "#studies tbody tr")
        assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == ["first", "second"]
        rows[0].click()
        wait_for(lambda: len(trial_rows(driver)) == 3, what="the first study's 3 trial rows")
        assert driver.find_element(By.ID, "study-title").text == "Study first"
        assert driver.execute_script("return location.hash") == "#study=1"
        Select(driver.find_element(By.ID, "metric")).select_by_value("loss")
        wait_for(lambda: any(t.text == "loss" for t in driver.find_elements(By.CSS_SELECTOR, "#chart-curves text.label")),
                 what="the loss axis label")
        assert severe(driver) == []
    finally:
        server.close()
        st.close()
        first.close()
