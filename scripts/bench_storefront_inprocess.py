#!/usr/bin/env python3
"""What the addon itself adds to a shopper's request, measured inside one Odoo process.

``scripts/bench_storefront.py`` times real HTTP requests with the delivery cron running, the
whole system; on a small, shared machine its medians move by up to about 1 ms from one run to
the next. This script isolates the request: one Odoo process loads both benchmark databases
(``bench<version>_off``: website_sale; ``bench<version>_on``: website_sale + conversions_api with
a Meta and a TikTok service; create them with ``bench_storefront.py --setup-only``), requests
go through Odoo's WSGI application (werkzeug's test client: no socket, no client process), one
to each database per pair in random order, and no cron runs (the inbox only fills). The garbage
collector is paused while timing (a full collection runs every ten pairs, untimed): with two
registries loaded, this one process has about twice a production worker's heap, and its
collections cost far more than a worker's (a 35 ms page measured about 65 ms). A collection
before every request is no better: it hands the freed memory back to the system, and the next
request pays page faults to get it again. ``--gc`` keeps the collector on.

Run it with the Odoo tree's interpreter:

    /path/to/odoo-venv/bin/python scripts/bench_storefront_inprocess.py --tree /path/to/odoo

Reports per endpoint the "off" median, the median of the paired differences (on - off) of wall
and CPU time with a bootstrap 95 % interval, and the SQL queries per request.
"""

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UA = ('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
      'Chrome/126.0 Safari/537.36')


def bootstrap_median_ci(values, rounds=2000, seed=1):
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values)))
                     for _ in range(rounds))
    return medians[int(rounds * 0.025)], medians[int(rounds * 0.975) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tree', required=True, help='the Odoo source tree')
    parser.add_argument('--requests', type=int, default=300, help='request pairs per endpoint')
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--db-host', default='127.0.0.1')
    parser.add_argument('--db-user', default='odoo')
    parser.add_argument('--db-password', default='odoo')
    parser.add_argument('--gc', action='store_true',
                        help='keep the garbage collector on while timing')
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args()

    tree = Path(args.tree).resolve()
    sys.path[:0] = [str(REPO / 'python'), str(tree)]
    # imported here: the tree is only known now
    import odoo
    import odoo.http
    import odoo.release
    import odoo.sql_db
    import odoo.tools
    import psycopg2
    from werkzeug.test import Client

    version = odoo.release.version_info[0]
    addons = [p for p in (tree / 'odoo' / 'addons', tree / 'addons', REPO / 'odoo_addon')
              if p.is_dir()]
    odoo.tools.config.parse_config([
        '--addons-path', ','.join(map(str, addons)), '--db_host', args.db_host,
        '--db_user', args.db_user, '--db_password', args.db_password,
        '--data-dir', str(Path(tempfile.gettempdir()) / f'bench_data_{tree.name}'),
        '--log-level', 'warn', '--max-cron-threads', '0'])

    def product(dbname):
        connection = psycopg2.connect(host=args.db_host, user=args.db_user,
                                      password=args.db_password, dbname=dbname)
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT t.id, (SELECT min(p.id) FROM product_product p"
                           "                WHERE p.product_tmpl_id = t.id)"
                           "  FROM product_template t WHERE t.name->>'en_US' = 'Bench Chair'")
            row = cursor.fetchone()
        finally:
            connection.close()
        if not row:
            raise SystemExit(f'{dbname}: no Bench Chair; run bench_storefront.py --setup-only')
        return {'template': row[0], 'variant': row[1], 'url': f'/shop/bench-chair-{row[0]}'}

    class Shopper:
        def __init__(self, dbname):
            self.dbname = dbname
            self.info = product(dbname)
            self.client = Client(odoo.http.root)  # keeps its cookies: one visitor

        def product_page(self):
            odoo.tools.config['dbfilter'] = f'^{self.dbname}$'
            response = self.client.get(self.info['url'], headers={'User-Agent': UA})
            if response.status_code != 200:
                raise SystemExit(f'{self.dbname}: product page answered {response.status_code}')

        def add_to_cart(self):
            odoo.tools.config['dbfilter'] = f'^{self.dbname}$'
            if version >= 19:
                path, params = '/shop/cart/add', {'product_template_id': self.info['template'],
                                                  'product_id': self.info['variant'],
                                                  'quantity': 1}
            else:
                path, params = '/shop/cart/update_json', {'product_id': self.info['variant'],
                                                          'add_qty': 1}
            response = self.client.post(
                path, json={'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': params},
                headers={'User-Agent': UA, 'Origin': 'http://localhost',
                         'Referer': 'http://localhost' + self.info['url']})
            if response.status_code != 200 or b'"error"' in response.get_data():
                raise SystemExit(f'{self.dbname}: cart answered {response.get_data()[:300]!r}')

    shoppers = {'off': Shopper(f'bench{version}_off'), 'on': Shopper(f'bench{version}_on')}

    queries = [0]
    execute = odoo.sql_db.Cursor.execute

    def counting_execute(self, *a, **k):
        queries[0] += 1
        return execute(self, *a, **k)

    odoo.sql_db.Cursor.execute = counting_execute
    rng = random.Random(7)
    results = {}
    for step in ('product_page', 'add_to_cart'):
        wall = {'off': [], 'on': []}
        cpu = {'off': [], 'on': []}
        count = {'off': 0, 'on': 0}
        if not args.gc:
            gc.disable()
        for i in range(args.warmup + args.requests):
            if not args.gc and i % 10 == 0:
                gc.collect()
            order = ['off', 'on']
            rng.shuffle(order)
            for mode in order:
                before = queries[0]
                c0, t0 = time.thread_time(), time.perf_counter()
                getattr(shoppers[mode], step)()
                t1, c1 = time.perf_counter(), time.thread_time()
                if i >= args.warmup:
                    wall[mode].append((t1 - t0) * 1000)
                    cpu[mode].append((c1 - c0) * 1000)
                    count[mode] += queries[0] - before
        gc.enable()
        result = {'off_median_ms': round(statistics.median(wall['off']), 2),
                  'on_median_ms': round(statistics.median(wall['on']), 2)}
        for label, samples in (('wall', wall), ('cpu', cpu)):
            diffs = [on - off for on, off in zip(samples['on'], samples['off'], strict=True)]
            low, high = bootstrap_median_ci(diffs)
            result[f'{label}_added_median_ms'] = round(statistics.median(diffs), 2)
            result[f'{label}_added_ci95_ms'] = [round(low, 2), round(high, 2)]
        result['queries_per_request'] = {mode: round(count[mode] / args.requests, 1)
                                         for mode in count}
        results[step] = result

    report = {'odoo': version, 'requests': args.requests, 'warmup': args.warmup,
              'garbage_collector': 'on' if args.gc else 'paused while timing',
              'cpus': os.cpu_count(), 'load_average': [round(x, 2) for x in os.getloadavg()],
              'results': results}
    print(json.dumps(report, indent=2))
    print(f'\nOdoo {version}, in one process, {args.requests} request pairs per endpoint, '
          f'garbage collector {report["garbage_collector"]}')
    print(f'{"endpoint":<14}{"off med":>9}{"added wall [95% CI]":>26}{"added CPU [95% CI]":>26}'
          f'{"queries off/on":>16}')
    for step, result in results.items():
        wall_ci, cpu_ci = result['wall_added_ci95_ms'], result['cpu_added_ci95_ms']
        print(f'{step:<14}{result["off_median_ms"]:>9.2f}'
              f'{result["wall_added_median_ms"]:>10.2f} [{wall_ci[0]:5.2f}, {wall_ci[1]:5.2f}]'
              f'{result["cpu_added_median_ms"]:>10.2f} [{cpu_ci[0]:5.2f}, {cpu_ci[1]:5.2f}]'
              f'{result["queries_per_request"]["off"]:>9}/{result["queries_per_request"]["on"]}')
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
