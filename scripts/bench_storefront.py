#!/usr/bin/env python3
"""Latency the storefront tracking adds to a real Odoo: product page and add-to-cart.

Two databases on the same Odoo tree: one with website_sale only ("off"), one with website_sale
and conversions_api tracking on both platforms ("on"), both services pointing at a local fake
ad API that answers after 300 ms. Each server runs alone (1 thread, no cron); requests to the two
are interleaved so both see the same machine noise. Reports the median and p90 per endpoint and
the difference.

    ODOO_TREE=/work/odoo/18 ODOO_PYTHON=/work/odoo/venv18/bin/python \
        python scripts/bench_storefront.py --requests 200

The databases are created on first use (``--recreate`` to start over).
"""

import argparse
import json
import os
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
env.cr.commit()
print('BENCH_SETUP ' + json.dumps({'template': product.id,
                                    'variant': product.product_variant_id.id,
                                    'url': product.website_url}))
'''


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


def start_server(base, name, port, tree):
    log = open(Path(tempfile.gettempdir()) / f'bench_{name}.log', 'w')  # noqa: SIM115
    proc = subprocess.Popen(base + ['-d', name, '--db-filter', f'^{name}$', '--http-port',
                                    str(port), '--workers', '0', '--max-cron-threads', '0',
                                    '--log-level', 'warn'], stdout=log, stderr=log,
                            env=odoo_env(tree))
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
    def __init__(self, port, info, version):
        self.base = f'http://127.0.0.1:{port}'
        self.info = info
        self.version = version
        self.session = requests.Session()
        self.session.headers['User-Agent'] = UA

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


def timed(func):
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000.0


def p90(values):
    return statistics.quantiles(values, n=10)[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tree', default=os.environ.get('ODOO_TREE', '/work/odoo/18'))
    parser.add_argument('--python', default=os.environ.get('ODOO_PYTHON'))
    parser.add_argument('--requests', type=int, default=200)
    parser.add_argument('--warmup', type=int, default=30)
    parser.add_argument('--delay', type=float, default=0.3, help='fake API answer delay (s)')
    parser.add_argument('--db-host', default='127.0.0.1')
    parser.add_argument('--db-user', default='odoo')
    parser.add_argument('--db-password', default='odoo')
    parser.add_argument('--recreate', action='store_true')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--setup-only', action='store_true',
                        help='create and configure the two databases, then stop')
    args = parser.parse_args()

    version = version_of(args.tree)
    python = args.python or f'/work/odoo/venv{version}/bin/python'
    base = odoo_cmd(args, args.tree, python)

    from convapi.testing import FakeAdServer

    with FakeAdServer() as fake:
        for platform in ('meta', 'tiktok'):
            fake.inject(platform, 'delay', times=10 ** 6, seconds=args.delay)
        info_off = setup_db(args, base, f'bench{version}_off', 'website_sale', fake.base_url)
        info_on = setup_db(args, base, f'bench{version}_on', 'website_sale,conversions_api',
                           fake.base_url)
        if args.setup_only:
            print('databases ready:', info_off, info_on)
            return 0
        servers = [start_server(base, f'bench{version}_off', 8961, args.tree),
                   start_server(base, f'bench{version}_on', 8962, args.tree)]
        try:
            shoppers = {'off': Shopper(8961, info_off, version),
                        'on': Shopper(8962, info_on, version)}
            results = {}
            for step in ('product_page', 'add_to_cart'):
                samples = {'off': [], 'on': []}
                for i in range(args.warmup + args.requests):
                    for mode in (('off', 'on') if i % 2 else ('on', 'off')):
                        elapsed = timed(getattr(shoppers[mode], step))
                        if i >= args.warmup:
                            samples[mode].append(elapsed)
                results[step] = {
                    mode: {'median_ms': round(statistics.median(values), 2),
                           'p90_ms': round(p90(values), 2), 'n': len(values)}
                    for mode, values in samples.items()
                }
                results[step]['added_median_ms'] = round(
                    results[step]['on']['median_ms'] - results[step]['off']['median_ms'], 2)
            time.sleep(1.0)
            meta_events = len(fake.meta_events())
            tiktok_events = len(fake.tiktok_events())
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)

    report = {'odoo': version, 'fake_api_delay_s': args.delay, 'results': results,
              'events_received_by_fake': {'meta': meta_events, 'tiktok': tiktok_events}}
    print(json.dumps(report, indent=2))
    print(f'\nOdoo {version}, fake API delay {args.delay * 1000:.0f} ms, '
          f'{args.requests} requests per endpoint and mode')
    print(f'{"endpoint":<14}{"off median":>12}{"on median":>12}{"added":>10}'
          f'{"off p90":>10}{"on p90":>10}')
    for step, result in results.items():
        print(f'{step:<14}{result["off"]["median_ms"]:>12.2f}{result["on"]["median_ms"]:>12.2f}'
              f'{result["added_median_ms"]:>10.2f}{result["off"]["p90_ms"]:>10.2f}'
              f'{result["on"]["p90_ms"]:>10.2f}')
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    if not shutil.which('psql'):
        sys.exit('psql is needed')
    sys.exit(main())
