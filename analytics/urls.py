"""Observability URLs, mounted at the site root by ``blinkpos.urls``."""

from django.urls import path

from analytics import views

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("api/storage/health", views.storage_health, name="storage-health"),
]
