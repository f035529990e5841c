"""The wallboard in a real browser: headless Chromium (Debian's chromium and chromium-driver,
installed by scripts/install-browser from `make test-new`) driven by Selenium, on the page of
a real callcenter-server on loopback. Every wait is bounded (WebDriverWait); what is asserted
is the text the page shows. The screenshot is saved under build/artifacts/ (printed)."""

import json
import os
import re
import shutil
import socket
import sys

import pytest

from support import HERE, SMALL, ServerProcess, command, free_port

if sys.version_info < (3, 7):  # noqa: UP036 (the suite runs on Python 3.6 too)
    pytest.skip(
        "selenium 4 needs Python 3.7 or newer: the browser test runs on the newest Python (make test-new)",
        allow_module_level=True,
    )

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = os.path.join(os.path.dirname(HERE), "build", "artifacts")
WAIT = 15  # seconds at most for the page to show something


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "chromium and chromium-driver are missing: run scripts/install-browser as root"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--user-data-dir=%s" % (tmp_path / "profile"),
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


class Client(object):
    """A protocol client on the server's port: one request, its reply."""

    def __init__(self, port):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.replies = self.socket.makefile("rb")

    def send(self, command_name, call_id=None):
        request = {"command": command_name}
        if call_id is not None:
            request["id"] = call_id
        self.socket.sendall((json.dumps(request) + "\n").encode())
        return self.reply()["response"]

    def reply(self):
        """The next reply; the events before it (the degraded mode's begin and end) are skipped."""
        message = json.loads(self.replies.readline())
        while "event" in message:
            message = json.loads(self.replies.readline())
        return message

    def close(self):
        self.replies.close()
        self.socket.close()


def start(ports, *extra):
    port, web = ports
    argv = [command("callcenter-server"), "--listen", "tcp:%d:interface=127.0.0.1" % port]
    argv += ["--web", "tcp:%d:interface=127.0.0.1" % web, "--operators", "A,B", "--ring-timeout", "0"]
    return ServerProcess(argv + list(extra), port, also_listening=(web,))


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def shows(driver, expected, what):
    """Wait until every ``css: text`` of ``expected`` is what the page shows."""

    def all_shown(driver):
        return all(text(driver, css) == value for css, value in expected.items())

    try:
        WebDriverWait(driver, WAIT, poll_frequency=0.05).until(all_shown)
    except TimeoutException:
        shown = {css: text(driver, css) for css in expected}
        raise AssertionError("after %s the page shows %r, not %r" % (what, shown, expected)) from None


def inner_text(driver, css):
    """An element's text as a screen reader or a copy of the page gets it (``innerText``)."""
    return driver.execute_script("return arguments[0].innerText", driver.find_element(By.CSS_SELECTOR, css))


def assert_waiting_call(driver, css, call_id):
    """The row of a waiting call reads "call <id> waiting H:MM:SS", and on screen its wait
    starts clear of its id."""
    row = inner_text(driver, css)
    assert re.match(r"^call %s waiting \d+:\d\d:\d\d$" % re.escape(call_id), row), row
    call, wait = (
        driver.find_element(By.CSS_SELECTOR, css + " .id"),
        driver.find_element(By.CSS_SELECTOR, css + " .wait"),
    )
    assert call.rect["x"] + call.rect["width"] < wait.rect["x"], (call.rect, wait.rect)


def save_screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    screenshot = os.path.join(ARTIFACTS, name)
    assert driver.save_screenshot(screenshot)
    print("wallboard screenshot: %s" % screenshot)


def tile(operator_id):
    return '.tile[data-operator="%s"] ' % operator_id


def test_the_wallboard_follows_the_call_center_and_comes_back_after_a_restart(browser, tmp_path):
    ports = (free_port(), free_port())
    state = str(tmp_path / "state")
    server = start(ports, "--state-dir", state)
    client = Client(ports[0])
    try:
        browser.get("http://127.0.0.1:%d/" % ports[1])
        shows(browser, {"#connection": "live", "#waiting-now": "0", "#answered": "0"}, "opening the page")
        shows(browser, {tile("A") + ".state": "available", tile("B") + ".state": "available"}, "opening the page")
        assert text(browser, "#service-level") == "-" and text(browser, "#average-wait") == "-"

        client.send("call", "1")
        shows(browser, {tile("A") + ".state": "ringing", tile("A") + ".call": "call 1"}, "call 1")
        client.send("answer", "A")
        shows(browser, {tile("A") + ".state": "busy", tile("A") + ".call": "call 1", "#answered": "1"}, "answer A")
        client.send("call", "2")
        client.send("call", "3")
        client.send("call", "4")
        shows(
            browser,
            {
                tile("B") + ".state": "ringing",
                tile("B") + ".call": "call 2",
                "#waiting-now": "2",
                "#queue-count": "2 waiting",
                "#queue li:nth-child(1) span": "call 3",
                "#queue li:nth-child(2) span": "call 4",
                "#service-level": "100.0%",
                "#missed-percent": "0.0%",
                "#average-wait": "0:00:00",
            },
            "calls 2, 3 and 4",
        )
        assert text(browser, "#lines li:first-child").endswith("Call 4 waiting in queue")
        assert text(browser, tile("A") + ".timer").startswith("0:00:")
        client.send("hangup", "2")  # missed while ringing: B takes call 3
        shows(
            browser,
            {tile("B") + ".call": "call 3", "#waiting-now": "1", "#missed-percent": "50.0%"},
            "hangup 2",
        )
        save_screenshot(browser, "wallboard.png")

        # The server stops: the page says so; it starts again: the page comes back by itself.
        client.close()
        assert server.stop() == 0
        shows(browser, {"#connection": "disconnected"}, "the server stopped")
        server = start(ports, "--state-dir", state)
        shows(
            browser,
            {"#connection": "live", tile("A") + ".state": "busy", tile("B") + ".call": "call 3", "#waiting-now": "1"},
            "the server restarted",
        )
        client = Client(ports[0])
        client.send("call", "sim1-52")  # an id as long as callcenter simulate --connect gives
        shows(browser, {"#waiting-now": "2", "#queue li:nth-child(2) .id": "call sim1-52"}, "a call after the restart")
        assert_waiting_call(browser, "#queue li:nth-child(1)", "4")
        assert_waiting_call(browser, "#queue li:nth-child(2)", "sim1-52")
    finally:
        client.close()
        server.stop()


def test_with_a_token_the_page_asks_for_it_once_and_keeps_it_in_an_http_only_cookie(browser, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("the right token\n")
    ports = (free_port(), free_port())
    server = start(ports, "--auth-token-file", str(token_file))
    try:
        browser.get("http://127.0.0.1:%d/" % ports[1])
        WebDriverWait(browser, WAIT).until(lambda driver: driver.find_element(By.ID, "login").is_displayed())
        assert not browser.find_element(By.ID, "board").is_displayed()
        browser.find_element(By.ID, "token").send_keys("a wrong guess\n")
        shows(browser, {"#login-error": "wrong token"}, "a wrong token")
        assert not browser.find_element(By.ID, "board").is_displayed()
        field = browser.find_element(By.ID, "token")
        field.clear()
        field.send_keys("the right token\n")
        shows(browser, {"#connection": "live", tile("A") + ".state": "available"}, "the right token")
        assert not browser.find_element(By.ID, "login").is_displayed()
        (session,) = browser.get_cookies()
        assert (session["name"], session["httpOnly"], session["sameSite"]) == ("callcenter_session", True, "Strict")
        assert browser.execute_script("return document.cookie") == ""  # scripts cannot read it
        assert "right token" not in browser.current_url
        # Loaded again, the page does not ask again.
        browser.refresh()
        shows(browser, {"#connection": "live"}, "loading the page again")
        assert not browser.find_element(By.ID, "login").is_displayed()
    finally:
        server.stop()
    assert b"right token" not in server.log and b"wrong guess" not in server.log
    assert b"Wallboard login failed from 127.0.0.1" in server.log


def test_a_thousand_operators_and_ten_thousand_waiting_calls_keep_the_page_usable(browser):
    ports = (free_port(), free_port())
    argv = [command("callcenter-server"), "--listen", "tcp:%d:interface=127.0.0.1" % ports[0]]
    argv += ["--web", "tcp:%d:interface=127.0.0.1" % ports[1], "--operators", "1000", "--ring-timeout", "0"]
    server = ServerProcess(argv, ports[0], also_listening=(ports[1],))
    client = Client(ports[0])
    try:
        browser.get("http://127.0.0.1:%d/" % ports[1])
        shows(browser, {"#connection": "live"}, "opening the page")
        requests = b"".join(b'{"command": "call", "id": "%d"}\n' % number for number in range(11000))
        client.socket.sendall(requests)
        for _ in range(11000):
            client.replies.readline()
        shows(
            browser,
            {
                "#waiting-now": "10000",
                "#queue-count": "10000 waiting",
                "#queue li:nth-child(1) span": "call 1000",
                "#queue li:nth-child(100) span": "call 1099",
                "#queue li.more": "and 9900 more",
                tile("ALL") + ".call": "call 999",  # the thousandth operator
            },
            "11,000 calls",
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, ".tile")) == 1000
        assert len(browser.find_elements(By.CSS_SELECTOR, "#queue li")) == 101
        # The tab still answers at once, and goes on following the call center.
        assert browser.execute_script("return 1 + 1") == 2
        client.send("hangup", "1000")
        shows(browser, {"#waiting-now": "9999", "#queue li:nth-child(1) span": "call 1001"}, "hangup 1000")
    finally:
        client.close()
        server.stop()


def queue_section(name):
    return 'section.queue[data-queue="%s"] ' % name


def test_with_several_queues_the_page_shows_each_queue_with_its_calls_and_figures(browser, tmp_path):
    queues = tmp_path / "queues.ini"
    queues.write_text("[sales]\noperators = A\n\n[support]\noperators = B\n")
    ports = (free_port(), free_port())
    argv = [command("callcenter-server"), "--listen", "tcp:%d:interface=127.0.0.1" % ports[0]]
    argv += ["--web", "tcp:%d:interface=127.0.0.1" % ports[1], "--queues", str(queues), "--ring-timeout", "0"]
    server = ServerProcess(argv, ports[0], also_listening=(ports[1],))
    client = Client(ports[0])
    try:
        browser.get("http://127.0.0.1:%d/" % ports[1])
        shows(browser, {"#connection": "live", queue_section("support") + ".queue-name": "Queue support"}, "opening")
        assert not browser.find_element(By.ID, "queue-section").is_displayed()  # the queues replace it
        client.send("call", "1")  # rings A (sales)
        client.send("call", "2")  # waits in sales
        client.send("call", "3")
        client.send("call", "4 queue=support")  # rings B
        client.send("answer", "B")
        shows(
            browser,
            {
                queue_section("sales") + ".queue-count": "2 waiting",
                queue_section("sales") + ".waiting": "2",
                queue_section("sales") + ".queue-calls li:nth-child(1) span": "call 2",
                queue_section("sales") + ".queue-calls li:nth-child(2) span": "call 3",
                queue_section("sales") + ".answered": "0",
                queue_section("sales") + ".service": "-",
                queue_section("support") + ".queue-count": "0 waiting",
                queue_section("support") + ".answered": "1",
                queue_section("support") + ".service": "100.0%",
                queue_section("support") + ".longest": "-",
                "#waiting-now": "2",
                "#answered": "1",
            },
            "calls in both queues",
        )
        assert text(browser, queue_section("sales") + ".longest").startswith("0:00:")
        assert browser.find_elements(By.CSS_SELECTOR, queue_section("support") + ".queue-calls li") == []
        save_screenshot(browser, "wallboard-queues.png")
        client.send("hangup", "2")
        shows(
            browser,
            {
                queue_section("sales") + ".queue-count": "1 waiting",
                queue_section("sales") + ".queue-calls li:nth-child(1) span": "call 3",
            },
            "hangup 2",
        )
        client.send("call", "sim1-52")
        shows(browser, {queue_section("sales") + ".queue-calls li:nth-child(2) .id": "call sim1-52"}, "call sim1-52")
        assert_waiting_call(browser, queue_section("sales") + ".queue-calls li:nth-child(1)", "3")
        assert_waiting_call(browser, queue_section("sales") + ".queue-calls li:nth-child(2)", "sim1-52")
    finally:
        client.close()
        server.stop()


@pytest.mark.root
def test_the_page_shows_a_banner_while_the_disk_refuses_changes_and_removes_it_after(browser, tmp_path):
    from bench.tmpfs import Tmpfs

    if os.geteuid() != 0:
        pytest.fail("this test fills a tmpfs it mounts: run it as root (make test-root)")
    disk = Tmpfs(tmp_path / "state", SMALL)
    ports = (free_port(), free_port())
    server = client = None
    try:
        server = start(ports, "--state-dir", disk.path)
        client = Client(ports[0])
        browser.get("http://127.0.0.1:%d/" % ports[1])
        shows(browser, {"#connection": "live"}, "opening the page")
        assert not browser.find_element(By.ID, "degraded").is_displayed()
        disk.fill()
        # The journal's last page may still take a few records: calls until one is refused.
        acknowledged, error = 0, None
        while error is None and acknowledged < 1000:
            request = {"command": "call", "id": "c%d" % acknowledged}
            client.socket.sendall((json.dumps(request) + "\n").encode())
            reply = client.reply()
            if "error" in reply:
                error = reply["error"]
            else:
                acknowledged += 1
        refusal = "cannot store the change: no space left in %s; status and stats still work" % disk.path
        assert error == refusal
        waiting = max(acknowledged - 2, 0)  # A and B ring with the first two
        shows(
            browser,
            {"#degraded": "C" + refusal[1:], "#waiting-now": str(waiting)},
            "a full disk",
        )
        save_screenshot(browser, "wallboard-degraded.png")
        disk.free()
        WebDriverWait(browser, WAIT, poll_frequency=0.05).until(
            lambda driver: not driver.find_element(By.ID, "degraded").is_displayed()
        )
        assert client.send("call", "late") == "Call late received\nCall late waiting in queue"
        shows(browser, {"#waiting-now": str(waiting + 1)}, "a call once the disk takes writes")
    finally:
        if client is not None:
            client.close()
        if server is not None:
            server.stop()
        disk.unmount()
