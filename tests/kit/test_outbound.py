"""Where webhooks may go (kit.outbound): public https addresses, or what a setting allows. The
names here resolve through a table the test gives, so that a name can be made to point
anywhere, as a hostile DNS server would."""

from __future__ import annotations

import pytest

from cspr_engine.kit.outbound import DestinationRefused, Destinations, check

PUBLIC = "93.184.215.14"
NAMES = {
    "receiver.example.org": [PUBLIC],
    "inside.example.org": ["10.1.2.3"],
    "metadata.example.org": ["169.254.169.254"],
    "both.example.org": [PUBLIC, "127.0.0.1"],
    "v6-local.example.org": ["::1"],
    "mapped.example.org": ["::ffff:127.0.0.1"],
}


def table(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError("no such name")
    return NAMES[host]


NONE = Destinations()


def refused(url: str, allowed: Destinations = NONE) -> DestinationRefused:
    with pytest.raises(DestinationRefused) as caught:
        check(url, allowed, table)
    return caught.value


def test_a_public_https_receiver_is_allowed() -> None:
    assert check("https://receiver.example.org/hooks/cspr", NONE, table) == [PUBLIC]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/hooks", "it is a loopback address"),
        ("https://[::1]:5432/", "it is a loopback address"),
        ("https://10.0.0.1/", "it is a private address"),
        ("https://192.168.1.10/", "it is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "it is a link-local address"),
        ("https://0.0.0.0/", "it is a reserved address"),
        ("https://inside.example.org/", "inside.example.org resolves to 10.1.2.3, a private"),
        ("https://metadata.example.org/", "resolves to 169.254.169.254, a link-local address"),
        ("https://both.example.org/", "resolves to 127.0.0.1, a loopback address"),
        ("https://v6-local.example.org/", "resolves to ::1, a loopback address"),
        ("https://mapped.example.org/", "a loopback address"),
    ],
)
def test_addresses_that_are_not_public_are_refused(url: str, says: str) -> None:
    problem = refused(url)
    assert problem.rule == "private-address"
    assert says in problem.message
    assert problem.message.startswith("Webhooks are delivered to public addresses only: ")


def test_plain_http_is_refused_and_so_are_credentials_and_unknown_names() -> None:
    assert refused("http://receiver.example.org/").rule == "https-required"
    assert refused("ftp://receiver.example.org/").rule == "https-required"
    assert refused("https://user:pw@receiver.example.org/").rule == "credentials-in-url"
    assert refused("https://[::1/hooks").rule == "bad-url"
    assert refused("http://\u009a\u00f4]Uc/").rule in ("bad-url", "https-required")
    assert refused("https://\u00e9\ud83d\ude0d.example/").rule == "unresolvable"
    unknown = refused("https://nowhere.example.org/")
    assert (unknown.rule, unknown.message) == (
        "unresolvable",
        "The host nowhere.example.org cannot be resolved to an address.",
    )


def test_a_setting_allows_named_hosts_and_networks() -> None:
    allowed = Destinations.parse("inside.example.org, 127.0.0.0/8, ::1")
    assert check("http://inside.example.org/hooks", allowed, table) == ["10.1.2.3"]
    assert check("http://127.0.0.1:8080/hooks", allowed, table) == ["127.0.0.1"]
    assert check("https://v6-local.example.org/", allowed, table) == ["::1"]
    # A network allows what is in it, nothing else.
    assert refused("https://metadata.example.org/", allowed).rule == "private-address"
    # One of the name's addresses outside the allowed networks is enough to refuse it.
    assert refused("http://both.example.org/", allowed).rule == "https-required"


def test_development_allows_plain_http_but_not_private_addresses() -> None:
    development = Destinations.parse("", allow_http=True)
    assert check("http://receiver.example.org/", development, table) == [PUBLIC]
    assert refused("http://inside.example.org/", development).rule == "private-address"
