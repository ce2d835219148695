"""The admin site every model is registered on: a session reaches it only after the second factor its
user needs (``policy``), and its sign-in form asks for the code."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path

from blinkpos.operator_otp import views
from blinkpos.operator_otp.forms import OperatorAuthenticationForm
from blinkpos.operator_otp.policy import second_factor_satisfied


class OperatorAdminSite(AdminSite):
    login_form = OperatorAuthenticationForm
    login_template = "operator_otp/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        # An unverified session of a user who needs a second factor is treated like a non-staff one: the
        # admin sends it to the sign-in form.
        return super().has_permission(request) and second_factor_satisfied(request.user)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        def two_factor(request: HttpRequest) -> HttpResponse:
            return views.two_factor(request, site=self)

        return [path("two-factor/", self.admin_view(two_factor), name="two-factor"), *super().get_urls()]
