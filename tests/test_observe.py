"""Metrics, the status page and ``appmux status`` on real servers, summed over workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from chromium import CHROMEDRIVER, webdriver_for
from prometheus_client.parser import text_string_to_metric_families
from servers import Server, free_port, serve

SITES = Path(__file__).resolve().parent / "sites"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LABELS = {"root", "mount:/api", "tenants:*.example.com"}
LABEL = "tenants:*.example.com"


def admin_site(tmp_path: Path, name: str, routing: str) -> tuple[Path, str]:
    """A config named ``name`` with an admin listener and ``routing`` over the observed apps."""
    port = free_port()
    shutil.copy(SITES / "observed_app.py", tmp_path / "observed_app.py")
    config = tmp_path / name
    config.write_text(f'[admin]\nbind = "127.0.0.1:{port}"\n{routing}')
    return config, f"http://127.0.0.1:{port}"


def site_config(tmp_path: Path, admin: str) -> Path:
    shutil.copy(SITES / "observed_app.py", tmp_path / "observed_app.py")
    path = tmp_path / "observed.toml"
    path.write_text(
        f"{admin}\n"
        '[mounts]\n"/" = "observed_app:root"\n"/api" = "observed_app:api"\n\n'
        '[hosts."*.example.com".tenants]\nby = "subdomain"\ndomain = "example.com"\n'
        'factory = "observed_app:make_tenant"\nfailure_backoff = 0.2\n'
    )
    return path


@contextmanager
def observed(
    tmp_path: Path, *args: str, token: str | None = None, extra: str = ""
) -> Iterator[tuple[Server, str]]:
    port = free_port()
    admin = f'[admin]\nbind = "127.0.0.1:{port}"\n' + (f'token = "{token}"\n' if token else "")
    admin += extra
    with serve(site_config(tmp_path, admin), *args, tmp_path=tmp_path) as server:
        yield server, f"http://127.0.0.1:{port}"


def send(server: Server, path: str = "/", host: str = "localhost") -> httpx.Response:
    return httpx.get(server.url + path, headers={"Host": host, "Connection": "close"}, timeout=20)


def samples(admin: str, name: str, **headers: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(admin + "/metrics", headers=headers, timeout=10).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_metrics_are_the_sum_over_gunicorn_workers(tmp_path: Path) -> None:
    with observed(tmp_path, "--server", "gunicorn", "--workers", "2", "--threads", "2") as (
        server,
        admin,
    ):
        sent = 1  # serve() waited for the server with one GET /
        for i in range(60):
            assert send(server, "/api/items").status_code == 200
            assert send(server, "/", host=f"t{i % 5}.example.com").status_code == 200
            sent += 2
        assert send(server, "/", host="boom.example.com").status_code == 503
        sent += 1

        def total() -> float:
            counts = samples(admin, "appmux_requests_total")
            return sum(counts.values())

        assert wait_for(lambda: total() == sent), total()
        counts = samples(admin, "appmux_requests_total")
        assert counts[(("route", "mount:/api"), ("status_class", "2xx"))] == 60
        assert counts[(("route", "tenants:*.example.com"), ("status_class", "2xx"))] == 60
        assert counts[(("route", "tenants:*.example.com"), ("status_class", "5xx"))] == 1
        failures = samples(admin, "appmux_tenant_creation_failures_total")
        assert failures == {(("dispatcher", "tenants:*.example.com"),): 1.0}
        status = httpx.get(admin + "/status.json", timeout=10).json()
        assert len(status["workers"]) == 2 and status["requests"] == sent
        assert sum(w["requests"] for w in status["workers"]) == sent
        assert all(w["requests"] > 0 for w in status["workers"]), "one worker got everything"
        tenants = status["dispatchers"]["tenants:*.example.com"]
        assert {"t0", "t1", "t2", "t3", "t4"} <= set(tenants["recent_keys"])
        assert tenants["failures"][-1]["key"] == "boom"
        summary = tenants["failures"][-1]["summary"]
        assert summary == "RuntimeError: cannot reach postgresql://app:***@db/tenants"
        live = samples(admin, "appmux_tenants_live")
        assert live[(("dispatcher", "tenants:*.example.com"),)] == tenants["live"] >= 5
        page = httpx.get(admin + "/status", timeout=10).text
        assert "boom" in page and "hunter2" not in page and "observed_app:api" in page

        # A worker that dies is marked: its live gauge and status leave the sums.
        victim = status["workers"][0]["pid"]
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            pids = {
                w["pid"] for w in httpx.get(admin + "/status.json", timeout=10).json()["workers"]
            }
            return victim not in pids

        assert wait_for(replaced)
        assert server.stop() == 0


def test_a_dead_workers_requests_stay_counted_and_its_gauges_leave(tmp_path: Path) -> None:
    with observed(tmp_path, "--server", "gunicorn", "--workers", "2") as (server, admin):
        sent = 1  # serve() waited with one GET /
        for i in range(40):
            assert send(server, "/", host=f"t{i % 10}.example.com").status_code == 200
            sent += 1

        def status() -> dict[str, Any]:
            return httpx.get(admin + "/status.json", timeout=10).json()  # type: ignore[no-any-return]

        assert wait_for(lambda: status()["requests"] == sent), status()
        before = status()
        assert len(before["workers"]) == 2
        assert all(w["requests"] > 0 for w in before["workers"]), "one worker got everything"
        live_before = samples(admin, "appmux_tenants_live")[(("dispatcher", LABEL),)]
        assert live_before == before["dispatchers"][LABEL]["live"] >= 2  # each worker has one
        tenant_requests = before["routes"]
        victim = before["workers"][0]["pid"]
        os.kill(victim, signal.SIGKILL)
        # gunicorn forks a replacement, which exports at once: the victim leaves the view.
        assert wait_for(lambda: victim not in {w["pid"] for w in status()["workers"]})
        after = status()
        # Totals never go backwards: the dead worker's requests stay counted...
        assert after["requests"] == sent, (before["requests"], after["requests"])
        assert after["routes"] == tenant_requests
        assert after["dispatchers"][LABEL]["creations"] == before["dispatchers"][LABEL]["creations"]
        page = httpx.get(admin + "/status", timeout=10).text
        assert f'<b id="total-requests">{sent:,}</b>' in page
        # ...while its gauges leave: live tenants are the survivors' only, in both views.
        live_after = samples(admin, "appmux_tenants_live")[(("dispatcher", LABEL),)]
        assert live_after == after["dispatchers"][LABEL]["live"] < live_before
        for i in range(10):
            assert send(server, "/", host=f"t{i}.example.com").status_code == 200
        sent += 10
        assert wait_for(lambda: status()["requests"] == sent), status()
        total = sum(samples(admin, "appmux_requests_total").values())
        assert total == sent  # prometheus-client keeps dead workers' counters too
        assert server.stop() == 0


def test_every_pool_and_duration_metric_counts_what_happened(tmp_path: Path) -> None:
    """One waitress process and a bounded pool: every figure is known exactly."""
    metrics_home = tmp_path / "tmp"
    metrics_home.mkdir()
    config, admin = admin_site(
        tmp_path,
        "bounded.toml",
        '[mounts]\n"/" = "observed_app:root"\n"/api" = "observed_app:api"\n\n'
        '[hosts."*.example.com".tenants]\nby = "subdomain"\ndomain = "example.com"\n'
        'factory = "observed_app:make_tenant"\nmax_instances = 3\n',
    )
    env = {"TMPDIR": str(metrics_home)}
    with serve(config, "--server", "waitress", tmp_path=tmp_path, env=env) as server:
        folders = list(metrics_home.glob("appmux-metrics-*"))
        assert len(folders) == 1  # the run's metrics folder, while it runs
        for key in ("t0", "t1", "t2", "t3", "t4"):  # 5 creations; 2 evicted (3 live)
            assert send(server, "/", host=f"{key}.example.com").status_code == 200
        for _ in range(3):  # 3 hits on a live tenant
            assert send(server, "/", host="t4.example.com").status_code == 200
        for key in ("nobody1", "nobody2", "nobody1"):  # 2 misses, then a negative hit
            assert send(server, "/", host=f"{key}.example.com").status_code == 404
        assert send(server, "/api/slow").status_code == 200
        tenants = 11
        expected = {
            "appmux_tenant_creations_total": 5,
            "appmux_tenant_evictions_total": 2,
            "appmux_tenant_cache_misses_total": 7,
            "appmux_tenant_cache_hits_total": 4,
            "appmux_tenant_creation_failures_total": 0,
            "appmux_tenants_live": 3,
            "appmux_tenants_negative": 2,
            "appmux_tenant_creation_seconds_count": 5,
        }

        def figures() -> dict[str, float]:
            return {
                name: samples(admin, name).get((("dispatcher", LABEL),), 0.0) for name in expected
            }

        assert wait_for(lambda: figures() == expected), figures()
        durations = {
            dict(labels)["le"]: value
            for labels, value in samples(admin, "appmux_request_duration_seconds_bucket").items()
            if dict(labels)["route"] == "mount:/api"
        }
        counts = samples(admin, "appmux_request_duration_seconds_count")
        requests = samples(admin, "appmux_requests_total")
        assert counts[(("route", LABEL),)] == tenants
        assert requests[(("route", LABEL), ("status_class", "2xx"))] == 8
        assert requests[(("route", LABEL), ("status_class", "4xx"))] == 3
        assert counts[(("route", "mount:/api"),)] == 1
        assert durations["0.25"] == 0 and durations["0.5"] == 1 and durations["+Inf"] == 1
        ordered = sorted(durations.items(), key=lambda item: float(item[0]))
        assert [v for _, v in ordered] == sorted(v for _, v in ordered)  # cumulative
        status = httpx.get(admin + "/status.json", timeout=10).json()["dispatchers"][LABEL]
        assert (status["creations"], status["evictions"], status["live"]) == (5, 2, 3)
        assert server.stop() == 0
    assert not list(metrics_home.glob("appmux-metrics-*"))  # removed on exit


def test_a_tenants_node_with_a_default_app_is_counted_once(tmp_path: Path) -> None:
    """Regression (cc3386e): the default app's row is the tenants node's, not a second count."""
    config, admin = admin_site(
        tmp_path,
        "default.toml",
        '[tenants]\nby = "subdomain"\ndomain = "example.com"\n'
        'factory = "observed_app:make_tenant"\ndefault = "observed_app:root"\n',
    )
    with serve(config, "--server", "waitress", tmp_path=tmp_path, ready_path="/") as server:
        for i in range(6):
            assert send(server, "/", host=f"t{i}.example.com").status_code == 200
        for i in range(4):  # no tenant app: the default app answers, same node
            assert send(server, "/", host=f"nobody{i}.example.com").status_code == 200

        def rows() -> list[dict[str, Any]]:
            status = httpx.get(admin + "/status.json", timeout=10).json()
            return [row for row in status["routes"] if row["label"] == "tenants:*"]

        expected = 10 + 1  # and serve()'s own GET /, which the default app answered
        assert wait_for(lambda: any(row["requests"] == expected for row in rows())), rows()
        counted = [row["requests"] for row in rows()]
        assert len(counted) == 2 and counted.count(expected) == 1 and counted.count(None) == 1
        status = httpx.get(admin + "/status.json", timeout=10).json()
        shown = sum(row["requests"] or 0 for row in status["routes"])
        assert shown == status["requests"] == expected
        text = subprocess.run(
            [sys.executable, "-m", "appmux", "status", "--admin", admin],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert text.count(f"{expected:>9,}") == 1, text
        assert server.stop() == 0


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_no_thread_runs_in_gunicorns_master_and_no_worker_holds_the_admin_socket(
    tmp_path: Path,
) -> None:
    with observed(tmp_path, "--server", "gunicorn", "--workers", "2") as (server, admin):
        master = server.process.pid
        for i in range(20):
            assert send(server, "/", host=f"t{i % 3}.example.com").status_code == 200
        assert httpx.get(admin + "/status.json", timeout=10).status_code == 200
        workers = server.worker_pids()
        assert len(workers) == 2  # the admin listener is no child of the master
        assert threads_of(master) == 1, os.listdir(f"/proc/{master}/task")
        admin_port = int(admin.rpartition(":")[2])
        for pid in [master, *workers]:
            # No process of the server holds a socket listening on the admin port.
            sockets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            inodes = {s[8:-1] for s in sockets if s.startswith("socket:[")}
            with open("/proc/net/tcp") as table:
                listening = [
                    line.split()[9]
                    for line in table.read().splitlines()[1:]
                    if line.split()[3] == "0A"
                    and int(line.split()[1].split(":")[1], 16) == admin_port
                ]
            assert listening and not inodes & set(listening), pid
        os.kill(workers[0], signal.SIGKILL)  # gunicorn forks a new worker: still no thread
        assert wait_for(
            lambda: len(server.worker_pids()) == 2 and workers[0] not in server.worker_pids()
        )
        assert threads_of(master) == 1
        assert httpx.get(admin + "/status.json", timeout=10).status_code == 200
        assert server.stop() == 0
    # The admin process went with the server.
    assert wait_for(lambda: not _answers(admin), timeout=10)


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/status.json", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_labels_stay_bounded_whatever_clients_send(tmp_path: Path) -> None:
    with observed(tmp_path, "--server", "waitress") as (server, admin):
        hostile_hosts = [
            "evil..example.com",
            "x" * 300,
            "[::1",
            "a.b.example.com",
            "nobody1.example.com",
        ]
        for host in hostile_hosts:
            assert send(server, "/", host=host).status_code in (200, 400, 404)
        paths = ["/%2e%2e/etc/passwd", "/api/../../x", "/" + "a" * 3000, "/api%2Fx"]
        for path in paths:
            assert send(server, path).status_code in (200, 404)
        # Every hostile request was exported (under a bounded label), not just left out.
        sent = 1 + len(hostile_hosts) + len(paths)  # serve() waited with one GET /
        assert wait_for(lambda: sum(samples(admin, "appmux_requests_total").values()) == sent)
        text = httpx.get(admin + "/metrics", timeout=10).text
        routes = set()
        dispatchers = set()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if "route" in sample.labels:
                    routes.add(sample.labels["route"])
                if "dispatcher" in sample.labels:
                    dispatchers.add(sample.labels["dispatcher"])
        assert routes and routes <= LABELS, routes
        assert dispatchers == {"tenants:*.example.com"}
        for needle in ("evil", "passwd", "xxxx", "aaaa", "nobody"):
            assert needle not in text


def test_per_tenant_labels_are_bounded_by_the_limit(tmp_path: Path) -> None:
    extra = "[metrics]\nper_tenant = true\nper_tenant_limit = 2\n"
    with observed(tmp_path, "--server", "waitress", extra=extra) as (server, admin):
        for key, times in (("t0", 10), ("t1", 5)):
            for _ in range(times):
                assert send(server, "/", host=f"{key}.example.com").status_code == 200
        for i in range(20):  # unknown and hostile: never a label
            send(server, "/", host=f"nobody{i}.example.com")
            send(server, "/", host=f"evil..{i}.example.com")
        time.sleep(1.5)  # one flush: t0 and t1 take the two labels
        for _ in range(3):
            assert send(server, "/", host="t2.example.com").status_code == 200

        def tenants() -> dict[str, float]:
            found = samples(admin, "appmux_tenant_requests_total")
            return {dict(labels)["tenant"]: value for labels, value in found.items()}

        assert wait_for(lambda: tenants().get("other") == 3)
        assert tenants() == {"t0": 10, "t1": 5, "other": 3}


def test_the_per_tenant_limit_holds_for_the_whole_server(tmp_path: Path) -> None:
    """Issue 15: 120 tenants over 2 gunicorn workers gave 120 labels with a limit of 100."""
    extra = "[metrics]\nper_tenant = true\nper_tenant_limit = 5\n"
    with observed(tmp_path, "--server", "gunicorn", "--workers", "2", extra=extra) as (
        server,
        admin,
    ):

        def tenants() -> dict[str, float]:
            found = samples(admin, "appmux_tenant_requests_total")
            totals: dict[str, float] = {}
            for labels, value in found.items():
                tenant = dict(labels)["tenant"]
                totals[tenant] = totals.get(tenant, 0) + value
            return totals

        for round_ in range(2):
            for i in range(12):  # new connections: both workers serve tenants
                for _ in range(3):
                    reply = send(server, "/", host=f"t{i + 12 * round_}.example.com")
                    assert reply.status_code == 200
            expected = 12 * 3 * (round_ + 1)
            assert wait_for(lambda n=expected: sum(tenants().values()) == n), tenants()
            named = {tenant for tenant in tenants() if tenant != "other"}
            assert len(named) <= 5, named
            if round_ == 0:
                first = named
        # Stable: the labels claimed stay, later tenants are "other". (Per worker, as
        # before, the two workers named 10 tenants here.)
        assert named == first


def test_admin_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    port = free_port()
    config = site_config(tmp_path, f'[admin]\nbind = "0.0.0.0:{port}"\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "appmux",
            "serve",
            str(config),
            "--bind",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "APPMUX_ADMIN_TOKEN"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "admin.bind" in lines[0] and "token" in lines[0], done.stderr


def test_a_token_is_required_on_every_request(tmp_path: Path) -> None:
    token = "t0k3n-0123456789abcdef"
    with observed(tmp_path, "--server", "waitress", token=token) as (_, admin):
        for path in ("/metrics", "/status", "/status.json"):
            assert httpx.get(admin + path, timeout=10).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert httpx.get(admin + path, headers=wrong, timeout=10).status_code == 401
            right = {"Authorization": f"Bearer {token}"}
            assert httpx.get(admin + path, headers=right, timeout=10).status_code == 200
        env = {**os.environ, "APPMUX_ADMIN_TOKEN": token}
        done = subprocess.run(
            [sys.executable, "-m", "appmux", "status", "--admin", admin],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        assert done.returncode == 0 and "ROUTES" in done.stdout, done.stderr
        bare = {k: v for k, v in os.environ.items() if k != "APPMUX_ADMIN_TOKEN"}
        refused = subprocess.run(
            [sys.executable, "-m", "appmux", "status", "--admin", admin],
            capture_output=True,
            text=True,
            timeout=30,
            env=bare,
        )
        assert refused.returncode == 1 and "401" in refused.stderr


def test_appmux_status_prints_the_whole_server(tmp_path: Path) -> None:
    with observed(tmp_path, "--server", "gunicorn", "--workers", "2") as (server, _):
        for _ in range(10):
            send(server, "/", host="acme.example.com")
        send(server, "/", host="boom.example.com")
        time.sleep(1.5)
        config = tmp_path / "observed.toml"
        text = subprocess.run(
            [sys.executable, "-m", "appmux", "status", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert text.returncode == 0, text.stderr
        assert "tenants:*.example.com" in text.stdout and "acme" in text.stdout
        assert "failed" in text.stdout and "boom" in text.stdout
        assert text.stdout.count("pid ") == 2
        raw = subprocess.run(
            [sys.executable, "-m", "appmux", "status", str(config), "--json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert json.loads(raw.stdout)["requests"] == 12  # and serve()'s readiness GET


@pytest.mark.skipif(
    CHROMEDRIVER is None and not os.environ.get("CI"),
    reason="Debian's chromium-driver is not installed (.ci/run installs it)",
)
def test_status_page_in_chromium_updates_itself(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with observed(tmp_path, "--server", "gunicorn", "--workers", "2") as (server, admin):
        send(server, "/", host="acme.example.com")
        send(server, "/", host="boom.example.com")
        send(server, "/api/x")
        time.sleep(1.5)
        driver = webdriver_for(tmp_path / "profile")
        try:
            # A phone's viewport (headless windows are never narrower than 500 px).
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True},
            )
            driver.get(admin + "/status")
            routes = driver.find_element(By.ID, "routes").text
            assert "observed_app:api" in routes and "observed_app:make_tenant(key)" in routes
            keys = [e.text for e in driver.find_elements(By.CLASS_NAME, "tenant-key")]
            assert "acme" in keys
            failures = [e.text for e in driver.find_elements(By.CLASS_NAME, "failure-key")]
            assert "boom" in failures
            # Readable at 375 px: the page itself does not scroll sideways.
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "status-375px.png"))
            wide = driver.execute_script(
                "return [...document.querySelectorAll('body *')]"
                ".filter(e => !e.closest('.scroll'))"
                ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
                ".map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
            )
            assert wide == [], wide
            assert driver.execute_script("return window.innerWidth") == 375
            assert driver.execute_script("return document.documentElement.scrollWidth") <= 375

            send(server, "/", host="globex.example.com")  # more traffic: the page follows
            deadline = time.monotonic() + 15
            while "globex" not in [
                e.text for e in driver.find_elements(By.CLASS_NAME, "tenant-key")
            ]:
                assert time.monotonic() < deadline, "the page did not update itself"
                time.sleep(0.3)
            assert driver.execute_script("return performance.navigation.type") == 0  # no reload
            driver.save_screenshot(str(ARTIFACTS / "status-updated-375px.png"))
        finally:
            driver.quit()


def test_registry_shows_on_the_status_page_and_in_metrics(tmp_path: Path) -> None:
    from appmux import Registry

    url = f"sqlite:///{tmp_path / 'tenants.db'}"
    registry = Registry(url)
    registry.init()
    registry.add_tenant("acme")
    (tmp_path / "record_apps.py").write_text(
        "def create_app(record):\n"
        "    def app(environ, start_response):\n"
        "        start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "        return [record.key.encode()]\n"
        "    return app\n"
    )
    port = free_port()
    config = tmp_path / "registry.toml"
    config.write_text(
        f'[admin]\nbind = "127.0.0.1:{port}"\n\n'
        f'[registry]\nurl = "{url}"\nrefresh_interval = 0.5\n\n'
        '[tenants]\nby = "registry"\nbase_domains = ["example.com"]\n'
        'factory = "record_apps:create_app"\n'
    )
    admin = f"http://127.0.0.1:{port}"
    env = {"APPMUX_REGISTRY_URL": ""}  # the config's [registry] url, not the environment
    with serve(
        config, "--server", "gunicorn", "--workers", "2", tmp_path=tmp_path, env=env
    ) as server:
        for _ in range(6):
            assert send(server, "/", host="acme.example.com").status_code == 200
        registry.reload_tenant("acme")
        revision = registry.revision()

        def caught_up() -> dict[str, Any] | None:
            status = httpx.get(admin + "/status.json", timeout=10).json()
            reg = status["registry"]
            ok = reg and len(reg["workers"]) == 2 and reg["revision"] == revision
            return status if ok and not any(w["stale"] for w in reg["workers"]) else None

        status = wait_for(caught_up)
        assert status, httpx.get(admin + "/status.json", timeout=10).text
        assert status["registry"]["url"] == url
        assert all(w["snapshot_age"] < 5 for w in status["registry"]["workers"])
        revisions = samples(admin, "appmux_registry_revision")
        assert len(revisions) == 2 and set(revisions.values()) == {revision}
        assert len(samples(admin, "appmux_registry_snapshot_age_seconds")) == 2
        page = httpx.get(admin + "/status", timeout=10).text
        assert 'id="registry-url"' in page and "current" in page
        assert samples(admin, "appmux_registry_refresh_errors_total") == {(): 0.0}

        # An outage: every check fails (the meta table is away), the site keeps serving.
        import sqlite3

        db = sqlite3.connect(url.partition(":///")[2])
        db.execute("ALTER TABLE appmux_meta RENAME TO appmux_meta_away")
        db.commit()

        def errors() -> float:
            return sum(samples(admin, "appmux_registry_refresh_errors_total").values())

        def outage_shown() -> bool:
            workers = httpx.get(admin + "/status.json", timeout=10).json()["registry"]["workers"]
            return len(workers) == 2 and all(w["outage"] for w in workers)

        assert wait_for(lambda: errors() >= 4 and outage_shown()), errors()
        assert send(server, "/", host="acme.example.com").status_code == 200
        db.execute("ALTER TABLE appmux_meta_away RENAME TO appmux_meta")
        db.commit()
        db.close()
        assert wait_for(
            lambda: (
                not any(
                    w["outage"]
                    for w in httpx.get(admin + "/status.json", timeout=10).json()["registry"][
                        "workers"
                    ]
                )
            )
        )
        stopped = errors()
        time.sleep(1.2)  # two refresh intervals: no more errors once it is back
        assert errors() == stopped


def test_a_stale_worker_stands_out() -> None:
    from appmux.observe.status import server_status

    def worker(pid: int, revision: int, age: float) -> dict[str, Any]:
        return {
            "pid": pid,
            "started_at": time.time() - 60,
            "updated_at": time.time(),
            "requests": 1,
            "rss_bytes": 1,
            "routes": {},
            "dispatchers": {},
            "registry": {
                "url": "sqlite:///t.db",
                "revision": revision,
                "snapshot_age": age,
                "errors": 0,
                "outage": None,
            },
        }

    status = server_status([worker(1, 7, 0.5), worker(2, 6, 0.4), worker(3, 7, 60)], [], {})
    stale = {w["pid"]: w["stale"] for w in status["registry"]["workers"]}
    assert stale == {1: False, 2: True, 3: True}
    from appmux.observe.page import render_main

    assert render_main(status).count('class="bad">stale') == 2


def test_a_streamed_body_is_recorded_once_when_closed_and_its_close_propagates() -> None:
    from wsgiref.validate import validator

    from wsgi_helpers import make_environ

    from appmux.observe import Meter, MeteredApp, RouteLabel

    closed: list[str] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"a"
            yield b"b"

        def close(self) -> None:
            closed.append("body")

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return Body()

    meter = Meter()
    metered = validator(MeteredApp(RouteLabel("mount:/api", app), meter))
    statuses: list[str] = []
    body = metered(
        make_environ("/x"), lambda status, headers, exc_info=None: statuses.append(status)
    )
    assert statuses == ["201 Created"]
    assert list(meter.pending) == []  # not when the app returns...
    assert b"".join(body) == b"ab"
    assert list(meter.pending) == []  # ...nor when the last chunk is sent...
    time.sleep(0.05)
    body.close()  # ...but when the server closes the body: timed until then
    assert closed == ["body"]
    (route, status, seconds), *rest = meter.drain()
    assert (route, status, rest) == ("mount:/api", "201 Created", [])
    assert 0.05 <= seconds < 5
    body.close()  # a second close records nothing more
    assert meter.drain() == [] and closed == ["body"]


def test_the_asgi_meter_counts_by_route_and_status_and_a_raising_app_as_500() -> None:
    import asyncio

    from asgi_helpers import asgi_call, http_scope

    from appmux.observe import Meter
    from appmux.observe.asgi_meter import MeteredSite, RouteLabel

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"tea"})

    meter = Meter()
    site = MeteredSite(RouteLabel("mount:/api", app), meter)
    assert asgi_call(site, "/tea").status == 418
    with pytest.raises(RuntimeError):
        asgi_call(site, "/boom")
    observed = [(route, status) for route, status, _ in meter.drain()]
    assert observed == [("mount:/api", 418), ("mount:/api", "500")]

    async def websocket() -> None:
        messages = iter([{"type": "websocket.connect"}])

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            return None

        await site({**http_scope("/ws"), "type": "websocket"}, receive, send)

    asyncio.run(websocket())
    assert meter.drain() == []  # a websocket is not a request...
    assert meter.drain_websockets() == [("mount:/api", 1), ("mount:/api", -1)]  # ...but a session
