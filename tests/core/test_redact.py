"""Secrets never land in reports, logs or artifacts."""

from __future__ import annotations

from meshconform.redact import REDACTED, redact, redact_object


def test_private_keys_tokens_and_kubeconfig_credentials_are_removed() -> None:
    text = (
        "users:\n- name: kind\n  user:\n    client-key-data: LS0tLS1CRUdJTiBSU0Eg\n"
        "    token: eyJhbGciOiJSUzI1NiIsImtpZCI6\n"
        "Authorization: Bearer abc.def.ghi\n"
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n"
        "apiKey=sk_live_0123456789\n"
    )
    clean = redact(text)
    for secret in ("LS0tLS1CRUdJTiBSU0Eg", "eyJhbGciOiJSUzI1NiIsImtpZCI6", "abc.def.ghi",
                   "MHcCAQEEIB", "sk_live_0123456789"):
        assert secret not in clean
    assert clean.count(REDACTED) >= 5


def test_ordinary_text_is_left_alone() -> None:
    text = "monkey: banana-split\nstatus=200 curl_rc=0 keyboard: ok"
    assert redact(text) == text


def test_secret_objects_keep_keys_and_lose_values() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gw"},
              "type": "kubernetes.io/tls", "data": {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}}
    clean = redact_object({"items": [secret]})
    assert clean["items"][0]["data"] == {"tls.crt": REDACTED, "tls.key": REDACTED}
    assert secret["data"]["tls.key"] == "S0VZ"  # the input is not modified


def test_json_quoted_credentials_are_removed() -> None:
    text = '{"token": "abcdefgh12345", "private_key": "c2VjcmV0c2VjcmV0", "name": "gw"}'
    clean = redact(text)
    assert "abcdefgh12345" not in clean
    assert "c2VjcmV0c2VjcmV0" not in clean
    assert '"name": "gw"' in clean
