"""Two app configs: this module's own (templates, the management command) and django.contrib.admin with
the operator admin site as ``admin.site``, so every ``@admin.register`` in the project lands on it."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OperatorOtpConfig(AppConfig):
    name = "blinkpos.operator_otp"
    label = "operator_otp"
    verbose_name = "Operator sign-in"


class OperatorAdminConfig(admin_apps.AdminConfig):
    default_site = "blinkpos.operator_otp.site.OperatorAdminSite"
