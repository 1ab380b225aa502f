{
    'name': 'Conversion APIs (Meta, TikTok, Pinterest & GA4 server-side tracking)',
    'summary': 'Send website and server events to the Meta Conversions API, the TikTok '
               'Events API, the Pinterest Conversions API and the GA4 Measurement Protocol '
               'through a durable outbox',
    'version': '1.0.0',
    'category': 'Website/Website',
    'author': 'convapi contributors',
    'website': 'https://github.com/convapi/convapi',
    'license': 'LGPL-3',
    'depends': ['website_sale'],
    'external_dependencies': {'python': ['convapi']},
    'data': [
        'security/conversions_api_security.xml',
        'security/ir.model.access.csv',
        'data/conversions_api_event_type_data.xml',
        'data/ir_cron_data.xml',
        'views/conversions_api_service_views.xml',
        'views/conversions_api_event_attempt_views.xml',
        'views/conversions_api_event_views.xml',
        'views/res_config_settings_views.xml',
        'views/conversions_api_menus.xml',
        'views/templates.xml',
    ],
    'assets': {
        'web.assets_frontend': [
            'conversions_api/static/src/js/pixel_events.js',
        ],
    },
    'installable': True,
    'application': False,
}
