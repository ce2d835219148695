from django.apps import AppConfig


class BlinkposConfig(AppConfig):
    """The project package as an app, so its site-wide templates (``blinkpos/templates/admin/...``),
    static files (``blinkpos/static/blinkpos/``) and the admin landing page (``blinkpos/admin.py``,
    found by the admin's autodiscovery) are picked up like any other app's. It has no models."""

    name = "blinkpos"
    verbose_name = "BlinkPOS"
