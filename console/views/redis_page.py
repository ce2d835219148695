"""The Redis page: server figures, keys by family (bounded SCAN), one key's masked value, and the two
audited actions on a hot key (POST with CSRF only; the admin log records the operator)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from redis.exceptions import RedisError

from console import audit, redis_browser
from console.access import context
from console.views.pages import _block


class KeyForm(forms.Form):
    key = forms.CharField(label="key", max_length=512, strip=True)

    def clean_key(self) -> str:
        key = str(self.cleaned_data["key"])
        if any(ch in key for ch in "\r\n\x00"):
            raise forms.ValidationError("A key name has no line breaks or NUL characters.")
        return key


class HotKeyForm(KeyForm):
    def clean_key(self) -> str:
        key = super().clean_key()
        try:
            redis_browser.payment_hash_of(key)
        except redis_browser.NotAHotKey as exc:
            raise forms.ValidationError(str(exc).removeprefix("key: ")) from exc
        return key


@require_GET
def redis_page(request: HttpRequest) -> HttpResponse:
    form = KeyForm(request.GET or None)
    looked_up = None
    if form.is_bound and form.is_valid():
        looked_up = _block("key", lambda: redis_browser.lookup(form.cleaned_data["key"]))
    status = 400 if form.is_bound and not form.is_valid() else 200
    return TemplateResponse(
        request,
        "console/redis.html",
        context(
            request,
            "Redis",
            info=_block("info", redis_browser.server_info),
            survey=_block("survey", redis_browser.survey),
            form=form,
            looked_up=looked_up,
        ),
        status=status,
    )


def _bad_key(form: forms.Form) -> HttpResponse:
    errors = [str(error) for error in form.errors.get("key", [])]
    return HttpResponse(f"key: {'; '.join(errors)}", status=400, content_type="text/plain; charset=utf-8")


def _back(key: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:console_redis") + "?" + urlencode({"key": key}))


@require_POST
def evict(request: HttpRequest) -> HttpResponse:
    form = HotKeyForm(request.POST)
    if not form.is_valid():
        return _bad_key(form)
    key = form.cleaned_data["key"]
    try:
        done = redis_browser.evict(key)
    except RedisError as exc:
        done = False
        messages.error(request, f"Redis refused: {type(exc).__name__}")
    if done:
        audit.record(request, "evict", key)
        messages.success(request, f"Evicted {key}. The next read answers from PostgreSQL and re-warms it.")
    else:
        messages.error(request, f"{key} was not evicted: Redis did not answer.")
    return _back(key)


@require_POST
def rewarm(request: HttpRequest) -> HttpResponse:
    form = HotKeyForm(request.POST)
    if not form.is_valid():
        return _bad_key(form)
    key = form.cleaned_data["key"]
    try:
        outcome = redis_browser.rewarm(key)
    except (RedisError, ConnectionError) as exc:
        messages.error(request, f"{key} was not re-warmed: {exc}")
        return _back(key)
    audit.record(request, "re-warm", f"{key} ({outcome})")
    messages.success(request, f"Re-warmed {key} from PostgreSQL: {outcome}.")
    return _back(key)
