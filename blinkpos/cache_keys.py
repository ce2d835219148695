"""Cache key function: keys are stored exactly as named (``tip:{hash}``), so operators and the
seed's tooling find them with a plain ``redis-cli GET tip:<hash>``."""


def plain_key(key: str, key_prefix: str, version: int) -> str:
    return f"{key_prefix}{key}" if key_prefix else key
