"""The VTN decodes each VEN's unsigned oadrPoll once and takes the same bytes from memory after;
anything else (a signed poll, another message, a refused one) is decoded every time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openleadr.messaging import create_message

from gateway.oadr20b import codec
from gateway.oadr20b.errors import OadrError
from gateway.security.certs import init_dev_pki


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    codec._decoded_polls.clear()
    yield
    codec._decoded_polls.clear()


def poll(ven_id: str) -> bytes:
    return str(create_message("oadrPoll", ven_id=ven_id)).encode()


def test_the_same_poll_decodes_alike_from_memory_with_a_payload_of_its_own() -> None:
    first = codec.decode(poll("ven-1"))
    first.payload["seen"] = True  # a handler adding to its payload
    second = codec.decode(poll("ven-1"))
    assert len(codec._decoded_polls) == 1
    assert (second.message_type, second.payload, second.signed) == (
        "oadrPoll", {"ven_id": "ven-1"}, False,
    )  # fmt: skip
    assert codec.decode(poll("ven-2")).payload == {"ven_id": "ven-2"}
    assert len(codec._decoded_polls) == 2


def test_a_tolerant_decode_is_kept_apart_from_a_strict_one() -> None:
    codec.decode(poll("ven-1"))
    codec.decode(poll("ven-1"), tolerant=True)
    assert len(codec._decoded_polls) == 2


def test_signed_polls_other_messages_and_refusals_are_decoded_every_time(
    tmp_path: Path,
) -> None:
    pki = init_dev_pki(tmp_path / "pki", ven_names=["ven-1"], key_type="ec")
    signer = pki.vens[0]
    signed = str(
        create_message(
            "oadrPoll", ven_id="ven-1", cert=signer.cert.read_bytes(), key=signer.key.read_bytes()
        )
    ).encode()
    assert codec.decode(signed).signed
    request = str(create_message("oadrRequestEvent", request_id="r1", ven_id="ven-1")).encode()
    assert codec.decode(request).message_type == "oadrRequestEvent"
    invalid = (
        poll("ven-1")
        .replace(b"<ei:venID>", b"<ei:venIDx>")
        .replace(b"</ei:venID>", b"</ei:venIDx>")
    )
    for _ in range(2):
        with pytest.raises(OadrError):
            codec.decode(invalid)
    assert codec._decoded_polls == {}


def test_the_cache_is_bounded_and_drops_its_oldest_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "POLL_CACHE_SIZE", 3)
    for n in range(5):
        codec.decode(poll(f"ven-{n}"))
    assert [key[0] for key in codec._decoded_polls] == [poll(f"ven-{n}") for n in (2, 3, 4)]
