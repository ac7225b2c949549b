"""Tests for core.secrets (SecretBox, key files, log redaction) and the Store's linked Discogs accounts."""
from __future__ import annotations

import base64
import logging
import os
import secrets as pysecrets
import stat
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from core.domain.release import CollectionItem, Release
from core.secrets import (
    ENV_KEY,
    MASK,
    PREFIX,
    RedactSecrets,
    SecretBox,
    SecretError,
    install_redaction,
    redact,
    uninstall_redaction,
)
from core.storage import Store

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")


def _token() -> str:
    """A fresh Discogs-like personal token (40 chars), unique per test."""
    return pysecrets.token_hex(20)


@pytest.fixture()
def box() -> SecretBox:
    return SecretBox(key=SecretBox.generate_key())


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "crate.db"


@pytest.fixture()
def store(db_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{db_path}")
    yield s
    s.close()


def _db_bytes(db_path: Path) -> bytes:
    """The database file and its WAL/journal (whichever exist), concatenated."""
    out = b""
    for suffix in ("", "-wal", "-journal"):
        p = Path(f"{db_path}{suffix}")
        if p.exists():
            out += p.read_bytes()
    return out


def _forms(secret: str) -> list[bytes]:
    """The secret and its base64 encodings, as they could appear in a file."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), base64.b64encode(raw).rstrip(b"=")]


# ------------------------------------------------------------------------------------------------ SecretBox


def test_round_trip(box: SecretBox) -> None:
    for plain in (_token(), "tøken with ünïcode ✓", "x"):
        enc = box.encrypt(plain)
        assert enc.startswith(PREFIX) and SecretBox.is_encrypted(enc)
        assert len(plain) < 4 or plain not in enc
        assert box.decrypt(enc) == plain
    tok = _token()
    assert box.encrypt(tok) != box.encrypt(tok)  # random IV: equal secrets do not give equal ciphertexts
    assert tok not in repr(box)


def test_wrong_key_or_corrupt_value_raises(box: SecretBox) -> None:
    tok = _token()
    enc = box.encrypt(tok)
    other = SecretBox(key=SecretBox.generate_key())
    with pytest.raises(SecretError, match="wrong key") as err:
        other.decrypt(enc)
    assert tok not in str(err.value)
    body = enc[len(PREFIX):]
    flipped = PREFIX + body[:30] + ("A" if body[30] != "A" else "B") + body[31:]
    with pytest.raises(SecretError):
        box.decrypt(flipped)
    with pytest.raises(SecretError, match="prefix"):
        box.decrypt(body)  # not produced by encrypt()
    with pytest.raises(SecretError):
        box.decrypt(PREFIX + "not-a-token")


def test_invalid_key_is_a_clear_error() -> None:
    bad = "definitely-not-a-fernet-key"
    with pytest.raises(SecretError, match="not a valid Fernet key") as err:
        SecretBox(env={ENV_KEY: bad})
    assert bad not in str(err.value)


@posix_only
def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "nested" / "dir" / "secret.key"
    box1 = SecretBox(env={}, cfg={"secrets": {"key_file": str(key_file)}})
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    tok = _token()
    enc = box1.encrypt(tok)

    box2 = SecretBox(key_file=key_file, env={})
    assert box2.decrypt(enc) == tok
    assert key_file.read_bytes() == content  # reused, not regenerated
    assert SecretBox(key=content.decode().strip()).decrypt(enc) == tok  # the file holds the key actually used


@posix_only
def test_existing_key_file_is_used_not_overwritten(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    key_file = tmp_path / "secret.key"
    fd = os.open(key_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.write(fd, key.encode() + b"\n")
    os.close(fd)
    enc = SecretBox(key_file=key_file, env={}).encrypt("hello-secret")
    assert SecretBox(key=key).decrypt(enc) == "hello-secret"
    assert key_file.read_text().strip() == key


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_key_file_accessible_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "secret.key"
    SecretBox(key_file=key_file, env={})  # created 0600
    os.chmod(key_file, mode)
    with pytest.raises(SecretError, match="group/others") as err:
        SecretBox(key_file=key_file, env={})
    assert key_file.read_text().strip() not in str(err.value)
    os.chmod(key_file, 0o600)
    SecretBox(key_file=key_file, env={})  # fine again once restricted


def test_env_key_takes_precedence_over_key_file(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    key_file = tmp_path / "secret.key"
    box = SecretBox(env={ENV_KEY: key}, cfg={"secrets": {"key_file": str(key_file)}})
    assert not key_file.exists()  # no key file needed, none created
    tok = _token()
    assert SecretBox(key=key).decrypt(box.encrypt(tok)) == tok
    assert box.source == f"${ENV_KEY}" and key not in repr(box)


def test_env_key_from_process_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    monkeypatch.setenv(ENV_KEY, key)
    box = SecretBox(cfg={"secrets": {"key_file": str(tmp_path / "unused.key")}})
    assert SecretBox(key=key).decrypt(box.encrypt("abcdef")) == "abcdef"
    assert not (tmp_path / "unused.key").exists()


# ------------------------------------------------------------------------------------------ linked accounts


def test_token_never_reaches_the_database_file(store: Store, db_path: Path, box: SecretBox) -> None:
    tok = _token()
    row = store.link_account("ana", "AnaDigs", "token", token=tok, box=box)
    assert row.token_enc is not None and row.token_enc.startswith(PREFIX) and tok not in row.token_enc
    assert tok not in repr(row)
    assert row.token_enc not in repr(row)  # ciphertexts are kept out of reprs too

    with store.engine.connect() as conn:  # what is in the table is the ciphertext
        stored = conn.execute(text("SELECT token_enc FROM linked_accounts")).scalar_one()
    assert stored == row.token_enc

    while_open = _db_bytes(db_path)
    store.close()
    on_disk = _db_bytes(db_path)
    assert b"AnaDigs" in on_disk  # we are reading the right file
    for blob in (while_open, on_disk):
        for form in _forms(tok):
            assert form not in blob

    reopened = Store(f"sqlite:///{db_path}")
    try:
        assert reopened.account_secrets("ana", box) == {"token": tok, "oauth_token": None, "oauth_secret": None}
        with pytest.raises(SecretError):
            reopened.account_secrets("ana", SecretBox(key=SecretBox.generate_key()))
    finally:
        reopened.close()


def test_oauth_credentials_encrypted(store: Store, db_path: Path, box: SecretBox) -> None:
    otok, osec = _token(), _token()
    store.link_account("ben", "BenB", "oauth", oauth_token=otok, oauth_secret=osec, box=box, currency="usd")
    acc = store.linked_account("ben")
    assert acc is not None and acc.auth_kind == "oauth" and acc.currency == "USD" and acc.token_enc is None
    assert store.account_secrets("ben", box) == {"token": None, "oauth_token": otok, "oauth_secret": osec}
    store.close()
    blob = _db_bytes(db_path)
    for secret in (otok, osec):
        for form in _forms(secret):
            assert form not in blob


@pytest.mark.parametrize("keep_username", [False, True])
def test_unlink_removes_the_secret(store: Store, db_path: Path, box: SecretBox, keep_username: bool) -> None:
    tok = _token()
    enc = store.link_account("ana", "AnaDigs", "token", token=tok, box=box).token_enc
    assert enc is not None
    assert store.unlink_account("ana", keep_username=keep_username) is True

    acc = store.linked_account("ana")
    if keep_username:
        assert acc is not None and acc.discogs_username == "AnaDigs" and acc.auth_kind == "username"
        assert acc.token_enc is None and acc.oauth_token_enc is None and acc.oauth_secret_enc is None
    else:
        assert acc is None
        assert store.unlink_account("ana") is False
    assert store.account_secrets("ana", box) == {"token": None, "oauth_token": None, "oauth_secret": None}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM linked_accounts WHERE token_enc IS NOT NULL")).scalar() == 0

    while_open = _db_bytes(db_path)  # a running bot: the WAL was checkpointed and truncated
    store.close()
    for blob in (while_open, _db_bytes(db_path)):
        assert enc.encode() not in blob  # secure_delete + WAL truncation: the ciphertext is gone from the files
        assert enc[len(PREFIX):len(PREFIX) + 40].encode() not in blob
    assert store.get_or_create_user("ana").name == "ana"  # the user itself stays


def test_relink_replaces_previous_link(store: Store, db_path: Path, box: SecretBox) -> None:
    tok = _token()
    old_enc = store.link_account("ana", "AnaDigs", "token", token=tok, box=box, currency="GBP").token_enc
    synced = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    store.set_sync_state("ana", {"newest_date_added": "2026-02-27", "count": 12}, synced)

    otok, osec = _token(), _token()
    store.link_account("ana", "anadigs", "oauth", oauth_token=otok, oauth_secret=osec, box=box)
    acc = store.linked_account("ana")
    assert acc is not None and acc.auth_kind == "oauth" and acc.token_enc is None
    assert acc.currency == "GBP"  # kept
    assert acc.sync_state_dict == {"count": 12, "newest_date_added": "2026-02-27"}  # same account (case-insensitive)
    assert acc.last_sync_at == synced
    assert store.account_secrets("ana", box) == {"token": None, "oauth_token": otok, "oauth_secret": osec}

    store.link_account("ana", "SomeoneElse", "username")
    acc = store.linked_account("ana")
    assert acc is not None and not acc.has_secrets and acc.sync_state_dict == {} and acc.last_sync_at is None
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM linked_accounts")).scalar() == 1
    store.close()
    assert old_enc is not None and old_enc.encode() not in _db_bytes(db_path)


def test_link_validation(store: Store, box: SecretBox) -> None:
    with pytest.raises(ValueError, match="auth_kind"):
        store.link_account("ana", "AnaDigs", "password", box=box)
    with pytest.raises(ValueError, match="needs token"):
        store.link_account("ana", "AnaDigs", "token", token="  ", box=box)
    with pytest.raises(ValueError, match="oauth_secret"):
        store.link_account("ana", "AnaDigs", "oauth", oauth_token=_token(), box=box)
    with pytest.raises(ValueError, match="takes no token"):
        store.link_account("ana", "AnaDigs", "username", token=_token(), box=box)
    with pytest.raises(ValueError, match="SecretBox"):
        store.link_account("ana", "AnaDigs", "token", token=_token())
    with pytest.raises(ValueError, match="discogs_username"):
        store.link_account("ana", " ", "username")
    assert store.linked_account("ana") is None
    acc = store.link_account("ana", " AnaDigs ", "username")
    assert acc.discogs_username == "AnaDigs" and acc.currency == "EUR" and not acc.has_secrets
    assert store.linked_users() == ["ana"]


def test_sync_state(store: Store, box: SecretBox) -> None:
    with pytest.raises(ValueError, match="no linked"):
        store.set_sync_state("ana", {"x": 1})
    store.link_account("ana", "AnaDigs", "token", token=_token(), box=box)
    before = datetime.now(timezone.utc)
    store.set_sync_state("ana", {"newest_date_added": date(2026, 1, 15), "collection": 1851, "wantlist": 3})
    acc = store.linked_account("ana")
    assert acc is not None
    assert acc.sync_state_dict == {"newest_date_added": "2026-01-15", "collection": 1851, "wantlist": 3}
    assert acc.last_sync_at is not None and acc.last_sync_at >= before - timedelta(seconds=1)
    naive = datetime(2026, 2, 1, 8, 30)
    store.set_sync_state("ana", {}, naive)
    acc = store.linked_account("ana")
    assert acc is not None and acc.sync_state_dict == {}
    assert acc.last_sync_at == naive.replace(tzinfo=timezone.utc)


# ----------------------------------------------------------------------------------------------- forget_user


def _populate(store: Store, user: str, box: SecretBox, base_id: int) -> str:
    tok = _token()
    items = [CollectionItem(release=Release(id=base_id + i, title=f"{user} record {i}"),
                            date_added=date(2025, 1, 1 + i)) for i in range(3)]
    store.replace_collection(user, items)
    store.add_items(user, [CollectionItem(release=Release(id=999_001, title="Shared"))], list_name="wantlist")
    # what Discogs said about them: the shared cache (a user's own file never writes it)
    store.cache_releases([it.release for it in items] + [Release(id=999_001, title="Shared")], source="discogs-api")
    sid = store.record_score(user, base_id, 0.8, "buy", "catboost", ["reason"])
    store.add_feedback(user, base_id, "like", score_id=sid)
    store.add_feedback(user, base_id + 1, "bought")
    store.register_model(user, "v1", f"/models/{user}/v1", {"auc": 0.7}, 3, 9)
    store.link_account(user, f"{user}_discogs", "token", token=tok, box=box)
    store.set_settings(user, {"currency": "EUR"})
    w = store.watch(user, base_id + 2, max_price=20.0)                 # a record watched on the marketplace…
    store.record_alert(user, w.id or 0, 18.0, "EUR", "below_max", datetime(2025, 2, 1, tzinfo=timezone.utc))
    return tok


def _rows_of(store: Store, user_id: int) -> dict[str, int]:
    with store.engine.connect() as conn:
        out = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t} WHERE user_id = :u"), {"u": user_id}).scalar()
               for t in ("collection_entries", "scores_served", "feedback", "model_versions", "linked_accounts",
                         "watches", "watch_alerts")}
        out["users"] = conn.execute(text("SELECT COUNT(*) FROM users WHERE id = :u"), {"u": user_id}).scalar()
    return out


def test_forget_user_removes_everything_of_that_user_only(store: Store, db_path: Path, box: SecretBox) -> None:
    tok_a = _populate(store, "ana", box, 100)
    tok_b = _populate(store, "ben", box, 200)
    ana_id = store.get_or_create_user("ana").id
    ben_id = store.get_or_create_user("ben").id
    assert ana_id is not None and ben_id is not None
    ben_before = _rows_of(store, ben_id)
    assert all(n > 0 for n in _rows_of(store, ana_id).values())
    ana_enc = store.linked_account("ana").token_enc  # type: ignore[union-attr]

    report = store.forget_user("ana")
    assert report.found
    assert report.deleted == {"feedback": 2, "scores_served": 1, "collection_entries": 4, "model_versions": 1,
                              "linked_accounts": 1, "server_shares": 0, "users": 1, "chat_cards": 0,
                              "apscheduler_jobs": 0, "watches": 1, "watch_alerts": 1}
    assert report.model_paths == ["/models/ana/v1"]
    assert all(n == 0 for n in _rows_of(store, ana_id).values())
    assert store.users() == ["ben"]
    assert store.collection("ana") == [] and store.linked_account("ana") is None

    assert _rows_of(store, ben_id) == ben_before  # the other user is untouched
    assert len(store.collection("ben")) == 4 and len(store.feedback("ben")) == 2
    assert store.account_secrets("ben", box)["token"] == tok_b
    assert store.active_model("ben") is not None
    assert store.get_release(100) is not None and store.get_release(999_001) is not None  # shared cache stays

    assert store.forget_user("ana").found is False
    store.close()
    blob = _db_bytes(db_path)
    assert ana_enc is not None and ana_enc.encode() not in blob
    assert tok_a.encode() not in blob


def test_forget_user_is_one_transaction(store: Store, box: SecretBox, monkeypatch: pytest.MonkeyPatch) -> None:
    _populate(store, "ana", box, 100)
    uid = store.get_or_create_user("ana").id
    assert uid is not None
    before = _rows_of(store, uid)
    import core.storage as storage

    real_delete = storage.delete

    def failing_delete(model):  # type: ignore[no-untyped-def]
        if model is storage.User:
            raise RuntimeError("boom")
        return real_delete(model)

    monkeypatch.setattr(storage, "delete", failing_delete)
    with pytest.raises(RuntimeError, match="boom"):
        store.forget_user("ana")
    assert _rows_of(store, uid) == before  # the deletes before the failure were rolled back


# ---------------------------------------------------------------------------------------- release refresh


def test_releases_older_than(store: Store) -> None:
    store.cache_releases([Release(id=i, title=f"r{i}") for i in (1, 2, 3, 4)], source="api")
    now = datetime.now(timezone.utc)
    assert store.touch_releases([1], now - timedelta(days=40)) == 1
    assert store.touch_releases([2], now - timedelta(days=31)) == 1
    assert store.touch_releases([3, 4, 12345], now - timedelta(days=2)) == 2  # 12345 is not cached
    assert store.releases_older_than(timedelta(days=30), now=now) == [1, 2]  # oldest first
    assert store.releases_older_than(timedelta(days=35), now=now) == [1]
    assert store.releases_older_than(timedelta(days=1), ids=[4, 2, 12345], now=now) == [2, 4]
    assert store.releases_older_than(timedelta(days=30), ids=[], now=now) == []
    assert store.releases_older_than(timedelta(days=30)) == [1, 2]  # default: the real clock
    store.touch_releases([1, 2])  # re-fetched just now
    assert store.releases_older_than(timedelta(days=30)) == []
    with pytest.raises(ValueError):
        store.releases_older_than(timedelta(days=-1))


# ---------------------------------------------------------------------------------------------- logging


@pytest.fixture()
def child_log() -> logging.Logger:
    return logging.getLogger("cratedigger.tests.secrets")


def _captured(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "\n".join(caplog.messages)


def test_redact_helper() -> None:
    tok = _token()
    assert redact(f"the token is {tok}!", [tok]) == "the token is ***!"
    assert redact("GET /users/x/collection?page=2&token=abc&per_page=100", []) == \
        "GET /users/x/collection?page=2&token=***&per_page=100"
    assert redact("Authorization: Discogs token=abc", []) == "Authorization: Discogs ***"
    assert redact("nothing secret here, page=2", [tok]) == "nothing secret here, page=2"


def test_filter_masks_secrets_logged_anywhere(caplog: pytest.LogCaptureFixture, child_log: logging.Logger) -> None:
    tok = _token()
    redactor = install_redaction(redactor=RedactSecrets([tok], use_registry=False))
    try:
        with caplog.at_level(logging.DEBUG):
            child_log.info(f"linked with token {tok}")                                    # in the message
            child_log.warning("retrying with %s after %d s", tok, 3)                       # in the args
            child_log.info("GET %s", "https://api.discogs.com/users/ana/collection?token=abc123&page=2")
            child_log.debug("headers %s", {"Authorization": f"Discogs token={_token()}", "User-Agent": "CD/0.1"})
            child_log.debug("raw header line\nAuthorization: OAuth oauth_token=\"q1w2e3\"\nAccept: */*")
            child_log.info("%d records for %s", 5, "ana")                                  # nothing to mask
            try:
                raise RuntimeError(f"request failed for token={tok}")
            except RuntimeError:
                child_log.exception("fetch failed")
    finally:
        uninstall_redaction(redactor)

    out = _captured(caplog)
    assert tok not in out
    assert "abc123" not in out and "q1w2e3" not in out
    assert "Discogs token=" not in out
    assert f"linked with token {MASK}" in caplog.messages[0]
    assert caplog.messages[1] == f"retrying with {MASK} after 3 s"
    assert caplog.records[1].args is None  # the args were folded into the masked message
    assert caplog.messages[2] == "GET https://api.discogs.com/users/ana/collection?token=***&page=2"
    assert "'Authorization': 'Discogs ***'" in caplog.messages[3] and "'User-Agent': 'CD/0.1'" in caplog.messages[3]
    assert "Authorization: OAuth ***\nAccept: */*" in caplog.messages[4]
    assert caplog.messages[5] == "5 records for ana" and caplog.records[5].args == (5, "ana")  # untouched
    assert "RuntimeError: request failed for token=***" in caplog.text


def test_filter_on_root_logger(caplog: pytest.LogCaptureFixture) -> None:
    """Plain ``logging.getLogger().addFilter(RedactSecrets(...))`` masks what is logged on the root logger."""
    tok = _token()
    f = RedactSecrets([tok], use_registry=False)
    root = logging.getLogger()
    root.addFilter(f)
    try:
        with caplog.at_level(logging.INFO):
            logging.info("token %s and Authorization: Discogs token=%s", tok, tok)
    finally:
        root.removeFilter(f)
    assert tok not in _captured(caplog)
    assert caplog.messages == [f"token {MASK} and Authorization: Discogs {MASK}"]


def test_secrets_seen_by_a_box_are_masked(caplog: pytest.LogCaptureFixture, child_log: logging.Logger,
                                          box: SecretBox) -> None:
    tok = _token()
    enc = box.encrypt(tok)  # registers the plaintext for every registry-using filter
    redactor = install_redaction()
    try:
        with caplog.at_level(logging.INFO):
            child_log.info("oops, the plaintext: %s (stored as %s)", tok, enc)
    finally:
        uninstall_redaction(redactor)
    assert tok not in _captured(caplog)
    assert caplog.messages == [f"oops, the plaintext: {MASK} (stored as {enc})"]


# -- files and keys (issue 12) -----------------------------------------------------------------------------------
@posix_only
def test_the_database_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "crate.db"
    s = Store(f"sqlite:///{path}")
    s.get_or_create_user("ana")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for p in [path] + [Path(f"{path}{x}") for x in ("-wal", "-shm") if Path(f"{path}{x}").exists()]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    s.close()
    path.chmod(0o644)                                   # an old database made world-readable: tightened on open
    Store(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_lost_key_is_never_silently_replaced_while_tokens_need_it(tmp_path: Path, store: Store) -> None:
    from core.app import Recommender

    key_file = tmp_path / "secret.key"
    cfg = {"secrets": {"key_file": str(key_file)}}
    first = SecretBox(cfg=cfg, env={})
    store.link_account("ana", "ana_discogs", "token", token=_token(), box=first)
    key_file.unlink()                                   # the backup-less accident
    with pytest.raises(SecretError, match="is gone, but Discogs tokens encrypted with it are stored"):
        SecretBox(cfg=cfg, env={}, create=False)
    assert not key_file.exists()                        # nothing silently created
    rec = Recommender(store, catalogue={}, cfg=None, models_dir=tmp_path / "models")
    os.environ["CRATE_SECRETS__KEY_FILE"] = str(key_file)
    try:
        from core.config import get_config
        get_config.cache_clear()
        with pytest.raises(SecretError, match="restore the file from your backup"):
            _ = rec.secret_box
    finally:
        del os.environ["CRATE_SECRETS__KEY_FILE"]
        get_config.cache_clear()


@pytest.mark.parametrize("content,mode,said", [(b"", 0o600, "is empty"),
                                               (b"not a key", 0o600, "not a valid Fernet key"),
                                               (SecretBox.generate_key().encode(), 0o644, "chmod 600")])
def test_crate_link_says_what_is_wrong_with_a_damaged_key_file(tmp_path: Path, monkeypatch, capsys, content, mode,
                                                              said) -> None:
    from bot.cli import main
    from core.config import get_config

    key_file = tmp_path / "secret.key"
    key_file.write_bytes(content)
    key_file.chmod(mode)
    monkeypatch.setenv("CRATE_SECRETS__KEY_FILE", str(key_file))
    monkeypatch.delenv("CRATE_SECRET_KEY", raising=False)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(_token() + "\n"))
    monkeypatch.setattr("core.secrets.time.sleep", lambda s: None)
    get_config.cache_clear()
    try:
        rc = main(["--database", f"sqlite:///{tmp_path / 'c.db'}", "link", "--token-stdin", "--user", "ana"])
    finally:
        get_config.cache_clear()
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("Secret key problem:") and said in err and "Traceback" not in err


def test_files_left_by_killed_trainings_are_swept(tmp_path: Path, store: Store) -> None:
    from core.app import Recommender

    rec = Recommender(store, catalogue={}, cfg=None, models_dir=tmp_path / "models")
    folder = tmp_path / "models" / "ana"
    folder.mkdir(parents=True)
    kept = folder / "v1.pkl"
    kept.write_bytes(b"model")
    store.register_model("ana", "v1", str(kept), {}, 10, 20)
    stale_tmp, orphan, fresh_tmp = folder / "x1.tmp", folder / "v0.pkl", folder / "x2.tmp"
    for f in (stale_tmp, orphan, fresh_tmp):
        f.write_bytes(b"half a model")
    now = 1_800_000_000.0
    for f in (kept, stale_tmp, orphan):
        os.utime(f, (now - 3600, now - 3600))
    os.utime(fresh_tmp, (now - 5, now - 5))             # a training running right now
    swept = rec.sweep_model_files("ana", now=now)
    assert sorted(p.name for p in swept) == ["v0.pkl", "x1.tmp"]
    assert kept.exists() and fresh_tmp.exists() and not orphan.exists() and not stale_tmp.exists()


@pytest.mark.parametrize("case", ["empty", "garbage", "world-readable", "missing", "directory", "other-key",
                                  "bad-env-key"])
def test_a_stored_token_the_key_cannot_open_stops_sync_with_what_is_wrong(tmp_path: Path, monkeypatch, capsys,
                                                                           case: str) -> None:
    """Issue 22: with a token stored, a damaged, missing, unsafe or changed key never makes `crate sync` go on
    anonymously (exit 0, "your collection is private"): it stops and says what is wrong and how to restore it."""
    from bot.cli import main
    from core.config import get_config

    key_file = tmp_path / "keys" / "secret.key"
    db = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CRATE_SECRETS__KEY_FILE", str(key_file))
    monkeypatch.delenv("CRATE_SECRET_KEY", raising=False)
    monkeypatch.setenv("CRATE_DISCOGS__LIVE", "true")          # the fake address is closed: nothing may be asked
    monkeypatch.setenv("DISCOGS_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setattr("core.secrets.time.sleep", lambda s: None)
    get_config.cache_clear()
    try:
        store = Store(db)
        store.link_account("ana", "ana_discogs", "token", token=_token(), box=SecretBox(key_file=key_file, env={}))
        store.close()
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
        if case == "empty":
            key_file.write_bytes(b"")
        elif case == "garbage":
            key_file.write_bytes(b"not a key at all")
        elif case == "world-readable":
            key_file.chmod(0o644)
        elif case == "missing":
            key_file.unlink()
        elif case == "directory":
            key_file.unlink()
            key_file.mkdir()
        elif case == "other-key":
            key_file.write_bytes(SecretBox.generate_key().encode())
        else:
            monkeypatch.setenv("CRATE_SECRET_KEY", "not-a-fernet-key")
        get_config.cache_clear()
        rc = main(["--database", db, "sync", "--user", "ana"])
    finally:
        get_config.cache_clear()
    cap = capsys.readouterr()
    said = cap.err + cap.out
    assert rc != 0, said
    assert "Traceback" not in said and "private" not in said.lower().replace("private collection would", "")
    assert any(w in said for w in ("key", "restore", "link")), said
    if case == "missing":
        assert "restore the file from your backup" in said
    if case == "world-readable":
        assert "chmod 600" in said
    assert not (case == "missing" and key_file.exists())       # nothing silently created


def test_the_data_folder_is_created_private(tmp_path: Path) -> None:
    from core.config import private_dir

    deep = tmp_path / "home" / ".local" / "share" / "cratedigger" / "models"
    private_dir(deep)
    for p in (deep, deep.parent, deep.parent.parent, deep.parent.parent.parent):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
