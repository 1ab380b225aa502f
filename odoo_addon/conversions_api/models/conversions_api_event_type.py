"""Event names a conversion API service may send (Purchase, AddToCart, ...)."""

from odoo import fields, models


class ConversionsApiEventType(models.Model):
    _name = 'conversions.api.event.type'
    _description = 'Conversion API event type'
    _order = 'sequence, id'

    name = fields.Char(string='Label', required=True, translate=True)
    code = fields.Char(
        string='Event name', required=True,
        help='Standard event name as sent to the platforms, e.g. Purchase.')
    sequence = fields.Integer(default=10)
    description = fields.Char(translate=True)

    if hasattr(models, 'Constraint'):  # Odoo 19 ignores _sql_constraints
        _code_unique = models.Constraint('UNIQUE(code)', 'An event type with this name exists.')
    else:
        _sql_constraints = [
            ('code_unique', 'UNIQUE(code)', 'An event type with this name exists.'),
        ]
