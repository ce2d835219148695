from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Operators' console"

    def ready(self) -> None:
        from console import task_failures

        # Failures and retries of Celery tasks are recorded (bounded by retention) for the queues page.
        task_failures.connect_signals()
