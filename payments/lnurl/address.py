"""Lightning addresses (LUD-16): ``name@domain`` -> the LNURL-pay URL behind it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from payments.net.safe_http import SafeHttpPolicy

# LUD-16: the name is a-z0-9-_.+ ; we compare and store it lower case. A domain is a DNS name (or an
# IP literal for the local tests), optionally with a port.
_NAME = re.compile(r"[a-z0-9\-_.+]{1,64}")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}(?::[0-9]{{1,5}})?")
MAX_ADDRESS_LENGTH = 255


class InvalidAddress(ValueError):
    """Not a Lightning address; the message says why (shown to the person who typed it)."""


@dataclass(frozen=True, kw_only=True)
class LightningAddress:
    name: str
    domain: str  # host[:port], lower case

    def __str__(self) -> str:
        return f"{self.name}@{self.domain}"

    @property
    def host(self) -> str:
        return self.domain.rsplit(":", 1)[0] if ":" in self.domain else self.domain

    def pay_url(self, policy: SafeHttpPolicy) -> str:
        """LUD-16's well-known URL: https, or http for a ``host:port`` the policy lists."""
        port = int(self.domain.rsplit(":", 1)[1]) if ":" in self.domain else 443
        scheme = "http" if ":" in self.domain and policy.http_allowed(self.host, port) else "https"
        return f"{scheme}://{self.domain}/.well-known/lnurlp/{self.name}"


def parse_address(value: object) -> LightningAddress:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress("Give a Lightning address such as name@example.com.")
    text = value.strip().lower()
    if len(text) > MAX_ADDRESS_LENGTH or text.count("@") != 1:
        raise InvalidAddress("A Lightning address looks like name@example.com.")
    name, domain = text.split("@")
    if not _NAME.fullmatch(name):
        raise InvalidAddress("The part before @ may hold only letters, digits and - _ . +")
    if not _DOMAIN.fullmatch(domain) or "." not in domain.split(":")[0]:
        raise InvalidAddress("The part after @ must be a domain name such as example.com.")
    if ":" in domain and not 0 < int(domain.rsplit(":", 1)[1]) < 65536:
        raise InvalidAddress("The port after the domain is out of range.")
    return LightningAddress(name=name, domain=domain)
