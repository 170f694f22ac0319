import pytest

from kfops.render.redact import MASK, redact, redact_text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connecting with password=hunter2 to db", "hunter2"),
        ("DB_PASSWORD: 'hunter2'", "hunter2"),
        ("Authorization: Bearer abcdefghijklmnop.qrstu", "abcdefghijklmnop.qrstu"),
        ("mysql://root:hunter2@mysql.kubeflow:3306/mlpipeline", "hunter2"),
        ("token xoxb-123456789012-abcdefghijkl in env", "xoxb-123456789012-abcdefghijkl"),
        ("key AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA",
        ),
    ],
)
def test_secrets_in_text_are_masked(text: str, secret: str) -> None:
    masked = redact_text(text)
    assert secret not in masked
    assert MASK in masked


def test_ordinary_diagnostic_text_is_left_alone() -> None:
    text = "Ready=Unknown (NodeStatusUnknown) for 22m: Kubelet stopped posting node status."
    assert redact_text(text) == text


def test_nested_values_are_masked_by_key_and_by_shape() -> None:
    doc = {"env": [{"name": "x", "apiToken": "abc123"}], "log": "password=abc", "count": 3}
    out = redact(doc)
    assert out == {"env": [{"name": "x", "apiToken": MASK}], "log": f"password={MASK}", "count": 3}


def test_sql_password_literals_are_masked() -> None:
    """A processlist row may show the statement that created a user, password included."""
    text = "CREATE USER 'app'@'%' IDENTIFIED BY 'hunter2-long'; SET PASSWORD FOR app = PASSWORD('pw2')"
    masked = redact_text(text)
    assert "hunter2-long" not in masked and "pw2" not in masked
    assert "IDENTIFIED BY [REDACTED]" in masked


def test_mysql_access_denied_keeps_its_words() -> None:
    """'(using password: YES)' says whether a password was sent, not the password."""
    text = "Access denied for user 'kfops'@'10.0.0.7' (using password: YES)"
    assert redact_text(text) == text
