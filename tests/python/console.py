"""The web console in a real browser: headless Chromium driven by Selenium
against a running broker, with traffic from the official client.

    console.py open PULSAR_URL ADMIN_URL ARTIFACT_DIR
        every page loads with no console error and shows live figures;
        each action changes what the admin API then reports; unknown names
        give 404 pages; a namespace of 10,000 topics renders (timed); the
        live refresh updates the page. Screenshots of each page, light and
        dark, go to ARTIFACT_DIR.
    console.py secure ADMIN_URL ARTIFACT_DIR TOKENS_JSON
        sign-in with a token and with a username and password; a bad token
        is refused; a tenant admin sees its tenant but not the cluster page,
        and its forbidden actions show the API's reason.
"""

import concurrent.futures
import json
import math
import os
import sys
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from common import admin_request, client, report, until

result = {}


def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", "--window-size=1280,1100"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    return webdriver.Chrome(service=Service(driver_path), options=options)


def replaced(old):
    """Whether `old` (an element of the page before a navigation) is gone.
    Selenium's staleness_of only counts a stale-element error; Chromium may
    instead answer that the node no longer belongs to the document, which
    means the same."""
    def check(_driver):
        try:
            old.is_enabled()
            return False
        except WebDriverException:
            return True
    return check


class Console:
    def __init__(self, driver, admin_url, artifacts):
        self.driver = driver
        self.admin = admin_url
        self.artifacts = artifacts
        self.errors = []

    def open(self, path, shot=None):
        self.driver.get(self.admin + path)
        self.check_log(path)
        if shot:
            self.shot(shot)
        return self.driver.page_source

    def check_log(self, where):
        """Collects the browser's errors: script errors and failed
        resources. A page's own 403 or 404 is its answer, checked by the
        test, not an error of the page."""
        page = self.driver.current_url
        for entry in self.driver.get_log("browser"):
            message = entry.get("message", "")
            if entry.get("level") != "SEVERE" or message.split(" ")[0] == page:
                continue
            self.errors.append({"page": where, "entry": message})

    def shot(self, name):
        height = self.driver.execute_script("return document.body.scrollHeight")
        self.driver.set_window_size(1280, max(800, min(int(height) + 40, 4000)))
        self.driver.save_screenshot(os.path.join(self.artifacts, name + ".png"))
        self.driver.set_window_size(1280, 1100)

    def click(self, element, where):
        """Clicks a submit button and waits for the next page."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        WebDriverWait(self.driver, 30).until(replaced(old))
        self.loaded()
        self.check_log(where)

    def loaded(self):
        """Waits until the page that replaced the old one has loaded: the
        old page goes stale as soon as the navigation starts, before the
        new body is there."""
        WebDriverWait(self.driver, 30).until(
            lambda d: d.execute_script("return document.readyState") == "complete")

    def fill(self, form_action, values):
        """Fills the form posting to `form_action` and submits it."""
        form = self.driver.find_element(By.CSS_SELECTOR, f'form[action="{form_action}"]')
        for name, value in values.items():
            field = form.find_element(By.NAME, name)
            if field.tag_name == "select":
                field.find_element(By.CSS_SELECTOR, f'option[value="{value}"]').click()
            else:
                field.clear()
                field.send_keys(str(value))
        self.click(form.find_element(By.CSS_SELECTOR, "button[type=submit]"), form_action)

    def confirm(self, action):
        """Presses a destructive button, then confirms on the next page."""
        button = self.driver.find_element(
            By.XPATH, f'//form[@action="/ui/confirm"][input[@name="action" and @value="{action}"]]//button')
        self.click(button, "/ui/confirm")
        assert "Are you sure?" in self.driver.page_source, self.driver.page_source[:500]
        self.click(self.driver.find_element(By.ID, "confirm"), action)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text


def api(admin, method, path, body=None, headers=None):
    return admin_request(admin, method, path, body, headers=headers)


def http_status(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def traffic(url, topic, stop):
    """A producer at about 50 msg/s and a slow consumer, until `stop`."""
    c = client(url)
    producer = c.create_producer(topic, producer_name="console-producer", batching_enabled=False)
    consumer = c.subscribe(topic, "console-sub")
    sent = 0
    started = time.time()
    while not stop.is_set():
        producer.send(json.dumps({"n": sent, "note": "hello from the console test"}).encode())
        sent += 1
        if sent % 3 == 0:
            try:
                consumer.acknowledge(consumer.receive(timeout_millis=100))
            except Exception:  # noqa: BLE001 - a timeout leaves backlog, which is the point
                pass
        # About 20 to 80 msg/s, so that the plots have a shape.
        time.sleep(1 / (50 + 30 * math.sin((time.time() - started) / 6)))
    result["sent"] = sent
    c.close()


def open_mode(pulsar_url, admin, artifacts):
    topic_short = "console-demo"
    topic = f"persistent://public/default/{topic_short}"
    stop = threading.Event()
    feeder = threading.Thread(target=traffic, args=(pulsar_url, topic, stop), daemon=True)
    feeder.start()
    driver = browser()
    ui = Console(driver, admin, artifacts)
    try:
        # Cluster: brokers, bookies, metadata, bundles.
        page = ui.open("/ui", shot="cluster")
        for heading in ("Brokers", "Bookies", "Metadata store", "Bundles and their owners",
                        "Load manager decisions"):
            assert heading in page, heading
        assert "healthy" in ui.text()

        # Tenants: create one through the form; the admin API sees it.
        ui.open("/ui/tenants")
        ui.fill("/ui/tenants", {"name": "console-t", "allowed_clusters": "standalone"})
        assert "created tenant console-t" in ui.text(), ui.text()[:400]
        status, tenants = api(admin, "GET", "/admin/v2/tenants")
        assert "console-t" in tenants, tenants
        ui.shot("tenants")

        # A namespace through the tenant page.
        ui.open("/ui/tenants/console-t")
        ui.fill("/ui/tenants/console-t/namespaces", {"name": "ns1", "bundles": 2})
        status, namespaces = api(admin, "GET", "/admin/v2/namespaces/console-t")
        assert "console-t/ns1" in namespaces, namespaces
        ui.shot("tenant")

        # A topic and a policy through the namespace page.
        ui.open("/ui/namespaces/console-t/ns1")
        ui.fill("/ui/namespaces/console-t/ns1/topics", {"name": "made-here", "partitions": 0})
        status, topics = api(admin, "GET", "/admin/v2/persistent/console-t/ns1")
        assert "persistent://console-t/ns1/made-here" in topics, topics
        ui.open("/ui/namespaces/console-t/ns1")
        ttl_form = driver.find_element(
            By.XPATH, '//form[input[@name="policy" and @value="messageTTL"]]')
        ttl_form.find_element(By.NAME, "seconds").clear()
        ttl_form.find_element(By.NAME, "seconds").send_keys("120")
        ui.click(ttl_form.find_element(By.CSS_SELECTOR, "button"), "ttl")
        assert "set messageTTL" in ui.text(), ui.text()[:400]
        status, ttl = api(admin, "GET", "/admin/v2/namespaces/console-t/ns1/messageTTL")
        assert ttl == 120, (status, ttl)
        # A refused policy shows the API's reason and changes nothing.
        ret_form = driver.find_element(
            By.XPATH, '//form[input[@name="policy" and @value="retention"]]')
        ret_form.find_element(By.NAME, "minutes").send_keys("-5")
        ret_form.find_element(By.NAME, "megabytes").send_keys("10")
        driver.execute_script("arguments[0].noValidate = true", ret_form)
        ui.click(ret_form.find_element(By.CSS_SELECTOR, "button"), "retention")
        assert driver.find_elements(By.CSS_SELECTOR, ".card.error"), ui.text()[:400]
        ui.shot("namespace")

        # The topic with traffic: live figures, plots fill in as history grows.
        def history_points():
            status, history = api(admin, "GET",
                                  f"/admin/v2/persistent/public/default/{topic_short}/rateHistory")
            points = len(history.get("msgRateIn", [])) if status == 200 else 0
            return points >= 4 and max(history["msgRateIn"]) > 0, (status, points)
        done, detail = until(history_points, timeout=70, interval=1)
        assert done, f"no history: {detail}"
        page = ui.open(f"/ui/topics/public/default/{topic_short}")
        assert "console-producer" in page
        assert "console-sub" in page
        assert "hello from the console test" in page
        polylines = driver.find_elements(By.CSS_SELECTOR, "#plot-rates polyline")
        assert any(len((p.get_attribute("points") or "").split()) >= 2 for p in polylines), \
            [p.get_attribute("points") for p in polylines]
        ui.shot("topic")
        ui.open(f"/ui/topics/public/default/{topic_short}?view=json")
        assert '"note": "hello from the console test"' in ui.text()
        ui.open(f"/ui/topics/public/default/{topic_short}?view=hex")
        assert "00000000" in ui.text()

        # Live refresh: the script replaces the live parts and says so.
        ui.open(f"/ui/topics/public/default/{topic_short}")
        done, detail = until(
            lambda: ("updated" in driver.find_element(By.ID, "refreshed").text, None),
            timeout=25, interval=1)
        assert done, "the live refresh never ran"
        ui.check_log("live refresh")

        # Dark mode.
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        ui.open(f"/ui/topics/public/default/{topic_short}", shot="topic-dark")
        ui.open("/ui", shot="cluster-dark")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

        # The subscription: skip, reset to a time, clear with confirmation.
        stop.set()
        feeder.join(timeout=30)
        sub_page = f"/ui/topics/public/default/{topic_short}/subscriptions/console-sub"
        sub_api = f"/admin/v2/persistent/public/default/{topic_short}/stats"

        def backlog():
            status, stats = api(admin, "GET", sub_api)
            return stats["subscriptions"]["console-sub"]["msgBacklog"]
        before = backlog()
        assert before > 10, before
        ui.open(sub_page, shot="subscription")
        assert "Consumers" in ui.text()
        ui.fill(sub_page + "/skip", {"count": 5})
        assert "skipped 5 messages" in ui.text(), ui.text()[:300]
        assert backlog() == before - 5, (before, backlog())
        ui.fill(sub_page + "/reset", {"minutes_ago": 60})
        assert "reset the cursor" in ui.text(), ui.text()[:300]
        assert backlog() >= before, (before, backlog())
        ui.confirm(sub_page + "/clear")
        assert "cleared the backlog" in ui.text(), ui.text()[:300]
        assert backlog() == 0

        # Unload the namespace; delete a topic with confirmation.
        ui.open("/ui/namespaces/console-t/ns1")
        ui.click(driver.find_element(
            By.CSS_SELECTOR, 'form[action="/ui/namespaces/console-t/ns1/unload"] button'), "unload")
        assert "unloaded the namespace" in ui.text(), ui.text()[:300]
        ui.open("/ui/topics/console-t/ns1/made-here")
        ui.confirm("/ui/topics/console-t/ns1/made-here/delete")
        assert "deleted topic made-here" in ui.text(), ui.text()[:300]
        status, _ = api(admin, "GET", "/admin/v2/persistent/console-t/ns1/made-here/stats")
        assert status == 404, status

        # Unknown names: 404 pages, never a 500.
        statuses = {}
        for path in ("/ui/tenants/no-such-tenant", "/ui/namespaces/public/no-such-ns",
                     "/ui/topics/public/default/no-such-topic",
                     f"/ui/topics/public/default/{topic_short}/subscriptions/no-such-sub",
                     "/ui/no/such/page", "/ui/namespaces/bad%20name/x",
                     "/ui/confirm?action=https://evil.example&what=x"):
            status, body = http_status(admin + path)
            statuses[path] = status
            assert status in (400, 404), (path, status, body[:300])
            assert "<html" in body, (path, body[:200])
        result["error_statuses"] = statuses
        ui.open("/ui/tenants/no-such-tenant", shot="not-found")

        # 10,000 topics in a namespace: the page renders, filtered and paged.
        api(admin, "PUT", "/admin/v2/namespaces/console-t/many")

        def create(i):
            status, body = api(admin, "PUT", f"/admin/v2/persistent/console-t/many/t-{i:05d}")
            return status
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            created = list(pool.map(create, range(10000)))
        assert all(s in (200, 204) for s in created), set(created)
        # Timed, not asserted: the page beside the admin API's own list of
        # the same topics, interleaved (docs/benchmarks.md, run 17).
        timings, baseline = [], []
        for _ in range(5):
            started = time.perf_counter()
            status, body = http_status(admin + "/ui/namespaces/console-t/many")
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200 and "Topics (10000)" in body, (status, body[:300])
            started = time.perf_counter()
            status, listed = http_status(admin + "/admin/v2/persistent/console-t/many")
            baseline.append((time.perf_counter() - started) * 1000)
            assert status == 200 and len(json.loads(listed)) == 10000, status
        timings.sort()
        baseline.sort()
        result["namespace_page_ms_10k_topics"] = {
            "median": timings[2], "all": timings,
            "admin_list_median": baseline[2], "admin_list_all": baseline,
            "ratio": timings[2] / baseline[2]}
        status, body = http_status(admin + "/ui/namespaces/console-t/many?filter=t-0999&page=0")
        assert "Topics (10 of 10000)" in body, body[:500]
        ui.open("/ui/namespaces/console-t/many?page=3", shot="namespace-10k")
        assert "page 4 of 200" in ui.text()

        result["console_errors"] = ui.errors
        assert not ui.errors, ui.errors
    finally:
        stop.set()
        driver.quit()


def secure_mode(admin, artifacts, tokens_file):
    with open(tokens_file) as f:
        secrets = json.load(f)
    admin_auth = {"Authorization": "Bearer " + secrets["admin"]}
    status, _ = api(admin, "PUT", "/admin/v2/tenants/acme",
                    {"adminRoles": ["alice"], "allowedClusters": ["standalone"]}, admin_auth)
    assert status in (204, 409), status
    driver = browser()
    ui = Console(driver, admin, artifacts)
    try:
        ui.open("/ui")
        assert driver.current_url.endswith("/ui/login"), driver.current_url
        ui.shot("login")
        # A bad token is refused on the login page.
        token_form = '//form[input[@name="method" and @value="token"]]'
        driver.find_element(By.XPATH, token_form + '//textarea').send_keys("not.a-jwt")
        ui.click(driver.find_element(By.XPATH, token_form + '//button'), "login")
        assert "Not signed in" in ui.text(), ui.text()[:300]
        # The superuser's token: the cluster page.
        driver.find_element(By.XPATH, token_form + '//textarea').send_keys(secrets["admin"])
        ui.click(driver.find_element(By.XPATH, token_form + '//button'), "login")
        assert "Brokers" in ui.text(), ui.text()[:300]
        cookie = driver.get_cookie("magnetar_console")
        assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie
        ui.click(driver.find_element(By.CSS_SELECTOR, 'form[action="/ui/logout"] button'), "logout")
        assert driver.current_url.endswith("/ui/login"), driver.current_url
        # alice, a tenant admin, signs in with her password.
        basic_form = '//form[input[@name="method" and @value="basic"]]'
        driver.find_element(By.XPATH, basic_form + '//input[@name="username"]').send_keys("alice")
        driver.find_element(By.XPATH, basic_form + '//input[@name="password"]').send_keys(
            secrets["alice_password"])
        ui.click(driver.find_element(By.XPATH, basic_form + '//button'), "login")
        assert "Not allowed" in ui.text(), ui.text()[:300]
        status, _ = http_status(admin + "/ui")
        assert status in (302, 303, 200), status
        ui.open("/ui/tenants/acme", shot="tenant-as-alice")
        ui.fill("/ui/tenants/acme/namespaces", {"name": "orders", "bundles": 1})
        status, namespaces = api(admin, "GET", "/admin/v2/namespaces/acme", headers=admin_auth)
        assert "acme/orders" in namespaces, namespaces
        # Listing tenants needs a superuser: the API's refusal shows.
        driver.get(admin + "/ui/tenants")
        assert "Not allowed" in ui.text(), ui.text()[:300]
        result["console_errors"] = ui.errors
        assert not ui.errors, ui.errors
    finally:
        driver.quit()


def main():
    mode = sys.argv[1]
    try:
        if mode == "open":
            pulsar_url, admin, artifacts = sys.argv[2:5]
            os.makedirs(artifacts, exist_ok=True)
            open_mode(pulsar_url, admin, artifacts)
        elif mode == "secure":
            admin, artifacts, tokens_file = sys.argv[2:5]
            os.makedirs(artifacts, exist_ok=True)
            secure_mode(admin, artifacts, tokens_file)
        else:
            raise SystemExit(f"unknown mode {mode}")
    except AssertionError as error:
        result["failure"] = repr(error)[:2000]
        report(result, False)
    report(result, True)


if __name__ == "__main__":
    main()
