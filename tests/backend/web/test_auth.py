"""The token check: scopes, the case-insensitive scheme, 401 against 403, token lists, and the default token."""

from __future__ import annotations

import hashlib
import logging
import stat
from pathlib import Path

import pytest

from otel_margin_backend.service.tokens import TOKEN_FILE, resolve_token, token_check
from otel_margin_backend.settings import Settings
from otel_margin_backend.web.auth import Scope, Token, TokenCheck, TokenListError, parse_tokens
from otel_margin_backend.web.status import Forbidden, Unauthenticated, classify

INGEST = "ingest-token-0123456789"
READ = "read-token-0123456789ab"
ADMIN = "admin-token-0123456789a"
BUDGETS = "check-token-0123456789ab"
CHECK = TokenCheck([
    Token.of("collector", Scope.INGEST, INGEST),
    Token.of("finance", Scope.READ, READ),
    Token.of("ops", Scope.ADMIN, ADMIN),
    Token.of("app", Scope.BUDGETS_CHECK, BUDGETS),
])  # fmt: skip


@pytest.mark.parametrize(
    ("token", "granted"),
    [
        (INGEST, {Scope.INGEST}),
        (READ, {Scope.READ, Scope.BUDGETS_CHECK}),
        (ADMIN, {Scope.INGEST, Scope.READ, Scope.ADMIN, Scope.BUDGETS_CHECK}),
        (BUDGETS, {Scope.BUDGETS_CHECK}),
    ],
)
def test_a_scope_grants_itself_read_grants_the_check_and_admin_everything(token: str, granted: set[Scope]) -> None:
    for scope in Scope:
        if scope in granted:
            assert CHECK.check(f"Bearer {token}", scope) is not None
        else:
            with pytest.raises(Forbidden):
                CHECK.check(f"Bearer {token}", scope)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(scheme: str) -> None:
    found = CHECK.check(f"{scheme} {READ}", Scope.READ)
    assert found is not None and (found.name, found.scope) == ("finance", Scope.READ)


@pytest.mark.parametrize(
    ("header", "message", "challenge"),
    [
        (None, "missing Authorization header: send 'Authorization: Bearer <token>'", "Bearer"),
        ("", "missing Authorization header: send 'Authorization: Bearer <token>'", "Bearer"),
        (f"Basic {READ}", "send the token as 'Authorization: Bearer <token>'", "Bearer"),
        ("Bearer", "send the token as 'Authorization: Bearer <token>'", "Bearer"),
        ("Bearer wrong-token-0123456789", "invalid token: check it, or ask for one (docs/security.md)",
         'Bearer error="invalid_token"'),
        (f"Bearer {READ}x", "invalid token: check it, or ask for one (docs/security.md)",
         'Bearer error="invalid_token"'),
    ],
)  # fmt: skip
def test_no_or_an_unknown_token_is_401_with_the_challenge(header: str | None, message: str, challenge: str) -> None:
    with pytest.raises(Unauthenticated) as info:
        CHECK.check(header, Scope.READ)
    failure = classify(info.value)
    assert (failure.http_status, failure.grpc_code.name, failure.message) == (401, "UNAUTHENTICATED", message)
    assert failure.headers() == {"WWW-Authenticate": challenge}


def test_a_known_token_of_another_scope_is_403_naming_the_scope_needed() -> None:
    with pytest.raises(Forbidden) as info:
        CHECK.check(f"Bearer {READ}", Scope.ADMIN)
    failure = classify(info.value)
    assert (failure.http_status, failure.grpc_code.name) == (403, "PERMISSION_DENIED")
    assert failure.message == (
        "token 'finance' has scope read, and this needs admin: use a token of that scope (docs/security.md)"
    )
    assert failure.headers() == {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="admin"'}


def test_a_check_only_token_is_403_elsewhere_and_the_check_names_every_scope_that_grants_it() -> None:
    with pytest.raises(Forbidden) as info:
        CHECK.check(f"Bearer {BUDGETS}", Scope.READ)
    assert classify(info.value).message == (
        "token 'app' has scope budgets:check, and this needs read or admin: use a token of that scope "
        "(docs/security.md)"
    )
    with pytest.raises(Forbidden) as info:
        CHECK.check(f"Bearer {INGEST}", Scope.BUDGETS_CHECK)
    failure = classify(info.value)
    assert failure.message == (
        "token 'collector' has scope ingest, and this needs budgets:check, read or admin: use a token of that "
        "scope (docs/security.md)"
    )
    assert failure.headers() == {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="budgets:check"'}


def test_auth_off_lets_everything_through() -> None:
    assert TokenCheck(None).check(None, Scope.ADMIN) is None
    assert not TokenCheck(None).enabled


def test_a_plain_string_is_the_default_admin_token() -> None:
    found = TokenCheck("s3cret-s3cret-s3cret").check("Bearer s3cret-s3cret-s3cret", Scope.INGEST)
    assert found is not None and (found.name, found.scope) == ("default", Scope.ADMIN)


def test_tokens_are_kept_as_digests_only() -> None:
    assert CHECK.names == {"collector": Scope.INGEST, "finance": Scope.READ, "ops": Scope.ADMIN,
                           "app": Scope.BUDGETS_CHECK}  # fmt: skip
    for token in (INGEST, READ, ADMIN, BUDGETS):
        assert token not in repr(CHECK._tokens) and token.encode() not in b"".join(
            t.sha256 for t in CHECK._tokens or ()
        )


def test_a_token_list_takes_clear_tokens_and_digests() -> None:
    hexdigest = hashlib.sha256(READ.encode()).hexdigest()
    tokens = parse_tokens(f" collector:ingest:{INGEST} ,finance:READ:sha256:{hexdigest.upper()}", source="VAR")
    assert tokens == [Token.of("collector", Scope.INGEST, INGEST), Token.of("finance", Scope.READ, READ)]
    assert TokenCheck(tokens).check(f"bearer {READ}", Scope.READ) == tokens[1]


def test_the_check_scope_with_its_own_colon_reads_in_a_list_and_a_file() -> None:
    hexdigest = hashlib.sha256(BUDGETS.encode()).hexdigest()
    assert parse_tokens(f"app:budgets:check:{BUDGETS}, app2:Budgets:Check:sha256:{hexdigest}", source="VAR") == [
        Token.of("app", Scope.BUDGETS_CHECK, BUDGETS),
        Token("app2", Scope.BUDGETS_CHECK, bytes.fromhex(hexdigest)),
    ]
    assert parse_tokens(f"app:budgets:check:sha256:{hexdigest}\n", source="F", digests_only=True) == [
        Token("app", Scope.BUDGETS_CHECK, bytes.fromhex(hexdigest))
    ]


@pytest.mark.parametrize(
    ("text", "digests_only", "message"),
    [
        ("collector", False, "VAR: expected name:scope:token or name:scope:sha256:<hex>, the name of letters, "
         "digits, '.', '_' or '-'"),
        (f"bad name:ingest:{INGEST}", False, "VAR: expected name:scope:token or name:scope:sha256:<hex>, the name "
         "of letters, digits, '.', '_' or '-'"),
        (f"a:write:{INGEST}", False, "VAR: scope 'write' of 'a': use ingest, read, admin or budgets:check"),
        (f"a:read:{INGEST},a:admin:{ADMIN}", False, "VAR: the name 'a' is used twice; give each token its own name"),
        ("a:read:short", False, "VAR: the token of 'a' is shorter than 16 characters; make one with: python3 -c "
         "'import secrets; print(secrets.token_urlsafe(32))'"),
        ("a:read:sha256:abc", False, "VAR: the digest of 'a' is not 64 hex digits"),
        (f"# tokens\na:read:{INGEST}\n", True, "VAR:2: 'a' is in clear; keep its digest instead: "
         "a:read:sha256:$(printf %s \"$TOKEN\" | sha256sum | cut -c1-64)"),
    ],
)  # fmt: skip
def test_a_bad_token_list_entry_is_refused_naming_it(text: str, digests_only: bool, message: str) -> None:
    with pytest.raises(TokenListError) as info:
        parse_tokens(text, source="VAR", digests_only=digests_only)
    assert str(info.value) == message


def test_the_example_token_file_is_a_valid_token_file() -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "otel-margin.tokens.example"
    tokens = parse_tokens(example.read_text(), source=str(example), digests_only=True)
    assert [(t.name, t.scope) for t in tokens] == [("collector", Scope.INGEST), ("finance", Scope.READ)]


def test_serve_makes_the_default_admin_token_once_and_keeps_it_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    with caplog.at_level(logging.INFO):
        first = resolve_token(settings)
    assert first is not None and len(first) == 43
    assert resolve_token(settings) == first
    assert stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode) == 0o600
    assert first not in caplog.text and str(tmp_path / TOKEN_FILE) in str([r.__dict__ for r in caplog.records])


def test_serve_accepts_the_default_token_and_named_tokens_from_the_variable_and_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(f"# name:scope:sha256\nfinance:read:sha256:{hashlib.sha256(READ.encode()).hexdigest()}\n")
    settings = Settings(data_dir=tmp_path, ingest_token=ADMIN, tokens=f"collector:ingest:{INGEST}",
                        tokens_file=tokens_file, _env_file=None)  # fmt: skip
    with caplog.at_level(logging.INFO):
        check = token_check(settings)
    assert check.names == {"default": Scope.ADMIN, "collector": Scope.INGEST, "finance": Scope.READ}
    assert [check.check(f"Bearer {t}", Scope.INGEST if t == INGEST else Scope.READ) for t in (ADMIN, INGEST, READ)]
    for token in (ADMIN, INGEST, READ):
        assert token not in caplog.text and token not in str([r.__dict__ for r in caplog.records])
    assert not (tmp_path / TOKEN_FILE).exists()


def test_serve_refuses_a_name_taken_twice_and_an_unreadable_file(tmp_path: Path) -> None:
    taken = Settings(data_dir=tmp_path, ingest_token=ADMIN, tokens=f"default:read:{READ}", _env_file=None)
    with pytest.raises(TokenListError, match="the token name 'default' is used twice"):
        token_check(taken)
    missing = Settings(data_dir=tmp_path, ingest_token=ADMIN, tokens_file=tmp_path / "nope", _env_file=None)
    with pytest.raises(TokenListError) as info:
        token_check(missing)
    assert str(info.value) == (f"cannot read OTEL_MARGIN_TOKENS_FILE {tmp_path / 'nope'}: No such file or "
                               "directory; check the path and that serve may read it")  # fmt: skip


def test_auth_off_checks_no_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, ingest_auth=False, tokens=f"collector:ingest:{INGEST}", _env_file=None)
    assert not token_check(settings).enabled
