#!/usr/bin/env python3
"""Delivery at scale and under faults, on real Odoo: several servers draining one outbox,
workers killed mid-batch, an API outage under checkout load, and the drain's throughput.

Scenarios (``--scenario``; ``all`` runs drainers, kill and outage):

* ``drainers``: four Odoo servers on one database (prefork, ``--workers 2
  --max-cron-threads 2`` each) plus ``--direct-drainers`` processes running the flush cron's
  method in a loop (Odoo's ir.cron runs one job on one worker at a time, so the prefork cron
  workers alone never drain concurrently); ``--events`` events (default 20,000) over two
  websites, each event for the website's Meta and TikTok service (four services), queued half
  before the drainers start and half while they run, through both of the addon's paths
  (``_enqueue``, as server actions do, and the storefront's inbox). Every event must reach the
  fake exactly once per service, no row left pending, none marked sent that the fake never got.
* ``kill``: two prefork servers' cron workers drain 8,000 rows while the fake answers each
  request after 3 s; a cron worker is killed (SIGKILL) while its 1,000-event request is in
  flight, then PostgreSQL's backend of another cron worker is terminated
  (``pg_terminate_backend``) while it commits a sent batch (a deferred trigger installed in
  this database for the scenario holds that COMMIT, dropped afterwards). Nothing may be
  lost; the rows come back to pending and are sent again with their original ``event_id``;
  the re-sends are counted.
* ``outage``: a bounded checkout load client (shoppers browse, add to cart and pay with
  ``payment_demo``) against one prefork server: ``--healthy-minutes`` with the API healthy,
  then ``--minutes`` of outage (5xx, then timeouts, then 429 with Retry-After, then Meta code
  17 / TikTok 40100, a quarter each), then recovery. Every order must confirm; latency during
  the outage is compared with the healthy phases before and after it (``--after-minutes``);
  after recovery every event must be delivered (the backlog's last row sent within 2
  minutes), Purchase once per paid order; requests per minute to the fake are reported.
* ``drain``: the throughput benchmark: ``--bench-events`` (10,000) rows, 1,000-event batches,
  delivered by one flush run, then by 1, 2 and 4 concurrent drainers, ``--rounds`` rounds
  interleaved; medians and events/s.

Everything runs on 127.0.0.1: PostgreSQL (``--db-host``, default 127.0.0.1:5432 odoo/odoo;
one database per scenario, ``soak<version>_<scenario>``, created on first use, ``--recreate``
to start over), the Odoo servers (``--http-interface 127.0.0.1``), the fake Meta and TikTok
APIs (this checkout's ``convapi.testing``, in a process of its own) and the load client. Every
wait is bounded, and every process the script started (each in its own process group) is
stopped at the end, on Ctrl-C or on an error. Odoo 18/19 enterprise trees run from the
community-only view ``scripts/run_odoo_tests.sh`` builds (run it once for the tree).

Run it with the Odoo venv's Python (psycopg2, requests, psutil, and convapi installed as
``run_odoo_tests.sh`` does); prefork servers need gevent in that venv for Odoo's websocket
process (``pip install gevent==22.10.2 'zope.interface<7' 'zope.event<5'``: with newer zope
releases the old setuptools of Odoo's venv does not find them, and the process, respawned
by the master every second, fails to start each time) and setproctitle, by whose worker titles
the kill scenario finds a cron worker (the script checks both before it starts)::

    /work/odoo/venv17/bin/python scripts/soak.py --tree /work/odoo/odoo17 --scenario drainers
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
WORK = Path(tempfile.gettempdir()) / "convapi-soak"

META_PIXELS = ("1111111111", "2222222222")
TIKTOK_PIXELS = ("CSOAKPIXEL0001", "CSOAKPIXEL0002")
TOKEN = "soak-token-0123456789"


def log(message: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"[soak {stamp}] {message}", flush=True)


class SoakError(Exception):
    """A scenario could not run (setup failed, a bounded wait ran out)."""


def wait_for(predicate, timeout: float, interval: float, what: str):
    """Poll ``predicate`` until it returns something truthy; SoakError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise SoakError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Processes: everything started here is stopped here
# --------------------------------------------------------------------------------------------


class Processes:
    """The processes this run started, each the leader of its own process group (prefork
    servers fork workers): ``stop`` signals that group only, so nothing else is touched."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], *, log_path: Path | None = None,
              **kwargs: Any) -> subprocess.Popen:
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(log_path, "ab")  # noqa: SIM115 - the child owns it
            kwargs.setdefault("stdout", out)
            kwargs.setdefault("stderr", subprocess.STDOUT)
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        if log_path is not None:
            out.close()
        self.running.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 30.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # the group may outlive its leader (a worker still exiting)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in list(reversed(self.running)):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _name, proc in list(self.running):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _name, proc in list(self.running):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.running.clear()


# --------------------------------------------------------------------------------------------
# The Odoo tree
# --------------------------------------------------------------------------------------------


def enterprise_modules(tree: Path) -> list[str]:
    found = []
    for addons in (tree / "odoo" / "addons", tree / "addons"):
        if not addons.is_dir():
            continue
        for manifest in addons.glob("*/__manifest__.py"):
            text = manifest.read_text(errors="replace")
            if re.search(r"['\"]license['\"]\s*:\s*['\"]OEEL", text):
                found.append(manifest.parent.name)
    return found


class OdooTree:
    """An Odoo source tree (``odoo-bin`` at the root, or the sdist ``setup/odoo``), run from
    the community-only view of ``run_odoo_tests.sh`` when it ships enterprise modules."""

    def __init__(self, tree: str, python: str | None, db: dict[str, str]) -> None:
        self.source = Path(tree).resolve()
        release = (self.source / "odoo" / "release.py").read_text()
        match = re.search(r"^version_info\s*=\s*\(([^,]+),\s*(\d+)", release, re.M)
        if not match:
            raise SoakError(f"cannot read the Odoo version of {self.source}")
        self.major = int(match.group(1).strip("'\"").replace("saas~", ""))
        self.launcher = "odoo-bin" if (self.source / "odoo-bin").exists() else "setup/odoo"
        self.root = self.source
        if enterprise_modules(self.source):
            key = subprocess.run(["cksum"], input=str(self.source), capture_output=True,
                                 text=True, check=True).stdout.split()[0]
            cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            view = cache / "convapi-odoo" / f"community-{self.major}-{key}"
            if not (view / ".stamp").exists():
                raise SoakError(
                    f"{self.source} ships enterprise modules and has no community-only view "
                    f"yet: run ODOO_TREE={self.source} bash scripts/run_odoo_tests.sh once")
            self.root = view
        self.python = python or str(self.source.parent / f"venv{self.major}" / "bin" / "python")
        if not Path(self.python).exists():
            raise SoakError(f"no Python at {self.python} (--python)")
        self.db = db
        self.version_label = f"{self.major}.0"
        self.addon_dir = REPO / "odoo_addon"

    def addons_path(self) -> str:
        paths = [self.root / "addons", self.root / "odoo" / "addons", self.addon_dir]
        return ",".join(str(p) for p in paths if p.exists())

    def env(self) -> dict[str, str]:
        # the tree itself for sdist layouts; convapi comes from the venv (installed wheel)
        return dict(os.environ, PYTHONPATH=str(self.root))

    def cmd(self, *subcommand: str) -> list[str]:
        conf = WORK / "odoo.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        if not conf.exists():
            conf.write_text("[options]\n")
        return [
            self.python, str(self.root / self.launcher), *subcommand, "-c", str(conf),
            "--addons-path", self.addons_path(), "--data-dir", str(WORK / f"data{self.major}"),
            "--db_host", self.db["host"], "--db_port", self.db["port"],
            "--db_user", self.db["user"], "--db_password", self.db["password"],
            "--http-interface", "127.0.0.1",
        ]

    def shell(self, dbname: str, script: str, timeout: float, log_path: Path) -> str:
        """Run ``script`` in ``odoo shell`` (the superuser's env); returns its stdout."""
        cmd = self.cmd("shell") + ["-d", dbname, "--no-http", "--log-level", "warn"]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as err:
            out = subprocess.run(cmd, input=script.encode(), stdout=subprocess.PIPE,
                                 stderr=err, env=self.env(), timeout=timeout, check=False)
        if out.returncode != 0:
            raise SoakError(f"odoo shell failed ({out.returncode}), see {log_path}")
        return out.stdout.decode(errors="replace")


# What the prefork servers of the drainers, kill and outage scenarios need in the Odoo venv
# beyond the tree's requirements: gevent for Odoo's websocket process (respawned every second
# without it), setproctitle for the workers' titles (``odoo: WorkerCron``) by which the kill
# scenario finds a cron worker; without it every worker is titled as its master and that
# scenario waits in vain for a cron worker to kill.
PREFORK_MODULES = ("gevent", "setproctitle")


def missing_modules(python: str, modules: tuple[str, ...] = PREFORK_MODULES) -> list[str]:
    """The ``modules`` that ``python`` cannot import."""
    probe = ("import importlib.util, sys\n"
             "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
    out = subprocess.run([python, "-c", probe, *modules], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def shell_result(output: str, tag: str) -> Any:
    for line in output.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise SoakError(f"no {tag} line in the shell's output:\n{output[-2000:]}")


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


class Pg:
    """Autocommit connections to PostgreSQL on 127.0.0.1, for checks and fault injection."""

    def __init__(self, args: argparse.Namespace) -> None:
        import psycopg2

        self.psycopg2 = psycopg2
        self.params = {"host": args.db_host, "port": args.db_port, "user": args.db_user,
                       "password": args.db_password}
        self._conns: dict[str, Any] = {}

    def conn(self, dbname: str):
        conn = self._conns.get(dbname)
        if conn is None or conn.closed:
            conn = self.psycopg2.connect(dbname=dbname, connect_timeout=10,
                                         application_name="convapi-soak", **self.params)
            conn.autocommit = True
            self._conns[dbname] = conn
        return conn

    def query(self, dbname: str, sql: str, params: Any = ()) -> list[tuple]:
        for attempt in (1, 2):
            try:
                with self.conn(dbname).cursor() as cr:
                    cr.execute(sql, params)
                    return cr.fetchall() if cr.description else []
            except (self.psycopg2.OperationalError, self.psycopg2.InterfaceError):
                self._conns.pop(dbname, None)
                if attempt == 2:
                    raise
        return []

    def exists(self, dbname: str) -> bool:
        return bool(self.query("postgres", "SELECT 1 FROM pg_database WHERE datname = %s",
                               [dbname]))

    def drop(self, dbname: str) -> None:
        conn = self._conns.pop(dbname, None)
        if conn is not None:
            conn.close()
        self.query("postgres", f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def close(self) -> None:
        for conn in self._conns.values():
            with contextlib.suppress(Exception):
                conn.close()
        self._conns.clear()


# --------------------------------------------------------------------------------------------
# The fake APIs, in a process of their own
# --------------------------------------------------------------------------------------------


def fake_child_main(port: int, log_path: str) -> int:
    """The fake's process: this checkout's convapi.testing (pure standard library, imported
    without the native package), driven by one JSON command a line on stdin."""
    package = types.ModuleType("convapi")
    package.__path__ = [str(REPO / "python" / "convapi")]
    sys.modules["convapi"] = package
    from convapi.testing import FakeAdServer, FaultSchedule

    logf = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    fake = FakeAdServer(port=port, log=lambda line: logf.write(line + "\n")).start()
    print(json.dumps({"base_url": fake.base_url, "clock": time.time()}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        name = command.get("cmd")
        reply: Any = {"ok": True}
        if name == "set_schedule":
            schedule = FaultSchedule.from_json(command["schedule"])
            fake.set_schedule(schedule)
        elif name == "start_schedule":
            if fake.schedule is None:
                reply = {"error": "no schedule"}
            else:
                fake.schedule.start()
                reply = {"clock": time.time()}
        elif name == "clock":
            reply = {"clock": time.time(),
                     "phase": fake.schedule.label_at() if fake.schedule else None,
                     "elapsed": fake.schedule.elapsed() if fake.schedule else None}
        elif name == "stats":
            accepted = Counter(a.platform for a in fake.accepted_events())
            requests = Counter(r.platform for r in fake.requests)
            reply = {"events": dict(accepted), "requests": dict(requests),
                     "in_flight": fake.in_flight()}
        elif name == "in_flight":
            reply = fake.in_flight()
        elif name == "counts":
            reply = [[*key, count] for key, count in fake.event_counts().items()]
        elif name == "timeline":
            reply = fake.request_timeline(float(command["start"]),
                                          float(command.get("bucket", 60)))
        elif name == "early":
            reply = [[*key, n] for key, n in fake.retry_clock.early_counts().items()]
        elif name == "request_event_ids":
            port_wanted = int(command["client_port"])
            reply = []
            for rec in fake.requests:
                if rec.client_port == port_wanted and isinstance(rec.body, dict):
                    data = rec.body.get("data")
                    if isinstance(data, list):
                        reply.append([e.get("event_id") for e in data if isinstance(e, dict)])
        elif name == "reset":
            fake.reset()
            fake.set_schedule(None)
        elif name == "quit":
            break
        else:
            reply = {"error": f"unknown command {name!r}"}
        print(json.dumps(reply), flush=True)
    fake.stop()
    return 0


class FakeApi:
    """The fake Meta and TikTok APIs in a child process (started with ``procs``)."""

    def __init__(self, procs: Processes, log_dir: Path) -> None:
        self.lock = threading.Lock()
        self.proc = procs.start(
            "fake API",
            [sys.executable, str(Path(__file__).resolve()), "--fake-child", "0",
             str(log_dir / "fake_api.log")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(  # noqa: SIM115
                log_dir / "fake_api.stderr", "ab"), text=True)
        first = self.proc.stdout.readline()
        if not first:
            raise SoakError("the fake API did not start")
        hello = json.loads(first)
        self.base_url = hello["base_url"]

    def call(self, cmd: str, **params: Any) -> Any:
        with self.lock:
            self.proc.stdin.write(json.dumps({"cmd": cmd, **params}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise SoakError("the fake API process died")
        return json.loads(line)

    def counts(self) -> Counter:
        return Counter({tuple(row[:4]): row[4] for row in self.call("counts")})


# --------------------------------------------------------------------------------------------
# Databases and their configuration
# --------------------------------------------------------------------------------------------

SETUP_SCRIPT = r'''
import json
env = env  # noqa: F821 (odoo shell)
FAKE_URL = __FAKE_URL__
META_PIXELS = __META_PIXELS__
TIKTOK_PIXELS = __TIKTOK_PIXELS__
TOKEN = __TOKEN__
Website = env['website']
website1 = Website.search([], limit=1, order='id')
website2 = Website.search([('name', '=', 'Soak second website')], limit=1)
if not website2:
    website2 = Website.create({'name': 'Soak second website',
                               'company_id': website1.company_id.id})
for website in website1 | website2:
    website.cookies_bar = False
params = env['ir.config_parameter'].sudo()
params.set_param('conversions_api.meta_base_url', FAKE_URL)
params.set_param('conversions_api.tiktok_base_url', FAKE_URL)
for key, value in __PARAMS__.items():
    if value is None:
        env.cr.execute('DELETE FROM ir_config_parameter WHERE key = %s', [key])
    else:
        params.set_param(key, value)
env.cr.execute('DELETE FROM conversions_api_inbox')
env.cr.execute('DELETE FROM conversions_api_event')
Service = env['conversions.api.service'].with_context(active_test=False)
Service.search([]).unlink()
services = []
for index, website in enumerate(website1 | website2):
    for platform, pixel in (('meta', META_PIXELS[index]), ('tiktok', TIKTOK_PIXELS[index])):
        service = Service.create({
            'name': 'soak %s %s' % (platform, index + 1), 'platform': platform,
            'pixel_id': pixel, 'access_token': TOKEN, 'website_id': website.id})
        services.append({'id': service.id, 'platform': platform, 'pixel': pixel,
                         'website_id': website.id})
product = env['product.template'].search([('name', '=', 'Soak Chair')], limit=1)
if not product:
    product = env['product.template'].create({
        'name': 'Soak Chair', 'list_price': 100.0, 'sale_ok': True,
        'website_published': True, 'taxes_id': [(5, 0, 0)]})
service_product = env['product.template'].search([('name', '=', 'Soak Service')], limit=1)
if not service_product:
    values = {'name': 'Soak Service', 'list_price': 50.0, 'sale_ok': True,
              'website_published': True, 'taxes_id': [(5, 0, 0)]}
    values['detailed_type' if 'detailed_type' in service_product._fields else 'type'] = 'service'
    service_product = env['product.template'].create(values)
# no wkhtmltopdf and no SMTP server here: order mails go without their PDF, and stay queued
for xmlid in ('sale.mail_template_sale_confirmation', 'sale.email_template_edi_sale',
              'sale.mail_template_sale_payment_executed'):
    template = env.ref(xmlid, raise_if_not_found=False)
    if template and 'report_template_ids' in template._fields:
        template.report_template_ids = [(5, 0, 0)]
    elif template and 'report_template' in template._fields:
        template.report_template = False
mail_cron = env.ref('mail.ir_cron_mail_scheduler_action', raise_if_not_found=False)
if mail_cron:
    mail_cron.active = False
provider = env.ref('payment.payment_provider_demo', raise_if_not_found=False)
if provider:
    values = {'state': 'test', 'is_published': True}
    if 'website_id' in provider._fields:
        values['website_id'] = False
    provider.write(values)
env.cr.execute("UPDATE ir_cron SET nextcall = now() at time zone 'UTC' WHERE id = %s",
               [env.ref('conversions_api.ir_cron_conversions_api_flush').id])
env.cr.commit()
print('SOAK_SETUP ' + json.dumps({
    'websites': [website1.id, website2.id], 'services': services,
    'template': product.id, 'variant': product.product_variant_id.id,
    'url': product.website_url,
    'service_template': service_product.id,
    'service_variant': service_product.product_variant_id.id,
    'service_url': service_product.website_url,
    'country': env.ref('base.be').id, 'currency': website1.company_id.currency_id.name,
    'demo_provider': provider.id if provider else None,
}))
'''


def setup_database(odoo: OdooTree, pg: Pg, args, name: str, fake_url: str, log_dir: Path,
                   modules: str, params: dict[str, str | None] | None = None) -> dict:
    if args.recreate and pg.exists(name):
        pg.drop(name)
    if not pg.exists(name):
        log(f"creating database {name} with {modules} (a few minutes)")
        cmd = odoo.cmd() + ["-d", name, "-i", modules, "--stop-after-init",
                            "--without-demo=all", "--log-level", "warn", "--no-http"]
        with open(log_dir / f"install_{name}.log", "ab") as out:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=odoo.env(),
                                  timeout=3600, check=False)
        if done.returncode != 0:
            pg.drop(name)
            raise SoakError(f"installing {modules} in {name} failed, see "
                            f"{log_dir / f'install_{name}.log'}")
    else:
        # the addon of this checkout, as it is now (tables of models added since)
        cmd = odoo.cmd() + ["-d", name, "-u", "conversions_api", "--stop-after-init",
                            "--log-level", "warn", "--no-http"]
        with open(log_dir / f"update_{name}.log", "ab") as out:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=odoo.env(),
                                  timeout=3600, check=False)
        if done.returncode != 0:
            raise SoakError(f"updating conversions_api in {name} failed, see "
                            f"{log_dir / f'update_{name}.log'}")
    script = (SETUP_SCRIPT.replace("__FAKE_URL__", repr(fake_url))
              .replace("__META_PIXELS__", repr(META_PIXELS))
              .replace("__TIKTOK_PIXELS__", repr(TIKTOK_PIXELS))
              .replace("__TOKEN__", repr(TOKEN))
              .replace("__PARAMS__", repr(params or {})))
    out = odoo.shell(name, script, 600, log_dir / f"setup_{name}.log")
    return shell_result(out, "SOAK_SETUP")


# The two ways the addon queues: _enqueue (server actions, order confirmation) and the
# storefront's inbox (one row per shopper request, built into outbox rows by the drain).
QUEUE_SCRIPT = r'''
import json
import time
env = env  # noqa: F821 (odoo shell)
SPEC = __SPEC__
Event = env['conversions.api.event']
Service = env['conversions.api.service']
Inbox = env['conversions.api.inbox']
NAMES = ('PageView', 'ViewContent', 'AddToCart', 'InitiateCheckout', 'Purchase', 'Search',
         'AddToWishlist')
queued = 0
enqueue_calls = inbox_rows = 0
now = int(time.time())
for website_id, start, stop in SPEC['ranges']:
    website = env['website'].browse(website_id)
    infos = Service._storefront_services(website_id)
    pending = []
    for index in range(start, stop):
        name = NAMES[index % len(NAMES)]
        event_id = 'soak-w%s-%s' % (website_id, index)
        url = 'https://shop%s.example.com/shop/p/%s' % (website_id, index % 97)
        custom = {} if name == 'PageView' else {
            'value': 10.0 + index % 50, 'currency': 'EUR', 'content_ids': [str(index % 97)]}
        if name == 'Search':
            custom = {'search_string': 'chair %s' % (index % 13)}
        context = {'client_ip_address': '198.51.100.%s' % (index % 250 + 1),
                   'client_user_agent': SPEC['ua'], 'event_source_url': url}
        if index % 5 < 2:  # 40 %: the server-action path, with a hashed email
            rows = Event._enqueue(
                name, website=website, event_id=event_id, custom_data=custom,
                user_data={'email': 'shopper%s@example.com' % index},
                request_context=context, event_time=now)
            enqueue_calls += 1
            if len(rows) != len(infos):
                raise SystemExit('queued %s rows for %s, not %s' % (len(rows), event_id,
                                                                    len(infos)))
            queued += len(rows)
            if enqueue_calls % 200 == 0:
                env.cr.commit()
        else:  # 60 %: the storefront's inbox, a row per request of one to three events
            pending.append((name, {
                'website_id': website_id, 'event_id': event_id, 'event_time': now,
                'event_source_url': url, 'custom_data': custom,
                'request_context': context}, infos))
            if len(pending) >= 1 + index % 3:
                entries = Event._storefront_entries(pending)
                Inbox._append(entries)
                inbox_rows += 1
                queued += len(pending) * len(infos)
                pending = []
                if inbox_rows % 200 == 0:
                    env.cr.commit()
    if pending:
        Inbox._append(Event._storefront_entries(pending))
        inbox_rows += 1
        queued += len(pending) * len(infos)
env.cr.commit()
Event._trigger_flush()
env.cr.commit()
print('SOAK_QUEUED ' + json.dumps({'rows': queued, 'enqueue_calls': enqueue_calls,
                                   'inbox_rows': inbox_rows}))
'''

# An "equivalent cron runner": what the flush cron runs, in a loop, as its own process.
DRAINER_SCRIPT = r'''
import json
import os
import time
env = env  # noqa: F821 (odoo shell)
STOP = __STOP__
deadline = time.monotonic() + __SECONDS__
Event = env['conversions.api.event']
runs = 0
while time.monotonic() < deadline and not os.path.exists(STOP):
    started = time.monotonic()
    Event._cron_flush()
    env.cr.commit()
    runs += 1
    if time.monotonic() - started < 0.2:
        time.sleep(0.5)
print('SOAK_DRAINER ' + json.dumps({'pid': os.getpid(), 'runs': runs}))
'''


def start_drainer(procs: Processes, odoo: OdooTree, dbname: str, name: str, stop_file: Path,
                  seconds: float, log_dir: Path) -> subprocess.Popen:
    script = (DRAINER_SCRIPT.replace("__STOP__", repr(str(stop_file)))
              .replace("__SECONDS__", repr(seconds)))
    cmd = odoo.cmd("shell") + ["-d", dbname, "--no-http", "--log-level", "info"]
    proc = procs.start(name, cmd, log_path=log_dir / f"{name}.log", stdin=subprocess.PIPE,
                       env=odoo.env())
    proc.stdin.write(script.encode())
    proc.stdin.close()
    return proc


def start_server(procs: Processes, odoo: OdooTree, dbname: str, name: str, port: int,
                 log_dir: Path, workers: int = 2, cron: int = 2,
                 extra: list[str] | None = None) -> subprocess.Popen:
    cmd = odoo.cmd() + ["-d", dbname, "--db-filter", f"^{dbname}$", "--http-port", str(port),
                        "--gevent-port", str(port + 1), "--workers", str(workers),
                        "--max-cron-threads", str(cron), "--log-level", "info",
                        *(extra or [])]
    return procs.start(name, cmd, log_path=log_dir / f"{name}.log", env=odoo.env())


def wait_http(port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    import requests

    def up():
        if proc.poll() is not None:
            raise SoakError(f"the Odoo server on port {port} exited ({proc.returncode})")
        try:
            return requests.get(f"http://127.0.0.1:{port}/web/webclient/version_info",
                                timeout=5).status_code < 500
        except requests.RequestException:
            return False

    wait_for(up, timeout, 1.0, f"Odoo on 127.0.0.1:{port}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return port


def free_port_pair() -> int:
    """A port P with P and P + 1 free (HTTP and Odoo's websocket process)."""
    import socket

    for _ in range(50):
        port = free_port()
        if port >= 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise SoakError("no two consecutive free ports")


# --------------------------------------------------------------------------------------------
# Checking what reached the fake
# --------------------------------------------------------------------------------------------


def platform_event_name(platform: str, name: str) -> str:
    if platform == "tiktok":
        import convapi

        return convapi.tiktok_event_name(name)
    return name


def outbox_states(pg: Pg, dbname: str) -> dict[str, int]:
    return dict(pg.query(dbname, "SELECT state, count(*) FROM conversions_api_event "
                                 "GROUP BY state"))


def inbox_count(pg: Pg, dbname: str) -> int:
    return pg.query(dbname, "SELECT count(*) FROM conversions_api_inbox")[0][0]


def reconcile(pg: Pg, dbname: str, fake: FakeApi, services: list[dict]) -> dict[str, Any]:
    """Every outbox row against the fake's per-event_id counts."""
    by_id = {s["id"]: s for s in services}
    rows = pg.query(dbname, "SELECT service_id, event_name, event_id, state, attempts "
                            "FROM conversions_api_event")
    counts = fake.counts()
    expected = set()
    result = Counter()
    resent_keys = []
    attempts = Counter()
    for service_id, name, event_id, state, tries in rows:
        service = by_id.get(service_id)
        if service is None:
            result["rows of unknown services"] += 1
            continue
        key = (service["platform"], service["pixel"],
               platform_event_name(service["platform"], name), event_id)
        expected.add(key)
        received = counts.get(key, 0)
        result["rows"] += 1
        result[f"state {state}"] += 1
        attempts[tries] += 1
        if received >= 1:
            result["delivered"] += 1
        if received > 1:
            result["duplicates"] += received - 1
            result["events received more than once"] += 1
            resent_keys.append(key)
        if state == "sent" and received == 0:
            result["sent but never received"] += 1
        if state != "sent" and received == 0:
            result["not delivered"] += 1
        if state in ("queued", "retrying"):
            result["pending"] += 1
        if state == "failed":
            result["failed"] += 1
    unexpected = sum(n for key, n in counts.items() if key not in expected)
    result["received, no outbox row"] = unexpected
    result["received (events)"] = sum(counts.values())
    return {"counts": dict(result), "resent_keys": resent_keys,
            "attempts": dict(sorted(attempts.items()))}


SENT_LINE = re.compile(r"^\S+ \S+ (\d+) INFO \S+ \S+: conversions_api: (\d+) (meta|tiktok) "
                       r"event\(s\) sent \(service (\d+)\)")
FAILED_LINE = re.compile(r"^\S+ \S+ (\d+) WARNING \S+ \S+: conversions_api: (\d+) "
                         r"(meta|tiktok) event\(s\) not sent \(service (\d+), ([^)]*)\): (.*)$")


def sent_by_process(log_paths: list[Path]) -> dict[str, Counter]:
    """Rows each Odoo process recorded as sent and as failed (from its log lines)."""
    sent: Counter = Counter()
    failed: Counter = Counter()
    for path in log_paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            match = SENT_LINE.match(line)
            if match:
                sent[(path.stem, int(match.group(1)))] += int(match.group(2))
                continue
            match = FAILED_LINE.match(line)
            if match:
                failed[(path.stem, int(match.group(1)))] += int(match.group(2))
    return {"sent": sent, "failed": failed}


def error_lines(log_paths: list[Path], limit: int = 40) -> list[str]:
    found = []
    for path in log_paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if re.match(r"^\S+ \S+ \d+ (ERROR|CRITICAL) ", line):
                found.append(f"{path.stem}: {line[:300]}")
    return found[:limit] + ([f"... {len(found) - limit} more"] if len(found) > limit else [])


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------------------------
# Scenario: concurrent drainers
# --------------------------------------------------------------------------------------------


def scenario_drainers(ctx: dict) -> dict:
    args, odoo, pg, procs, fake = ctx["args"], ctx["odoo"], ctx["pg"], ctx["procs"], ctx["fake"]
    log_dir: Path = ctx["log_dir"] / "drainers"
    log_dir.mkdir(parents=True, exist_ok=True)
    dbname = f"soak{odoo.major}_drainers"
    fake.call("reset")
    info = setup_database(odoo, pg, args, dbname, fake.base_url, ctx["log_dir"],
                          "website_sale,conversions_api")
    websites = info["websites"]
    per_site = args.events // len(websites)
    half = per_site // 2
    load_before = load_average()
    log(f"queueing {half * len(websites)} events ({len(websites)} websites x 2 services) "
        "before the drainers start")
    spec = {"ranges": [[w, 0, half] for w in websites], "ua": UA}
    out = odoo.shell(dbname, QUEUE_SCRIPT.replace("__SPEC__", repr(spec)), 1800,
                     log_dir / "queue_before.log")
    queued = shell_result(out, "SOAK_QUEUED")
    log(f"queued {queued}; starting {args.servers} servers and {args.direct_drainers} "
        "direct drainers")
    started = time.monotonic()
    fake_start = fake.call("clock")["clock"]
    stop_file = log_dir / "stop"
    stop_file.unlink(missing_ok=True)
    servers = []
    for index in range(args.servers):
        port = free_port_pair()
        servers.append((port, start_server(procs, odoo, dbname, f"server{index + 1}", port,
                                           log_dir)))
    drainers = [start_drainer(procs, odoo, dbname, f"drainer{index + 1}", stop_file,
                              args.deadline_minutes * 60, log_dir)
                for index in range(args.direct_drainers)]
    for port, proc in servers:
        wait_http(port, proc)
    log(f"servers up; queueing the other {(per_site - half) * len(websites)} events while "
        "they drain (one process per website)")
    queue_procs = []
    for index, website in enumerate(websites):
        spec = {"ranges": [[website, half, per_site]], "ua": UA}
        cmd = odoo.cmd("shell") + ["-d", dbname, "--no-http", "--log-level", "warn"]
        proc = procs.start(f"queue{index + 1}", cmd, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE,
                           stderr=open(log_dir / f"queue{index + 1}.log", "ab"),  # noqa: SIM115
                           env=odoo.env())
        proc.stdin.write(QUEUE_SCRIPT.replace("__SPEC__", repr(spec)).encode())
        proc.stdin.close()
        queue_procs.append(proc)
    for proc in queue_procs:
        output = proc.stdout.read().decode(errors="replace")
        proc.wait(timeout=args.deadline_minutes * 60)
        more = shell_result(output, "SOAK_QUEUED")
        for key in queued:
            queued[key] += more[key]
    queued_at = time.monotonic() - started
    log(f"all queued after {queued_at:.0f} s: {queued['rows']} outbox rows expected")

    def done():
        states = outbox_states(pg, dbname)
        left = inbox_count(pg, dbname)
        total = sum(states.values())
        pending = states.get("queued", 0) + states.get("retrying", 0)
        return (not left and not pending and total >= queued["rows"]) and states

    progress = {"last": 0.0}

    def done_with_progress():
        result = done()
        if time.monotonic() - progress["last"] > 15:
            progress["last"] = time.monotonic()
            log(f"outbox {outbox_states(pg, dbname)}, inbox {inbox_count(pg, dbname)}")
        return result

    try:
        states = wait_for(done_with_progress, args.deadline_minutes * 60, 0.5,
                          "every row to be sent")
    except SoakError as error:
        states = {"timeout": str(error), **outbox_states(pg, dbname)}
    elapsed = time.monotonic() - started
    stop_file.touch()
    for proc in drainers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=120)
    for _port, proc in servers:
        procs.stop(proc)
    for proc in drainers:
        procs.stop(proc)
    check = reconcile(pg, dbname, fake, info["services"])
    timeline = fake.call("timeline", start=fake_start, bucket=60)
    logs = sorted(log_dir.glob("server*.log")) + sorted(log_dir.glob("drainer*.log"))
    by_process = sent_by_process(logs)
    return {
        "scenario": "drainers", "odoo": odoo.version_label, "database": dbname,
        "queued": queued, "states": states, "elapsed_s": round(elapsed, 1),
        "queueing_s": round(queued_at, 1), "check": check["counts"],
        "attempts": check["attempts"],
        "resent": [list(k) for k in check["resent_keys"][:20]],
        "sent_by_process": {f"{name} pid {pid}": n for (name, pid), n in
                            sorted(by_process["sent"].items())},
        "failed_by_process": {f"{name} pid {pid}": n for (name, pid), n in
                              sorted(by_process["failed"].items())},
        "requests_per_minute": timeline, "errors": error_lines(logs),
        "load_average": [load_before, load_average()],
        "servers": args.servers, "direct_drainers": args.direct_drainers,
    }


# --------------------------------------------------------------------------------------------
# Scenario: kill -9 and pg_terminate_backend
# --------------------------------------------------------------------------------------------

HOLD_COMMIT_SQL = """
CREATE TABLE IF NOT EXISTS soak_commit_hold (seconds float NOT NULL, armed boolean NOT NULL);
DELETE FROM soak_commit_hold;
INSERT INTO soak_commit_hold VALUES (%s, false);
CREATE OR REPLACE FUNCTION soak_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- once per transaction, at COMMIT (deferred): hold it while the soak script is armed
    IF current_setting('soak.held', true) IS DISTINCT FROM '1' THEN
        PERFORM set_config('soak.held', '1', true);
        IF EXISTS (SELECT 1 FROM soak_commit_hold WHERE armed) THEN
            PERFORM pg_sleep((SELECT seconds FROM soak_commit_hold LIMIT 1));
        END IF;
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS soak_hold_commit ON conversions_api_event;
CREATE CONSTRAINT TRIGGER soak_hold_commit AFTER UPDATE ON conversions_api_event
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.state = 'sent' AND OLD.state IS DISTINCT FROM 'sent')
    EXECUTE FUNCTION soak_hold_commit();
"""
DROP_HOLD_SQL = """
DROP TRIGGER IF EXISTS soak_hold_commit ON conversions_api_event;
DROP FUNCTION IF EXISTS soak_hold_commit();
DROP TABLE IF EXISTS soak_commit_hold;
"""


def odoo_processes(procs: Processes):
    """psutil.Process of every process under the ones this run started."""
    import psutil

    found = []
    for _name, proc in procs.running:
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(proc.pid)
            found.append(parent)
            found.extend(parent.children(recursive=True))
    return found


def owner_of_client_port(procs: Processes, port: int):
    """The process (among ours) holding the TCP connection whose local port is ``port``."""
    import psutil

    for process in odoo_processes(procs):
        with contextlib.suppress(psutil.Error):
            for conn in process.connections(kind="tcp"):
                if conn.laddr and conn.laddr.port == port and conn.raddr:
                    return process
    return None


def worker_kind(process) -> str:
    """'cron worker', 'http worker', 'master' or 'shell' from a process's title/cmdline."""
    import psutil

    try:
        title = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    if "WorkerCron" in title:
        return "cron worker"
    if "WorkerHTTP" in title:
        return "http worker"
    if " shell " in f" {title} ":
        return "direct drainer"
    return "master" if "odoo" in title else title[:40]


def scenario_kill(ctx: dict) -> dict:
    args, odoo, pg, procs, fake = ctx["args"], ctx["odoo"], ctx["pg"], ctx["procs"], ctx["fake"]
    log_dir: Path = ctx["log_dir"] / "kill"
    log_dir.mkdir(parents=True, exist_ok=True)
    dbname = f"soak{odoo.major}_kill"
    fake.call("reset")
    info = setup_database(odoo, pg, args, dbname, fake.base_url, ctx["log_dir"],
                          "website_sale,conversions_api")
    websites = info["websites"]
    per_site = args.kill_events // len(websites) // 2  # two services per website
    spec = {"ranges": [[w, 0, per_site] for w in websites], "ua": UA}
    load_before = load_average()
    out = odoo.shell(dbname, QUEUE_SCRIPT.replace("__SPEC__", repr(spec)), 1800,
                     log_dir / "queue.log")
    queued = shell_result(out, "SOAK_QUEUED")
    pg.query(dbname, HOLD_COMMIT_SQL, [args.hold_seconds])
    # every request answered after a pause: a send is "inside" for that long
    schedule = json.dumps([{"start": 0, "end": 3600, "fault": "delay",
                            "platforms": ["meta", "tiktok"],
                            "params": {"seconds": args.send_seconds}, "label": "slow"}])
    fake.call("set_schedule", schedule=schedule)
    fake.call("start_schedule")
    fake_start = fake.call("clock")["clock"]
    started = time.monotonic()
    # prefork cron workers only: the faults hit the cron as a store runs it
    servers = []
    for index in range(2):
        port = free_port_pair()
        servers.append((port, start_server(procs, odoo, dbname, f"server{index + 1}", port,
                                           log_dir)))
    events: dict[str, Any] = {}

    # 1. kill -9 a prefork cron worker inside its send
    def cron_worker_in_flight():
        for flight in fake.call("in_flight"):
            if flight["bytes"] < 100_000:  # a 1,000-event batch is about 1 MB
                continue
            owner = owner_of_client_port(procs, flight["client_port"])
            if owner is not None and worker_kind(owner) == "cron worker":
                return owner, flight
        return None

    owner, flight = wait_for(cron_worker_in_flight, 300, 0.2,
                             "a cron worker inside a 1,000-event send")
    rows_before = outbox_states(pg, dbname)
    owner.kill()
    killed_at = time.monotonic() - started
    log(f"killed cron worker pid {owner.pid} ({flight['bytes']} bytes in flight to the fake)")
    events["kill"] = {"pid": owner.pid, "kind": "cron worker", "at_s": round(killed_at, 1),
                      "request_bytes": flight["bytes"], "outbox_before": rows_before}
    # the fake still answers that request (to nobody) after its pause: its events were
    # received, the worker never recorded it; its rows must come back to pending
    time.sleep(args.send_seconds + 1)
    ids = [i for batch in fake.call("request_event_ids", client_port=flight["client_port"])
           for i in batch]
    if ids:
        states = Counter(state for (state,) in pg.query(
            dbname, "SELECT state FROM conversions_api_event WHERE event_id = ANY(%s) "
                    "AND platform = %s", [ids, flight["platform"]]))
        events["kill"]["rows_of_the_killed_request"] = len(ids)
        events["kill"]["their_states_after"] = dict(states)

    # 2. pg_terminate_backend of another drainer while it commits a sent batch
    pg.query(dbname, "UPDATE soak_commit_hold SET armed = true")

    def backend_in_commit():
        rows = pg.query(dbname, """
            SELECT pid, client_port, query, wait_event FROM pg_stat_activity
             WHERE datname = %s AND state = 'active' AND query ILIKE 'commit%%'
               AND wait_event = 'PgSleep'""", [dbname])
        return rows[0] if rows else None

    backend = wait_for(backend_in_commit, 300, 0.1, "a drainer's COMMIT of a sent batch")
    # its Odoo process: the one whose connection has that local port
    client = owner_of_client_port(procs, backend[1]) if backend[1] else None
    pg.query(dbname, "SELECT pg_terminate_backend(%s)", [backend[0]])
    pg.query(dbname, "UPDATE soak_commit_hold SET armed = false")
    kind = worker_kind(client) if client is not None else "unknown"
    log(f"terminated backend {backend[0]} of pid {client.pid if client else '?'} ({kind}) "
        "in its COMMIT")
    events["terminate"] = {"backend_pid": backend[0], "odoo_pid": client.pid if client else None,
                           "kind": kind, "at_s": round(time.monotonic() - started, 1)}
    # from here on the API answers at once
    fake.call("set_schedule", schedule="[]")

    def all_sent():
        states = outbox_states(pg, dbname)
        pending = states.get("queued", 0) + states.get("retrying", 0)
        return (not pending and not inbox_count(pg, dbname)
                and sum(states.values()) >= queued["rows"]) and states

    try:
        states = wait_for(all_sent, args.deadline_minutes * 60, 1.0, "every row to be sent")
    except SoakError as error:
        states = {"timeout": str(error), **outbox_states(pg, dbname)}
    elapsed = time.monotonic() - started
    for _port, proc in servers:
        procs.stop(proc)
    pg.query(dbname, DROP_HOLD_SQL)
    check = reconcile(pg, dbname, fake, info["services"])
    logs = sorted(log_dir.glob("server*.log"))
    by_process = sent_by_process(logs)
    timeline = fake.call("timeline", start=fake_start, bucket=60)
    return {
        "scenario": "kill", "odoo": odoo.version_label, "database": dbname,
        "queued": queued, "states": states, "elapsed_s": round(elapsed, 1),
        "faults": events, "check": check["counts"], "attempts": check["attempts"],
        "resent_sample": [list(k) for k in check["resent_keys"][:5]],
        "sent_by_process": {f"{name} pid {pid}": n for (name, pid), n in
                            sorted(by_process["sent"].items())},
        "requests_per_minute": timeline, "errors": error_lines(logs),
        "load_average": [load_before, load_average()],
    }


# --------------------------------------------------------------------------------------------
# The checkout load client
# --------------------------------------------------------------------------------------------

ADDRESS = {"name": "Soak Shopper", "phone": "+32 2 555 12 12", "street": "Rue Neuve 1",
           "city": "Bruxelles", "zip": "1000"}


class CheckoutError(Exception):
    """A shopper's journey broke (an unexpected answer); carries the step."""


class Shopper:
    """One guest shopper of a journey: product page, add to cart, checkout, address, payment
    with the demo provider, confirmation; each request timed (``on_request``)."""

    def __init__(self, base: str, info: dict, version: int, index: int, on_request) -> None:
        import requests

        self.base = base
        self.info = info
        self.version = version
        self.index = index
        self.on_request = on_request
        self.session = requests.Session()
        self.session.headers["User-Agent"] = UA

    def _timed(self, step: str, method: str, path: str, **kwargs):
        kwargs.setdefault("timeout", 60)
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, **kwargs)
        except Exception as error:
            self.on_request(step, (time.perf_counter() - started) * 1000.0, 0)
            raise CheckoutError(f"{step}: {type(error).__name__}: {error}") from None
        self.on_request(step, (time.perf_counter() - started) * 1000.0, response.status_code)
        if response.status_code >= 400:
            raise CheckoutError(f"{step}: HTTP {response.status_code} on {path}")
        return response

    def _rpc(self, step: str, path: str, params: dict) -> Any:
        response = self._timed(step, "POST", path, json={
            "jsonrpc": "2.0", "method": "call", "id": 1, "params": params},
            headers={"Origin": self.base, "Referer": self.base + self.info["url"]})
        body = response.json()
        if "error" in body:
            message = body["error"].get("data", {}).get("message") or body["error"]
            raise CheckoutError(f"{step}: {message}")
        return body.get("result")

    def journey(self) -> int | None:
        """One order; returns its id once confirmed (None: not confirmed)."""
        from lxml import html

        self._timed("product page", "GET", self.info["url"])
        if self.version >= 19:
            self._rpc("add to cart", "/shop/cart/add", {
                "product_template_id": self.info["template"],
                "product_id": self.info["variant"], "quantity": 1})
        else:
            self._rpc("add to cart", "/shop/cart/update_json", {
                "product_id": self.info["variant"], "add_qty": 1})
        page = self._timed("checkout", "GET", "/shop/checkout")  # a guest: the address form
        if "/shop/address" not in page.url:
            raise CheckoutError(f"checkout led to {page.url}, not the address form")
        doc = html.fromstring(page.content)
        # 17/18: form.checkout_autoformat, 19: form.address_autoformat (name address_form)
        forms = doc.xpath("//form[contains(@class, 'checkout_autoformat') or "
                          "contains(@class, 'address_autoformat') or @name='address_form']")
        if not forms:
            raise CheckoutError("no address form on /shop/address")
        form = forms[0]
        data = {}
        for field in form.xpath(".//input[@name]|.//select[@name]|.//textarea[@name]"):
            if field.tag == "input" and field.get("type") in ("checkbox", "radio") \
                    and field.get("checked") is None:
                continue
            data[field.get("name")] = field.get("value") or ""
        data.update(ADDRESS, email=f"shopper{self.index}@example.com",
                    country_id=str(self.info["country"]))
        if self.version >= 18:
            answer = self._timed("address", "POST", "/shop/address/submit", data=data)
            target = answer.json().get("redirectUrl")
            if not target:
                raise CheckoutError(f"address refused: {answer.text[:300]}")
            page = self._timed("address next", "GET", target)
        else:
            data.setdefault("submitted", "1")
            data.setdefault("partner_id", "-1")
            page = self._timed("address", "POST", "/shop/address", data=data)
        if "/shop/payment" not in page.url:
            page = self._timed("payment page", "GET", "/shop/payment")
        doc = html.fromstring(page.content)
        forms = doc.xpath("//form[@id='o_payment_form']")
        if not forms:
            raise CheckoutError(f"no payment form on {page.url}")
        form = forms[0]
        options = form.xpath(".//input[@data-provider-code='demo']")
        if not options:
            raise CheckoutError("the demo payment provider is not offered")
        option = options[0]
        params = {
            "provider_id": int(option.get("data-provider-id")),
            "payment_method_id": int(option.get("data-payment-option-id")),
            "token_id": None, "amount": float(form.get("data-amount")),
            "flow": "direct", "tokenization_requested": False,
            "landing_route": form.get("data-landing-route"), "is_validation": False,
            "access_token": form.get("data-access-token"),
        }
        route = form.get("data-transaction-route")
        order_id = int(route.rstrip("/").rsplit("/", 1)[-1])
        processing = self._rpc("payment transaction", route, params)
        self._rpc("pay (demo)", "/payment/demo/simulate_payment", {
            "reference": processing["reference"], "payment_details": "4242",
            "simulated_state": "done"})
        self._timed("payment status", "GET", "/payment/status")
        status = self._rpc("payment status poll", "/payment/status/poll", {})
        page = self._timed("confirmation", "GET", (status or {}).get("landing_route")
                           or params["landing_route"])
        if "/shop/confirmation" not in page.url:
            raise CheckoutError(f"the payment led to {page.url}, not the confirmation")
        return order_id


class LoadClient:
    """Starts a new shopper journey ``rate`` times a second (open loop), run by at most
    ``threads`` shoppers at once; a start with every shopper busy is counted as missed. Every
    request is recorded with the phase ``phase_of`` gives at its start."""

    def __init__(self, base: str, info: dict, version: int, rate: float, threads: int,
                 phase_of) -> None:
        self.base, self.info, self.version = base, info, version
        self.rate, self.threads, self.phase_of = rate, threads, phase_of
        self.samples: list[tuple[str, str, float, int]] = []
        self.orders: list[tuple[str, int | None, str | None, float]] = []
        self.missed: Counter = Counter()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.tokens: list[float] = []
        self.cond = threading.Condition()
        self.busy = 0
        self.counter = 0

    def _record(self, phase: str):
        def on_request(step: str, ms: float, status: int) -> None:
            with self.lock:
                self.samples.append((phase, step, ms, status))
        return on_request

    def _worker(self) -> None:
        while True:
            with self.cond:
                while not self.tokens and not self.stop_event.is_set():
                    self.cond.wait(0.5)
                if not self.tokens:
                    return
                started = self.tokens.pop(0)
                self.busy += 1
                self.counter += 1
                index = self.counter
            phase = self.phase_of(started)
            shopper = Shopper(self.base, self.info, self.version, index, self._record(phase))
            error = order_id = None
            try:
                order_id = shopper.journey()
            except CheckoutError as exc:
                error = str(exc)
            finally:
                shopper.session.close()
                with self.cond:
                    self.busy -= 1
            with self.lock:
                self.orders.append((phase, order_id, error, time.monotonic() - started))

    def run(self, seconds: float) -> None:
        workers = [threading.Thread(target=self._worker, daemon=True)
                   for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        start = time.monotonic()
        issued = 0
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now - start >= seconds:
                    break
                due = int((now - start) * self.rate) + 1
                with self.cond:
                    while issued < due:
                        issued += 1
                        if self.busy + len(self.tokens) >= self.threads:
                            self.missed[self.phase_of(now)] += 1
                        else:
                            self.tokens.append(now)
                    self.cond.notify_all()
                time.sleep(min(0.05, max(0.001, (issued / self.rate) - (now - start))))
        finally:
            self.stop_event.set()
            with self.cond:
                self.cond.notify_all()
            for worker in workers:
                worker.join(timeout=180)


def latency_summary(samples, orders, missed, phases: dict[str, float]) -> dict[str, dict]:
    """Per phase (name -> seconds long): request latency, and the orders started in it."""
    out = {}
    for phase, seconds in phases.items():
        values = sorted(ms for p, _s, ms, status in samples if p == phase and status)
        done = [o for o in orders if o[0] == phase]
        if not values:
            continue
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        out[phase] = {"n": len(values), "median_ms": round(statistics.median(values), 1),
                      "p99_ms": round(p99, 1), "orders": len(done),
                      "orders_confirmed": sum(1 for o in done if o[1]),
                      "orders_failed": sum(1 for o in done if not o[1]),
                      "orders_per_s": round(sum(1 for o in done if o[1]) / seconds, 2),
                      "starts_missed": missed.get(phase, 0)}
        steps = defaultdict(list)
        for p, step, ms, status in samples:
            if p == phase and status:
                steps[step].append(ms)
        out[phase]["by_step_median_ms"] = {s: round(statistics.median(v), 1)
                                           for s, v in sorted(steps.items())}
    return out


# --------------------------------------------------------------------------------------------
# Scenario: outage under load
# --------------------------------------------------------------------------------------------


def outage_schedule(healthy: float, outage: float) -> list[dict]:
    """Healthy, then a quarter each of 5xx, timeouts, 429 + Retry-After and throttling codes
    (Meta 17, TikTok 40100), then healthy again (from the end of the list on)."""
    quarter = outage / 4.0
    steps = [
        {"duration": healthy, "label": "healthy"},
        {"duration": quarter, "label": "5xx", "faults": {
            "meta": ["http_503", {}], "tiktok": ["http_500", {}]}},
        # held past the sender's timeout (10 s by default), then closed unanswered
        {"duration": quarter, "label": "timeouts", "fault": "hang", "params": {"seconds": 30}},
        {"duration": quarter, "label": "429", "fault": "rate_limit",
         "params": {"retry_after": 30}},
        {"duration": quarter, "label": "throttled", "faults": {
            "meta": ["meta_error", {"code": 17, "subcode": 2446079, "is_transient": True,
                                    "status": 400,
                                    "message": "(#17) User request limit reached"}],
            "tiktok": ["tiktok_code", {"code": 40100,
                                       "message": "Too many requests. Please retry in some "
                                                  "time."}]}},
    ]
    phases, at = [], 0.0
    for step in steps:
        end = at + step["duration"]
        if "faults" in step:
            for platform, (fault, params) in step["faults"].items():
                phases.append({"start": at, "end": end, "fault": fault,
                               "platforms": [platform], "params": params,
                               "label": step["label"]})
        else:
            phases.append({"start": at, "end": end, "fault": step.get("fault"),
                           "platforms": ["meta", "tiktok"], "params": step.get("params", {}),
                           "label": step["label"]})
        at = end
    return phases


def process_tree_cpu(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    import psutil

    total = 0.0
    with contextlib.suppress(psutil.Error):
        parent = psutil.Process(proc.pid)
        for process in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def scenario_outage(ctx: dict) -> dict:
    args, odoo, pg, procs, fake = ctx["args"], ctx["odoo"], ctx["pg"], ctx["procs"], ctx["fake"]
    log_dir: Path = ctx["log_dir"] / "outage"
    log_dir.mkdir(parents=True, exist_ok=True)
    dbname = f"soak{odoo.major}_outage"
    fake.call("reset")
    info = setup_database(odoo, pg, args, dbname, fake.base_url, ctx["log_dir"],
                          "website_sale,conversions_api,payment_demo")
    info["url"] = info["service_url"]
    info["template"], info["variant"] = info["service_template"], info["service_variant"]
    website = info["websites"][0]
    services = [s for s in info["services"] if s["website_id"] == website]
    before_id = pg.query(dbname, "SELECT coalesce(max(id), 0) FROM sale_order")[0][0]
    healthy, outage = args.healthy_minutes * 60, args.minutes * 60
    after = args.after_minutes * 60
    phases = outage_schedule(healthy, outage)
    fake.call("set_schedule", schedule=json.dumps(phases))
    port = free_port_pair()
    server = start_server(procs, odoo, dbname, "server", port, log_dir,
                          workers=args.http_workers, cron=2)
    wait_http(port, server)
    base = f"http://127.0.0.1:{port}"
    # warm up: every page once, so that the first measured requests are not compiling assets
    warm = LoadClient(base, info, odoo.major, 1.0, 1, lambda t: "warmup")
    warm.run(3)
    if not any(o[1] for o in warm.orders):
        errors = [o[2] for o in warm.orders]
        raise SoakError(f"the warm-up order did not go through: {errors}")
    load_before = load_average()
    fake.call("start_schedule")
    fake_start = fake.call("clock")["clock"]
    t0 = time.monotonic()

    def phase_of(t: float) -> str:
        elapsed = t - t0
        if elapsed < healthy:
            return "healthy"
        if elapsed < healthy + outage:
            return "outage"
        return "healthy after"

    client = LoadClient(base, info, odoo.major, args.orders_per_second, args.shoppers,
                        phase_of)
    log(f"load: {args.orders_per_second} orders/s, {args.shoppers} shoppers at most: "
        f"{args.healthy_minutes} min healthy, {args.minutes} min of outage, "
        f"{args.after_minutes} min healthy again")
    loads = []
    cpu = {}

    def watch():
        """Load average every 30 s; the server's CPU at the phase boundaries."""
        marks = [("start", 0.0), ("outage", healthy), ("recovery", healthy + outage),
                 ("end", healthy + outage + after)]
        while not client.stop_event.is_set():
            elapsed = time.monotonic() - t0
            for name, at in marks:
                if name not in cpu and elapsed >= at:
                    cpu[name] = process_tree_cpu(server)
            if int(elapsed) % 30 == 0:
                loads.append(round(os.getloadavg()[0], 2))
            client.stop_event.wait(1.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    recovery_wall = None

    def note_recovery():
        nonlocal recovery_wall
        recovery_wall = datetime.now(timezone.utc).replace(tzinfo=None)

    timer = threading.Timer(healthy + outage, note_recovery)
    timer.daemon = True
    timer.start()
    try:
        client.run(healthy + outage + after)
    finally:
        timer.cancel()
    cpu.setdefault("end", process_tree_cpu(server))
    load_during = load_average()
    log(f"load over; {len(client.orders)} journeys; waiting for the outbox to empty")

    def drained():
        states = outbox_states(pg, dbname)
        return (not inbox_count(pg, dbname)
                and not states.get("queued", 0) and not states.get("retrying", 0)) and states

    try:
        states = wait_for(drained, args.deadline_minutes * 60, 1.0, "the outbox to empty")
    except SoakError as error:
        states = {"timeout": str(error), **outbox_states(pg, dbname)}
    procs.stop(server)
    # the backlog of the outage: rows queued before the recovery, the last one sent when
    recovered_after = None
    if recovery_wall is not None:
        last = pg.query(dbname, "SELECT max(sent_date), count(*) FILTER (WHERE state <> 'sent') "
                                "FROM conversions_api_event WHERE create_date < %s",
                        [recovery_wall])[0]
        if last[0] is not None and not last[1]:
            recovered_after = max(0.0, (last[0] - recovery_wall).total_seconds())
    check = reconcile(pg, dbname, fake, info["services"])
    orders = pg.query(dbname, "SELECT id, state FROM sale_order WHERE id > %s AND website_id "
                              "IS NOT NULL", [before_id])
    confirmed = [oid for oid, state in orders if state == "sale"]
    counts = fake.counts()
    purchase_counts = Counter()
    for oid in confirmed:
        for service in services:
            key = (service["platform"], service["pixel"], "Purchase", f"purchase-{oid}")
            purchase_counts[counts.get(key, 0)] += 1
    timeline = fake.call("timeline", start=fake_start, bucket=60)
    for row in timeline:
        row["phase"] = phase_of(t0 + row["from_s"] + 30)
    journeys = client.orders
    per_phase = {"healthy": healthy, "outage": outage, "healthy after": after}
    latency = latency_summary(client.samples, journeys, client.missed, per_phase)
    cpu_per_order = {}
    for phase, (a, b) in {"healthy": ("start", "outage"), "outage": ("outage", "recovery"),
                          "healthy after": ("recovery", "end")}.items():
        done = latency.get(phase, {}).get("orders_confirmed")
        if a in cpu and b in cpu and done:
            cpu_per_order[phase] = round((cpu[b] - cpu[a]) / done, 3)
    outage_minutes = [r for r in timeline if r["phase"] == "outage"]
    logs = [log_dir / "server.log"]
    return {
        "scenario": "outage", "odoo": odoo.version_label, "database": dbname,
        "schedule": phases, "orders_per_second_target": args.orders_per_second,
        "shoppers": args.shoppers, "http_workers": args.http_workers,
        "orders": {"placed": len(journeys),
                   "confirmed_by_client": sum(1 for o in journeys if o[1]),
                   "confirmed": len(confirmed), "in_database": len(orders),
                   "errors": Counter(o[2] for o in journeys if o[2]).most_common(10),
                   "starts_missed": dict(client.missed)},
        "latency": latency, "server_cpu_s_per_order": cpu_per_order,
        "states": states, "check": check["counts"], "attempts": check["attempts"],
        "purchase_counts_per_order_and_service": dict(purchase_counts),
        "purchase_once": set(purchase_counts) == {1},
        "recovered_after_s": round(recovered_after, 1) if recovered_after is not None else None,
        "requests_per_minute": timeline,
        "outage_requests_per_minute": [sum(r["requests"].values()) for r in outage_minutes],
        "early_retries": fake.call("early"),
        "errors": error_lines(logs), "load_average": [load_before, load_during,
                                                      load_average()],
        "load_samples": loads,
    }


# --------------------------------------------------------------------------------------------
# Scenario: drain throughput
# --------------------------------------------------------------------------------------------

BENCH_QUEUE_SCRIPT = r'''
import json
import time
env = env  # noqa: F821 (odoo shell)
N = __N__
SERVICES = __SERVICES__
Event = env['conversions.api.event']
Service = env['conversions.api.service']
env.cr.execute('DELETE FROM conversions_api_event')
env.cr.execute('DELETE FROM conversions_api_inbox')
infos = [i for i in Service._storefront_services(__WEBSITE__) if i.id in SERVICES]
now = int(time.time())
stamp = int(time.time() * 1000)
items = []
for index in range(N // len(infos)):
    items.append(('ViewContent', {
        'website_id': __WEBSITE__, 'event_id': 'bench-%s-%s' % (stamp, index),
        'event_time': now, 'event_source_url': 'https://shop.example.com/shop/p/%s' % index,
        'custom_data': {'value': 10.0, 'currency': 'EUR', 'content_ids': [str(index % 97)]},
        'request_context': {'client_ip_address': '198.51.100.7',
                            'client_user_agent': __UA__,
                            'event_source_url': 'https://shop.example.com/shop/p/%s' % index},
    }, infos))
entries = Event._storefront_rows(items)
Event._insert_entries(entries)
env.cr.commit()
committed = time.time()
if __TRIGGER__:  # wake the cron workers, as queueing in a shop request does
    env.ref('conversions_api.ir_cron_conversions_api_flush')._trigger()
    env.cr.commit()
print('SOAK_BENCH_QUEUED ' + json.dumps({'rows': len(entries), 'committed': committed}))
'''

BENCH_DRAIN_SCRIPT = r'''
import json
import os
import time
env = env  # noqa: F821 (odoo shell)
GO = __GO__
Event = env['conversions.api.event']
env.cr.execute('SELECT 1')  # connected, registry loaded
env.cr.commit()
print('SOAK_READY', flush=True)
deadline = time.time() + 600
while not os.path.exists(GO) and time.time() < deadline:
    time.sleep(0.002)
started = time.time()
Event._cron_flush()
env.cr.commit()
ended = time.time()
print('SOAK_BENCH ' + json.dumps({'start': started, 'end': ended}), flush=True)
'''


def scenario_drain(ctx: dict) -> dict:
    args, odoo, pg, procs, fake = ctx["args"], ctx["odoo"], ctx["pg"], ctx["procs"], ctx["fake"]
    log_dir: Path = ctx["log_dir"] / "drain"
    log_dir.mkdir(parents=True, exist_ok=True)
    dbname = f"soak{odoo.major}_drain"
    fake.call("reset")
    info = setup_database(odoo, pg, args, dbname, fake.base_url, ctx["log_dir"],
                          "website_sale,conversions_api")
    website = info["websites"][0]
    services = [s["id"] for s in info["services"] if s["website_id"] == website]
    load_before = load_average()
    results: dict[int, list[dict]] = defaultdict(list)
    plan = [n for _ in range(args.rounds) for n in args.drainer_counts]
    random.Random(7).shuffle(plan)

    def queue(rows: int, trigger: bool) -> dict:
        script = (BENCH_QUEUE_SCRIPT.replace("__N__", str(rows))
                  .replace("__SERVICES__", repr(services)).replace("__WEBSITE__", str(website))
                  .replace("__UA__", repr(UA)).replace("__TRIGGER__", repr(trigger)))
        return shell_result(odoo.shell(dbname, script, 600, log_dir / "queue.log"),
                            "SOAK_BENCH_QUEUED")

    for round_index, count in enumerate(plan):
        queued = queue(args.bench_events, False)
        pg.query(dbname, "VACUUM ANALYZE conversions_api_event")
        before = fake.call("stats")["events"]
        go = log_dir / f"go{round_index}"
        go.unlink(missing_ok=True)
        runners = []
        for index in range(count):
            cmd = odoo.cmd("shell") + ["-d", dbname, "--no-http", "--log-level", "warn"]
            proc = procs.start(f"bench{index}", cmd, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE,
                               stderr=open(log_dir / "bench.log", "ab"),  # noqa: SIM115
                               env=odoo.env())
            proc.stdin.write(BENCH_DRAIN_SCRIPT.replace("__GO__", repr(str(go))).encode())
            proc.stdin.close()
            runners.append(proc)
        for proc in runners:
            line = proc.stdout.readline().decode()
            if not line.startswith("SOAK_READY"):
                raise SoakError(f"a bench drainer did not start, see {log_dir / 'bench.log'}")
        go.touch()
        spans = []
        for proc in runners:
            output = proc.stdout.read().decode(errors="replace")
            proc.wait(timeout=600)
            spans.append(shell_result(output, "SOAK_BENCH"))
            procs.stop(proc)
        start = min(s["start"] for s in spans)
        end = max(s["end"] for s in spans)
        states = outbox_states(pg, dbname)
        after = fake.call("stats")["events"]
        received = sum(after.values()) - sum(before.values())
        seconds = end - start
        results[count].append({"seconds": seconds, "rows": queued["rows"],
                               "received": received, "states": states})
        log(f"round {round_index + 1}/{len(plan)}: {count} drainer(s), {queued['rows']} rows "
            f"in {seconds:.2f} s ({queued['rows'] / seconds:.0f} events/s), states {states}")
    summary = {}
    for count, runs in sorted(results.items()):
        seconds = [r["seconds"] for r in runs]
        rows = runs[0]["rows"]
        summary[count] = {
            "runs": len(runs), "median_s": round(statistics.median(seconds), 2),
            "min_s": round(min(seconds), 2), "max_s": round(max(seconds), 2),
            "events_per_s": round(rows / statistics.median(seconds)),
            "all_sent": all(r["states"] == {"sent": r["rows"]} for r in runs),
            "all_received": all(r["received"] == r["rows"] for r in runs),
        }
    single = summary.get(1, {}).get("median_s")
    for row in summary.values():
        row["speedup_vs_1"] = round(single / row["median_s"], 2) if single else None
    cron_runs = drain_by_ir_cron(ctx, dbname, queue, log_dir) if args.cron_rounds else []
    cron = {}
    if cron_runs:
        jobs = [r["job_s"] for r in cron_runs if r["job_s"] is not None]
        walls = [r["seconds_to_all_sent"] for r in cron_runs]
        cron = {"runs": len(cron_runs), "median_s_to_all_sent": round(statistics.median(walls), 2),
                "median_job_s": round(statistics.median(jobs), 2) if jobs else None,
                "events_per_s": round(args.bench_events / statistics.median(walls)),
                "all_sent": all(r["all_sent"] for r in cron_runs), "runs_detail": cron_runs}
    return {"scenario": "drain", "odoo": odoo.version_label, "database": dbname,
            "events": args.bench_events, "services": len(services), "summary": summary,
            "ir_cron": cron, "load_average": [load_before, load_average()]}


# "Job done: `name` (1.2s)." (17), "Job 'name' (23) done in 1.2s" (18),
# "Job 'name' (23) fully done (#loop 1; done 0; remaining 0; duration 1.2s)" (19)
FLUSH_JOB_LINE = re.compile(
    r"Job(?: done: `Conversion APIs: send queued events` \(([\d.]+)s\)"
    r"| 'Conversion APIs: send queued events' \(\d+\) (?:done in ([\d.]+)s"
    r"|fully done \(.*duration ([\d.]+)s\)))")


def drain_by_ir_cron(ctx: dict, dbname: str, queue, log_dir: Path) -> list[dict]:
    """The same rows delivered by Odoo's own ir.cron: a cron-only server (one cron thread, as
    prefork's cron worker), woken by the trigger queueing writes; the time from the commit of
    the rows to the last one sent, and the job's duration from the cron's log."""
    args, odoo, pg, procs = ctx["args"], ctx["odoo"], ctx["pg"], ctx["procs"]
    cron_log = log_dir / "cron.log"
    cron = procs.start("cron", odoo.cmd() + [
        "-d", dbname, "--db-filter", f"^{dbname}$", "--no-http", "--workers", "0",
        "--max-cron-threads", "1", "--log-level", "info"], log_path=cron_log, env=odoo.env())
    runs = []
    try:
        for index in range(args.cron_rounds + 1):  # the first round warms the process up
            offset = cron_log.stat().st_size if cron_log.exists() else 0
            queued = queue(args.bench_events, True)

            def all_sent(rows=queued["rows"]):
                if cron.poll() is not None:
                    raise SoakError(f"the cron server exited, see {cron_log}")
                return outbox_states(pg, dbname) == {"sent": rows}

            wait_for(all_sent, 600, 0.05, "the cron to send the rows")
            ended = time.time()
            text = cron_log.read_text(errors="replace")[offset:]
            jobs = [float(next(g for g in m.groups() if g))
                    for m in FLUSH_JOB_LINE.finditer(text)]
            if index == 0:
                continue
            run = {"seconds_to_all_sent": round(ended - queued["committed"], 2),
                   "job_s": max(jobs) if jobs else None, "jobs_logged": len(jobs),
                   "all_sent": True}
            runs.append(run)
            log(f"ir.cron round {index}/{args.cron_rounds}: {queued['rows']} rows sent "
                f"{run['seconds_to_all_sent']} s after their commit (job {run['job_s']} s)")
    finally:
        procs.stop(cron)
    return runs


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def print_report(results: list[dict], args: argparse.Namespace, odoo: OdooTree,
                 addon_label: str) -> None:
    print()
    print(f"Odoo {odoo.version_label} ({odoo.source}), addon {addon_label}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"command: {' '.join(sys.argv)}")
    for result in results:
        name = result["scenario"]
        print()
        if name in ("drainers", "kill"):
            check = result["check"]
            print(f"== {name}: load average {result['load_average'][0]} -> "
                  f"{result['load_average'][1]}, {result['elapsed_s']} s")
            header = ("rows queued", "delivered", "duplicates (re-sent)", "lost", "failed",
                      "pending", "sent, never received", "received, no row")
            values = (result["queued"]["rows"], check.get("delivered", 0),
                      check.get("duplicates", 0), result["queued"]["rows"]
                      - check.get("delivered", 0), check.get("failed", 0),
                      check.get("pending", 0), check.get("sent but never received", 0),
                      check.get("received, no outbox row", 0))
            print(" | ".join(header))
            print(" | ".join(str(v) for v in values))
            print(f"rows sent per process: {result['sent_by_process']}")
            if name == "kill":
                print(f"faults: {json.dumps(result['faults'])}")
            minutes = [sum(row["requests"].values()) for row in result["requests_per_minute"]]
            print(f"requests to the fake per minute: {minutes}")
            if result["errors"]:
                print(f"ERROR lines in the Odoo logs ({len(result['errors'])}):")
                for line in result["errors"][:10]:
                    print("   ", line)
        elif name == "drain":
            print(f"== drain: {result['events']} rows over {result['services']} services, "
                  f"1,000-event batches; load average {result['load_average'][0]} -> "
                  f"{result['load_average'][1]}")
            print("drainers | runs | median s | min-max s | events/s | vs 1 drainer | all sent")
            for count, row in result["summary"].items():
                print(f"{count} | {row['runs']} | {row['median_s']} | {row['min_s']}-"
                      f"{row['max_s']} | {row['events_per_s']} | {row['speedup_vs_1']}x | "
                      f"{row['all_sent'] and row['all_received']}")
            cron = result.get("ir_cron")
            if cron:
                print(f"ir.cron (cron-only server, woken by the queue's trigger): "
                      f"{cron['runs']} runs, median {cron['median_s_to_all_sent']} s from the "
                      f"commit to the last row sent ({cron['events_per_s']} events/s), median "
                      f"job {cron['median_job_s']} s, all sent {cron['all_sent']}")
        elif name == "outage":
            print_outage(result)


def print_outage(result: dict) -> None:
    check = result["check"]
    print(f"== outage: load average {result['load_average'][0]} -> "
          f"{result['load_average'][1]}")
    print(" | ".join(("orders", "confirmed", "rows", "delivered", "duplicates", "lost",
                      "failed", "Purchase once per order", "backlog sent s after recovery")))
    print(" | ".join(str(v) for v in (
        result["orders"]["placed"], result["orders"]["confirmed"], check.get("rows", 0),
        check.get("delivered", 0), check.get("duplicates", 0),
        check.get("rows", 0) - check.get("delivered", 0), check.get("failed", 0),
        result["purchase_once"], result["recovered_after_s"])))
    print(f"requests to the fake per minute during the outage: "
          f"{result['outage_requests_per_minute']}; server CPU s per order: "
          f"{result['server_cpu_s_per_order']}")
    print("phase | requests | median ms | p99 ms | orders started | confirmed | orders/s "
          "| starts missed (all shoppers busy)")
    for phase, row in result["latency"].items():
        print(f"{phase} | {row['n']} | {row['median_ms']} | {row['p99_ms']} | "
              f"{row['orders']} | {row['orders_confirmed']} | {row['orders_per_s']} | "
              f"{row['starts_missed']}")
    for phase, row in result["latency"].items():
        print(f"{phase} medians by step: {row['by_step_median_ms']}")
    if result["orders"]["errors"]:
        print(f"journey errors: {result['orders']['errors']}")
    print("minute | phase | requests meta/tiktok | accepted | events | early retries")
    for row in result["requests_per_minute"]:
        req = row["requests"]
        print(f"{row['bucket']} | {row.get('phase', '')} | {req.get('meta', 0)}/"
              f"{req.get('tiktok', 0)} | {sum(row.get('accepted', {}).values())} | "
              f"{sum(row['events'].values())} | {sum(row['early'].values())}")


# --------------------------------------------------------------------------------------------


SCENARIOS = {"drainers": scenario_drainers, "kill": scenario_kill, "outage": scenario_outage,
             "drain": scenario_drain}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", default=os.environ.get("ODOO_TREE"), required=False)
    parser.add_argument("--python", help="the Odoo venv's Python (default <tree>/../venv<N>)")
    parser.add_argument("--scenario", default="all",
                        choices=["drainers", "kill", "outage", "drain", "all"])
    parser.add_argument("--minutes", type=float, default=10.0, help="outage length")
    parser.add_argument("--healthy-minutes", type=float, default=5.0,
                        help="load with the API healthy, before the outage")
    parser.add_argument("--after-minutes", type=float, default=5.0,
                        help="outage: load with the API healthy again, after the recovery")
    parser.add_argument("--orders-per-second", type=float, default=5.0)
    parser.add_argument("--shoppers", type=int, default=12, help="load client threads")
    parser.add_argument("--http-workers", type=int, default=4,
                        help="outage: the storefront server's HTTP workers")
    parser.add_argument("--events", type=int, default=20000, help="drainers: events queued")
    parser.add_argument("--servers", type=int, default=4, help="drainers: Odoo servers")
    parser.add_argument("--direct-drainers", type=int, default=4,
                        help="drainers: processes running the flush cron's method")
    parser.add_argument("--kill-events", type=int, default=8000, help="kill: rows queued")
    parser.add_argument("--send-seconds", type=float, default=3.0,
                        help="kill: the fake answers each request after this long")
    parser.add_argument("--hold-seconds", type=float, default=5.0,
                        help="kill: how long the armed COMMIT is held")
    parser.add_argument("--bench-events", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cron-rounds", type=int, default=3,
                        help="drain: also this many runs of Odoo's own ir.cron (0: none)")
    parser.add_argument("--drainer-counts", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4])
    parser.add_argument("--deadline-minutes", type=float, default=20.0,
                        help="upper bound on each wait of a scenario")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-port", default="5432")
    parser.add_argument("--db-user", default="odoo")
    parser.add_argument("--db-password", default="odoo")
    parser.add_argument("--recreate", action="store_true", help="drop the databases first")
    parser.add_argument("--addon-commit", metavar="REV",
                        help="run the addon as committed at REV (git archive), not the working "
                             "tree's odoo_addon (which others may be editing)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--log-dir", help="default: a new directory under $TMPDIR/convapi-soak")
    args = parser.parse_args(argv)
    if not args.tree:
        parser.error("--tree (or ODOO_TREE) is required")
    if args.db_host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("everything runs on 127.0.0.1: --db-host must be a loopback address")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "--fake-child":
        return fake_child_main(int(argv[1]), argv[2])
    args = parse_args(argv)
    db = {"host": args.db_host, "port": str(args.db_port), "user": args.db_user,
          "password": args.db_password}
    odoo = OdooTree(args.tree, args.python, db)
    addon_label = "working tree"
    if args.addon_commit:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short",
                                 args.addon_commit], capture_output=True, text=True,
                                check=True).stdout.strip()
        target = WORK / f"addon-{commit}"
        if not (target / "odoo_addon").exists():
            target.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "odoo_addon"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        odoo.addon_dir = target / "odoo_addon"
        addon_label = f"commit {commit}"
    WORK.mkdir(parents=True, exist_ok=True)
    log_dir = (Path(args.log_dir) if args.log_dir
               else Path(tempfile.mkdtemp(prefix=f"odoo{odoo.major}-", dir=WORK)))
    if log_dir.exists() and any(log_dir.iterdir()):
        # the logs are read back (rows sent per process, ERROR lines): never mix two runs
        log_dir = log_dir / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    log(f"Odoo {odoo.version_label} from {odoo.root}, addon: {addon_label}, logs in {log_dir}")
    names = ["drainers", "kill", "outage"] if args.scenario == "all" else [args.scenario]
    if set(names) & {"drainers", "kill", "outage"}:
        missing = missing_modules(odoo.python)
        if missing:
            raise SoakError(f"{odoo.python} lacks {', '.join(missing)}, which prefork servers "
                            f"need: {odoo.python} -m pip install gevent==22.10.2 "
                            "'zope.interface<7' 'zope.event<5' setproctitle")
    procs = Processes()
    pg = Pg(args)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    results = []
    status = 0
    try:
        fake = FakeApi(procs, log_dir)
        ctx = {"args": args, "odoo": odoo, "pg": pg, "procs": procs, "fake": fake,
               "log_dir": log_dir}
        for name in names:
            log(f"scenario {name}")
            try:
                results.append(SCENARIOS[name](ctx))
            except SoakError as error:
                log(f"scenario {name} could not complete: {error}")
                results.append({"scenario": name, "error": str(error)})
                status = 1
            finally:
                for label, proc in list(procs.running):
                    if proc is not fake.proc:
                        log(f"stopping {label}")
                        procs.stop(proc)
        with contextlib.suppress(Exception):
            fake.call("quit")
    except KeyboardInterrupt:
        log("interrupted: stopping everything this run started")
        status = 130
    finally:
        procs.stop_all()
        pg.close()
        signal.signal(signal.SIGTERM, previous)
    printable = [r for r in results if "error" not in r]
    print_report(printable, args, odoo, addon_label)
    for result in results:
        if "error" in result:
            print(f"\n== {result['scenario']}: NOT COMPLETED: {result['error']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"odoo": odoo.version_label, "argv": sys.argv,
                                               "addon": addon_label, "results": results},
                                              indent=2, default=str))
    return status


if __name__ == "__main__":
    if not shutil.which("cksum"):
        sys.exit("cksum is needed")
    sys.exit(main(sys.argv[1:]))
