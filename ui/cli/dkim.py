"""`python main.py dkim generate|import|show|remove`: a saved account's DKIM key and DNS record."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.dkim import DkimSigner
from core.errors import InputError
from core.models import Account
from storage.dkim_keys import (
    DkimKey,
    delete_key,
    generate_key,
    has_key,
    import_key,
    load_key,
    save_key,
    signer_for,
)
from storage.errors import AccountNotFoundError, StorageError
from storage.settings import SavedAccount
from ui.cli.common import EXIT_OK, EXIT_SOME_FAILED, CommandError, open_settings, open_vault
from ui.services.deliverability import sender_domain_report

__all__ = ["dkim_domain_of", "print_domain_check", "register", "signer_for_account"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dkim",
        help="DKIM signing for a saved account: generate or import a key, show the DNS record",
        description="An account with a DKIM key signs every message it sends. The private key "
        "is kept in the vault (encrypted); publish the TXT record `dkim show` prints at "
        "SELECTOR._domainkey.DOMAIN, then check it with `verify --account NAME`.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser("generate", help="make a new key (RSA-2048, or --ed25519)")
    _key_options(generate)
    generate.add_argument(
        "--ed25519", action="store_true", help="an Ed25519 key (RFC 8463; not every receiver)"
    )
    generate.set_defaults(func=_generate)
    imported = actions.add_parser("import", help="import an unencrypted PEM private key")
    _key_options(imported)
    imported.add_argument("--key", required=True, metavar="FILE", help="the PEM file")
    imported.set_defaults(func=_import)
    show = actions.add_parser("show", help="show the key's DNS record")
    show.add_argument("--account", required=True, metavar="NAME")
    show.set_defaults(func=_show)
    remove = actions.add_parser("remove", help="forget the key (messages go out unsigned)")
    remove.add_argument("--account", required=True, metavar="NAME")
    remove.set_defaults(func=_remove)


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", required=True, metavar="NAME", help="a saved account")
    parser.add_argument("--domain", metavar="D", help="the signing domain (default: From's)")
    parser.add_argument("--selector", required=True, metavar="S", help="e.g. mail2026")
    parser.add_argument("--replace", action="store_true", help="replace the account's key")


def _saved(name: str) -> SavedAccount:
    try:
        return open_settings().get_saved_account(name)
    except AccountNotFoundError:
        raise CommandError(f"no saved account named {name!r} (see `account list`)") from None
    except StorageError as exc:
        raise CommandError(str(exc)) from None


def _store(args: argparse.Namespace) -> tuple[str, str]:
    saved = _saved(args.account)
    domain = args.domain or saved.account.sender.rpartition("@")[2]
    vault = open_vault()
    if has_key(vault, saved.name) and not args.replace:
        raise CommandError(
            f"account {saved.name!r} has a DKIM key already: pass --replace to change it (the "
            "old DNS record then stops matching)"
        )
    return saved.name, domain


def _finish(name: str, key: DkimKey, sender: str) -> int:
    try:
        save_key(open_vault(), name, key)
    except (StorageError, InputError) as exc:
        raise CommandError(str(exc)) from None
    print(f"Account {name!r} now signs every message with DKIM ({key.algorithm.value}).")
    _print_record(key, sender)
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    name, domain = _store(args)
    try:
        key = generate_key(domain, args.selector, ed25519_key=args.ed25519)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    return _finish(name, key, _saved(name).account.sender)


def _import(args: argparse.Namespace) -> int:
    name, domain = _store(args)
    path = Path(args.key)
    try:
        key = import_key(path.read_bytes(), domain, args.selector, source=str(path))
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    except InputError as exc:
        raise CommandError(str(exc)) from None
    return _finish(name, key, _saved(name).account.sender)


def _print_record(key: DkimKey, sender: str) -> None:
    print("Publish this TXT record in your domain's DNS:")
    print(f"  Name:  {key.record_name}")
    print(f"  Value: {key.record_value}")
    print(f"  Zone file: {key.zone_line()}")
    from_domain = sender.rpartition("@")[2].lower()
    if from_domain != key.domain and not from_domain.endswith("." + key.domain):
        print(
            f"warning: the From domain {from_domain} does not align with d={key.domain}: "
            "DMARC will not count this signature",
            file=sys.stderr,
        )


def _show(args: argparse.Namespace) -> int:
    saved = _saved(args.account)
    try:
        key = load_key(open_vault(), saved.name)
    except (StorageError, InputError) as exc:
        raise CommandError(str(exc)) from None
    if key is None:
        print(f"Account {saved.name!r} has no DKIM key: messages go out unsigned.")
        return EXIT_SOME_FAILED
    print(
        f"Account {saved.name!r} signs with {key.algorithm.value}, "
        f"d={key.domain}, s={key.selector}."
    )
    _print_record(key, saved.account.sender)
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    saved = _saved(args.account)
    if not delete_key(open_vault(), saved.name):
        print(f"Account {saved.name!r} had no DKIM key.")
        return EXIT_SOME_FAILED
    print(f"Account {saved.name!r} no longer signs with DKIM.")
    return EXIT_OK


def dkim_domain_of(name: str | None) -> str | None:
    """The d= a saved account signs with, or None (the vault is opened only if it has a key)."""
    if not name:
        return None
    try:
        vault = open_vault()
        key = load_key(vault, name) if has_key(vault, name) else None
    except (StorageError, InputError) as exc:
        print(f"warning: DKIM key of {name!r} not read: {exc}", file=sys.stderr)
        return None
    return None if key is None else key.domain


def print_domain_check(account: Account, name: str | None) -> None:
    """The sender-domain check's lines (warnings only: it never changes the exit code)."""
    key = None
    if name:
        try:
            key = load_key(open_vault(), name)
        except (StorageError, InputError) as exc:
            print(f"warning: DKIM key of {name!r} not read: {exc}", file=sys.stderr)
    for line in sender_domain_report(account, key).lines():
        print(line)


def signer_for_account(account: Account, name: str | None = None) -> DkimSigner | None:
    """The DKIM signer of the saved account `name`, or of the one sending as `account`.

    None when no saved account has a key; the vault is opened only when one has.
    """
    settings = open_settings()
    names = (
        [name]
        if name
        else [
            saved.name
            for saved in settings.list_accounts()
            if (saved.account.host.lower(), saved.account.username, saved.account.sender.lower())
            == (account.host.lower(), account.username, account.sender.lower())
        ]
    )
    for candidate in names:
        try:
            signer = signer_for(open_vault(), candidate)
        except (StorageError, InputError) as exc:
            raise CommandError(f"account {candidate!r}: DKIM key: {exc}") from None
        if signer is not None:
            print(f"Signing with DKIM: d={signer.domain}, s={signer.selector}.", file=sys.stderr)
            return signer
    return None
