from __future__ import annotations

from marshmallow import Schema, fields


class StatsSchema(Schema):
    active = fields.Integer(metadata={"description": "Your running jobs"})
    queued = fields.Integer(metadata={"description": "Your queued jobs"})
    capacity = fields.Integer(metadata={"description": "Live worker slots (sum of concurrency)"})
    utilization = fields.Float(metadata={"description": "Busy slots as a percentage of capacity"})
    cluster_active = fields.Integer(metadata={"description": "Running jobs of all tenants"})
    workers = fields.Integer(metadata={"description": "Live worker processes"})
