#!/usr/bin/env python3
"""Latency the storefront tracking adds to a real Odoo: product page and add-to-cart.

Two databases on the same Odoo tree: one with website_sale only ("off"), one with website_sale
and conversions_api tracking on both platforms ("on"), both services pointing at a local fake
ad API that answers after 300 ms. One HTTP server (threaded, ``--workers 0``, no cron thread)
serves both databases, each shopper's session pinned to its database: a pair of requests runs
through the same process, its heap, garbage collector and caches, so the difference is the
addon's and not two processes' (``--separate-servers``: one server per database, the design of
earlier runs). Per database one cron-only process (``--no-http``, one cron thread), as
prefork's separate cron workers do in production: the outbox is delivered by the flush cron,
outside the web server. Requests are sent in pairs (one per database, the order alternating),
so both see the same machine noise. The fake API runs in a process of its own, not in this
timing client.

Reports per endpoint and mode the median, p90 and mean, the median of the paired differences
(on - off) with a bootstrap 95 % interval (and by the order of the pair), the SQL queries per
request (from Odoo's request log, written when the response starts: the addon's inbox INSERT,
run once the response has been sent, is not in it) and the load average; then waits for the
cron to deliver the outbox and checks every row was sent and every event reached the fake.

``--think-ms`` pauses (untimed) before each request. Without it a shopper's next request leaves
the moment the previous response arrived, on the same keep-alive connection: a request then
waits for whatever the server does after the previous response (the addon's inbox INSERT).
Shoppers do not browse that fast; both settings are reported.

    python scripts/bench_storefront.py --tree /work/odoo/17 --requests 400

The databases are created on first use (``--recreate`` to start over).
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
UA = ('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
      'Chrome/126.0 Safari/537.36')

SETUP_SCRIPT = r'''
import json
env = env  # noqa: F821 (odoo shell)
website = env['website'].search([], limit=1)
website.cookies_bar = False
product = env['product.template'].search([('name', '=', 'Bench Chair')], limit=1)
if not product:
    product = env['product.template'].create({
        'name': 'Bench Chair', 'list_price': 100.0, 'sale_ok': True,
        'website_published': True, 'taxes_id': [(5, 0, 0)]})
if 'conversions.api.service' in env:
    params = env['ir.config_parameter'].sudo()
    params.set_param('conversions_api.meta_base_url', FAKE_URL)
    params.set_param('conversions_api.tiktok_base_url', FAKE_URL)
    Service = env['conversions.api.service']
    Service.search([]).write({'active': False})
    for platform, pixel in (('meta', '1234567890'), ('tiktok', 'CBENCHPIXEL001')):
        Service.create({'name': 'bench ' + platform, 'platform': platform, 'pixel_id': pixel,
                        'access_token': 'bench-token', 'website_id': website.id})
if 'conversions.api.inbox' in env:
    # a clean slate: events left by earlier runs would be drained (and fail, their services
    # archived above) by the cron while this run measures
    env.cr.execute('DELETE FROM conversions_api_inbox')
    env.cr.execute("DELETE FROM conversions_api_event WHERE state IN ('queued', 'retrying')")
env.cr.commit()
print('BENCH_SETUP ' + json.dumps({'template': product.id,
                                    'variant': product.product_variant_id.id,
                                    'url': product.website_url}))
'''


# The fake ad API runs in a process of its own: in this one, its request handling (JSON parsing
# and validation of each delivered batch) would hold the GIL while the client times a request.
FAKE_SCRIPT = r'''
import json
import sys

from convapi.testing import FakeAdServer

with FakeAdServer() as fake:
    for platform in ('meta', 'tiktok'):
        fake.inject(platform, 'delay', times=10 ** 6, seconds=float(sys.argv[1]))
    print(fake.base_url, flush=True)
    for line in sys.stdin:  # one line per question, until stdin closes
        print(json.dumps({'meta': len(fake.meta_events()),
                          'tiktok': len(fake.tiktok_events())}), flush=True)
'''


class FakeApiProcess:
    """The fake Meta and TikTok APIs, answering after ``delay`` seconds, in a child process."""

    def __init__(self, delay):
        self.proc = subprocess.Popen([sys.executable, '-c', FAKE_SCRIPT, str(delay)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url:
            raise SystemExit('the fake ad API did not start')

    def received(self):
        """Events accepted so far, per platform."""
        self.proc.stdin.write('count\n')
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def odoo_env(tree):
    """Odoo needs its tree (sdist layouts) and this checkout's convapi on the path."""
    paths = [str(REPO / 'python'), str(tree)] + [p for p in os.environ.get('PYTHONPATH', '')
                                               .split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def odoo_cmd(args, tree, python):
    tree = Path(tree)
    binary = tree / 'odoo-bin'
    if not binary.exists():
        binary = tree / 'setup' / 'odoo'
    addons = [tree / 'odoo' / 'addons', tree / 'addons', REPO / 'odoo_addon']
    addons = ','.join(str(path) for path in addons if path.exists())
    return [python, str(binary), '--addons-path', addons, '--db_host', args.db_host,
            '--db_user', args.db_user, '--db_password', args.db_password,
            '--data-dir', str(Path(tempfile.gettempdir()) / f'bench_data_{tree.name}')]


def version_of(tree):
    release = (Path(tree) / 'odoo' / 'release.py').read_text()
    for line in release.splitlines():
        if line.startswith('version_info'):
            return int(line.split('(')[1].split(',')[0])
    raise SystemExit('cannot read the Odoo version')


def db_exists(args, name):
    env = dict(os.environ, PGPASSWORD=args.db_password)
    out = subprocess.run(['psql', '-h', args.db_host, '-U', args.db_user, '-d', 'postgres', '-tAc',
                          f"SELECT 1 FROM pg_database WHERE datname='{name}'"],
                         capture_output=True, text=True, env=env, check=False)
    return out.stdout.strip() == '1'


def drop_db(args, name):
    env = dict(os.environ, PGPASSWORD=args.db_password)
    subprocess.run(['dropdb', '-h', args.db_host, '-U', args.db_user, '--if-exists', name],
                   env=env, check=False)


def setup_db(args, base, name, modules, fake_url):
    if args.recreate:
        drop_db(args, name)
    if not db_exists(args, name):
        print(f'installing {modules} in {name} ...', flush=True)
        subprocess.run(base + ['-d', name, '-i', modules, '--stop-after-init',
                               '--without-demo=all', '--log-level=warn'], check=True,
                       env=odoo_env(args.tree))
    # the sub-command comes before the options
    out = subprocess.run(base[:2] + ['shell'] + base[2:] + ['-d', name, '--log-level=warn',
                                                            '--no-http'],
                         input=SETUP_SCRIPT.replace('FAKE_URL', repr(fake_url)),
                         capture_output=True, text=True, check=True, env=odoo_env(args.tree))
    for line in out.stdout.splitlines():
        if line.startswith('BENCH_SETUP '):
            return json.loads(line[len('BENCH_SETUP '):])
    raise SystemExit(f'setup of {name} failed:\n{out.stdout}\n{out.stderr}')


def psql(args, dbname, query):
    env = dict(os.environ, PGPASSWORD=args.db_password)
    out = subprocess.run(['psql', '-h', args.db_host, '-U', args.db_user, '-d', dbname, '-tAc',
                          query], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def log_path(name):
    return Path(tempfile.gettempdir()) / f'bench_{name}.log'


def start_cron(base, name, tree):
    """A cron-only Odoo process for the database (prefork's cron worker, in effect)."""
    log = open(log_path(name + '_cron'), 'w')  # noqa: SIM115
    return subprocess.Popen(base + ['-d', name, '--db-filter', f'^{name}$', '--no-http',
                                    '--workers', '0', '--max-cron-threads', '1',
                                    '--log-level', 'warn'], stdout=log, stderr=log,
                            env=odoo_env(tree))


def start_server(base, name, port, tree, replica=None, db_filter=None):
    log = open(log_path(name), 'w')  # noqa: SIM115
    # werkzeug:INFO logs one line per request with its SQL query count
    extra = ['--db_replica_host', replica, '--db_replica_port', '5432'] if replica else []
    proc = subprocess.Popen(base + ['-d', name, '--db-filter', db_filter or f'^{name}$',
                                    '--http-port',
                                    str(port), '--workers', '0', '--max-cron-threads', '0',
                                    '--log-level', 'warn', '--log-handler', 'werkzeug:INFO']
                            + extra, stdout=log, stderr=log, env=odoo_env(tree))
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if requests.get(f'http://127.0.0.1:{port}/web/webclient/version_info',
                            timeout=2).status_code < 500:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f'{name} did not start, see {log.name}')


class Shopper:
    def __init__(self, port, info, version, dbname=None):
        self.base = f'http://127.0.0.1:{port}'
        self.info = info
        self.version = version
        self.session = requests.Session()
        self.session.headers['User-Agent'] = UA
        if dbname:  # a server of several databases: pin this shopper's session to one
            # as a crawler: the login page would otherwise track a PageView of its own
            response = self.session.get(f'{self.base}/web/login', params={'db': dbname},
                                        headers={'User-Agent': 'Googlebot/2.1'}, timeout=60)
            response.raise_for_status()
            if dbname not in response.text and 'session_id' not in self.session.cookies:
                raise SystemExit(f'could not select the database {dbname}')

    def product_page(self):
        response = self.session.get(self.base + self.info['url'], timeout=30)
        response.raise_for_status()

    def add_to_cart(self):
        if self.version >= 19:
            path, params = '/shop/cart/add', {'product_template_id': self.info['template'],
                                              'product_id': self.info['variant'], 'quantity': 1}
        else:
            path, params = '/shop/cart/update_json', {'product_id': self.info['variant'],
                                                      'add_qty': 1}
        response = self.session.post(self.base + path, json={
            'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': params}, timeout=30,
            headers={'Origin': self.base, 'Referer': self.base + self.info['url']})
        response.raise_for_status()
        if 'error' in response.json():
            raise RuntimeError(response.json()['error'])


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc), else None."""
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'), 2)


def timed(func):
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000.0


def p90(values):
    return statistics.quantiles(values, n=10)[-1]


def bootstrap_median_ci(values, rounds=2000, seed=1):
    """95 % bootstrap interval of the median."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values)))
                     for _ in range(rounds))
    return medians[int(rounds * 0.025)], medians[int(rounds * 0.975) - 1]


REQUEST_LINE = re.compile(r'"(GET|POST) (\S+) HTTP/[\d.]+" (\d+) \S+ (\d+) ([\d.]+) ([\d.]+)')


def query_counts(name, path_prefix, skip, log_name=None):
    """SQL queries per request to ``path_prefix`` from the server's werkzeug log lines (the
    lines of database ``name`` in the log of ``log_name``)."""
    counts = []
    for line in log_path(log_name or name).read_text(errors='replace').splitlines():
        if f' {name} werkzeug' not in line:
            continue
        match = REQUEST_LINE.search(line)
        if match and match.group(2).split('?')[0].startswith(path_prefix):
            counts.append(int(match.group(4)))
    return counts[skip:]


def summary(values):
    return {'median_ms': round(statistics.median(values), 2),
            'p90_ms': round(p90(values), 2),
            'mean_ms': round(statistics.fmean(values), 2), 'n': len(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tree', default=os.environ.get('ODOO_TREE', '/work/odoo/18'))
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON'))
    parser.add_argument('--requests', type=int, default=400, help='request pairs per endpoint')
    parser.add_argument('--warmup', type=int, default=30)
    parser.add_argument('--delay', type=float, default=0.3, help='fake API answer delay (s)')
    parser.add_argument('--db-host', default='127.0.0.1')
    parser.add_argument('--db-user', default='odoo')
    parser.add_argument('--db-password', default='odoo')
    parser.add_argument('--recreate', action='store_true')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--replica', metavar='HOST',
                        help='18/19: also use this PostgreSQL host as a read-only replica '
                             '(the same server will do): readonly routes then get read-only '
                             'cursors, as in production with a replica')
    parser.add_argument('--no-cron', action='store_true',
                        help='no cron process (nothing is delivered)')
    parser.add_argument('--drain-timeout', type=float, default=180.0,
                        help='seconds to wait for the cron to deliver the outbox')
    parser.add_argument('--think-ms', type=float, default=0.0,
                        help='pause before each request, untimed (a shopper does not send '
                             'the next request the moment a response arrives)')
    parser.add_argument('--separate-servers', action='store_true',
                        help='one HTTP server per database (default: one server for both)')
    parser.add_argument('--setup-only', action='store_true',
                        help='create and configure the two databases, then stop')
    args = parser.parse_args()

    version = version_of(args.tree)
    python = args.python or f'/work/odoo/venv{version}/bin/python'
    base = odoo_cmd(args, args.tree, python)

    with FakeApiProcess(args.delay) as fake:
        info_off = setup_db(args, base, f'bench{version}_off', 'website_sale', fake.base_url)
        info_on = setup_db(args, base, f'bench{version}_on', 'website_sale,conversions_api',
                           fake.base_url)
        if args.setup_only:
            print('databases ready:', info_off, info_on)
            return 0
        names = {'off': f'bench{version}_off', 'on': f'bench{version}_on'}
        max_id_before = int(psql(args, names['on'],
                                 'SELECT coalesce(max(id), 0) FROM conversions_api_event'))
        if args.separate_servers:
            servers = [start_server(base, names['off'], 8961, args.tree, args.replica),
                       start_server(base, names['on'], 8962, args.tree, args.replica)]
            logs = names
        else:
            servers = [start_server(base, f"{names['off']},{names['on']}", 8961, args.tree,
                                    args.replica, db_filter=f'^bench{version}_(off|on)$')]
            # start_server names the log after its -d value
            logs = {mode: f"{names['off']},{names['on']}" for mode in names}
        labels = ['http server'] if not args.separate_servers else ['http off', 'http on']
        if not args.no_cron:
            servers += [start_cron(base, names['off'], args.tree),
                        start_cron(base, names['on'], args.tree)]
            labels += ['cron off', 'cron on']
        load_before = os.getloadavg()
        try:
            if args.separate_servers:
                shoppers = {'off': Shopper(8961, info_off, version),
                            'on': Shopper(8962, info_on, version)}
            else:
                shoppers = {'off': Shopper(8961, info_off, version, names['off']),
                            'on': Shopper(8961, info_on, version, names['on'])}
            results = {}
            paths = {'product_page': info_on['url'],
                     'add_to_cart': '/shop/cart/add' if version >= 19
                     else '/shop/cart/update_json'}
            for step in ('product_page', 'add_to_cart'):
                samples = {'off': [], 'on': []}
                on_first = []
                for i in range(args.warmup + args.requests):
                    pair = {}
                    for mode in (('off', 'on') if i % 2 else ('on', 'off')):
                        if args.think_ms:
                            time.sleep(args.think_ms / 1000.0)
                        pair[mode] = timed(getattr(shoppers[mode], step))
                    if i >= args.warmup:
                        for mode, elapsed in pair.items():
                            samples[mode].append(elapsed)
                        on_first.append(not i % 2)
                diffs = [on - off for on, off in zip(samples['on'], samples['off'],
                                                      strict=True)]
                low, high = bootstrap_median_ci(diffs)
                results[step] = {mode: summary(values) for mode, values in samples.items()}
                results[step]['added_median_ms'] = round(
                    results[step]['on']['median_ms'] - results[step]['off']['median_ms'], 2)
                results[step]['paired_diff_median_ms'] = round(statistics.median(diffs), 2)
                results[step]['paired_diff_ci95_ms'] = [round(low, 2), round(high, 2)]
                results[step]['paired_diff_mean_ms'] = round(statistics.fmean(diffs), 2)
                # by order within the pair: "on" first follows the previous pair's "on" on the
                # same connection; "on" second follows an "off"
                for first, key in ((True, 'on_first'), (False, 'on_second')):
                    part = [d for d, f in zip(diffs, on_first, strict=True) if f is first]
                    results[step][f'paired_diff_median_{key}_ms'] = round(
                        statistics.median(part), 2)
                results[step]['samples_ms'] = {
                    mode: [round(v, 3) for v in values] for mode, values in samples.items()}
                results[step]['samples_on_first'] = on_first
                for mode in ('off', 'on'):
                    counts = query_counts(names[mode], paths[step], args.warmup, logs[mode])
                    results[step][mode]['queries_median'] = (
                        statistics.median(counts) if counts else None)
                    results[step][mode]['queries_range'] = (
                        [min(counts), max(counts)] if counts else None)
            load_after = os.getloadavg()
            # the cron delivers the outbox: wait until nothing is left to send
            deadline = time.time() + args.drain_timeout
            states = {}
            inbox_left = None
            while not args.no_cron and time.time() < deadline:
                # the requests' events reach the outbox through the inbox (the cron drains it)
                inbox_left = int(psql(args, names['on'],
                                      'SELECT count(*) FROM conversions_api_inbox'))
                states = dict(line.split('|') for line in psql(
                    args, names['on'], 'SELECT state, count(*) FROM conversions_api_event '
                    f'WHERE id > {max_id_before} GROUP BY state').splitlines() if line)
                if not inbox_left and not set(states) & {'queued', 'retrying'}:
                    break
                time.sleep(2)
            received = fake.received()
            meta_events, tiktok_events = received['meta'], received['tiktok']
            # the background cost: CPU the cron processes used (delivery, inbox drain)
            cpu = {label: cpu_seconds(server.pid) for label, server in zip(labels, servers,
                                                                            strict=True)}
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)

    outbox_rows = int(psql(args, names['on'], 'SELECT count(*) FROM conversions_api_event '
                           f'WHERE id > {max_id_before}'))
    report = {'odoo': version, 'fake_api_delay_s': args.delay, 'requests': args.requests,
              'servers': 'separate' if args.separate_servers else 'one for both databases',
              'replica': args.replica or None,
              'warmup': args.warmup, 'think_ms': args.think_ms, 'cpus': os.cpu_count(),
              'load_average_before': [round(x, 2) for x in load_before],
              'load_average_after': [round(x, 2) for x in load_after],
              'results': results, 'outbox_rows_this_run': outbox_rows,
              'outbox_states_after_drain': states, 'inbox_rows_left': inbox_left,
              # per platform: a product page tracks PageView and ViewContent, a cart add one
              'events_expected_per_platform': 3 * (args.warmup + args.requests),
              'events_received_by_fake': {'meta': meta_events, 'tiktok': tiktok_events},
              'process_cpu_seconds': cpu}
    print(json.dumps(report, indent=2))
    print(f'\nOdoo {version}, fake API delay {args.delay * 1000:.0f} ms, '
          f'{args.requests} request pairs per endpoint, think time {args.think_ms:g} ms, '
          f'load average '
          f'{load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} CPUs')
    print(f'{"endpoint":<14}{"off med":>9}{"on med":>9}{"off p90":>9}{"on p90":>9}'
          f'{"paired diff med [95% CI]":>28}{"queries off/on":>16}')
    for step, result in results.items():
        low, high = result['paired_diff_ci95_ms']
        print(f'{step:<14}{result["off"]["median_ms"]:>9.2f}{result["on"]["median_ms"]:>9.2f}'
              f'{result["off"]["p90_ms"]:>9.2f}{result["on"]["p90_ms"]:>9.2f}'
              f'{result["paired_diff_median_ms"]:>12.2f} [{low:6.2f}, {high:6.2f}]'
              f'{result["off"]["queries_median"]!s:>8}/{result["on"]["queries_median"]!s}')
        print(f'{"":<14}paired diff median with "on" first in its pair '
              f'{result["paired_diff_median_on_first_ms"]:.2f}, second '
              f'{result["paired_diff_median_on_second_ms"]:.2f}')
    print(f'outbox: {outbox_rows} rows this run, states after the drain {states}, inbox rows '
          f'left {inbox_left}; fake received {meta_events} Meta and {tiktok_events} TikTok '
          f'events of {report["events_expected_per_platform"]} expected per platform')
    print('CPU seconds per process (startup included): '
          + ', '.join(f'{label} {seconds}' for label, seconds in cpu.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    if not shutil.which('psql'):
        sys.exit('psql is needed')
    sys.exit(main())
