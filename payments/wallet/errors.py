"""Errors a wallet call can raise, one class per decision a caller has to make.

Callers branch on the class, never on message text:

- ``WalletUnavailable`` (and ``RateLimited``): try again later; nothing is known to have happened.
- ``RecipientNotFound`` / ``WrongCurrency`` / ``ReceiveDisabled``: the recipient cannot be paid this
  way; hold the share and tell an operator.
- ``InvalidInput``: a bug or bad data on our side; ``field`` names the argument.
- ``NotAuthorized``: the API key is wrong or lacks a scope; configuration, not retryable.
- ``WalletProtocolError``: Blink answered something we cannot trust (bad preimage, wrong shape).

Sends never raise these for transport problems: ``pay_invoice`` returns ``SendResult(UNKNOWN)``.
"""

from __future__ import annotations


class WalletError(Exception):
    """Base class. ``code`` is Blink's error code when Blink gave one, else our own label."""

    retryable: bool = False

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        where = f" (field: {self.field})" if self.field else ""
        return f"{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, field={self.field!r})"


class WalletUnavailable(WalletError):
    """Transport error, timeout, gateway 5xx/429, or an answer we could not parse. Retryable."""

    retryable = True

    def __init__(self, code: str, message: str, field: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(code, message, field)
        self.retry_after = retry_after


class RateLimited(WalletUnavailable):
    """Blink's TOO_MANY_REQUEST (invoice-creation limits) or an HTTP 429 from the gateway."""


class ReceiveDisabled(WalletError):
    """RECEIVE_DISABLED: the recipient account is in Blink's custodial wind-down."""


class NotFound(WalletError):
    """Blink does not know the thing we asked about."""


class RecipientNotFound(NotFound):
    """Unknown username or wallet id (NOT_FOUND, or Blink's catch-all CouldNotFindWalletFrom...)."""


class InvoiceNotFound(NotFound):
    """No Blink invoice with that payment hash."""


class WrongCurrency(WalletError):
    """The account has no BTC wallet, or the wallet given is not a BTC wallet."""


class InsufficientBalance(WalletError):
    """INSUFFICIENT_BALANCE."""


class InvalidInput(WalletError):
    """Rejected input: by our own checks before any request (``field`` set) or by Blink."""


class DuplicateExternalId(InvalidInput):
    """An invoice with this externalId already exists on the account: an earlier attempt succeeded."""


class NotAuthorized(WalletError):
    """Missing/unknown API key or a key without the needed scope (NOT_AUTHENTICATED/NOT_AUTHORIZED)."""


class WalletProtocolError(WalletError):
    """Blink answered something inconsistent: a preimage that does not hash to the payment hash,
    a missing field, a document Blink says is invalid. Not retryable: someone has to look."""
