#!/usr/bin/env python3
"""The addon's public endpoints under abuse, on a real Odoo server: floods of
``POST /convapi/pixel/pending`` from one address, from one address with a new session each
time, from many addresses and sessions, and oversized or malformed bodies, while a normal
shopper browses and fetches its own pixel events.

    python3 scripts/abuse_endpoints.py --tree /work/odoo/odoo17 [--requests 10000]

Creates a database with the addon (``convapi_abuse_<major>``, dropped at the end unless
``--keep-db``), starts Odoo on 127.0.0.1 (one threaded process, or ``--workers N``; no cron;
behind a "proxy": ``--proxy-mode``, so each flood chooses its client address with
X-Forwarded-For), runs each scenario with ``--threads`` concurrent clients (one request per
connection), bounded by ``--requests`` and ``--scenario-timeout`` seconds, and stops the server.

Checked (exit status 1 when one fails): every flood answer is a 200 with no event or a 4xx with
its reason, never a 5xx or a dropped connection; no flood answer carries an event; the shopper's
pages are served during every flood and its own waiting AddToCart reaches it during the flood
from one address; nothing is stored for the floods (no inbox or outbox row, no session file).
Prints one table, Markdown, with the command, the Odoo version and the date.

Runs with any Python 3.10+ (stdlib only); Odoo runs with ``<tree>/../venv<major>`` (or
``--python``). Trees that ship enterprise modules run from the community-only view that
``scripts/run_odoo_tests.sh`` builds (run it once for the tree).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UA = ('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
      'Chrome/126.0 Safari/537.36')
PENDING = '/convapi/pixel/pending'
SHOPPER_IP = '192.0.2.10'

SETUP_SCRIPT = r'''
import json
env = env  # noqa: F821 (odoo shell)
website = env['website'].search([], limit=1)
website.cookies_bar = False
product = env['product.template'].create({
    'name': 'Abuse Test Chair', 'list_price': 100.0, 'sale_ok': True,
    'website_published': True, 'taxes_id': [(5, 0, 0)]})
params = env['ir.config_parameter'].sudo()
# nothing is delivered (no cron runs); an address that refuses at once if something tried
params.set_param('conversions_api.meta_base_url', 'http://127.0.0.1:9')
params.set_param('conversions_api.tiktok_base_url', 'http://127.0.0.1:9')
Service = env['conversions.api.service']
Service.search([]).write({'active': False})
for platform, pixel in (('meta', '1234567890'), ('tiktok', 'CABUSEPIXEL001')):
    Service.create({'name': 'abuse ' + platform, 'platform': platform, 'pixel_id': pixel,
                    'access_token': 'abuse-token', 'website_id': website.id})
env.cr.commit()
print('ABUSE_SETUP ' + json.dumps({'template': product.id,
                                    'variant': product.product_variant_id.id,
                                    'url': product.website_url}))
'''


def log(message: str) -> None:
    print(f'[abuse {time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Odoo
# --------------------------------------------------------------------------------------------


def enterprise_modules(tree: Path) -> bool:
    for addons in (tree / 'odoo' / 'addons', tree / 'addons'):
        for manifest in addons.glob('*/__manifest__.py') if addons.is_dir() else ():
            text = manifest.read_text(errors='replace')
            if re.search(r"['\"]license['\"]\s*:\s*['\"]OEEL", text):
                return True
    return False


class Odoo:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.source = Path(args.tree).resolve()
        release = (self.source / 'odoo' / 'release.py').read_text()
        match = re.search(r"^version_info\s*=\s*\(([^,]+),\s*(\d+)", release, re.M)
        if not match:
            raise SystemExit(f'cannot read the Odoo version of {self.source}')
        self.major = int(match.group(1).strip('\'"').replace('saas~', ''))
        self.launcher = 'odoo-bin' if (self.source / 'odoo-bin').exists() else 'setup/odoo'
        self.root = self.source
        if enterprise_modules(self.source):
            key = subprocess.run(['cksum'], input=str(self.source), capture_output=True,
                                 text=True, check=True).stdout.split()[0]
            cache = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache'))
            view = cache / 'convapi-odoo' / f'community-{self.major}-{key}'
            if not (view / '.stamp').exists():
                raise SystemExit(f'{self.source} ships enterprise modules: run '
                                 f'ODOO_TREE={self.source} bash scripts/run_odoo_tests.sh once')
            self.root = view
        venv = self.source.parent / f'venv{self.major}'
        self.python = args.python or str(venv / 'bin' / 'python')
        if not Path(self.python).exists():
            raise SystemExit(f'no Python at {self.python} (--python)')
        self.work = work
        self.data_dir = work / 'data'
        (work / 'odoo.conf').write_text('[options]\n')

    def cmd(self, *subcommand: str) -> list[str]:
        addons = [self.root / 'addons', self.root / 'odoo' / 'addons', REPO / 'odoo_addon']
        return [self.python, str(self.root / self.launcher), *subcommand,
                '-c', str(self.work / 'odoo.conf'),
                '--addons-path', ','.join(str(p) for p in addons if p.exists()),
                '--data-dir', str(self.data_dir),
                '--db_host', self.args.db_host, '--db_port', str(self.args.db_port),
                '--db_user', self.args.db_user, '--db_password', self.args.db_password]

    def env(self) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(self.root))

    def run(self, cmd: list[str], timeout: float, stdin: str | None = None) -> str:
        log_file = self.work / 'setup.log'
        with open(log_file, 'ab') as err:
            out = subprocess.run(cmd, input=stdin.encode() if stdin else None,
                                 stdout=subprocess.PIPE, stderr=err, env=self.env(),
                                 timeout=timeout, check=False)
        if out.returncode != 0:
            raise SystemExit(f'{" ".join(cmd[:3])} failed ({out.returncode}), see {log_file}')
        return out.stdout.decode(errors='replace')


def psql(args: argparse.Namespace, dbname: str, sql: str) -> str:
    env = dict(os.environ, PGPASSWORD=args.db_password)
    out = subprocess.run(['psql', '-h', args.db_host, '-p', str(args.db_port), '-U', args.db_user,
                          '-d', dbname, '-tAc', sql], capture_output=True, text=True, env=env,
                         timeout=60, check=True)
    return out.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def session_files(odoo: Odoo) -> int:
    root = odoo.data_dir / 'sessions'
    return sum(len(files) for _, _, files in os.walk(root)) if root.exists() else 0


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


class Answer:
    __slots__ = ('status', 'body', 'headers', 'ms', 'error')

    def __init__(self, status=0, body=b'', headers=None, ms=0.0, error=None):
        self.status, self.body, self.headers, self.ms, self.error = status, body, headers, ms, error

    def json(self):
        try:
            return json.loads(self.body or b'null')
        except ValueError:
            return None


def call(port: int, method: str, path: str, body=None, headers=None, timeout=30.0) -> Answer:
    """One request on its own connection (prefork serves one request per connection)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        chunked = body is not None and not isinstance(body, (bytes, str))
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, data, response.getheaders(),
                      (time.perf_counter() - start) * 1000)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(error=f'{type(exc).__name__}: {exc}', ms=(time.perf_counter() - start) * 1000)
    finally:
        conn.close()


class Shopper:
    """A browser: its cookies, its own address, its pages, cart and pixel events."""

    def __init__(self, port: int, info: dict, major: int) -> None:
        self.port, self.info, self.major = port, info, major
        self.cookies: dict[str, str] = {}
        self.origin = f'http://127.0.0.1:{port}'
        # one request at a time, as a browser tab: its pages would fire (and so drain) the
        # pixel events an AJAX call just left in the session
        self.lock = threading.Lock()
        self.tracked = 0  # requests that write an inbox row (pages, the add to cart)

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {'User-Agent': UA, 'X-Forwarded-For': SHOPPER_IP, **extra}
        if self.cookies:
            headers['Cookie'] = '; '.join(f'{k}={v}' for k, v in self.cookies.items())
        return headers

    def keep_cookies(self, answer: Answer) -> None:
        for name, value in answer.headers or ():
            if name.lower() == 'set-cookie':
                key, _, rest = value.partition('=')
                self.cookies[key.strip()] = rest.split(';', 1)[0]

    def get(self, path: str) -> Answer:
        answer = call(self.port, 'GET', path, headers=self.headers())
        self.keep_cookies(answer)
        self.tracked += 1
        return answer

    def add_to_cart(self) -> Answer:
        if self.major >= 19:
            path, params = '/shop/cart/add', {'product_template_id': self.info['template'],
                                              'product_id': self.info['variant'], 'quantity': 1}
        else:
            path, params = '/shop/cart/update_json', {'product_id': self.info['variant'],
                                                      'add_qty': 1}
        body = json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': params})
        answer = call(self.port, 'POST', path, body, self.headers(**{
            'Content-Type': 'application/json', 'Origin': self.origin,
            'Referer': self.origin + self.info['url']}))
        self.keep_cookies(answer)
        self.tracked += 1
        return answer

    def pending(self) -> Answer:
        return call(self.port, 'POST', PENDING, '{}', self.headers(**{
            'Content-Type': 'application/json', 'Origin': self.origin}))


# --------------------------------------------------------------------------------------------
# Floods
# --------------------------------------------------------------------------------------------


def flood_request(port: int, scenario: str, index: int) -> tuple[str, Answer]:
    origin = f'http://127.0.0.1:{port}'
    headers = {'User-Agent': UA, 'Origin': origin, 'Content-Type': 'application/json'}
    body: object = '{}'
    path = PENDING
    kind = 'empty object'
    if scenario == 'one address':
        headers['X-Forwarded-For'] = '198.51.100.7'
    elif scenario == 'one address, new session each':
        headers['X-Forwarded-For'] = '198.51.100.8'
        headers['Cookie'] = f'session_id={uuid.uuid4().hex}{uuid.uuid4().hex}'
    elif scenario == 'many addresses and sessions':
        headers['X-Forwarded-For'] = f'198.18.{index // 250 % 256}.{index % 250 + 1}'
        headers['Cookie'] = f'session_id={uuid.uuid4().hex}{uuid.uuid4().hex}'
    elif scenario == 'bad bodies, many addresses':
        headers['X-Forwarded-For'] = f'198.19.{index // 250 % 256}.{index % 250 + 1}'
        variants = (
            ('oversized (3 KB)', '{"pad": "' + 'x' * 3000 + '"}', None),
            # (bigger bodies are refused as well, but unread: the client's write then fails)
            ('oversized (64 KB)', 'x' * 65_536, None),
            ('malformed JSON', '{"events": [', None),
            ('not an object', '[{"name": "Purchase"}]', None),
            ('event names', '{"name": "Purchase", "event_id": "purchase-1"}', None),
            ('event name parameter', '{}', PENDING + '?event_name=Purchase'),
            ('form body', 'name=Purchase&event_id=1', 'form'),
            ('chunked', iter([b'{', b' ' * 100, b'}']), None),
        )
        kind, body, extra = variants[index % len(variants)]
        if extra == 'form':
            headers['Content-Type'] = 'application/x-www-form-urlencoded'
        elif extra:
            path = extra
    return kind, call(port, 'POST', path, body, headers)


class Flood:
    def __init__(self, port: int, scenario: str, count: int, threads: int, timeout: float):
        self.port, self.scenario, self.count = port, scenario, count
        self.threads, self.timeout = threads, timeout
        self.lock = threading.Lock()
        self.next = 0
        self.answers: list[tuple[str, Answer]] = []
        self.done = threading.Event()
        self.elapsed = 0.0

    def _worker(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with self.lock:
                index = self.next
                if index >= self.count:
                    return
                self.next += 1
            result = flood_request(self.port, self.scenario, index)
            with self.lock:
                self.answers.append(result)

    def run(self) -> None:
        start = time.monotonic()
        deadline = start + self.timeout
        workers = [threading.Thread(target=self._worker, args=(deadline,), daemon=True)
                   for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()) + 35)
        self.elapsed = time.monotonic() - start
        self.done.set()


def shopper_during(shopper: Shopper, flood: Flood, samples: list[Answer], pause: float) -> None:
    """The shopper browses its product page for as long as the flood lasts."""
    while not flood.done.wait(pause):
        with shopper.lock:
            samples.append(shopper.get(shopper.info['url']))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float('nan')
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def carries_events(answer: Answer) -> bool:
    body = answer.json()
    return isinstance(body, dict) and bool(body.get('events'))


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tree', required=True, help='an Odoo 17, 18 or 19 source tree')
    parser.add_argument('--python', help="Odoo's interpreter (default <tree>/../venv<major>)")
    parser.add_argument('--requests', type=int, default=10_000,
                        help='requests per flood (the bad-bodies flood sends a fifth)')
    parser.add_argument('--threads', type=int, default=16, help='concurrent flood clients')
    parser.add_argument('--workers', type=int, default=0,
                        help="Odoo's HTTP workers (default 0: one threaded process; prefork "
                             "needs a working gevent in Odoo's venv for its websocket worker)")
    parser.add_argument('--scenario-timeout', type=float, default=600.0,
                        help='seconds a flood may last at most')
    parser.add_argument('--keep-db', action='store_true')
    parser.add_argument('--db-host', default=os.environ.get('ODOO_DB_HOST', '127.0.0.1'))
    parser.add_argument('--db-port', default=os.environ.get('ODOO_DB_PORT', '5432'))
    parser.add_argument('--db-user', default=os.environ.get('ODOO_DB_USER', 'odoo'))
    parser.add_argument('--db-password', default=os.environ.get('ODOO_DB_PASSWORD', 'odoo'))
    args = parser.parse_args(argv)
    if args.requests < 1 or args.threads < 1 or args.workers < 0:
        parser.error('--requests and --threads must be positive, --workers at least 0')
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix='convapi-abuse-'))
    odoo = Odoo(args, work)
    dbname = f'convapi_abuse_{odoo.major}'
    server = None
    failures: list[str] = []
    succeeded = False
    try:
        psql(args, 'postgres', f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        log(f'Odoo {odoo.major}: installing conversions_api into {dbname} (a few minutes)')
        demo = ['--with-demo'] if odoo.major >= 19 else ['--without-demo=all']
        odoo.run(odoo.cmd() + ['-d', dbname, '-i', 'conversions_api', '--stop-after-init',
                               '--no-http', '--log-level=warn', *demo], timeout=1800)
        out = odoo.run(odoo.cmd('shell') + ['-d', dbname, '--no-http', '--log-level=warn'],
                       timeout=600, stdin=SETUP_SCRIPT)
        info = json.loads(next(line for line in out.splitlines()
                               if line.startswith('ABUSE_SETUP '))[len('ABUSE_SETUP '):])

        port = free_port()
        server_log = work / 'server.log'
        mode = f'{args.workers} workers' if args.workers else 'threaded'
        log(f'starting Odoo on 127.0.0.1:{port} ({mode}), log {server_log}')
        with open(server_log, 'wb') as out_file:
            server = subprocess.Popen(
                odoo.cmd() + ['-d', dbname, '--db-filter', f'^{dbname}$',
                              '--http-interface', '127.0.0.1', '--http-port', str(port),
                              '--gevent-port', str(free_port()), '--workers', str(args.workers),
                              '--max-cron-threads', '0', '--proxy-mode', '--log-level', 'warn'],
                stdout=out_file, stderr=subprocess.STDOUT, env=odoo.env(),
                start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f'Odoo exited ({server.returncode}), see {server_log}')
            if call(port, 'GET', '/web/health', timeout=5).status == 200:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f'Odoo did not answer within 180 s, see {server_log}')

        shopper = Shopper(port, info, odoo.major)
        for step, answer in (('shop', shopper.get('/shop')),
                             ('product page', shopper.get(info['url']))):
            if answer.status != 200:
                raise SystemExit(f'the shopper could not load the {step}: {answer.status}')
        baseline = [shopper.get(info['url']) for _ in range(20)]
        baseline_ms = [a.ms for a in baseline if a.status == 200]
        tracked_before = shopper.tracked
        inbox_before = int(psql(args, dbname, 'SELECT count(*) FROM conversions_api_inbox'))
        outbox_before = int(psql(args, dbname, 'SELECT count(*) FROM conversions_api_event'))
        sessions_before = session_files(odoo)

        scenarios = [('one address', args.requests),
                     ('one address, new session each', args.requests),
                     ('many addresses and sessions', args.requests),
                     ('bad bodies, many addresses', max(1, args.requests // 5))]
        rows = []
        own_events = None
        for scenario, count in scenarios:
            log(f'flood: {scenario}, {count} requests, {args.threads} clients')
            flood = Flood(port, scenario, count, args.threads, args.scenario_timeout)
            samples: list[Answer] = []
            browsing = threading.Thread(target=shopper_during, args=(shopper, flood, samples, 0.25),
                                        daemon=True)
            runner = threading.Thread(target=flood.run, daemon=True)
            runner.start()
            browsing.start()
            if scenario == 'one address, new session each':
                time.sleep(1.0)  # well into the flood: the shopper adds to cart, then its
                with shopper.lock:  # page script fetches the pixel copy
                    added = shopper.add_to_cart()
                    own_events = shopper.pending()
                if added.status != 200 or 'error' in (added.json() or {}):
                    failures.append(f'add to cart during the flood: {added.status} '
                                    f'{added.body[:200]!r}')
            runner.join(args.scenario_timeout + 60)
            browsing.join(60)
            statuses = Counter(a.status or 'error' for _, a in flood.answers)
            leaked = sum(carries_events(a) for _, a in flood.answers)
            latencies = [a.ms for _, a in flood.answers if a.status]
            served = [a for a in samples if a.status == 200]
            rows.append({
                'scenario': scenario, 'sent': len(flood.answers), 'statuses': statuses,
                'rate': len(flood.answers) / flood.elapsed if flood.elapsed else 0.0,
                'p50': percentile(latencies, 0.5), 'p99': percentile(latencies, 0.99),
                'leaked': leaked, 'shopper': (len(served), len(samples)),
                'shopper_p50': percentile([a.ms for a in served], 0.5),
                'shopper_max': max((a.ms for a in served), default=float('nan')),
                'kinds': Counter((kind, a.status) for kind, a in flood.answers)
                if scenario.startswith('bad') else None,
            })
            if len(flood.answers) < count:
                failures.append(f'{scenario}: {len(flood.answers)} of {count} sent in time')
            if leaked:
                failures.append(f'{scenario}: {leaked} answers carried events')
            bad = {s: n for s, n in statuses.items() if s == 'error' or s >= 500}
            if bad:
                failures.append(f'{scenario}: {bad}')
            allowed = {200, 429} if not scenario.startswith('bad') else {400, 411, 413, 415}
            if scenario == 'many addresses and sessions':
                allowed = {200}
            unexpected = {s: n for s, n in statuses.items() if s not in allowed}
            if unexpected:
                failures.append(f'{scenario}: unexpected statuses {unexpected}')
            if not samples or len(served) < len(samples):
                failures.append(f'{scenario}: shopper served {len(served)} of {len(samples)} pages')

        # what the floods left behind: nothing (the shopper's pages write one inbox row each)
        inbox_after = int(psql(args, dbname, 'SELECT count(*) FROM conversions_api_inbox'))
        outbox_after = int(psql(args, dbname, 'SELECT count(*) FROM conversions_api_event'))
        flood_rows = int(psql(args, dbname, "SELECT count(*) FROM conversions_api_inbox WHERE "
                              "payload LIKE '%198.51.100.%' OR payload LIKE '%198.18.%' "
                              "OR payload LIKE '%198.19.%'"))
        sessions_after = session_files(odoo)
        new_inbox = inbox_after - inbox_before
        shopper_tracked = shopper.tracked - tracked_before
        if flood_rows or new_inbox > shopper_tracked or outbox_after != outbox_before:
            failures.append(f'stored: {flood_rows} inbox rows of flood addresses, inbox '
                            f'{inbox_before} -> {inbox_after} for {shopper_tracked} shopper '
                            f'requests, outbox {outbox_before} -> {outbox_after}')
        if sessions_after - sessions_before > 1:
            failures.append(f'sessions: {sessions_before} -> {sessions_after} files')
        own = (own_events.json() or {}).get('events') if own_events else None
        own_names = [e.get('name') for e in own or []]
        own_ok = own_events is not None and own_events.status == 200 and 'AddToCart' in own_names
        if not own_ok:
            failures.append(f'the shopper did not get its AddToCart during the flood: '
                            f'{own_events.status if own_events else None} {own_names}')

        version = re.search(r"^version_info\s*=\s*\((.*)\)", (odoo.source / 'odoo' / 'release.py')
                            .read_text(), re.M).group(1)
        print()
        print(f'`python3 scripts/abuse_endpoints.py --tree {args.tree} --requests {args.requests}'
              f' --threads {args.threads}` on Odoo {odoo.major}.0 (`version_info = ({version})`),'
              f' {f"{args.workers} HTTP workers" if args.workers else "one threaded server"}, '
              f'{dt.date.today().isoformat()}, load average '
              f'{os.getloadavg()[0]:.1f}:')
        print()
        print('| flood | requests | answers | req/s | median / p99 ms | events leaked '
              '| shopper pages served (median / max ms) |')
        print('|---|---|---|---|---|---|---|')
        for row in rows:
            answers = ', '.join(f'{n} × {s}' for s, n in sorted(row['statuses'].items(), key=str))
            print(f"| {row['scenario']} | {row['sent']:,} | {answers} | {row['rate']:.0f} | "
                  f"{row['p50']:.1f} / {row['p99']:.1f} | {row['leaked']} | "
                  f"{row['shopper'][0]} of {row['shopper'][1]} ({row['shopper_p50']:.0f} / "
                  f"{row['shopper_max']:.0f}) |")
        bad_bodies = next(r for r in rows if r['kinds'] is not None)['kinds']
        print()
        print('Bad bodies: ' + '; '.join(f'{kind} → {status}' for (kind, status), _ in
                                         sorted(bad_bodies.items(), key=str)) + '.')
        print(f'Shopper: product page median {statistics.median(baseline_ms):.0f} ms before the '
              f'floods; its own AddToCart fetched during the flood from one address: '
              f'{"yes" if own_ok else "NO"} ({own_events.status if own_events else "-"}). '
              f'Stored by the floods: {flood_rows} inbox rows, {outbox_after - outbox_before} '
              f'outbox rows, {max(0, sessions_after - sessions_before - 1)} session files '
              f'(the shopper\'s {shopper_tracked} pages and add to cart wrote {new_inbox} inbox '
              f'rows).')
        print('Result: ' + ('all checks passed' if not failures else
                            'FAILED: ' + '; '.join(failures)))
        succeeded = not failures
        return 0 if succeeded else 1
    finally:
        if server is not None and server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        if not args.keep_db:
            with contextlib.suppress(Exception):
                psql(args, 'postgres', f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if not succeeded or args.keep_db:
            log(f'logs kept in {work}')
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
