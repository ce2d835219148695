"""Snapshots written by the metrics job (``system_metrics``, as in the seed schema)."""

from __future__ import annotations

from django.db import models


class SystemMetric(models.Model):
    metric_name = models.CharField(max_length=100, db_index=True)
    metric_value = models.DecimalField(max_digits=20, decimal_places=4, null=True)
    metric_unit = models.CharField(max_length=20, blank=True, default="")
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "system_metrics"
        ordering = ["-timestamp"]

    def __str__(self) -> str:
        return f"{self.metric_name}={self.metric_value}{self.metric_unit}"
