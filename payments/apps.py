from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Payments"

    def ready(self) -> None:
        from blinkpos.beat import sync_after_migrate
        from payments import sale_config

        # The periodic jobs are declared in code; every migrate brings django-celery-beat's rows up to date.
        post_migrate.connect(sync_after_migrate, dispatch_uid="blinkpos.beat.sync_after_migrate")
        # Changes to the rows the create's fast path keeps per process set a new sale-configuration
        # generation after their commit (payments/sale_config.py).
        sale_config.connect()
