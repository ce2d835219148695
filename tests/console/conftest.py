"""Console fixtures: an operator holding ``console.view_console`` (staff, not a superuser, so the
permission is what lets them in) and a staff user without it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import UserFactory


def _client_for(*, with_permission: bool, username: str) -> Client:
    user = UserFactory(username=username, is_staff=True, is_superuser=False)
    if with_permission:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="console", codename="view_console"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def console_operator(db: None) -> Client:
    return _client_for(with_permission=True, username="console-operator")


@pytest.fixture
def plain_staff(db: None) -> Client:
    return _client_for(with_permission=False, username="plain-staff")
