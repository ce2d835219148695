"""Staff sign-in: one-time email links (single use, expiry, wrong token, no enumeration, rate limits),
the merchant's code with a PIN (lockout after five wrong tries), a session of its own that opens nothing
of the merchant's, and bad input on every form."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from payments.models import Merchant, Staff, StaffLogin, StaffSignInToken
from payments.services.staff_access import staff_login_update
from tests.dashboard.staff_support import PIN, give_login, pin_sign_in
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(merchant: Merchant) -> Staff:
    return StaffFactory(merchant=merchant, display_name="Dana", blink_username="dana")


def _token_from_mail() -> str:
    """The token of the mailed link: after "#", so browsers never send it in a request line."""
    assert len(mail.outbox) == 1, [m.subject for m in mail.outbox]
    match = re.search(r"http://testserver/staff/link/#(\S+)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match.group(1)


def _redeem(client: Client, token: str) -> Any:
    return client.post("/staff/link/", {"token": token})


def _without_csrf(html: bytes) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html.decode())


def test_email_link_signs_in_once(client: Client, merchant: Merchant, dana: Staff) -> None:
    # given
    give_login(merchant, dana, email="Dana@Example.com")

    # when the staff member asks for a link (the address in another case)
    asked = client.post("/staff/login/link/", {"email": "dana@example.COM"})

    # then one email with a link; only its hash is stored
    assert asked.status_code == 200 and b"a sign-in link is on its way" in asked.content
    token = _token_from_mail()
    assert mail.outbox[0].to == ["dana@example.com"]
    row = StaffSignInToken.objects.get(staff=dana)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash

    # opening the page spends nothing (mail scanners follow links; the token is not even sent)
    page = client.get("/staff/link/")
    assert page.status_code == 200 and 'id="staff-link-token"' in page.content.decode()
    assert page["Referrer-Policy"] == "same-origin"
    assert StaffSignInToken.objects.get(staff=dana).used_at is None
    signed_in = _redeem(client, token)
    assert signed_in.status_code == 302 and signed_in["Location"] == "/staff/"
    assert b"Dana" in client.get("/staff/").content

    # the link is spent: a second use signs nobody in
    other = Client()
    assert _redeem(other, token).status_code == 400
    assert other.get("/staff/")["Location"] == "/staff/login/"


def test_expired_and_wrong_links_sign_nobody_in(client: Client, merchant: Merchant, dana: Staff) -> None:
    give_login(merchant, dana, email="dana@example.com")
    client.post("/staff/login/link/", {"email": "dana@example.com"})
    token = _token_from_mail()
    StaffSignInToken.objects.filter(staff=dana).update(expires_at=timezone.now() - timedelta(seconds=1))

    expired = _redeem(client, token)
    assert expired.status_code == 400 and "This link does not work" in expired.content.decode()
    assert _redeem(client, "not-a-token").status_code == 400
    assert client.get("/staff/")["Location"] == "/staff/login/"
    assert StaffSignInToken.objects.get(staff=dana).used_at is None


@pytest.mark.parametrize("token", ["", "x" * 101])
def test_bad_link_token_names_the_field(client: Client, token: str) -> None:
    response = _redeem(client, token)
    assert response.status_code == 400
    assert '<label class="field invalid">Sign-in code' in response.content.decode()


def test_a_deactivated_person_cannot_use_a_link(client: Client, merchant: Merchant, dana: Staff) -> None:
    give_login(merchant, dana, email="dana@example.com")
    client.post("/staff/login/link/", {"email": "dana@example.com"})
    token = _token_from_mail()
    Staff.objects.filter(pk=dana.pk).update(is_active=False)
    assert _redeem(client, token).status_code == 400
    assert client.get("/staff/")["Location"] == "/staff/login/"


def test_link_answer_does_not_tell_whether_the_address_is_known(
    client: Client, merchant: Merchant, dana: Staff
) -> None:
    give_login(merchant, dana, email="dana@example.com")
    known = client.post("/staff/login/link/", {"email": "dana@example.com"})
    unknown = client.post("/staff/login/link/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert _without_csrf(known.content) == _without_csrf(unknown.content)
    assert len(mail.outbox) == 1


def test_links_per_person_are_limited_silently(client: Client, settings: Any, merchant: Merchant, dana: Staff) -> None:
    settings.STAFF_LINKS_PER_WINDOW = 2
    give_login(merchant, dana, email="dana@example.com")
    answers = [client.post("/staff/login/link/", {"email": "dana@example.com"}).status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert len(mail.outbox) == 2 and StaffSignInToken.objects.filter(staff=dana).count() == 2


def test_link_requests_per_address_are_throttled(client: Client, settings: Any) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "staff": [2, 60]}
    codes = [client.post("/staff/login/link/", {"email": f"x{i}@example.com"}).status_code for i in range(3)]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("email", ["", "not-an-email", "a@" + "b" * 260 + ".com"])
def test_bad_link_request_names_the_field(client: Client, email: str) -> None:
    response = client.post("/staff/login/link/", {"email": email})
    assert response.status_code == 400
    assert 'class="field invalid">Your email' in response.content.decode()
    assert not mail.outbox and not StaffSignInToken.objects.exists()


def test_pin_with_the_merchants_code_signs_in(client: Client, merchant: Merchant, dana: Staff) -> None:
    code = give_login(merchant, dana, email="dana@example.com")
    typed = f"{code[:4].lower()}-{code[4:].lower()}"  # as people type it
    response = pin_sign_in(client, code=typed, name="dana@example.com")
    assert response.status_code == 302 and response["Location"] == "/staff/"
    client.post("/staff/logout/")
    assert pin_sign_in(client, code=code, name="@DANA").status_code == 302


@pytest.mark.parametrize("case", ["wrong_pin", "wrong_code", "unknown_name", "no_pin", "other_merchant"])
def test_every_wrong_part_gets_the_same_answer(
    client: Client, merchant: Merchant, other_merchant: Merchant, dana: Staff, case: str
) -> None:
    code = give_login(merchant, dana)
    their_code = give_login(other_merchant, StaffFactory(merchant=other_merchant, blink_username="eve"))
    nopin = StaffFactory(merchant=merchant, blink_username="nopin")
    name, pin = "dana", PIN
    if case == "wrong_pin":
        pin = "0000"
    elif case == "wrong_code":
        code = "ZZZZZZZZ"
    elif case == "unknown_name":
        name = "mallory"
    elif case == "no_pin":
        name = nopin.blink_username
    else:
        code = their_code  # dana does not work there
    response = pin_sign_in(client, code=code, name=name, pin=pin)
    assert response.status_code == 400
    assert "Wrong code, name or PIN." in response.content.decode()
    assert client.get("/staff/")["Location"] == "/staff/login/"


def test_five_wrong_pins_lock_the_pin(client: Client, settings: Any, merchant: Merchant, dana: Staff) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "staff": [100, 60]}  # the PIN's lock only
    code = give_login(merchant, dana)
    answers = [pin_sign_in(client, code=code, name="dana", pin="1111").status_code for _ in range(5)]
    assert answers == [400] * 5
    assert StaffLogin.objects.get(staff=dana).locked_until is not None

    # the right PIN is refused while locked, with the same answer as a wrong one or an unknown name
    # (a lock must not confirm that the name exists)
    locked = pin_sign_in(client, code=code, name="dana")
    unknown = pin_sign_in(client, code=code, name="nobody", pin="1111")
    assert locked.status_code == unknown.status_code == 400
    assert _without_csrf(locked.content) == _without_csrf(unknown.content).replace('value="nobody"', 'value="dana"')
    assert client.get("/staff/")["Location"] == "/staff/login/"

    # once the lock has passed, the right PIN works and the count starts again
    StaffLogin.objects.filter(staff=dana).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert pin_sign_in(client, code=code, name="dana").status_code == 302
    assert StaffLogin.objects.get(staff=dana).failed_attempts == 0


def test_sign_in_failures_per_address_are_throttled(
    client: Client, settings: Any, merchant: Merchant, dana: Staff
) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "staff": [3, 60]}
    code = give_login(merchant, dana)
    for name in ("a", "b", "c"):
        assert pin_sign_in(client, code=code, name=name).status_code == 400
    assert pin_sign_in(client, code=code, name="dana").status_code == 429


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "dana", "pin": PIN}, "Merchant code"),
        ({"code": "ABCDEFGH", "pin": PIN}, "Your email or Blink username"),
        ({"code": "ABCDEFGH", "name": "dana"}, "PIN"),
        ({"code": "ABCDEFGH", "name": "dana", "pin": "12ab"}, "PIN"),
        ({"code": "ABCDEFGH", "name": "dana", "pin": "123456789"}, "PIN"),
        ({"code": "A" * 21, "name": "dana", "pin": PIN}, "Merchant code"),
    ],
)
def test_bad_pin_sign_in_names_the_field(
    client: Client, merchant: Merchant, dana: Staff, data: dict[str, str], field: str
) -> None:
    give_login(merchant, dana)
    response = client.post("/staff/login/", data)
    assert response.status_code == 400
    assert f'class="field invalid">{field}' in response.content.decode()
    assert StaffLogin.objects.get(staff=dana).failed_attempts == 0


def test_staff_session_opens_nothing_of_the_merchants(client: Client, merchant: Merchant, dana: Staff) -> None:
    # given the owner was signed in on this browser before the staff member
    client.force_login(merchant.user)
    assert client.get("/settings/").status_code == 200
    code = give_login(merchant, dana)
    assert pin_sign_in(client, code=code, name="dana").status_code == 302

    # then the owner's login is gone and nothing of the dashboard, the cashier's view or the API opens
    for url in (
        "/",
        "/settings/",
        "/settings/staff-access/",
        "/transactions/",
        "/tips/",
        f"/tips/{dana.pk}/",
        f"/tips/{dana.pk}/statement.csv",
        "/payroll/",
        "/payroll/payroll.csv",
        "/report/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert client.get("/cashier/")["Location"] == "/cashier/login/"
    for url in ("/api/v1/invoices", "/api/v1/merchant", "/api/v1/staff"):
        assert client.get(url).status_code in (401, 403), url
    assert client.get("/staff/").status_code == 200


def test_merchant_session_does_not_open_staff_pages(client_a: Client) -> None:
    for url in ("/staff/", "/staff/statement.csv", "/staff/statement.pdf", "/staff/payouts/sale_tip/1/"):
        assert client_a.get(url)["Location"] == "/staff/login/", url


def test_credential_change_or_deactivation_ends_the_session(client: Client, merchant: Merchant, dana: Staff) -> None:
    code = give_login(merchant, dana)
    pin_sign_in(client, code=code, name="dana")
    staff_login_update(merchant=merchant, staff_id=dana.pk, email="", pin="9753")
    assert client.get("/staff/")["Location"] == "/staff/login/"

    pin_sign_in(client, code=code, name="dana", pin="9753")
    assert client.get("/staff/").status_code == 200
    Staff.objects.filter(pk=dana.pk).update(is_active=False)
    assert client.get("/staff/")["Location"] == "/staff/login/"


def test_no_token_or_pin_in_logs(client: Client, merchant: Merchant, dana: Staff, capfd: Any, caplog: Any) -> None:
    code = give_login(merchant, dana, email="dana@example.com")
    client.post("/staff/login/link/", {"email": "dana@example.com"})
    token = _token_from_mail()
    _redeem(client, token)
    pin_sign_in(Client(), code=code, name="dana", pin="97531")
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert "staff_link.sent" in logged and "staff_link.redeemed" in logged
    assert token not in logged
    # A PIN is a few digits: as a value of its own, not inside a timestamp's microseconds ("648260")
    for pin in ("97531", PIN):
        assert not re.search(rf"(?<!\d){pin}(?!\d)", logged), pin


def test_cleanup_purges_links_a_day_after_they_expired(client: Client, merchant: Merchant, dana: Staff) -> None:
    from payments.services.maintenance import old_data_cleanup

    give_login(merchant, dana, email="dana@example.com")
    for _ in range(3):
        client.post("/staff/login/link/", {"email": "dana@example.com"})
    old, recent, live = StaffSignInToken.objects.order_by("pk")
    StaffSignInToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=2))
    StaffSignInToken.objects.filter(pk=recent.pk).update(expires_at=timezone.now() - timedelta(hours=2))

    old_data_cleanup(dry_run=True)
    assert StaffSignInToken.objects.count() == 3
    old_data_cleanup()
    assert list(StaffSignInToken.objects.order_by("pk").values_list("pk", flat=True)) == [recent.pk, live.pk]


def test_one_address_at_two_merchants_gets_a_link_for_each(
    client: Client, merchant: Merchant, other_merchant: Merchant, dana: Staff
) -> None:
    give_login(merchant, dana, email="dana@example.com")
    there = StaffFactory(merchant=other_merchant, display_name="Dana B", blink_username="danab")
    give_login(other_merchant, there, email="dana@example.com")

    client.post("/staff/login/link/", {"email": "dana@example.com"})

    assert sorted(m.subject for m in mail.outbox) == sorted(
        f"Your sign-in link for {m.name}" for m in (merchant, other_merchant)
    )
    tokens = [re.search(r"/staff/link/#(\S+)", m.body).group(1) for m in mail.outbox]  # type: ignore[union-attr]
    signed_in = set()
    for token in tokens:
        browser = Client()
        assert _redeem(browser, token).status_code == 302
        signed_in.add("Dana B" in browser.get("/staff/").content.decode())
    assert signed_in == {False, True}  # each link opened its own person's pages
