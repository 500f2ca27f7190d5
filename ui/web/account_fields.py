"""The account form's values checked with the one account validation, plus the account's name."""

from __future__ import annotations

from collections.abc import Mapping

from core.account_check import (
    CUSTOM_PRESET,
    MAX_PORT,
    MAX_TIMEOUT,
    TIMEOUT_FIELDS,
    AccountCheck,
    check_account,
)
from core.errors import InputError
from core.models import Account
from core.presets import Preset
from storage.settings import validate_account_name

__all__ = [
    "CUSTOM_PRESET",
    "MAX_PORT",
    "MAX_TIMEOUT",
    "TIMEOUT_FIELDS",
    "FormResult",
    "build_account",
    "preset_limits_text",
]

FormResult = AccountCheck


def preset_limits_text(preset: Preset) -> str:
    """The provider's sending limits as a person reads them, unofficial figures marked."""
    if not preset.limits_note:
        return ""
    if preset.limits_official:
        return f"Documented limits: {preset.limits_note}"
    return f"Unofficial limits (reported by users, not documented): {preset.limits_note}"


def build_account(values: Mapping[str, object], *, base: Account | None = None) -> AccountCheck:
    """Check the form's values and the account's name; `base` keeps fields the form lacks."""
    merged = dict(values)
    if base is not None and "local_hostname" not in merged:
        merged["local_hostname"] = base.local_hostname or ""
    result = check_account(merged)
    try:
        validate_account_name(str(values.get("name") or "").strip())
    except InputError as exc:
        result.errors = {"name": exc.message[0].upper() + exc.message[1:] + ".", **result.errors}
        result.account = None
    return result
